//! `/healthz`: healthy unless a loop is blocked or a configured limit is
//! exceeded. Judged from the hub on the listener's thread, so the answer
//! (503) comes while the loop is still blocked.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::config::ConfigError;
use crate::hub::ThreadView;
use crate::optparse::{bytes, duration, object, ratio};

#[derive(Debug, Clone, PartialEq)]
pub struct HealthLimits {
    /// A heartbeat unanswered this long means "blocked" (default 1 s).
    pub blocked: Duration,
    pub event_loop_lag_p99_ms: Option<f64>,
    pub event_loop_utilization: Option<f64>,
    pub heap_used_ratio: Option<f64>,
    pub rss: Option<f64>,
}

impl Default for HealthLimits {
    fn default() -> Self {
        Self { blocked: Duration::from_secs(1), event_loop_lag_p99_ms: None, event_loop_utilization: None, heap_used_ratio: None, rss: None }
    }
}

pub const KEYS: &[&str] = &["blocked", "eventLoopLagP99", "eventLoopUtilization", "heapUsedRatio", "rss"];

pub fn parse_limits(path: &str, v: &Value) -> Result<HealthLimits, ConfigError> {
    let obj = object(path, v, KEYS)?;
    let mut h = HealthLimits::default();
    for (k, val) in obj {
        let p = format!("{path}.{k}");
        if val.is_null() {
            continue;
        }
        match k.as_str() {
            "blocked" => h.blocked = duration(&p, val, 1.0, 20.0, 3_600_000.0)?,
            "eventLoopLagP99" => h.event_loop_lag_p99_ms = Some(duration(&p, val, 1.0, 1.0, 3_600_000.0)?.as_secs_f64() * 1000.0),
            "eventLoopUtilization" => h.event_loop_utilization = Some(ratio(&p, val)?),
            "heapUsedRatio" => h.heap_used_ratio = Some(ratio(&p, val)?),
            "rss" => h.rss = Some(bytes(&p, val)?),
            _ => unreachable!("object() checked the keys"),
        }
    }
    Ok(h)
}

/// `(healthy, JSON body)`.
pub fn evaluate(views: &[ThreadView], rss: Option<f64>, limits: &HealthLimits, pid: u32) -> (bool, Value) {
    let mut failures = Vec::new();
    let mut threads = Vec::new();
    let blocked_ms = limits.blocked.as_secs_f64() * 1000.0;
    let mut fail = |check: &str, thread: Option<u32>, value: f64, limit: f64| {
        let mut m = Map::new();
        m.insert("check".into(), json!(check));
        if let Some(t) = thread {
            m.insert("threadId".into(), json!(t));
        }
        m.insert("value".into(), json!(value));
        m.insert("limit".into(), json!(limit));
        failures.push(Value::Object(m));
    };
    for v in views {
        let pending = v.lag.pending_ms;
        let p99 = v.lag.window.stats.map(|s| s.p99.max(pending));
        let elu = v.usage.as_ref().and_then(|u| u.event_loop.utilization);
        let heap_ratio = v.usage.as_ref().map(|u| u.heap.used_ratio);
        threads.push(json!({
            "threadId": v.thread_id,
            "blockedMs": pending.round(),
            "lagP99Ms": p99,
            "eventLoopUtilization": elu,
            "heapUsedRatio": heap_ratio,
        }));
        if pending >= blocked_ms {
            fail("blocked", Some(v.thread_id), pending.round(), blocked_ms);
        } else if v.lag.stalled {
            // The stall threshold (option stall) is below the blocked limit: a stall is unhealthy too.
            fail("stalled", Some(v.thread_id), pending.round(), f64::NAN); // NaN: null in JSON, the limit is the stall threshold
        }
        if let (Some(l), Some(x)) = (limits.event_loop_lag_p99_ms, p99) {
            if x > l {
                fail("eventLoopLagP99", Some(v.thread_id), x, l);
            }
        }
        if let (Some(l), Some(x)) = (limits.event_loop_utilization, elu) {
            if x > l {
                fail("eventLoopUtilization", Some(v.thread_id), x, l);
            }
        }
        if let (Some(l), Some(x)) = (limits.heap_used_ratio, heap_ratio) {
            if x > l {
                fail("heapUsedRatio", Some(v.thread_id), x, l);
            }
        }
    }
    if let (Some(l), Some(x)) = (limits.rss, rss) {
        if x > l {
            fail("rss", None, x, l);
        }
    }
    let ok = failures.is_empty();
    let body = json!({
        "status": if ok { "ok" } else { "unhealthy" },
        "pid": pid,
        "rss": rss,
        "threads": threads,
        "failures": failures,
    });
    (ok, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::LagSnapshot;

    fn view(pending_ms: f64) -> ThreadView {
        ThreadView {
            thread_id: 0,
            usage: None,
            sample: None,
            lag: LagSnapshot {
                window_ms: 1.0,
                pending_ms,
                ..LagSnapshot::default()
            },
            gc_buckets: vec![],
            errors: 0,
            emergencies: 0,
            suppressed_emergencies: 0,
        }
    }

    #[test]
    fn blocked_and_rss() {
        let l = HealthLimits::default();
        assert!(evaluate(&[view(5.0)], Some(1e6), &l, 1).0);
        let (ok, body) = evaluate(&[view(3000.0)], Some(1e6), &l, 1);
        assert!(!ok);
        assert_eq!(body["status"], "unhealthy");
        assert_eq!(body["failures"][0]["check"], "blocked");
        assert_eq!(body["failures"][0]["value"], 3000.0);
        let l = parse_limits("prometheus.health", &json!({ "rss": "1MB", "blocked": "2s" })).unwrap();
        let (ok, body) = evaluate(&[view(1500.0)], Some(2e6), &l, 1);
        assert!(!ok);
        assert_eq!(body["failures"].as_array().unwrap().len(), 1);
        assert_eq!(body["failures"][0]["check"], "rss");
    }

    #[test]
    fn bad_limits_name_the_path() {
        let e = parse_limits("prometheus.health", &json!({ "rsss": 1 })).unwrap_err();
        assert!(e.message.contains("'prometheus.health.rsss'"), "{}", e.message);
        let e = parse_limits("prometheus.health", &json!({ "heapUsedRatio": 2 })).unwrap_err();
        assert!(e.message.contains("'prometheus.health.heapUsedRatio'"), "{}", e.message);
    }
}
