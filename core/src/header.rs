//! The file header that starts every log file (segment).
//!
//! Layout, format v1, all integers little-endian (see `docs/format.md`):
//!
//! | offset | size | field                                          |
//! |-------:|-----:|------------------------------------------------|
//! |      0 |    8 | magic [`MAGIC`]                                |
//! |      8 |    4 | format version (`u32`, [`FORMAT_VERSION`])     |
//! |     12 |    4 | header length in bytes (`u32`, [`HEADER_LEN`]) |
//! |     16 |    8 | salt (`u64`), chosen at random when the log is created |
//! |     24 |    8 | base LSN (`u64`): the LSN of the first frame byte after the header |
//! |     32 |    8 | sync mark (`u64`): see below; zero when absent |
//! |     40 |    4 | flags (`u32`): bit 0 = the sync mark is present; other bits zero |
//! |     44 |   16 | reserved, written as zero, ignored             |
//! |     60 |    4 | CRC32 of bytes 0..60                           |
//!
//! The sync mark is an LSN below which every frame of this file was durable at an earlier sync:
//! a lower bound the writer keeps in the header so that recovery can tell damage left by an
//! interrupted, never-acknowledged batch (at or past the mark) from damage to data that was
//! acknowledged (below it). Files whose flags lack bit 0 (written before the mark existed) carry
//! no mark; recovery then treats them as it always did. The fields were reserved zero in the
//! first v1 files, so the format version is still 1: a reader that ignores them loses only that
//! distinction.
//!
//! Invariant: [`FileHeader::decode`] checks the magic before anything else and the version before
//! the checksum, so a foreign file is reported as foreign and a file from a newer release as newer,
//! never as "corrupt". Decoding never modifies anything: callers leave such files untouched.
//!
//! Any base LSN and sync mark in `0..=u64::MAX` decodes (a mark below the base reads as the base).
//! Whether the file's bytes fit the LSN space the base leaves is the scan's decision
//! ([`crate::RecoveryError::BaseLsnTooHigh`]); every reader does its arithmetic on these fields
//! checked.

use crate::Lsn;
use core::fmt;

/// The first eight bytes of every Walden log file. The high-bit first byte and the trailing
/// newline catch files mangled by 7-bit or line-ending conversion, as PNG's signature does.
pub const MAGIC: [u8; 8] = *b"\x89WALDEN\n";
/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes in a v1 header. Frames start at this file offset.
pub const HEADER_LEN: usize = 64;

const VERSION_OFFSET: usize = 8;
const HEADER_LEN_OFFSET: usize = 12;
const SALT_OFFSET: usize = 16;
const BASE_LSN_OFFSET: usize = 24;
const SYNC_MARK_OFFSET: usize = 32;
const FLAGS_OFFSET: usize = 40;
const CRC_OFFSET: usize = 60;
/// Flags bit 0: the sync mark field holds a sync mark.
const FLAG_SYNC_MARK: u32 = 1;

/// The decoded contents of a file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// The log's random salt, mixed into every frame checksum.
    pub salt: u64,
    /// The LSN of the first frame byte in this file.
    pub base_lsn: Lsn,
    /// Every frame of this file below this LSN was durable at an earlier sync (`None` in files
    /// written without the mark). Never below `base_lsn` once decoded.
    pub sync_mark: Option<Lsn>,
}

/// Why a header could not be decoded. The file it came from must be left untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer bytes than a header needs, all of them consistent with a Walden header.
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// The file does not start with [`MAGIC`].
    NotAWalFile {
        /// The first bytes found (up to eight; the rest are zero).
        found: [u8; 8],
    },
    /// Written by a newer release of Walden in a format this build cannot read.
    NewerVersion {
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A version number no release of Walden ever wrote.
    UnknownVersion {
        /// The version in the file.
        found: u32,
    },
    /// The header length field disagrees with the format version.
    BadHeaderLength {
        /// The length found.
        found: u32,
    },
    /// The header bytes do not match their checksum.
    ChecksumMismatch {
        /// The checksum stored in the header.
        stored: u32,
        /// The checksum of the bytes actually present.
        computed: u32,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeaderError::Truncated { len } => write!(
                f,
                "log header is truncated ({len} of {HEADER_LEN} bytes): the file was cut while \
                 being created; if it holds nothing you need, delete it"
            ),
            HeaderError::NotAWalFile { found } => write!(
                f,
                "not a Walden log file (starts with {found:02x?}, expected {MAGIC:02x?}): check \
                 the path; the file was left untouched"
            ),
            HeaderError::NewerVersion { found, supported } => write!(
                f,
                "log format version {found} is newer than this build supports (up to \
                 {supported}): upgrade Walden to open it; the file was left untouched"
            ),
            HeaderError::UnknownVersion { found } => write!(
                f,
                "log format version {found} was never written by Walden: the header is damaged \
                 or the file is not a Walden log; the file was left untouched"
            ),
            HeaderError::BadHeaderLength { found } => write!(
                f,
                "log header length {found} does not match format version {FORMAT_VERSION} \
                 (expected {HEADER_LEN}): the header is damaged; the file was left untouched"
            ),
            HeaderError::ChecksumMismatch { stored, computed } => write!(
                f,
                "log header checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): \
                 the header is damaged; the file was left untouched"
            ),
        }
    }
}

impl FileHeader {
    /// A header for a new file starting at `base_lsn`, with its sync mark at `base_lsn`:
    /// nothing in the file is known durable yet, and the file maintains a mark from the start.
    pub fn new(salt: u64, base_lsn: Lsn) -> FileHeader {
        FileHeader {
            salt,
            base_lsn,
            sync_mark: Some(base_lsn),
        }
    }

    /// The same header with its sync mark at `lsn`.
    pub fn with_sync_mark(self, lsn: Lsn) -> FileHeader {
        FileHeader {
            sync_mark: Some(lsn),
            ..self
        }
    }

    /// Encodes the header into its fixed [`HEADER_LEN`]-byte form.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..VERSION_OFFSET].copy_from_slice(&MAGIC);
        bytes[VERSION_OFFSET..HEADER_LEN_OFFSET].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[HEADER_LEN_OFFSET..SALT_OFFSET].copy_from_slice(&header_len_u32().to_le_bytes());
        bytes[SALT_OFFSET..BASE_LSN_OFFSET].copy_from_slice(&self.salt.to_le_bytes());
        bytes[BASE_LSN_OFFSET..BASE_LSN_OFFSET + 8]
            .copy_from_slice(&self.base_lsn.get().to_le_bytes());
        if let Some(mark) = self.sync_mark {
            bytes[SYNC_MARK_OFFSET..FLAGS_OFFSET].copy_from_slice(&mark.get().to_le_bytes());
            bytes[FLAGS_OFFSET..FLAGS_OFFSET + 4].copy_from_slice(&FLAG_SYNC_MARK.to_le_bytes());
        }
        let crc = crc32fast::hash(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes a header from the start of `bytes` (which may hold more than a header).
    ///
    /// Checks, in order: magic, version, length, checksum. An empty slice is `Truncated { len: 0 }`;
    /// whether an empty file is a new log is the caller's decision, not the format's.
    pub fn decode(bytes: &[u8]) -> Result<FileHeader, HeaderError> {
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            let mut found = [0u8; 8];
            found[..magic_len].copy_from_slice(&bytes[..magic_len]);
            return Err(HeaderError::NotAWalFile { found });
        }
        if bytes.len() < HEADER_LEN_OFFSET {
            return Err(HeaderError::Truncated { len: bytes.len() });
        }
        let version = read_u32(bytes, VERSION_OFFSET);
        if version > FORMAT_VERSION {
            return Err(HeaderError::NewerVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(HeaderError::UnknownVersion { found: version });
        }
        if bytes.len() < HEADER_LEN {
            return Err(HeaderError::Truncated { len: bytes.len() });
        }
        let stored = read_u32(bytes, CRC_OFFSET);
        let computed = crc32fast::hash(&bytes[..CRC_OFFSET]);
        if stored != computed {
            return Err(HeaderError::ChecksumMismatch { stored, computed });
        }
        let header_len = read_u32(bytes, HEADER_LEN_OFFSET);
        if header_len != header_len_u32() {
            return Err(HeaderError::BadHeaderLength { found: header_len });
        }
        let base_lsn = Lsn::new(read_u64(bytes, BASE_LSN_OFFSET));
        let sync_mark = (read_u32(bytes, FLAGS_OFFSET) & FLAG_SYNC_MARK != 0)
            // A mark below the base says nothing more than "nothing is known durable".
            .then(|| Lsn::new(read_u64(bytes, SYNC_MARK_OFFSET)).max(base_lsn));
        Ok(FileHeader {
            salt: read_u64(bytes, SALT_OFFSET),
            base_lsn,
            sync_mark,
        })
    }
}

const fn header_len_u32() -> u32 {
    // HEADER_LEN is a small constant; the assertion makes the conversion provably lossless.
    const _: () = assert!(HEADER_LEN <= u32::MAX as usize);
    HEADER_LEN as u32
}

pub(crate) fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(raw)
}

fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FileHeader {
        FileHeader::new(0x0123_4567_89ab_cdef, Lsn::new(4096)).with_sync_mark(Lsn::new(5000))
    }

    #[test]
    fn round_trips() {
        assert_eq!(FileHeader::decode(&sample().encode()), Ok(sample()));
        let unmarked = FileHeader {
            sync_mark: None,
            ..sample()
        };
        assert_eq!(FileHeader::decode(&unmarked.encode()), Ok(unmarked));
    }

    #[test]
    fn a_header_without_the_mark_has_the_first_v1_layout() {
        let unmarked = FileHeader {
            sync_mark: None,
            ..sample()
        }
        .encode();
        assert!(unmarked[SYNC_MARK_OFFSET..CRC_OFFSET]
            .iter()
            .all(|&b| b == 0));
    }

    #[test]
    fn a_mark_below_the_base_reads_as_the_base() {
        let header = FileHeader::new(7, Lsn::new(4096)).with_sync_mark(Lsn::new(10));
        assert_eq!(
            FileHeader::decode(&header.encode()).map(|h| h.sync_mark),
            Ok(Some(Lsn::new(4096)))
        );
    }

    #[test]
    fn foreign_file_is_not_a_wal_file_even_when_short() {
        assert!(matches!(
            FileHeader::decode(b"SQLite format 3\0"),
            Err(HeaderError::NotAWalFile { .. })
        ));
        assert!(matches!(
            FileHeader::decode(b"{}"),
            Err(HeaderError::NotAWalFile { .. })
        ));
    }

    #[test]
    fn every_prefix_of_a_header_is_truncated() {
        let bytes = sample().encode();
        for len in 0..HEADER_LEN {
            assert_eq!(
                FileHeader::decode(&bytes[..len]),
                Err(HeaderError::Truncated { len }),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn newer_version_is_reported_before_the_checksum() {
        let mut bytes = sample().encode();
        bytes[VERSION_OFFSET..HEADER_LEN_OFFSET].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            FileHeader::decode(&bytes),
            Err(HeaderError::NewerVersion {
                found: 2,
                supported: 1
            })
        );
    }

    #[test]
    fn every_bit_flip_after_the_magic_is_detected() {
        let clean = sample().encode();
        for bit in (MAGIC.len() * 8)..(HEADER_LEN * 8) {
            let mut bytes = clean;
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert!(
                FileHeader::decode(&bytes).is_err(),
                "bit {bit} flip went unnoticed"
            );
        }
    }
}
