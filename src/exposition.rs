//! What `/metrics` says: the hub's threads and the process's readings turned
//! into metric families with prom-client's names, HELP strings, types and
//! units, then encoded by the ecosystem's encoders:
//! - text format 0.0.4 by the `prometheus` crate's `TextEncoder` (what
//!   prom-client serves, what the Pushgateway accepts);
//! - OpenMetrics 1.0 by `prometheus-client` (the Prometheus project's own
//!   Rust client), when a scraper asks for it.
//!
//! Semantics that differ from prom-client on purpose (see the README):
//! loop-lag figures cover a fixed window (default 60 s) rather than "since
//! the previous scrape", so two scrapers never disturb each other; the
//! heartbeat's figures are read live at scrape time.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::gc::GcKind;
use crate::hub::{Hub, NodeVersion, ThreadView};
use crate::procinfo::ProcessReading;

pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    /// `buckets`: (upper bound, non-cumulative count), +Inf last.
    Hist { buckets: Vec<(f64, u64)>, sum: f64, count: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Full name; counters end in `_total`.
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

/// Exposition options: `prometheus.prefix` and `prometheus.labels`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpoOptions {
    pub prefix: String,
    pub labels: Labels,
}

/// Families in first-seen order; samples of a name stay together.
#[derive(Default)]
pub struct Builder {
    prefix: String,
    fams: Vec<Family>,
    idx: HashMap<String, usize>,
}

impl Builder {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_string(), ..Default::default() }
    }

    fn family(&mut self, name: &str, help: &str, kind: Kind) -> &mut Family {
        let full = format!("{}{}", self.prefix, name);
        let i = match self.idx.get(&full) {
            Some(&i) => i,
            None => {
                self.fams.push(Family { name: full.clone(), help: help.to_string(), kind, samples: Vec::new() });
                self.idx.insert(full, self.fams.len() - 1);
                self.fams.len() - 1
            }
        };
        &mut self.fams[i]
    }

    /// Non-finite values are left out (a metric is better absent than bogus).
    pub fn num(&mut self, kind: Kind, name: &str, help: &str, labels: Labels, v: f64) {
        if v.is_finite() {
            self.family(name, help, kind).samples.push(Sample { labels, value: Value::Num(v) });
        }
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: Labels, v: Option<f64>) {
        if let Some(v) = v {
            self.num(Kind::Gauge, name, help, labels, v);
        }
    }

    pub fn counter(&mut self, name: &str, help: &str, labels: Labels, v: f64) {
        self.num(Kind::Counter, name, help, labels, v);
    }

    pub fn histogram(&mut self, name: &str, help: &str, labels: Labels, bounds: &[f64], counts: &[u64], sum: f64) {
        let mut buckets: Vec<(f64, u64)> = bounds.iter().enumerate().map(|(i, &b)| (b, counts.get(i).copied().unwrap_or(0))).collect();
        buckets.push((f64::INFINITY, counts.get(bounds.len()).copied().unwrap_or(0)));
        let count = buckets.iter().map(|b| b.1).sum();
        let sum = if sum.is_finite() { sum } else { 0.0 };
        self.family(name, help, Kind::Histogram).samples.push(Sample { labels, value: Value::Hist { buckets, sum, count } });
    }

    pub fn finish(self) -> Vec<Family> {
        self.fams.into_iter().filter(|f| !f.samples.is_empty()).collect()
    }
}

fn with(first: &[(&str, String)], base: &Labels) -> Labels {
    first.iter().map(|(k, v)| (k.to_string(), v.clone())).chain(base.iter().cloned()).collect()
}

const MS: f64 = 1000.0;

/// Builds every family for the process: process-wide ones once, per-thread ones
/// for each registered thread (`thread` label on workers).
pub fn collect(views: &[ThreadView], proc: &ProcessReading, node: Option<NodeVersion>, push: &[(&'static str, [u64; 3])], opts: &ExpoOptions, pid: u32) -> Vec<Family> {
    let mut b = Builder::new(&opts.prefix);
    let plabels: Labels = std::iter::once(("pid".to_string(), pid.to_string())).chain(opts.labels.iter().cloned()).collect();
    let main_sample = views.iter().find_map(|v| v.sample.as_ref());

    // process_* (prom-client's processCpuTotal … processMaxFileDescriptors)
    if let (Some(u), Some(s)) = (proc.cpu_user_s, proc.cpu_system_s) {
        b.counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", plabels.clone(), u);
        b.counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.", plabels.clone(), s);
        b.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", plabels.clone(), u + s);
    }
    let start = proc.start_time_s.or_else(|| main_sample.map(|s| (s.timestamp / MS - s.uptime).round()));
    b.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", plabels.clone(), start);
    let rss = proc.rss_bytes.or_else(|| main_sample.map(|s| s.rss));
    b.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", plabels.clone(), rss);
    b.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", plabels.clone(), proc.virtual_bytes);
    b.gauge("process_heap_bytes", "Process heap size in bytes.", plabels.clone(), proc.data_bytes);
    b.gauge("process_open_fds", "Number of open file descriptors.", plabels.clone(), proc.open_fds);
    b.gauge("process_max_fds", "Maximum number of open file descriptors.", plabels.clone(), proc.max_fds);

    let tlabels = |v: &ThreadView| -> Labels {
        let mut l = vec![("pid".to_string(), pid.to_string())];
        if v.thread_id != 0 {
            l.push(("thread".to_string(), v.thread_id.to_string()));
        }
        l.extend(opts.labels.iter().cloned());
        l
    };

    for v in views {
        let l = tlabels(v);
        // The most recent delay; a block in progress shows as its current length.
        let last = v.lag.last_ms.map(|x| x.max(v.lag.pending_ms)).or((v.lag.pending_ms > 0.0).then_some(v.lag.pending_ms));
        b.gauge("nodejs_eventloop_lag_seconds", "Lag of event loop in seconds.", l.clone(), last.map(|x| x / MS));
        if let Some(w) = v.lag.window.stats {
            let lag = [
                ("min", "The minimum recorded event loop delay.", w.min),
                ("max", "The maximum recorded event loop delay.", w.max.max(v.lag.pending_ms)),
                ("mean", "The mean of the recorded event loop delays.", w.mean),
                ("stddev", "The standard deviation of the recorded event loop delays.", w.stddev),
                ("p50", "The 50th percentile of the recorded event loop delays.", w.p50),
                ("p90", "The 90th percentile of the recorded event loop delays.", w.p90),
                ("p99", "The 99th percentile of the recorded event loop delays.", w.p99),
            ];
            for (k, help, ms) in lag {
                b.gauge(&format!("nodejs_eventloop_lag_{k}_seconds"), help, l.clone(), Some(ms / MS));
            }
        }
    }
    for v in views {
        let Some(u) = &v.usage else { continue };
        let l = tlabels(v);
        b.gauge("nodejs_active_handles_total", "Total number of active handles.", l.clone(), Some(u.handles));
        b.gauge("nodejs_active_requests_total", "Total number of active requests.", l.clone(), Some(u.requests));
        b.gauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes.", l.clone(), Some(u.heap.total));
        b.gauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", l.clone(), Some(u.heap.used));
        b.gauge("nodejs_external_memory_bytes", "Node.js external memory size in bytes.", l.clone(), Some(u.heap.external));
    }
    for (suffix, help) in [
        ("total", "Process heap space size total from Node.js in bytes."),
        ("used", "Process heap space size used from Node.js in bytes."),
        ("available", "Process heap space size available from Node.js in bytes."),
    ] {
        for v in views {
            let Some(u) = &v.usage else { continue };
            for s in &u.heap.spaces {
                let val = match suffix {
                    "total" => s.size,
                    "used" => s.used,
                    _ => s.available,
                };
                let l = with(&[("space", s.name.clone())], &tlabels(v));
                b.gauge(&format!("nodejs_heap_space_size_{suffix}_bytes"), help, l, Some(val));
            }
        }
    }
    if let Some(n) = node {
        let l = with(
            &[
                ("version", format!("v{}.{}.{}", n.major, n.minor, n.patch)),
                ("major", n.major.to_string()),
                ("minor", n.minor.to_string()),
                ("patch", n.patch.to_string()),
            ],
            &plabels,
        );
        b.gauge("nodejs_version_info", "Node.js version info.", l, Some(1.0));
    }
    for v in views {
        let Some(u) = &v.usage else { continue };
        for k in GcKind::ALL {
            let ks = u.gc_total.kind(k);
            let l = with(&[("kind", k.label().to_string())], &tlabels(v));
            b.histogram(
                "nodejs_gc_duration_seconds",
                "Garbage collection duration by kind, one of major, minor, incremental or weakcb.",
                l,
                &v.gc_buckets,
                &ks.bucket_counts,
                ks.pause_ms / MS,
            );
        }
    }

    // shield's own
    for v in views {
        let l = tlabels(v);
        let blocked = if v.lag.pending_ms >= 10.0 { v.lag.pending_ms / MS } else { 0.0 };
        b.gauge("shield_eventloop_blocked_seconds", "How long the event loop has been blocked right now (0 when it answers), seconds; read while the loop is blocked.", l.clone(), Some(blocked));
        b.gauge("shield_eventloop_blocked_ratio", "Share of the lag window the loop spent in delays of 10 ms or more, a block in progress included.", l.clone(), Some(v.lag.blocked_ratio));
        b.gauge("shield_eventloop_lag_window_seconds", "Length of the window the nodejs_eventloop_lag_* figures cover, seconds.", l.clone(), Some(v.lag.window_ms / MS));
        if let Some(u) = &v.usage {
            b.gauge("shield_eventloop_utilization_ratio", "Event-loop utilization over the last flush interval (0..1).", l.clone(), u.event_loop.utilization);
            b.gauge("shield_heap_size_limit_bytes", "V8 heap size limit in bytes.", l.clone(), Some(u.heap.limit));
        }
        let stall_now = if v.lag.stalled { v.lag.pending_ms / MS } else { 0.0 };
        b.gauge("nodejs_eventloop_stall_seconds", "Length of the stall in progress (option stall), seconds; 0 when the loop answers.", l.clone(), Some(stall_now));
        b.counter("shield_stalls_total", "Stalls detected (the loop did not answer for the stall threshold).", l.clone(), v.lag.stalls as f64);
        b.counter("shield_eventloop_stall_seconds_total", "Time spent in stalls, the one in progress included, seconds.", l.clone(), v.lag.stall_total_ms / MS);
        b.counter("shield_emergencies_total", "Emergencies fired (after cooldown).", l.clone(), v.emergencies as f64);
        b.counter("shield_emergencies_suppressed_total", "Emergencies suppressed by the cooldown.", l.clone(), v.suppressed_emergencies as f64);
        b.counter("shield_errors_total", "Internal failures reported as 'error' events.", l.clone(), v.errors as f64);
        b.counter("shield_heartbeat_failures_total", "Heartbeats that could not be queued to the JS thread.", l.clone(), v.lag.ping_failures as f64);
        b.counter("shield_lag_samples_dropped_total", "Loop-delay samples dropped by the bounded window.", l, v.lag.window.dropped as f64);
    }
    for (target, [pushes, failures, dropped]) in push {
        let l = with(&[("target", target.to_string())], &plabels);
        b.counter("shield_pushes_total", "Successful pushes to a push target (falcon, pushgateway).", l.clone(), *pushes as f64);
        b.counter("shield_push_failures_total", "Failed push attempts (connection error, timeout, non-2xx answer).", l.clone(), *failures as f64);
        b.counter("shield_push_dropped_total", "Payloads dropped: queue full (oldest first), retries exhausted or rejected by the target.", l, *dropped as f64);
    }
    b.finish()
}

/// Collects from a hub (the live path: every exporter goes through here).
pub fn collect_hub(hub: &Hub, opts: &ExpoOptions) -> Vec<Family> {
    let views = hub.views();
    let push: Vec<(&'static str, [u64; 3])> = hub
        .push_targets()
        .into_iter()
        .map(|(t, s)| (t, [s.pushes.load(Ordering::Relaxed), s.failures.load(Ordering::Relaxed), s.dropped.load(Ordering::Relaxed)]))
        .collect();
    collect(&views, &crate::procinfo::read(), hub.node_version(), &push, opts, std::process::id())
}

/// Text format 0.0.4 (`text/plain; version=0.0.4; charset=utf-8`), via the `prometheus` crate.
pub fn encode_text(fams: &[Family]) -> String {
    use prometheus::proto;
    let mfs: Vec<proto::MetricFamily> = fams
        .iter()
        .map(|f| {
            let mut mf = proto::MetricFamily::default();
            mf.set_name(f.name.clone());
            mf.set_help(f.help.clone());
            mf.set_field_type(match f.kind {
                Kind::Counter => proto::MetricType::COUNTER,
                Kind::Gauge => proto::MetricType::GAUGE,
                Kind::Histogram => proto::MetricType::HISTOGRAM,
            });
            let metrics = f
                .samples
                .iter()
                .map(|s| {
                    let mut m = proto::Metric::default();
                    m.set_label(
                        s.labels
                            .iter()
                            .map(|(k, v)| {
                                let mut lp = proto::LabelPair::default();
                                lp.set_name(k.clone());
                                lp.set_value(v.clone());
                                lp
                            })
                            .collect(),
                    );
                    match (&s.value, f.kind) {
                        (Value::Num(v), Kind::Counter) => {
                            let mut c = proto::Counter::default();
                            c.set_value(*v);
                            m.set_counter(c);
                        }
                        (Value::Num(v), _) => {
                            let mut g = proto::Gauge::default();
                            g.set_value(*v);
                            m.set_gauge(g);
                        }
                        (Value::Hist { buckets, sum, count }, _) => {
                            let mut h = proto::Histogram::default();
                            let mut cum = 0;
                            // The encoder writes the +Inf bucket itself (from the count).
                            h.set_bucket(
                                buckets
                                    .iter()
                                    .filter(|(le, _)| le.is_finite())
                                    .map(|(le, n)| {
                                        cum += n;
                                        let mut b = proto::Bucket::default();
                                        b.set_upper_bound(*le);
                                        b.set_cumulative_count(cum);
                                        b
                                    })
                                    .collect(),
                            );
                            h.set_sample_sum(*sum);
                            h.set_sample_count(*count);
                            m.set_histogram(h);
                        }
                    }
                    m
                })
                .collect();
            mf.set_metric(metrics);
            mf
        })
        .collect();
    let mut out = String::new();
    // Families are never empty (Builder::finish) and always named: encoding cannot fail.
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&mfs, &mut out) {
        out = format!("# shield: encoding failed: {e}\n");
    }
    out
}

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug)]
struct OmFamilies(Vec<Family>);

impl prometheus_client::collector::Collector for OmFamilies {
    fn encode(&self, mut enc: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::NoLabelSet;
        use prometheus_client::metrics::MetricType;
        for f in &self.0 {
            let (name, ty) = match f.kind {
                // OpenMetrics: the family has no `_total`; the encoder adds it to the sample.
                Kind::Counter => (f.name.strip_suffix("_total").unwrap_or(&f.name), MetricType::Counter),
                Kind::Gauge => (f.name.as_str(), MetricType::Gauge),
                Kind::Histogram => (f.name.as_str(), MetricType::Histogram),
            };
            let mut me = enc.encode_descriptor(name, &f.help, None, ty)?;
            for s in &f.samples {
                let mut fe = me.encode_family(&s.labels)?;
                match &s.value {
                    Value::Num(v) if f.kind == Kind::Counter => fe.encode_counter::<NoLabelSet, f64, f64>(v, None)?,
                    Value::Num(v) => fe.encode_gauge(v)?,
                    Value::Hist { buckets, sum, count } => fe.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?,
                }
            }
        }
        Ok(())
    }
}

/// OpenMetrics 1.0 text (ends with `# EOF`), via `prometheus-client`.
pub fn encode_openmetrics(fams: &[Family]) -> String {
    let mut reg = prometheus_client::registry::Registry::default();
    reg.register_collector(Box::new(OmFamilies(fams.to_vec())));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        out = "# EOF\n".into();
    }
    out
}

/// Picks the format from an `Accept` header: OpenMetrics when the client
/// weighs it at least as high as the text format, else 0.0.4.
pub fn wants_openmetrics(accept: &str) -> bool {
    let mut om = -1.0f64;
    let mut text = -1.0f64;
    for part in accept.split(',') {
        let mut it = part.split(';').map(str::trim);
        let media = it.next().unwrap_or("").to_ascii_lowercase();
        let mut q = 1.0;
        let mut version = None;
        for p in it {
            if let Some(x) = p.strip_prefix("q=") {
                q = x.parse().unwrap_or(0.0);
            } else if let Some(x) = p.strip_prefix("version=") {
                version = Some(x.to_string());
            }
        }
        match media.as_str() {
            // we produce OpenMetrics 1.0.0, which 0.0.1 readers also parse
            "application/openmetrics-text" if version.as_deref().is_none_or(|v| v == "1.0.0" || v == "0.0.1") => om = om.max(q),
            "text/plain" => text = text.max(q),
            _ => {}
        }
    }
    om > 0.0 && om >= text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::LagSnapshot;
    use crate::histogram::{Stats, WindowSummary};
    use crate::usage::{Heap, HeapSpace, RuntimeSample, Usage};
    use std::sync::Arc;

    fn view(thread_id: u32) -> ThreadView {
        let stats = Stats { count: 10, min: 10.0, mean: 10.5, max: 30.0, stddev: 1.0, p50: 10.1, p90: 11.0, p99: 30.0 };
        let mut usage = Usage { handles: 3.0, requests: 1.0, ..Default::default() };
        usage.heap = Heap {
            used: 1000.0,
            total: 2000.0,
            limit: 4000.0,
            external: 5.0,
            spaces: vec![HeapSpace { name: "new".into(), size: 10.0, used: 4.0, available: 6.0 }],
            ..Default::default()
        };
        usage.gc_total.minor.count = 2;
        usage.gc_total.minor.pause_ms = 3.0;
        usage.gc_total.minor.bucket_counts = vec![1, 1, 0, 0, 0, 0, 0];
        usage.event_loop.utilization = Some(0.25);
        ThreadView {
            thread_id,
            usage: Some(Arc::new(usage)),
            sample: Some(Arc::new(RuntimeSample { timestamp: 1_700_000_010_000.0, uptime: 10.0, rss: 9e7, ..Default::default() })),
            lag: LagSnapshot {
                window: WindowSummary { stats: Some(stats), blocked_ms: 20.0, dropped: 0 },
                window_ms: 60_000.0,
                last_ms: Some(10.2),
                interval_max_ms: 30.0,
                blocked_ratio: 0.001,
                blocked_ms: 20.0,
                ..LagSnapshot::default()
            },
            gc_buckets: crate::gc::DEFAULT_PAUSE_BUCKETS.to_vec(),
            errors: 0,
            emergencies: 1,
            suppressed_emergencies: 0,
        }
    }

    fn proc_reading() -> ProcessReading {
        ProcessReading {
            cpu_user_s: Some(1.5),
            cpu_system_s: Some(0.25),
            rss_bytes: Some(1e8),
            virtual_bytes: Some(1e9),
            data_bytes: Some(5e7),
            open_fds: Some(20.0),
            max_fds: Some(1024.0),
            start_time_s: Some(1_700_000_000.0),
        }
    }

    fn golden_families() -> Vec<Family> {
        let opts = ExpoOptions { prefix: String::new(), labels: vec![("app".into(), "a\"b\\c\nd".into())] };
        let node = Some(NodeVersion { major: 20, minor: 20, patch: 2 });
        collect(&[view(0), view(4)], &proc_reading(), node, &[("falcon", [3, 1, 0])], &opts, 42)
    }

    #[test]
    fn text_0_0_4_has_prom_client_names_and_shape() {
        let t = encode_text(&golden_families());
        for line in [
            "# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.",
            "# TYPE process_cpu_user_seconds_total counter",
            r#"process_cpu_seconds_total{pid="42",app="a\"b\\c\nd"} 1.75"#,
            r#"process_start_time_seconds{pid="42",app="a\"b\\c\nd"} 1700000000"#,
            "# TYPE nodejs_eventloop_lag_p99_seconds gauge",
            r#"nodejs_eventloop_lag_p99_seconds{pid="42",app="a\"b\\c\nd"} 0.03"#,
            r#"nodejs_eventloop_lag_p99_seconds{pid="42",thread="4",app="a\"b\\c\nd"} 0.03"#,
            r#"nodejs_heap_space_size_used_bytes{space="new",pid="42",app="a\"b\\c\nd"} 4"#,
            r#"nodejs_version_info{version="v20.20.2",major="20",minor="20",patch="2",pid="42",app="a\"b\\c\nd"} 1"#,
            "# TYPE nodejs_gc_duration_seconds histogram",
            r#"nodejs_gc_duration_seconds_bucket{kind="minor",pid="42",app="a\"b\\c\nd",le="0.001"} 1"#,
            r#"nodejs_gc_duration_seconds_bucket{kind="minor",pid="42",app="a\"b\\c\nd",le="0.01"} 2"#,
            r#"nodejs_gc_duration_seconds_bucket{kind="minor",pid="42",app="a\"b\\c\nd",le="+Inf"} 2"#,
            r#"nodejs_gc_duration_seconds_sum{kind="minor",pid="42",app="a\"b\\c\nd"} 0.003"#,
            r#"nodejs_gc_duration_seconds_count{kind="major",pid="42",thread="4",app="a\"b\\c\nd"} 0"#,
            r#"shield_push_failures_total{target="falcon",pid="42",app="a\"b\\c\nd"} 1"#,
            r#"shield_emergencies_total{pid="42",thread="4",app="a\"b\\c\nd"} 1"#,
        ] {
            assert!(t.lines().any(|l| l == line), "missing line {line}\n{t}");
        }
        assert!(t.ends_with('\n'));
        // each family one contiguous group, TYPE before its samples
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for l in t.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                assert!(seen.insert(current.clone()), "family {current} twice");
            } else if !l.starts_with('#') {
                assert!(l.starts_with(&current), "{l} outside {current}");
            }
        }
    }

    #[test]
    fn golden_file_0_0_4() {
        // The full output for a fixed input, checked in: any change to names, order,
        // escaping or number formatting shows up here.
        let t = encode_text(&golden_families());
        let golden = include_str!("../__test__/fixtures/golden-metrics.txt");
        if t != golden {
            let _ = std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/target/golden-metrics.actual.txt"), &t);
            panic!("0.0.4 output differs from __test__/fixtures/golden-metrics.txt (actual in target/golden-metrics.actual.txt)");
        }
    }

    #[test]
    fn openmetrics_counters_and_eof() {
        let t = encode_openmetrics(&golden_families());
        assert!(t.ends_with("# EOF\n"), "{t}");
        assert!(t.contains("# TYPE process_cpu_seconds counter\n"));
        assert!(t.contains("process_cpu_seconds_total{pid=\"42\",app=\"a\\\"b\\\\c\\nd\"} 1.75\n"), "{t}");
        assert!(t.contains("nodejs_gc_duration_seconds_bucket{le=\"0.01\",kind=\"minor\",pid=\"42\",app=\"a\\\"b\\\\c\\nd\"} 2\n"), "{t}");
        assert!(t.contains("{le=\"+Inf\",kind=\"minor\",pid=\"42\",app=\"a\\\"b\\\\c\\nd\"} 2\n"), "{t}");
        assert!(!t.contains("\n\n"));
    }

    #[test]
    fn prefix_and_missing_usage() {
        let mut v = view(0);
        v.usage = None;
        v.lag.window.stats = None;
        v.lag.last_ms = None;
        v.lag.pending_ms = 2500.0;
        let opts = ExpoOptions { prefix: "app_".into(), labels: vec![] };
        let t = encode_text(&collect(&[v], &ProcessReading::default(), None, &[], &opts, 7));
        assert!(t.contains("app_shield_eventloop_blocked_seconds{pid=\"7\"} 2.5\n"), "{t}");
        assert!(t.contains("app_nodejs_eventloop_lag_seconds{pid=\"7\"} 2.5\n"), "{t}");
        assert!(!t.contains("heap_size"), "no heap before the first flush");
        assert!(!t.contains("process_cpu"), "left out when unreadable");
        assert!(t.lines().all(|l| l.starts_with("# ") || l.starts_with("app_")));
    }

    #[test]
    fn accept_negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(prom));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5"));
        assert!(!wants_openmetrics("application/openmetrics-text;version=2.0.0"));
    }
}
