//! `walden-core`: everything about the Walden write-ahead log that is pure logic.
//!
//! No I/O, no clock, no threads: `#![no_std]` with `alloc`, and `std` only behind the (default)
//! `std` feature, which adds `std::error::Error` impls. The native and browser backends add I/O on
//! top of exactly this code, so the format, recovery decisions, watermarks and group commit
//! behave the same everywhere.
//!
//! | concept | module |
//! |---|---|
//! | byte positions ([`Lsn`]) | `lsn` |
//! | what an append returns and a durability wait takes ([`Appended`]) | `appended` |
//! | file header ([`FileHeader`]) | `header` |
//! | record frames ([`Codec`], [`Decoded`]) | `frame` |
//! | recovery ([`scan_file`], [`scan_storage`], [`Records`], [`RecoveryMode`]) | `scan`, `resync`, `stream_scan` |
//! | `durable <= written <= current` ([`Watermarks`]) | `watermark` |
//! | who syncs and who waits ([`GroupCommit`]) | `group_commit` |
//! | the one owner of durability and poisoning ([`Pipeline`], [`SyncTicket`], [`Gather`]) | `pipeline` |
//! | where bytes live ([`Storage`], [`MemStorage`]) | `storage`, `mem` |
//! | the directory's metadata and truncations ([`Meta`]) | `meta` |
//! | one log file, one writer ([`LogWriter`], [`WriterOptions`], [`WriterError`]) | `log_writer`, `writer_options`, `writer_error` |
//! | a call wrong for the log's state ([`InputError`]), a poisoned log ([`PoisonedError`]) | `input_error`, `poisoned_error` |
//!
//! The byte layout is specified in `docs/format.md`; the durability contract in
//! `docs/durability.md`.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod appended;
mod checksum;
mod error;
mod frame;
mod group_commit;
mod header;
mod input_error;
mod log_writer;
mod lsn;
mod marker;
mod mem;
mod meta;
mod pipeline;
mod poisoned_error;
mod resync;
mod scan;
mod storage;
mod stream_scan;
mod watermark;
mod writer_error;
mod writer_options;

pub use appended::Appended;
pub use error::Error;
pub use frame::{
    frame_len, Codec, Decoded, EncodeError, InvalidFrame, Record, DEFAULT_MAX_PAYLOAD_LEN,
    FRAME_HEADER_LEN, MAX_PAYLOAD_LEN_LIMIT,
};
pub use group_commit::{
    Completion, Decision, Event, EventSink, Failure, GroupCommit, GroupCommitError, Lead, NoEvents,
    Poisoned, WaitStatus, WaiterId,
};
pub use header::{
    body_offset, FileHeader, HeaderError, BODY_OFFSET, FORMAT_V1, FORMAT_VERSION, HEADER_LEN,
    HEADER_SLOTS, MAGIC,
};
pub use input_error::InputError;
pub use log_writer::{LogWriter, WriterResult, RECOVERY_WINDOW_BYTES, SYNC_MARK_STEP_BYTES};
pub use lsn::Lsn;
pub use marker::{Marker, CONTROL_CRC_XOR, KIND_SYNC_MARKER, MARKER_FRAME_LEN, MARKER_PAYLOAD_LEN};
pub use mem::{MemError, MemStorage};
pub use meta::{
    Meta, MetaError, Truncation, MAX_METADATA_BYTES, MAX_TRUNCATIONS, META_MAGIC, META_SLOT_BYTES,
    META_VERSION,
};
pub use pipeline::{
    Cause, CauseKind, Failed, Gather, Pipeline, Poison, SyncTicket, GATHER_ROUNDS_MAX,
};
pub use poisoned_error::PoisonedError;
pub use scan::{
    scan_body, scan_file, Damage, Records, Recovery, RecoveryError, RecoveryMode, Tail, TailKind,
};
pub use storage::{Durability, Storage, SyncMode};
pub use stream_scan::{scan_storage, SCAN_READ_OP};
pub use watermark::{WatermarkError, Watermarks};
pub use writer_error::WriterError;
pub use writer_options::{WriterOptions, DEFAULT_BUFFER_BYTES, DEFAULT_PREALLOCATE_BYTES};

/// This crate's README, its examples compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
