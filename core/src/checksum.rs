//! The record checksum: one function, shared by the encoder and the decoder.
//!
//! A frame's CRC32 covers, in this order: the log's salt (u64 LE), the frame's LSN (u64 LE), the
//! frame length field (u32 LE) and the payload. Mixing in the salt and the LSN means bytes left
//! over from an older incarnation of a file, a frame copied to another position, or a frame read
//! at the wrong offset all fail the check even though their own bytes are intact.

use crate::Lsn;

/// CRC32 (IEEE, as computed by `crc32fast`) of `salt || lsn || length_and_payload`.
///
/// `length_and_payload` is the frame from its length field to its end: the encoder lays frames
/// out as `[crc][length][payload]` precisely so that this is one contiguous slice.
#[inline]
pub(crate) fn frame_crc(salt: u64, lsn: Lsn, length_and_payload: &[u8]) -> u32 {
    let mut prefix = [0u8; 16];
    prefix[..8].copy_from_slice(&salt.to_le_bytes());
    prefix[8..].copy_from_slice(&lsn.get().to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&prefix);
    hasher.update(length_and_payload);
    hasher.finalize()
}
