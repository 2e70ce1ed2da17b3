//! napi glue for heap snapshot analysis: Promises resolved on the libuv pool with
//! the report as JSON text (`lib/heap.js` parses it), so no per-field N-API calls.

use std::path::PathBuf;

use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

use crate::heapsnapshot;

fn to_err(e: heapsnapshot::HeapError) -> Error {
    Error::new(Status::GenericFailure, format!("shield: {e}"))
}

pub struct SummaryTask {
    path: PathBuf,
}

impl Task for SummaryTask {
    type Output = heapsnapshot::Summary;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        heapsnapshot::summary(&self.path).map_err(to_err)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        serde_json::to_string(&output).map_err(|e| Error::from_reason(e.to_string()))
    }
}

pub struct DiffTask {
    before: PathBuf,
    after: PathBuf,
}

impl Task for DiffTask {
    type Output = heapsnapshot::Diff;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        heapsnapshot::diff(&self.before, &self.after).map_err(to_err)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        serde_json::to_string(&output).map_err(|e| Error::from_reason(e.to_string()))
    }
}

/// Summary of a `.heapsnapshot` file by constructor (count, self and retained size),
/// computed off the JS thread.
#[napi(catch_unwind, ts_return_type = "Promise<string>")]
pub fn heap_summary(path: String) -> AsyncTask<SummaryTask> {
    AsyncTask::new(SummaryTask { path: path.into() })
}

/// Comparison of two `.heapsnapshot` files (by node id) with leak attribution,
/// computed off the JS thread.
#[napi(catch_unwind, ts_return_type = "Promise<string>")]
pub fn heap_diff(before: String, after: String) -> AsyncTask<DiffTask> {
    AsyncTask::new(DiffTask { before: before.into(), after: after.into() })
}
