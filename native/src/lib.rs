//! `walden`: the Walden write-ahead log on native files.
//!
//! - [`Wal`]: the shared, thread-safe log over a directory of segment files, with group commit
//!   driven by the core's state machine: `commit` returns once durable, sharing one fsync among
//!   concurrent committers; `commit_async` returns a [`CommitFuture`] that resolves once
//!   durable, for any executor, without ever blocking it on an fsync. `read_from` and `tail` read durable records back; `checkpoint`
//!   removes whole segments that are no longer needed.
//! - [`SegmentedWriter`]: the segments under a `Wal` (rotation, sealing, checkpoint), over any
//!   [`SegmentDir`] ([`FsDir`] for a real directory).
//! - [`WalWriter`]: one log file, one writer, over any [`walden_core::Storage`] (a file by
//!   default): append, drain, sync, recovery on open, poisoning after a failed write or sync.
//! - [`FileStorage`]: the core's `Storage` contract over a file, and [`sync_dir`].
//!
//! ```
//! # fn main() -> Result<(), walden::Error> {
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let wal = walden::Wal::open(&dir.path().join("orders"))?; // a directory of segments
//! let first = wal.commit(b"order 1: 3 apples")?; // returns once durable
//! wal.commit(b"order 2: 1 pear")?;
//! let orders: Vec<_> = wal.read_from(first)?.collect::<Result<_, _>>()?;
//! assert_eq!(orders[1].payload, b"order 2: 1 pear");
//! wal.checkpoint(first)?; // nothing below `first` is needed any more
//! wal.close()?;
//!
//! // One file, one writer, no threads:
//! let mut log = walden::WalWriter::open(&dir.path().join("single.wal"))?;
//! let lsn = log.append(b"order 3: 2 plums")?;
//! log.flush_until(log.current_lsn())?; // drain, fdatasync, publish
//! assert!(log.durable_lsn() > lsn);
//! log.close()?;
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

mod append_queue;
mod async_commit;
mod error;
mod file_storage;
mod options;
mod reader;
mod segment_dir;
mod segments;
mod shared_sync;
mod stats;
mod tail;
mod wal;
mod writer;

// The `Wal`'s lock-free append path; public only so that `benches/append_queue.rs` can
// measure it on its own. Not part of the supported API.
#[doc(hidden)]
pub use append_queue::{
    AppendQueue, Blocked, DrainError, Drainer, QueueError, QueueState, Reservation, Reserved,
    LSN_LIMIT, RESERVATION_BYTES_MAX,
};
pub use async_commit::{CommitFuture, FLUSHER_THREAD_NAME};
pub use error::Error;
pub use file_storage::{sync_dir, FileStorage};
pub use options::{
    WalOptions, DEFAULT_BUFFER_BYTES, DEFAULT_PREALLOCATE_BYTES, DEFAULT_SEGMENT_BYTES,
};
pub use reader::{LogRecord, WalIter};
pub use segment_dir::{
    parse_segment_file_name, segment_file_name, DirLock, FsDir, SegmentDir, LOCK_FILE_NAME,
    SEGMENT_SUFFIX,
};
pub use segments::SegmentedWriter;
pub use shared_sync::SharedSync;
pub use stats::{StatsSnapshot, RECORDS_PER_FSYNC_BUCKETS};
pub use tail::Tail;
pub use wal::Wal;
/// The core this crate builds on, re-exported so users need only one dependency.
pub use walden_core;
pub use writer::{WalWriter, SYNC_MARK_STEP_BYTES};
