//! The `prometheus` option and its HTTP listener: `/metrics` and `/healthz`
//! served by `tiny_http` on Rust threads from the hub. No request ever runs
//! JavaScript, so scrapes cost the event loop nothing and keep working while
//! it is blocked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::Value;

use crate::config::ConfigError;
use crate::exposition::{self, ExpoOptions};
use crate::health::{self, HealthLimits};
use crate::hub::Hub;
use crate::optparse::{int, labels, object, string, type_err};
use crate::pushgateway::{self, PushgatewayOptions};

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusOptions {
    /// `None`: no listener (metrics() and the Pushgateway still work). 0: any free port.
    pub port: Option<u16>,
    pub host: String,
    pub path: String,
    pub health_path: String,
    pub expo: ExpoOptions,
    pub health: HealthLimits,
    pub pushgateway: Option<PushgatewayOptions>,
}

impl Default for PrometheusOptions {
    fn default() -> Self {
        Self {
            port: None,
            host: "127.0.0.1".into(),
            path: "/metrics".into(),
            health_path: "/healthz".into(),
            expo: ExpoOptions::default(),
            health: HealthLimits::default(),
            pushgateway: None,
        }
    }
}

pub const KEYS: &[&str] = &["port", "host", "path", "healthPath", "prefix", "labels", "health", "pushgateway"];

/// Labels shield sets itself; user labels may not reuse them.
pub const RESERVED_LABELS: &[&str] = &["pid", "thread", "le", "quantile", "kind", "space", "version", "major", "minor", "patch", "target", "job", "instance"];

fn url_path(p: &str, v: &Value) -> Result<String, ConfigError> {
    let s = string(p, v, "a path string starting with '/'")?;
    if !s.starts_with('/') || s.contains(char::is_whitespace) || s.contains('?') {
        return Err(type_err(p, "a path string starting with '/' (no spaces or query)", v));
    }
    Ok(s)
}

/// Parses `prometheus: { port, host, path, healthPath, prefix, labels, health, pushgateway }`.
pub fn parse_options(v: &Value) -> Result<PrometheusOptions, ConfigError> {
    let o = object("prometheus", v, KEYS)?;
    let mut p = PrometheusOptions::default();
    for (k, val) in o {
        if val.is_null() {
            continue;
        }
        let path = format!("prometheus.{k}");
        match k.as_str() {
            "port" => p.port = Some(int(&path, val, 0, 65535)? as u16),
            "host" => p.host = string(&path, val, "a host name or IP address string such as '127.0.0.1' or '0.0.0.0'")?,
            "path" => p.path = url_path(&path, val)?,
            "healthPath" => p.health_path = url_path(&path, val)?,
            "prefix" => {
                let s = match val {
                    Value::String(s) => s.clone(),
                    _ => return Err(type_err(&path, "a string such as 'myapp_'", val)),
                };
                if !s.is_empty() && !crate::optparse::is_label_name(&s) {
                    return Err(type_err(&path, "a metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)", val));
                }
                p.expo.prefix = s;
            }
            "labels" => p.expo.labels = labels(&path, val, RESERVED_LABELS)?,
            "health" => p.health = health::parse_limits(&path, val)?,
            "pushgateway" => p.pushgateway = Some(pushgateway::parse_options(val)?),
            _ => unreachable!(),
        }
    }
    if p.path == p.health_path {
        return Err(type_err("prometheus.healthPath", "different from prometheus.path", &Value::String(p.health_path.clone())));
    }
    Ok(p)
}

/// A running listener. Dropping it stops it.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header")
}

fn handle(req: tiny_http::Request, hub: &Hub, opts: &PrometheusOptions) {
    let url = req.url().split('?').next().unwrap_or("").to_string();
    let head = *req.method() == tiny_http::Method::Head;
    if *req.method() != tiny_http::Method::Get && !head {
        let r = tiny_http::Response::from_string("method not allowed\n").with_status_code(405).with_header(header("Allow", "GET, HEAD"));
        let _ = req.respond(r);
        return;
    }
    let (status, ctype, body) = if url == opts.path {
        let accept = req.headers().iter().find(|h| h.field.equiv("Accept")).map(|h| h.value.as_str().to_string()).unwrap_or_default();
        let fams = exposition::collect_hub(hub, &opts.expo);
        if exposition::wants_openmetrics(&accept) {
            (200, exposition::OPENMETRICS_CONTENT_TYPE, exposition::encode_openmetrics(&fams))
        } else {
            (200, exposition::TEXT_CONTENT_TYPE, exposition::encode_text(&fams))
        }
    } else if url == opts.health_path {
        let (ok, body) = health::evaluate(&hub.views(), crate::procinfo::read().rss_bytes, &opts.health, std::process::id());
        (if ok { 200 } else { 503 }, "application/json; charset=utf-8", body.to_string())
    } else {
        (404, "text/plain; charset=utf-8", format!("not found; metrics are at {} and health at {}\n", opts.path, opts.health_path))
    };
    let len = body.len();
    let mut r = tiny_http::Response::from_data(if head { Vec::new() } else { body.into_bytes() })
        .with_status_code(status)
        .with_header(header("Content-Type", ctype))
        .with_header(header("Cache-Control", "no-store"));
    if head {
        r = r.with_header(header("Content-Length", &len.to_string()));
    }
    let _ = req.respond(r);
}

impl Server {
    /// Binds now (so a port in use is reported at start) and serves on a thread.
    pub fn start(hub: &'static Hub, opts: PrometheusOptions) -> Result<Self, String> {
        let port = opts.port.unwrap_or(0);
        let bind = format!("{}:{}", opts.host, port);
        let server = tiny_http::Server::http(bind.as_str()).map_err(|e| format!("shield: prometheus listener could not bind {bind} (port {port}): {e}"))?;
        let addr = server.server_addr().to_ip().ok_or_else(|| "shield: prometheus listener has no IP address".to_string())?;
        let server = Arc::new(server);
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("shield-metrics-http".into())
            .spawn(move || {
                for req in s.incoming_requests() {
                    // A panic in one request must not take the listener (or the process) down.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(req, hub, &opts)));
                }
            })
            .map_err(|e| format!("shield: could not start the metrics thread: {e}"))?;
        Ok(Self { server, thread: Some(thread), addr })
    }

    pub fn stop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{Read, Write};
    use std::time::Duration;

    fn get(addr: SocketAddr, path: &str, accept: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out[9..12].parse().unwrap();
        (status, out)
    }

    #[test]
    fn serves_metrics_health_and_404_while_the_loop_is_blocked() {
        let hub: &'static Hub = Box::leak(Box::new(Hub::new()));
        // a "JS thread" that never answers: blocked from the start
        let hb = crate::heartbeat::Heartbeat::start(crate::heartbeat::HeartbeatConfig::default(), || true).unwrap();
        hub.register(0, hb.clone(), None, vec![0.1]);
        let opts = parse_options(&json!({ "port": 0, "healthPath": "/health/status", "health": { "blocked": "100ms" }, "labels": { "app": "t" } })).unwrap();
        let mut srv = Server::start(hub, opts).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let (st, body) = get(srv.addr, "/metrics", "*/*");
        assert_eq!(st, 200);
        assert!(body.contains("text/plain; version=0.0.4"));
        assert!(body.contains("shield_eventloop_blocked_seconds{pid="), "{body}");
        let (st, body) = get(srv.addr, "/metrics", "application/openmetrics-text;version=1.0.0");
        assert_eq!(st, 200);
        assert!(body.contains("application/openmetrics-text") && body.ends_with("# EOF\n"));
        let (st, body) = get(srv.addr, "/health/status", "*/*");
        assert_eq!(st, 503, "{body}");
        assert!(body.contains("\"check\":\"blocked\""));
        assert_eq!(get(srv.addr, "/nope", "*/*").0, 404);
        srv.stop();
        hb.stop();
    }

    #[test]
    fn port_in_use_is_an_error_naming_the_port() {
        let hub: &'static Hub = Box::leak(Box::new(Hub::new()));
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = Server::start(hub, parse_options(&json!({ "port": port })).unwrap()).err().unwrap();
        assert!(e.contains(&format!("port {port}")), "{e}");
    }

    #[test]
    fn options_are_checked() {
        assert!(parse_options(&json!({ "port": 70000 })).unwrap_err().message.contains("'prometheus.port'"));
        assert!(parse_options(&json!({ "path": "metrics" })).unwrap_err().message.contains("'prometheus.path'"));
        assert!(parse_options(&json!({ "prot": 1 })).unwrap_err().message.contains("'prometheus.prot'"));
        assert!(parse_options(&json!({ "labels": { "pid": 1 } })).unwrap_err().message.contains("'prometheus.labels.pid'"));
        assert!(parse_options(&json!({ "prefix": "1x" })).unwrap_err().message.contains("'prometheus.prefix'"));
        let p = parse_options(&json!({ "port": 9464 })).unwrap();
        assert_eq!((p.host.as_str(), p.path.as_str(), p.health_path.as_str()), ("127.0.0.1", "/metrics", "/healthz"));
    }
}
