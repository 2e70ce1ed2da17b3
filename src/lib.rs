//! N-API surface of shield. Everything here is glue: the domain lives in the
//! modules below, which know nothing of Node.

#![deny(clippy::all)]

pub mod artifacts;
pub mod bind_evidence;
pub mod config;
pub mod evidence;
pub mod flamegraph;
pub mod gc;
pub mod heapsnapshot;
pub mod exporter;
pub mod exposition;
pub mod falcon;
pub mod health;
pub mod heartbeat;
pub mod histogram;
pub mod hub;
pub mod optparse;
pub mod procinfo;
pub mod prom_http;
pub mod pusher;
pub mod pushgateway;
pub mod rules;
pub mod units;
pub mod usage;
pub mod watcher;

mod bind_heap;
mod bind_metrics;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::CleanupEnvHook;
use napi_derive::napi;
use parking_lot::Mutex;

use crate::config::{Config, ErrorKind};
use crate::heartbeat::{Heartbeat, HeartbeatConfig, StallSignal};
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

/// Heartbeats that watch for stalls, by watcher key, so the sentinel worker
/// (another JS thread) can subscribe to the stalls of the thread it watches.
static STALL_WATCHED: LazyLock<Mutex<HashMap<u32, Heartbeat>>> = LazyLock::new(Default::default);
static NEXT_KEY: AtomicU32 = AtomicU32::new(1);

/// Subscribes the calling thread to the stalls of watcher `key`: `onStall("start", pendingMs)`
/// while the watched loop is blocked, `onStall("end", durationMs)` when it runs again.
/// The subscription keeps the calling thread's loop alive until the watcher stops.
/// Returns false when no such watcher watches for stalls.
#[napi(catch_unwind)]
pub fn subscribe_stalls(key: u32, on_stall: Function<(String, f64), ()>) -> Result<bool> {
    let Some(hb) = STALL_WATCHED.lock().get(&key).cloned() else { return Ok(false) };
    let tsfn = on_stall
        .build_threadsafe_function::<(String, f64)>()
        .callee_handled::<false>()
        .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
    hb.set_stall_listener(Some(Box::new(move |s| {
        let args = match s {
            StallSignal::Started { pending } => ("start".to_string(), pending.as_secs_f64() * 1000.0),
            StallSignal::Ended { duration } => ("end".to_string(), duration.as_secs_f64() * 1000.0),
        };
        tsfn.call(args, ThreadsafeFunctionCallMode::NonBlocking);
    })));
    Ok(true)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("shield: {e}"))
}

/// The per-thread watcher: heartbeat thread plus the pure core.
#[napi]
pub struct Watcher {
    key: u32,
    config: Config,
    core: Arc<Mutex<watcher::Watcher>>,
    heartbeat: Heartbeat,
    cleanup: Option<CleanupEnvHook<(Heartbeat, u32, u64, u32)>>,
    thread_id: u32,
    /// Registration in the process-wide hub the exporters read.
    hub_reg: u64,
}

#[napi]
impl Watcher {
    /// `onBeat(stallMs)` is called on this thread for each heartbeat, with the length of
    /// the stall that heartbeat ended (0 when none); the lag is measured before it runs.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: serde_json::Value, on_beat: Function<f64, ()>, thread_id: u32) -> Result<Self> {
        let config = Config::from_json(&options).map_err(|e| Error::new(Status::InvalidArg, e.message))?;
        let cell: Arc<OnceLock<Heartbeat>> = Arc::new(OnceLock::new());
        let beat_cell = cell.clone();
        let tsfn = on_beat
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .callee_handled::<false>()
            .max_queue_size::<2>()
            .build_callback(move |_| {
                let stall = beat_cell.get().and_then(|hb| hb.beat());
                Ok(stall.map_or(0.0, |d| d.as_secs_f64() * 1000.0))
            })?;
        let hb_config = HeartbeatConfig {
            interval: config.heartbeat_interval,
            window: config.window,
            stall_threshold: config.stall.as_ref().map(|s| s.threshold),
            ..HeartbeatConfig::default()
        };
        let heartbeat = Heartbeat::start(hb_config, move || tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok)
            .map_err(internal)?;
        let _ = cell.set(heartbeat.clone());
        let core = Arc::new(Mutex::new(watcher::Watcher::new(&config, std::process::id(), thread_id)));
        if let Ok(v) = env.get_node_version() {
            hub::global().set_node_version(hub::NodeVersion { major: v.major, minor: v.minor, patch: v.patch });
        }
        let hub_reg = hub::global().register(thread_id, heartbeat.clone(), Some(core.clone()), config.gc_buckets.clone());
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        if config.stall.is_some() {
            STALL_WATCHED.lock().insert(key, heartbeat.clone());
        }
        // A worker_thread that ends without stop() must not leave its heartbeat thread
        // (or its series in the hub, or its stall subscription) behind.
        let cleanup = env.add_env_cleanup_hook((heartbeat.clone(), thread_id, hub_reg, key), |(hb, t, r, key)| {
            STALL_WATCHED.lock().remove(&key);
            hb.stop();
            hub::global().deregister(t, r);
        })?;
        Ok(Self { key, config, core, heartbeat, cleanup: Some(cleanup), thread_id, hub_reg })
    }

    /// Identifies this watcher to `subscribeStalls`.
    #[napi(getter)]
    pub fn key(&self) -> u32 {
        self.key
    }

    /// The parsed `stall` option, or null when stalls are not watched.
    #[napi(getter, ts_return_type = "{ thresholdMs: number; capture: boolean; samples: number; intervalMs: number } | null")]
    pub fn stall(&self) -> Option<serde_json::Value> {
        self.config.stall.as_ref().map(|s| {
            serde_json::json!({
                "thresholdMs": s.threshold.as_secs_f64() * 1000.0,
                "capture": s.capture,
                "samples": s.samples,
                "intervalMs": s.interval.as_secs_f64() * 1000.0,
            })
        })
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
        let lag = self.heartbeat.flush_snapshot();
        let out = self.core.lock().flush(&sample, &lag);
        let js = env.to_js_value(&Out { usage: &out.usage, breaches: &out.breaches });
        hub::global().update(self.thread_id, self.hub_reg, out.usage, Arc::new(sample));
        js
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
        let claimed = self.core.lock().claim_emergency(now_ms);
        if claimed {
            hub::global().count_emergency(self.thread_id);
        }
        claimed
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
        STALL_WATCHED.lock().remove(&self.key);
        self.heartbeat.stop();
        hub::global().deregister(self.thread_id, self.hub_reg);
        if let Some(hook) = self.cleanup.take() {
            env.remove_env_cleanup_hook(hook)?;
        }
        Ok(())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        STALL_WATCHED.lock().remove(&self.key);
        self.heartbeat.stop();
        hub::global().deregister(self.thread_id, self.hub_reg);
    }
}
