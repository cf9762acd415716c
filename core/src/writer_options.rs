//! [`WriterOptions`]: how a single-file log ([`crate::LogWriter`]) is written and recovered.
//!
//! The same knobs on every backend: the native `WalOptions` adds its segment size on top and
//! converts into these; the browser backend uses them as they are.

use crate::{Durability, RecoveryMode, DEFAULT_MAX_PAYLOAD_LEN};

/// Bytes appended records may occupy in memory before they are drained to storage: 64 KiB.
pub const DEFAULT_BUFFER_BYTES: usize = 64 * 1024;

/// Bytes a log file is extended by, with zeros written ahead of the records, when preallocation
/// is on: 1 MiB.
pub const DEFAULT_PREALLOCATE_BYTES: u64 = 1024 * 1024;

/// How a [`crate::LogWriter`] writes and recovers its file. `WriterOptions::default()` is what
/// most logs want.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// What `flush_until` waits for; see [`Durability`]. Default: `SyncData`.
    pub durability: Durability,
    /// How recovery treats damage on open. Default: `TolerateTornTail`.
    pub recovery_mode: RecoveryMode,
    /// The largest record payload, for writing and for reading back. Every process that opens
    /// the log needs a limit at least as large as any writer's. Default: 1 MiB.
    pub max_payload_len: u32,
    /// The user-space buffer's size. Default: [`DEFAULT_BUFFER_BYTES`].
    pub buffer_bytes: usize,
    /// Extend the file in steps of this many bytes by writing zeros ahead of the records, so most
    /// syncs overwrite blocks that already exist and need not commit a new file size. Recovery
    /// keeps a zero-filled tail in place. 0 turns it off. Default: [`DEFAULT_PREALLOCATE_BYTES`].
    pub preallocate_bytes: u64,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            durability: Durability::SyncData,
            recovery_mode: RecoveryMode::TolerateTornTail,
            max_payload_len: DEFAULT_MAX_PAYLOAD_LEN,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            preallocate_bytes: DEFAULT_PREALLOCATE_BYTES,
        }
    }
}
