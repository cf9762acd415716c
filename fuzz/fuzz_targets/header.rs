//! Header fields at any value, behind a valid checksum: a base LSN, a sync mark, flags and
//! reserved bytes picked by the fuzzer (weighted towards both ends of the LSN space), then a body
//! of frames encoded at the LSNs that base gives them, optionally continued as if LSNs wrapped past
//! `u64::MAX`, then zeros and raw bytes. The header's CRC is recomputed, so every input reaches
//! the body, which mutating a whole image (the `recovery` target) rarely does at these values.
//!
//! Each image goes through `scan_file` in all three `RecoveryMode`s and `LogWriter::recover` on
//! `MemStorage` in all three, with and without preallocation. Asserts:
//! - nothing panics, and every error message renders;
//! - the header decodes to the fields written (a mark below the base reads as the base; the mark
//!   is present exactly when flag bit 0 is set) and no header error is reported;
//! - `BaseLsnTooHigh` is reported, in every mode and with the right numbers, exactly when the
//!   body has a non-zero byte at or past `u64::MAX - base` bytes in;
//! - on success: `base <= end_lsn`; `valid_file_len() <= image length`; the frames encoded below
//!   `Lsn::MAX` are all in the valid prefix, which re-reads as `records` records; a tail starts
//!   at `end_lsn`, and a next valid frame after damage lies after it, at an LSN that did not wrap;
//! - `SyncedDataLost` names a mark at or past the base, above where the records end, and never
//!   in `PointInTime`; `TornTail` only in `AbsoluteConsistency`;
//! - `recover` refuses exactly when the scan does, with the same typed error and without a write,
//!   truncation or sync; an opened log agrees with the scan (end, durable at the base, the mark),
//!   takes a record (or refuses it with `LsnOverflow` when fewer than its bytes are left before
//!   `Lsn::MAX`) and a sync, and its synced image reopens with that record after the others.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::cell::Cell;
use std::rc::Rc;
use walden_core::{
    scan_file, Codec, EncodeError, FileHeader, LogWriter, Lsn, MemError, MemStorage, Records,
    Recovery, RecoveryError, RecoveryMode, Storage, SyncMode, TailKind, WriterError, WriterOptions,
    HEADER_LEN,
};

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateTornTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];
const BASE_LSN_OFFSET: usize = 24;
const SYNC_MARK_OFFSET: usize = 32;
const FLAGS_OFFSET: usize = 40;
const RESERVED_OFFSET: usize = 44;
const CRC_OFFSET: usize = 60;
/// The record each opened log is asked to take: an 8-byte frame header plus this.
const AFTER_OPEN: &[u8] = b"after open";

/// A `u64` header field, weighted towards the ends of its range.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field {
    Raw(u64),
    BelowMax(u16),
    Small(u16),
}

impl Field {
    fn value(self) -> u64 {
        match self {
            Field::Raw(raw) => raw,
            Field::BelowMax(below) => u64::MAX - u64::from(below),
            Field::Small(small) => u64::from(small),
        }
    }
}

/// The sync mark field: anywhere, or near the base (on either side of it).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Mark {
    Field(Field),
    FromBase(i16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    salt: u64,
    base: Field,
    mark: Mark,
    flags: u32,
    reserved: [u8; 16],
    preallocate: bool,
    /// Keep encoding past `Lsn::MAX` at the wrapped LSNs (frames no writer can produce).
    wrap: bool,
    payloads: Vec<Vec<u8>>,
    zeros: u16,
    raw: Vec<u8>,
}

/// `MemStorage` that counts every call that could change the file.
#[derive(Debug)]
struct Counted {
    inner: MemStorage,
    changes: Rc<Cell<u32>>,
}

impl Storage for Counted {
    type Error = MemError;
    fn size(&self) -> Result<u64, MemError> {
        self.inner.size()
    }
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), MemError> {
        self.changes.set(self.changes.get() + 1);
        self.inner.write_at(offset, bytes)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        self.inner.read_at(offset, buf)
    }
    fn sync(&mut self, mode: SyncMode) -> Result<(), MemError> {
        self.changes.set(self.changes.get() + 1);
        self.inner.sync(mode)
    }
    fn truncate(&mut self, len: u64) -> Result<(), MemError> {
        self.changes.set(self.changes.get() + 1);
        self.inner.truncate(len)
    }
}

/// What the input's image holds, as the target built it.
struct Built {
    image: Vec<u8>,
    header: FileHeader,
    /// Frames encoded at their real LSNs (below `Lsn::MAX`), and where they end.
    fitting: u64,
    fitting_end: Lsn,
}

fuzz_target!(|input: Input| {
    let built = build(&input);
    let scans = MODES.map(|mode| scan_file(&built.image, Codec::new, mode));
    for (mode, scan) in MODES.into_iter().zip(&scans) {
        check_scan(&built, mode, scan);
    }
    check_modes_agree(&built, &scans);
    for (mode, scan) in MODES.into_iter().zip(&scans) {
        check_open(&built, mode, input.preallocate, scan);
    }
});

fn build(input: &Input) -> Built {
    let base = Lsn::new(input.base.value());
    let mark = match input.mark {
        Mark::Field(field) => field.value(),
        Mark::FromBase(delta) => base.get().wrapping_add_signed(i64::from(delta)),
    };
    // A v1 file: one header slot, frames right after it.
    let mut image = FileHeader {
        sync_mark: None,
        ..FileHeader::v1(input.salt, base)
    }
    .encode()
    .to_vec();
    image[SYNC_MARK_OFFSET..FLAGS_OFFSET].copy_from_slice(&mark.to_le_bytes());
    image[FLAGS_OFFSET..RESERVED_OFFSET].copy_from_slice(&input.flags.to_le_bytes());
    image[RESERVED_OFFSET..CRC_OFFSET].copy_from_slice(&input.reserved);
    let crc = crc32fast::hash(&image[..CRC_OFFSET]);
    image[CRC_OFFSET..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        image[BASE_LSN_OFFSET..SYNC_MARK_OFFSET],
        base.get().to_le_bytes()
    );
    let header = FileHeader {
        sync_mark: (input.flags & 1 == 1).then(|| Lsn::new(mark).max(base)),
        ..FileHeader::v1(input.salt, base)
    };

    let codec = Codec::new(input.salt);
    let mut offset = 0u64;
    let mut fitting = 0;
    let mut fitting_end = base;
    let mut wrapped = false;
    for payload in &input.payloads {
        let lsn = Lsn::new(base.get().wrapping_add(offset));
        match codec.encode_append(lsn, payload, &mut image) {
            Ok(len) => {
                offset += len as u64;
                if !wrapped {
                    fitting += 1;
                    fitting_end = Lsn::new(lsn.get() + len as u64);
                }
            }
            Err(EncodeError::LsnOverflow { .. }) if input.wrap => {
                // Filler up to the wrap, so the next frame starts at LSN 0 (mod 2^64).
                let filler = u64::MAX - lsn.get() + 1;
                image.resize(image.len() + filler as usize, 0xA5);
                offset += filler;
                wrapped = true;
            }
            Err(EncodeError::LsnOverflow { .. }) => break,
            // Over the default limit: not a frame this log can hold, so not one to encode.
            Err(EncodeError::PayloadTooLarge { .. }) => continue,
            Err(err) => panic!("a fuzzed payload failed to encode: {err}"),
        }
    }
    image.resize(image.len() + usize::from(input.zeros), 0);
    image.extend_from_slice(&input.raw);
    Built {
        image,
        header,
        fitting,
        fitting_end,
    }
}

type Scan = Result<(FileHeader, Recovery), RecoveryError>;

/// Whether the body holds a non-zero byte where no record can be, and if so the body length up to
/// the last non-zero byte.
fn data_past_room(built: &Built) -> Option<u64> {
    let body = &built.image[HEADER_LEN..];
    let room = u64::MAX - built.header.base_lsn.get();
    let last = body.iter().rposition(|&b| b != 0)? as u64;
    (last >= room).then_some(last + 1)
}

fn check_scan(built: &Built, mode: RecoveryMode, scan: &Scan) {
    let base = built.header.base_lsn;
    assert_eq!(FileHeader::decode(&built.image), Ok(built.header));
    match scan {
        Ok((header, recovery)) => {
            assert_eq!(header, &built.header);
            assert_eq!(recovery.base_lsn, base);
            assert!(recovery.end_lsn >= base, "{mode:?}: end below the base");
            let valid_file_len = recovery.valid_file_len();
            assert!(valid_file_len <= built.image.len() as u64);
            assert!(
                recovery.records >= built.fitting && recovery.end_lsn >= built.fitting_end,
                "{mode:?}: frames encoded at their own LSNs were lost"
            );
            let prefix = &built.image[HEADER_LEN..valid_file_len as usize];
            let mut records = Records::new(Codec::new(header.salt), base, prefix);
            assert_eq!(records.by_ref().count() as u64, recovery.records);
            assert_eq!(records.damage(), None);
            assert_eq!(records.lsn(), recovery.end_lsn);
            if let Some(tail) = recovery.tail {
                assert_eq!(tail.at, recovery.end_lsn);
                assert_eq!(valid_file_len + tail.bytes, built.image.len() as u64);
                match tail.kind {
                    TailKind::Discarded { next_valid, .. }
                    | TailKind::Unsynced { next_valid, .. } => {
                        assert!(next_valid > tail.at, "{mode:?}: next valid frame wrapped");
                        assert!(next_valid.checked_distance_from(base).is_some());
                    }
                    TailKind::Zeroed | TailKind::Torn(_) => {}
                }
            }
            if mode != RecoveryMode::PointInTime {
                assert!(header.sync_mark.is_none_or(|mark| mark <= recovery.end_lsn));
            }
        }
        Err(err) => {
            let _ = err.to_string();
            match *err {
                RecoveryError::BaseLsnTooHigh {
                    base_lsn,
                    room,
                    data_bytes,
                } => {
                    assert_eq!(base_lsn, base);
                    assert_eq!(room, u64::MAX - base.get());
                    assert_eq!(Some(data_bytes), data_past_room(built));
                }
                RecoveryError::SyncedDataLost { at, sync_mark, .. } => {
                    assert_ne!(mode, RecoveryMode::PointInTime);
                    assert_eq!(Some(sync_mark), built.header.sync_mark);
                    assert!(base <= at && at < sync_mark);
                }
                RecoveryError::TornTail { at, .. } => {
                    assert_eq!(mode, RecoveryMode::AbsoluteConsistency);
                    assert!(at >= built.fitting_end);
                }
                RecoveryError::CorruptionMidLog { at, next_valid, .. } => {
                    assert_ne!(mode, RecoveryMode::PointInTime);
                    assert!(next_valid > at && at >= built.fitting_end);
                }
                RecoveryError::RecordOverLimit { at, .. } => assert!(at >= built.fitting_end),
                other => panic!("{mode:?}: a valid header scanned to {other:?}"),
            }
        }
    }
}

fn check_modes_agree(built: &Built, scans: &[Scan; 3]) {
    let too_high = scans
        .iter()
        .filter(|scan| matches!(scan, Err(RecoveryError::BaseLsnTooHigh { .. })))
        .count();
    let expected = if data_past_room(built).is_some() {
        3
    } else {
        0
    };
    assert_eq!(too_high, expected, "BaseLsnTooHigh: {scans:?}");
    // Every mode finds the same valid prefix when it accepts the log.
    let ends: Vec<Lsn> = scans
        .iter()
        .filter_map(|scan| scan.as_ref().ok().map(|(_, r)| r.end_lsn))
        .collect();
    assert!(ends.windows(2).all(|pair| pair[0] == pair[1]), "{scans:?}");
}

fn check_open(built: &Built, mode: RecoveryMode, preallocate: bool, scan: &Scan) {
    let options = WriterOptions {
        recovery_mode: mode,
        preallocate_bytes: if preallocate { 4096 } else { 0 },
        ..WriterOptions::default()
    };
    let changes = Rc::new(Cell::new(0));
    let storage = Counted {
        inner: MemStorage::from_durable(built.image.clone()),
        changes: Rc::clone(&changes),
    };
    let mut log = match (LogWriter::recover(storage, options, 0), scan) {
        (Ok(log), Ok((_, recovery))) => {
            assert_eq!(log.recovery(), recovery);
            log
        }
        (Err(err), Err(scanned)) => {
            let _ = err.to_string();
            assert!(
                matches!(&err, WriterError::Recovery(refused) if refused == scanned),
                "{mode:?}: open refused with {err:?}, the scan with {scanned:?}"
            );
            assert_eq!(changes.get(), 0, "{mode:?}: a refused file was modified");
            return;
        }
        (opened, scanned) => panic!(
            "{mode:?}: open and scan disagree: {:?} / {scanned:?}",
            opened.map(|log| log.current_lsn())
        ),
    };
    let base = built.header.base_lsn;
    let end = log.recovery().end_lsn;
    assert_eq!((log.base_lsn(), log.current_lsn()), (base, end));
    assert_eq!(log.durable_lsn(), base);
    assert_eq!(log.sync_mark(), built.header.sync_mark);
    let room = u64::MAX - end.get();
    let frame = (AFTER_OPEN.len() + 8) as u64;
    match log.append(AFTER_OPEN) {
        Ok(appended) => {
            assert!(room >= frame);
            assert_eq!(appended.lsn(), end);
        }
        Err(WriterError::Encode(EncodeError::LsnOverflow { lsn })) => {
            assert!(room < frame && lsn == end);
            return;
        }
        Err(err) => panic!("{mode:?}: an open log refused a record: {err}"),
    }
    log.sync().expect("an open log syncs");
    let synced = log.storage().inner.durable_image().to_vec();
    let reopened = LogWriter::recover(MemStorage::from_durable(synced), options, 0)
        .unwrap_or_else(|err| panic!("{mode:?}: a log this writer synced was refused: {err}"));
    assert_eq!(reopened.current_lsn(), Lsn::new(end.get() + frame));
    assert_eq!(reopened.recovery().records, log.recovery().records + 1);
}
