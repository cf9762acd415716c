//! Opening an arbitrary file as a log with the native writer (`walden::WalWriter::recover`), the
//! path every `Wal::open` takes for its active segment, over in-memory storage.
//!
//! Input layout: byte 0 picks the options (bit 0: preallocation on; bit 1: a small payload
//! limit; bit 2: `PointInTime` recovery), the rest is the file image.
//!
//! Asserts:
//! - opening never panics, and a refusal is a typed error whose message renders, after which
//!   nothing was written, truncated or synced: a file Walden will not open is left untouched;
//! - an open log accepts a new record (or refuses it with `LsnOverflow` when its LSN space is
//!   exhausted) and a sync; reopening the synced image finds every record
//!   the first open recovered, unchanged and in order, followed by the new one, and the
//!   reopened log is never refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::Cell;
use std::rc::Rc;
use walden::{Error, WalOptions, WalWriter};
use walden_core::{
    Codec, EncodeError, FileHeader, MemStorage, Records, RecoveryMode, Storage, SyncMode,
    HEADER_LEN,
};

/// `MemStorage` that counts every call that could change the file.
#[derive(Debug)]
struct Counted {
    inner: MemStorage,
    changes: Rc<Cell<u32>>,
}

impl Storage for Counted {
    type Error = std::io::Error;
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.inner.size().expect("MemStorage never fails"))
    }
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.changes.set(self.changes.get() + 1);
        self.inner
            .write_at(offset, bytes)
            .map_err(std::io::Error::other)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner
            .read_at(offset, buf)
            .map_err(std::io::Error::other)
    }
    fn sync(&mut self, mode: SyncMode) -> std::io::Result<()> {
        self.changes.set(self.changes.get() + 1);
        self.inner.sync(mode).map_err(std::io::Error::other)
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.changes.set(self.changes.get() + 1);
        self.inner.truncate(len).map_err(std::io::Error::other)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, image)) = data.split_first() else {
        return;
    };
    let options = WalOptions {
        preallocate_bytes: if choice & 1 != 0 { 4096 } else { 0 },
        max_payload_len: if choice & 2 != 0 {
            64
        } else {
            WalOptions::default().max_payload_len
        },
        recovery_mode: if choice & 4 != 0 {
            RecoveryMode::PointInTime
        } else {
            RecoveryMode::TolerateTornTail
        },
        ..WalOptions::default()
    };
    let changes = Rc::new(Cell::new(0));
    let storage = Counted {
        inner: MemStorage::from_durable(image.to_vec()),
        changes: Rc::clone(&changes),
    };
    let mut log = match WalWriter::recover(storage, options) {
        Ok(log) => log,
        Err(err) => {
            let _ = err.to_string();
            assert!(
                matches!(err, Error::Header(_) | Error::Recovery(_)),
                "an in-memory open failed with something other than a typed refusal: {err:?}"
            );
            assert_eq!(changes.get(), 0, "a refused file was modified: {err}");
            return;
        }
    };
    if image.is_empty() {
        // A new log: the header was written and synced.
        assert_eq!(log.recovery().records, 0);
    }
    let recovered = payloads(
        log.storage().inner.durable_image(),
        log.recovery().end_lsn.get(),
    );
    assert_eq!(recovered.len() as u64, log.recovery().records);

    let new_lsn = match log.append(b"after open") {
        Ok(appended) => appended.lsn(),
        // A log whose base LSN sits at the very end of the LSN space is full: a typed refusal.
        Err(err @ Error::Encode(EncodeError::LsnOverflow { .. })) => {
            let _ = err.to_string();
            return;
        }
        Err(err) => panic!("an open log refused a record: {err:?}"),
    };
    assert_eq!(new_lsn, log.recovery().end_lsn);
    log.sync().expect("an open log syncs");
    let synced = log.storage().inner.durable_image().to_vec();

    let reopened = WalWriter::recover(MemStorage::from_durable(synced.clone()), options)
        .unwrap_or_else(|err| panic!("a log this writer synced was refused on reopen: {err}"));
    let again = payloads(&synced, reopened.current_lsn().get());
    assert_eq!(
        again.len(),
        recovered.len() + 1,
        "records lost or gained on reopen"
    );
    assert_eq!(
        &again[..recovered.len()],
        &recovered[..],
        "recovered records changed"
    );
    assert_eq!(again[recovered.len()], b"after open");
});

/// The payloads of the records in a log image, up to the LSN `end`.
fn payloads(image: &[u8], end: u64) -> Vec<Vec<u8>> {
    let header = FileHeader::decode(image).expect("an open log has a valid header");
    let codec = Codec::new(header.salt).with_max_payload_len(walden_core::MAX_PAYLOAD_LEN_LIMIT);
    let body_end = HEADER_LEN + usize::try_from(end - header.base_lsn.get()).expect("in memory");
    Records::new(
        codec,
        header.base_lsn,
        &image[HEADER_LEN..body_end.min(image.len())],
    )
    .map(|record| record.payload.to_vec())
    .collect()
}
