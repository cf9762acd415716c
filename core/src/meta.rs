//! [`Meta`]: the log directory's metadata file (`META`): a small application-owned slot that
//! survives checkpoints, and the suffix truncations the log has made.
//!
//! Segment files hold records; a checkpoint removes whole segments. State that must outlive
//! them (a consensus engine's vote, the last purged entry) and the log's own truncations live in
//! one separate file of two slots, written the way v2 headers are: a rewrite goes to the slot
//! that does not hold the newest copy, and is synced before the next one, so a torn or lost
//! rewrite leaves the previous copy whole.
//!
//! # Layout (version 1)
//!
//! Slot `i` starts at byte `i * META_SLOT_BYTES`; a slot is only as long as its contents.
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic [`META_MAGIC`] |
//! | 8 | 4 | version (`u32`, little-endian, like every field): 1 |
//! | 12 | 8 | sequence (`u64`): which rewrite this is; the slot is `sequence % 2` |
//! | 20 | 4 | truncations (`u32`): how many 16-byte ranges follow |
//! | 24 | 4 | metadata length (`u32`) |
//! | 28 | 4 | CRC32 of bytes 0..28, then of the body |
//! | 32 | 16 x n | truncations: `from` (`u64`), `to` (`u64`): records in `[from, to)` are dropped |
//! | .. | len | the application's metadata bytes |
//!
//! Invariants:
//! - Truncations are sorted, disjoint and non-empty (`from < to`); decoding refuses any other
//!   list, as it refuses a bad checksum.
//! - A file whose slots both fail to decode is damaged: it is reported, never replaced by an
//!   empty one (that would forget a vote or bring truncated records back).
//! - As with v2 headers, one valid slot is enough: a slot that fails to decode may be a torn
//!   rewrite, whatever its version field says. Only when neither decodes and one names a newer
//!   version is the file [`MetaError::NewerVersion`].

use crate::Lsn;
use alloc::vec::Vec;
use core::fmt;

/// The first eight bytes of every slot of a `META` file.
pub const META_MAGIC: [u8; 8] = *b"\x89WALMETA";
/// The `META` format version this build writes and reads.
pub const META_VERSION: u32 = 1;
/// Bytes reserved for each slot; the second slot starts here.
pub const META_SLOT_BYTES: usize = 8192;
/// The longest metadata an application may store.
pub const MAX_METADATA_BYTES: usize = 4096;
/// The most truncations one `META` file holds (ranges below the first kept LSN are forgotten at
/// the next rewrite, so this bounds the truncations between two checkpoints).
pub const MAX_TRUNCATIONS: usize = (META_SLOT_BYTES - META_HEADER_BYTES - MAX_METADATA_BYTES) / 16;
const META_HEADER_BYTES: usize = 32;

/// A range of LSNs whose records a suffix truncation dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Truncation {
    /// The first dropped record's LSN.
    pub from: Lsn,
    /// The end of the log when it was truncated: appends resumed here.
    pub to: Lsn,
}

impl Truncation {
    /// Whether the record starting at `lsn` was dropped.
    pub fn covers(&self, lsn: Lsn) -> bool {
        self.from <= lsn && lsn < self.to
    }
}

/// One decoded slot of a `META` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Which rewrite this is; the slot it lives in is `sequence % 2`.
    pub sequence: u64,
    /// The log's suffix truncations, oldest first.
    pub truncations: Vec<Truncation>,
    /// The application's bytes ([`MAX_METADATA_BYTES`] at most).
    pub metadata: Vec<u8>,
}

/// Why a `META` file or a change to it was refused. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaError {
    /// Neither slot holds a valid copy (damage, or a file that is not a `META` file).
    Damaged,
    /// A newer release of Walden wrote this file.
    NewerVersion {
        /// The version found.
        found: u32,
    },
    /// The application's metadata is longer than [`MAX_METADATA_BYTES`].
    MetadataTooLong {
        /// Its length.
        len: usize,
    },
    /// More truncations since the first kept LSN than a `META` file holds.
    TooManyTruncations,
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Damaged => write!(
                f,
                "the log's META file is damaged (neither of its two copies passes its checksum): \
                 it holds the application's metadata and the log's truncations, so the log is \
                 not opened; restore the file from a backup. Nothing was changed"
            ),
            MetaError::NewerVersion { found } => write!(
                f,
                "the log's META file is version {found}, newer than this build reads \
                 ({META_VERSION}): open the log with a newer release of Walden"
            ),
            MetaError::MetadataTooLong { len } => write!(
                f,
                "metadata of {len} bytes is longer than the {MAX_METADATA_BYTES} a log keeps: \
                 store large state in the log itself and keep only a pointer here"
            ),
            MetaError::TooManyTruncations => write!(
                f,
                "the log already holds {MAX_TRUNCATIONS} truncations above its first kept LSN: \
                 checkpoint past the older ones before truncating again"
            ),
        }
    }
}

impl core::error::Error for MetaError {}

impl Meta {
    /// The copy that replaces this one: the next sequence number (so the other slot), with
    /// `truncations` and `metadata`, and truncations ending at or below `first_kept` forgotten.
    pub fn next(
        &self,
        truncations: Vec<Truncation>,
        metadata: Vec<u8>,
        first_kept: Lsn,
    ) -> Result<Meta, MetaError> {
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(MetaError::MetadataTooLong {
                len: metadata.len(),
            });
        }
        let truncations: Vec<Truncation> = truncations
            .into_iter()
            .filter(|t| t.to > first_kept)
            .collect();
        if truncations.len() > MAX_TRUNCATIONS {
            return Err(MetaError::TooManyTruncations);
        }
        Ok(Meta {
            sequence: self.sequence + 1,
            truncations,
            metadata,
        })
    }

    /// Where this copy is written in the file.
    pub fn slot_offset(&self) -> u64 {
        (self.sequence % 2) * META_SLOT_BYTES as u64
    }

    /// The slot's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            META_HEADER_BYTES + 16 * self.truncations.len() + self.metadata.len(),
        );
        out.extend_from_slice(&META_MAGIC);
        out.extend_from_slice(&META_VERSION.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&(self.truncations.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        for t in &self.truncations {
            out.extend_from_slice(&t.from.get().to_le_bytes());
            out.extend_from_slice(&t.to.get().to_le_bytes());
        }
        out.extend_from_slice(&self.metadata);
        let crc = slot_crc(&out);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// The newest valid copy in a whole `META` file image.
    pub fn read(image: &[u8]) -> Result<Meta, MetaError> {
        let first = Meta::decode(image);
        let second = image
            .get(META_SLOT_BYTES..)
            .filter(|rest| !rest.is_empty())
            .map(Meta::decode);
        match (first, second) {
            (Ok(a), Some(Ok(b))) => Ok(if b.sequence > a.sequence { b } else { a }),
            (Ok(a), _) => Ok(a),
            (Err(_), Some(Ok(b))) => Ok(b),
            // Neither decodes: say "newer" if either slot says so, else "damaged".
            (Err(a), Some(Err(b))) => Err(if matches!(b, MetaError::NewerVersion { .. }) {
                b
            } else {
                a
            }),
            (Err(err), None) => Err(err),
        }
    }

    /// Decodes the slot starting at `bytes[0]` (anything after its contents is ignored).
    pub fn decode(bytes: &[u8]) -> Result<Meta, MetaError> {
        let field = |at: usize| -> Option<[u8; 8]> { bytes.get(at..at + 8)?.try_into().ok() };
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        if field(0) != Some(META_MAGIC) {
            return Err(MetaError::Damaged);
        }
        let version = word(8).ok_or(MetaError::Damaged)?;
        if version > META_VERSION {
            return Err(MetaError::NewerVersion { found: version });
        }
        if version != META_VERSION {
            return Err(MetaError::Damaged);
        }
        let sequence = u64::from_le_bytes(field(12).ok_or(MetaError::Damaged)?);
        let count = word(20).ok_or(MetaError::Damaged)? as usize;
        let len = word(24).ok_or(MetaError::Damaged)? as usize;
        let stored = word(28).ok_or(MetaError::Damaged)?;
        if count > MAX_TRUNCATIONS || len > MAX_METADATA_BYTES {
            return Err(MetaError::Damaged);
        }
        let end = META_HEADER_BYTES + 16 * count + len;
        let slot = bytes.get(..end).ok_or(MetaError::Damaged)?;
        if slot_crc(slot) != stored {
            return Err(MetaError::Damaged);
        }
        let lsn = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&slot[at..at + 8]);
            Lsn::new(u64::from_le_bytes(word))
        };
        let truncations: Vec<Truncation> = (0..count)
            .map(|i| {
                let at = META_HEADER_BYTES + 16 * i;
                Truncation {
                    from: lsn(at),
                    to: lsn(at + 8),
                }
            })
            .collect();
        let ordered = truncations.iter().all(|t| t.from < t.to)
            && truncations.windows(2).all(|w| w[0].to <= w[1].from);
        if !ordered {
            return Err(MetaError::Damaged);
        }
        Ok(Meta {
            sequence,
            truncations,
            metadata: slot[META_HEADER_BYTES + 16 * count..].to_vec(),
        })
    }
}

/// The slot's CRC: bytes 0..28, then the body after the CRC field.
fn slot_crc(slot: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&slot[..28]);
    hasher.update(&slot[META_HEADER_BYTES..]);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Meta {
        Meta::default()
            .next(
                vec![
                    Truncation {
                        from: Lsn::new(100),
                        to: Lsn::new(200),
                    },
                    Truncation {
                        from: Lsn::new(300),
                        to: Lsn::new(340),
                    },
                ],
                b"vote=3".to_vec(),
                Lsn::ZERO,
            )
            .unwrap()
    }

    fn image(slots: &[&Meta]) -> Vec<u8> {
        let mut image = Vec::new();
        for meta in slots {
            let at = meta.slot_offset() as usize;
            let bytes = meta.encode();
            if image.len() < at + bytes.len() {
                image.resize(at + bytes.len(), 0);
            }
            image[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        image
    }

    #[test]
    fn a_slot_round_trips_and_the_newest_copy_wins() {
        let one = sample();
        assert_eq!(Meta::read(&image(&[&one])).unwrap(), one);
        let two = one
            .next(one.truncations.clone(), b"vote=4".to_vec(), Lsn::ZERO)
            .unwrap();
        assert_ne!(one.slot_offset(), two.slot_offset());
        assert_eq!(Meta::read(&image(&[&one, &two])).unwrap(), two);
    }

    #[test]
    fn a_torn_rewrite_leaves_the_previous_copy() {
        let one = sample();
        let two = one.next(Vec::new(), b"vote=4".to_vec(), Lsn::ZERO).unwrap();
        let whole = image(&[&one, &two]);
        let at = two.slot_offset() as usize;
        let len = two.encode().len();
        for torn in 0..len {
            // A torn write leaves a prefix; the rest of the slot holds whatever was there.
            let mut image = whole.clone();
            image[at + torn..at + len].fill(0xAB);
            assert_eq!(Meta::read(&image).unwrap(), one, "torn after {torn} bytes");
        }
    }

    #[test]
    fn both_slots_damaged_is_an_error_not_an_empty_meta() {
        let one = sample();
        let two = one.next(Vec::new(), Vec::new(), Lsn::ZERO).unwrap();
        let mut image = image(&[&one, &two]);
        image[two.slot_offset() as usize + 5] ^= 1;
        image[one.slot_offset() as usize + 40] ^= 1;
        assert_eq!(Meta::read(&image), Err(MetaError::Damaged));
        assert_eq!(Meta::read(b"not a meta file"), Err(MetaError::Damaged));
    }

    #[test]
    fn a_newer_version_is_refused_by_name() {
        let mut bytes = sample().encode();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            Meta::read(&bytes),
            Err(MetaError::NewerVersion { found: 2 })
        );
    }

    #[test]
    fn limits_and_forgetting_below_the_first_kept_lsn() {
        let meta = sample();
        let long = vec![0; MAX_METADATA_BYTES + 1];
        assert_eq!(
            meta.next(Vec::new(), long, Lsn::ZERO),
            Err(MetaError::MetadataTooLong {
                len: MAX_METADATA_BYTES + 1
            })
        );
        let kept = meta
            .next(meta.truncations.clone(), Vec::new(), Lsn::new(200))
            .unwrap();
        assert_eq!(kept.truncations, vec![meta.truncations[1]]);
        let many = (0..=MAX_TRUNCATIONS as u64)
            .map(|i| Truncation {
                from: Lsn::new(10 * i),
                to: Lsn::new(10 * i + 5),
            })
            .collect();
        assert_eq!(
            meta.next(many, Vec::new(), Lsn::ZERO),
            Err(MetaError::TooManyTruncations)
        );
        assert!(Truncation {
            from: Lsn::new(5),
            to: Lsn::new(9)
        }
        .covers(Lsn::new(5)));
    }
}
