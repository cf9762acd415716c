//! `walden-raft`: openraft's log storage on a Walden log.
//!
//! [`LogStore`] implements openraft 0.9's `RaftLogStorage` (the `storage-v2` traits) for any
//! `RaftTypeConfig`, on a [`walden::Wal`] in a directory of its own: entries are records
//! (serde JSON), made durable by Walden's group commit before openraft is told they are
//! flushed; the vote and the purge point live in the log's metadata slot; conflict truncation
//! is Walden's crash-safe suffix truncation; purging removes whole segments. The state machine
//! is the application's (openraft's `RaftStateMachine`).
//!
//! | concept | module |
//! |---|---|
//! | the store, its durability and crash rules ([`LogStore`]) | `store` |
//! | replication readers ([`LogReader`]) | `reader` |
//! | the flush callback, called from the thread that made the entries durable | `flush` |
//! | log index to LSN | `index` |
//! | records: entries and committed hints | `record` |
//! | the metadata slot: vote, purge point | `persisted` |
//! | errors ([`Error`]) | `error` |

mod error;
mod flush;
mod index;
mod persisted;
mod reader;
mod record;
mod store;

pub use error::Error;
pub use reader::LogReader;
pub use store::LogStore;
/// The Walden crate this store is built on, re-exported for its options and errors.
pub use walden;

/// This crate's README, its examples compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
