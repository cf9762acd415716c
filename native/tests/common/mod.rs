//! Shared by the `Wal` tests: a segment directory whose files inject faults and record who
//! synced them, and an independent reader of a log directory.

#![allow(dead_code, unreachable_pub)] // Each test binary uses its own part; `pub` is for them.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use walden::{FileStorage, FsDir, SegmentDir, SharedSync, Wal, WalOptions};
use walden_core::{Codec, FileHeader, Lsn, Records, Storage, SyncMode, HEADER_LEN};

/// What the fault-injecting files saw and what they should do (shared with their sync handles).
#[derive(Debug, Default)]
pub struct Faults {
    pub syncs: AtomicU64,
    pub fail_next_sync: AtomicBool,
    /// Each shared sync sleeps this long first: a slow disk, so work can overlap it.
    pub sync_delay_ms: AtomicU64,
    /// Shared syncs in flight right now.
    pub syncing: AtomicU64,
    /// The names of the threads that ran shared syncs.
    pub sync_threads: Mutex<BTreeSet<String>>,
}

impl Faults {
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

/// A segment file with fault injection on its shared (group-commit) syncs.
#[derive(Debug)]
pub struct FaultyFile {
    inner: FileStorage,
    faults: Arc<Faults>,
}

impl Storage for FaultyFile {
    type Error = std::io::Error;
    fn size(&self) -> std::io::Result<u64> {
        self.inner.size()
    }
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_at(offset, bytes)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn sync(&mut self, mode: SyncMode) -> std::io::Result<()> {
        self.inner.sync(mode)
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.truncate(len)
    }
}

impl SharedSync for FaultyFile {
    type Handle = (Arc<File>, Arc<Faults>);
    fn sync_handle(&self) -> Self::Handle {
        (self.inner.shared_file(), Arc::clone(&self.faults))
    }
    fn sync_shared((file, faults): &Self::Handle, mode: SyncMode) -> std::io::Result<()> {
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        faults
            .sync_threads
            .lock()
            .expect("the sync-thread record")
            .insert(name);
        faults.syncing.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(
            faults.sync_delay_ms.load(Ordering::Relaxed),
        ));
        faults.syncs.fetch_add(1, Ordering::Relaxed);
        let result = if faults.fail_next_sync.swap(false, Ordering::AcqRel) {
            Err(std::io::Error::other("injected EIO"))
        } else {
            FileStorage::sync_shared(file, mode)
        };
        faults.syncing.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// A directory whose segments are `FaultyFile`s sharing one set of faults.
#[derive(Clone, Debug)]
pub struct FaultyDir {
    inner: FsDir,
    faults: Arc<Faults>,
}

impl SegmentDir for FaultyDir {
    type Storage = FaultyFile;
    type Lock = walden::DirLock;
    fn lock(&self) -> std::io::Result<walden::DirLock> {
        self.inner.lock()
    }
    fn list(&self) -> std::io::Result<Vec<Lsn>> {
        self.inner.list()
    }
    fn open(&self, base: Lsn) -> std::io::Result<FaultyFile> {
        Ok(FaultyFile {
            inner: self.inner.open(base)?,
            faults: Arc::clone(&self.faults),
        })
    }
    fn create(&self, base: Lsn, header: &[u8]) -> std::io::Result<FaultyFile> {
        Ok(FaultyFile {
            inner: self.inner.create(base, header)?,
            faults: Arc::clone(&self.faults),
        })
    }
    fn remove(&self, base: Lsn) -> std::io::Result<()> {
        self.inner.remove(base)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Opens the log in directory `path` over fault-injecting files.
pub fn faulty_wal(path: &Path, options: WalOptions) -> (Arc<Wal<FaultyDir>>, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let dir = FaultyDir {
        inner: FsDir::create_all(path).expect("create the log directory"),
        faults: Arc::clone(&faults),
    };
    let wal = Wal::open_in(dir, options).expect("open the log");
    (Arc::new(wal), faults)
}

/// Every record in the log directory at `path`, by LSN, read segment by segment with the core's
/// scanner (independently of the `Wal`'s own reader).
pub fn records(path: &Path) -> Vec<(Lsn, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(path)
        .expect("list the log")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|file| file.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let image = std::fs::read(file).expect("read a segment");
        let header = FileHeader::decode(&image).expect("a valid header");
        out.extend(
            Records::new(
                Codec::new(header.salt),
                header.base_lsn,
                &image[HEADER_LEN..],
            )
            .map(|record| (record.lsn, record.payload.to_vec())),
        );
    }
    out
}
