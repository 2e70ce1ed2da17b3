//! The native heartbeat that measures event-loop lag.
//!
//! A Rust thread sends one ping at a time to the JS thread (through whatever
//! `ping` closure the glue supplies: a threadsafe function there, a channel in
//! tests). The JS thread calls [`Heartbeat::beat`] when the ping runs; the time
//! between send and beat is the loop's lag. The next ping goes out one interval
//! after the previous beat, so a blocked loop yields one long sample (and the
//! age of the outstanding ping tells, while it is still blocked, how long).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::histogram::{LogHistogram, SampleWindow, Stats, WindowSummary};

#[derive(Debug, Clone, Copy)]
pub struct HeartbeatConfig {
    pub interval: Duration,
    /// Length of the fixed window and of each of its slots.
    pub window: Duration,
    pub slot: Duration,
    /// Delays at or above this count as time the loop was blocked.
    pub blocked_threshold: Duration,
    /// A ping outstanding this long makes the loop "stalled" until it answers.
    pub stall_threshold: Option<Duration>,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(10),
            window: Duration::from_secs(60),
            slot: Duration::from_secs(1),
            blocked_threshold: Duration::from_millis(10),
            stall_threshold: None,
        }
    }
}

struct State {
    stopped: bool,
    outstanding: Option<Instant>,
    last_beat: Instant,
    last_lag_us: Option<u64>,
    /// Longest delay since the last flush, µs.
    interval_max_us: u64,
    window: SampleWindow,
    total: LogHistogram,
    pings: u64,
    ping_failures: u64,
    /// When the stall in progress began (the send time of the unanswered ping).
    stall: Option<Instant>,
    stalls: u64,
    stall_total_us: u64,
}

/// A change of stall state, reported to the stall listener.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StallSignal {
    /// The loop has not answered for `pending`; it is still blocked.
    Started { pending: Duration },
    /// The loop answered after being stalled for `duration`.
    Ended { duration: Duration },
}

type StallListener = Box<dyn FnMut(StallSignal) + Send>;

struct Shared {
    origin: Instant,
    config: HeartbeatConfig,
    state: Mutex<State>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    stall_listener: Mutex<Option<StallListener>>,
}

/// What the heartbeat has seen, read at one moment.
#[derive(Debug, Clone, Default)]
pub struct LagSnapshot {
    pub window: WindowSummary,
    pub window_ms: f64,
    pub since_start: Option<Stats>,
    /// The most recent completed delay, ms.
    pub last_ms: Option<f64>,
    /// Age of the ping still waiting for the loop, ms (0 when none waits).
    pub pending_ms: f64,
    /// Longest delay since the previous flush (a block in progress included), ms.
    pub interval_max_ms: f64,
    /// Share of the window's wall time spent in delays over the blocked threshold,
    /// including a block still in progress.
    pub blocked_ratio: f64,
    pub blocked_ms: f64,
    pub ping_failures: u64,
    /// True from stall detection until the loop answers again.
    pub stalled: bool,
    pub stalls: u64,
    /// Time spent in stalls, finished ones plus the one in progress, ms.
    pub stall_total_ms: f64,
}

#[derive(Clone)]
pub struct Heartbeat {
    shared: Arc<Shared>,
}

impl Shared {
    fn signal(&self, s: StallSignal) {
        if let Some(f) = self.stall_listener.lock().as_mut() {
            f(s);
        }
    }
}

impl Heartbeat {
    /// Starts the watchdog thread. `ping` asks the JS thread to call [`beat`](Self::beat)
    /// soon and returns false when the request could not be queued.
    pub fn start<F>(config: HeartbeatConfig, mut ping: F) -> std::io::Result<Self>
    where
        F: FnMut() -> bool + Send + 'static,
    {
        let origin = Instant::now();
        let slot_ms = config.slot.as_millis().max(1) as u64;
        let slots = (config.window.as_millis() as u64).div_ceil(slot_ms) as usize;
        let shared = Arc::new(Shared {
            origin,
            config,
            state: Mutex::new(State {
                stopped: false,
                outstanding: None,
                last_beat: origin,
                last_lag_us: None,
                interval_max_us: 0,
                window: SampleWindow::new(slots, slot_ms, config.blocked_threshold.as_micros() as u64),
                total: LogHistogram::default(),
                pings: 0,
                ping_failures: 0,
                stall: None,
                stalls: 0,
                stall_total_us: 0,
            }),
            wake: Condvar::new(),
            thread: Mutex::new(None),
            stall_listener: Mutex::new(None),
        });
        let worker = shared.clone();
        let handle = std::thread::Builder::new().name("shield-heartbeat".into()).spawn(move || {
            let mut st = worker.state.lock();
            loop {
                if st.stopped {
                    return;
                }
                if let Some(sent) = st.outstanding {
                    // The loop has not answered yet: see whether that is a stall,
                    // then wait for its beat (or stop).
                    if let (Some(limit), None) = (worker.config.stall_threshold, st.stall) {
                        let pending = sent.elapsed();
                        if pending >= limit {
                            st.stall = Some(sent);
                            st.stalls += 1;
                            parking_lot::MutexGuard::unlocked(&mut st, || worker.signal(StallSignal::Started { pending }));
                            continue;
                        }
                    }
                    worker.wake.wait_for(&mut st, worker.config.interval);
                    continue;
                }
                let due = st.last_beat + worker.config.interval;
                if Instant::now() < due {
                    worker.wake.wait_until(&mut st, due);
                    continue;
                }
                st.outstanding = Some(Instant::now());
                st.pings += 1;
                // Ping without holding the lock: the JS thread may be beating right now.
                let sent = parking_lot::MutexGuard::unlocked(&mut st, &mut ping);
                if !sent {
                    st.outstanding = None;
                    st.ping_failures += 1;
                    st.last_beat = Instant::now();
                }
            }
        })?;
        *shared.thread.lock() = Some(handle);
        Ok(Self { shared })
    }

    fn now_ms(&self, at: Instant) -> u64 {
        at.duration_since(self.shared.origin).as_millis() as u64
    }

    /// Called on the JS thread when a ping runs. Cheap: one lock, one push.
    /// Returns the length of the stall this beat ended, if any.
    pub fn beat(&self) -> Option<Duration> {
        let now = Instant::now();
        let now_ms = self.now_ms(now);
        let mut st = self.shared.state.lock();
        if let Some(sent) = st.outstanding.take() {
            let us = now.duration_since(sent).as_micros() as u64;
            st.window.record(now_ms, us);
            st.total.record(us);
            st.last_lag_us = Some(us);
            st.interval_max_us = st.interval_max_us.max(us);
        }
        let ended = st.stall.take().map(|start| now.duration_since(start));
        if let Some(d) = ended {
            st.stall_total_us += d.as_micros() as u64;
        }
        st.last_beat = now;
        drop(st);
        self.shared.wake.notify_one();
        if let Some(duration) = ended {
            self.shared.signal(StallSignal::Ended { duration });
        }
        ended
    }

    /// Sets (or clears) the function told when a stall starts and ends. It runs on
    /// the heartbeat thread (start) or the JS thread (end) and must not block.
    pub fn set_stall_listener(&self, listener: Option<StallListener>) {
        *self.shared.stall_listener.lock() = listener;
    }

    /// What the heartbeat holds now; reading never resets anything.
    pub fn snapshot(&self) -> LagSnapshot {
        self.read(false)
    }

    /// Like [`snapshot`](Self::snapshot), and starts a new flush interval for `interval_max_ms`.
    /// Only the flush (one reader per watcher) calls this.
    pub fn flush_snapshot(&self) -> LagSnapshot {
        self.read(true)
    }

    fn read(&self, new_interval: bool) -> LagSnapshot {
        let now = Instant::now();
        let now_ms = self.now_ms(now);
        let mut st = self.shared.state.lock();
        let window = st.window.summary(now_ms);
        let pending_ms = st.outstanding.map(|t| now.duration_since(t).as_secs_f64() * 1000.0).unwrap_or(0.0);
        let threshold_ms = self.shared.config.blocked_threshold.as_secs_f64() * 1000.0;
        let blocked_ms = window.blocked_ms + if pending_ms >= threshold_ms { pending_ms } else { 0.0 };
        let span_ms = (st.window.span_ms() as f64).min(now_ms.max(1) as f64);
        let interval_max_ms = (st.interval_max_us as f64 / 1000.0).max(pending_ms);
        let stall_now_ms = st.stall.map_or(0.0, |t| now.duration_since(t).as_secs_f64() * 1000.0);
        if new_interval {
            st.interval_max_us = 0;
        }
        LagSnapshot {
            interval_max_ms,
            since_start: st.total.stats(),
            last_ms: st.last_lag_us.map(|us| us as f64 / 1000.0),
            pending_ms,
            blocked_ratio: (blocked_ms / span_ms).min(1.0),
            blocked_ms,
            window_ms: span_ms,
            ping_failures: st.ping_failures,
            stalled: st.stall.is_some(),
            stalls: st.stalls,
            stall_total_ms: st.stall_total_us as f64 / 1000.0 + stall_now_ms,
            window,
        }
    }

    /// Age of the outstanding ping, if the loop has not answered it yet.
    pub fn pending(&self) -> Option<Duration> {
        self.shared.state.lock().outstanding.map(|t| t.elapsed())
    }

    /// Stops and joins the thread (which drops `ping` and the stall listener). Idempotent.
    pub fn stop(&self) {
        self.shared.state.lock().stopped = true;
        self.set_stall_listener(None);
        self.shared.wake.notify_all();
        let handle = self.shared.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;

    fn quick() -> HeartbeatConfig {
        HeartbeatConfig { interval: Duration::from_millis(2), ..HeartbeatConfig::default() }
    }

    #[test]
    fn measures_a_blocked_consumer() {
        let (tx, rx) = bounded::<()>(1);
        let hb = Heartbeat::start(quick(), move || tx.try_send(()).is_ok()).unwrap();
        let beat = hb.clone();
        // A "JS thread" that answers pings, except once where it blocks for 50 ms.
        let js = std::thread::spawn(move || {
            for i in 0..40 {
                rx.recv().unwrap();
                if i == 20 {
                    std::thread::sleep(Duration::from_millis(50));
                }
                beat.beat();
            }
        });
        js.join().unwrap();
        let s = hb.snapshot();
        let w = s.window.stats.unwrap();
        assert_eq!(w.count, 40);
        assert!(w.max >= 50.0 && w.max < 75.0, "max {}", w.max);
        assert!(w.p50 < 5.0, "p50 {}", w.p50);
        assert!(s.blocked_ms >= 50.0);
        assert_eq!(s.since_start.unwrap().count, 40);
        assert_eq!(s.interval_max_ms, w.max);
        assert_eq!(hb.flush_snapshot().interval_max_ms, w.max);
        assert_eq!(hb.flush_snapshot().interval_max_ms, 0.0, "a flush starts a new interval");
        hb.stop();
    }

    #[test]
    fn sees_a_block_in_progress_and_stops_promptly() {
        let hb = Heartbeat::start(quick(), || true).unwrap(); // nobody ever beats
        std::thread::sleep(Duration::from_millis(60));
        let s = hb.snapshot();
        assert!(s.pending_ms >= 50.0, "pending {}", s.pending_ms);
        assert!(s.blocked_ms >= 50.0);
        assert!(s.window.stats.is_none(), "no completed sample yet");
        let t = Instant::now();
        hb.stop();
        hb.stop();
        assert!(t.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn stalls_start_while_blocked_and_end_on_the_next_beat() {
        let cfg = HeartbeatConfig { stall_threshold: Some(Duration::from_millis(30)), ..quick() };
        let (tx, rx) = bounded::<()>(1);
        let hb = Heartbeat::start(cfg, move || tx.try_send(()).is_ok()).unwrap();
        let (sig_tx, sig_rx) = crossbeam_channel::unbounded();
        hb.set_stall_listener(Some(Box::new(move |s| {
            let _ = sig_tx.send(s);
        })));
        rx.recv().unwrap();
        // The "loop" is stuck for 80 ms: the start is signalled while it is stuck.
        let started = sig_rx.recv_timeout(Duration::from_millis(200)).unwrap();
        match started {
            StallSignal::Started { pending } => assert!(pending >= Duration::from_millis(30) && pending < Duration::from_millis(60)),
            other => panic!("{other:?}"),
        }
        let during = hb.snapshot();
        assert!(during.stalled && during.stalls == 1);
        std::thread::sleep(Duration::from_millis(50));
        let ended = hb.beat().unwrap();
        assert!(ended >= Duration::from_millis(75), "{ended:?}");
        assert_eq!(sig_rx.recv_timeout(Duration::from_millis(100)).unwrap(), StallSignal::Ended { duration: ended });
        let after = hb.snapshot();
        assert!(!after.stalled);
        assert!((after.stall_total_ms - ended.as_secs_f64() * 1000.0).abs() < 1.0);
        // quick beats afterwards are not stalls
        for _ in 0..5 {
            rx.recv().unwrap();
            assert!(hb.beat().is_none());
        }
        assert_eq!(hb.snapshot().stalls, 1);
        hb.stop();
    }

    #[test]
    fn failed_pings_are_counted_not_retried_in_a_spin() {
        let hb = Heartbeat::start(quick(), || false).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let n = hb.snapshot().ping_failures;
        hb.stop();
        assert!(n >= 3 && n <= 20, "failures {n}");
    }
}
