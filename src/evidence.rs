//! Options for evidence capture (`actions`, quotas, sampling, signal trigger),
//! parsed once in `start()`; and the settings handed to the JS side that
//! drives the inspector.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::{bytes, range_err, type_err, Config, ConfigError, ErrorKind};

/// What an emergency (or the signal) captures.
pub const ACTIONS: &[&str] = &["cpuprofile", "flamegraph", "heapsnapshot", "heapprofile"];

/// Option keys handled here (`config` accepts them besides its own `KNOWN`).
pub const KEYS: &[&str] = &[
    "actions",
    "maxArtifacts",
    "maxDiskBytes",
    "samplingInterval",
    "heapSamplingInterval",
    "heapSnapshotMargin",
    "heapSnapshotNearHeapLimit",
    "signal",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Margin {
    /// A share of the heap limit.
    Ratio(f64),
    Bytes(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceConfig {
    pub actions: Vec<String>,
    pub max_artifacts: usize,
    pub max_disk_bytes: u64,
    /// CPU profiler sampling interval.
    pub sampling_interval: Duration,
    /// Heap sampling profiler: average bytes between samples.
    pub heap_sampling_interval: u64,
    /// A heap snapshot is refused when the heap limit minus the heap used is below this.
    pub heap_snapshot_margin: Margin,
    /// `v8.setHeapSnapshotNearHeapLimit(n)`; 0 = off.
    pub heap_snapshot_near_heap_limit: u32,
    /// Signal that triggers `signal_actions` (e.g. `SIGUSR2`).
    pub signal: Option<String>,
    pub signal_actions: Vec<String>,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self {
            actions: Vec::new(),
            max_artifacts: 20,
            max_disk_bytes: 1 << 30,
            sampling_interval: Duration::from_micros(1000),
            heap_sampling_interval: 32 * 1024,
            heap_snapshot_margin: Margin::Ratio(0.25),
            heap_snapshot_near_heap_limit: 0,
            signal: None,
            signal_actions: vec!["heapsnapshot".into()],
        }
    }
}

fn actions(path: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    let expected = "an array of 'cpuprofile', 'flamegraph', 'heapsnapshot', 'heapprofile'";
    let arr = v.as_array().ok_or_else(|| type_err(path, expected, v))?;
    let mut out: Vec<String> = Vec::new();
    for a in arr {
        let s = a.as_str().filter(|s| ACTIONS.contains(s)).ok_or_else(|| type_err(path, expected, a))?;
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Node's signals that a program may listen to (SIGUSR1 belongs to Node's inspector).
const SIGNALS: &[&str] = &["SIGUSR2", "SIGHUP", "SIGWINCH", "SIGPIPE", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGPROF", "SIGVTALRM", "SIGINFO", "SIGBREAK"];

fn signal(c: &mut EvidenceConfig, v: &Value) -> Result<(), ConfigError> {
    let expected = "a signal name such as 'SIGUSR2', false, or { name: 'SIGUSR2', actions: ['heapsnapshot'] }";
    let name = match v {
        Value::Bool(false) => {
            c.signal = None;
            return Ok(());
        }
        Value::String(s) => s.as_str(),
        Value::Object(o) => {
            if let Some(a) = o.get("actions") {
                c.signal_actions = actions("signal.actions", a)?;
            }
            for k in o.keys() {
                if k != "name" && k != "actions" {
                    return Err(ConfigError { kind: ErrorKind::Type, message: format!("shield: unknown option 'signal.{k}'; signal takes name and actions") });
                }
            }
            o.get("name").and_then(Value::as_str).ok_or_else(|| type_err("signal.name", "a signal name such as 'SIGUSR2'", v))?
        }
        _ => return Err(type_err("signal", expected, v)),
    };
    if name == "SIGUSR1" {
        return Err(range_err("signal", "a signal other than SIGUSR1 (Node uses it to start the inspector), e.g. 'SIGUSR2'", v));
    }
    if !SIGNALS.contains(&name) {
        return Err(range_err("signal", &format!("one of {}", SIGNALS.join(", ")), v));
    }
    c.signal = Some(name.to_string());
    Ok(())
}

/// Parses one of [`KEYS`] into `c`.
pub fn parse_option(c: &mut EvidenceConfig, key: &str, v: &Value) -> Result<(), ConfigError> {
    match key {
        "actions" => c.actions = actions(key, v)?,
        "maxArtifacts" => {
            let n = v.as_f64().filter(|n| n.fract() == 0.0).ok_or_else(|| type_err(key, "an integer", v))?;
            if !(1.0..=100_000.0).contains(&n) {
                return Err(range_err(key, "an integer from 1 to 100000", v));
            }
            c.max_artifacts = n as usize;
        }
        "maxDiskBytes" => c.max_disk_bytes = bytes(key, v)? as u64,
        "samplingInterval" => {
            // Microsecond precision matters here: a number is microseconds, like the inspector's.
            let d = match v {
                Value::Number(n) => n.as_f64().map(|us| us / 1000.0),
                Value::String(s) => crate::units::parse_duration_ms(s).or_else(|| {
                    s.trim().strip_suffix("us").and_then(|n| n.trim().parse::<f64>().ok()).map(|us| us / 1000.0)
                }),
                _ => None,
            }
            .ok_or_else(|| type_err(key, "a number of microseconds or a duration string such as '1ms' or '500us'", v))?;
            if !(0.05..=1000.0).contains(&d) {
                return Err(range_err(key, "between 50us and 1s", v));
            }
            c.sampling_interval = Duration::from_secs_f64(d / 1000.0);
        }
        "heapSamplingInterval" => {
            let b = bytes(key, v)?;
            if !(128.0..=(1u64 << 30) as f64).contains(&b) {
                return Err(range_err(key, "between 128 bytes and 1GB", v));
            }
            c.heap_sampling_interval = b as u64;
        }
        "heapSnapshotMargin" => {
            c.heap_snapshot_margin = match v {
                Value::Number(n) if n.as_f64().is_some_and(|r| (0.0..1.0).contains(&r)) => Margin::Ratio(n.as_f64().unwrap_or(0.0)),
                Value::Number(_) => return Err(range_err(key, "a ratio of the heap limit from 0 to below 1, or a size string such as '256MB'", v)),
                _ => Margin::Bytes(bytes(key, v)?),
            }
        }
        "heapSnapshotNearHeapLimit" => {
            let n = v.as_f64().filter(|n| n.fract() == 0.0).ok_or_else(|| type_err(key, "an integer (snapshots to write)", v))?;
            if !(0.0..=100.0).contains(&n) {
                return Err(range_err(key, "an integer from 0 to 100", v));
            }
            c.heap_snapshot_near_heap_limit = n as u32;
        }
        "signal" => signal(c, v)?,
        _ => return Err(type_err(key, "a known option", v)),
    }
    Ok(())
}

/// What the JS side needs to capture and store artifacts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub logs_path: String,
    pub actions: Vec<String>,
    pub max_artifacts: usize,
    pub max_disk_bytes: u64,
    pub sampling_time_ms: f64,
    pub sampling_interval_us: f64,
    pub heap_sampling_interval: u64,
    pub heap_snapshot_margin_ratio: Option<f64>,
    pub heap_snapshot_margin_bytes: Option<f64>,
    pub heap_snapshot_near_heap_limit: u32,
    pub signal: Option<String>,
    pub signal_actions: Vec<String>,
}

/// Where artifacts go: `logsPath` (relative to the working directory), or `<cwd>/shield-logs`.
pub fn logs_dir(config: &Config) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match &config.logs_path {
        Some(p) => cwd.join(p),
        None => cwd.join("shield-logs"),
    }
}

pub fn settings(config: &Config) -> Settings {
    let e = &config.evidence;
    Settings {
        logs_path: logs_dir(config).to_string_lossy().into_owned(),
        actions: e.actions.clone(),
        max_artifacts: e.max_artifacts,
        max_disk_bytes: e.max_disk_bytes,
        sampling_time_ms: config.sampling_time.as_secs_f64() * 1000.0,
        sampling_interval_us: (e.sampling_interval.as_secs_f64() * 1e6).round(),
        heap_sampling_interval: e.heap_sampling_interval,
        heap_snapshot_margin_ratio: match e.heap_snapshot_margin {
            Margin::Ratio(r) => Some(r),
            Margin::Bytes(_) => None,
        },
        heap_snapshot_margin_bytes: match e.heap_snapshot_margin {
            Margin::Bytes(b) => Some(b),
            Margin::Ratio(_) => None,
        },
        heap_snapshot_near_heap_limit: e.heap_snapshot_near_heap_limit,
        signal: e.signal.clone(),
        signal_actions: e.signal_actions.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<Config, ConfigError> {
        Config::from_json(&v)
    }

    #[test]
    fn parses_evidence_options() {
        let c = cfg(json!({
            "actions": ["cpuprofile", "flamegraph", "cpuprofile"], "maxArtifacts": 5, "maxDiskBytes": "100MB",
            "samplingInterval": "500us", "heapSnapshotMargin": "256MB", "signal": { "name": "SIGUSR2", "actions": ["cpuprofile"] },
            "logsPath": "/tmp/x"
        }))
        .unwrap();
        let e = &c.evidence;
        assert_eq!(e.actions, ["cpuprofile", "flamegraph"]);
        assert_eq!(e.max_artifacts, 5);
        assert_eq!(e.max_disk_bytes, 100 << 20);
        assert_eq!(e.sampling_interval, Duration::from_micros(500));
        assert_eq!(e.heap_snapshot_margin, Margin::Bytes((256u64 << 20) as f64));
        assert_eq!(e.signal.as_deref(), Some("SIGUSR2"));
        assert_eq!(e.signal_actions, ["cpuprofile"]);
        let s = settings(&c);
        assert_eq!(s.logs_path, "/tmp/x");
        assert_eq!(s.sampling_interval_us, 500.0);
        assert!(settings(&cfg(json!({})).unwrap()).logs_path.ends_with("shield-logs"));
    }

    #[test]
    fn errors_name_the_option() {
        let m = |v: Value| cfg(v).unwrap_err().message;
        assert!(m(json!({ "actions": ["coredump"] })).contains("'actions'"));
        assert!(m(json!({ "maxArtifacts": 0 })).contains("'maxArtifacts'"));
        assert!(m(json!({ "maxDiskBytes": "lots" })).contains("'maxDiskBytes'"));
        assert!(m(json!({ "signal": "SIGUSR1" })).contains("inspector"));
        assert!(m(json!({ "signal": { "name": "SIGUSR2", "when": 1 } })).contains("'signal.when'"));
        assert!(m(json!({ "heapSnapshotMargin": 1.5 })).contains("'heapSnapshotMargin'"));
        assert!(m(json!({ "samplingInterval": "1 fortnight" })).contains("'samplingInterval'"));
    }
}
