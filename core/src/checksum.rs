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
            crc = if crc & 1 != 0 { (crc >> 1) ^ POLY } else { crc >> 1 };
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
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&lsn.get().to_le_bytes());
    head[8..].copy_from_slice(&len_field.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new_with_initial(salt_crc);
    hasher.update(&head);
    hasher.update(payload);
    hasher.finalize()
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
}
