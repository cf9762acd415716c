//! Recovery decisions on hand-made damage: each test names the failure it prevents.

mod common;

use common::{build_log, build_log_marked};
use walden_core::{
    scan_file, Codec, Damage, FileHeader, HeaderError, InvalidFrame, Lsn, RecoveryError,
    RecoveryMode, TailKind, FRAME_HEADER_LEN, HEADER_LEN,
};

const SALT: u64 = 0xA5A5_0001;

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i as u8; 100]).collect()
}

fn offset_of(lsn: Lsn, base: Lsn) -> usize {
    HEADER_LEN + (lsn.get() - base.get()) as usize
}

/// Prevents silently dropping acknowledged records that follow a damaged one.
#[test]
fn payload_bit_flip_before_valid_records_is_corruption_not_a_torn_tail() {
    let base = Lsn::new(1 << 20);
    let mut log = build_log(SALT, base, &payloads(5));
    let damaged = log.starts[2];
    log.image[offset_of(damaged, base) + FRAME_HEADER_LEN + 10] ^= 0x40;

    let err = scan_file(&log.image, Codec::new, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(
            err,
            RecoveryError::CorruptionMidLog { at, next_valid, damage: Damage::Invalid(InvalidFrame::ChecksumMismatch { .. }) }
                if at == damaged && next_valid == log.starts[3]
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("PointInTime"), "{err}");

    let err = scan_file(&log.image, Codec::new, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(matches!(err, RecoveryError::CorruptionMidLog { .. }));
}

/// Prevents a corrupted length field from hiding the records after it.
#[test]
fn corrupted_length_field_is_found_by_resynchronising() {
    let base = Lsn::ZERO;
    let mut log = build_log(SALT, base, &payloads(6));
    let damaged = log.starts[1];
    let len_at = offset_of(damaged, base) + 4;
    // A plausible length that points into the middle of the next record.
    log.image[len_at..len_at + 4].copy_from_slice(&150u32.to_le_bytes());

    let err = scan_file(&log.image, Codec::new, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(err, RecoveryError::CorruptionMidLog { at, next_valid, .. }
            if at == damaged && next_valid == log.starts[2]),
        "{err:?}"
    );
}

/// Point-in-time recovery is the explicit way to salvage; it must say what it discarded.
#[test]
fn point_in_time_mode_keeps_the_prefix_and_reports_what_it_discarded() {
    let base = Lsn::ZERO;
    let mut log = build_log(SALT, base, &payloads(5));
    log.image[offset_of(log.starts[3], base)] ^= 1;

    let (_, recovery) = scan_file(&log.image, Codec::new, RecoveryMode::PointInTime).unwrap();
    assert_eq!(recovery.records, 3);
    assert_eq!(recovery.end_lsn, log.starts[3]);
    let tail = recovery.tail.unwrap();
    assert!(
        matches!(tail.kind, TailKind::Discarded { next_valid, damage: Damage::Invalid(_) }
            if next_valid == log.starts[4]),
        "{tail:?}"
    );
    assert_eq!(tail.bytes, log.end.get() - log.starts[3].get());
}

/// A log closed cleanly must not end in garbage; the strict mode exists to check that.
#[test]
fn absolute_consistency_refuses_a_torn_tail_but_accepts_zero_fill() {
    let mut log = build_log(SALT, Lsn::ZERO, &payloads(3));
    let clean_len = log.image.len();
    log.image.extend_from_slice(&[0u8; 4096]);
    let (_, recovery) =
        scan_file(&log.image, Codec::new, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(recovery.tail.unwrap().kind, TailKind::Zeroed);

    log.image.truncate(clean_len - 7);
    let err = scan_file(&log.image, Codec::new, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(
        matches!(err, RecoveryError::TornTail { at, bytes: 101, damage: Damage::Incomplete { .. } } if at == log.starts[2]),
        "{err:?}"
    );
}

/// Prevents a reader with a smaller limit from truncating genuine large records as a torn tail.
#[test]
fn a_valid_record_over_the_readers_limit_is_an_error_not_a_torn_tail() {
    let log = build_log(SALT, Lsn::ZERO, &[vec![7u8; 10], vec![9u8; 5000]]);
    let err = scan_file(
        &log.image,
        |salt| Codec::new(salt).with_max_payload_len(1000),
        RecoveryMode::TolerateTornTail,
    )
    .unwrap_err();
    assert!(
        matches!(err, RecoveryError::RecordOverLimit { at, payload_len: 5000, max_payload_len: 1000 } if at == log.starts[1]),
        "{err:?}"
    );
}

/// A large preallocated tail must be classified without a per-byte frame decode.
#[test]
fn a_large_zero_filled_tail_after_garbage_is_a_torn_tail() {
    let mut log = build_log(SALT, Lsn::ZERO, &payloads(2));
    log.image.extend_from_slice(&[0xEE; 13]);
    log.image.resize(log.image.len() + (16 << 20), 0);
    let (_, recovery) = scan_file(&log.image, Codec::new, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(recovery.records, 2);
    assert!(matches!(recovery.tail.unwrap().kind, TailKind::Torn(_)));
}

/// Foreign and future files must be refused with a typed error, never scanned as damage.
#[test]
fn foreign_newer_and_truncated_headers_are_typed_errors() {
    let err = scan_file(
        b"PK\x03\x04 a zip file",
        Codec::new,
        RecoveryMode::default(),
    );
    assert!(matches!(
        err,
        Err(RecoveryError::Header(HeaderError::NotAWalFile { .. }))
    ));

    let mut newer = FileHeader::new(SALT, Lsn::ZERO).encode();
    newer[8] = 9;
    let err = scan_file(&newer, Codec::new, RecoveryMode::default()).unwrap_err();
    assert_eq!(
        err,
        RecoveryError::Header(HeaderError::NewerVersion {
            found: 9,
            supported: 2
        })
    );
    assert!(err.to_string().contains("upgrade"), "{err}");

    let header = build_log(SALT, Lsn::ZERO, &[]).image;
    let err = scan_file(&header[..30], Codec::new, RecoveryMode::default()).unwrap_err();
    assert_eq!(
        err,
        RecoveryError::Header(HeaderError::Truncated { len: 30 })
    );
}

/// Prevents a frame "after" the end of the LSN space (its checksum right for LSN 0) from counting
/// as valid, and the bytes there from being cut as a torn tail (found by the `recovery` fuzz
/// target's invariant; input from a fuzzing session). The base LSN, `u64::MAX - 7`, leaves room
/// for 7 bytes of records, and the body holds data up to byte 13: the header does not describe
/// it, so every mode refuses. (The resync search's own stop at `Lsn::MAX` is pinned in
/// `resync.rs`.)
#[test]
fn the_search_for_valid_frames_stops_at_the_end_of_the_lsn_space() {
    let image = hex(
        "8957414c44454e0a0100000040000000ed5e000000000000f8ffffffffffffff\
         000000000000000000000000000000000000000000000000000000005430175b\
         deadbeef080000004ac4f2f208000000",
    );
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
    ] {
        assert_eq!(
            scan_file(&image, Codec::new, mode).unwrap_err(),
            RecoveryError::BaseLsnTooHigh {
                base_lsn: Lsn::new(u64::MAX - 7),
                room: 7,
                data_bytes: 13,
            },
            "{mode:?}"
        );
    }
}

/// Prevents a wrong block-assembled CRC (used for long candidates) from hiding a long valid
/// record after damage, which would turn mid-log corruption into a silent truncation.
#[test]
fn a_long_valid_record_after_damage_is_found() {
    let big = vec![0x5Au8; 300 * 1024];
    let log = build_log(
        SALT,
        Lsn::new(77),
        &[vec![1; 10], vec![2; 10], big, vec![3; 10]],
    );
    let mut image = log.image.clone();
    let len_at = offset_of(log.starts[1], Lsn::new(77)) + 4;
    image[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = scan_file(&image, Codec::new, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(err, RecoveryError::CorruptionMidLog { at, next_valid, .. }
            if at == log.starts[1] && next_valid == log.starts[2]),
        "{err:?}"
    );
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex"))
        .collect()
}

/// Prevents a panic when a damaged frame's own length points to fewer than a frame header's
/// bytes before the end (found by the `recovery` fuzz target within a minute of the resync
/// rewrite).
#[test]
fn a_damaged_frames_length_pointing_just_before_the_end_is_a_torn_tail() {
    let mut log = build_log(SALT, Lsn::ZERO, &payloads(1));
    let mut damaged = [0u8; 13];
    damaged[..4].copy_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
    damaged[4..8].copy_from_slice(&13u32.to_le_bytes());
    log.image.extend_from_slice(&damaged);
    log.image.push(0x7F);
    let (_, recovery) = scan_file(&log.image, Codec::new, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(recovery.records, 1);
    let tail = recovery.tail.unwrap();
    assert!(
        matches!(
            tail.kind,
            TailKind::Torn(Damage::Invalid(InvalidFrame::ChecksumMismatch { .. }))
        ),
        "{tail:?}"
    );
    assert_eq!(tail.bytes, 14);
}

/// Prevents refusing to open after a power loss: the writes of a batch that was never synced can
/// land out of order, leaving a hole before valid frames. Past the sync mark that is a torn tail.
#[test]
fn a_hole_past_the_sync_mark_before_valid_frames_is_an_unsynced_tail() {
    let base = Lsn::new(4096);
    let all = payloads(6);
    let mark = build_log(SALT, base, &all[..2]).end; // the first two records were synced
    let mut log = build_log_marked(SALT, base, &all, Some(mark));
    let hole = log.starts[3];
    let at = offset_of(hole, base);
    log.image[at..at + FRAME_HEADER_LEN + 100].fill(0); // record 3 never reached the media

    let (_, recovery) = scan_file(&log.image, Codec::new, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(recovery.end_lsn, hole);
    assert_eq!(recovery.records, 3);
    assert!(
        matches!(
            recovery.tail.map(|tail| tail.kind),
            Some(TailKind::Unsynced { next_valid, .. }) if next_valid == log.starts[4]
        ),
        "{recovery:?}"
    );
    // The strict mode still refuses, and the salvage mode still says what it discarded.
    let err = scan_file(&log.image, Codec::new, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(matches!(err, RecoveryError::CorruptionMidLog { at, .. } if at == hole));
    let (_, salvaged) = scan_file(&log.image, Codec::new, RecoveryMode::PointInTime).unwrap();
    assert!(matches!(
        salvaged.tail.map(|tail| tail.kind),
        Some(TailKind::Discarded { .. })
    ));
}

/// Prevents the mark from excusing damage to records that were durable.
#[test]
fn damage_below_the_sync_mark_is_never_a_torn_tail() {
    let base = Lsn::ZERO;
    let clean = build_log(SALT, base, &payloads(6));
    let mark = clean.starts[4];

    // Valid frames follow the damage: corruption in the middle, as without a mark.
    let mut flipped = build_log_marked(SALT, base, &payloads(6), Some(mark));
    flipped.image[offset_of(clean.starts[2], base) + FRAME_HEADER_LEN] ^= 1;
    let err = scan_file(&flipped.image, Codec::new, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(err, RecoveryError::CorruptionMidLog { at, .. } if at == clean.starts[2]),
        "{err:?}"
    );

    // No valid frame follows: a torn tail without the mark, lost synced data with it.
    let marked = build_log_marked(SALT, base, &payloads(6), Some(mark));
    let cut = offset_of(clean.starts[3], base) + 20;
    let err = scan_file(
        &marked.image[..cut],
        Codec::new,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RecoveryError::SyncedDataLost { at, sync_mark, damage: Some(Damage::Incomplete { .. }) }
                if at == clean.starts[3] && sync_mark == mark
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("lost records that were durable"),
        "{err}"
    );
    let unmarked = scan_file(
        &clean.image[..cut],
        Codec::new,
        RecoveryMode::TolerateTornTail,
    );
    assert!(unmarked.is_ok());

    // The file ends cleanly below the mark, or zeros replace synced records.
    let whole = offset_of(clean.starts[3], base);
    let err = scan_file(
        &marked.image[..whole],
        Codec::new,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap_err();
    assert!(
        matches!(err, RecoveryError::SyncedDataLost { damage: None, .. }),
        "{err:?}"
    );
    let mut zeroed = marked.image.clone();
    zeroed[whole..].fill(0);
    let err = scan_file(&zeroed, Codec::new, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(
        matches!(err, RecoveryError::SyncedDataLost { .. }),
        "{err:?}"
    );

    // PointInTime is the explicit salvage mode: it keeps the prefix and says what it dropped.
    let (_, salvaged) =
        scan_file(&marked.image[..cut], Codec::new, RecoveryMode::PointInTime).unwrap();
    assert_eq!(salvaged.end_lsn, clean.starts[3]);
}

/// Prevents a mark exactly at the end of the records (a cleanly closed log) from refusing it.
#[test]
fn a_log_that_ends_at_its_sync_mark_is_clean() {
    let clean = build_log(SALT, Lsn::ZERO, &payloads(3));
    let marked = build_log_marked(SALT, Lsn::ZERO, &payloads(3), Some(clean.end));
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
    ] {
        let (header, recovery) = scan_file(&marked.image, Codec::new, mode).unwrap();
        assert_eq!(header.sync_mark, Some(clean.end));
        assert_eq!((recovery.end_lsn, recovery.tail), (clean.end, None));
    }
}
