//! `walden`: the Walden write-ahead log on native files.
//!
//! - [`Wal`]: the shared, thread-safe log over a directory of segment files, with group commit
//!   driven by the core's state machine. [`Wal::append`] returns an [`Appended`] receipt;
//!   [`Wal::wait_durable`] on it returns once that record is durable, sharing one fsync among
//!   concurrent committers; [`Wal::commit`] does both. [`Wal::commit_async`] and
//!   [`Wal::wait_durable_async`] return a [`CommitFuture`] for any executor, without ever
//!   blocking it on an fsync. `read_from` and `tail` read durable records back; `checkpoint`
//!   removes whole segments that are no longer needed; [`Wal::recovery`] says what opening found
//!   and cut; [`Wal::shutdown`] closes it through an `Arc`.
//! - [`WalWriter`]: one log file, one writer, over any [`walden_core::Storage`] (a file by
//!   default): append, drain, sync, recovery on open, poisoning after a failed write or sync.
//! - [`backend`]: what a custom segment directory or storage implements ([`backend::SegmentDir`],
//!   [`backend::SharedSync`]) and the file implementations ([`backend::FsDir`],
//!   [`backend::FileStorage`]).
//!
//! What survives what: a record is durable (survives a power loss) once a `wait_durable`,
//! `commit`, `sync` or `shutdown` covered it. Dropping a `Wal` or `WalWriter` without `close`
//! hands every appended record to the OS, like a `BufWriter`: it then survives the process
//! ending or crashing, but not a power loss. A failed write or sync poisons the log: no later
//! call reports durability until it is reopened.
//!
//! ```
//! # fn main() -> Result<(), walden::Error> {
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let wal = walden::Wal::open(dir.path().join("orders"))?; // a directory of segments
//! let first = wal.commit(b"order 1: 3 apples")?; // returns once durable
//! let second = wal.append(b"order 2: 1 pear")?; // not durable yet...
//! wal.wait_durable(second)?; // ...now it is
//! let orders: Vec<_> = wal.read_from(first.lsn())?.collect::<Result<_, _>>()?;
//! assert_eq!(orders[1].payload, b"order 2: 1 pear");
//! assert!(wal.recovery().is_clean());
//! wal.checkpoint(first.lsn())?; // nothing below `first` is needed any more
//! wal.close()?;
//!
//! // One file, one writer, no threads:
//! let mut log = walden::WalWriter::open(dir.path().join("single.wal"))?;
//! let record = log.append(b"order 3: 2 plums")?;
//! log.wait_durable(record)?; // drain, fdatasync, publish
//! assert!(record.is_durable_at(log.durable_lsn()));
//! log.close()?;
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

mod async_commit;
mod error;
mod file_storage;
mod meta_file;
mod options;
mod positional;
mod reader;
mod recovery;
mod segment_dir;
mod segments;
mod shared_sync;
mod stats;
mod tail;
mod wal;
mod writer;

pub use async_commit::{CommitFuture, FLUSHER_THREAD_NAME};
pub use error::{Error, ErrorKind};
pub use options::{
    WalOptions, DEFAULT_BUFFER_BYTES, DEFAULT_PREALLOCATE_BYTES, DEFAULT_SEGMENT_BYTES,
};
pub use reader::{LogRecord, WalIter};
pub use recovery::{Cut, CutReason, SegmentRecovery, WalRecovery};
pub use segments::SEALER_THREAD_NAME;
pub use stats::{StatsSnapshot, RECORDS_PER_FSYNC_BUCKETS};
pub use tail::Tail;
pub use wal::{Wal, WalReader, OPEN_SEGMENTS};
/// The core this crate builds on, re-exported so users need only one dependency.
pub use walden_core;
pub use walden_core::{
    Appended, Durability, InputError, Lsn, MetaError, PoisonedError, RecoveryMode, SyncMode,
    TailKind, Truncation, MAX_METADATA_BYTES,
};
pub use writer::{WalWriter, SYNC_MARK_STEP_BYTES};

/// What a custom place for a log implements, and the implementations for real files.
///
/// A [`Wal`] keeps its segments in a [`SegmentDir`](backend::SegmentDir)
/// ([`FsDir`](backend::FsDir) for a directory on disk); each segment is a
/// [`walden_core::Storage`] whose sync a group-commit leader can run outside the writer lock
/// ([`SharedSync`](backend::SharedSync)). Tests use these to put a log on a simulated or faulty disk.
pub mod backend {
    pub use crate::file_storage::{sync_dir, FileStorage};
    pub use crate::positional::{read_at, write_all_at};
    pub use crate::segment_dir::{
        parse_segment_file_name, segment_file_name, DirLock, FsDir, SegmentDir, LOCK_FILE_NAME,
        META_FILE_NAME, SEGMENT_SUFFIX,
    };
    pub use crate::shared_sync::SharedSync;
}

/// This crate's README, its examples compiled and run as doctests so they cannot rot (the
/// repository's README is doctested by the unpublished `walden-tests`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
