//! Recovery scanning: walking a log image, finding the end of its valid prefix, and deciding
//! whether what follows is a torn tail (truncate it) or corruption (refuse, unless told otherwise).
//!
//! Invariants:
//! - The valid prefix is the longest run of consecutive valid frames from the start of the body.
//!   Everything a scan reports as a record lies inside it.
//! - An invalid or incomplete frame *followed by a valid frame* is never silently dropped: in the
//!   default [`RecoveryMode::TolerateTornTail`] it is [`RecoveryError::CorruptionMidLog`]. Only
//!   [`RecoveryMode::PointInTime`], asked for explicitly, discards it, and the result says so.
//! - The sync mark is the highest LSN below which the file is known to have been durable: the
//!   header's mark, or the highest sync marker frame (format v2, `crate::marker`) found anywhere
//!   in the body, in the valid prefix or after the damage. Damage at or past it is an
//!   interrupted batch that was never acknowledged: writes that were never synced reach the
//!   media in any order, so valid frames after a hole there are expected, and the default mode
//!   truncates them as [`TailKind::Unsynced`]. A valid prefix that ends *below* it lost synced
//!   data: an error in every mode but [`RecoveryMode::PointInTime`]
//!   ([`RecoveryError::CorruptionMidLog`] when valid frames follow,
//!   [`RecoveryError::SyncedDataLost`] when none do). In v2 a marker rides in every batch that
//!   follows a sync, so only the last synced batch (and what was never synced) lies past it.
//! - Zero-filled space after the valid prefix (preallocation, or a write that never reached the
//!   media) is unwritten space in every mode: a frame's length field is never zero.
//! - LSNs never wrap. No frame ends past `Lsn::MAX`, so a body with non-zero bytes at or past
//!   `Lsn::MAX - base_lsn` bytes in has a header that does not describe it: every mode refuses it
//!   ([`RecoveryError::BaseLsnTooHigh`]) rather than cutting it as a torn tail.
//! - The cost of a scan is linear in the valid prefix; classifying damage costs what
//!   [`crate::resync`] documents (near-linear in the tail).
//! - Every decision is made once, in `scan_source`, over a `Source` (`crate::stream_scan`):
//!   [`scan_file`] and [`scan_body`] run it over bytes in memory, [`crate::scan_storage`] over a
//!   storage read through a window. The two give the same answer for the same bytes.

use crate::frame::{Codec, Decoded, InvalidFrame, Record, FRAME_HEADER_LEN};
use crate::header::{body_offset, FileHeader, HeaderError};
use crate::resync::find_next_valid;
use crate::stream_scan::{
    check_frame, first_nonzero_from, infallible, last_nonzero_from, Frame, SliceSource, Source,
    Stop,
};
use crate::Lsn;
use core::fmt;

/// How recovery treats damage after the valid prefix. Modelled on RocksDB's WAL recovery modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Default. A damaged or incomplete final stretch is a torn tail: report it so the caller
    /// truncates it. Damage followed by a valid frame is an error, unless it lies at or past the
    /// header's sync mark (an interrupted batch, [`TailKind::Unsynced`]). (RocksDB:
    /// `kTolerateCorruptedTailRecords`.)
    #[default]
    TolerateTornTail,
    /// Anything after the valid prefix other than zero fill is an error, torn tail included. For
    /// checking logs that were closed cleanly. (RocksDB: `kAbsoluteConsistency`.)
    AbsoluteConsistency,
    /// Stop at the first damage and discard everything after it, even valid frames, reporting
    /// what was discarded. Loses data that may have been acknowledged: only for salvaging a
    /// damaged log on purpose. (RocksDB: `kPointInTimeRecovery`.)
    PointInTime,
}

/// What ended the valid prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The bytes end inside a frame.
    Incomplete {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The bytes at the end of the prefix are not a valid frame.
    Invalid(InvalidFrame),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Incomplete { needed, available } => write!(
                f,
                "incomplete frame ({available} of {needed} bytes present)"
            ),
            Damage::Invalid(reason) => write!(f, "{reason}"),
        }
    }
}

/// What lies after the valid prefix, when anything does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    /// The LSN where the valid prefix ends and the tail begins.
    pub at: Lsn,
    /// Bytes in the tail, up to the end of the image.
    pub bytes: u64,
    /// What kind of tail it is.
    pub kind: TailKind,
}

/// The kinds of tail a scan can accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailKind {
    /// Only zero bytes: space that was never written.
    Zeroed,
    /// A torn write: damage with no valid frame after it. Truncate it before appending.
    Torn(Damage),
    /// [`RecoveryMode::TolerateTornTail`] only: damage at or past the header's sync mark,
    /// followed by valid frames (the first at `next_valid`). The writes of a batch that was never
    /// synced reach the media in any order, so later frames of that batch can land while earlier
    /// ones do not; none of them was acknowledged. Truncate it all before appending.
    Unsynced {
        /// What ended the valid prefix.
        damage: Damage,
        /// The first valid frame found after the damage.
        next_valid: Lsn,
    },
    /// [`RecoveryMode::PointInTime`] only: damage followed by at least one valid frame (the first
    /// at `next_valid`), all discarded.
    Discarded {
        /// What ended the valid prefix.
        damage: Damage,
        /// The first valid frame found after the damage.
        next_valid: Lsn,
    },
}

/// The result of a successful scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The LSN of the first frame byte (the file header's base LSN).
    pub base_lsn: Lsn,
    /// The end of the valid prefix: where the next record will be appended.
    pub end_lsn: Lsn,
    /// Records in the valid prefix.
    pub records: u64,
    /// What follows the valid prefix, if anything. The caller truncates the file to
    /// [`Recovery::valid_file_len`] before appending.
    pub tail: Option<Tail>,
    /// The highest LSN below which the file is known to have been durable: the header's sync
    /// mark or the highest sync marker found, whichever is higher (`None` for a v1 file
    /// without a mark). Past the records when recovery salvaged (`PointInTime`).
    pub sync_mark: Option<Lsn>,
    /// The file offset of the first frame byte: 64 for a v1 file, 128 for v2.
    pub body_offset: u64,
}

impl Recovery {
    /// Bytes of body (after the header) in the valid prefix.
    pub fn valid_body_len(&self) -> u64 {
        // A scan never ends below its base; a hand-built value that does holds no body.
        self.end_lsn
            .checked_distance_from(self.base_lsn)
            .unwrap_or(0)
    }

    /// The file length to truncate to so that only the header and the valid prefix remain.
    pub fn valid_file_len(&self) -> u64 {
        // A scanned prefix lies in memory, so this cannot saturate for one; a hand-built value
        // spanning the whole LSN space gets `u64::MAX` rather than a wrapped length.
        self.body_offset.saturating_add(self.valid_body_len())
    }
}

/// Why a scan refused a log. Nothing should be written to the log after this error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The file header could not be decoded.
    Header(HeaderError),
    /// Damage followed by valid frames: records after `at` exist but cannot be reached.
    CorruptionMidLog {
        /// Where the damage starts.
        at: Lsn,
        /// What is wrong there.
        damage: Damage,
        /// The first valid frame after the damage.
        next_valid: Lsn,
    },
    /// A complete frame with a valid checksum whose payload exceeds the reader's limit: the log
    /// was written with a larger `max_payload_len`. Never treated as damage, so never truncated.
    RecordOverLimit {
        /// The record's LSN.
        at: Lsn,
        /// Its payload length.
        payload_len: u32,
        /// The reader's limit.
        max_payload_len: u32,
    },
    /// The valid records end below the sync mark (the header's, or a sync marker's): records
    /// that an earlier sync made durable are damaged or missing. The storage lost acknowledged
    /// writes.
    SyncedDataLost {
        /// Where the valid records end.
        at: Lsn,
        /// The sync mark: everything below it was durable.
        sync_mark: Lsn,
        /// What is wrong at `at` (`None`: the file simply ends there).
        damage: Option<Damage>,
    },
    /// The file holds data where no record can be: its header's base LSN leaves room for only
    /// `room` bytes of records before `Lsn::MAX`, but non-zero bytes run on to `data_bytes` bytes
    /// after the header. No writer can put a byte there (a frame never ends past `Lsn::MAX`), so
    /// the header does not describe these bytes. Refused in every mode, before anything is cut.
    BaseLsnTooHigh {
        /// The header's base LSN.
        base_lsn: Lsn,
        /// Bytes of records the LSN space holds after `base_lsn`: `Lsn::MAX - base_lsn`.
        room: u64,
        /// Bytes after the header up to and including the last non-zero byte.
        data_bytes: u64,
    },
    /// [`RecoveryMode::AbsoluteConsistency`] only: the log ends in a torn tail.
    TornTail {
        /// Where the torn tail starts.
        at: Lsn,
        /// Its length in bytes.
        bytes: u64,
        /// What is wrong there.
        damage: Damage,
    },
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryError::Header(err) => write!(f, "{err}"),
            RecoveryError::CorruptionMidLog {
                at,
                damage,
                next_valid,
            } => write!(
                f,
                "log is corrupt in the middle: {damage} at LSN {at}, but a valid record follows \
                 at LSN {next_valid}; nothing was changed. Restore from a replica or backup, or \
                 reopen with RecoveryMode::PointInTime to keep only the records before LSN {at}"
            ),
            RecoveryError::RecordOverLimit {
                at,
                payload_len,
                max_payload_len,
            } => write!(
                f,
                "record at LSN {at} has a {payload_len}-byte payload, over this reader's limit of \
                 {max_payload_len} bytes, and a valid checksum: the log was written with a larger \
                 limit; reopen with max_payload_len >= {payload_len}. Nothing was changed"
            ),
            RecoveryError::SyncedDataLost {
                at,
                sync_mark,
                damage,
            } => {
                write!(
                    f,
                    "log lost records that were durable: the log says everything below LSN \
                     {sync_mark} was synced, but the valid records end at LSN {at} ("
                )?;
                match damage {
                    Some(damage) => write!(f, "{damage}")?,
                    None => write!(f, "the file ends there")?,
                }
                write!(
                    f,
                    "); nothing was changed. The storage lost acknowledged writes: restore from \
                     a replica or backup, or reopen with RecoveryMode::PointInTime to keep only \
                     the records before LSN {at}"
                )
            }
            RecoveryError::BaseLsnTooHigh {
                base_lsn,
                room,
                data_bytes,
            } => write!(
                f,
                "log header's base LSN {base_lsn} leaves room for only {room} bytes of records \
                 before the largest LSN, but the file holds data up to {data_bytes} bytes after \
                 the header: no record can lie there, so the header does not belong to these \
                 bytes (it was damaged, or written by another tool); nothing was changed. \
                 Restore from a replica or backup"
            ),
            RecoveryError::TornTail { at, bytes, damage } => write!(
                f,
                "log ends in a torn tail of {bytes} bytes at LSN {at} ({damage}); recovery in \
                 TolerateTornTail mode truncates it"
            ),
        }
    }
}

impl From<HeaderError> for RecoveryError {
    fn from(err: HeaderError) -> RecoveryError {
        RecoveryError::Header(err)
    }
}

/// Iterates over the records of a log body (the bytes after the header), stopping at the first
/// damage. After the iterator returns `None`, [`Records::damage`] says why it stopped.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    codec: Codec,
    body: &'a [u8],
    base_lsn: Lsn,
    offset: usize,
    damage: Option<Damage>,
    /// The highest durable LSN of the sync markers passed so far.
    marked: Option<Lsn>,
}

impl<'a> Records<'a> {
    /// Records of `body`, whose first byte is at `base_lsn`.
    pub fn new(codec: Codec, base_lsn: Lsn, body: &'a [u8]) -> Records<'a> {
        Records {
            codec,
            body,
            base_lsn,
            offset: 0,
            damage: None,
            marked: None,
        }
    }

    /// The highest LSN a sync marker passed so far vouches for (format v2; `None` before any).
    pub fn sync_mark(&self) -> Option<Lsn> {
        self.marked
    }

    /// Bytes of body consumed by the records returned so far.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The LSN just after the last record returned.
    pub fn lsn(&self) -> Lsn {
        lsn_at(self.base_lsn, self.offset as u64)
    }

    /// Why iteration stopped; `None` while records remain or when the body ended cleanly.
    pub fn damage(&self) -> Option<Damage> {
        self.damage
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    /// The next record; sync markers are passed over (their marks kept, see
    /// [`Records::sync_mark`]).
    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            if self.damage.is_some() || self.offset == self.body.len() {
                return None;
            }
            match self.codec.decode(self.lsn(), &self.body[self.offset..]) {
                Decoded::Record(record) => {
                    self.offset += record.frame_len();
                    return Some(record);
                }
                Decoded::Marker(marker) => {
                    self.offset += crate::MARKER_FRAME_LEN;
                    self.marked = self.marked.max(Some(marker.durable));
                }
                Decoded::Incomplete {
                    needed, available, ..
                } => {
                    self.damage = Some(Damage::Incomplete { needed, available });
                    return None;
                }
                Decoded::Invalid { reason, .. } => {
                    self.damage = Some(Damage::Invalid(reason));
                    return None;
                }
            }
        }
    }
}

/// Scans a whole file image: decodes the header, then the body, per `mode`.
///
/// `codec_for_salt` turns the header's salt into the codec to decode with (carrying the
/// caller's payload limit): `|salt| Codec::new(salt)` for the defaults. The same scan as
/// [`crate::scan_storage`], over bytes already in memory.
pub fn scan_file(
    image: &[u8],
    codec_for_salt: impl FnOnce(u64) -> Codec,
    mode: RecoveryMode,
) -> Result<(FileHeader, Recovery), RecoveryError> {
    let header = FileHeader::read(image)?;
    let codec = codec_for_salt(header.salt).with_format(header.version);
    let body = header.body_of(image);
    let recovery = scan_body(&codec, header.base_lsn, body, mode, header.sync_mark)?;
    Ok((header, recovery))
}

/// Scans a log body (the bytes after the header) whose first byte is at `base_lsn`, with the
/// header's sync mark (`None` for a file without one). The codec's format version says whether
/// the body may hold sync markers and where it starts in its file.
pub fn scan_body(
    codec: &Codec,
    base_lsn: Lsn,
    body: &[u8],
    mode: RecoveryMode,
    sync_mark: Option<Lsn>,
) -> Result<Recovery, RecoveryError> {
    infallible(scan_source(
        codec,
        base_lsn,
        &mut SliceSource(body),
        mode,
        sync_mark,
    ))
}

/// The scan itself, over any [`Source`] (a slice for [`scan_body`], a storage read by windows
/// for [`crate::scan_storage`]): every decision of recovery is made here, once.
pub(crate) fn scan_source<Src: Source>(
    codec: &Codec,
    base_lsn: Lsn,
    body: &mut Src,
    mode: RecoveryMode,
    sync_mark: Option<Lsn>,
) -> Result<Recovery, Stop<Src::Error>> {
    check_room(base_lsn, body)?;
    let prefix = walk(codec, base_lsn, body, 0).map_err(Stop::Read)?;
    let end = prefix.end;
    let at = lsn_at(base_lsn, end);
    let mut mark = sync_mark.max(prefix.mark);
    let mut recovery = Recovery {
        base_lsn,
        end_lsn: at,
        records: prefix.records,
        tail: None,
        sync_mark: mark,
        body_offset: body_offset(codec.format()),
    };
    let damage = prefix.damage;
    let bytes = body.len() - end;
    if let Some(Damage::Invalid(InvalidFrame::LengthOverLimit {
        payload_len,
        max_payload_len,
    })) = damage
    {
        // A genuine record written under a larger limit must not be mistaken for a torn tail and
        // truncated. Its CRC is computed as it is read: the frame may claim up to 4 GiB.
        let unlimited = codec.with_max_payload_len(crate::frame::MAX_PAYLOAD_LEN_LIMIT);
        if let Frame::Record { .. } = check_frame(&unlimited, at, body, end).map_err(Stop::Read)? {
            return Err(Stop::Refused(RecoveryError::RecordOverLimit {
                at,
                payload_len,
                max_payload_len,
            }));
        }
    }
    let Some(damage) = damage else {
        return match lost_below(mode, mark, at, None) {
            Some(err) => Err(err.into()),
            None => Ok(recovery),
        };
    };
    if first_nonzero_from(body, end).map_err(Stop::Read)?.is_none() {
        if let Some(err) = lost_below(mode, mark, at, Some(damage)) {
            return Err(err.into());
        }
        recovery.tail = Some(Tail {
            at,
            bytes,
            kind: TailKind::Zeroed,
        });
        return Ok(recovery);
    }
    let next = find_next_valid(codec, base_lsn, body, end, damage).map_err(Stop::Read)?;
    if let Some(next) = next {
        // A sync marker after the damage vouches for what lies below it as much as one before.
        mark = mark.max(marks_after(codec, base_lsn, body, next).map_err(Stop::Read)?);
        recovery.sync_mark = mark;
    }
    let lost = lost_below(mode, mark, at, Some(damage));
    let kind = match next {
        None => match lost {
            Some(err) => return Err(err.into()),
            None if mode == RecoveryMode::AbsoluteConsistency => {
                return Err(RecoveryError::TornTail { at, bytes, damage }.into());
            }
            None => TailKind::Torn(damage),
        },
        Some(next) if mode == RecoveryMode::PointInTime => TailKind::Discarded {
            damage,
            next_valid: lsn_at(base_lsn, next),
        },
        // At or past the sync mark: an interrupted batch whose writes landed out of order.
        Some(next)
            if mode == RecoveryMode::TolerateTornTail && mark.is_some() && lost.is_none() =>
        {
            TailKind::Unsynced {
                damage,
                next_valid: lsn_at(base_lsn, next),
            }
        }
        Some(next) => {
            return Err(RecoveryError::CorruptionMidLog {
                at,
                damage,
                next_valid: lsn_at(base_lsn, next),
            }
            .into());
        }
    };
    recovery.tail = Some(Tail { at, bytes, kind });
    Ok(recovery)
}

/// The error for valid records ending at `at`, below the sync mark `mark`: records a sync made
/// durable are missing. Not in `PointInTime`, which salvages.
fn lost_below(
    mode: RecoveryMode,
    mark: Option<Lsn>,
    at: Lsn,
    damage: Option<Damage>,
) -> Option<RecoveryError> {
    let sync_mark = mark.filter(|&mark| mode != RecoveryMode::PointInTime && at < mark)?;
    Some(RecoveryError::SyncedDataLost {
        at,
        sync_mark,
        damage,
    })
}

/// A run of consecutive valid frames, as [`walk`] found it.
struct Walk {
    /// The body offset just past the last valid frame.
    end: u64,
    /// Records in the run (sync markers not counted).
    records: u64,
    /// The highest durable LSN of the sync markers in the run.
    mark: Option<Lsn>,
    /// What ended the run (`None`: the body did).
    damage: Option<Damage>,
}

/// Walks the valid frames of `body` from the frame at `from` until the first damage or the end,
/// exactly as [`Records`] does. Frames that lie whole in the slice at hand are decoded in place
/// (the hot loop of every recovery); one that straddles its end goes through [`check_frame`],
/// which asks the source for more.
fn walk<Src: Source>(
    codec: &Codec,
    base_lsn: Lsn,
    body: &mut Src,
    from: u64,
) -> Result<Walk, Src::Error> {
    let len = body.len();
    let mut offset = from;
    let mut records = 0u64;
    let mut mark = None;
    let damage = loop {
        if offset >= len {
            break None;
        }
        let bytes = body.bytes(offset, FRAME_HEADER_LEN)?;
        let reaches_end = offset + bytes.len() as u64 == len;
        let mut at = 0usize;
        let stopped = loop {
            if at == bytes.len() {
                break None;
            }
            match codec.decode(lsn_at(base_lsn, offset + at as u64), &bytes[at..]) {
                Decoded::Record(record) => {
                    at += record.frame_len();
                    records += 1;
                }
                Decoded::Marker(marker) => {
                    at += crate::MARKER_FRAME_LEN;
                    mark = mark.max(Some(marker.durable));
                }
                Decoded::Incomplete {
                    needed, available, ..
                } if reaches_end => break Some(Damage::Incomplete { needed, available }),
                // The frame runs past the slice: checked below, from the source.
                Decoded::Incomplete { .. } => break None,
                Decoded::Invalid { reason, .. } => break Some(Damage::Invalid(reason)),
            }
        };
        offset += at as u64;
        if stopped.is_some() {
            break stopped;
        }
        if offset >= len || at == bytes.len() {
            continue;
        }
        match check_frame(codec, lsn_at(base_lsn, offset), body, offset)? {
            Frame::Record { len } => {
                offset += len as u64;
                records += 1;
            }
            Frame::Marker(marker) => {
                offset += crate::MARKER_FRAME_LEN as u64;
                mark = mark.max(Some(marker.durable));
            }
            Frame::Incomplete { needed, available } => {
                break Some(Damage::Incomplete { needed, available })
            }
            Frame::Invalid(reason) => break Some(Damage::Invalid(reason)),
        }
    };
    Ok(Walk {
        end: offset,
        records,
        mark,
        damage,
    })
}

/// The highest durable LSN of the sync markers in `body` from the valid frame at `from` on,
/// passing over further damage the way the first was (the next valid frame after it). Only
/// damaged logs get here; the walk is linear in the bytes after `from`.
fn marks_after<Src: Source>(
    codec: &Codec,
    base_lsn: Lsn,
    body: &mut Src,
    from: u64,
) -> Result<Option<Lsn>, Src::Error> {
    if !codec.control_frames() {
        return Ok(None);
    }
    let mut mark = None;
    let mut offset = from;
    while offset < body.len() {
        // Every offset here starts a valid frame or ends one, so its LSN is at most `Lsn::MAX`.
        let run = walk(codec, base_lsn, body, offset)?;
        mark = mark.max(run.mark);
        offset = run.end;
        let Some(damage) = run.damage else {
            break;
        };
        if first_nonzero_from(body, offset)?.is_none() {
            break;
        }
        match find_next_valid(codec, base_lsn, body, offset, damage)? {
            Some(next) => offset = next,
            None => break,
        }
    }
    Ok(mark)
}

/// Refuses a body with data where no record can be: at or past `Lsn::MAX - base_lsn` bytes in
/// (a frame never ends past `Lsn::MAX`). Zero fill may lie there: a writer whose base LSN is near
/// the top preallocates ahead of its records like any other. Costs nothing unless the body
/// reaches that far.
fn check_room<Src: Source>(base_lsn: Lsn, body: &mut Src) -> Result<(), Stop<Src::Error>> {
    // `u64::MAX - x` cannot underflow.
    let room = Lsn::MAX.get() - base_lsn.get();
    if body.len() <= room {
        return Ok(());
    }
    let Some(first) = first_nonzero_from(body, room).map_err(Stop::Read)? else {
        return Ok(());
    };
    // The last non-zero byte of the body lies at or after the first one past the room.
    let last = last_nonzero_from(body, first)
        .map_err(Stop::Read)?
        .unwrap_or(first);
    Err(Stop::Refused(RecoveryError::BaseLsnTooHigh {
        base_lsn,
        room,
        data_bytes: last + 1,
    }))
}

fn lsn_at(base_lsn: Lsn, offset: u64) -> Lsn {
    // Only offsets inside or just past decoded frames (or the first damaged byte after them) get
    // here, and the decoder checked that those frames end at or below `Lsn::MAX`, so this never
    // saturates; if it did, a position past the end of the LSN space would still sort after
    // every real one instead of wrapping to a small LSN before the damage.
    base_lsn.checked_add(offset).unwrap_or(Lsn::MAX)
}
