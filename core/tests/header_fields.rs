//! Header fields at the edges of the LSN space: headers with a valid checksum whose base LSN or
//! sync mark sits at or near `u64::MAX`, or whose sync mark lies below the base LSN, opened through
//! `scan_file` and `LogWriter::recover` in every `RecoveryMode`. Each outcome is a typed error
//! (with the file left untouched) or correct behaviour: never a panic, never a wrapped LSN.
//!
//! Run in debug (overflow checks on) so that an overflowing add is a test failure.

use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use walden_core::{
    scan_file, Codec, EncodeError, FileHeader, LogWriter, Lsn, MemError, MemStorage, Record,
    Records, Recovery, RecoveryError, RecoveryMode, Storage, SyncMode, TailKind, WriterError,
    WriterOptions, HEADER_LEN,
};

const SALT: u64 = 0x5eed_f1e1;
const MAX: u64 = u64::MAX;
const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateTornTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];

/// A v1 header with these raw fields and a valid checksum, then `body`.
fn image(base: u64, sync_mark: Option<u64>, body: &[u8]) -> Vec<u8> {
    let header = FileHeader {
        sync_mark: sync_mark.map(Lsn::new),
        ..FileHeader::v1(SALT, Lsn::new(base))
    };
    let mut image = header.encode().to_vec();
    image.extend_from_slice(body);
    image
}

/// Frames for `payloads` from `base` on, as many as fit below `Lsn::MAX`, and where they end.
fn frames(base: u64, payloads: &[&[u8]]) -> (Vec<u8>, u64, u64) {
    let codec = Codec::new(SALT);
    let mut body = Vec::new();
    let mut lsn = Lsn::new(base);
    let mut count = 0;
    for payload in payloads {
        let Ok(len) = codec.encode_append(lsn, payload, &mut body) else {
            break;
        };
        lsn = lsn
            .checked_add(len as u64)
            .expect("the codec checked the end");
        count += 1;
    }
    (body, lsn.get(), count)
}

fn options(mode: RecoveryMode) -> WriterOptions {
    WriterOptions {
        recovery_mode: mode,
        preallocate_bytes: 0,
        ..WriterOptions::default()
    }
}

/// `MemStorage` that counts every call that could change the file, so a refusal (which drops
/// the storage) can still be shown to have left it untouched.
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

type Opened = Result<LogWriter<Counted>, (WriterError<MemError>, u32)>;

/// Opens `image` with `LogWriter::recover`; on a refusal, also says how many changing calls the
/// storage saw.
fn open(image: &[u8], mode: RecoveryMode) -> Opened {
    let changes = Rc::new(Cell::new(0));
    let storage = Counted {
        inner: MemStorage::from_durable(image.to_vec()),
        changes: Rc::clone(&changes),
    };
    LogWriter::recover(storage, options(mode), 0).map_err(|err| (err, changes.get()))
}

// Prevents a sync mark far past the base LSN from overflowing the rewrite offset when the log
// is opened for salvage (`HEADER_LEN + (mark - base)` panicked in debug, wrapped in release).
#[test]
fn a_sync_mark_at_the_end_of_the_lsn_space_is_lost_data_or_salvaged() {
    let (body, end, count) = frames(0, &[b"one", b"two", b"three"]);
    for mark in [MAX, MAX - 1, MAX - 63, MAX - 64, MAX - 65] {
        let image = image(0, Some(mark), &body);
        for mode in MODES {
            let scanned = scan_file(&image, Codec::new, mode);
            let opened = open(&image, mode);
            if mode == RecoveryMode::PointInTime {
                let (header, recovery) = scanned.expect("salvage keeps the valid prefix");
                assert_eq!(header.sync_mark, Some(Lsn::new(mark)));
                assert_eq!((recovery.end_lsn, recovery.records), (Lsn::new(end), count));
                assert_eq!(recovery.tail, None);
                let mut log = opened.unwrap_or_else(|(err, _)| panic!("mark {mark}: {err}"));
                assert_eq!(log.current_lsn(), Lsn::new(end));
                // The salvage keeps every record and resets the mark it could not honour, so the
                // next default open does not refuse the salvaged log as lost data.
                let live = log.storage().inner.live_image().to_vec();
                assert_eq!(&live[HEADER_LEN..], &image[HEADER_LEN..]);
                let reset = FileHeader::read(&live).expect("the reset header reads");
                assert_eq!(reset.sync_mark, Some(Lsn::ZERO));
                let (_, reopened) = scan_file(&live, Codec::new, RecoveryMode::TolerateTornTail)
                    .expect("a salvaged log opens in the default mode");
                assert_eq!(reopened.records, count);
                let lsn = log.append(b"after salvage").unwrap().lsn();
                assert_eq!(lsn, Lsn::new(end));
                log.sync().unwrap();
            } else {
                let expected = RecoveryError::SyncedDataLost {
                    at: Lsn::new(end),
                    sync_mark: Lsn::new(mark),
                    damage: None,
                };
                assert_eq!(scanned.unwrap_err(), expected, "mark {mark}, {mode:?}");
                let Err((WriterError::Recovery(err), changes)) = opened else {
                    panic!("mark {mark}, {mode:?}: opened or failed otherwise");
                };
                assert_eq!((err, changes), (expected, 0));
            }
        }
    }
}

// Prevents a base LSN at the very end of the LSN space from panicking or wrapping on open: a log
// there opens, holds exactly the frames that fit, and refuses more with a typed error.
#[test]
fn a_base_lsn_at_the_end_of_the_lsn_space_opens_as_a_full_log() {
    for base in [MAX, MAX - 1, MAX - 7, MAX - 8, MAX - 9, MAX - 100] {
        // One empty frame (8 bytes) fits from MAX - 8 on.
        let (body, end, count) = frames(base, &[b"", b"x", b"yz"]);
        for mark in [None, Some(base), Some(0), Some(end), Some(MAX)] {
            let image = image(base, mark, &body);
            for mode in MODES {
                let scanned = scan_file(&image, Codec::new, mode);
                if mode != RecoveryMode::PointInTime && mark.is_some_and(|mark| mark > end) {
                    // A mark past the records: synced data is missing, whatever the base.
                    assert!(
                        matches!(scanned, Err(RecoveryError::SyncedDataLost { at, .. }) if at == Lsn::new(end)),
                        "base {base}, {mode:?}: {scanned:?}"
                    );
                    assert!(matches!(
                        open(&image, mode),
                        Err((WriterError::Recovery(_), 0))
                    ));
                    continue;
                }
                let (header, recovery) =
                    scanned.unwrap_or_else(|err| panic!("base {base}, {mode:?}: {err}"));
                assert_eq!(header.base_lsn, Lsn::new(base));
                assert!(header.sync_mark.is_none_or(|m| m >= header.base_lsn));
                assert_eq!((recovery.end_lsn, recovery.records), (Lsn::new(end), count));
                assert_eq!(recovery.valid_file_len(), image.len() as u64);

                let mut log = open(&image, mode)
                    .unwrap_or_else(|(err, _)| panic!("base {base}, {mode:?}: {err}"));
                assert_eq!(log.current_lsn(), Lsn::new(end));
                let live = log.storage().inner.live_image();
                if mark.is_some_and(|mark| mark > end) {
                    // Salvaged: the mark it could not honour went back to the base.
                    assert_eq!(&live[HEADER_LEN..], &image[HEADER_LEN..]);
                    let reset = FileHeader::read(live).expect("reads");
                    assert_eq!(reset.sync_mark, Some(Lsn::new(base)));
                } else {
                    assert_eq!(live, &image[..]);
                }
                let room = MAX - end;
                match log.append(&[7u8; 4]) {
                    Ok(lsn) => {
                        assert!(room >= 12, "base {base}: appended with {room} bytes left");
                        assert_eq!(lsn.lsn(), Lsn::new(end));
                        log.sync().unwrap();
                    }
                    Err(WriterError::Encode(EncodeError::LsnOverflow { lsn })) => {
                        assert!(room < 12, "base {base}: refused with {room} bytes left");
                        assert_eq!(lsn, Lsn::new(end));
                    }
                    Err(err) => panic!("base {base}, {mode:?}: {err}"),
                }
            }
        }
    }
}

// Prevents bytes past the end of the LSN space from being cut away as a torn tail: no writer can
// put a record there, so a header whose base LSN leaves no room for the file's data is refused
// in every mode, and the file is left untouched.
#[test]
fn data_past_the_end_of_the_lsn_space_is_refused_and_left_untouched() {
    let at_zero = frames(0, &[b"a record written at LSN 0"]).0;
    let cases: [(u64, Vec<u8>); 5] = [
        (MAX, vec![0xAB]),
        (MAX, at_zero.clone()),
        (MAX - 7, [&[0xDE, 0xAD, 0xBE, 0xEF][..], &at_zero].concat()),
        (
            MAX - 20,
            [frames(MAX - 20, &[b"ok"]).0, vec![0; 20], vec![1]].concat(),
        ),
        (MAX - 4096, [vec![0; 4096], vec![0xFF; 64]].concat()),
    ];
    for (base, body) in cases {
        let last_data = body.iter().rposition(|&b| b != 0).expect("data") as u64 + 1;
        for mark in [None, Some(base), Some(MAX)] {
            let image = image(base, mark, &body);
            let expected = RecoveryError::BaseLsnTooHigh {
                base_lsn: Lsn::new(base),
                room: MAX - base,
                data_bytes: last_data,
            };
            for mode in MODES {
                let err = scan_file(&image, Codec::new, mode).unwrap_err();
                assert_eq!(err, expected, "base {base}, {mode:?}");
                assert!(err.to_string().contains("nothing was changed"), "{err}");
                match open(&image, mode) {
                    Err((WriterError::Recovery(err), changes)) => {
                        assert_eq!((err, changes), (expected, 0), "base {base}, {mode:?}")
                    }
                    Err((err, _)) => panic!("base {base}, {mode:?}: {err}"),
                    Ok(_) => panic!("base {base}, {mode:?}: opened"),
                }
            }
        }
    }
}

// Prevents zero fill past the end of the LSN space (preallocation ahead of a log whose base LSN is
// near the top) from being refused: zeros are unwritten space, wherever they lie.
#[test]
fn zero_fill_past_the_end_of_the_lsn_space_is_unwritten_space() {
    for base in [MAX, MAX - 1, MAX - 30] {
        let (records, end, count) = frames(base, &[b"fits"]);
        let image = image(base, Some(base), &[records, vec![0; 4096]].concat());
        for mode in MODES {
            let (_, recovery) = scan_file(&image, Codec::new, mode)
                .unwrap_or_else(|err| panic!("base {base}, {mode:?}: {err}"));
            assert_eq!((recovery.end_lsn, recovery.records), (Lsn::new(end), count));
            assert!(matches!(
                recovery.tail.map(|tail| tail.kind),
                Some(TailKind::Zeroed)
            ));
            let log = open(&image, mode).unwrap_or_else(|(err, _)| panic!("{mode:?}: {err}"));
            assert_eq!(log.current_lsn(), Lsn::new(end));
        }
    }
}

// Prevents a sync mark below the base LSN from underflowing `mark - base`: such a mark says only
// that nothing is known durable, so it reads as the base LSN, in every mode.
#[test]
fn a_sync_mark_below_the_base_reads_as_the_base_in_every_mode() {
    for base in [1, 4096, MAX - 100, MAX] {
        let (body, end, count) = frames(base, &[b"one", b"two"]);
        for mark in [0, base - 1] {
            let below = image(base, Some(mark), &body);
            let at_base = image(base, Some(base), &body);
            for mode in MODES {
                let (header, recovery) = scan_file(&below, Codec::new, mode)
                    .unwrap_or_else(|err| panic!("base {base}, mark {mark}, {mode:?}: {err}"));
                assert_eq!(header.sync_mark, Some(Lsn::new(base)));
                assert_eq!((recovery.end_lsn, recovery.records), (Lsn::new(end), count));
                assert_eq!(
                    scan_file(&at_base, Codec::new, mode).map(|(_, r)| r),
                    Ok(recovery)
                );
                let log = open(&below, mode)
                    .unwrap_or_else(|(err, _)| panic!("base {base}, {mode:?}: {err}"));
                assert_eq!(log.sync_mark(), Some(Lsn::new(base)));
                assert_eq!(log.current_lsn(), Lsn::new(end));
            }
        }
    }
}

// Prevents `Recovery`'s length helpers and `Record::end_lsn` (public types a caller can build by
// hand) from panicking or wrapping on values no scan produces.
#[test]
fn hand_built_values_never_overflow() {
    let backwards = Recovery {
        base_lsn: Lsn::new(100),
        end_lsn: Lsn::new(10),
        records: 0,
        tail: None,
        sync_mark: None,
        body_offset: HEADER_LEN as u64,
    };
    assert_eq!(backwards.valid_body_len(), 0);
    assert_eq!(backwards.valid_file_len(), HEADER_LEN as u64);
    let whole_space = Recovery {
        base_lsn: Lsn::ZERO,
        end_lsn: Lsn::MAX,
        records: 0,
        tail: None,
        sync_mark: None,
        body_offset: HEADER_LEN as u64,
    };
    assert_eq!(whole_space.valid_body_len(), MAX);
    assert_eq!(whole_space.valid_file_len(), MAX);
    let at_the_end = Record {
        lsn: Lsn::MAX,
        payload: b"x",
    };
    assert_eq!(at_the_end.end_lsn(), Lsn::MAX);
}

/// Base LSNs and sync marks from the whole range, weighted towards both ends of it.
fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..512).prop_map(|below| MAX - below),
        0u64..512,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // Prevents any combination of base LSN and sync mark (with valid frames after, then zeros,
    // garbage or nothing) from panicking or wrapping in scan_file or LogWriter::recover.
    #[test]
    fn any_header_fields_scan_and_open_without_panicking(
        base in edge_u64(),
        mark in proptest::option::of(edge_u64()),
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
        tail in prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(Just(0u8), 1..300),
            proptest::collection::vec(any::<u8>(), 1..64),
        ],
    ) {
        let payloads: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let (records, end, count) = frames(base, &payloads);
        let image = image(base, mark, &[records, tail].concat());
        for mode in MODES {
            match scan_file(&image, Codec::new, mode) {
                Ok((header, recovery)) => {
                    prop_assert_eq!(header.base_lsn, Lsn::new(base));
                    prop_assert!(header.sync_mark.is_none_or(|m| m >= header.base_lsn));
                    prop_assert!(recovery.end_lsn >= recovery.base_lsn);
                    prop_assert!(recovery.valid_file_len() <= image.len() as u64);
                    prop_assert!(recovery.records >= count);
                    // The frames written are all there, and nothing before them moved.
                    prop_assert!(recovery.end_lsn >= Lsn::new(end));
                    let body = &image[HEADER_LEN..recovery.valid_file_len() as usize];
                    let reread = Records::new(Codec::new(SALT), header.base_lsn, body).count();
                    prop_assert_eq!(reread as u64, recovery.records);
                }
                Err(err) => {
                    let _ = err.to_string();
                    prop_assert!(
                        matches!(
                            err,
                            RecoveryError::SyncedDataLost { .. }
                                | RecoveryError::BaseLsnTooHigh { .. }
                                | RecoveryError::TornTail { .. }
                                | RecoveryError::CorruptionMidLog { .. }
                        ),
                        "{:?}", err
                    );
                }
            }
            match open(&image, mode) {
                Ok(log) => {
                    prop_assert!(log.current_lsn() >= log.base_lsn());
                    prop_assert_eq!(log.current_lsn(), log.recovery().end_lsn);
                }
                Err((err, changes)) => {
                    let _ = err.to_string();
                    prop_assert!(matches!(err, WriterError::Recovery(_)), "{:?}", err);
                    prop_assert_eq!(changes, 0);
                }
            }
        }
    }
}
