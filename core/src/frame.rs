//! Record frames: the byte layout of one record, its encoder and its decoder.
//!
//! A frame is `[crc: u32 LE][frame_len: u32 LE][payload]`, where `frame_len` counts the whole
//! frame including its 8-byte header, and `crc` is [`checksum::frame_crc`] over the salt, the
//! frame's LSN, the length field and the payload.
//!
//! Invariants:
//! - `frame_len >= FRAME_HEADER_LEN`, so a zero-filled region (a preallocated or never-written
//!   tail) never decodes as a frame, whatever the salt.
//! - The decoder checks the length against [`Codec::max_payload_len`] before it looks at (or a
//!   caller allocates for) the payload.
//! - Decoding returns one of: a record, "incomplete" (more bytes would be needed: a torn tail if
//!   nothing follows), or "invalid at LSN x". It never panics on any input.
//!
//! [`checksum::frame_crc`]: crate::checksum

use crate::checksum::{frame_crc, salt_crc};
use crate::header::read_u32;
use crate::marker::{marker_payload, parse_marker, Marker, CONTROL_CRC_XOR, MARKER_FRAME_LEN};
use crate::Lsn;
use core::fmt;

/// Bytes of frame header before the payload: CRC32 then the frame length.
pub const FRAME_HEADER_LEN: usize = 8;
/// The payload limit a [`Codec`] uses unless told otherwise: 1 MiB.
pub const DEFAULT_MAX_PAYLOAD_LEN: u32 = 1 << 20;
/// The largest payload limit the format can express (the frame length is a `u32`).
pub const MAX_PAYLOAD_LEN_LIMIT: u32 = u32::MAX - FRAME_HEADER_LEN as u32;

const CRC_OFFSET: usize = 0;
const LEN_OFFSET: usize = 4;

/// The bytes a frame with a payload of `payload_len` bytes occupies.
#[inline]
pub const fn frame_len(payload_len: usize) -> usize {
    FRAME_HEADER_LEN + payload_len
}

/// Encodes and decodes frames for one log: its salt and its payload size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codec {
    salt: u64,
    max_payload_len: u32,
    /// The format version of the file it reads: control frames (sync markers) decode as such
    /// only in v2; a v1 codec reads them as checksum mismatches, as every v1 reader did.
    version: u32,
    /// `checksum::salt_crc(salt)`, computed once: every frame's CRC continues from it.
    salt_crc: u32,
}

/// One decoded record, borrowing its payload from the decoded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Where the record's frame starts in the logical stream.
    pub lsn: Lsn,
    /// The record's payload.
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// Bytes the record's frame occupies.
    pub fn frame_len(&self) -> usize {
        frame_len(self.payload.len())
    }

    /// The LSN just past this record's frame: where the next record starts.
    pub fn end_lsn(&self) -> Lsn {
        // A decoded frame fits in a slice, so its length fits in u64, and the LSN of its end
        // was checked not to overflow when the frame was decoded. A hand-built record past the
        // end of the LSN space ends at `Lsn::MAX` rather than wrapping.
        self.lsn
            .checked_add(self.frame_len() as u64)
            .unwrap_or(Lsn::MAX)
    }
}

/// The result of decoding the bytes at one LSN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete frame whose checksum matches.
    Record(Record<'a>),
    /// A complete sync marker frame (format v2) whose checksum matches: not a record, but part
    /// of the valid log ([`MARKER_FRAME_LEN`] bytes).
    Marker(Marker),
    /// The bytes end inside a frame: `needed` bytes would be required, `available` are present.
    Incomplete {
        /// The LSN of the frame.
        lsn: Lsn,
        /// Bytes present from `lsn` on.
        available: usize,
        /// Bytes the frame needs (at least [`FRAME_HEADER_LEN`] when the length is unknown).
        needed: usize,
    },
    /// The bytes at `lsn` are not a valid frame.
    Invalid {
        /// The LSN of the bytes that failed to decode.
        lsn: Lsn,
        /// What was wrong with them.
        reason: InvalidFrame,
    },
}

/// Why the bytes at some LSN are not a valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidFrame {
    /// The length field is smaller than a frame header (zero-filled space reads this way).
    LengthTooSmall {
        /// The frame length found.
        frame_len: u32,
    },
    /// The length field exceeds the configured payload limit.
    LengthOverLimit {
        /// The payload length the field implies.
        payload_len: u32,
        /// The configured maximum payload length.
        max_payload_len: u32,
    },
    /// The frame would end past `Lsn::MAX`.
    LsnOverflow,
    /// The checksum does not match the bytes (or they belong to another salt or LSN).
    ChecksumMismatch {
        /// The checksum stored in the frame.
        stored: u32,
        /// The checksum of the bytes present, for this log's salt and this LSN.
        computed: u32,
    },
    /// A control frame's checksum matches, but it is no control frame this build knows (or a
    /// sync marker vouching for bytes after itself, which no writer produces).
    BadControlFrame,
}

impl fmt::Display for InvalidFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InvalidFrame::LengthTooSmall { frame_len } => write!(
                f,
                "frame length {frame_len} is below the {FRAME_HEADER_LEN}-byte minimum \
                 (unwritten or zero-filled space)"
            ),
            InvalidFrame::LengthOverLimit {
                payload_len,
                max_payload_len,
            } => write!(
                f,
                "payload length {payload_len} exceeds the limit of {max_payload_len} bytes (if \
                 the log was written with a larger limit, open it with that limit)"
            ),
            InvalidFrame::LsnOverflow => write!(f, "frame would end past the largest LSN"),
            InvalidFrame::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            InvalidFrame::BadControlFrame => write!(
                f,
                "a control frame this build does not know, or a sync marker that claims more \
                 than it can"
            ),
        }
    }
}

/// Why a record could not be encoded. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload is larger than the configured limit.
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The configured maximum payload length.
        max: u32,
    },
    /// The output buffer cannot hold the frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The frame would end past `Lsn::MAX`.
    LsnOverflow {
        /// The LSN the frame would start at.
        lsn: Lsn,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::PayloadTooLarge { len, max } => write!(
                f,
                "record of {len} bytes exceeds the limit of {max} bytes: split it, or raise \
                 max_payload_len (up to {MAX_PAYLOAD_LEN_LIMIT}) for every reader and writer"
            ),
            EncodeError::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer holds {available} bytes but the frame needs {needed}"
            ),
            EncodeError::LsnOverflow { lsn } => {
                write!(f, "a record at LSN {lsn} would end past the largest LSN")
            }
        }
    }
}

impl Codec {
    /// A codec for the log with this salt, with the default payload limit.
    pub const fn new(salt: u64) -> Codec {
        Codec {
            salt,
            max_payload_len: DEFAULT_MAX_PAYLOAD_LEN,
            version: crate::header::FORMAT_VERSION,
            salt_crc: salt_crc(salt),
        }
    }

    /// The codec for the file `header` starts: its salt and its format version.
    pub const fn for_header(header: &crate::FileHeader) -> Codec {
        Codec::new(header.salt).with_format(header.version)
    }

    /// The same codec for a file of format `version` ([`crate::FORMAT_V1`] or
    /// [`crate::FORMAT_VERSION`]): control frames decode as such only from v2 on.
    pub const fn with_format(self, version: u32) -> Codec {
        Codec { version, ..self }
    }

    /// The format version of the files this codec reads and writes.
    pub const fn format(&self) -> u32 {
        self.version
    }

    /// Whether this codec reads control frames (sync markers): format v2 files hold them.
    pub const fn control_frames(&self) -> bool {
        self.version != crate::header::FORMAT_V1
    }

    /// The same codec with another payload limit, clamped to [`MAX_PAYLOAD_LEN_LIMIT`].
    ///
    /// Every reader of a log needs a limit at least as large as the writer's: a reader with a
    /// smaller limit reports larger records as invalid.
    pub const fn with_max_payload_len(self, max_payload_len: u32) -> Codec {
        let max_payload_len = if max_payload_len > MAX_PAYLOAD_LEN_LIMIT {
            MAX_PAYLOAD_LEN_LIMIT
        } else {
            max_payload_len
        };
        Codec {
            max_payload_len,
            ..self
        }
    }

    /// The log's salt.
    pub const fn salt(&self) -> u64 {
        self.salt
    }

    /// `crc32(salt)`: the state every frame's CRC continues from.
    pub(crate) const fn salt_crc(&self) -> u32 {
        self.salt_crc
    }

    /// The largest payload this codec encodes or accepts when decoding.
    pub const fn max_payload_len(&self) -> u32 {
        self.max_payload_len
    }

    /// Checks that a payload of `payload_len` bytes may be encoded at `lsn`, and returns its
    /// frame length.
    pub fn check(&self, lsn: Lsn, payload_len: usize) -> Result<usize, EncodeError> {
        if payload_len > self.max_payload_len as usize {
            return Err(EncodeError::PayloadTooLarge {
                len: payload_len,
                max: self.max_payload_len,
            });
        }
        let len = frame_len(payload_len);
        if lsn.checked_add(len as u64).is_none() {
            return Err(EncodeError::LsnOverflow { lsn });
        }
        Ok(len)
    }

    /// Encodes `payload` as the frame at `lsn` into the start of `out`, without allocating.
    /// Returns the frame's length; on error `out` is unchanged.
    pub fn encode_into(
        &self,
        lsn: Lsn,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let len = self.check(lsn, payload.len())?;
        let Some(frame) = out.get_mut(..len) else {
            return Err(EncodeError::BufferTooSmall {
                needed: len,
                available: out.len(),
            });
        };
        // `check` bounded the payload by MAX_PAYLOAD_LEN_LIMIT, so the frame length fits in u32.
        let len_field = len as u32;
        frame[LEN_OFFSET..FRAME_HEADER_LEN].copy_from_slice(&len_field.to_le_bytes());
        frame[FRAME_HEADER_LEN..].copy_from_slice(payload);
        // Hash the caller's payload, not the copy just written (see `checksum`).
        let crc = frame_crc(self.salt_crc, lsn, len_field, payload);
        frame[CRC_OFFSET..LEN_OFFSET].copy_from_slice(&crc.to_le_bytes());
        Ok(len)
    }

    /// Appends the frame for `payload` at `lsn` to `out`. Returns the frame's length; on error
    /// `out` is unchanged.
    pub fn encode_append(
        &self,
        lsn: Lsn,
        payload: &[u8],
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let len = self.check(lsn, payload.len())?;
        // `check` bounded the payload by MAX_PAYLOAD_LEN_LIMIT, so the frame length fits in u32.
        let len_field = len as u32;
        // Hash the caller's payload, not the copy about to be written (see `checksum`).
        let crc = frame_crc(self.salt_crc, lsn, len_field, payload);
        let mut header = [0u8; FRAME_HEADER_LEN];
        header[CRC_OFFSET..LEN_OFFSET].copy_from_slice(&crc.to_le_bytes());
        header[LEN_OFFSET..].copy_from_slice(&len_field.to_le_bytes());
        out.reserve(len);
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
        Ok(len)
    }

    /// Appends a sync marker at `lsn` saying everything below `durable` was durable (see
    /// `crate::marker`). Returns the frame's length; on error `out` is unchanged.
    pub fn encode_marker(
        &self,
        lsn: Lsn,
        durable: Lsn,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        if lsn.checked_add(MARKER_FRAME_LEN as u64).is_none() {
            return Err(EncodeError::LsnOverflow { lsn });
        }
        let payload = marker_payload(durable);
        // A 20-byte frame: the length fits in u32.
        let len_field = MARKER_FRAME_LEN as u32;
        let crc = frame_crc(self.salt_crc, lsn, len_field, &payload) ^ CONTROL_CRC_XOR;
        out.reserve(MARKER_FRAME_LEN);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&len_field.to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(MARKER_FRAME_LEN)
    }

    /// Decodes the frame that starts at the beginning of `bytes`, whose LSN is `lsn`.
    ///
    /// The length is checked against the limit before anything else is read, so a corrupt
    /// length can never make a caller allocate or read out of bounds.
    pub fn decode<'a>(&self, lsn: Lsn, bytes: &'a [u8]) -> Decoded<'a> {
        if bytes.len() < FRAME_HEADER_LEN {
            return Decoded::Incomplete {
                lsn,
                available: bytes.len(),
                needed: FRAME_HEADER_LEN,
            };
        }
        let len_field = read_u32(bytes, LEN_OFFSET);
        let reason = if (len_field as usize) < FRAME_HEADER_LEN {
            Some(InvalidFrame::LengthTooSmall {
                frame_len: len_field,
            })
        } else if len_field - FRAME_HEADER_LEN as u32 > self.max_payload_len {
            Some(InvalidFrame::LengthOverLimit {
                payload_len: len_field - FRAME_HEADER_LEN as u32,
                max_payload_len: self.max_payload_len,
            })
        } else if lsn.checked_add(u64::from(len_field)).is_none() {
            Some(InvalidFrame::LsnOverflow)
        } else {
            None
        };
        if let Some(reason) = reason {
            return Decoded::Invalid { lsn, reason };
        }
        let len = len_field as usize;
        let Some(frame) = bytes.get(..len) else {
            return Decoded::Incomplete {
                lsn,
                available: bytes.len(),
                needed: len,
            };
        };
        let stored = read_u32(frame, CRC_OFFSET);
        let computed = frame_crc(self.salt_crc, lsn, len_field, &frame[FRAME_HEADER_LEN..]);
        if stored != computed && self.control_frames() && stored == computed ^ CONTROL_CRC_XOR {
            return match parse_marker(lsn, &frame[FRAME_HEADER_LEN..]) {
                Some(marker) => Decoded::Marker(marker),
                None => Decoded::Invalid {
                    lsn,
                    reason: InvalidFrame::BadControlFrame,
                },
            };
        }
        if stored != computed {
            return Decoded::Invalid {
                lsn,
                reason: InvalidFrame::ChecksumMismatch { stored, computed },
            };
        }
        Decoded::Record(Record {
            lsn,
            payload: &frame[FRAME_HEADER_LEN..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: u64 = 0x5eed_5a17;

    #[test]
    fn round_trips_an_empty_and_a_small_payload() {
        let codec = Codec::new(SALT);
        let mut buf = [0u8; 64];
        for payload in [&b""[..], b"hello"] {
            let len = codec.encode_into(Lsn::new(7), payload, &mut buf).unwrap();
            assert_eq!(len, FRAME_HEADER_LEN + payload.len());
            assert_eq!(
                codec.decode(Lsn::new(7), &buf[..len]),
                Decoded::Record(Record {
                    lsn: Lsn::new(7),
                    payload
                })
            );
        }
    }

    #[test]
    fn a_marker_round_trips_and_a_v1_codec_reads_it_as_damage() {
        let codec = Codec::new(SALT);
        let mut out = alloc::vec::Vec::new();
        let lsn = Lsn::new(500);
        assert_eq!(
            codec.encode_marker(lsn, Lsn::new(300), &mut out),
            Ok(MARKER_FRAME_LEN)
        );
        assert_eq!(
            codec.decode(lsn, &out),
            Decoded::Marker(Marker {
                lsn,
                durable: Lsn::new(300)
            })
        );
        assert!(matches!(
            codec.with_format(crate::FORMAT_V1).decode(lsn, &out),
            Decoded::Invalid {
                reason: InvalidFrame::ChecksumMismatch { .. },
                ..
            }
        ));
        // At another LSN, or claiming bytes after itself, it is not a marker.
        assert!(matches!(
            codec.decode(Lsn::new(501), &out),
            Decoded::Invalid { .. }
        ));
        let mut boastful = alloc::vec::Vec::new();
        codec
            .encode_marker(lsn, Lsn::new(501), &mut boastful)
            .expect("encodes");
        assert_eq!(
            codec.decode(lsn, &boastful),
            Decoded::Invalid {
                lsn,
                reason: InvalidFrame::BadControlFrame
            }
        );
    }

    #[test]
    fn oversized_payload_is_refused_before_writing() {
        let codec = Codec::new(SALT).with_max_payload_len(4);
        let mut buf = [0xAAu8; 32];
        assert_eq!(
            codec.encode_into(Lsn::ZERO, b"12345", &mut buf),
            Err(EncodeError::PayloadTooLarge { len: 5, max: 4 })
        );
        assert!(buf.iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn short_buffer_is_refused_before_writing() {
        let codec = Codec::new(SALT);
        let mut buf = [0xAAu8; 10];
        assert_eq!(
            codec.encode_into(Lsn::ZERO, b"abc", &mut buf),
            Err(EncodeError::BufferTooSmall {
                needed: 11,
                available: 10
            })
        );
        assert!(buf.iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn over_limit_length_is_rejected_without_reading_the_payload() {
        let codec = Codec::new(SALT).with_max_payload_len(16);
        let mut bytes = [0u8; 8];
        bytes[LEN_OFFSET..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            codec.decode(Lsn::ZERO, &bytes),
            Decoded::Invalid {
                reason: InvalidFrame::LengthOverLimit { .. },
                ..
            }
        ));
    }

    #[test]
    fn frame_ending_past_the_largest_lsn_is_refused_both_ways() {
        let codec = Codec::new(SALT);
        let lsn = Lsn::new(u64::MAX - 4);
        assert_eq!(
            codec.encode_append(lsn, b"x", &mut alloc::vec::Vec::new()),
            Err(EncodeError::LsnOverflow { lsn })
        );
        let mut frame = [0u8; 9];
        frame[LEN_OFFSET..FRAME_HEADER_LEN].copy_from_slice(&9u32.to_le_bytes());
        assert!(matches!(
            codec.decode(lsn, &frame),
            Decoded::Invalid {
                reason: InvalidFrame::LsnOverflow,
                ..
            }
        ));
    }
}
