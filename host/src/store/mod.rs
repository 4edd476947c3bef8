//! The embedded store: one redb file holding everything Vigil keeps.
//!
//! - Series (`series.rs`, `codec.rs`): a series id per name + sorted labels; samples
//!   in Gorilla-coded chunks, snapped to the slot grid for slot-aligned series.
//! - Outcomes (`outcomes.rs`): one row per `(validator, epoch)` in blocks keyed
//!   `(iteration, epoch, first validator)`.
//! - Network iterations (`iterations.rs`), plugin state, and the alert, outbox and
//!   silence tables (`records.rs`); every table is listed in `tables.rs`.
//! - Retention and hourly rollups (`retention.rs`), one writer thread (`writer.rs`).
//!
//! ## Invariants
//! - Readers never block the writer: redb's MVCC gives each read transaction a
//!   snapshot; a reader holds the database handle only to begin its transaction.
//! - A write is durable when its transaction commits (`Durability::Immediate`), so a
//!   crash or `kill -9` leaves the last committed state intact; a batch is all or
//!   nothing.
//! - After an I/O error (a full disk) redb refuses every later operation on that handle;
//!   the next write closes and reopens the file (readers get
//!   [`StoreError::Reopening`] meanwhile, or until the disk has room for redb's repair),
//!   and the failed batch is retried by the writer, never dropped.

mod bits;
mod codec;
mod iterations;
mod outcomes;
mod records;
mod retention;
mod series;
pub mod tables;
mod writer;

pub use codec::CodecError;
pub use iterations::{Grid, Iteration};
pub use records::{AlertsBatch, OutboxEntry};
pub use retention::{
    DEFAULT_RAW_RETENTION, DEFAULT_ROLLUP_RETENTION, RetentionPolicy, RetentionReport, Rollup,
};
pub use series::{Sample, SeriesId, SeriesKey, SeriesKind, SeriesPoint};
pub use writer::{Observation, WriteReceipt, Writer, WriterConfig, WriterStatus};

use crate::model::ValidatorEpoch;
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tables::{META, PLUGIN_STATE, SCHEMA_VERSION};

/// redb's page cache. Its default (1 GiB) is more than a home staker's machine should
/// give; 256 MiB holds a 10k-validator farm's hot pages (open chunks, recent outcome
/// blocks, indices) with room to spare.
const CACHE_BYTES: usize = 256 << 20;
/// How long a reopen after an I/O error waits for in-flight readers to let go of the
/// old handle: they hold it only to begin a transaction, so this is generous.
const REOPEN_WAIT: Duration = Duration::from_secs(5);
/// Poll interval while waiting for those readers.
const REOPEN_POLL: Duration = Duration::from_millis(1);

/// What can go wrong with the store, with the remedy where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open store {path}: {source}{hint}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
        hint: &'static str,
    },
    #[error(
        "store {path} is already open in another process: stop the other vigil or set [store] path to another file"
    )]
    Locked { path: PathBuf },
    #[error(
        "store {path} was written by a newer Vigil (schema {found}, this build reads up to {SCHEMA_VERSION}): upgrade vigil or point [store] path at another file"
    )]
    TooNew { path: PathBuf, found: u32 },
    #[error("store {path}: {what} failed: {source}{hint}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: Box<redb::Error>,
        hint: &'static str,
    },
    #[error(
        "store {path}: {what}: stored bytes do not decode ({source}): the file is damaged; move it aside and restore a backup"
    )]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        source: CodecError,
    },
    #[error(
        "store {path} is being reopened after an I/O error: retry in a moment; nothing committed was lost"
    )]
    Reopening { path: PathBuf },
    #[error("store {path}: the batch was kept and will be retried: {detail}")]
    BatchKept { path: PathBuf, detail: String },
    #[error(
        "store {path}: the writer has stopped ({detail}): restart vigil; batches not yet committed were lost"
    )]
    WriterGone { path: PathBuf, detail: String },
}

impl StoreError {
    /// The disk (or the user's quota) is full: the remedy is space, not a restart.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => is_disk_full(source),
            StoreError::BatchKept { detail, .. } => detail.contains(DISK_FULL_HINT),
            _ => false,
        }
    }
}

const DISK_FULL_HINT: &str = ": the disk is full: free space on it (or move [store] path to a larger disk); nothing committed before was lost and the writer retries the batch";
const PREVIOUS_IO_HINT: &str = ": an earlier write failed (see the error before this one); vigil reopens the store and retries";
const CORRUPTED_HINT: &str = ": the file is damaged; move it aside and restore a backup";

fn is_disk_full(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Io(io) if matches!(
        io.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ))
}

/// An error after which redb refuses the handle until it is reopened.
fn poisons_handle(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo)
}

/// One plugin's pending state change, applied at commit.
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange {
    Set(Vec<u8>),
    Delete,
}

/// What the writer commits in one transaction.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub samples: Vec<Sample>,
    /// Outcome rows with their network iteration.
    pub outcomes: Vec<(u32, ValidatorEpoch)>,
}

impl Batch {
    /// Samples plus outcome rows: what back-pressure counts.
    pub fn len(&self) -> usize {
        self.samples.len() + self.outcomes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.outcomes.is_empty()
    }
}

type Opener = Box<dyn Fn(&Path) -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// The open store. Cheap to share behind an `Arc`.
pub struct Store {
    path: PathBuf,
    /// `None` only while a reopen after an I/O error is in progress.
    db: RwLock<Option<Arc<Database>>>,
    opener: Opener,
    /// Set by an I/O error: the next write reopens the file first.
    poisoned: AtomicBool,
    /// One reopen at a time.
    reopen_lock: Mutex<()>,
    /// The current network iteration, mirrored from the `iterations` table.
    current: RwLock<Option<Iteration>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open or create the store at `path`, creating its folder and tables and migrating
    /// an older schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(
            path,
            Box::new(|p| redb::Builder::new().set_cache_size(CACHE_BYTES).create(p)),
        )
    }

    /// Open with a custom way to (re)open the file: tests inject failing storage.
    pub(crate) fn open_with(path: &Path, opener: Opener) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                what: "creating its folder",
                source: Box::new(redb::StorageError::Io(e).into()),
                hint: "",
            })?;
        }
        let db = open_db(path, &opener)?;
        let store = Store {
            path: path.to_path_buf(),
            db: RwLock::new(Some(Arc::new(db))),
            opener,
            poisoned: AtomicBool::new(false),
            reopen_lock: Mutex::new(()),
            current: RwLock::new(None),
        };
        store.init()?;
        let current = iterations::load_current(&store)?;
        *store.current.write().unwrap_or_else(|e| e.into_inner()) = current;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Map a redb error to a [`StoreError`] naming the store, the step and the remedy;
    /// an I/O error marks the handle for reopening.
    pub(crate) fn io<E: Into<redb::Error>>(
        &self,
        what: &'static str,
    ) -> impl FnOnce(E) -> StoreError + '_ {
        move |e| {
            let source: redb::Error = e.into();
            if poisons_handle(&source) {
                self.poisoned.store(true, Ordering::Release);
            }
            let hint = if is_disk_full(&source) {
                DISK_FULL_HINT
            } else {
                match &source {
                    redb::Error::PreviousIo => PREVIOUS_IO_HINT,
                    redb::Error::Corrupted(_) => CORRUPTED_HINT,
                    _ => "",
                }
            };
            StoreError::Io {
                path: self.path.clone(),
                what,
                source: Box::new(source),
                hint,
            }
        }
    }

    pub(crate) fn corrupt(&self, what: &'static str) -> impl FnOnce(CodecError) -> StoreError + '_ {
        move |source| StoreError::Corrupt {
            path: self.path.clone(),
            what,
            source,
        }
    }

    /// The database handle, for one transaction's start.
    fn handle(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Reopening {
                path: self.path.clone(),
            })
    }

    /// A read transaction: a snapshot that never waits for the writer.
    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.handle()?
            .begin_read()
            .map_err(self.io("opening a read transaction"))
    }

    /// Run `f` in one write transaction and commit it durably. Reopens the file first
    /// when an earlier I/O error left the handle refused.
    pub(crate) fn write<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let db = self.handle()?;
        let tx = db
            .begin_write()
            .map_err(self.io("opening a write transaction"))?;
        let out = f(&tx)?;
        tx.commit().map_err(self.io(what))?;
        Ok(out)
    }

    /// Close the refused handle and open the file again (redb repairs it from the last
    /// commit if needed). Readers meanwhile get [`StoreError::Reopening`].
    fn reopen(&self) -> Result<(), StoreError> {
        let _one = self.reopen_lock.lock().unwrap_or_else(|e| e.into_inner());
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let old = self.db.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut old) = old {
            let deadline = Instant::now() + REOPEN_WAIT;
            loop {
                match Arc::try_unwrap(old) {
                    Ok(db) => {
                        // Closing a failed handle reports the failure again: known.
                        let _ = db.close();
                        break;
                    }
                    Err(still_shared) if Instant::now() < deadline => {
                        old = still_shared;
                        std::thread::sleep(REOPEN_POLL);
                    }
                    Err(still_shared) => {
                        *self.db.write().unwrap_or_else(|e| e.into_inner()) = Some(still_shared);
                        return Err(StoreError::Reopening {
                            path: self.path.clone(),
                        });
                    }
                }
            }
        }
        let db = open_db(&self.path, &self.opener)?;
        *self.db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
        self.poisoned.store(false, Ordering::Release);
        tracing::info!(store = %self.path.display(), "store reopened after an I/O error");
        Ok(())
    }

    fn init(&self) -> Result<(), StoreError> {
        self.write("committing the schema", |tx| {
            let found = {
                let meta = tx.open_table(META).map_err(self.io("opening table meta"))?;
                meta.get("schema_version")
                    .map_err(self.io("reading the schema version"))?
                    .map(|v| u32::from_le_bytes(v.value().try_into().unwrap_or([0; 4])))
            };
            match found {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::TooNew {
                        path: self.path.clone(),
                        found: v,
                    });
                }
                Some(v) => migrate(self, tx, v)?,
                None => {}
            }
            tables::create_all(tx).map_err(self.io("creating the tables"))?;
            tx.open_table(META)
                .map_err(self.io("opening table meta"))?
                .insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())
                .map_err(self.io("writing the schema version"))?;
            Ok(())
        })
    }

    /// One value of a plugin's state.
    pub fn plugin_state_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.read()?;
        let table = tx
            .open_table(PLUGIN_STATE)
            .map_err(self.io("opening table plugin_state"))?;
        let v = table
            .get((plugin, key))
            .map_err(self.io("reading plugin state"))?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    /// Every key of a plugin's state (for `vigil plugins list` and tests).
    pub fn plugin_state_keys(&self, plugin: &str) -> Result<Vec<String>, StoreError> {
        let tx = self.read()?;
        let table = tx
            .open_table(PLUGIN_STATE)
            .map_err(self.io("opening table plugin_state"))?;
        let mut keys = Vec::new();
        for row in table
            .range((plugin, "")..)
            .map_err(self.io("reading plugin state"))?
        {
            let (k, _) = row.map_err(self.io("reading plugin state"))?;
            let (p, key) = k.value();
            if p != plugin {
                break;
            }
            keys.push(key.to_string());
        }
        Ok(keys)
    }

    /// Apply the state changes and series points of one evaluation in one transaction:
    /// all of them become durable together, or none do. Derived series are free
    /// (not snapped to the slot grid): a plugin's timestamp is kept to the ms.
    pub fn commit_evaluation(
        &self,
        state: &[(String, String, StateChange)],
        points: &[SeriesPoint],
    ) -> Result<(), StoreError> {
        if state.is_empty() && points.is_empty() {
            return Ok(());
        }
        let ctx = self.append_context();
        self.write("committing an evaluation", |tx| {
            {
                let mut table = tx
                    .open_table(PLUGIN_STATE)
                    .map_err(self.io("opening table plugin_state"))?;
                for (plugin, key, change) in state {
                    match change {
                        StateChange::Set(v) => {
                            table
                                .insert((plugin.as_str(), key.as_str()), v.as_slice())
                                .map_err(self.io("writing plugin state"))?;
                        }
                        StateChange::Delete => {
                            table
                                .remove((plugin.as_str(), key.as_str()))
                                .map_err(self.io("deleting plugin state"))?;
                        }
                    }
                }
            }
            series::append_points(self, tx, points, &ctx)
        })
    }

    /// Commit a batch of samples and outcome rows in one durable transaction: all of it
    /// or none. The writer calls this once per slot; tools and tests may call it
    /// directly. Series ids must come from [`Store::register_series`].
    pub fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let ctx = self.append_context();
        self.write("committing a batch", |tx| {
            series::append(self, tx, &batch.samples, &ctx)?;
            outcomes::put(self, tx, &batch.outcomes)
        })
    }

    /// Check every page's checksum and the allocator state (slow: reads the whole file).
    /// `Ok(true)`: intact; `Ok(false)`: it was damaged and redb repaired it. Needs the
    /// store to itself: fails with [`StoreError::Reopening`] while others use it.
    pub fn verify_integrity(&self) -> Result<bool, StoreError> {
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        let db = slot
            .as_mut()
            .and_then(Arc::get_mut)
            .ok_or_else(|| StoreError::Reopening {
                path: self.path.clone(),
            })?;
        db.check_integrity().map_err(|source| StoreError::Open {
            path: self.path.clone(),
            hint: CORRUPTED_HINT,
            source,
        })
    }
}

/// Where the file's bytes go (see [`Store::disk_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub file_bytes: u64,
    /// Keys and values as stored.
    pub stored_bytes: u64,
    /// B-tree branches and redb's own tables.
    pub metadata_bytes: u64,
    /// Unused space in pages and free pages.
    pub fragmented_bytes: u64,
}

impl Store {
    /// Where the file's bytes go: for the dashboard and the benchmarks. Takes the write
    /// lock briefly (redb computes this in a write transaction, then aborts it).
    pub fn disk_stats(&self) -> Result<DiskStats, StoreError> {
        let db = self.handle()?;
        let tx = db
            .begin_write()
            .map_err(self.io("opening a write transaction"))?;
        let st = tx.stats().map_err(self.io("reading storage statistics"))?;
        tx.abort()
            .map_err(self.io("ending a statistics transaction"))?;
        let file_bytes = std::fs::metadata(&self.path)
            .map_err(|e| self.io("reading the file size")(redb::StorageError::Io(e)))?
            .len();
        Ok(DiskStats {
            file_bytes,
            stored_bytes: st.stored_bytes(),
            metadata_bytes: st.metadata_bytes(),
            fragmented_bytes: st.fragmented_bytes(),
        })
    }

    /// Give freed pages back to the file system: redb reuses them but never shrinks its
    /// file by itself (retention frees a lot). Returns `false` when nothing was left to
    /// compact. Needs the store to itself: stop the writer first.
    pub fn compact(&self) -> Result<bool, StoreError> {
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        let db = slot
            .as_mut()
            .and_then(Arc::get_mut)
            .ok_or_else(|| StoreError::Reopening {
                path: self.path.clone(),
            })?;
        let mut compacted = false;
        // Each pass moves pages toward the start; repeat until it stops helping.
        while db.compact().map_err(self.io("compacting the file"))? {
            compacted = true;
        }
        Ok(compacted)
    }
}

fn open_db(path: &Path, opener: &Opener) -> Result<Database, StoreError> {
    opener(path).map_err(|source| match source {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            path: path.to_path_buf(),
        },
        source => {
            let hint = match &source {
                redb::DatabaseError::Storage(redb::StorageError::Io(io))
                    if matches!(
                        io.kind(),
                        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                    ) =>
                {
                    ": the disk is full: free space on it (or move [store] path to a larger disk); nothing committed before was lost"
                }
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(_)) => CORRUPTED_HINT,
                _ => "",
            };
            StoreError::Open {
                path: path.to_path_buf(),
                source,
                hint,
            }
        }
    })
}

/// Bring a store of schema `from` up to [`SCHEMA_VERSION`], oldest step first, inside
/// the opening transaction (see `tables.rs`).
fn migrate(store: &Store, tx: &WriteTransaction, from: u32) -> Result<(), StoreError> {
    if from < 2 {
        series::migrate_v1(store, tx)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod faults;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        {
            let s = Store::open(&path).unwrap();
            s.commit_evaluation(
                &[
                    ("p".into(), "a".into(), StateChange::Set(b"1".to_vec())),
                    ("p".into(), "b".into(), StateChange::Set(b"2".to_vec())),
                    ("q".into(), "a".into(), StateChange::Set(b"3".to_vec())),
                ],
                &[],
            )
            .unwrap();
            s.commit_evaluation(&[("p".into(), "b".into(), StateChange::Delete)], &[])
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.plugin_state_get("p", "a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.plugin_state_get("p", "b").unwrap(), None);
        assert_eq!(s.plugin_state_keys("p").unwrap(), vec!["a".to_string()]);
    }

    #[test]
    fn newer_schema_is_refused_with_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        {
            let s = Store::open(&path).unwrap();
            s.write("test", |tx| {
                tx.open_table(META)
                    .unwrap()
                    .insert("schema_version", 99u32.to_le_bytes().as_slice())
                    .unwrap();
                Ok(())
            })
            .unwrap();
        }
        let e = Store::open(&path).unwrap_err().to_string();
        assert!(
            e.contains("newer Vigil") && e.contains("upgrade vigil"),
            "{e}"
        );
    }

    #[test]
    fn a_second_open_of_the_same_file_is_refused_with_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        let _s = Store::open(&path).unwrap();
        let e = Store::open(&path).unwrap_err().to_string();
        assert!(
            e.contains("already open") && e.contains("stop the other vigil"),
            "{e}"
        );
    }

    /// A full disk mid-write: a clear error naming the file and the remedy, no panic,
    /// the writer keeps the batch and commits it once space is back, and nothing
    /// committed before is lost.
    #[test]
    fn disk_full_keeps_the_batch_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.redb");
        let (store, full) = faults::open_with_full_disk(&path).unwrap();
        let store = Arc::new(store);
        let key = SeriesKey::new("x", &[]);
        let id = store
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let w = Writer::spawn(
            store.clone(),
            WriterConfig {
                retry_min: Duration::from_millis(1),
                retry_max: Duration::from_millis(20),
                ..WriterConfig::default()
            },
        )
        .unwrap();
        let batch = |from: i64| {
            Observation::Samples(
                (from..from + 500)
                    .map(|i| Sample {
                        series: id,
                        ts_ms: i,
                        value: i as f64,
                    })
                    .collect(),
            )
        };
        w.blocking_send(batch(0)).unwrap();
        w.flush_blocking().unwrap();
        full.store(true, Ordering::SeqCst);
        w.blocking_send(batch(500)).unwrap();
        let e = w.flush_blocking().unwrap_err();
        let msg = e.to_string();
        assert!(e.is_disk_full(), "{msg}");
        assert!(msg.contains("the disk is full"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("kept"), "{msg}");
        // Still full: retries fail, the batch stays.
        let st = w.status();
        assert_eq!(st.pending, 500);
        assert!(st.last_error.unwrap().contains("the disk is full"));
        assert!(w.flush_blocking().is_err());
        // Space is back: the next flush (or retry) commits it.
        full.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        let receipt = loop {
            match w.flush_blocking() {
                Ok(r) => break r,
                Err(e) => {
                    assert!(Instant::now() < deadline, "never recovered: {e}");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        assert_eq!(receipt.observations, 1_000);
        assert_eq!(w.status().last_error, None);
        let all = store.series_range(&key, 0, i64::MAX, usize::MAX).unwrap();
        assert_eq!(all.len(), 1_000);
        w.shutdown_blocking().unwrap();
        drop(w);
        drop(store);
        let s = Store::open(&path).unwrap();
        assert!(s.verify_integrity().unwrap());
        let all = s.series_range(&key, 0, i64::MAX, usize::MAX).unwrap();
        assert_eq!(all, (0..1_000).map(|i| (i, i as f64)).collect::<Vec<_>>());
    }

    /// While commits fail the writer holds at most `max_pending` observations, then
    /// stops taking more: the channel fills and `try_send` hands observations back
    /// instead of anything being dropped.
    #[test]
    fn a_failing_store_pushes_back_on_senders() {
        let dir = tempfile::tempdir().unwrap();
        let (store, full) = faults::open_with_full_disk(&dir.path().join("bp.redb")).unwrap();
        let store = Arc::new(store);
        let key = SeriesKey::new("x", &[]);
        let id = store
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let w = Writer::spawn(
            store.clone(),
            WriterConfig {
                channel_capacity: 2,
                max_pending: 10,
                retry_min: Duration::from_millis(1),
                retry_max: Duration::from_millis(5),
                ..WriterConfig::default()
            },
        )
        .unwrap();
        let one = |ts: i64| {
            Observation::Samples(vec![Sample {
                series: id,
                ts_ms: ts,
                value: 1.0,
            }])
        };
        full.store(true, Ordering::SeqCst);
        w.blocking_send(one(0)).unwrap();
        assert!(w.flush_blocking().is_err());
        let mut sent = 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        let refused = loop {
            match w.try_send(one(sent)) {
                Ok(()) => sent += 1,
                Err(back) => break back,
            }
            assert!(Instant::now() < deadline, "never pushed back");
        };
        assert!(matches!(refused, Observation::Samples(ref s) if s[0].ts_ms == sent));
        // Held by the writer plus queued: nothing lost.
        assert!(sent <= 10 + 2 + 1, "{sent}");
        full.store(false, Ordering::SeqCst);
        w.blocking_send(refused).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while w.flush_blocking().is_err() || w.status().pending > 0 {
            assert!(Instant::now() < deadline, "never recovered");
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = store.series_range(&key, 0, i64::MAX, usize::MAX).unwrap();
        assert_eq!(got.len() as i64, sent + 1);
        w.shutdown_blocking().unwrap();
    }

    #[test]
    fn schema_1_stores_migrate_their_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.redb");
        {
            // What schema 1 wrote: raw rows, two series.
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut meta = tx.open_table(META).unwrap();
                meta.insert("schema_version", 1u32.to_le_bytes().as_slice())
                    .unwrap();
                let mut keys = tx.open_table(tables::SERIES_KEYS).unwrap();
                keys.insert("a{}", 1).unwrap();
                keys.insert("b{node=\"x\"}", 2).unwrap();
                let mut pts = tx.open_table(tables::legacy::SERIES_POINTS_V1).unwrap();
                for i in 0..1_000i64 {
                    pts.insert((1, i * 10), i as f64).unwrap();
                }
                pts.insert((2, 5), 0.5).unwrap();
                tx.open_table(PLUGIN_STATE)
                    .unwrap()
                    .insert(("p", "k"), b"v".as_slice())
                    .unwrap();
            }
            tx.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        let a = s
            .series_range(&SeriesKey::new("a", &[]), 0, i64::MAX, usize::MAX)
            .unwrap();
        assert_eq!(
            a,
            (0..1_000).map(|i| (i * 10, i as f64)).collect::<Vec<_>>()
        );
        let b = SeriesKey::new("b", &[("node".into(), "x".into())]);
        assert_eq!(s.series_range(&b, 0, 10, 10).unwrap(), vec![(5, 0.5)]);
        assert_eq!(s.plugin_state_get("p", "k").unwrap(), Some(b"v".to_vec()));
        // New series get ids after the migrated ones.
        let c = s
            .register_series(&[(SeriesKey::new("c", &[]), SeriesKind::Free)])
            .unwrap();
        assert_eq!(c, vec![SeriesId(3)]);
        drop(s);
        // Opening again is a no-op migration.
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.series_range(&SeriesKey::new("a", &[]), 0, i64::MAX, 1)
                .unwrap(),
            vec![(9_990, 999.0)]
        );
    }

    #[test]
    fn integrity_check_and_compaction_on_a_store_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        let s = Store::open(&path).unwrap();
        assert!(s.verify_integrity().unwrap());
        let key = SeriesKey::new("x", &[]);
        let id = s
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        for b in 0..50 {
            let batch: Vec<Sample> = (0..2_000)
                .map(|i| Sample {
                    series: id,
                    ts_ms: b * 2_000 + i,
                    value: (i as f64).sqrt(),
                })
                .collect();
            s.append_samples(&batch).unwrap();
        }
        let keep_rollups = RetentionPolicy {
            rollups: None,
            ..RetentionPolicy::default()
        };
        s.run_retention(i64::MAX / 2, &keep_rollups).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        assert!(s.compact().unwrap());
        assert!(std::fs::metadata(&path).unwrap().len() < before);
        assert!(s.verify_integrity().unwrap());
        assert!(
            !s.series_rollups(&key, i64::MIN, i64::MAX)
                .unwrap()
                .is_empty()
        );
    }
}
