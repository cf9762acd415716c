//! Taking a log's writer lock, so `repair` never changes a log that is open elsewhere.
//!
//! The lock is the one `walden` writers take, taken the same way, so each excludes the other:
//! - a directory (`Wal`): `FsDir::lock` itself, the writer's own code: an exclusive,
//!   non-blocking `flock` on `DIR/LOCK` (created if missing, with a directory sync);
//! - a single file (`WalWriter`): an exclusive, non-blocking `flock` on the file itself. (A
//!   segment of a `Wal` directory is never repaired on its own: `repair.rs` refuses it.)
//!
//! Invariant: the returned [`LogLock`] holds the lock until it is dropped; `flock` locks
//! belong to the open file description, so a writer in this same process is excluded too, and
//! the kernel releases them if `walden` dies.

use crate::error::CliError;
use crate::open::{Log, LogKind};
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;
use walden::backend::{DirLock, FsDir, SegmentDir};

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) enum LogLock {
    /// A `Wal` directory's `LOCK`, taken by the writer's own code (`FsDir::lock`).
    Dir {
        /// Held for its `Drop`, which releases the lock.
        _held: DirLock,
    },
    /// A single log file, locked as `WalWriter::open` locks it.
    File {
        /// Held for its `Drop`, which closes the file and releases the lock.
        _held: File,
    },
}

/// Takes the writer lock of `log` without waiting: [`CliError::Locked`] when it is held.
pub(crate) fn lock(log: &Log) -> Result<LogLock, CliError> {
    match log.kind {
        LogKind::Dir => {
            let path = log.path.join(walden::backend::LOCK_FILE_NAME);
            let lock = FsDir::create_all(&log.path).and_then(|dir| dir.lock());
            match lock {
                Ok(lock) => Ok(LogLock::Dir { _held: lock }),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    Err(CliError::Locked { lock: path })
                }
                Err(source) => Err(CliError::Io {
                    op: "locking",
                    path,
                    source,
                }),
            }
        }
        LogKind::File => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&log.path)
                .map_err(CliError::io("opening", &log.path))?;
            try_lock(&file, &log.path)?;
            Ok(LogLock::File { _held: file })
        }
    }
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
