//! `Codec::decode` on arbitrary bytes, at an arbitrary LSN, salt and payload limit.
//!
//! Input layout: bytes 0..8 the LSN, 8..16 the salt, 16..20 the payload limit (all LE; missing
//! bytes read as zero), then the bytes to decode.
//!
//! Asserts:
//! - decoding never panics, and every outcome names the LSN it was asked about;
//! - a `Record` lies inside the input, respects the limit, and re-encoding its payload at the
//!   same LSN with the same codec gives back exactly the bytes it was decoded from, by both
//!   `encode_into` and `encode_append`;
//! - `Incomplete` asks for more bytes than are present, and never for more than a frame with the
//!   largest allowed payload;
//! - `Invalid` reasons are consistent with the bytes (a too-small or over-limit length really is).

#![no_main]

use libfuzzer_sys::fuzz_target;
use walden_core::{Codec, Decoded, InvalidFrame, Lsn, FRAME_HEADER_LEN, MARKER_FRAME_LEN};

const PARAMS_LEN: usize = 20;

fuzz_target!(|data: &[u8]| {
    let mut params = [0u8; PARAMS_LEN];
    let split = data.len().min(PARAMS_LEN);
    params[..split].copy_from_slice(&data[..split]);
    let bytes = &data[split..];

    let lsn = Lsn::new(u64::from_le_bytes(
        params[0..8].try_into().expect("8 bytes"),
    ));
    let salt = u64::from_le_bytes(params[8..16].try_into().expect("8 bytes"));
    let limit = u32::from_le_bytes(params[16..20].try_into().expect("4 bytes"));
    let codec = Codec::new(salt).with_max_payload_len(limit);
    assert!(codec.max_payload_len() <= limit);

    match codec.decode(lsn, bytes) {
        Decoded::Record(record) => {
            assert_eq!(record.lsn, lsn);
            let frame_len = record.frame_len();
            assert_eq!(frame_len, FRAME_HEADER_LEN + record.payload.len());
            assert!(frame_len <= bytes.len());
            assert!(record.payload.len() <= codec.max_payload_len() as usize);
            assert_eq!(
                lsn.checked_add(frame_len as u64),
                Some(record.end_lsn()),
                "end LSN of a decoded record"
            );
            let original = &bytes[..frame_len];

            let mut appended = vec![0xA5u8; 3];
            let appended_len = codec
                .encode_append(lsn, record.payload, &mut appended)
                .expect("a decoded record re-encodes");
            assert_eq!(appended_len, frame_len);
            assert_eq!(
                &appended[..3],
                &[0xA5; 3],
                "encode_append keeps what was there"
            );
            assert_eq!(
                &appended[3..],
                original,
                "encode_append differs from the decoded bytes"
            );

            let mut into = vec![0u8; frame_len + 1];
            let into_len = codec
                .encode_into(lsn, record.payload, &mut into)
                .expect("a decoded record re-encodes");
            assert_eq!(into_len, frame_len);
            assert_eq!(
                &into[..frame_len],
                original,
                "encode_into differs from the decoded bytes"
            );
        }
        Decoded::Marker(marker) => {
            assert_eq!(marker.lsn, lsn);
            assert!(
                marker.durable <= lsn,
                "a marker vouches only for bytes before it"
            );
            assert!(MARKER_FRAME_LEN <= bytes.len());
            assert_eq!(marker.end_lsn().get(), lsn.get() + MARKER_FRAME_LEN as u64);
            let mut encoded = Vec::new();
            let len = codec
                .encode_marker(lsn, marker.durable, &mut encoded)
                .expect("a decoded marker re-encodes");
            assert_eq!(len, MARKER_FRAME_LEN);
            assert_eq!(
                &encoded[..],
                &bytes[..MARKER_FRAME_LEN],
                "encode_marker differs from the decoded bytes"
            );
        }
        Decoded::Incomplete {
            lsn: at,
            available,
            needed,
        } => {
            assert_eq!(at, lsn);
            assert_eq!(available, bytes.len());
            assert!(needed > available, "incomplete but {available} >= {needed}");
            assert!(needed <= FRAME_HEADER_LEN + codec.max_payload_len() as usize);
        }
        Decoded::Invalid { lsn: at, reason } => {
            assert_eq!(at, lsn);
            let len_field = u32::from_le_bytes(bytes[4..8].try_into().expect("a header was read"));
            match reason {
                InvalidFrame::LengthTooSmall { frame_len } => {
                    assert_eq!(frame_len, len_field);
                    assert!((frame_len as usize) < FRAME_HEADER_LEN);
                }
                InvalidFrame::LengthOverLimit {
                    payload_len,
                    max_payload_len,
                } => {
                    assert_eq!(max_payload_len, codec.max_payload_len());
                    assert_eq!(payload_len as usize + FRAME_HEADER_LEN, len_field as usize);
                    assert!(payload_len > max_payload_len);
                }
                InvalidFrame::LsnOverflow => {
                    assert!(lsn.checked_add(u64::from(len_field)).is_none());
                }
                InvalidFrame::BadControlFrame => {
                    assert!(u64::from(len_field) <= bytes.len() as u64);
                }
                InvalidFrame::ChecksumMismatch { stored, computed } => {
                    assert_ne!(stored, computed);
                    let stored_field =
                        u32::from_le_bytes(bytes[0..4].try_into().expect("a header was read"));
                    assert_eq!(stored, stored_field);
                }
            }
            // Every message a user may see renders without panicking.
            let _ = reason.to_string();
        }
    }
});
