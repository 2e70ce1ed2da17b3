//! A push loop on its own thread: every `interval` it asks its target for
//! payloads, queues them (bounded: the oldest is dropped and counted), and
//! sends the queue head with a client timeout. A failure is retried with
//! exponential backoff, a bounded number of times; a rejection (4xx) is not
//! retried. Nothing here ever waits on a JS thread, and memory is bounded by
//! `max_queue` payloads whatever the target does.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::hub::PushStats;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PushConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub max_queue: usize,
    /// Attempts per payload before it is dropped.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl PushConfig {
    pub fn for_interval(interval: Duration) -> Self {
        Self {
            interval,
            timeout: interval.min(Duration::from_secs(5)).max(Duration::from_millis(500)),
            max_queue: 16,
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: interval.max(Duration::from_secs(1)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Connection error, timeout, 5xx, 429: try again later.
    Retry(String),
    /// The target refused the payload (4xx): retrying cannot help.
    Reject(String),
}

pub trait Target: Send + 'static {
    /// Payloads for this tick (read from the hub).
    fn collect(&mut self) -> Vec<Vec<u8>>;
    fn send(&mut self, agent: &ureq::Agent, payload: &[u8]) -> Outcome;
    /// Called once when the pusher stops (Pushgateway: DELETE the group).
    fn finish(&mut self, _agent: &ureq::Agent) {}
    fn name(&self) -> &'static str;
}

/// Bounded queue of error messages the owning JS thread drains into `'error'` events.
#[derive(Default)]
pub struct ErrorQueue {
    q: Mutex<VecDeque<String>>,
}

impl ErrorQueue {
    pub const CAP: usize = 32;

    pub fn push(&self, msg: String) {
        let mut q = self.q.lock();
        if q.len() == Self::CAP {
            q.pop_front();
        }
        q.push_back(msg);
    }

    pub fn drain(&self) -> Vec<String> {
        self.q.lock().drain(..).collect()
    }
}

pub struct Pusher {
    stop: Option<Sender<()>>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

/// Outcome of one HTTP exchange, classified.
pub fn classify(target: &str, res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Outcome {
    match res {
        Ok(mut r) => {
            let st = r.status().as_u16();
            if (200..300).contains(&st) {
                Outcome::Sent
            } else {
                let body: String = r.body_mut().with_config().limit(512).read_to_string().unwrap_or_default();
                let msg = format!("shield: {target} push answered {st}: {}", body.trim());
                if st == 429 || st >= 500 { Outcome::Retry(msg) } else { Outcome::Reject(msg) }
            }
        }
        Err(e) => Outcome::Retry(format!("shield: {target} push failed: {e}")),
    }
}

pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_idle_connections(2)
        .user_agent("shield")
        .build()
        .into()
}

impl Pusher {
    pub fn start<T: Target>(mut target: T, cfg: PushConfig, stats: Arc<PushStats>, errors: Arc<ErrorQueue>) -> std::io::Result<Self> {
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let (done_tx, done_rx) = bounded::<()>(1);
        let name = target.name();
        let thread = std::thread::Builder::new().name(format!("shield-push-{name}")).spawn(move || {
            let agent = agent(cfg.timeout);
            let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
            let mut next_collect = Instant::now();
            let mut retry_at = Instant::now();
            let mut attempts = 0u32;
            let mut failing_since_report: Option<Instant> = None;
            loop {
                let now = Instant::now();
                if now >= next_collect {
                    for p in target.collect() {
                        if queue.len() == cfg.max_queue {
                            queue.pop_front();
                            attempts = 0;
                            stats.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        queue.push_back(p);
                    }
                    next_collect += cfg.interval;
                    if next_collect < now {
                        next_collect = now + cfg.interval;
                    }
                }
                while Instant::now() >= retry_at {
                    let Some(p) = queue.front() else { break };
                    match target.send(&agent, p) {
                        Outcome::Sent => {
                            queue.pop_front();
                            attempts = 0;
                            failing_since_report = None;
                            stats.pushes.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::Reject(msg) => {
                            queue.pop_front();
                            attempts = 0;
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                            stats.dropped.fetch_add(1, Ordering::Relaxed);
                            errors.push(msg);
                        }
                        Outcome::Retry(msg) => {
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                            attempts += 1;
                            // One 'error' when a failure streak starts, then at most one a minute.
                            if failing_since_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                                errors.push(msg);
                                failing_since_report = Some(Instant::now());
                            }
                            if attempts >= cfg.max_attempts {
                                queue.pop_front();
                                attempts = 0;
                                stats.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            let exp = cfg.backoff_base.saturating_mul(1u32 << attempts.min(16));
                            retry_at = Instant::now() + exp.min(cfg.backoff_max);
                            break;
                        }
                    }
                }
                let wake = if queue.is_empty() { next_collect } else { next_collect.min(retry_at) };
                match stop_rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
            }
            target.finish(&agent);
            let _ = done_tx.send(());
        })?;
        Ok(Self { stop: Some(stop_tx), done: done_rx, thread: Some(thread) })
    }

    /// Stops the loop; waits at most `wait` for its last words (a DELETE), else leaves it to finish alone.
    pub fn stop(&mut self, wait: Duration) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
            if self.done.recv_timeout(wait).is_ok() {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Sends to a scripted target: fails `fail_first` times, then succeeds.
    struct Scripted {
        fail_first: usize,
        calls: Arc<AtomicUsize>,
        collected: Arc<AtomicUsize>,
        reject: bool,
    }

    impl Target for Scripted {
        fn collect(&mut self) -> Vec<Vec<u8>> {
            self.collected.fetch_add(1, Ordering::Relaxed);
            vec![vec![0u8; 1000]]
        }
        fn send(&mut self, _a: &ureq::Agent, _p: &[u8]) -> Outcome {
            let n = self.calls.fetch_add(1, Ordering::Relaxed);
            if self.reject {
                Outcome::Reject("no".into())
            } else if n < self.fail_first {
                Outcome::Retry("down".into())
            } else {
                Outcome::Sent
            }
        }
        fn name(&self) -> &'static str {
            "test"
        }
    }

    fn cfg() -> PushConfig {
        PushConfig {
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(100),
            max_queue: 3,
            max_attempts: 1000,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(40),
        }
    }

    #[test]
    fn down_target_drops_oldest_and_recovers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let collected = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(PushStats::default());
        let errors = Arc::new(ErrorQueue::default());
        let t = Scripted { fail_first: 15, calls: calls.clone(), collected: collected.clone(), reject: false };
        let mut p = Pusher::start(t, cfg(), stats.clone(), errors.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        p.stop(Duration::from_secs(1));
        let c = collected.load(Ordering::Relaxed) as u64;
        let pushes = stats.pushes.load(Ordering::Relaxed);
        let dropped = stats.dropped.load(Ordering::Relaxed);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 15);
        assert!(pushes > 0, "recovered");
        assert!(dropped > 0, "queue bounded");
        assert!(pushes + dropped <= c && c - pushes - dropped <= 3, "collected {c} pushed {pushes} dropped {dropped}");
        assert_eq!(errors.drain().len(), 1, "one error per failure streak");
    }

    #[test]
    fn rejected_payloads_are_not_retried() {
        let calls = Arc::new(AtomicUsize::new(0));
        let collected = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(PushStats::default());
        let errors = Arc::new(ErrorQueue::default());
        let t = Scripted { fail_first: 0, calls: calls.clone(), collected: collected.clone(), reject: true };
        let mut p = Pusher::start(t, cfg(), stats.clone(), errors.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        p.stop(Duration::from_secs(1));
        assert_eq!(calls.load(Ordering::Relaxed), collected.load(Ordering::Relaxed));
        assert_eq!(stats.dropped.load(Ordering::Relaxed), stats.failures.load(Ordering::Relaxed));
        assert!(!errors.drain().is_empty());
    }

    #[test]
    fn error_queue_is_bounded() {
        let q = ErrorQueue::default();
        for i in 0..100 {
            q.push(format!("{i}"));
        }
        let d = q.drain();
        assert_eq!(d.len(), ErrorQueue::CAP);
        assert_eq!(d.last().unwrap(), "99");
    }
}
