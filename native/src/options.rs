//! [`WalOptions`]: how a log is opened and what its commits wait for.

use walden_core::{Durability, RecoveryMode, DEFAULT_MAX_PAYLOAD_LEN};

/// Bytes appended records may occupy in memory before they are drained to the OS: 64 KiB.
pub const DEFAULT_BUFFER_BYTES: usize = 64 * 1024;

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
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            durability: Durability::SyncData,
            recovery_mode: RecoveryMode::TolerateTornTail,
            max_payload_len: DEFAULT_MAX_PAYLOAD_LEN,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
        }
    }
}
