//! Declarative thresholds (`thresholds: { eventLoopLagP99: '200ms', for: '10s' }`)
//! and the cooldown that keeps an emergency from firing on every flush.

use serde::Serialize;

use crate::usage::Usage;

/// How a threshold's limit is written in options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `'200ms'`, `'1.5s'` or a number of milliseconds.
    Duration,
    /// `'1.5GB'` or a number of bytes.
    Bytes,
    /// A fraction in (0, 1].
    Ratio,
    /// A percentage (> 0; CPU can exceed 100 on several cores).
    Percent,
}

/// A measurable the thresholds can watch. Names are the option keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    EventLoopLagP99,
    EventLoopLagMax,
    EventLoopBlockedRatio,
    EventLoopUtilization,
    HeapUsed,
    HeapUsedRatio,
    Rss,
    CpuPercent,
    GcPauseMax,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::EventLoopLagP99,
        Metric::EventLoopLagMax,
        Metric::EventLoopBlockedRatio,
        Metric::EventLoopUtilization,
        Metric::HeapUsed,
        Metric::HeapUsedRatio,
        Metric::Rss,
        Metric::CpuPercent,
        Metric::GcPauseMax,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::EventLoopLagP99 => "eventLoopLagP99",
            Metric::EventLoopLagMax => "eventLoopLagMax",
            Metric::EventLoopBlockedRatio => "eventLoopBlockedRatio",
            Metric::EventLoopUtilization => "eventLoopUtilization",
            Metric::HeapUsed => "heapUsed",
            Metric::HeapUsedRatio => "heapUsedRatio",
            Metric::Rss => "rss",
            Metric::CpuPercent => "cpuPercent",
            Metric::GcPauseMax => "gcPauseMax",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::EventLoopLagP99 | Metric::EventLoopLagMax | Metric::GcPauseMax => Unit::Duration,
            Metric::HeapUsed | Metric::Rss => Unit::Bytes,
            Metric::EventLoopBlockedRatio | Metric::EventLoopUtilization | Metric::HeapUsedRatio => Unit::Ratio,
            Metric::CpuPercent => Unit::Percent,
        }
    }

    /// The current value in the unit limits are normalised to (ms, bytes, fraction, percent).
    /// `None` when there is nothing to judge yet (an empty lag window).
    pub fn read(self, u: &Usage) -> Option<f64> {
        match self {
            Metric::EventLoopLagP99 => u.event_loop.lag.map(|s| s.p99.max(u.event_loop.pending_ms)),
            // The interval, not the window: a spike must not keep firing for a whole window after it ended.
            Metric::EventLoopLagMax => Some(u.event_loop.interval_max_ms),
            Metric::EventLoopBlockedRatio => Some(u.event_loop.blocked_ratio),
            Metric::EventLoopUtilization => u.event_loop.utilization,
            Metric::HeapUsed => Some(u.heap.used),
            Metric::HeapUsedRatio => Some(u.heap.used_ratio),
            Metric::Rss => Some(u.rss),
            Metric::CpuPercent => u.cpu,
            Metric::GcPauseMax => Some(u.gc.pause_max_ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    pub limit: f64,
}

/// A threshold that has held long enough to fire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Breach {
    pub metric: &'static str,
    pub value: f64,
    pub limit: f64,
    /// How long it has held, ms.
    pub held_ms: f64,
}

/// Evaluates thresholds flush after flush; each must stay over its limit for
/// `hold_ms` (the `for` option) before it fires.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    thresholds: Vec<Threshold>,
    hold_ms: f64,
    /// When each threshold's current run over the limit began (ms on the caller's clock).
    since: Vec<Option<f64>>,
}

impl Rules {
    pub fn new(thresholds: Vec<Threshold>, hold_ms: f64) -> Self {
        let since = vec![None; thresholds.len()];
        Self { thresholds, hold_ms, since }
    }

    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty()
    }

    /// Thresholds that are over their limit and have been for at least `for`.
    pub fn evaluate(&mut self, usage: &Usage, now_ms: f64) -> Vec<Breach> {
        let mut fired = Vec::new();
        for (t, since) in self.thresholds.iter().zip(self.since.iter_mut()) {
            match t.metric.read(usage) {
                Some(v) if v > t.limit => {
                    let start = *since.get_or_insert(now_ms);
                    let held = now_ms - start;
                    if held >= self.hold_ms {
                        fired.push(Breach { metric: t.metric.name(), value: v, limit: t.limit, held_ms: held });
                    }
                }
                _ => *since = None,
            }
        }
        fired
    }
}

/// At most one emergency per `period`.
#[derive(Debug, Clone)]
pub struct Cooldown {
    period_ms: f64,
    last: Option<f64>,
    pub suppressed: u64,
}

impl Cooldown {
    pub fn new(period_ms: f64) -> Self {
        Self { period_ms, last: None, suppressed: 0 }
    }

    /// True (and the cooldown restarts) when an emergency may fire now.
    pub fn claim(&mut self, now_ms: f64) -> bool {
        match self.last {
            Some(t) if now_ms - t < self.period_ms => {
                self.suppressed += 1;
                false
            }
            _ => {
                self.last = Some(now_ms);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_with_rss(rss: f64) -> Usage {
        Usage { rss, ..Usage::default() }
    }

    #[test]
    fn fires_only_after_holding() {
        let mut r = Rules::new(vec![Threshold { metric: Metric::Rss, limit: 100.0 }], 10_000.0);
        assert!(r.evaluate(&usage_with_rss(200.0), 0.0).is_empty());
        assert!(r.evaluate(&usage_with_rss(200.0), 5_000.0).is_empty());
        let f = r.evaluate(&usage_with_rss(300.0), 10_000.0);
        assert_eq!(f, vec![Breach { metric: "rss", value: 300.0, limit: 100.0, held_ms: 10_000.0 }]);
        // dipping under the limit restarts the clock
        assert!(r.evaluate(&usage_with_rss(50.0), 11_000.0).is_empty());
        assert!(r.evaluate(&usage_with_rss(200.0), 12_000.0).is_empty());
    }

    #[test]
    fn zero_hold_fires_at_once_and_empty_lag_never_fires() {
        let mut r = Rules::new(vec![Threshold { metric: Metric::EventLoopLagP99, limit: 1.0 }], 0.0);
        assert!(r.evaluate(&Usage::default(), 0.0).is_empty(), "no samples, nothing to judge");
        let mut r = Rules::new(vec![Threshold { metric: Metric::Rss, limit: 1.0 }], 0.0);
        assert_eq!(r.evaluate(&usage_with_rss(2.0), 0.0).len(), 1);
    }

    #[test]
    fn cooldown() {
        let mut c = Cooldown::new(1000.0);
        assert!(c.claim(0.0));
        assert!(!c.claim(999.0));
        assert!(c.claim(1000.0));
        assert_eq!(c.suppressed, 1);
    }

    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
        }
    }
}
