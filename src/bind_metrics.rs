//! napi glue for the exporters (issue 4): thin; the work is in exporter.rs,
//! prom_http.rs, pushgateway.rs, falcon.rs and exposition.rs.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::CleanupEnvHook;
use napi_derive::napi;
use parking_lot::Mutex;

use crate::config::Config;
use crate::exporter::Exporters;
use crate::exposition::{self, ExpoOptions};
use crate::hub;

type Shared = Arc<Mutex<Option<Exporters>>>;

/// The exporters one `start()` configured (listener, Pushgateway, Open-Falcon).
#[napi]
pub struct Exporter {
    inner: Shared,
    cleanup: Option<CleanupEnvHook<Shared>>,
}

#[napi(object)]
pub struct ExporterAddress {
    pub host: String,
    pub port: u32,
}

fn stop_shared(s: &Shared) {
    let taken = s.lock().take();
    if let Some(mut ex) = taken {
        ex.stop();
    }
}

#[napi]
impl Exporter {
    /// Starts the exporters `options.prometheus` / `options.falcon` ask for.
    /// A listener that cannot bind does not throw: see `drainErrors()`.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: serde_json::Value) -> Result<Self> {
        let config = Config::from_json(&options).map_err(|e| Error::new(Status::InvalidArg, e.message))?;
        let ex = Exporters::start(hub::global(), config.prometheus.as_ref(), config.falcon.as_ref());
        let inner: Shared = Arc::new(Mutex::new(Some(ex)));
        // A worker_thread that ends without stop() must not leave a listener behind.
        let cleanup = env.add_env_cleanup_hook(inner.clone(), |s| stop_shared(&s))?;
        Ok(Self { inner, cleanup: Some(cleanup) })
    }

    /// Errors from the exporters' threads since the last call (bounded, oldest dropped).
    #[napi(catch_unwind)]
    pub fn drain_errors(&self) -> Vec<String> {
        self.inner.lock().as_ref().map(|e| e.errors.drain()).unwrap_or_default()
    }

    /// Where the listener is bound, or null.
    #[napi(catch_unwind)]
    pub fn address(&self) -> Option<ExporterAddress> {
        let a = self.inner.lock().as_ref().and_then(|e| e.address())?;
        Some(ExporterAddress { host: a.ip().to_string(), port: a.port() as u32 })
    }

    /// The Pushgateway group URL, or null.
    #[napi(catch_unwind)]
    pub fn pushgateway_url(&self) -> Option<String> {
        self.inner.lock().as_ref().and_then(|e| e.pushgateway_url.clone())
    }

    /// The exposition text with this exporter's prefix and labels.
    #[napi(catch_unwind)]
    pub fn metrics(&self, openmetrics: Option<bool>) -> String {
        let expo = self.inner.lock().as_ref().map(|e| e.expo.clone()).unwrap_or_default();
        encode(&expo, openmetrics.unwrap_or(false))
    }

    /// Stops the listener and pushers (the Pushgateway group is deleted; waits at most ~1 s). Idempotent.
    #[napi(catch_unwind)]
    pub fn stop(&mut self, env: Env) -> Result<()> {
        stop_shared(&self.inner);
        if let Some(h) = self.cleanup.take() {
            env.remove_env_cleanup_hook(h)?;
        }
        Ok(())
    }
}

fn encode(expo: &ExpoOptions, openmetrics: bool) -> String {
    let fams = exposition::collect_hub(hub::global(), expo);
    if openmetrics {
        exposition::encode_openmetrics(&fams)
    } else {
        exposition::encode_text(&fams)
    }
}

/// The exposition text with default options (no exporter running).
#[allow(dead_code)]
#[napi(catch_unwind)]
pub fn metrics_text(openmetrics: Option<bool>) -> String {
    encode(&ExpoOptions::default(), openmetrics.unwrap_or(false))
}
