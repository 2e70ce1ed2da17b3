//! Open-Falcon agent push: `POST <url>` with a JSON array of
//! `{endpoint, metric, timestamp, step, value, counterType, tags}`, following
//! the agent/transfer contract (integer seconds, `GAUGE`/`COUNTER`, tags
//! `k=v,k2=v2` sorted, no spaces/commas in values, `len(metric)+len(tags) <= 510`,
//! finite numbers only), in batches of at most 500 items.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::ConfigError;
use crate::gc::GcKind;
use crate::hub::{Hub, ThreadView};
use crate::optparse::{duration, hostname, http_url, labels, object, string};
use crate::procinfo::ProcessReading;
use crate::pusher::{classify, Outcome, Target};

#[derive(Debug, Clone, PartialEq)]
pub struct FalconOptions {
    pub url: String,
    pub step: Duration,
    pub endpoint: String,
    pub tags: Vec<(String, String)>,
}

pub const KEYS: &[&str] = &["url", "step", "endpoint", "tags"];
pub const MAX_BATCH: usize = 500;
const RESERVED_TAGS: &[&str] = &["pid", "thread", "type", "space", "gctype"];

pub fn parse_options(v: &Value) -> Result<FalconOptions, ConfigError> {
    let o = object("falcon", v, KEYS)?;
    let mut f = FalconOptions {
        url: "http://127.0.0.1:1988/v1/push".into(),
        step: Duration::from_secs(60),
        endpoint: String::new(),
        tags: Vec::new(),
    };
    for (k, val) in o {
        if val.is_null() {
            continue;
        }
        let p = format!("falcon.{k}");
        match k.as_str() {
            "url" => f.url = http_url(&p, val)?,
            // Falcon steps are whole seconds.
            "step" => {
                f.step = duration(&p, val, 1000.0, 1000.0, 86_400_000.0)?;
                f.step = Duration::from_secs(f.step.as_secs_f64().round() as u64);
            }
            "endpoint" => f.endpoint = string(&p, val, "a non-empty string (the host name by default)")?,
            "tags" => f.tags = labels(&p, val, RESERVED_TAGS)?,
            _ => unreachable!(),
        }
    }
    if f.endpoint.is_empty() {
        f.endpoint = hostname();
    }
    Ok(f)
}

/// Falcon tag values cannot hold `,` (separator), `=` (first one splits) or spaces (removed).
fn clean(s: &str) -> String {
    s.chars().map(|c| if c == ',' || c == '=' || c.is_whitespace() { '_' } else { c }).collect()
}

/// `k=v` pairs sorted by key, joined with `,`.
pub fn tag_string(pairs: &[(String, String)]) -> String {
    let mut p: Vec<(String, String)> = pairs.iter().map(|(k, v)| (clean(k), clean(v))).collect();
    p.sort();
    p.dedup_by(|a, b| a.0 == b.0);
    p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub metric: String,
    pub value: f64,
    pub counter: bool,
    pub tags: String,
}

/// Cumulative GC figures of a thread at the previous push, for per-step deltas.
#[derive(Debug, Clone, Default)]
pub struct Prev {
    count: [u64; 4],
    pause_ms: [f64; 4],
    reclaimed: f64,
}

struct Items<'a> {
    out: Vec<Item>,
    base: &'a [(String, String)],
}

impl Items<'_> {
    fn add(&mut self, metric: &str, value: Option<f64>, counter: bool, extra: &[(&str, String)]) {
        let Some(value) = value.filter(|v| v.is_finite()) else { return };
        let mut pairs = self.base.to_vec();
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let tags = tag_string(&pairs);
        if metric.len() + tags.len() > 510 {
            return; // transfer would drop it
        }
        self.out.push(Item { metric: metric.to_string(), value, counter, tags });
    }
}

/// The items for one push. `prev` carries GC totals between pushes (per thread).
pub fn items(views: &[ThreadView], proc: &ProcessReading, opts: &FalconOptions, pid: u32, prev: &mut HashMap<u32, Prev>) -> Vec<Item> {
    let pbase: Vec<(String, String)> = opts.tags.iter().cloned().chain([("pid".to_string(), pid.to_string())]).collect();
    let mut it = Items { out: Vec::new(), base: &pbase };
    let t = |s: &str| [("type", s.to_string())];
    it.add("node.memory.rss", proc.rss_bytes, false, &t("memory"));
    it.add("node.cpu.seconds", proc.cpu_user_s.zip(proc.cpu_system_s).map(|(u, s)| u + s), true, &t("cpu"));
    it.add("node.fds.open", proc.open_fds, false, &t("process"));
    let mut seen = Vec::new();
    for v in views {
        let mut base = pbase.clone();
        if v.thread_id != 0 {
            base.push(("thread".into(), v.thread_id.to_string()));
        }
        let mut it2 = Items { out: std::mem::take(&mut it.out), base: &base };
        let lag = v.lag.window.stats;
        let el = || [("type", "eventloop".to_string())];
        for (k, x) in [
            ("min", lag.map(|s| s.min)),
            ("mean", lag.map(|s| s.mean)),
            ("max", lag.map(|s| s.max.max(v.lag.pending_ms))),
            ("p50", lag.map(|s| s.p50)),
            ("p90", lag.map(|s| s.p90)),
            ("p99", lag.map(|s| s.p99.max(v.lag.pending_ms))),
        ] {
            it2.add(&format!("node.eventloop.lag.{k}"), x, false, &el());
        }
        it2.add("node.eventloop.blocked.ms", Some(if v.lag.pending_ms >= 10.0 { v.lag.pending_ms.round() } else { 0.0 }), false, &el());
        it2.add("node.eventloop.blocked.ratio", Some(v.lag.blocked_ratio), false, &el());
        seen.push(v.thread_id);
        let Some(u) = &v.usage else {
            it.out = it2.out;
            continue;
        };
        it2.add("node.eventloop.utilization", u.event_loop.utilization, false, &el());
        it2.add("node.cpu.percent", u.cpu, false, &t("cpu"));
        let h = || [("type", "heap".to_string())];
        it2.add("node.heap.used", Some(u.heap.used), false, &h());
        it2.add("node.heap.total", Some(u.heap.total), false, &h());
        it2.add("node.heap.limit", Some(u.heap.limit), false, &h());
        it2.add("node.heap.external", Some(u.heap.external), false, &h());
        it2.add("node.heap.usedRatio", Some(u.heap.used_ratio), false, &h());
        for s in &u.heap.spaces {
            let tags = [("space", s.name.clone()), ("type", "heapspace".to_string())];
            it2.add("node.heap.space.used", Some(s.used), false, &tags);
            it2.add("node.heap.space.size", Some(s.size), false, &tags);
            it2.add("node.heap.space.available", Some(s.available), false, &tags);
        }
        it2.add("node.handles", Some(u.handles), false, &t("libuv"));
        it2.add("node.requests", Some(u.requests), false, &t("libuv"));
        // gc-stats style figures over the step (deltas of the running totals)
        let g = &u.gc_total;
        let p = prev.entry(v.thread_id).or_default();
        let gs = || [("type", "gcstats".to_string())];
        let (mut dc, mut dp) = (0u64, 0.0f64);
        for (i, k) in GcKind::ALL.into_iter().enumerate() {
            let ks = g.kind(k);
            let c = ks.count.saturating_sub(p.count[i]);
            let ms = (ks.pause_ms - p.pause_ms[i]).max(0.0);
            dc += c;
            dp += ms;
            let tags = [("gctype", k.label().to_string()), ("type", "gcstats".to_string())];
            it2.add("node.gcstats.count", Some(c as f64), false, &tags);
            it2.add("node.gcstats.pauseMS", Some(ms), false, &tags);
            p.count[i] = ks.count;
            p.pause_ms[i] = ks.pause_ms;
        }
        it2.add("node.gcstats.count", Some(dc as f64), false, &gs());
        it2.add("node.gcstats.pauseMS", Some(dp), false, &gs());
        it2.add("node.gcstats.collections", Some(g.count as f64), true, &gs());
        if let Some(hm) = &g.heap {
            it2.add("node.gcstats.before.usedHeapSize", Some(hm.last_before_bytes), false, &gs());
            it2.add("node.gcstats.after.usedHeapSize", Some(hm.last_after_bytes), false, &gs());
            it2.add("node.gcstats.reclaimed", Some(hm.reclaimed_bytes - p.reclaimed), false, &gs());
            p.reclaimed = hm.reclaimed_bytes;
        }
        it.out = it2.out;
    }
    prev.retain(|k, _| seen.contains(k));
    it.out
}

/// JSON bodies of at most [`MAX_BATCH`] items.
pub fn payloads(items: &[Item], endpoint: &str, step: u64, timestamp: i64) -> Vec<Vec<u8>> {
    items
        .chunks(MAX_BATCH)
        .map(|chunk| {
            let arr: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    json!({
                        "endpoint": endpoint,
                        "metric": i.metric,
                        "timestamp": timestamp,
                        "step": step,
                        "value": i.value,
                        "counterType": if i.counter { "COUNTER" } else { "GAUGE" },
                        "tags": i.tags,
                    })
                })
                .collect();
            serde_json::to_vec(&arr).unwrap_or_else(|_| b"[]".to_vec())
        })
        .collect()
}

pub struct FalconTarget {
    pub hub: &'static Hub,
    pub opts: FalconOptions,
    prev: HashMap<u32, Prev>,
}

impl FalconTarget {
    pub fn new(hub: &'static Hub, opts: FalconOptions) -> Self {
        Self { hub, opts, prev: HashMap::new() }
    }
}

impl Target for FalconTarget {
    fn collect(&mut self) -> Vec<Vec<u8>> {
        let views = self.hub.views();
        let items = items(&views, &crate::procinfo::read(), &self.opts, std::process::id(), &mut self.prev);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        payloads(&items, &self.opts.endpoint, self.opts.step.as_secs().max(1), now)
    }

    fn send(&mut self, agent: &ureq::Agent, payload: &[u8]) -> Outcome {
        classify("falcon", agent.post(&self.opts.url).header("Content-Type", "application/json").send(payload))
    }

    fn name(&self) -> &'static str {
        "falcon"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::LagSnapshot;
    use crate::histogram::{Stats, WindowSummary};
    use crate::usage::Usage;
    use std::sync::Arc;

    fn view(thread_id: u32, minor: u64) -> ThreadView {
        let mut u = Usage::default();
        u.gc_total.minor.count = minor;
        u.gc_total.minor.pause_ms = minor as f64 * 2.0;
        u.gc_total.count = minor;
        u.heap.used = 100.0;
        u.cpu = Some(12.5);
        ThreadView {
            thread_id,
            usage: Some(Arc::new(u)),
            sample: None,
            lag: LagSnapshot {
                window: WindowSummary { stats: Some(Stats { count: 1, min: 1.0, mean: 1.0, max: 1.0, stddev: 0.0, p50: 1.0, p90: 1.0, p99: 1.0 }), blocked_ms: 0.0, dropped: 0 },
                window_ms: 1.0,
                blocked_ratio: f64::NAN,
                ..LagSnapshot::default()
            },
            gc_buckets: vec![],
            errors: 0,
            emergencies: 0,
            suppressed_emergencies: 0,
        }
    }

    fn opts() -> FalconOptions {
        parse_options(&serde_json::json!({ "endpoint": "web-1", "step": 30, "tags": { "service": "my api", "zone": "a,b" } })).unwrap()
    }

    #[test]
    fn items_follow_the_contract() {
        let mut prev = HashMap::new();
        let its = items(&[view(0, 3), view(2, 1)], &ProcessReading { rss_bytes: Some(5e7), ..Default::default() }, &opts(), 99, &mut prev);
        let find = |m: &str, tags: &str| its.iter().find(|i| i.metric == m && i.tags == tags).cloned();
        let rss = find("node.memory.rss", "pid=99,service=my_api,type=memory,zone=a_b").unwrap();
        assert_eq!(rss.value, 5e7);
        assert!(find("node.eventloop.lag.p99", "pid=99,service=my_api,thread=2,type=eventloop,zone=a_b").is_some());
        assert_eq!(find("node.gcstats.count", "gctype=minor,pid=99,service=my_api,type=gcstats,zone=a_b").unwrap().value, 3.0);
        assert!(find("node.gcstats.collections", "pid=99,service=my_api,type=gcstats,zone=a_b").unwrap().counter);
        assert!(its.iter().all(|i| i.metric != "node.eventloop.blocked.ratio"), "NaN is skipped");
        // second push: deltas
        let its = items(&[view(0, 5)], &ProcessReading::default(), &opts(), 99, &mut prev);
        let c = its.iter().find(|i| i.metric == "node.gcstats.count" && i.tags.contains("gctype=minor")).unwrap();
        assert_eq!(c.value, 2.0);
        assert!(!prev.contains_key(&2), "gone threads are forgotten");
    }

    #[test]
    fn payloads_are_batched_json_with_integer_seconds() {
        let its: Vec<Item> = (0..1201).map(|i| Item { metric: format!("m.{i}"), value: i as f64 + 0.5, counter: i % 2 == 0, tags: "a=b".into() }).collect();
        let p = payloads(&its, "web-1", 30, 1_700_000_000);
        assert_eq!(p.len(), 3);
        let first: Vec<Value> = serde_json::from_slice(&p[0]).unwrap();
        assert_eq!(first.len(), 500);
        let text = String::from_utf8(p[0].clone()).unwrap();
        assert!(text.contains("\"timestamp\":1700000000,") && text.contains("\"step\":30,"), "{}", &text[..200]);
        assert_eq!(first[0]["counterType"], "COUNTER");
        assert_eq!(first[1]["counterType"], "GAUGE");
        assert_eq!(first[1]["value"], 1.5);
    }

    #[test]
    fn tags_sorted_and_cleaned() {
        assert_eq!(tag_string(&[("z".into(), "1".into()), ("a".into(), "x y=z".into())]), "a=x_y_z,z=1");
        assert_eq!(tag_string(&[]), "");
        let e = parse_options(&serde_json::json!({ "url": "ftp://x" })).unwrap_err();
        assert!(e.message.contains("'falcon.url'"));
        assert!(parse_options(&serde_json::json!({ "tags": { "pid": 1 } })).is_err());
        assert_eq!(parse_options(&serde_json::json!({})).unwrap().step, Duration::from_secs(60));
    }
}
