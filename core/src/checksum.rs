//! The record checksum: one function, shared by the encoder and the decoder.
//!
//! A frame's CRC32 covers, in this order: the log's salt (u64 LE), the frame's LSN (u64 LE), the
//! frame length field (u32 LE) and the payload. Mixing in the salt and the LSN means bytes left
//! over from an older incarnation of a file, a frame copied to another position, or a frame read
//! at the wrong offset all fail the check even though their own bytes are intact.
//!
//! How it is computed matters for speed, not for the value:
//! - The salt's part is computed once per log ([`salt_crc`]) and the CRC continues from it.
//! - The 12 bytes of LSN and length go through crc32fast's short-input (scalar) path, and the
//!   payload is hashed where it already lies. Hashing a buffer assembled just before (a prefix
//!   array, or the frame the encoder has just written) makes the SIMD kernel's 16-byte loads wait
//!   on store forwarding, which costs more than the CRC itself for small records.

use crate::Lsn;
use alloc::collections::VecDeque;
use core::ops::Range;
use crc32fast::Hasher;

/// CRC32 (IEEE) of the salt's 8 little-endian bytes: the state [`frame_crc`] continues from.
/// A `const fn` (bitwise, run once per codec) so that `Codec::new` stays `const`.
pub(crate) const fn salt_crc(salt: u64) -> u32 {
    const POLY: u32 = 0xEDB8_8320;
    let bytes = salt.to_le_bytes();
    let mut crc = !0u32;
    let mut i = 0;
    while i < bytes.len() {
        crc ^= bytes[i] as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        i += 1;
    }
    !crc
}

/// CRC32 (IEEE, as computed by `crc32fast`) of `salt || lsn || len_field || payload`, given
/// `salt_crc(salt)`.
#[inline]
pub(crate) fn frame_crc(salt_crc: u32, lsn: Lsn, len_field: u32, payload: &[u8]) -> u32 {
    frame_crc_with(salt_crc, lsn, len_field, |hasher| hasher.update(payload))
}

/// [`frame_crc`] where `hash_payload` feeds the payload to the hasher: lets a caller assemble a
/// long payload's CRC from precomputed pieces ([`BlockCrcs`]) instead of rehashing it.
#[inline]
pub(crate) fn frame_crc_with(
    salt_crc: u32,
    lsn: Lsn,
    len_field: u32,
    hash_payload: impl FnOnce(&mut Hasher),
) -> u32 {
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&lsn.get().to_le_bytes());
    head[8..].copy_from_slice(&len_field.to_le_bytes());
    let mut hasher = Hasher::new_with_initial(salt_crc);
    hasher.update(&head);
    hash_payload(&mut hasher);
    hasher.finalize()
}

/// Bytes per block in [`BlockCrcs`]. Long ranges cost two partial blocks of hashing plus one
/// `combine` (tens of nanoseconds) per whole block; 32 KiB balances the two for the megabyte
/// ranges recovery checks.
pub(crate) const BLOCK_LEN: usize = 32 * 1024;

/// The CRCs of consecutive [`BLOCK_LEN`]-byte blocks of a region (aligned at its start), so that
/// the CRC of any long range of it is assembled with `Hasher::combine` rather than rehashed.
/// Recovery uses it to check many overlapping candidate frames in a damaged tail in near-linear
/// time.
///
/// Blocks are hashed when a range first covers them, from the bytes the caller holds for that
/// range, and dropped once a range starts past them: callers ask for ranges that start at
/// increasing offsets (the search's candidates), so it keeps the blocks of about one range, not
/// of the whole region. A range that starts before the kept blocks restarts them (correct, only
/// slower).
pub(crate) struct SlidingBlocks {
    /// The offset of block 0.
    base: u64,
    /// The index of `crcs[0]`.
    first: u64,
    crcs: VecDeque<Hasher>,
}

impl SlidingBlocks {
    /// No blocks yet, of a region starting at offset `base`.
    pub(crate) fn new(base: u64) -> SlidingBlocks {
        SlidingBlocks {
            base,
            first: 0,
            crcs: VecDeque::new(),
        }
    }

    /// Continues `hasher` over the bytes at offsets `range` (at or after the base): exactly
    /// `hasher.update(..)` of them, but whole blocks inside the range are combined from their
    /// CRCs. `bytes` holds the bytes from offset `at` on, `range` included.
    pub(crate) fn update(&mut self, hasher: &mut Hasher, range: Range<u64>, at: u64, bytes: &[u8]) {
        // Offsets inside `range` lie in `bytes`, so their distance from `at` fits a usize.
        let index = |offset: u64| (offset - at) as usize;
        let block = BLOCK_LEN as u64;
        let first_whole = (range.start - self.base).div_ceil(block);
        let end_whole = (range.end - self.base) / block;
        if first_whole >= end_whole {
            hasher.update(&bytes[index(range.start)..index(range.end)]);
            return;
        }
        let start_of = |k: u64| self.base + k * block;
        hasher.update(&bytes[index(range.start)..index(start_of(first_whole))]);
        while self.first < first_whole && !self.crcs.is_empty() {
            self.crcs.pop_front();
            self.first += 1;
        }
        if self.crcs.is_empty() || self.first > first_whole {
            self.crcs.clear();
            self.first = first_whole;
        }
        while self.first + (self.crcs.len() as u64) < end_whole {
            let k = self.first + self.crcs.len() as u64;
            let mut crc = Hasher::new();
            crc.update(&bytes[index(start_of(k))..index(start_of(k + 1))]);
            self.crcs.push_back(crc);
        }
        for k in first_whole..end_whole {
            // `first <= first_whole` and the run reaches `end_whole`, so `k - first` indexes it.
            hasher.combine(&self.crcs[(k - self.first) as usize]);
        }
        hasher.update(&bytes[index(start_of(end_whole))..index(range.end)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_computation_equals_the_crc_of_the_concatenation() {
        for (salt, lsn, payload) in [
            (0u64, 0u64, &b""[..]),
            (0x0123_4567_89ab_cdef, 1 << 30, b"hello"),
            (u64::MAX, u64::MAX - 200, &[0xA5; 300][..]),
        ] {
            let len_field = 8 + payload.len() as u32;
            let mut whole = alloc::vec::Vec::new();
            whole.extend_from_slice(&salt.to_le_bytes());
            whole.extend_from_slice(&lsn.to_le_bytes());
            whole.extend_from_slice(&len_field.to_le_bytes());
            whole.extend_from_slice(payload);
            assert_eq!(salt_crc(salt), crc32fast::hash(&salt.to_le_bytes()));
            assert_eq!(
                frame_crc(salt_crc(salt), Lsn::new(lsn), len_field, payload),
                crc32fast::hash(&whole)
            );
        }
    }

    #[test]
    fn block_assembled_ranges_equal_direct_hashing() {
        let bytes: alloc::vec::Vec<u8> = (0..(5 * BLOCK_LEN + 123))
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2])
            .collect();
        let edges = [
            0,
            1,
            BLOCK_LEN - 1,
            BLOCK_LEN,
            BLOCK_LEN + 7,
            3 * BLOCK_LEN,
            bytes.len(),
        ];
        // Ranges at increasing starts (as the search asks), twice: the second pass goes back to
        // the first start, which restarts the kept blocks. Blocks are aligned 3 bytes in.
        let mut blocks = SlidingBlocks::new(3);
        for &start in edges.iter().chain(&edges).filter(|&&start| start >= 3) {
            for &end in edges.iter().filter(|&&end| end >= start) {
                let mut direct = Hasher::new_with_initial(0x1234_5678);
                direct.update(&bytes[start..end]);
                let mut assembled = Hasher::new_with_initial(0x1234_5678);
                // Hand over only the bytes from `start - 1` on, as a window source would.
                let at = start - 1;
                blocks.update(
                    &mut assembled,
                    start as u64..end as u64,
                    at as u64,
                    &bytes[at..],
                );
                assert_eq!(assembled.finalize(), direct.finalize(), "{start}..{end}");
            }
        }
    }
}
