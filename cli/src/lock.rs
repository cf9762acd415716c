//! Taking a log's writer lock, so `repair` never changes a log that is open elsewhere.
//!
//! The lock is the one `walden` writers take, taken the same way, so each excludes the other:
//! - a directory (`Wal`): an exclusive, non-blocking `flock` on `DIR/LOCK` (created if missing,
//!   with a directory sync, as `FsDir::lock` does);
//! - a single file (`WalWriter`): an exclusive, non-blocking `flock` on the file itself. (A
//!   segment of a `Wal` directory is never repaired on its own: `repair.rs` refuses it.)
//!
//! Invariant: the returned [`LogLock`] holds the lock until it is dropped; `flock` locks
//! belong to the open file description, so a writer in this same process is excluded too, and
//! the kernel releases them if `walden` dies.

use crate::error::CliError;
use crate::open::{Log, LogKind};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct LogLock {
    _file: File,
}

/// Takes the writer lock of `log` without waiting: [`CliError::Locked`] when it is held.
pub(crate) fn lock(log: &Log) -> Result<LogLock, CliError> {
    let (file, path) = match log.kind {
        LogKind::Dir => {
            let path = log.path.join(walden::LOCK_FILE_NAME);
            let existed = path.exists();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(CliError::io("opening the lock file", &path))?;
            if !existed {
                walden::sync_dir(&log.path).map_err(CliError::io("syncing", &log.path))?;
            }
            (file, path)
        }
        LogKind::File => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&log.path)
                .map_err(CliError::io("opening", &log.path))?;
            (file, log.path.clone())
        }
    };
    try_lock(&file, &path)?;
    Ok(LogLock { _file: file })
}

fn try_lock(file: &File, path: &Path) -> Result<(), CliError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(CliError::Locked {
            lock: path.to_path_buf(),
        }),
        Err(TryLockError::Error(source)) => Err(CliError::Io {
            op: "locking",
            path: path.to_path_buf(),
            source,
        }),
    }
}
