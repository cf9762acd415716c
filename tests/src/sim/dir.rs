//! [`SimDir`] and [`SimFile`]: the real log's [`SegmentDir`] and segment [`Storage`] over the
//! simulated disk (`disk.rs`), so `walden::Wal::open_in(SimDir, ..)` runs the production code
//! unchanged on a disk that can lose power.
//!
//! Invariants:
//! - Every call goes straight to the shared disk under its one lock; nothing is cached here, so
//!   the disk alone decides what is durable, and a frozen disk refuses everything.
//! - One writer at a time, as `FsDir`'s `flock` gives: [`SimLock`] holds the disk's lock flag
//!   and clears it when dropped.
//! - The sync handle ([`SharedSync`]) is the disk and the file's inode: a group-commit leader's
//!   sync outside the writer lock syncs exactly that file, as `fdatasync` on a shared
//!   descriptor does.

use super::disk::{Disk, Inode};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use walden::backend::{SegmentDir, SharedSync};
use walden_core::{Lsn, Storage, SyncMode};

/// The simulated disk, shared by a directory, its files and their sync handles.
pub(crate) type SharedDisk = Arc<Mutex<Disk>>;

pub(crate) fn lock(disk: &SharedDisk) -> MutexGuard<'_, Disk> {
    // A panic while holding the lock is a test failure already being reported; the state is
    // still worth reading.
    disk.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A log directory on the simulated disk.
#[derive(Clone)]
pub struct SimDir {
    disk: SharedDisk,
}

impl SimDir {
    pub(crate) fn new(disk: SharedDisk) -> SimDir {
        SimDir { disk }
    }
}

impl fmt::Debug for SimDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimDir")
    }
}

impl SegmentDir for SimDir {
    type Storage = SimFile;
    type Lock = SimLock;

    fn lock(&self) -> io::Result<SimLock> {
        lock(&self.disk).lock()?;
        Ok(SimLock {
            disk: Arc::clone(&self.disk),
        })
    }

    fn list(&self) -> io::Result<Vec<Lsn>> {
        lock(&self.disk).list()
    }

    fn open(&self, base: Lsn) -> io::Result<SimFile> {
        let inode = lock(&self.disk).open(base)?;
        Ok(SimFile {
            disk: Arc::clone(&self.disk),
            inode,
        })
    }

    fn create(&self, base: Lsn, header: &[u8]) -> io::Result<SimFile> {
        let inode = lock(&self.disk).create(base, header)?;
        Ok(SimFile {
            disk: Arc::clone(&self.disk),
            inode,
        })
    }

    fn remove(&self, base: Lsn) -> io::Result<()> {
        lock(&self.disk).remove(base)
    }

    fn describe(&self) -> String {
        String::from("<simulated disk>")
    }
}

/// The one-writer lock of a [`SimDir`], released when dropped.
pub struct SimLock {
    disk: SharedDisk,
}

impl fmt::Debug for SimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimLock")
    }
}

impl Drop for SimLock {
    fn drop(&mut self) {
        lock(&self.disk).unlock();
    }
}

/// A segment file on the simulated disk.
pub struct SimFile {
    disk: SharedDisk,
    inode: Inode,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimFile(inode {})", self.inode)
    }
}

impl Storage for SimFile {
    type Error = io::Error;

    fn size(&self) -> io::Result<u64> {
        lock(&self.disk).size(self.inode)
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        lock(&self.disk).write_at(self.inode, offset, bytes)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        lock(&self.disk).read_at(self.inode, offset, buf)
    }

    fn sync(&mut self, _mode: SyncMode) -> io::Result<()> {
        // `fdatasync` persists the size too, which is all the metadata a log needs: both modes
        // make every pending operation durable.
        lock(&self.disk).sync(self.inode)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        lock(&self.disk).truncate(self.inode, len)
    }
}

/// The handle a group-commit leader syncs a [`SimFile`] through.
pub struct SimSyncHandle {
    disk: SharedDisk,
    inode: Inode,
}

impl SharedSync for SimFile {
    type Handle = SimSyncHandle;

    fn sync_handle(&self) -> SimSyncHandle {
        SimSyncHandle {
            disk: Arc::clone(&self.disk),
            inode: self.inode,
        }
    }

    fn sync_shared(handle: &SimSyncHandle, _mode: SyncMode) -> io::Result<()> {
        lock(&handle.disk).sync(handle.inode)
    }
}
