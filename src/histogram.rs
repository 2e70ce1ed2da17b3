//! Latency distributions in microseconds.
//!
//! Two shapes, because they answer two questions:
//! - [`LogHistogram`]: since-start distribution in constant memory (log-linear
//!   buckets, ≤ 3.2 % relative error, exact min/max/mean).
//! - [`SampleWindow`]: the last N seconds of raw samples in fixed time slots,
//!   so window percentiles are exact and no reader ever resets anything.
//!   One heartbeat is outstanding at a time, so a slot holds at most
//!   `slot / heartbeat interval` samples; memory is bounded by construction and
//!   by [`SLOT_CAP`] as a backstop.

use serde::Serialize;

/// Values below this are stored exactly.
const LINEAR: u64 = 64;
/// Sub-buckets per power of two above `LINEAR`.
const SUB: u64 = 32;
/// Largest representable value: 2^40 µs ≈ 12.7 days; larger values are clamped.
const MAX_VALUE: u64 = (1 << 40) - 1;
const BUCKETS: usize = (LINEAR + (40 - 6) * SUB) as usize;
/// Backstop on samples per window slot.
pub const SLOT_CAP: usize = 4096;

/// Summary of a distribution, in milliseconds (`count` is a plain count).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub stddev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

fn bucket_of(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros() as u64; // >= 6
    let shift = msb - 5;
    (LINEAR + (msb - 6) * SUB + ((v >> shift) - SUB)) as usize
}

/// Inclusive lower bound and width of a bucket.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < LINEAR {
        return (i, 1);
    }
    let k = (i - LINEAR) / SUB;
    let sub = (i - LINEAR) % SUB;
    let shift = k + 1;
    ((SUB + sub) << shift, 1 << shift)
}

fn us_to_ms(us: f64) -> f64 {
    us / 1000.0
}

/// Cumulative log-linear histogram of microsecond values.
#[derive(Clone)]
pub struct LogHistogram {
    counts: Box<[u32; BUCKETS]>,
    count: u64,
    sum: f64,
    sum_sq: f64,
    min: u64,
    max: u64,
}

impl Default for LogHistogram {
    fn default() -> Self {
        Self { counts: Box::new([0; BUCKETS]), count: 0, sum: 0.0, sum_sq: 0.0, min: u64::MAX, max: 0 }
    }
}

impl LogHistogram {
    pub fn record(&mut self, us: u64) {
        let b = &mut self.counts[bucket_of(us)];
        *b = b.saturating_add(1);
        self.count += 1;
        let v = us as f64;
        self.sum += v;
        self.sum_sq += v * v;
        self.min = self.min.min(us);
        self.max = self.max.max(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Value at quantile `q` (0..=1) in µs, nearest-rank on bucket midpoints,
    /// clamped to the exact min/max.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                let (lo, w) = bucket_range(i);
                let mid = lo as f64 + (w as f64 - 1.0) / 2.0;
                return Some(mid.clamp(self.min as f64, self.max as f64));
            }
        }
        Some(self.max as f64)
    }

    pub fn stats(&self) -> Option<Stats> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        Some(Stats {
            count: self.count,
            min: us_to_ms(self.min as f64),
            mean: us_to_ms(mean),
            max: us_to_ms(self.max as f64),
            stddev: us_to_ms(var.sqrt()),
            p50: us_to_ms(self.quantile(0.5)?),
            p90: us_to_ms(self.quantile(0.9)?),
            p99: us_to_ms(self.quantile(0.99)?),
        })
    }
}

/// Exact statistics of a set of samples (sorted in place).
pub fn exact_stats(samples: &mut [u32]) -> Option<Stats> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let n = samples.len();
    let sum: f64 = samples.iter().map(|&v| v as f64).sum();
    let mean = sum / n as f64;
    let var = samples.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    let q = |q: f64| {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        us_to_ms(samples[rank - 1] as f64)
    };
    Some(Stats {
        count: n as u64,
        min: us_to_ms(samples[0] as f64),
        mean: us_to_ms(mean),
        max: us_to_ms(samples[n - 1] as f64),
        stddev: us_to_ms(var.sqrt()),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
    })
}

#[derive(Default, Clone)]
struct Slot {
    /// Slot number (time / slot length) this slot currently holds; stale otherwise.
    epoch: u64,
    samples: Vec<u32>,
    /// Sum of the samples at or above the blocked threshold, in µs.
    blocked_us: u64,
    dropped: u64,
}

/// The last `slots × slot_ms` milliseconds of samples, in time slots.
pub struct SampleWindow {
    slots: Vec<Slot>,
    slot_ms: u64,
    blocked_threshold_us: u64,
}

/// What a window holds at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowSummary {
    pub stats: Option<Stats>,
    /// Time spent in delays at or above the blocked threshold, in ms.
    pub blocked_ms: f64,
    pub dropped: u64,
}

impl SampleWindow {
    pub fn new(slots: usize, slot_ms: u64, blocked_threshold_us: u64) -> Self {
        let slots = slots.max(1);
        Self { slots: vec![Slot { epoch: u64::MAX, ..Slot::default() }; slots], slot_ms: slot_ms.max(1), blocked_threshold_us }
    }

    pub fn span_ms(&self) -> u64 {
        self.slots.len() as u64 * self.slot_ms
    }

    fn slot_mut(&mut self, now_ms: u64) -> &mut Slot {
        let epoch = now_ms / self.slot_ms;
        let n = self.slots.len();
        let slot = &mut self.slots[(epoch % n as u64) as usize];
        if slot.epoch != epoch {
            slot.epoch = epoch;
            slot.samples.clear();
            slot.blocked_us = 0;
            slot.dropped = 0;
        }
        slot
    }

    /// Records a sample of `us` microseconds observed at `now_ms`.
    pub fn record(&mut self, now_ms: u64, us: u64) {
        let threshold = self.blocked_threshold_us;
        let slot = self.slot_mut(now_ms);
        if us >= threshold {
            slot.blocked_us += us;
        }
        if slot.samples.len() >= SLOT_CAP {
            slot.dropped += 1;
            return;
        }
        slot.samples.push(us.min(u32::MAX as u64) as u32);
    }

    fn live(&self, now_ms: u64) -> impl Iterator<Item = &Slot> {
        let current = now_ms / self.slot_ms;
        let n = self.slots.len() as u64;
        self.slots.iter().filter(move |s| s.epoch != u64::MAX && s.epoch <= current && current - s.epoch < n)
    }

    pub fn summary(&self, now_ms: u64) -> WindowSummary {
        let mut all: Vec<u32> = Vec::new();
        let (mut blocked_us, mut dropped) = (0u64, 0u64);
        for s in self.live(now_ms) {
            all.extend_from_slice(&s.samples);
            blocked_us += s.blocked_us;
            dropped += s.dropped;
        }
        WindowSummary { stats: exact_stats(&mut all), blocked_ms: blocked_us as f64 / 1000.0, dropped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        let mut prev_end = 0;
        for i in 0..BUCKETS {
            let (lo, w) = bucket_range(i);
            assert_eq!(lo, prev_end, "bucket {i} starts where the previous ended");
            assert_eq!(bucket_of(lo), i);
            assert_eq!(bucket_of(lo + w - 1), i);
            prev_end = lo + w;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_within_relative_error() {
        let mut h = LogHistogram::default();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for q in [0.5, 0.9, 0.99] {
            let got = h.quantile(q).unwrap();
            let want = q * 100_000.0;
            assert!((got - want).abs() / want < 0.032, "q{q}: {got} vs {want}");
        }
        let s = h.stats().unwrap();
        assert_eq!(s.count, 100_000);
        assert_eq!(s.min, 0.001);
        assert_eq!(s.max, 100.0);
        assert!((s.mean - 50.0005).abs() < 1e-6);
    }

    #[test]
    fn empty_reports_nothing() {
        assert!(LogHistogram::default().stats().is_none());
        let w = SampleWindow::new(60, 1000, 10_000);
        let s = w.summary(5_000);
        assert!(s.stats.is_none());
        assert_eq!(s.blocked_ms, 0.0);
    }

    #[test]
    fn window_forgets_old_slots_and_reading_does_not_reset() {
        let mut w = SampleWindow::new(3, 1000, 10_000);
        w.record(100, 5_000);
        w.record(1_100, 20_000);
        w.record(2_100, 1_000);
        let a = w.summary(2_500);
        let b = w.summary(2_500);
        assert_eq!(a, b, "two readers see the same thing");
        let s = a.stats.unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.max, 20.0);
        assert_eq!(a.blocked_ms, 20.0);
        // 3.1 s later the first slot is out of the window
        let s = w.summary(3_100).stats.unwrap();
        assert_eq!(s.count, 2);
        assert_eq!(s.min, 1.0);
        // reusing a slot clears it
        w.record(3_200, 7_000);
        let s = w.summary(3_200).stats.unwrap();
        assert_eq!((s.count, s.min, s.max), (3, 1.0, 20.0));
        assert!(w.summary(10_000).stats.is_none());
    }

    #[test]
    fn exact_percentiles_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        let s = exact_stats(&mut v).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50.0, 90.0, 99.0, 100.0));
    }

    #[test]
    fn slot_cap_bounds_memory() {
        let mut w = SampleWindow::new(1, 1000, u64::MAX);
        for _ in 0..(SLOT_CAP + 10) {
            w.record(0, 1);
        }
        let s = w.summary(0);
        assert_eq!(s.stats.unwrap().count, SLOT_CAP as u64);
        assert_eq!(s.dropped, 10);
    }
}
