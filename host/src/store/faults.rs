//! Test-only storage that fails like a full disk, to check that the store says so,
//! keeps what was committed, and recovers once space is back. Runs everywhere (no
//! root, no small filesystem); `tests/it/store.rs` repeats the check on a real, tiny
//! tmpfs where mounting one is allowed.

use super::{Opener, Store, StoreError};
use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::fs::OpenOptions;
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// `ENOSPC` on Linux: what a write to a full disk returns.
const ENOSPC: i32 = 28;

/// A file backend whose writes and growth fail with `ENOSPC` while `full` is set.
#[derive(Debug)]
pub(crate) struct FullDisk {
    inner: FileBackend,
    full: Arc<AtomicBool>,
}

impl FullDisk {
    fn check(&self) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            Err(io::Error::from_raw_os_error(ENOSPC))
        } else {
            Ok(())
        }
    }
}

impl StorageBackend for FullDisk {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > self.inner.len()? {
            self.check()?;
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write(offset, data)
    }
    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }
    fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(s, e)
    }
    fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(s, e)
    }
    fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(s, e)
    }
    fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(s, e)
    }
    fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(s, e)
    }
    fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(s, e)
    }
}

/// Open a store whose disk "fills up" while the returned flag is set.
pub(crate) fn open_with_full_disk(path: &Path) -> Result<(Store, Arc<AtomicBool>), StoreError> {
    let full = Arc::new(AtomicBool::new(false));
    let flag = full.clone();
    let opener: Opener = Box::new(move |p| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)?;
        redb::Builder::new().create_with_backend(FullDisk {
            inner: FileBackend::new(file)?,
            full: flag.clone(),
        })
    });
    Ok((Store::open_with(path, opener)?, full))
}
