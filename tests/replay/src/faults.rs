//! Fault injection: the failures a collector must survive, switchable from a test.
//!
//! All switches are shared state read on every request (or, for listener up/down, pushed
//! to the listener tasks through a watch channel), so a change is effective for the next
//! request without restarting anything.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// Switches for injected failures; a cheap handle (clone it into other tasks).
///
/// Beacon-API faults apply to every answer of the beacon listener, SSE included
/// (`set_status` answers the SSE request with the error, `set_garbage` corrupts each
/// event's data, `set_delay` delays the response headers).
#[derive(Clone, Debug)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    down: AtomicBool,
    delay: Mutex<Option<Duration>>,
    garbage: AtomicBool,
    /// 0: no injected status.
    status: AtomicU16,
    metrics_garbage: AtomicBool,
    metrics_down: Mutex<HashSet<String>>,
    genesis: Mutex<Option<(u64, String)>>,
    /// Bumped to end every open SSE stream.
    sse_drops: watch::Sender<u64>,
    /// Bumped when a listener may have to close or reopen.
    listeners: watch::Sender<u64>,
    /// Slots whose block the node no longer has (a reorg took it).
    orphaned: Mutex<HashSet<u64>>,
    /// `chain_reorg` events pushed to open streams: (slot, depth).
    reorgs: watch::Sender<Vec<(u64, u64)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values are plain data; a panic elsewhere cannot leave them half-written.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new()
    }
}

impl Faults {
    /// No fault active.
    pub fn new() -> Faults {
        Faults {
            inner: Arc::new(Inner {
                down: AtomicBool::new(false),
                delay: Mutex::new(None),
                garbage: AtomicBool::new(false),
                status: AtomicU16::new(0),
                metrics_garbage: AtomicBool::new(false),
                metrics_down: Mutex::new(HashSet::new()),
                genesis: Mutex::new(None),
                sse_drops: watch::Sender::new(0),
                listeners: watch::Sender::new(0),
                orphaned: Mutex::new(HashSet::new()),
                reorgs: watch::Sender::new(Vec::new()),
            }),
        }
    }

    /// Takes the beacon API down (`true`) or brings it back (`false`).
    ///
    /// Down means what a dead node means to a client: the listening socket is closed
    /// (new connections are refused), open keep-alive connections and SSE streams are
    /// cut, and a request racing with the switch gets its connection dropped without an
    /// answer. Coming back re-binds the same port (a client may need a retry or two).
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
        if down {
            self.drop_sse();
        }
        self.inner.listeners.send_modify(|g| *g += 1);
    }

    /// Delays every beacon answer by `delay` (`None`: answer at once), to test timeouts.
    pub fn set_delay(&self, delay: Option<Duration>) {
        *lock(&self.inner.delay) = delay;
    }

    /// Makes every beacon answer a `200` whose body is truncated, malformed JSON.
    pub fn set_garbage(&self, garbage: bool) {
        self.inner.garbage.store(garbage, Ordering::SeqCst);
    }

    /// Makes every beacon answer this HTTP status with a Lodestar-shaped error body
    /// (`{"code":…,"message":…,"stacktraces":[…]}`); `None` ends it.
    pub fn set_status(&self, status: Option<u16>) {
        self.inner
            .status
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Cuts every open SSE stream now, mid-stream (the connection is aborted without
    /// the end-of-body marker, as when a node or proxy dies). New streams may connect.
    pub fn drop_sse(&self) {
        self.inner.sse_drops.send_modify(|g| *g += 1);
    }

    /// Makes every `/metrics` listener serve malformed exposition text.
    pub fn set_metrics_garbage(&self, garbage: bool) {
        self.inner.metrics_garbage.store(garbage, Ordering::SeqCst);
    }

    /// Takes one `/metrics` listener (`"beacon-metrics"`, `"vc-metrics-A"`, …) down or
    /// back up, like [`Faults::set_down`] for the beacon API. Independent of the
    /// outages that are part of the recording.
    pub fn set_metrics_down(&self, target: &str, down: bool) {
        {
            let mut set = lock(&self.inner.metrics_down);
            if down {
                set.insert(target.to_owned());
            } else {
                set.remove(target);
            }
        }
        self.inner.listeners.send_modify(|g| *g += 1);
    }

    /// Simulates a network reset (Ephemery): `/eth/v1/beacon/genesis` answers this
    /// genesis time and validators root from now on. Only the genesis answer changes;
    /// the replayed chain (slots, blocks, the clock) goes on as before.
    pub fn reset_genesis(&self, new_genesis_time: u64, new_root: &str) {
        *lock(&self.inner.genesis) = Some((new_genesis_time, new_root.to_owned()));
    }

    /// Ends every fault (the recorded genesis is served again; open streams stay open).
    pub fn clear(&self) {
        self.set_delay(None);
        self.set_garbage(false);
        self.set_status(None);
        self.set_metrics_garbage(false);
        lock(&self.inner.metrics_down).clear();
        *lock(&self.inner.genesis) = None;
        self.set_down(false);
    }

    pub(crate) fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::SeqCst)
    }

    pub(crate) fn delay(&self) -> Option<Duration> {
        *lock(&self.inner.delay)
    }

    pub(crate) fn garbage(&self) -> bool {
        self.inner.garbage.load(Ordering::SeqCst)
    }

    pub(crate) fn status(&self) -> Option<u16> {
        match self.inner.status.load(Ordering::SeqCst) {
            0 => None,
            status => Some(status),
        }
    }

    pub(crate) fn metrics_garbage(&self) -> bool {
        self.inner.metrics_garbage.load(Ordering::SeqCst)
    }

    pub(crate) fn metrics_down(&self, target: &str) -> bool {
        lock(&self.inner.metrics_down).contains(target)
    }

    pub(crate) fn genesis_override(&self) -> Option<(u64, String)> {
        lock(&self.inner.genesis).clone()
    }

    /// Changes whenever open SSE streams must end.
    /// Simulate a reorg that orphaned the block at `slot`: from now on its header and
    /// block answer 404, and open event streams get a `chain_reorg` event at `slot + 1`
    /// of depth 2 (the block and its child were replaced).
    pub fn orphan_block(&self, slot: u64) {
        lock(&self.inner.orphaned).insert(slot);
        self.inner.reorgs.send_modify(|r| r.push((slot + 1, 2)));
    }

    /// True when a simulated reorg took the block at `slot`.
    pub(crate) fn is_orphaned(&self, slot: u64) -> bool {
        lock(&self.inner.orphaned).contains(&slot)
    }

    pub(crate) fn reorgs(&self) -> watch::Receiver<Vec<(u64, u64)>> {
        self.inner.reorgs.subscribe()
    }

    pub(crate) fn sse_drops(&self) -> watch::Receiver<u64> {
        self.inner.sse_drops.subscribe()
    }

    /// Changes whenever a listener may have to close or reopen.
    pub(crate) fn listener_changes(&self) -> watch::Receiver<u64> {
        self.inner.listeners.subscribe()
    }
}
