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
//!   ([`SlidingBlocks`]), each block hashed once, when a candidate first covers it. So a tail of
//!   `T` bytes costs at most one pass over `T` plus, per plausible candidate, at most two partial
//!   blocks and one `combine` per whole block, instead of rehashing up to `max_payload_len` bytes
//!   per candidate (which grew as `T * limit^2`).
//! - Memory: candidates are tried at increasing offsets, so blocks before the current candidate
//!   are dropped; the search holds the CRCs of at most one maximal frame's blocks, and reads the
//!   body through a [`Source`] (a window plus one maximal frame, `crate::stream_scan`).

use crate::checksum::{frame_crc_with, SlidingBlocks, BLOCK_LEN};
use crate::frame::{Codec, Decoded, InvalidFrame, FRAME_HEADER_LEN};
use crate::header::read_u32;
use crate::scan::Damage;
use crate::stream_scan::{first_nonzero_from, Source};
use crate::Lsn;

/// Candidates up to this long are hashed directly; longer ones use [`SlidingBlocks`].
const DIRECT_HASH_MAX: usize = 4 * BLOCK_LEN;

/// Finds the first body offset after `damaged` where a valid frame starts, if any.
///
/// Reads `body` in increasing offsets (the claimed-length jump aside), asking for one maximal
/// frame from each candidate: see `crate::stream_scan` for why a window plus that much is
/// enough.
pub(crate) fn find_next_valid<Src: Source>(
    codec: &Codec,
    base_lsn: Lsn,
    body: &mut Src,
    damaged: u64,
    damage: Damage,
) -> Result<Option<u64>, Src::Error> {
    let len = body.len();
    let search = Search {
        codec,
        base_lsn,
        // The longest frame that passes the decoder's length check: `max_payload_len <=
        // u32::MAX - 8`, so this fits in a u32, and in a usize on every target with an allocator.
        span: FRAME_HEADER_LEN + codec.max_payload_len() as usize,
    };
    if let Damage::Invalid(InvalidFrame::ChecksumMismatch { .. }) = damage {
        let claimed = frame_len_field(body.bytes(damaged, FRAME_HEADER_LEN)?);
        let next = damaged.saturating_add(claimed);
        if claimed >= FRAME_HEADER_LEN as u64 && next < len {
            match search.is_valid_at(body, next, None)? {
                None => return Ok(None),
                Some(true) => return Ok(Some(next)),
                Some(false) => {}
            }
        }
    }
    let mut blocks = SlidingBlocks::new(damaged);
    let mut candidate = damaged.saturating_add(1);
    while candidate.saturating_add(FRAME_HEADER_LEN as u64) <= len {
        let Some(first_nonzero) = first_nonzero_from(body, candidate)? else {
            return Ok(None);
        };
        // The length field sits at bytes 4..8 of a frame: the first non-zero byte must fall at or
        // before the end of it.
        candidate = candidate.max(first_nonzero.saturating_sub(FRAME_HEADER_LEN as u64 - 1));
        if candidate.saturating_add(FRAME_HEADER_LEN as u64) > len {
            return Ok(None);
        }
        match search.is_valid_at(body, candidate, Some(&mut blocks))? {
            None => return Ok(None),
            Some(true) => return Ok(Some(candidate)),
            Some(false) => {}
        }
        candidate += 1;
    }
    Ok(None)
}

struct Search<'a> {
    codec: &'a Codec,
    base_lsn: Lsn,
    /// Bytes of the longest frame the codec accepts: what each candidate asks the source for.
    span: usize,
}

impl Search<'_> {
    /// Whether a valid frame starts at `offset` (any offset inside the body), or `None` when
    /// `offset`'s LSN is past `Lsn::MAX`, and so is every later one. Long candidates take their
    /// CRC from `blocks` when given (candidates at increasing offsets), else hash directly.
    fn is_valid_at<Src: Source>(
        &self,
        body: &mut Src,
        offset: u64,
        blocks: Option<&mut SlidingBlocks>,
    ) -> Result<Option<bool>, Src::Error> {
        let Some(lsn) = self.base_lsn.checked_add(offset) else {
            return Ok(None);
        };
        let rest = body.len().saturating_sub(offset);
        // At least one maximal frame (or the whole rest): any candidate that passes the cheap
        // checks lies whole in it.
        let frame = body.bytes(offset, self.span)?;
        let Some(header) = frame.get(..FRAME_HEADER_LEN) else {
            return Ok(Some(false));
        };
        // Decoding the header alone applies every cheap check (length bounds, limit, LSN
        // overflow) and says how long the frame claims to be, without hashing anything.
        let needed = match self.codec.decode(lsn, header) {
            Decoded::Record(_) | Decoded::Marker(_) => return Ok(Some(true)),
            Decoded::Invalid { .. } => return Ok(Some(false)),
            Decoded::Incomplete { needed, .. } => needed,
        };
        if needed as u64 > rest {
            return Ok(Some(false));
        }
        let Some(frame) = frame.get(..needed) else {
            // `needed <= span` and the source returned at least `min(span, rest)` bytes.
            debug_assert!(false, "a source returned less than it was asked for");
            return Ok(Some(false));
        };
        let blocks = match blocks {
            Some(blocks) if needed > DIRECT_HASH_MAX => blocks,
            _ => {
                return Ok(Some(matches!(
                    self.codec.decode(lsn, frame),
                    Decoded::Record(_) | Decoded::Marker(_)
                )))
            }
        };
        let payload = offset + FRAME_HEADER_LEN as u64..offset + needed as u64;
        // `needed` passed the decoder's limit check, so it fits the u32 length field.
        let computed = frame_crc_with(self.codec.salt_crc(), lsn, needed as u32, |hasher| {
            blocks.update(hasher, payload, offset, frame)
        });
        Ok(Some(computed == read_u32(frame, 0)))
    }
}

fn frame_len_field(bytes: &[u8]) -> u64 {
    match bytes.get(4..8) {
        Some(raw) => u64::from(read_u32(raw, 0)),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Codec, InvalidFrame};
    use crate::stream_scan::SliceSource;

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
        let mut source = SliceSource(&body);
        assert_eq!(
            find_next_valid(&codec, base, &mut source, 0, damage),
            Ok(None)
        );
    }
}
