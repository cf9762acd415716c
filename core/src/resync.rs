//! Finding the first valid frame after damage: the search that tells a torn tail (nothing valid
//! follows) from corruption in the middle of a log (something valid does).
//!
//! A candidate is any later offset whose bytes decode as a frame for this log's salt *at that
//! offset's LSN*. The search tries the offset the damaged frame's own length points to first (a
//! payload bit flip leaves the length intact), then every later offset in order.
//!
//! Invariants:
//! - The search never looks at an offset whose LSN, or whose frame's end, would pass `Lsn::MAX`:
//!   no valid frame can live there, so it stops.
//! - A frame's length field is never zero, so zero runs are skipped a word at a time, and most
//!   other offsets are rejected by their length field alone (the decoder's cheap checks).
//! - Cost: a candidate whose length passes the checks needs its CRC. Short ones are hashed
//!   directly; long ones are assembled from per-block CRCs of the region after the damage
//!   ([`BlockCrcs`]), computed once. So a tail of `T` bytes costs one pass over `T` plus, per
//!   plausible candidate, at most two partial blocks and one `combine` per whole block, instead of
//!   rehashing up to `max_payload_len` bytes per candidate (which grew as `T * limit^2`).

use crate::checksum::{frame_crc_with, BlockCrcs, BLOCK_LEN};
use crate::frame::{Codec, Decoded, InvalidFrame, FRAME_HEADER_LEN};
use crate::header::read_u32;
use crate::scan::Damage;
use crate::Lsn;

/// Candidates up to this long are hashed directly; longer ones use [`BlockCrcs`].
const DIRECT_HASH_MAX: usize = 4 * BLOCK_LEN;

/// Finds the first body offset after `damaged` where a valid frame starts, if any.
pub(crate) fn find_next_valid(
    codec: &Codec,
    base_lsn: Lsn,
    body: &[u8],
    damaged: usize,
    damage: Damage,
) -> Option<usize> {
    let mut search = Search {
        codec,
        base_lsn,
        body,
        region_start: damaged,
        blocks: None,
    };
    if let Damage::Invalid(InvalidFrame::ChecksumMismatch { .. }) = damage {
        let claimed = frame_len_field(&body[damaged..]);
        let next = damaged.saturating_add(claimed);
        if claimed >= FRAME_HEADER_LEN && next < body.len() && search.is_valid_at(next)? {
            return Some(next);
        }
    }
    let mut candidate = damaged + 1;
    while candidate + FRAME_HEADER_LEN <= body.len() {
        let first_nonzero = candidate + body[candidate..].iter().position(|&b| b != 0)?;
        // The length field sits at bytes 4..8 of a frame: the first non-zero byte must fall at or
        // before the end of it.
        candidate = candidate.max(first_nonzero.saturating_sub(FRAME_HEADER_LEN - 1));
        if candidate + FRAME_HEADER_LEN > body.len() {
            return None;
        }
        if search.is_valid_at(candidate)? {
            return Some(candidate);
        }
        candidate += 1;
    }
    None
}

struct Search<'a> {
    codec: &'a Codec,
    base_lsn: Lsn,
    body: &'a [u8],
    /// Where the region after the damage starts; `blocks` covers `body[region_start..]`.
    region_start: usize,
    blocks: Option<BlockCrcs<'a>>,
}

impl Search<'_> {
    /// Whether a valid frame starts at `offset` (any offset inside the body), or `None` when
    /// `offset`'s LSN is past `Lsn::MAX`, and so is every later one.
    fn is_valid_at(&mut self, offset: usize) -> Option<bool> {
        let lsn = self.base_lsn.checked_add(offset as u64)?;
        let frame = &self.body[offset..];
        let Some(header) = frame.get(..FRAME_HEADER_LEN) else {
            return Some(false);
        };
        // Decoding the header alone applies every cheap check (length bounds, limit, LSN
        // overflow) and says how long the frame claims to be, without hashing anything.
        let needed = match self.codec.decode(lsn, header) {
            Decoded::Record(_) | Decoded::Marker(_) => return Some(true),
            Decoded::Invalid { .. } => return Some(false),
            Decoded::Incomplete { needed, .. } => needed,
        };
        if needed > frame.len() {
            return Some(false);
        }
        if needed <= DIRECT_HASH_MAX {
            return Some(matches!(
                self.codec.decode(lsn, frame),
                Decoded::Record(_) | Decoded::Marker(_)
            ));
        }
        let region = &self.body[self.region_start..];
        let blocks = self.blocks.get_or_insert_with(|| BlockCrcs::new(region));
        let payload = offset - self.region_start + FRAME_HEADER_LEN;
        let payload_end = offset - self.region_start + needed;
        // `needed` passed the decoder's limit check, so it fits the u32 length field.
        let computed = frame_crc_with(self.codec.salt_crc(), lsn, needed as u32, |hasher| {
            blocks.update(hasher, payload..payload_end)
        });
        Some(computed == read_u32(frame, 0))
    }
}

fn frame_len_field(bytes: &[u8]) -> usize {
    match bytes.get(4..8) {
        Some(raw) => read_u32(raw, 0) as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Codec, InvalidFrame};

    /// Prevents the search from wrapping past `Lsn::MAX` and "finding" a frame at LSN 0, before
    /// the damage (the `recovery` fuzz target found it; `scan_body` now refuses such a body before
    /// searching, so this calls the search directly).
    #[test]
    fn the_search_stops_at_the_end_of_the_lsn_space() {
        let codec = Codec::new(0x5eed);
        let base = Lsn::new(u64::MAX - 7);
        let mut body = alloc::vec![0xAA; 8];
        // At body offset 8, an empty frame valid for LSN 0: `base + 8` wrapped.
        codec
            .encode_append(Lsn::ZERO, b"", &mut body)
            .expect("fits at LSN 0");
        let damage = Damage::Invalid(InvalidFrame::LsnOverflow);
        assert_eq!(find_next_valid(&codec, base, &body, 0, damage), None);
    }
}
