//! One watcher per JS thread: GC accounting, usage history, thresholds and
//! cooldown. The heartbeat thread and the JS readings feed it; it holds no
//! Node types, so all of it runs under `cargo test`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::config::Config;
use crate::gc::{GcStats, GcSpan};
use crate::heartbeat::LagSnapshot;
use crate::rules::{Breach, Cooldown, Rules};
use crate::usage::{RateTracker, RuntimeSample, Usage};

pub struct Watcher {
    pid: u32,
    thread_id: u32,
    capacity: usize,
    gc: GcStats,
    rates: RateTracker,
    history: VecDeque<Arc<Usage>>,
    rules: Rules,
    cooldown: Cooldown,
    /// Internal failures reported as `'error'` events, counted.
    pub errors: u64,
}

/// What one flush produced.
pub struct Flush {
    pub usage: Arc<Usage>,
    /// Thresholds that fired this flush (already past their `for`).
    pub breaches: Vec<Breach>,
}

impl Watcher {
    pub fn new(config: &Config, pid: u32, thread_id: u32) -> Self {
        Self {
            pid,
            thread_id,
            capacity: config.cache_max_limit,
            gc: GcStats::new(config.gc_buckets.clone()),
            rates: RateTracker::new(config.window.as_secs_f64() * 1000.0),
            history: VecDeque::with_capacity(config.cache_max_limit.min(1024)),
            rules: Rules::new(config.thresholds.clone(), config.hold.as_secs_f64() * 1000.0),
            cooldown: Cooldown::new(config.cooldown.as_secs_f64() * 1000.0),
            errors: 0,
        }
    }

    pub fn record_gc(&mut self, flat: &[f64]) {
        self.gc.record_entries(flat);
    }

    /// `[usedBefore, usedAfter, …]` pairs from `v8.GCProfiler`.
    pub fn record_gc_heap(&mut self, flat: &[f64]) {
        for p in flat.chunks_exact(2) {
            self.gc.record_heap(p[0], p[1]);
        }
    }

    pub fn gc_total(&self) -> &GcSpan {
        &self.gc.total
    }

    pub fn flush(&mut self, sample: &RuntimeSample, lag: &LagSnapshot) -> Flush {
        let interval = self.gc.take_interval();
        let usage = self.rates.usage(sample, lag, interval, self.gc.total.clone(), self.pid, self.thread_id);
        let breaches = self.rules.evaluate(&usage, sample.timestamp);
        let usage = Arc::new(usage);
        if self.history.len() == self.capacity {
            self.history.pop_front();
        }
        self.history.push_back(usage.clone());
        Flush { usage, breaches }
    }

    pub fn latest(&self) -> Option<Arc<Usage>> {
        self.history.back().cloned()
    }

    pub fn history(&self) -> impl ExactSizeIterator<Item = &Arc<Usage>> {
        self.history.iter()
    }

    /// True when an emergency may fire now (and starts the cooldown).
    pub fn claim_emergency(&mut self, now_ms: f64) -> bool {
        self.cooldown.claim(now_ms)
    }

    pub fn suppressed_emergencies(&self) -> u64 {
        self.cooldown.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lag() -> LagSnapshot {
        LagSnapshot::default()
    }

    #[test]
    fn history_ring_wraps() {
        let cfg = Config::from_json(&json!({ "cacheMaxLimit": 3 })).unwrap();
        let mut w = Watcher::new(&cfg, 42, 0);
        for i in 0..5 {
            w.flush(&RuntimeSample { timestamp: i as f64 * 1000.0, ..Default::default() }, &lag());
        }
        let ts: Vec<f64> = w.history().map(|u| u.timestamp).collect();
        assert_eq!(ts, vec![2000.0, 3000.0, 4000.0]);
        assert_eq!(w.latest().unwrap().pid, 42);
    }

    #[test]
    fn gc_interval_goes_into_the_flush_and_totals_accumulate() {
        let mut w = Watcher::new(&Config::default(), 1, 0);
        w.record_gc(&[1.0, 2.0, 4.0, 30.0]);
        let f = w.flush(&RuntimeSample::default(), &lag());
        assert_eq!(f.usage.gc.count, 2);
        assert_eq!(f.usage.gc.pause_max_ms, 30.0);
        w.record_gc(&[1.0, 1.0]);
        let f = w.flush(&RuntimeSample { timestamp: 1.0, ..Default::default() }, &lag());
        assert_eq!(f.usage.gc.count, 1);
        assert_eq!(f.usage.gc_total.count, 3);
    }

    #[test]
    fn thresholds_fire_through_flush() {
        let cfg = Config::from_json(&json!({ "thresholds": { "rss": 100, "for": "1s" } })).unwrap();
        let mut w = Watcher::new(&cfg, 1, 0);
        let s = |t: f64| RuntimeSample { timestamp: t, rss: 500.0, ..Default::default() };
        assert!(w.flush(&s(0.0), &lag()).breaches.is_empty());
        let b = w.flush(&s(1000.0), &lag()).breaches;
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].metric, "rss");
        assert!(w.claim_emergency(1000.0));
        assert!(!w.claim_emergency(2000.0));
    }
}
