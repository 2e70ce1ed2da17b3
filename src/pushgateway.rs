//! Pushgateway push: `PUT <url>/metrics/job/<job>{/<label>/<value>}` with the
//! 0.0.4 text (no timestamps) every `interval`, and `DELETE` of the group on
//! stop (the gateway has no TTL: a group left behind stays forever).
//! The grouping key always identifies the process (`instance` = host name and
//! `pid`), so workers of a cluster never overwrite each other.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::config::ConfigError;
use crate::exposition::{self, ExpoOptions};
use crate::hub::Hub;
use crate::optparse::{duration, hostname, http_url, labels, object, string, type_err};
use crate::pusher::{classify, Outcome, Target};

#[derive(Debug, Clone, PartialEq)]
pub struct PushgatewayOptions {
    /// Base URL, e.g. `http://127.0.0.1:9091`.
    pub url: String,
    pub job: String,
    pub interval: Duration,
    /// Extra grouping labels, after `job`, before `instance` and `pid`.
    pub grouping: Vec<(String, String)>,
}

pub const KEYS: &[&str] = &["url", "job", "interval", "groupingLabels"];

pub fn parse_options(v: &Value) -> Result<PushgatewayOptions, ConfigError> {
    let o = object("prometheus.pushgateway", v, KEYS)?;
    let mut p = PushgatewayOptions { url: String::new(), job: "nodejs".into(), interval: Duration::from_secs(15), grouping: Vec::new() };
    for (k, val) in o {
        if val.is_null() {
            continue;
        }
        let path = format!("prometheus.pushgateway.{k}");
        match k.as_str() {
            "url" => p.url = http_url(&path, val)?.trim_end_matches('/').to_string(),
            "job" => p.job = string(&path, val, "a non-empty job name string")?,
            "interval" => p.interval = duration(&path, val, 1.0, 100.0, 86_400_000.0)?,
            "groupingLabels" => p.grouping = labels(&path, val, &["job"])?,
            _ => unreachable!(),
        }
    }
    if p.url.is_empty() {
        return Err(type_err("prometheus.pushgateway.url", "an http:// URL string such as 'http://127.0.0.1:9091'", &Value::Null));
    }
    Ok(p)
}

fn plain_ok(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// One `/<name>/<value>` segment; `@base64` (URL-safe) for anything that is not plain,
/// which covers `/` and the empty value (written `=`).
pub fn segment(name: &str, value: &str) -> String {
    if plain_ok(value) {
        format!("/{name}/{value}")
    } else if value.is_empty() {
        format!("/{name}@base64/=")
    } else {
        format!("/{name}@base64/{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value))
    }
}

/// The full group URL.
pub fn group_url(opts: &PushgatewayOptions, instance: &str, pid: u32) -> String {
    let mut s = format!("{}/metrics", opts.url);
    s += &segment("job", &opts.job);
    let mut have_instance = false;
    let mut have_pid = false;
    for (k, v) in &opts.grouping {
        have_instance |= k == "instance";
        have_pid |= k == "pid";
        s += &segment(k, v);
    }
    if !have_instance {
        s += &segment("instance", instance);
    }
    if !have_pid {
        s += &segment("pid", &pid.to_string());
    }
    s
}

pub struct PushgatewayTarget {
    hub: &'static Hub,
    expo: ExpoOptions,
    url: String,
}

impl PushgatewayTarget {
    pub fn new(hub: &'static Hub, opts: &PushgatewayOptions, expo: ExpoOptions) -> Self {
        Self { hub, expo, url: group_url(opts, &hostname(), std::process::id()) }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Target for PushgatewayTarget {
    fn collect(&mut self) -> Vec<Vec<u8>> {
        // One payload per tick; a newer one makes an older unsent one moot, but the
        // bounded queue keeps that simple and memory flat.
        vec![exposition::encode_text(&exposition::collect_hub(self.hub, &self.expo)).into_bytes()]
    }

    fn send(&mut self, agent: &ureq::Agent, payload: &[u8]) -> Outcome {
        classify("pushgateway", agent.put(&self.url).header("Content-Type", exposition::TEXT_CONTENT_TYPE).send(payload))
    }

    fn finish(&mut self, agent: &ureq::Agent) {
        let _ = agent.delete(&self.url).call();
    }

    fn name(&self) -> &'static str {
        "pushgateway"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grouping_key_paths() {
        let o = parse_options(&json!({ "url": "http://127.0.0.1:9091/", "job": "api", "groupingLabels": { "path": "/var/tmp", "empty": "", "zone": "eu-1" } })).unwrap();
        let u = group_url(&o, "web 1", 42);
        assert_eq!(u, "http://127.0.0.1:9091/metrics/job/api/empty@base64/=/path@base64/L3Zhci90bXA/zone/eu-1/instance@base64/d2ViIDE/pid/42");
        assert_eq!(segment("job", "a/b"), "/job@base64/YS9i");
        assert!(parse_options(&json!({ "job": "x" })).unwrap_err().message.contains("'prometheus.pushgateway.url'"));
        assert!(parse_options(&json!({ "url": "http://x", "groupingLabels": { "job": "y" } })).is_err());
        assert_eq!(parse_options(&json!({ "url": "http://x" })).unwrap().interval, Duration::from_secs(15));
    }
}
