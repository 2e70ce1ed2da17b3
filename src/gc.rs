//! Garbage-collection accounting: every entry of every `PerformanceObserver('gc')`
//! batch, and heap before/after from `v8.GCProfiler` where Node has it.

use serde::Serialize;

/// GC kinds, named as prom-client labels them (`kind` label). The numbers are
/// Node's `perf_hooks.constants.NODE_PERFORMANCE_GC_*` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcKind {
    /// Scavenge (young generation).
    Minor = 0,
    /// Mark-sweep-compact (full GC).
    Major = 1,
    /// Incremental marking step.
    Incremental = 2,
    /// Processing of weak callbacks.
    WeakCb = 3,
}

impl GcKind {
    pub const ALL: [GcKind; 4] = [GcKind::Minor, GcKind::Major, GcKind::Incremental, GcKind::WeakCb];

    pub fn from_node(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Minor),
            4 => Some(Self::Major),
            8 => Some(Self::Incremental),
            16 => Some(Self::WeakCb),
            _ => None,
        }
    }


    pub fn label(self) -> &'static str {
        match self {
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Incremental => "incremental",
            Self::WeakCb => "weakcb",
        }
    }
}

/// prom-client's default `gcDurationBuckets`, in seconds.
pub const DEFAULT_PAUSE_BUCKETS: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 2.0, 5.0];

/// Count and pauses of one kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindStats {
    pub count: u64,
    /// Total pause, ms.
    pub pause_ms: f64,
    /// Longest single pause, ms.
    pub pause_max_ms: f64,
    /// Non-cumulative counts per pause bucket (see [`GcStats::buckets`]); the last one is +Inf.
    #[serde(skip)]
    pub bucket_counts: Vec<u64>,
}

impl KindStats {
    fn record(&mut self, ms: f64, buckets: &[f64]) {
        self.count += 1;
        self.pause_ms += ms;
        self.pause_max_ms = self.pause_max_ms.max(ms);
        if self.bucket_counts.len() != buckets.len() + 1 {
            self.bucket_counts = vec![0; buckets.len() + 1];
        }
        let secs = ms / 1000.0;
        let i = buckets.iter().position(|&le| secs <= le).unwrap_or(buckets.len());
        self.bucket_counts[i] += 1;
    }
}

/// Heap movement measured around collections (gc-stats' before/after/diff).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeapMovement {
    pub collections: u64,
    /// Bytes freed (used before − used after), summed; negative when the heap grew.
    pub reclaimed_bytes: f64,
    /// Used heap before and after the most recent collection.
    pub last_before_bytes: f64,
    pub last_after_bytes: f64,
}

/// GC figures over some span (since start, or one flush interval).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcSpan {
    pub count: u64,
    pub pause_ms: f64,
    pub pause_max_ms: f64,
    pub minor: KindStats,
    pub major: KindStats,
    pub incremental: KindStats,
    pub weakcb: KindStats,
    /// Only where `v8.GCProfiler` exists (Node ≥ 18.15 / 19.6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap: Option<HeapMovement>,
}

impl GcSpan {
    pub fn kind(&self, k: GcKind) -> &KindStats {
        match k {
            GcKind::Minor => &self.minor,
            GcKind::Major => &self.major,
            GcKind::Incremental => &self.incremental,
            GcKind::WeakCb => &self.weakcb,
        }
    }

    fn kind_mut(&mut self, k: GcKind) -> &mut KindStats {
        match k {
            GcKind::Minor => &mut self.minor,
            GcKind::Major => &mut self.major,
            GcKind::Incremental => &mut self.incremental,
            GcKind::WeakCb => &mut self.weakcb,
        }
    }

    fn record(&mut self, k: GcKind, ms: f64, buckets: &[f64]) {
        self.count += 1;
        self.pause_ms += ms;
        self.pause_max_ms = self.pause_max_ms.max(ms);
        self.kind_mut(k).record(ms, buckets);
    }

    fn record_heap(&mut self, before: f64, after: f64) {
        let h = self.heap.get_or_insert_with(HeapMovement::default);
        h.collections += 1;
        h.reclaimed_bytes += before - after;
        h.last_before_bytes = before;
        h.last_after_bytes = after;
    }
}

/// Accumulates GC entries since start and since the last flush.
#[derive(Debug, Clone)]
pub struct GcStats {
    buckets: Vec<f64>,
    pub total: GcSpan,
    interval: GcSpan,
    pub unknown_kinds: u64,
}

impl Default for GcStats {
    fn default() -> Self {
        Self::new(DEFAULT_PAUSE_BUCKETS.to_vec())
    }
}

impl GcStats {
    pub fn new(buckets: Vec<f64>) -> Self {
        Self { buckets, total: GcSpan::default(), interval: GcSpan::default(), unknown_kinds: 0 }
    }

    pub fn buckets(&self) -> &[f64] {
        &self.buckets
    }

    /// Records a batch of observer entries given as flat `[kindCode, durationMs, …]` pairs.
    pub fn record_entries(&mut self, flat: &[f64]) {
        for pair in flat.chunks_exact(2) {
            let Some(kind) = GcKind::from_node(pair[0] as u32) else {
                self.unknown_kinds += 1;
                continue;
            };
            let ms = if pair[1].is_finite() && pair[1] >= 0.0 { pair[1] } else { 0.0 };
            self.total.record(kind, ms, &self.buckets);
            self.interval.record(kind, ms, &self.buckets);
        }
    }

    /// Records heap used before/after one collection (from `v8.GCProfiler`).
    pub fn record_heap(&mut self, before_used: f64, after_used: f64) {
        self.total.record_heap(before_used, after_used);
        self.interval.record_heap(before_used, after_used);
    }

    /// The span since the previous call, and starts a new one.
    pub fn take_interval(&mut self) -> GcSpan {
        std::mem::take(&mut self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_counts_and_intervals_reset() {
        let mut g = GcStats::default();
        g.record_entries(&[1.0, 0.5, 1.0, 1.5, 4.0, 12.0, 99.0, 3.0]);
        assert_eq!(g.unknown_kinds, 1);
        let i = g.take_interval();
        assert_eq!(i.count, 3);
        assert_eq!(i.minor.count, 2);
        assert_eq!(i.minor.pause_ms, 2.0);
        assert_eq!(i.minor.pause_max_ms, 1.5);
        assert_eq!(i.major.pause_max_ms, 12.0);
        assert_eq!(i.pause_max_ms, 12.0);
        // 0.5 ms → le 0.001; 1.5 ms → le 0.01; 12 ms → le 0.1
        assert_eq!(i.minor.bucket_counts, vec![1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(i.major.bucket_counts, vec![0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(g.take_interval().count, 0);
        g.record_entries(&[16.0, 7000.0]);
        assert_eq!(g.total.count, 4);
        assert_eq!(g.total.weakcb.bucket_counts[6], 1, "7 s lands in +Inf");
    }

    #[test]
    fn heap_movement() {
        let mut g = GcStats::default();
        assert!(g.total.heap.is_none());
        g.record_heap(100.0, 40.0);
        g.record_heap(80.0, 90.0);
        let h = g.take_interval().heap.unwrap();
        assert_eq!(h.collections, 2);
        assert_eq!(h.reclaimed_bytes, 50.0);
        assert_eq!((h.last_before_bytes, h.last_after_bytes), (80.0, 90.0));
    }

    #[test]
    fn kinds_map() {
        assert_eq!(GcKind::from_node(8).unwrap().label(), "incremental");
        assert!(GcKind::from_node(2).is_none());
    }
}
