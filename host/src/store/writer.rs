//! The one writer: a dedicated thread that batches observations and commits each batch
//! in one durable transaction per slot.
//!
//! Collectors send [`Observation`]s on a bounded channel ([`Writer::send`] from async
//! code, [`Writer::blocking_send`] from threads). The writer commits what it holds
//! at every slot boundary of the current iteration's grid (every
//! [`WriterConfig::fallback_interval`] before one is known), as soon as it holds
//! [`WriterConfig::max_batch`] observations, and on [`Writer::flush`]. Each commit is
//! `Durability::Immediate` (≈ 2 ms of fsync here, a few times a slot at most): what
//! a flush reports committed survives `kill -9` and power loss.
//!
//! The thread runs its own single-threaded tokio runtime, so it never blocks the
//! daemon's async workers; readers use their own read transactions and never wait for
//! it (redb MVCC).
//!
//! ## Failures and back-pressure
//! A commit that fails (the disk is full) keeps its batch: the writer logs the error
//! once, reports it in [`Writer::status`] and to every flush, and retries with backoff
//! ([`WriterConfig::retry_min`] doubling to [`WriterConfig::retry_max`]); the store
//! reopens its file before the retry. Meanwhile it keeps accepting observations until it
//! holds [`WriterConfig::max_pending`]; then it stops taking from the channel, the
//! channel fills ([`WriterConfig::channel_capacity`] messages), [`Writer::send`] waits
//! and [`Writer::try_send`] hands the observation back. Nothing is dropped silently.

use super::retention::RetentionPolicy;
use super::{Batch, Sample, Store, StoreError};
use crate::model::{ChainSpec, NetworkIdentity, ValidatorEpoch};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Messages the channel holds before senders wait: with a message per collector per
/// slot this is minutes of slack.
const DEFAULT_CHANNEL_CAPACITY: usize = 1_024;
/// Commit early past this many observations: bounds a transaction (≈ 6 MB of
/// samples) during a catch-up.
const DEFAULT_MAX_BATCH: usize = 250_000;
/// Observations held while the store refuses writes before the writer stops taking
/// more: ≈ 12 MB of samples, or ≈ 150 MB of outcome rows (50 epochs of a 10k-validator
/// farm, over five hours).
const DEFAULT_MAX_PENDING: usize = 500_000;
/// Commit cadence before a network iteration gives the slot grid: one mainnet slot.
const DEFAULT_FALLBACK_INTERVAL: Duration = Duration::from_secs(12);
/// First retry after a failed commit; doubles up to [`DEFAULT_RETRY_MAX`].
const DEFAULT_RETRY_MIN: Duration = Duration::from_millis(200);
/// Longest wait between retries: a freed disk is noticed within this.
const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(10);
/// How often retention runs when enabled: hourly matches the rollup resolution.
const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(3_600);

/// What collectors hand the writer.
#[derive(Debug, Clone)]
pub enum Observation {
    /// Samples of registered series.
    Samples(Vec<Sample>),
    /// Outcome rows of one network iteration.
    Outcomes {
        iteration: u32,
        rows: Vec<ValidatorEpoch>,
    },
}

/// How the writer batches and retries.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub channel_capacity: usize,
    pub max_batch: usize,
    pub max_pending: usize,
    pub fallback_interval: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Run retention with this policy every `retention_interval`; `None`: never.
    pub retention: Option<RetentionPolicy>,
    pub retention_interval: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            max_pending: DEFAULT_MAX_PENDING,
            fallback_interval: DEFAULT_FALLBACK_INTERVAL,
            retry_min: DEFAULT_RETRY_MIN,
            retry_max: DEFAULT_RETRY_MAX,
            retention: Some(RetentionPolicy::default()),
            retention_interval: DEFAULT_RETENTION_INTERVAL,
        }
    }
}

/// What has been committed so far (totals since the writer started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReceipt {
    pub commits: u64,
    pub observations: u64,
}

/// The writer's health, for the dashboard and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterStatus {
    pub committed: WriteReceipt,
    /// Observations held, not yet committed.
    pub pending: usize,
    /// The last commit error while commits fail; `None` once one succeeds.
    pub last_error: Option<String>,
    /// Failed commits since the last success.
    pub failed_attempts: u64,
}

enum Control {
    Flush(oneshot::Sender<Result<WriteReceipt, StoreError>>),
    Identity {
        identity: NetworkIdentity,
        spec: ChainSpec,
        seen_ms: i64,
        reply: oneshot::Sender<Result<(u32, bool), StoreError>>,
    },
    Shutdown(oneshot::Sender<Result<WriteReceipt, StoreError>>),
}

/// A handle on the writer thread; clones share it. The thread stops when
/// [`Writer::shutdown`] is called or every handle is dropped, committing what it holds.
#[derive(Clone)]
pub struct Writer {
    data: mpsc::Sender<Observation>,
    control: mpsc::UnboundedSender<Control>,
    status: Arc<Mutex<WriterStatus>>,
    store: Arc<Store>,
    /// Joined by `shutdown`, so the store's file is released when it returns.
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("store", &self.store.path())
            .finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Writer {
    /// Start the writer thread for `store`.
    pub fn spawn(store: Arc<Store>, config: WriterConfig) -> Result<Writer, StoreError> {
        let (data, data_rx) = mpsc::channel(config.channel_capacity.max(1));
        let (control, control_rx) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(WriterStatus::default()));
        let task = Task {
            store: store.clone(),
            config,
            status: status.clone(),
            batch: Batch::default(),
            committed: WriteReceipt::default(),
            retry: None,
            logged_error: None,
        };
        let gone = |e: std::io::Error| StoreError::WriterGone {
            path: store.path().to_path_buf(),
            detail: format!("cannot start the writer thread: {e}"),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(gone)?;
        let thread = std::thread::Builder::new()
            .name("vigil-store-writer".into())
            .spawn(move || runtime.block_on(task.run(data_rx, control_rx)))
            .map_err(gone)?;
        Ok(Writer {
            data,
            control,
            status,
            store,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    fn gone(&self, detail: &str) -> StoreError {
        StoreError::WriterGone {
            path: self.store.path().to_path_buf(),
            detail: detail.to_string(),
        }
    }

    /// Queue an observation; waits while the channel is full (back-pressure).
    pub async fn send(&self, obs: Observation) -> Result<(), StoreError> {
        self.data
            .send(obs)
            .await
            .map_err(|_| self.gone("its channel is closed"))
    }

    /// Queue an observation from a thread that is not running async code; waits while
    /// the channel is full. Panics if called from within an async runtime (use `send`).
    pub fn blocking_send(&self, obs: Observation) -> Result<(), StoreError> {
        self.data
            .blocking_send(obs)
            .map_err(|_| self.gone("its channel is closed"))
    }

    /// Queue an observation if there is room; otherwise hand it back (the channel is
    /// full, or the writer stopped).
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, obs: Observation) -> Result<(), Observation> {
        self.data.try_send(obs).map_err(|e| match e {
            mpsc::error::TrySendError::Full(o) | mpsc::error::TrySendError::Closed(o) => o,
        })
    }

    /// Commit everything sent before this call, durably. On a failed commit the batch
    /// is kept for a retry and the error ("the disk is full…") is returned.
    pub async fn flush(&self) -> Result<WriteReceipt, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Flush(tx))
            .map_err(|_| self.gone("it has stopped"))?;
        rx.await
            .map_err(|_| self.gone("it stopped during a flush"))?
    }

    /// [`Writer::flush`] for threads that are not running async code.
    pub fn flush_blocking(&self) -> Result<WriteReceipt, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Flush(tx))
            .map_err(|_| self.gone("it has stopped"))?;
        rx.blocking_recv()
            .map_err(|_| self.gone("it stopped during a flush"))?
    }

    /// Record the network identity through the writer, after committing what was sent
    /// before (so those samples keep the old iteration's grid). See
    /// [`Store::record_identity`].
    pub async fn record_identity(
        &self,
        identity: NetworkIdentity,
        spec: ChainSpec,
        seen_ms: i64,
    ) -> Result<(u32, bool), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Identity {
                identity,
                spec,
                seen_ms,
                reply: tx,
            })
            .map_err(|_| self.gone("it has stopped"))?;
        rx.await.map_err(|_| self.gone("it stopped"))?
    }

    /// Commit what is held and stop the thread; when this returns the thread has let
    /// go of the store.
    pub async fn shutdown(&self) -> Result<WriteReceipt, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Shutdown(tx))
            .map_err(|_| self.gone("it has stopped"))?;
        let r = rx.await.map_err(|_| self.gone("it stopped"))?;
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            // The thread has replied and only returns now: a short wait, off the
            // async workers.
            tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|_| self.gone("its thread could not be joined"))?
                .map_err(|_| self.gone("its thread panicked"))?;
        }
        r
    }

    /// [`Writer::shutdown`] for threads that are not running async code.
    pub fn shutdown_blocking(&self) -> Result<WriteReceipt, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Shutdown(tx))
            .map_err(|_| self.gone("it has stopped"))?;
        let r = rx.blocking_recv().map_err(|_| self.gone("it stopped"))?;
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            t.join().map_err(|_| self.gone("its thread panicked"))?;
        }
        r
    }

    /// The writer's health now.
    pub fn status(&self) -> WriterStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

struct Task {
    store: Arc<Store>,
    config: WriterConfig,
    status: Arc<Mutex<WriterStatus>>,
    batch: Batch,
    committed: WriteReceipt,
    /// While commits fail: when to retry, and the current backoff.
    retry: Option<(Instant, Duration)>,
    /// The error last logged, so a failing disk logs once, not every retry.
    logged_error: Option<String>,
}

impl Task {
    async fn run(
        mut self,
        mut data: mpsc::Receiver<Observation>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut next_commit = self.next_slot_boundary();
        let mut next_retention = Instant::now();
        loop {
            let wake = match self.retry {
                Some((at, _)) => at,
                None => next_commit,
            };
            let room = self.batch.len() < self.config.max_pending;
            tokio::select! {
                biased;
                ctl = control.recv() => match ctl {
                    Some(Control::Flush(reply)) => {
                        self.drain(&mut data);
                        let _ = reply.send(self.commit());
                    }
                    Some(Control::Identity { identity, spec, seen_ms, reply }) => {
                        self.drain(&mut data);
                        // A failed commit keeps its batch; the identity is recorded regardless.
                        let _ = self.commit();
                        let r = self.store.record_identity(&identity, &spec, seen_ms);
                        next_commit = self.next_slot_boundary();
                        let _ = reply.send(r);
                    }
                    Some(Control::Shutdown(reply)) => {
                        self.drain(&mut data);
                        let _ = reply.send(self.commit());
                        return;
                    }
                    None => {
                        // Every handle is gone: commit what is left and stop.
                        self.drain(&mut data);
                        let _ = self.commit();
                        return;
                    }
                },
                obs = data.recv(), if room => match obs {
                    Some(obs) => {
                        self.take(obs);
                        if self.batch.len() >= self.config.max_batch && self.retry.is_none() {
                            let _ = self.commit();
                        }
                    }
                    None => {
                        let _ = self.commit();
                        return;
                    }
                },
                _ = tokio::time::sleep_until(wake) => {
                    let _ = self.commit();
                    if self.retry.is_none() {
                        next_commit = self.next_slot_boundary();
                        if let Some(policy) = self.config.retention
                            && Instant::now() >= next_retention
                        {
                            self.retention(&policy);
                            next_retention = Instant::now() + self.config.retention_interval;
                        }
                    }
                }
            }
        }
    }

    fn take(&mut self, obs: Observation) {
        match obs {
            Observation::Samples(s) => self.batch.samples.extend(s),
            Observation::Outcomes { iteration, rows } => self
                .batch
                .outcomes
                .extend(rows.into_iter().map(|r| (iteration, r))),
        }
        self.publish();
    }

    /// Take everything already queued (up to the pending cap), so a flush covers what
    /// was sent before it.
    fn drain(&mut self, data: &mut mpsc::Receiver<Observation>) {
        while self.batch.len() < self.config.max_pending {
            match data.try_recv() {
                Ok(obs) => self.take(obs),
                Err(_) => break,
            }
        }
    }

    /// Commit the batch; on failure keep it and schedule a retry.
    fn commit(&mut self) -> Result<WriteReceipt, StoreError> {
        if self.batch.is_empty() {
            self.retry = None;
            return Ok(self.committed);
        }
        match self.store.apply(&self.batch) {
            Ok(()) => {
                self.committed.commits += 1;
                self.committed.observations += self.batch.len() as u64;
                self.batch = Batch::default();
                self.retry = None;
                if self.logged_error.take().is_some() {
                    tracing::info!(store = %self.store.path().display(), "store writes succeed again");
                }
                let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
                st.committed = self.committed;
                st.pending = 0;
                st.last_error = None;
                st.failed_attempts = 0;
                Ok(self.committed)
            }
            Err(e) => {
                let detail = e.to_string();
                if self.logged_error.as_deref() != Some(detail.as_str()) {
                    tracing::error!(
                        "{detail}; {} observation(s) kept for a retry",
                        self.batch.len()
                    );
                    self.logged_error = Some(detail.clone());
                }
                let backoff = match self.retry {
                    Some((_, b)) => (b * 2).min(self.config.retry_max),
                    None => self.config.retry_min,
                };
                self.retry = Some((Instant::now() + backoff, backoff));
                {
                    let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
                    st.pending = self.batch.len();
                    st.last_error = Some(detail.clone());
                    st.failed_attempts += 1;
                }
                Err(StoreError::BatchKept {
                    path: self.store.path().to_path_buf(),
                    detail,
                })
            }
        }
    }

    fn retention(&self, policy: &RetentionPolicy) {
        match self.store.run_retention(now_ms(), policy) {
            Ok(r) if r.chunks_rolled_up > 0 || r.rollup_spans_dropped > 0 => {
                tracing::info!(
                    chunks = r.chunks_rolled_up,
                    samples = r.samples_rolled_up,
                    rollup_spans_dropped = r.rollup_spans_dropped,
                    "retention rolled up aged samples"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("retention did not run: {e}"),
        }
    }

    fn publish(&self) {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending = self.batch.len();
    }

    /// The next slot boundary of the current iteration (or the fallback interval).
    fn next_slot_boundary(&self) -> Instant {
        let now = Instant::now();
        let Some(grid) = self.store.current_iteration().map(|it| it.grid()) else {
            return now + self.config.fallback_interval;
        };
        let t = now_ms();
        let next = grid.snap(t).saturating_add(grid.slot_ms);
        now + Duration::from_millis(next.saturating_sub(t).max(1) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SeriesKey, SeriesKind};

    fn samples(id: crate::store::SeriesId, range: std::ops::Range<i64>) -> Observation {
        Observation::Samples(
            range
                .map(|i| Sample {
                    series: id,
                    ts_ms: i * 1_000,
                    value: i as f64,
                })
                .collect(),
        )
    }

    #[test]
    fn flush_commits_everything_sent_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("w.redb")).unwrap());
        let key = SeriesKey::new("x", &[]);
        let id = store
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let w = Writer::spawn(store.clone(), WriterConfig::default()).unwrap();
        for i in 0..10 {
            w.blocking_send(samples(id, i * 100..(i + 1) * 100))
                .unwrap();
        }
        let r = w.flush_blocking().unwrap();
        assert_eq!(r.observations, 1_000);
        assert_eq!(
            store
                .series_range(&key, 0, i64::MAX, usize::MAX)
                .unwrap()
                .len(),
            1_000
        );
        // A flush with nothing pending is free and reports the same totals.
        assert_eq!(w.flush_blocking().unwrap(), r);
        assert_eq!(w.status().pending, 0);
        w.shutdown_blocking().unwrap();
        assert!(w.flush_blocking().is_err());
    }

    #[test]
    fn a_full_batch_commits_without_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("w.redb")).unwrap());
        let key = SeriesKey::new("x", &[]);
        let id = store
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let w = Writer::spawn(
            store.clone(),
            WriterConfig {
                max_batch: 50,
                fallback_interval: Duration::from_secs(3_600),
                ..WriterConfig::default()
            },
        )
        .unwrap();
        w.blocking_send(samples(id, 0..60)).unwrap();
        // Poll the reader side: the commit happens on the writer's own time.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store
            .series_range(&key, 0, i64::MAX, usize::MAX)
            .unwrap()
            .len()
            < 60
        {
            assert!(std::time::Instant::now() < deadline, "no commit");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(w.status().committed.commits, 1);
    }

    #[tokio::test]
    async fn async_callers_send_flush_and_record_identities() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("w.redb")).unwrap());
        let w = Writer::spawn(store.clone(), WriterConfig::default()).unwrap();
        let net = NetworkIdentity {
            genesis_time: 1,
            genesis_validators_root: "0x01".into(),
            chain_id: Some(1),
        };
        let (it, new) = w
            .record_identity(net.clone(), ChainSpec::MAINNET, 0)
            .await
            .unwrap();
        assert_eq!((it, new), (1, true));
        let rows = vec![ValidatorEpoch {
            validator: 5,
            epoch: 9,
            balance: Some(1),
            ..Default::default()
        }];
        w.send(Observation::Outcomes {
            iteration: it,
            rows: rows.clone(),
        })
        .await
        .unwrap();
        w.flush().await.unwrap();
        assert_eq!(store.outcomes_for_epoch(1, 9).unwrap(), rows);
        w.shutdown().await.unwrap();
    }
}
