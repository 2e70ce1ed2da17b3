//! The process-wide hub: every JS thread's watcher registers here, so the
//! exporters (HTTP listener, pushers) can read all threads' figures from Rust
//! threads without ever calling into a JS thread.
//!
//! An entry holds the latest flush snapshot plus a handle on the thread's
//! heartbeat, which still answers while that thread's loop is blocked.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::heartbeat::{Heartbeat, LagSnapshot};
use crate::usage::{RuntimeSample, Usage};
use crate::watcher;

/// One registered JS thread.
pub struct Entry {
    pub thread_id: u32,
    /// Distinguishes a re-registration of the same thread (start() twice).
    pub reg: u64,
    pub heartbeat: Heartbeat,
    pub core: Option<Arc<Mutex<watcher::Watcher>>>,
    /// GC pause buckets (seconds) the thread's histogram uses.
    pub gc_buckets: Vec<f64>,
    /// Latest flush: the snapshot and the raw readings it came from.
    pub latest: Option<(Arc<Usage>, Arc<RuntimeSample>)>,
    pub emergencies: u64,
}

/// What an exporter reads of one thread at one moment.
#[derive(Clone)]
pub struct ThreadView {
    pub thread_id: u32,
    pub usage: Option<Arc<Usage>>,
    pub sample: Option<Arc<RuntimeSample>>,
    /// Read now from the heartbeat (live, even while the loop is blocked).
    pub lag: LagSnapshot,
    pub gc_buckets: Vec<f64>,
    pub errors: u64,
    pub emergencies: u64,
    pub suppressed_emergencies: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// Counts of an exporter's push target (process-wide, by target name).
#[derive(Debug, Default)]
pub struct PushStats {
    pub pushes: AtomicU64,
    pub failures: AtomicU64,
    pub dropped: AtomicU64,
}

#[derive(Default)]
pub struct Hub {
    entries: RwLock<BTreeMap<u32, Entry>>,
    next_reg: AtomicU64,
    node: RwLock<Option<NodeVersion>>,
    push: RwLock<BTreeMap<&'static str, Arc<PushStats>>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the thread's entry; returns the registration id.
    pub fn register(&self, thread_id: u32, heartbeat: Heartbeat, core: Option<Arc<Mutex<watcher::Watcher>>>, gc_buckets: Vec<f64>) -> u64 {
        let reg = self.next_reg.fetch_add(1, Ordering::Relaxed) + 1;
        let e = Entry { thread_id, reg, heartbeat, core, gc_buckets, latest: None, emergencies: 0 };
        self.entries.write().insert(thread_id, e);
        reg
    }

    /// Removes the entry if it is still registration `reg` (a later start() may have replaced it).
    pub fn deregister(&self, thread_id: u32, reg: u64) {
        let mut m = self.entries.write();
        if m.get(&thread_id).is_some_and(|e| e.reg == reg) {
            m.remove(&thread_id);
        }
    }

    pub fn update(&self, thread_id: u32, reg: u64, usage: Arc<Usage>, sample: Arc<RuntimeSample>) {
        if let Some(e) = self.entries.write().get_mut(&thread_id).filter(|e| e.reg == reg) {
            e.latest = Some((usage, sample));
        }
    }

    pub fn count_emergency(&self, thread_id: u32) {
        if let Some(e) = self.entries.write().get_mut(&thread_id) {
            e.emergencies += 1;
        }
    }

    pub fn set_node_version(&self, v: NodeVersion) {
        *self.node.write() = Some(v);
    }

    pub fn node_version(&self) -> Option<NodeVersion> {
        *self.node.read()
    }

    /// The stats of a push target (`"falcon"`, `"pushgateway"`), created on first use.
    pub fn push_stats(&self, target: &'static str) -> Arc<PushStats> {
        if let Some(s) = self.push.read().get(target) {
            return s.clone();
        }
        self.push.write().entry(target).or_default().clone()
    }

    pub fn push_targets(&self) -> Vec<(&'static str, Arc<PushStats>)> {
        self.push.read().iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every thread, main thread first. The hub lock is released before the
    /// heartbeats are read.
    pub fn views(&self) -> Vec<ThreadView> {
        let parts: Vec<_> = self
            .entries
            .read()
            .values()
            .map(|e| {
                (
                    e.thread_id,
                    e.latest.clone(),
                    e.heartbeat.clone(),
                    e.core.clone(),
                    e.gc_buckets.clone(),
                    e.emergencies,
                )
            })
            .collect();
        parts
            .into_iter()
            .map(|(thread_id, latest, hb, core, gc_buckets, emergencies)| {
                let (errors, suppressed) = core.map_or((0, 0), |c| {
                    let c = c.lock();
                    (c.errors, c.suppressed_emergencies())
                });
                let (usage, sample) = latest.map_or((None, None), |(u, s)| (Some(u), Some(s)));
                ThreadView {
                    thread_id,
                    usage,
                    sample,
                    lag: hb.snapshot(),
                    gc_buckets,
                    errors,
                    emergencies,
                    suppressed_emergencies: suppressed,
                }
            })
            .collect()
    }
}

/// The process's hub.
pub fn global() -> &'static Hub {
    static HUB: OnceLock<Hub> = OnceLock::new();
    HUB.get_or_init(Hub::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::HeartbeatConfig;

    #[test]
    fn register_update_replace_deregister() {
        let hub = Hub::new();
        let hb = Heartbeat::start(HeartbeatConfig::default(), || true).unwrap();
        let r1 = hub.register(0, hb.clone(), None, vec![0.1]);
        let r2 = hub.register(3, hb.clone(), None, vec![0.1]);
        hub.update(3, r2, Arc::new(Usage { thread_id: 3, ..Default::default() }), Arc::new(RuntimeSample::default()));
        let v = hub.views();
        assert_eq!(v.iter().map(|v| v.thread_id).collect::<Vec<_>>(), vec![0, 3]);
        assert!(v[0].usage.is_none());
        assert_eq!(v[1].usage.as_ref().unwrap().thread_id, 3);
        // start() again on thread 0 replaces it; the old registration's stop must not remove the new one
        let r3 = hub.register(0, hb.clone(), None, vec![]);
        hub.deregister(0, r1);
        assert_eq!(hub.len(), 2);
        hub.deregister(0, r3);
        hub.deregister(3, r2);
        assert!(hub.is_empty());
        hb.stop();
    }

    #[test]
    fn push_stats_are_shared_by_target() {
        let hub = Hub::new();
        hub.push_stats("falcon").failures.fetch_add(2, Ordering::Relaxed);
        assert_eq!(hub.push_stats("falcon").failures.load(Ordering::Relaxed), 2);
        assert_eq!(hub.push_targets().len(), 1);
    }
}
