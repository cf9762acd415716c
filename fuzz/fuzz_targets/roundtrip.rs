//! An arbitrary list of payloads, encoded into a log image and scanned back.
//!
//! Asserts:
//! - scanning the image in every mode gives exactly the encoded payloads, at the LSNs they were
//!   encoded at, ending at the LSN after the last frame, with no tail;
//! - `encode_into` and `encode_append` produce the same bytes;
//! - cutting the image at an arbitrary length (a crash mid-write) recovers, in the default mode, a
//!   prefix of the payloads: every frame wholly before the cut, and nothing else. The one
//!   exception the format cannot avoid: a payload that itself holds a well-formed frame for its
//!   own position (same salt, same LSN) reads as a valid frame after the torn one, so the scan
//!   reports `CorruptionMidLog`; that is accepted only in exactly that shape;
//! - appending zeros (preallocated space) leaves the records intact and reports a `Zeroed` tail.
//!
//! Encoding stops early only when a frame would end past `Lsn::MAX` (the fuzzer picks the base
//! LSN); any other encoding error is a failure.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use walden_core::{
    frame_len, scan_file, Codec, EncodeError, FileHeader, Lsn, Records, RecoveryError,
    RecoveryMode, TailKind, FRAME_HEADER_LEN, HEADER_LEN,
};

#[derive(Arbitrary, Debug)]
struct Input {
    salt: u64,
    base_lsn: u64,
    /// Where to cut the image, as a fraction of its length (`cut / u16::MAX`).
    cut: u16,
    zero_tail_len: u8,
    payloads: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    let codec = Codec::new(input.salt);
    // No sync mark: a cut anywhere is then a torn tail (with a mark, a cut below it is lost
    // data, which the recovery target covers).
    // A v1 file: one header slot, frames right after it.
    let header = FileHeader {
        sync_mark: None,
        ..FileHeader::v1(input.salt, Lsn::new(input.base_lsn))
    };
    let mut image = header.encode().to_vec();
    let mut lsn = header.base_lsn;
    let mut encoded: Vec<(Lsn, &[u8])> = Vec::new();
    // Where each frame ends in the image, for the cut check.
    let mut frame_ends = Vec::new();
    for payload in &input.payloads {
        let mut into = vec![0u8; frame_len(payload.len())];
        let into_result = codec.encode_into(lsn, payload, &mut into);
        match codec.encode_append(lsn, payload, &mut image) {
            Ok(len) => {
                assert_eq!(into_result, Ok(len));
                assert_eq!(
                    &image[image.len() - len..],
                    &into[..],
                    "encode_into != encode_append"
                );
                encoded.push((lsn, payload));
                lsn = lsn.checked_add(len as u64).expect("encode checked the LSN");
                frame_ends.push(image.len());
            }
            Err(err) => {
                assert_eq!(err, EncodeError::LsnOverflow { lsn });
                assert_eq!(into_result, Err(err));
                break;
            }
        }
    }
    let end_lsn = lsn;

    // The whole image: every payload back, in every mode.
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
    ] {
        let (found_header, recovery) =
            scan_file(&image, Codec::new, mode).expect("a cleanly written log recovers");
        assert_eq!(found_header, header);
        assert_eq!(recovery.records, encoded.len() as u64);
        assert_eq!(recovery.end_lsn, end_lsn);
        assert_eq!(recovery.tail, None);
        assert_eq!(recovery.valid_file_len(), image.len() as u64);
    }
    let decoded: Vec<(Lsn, &[u8])> = Records::new(codec, header.base_lsn, &image[HEADER_LEN..])
        .map(|record| (record.lsn, record.payload))
        .collect();
    assert_eq!(
        decoded, encoded,
        "scanned payloads differ from the encoded ones"
    );

    // A crash mid-write: the image cut short recovers the frames wholly before the cut.
    let cut = image.len() * usize::from(input.cut) / usize::from(u16::MAX);
    let cut_image = &image[..cut];
    match scan_file(cut_image, Codec::new, RecoveryMode::TolerateTornTail) {
        Err(RecoveryError::CorruptionMidLog { at, next_valid, .. }) if cut >= HEADER_LEN => {
            // The format cannot tell a payload that holds a well-formed frame for its own
            // position (right salt, right LSN) from a real frame. Accept exactly that shape: the
            // "next valid frame" lies inside the payload of the frame the cut tore.
            let torn_start = HEADER_LEN + distance(header.base_lsn, at);
            let next_start = HEADER_LEN + distance(header.base_lsn, next_valid);
            assert!(
                torn_start + FRAME_HEADER_LEN <= next_start && next_start < cut,
                "cut at {cut}: corruption reported at {at}, next valid at {next_valid}"
            );
        }
        Err(err) => assert!(cut < HEADER_LEN, "cut at {cut} of {}: {err}", image.len()),
        Ok((_, recovery)) => {
            let whole = frame_ends.iter().filter(|&&end| end <= cut).count();
            assert_eq!(recovery.records, whole as u64, "cut at {cut}: record count");
            let valid_end = frame_ends[..whole].last().copied().unwrap_or(HEADER_LEN);
            assert_eq!(recovery.valid_file_len(), valid_end as u64);
            match recovery.tail {
                None => assert_eq!(valid_end, cut),
                // A cut inside the first bytes of a frame can leave only zero bytes of it.
                Some(tail) => assert!(matches!(tail.kind, TailKind::Torn(_) | TailKind::Zeroed)),
            }
        }
    }

    // Preallocated space after the records reads as unwritten space, in the strictest mode.
    if input.zero_tail_len > 0 {
        let mut padded = image.clone();
        padded.resize(image.len() + usize::from(input.zero_tail_len), 0);
        let (_, recovery) = scan_file(&padded, Codec::new, RecoveryMode::AbsoluteConsistency)
            .expect("zero fill after a clean log is accepted");
        assert_eq!(recovery.records, encoded.len() as u64);
        assert_eq!(recovery.end_lsn, end_lsn);
        let tail = recovery.tail.expect("a zero tail");
        assert_eq!(tail.kind, TailKind::Zeroed);
        assert_eq!(tail.bytes, u64::from(input.zero_tail_len));
    }
});

/// Bytes from `base` to `lsn`, both inside one image.
fn distance(base: Lsn, lsn: Lsn) -> usize {
    let bytes = lsn
        .checked_distance_from(base)
        .expect("an LSN inside the image");
    usize::try_from(bytes).expect("an offset inside the image")
}
