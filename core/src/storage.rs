//! The storage a log lives on, as six methods, and the durability modes.
//!
//! Backends: the native crate implements [`Storage`] over a file, the wasm crate over an OPFS
//! `FileSystemSyncAccessHandle`, and [`crate::MemStorage`] in memory for tests. Each method's
//! contract is in its doc comment; a backend that cannot honour one says so in its own docs.

use core::fmt;

/// How far [`Storage::sync`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// File data, and the metadata needed to read it back (its size): `fdatasync`.
    Data,
    /// File data and all metadata: `fsync`.
    All,
}

/// What a commit waits for, named by what survives a power loss once it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Commits return once the bytes are handed to the OS. Survives a process crash; a power
    /// loss or kernel crash can lose every commit since the last sync.
    Buffered,
    /// Commits return after `sync_data` (`fdatasync`; OPFS `flush()`). Survives a power loss,
    /// given media that honour flushes. The default.
    #[default]
    SyncData,
    /// Commits return after `sync_all` (`fsync`). As `SyncData`, and also persists metadata such
    /// as modification times; needed only where a filesystem does not persist a file's size
    /// with `fdatasync`.
    SyncAll,
}

impl Durability {
    /// The sync a commit needs, or `None` for [`Durability::Buffered`].
    pub const fn sync_mode(self) -> Option<SyncMode> {
        match self {
            Durability::Buffered => None,
            Durability::SyncData => Some(SyncMode::Data),
            Durability::SyncAll => Some(SyncMode::All),
        }
    }
}

/// Byte-addressed storage for one log file.
///
/// Writes and truncations are *not* durable until a successful [`Storage::sync`]; a crash may
/// keep any subset of them. After a failed sync the backend may have dropped pending writes while
/// reporting later syncs as successful (Linux does), so callers must stop trusting the storage
/// (the log is poisoned) until it is reopened and recovered.
pub trait Storage {
    /// The backend's error type.
    type Error: fmt::Debug + fmt::Display;

    /// The current size in bytes, including writes not yet synced.
    fn size(&self) -> Result<u64, Self::Error>;

    /// Writes all of `bytes` at `offset`, growing the storage (zero-filling any gap) as needed.
    /// On error, any prefix of `bytes` may have been written.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Writes `bytes` at the end and returns the offset they start at.
    fn append(&mut self, bytes: &[u8]) -> Result<u64, Self::Error> {
        let offset = self.size()?;
        self.write_at(offset, bytes)?;
        Ok(offset)
    }

    /// Reads up to `buf.len()` bytes at `offset` and returns how many were read: fewer only when
    /// the storage ends first (zero at or past the end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Self::Error>;

    /// Makes every write and truncation so far durable, as far as `mode` says.
    fn sync(&mut self, mode: SyncMode) -> Result<(), Self::Error>;

    /// Sets the size to `len`: shrinking discards the bytes past it, growing zero-fills.
    fn truncate(&mut self, len: u64) -> Result<(), Self::Error>;
}
