//! Property tests for the on-disk format: what is written reads back exactly, and nothing that
//! was not written (a flipped bit, a cut, zeros, garbage, another log's bytes) reads as a record.

mod common;

use common::build_log;
use proptest::collection::vec;
use proptest::prelude::*;
use walden_core::{
    scan_file, Codec, Decoded, InvalidFrame, Lsn, Records, RecoveryMode, TailKind, HEADER_LEN,
};

fn payloads(max_records: usize, max_len: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..max_len), 0..max_records)
}

fn base_lsn() -> impl Strategy<Value = Lsn> {
    (0u64..(u64::MAX / 2)).prop_map(Lsn::new)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Guards against any encoding that the decoder reads back differently.
    #[test]
    fn any_sequence_of_records_round_trips(
        salt in any::<u64>(),
        base in base_lsn(),
        payloads in payloads(40, 300),
    ) {
        let log = build_log(salt, base, &payloads);
        let (header, recovery) =
            scan_file(&log.image, Codec::new, RecoveryMode::AbsoluteConsistency).unwrap();
        prop_assert_eq!(header.salt, salt);
        prop_assert_eq!(recovery.records, payloads.len() as u64);
        prop_assert_eq!(recovery.end_lsn, log.end);
        prop_assert_eq!(recovery.tail, None);
        prop_assert_eq!(recovery.valid_file_len(), log.image.len() as u64);
        let records: Vec<_> = Records::new(Codec::new(salt), base, &log.image[HEADER_LEN..]).collect();
        prop_assert_eq!(records.len(), payloads.len());
        for ((record, payload), start) in records.iter().zip(&payloads).zip(&log.starts) {
            prop_assert_eq!(record.payload, payload.as_slice());
            prop_assert_eq!(record.lsn, *start);
        }
    }

    /// Guards against a checksum that misses a single flipped bit anywhere in a frame.
    #[test]
    fn every_single_bit_flip_in_a_record_is_detected(
        salt in any::<u64>(),
        lsn in base_lsn(),
        payload in vec(any::<u8>(), 0..128),
    ) {
        let codec = Codec::new(salt);
        let mut frame = Vec::new();
        codec.encode_append(lsn, &payload, &mut frame).unwrap();
        for bit in 0..frame.len() * 8 {
            let mut damaged = frame.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let decoded = codec.decode(lsn, &damaged);
            prop_assert!(
                !matches!(decoded, Decoded::Record(_)),
                "flip of bit {} decoded as a record", bit
            );
        }
    }

    /// Guards against losing or inventing records when a crash cuts the log at any byte.
    #[test]
    fn cutting_a_log_at_every_offset_recovers_exactly_the_records_before_the_cut(
        salt in any::<u64>(),
        base in base_lsn(),
        payloads in payloads(12, 40),
    ) {
        let log = build_log(salt, base, &payloads);
        for cut in HEADER_LEN..=log.image.len() {
            let cut_lsn = Lsn::new(base.get() + (cut - HEADER_LEN) as u64);
            let expected = log
                .starts
                .iter()
                .zip(log.starts.iter().skip(1).chain(std::iter::once(&log.end)))
                .filter(|(_, end)| **end <= cut_lsn)
                .count();
            let expected_end = if expected == payloads.len() { log.end } else { log.starts[expected] };
            let (_, recovery) = scan_file(&log.image[..cut], Codec::new, RecoveryMode::TolerateTornTail)
                .unwrap_or_else(|err| panic!("cut at {cut}: {err}"));
            prop_assert_eq!(recovery.records, expected as u64, "cut at {}", cut);
            prop_assert_eq!(recovery.end_lsn, expected_end, "cut at {}", cut);
            match recovery.tail {
                None => prop_assert_eq!(expected_end, cut_lsn),
                Some(tail) => {
                    prop_assert_eq!(tail.at, expected_end);
                    prop_assert_eq!(tail.bytes, cut_lsn.get() - expected_end.get());
                    let discarded = matches!(tail.kind, TailKind::Discarded { .. });
                    prop_assert!(!discarded, "cut at {} discarded records", cut);
                }
            }
        }
    }

    /// Guards against a preallocated (zero-filled) tail being read as records.
    #[test]
    fn a_zero_filled_tail_is_never_read_as_a_record(
        salt in any::<u64>(),
        base in base_lsn(),
        payloads in payloads(10, 100),
        zeros in 1usize..5000,
    ) {
        let mut log = build_log(salt, base, &payloads);
        log.image.resize(log.image.len() + zeros, 0);
        for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::AbsoluteConsistency] {
            let (_, recovery) = scan_file(&log.image, Codec::new, mode).unwrap();
            prop_assert_eq!(recovery.records, payloads.len() as u64);
            prop_assert_eq!(recovery.end_lsn, log.end);
            let tail = recovery.tail.unwrap();
            prop_assert_eq!(tail.kind, TailKind::Zeroed);
            prop_assert_eq!(tail.bytes, zeros as u64);
        }
    }

    /// Guards against garbage after the last record being read as records.
    #[test]
    fn a_random_tail_is_never_read_as_a_record(
        salt in any::<u64>(),
        base in base_lsn(),
        payloads in payloads(10, 100),
        garbage in vec(any::<u8>(), 1..2000),
    ) {
        let mut log = build_log(salt, base, &payloads);
        log.image.extend_from_slice(&garbage);
        let (_, recovery) = scan_file(&log.image, Codec::new, RecoveryMode::TolerateTornTail).unwrap();
        prop_assert_eq!(recovery.records, payloads.len() as u64);
        prop_assert_eq!(recovery.end_lsn, log.end);
        let tail = recovery.tail.unwrap();
        prop_assert!(matches!(tail.kind, TailKind::Torn(_) | TailKind::Zeroed));
        prop_assert_eq!(tail.bytes, garbage.len() as u64);
    }

    /// Guards against bytes from another log, or from another position, passing the check.
    #[test]
    fn frames_written_with_another_salt_or_at_another_lsn_fail_the_check(
        salt in any::<u64>(),
        other_salt in any::<u64>(),
        lsn in base_lsn(),
        shift in 1u64..1_000_000,
        payload in vec(any::<u8>(), 0..200),
    ) {
        prop_assume!(salt != other_salt);
        let mut frame = Vec::new();
        Codec::new(salt).encode_append(lsn, &payload, &mut frame).unwrap();
        let checksum_failure = |decoded: Decoded<'_>| matches!(
            decoded,
            Decoded::Invalid { reason: InvalidFrame::ChecksumMismatch { .. }, .. }
        );
        prop_assert!(checksum_failure(Codec::new(other_salt).decode(lsn, &frame)));
        let elsewhere = Lsn::new(lsn.get() + shift);
        prop_assert!(checksum_failure(Codec::new(salt).decode(elsewhere, &frame)));

        // A whole log whose frames came from another incarnation (salt) recovers to nothing.
        let foreign = build_log(other_salt, lsn, &[payload.clone(), payload.clone()]);
        let mut image = build_log(salt, lsn, &[]).image;
        image.extend_from_slice(&foreign.image[HEADER_LEN..]);
        let (_, recovery) = scan_file(&image, Codec::new, RecoveryMode::TolerateTornTail).unwrap();
        prop_assert_eq!(recovery.records, 0);
        prop_assert!(matches!(recovery.tail.unwrap().kind, TailKind::Torn(_)));
    }
}
