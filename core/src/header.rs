//! The file header that starts every log file (segment), and its two slots in format v2.
//!
//! One header slot, all integers little-endian (see `docs/format.md`):
//!
//! | offset | size | field                                          |
//! |-------:|-----:|------------------------------------------------|
//! |      0 |    8 | magic [`MAGIC`]                                |
//! |      8 |    4 | format version (`u32`: 1 or 2)                 |
//! |     12 |    4 | header length in bytes (`u32`, [`HEADER_LEN`]) |
//! |     16 |    8 | salt (`u64`), chosen at random when the log is created |
//! |     24 |    8 | base LSN (`u64`): the LSN of the first frame byte after the header |
//! |     32 |    8 | sync mark (`u64`): see below; zero when absent |
//! |     40 |    4 | flags (`u32`): bit 0 = the sync mark is present; other bits zero |
//! |     44 |    8 | v2: the slot's sequence number (`u64`); v1: reserved, zero |
//! |     52 |    8 | reserved, written as zero, ignored             |
//! |     60 |    4 | CRC32 of bytes 0..60                           |
//!
//! A v1 file has one slot at offset 0 and its frames start at 64. A v2 file has two slots, at 0
//! and 64, and its frames start at [`BODY_OFFSET`] (128). A v2 writer never rewrites the slot
//! that holds the newest header: a rewrite (a new sync mark, a new base LSN) goes to slot
//! `sequence % 2` with the next sequence number, and the storage is synced before the next
//! rewrite. So a write torn at any byte leaves the other slot valid, and [`FileHeader::read`]
//! takes the valid slot with the highest sequence: a torn rewrite costs at most the newer mark,
//! never the file. A new v2 file has both slots valid (sequences 0 and 1).
//!
//! The sync mark is an LSN below which every frame of this file was durable at an earlier sync:
//! a lower bound that lets recovery tell damage left by an interrupted, never-acknowledged batch
//! (at or past the mark) from damage to data that was acknowledged (below it). In v2 the sync
//! marker frames in the body carry the same fact at every sync (`crate::marker`), and the
//! header's mark moves only when a file is sealed or closed. v1 files whose flags lack bit 0
//! (written before the mark existed) carry no mark; recovery then treats them as it always did.
//!
//! Invariant: decoding checks the magic before anything else and the version before the
//! checksum, so a foreign file is reported as foreign and a file from a newer release as newer,
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
pub const FORMAT_VERSION: u32 = 2;
/// The first format version: one header slot, no sync marker frames. Still read, and still
/// written to a v1 file a writer reopens (a file never changes version).
pub const FORMAT_V1: u32 = 1;
/// Bytes in one header slot (the whole header of a v1 file).
pub const HEADER_LEN: usize = 64;
/// Header slots in a v2 file.
pub const HEADER_SLOTS: usize = 2;
/// The file offset where the frames of a v2 file (every file this build creates) start.
pub const BODY_OFFSET: usize = HEADER_SLOTS * HEADER_LEN;

const VERSION_OFFSET: usize = 8;
const HEADER_LEN_OFFSET: usize = 12;
const SALT_OFFSET: usize = 16;
const BASE_LSN_OFFSET: usize = 24;
const SYNC_MARK_OFFSET: usize = 32;
const FLAGS_OFFSET: usize = 40;
const SEQUENCE_OFFSET: usize = 44;
const CRC_OFFSET: usize = 60;
/// Flags bit 0: the sync mark field holds a sync mark.
const FLAG_SYNC_MARK: u32 = 1;

/// The decoded contents of a file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// The file's format version: [`FORMAT_V1`] or [`FORMAT_VERSION`]. It says where the frames
    /// start ([`FileHeader::body_offset`]) and whether the body may hold sync marker frames.
    pub version: u32,
    /// The log's random salt, mixed into every frame checksum.
    pub salt: u64,
    /// The LSN of the first frame byte in this file.
    pub base_lsn: Lsn,
    /// Every frame of this file below this LSN was durable at an earlier sync (`None` in files
    /// written without the mark). Never below `base_lsn` once decoded.
    pub sync_mark: Option<Lsn>,
    /// v2: which rewrite of the header this slot holds (the slot is `sequence % 2`); zero in v1.
    pub sequence: u64,
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
    /// A header for a new v2 file starting at `base_lsn`, with its sync mark at `base_lsn`:
    /// nothing in the file is known durable yet, and the file maintains a mark from the start.
    pub fn new(salt: u64, base_lsn: Lsn) -> FileHeader {
        FileHeader {
            version: FORMAT_VERSION,
            salt,
            base_lsn,
            sync_mark: Some(base_lsn),
            sequence: 0,
        }
    }

    /// A header for a v1 file (one slot, no marker frames): for tests and tools that build the
    /// files older releases wrote.
    pub fn v1(salt: u64, base_lsn: Lsn) -> FileHeader {
        FileHeader {
            version: FORMAT_V1,
            ..FileHeader::new(salt, base_lsn)
        }
    }

    /// The same header with its sync mark at `lsn`.
    pub fn with_sync_mark(self, lsn: Lsn) -> FileHeader {
        FileHeader {
            sync_mark: Some(lsn),
            ..self
        }
    }

    /// The file offset where this file's frames start: 64 in v1, [`BODY_OFFSET`] in v2.
    pub const fn body_offset(&self) -> u64 {
        body_offset(self.version)
    }

    /// The frames of a file image this header starts: `image` from [`FileHeader::body_offset`]
    /// on (empty when the image ends before it).
    pub fn body_of<'a>(&self, image: &'a [u8]) -> &'a [u8] {
        usize::try_from(self.body_offset())
            .ok()
            .and_then(|offset| image.get(offset..))
            .unwrap_or(&[])
    }

    /// The header that replaces this one in the file: `changed` applied, and in v2 the next
    /// sequence number, so it goes to the other slot ([`FileHeader::slot_offset`]).
    pub fn next(self, changed: impl FnOnce(FileHeader) -> FileHeader) -> FileHeader {
        let sequence = match self.version {
            FORMAT_V1 => 0,
            _ => self.sequence.wrapping_add(1),
        };
        FileHeader {
            sequence,
            ..changed(self)
        }
    }

    /// The file offset of the slot this header is written to: 0 in v1, `64 * (sequence % 2)`
    /// in v2.
    pub const fn slot_offset(&self) -> u64 {
        match self.version {
            FORMAT_V1 => 0,
            _ => (self.sequence % HEADER_SLOTS as u64) * HEADER_LEN as u64,
        }
    }

    /// The bytes a new file starts with, up to its body: the one slot of a v1 header, or both
    /// slots of a v2 header (sequences 0 and 1, otherwise equal), so either can be torn later.
    pub fn encode_initial(&self) -> alloc::vec::Vec<u8> {
        let mut bytes = alloc::vec::Vec::with_capacity(BODY_OFFSET);
        match self.version {
            FORMAT_V1 => bytes.extend_from_slice(&self.encode()),
            _ => {
                let first = FileHeader {
                    sequence: 0,
                    ..*self
                };
                bytes.extend_from_slice(&first.encode());
                bytes.extend_from_slice(&first.next(|header| header).encode());
            }
        }
        bytes
    }

    /// Encodes the header into one [`HEADER_LEN`]-byte slot of its version.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..VERSION_OFFSET].copy_from_slice(&MAGIC);
        bytes[VERSION_OFFSET..HEADER_LEN_OFFSET].copy_from_slice(&self.version.to_le_bytes());
        bytes[HEADER_LEN_OFFSET..SALT_OFFSET].copy_from_slice(&header_len_u32().to_le_bytes());
        bytes[SALT_OFFSET..BASE_LSN_OFFSET].copy_from_slice(&self.salt.to_le_bytes());
        bytes[BASE_LSN_OFFSET..BASE_LSN_OFFSET + 8]
            .copy_from_slice(&self.base_lsn.get().to_le_bytes());
        if let Some(mark) = self.sync_mark {
            bytes[SYNC_MARK_OFFSET..FLAGS_OFFSET].copy_from_slice(&mark.get().to_le_bytes());
            bytes[FLAGS_OFFSET..FLAGS_OFFSET + 4].copy_from_slice(&FLAG_SYNC_MARK.to_le_bytes());
        }
        if self.version != FORMAT_V1 {
            bytes[SEQUENCE_OFFSET..SEQUENCE_OFFSET + 8]
                .copy_from_slice(&self.sequence.to_le_bytes());
        }
        let crc = crc32fast::hash(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads a file's header from the start of its bytes (which may hold more): the one slot of
    /// a v1 file, or the newest valid slot of a v2 file.
    ///
    /// Slot 0 decides the version: a valid v1 slot 0 is a v1 file, and slot 1 is never looked at
    /// (those bytes are frames). Otherwise a valid v2 slot wins over a damaged one, and of two
    /// valid v2 slots the one with the higher sequence. With no valid slot, the error is slot
    /// 0's (a foreign file is `NotAWalFile`, a newer one `NewerVersion`).
    pub fn read(bytes: &[u8]) -> Result<FileHeader, HeaderError> {
        let first = FileHeader::decode(bytes);
        if let Ok(header) = first {
            if header.version == FORMAT_V1 {
                return Ok(header);
            }
        }
        let second = bytes
            .get(HEADER_LEN..)
            .map(FileHeader::decode)
            .and_then(Result::ok)
            .filter(|header| header.version == FORMAT_VERSION);
        match (first, second) {
            (Ok(first), Some(second)) if second.sequence > first.sequence => Ok(second),
            (Ok(first), _) => Ok(first),
            (Err(_), Some(second)) => Ok(second),
            (Err(err), None) => Err(err),
        }
    }

    /// Decodes one header slot from the start of `bytes` (which may hold more than a slot).
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
        let sequence = match version {
            FORMAT_V1 => 0,
            _ => read_u64(bytes, SEQUENCE_OFFSET),
        };
        Ok(FileHeader {
            version,
            salt: read_u64(bytes, SALT_OFFSET),
            base_lsn,
            sync_mark,
            sequence,
        })
    }
}

/// The file offset where the frames of a file of format `version` start.
pub const fn body_offset(version: u32) -> u64 {
    match version {
        FORMAT_V1 => HEADER_LEN as u64,
        _ => BODY_OFFSET as u64,
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
        bytes[VERSION_OFFSET..HEADER_LEN_OFFSET].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            FileHeader::decode(&bytes),
            Err(HeaderError::NewerVersion {
                found: 3,
                supported: 2
            })
        );
        assert_eq!(
            FileHeader::read(&bytes),
            Err(HeaderError::NewerVersion {
                found: 3,
                supported: 2
            })
        );
    }

    #[test]
    fn a_v1_header_keeps_its_layout_and_one_slot() {
        let header = FileHeader::v1(7, Lsn::new(4096)).with_sync_mark(Lsn::new(5000));
        let bytes = header.encode();
        assert_eq!(read_u32(&bytes, VERSION_OFFSET), 1);
        assert!(bytes[SEQUENCE_OFFSET..CRC_OFFSET].iter().all(|&b| b == 0));
        assert_eq!(header.body_offset(), 64);
        assert_eq!(header.encode_initial(), bytes.to_vec());
        // Slot 1's bytes are frames in a v1 file: even a valid v2 slot there is not looked at.
        let mut file = bytes.to_vec();
        file.extend_from_slice(&FileHeader::new(7, Lsn::new(9999)).next(|h| h).encode());
        assert_eq!(FileHeader::read(&file), Ok(header));
        assert_eq!(
            header
                .next(|h| h.with_sync_mark(Lsn::new(6000)))
                .slot_offset(),
            0
        );
    }

    #[test]
    fn the_newest_valid_slot_wins_and_a_torn_one_is_passed_over() {
        let header = FileHeader::new(7, Lsn::new(4096));
        let mut file = header.encode_initial();
        assert_eq!(file.len(), BODY_OFFSET);
        let initial = FileHeader::read(&file).expect("both slots valid");
        assert_eq!((initial.sequence, initial.slot_offset()), (1, 64));
        let sealed = initial.next(|h| h.with_sync_mark(Lsn::new(5000)));
        assert_eq!((sealed.sequence, sealed.slot_offset()), (2, 0));
        file[..HEADER_LEN].copy_from_slice(&sealed.encode());
        assert_eq!(FileHeader::read(&file), Ok(sealed));
        // A rewrite of either slot torn at any byte: the old bytes after the new prefix.
        let newer = sealed.next(|h| h.with_sync_mark(Lsn::new(6000)));
        for cut in 1..HEADER_LEN {
            let mut torn = file.clone();
            let at = newer.slot_offset() as usize;
            torn[at..at + cut].copy_from_slice(&newer.encode()[..cut]);
            assert_eq!(
                FileHeader::read(&torn),
                Ok(sealed),
                "slot 1 torn after {cut} bytes"
            );
        }
        for cut in 1..HEADER_LEN {
            let mut torn = file.clone();
            torn[HEADER_LEN..BODY_OFFSET].copy_from_slice(&newer.encode());
            let newest = newer.next(|h| h.with_sync_mark(Lsn::new(7000)));
            torn[..cut].copy_from_slice(&newest.encode()[..cut]);
            assert_eq!(
                FileHeader::read(&torn),
                Ok(newer),
                "slot 0 torn after {cut} bytes"
            );
        }
    }

    #[test]
    fn with_both_slots_damaged_the_first_slots_error_is_reported() {
        let mut file = FileHeader::new(7, Lsn::ZERO).encode_initial();
        file[20] ^= 1;
        file[HEADER_LEN + 20] ^= 1;
        assert!(matches!(
            FileHeader::read(&file),
            Err(HeaderError::ChecksumMismatch { .. })
        ));
        assert!(matches!(
            FileHeader::read(b"SQLite format 3\0"),
            Err(HeaderError::NotAWalFile { .. })
        ));
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
