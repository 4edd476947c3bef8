//! The embedded store: one redb file holding everything Vigil keeps.
//!
//! Readers never block the writer (redb's MVCC); a write is durable when its
//! transaction commits, so a crash mid-write leaves the last committed state intact.

mod codec;
mod series;
pub mod tables;

pub use series::{SeriesKey, SeriesPoint};

use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};
use tables::{META, PLUGIN_STATE, SCHEMA_VERSION, SERIES_KEYS, SERIES_POINTS};

/// What can go wrong with the store, with the remedy where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open store {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
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
}

/// The open store. Cheap to share behind an `Arc`.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// One plugin's pending state change, applied at commit.
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange {
    Set(Vec<u8>),
    Delete,
}

impl Store {
    /// Open or create the store at `path`, creating its folder and tables.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                what: "creating its folder",
                source: Box::new(redb::StorageError::Io(e).into()),
                hint: "",
            })?;
        }
        let db = Database::create(path).map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.to_path_buf(),
            },
            source => StoreError::Open {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let store = Store {
            db,
            path: path.to_path_buf(),
        };
        store.init()?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn io<E: Into<redb::Error>>(
        &self,
        what: &'static str,
    ) -> impl FnOnce(E) -> StoreError + '_ {
        move |e| {
            let source: redb::Error = e.into();
            let hint = match &source {
                redb::Error::Io(io) if io.raw_os_error() == Some(28) => {
                    ": the disk is full: free space on it; nothing committed before was lost"
                }
                _ => "",
            };
            StoreError::Io {
                path: self.path.clone(),
                what,
                source: Box::new(source),
                hint,
            }
        }
    }

    fn init(&self) -> Result<(), StoreError> {
        let tx = self
            .db
            .begin_write()
            .map_err(self.io("opening a write transaction"))?;
        {
            let mut meta = tx.open_table(META).map_err(self.io("opening table meta"))?;
            let found = meta
                .get("schema_version")
                .map_err(self.io("reading the schema version"))?
                .map(|v| u32::from_le_bytes(v.value().try_into().unwrap_or([0; 4])));
            match found {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::TooNew {
                        path: self.path.clone(),
                        found: v,
                    });
                }
                // Migrations from older schemas go here, oldest first.
                _ => {
                    meta.insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())
                        .map_err(self.io("writing the schema version"))?;
                }
            }
            tx.open_table(PLUGIN_STATE)
                .map_err(self.io("creating table plugin_state"))?;
            tx.open_table(SERIES_KEYS)
                .map_err(self.io("creating table series_keys"))?;
            tx.open_table(SERIES_POINTS)
                .map_err(self.io("creating table series_points"))?;
        }
        tx.commit().map_err(self.io("committing the schema"))?;
        Ok(())
    }

    /// One value of a plugin's state.
    pub fn plugin_state_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self
            .db
            .begin_read()
            .map_err(self.io("opening a read transaction"))?;
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
        let tx = self
            .db
            .begin_read()
            .map_err(self.io("opening a read transaction"))?;
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
    /// all of them become durable together, or none do.
    pub fn commit_evaluation(
        &self,
        state: &[(String, String, StateChange)],
        points: &[SeriesPoint],
    ) -> Result<(), StoreError> {
        if state.is_empty() && points.is_empty() {
            return Ok(());
        }
        let tx = self
            .db
            .begin_write()
            .map_err(self.io("opening a write transaction"))?;
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
            series::append(self, &tx, points)?;
        }
        tx.commit().map_err(self.io("committing an evaluation"))?;
        Ok(())
    }

    pub(crate) fn db(&self) -> &Database {
        &self.db
    }
}

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
            let tx = s.db.begin_write().unwrap();
            tx.open_table(META)
                .unwrap()
                .insert("schema_version", 99u32.to_le_bytes().as_slice())
                .unwrap();
            tx.commit().unwrap();
        }
        let e = Store::open(&path).unwrap_err().to_string();
        assert!(
            e.contains("newer Vigil") && e.contains("upgrade vigil"),
            "{e}"
        );
    }
}
