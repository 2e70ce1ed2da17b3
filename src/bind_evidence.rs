//! napi glue for evidence: the artifact writer (streamed chunks, atomic
//! finish on the writer thread) and flame graph rendering on the libuv pool.
//! The domain lives in `artifacts.rs`, `flamegraph.rs` and `evidence.rs`.

use std::path::PathBuf;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::artifacts::{self, StoreSettings};
use crate::config::Config;
use crate::flamegraph::{self, Folded, RenderOptions};

fn fail(msg: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("shield: {msg}"))
}

/// Where artifacts go and how many may stay (from `evidenceSettings`).
#[napi(object)]
#[derive(Clone)]
pub struct StoreOptions {
    pub logs_path: String,
    pub max_artifacts: u32,
    pub max_disk_bytes: f64,
}

impl From<&StoreOptions> for StoreSettings {
    fn from(o: &StoreOptions) -> Self {
        StoreSettings { dir: PathBuf::from(&o.logs_path), max_artifacts: o.max_artifacts.max(1) as usize, max_disk_bytes: o.max_disk_bytes.max(0.0) as u64 }
    }
}

/// Resolved evidence settings for `start()` options (already checked).
#[napi(catch_unwind, ts_return_type = "any")]
pub fn evidence_settings(options: serde_json::Value) -> Result<serde_json::Value> {
    let config = Config::from_json(&options).map_err(|e| Error::new(Status::InvalidArg, e.message))?;
    serde_json::to_value(crate::evidence::settings(&config)).map_err(fail)
}

/// Opens a streamed artifact: the temp file is created now (so an unwritable
/// `logsPath` fails before anything is captured). Returns `{ id, path }`.
#[napi(catch_unwind, ts_return_type = "{ id: number; path: string }")]
pub fn artifact_open(store: StoreOptions, kind: String, ext: String, thread_id: u32) -> Result<serde_json::Value> {
    let stem = artifacts::now_stem(&kind, std::process::id(), thread_id);
    let o = artifacts::open_stream(&(&store).into(), &stem, &ext).map_err(fail)?;
    serde_json::to_value(o).map_err(fail)
}

/// Hands a chunk to the writer thread (copied out of the JS string).
#[napi(catch_unwind)]
pub fn artifact_write(id: f64, chunk: Either<String, Buffer>) -> Result<()> {
    let data = match chunk {
        Either::A(s) => s.into_bytes(),
        Either::B(b) => b.to_vec(),
    };
    artifacts::write_chunk(id as u64, data).map_err(fail)
}

/// Drops a stream and its temp file.
#[napi(catch_unwind)]
pub fn artifact_abort(id: f64) {
    artifacts::abort_stream(id as u64);
}

/// A written artifact.
#[napi(object)]
pub struct ArtifactInfo {
    /// The SVG, when rendered to memory.
    pub svg: Option<String>,
    pub path: Option<String>,
    pub bytes: f64,
    /// The `.json` sidecar next to a stored artifact.
    pub sidecar: Option<String>,
    /// Older artifacts removed to keep the quota.
    pub rotated: Vec<String>,
}

impl From<artifacts::Written> for ArtifactInfo {
    fn from(w: artifacts::Written) -> Self {
        ArtifactInfo { svg: None, path: Some(w.path), bytes: w.bytes as f64, sidecar: w.sidecar, rotated: w.rotated }
    }
}

pub struct FinishTask {
    id: u64,
    sidecar: Option<Vec<u8>>,
}

impl Task for FinishTask {
    type Output = ArtifactInfo;
    type JsValue = ArtifactInfo;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(artifacts::finish_stream(self.id, self.sidecar.take()).map_err(fail)?.into())
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Completes a stream off the JS thread: flush, fsync, rename, sidecar,
/// rotation. Resolves `{ path, bytes, sidecar, rotated }`.
#[napi(catch_unwind)]
pub fn artifact_finish(id: f64, sidecar: Option<String>) -> AsyncTask<FinishTask> {
    AsyncTask::new(FinishTask { id: id as u64, sidecar: sidecar.map(String::into_bytes) })
}

/// Flame graph drawing options.
#[napi(object)]
#[derive(Default, Clone)]
pub struct FlamegraphOptions {
    pub title: Option<String>,
    pub subtitle: Option<String>,
    /// Leave out frames narrower than this many pixels (default 0.1).
    pub min_width: Option<f64>,
    /// Merge stacks from the leaf.
    pub reverse: Option<bool>,
    /// An inferno palette: hot (CPU default), mem (heap default), io, red, green, blue, aqua,
    /// yellow, purple, orange, js, java, perl, python, rust, wakeup.
    pub colors: Option<String>,
    /// Image width in pixels (default 1200).
    pub width: Option<u32>,
    /// Differential: scale "before" to the "after" total (default true).
    pub normalize: Option<bool>,
}

/// Where a rendered SVG goes: returned, written to a path, or stored as an artifact.
#[napi(object)]
#[derive(Clone)]
pub struct FlamegraphTarget {
    /// Write here (atomically) instead of returning the SVG.
    pub output: Option<String>,
    /// Store in logsPath as a `flamegraph` artifact (with rotation).
    pub store: Option<StoreOptions>,
    pub thread_id: Option<u32>,
    /// Sidecar JSON for a stored artifact.
    pub sidecar: Option<String>,
}

pub enum Source {
    Path(String),
    Bytes(Vec<u8>),
}

impl Source {
    fn from_js(v: Either<String, Buffer>) -> Self {
        match v {
            Either::A(p) => Source::Path(p),
            Either::B(b) => Source::Bytes(b.to_vec()),
        }
    }

    fn name(&self) -> String {
        match self {
            Source::Path(p) => p.clone(),
            Source::Bytes(_) => "<buffer>".into(),
        }
    }

    fn fold(&self) -> std::result::Result<Folded, String> {
        let name = self.name();
        let r = match self {
            Source::Path(p) => {
                let data = std::fs::read(p).map_err(|e| format!("cannot read {name}: {e}"))?;
                flamegraph::fold(&data)
            }
            Source::Bytes(b) => flamegraph::fold(b),
        };
        r.map_err(|e| format!("{name}: {e}"))
    }
}

pub struct RenderTask {
    input: Option<Source>,
    before: Option<Source>,
    options: RenderOptions,
    target: Option<FlamegraphTarget>,
}

impl Task for RenderTask {
    type Output = ArtifactInfo;
    type JsValue = ArtifactInfo;

    fn compute(&mut self) -> Result<Self::Output> {
        let input = self.input.take().ok_or_else(|| fail("flamegraph: no input"))?;
        let before = self.before.take();
        let options = self.options.clone();
        let target = self.target.clone();
        // Parse, render and write on a thread with a deep stack (nested heap profiles).
        let r = flamegraph::on_big_stack(move || -> std::result::Result<ArtifactInfo, String> {
            let after = input.fold()?;
            let svg = match before {
                Some(b) => flamegraph::render_diff(&b.fold()?, &after, &options),
                None => flamegraph::render(&after, &options),
            }
            .map_err(|e| format!("{}: {e}", input.name()))?;
            let bytes = svg.len();
            match target {
                Some(FlamegraphTarget { output: Some(out), .. }) => {
                    artifacts::write_atomic_mode(std::path::Path::new(&out), &svg, false).map_err(|e| e.to_string())?;
                    Ok(ArtifactInfo { svg: None, path: Some(out), bytes: bytes as f64, sidecar: None, rotated: vec![] })
                }
                Some(FlamegraphTarget { store: Some(store), thread_id, sidecar, .. }) => {
                    let stem = artifacts::now_stem("flamegraph", std::process::id(), thread_id.unwrap_or(0));
                    let w = artifacts::store(&(&store).into(), &stem, "svg", &svg, sidecar.as_deref().map(str::as_bytes)).map_err(|e| e.to_string())?;
                    Ok(w.into())
                }
                _ => Ok(ArtifactInfo { svg: Some(String::from_utf8_lossy(&svg).into_owned()), path: None, bytes: bytes as f64, sidecar: None, rotated: vec![] }),
            }
        })
        .map_err(fail)?;
        r.map_err(|e| fail(format!("flamegraph: {e}")))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Renders a `.cpuprofile`/`.heapprofile` (a path or its bytes) to an SVG
/// flame graph on the libuv pool; with `before`, a differential one.
#[napi(catch_unwind)]
pub fn render_flamegraph(
    input: Either<String, Buffer>,
    before: Option<Either<String, Buffer>>,
    options: Option<FlamegraphOptions>,
    target: Option<FlamegraphTarget>,
) -> Result<AsyncTask<RenderTask>> {
    let o = options.unwrap_or_default();
    if let Some(c) = &o.colors {
        flamegraph::parse_palette(c).map_err(|e| Error::new(Status::InvalidArg, format!("shield: flamegraph option 'colors': {e}")))?;
    }
    if let Some(w) = o.min_width {
        if !(w >= 0.0 && w.is_finite()) {
            return Err(Error::new(Status::InvalidArg, "shield: flamegraph option 'minWidth' must be a number of pixels ≥ 0"));
        }
    }
    let defaults = RenderOptions::default();
    let options = RenderOptions {
        title: o.title,
        subtitle: o.subtitle,
        min_width: o.min_width.unwrap_or(defaults.min_width),
        reverse: o.reverse.unwrap_or(false),
        colors: o.colors,
        width: o.width.map(|w| w.clamp(100, 100_000) as usize),
        normalize: o.normalize.unwrap_or(true),
    };
    Ok(AsyncTask::new(RenderTask { input: Some(Source::from_js(input)), before: before.map(Source::from_js), options, target }))
}

/// Folded stacks (`frame;frame weight` lines) of a profile, on the libuv pool.
pub struct FoldTask(Option<Source>);

impl Task for FoldTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        let src = self.0.take().ok_or_else(|| fail("fold: no input"))?;
        flamegraph::on_big_stack(move || src.fold().map(|f| f.to_text())).map_err(fail)?.map_err(|e| fail(format!("fold: {e}")))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

#[napi(catch_unwind, ts_return_type = "Promise<string>")]
pub fn fold_profile(input: Either<String, Buffer>) -> AsyncTask<FoldTask> {
    AsyncTask::new(FoldTask(Some(Source::from_js(input))))
}
