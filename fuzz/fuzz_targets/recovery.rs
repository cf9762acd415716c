//! `scan_file` on arbitrary bytes taken as a whole log file image, in each `RecoveryMode`.
//!
//! Each input is scanned twice: as it is (the header must survive the fuzzer's mutations), and
//! with its header re-encoded from its own salt and base LSN fields, so that the body is always
//! reached, whatever salt and base LSN the fuzzer picks. The second image keeps the input's sync
//! mark (bytes 32..40, present when bit 0 of byte 40 is set) and takes its payload limit from
//! the input's reserved header bytes 44..48, so small limits and every mark position are
//! exercised.
//!
//! Asserts, for every image and mode:
//! - scanning never panics, and error messages render;
//! - on success: the header is the one `FileHeader::decode` reads; `valid_file_len()` is at most
//!   the image's length; re-iterating the valid prefix with `Records` yields `records` records,
//!   each starting where the previous one ended, ending exactly at `end_lsn` with no damage;
//! - the tail starts at `end_lsn` and covers exactly the rest of the image; a `Zeroed` tail is all
//!   zero; a `Discarded` tail names a valid frame strictly after the damage, inside the image;
//!   an `Unsynced` tail does too, only in `TolerateTornTail`, and only at or past the sync mark;
//! - a `RecordOverLimit` refusal names a frame that is over the reader's limit and valid under a
//!   larger one;
//! - the modes agree with each other: the same refusal of a header or an over-limit record, the
//!   same valid prefix, `Torn` in the tolerant modes exactly
//!   when `AbsoluteConsistency` reports `TornTail`, and `Discarded` in `PointInTime` exactly when
//!   `TolerateTornTail` reports `CorruptionMidLog` or an `Unsynced` tail, with the same damage
//!   and next valid frame (and then `AbsoluteConsistency` reports `CorruptionMidLog`); a
//!   `SyncedDataLost` refusal is the same in both strict modes, and `PointInTime` keeps exactly
//!   the prefix before it; a `BaseLsnTooHigh` refusal (data past the end of the LSN space) is
//!   the same in all three.

#![no_main]

use libfuzzer_sys::fuzz_target;
use walden_core::{
    scan_file, Codec, Decoded, FileHeader, Lsn, Records, Recovery, RecoveryError, RecoveryMode,
    TailKind, HEADER_LEN, MAX_PAYLOAD_LEN_LIMIT,
};

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateTornTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];

/// Reserved header bytes: the second image takes its payload limit from here.
const LIMIT_OFFSET: usize = 44;

fuzz_target!(|data: &[u8]| {
    check_image(data, Codec::new);

    if data.len() >= HEADER_LEN {
        // A v1 file (one header slot, frames right after it) with the fields the input gives.
        let salt = u64::from_le_bytes(data[16..24].try_into().expect("8 bytes"));
        let base_lsn = Lsn::new(u64::from_le_bytes(
            data[24..32].try_into().expect("8 bytes"),
        ));
        let header = FileHeader {
            sync_mark: (data[40] & 1 == 1).then(|| {
                Lsn::new(u64::from_le_bytes(
                    data[32..40].try_into().expect("8 bytes"),
                ))
            }),
            ..FileHeader::v1(salt, base_lsn)
        };
        let limit = u32::from_le_bytes(
            data[LIMIT_OFFSET..LIMIT_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        );
        // Zero means "the default", so that ordinary headers (reserved bytes zero) keep it.
        let with_limit = move |salt: u64| match limit {
            0 => Codec::new(salt),
            limit => Codec::new(salt).with_max_payload_len(limit),
        };
        let mut repaired = Vec::with_capacity(data.len());
        repaired.extend_from_slice(&header.encode());
        repaired.extend_from_slice(&data[HEADER_LEN..]);
        check_image(&repaired, with_limit);
    }
});

fn check_image(image: &[u8], codec_for_salt: impl Fn(u64) -> Codec + Copy) {
    let [tolerate, absolute, point_in_time] =
        MODES.map(|mode| scan_file(image, codec_for_salt, mode));
    for (mode, result) in MODES.iter().zip([&tolerate, &absolute, &point_in_time]) {
        match result {
            Ok((header, recovery)) => {
                check_recovery(image, codec_for_salt, *mode, header, recovery)
            }
            Err(err) => {
                let _ = err.to_string();
                if let RecoveryError::RecordOverLimit {
                    at,
                    payload_len,
                    max_payload_len,
                } = *err
                {
                    check_over_limit(image, codec_for_salt, at, payload_len, max_payload_len);
                }
            }
        }
    }
    check_modes_agree(&tolerate, &absolute, &point_in_time);
}

fn check_recovery(
    image: &[u8],
    codec_for_salt: impl Fn(u64) -> Codec,
    mode: RecoveryMode,
    header: &FileHeader,
    recovery: &Recovery,
) {
    assert_eq!(FileHeader::decode(image).as_ref(), Ok(header));
    assert_eq!(recovery.base_lsn, header.base_lsn);
    assert!(recovery.end_lsn >= recovery.base_lsn);
    let valid_file_len = recovery.valid_file_len();
    assert!(
        valid_file_len <= image.len() as u64,
        "{mode:?}: valid_file_len {valid_file_len} > image length {}",
        image.len()
    );
    let valid_file_len = valid_file_len as usize;
    let codec = codec_for_salt(header.salt);

    // The reported records, re-iterated, end exactly at end_lsn.
    let mut records = Records::new(codec, header.base_lsn, &image[HEADER_LEN..valid_file_len]);
    let mut expected_lsn = header.base_lsn;
    let mut count = 0u64;
    for record in records.by_ref() {
        assert_eq!(record.lsn, expected_lsn, "{mode:?}: records are contiguous");
        expected_lsn = record.end_lsn();
        count += 1;
    }
    assert_eq!(
        records.damage(),
        None,
        "{mode:?}: damage inside the valid prefix"
    );
    assert_eq!(count, recovery.records, "{mode:?}: record count");
    assert_eq!(
        expected_lsn, recovery.end_lsn,
        "{mode:?}: records end at end_lsn"
    );
    assert_eq!(records.lsn(), recovery.end_lsn);

    let rest = &image[valid_file_len..];
    match recovery.tail {
        None => assert!(
            rest.is_empty(),
            "{mode:?}: no tail, but {} bytes follow",
            rest.len()
        ),
        Some(tail) => {
            assert_eq!(
                tail.at, recovery.end_lsn,
                "{mode:?}: tail starts at end_lsn"
            );
            assert_eq!(
                tail.bytes,
                rest.len() as u64,
                "{mode:?}: tail covers the rest"
            );
            assert!(tail.bytes > 0, "{mode:?}: empty tail reported");
            match tail.kind {
                TailKind::Zeroed => {
                    assert!(
                        rest.iter().all(|&b| b == 0),
                        "{mode:?}: Zeroed tail is not zero"
                    )
                }
                TailKind::Torn(_) => {
                    assert_ne!(
                        mode,
                        RecoveryMode::AbsoluteConsistency,
                        "Torn in strict mode"
                    );
                    assert!(
                        rest.iter().any(|&b| b != 0),
                        "{mode:?}: all-zero tail called Torn"
                    );
                }
                TailKind::Discarded { next_valid, .. } => {
                    assert_eq!(
                        mode,
                        RecoveryMode::PointInTime,
                        "Discarded outside PointInTime"
                    );
                    assert!(
                        next_valid > tail.at,
                        "next valid frame at LSN {next_valid} is not after the damage at {}",
                        tail.at
                    );
                    check_valid_frame_at(image, &codec, header.base_lsn, next_valid);
                }
                TailKind::Unsynced { next_valid, .. } => {
                    assert_eq!(
                        mode,
                        RecoveryMode::TolerateTornTail,
                        "Unsynced outside TolerateTornTail"
                    );
                    let mark = header
                        .sync_mark
                        .expect("an Unsynced tail needs a sync mark");
                    assert!(
                        tail.at >= mark,
                        "Unsynced tail at {} below the mark {mark}",
                        tail.at
                    );
                    assert!(next_valid > tail.at);
                    check_valid_frame_at(image, &codec, header.base_lsn, next_valid);
                }
            }
        }
    }
}

/// The frame a scan reported as valid at `lsn` lies inside the image and decodes.
fn check_valid_frame_at(image: &[u8], codec: &Codec, base_lsn: Lsn, lsn: Lsn) {
    let offset = lsn
        .checked_distance_from(base_lsn)
        .expect("a valid frame after the damage is after the base LSN");
    let offset = HEADER_LEN + usize::try_from(offset).expect("inside the image");
    assert!(
        offset < image.len(),
        "valid frame at LSN {lsn} is past the image"
    );
    assert!(
        matches!(codec.decode(lsn, &image[offset..]), Decoded::Record(_)),
        "no valid frame where the scan reported one (LSN {lsn})"
    );
}

/// A `RecordOverLimit` names a frame that really is over the limit and really is valid under a
/// larger one: only then may recovery refuse rather than truncate.
fn check_over_limit(
    image: &[u8],
    codec_for_salt: impl Fn(u64) -> Codec,
    at: Lsn,
    payload_len: u32,
    max_payload_len: u32,
) {
    let header = FileHeader::decode(image).expect("the header decoded");
    let codec = codec_for_salt(header.salt);
    assert_eq!(max_payload_len, codec.max_payload_len());
    assert!(payload_len > max_payload_len);
    let offset = HEADER_LEN + usize::try_from(at.get() - header.base_lsn.get()).expect("offset");
    let unlimited = codec.with_max_payload_len(MAX_PAYLOAD_LEN_LIMIT);
    match unlimited.decode(at, &image[offset..]) {
        Decoded::Record(record) => assert_eq!(record.payload.len(), payload_len as usize),
        other => panic!("RecordOverLimit at LSN {at}, but the frame there is {other:?}"),
    }
}

type ScanResult = Result<(FileHeader, Recovery), RecoveryError>;

fn check_modes_agree(tolerate: &ScanResult, absolute: &ScanResult, point_in_time: &ScanResult) {
    use RecoveryError::{
        BaseLsnTooHigh, CorruptionMidLog, Header, RecordOverLimit, SyncedDataLost, TornTail,
    };
    match (tolerate, absolute, point_in_time) {
        (Err(Header(a)), Err(Header(b)), Err(Header(c))) => {
            assert!(a == b && b == c, "header errors differ by mode");
        }
        // Data past the end of the LSN space: the header does not describe the body, whatever
        // the mode.
        (
            Err(
                a @ BaseLsnTooHigh {
                    base_lsn,
                    room,
                    data_bytes,
                },
            ),
            Err(b),
            Err(c),
        ) => {
            assert!(a == b && b == c, "BaseLsnTooHigh differs by mode");
            assert_eq!(*room, u64::MAX - base_lsn.get());
            assert!(data_bytes > room);
        }
        // A valid frame over the reader's limit is never damage: every mode refuses alike.
        (Err(a @ RecordOverLimit { .. }), Err(b), Err(c)) => {
            assert!(a == b && b == c, "RecordOverLimit differs by mode");
        }
        (Ok((_, t)), Ok((_, a)), Ok((_, p))) => {
            // No damage, or only zero fill: every mode reports the same.
            assert_eq!(t, a);
            assert_eq!(t, p);
            assert!(matches!(
                t.tail.map(|tail| tail.kind),
                None | Some(TailKind::Zeroed)
            ));
        }
        (Ok((_, t)), Err(TornTail { at, bytes, damage }), Ok((_, p))) => {
            assert_eq!(t, p, "tolerant modes differ on a torn tail");
            let tail = t.tail.expect("a torn tail");
            assert_eq!(tail.kind, TailKind::Torn(*damage));
            assert_eq!((tail.at, tail.bytes), (*at, *bytes));
        }
        (
            Err(CorruptionMidLog {
                at,
                damage,
                next_valid,
            }),
            Err(CorruptionMidLog {
                at: at_strict,
                damage: damage_strict,
                next_valid: next_strict,
            }),
            Ok((_, p)),
        ) => {
            assert_eq!(
                (at, damage, next_valid),
                (at_strict, damage_strict, next_strict)
            );
            let tail = p.tail.expect("a discarded tail");
            assert_eq!(tail.at, *at);
            assert_eq!(
                tail.kind,
                TailKind::Discarded {
                    damage: *damage,
                    next_valid: *next_valid,
                }
            );
            assert!(
                next_valid > at,
                "next valid frame at LSN {next_valid} is not after {at}"
            );
        }
        // Damage past the sync mark followed by valid frames: an interrupted batch.
        (
            Ok((header, t)),
            Err(CorruptionMidLog {
                at,
                damage,
                next_valid,
            }),
            Ok((_, p)),
        ) => {
            assert!(header.sync_mark.is_some_and(|mark| *at >= mark));
            let tail = t.tail.expect("an unsynced tail");
            let discarded = p.tail.expect("a discarded tail");
            assert_eq!((tail.at, t.end_lsn, t.records), (*at, p.end_lsn, p.records));
            assert_eq!(
                (tail.kind, discarded.kind),
                (
                    TailKind::Unsynced {
                        damage: *damage,
                        next_valid: *next_valid,
                    },
                    TailKind::Discarded {
                        damage: *damage,
                        next_valid: *next_valid,
                    }
                )
            );
        }
        // Records below the sync mark are missing: both strict modes refuse alike, and the
        // salvage mode keeps exactly what precedes the loss.
        (Err(t @ SyncedDataLost { at, sync_mark, .. }), Err(a), Ok((_, p))) => {
            assert_eq!(t, a, "SyncedDataLost differs between the strict modes");
            assert!(at < sync_mark);
            assert_eq!(p.end_lsn, *at);
        }
        (t, a, p) => panic!(
            "recovery modes disagree:\n  TolerateTornTail: {t:?}\n  AbsoluteConsistency: {a:?}\n  \
             PointInTime: {p:?}"
        ),
    }
}
