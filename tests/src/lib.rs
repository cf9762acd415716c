//! Walden's cross-crate test suite. The tests live in `tests/tests/`; this library holds the
//! helpers they share: a minimal log appender over any [`Storage`], written only with the core's
//! public API so the tests exercise exactly what backends use.

pub mod crash;
pub mod killed_child;
pub mod raft_crash;
mod rng;
pub mod sim;
pub use rng::Rng;

use walden_core::{scan_file, Codec, FileHeader, Lsn, Recovery, RecoveryMode, Storage, SyncMode};

/// Reads a whole storage into memory.
pub fn read_all<S: Storage>(storage: &S) -> Result<Vec<u8>, S::Error> {
    let len = storage.size()?;
    let mut image = vec![0u8; usize::try_from(len).expect("test logs fit in memory")];
    let read = storage.read_at(0, &mut image)?;
    image.truncate(read);
    Ok(image)
}

/// Appends records to a log on `storage` the way a backend does: header first, frames encoded
/// by the core, the end LSN tracked by the caller.
pub struct Appender<S: Storage> {
    /// The storage written to.
    pub storage: S,
    codec: Codec,
    /// Where the next record goes.
    pub next_lsn: Lsn,
    frame: Vec<u8>,
}

impl<S: Storage> Appender<S> {
    /// Writes a fresh header to empty storage and syncs it.
    pub fn create(mut storage: S, salt: u64, base_lsn: Lsn) -> Result<Appender<S>, S::Error> {
        storage.write_at(0, &FileHeader::new(salt, base_lsn).encode_initial())?;
        storage.sync(SyncMode::Data)?;
        Ok(Appender {
            storage,
            codec: Codec::new(salt),
            next_lsn: base_lsn,
            frame: Vec::new(),
        })
    }

    /// Recovers an existing log: scans it, truncates any torn tail *before* anything new is
    /// appended (and syncs the truncation), and continues at the end of the valid prefix.
    pub fn recover(mut storage: S) -> Result<(Appender<S>, Recovery), String> {
        let image = read_all(&storage).map_err(|e| e.to_string())?;
        let (header, recovery) = scan_file(&image, Codec::new, RecoveryMode::TolerateTornTail)
            .map_err(|e| e.to_string())?;
        if recovery.tail.is_some() {
            storage
                .truncate(recovery.valid_file_len())
                .and_then(|()| storage.sync(SyncMode::Data))
                .map_err(|e| e.to_string())?;
        }
        let appender = Appender {
            storage,
            codec: Codec::new(header.salt),
            next_lsn: recovery.end_lsn,
            frame: Vec::new(),
        };
        Ok((appender, recovery))
    }

    /// Appends one record (not synced) and returns its LSN.
    pub fn append(&mut self, payload: &[u8]) -> Result<Lsn, S::Error> {
        let lsn = self.next_lsn;
        self.frame.clear();
        let len = self
            .codec
            .encode_append(lsn, payload, &mut self.frame)
            .expect("test payloads fit the default limit");
        self.storage.append(&self.frame)?;
        self.next_lsn = Lsn::new(lsn.get() + len as u64);
        Ok(lsn)
    }
}

/// The payloads of every record in a log image, scanned tolerantly.
pub fn payloads(image: &[u8]) -> Vec<Vec<u8>> {
    let header = FileHeader::read(image).expect("a valid header");
    walden_core::Records::new(
        Codec::for_header(&header),
        header.base_lsn,
        &image[header.body_offset() as usize..],
    )
    .map(|record| record.payload.to_vec())
    .collect()
}

/// The repository's README (every crate's examples), compiled and run as doctests so they cannot
/// rot. It lives here, in the unpublished crate, because a published crate's package holds only
/// its own directory.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
