//! N-API surface of shield. Everything here is glue: the domain lives in the
//! modules below, which know nothing of Node.

#![deny(clippy::all)]

pub mod artifacts;
pub mod bind_evidence;
pub mod config;
pub mod evidence;
pub mod flamegraph;
pub mod gc;
pub mod heartbeat;
pub mod histogram;
pub mod rules;
pub mod units;
pub mod usage;
pub mod watcher;

use std::sync::{Arc, OnceLock};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::CleanupEnvHook;
use napi_derive::napi;
use parking_lot::Mutex;

use crate::config::{Config, ErrorKind};
use crate::heartbeat::{Heartbeat, HeartbeatConfig};
use crate::usage::RuntimeSample;

/// A bad option, returned as a value so the JS facade throws it from the
/// caller's own stack as a `TypeError` or `RangeError`.
#[napi(object)]
pub struct OptionError {
    /// `"TypeError"` or `"RangeError"`.
    pub kind: String,
    pub message: String,
}

/// Checks `start()` options; `null` when they are valid.
#[napi(catch_unwind)]
pub fn check_options(options: serde_json::Value) -> Option<OptionError> {
    Config::from_json(&options).err().map(|e| OptionError {
        kind: match e.kind {
            ErrorKind::Type => "TypeError",
            ErrorKind::Range => "RangeError",
        }
        .into(),
        message: e.message,
    })
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("shield: {e}"))
}

/// The per-thread watcher: heartbeat thread plus the pure core.
#[napi]
pub struct Watcher {
    config: Config,
    core: Arc<Mutex<watcher::Watcher>>,
    heartbeat: Heartbeat,
    cleanup: Option<CleanupEnvHook<Heartbeat>>,
}

#[napi]
impl Watcher {
    /// `onBeat` is called on this thread for each heartbeat (a no-op function is fine:
    /// the lag is measured before it runs).
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: serde_json::Value, on_beat: Function<(), ()>, thread_id: u32) -> Result<Self> {
        let config = Config::from_json(&options).map_err(|e| Error::new(Status::InvalidArg, e.message))?;
        let cell: Arc<OnceLock<Heartbeat>> = Arc::new(OnceLock::new());
        let beat_cell = cell.clone();
        let tsfn = on_beat
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .callee_handled::<false>()
            .max_queue_size::<2>()
            .build_callback(move |_| {
                if let Some(hb) = beat_cell.get() {
                    hb.beat();
                }
                Ok(())
            })?;
        let hb_config = HeartbeatConfig { interval: config.heartbeat_interval, window: config.window, ..HeartbeatConfig::default() };
        let heartbeat = Heartbeat::start(hb_config, move || tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok)
            .map_err(internal)?;
        let _ = cell.set(heartbeat.clone());
        // A worker_thread that ends without stop() must not leave its heartbeat thread behind.
        let cleanup = env.add_env_cleanup_hook(heartbeat.clone(), |hb| hb.stop())?;
        let core = watcher::Watcher::new(&config, std::process::id(), thread_id);
        Ok(Self { config, core: Arc::new(Mutex::new(core)), heartbeat, cleanup: Some(cleanup) })
    }

    /// Flush period the facade's timer runs at, ms.
    #[napi(getter)]
    pub fn flush_ms(&self) -> f64 {
        self.config.flush.as_secs_f64() * 1000.0
    }

    /// Records a batch of GC entries as flat `[kindCode, durationMs, …]` pairs.
    #[napi(catch_unwind)]
    pub fn record_gc(&self, entries: Float64Array) {
        self.core.lock().record_gc(&entries);
    }

    /// Records heap used before/after collections as flat `[before, after, …]` pairs.
    #[napi(catch_unwind)]
    pub fn record_gc_heap(&self, pairs: Float64Array) {
        self.core.lock().record_gc_heap(&pairs);
    }

    /// Takes a usage snapshot from the JS readings; returns `{ usage, breaches }`.
    #[napi(catch_unwind, ts_return_type = "{ usage: any; breaches: any[] }")]
    pub fn flush<'env>(&self, env: &'env Env, sample: Unknown) -> Result<Unknown<'env>> {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            usage: &'a usage::Usage,
            breaches: &'a [rules::Breach],
        }
        let sample: RuntimeSample = env.from_js_value(sample)?;
        let lag = self.heartbeat.snapshot();
        let out = self.core.lock().flush(&sample, &lag);
        env.to_js_value(&Out { usage: &out.usage, breaches: &out.breaches })
    }

    /// The latest usage, or `null` before the first flush.
    #[napi(catch_unwind, ts_return_type = "any | null")]
    pub fn usage<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let latest = self.core.lock().latest();
        env.to_js_value(&latest.as_deref())
    }

    /// The usage ring, oldest first.
    #[napi(catch_unwind, ts_return_type = "any[]")]
    pub fn history<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let core = self.core.lock();
        let all: Vec<&usage::Usage> = core.history().map(|u| &**u).collect();
        env.to_js_value(&all)
    }

    /// True when an emergency may fire now; starts the cooldown.
    #[napi(catch_unwind)]
    pub fn claim_emergency(&self, now_ms: f64) -> bool {
        self.core.lock().claim_emergency(now_ms)
    }

    /// Counters about shield itself.
    #[napi(catch_unwind)]
    pub fn counters(&self) -> serde_json::Value {
        let core = self.core.lock();
        let lag = self.heartbeat.snapshot();
        serde_json::json!({
            "errors": core.errors,
            "suppressedEmergencies": core.suppressed_emergencies(),
            "heartbeatFailures": lag.ping_failures,
            "droppedLagSamples": lag.window.dropped,
        })
    }

    /// Counts an internal failure the facade reported as an `'error'` event.
    #[napi(catch_unwind)]
    pub fn count_error(&self) {
        self.core.lock().errors += 1;
    }

    /// Stops the heartbeat thread. Idempotent.
    #[napi(catch_unwind)]
    pub fn stop(&mut self, env: Env) -> Result<()> {
        self.heartbeat.stop();
        if let Some(hook) = self.cleanup.take() {
            env.remove_env_cleanup_hook(hook)?;
        }
        Ok(())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.heartbeat.stop();
    }
}
