//! Sync marker frames (format v2): the fact "everything below LSN `d` was durable", written into
//! the log itself at the sync after the one that made `d` durable, so recovery knows what was
//! acknowledged without a header rewrite.
//!
//! A marker is a frame like any other (CRC32, length, payload; see `crate::frame`) whose CRC is
//! the record CRC of the same bytes XOR [`CONTROL_CRC_XOR`]: decoding computes the CRC once and
//! knows from which of the two it matches whether the frame is a record or a control frame. Its
//! 12-byte payload is the control kind (`u32`, [`KIND_SYNC_MARKER`]) and the durable LSN (`u64`).
//! It occupies LSN space as a record does; readers skip it.
//!
//! Invariants:
//! - A writer appends a marker only when it drains a batch while the durable LSN is past every
//!   mark the file already holds, and only with a durable LSN a completed sync published. The
//!   marker lands after every byte it vouches for, so `durable <= lsn` for every marker; one
//!   that claims more is not a marker (`InvalidFrame::BadControlFrame`).
//! - A marker proves the bytes below its durable LSN were synced before the marker was even
//!   written. A damaged byte below the highest marker recovery can find (in the valid prefix or
//!   after the damage) is damage to acknowledged data, never an interrupted batch.
//! - v1 files hold no markers: a v1 codec reads a control CRC as a checksum mismatch, as every
//!   v1 reader did.

use crate::frame::{frame_len, FRAME_HEADER_LEN};
use crate::Lsn;

/// XORed into a record's CRC to make a control frame's: a damaged frame matches either with
/// probability 2^-32, and telling them apart costs no second hash.
pub const CONTROL_CRC_XOR: u32 = 0x5741_4c44; // "WALD"
/// The control kind of a sync marker.
pub const KIND_SYNC_MARKER: u32 = 1;
/// Bytes of a sync marker's payload: kind (`u32`) and durable LSN (`u64`).
pub const MARKER_PAYLOAD_LEN: usize = 12;
/// Bytes a sync marker frame occupies.
pub const MARKER_FRAME_LEN: usize = frame_len(MARKER_PAYLOAD_LEN);

/// A decoded sync marker: at `lsn`, the statement that everything below `durable` was durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Where the marker's frame starts.
    pub lsn: Lsn,
    /// Every byte of the log below this LSN was durable before the marker was written.
    pub durable: Lsn,
}

impl Marker {
    /// The LSN just past the marker's frame.
    pub fn end_lsn(&self) -> Lsn {
        // Decoding checked that the frame ends at or below `Lsn::MAX`.
        self.lsn
            .checked_add(MARKER_FRAME_LEN as u64)
            .unwrap_or(Lsn::MAX)
    }
}

/// The payload of a sync marker saying `durable`.
pub(crate) fn marker_payload(durable: Lsn) -> [u8; MARKER_PAYLOAD_LEN] {
    let mut payload = [0u8; MARKER_PAYLOAD_LEN];
    payload[..4].copy_from_slice(&KIND_SYNC_MARKER.to_le_bytes());
    payload[4..].copy_from_slice(&durable.get().to_le_bytes());
    payload
}

/// The marker a control frame at `lsn` with `payload` is, if it is one this build knows.
pub(crate) fn parse_marker(lsn: Lsn, payload: &[u8]) -> Option<Marker> {
    if payload.len() != MARKER_PAYLOAD_LEN {
        return None;
    }
    let mut kind = [0u8; 4];
    kind.copy_from_slice(&payload[..4]);
    if u32::from_le_bytes(kind) != KIND_SYNC_MARKER {
        return None;
    }
    let mut durable = [0u8; 8];
    durable.copy_from_slice(&payload[4..]);
    let durable = Lsn::new(u64::from_le_bytes(durable));
    (durable <= lsn).then_some(Marker { lsn, durable })
}

const _: () = assert!(MARKER_FRAME_LEN == FRAME_HEADER_LEN + 12);
