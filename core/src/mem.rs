//! An in-memory [`Storage`] that keeps two images: the live one (what reads see) and the durable
//! one (what survives a crash). Tests write, sync, then [`MemStorage::crash`] to drop everything
//! that was not synced.
//!
//! Invariants:
//! - The durable image changes only in a successful `sync`, and then equals the live image.
//! - A sync that fails (injected with [`MemStorage::fail_next_sync`]) behaves like Linux after an
//!   fsync error: the pending writes are *not* made durable, yet they no longer count as pending,
//!   so a later successful sync does not persist them either.
//! - A write that fails (injected with [`MemStorage::fail_next_write`]) changes nothing.

use crate::storage::{Storage, SyncMode};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

/// The in-memory storage. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Bytes of `live` written since the last sync, as one covering range.
    dirty: Option<Range<usize>>,
    /// The smallest size the live image had since the last sync, if it shrank.
    shrunk_to: Option<usize>,
    fail_next_sync: bool,
    fail_next_write: bool,
    syncs: u64,
}

/// Errors from [`MemStorage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemError {
    /// A sync failed because a test asked it to.
    InjectedSyncFailure,
    /// A write failed because a test asked it to.
    InjectedWriteFailure,
    /// An offset or length does not fit in this machine's memory.
    TooLarge {
        /// The offset or length asked for.
        requested: u64,
    },
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemError::InjectedSyncFailure => write!(f, "injected sync failure"),
            MemError::InjectedWriteFailure => write!(f, "injected write failure"),
            MemError::TooLarge { requested } => {
                write!(f, "in-memory storage cannot address {requested} bytes")
            }
        }
    }
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Storage whose live and durable images both hold `image`, as if it had been synced.
    pub fn from_durable(image: Vec<u8>) -> MemStorage {
        MemStorage {
            live: image.clone(),
            durable: image,
            ..MemStorage::default()
        }
    }

    /// What reads see now.
    pub fn live_image(&self) -> &[u8] {
        &self.live
    }

    /// What would survive a crash now.
    pub fn durable_image(&self) -> &[u8] {
        &self.durable
    }

    /// Successful syncs so far.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Makes the next sync fail, Linux-style (see the module documentation).
    pub fn fail_next_sync(&mut self) {
        self.fail_next_sync = true;
    }

    /// Makes the next write fail, changing nothing (as a write refused for a full disk).
    pub fn fail_next_write(&mut self) {
        self.fail_next_write = true;
    }

    /// Simulates a crash: everything not synced is lost; the live image becomes the durable one.
    pub fn crash(&mut self) {
        self.live.clone_from(&self.durable);
        self.dirty = None;
        self.shrunk_to = None;
    }

    fn mark_dirty(&mut self, range: Range<usize>) {
        self.dirty = Some(match self.dirty.take() {
            Some(old) => old.start.min(range.start)..old.end.max(range.end),
            None => range,
        });
    }
}

fn to_index(value: u64) -> Result<usize, MemError> {
    usize::try_from(value).map_err(|_| MemError::TooLarge { requested: value })
}

impl Storage for MemStorage {
    type Error = MemError;

    fn size(&self) -> Result<u64, MemError> {
        Ok(self.live.len() as u64)
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), MemError> {
        if core::mem::take(&mut self.fail_next_write) {
            return Err(MemError::InjectedWriteFailure);
        }
        let start = to_index(offset)?;
        let end = start.checked_add(bytes.len()).ok_or(MemError::TooLarge {
            requested: offset.saturating_add(bytes.len() as u64),
        })?;
        if self.live.len() < end {
            self.live.resize(end, 0);
        }
        self.live[start..end].copy_from_slice(bytes);
        self.mark_dirty(start..end);
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        let available = self.live.get(start..).unwrap_or(&[]);
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        Ok(n)
    }

    fn sync(&mut self, _mode: SyncMode) -> Result<(), MemError> {
        let dirty = self.dirty.take();
        // Sizes persist either way: a failed fsync loses data pages, and what is left is zeros.
        if let Some(shrunk_to) = self.shrunk_to.take() {
            self.durable.truncate(shrunk_to);
        }
        self.durable.resize(self.live.len(), 0);
        if self.fail_next_sync {
            self.fail_next_sync = false;
            return Err(MemError::InjectedSyncFailure);
        }
        if let Some(range) = dirty {
            let end = range.end.min(self.live.len());
            if range.start < end {
                self.durable[range.start..end].copy_from_slice(&self.live[range.start..end]);
            }
        }
        self.syncs += 1;
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> Result<(), MemError> {
        let len = to_index(len)?;
        let old = self.live.len();
        self.live.resize(len, 0);
        if len > old {
            self.mark_dirty(old..len);
        } else {
            self.shrunk_to = Some(self.shrunk_to.map_or(len, |shrunk| shrunk.min(len)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_drops_unsynced_writes_and_keeps_synced_ones() {
        let mut storage = MemStorage::new();
        storage.append(b"durable").unwrap();
        storage.sync(SyncMode::Data).unwrap();
        storage.append(b" pending").unwrap();
        storage.crash();
        assert_eq!(storage.live_image(), b"durable");
    }

    #[test]
    fn after_a_failed_sync_the_lost_writes_stay_lost_even_after_a_good_sync() {
        let mut storage = MemStorage::new();
        storage.append(b"aaaa").unwrap();
        storage.fail_next_sync();
        assert_eq!(
            storage.sync(SyncMode::Data),
            Err(MemError::InjectedSyncFailure)
        );
        storage.sync(SyncMode::Data).unwrap();
        storage.crash();
        assert_eq!(storage.live_image(), &[0, 0, 0, 0]);
    }

    #[test]
    fn truncation_persists_only_when_synced() {
        let mut storage = MemStorage::from_durable(b"abcdef".to_vec());
        storage.truncate(3).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(storage.read_at(0, &mut buf).unwrap(), 3);
        storage.crash();
        assert_eq!(storage.live_image(), b"abcdef");
        storage.truncate(3).unwrap();
        storage.sync(SyncMode::All).unwrap();
        storage.crash();
        assert_eq!(storage.live_image(), b"abc");
    }

    #[test]
    fn shrinking_then_growing_before_a_sync_does_not_resurrect_old_bytes() {
        let mut storage = MemStorage::from_durable(b"abcdef".to_vec());
        storage.truncate(3).unwrap();
        storage.write_at(5, b"X").unwrap();
        storage.sync(SyncMode::Data).unwrap();
        storage.crash();
        assert_eq!(storage.live_image(), b"abc\0\0X");
    }
}
