//! Options of `shield.start()`, checked once: a wrong option is the one error
//! shield throws into the app, and it names the option and the form expected.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::rules::{Metric, Threshold, Unit};
use crate::units::{parse_bytes, parse_duration_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Wrong type or shape: JS `TypeError`.
    Type,
    /// Right type, out of range: JS `RangeError`.
    Range,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub kind: ErrorKind,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 { format!("{}…", &s[..s.char_indices().nth(39).map_or(s.len(), |(i, _)| i)]) } else { s }
}

pub(crate) fn type_err(path: &str, expected: &str, got: &Value) -> ConfigError {
    ConfigError { kind: ErrorKind::Type, message: format!("shield: option '{path}' must be {expected} (got {})", shown(got)) }
}

pub(crate) fn range_err(path: &str, expected: &str, got: &Value) -> ConfigError {
    ConfigError { kind: ErrorKind::Range, message: format!("shield: option '{path}' must be {expected} (got {})", shown(got)) }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where artifacts go; `None` means the working directory.
    pub logs_path: Option<String>,
    /// CPU profile length (v8-perf-shield's `samplingTime`).
    pub sampling_time: Duration,
    pub flush: Duration,
    pub cache_max_limit: usize,
    pub cooldown: Duration,
    pub window: Duration,
    pub heartbeat_interval: Duration,
    pub thresholds: Vec<Threshold>,
    pub hold: Duration,
    /// GC pause histogram buckets, seconds.
    pub gc_buckets: Vec<f64>,
    /// Evidence capture: actions, artifact quotas, sampling (see evidence.rs).
    pub evidence: crate::evidence::EvidenceConfig,
    pub prometheus: Option<crate::prom_http::PrometheusOptions>,
    pub falcon: Option<crate::falcon::FalconOptions>,
    pub stall: Option<StallConfig>,
}

/// `stall: { threshold, capture, samples, interval }`.
#[derive(Debug, Clone, PartialEq)]
pub struct StallConfig {
    /// A heartbeat unanswered this long is a stall.
    pub threshold: Duration,
    /// Take JavaScript stacks of the blocking code while it blocks.
    pub capture: bool,
    /// At most this many stack samples per stall.
    pub samples: u32,
    /// Time between two stack samples.
    pub interval: Duration,
}

impl Default for StallConfig {
    fn default() -> Self {
        Self { threshold: Duration::from_millis(500), capture: true, samples: 50, interval: Duration::from_millis(1) }
    }
}

fn stall(v: &Value) -> Result<StallConfig, ConfigError> {
    let mut c = StallConfig::default();
    match v {
        Value::Bool(true) => return Ok(c),
        Value::Object(o) => {
            for (k, val) in o {
                let path = format!("stall.{k}");
                if val.is_null() {
                    continue;
                }
                match k.as_str() {
                    "threshold" => c.threshold = duration(&path, val, 1.0, 20.0, 3_600_000.0)?,
                    "capture" => c.capture = val.as_bool().ok_or_else(|| type_err(&path, "a boolean", val))?,
                    "samples" => c.samples = positive_int(&path, val, 1000)? as u32,
                    "interval" => c.interval = duration(&path, val, 1.0, 1.0, 10_000.0)?,
                    _ => {
                        return Err(ConfigError {
                            kind: ErrorKind::Type,
                            message: format!("shield: unknown option '{path}'; stall options are threshold, capture, samples, interval"),
                        })
                    }
                }
            }
            Ok(c)
        }
        _ => Err(type_err("stall", "true or an object such as { threshold: '500ms', capture: true }", v)),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            logs_path: None,
            sampling_time: Duration::from_secs(60),
            flush: Duration::from_secs(3),
            cache_max_limit: 100,
            cooldown: Duration::from_secs(60),
            window: Duration::from_secs(60),
            heartbeat_interval: Duration::from_millis(10),
            thresholds: Vec::new(),
            hold: Duration::ZERO,
            gc_buckets: crate::gc::DEFAULT_PAUSE_BUCKETS.to_vec(),
            evidence: Default::default(),
            stall: None,
            prometheus: None,
            falcon: None,
        }
    }
}

/// Option keys `start()` understands, besides the capture keys of `evidence::KEYS`.
/// Function-valued options are checked by the JS facade.
pub const KNOWN: &[&str] = &[
    "logsPath",
    "samplingTime",
    "flushTime",
    "cacheMaxLimit",
    "usageOptions",
    "cooldown",
    "window",
    "heartbeatInterval",
    "thresholds",
    "gcDurationBuckets",
    "gcHeapStats",
    "stall",
    "emergencyCondition",
    "emergencyAction",
    "prometheus",
    "falcon",
];

/// A duration: a string with a unit, or a number in `number_unit_ms` milliseconds.
pub(crate) fn duration(path: &str, v: &Value, number_unit_ms: f64, min_ms: f64, max_ms: f64) -> Result<Duration, ConfigError> {
    let expected = if number_unit_ms == 1000.0 {
        "a number of seconds or a duration string such as '3s' or '500ms'"
    } else {
        "a number of milliseconds or a duration string such as '200ms' or '10s'"
    };
    let ms = match v {
        Value::Number(n) => n.as_f64().map(|x| x * number_unit_ms),
        Value::String(s) => parse_duration_ms(s),
        _ => return Err(type_err(path, expected, v)),
    }
    .ok_or_else(|| type_err(path, expected, v))?;
    if !(ms >= min_ms && ms <= max_ms) {
        return Err(range_err(path, &format!("between {min_ms} ms and {max_ms} ms"), v));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// A size: a string with a unit (`'1.5GB'`, 1024-based) or a number of bytes; positive.
pub(crate) fn bytes(path: &str, v: &Value) -> Result<f64, ConfigError> {
    let expected = "a number of bytes or a size string such as '1.5GB' or '512MB'";
    let b = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_bytes(s),
        _ => None,
    }
    .ok_or_else(|| type_err(path, expected, v))?;
    if !(b > 0.0 && b.is_finite()) {
        return Err(range_err(path, "a positive size", v));
    }
    Ok(b)
}

fn positive_int(path: &str, v: &Value, max: u64) -> Result<usize, ConfigError> {
    let n = v.as_f64().ok_or_else(|| type_err(path, "an integer", v))?;
    if n.fract() != 0.0 {
        return Err(type_err(path, "an integer", v));
    }
    if n < 1.0 || n > max as f64 {
        return Err(range_err(path, &format!("an integer from 1 to {max}"), v));
    }
    Ok(n as usize)
}

fn limit(path: &str, unit: Unit, v: &Value) -> Result<f64, ConfigError> {
    match unit {
        Unit::Duration => duration(path, v, 1.0, 0.0, 86_400_000.0).map(|d| d.as_secs_f64() * 1000.0),
        Unit::Bytes => bytes(path, v),
        Unit::Ratio => {
            let r = v.as_f64().ok_or_else(|| type_err(path, "a number between 0 and 1", v))?;
            if !(r > 0.0 && r <= 1.0) {
                return Err(range_err(path, "a number greater than 0 and at most 1", v));
            }
            Ok(r)
        }
        Unit::Percent => {
            let p = v.as_f64().ok_or_else(|| type_err(path, "a percentage number such as 90", v))?;
            if !(p > 0.0 && p.is_finite()) {
                return Err(range_err(path, "a percentage greater than 0", v));
            }
            Ok(p)
        }
    }
}

fn thresholds(v: &Value) -> Result<(Vec<Threshold>, Duration), ConfigError> {
    let obj = v.as_object().ok_or_else(|| type_err("thresholds", "an object such as { eventLoopLagP99: '200ms' }", v))?;
    let mut out = Vec::new();
    let mut hold = Duration::ZERO;
    for (k, val) in obj {
        let path = format!("thresholds.{k}");
        if val.is_null() {
            continue;
        }
        if k == "for" {
            hold = duration(&path, val, 1.0, 0.0, 86_400_000.0)?;
            continue;
        }
        let metric = Metric::from_name(k).ok_or_else(|| {
            let names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
            ConfigError {
                kind: ErrorKind::Type,
                message: format!("shield: unknown option '{path}'; thresholds are {} and 'for'", names.join(", ")),
            }
        })?;
        out.push(Threshold { metric, limit: limit(&path, metric.unit(), val)? });
    }
    Ok((out, hold))
}

impl Config {
    /// Parses the options object (functions already removed by the facade).
    /// `null`/`undefined` values mean "default".
    pub fn from_json(v: &Value) -> Result<Config, ConfigError> {
        let empty = Map::new();
        let obj = match v {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => return Err(type_err("options", "an object", v)),
        };
        let mut c = Config::default();
        for (k, val) in obj {
            if val.is_null() {
                continue;
            }
            match k.as_str() {
                "logsPath" => match val {
                    Value::String(s) if !s.is_empty() => c.logs_path = Some(s.clone()),
                    _ => return Err(type_err(k, "a non-empty directory path string", val)),
                },
                "samplingTime" => c.sampling_time = duration(k, val, 1000.0, 100.0, 3_600_000.0)?,
                "flushTime" => c.flush = duration(k, val, 1000.0, 50.0, 3_600_000.0)?,
                "cacheMaxLimit" => c.cache_max_limit = positive_int(k, val, 100_000)?,
                "usageOptions" => {
                    if !val.is_object() {
                        return Err(type_err(k, "an object (accepted for v8-perf-shield compatibility)", val));
                    }
                }
                "cooldown" => c.cooldown = duration(k, val, 1.0, 0.0, 86_400_000.0)?,
                "window" => c.window = duration(k, val, 1.0, 1000.0, 3_600_000.0)?,
                "heartbeatInterval" => c.heartbeat_interval = duration(k, val, 1.0, 1.0, 1000.0)?,
                "thresholds" => (c.thresholds, c.hold) = thresholds(val)?,
                "gcDurationBuckets" => {
                    let expected = "an increasing array of positive numbers of seconds";
                    let arr = val.as_array().ok_or_else(|| type_err(k, expected, val))?;
                    let b: Option<Vec<f64>> = arr.iter().map(|x| x.as_f64().filter(|f| *f > 0.0 && f.is_finite())).collect();
                    let b = b.filter(|b| !b.is_empty() && b.windows(2).all(|w| w[0] < w[1])).ok_or_else(|| type_err(k, expected, val))?;
                    c.gc_buckets = b;
                }
                k if crate::evidence::KEYS.contains(&k) => crate::evidence::parse_option(&mut c.evidence, k, val)?,
                // Read by the facade (it starts v8.GCProfiler); checked here with the rest.
                "gcHeapStats" => {
                    if !val.is_boolean() {
                        return Err(type_err(k, "a boolean", val));
                    }
                }
                "stall" => c.stall = if val == &Value::Bool(false) { None } else { Some(stall(val)?) },
                "prometheus" => c.prometheus = Some(crate::prom_http::parse_options(val)?),
                "falcon" => c.falcon = Some(crate::falcon::parse_options(val)?),
                // Functions: the JS facade checked and removed them.
                "emergencyCondition" | "emergencyAction" => {}
                _ => {
                    return Err(ConfigError {
                        kind: ErrorKind::Type,
                        message: format!(
                            "shield: unknown option '{k}'; known options are {}",
                            KNOWN.iter().chain(crate::evidence::KEYS).copied().collect::<Vec<_>>().join(", ")
                        ),
                    })
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> ConfigError {
        Config::from_json(&v).unwrap_err()
    }

    #[test]
    fn defaults_match_v8_perf_shield() {
        let c = Config::from_json(&Value::Null).unwrap();
        assert_eq!(c.flush, Duration::from_secs(3));
        assert_eq!(c.cache_max_limit, 100);
        assert_eq!(c.sampling_time, Duration::from_secs(60));
    }

    #[test]
    fn parses_thresholds_with_units() {
        let c = Config::from_json(&json!({
            "flushTime": 0.5,
            "thresholds": { "eventLoopLagP99": "200ms", "heapUsedRatio": 0.85, "rss": "1.5GB",
                            "cpuPercent": 90, "gcPauseMax": 100, "for": "10s" }
        }))
        .unwrap();
        assert_eq!(c.flush, Duration::from_millis(500));
        assert_eq!(c.hold, Duration::from_secs(10));
        let t: Vec<(Metric, f64)> = c.thresholds.iter().map(|t| (t.metric, t.limit)).collect();
        assert!(t.contains(&(Metric::EventLoopLagP99, 200.0)));
        assert!(t.contains(&(Metric::Rss, 1.5 * 1024.0 * 1024.0 * 1024.0)));
        assert!(t.contains(&(Metric::GcPauseMax, 100.0)));
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn errors_name_the_option_and_form() {
        let e = err(json!({ "flushTime": "soon" }));
        assert_eq!(e.kind, ErrorKind::Type);
        assert!(e.message.contains("'flushTime'") && e.message.contains("seconds"), "{}", e.message);
        let e = err(json!({ "cacheMaxLimit": 0 }));
        assert_eq!(e.kind, ErrorKind::Range);
        assert!(e.message.contains("'cacheMaxLimit'"));
        let e = err(json!({ "thresholds": { "heapUsedRatio": 1.5 } }));
        assert_eq!(e.kind, ErrorKind::Range);
        assert!(e.message.contains("'thresholds.heapUsedRatio'"));
        let e = err(json!({ "thresholds": { "rss": "huge" } }));
        assert!(e.message.contains("'1.5GB'"), "{}", e.message);
        let e = err(json!({ "thresholds": { "lag": 5 } }));
        assert!(e.message.contains("'thresholds.lag'") && e.message.contains("eventLoopLagP99"));
        let e = err(json!({ "flushtime": 3 }));
        assert!(e.message.contains("unknown option 'flushtime'"));
        let e = err(json!({ "gcDurationBuckets": [1, 0.5] }));
        assert!(e.message.contains("increasing"));
        assert_eq!(err(json!(5)).kind, ErrorKind::Type);
        let e = err(json!({ "stall": { "threshold": "1ms" } }));
        assert_eq!(e.kind, ErrorKind::Range);
        assert!(e.message.contains("'stall.threshold'"));
        assert!(err(json!({ "stall": { "capture": "yes" } })).message.contains("'stall.capture' must be a boolean"));
        assert!(err(json!({ "stall": "on" })).message.contains("'stall' must be true or an object"));
    }

    #[test]
    fn stall_options() {
        assert_eq!(Config::from_json(&json!({ "stall": true })).unwrap().stall, Some(StallConfig::default()));
        assert_eq!(Config::from_json(&json!({ "stall": false })).unwrap().stall, None);
        let c = Config::from_json(&json!({ "stall": { "threshold": "300ms", "samples": 10, "interval": 15, "capture": false } })).unwrap();
        let s = c.stall.unwrap();
        assert_eq!((s.threshold, s.samples, s.interval, s.capture), (Duration::from_millis(300), 10, Duration::from_millis(15), false));
    }
}
