//! [`WalOptions`]: how a log is opened and what its commits wait for.

use walden_core::{Durability, RecoveryMode, WriterOptions, DEFAULT_MAX_PAYLOAD_LEN};
pub use walden_core::{DEFAULT_BUFFER_BYTES, DEFAULT_PREALLOCATE_BYTES};

/// The size at which a `Wal` starts a new segment file: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// How a log is opened. `WalOptions::default()` is what most services want.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// What `sync` and `flush_until` wait for; see [`Durability`]. Default: `SyncData`.
    pub durability: Durability,
    /// How recovery treats damage on open. Default: `TolerateTornTail`.
    pub recovery_mode: RecoveryMode,
    /// The largest record payload, for writing and for reading back. Every process that opens
    /// the log needs a limit at least as large as any writer's. Default: 1 MiB.
    pub max_payload_len: u32,
    /// The user-space buffer's size. Default: [`DEFAULT_BUFFER_BYTES`].
    pub buffer_bytes: usize,
    /// Extend the file in steps of this many bytes by writing zeros ahead of the records, so most
    /// syncs overwrite blocks that already exist and need not commit a new file size (measured
    /// in docs/performance.md). Recovery keeps a zero-filled tail in place. 0 turns it off.
    /// Default: [`DEFAULT_PREALLOCATE_BYTES`].
    pub preallocate_bytes: u64,
    /// A `Wal` seals its segment file and starts a new one once the segment holds at least this
    /// many bytes of records. A record is never split: one larger than this gets a segment of
    /// its own. Default: [`DEFAULT_SEGMENT_BYTES`].
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            durability: Durability::SyncData,
            recovery_mode: RecoveryMode::TolerateTornTail,
            max_payload_len: DEFAULT_MAX_PAYLOAD_LEN,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            preallocate_bytes: DEFAULT_PREALLOCATE_BYTES,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

impl WalOptions {
    /// The options of each file's writer (the core's [`WriterOptions`]): everything but the
    /// segment size.
    pub fn writer_options(&self) -> WriterOptions {
        WriterOptions {
            durability: self.durability,
            recovery_mode: self.recovery_mode,
            max_payload_len: self.max_payload_len,
            buffer_bytes: self.buffer_bytes,
            preallocate_bytes: self.preallocate_bytes,
        }
    }
}
