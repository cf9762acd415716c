//! `walden`: the Walden write-ahead log on native files.
//!
//! - [`Wal`]: the shared, thread-safe log, with group commit driven by the core's state machine:
//!   `commit` returns once durable, sharing one fsync among concurrent committers;
//!   `commit_async` returns a [`CommitFuture`] that resolves once durable, for any executor,
//!   without ever blocking it on an fsync (a per-log flusher thread syncs; see `async_commit.rs`).
//! - [`WalWriter`]: one log file, one writer, over any [`walden_core::Storage`] (a file by
//!   default): append, drain, sync, recovery on open, poisoning after a failed write or sync.
//! - [`FileStorage`]: the core's `Storage` contract over a file, and [`sync_dir`].
//!
//! The shared, thread-safe `Wal` with group commit and segments builds on these (see
//! ARCHITECTURE.md for the plan and the ownership of each step).
//!
//! ```
//! # fn main() -> Result<(), walden::Error> {
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let path = dir.path().join("orders.wal");
//! let mut log = walden::WalWriter::open(&path)?;
//! let lsn = log.append(b"order 1: 3 apples")?;
//! log.flush_until(log.current_lsn())?; // drain, fdatasync, publish
//! assert!(log.durable_lsn() > lsn);
//! log.close()?;
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

mod async_commit;
mod error;
mod file_storage;
mod options;
mod shared_sync;
mod stats;
mod wal;
mod writer;

pub use async_commit::{CommitFuture, FLUSHER_THREAD_NAME};
pub use error::Error;
pub use file_storage::{sync_dir, FileStorage};
pub use options::{WalOptions, DEFAULT_BUFFER_BYTES};
pub use shared_sync::SharedSync;
pub use stats::{StatsSnapshot, RECORDS_PER_FSYNC_BUCKETS};
pub use wal::Wal;
/// The core this crate builds on, re-exported so users need only one dependency.
pub use walden_core;
pub use writer::WalWriter;
