//! The exporters one `start()` asked for (listener, Pushgateway, Open-Falcon),
//! started and stopped together. Failures after start land in an error queue
//! the owning JS thread drains into `'error'` events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::exposition::ExpoOptions;
use crate::falcon::{FalconOptions, FalconTarget};
use crate::hub::Hub;
use crate::prom_http::{PrometheusOptions, Server};
use crate::pusher::{ErrorQueue, PushConfig, Pusher};
use crate::pushgateway::PushgatewayTarget;

pub struct Exporters {
    server: Option<Server>,
    pushers: Vec<Pusher>,
    pub errors: Arc<ErrorQueue>,
    pub expo: ExpoOptions,
    pub pushgateway_url: Option<String>,
}

impl Exporters {
    /// Starts what the options ask for. What cannot start (a port in use) is
    /// reported through the error queue; the rest runs.
    pub fn start(hub: &'static Hub, prometheus: Option<&PrometheusOptions>, falcon: Option<&FalconOptions>) -> Self {
        let errors = Arc::new(ErrorQueue::default());
        let mut ex = Exporters { server: None, pushers: Vec::new(), errors: errors.clone(), expo: ExpoOptions::default(), pushgateway_url: None };
        if let Some(p) = prometheus {
            ex.expo = p.expo.clone();
            if p.port.is_some() {
                match Server::start(hub, p.clone()) {
                    Ok(s) => ex.server = Some(s),
                    Err(e) => errors.push(e),
                }
            }
            if let Some(pg) = &p.pushgateway {
                let target = PushgatewayTarget::new(hub, pg, p.expo.clone());
                ex.pushgateway_url = Some(target.url().to_string());
                match Pusher::start(target, PushConfig::for_interval(pg.interval), hub.push_stats("pushgateway"), errors.clone()) {
                    Ok(t) => ex.pushers.push(t),
                    Err(e) => errors.push(format!("shield: could not start the pushgateway thread: {e}")),
                }
            }
        }
        if let Some(f) = falcon {
            let cfg = PushConfig::for_interval(f.step);
            match Pusher::start(FalconTarget::new(hub, f.clone()), cfg, hub.push_stats("falcon"), errors.clone()) {
                Ok(t) => ex.pushers.push(t),
                Err(e) => errors.push(format!("shield: could not start the falcon thread: {e}")),
            }
        }
        ex
    }

    pub fn address(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(|s| s.addr)
    }

    /// Stops everything. Waits at most ~1 s in all for the pushers' last words
    /// (the Pushgateway DELETE).
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
        for mut p in self.pushers.drain(..) {
            p.stop(Duration::from_millis(1000));
        }
    }
}

impl Drop for Exporters {
    fn drop(&mut self) {
        self.stop();
    }
}
