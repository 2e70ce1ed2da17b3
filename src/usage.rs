//! The `Usage` snapshot taken every flush, from what the JS thread read off V8
//! and the process plus what the heartbeat and GC accounting hold.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::gc::GcSpan;
use crate::heartbeat::LagSnapshot;
use crate::histogram::Stats;

/// Raw readings taken on the JS thread at flush time. Counters are cumulative.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimeSample {
    /// Wall clock, ms since the epoch.
    pub timestamp: f64,
    /// Process uptime, s.
    pub uptime: f64,
    /// Cumulative CPU time, µs (`process.cpuUsage()`, or the thread's where Node has it).
    pub cpu_user_us: f64,
    pub cpu_system_us: f64,
    pub rss: f64,
    pub heap_used: f64,
    pub heap_total: f64,
    pub heap_limit: f64,
    pub external: f64,
    pub array_buffers: f64,
    pub spaces: Vec<HeapSpace>,
    /// Cumulative `performance.eventLoopUtilization()` idle/active, ms.
    pub elu_idle: f64,
    pub elu_active: f64,
    pub handles: f64,
    pub requests: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeapSpace {
    /// V8's space name without the `_space` suffix (`new`, `old`, `code`, …).
    pub name: String,
    pub size: f64,
    pub used: f64,
    pub available: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Heap {
    pub used: f64,
    pub total: f64,
    pub limit: f64,
    pub external: f64,
    pub array_buffers: f64,
    /// used / limit.
    pub used_ratio: f64,
    pub spaces: Vec<HeapSpace>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLoop {
    /// Heartbeat delay over the window, ms. Absent when the window holds no sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_since_start: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_lag_ms: Option<f64>,
    /// Age of a heartbeat still waiting for the loop, ms (a block in progress).
    pub pending_ms: f64,
    /// Longest delay since the previous flush (a block in progress included), ms.
    pub interval_max_ms: f64,
    /// Wall time the loop spent in delays of 10 ms or more over the window, ms and share.
    pub blocked_ms: f64,
    pub blocked_ratio: f64,
    /// True while a stall (option `stall`) is in progress.
    pub stalled: bool,
    /// Stalls since start, and the time spent in them (the one in progress included), ms.
    pub stalls: u64,
    pub stall_ms: f64,
    /// Event-loop utilization over the flush interval (0..1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
}

/// Rates over the fixed window rather than the flush interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowRates {
    /// Window actually covered, ms (shorter than configured right after start).
    pub ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
}

/// One flush's snapshot. Field names `cpu` and `memory` are v8-perf-shield's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub timestamp: f64,
    pub pid: u32,
    pub thread_id: u32,
    pub uptime: f64,
    /// Time since the previous flush, ms.
    pub interval_ms: f64,
    /// CPU percent (user + system) over the interval; absent on the first flush.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_user: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_system: Option<f64>,
    /// Resident set size, bytes (v8-perf-shield's `memory`).
    pub memory: f64,
    pub rss: f64,
    pub heap: Heap,
    pub event_loop: EventLoop,
    /// GC over the interval.
    pub gc: GcSpan,
    /// GC since start.
    pub gc_total: GcSpan,
    pub window: WindowRates,
    pub handles: f64,
    pub requests: f64,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    t: f64,
    cpu_us: f64,
    cpu_user_us: f64,
    cpu_system_us: f64,
    elu_idle: f64,
    elu_active: f64,
}

impl Reading {
    fn of(s: &RuntimeSample) -> Self {
        Self {
            t: s.timestamp,
            cpu_us: s.cpu_user_us + s.cpu_system_us,
            cpu_user_us: s.cpu_user_us,
            cpu_system_us: s.cpu_system_us,
            elu_idle: s.elu_idle,
            elu_active: s.elu_active,
        }
    }
}

fn percent(us: f64, wall_ms: f64) -> Option<f64> {
    (wall_ms > 0.0).then(|| (us / 1000.0 / wall_ms * 100.0).max(0.0))
}

fn utilization(a: &Reading, b: &Reading) -> Option<f64> {
    let active = b.elu_active - a.elu_active;
    let total = active + (b.elu_idle - a.elu_idle);
    (total > 0.0).then(|| (active / total).clamp(0.0, 1.0))
}

/// Turns cumulative readings into interval and window rates.
#[derive(Debug, Clone)]
pub struct RateTracker {
    window_ms: f64,
    readings: VecDeque<Reading>,
}

impl RateTracker {
    pub fn new(window_ms: f64) -> Self {
        Self { window_ms, readings: VecDeque::new() }
    }

    /// Builds the usage for `sample` and remembers it for later rates.
    pub fn usage(&mut self, s: &RuntimeSample, lag: &LagSnapshot, gc: GcSpan, gc_total: GcSpan, pid: u32, thread_id: u32) -> Usage {
        let now = Reading::of(s);
        let prev = self.readings.back().copied();
        // Keep one reading at or before the window start so the window is fully covered.
        while self.readings.len() >= 2 && self.readings[1].t <= now.t - self.window_ms {
            self.readings.pop_front();
        }
        let oldest = self.readings.front().copied();
        self.readings.push_back(now);

        let interval_ms = prev.map_or(0.0, |p| now.t - p.t);
        let cpu = prev.and_then(|p| percent(now.cpu_us - p.cpu_us, interval_ms));
        let used_ratio = if s.heap_limit > 0.0 { s.heap_used / s.heap_limit } else { 0.0 };
        Usage {
            timestamp: s.timestamp,
            pid,
            thread_id,
            uptime: s.uptime,
            interval_ms,
            cpu,
            cpu_user: prev.and_then(|p| percent(now.cpu_user_us - p.cpu_user_us, interval_ms)),
            cpu_system: prev.and_then(|p| percent(now.cpu_system_us - p.cpu_system_us, interval_ms)),
            memory: s.rss,
            rss: s.rss,
            heap: Heap {
                used: s.heap_used,
                total: s.heap_total,
                limit: s.heap_limit,
                external: s.external,
                array_buffers: s.array_buffers,
                used_ratio,
                spaces: s.spaces.clone(),
            },
            event_loop: EventLoop {
                lag: lag.window.stats,
                lag_since_start: lag.since_start,
                last_lag_ms: lag.last_ms,
                pending_ms: lag.pending_ms,
                interval_max_ms: lag.interval_max_ms,
                blocked_ms: lag.blocked_ms,
                blocked_ratio: lag.blocked_ratio,
                stalled: lag.stalled,
                stalls: lag.stalls,
                stall_ms: lag.stall_total_ms,
                utilization: prev.and_then(|p| utilization(&p, &now)),
            },
            gc,
            gc_total,
            window: WindowRates {
                ms: oldest.map_or(0.0, |o| now.t - o.t),
                cpu: oldest.and_then(|o| percent(now.cpu_us - o.cpu_us, now.t - o.t)),
                utilization: oldest.and_then(|o| utilization(&o, &now)),
            },
            handles: s.handles,
            requests: s.requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag() -> LagSnapshot {
        LagSnapshot::default()
    }

    fn sample(t: f64, cpu_us: f64, active: f64) -> RuntimeSample {
        RuntimeSample {
            timestamp: t,
            cpu_user_us: cpu_us * 0.75,
            cpu_system_us: cpu_us * 0.25,
            elu_active: active,
            elu_idle: t - active,
            heap_used: 50.0,
            heap_limit: 200.0,
            ..RuntimeSample::default()
        }
    }

    #[test]
    fn interval_and_window_rates() {
        let mut r = RateTracker::new(10_000.0);
        let u = r.usage(&sample(0.0, 0.0, 0.0), &lag(), GcSpan::default(), GcSpan::default(), 1, 0);
        assert_eq!(u.cpu, None, "no rate on the first flush");
        assert_eq!(u.heap.used_ratio, 0.25);
        // 1 s later, 500 ms of CPU and 250 ms active loop
        let u = r.usage(&sample(1000.0, 500_000.0, 250.0), &lag(), GcSpan::default(), GcSpan::default(), 1, 0);
        assert_eq!(u.cpu, Some(50.0));
        assert_eq!(u.cpu_user, Some(37.5));
        assert_eq!(u.event_loop.utilization, Some(0.25));
        for i in 2..=30 {
            let t = i as f64 * 1000.0;
            r.usage(&sample(t, t * 500.0, t / 4.0), &lag(), GcSpan::default(), GcSpan::default(), 1, 0);
        }
        // the window never covers more than 10 s plus one flush, and rates stay right
        let u = r.usage(&sample(31_000.0, 31_000.0 * 500.0, 31_000.0 / 4.0), &lag(), GcSpan::default(), GcSpan::default(), 1, 0);
        assert!(u.window.ms >= 10_000.0 && u.window.ms <= 11_000.0, "{}", u.window.ms);
        assert!((u.window.cpu.unwrap() - 50.0).abs() < 1e-9);
        assert!(r.readings.len() <= 12);
    }
}
