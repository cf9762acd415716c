//! Streaming recovery: [`scan_storage`] scans a log held in any [`Storage`] through a window of
//! fixed size, so opening a log of any length needs a bounded amount of memory, and decides
//! exactly what [`crate::scan_file`] decides on the same bytes.
//!
//! There is one scan, not two. Its decisions (`crate::scan`) and the search after damage
//! (`crate::resync`) are written once against [`Source`]: "the body's bytes from offset `x`, at
//! least `n` of them". [`crate::scan_file`] runs them over [`SliceSource`], which answers every
//! request with the rest of the image in place (no copy, so the in-memory scan is as fast as it
//! was), and [`scan_storage`] over [`StorageSource`], which answers from a buffer it refills
//! with `read_at`. Only the bytes a decision looks at can differ between the two, and a source
//! returns exactly the body's bytes, so the decisions are the same.
//!
//! Invariants:
//! - A request `bytes(start, min_len)` returns a slice that starts at `start` and holds at least
//!   `min(min_len, len - start)` bytes: never fewer, so every caller sees whole what it asked for.
//! - Callers make only these requests:
//!   - a frame header, or a frame of at most `hold_len()` bytes ([`check_frame`]);
//!   - for the search after damage, the longest frame the codec accepts, `max_payload_len + 8`
//!     (a candidate at `c` is checked from the slice asked for at `c`);
//!   - a single byte, to walk zero runs and to hash a frame longer than `hold_len()` piece by
//!     piece (`frame_crc_with`: an over-limit frame can claim up to 4 GiB, and its CRC never
//!     needs it whole).
//! - [`StorageSource`] refills from `start` to `start + min_len + window` (clipped to the end),
//!   keeping the bytes it already holds from `start` on (moved to the front) and reading only
//!   the rest. So one read is at most `min_len + window` bytes, and the buffer at most
//!   `window + max_payload_len + 8`.
//!
//! Memory: the buffer (above), plus the search's per-block CRCs for at most one frame's span
//! ([`crate::checksum::SlidingBlocks`]: one `Hasher` per 32 KiB), plus a few words. Nothing grows
//! with the file. With `F` one maximal frame (`max_payload_len + 8`), a clean scan of any length
//! holds at most `window + min(max(window, 64), F)` bytes (a frame that straddles the end of the
//! buffer is asked for whole, with a window after it; longer ones are hashed as they are read),
//! and a scan that searches after damage at most `window + F`.
//!
//! Why the search's overlap is enough: the search checks candidates at increasing offsets, each
//! from a slice asked for with `min_len = max_payload_len + 8`. A candidate frame that passes
//! the cheap checks is at most that long, so it lies whole in that slice. After a refill at
//! candidate `c` the buffer holds `[c, c + F + window)` (`F` one maximal frame), so every
//! candidate up to `c + window` is served without another read: one refill per `window` bytes
//! searched, each reading `window` new bytes.
//!
//! The refill moves the overlap it keeps (up to one maximal frame) to the front of the buffer, so
//! the search costs about `(window + F) / window` copies per byte searched: one or two with the
//! 1 MiB window recovery uses and the default 1 MiB limit. A caller that raises
//! `max_payload_len` far above its window should raise the window with it (only damaged logs
//! are searched; a clean scan copies nothing it does not read).
//!
//! Reads: the header takes one read of [`BODY_OFFSET`] bytes; the body is read in order, and
//! each byte is read once by the scan of the valid prefix (the search after damage, and the walk
//! for sync markers after it, read the tail again). A read that returns fewer bytes than
//! `size()` promised (the storage shrank under the scan, which the one-writer lock rules out)
//! leaves the missing bytes as zeros: unwritten space, which a frame never is.

use crate::checksum::frame_crc_with;
use crate::frame::{Codec, Decoded, InvalidFrame, FRAME_HEADER_LEN};
use crate::header::{read_u32, FileHeader, BODY_OFFSET};
use crate::marker::{Marker, CONTROL_CRC_XOR, MARKER_FRAME_LEN};
use crate::scan::{scan_source, Recovery, RecoveryError, RecoveryMode};
use crate::{Lsn, Storage, WriterError};
use alloc::vec::Vec;
use core::convert::Infallible;

/// Frames up to this long are always checked whole from one slice, whatever the window: a sync
/// marker is parsed from its payload, so it must never be hashed piece by piece.
pub(crate) const HOLD_MIN_BYTES: usize = 64;
const _: () = assert!(HOLD_MIN_BYTES >= MARKER_FRAME_LEN && HOLD_MIN_BYTES >= FRAME_HEADER_LEN);

/// The operation a read failure during a scan is reported as ([`WriterError::Storage`]).
pub const SCAN_READ_OP: &str = "reading the log for recovery";

/// Scans the log in `storage` through a window of `window_bytes` bytes: decodes the header,
/// then the body, per `mode`, and returns what [`crate::scan_file`] returns for the same bytes
/// (its refusals as [`WriterError::Header`] and [`WriterError::Recovery`], converted as
/// `From<RecoveryError>` does). A failed read is [`WriterError::Storage`] with the op
/// [`SCAN_READ_OP`]. Reads nothing into memory beyond the window and one maximal frame (see the
/// module documentation); any window works, a window of 0 counts as 1.
///
/// `codec_for_salt` turns the header's salt into the codec to decode with (carrying the
/// caller's payload limit): `|salt| Codec::new(salt)` for the defaults.
pub fn scan_storage<S: Storage>(
    storage: &S,
    codec_for_salt: impl FnOnce(u64) -> Codec,
    mode: RecoveryMode,
    window_bytes: usize,
) -> Result<(FileHeader, Recovery), WriterError<S::Error>> {
    let size = storage.size().map_err(|source| WriterError::Storage {
        op: "reading the log size",
        source,
    })?;
    // Both slots of a v2 header; `FileHeader::read` looks at nothing past them (a v1 file's
    // second 64 bytes are frames, which reading the header ignores).
    let mut head = [0u8; BODY_OFFSET];
    let want = usize::try_from(size).map_or(BODY_OFFSET, |size| size.min(BODY_OFFSET));
    let read = storage
        .read_at(0, &mut head[..want])
        .map_err(|source| WriterError::Storage {
            op: SCAN_READ_OP,
            source,
        })?;
    let header = FileHeader::read(&head[..read.min(want)]).map_err(RecoveryError::Header)?;
    let codec = codec_for_salt(header.salt).with_format(header.version);
    let mut source = StorageSource::new(storage, header.body_offset(), size, window_bytes);
    let recovery = scan_source(&codec, header.base_lsn, &mut source, mode, header.sync_mark)
        .map_err(|stop| match stop {
            Stop::Refused(err) => WriterError::from(err),
            Stop::Read(source) => WriterError::Storage {
                op: SCAN_READ_OP,
                source,
            },
        })?;
    Ok((header, recovery))
}

/// Why a scan over a [`Source`] stopped without a result.
#[derive(Debug)]
pub(crate) enum Stop<E> {
    /// The scan refused the log.
    Refused(RecoveryError),
    /// The source could not be read.
    Read(E),
}

impl<E> From<RecoveryError> for Stop<E> {
    fn from(err: RecoveryError) -> Stop<E> {
        Stop::Refused(err)
    }
}

/// A log body (the bytes after the header) that a scan reads by offset. See the module
/// documentation for the contract.
pub(crate) trait Source {
    /// What a failed read reports.
    type Error;

    /// Bytes in the body.
    fn len(&self) -> u64;

    /// The largest frame [`check_frame`] asks for whole; longer ones it hashes piece by piece.
    fn hold_len(&self) -> usize;

    /// The body's bytes from `start` on: at least `min(min_len, len - start)` of them, perhaps
    /// more. Empty at or past the end.
    fn bytes(&mut self, start: u64, min_len: usize) -> Result<&[u8], Self::Error>;
}

/// A body held in memory: every request is answered with the rest of it, in place.
pub(crate) struct SliceSource<'a>(pub(crate) &'a [u8]);

impl Source for SliceSource<'_> {
    type Error = Infallible;

    #[inline]
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    #[inline]
    fn hold_len(&self) -> usize {
        usize::MAX
    }

    #[inline]
    fn bytes(&mut self, start: u64, _min_len: usize) -> Result<&[u8], Infallible> {
        Ok(usize::try_from(start)
            .ok()
            .and_then(|start| self.0.get(start..))
            .unwrap_or(&[]))
    }
}

/// A body read from a [`Storage`] through a buffer refilled by windows. See the module
/// documentation.
pub(crate) struct StorageSource<'s, S: Storage> {
    storage: &'s S,
    /// The file offset of body byte 0.
    body_offset: u64,
    /// Bytes in the body.
    len: u64,
    /// Bytes a refill reads beyond what it was asked for.
    window: usize,
    /// `buf[..held]` holds the body's bytes from `buf_start` on.
    buf: Vec<u8>,
    held: usize,
    buf_start: u64,
}

impl<'s, S: Storage> StorageSource<'s, S> {
    /// The body of the `file_len`-byte log in `storage` whose frames start at `body_offset`.
    pub(crate) fn new(
        storage: &'s S,
        body_offset: u64,
        file_len: u64,
        window: usize,
    ) -> StorageSource<'s, S> {
        StorageSource {
            storage,
            body_offset,
            len: file_len.saturating_sub(body_offset),
            window: window.max(1),
            buf: Vec::new(),
            held: 0,
            buf_start: 0,
        }
    }

    /// Makes the buffer hold the body from `start` to `start + min_len + window` (clipped to
    /// the end), keeping what it holds of that already.
    fn refill(&mut self, start: u64, min_len: usize) -> Result<(), S::Error> {
        let rest = self.len - start;
        let fill = (min_len as u64)
            .saturating_add(self.window as u64)
            .min(rest);
        // At most `min_len + window`, which is a `usize` sum when it does not saturate, and
        // `rest` otherwise: both index memory this process could allocate.
        let fill = usize::try_from(fill).unwrap_or(usize::MAX);
        let buf_end = self.buf_start + self.held as u64;
        let keep = if start >= self.buf_start && start < buf_end {
            // Less than `held`, so it fits.
            let from = (start - self.buf_start) as usize;
            self.buf.copy_within(from..self.held, 0);
            (self.held - from).min(fill)
        } else {
            0
        };
        if self.buf.len() < fill {
            self.buf.resize(fill, 0);
        }
        self.buf_start = start;
        self.held = 0;
        let at = self.body_offset + start + keep as u64;
        let read = self.storage.read_at(at, &mut self.buf[keep..fill])?;
        let read = read.min(fill - keep);
        // The storage ended before `size()` said: the missing bytes read as unwritten space.
        self.buf[keep + read..fill].fill(0);
        self.held = fill;
        Ok(())
    }
}

impl<S: Storage> Source for StorageSource<'_, S> {
    type Error = S::Error;

    fn len(&self) -> u64 {
        self.len
    }

    fn hold_len(&self) -> usize {
        self.window.max(HOLD_MIN_BYTES)
    }

    fn bytes(&mut self, start: u64, min_len: usize) -> Result<&[u8], S::Error> {
        if start >= self.len {
            return Ok(&[]);
        }
        let want = (min_len as u64).min(self.len - start);
        let buf_end = self.buf_start + self.held as u64;
        if start < self.buf_start || start + want > buf_end {
            self.refill(start, min_len)?;
        }
        // `start` lies in `[buf_start, buf_start + held)` now, so the difference fits.
        let from = (start - self.buf_start) as usize;
        Ok(&self.buf[from..self.held])
    }
}

/// A frame checked without its payload: what [`Decoded`] says, for a caller that only counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A record of `len` frame bytes.
    Record { len: usize },
    /// A sync marker.
    Marker(Marker),
    /// The body ends inside the frame.
    Incomplete { needed: usize, available: usize },
    /// Not a valid frame.
    Invalid(InvalidFrame),
}

impl Frame {
    /// The frame `decoded` is, with `available` the bytes present from its start to the end of
    /// the body (what the decoder saw when it was handed the rest of the body).
    pub(crate) fn of(decoded: Decoded<'_>, available: u64) -> Frame {
        match decoded {
            Decoded::Record(record) => Frame::Record {
                len: record.frame_len(),
            },
            Decoded::Marker(marker) => Frame::Marker(marker),
            Decoded::Incomplete { needed, .. } => Frame::Incomplete {
                needed,
                // On a 32-bit target a body longer than the address space reports the most
                // it can; in memory the rest always fits.
                available: usize::try_from(available).unwrap_or(usize::MAX),
            },
            Decoded::Invalid { reason, .. } => Frame::Invalid(reason),
        }
    }
}

/// Checks the frame at body offset `offset` (LSN `lsn`) of `source`: exactly what
/// `codec.decode(lsn, &body[offset..])` says, without holding a frame longer than
/// `source.hold_len()` (its CRC is computed piece by piece).
pub(crate) fn check_frame<Src: Source>(
    codec: &Codec,
    lsn: Lsn,
    source: &mut Src,
    offset: u64,
) -> Result<Frame, Src::Error> {
    let rest = source.len().saturating_sub(offset);
    let hold = source.hold_len();
    let head = source.bytes(offset, HOLD_MIN_BYTES)?;
    let needed = match codec.decode(lsn, head) {
        Decoded::Incomplete { needed, .. } => needed,
        decoded => return Ok(Frame::of(decoded, rest)),
    };
    // `head` holds at least `HOLD_MIN_BYTES` bytes (or the whole rest): incomplete means the
    // frame claims more than `head`. Past the end of the body it is incomplete, as the decoder
    // says when handed the whole rest.
    if needed as u64 > rest {
        return Ok(Frame::of(codec.decode(lsn, head), rest));
    }
    // The rest holds the frame, so at least a header: `head` has its 8 bytes.
    let stored = read_u32(head, 0);
    let len_field = read_u32(head, 4);
    if needed <= hold {
        let frame = source.bytes(offset, needed)?;
        return Ok(Frame::of(codec.decode(lsn, frame), rest));
    }
    // Longer than `hold_len() >= HOLD_MIN_BYTES >= MARKER_FRAME_LEN`: the header passed the
    // decoder's cheap checks, so its length fits the u32 field, and no sync marker is this long.
    let payload = offset + FRAME_HEADER_LEN as u64..offset + needed as u64;
    let computed = stream_crc(codec, lsn, len_field, source, payload)?;
    Ok(if stored == computed {
        Frame::Record { len: needed }
    } else if codec.control_frames() && stored == computed ^ CONTROL_CRC_XOR {
        // A control frame of a length no control frame has (`crate::marker`).
        Frame::Invalid(InvalidFrame::BadControlFrame)
    } else {
        Frame::Invalid(InvalidFrame::ChecksumMismatch { stored, computed })
    })
}

/// The frame CRC of the frame at `lsn` with length field `len_field`, whose payload is the
/// body's bytes in `payload` (which lie inside the body), hashed as it is read.
fn stream_crc<Src: Source>(
    codec: &Codec,
    lsn: Lsn,
    len_field: u32,
    source: &mut Src,
    payload: core::ops::Range<u64>,
) -> Result<u32, Src::Error> {
    let mut failed = None;
    let crc = frame_crc_with(codec.salt_crc(), lsn, len_field, |hasher| {
        let mut at = payload.start;
        while at < payload.end {
            let bytes = match source.bytes(at, 1) {
                Ok(bytes) if !bytes.is_empty() => bytes,
                // Inside the body a source always returns bytes; an empty answer ends the walk.
                Ok(_) => return,
                Err(err) => {
                    failed = Some(err);
                    return;
                }
            };
            let take =
                usize::try_from(payload.end - at).map_or(bytes.len(), |left| left.min(bytes.len()));
            hasher.update(&bytes[..take]);
            at += take as u64;
        }
    });
    match failed {
        Some(err) => Err(err),
        None => Ok(crc),
    }
}

/// The body offset of the first non-zero byte at or after `start`, if any.
pub(crate) fn first_nonzero_from<Src: Source>(
    source: &mut Src,
    start: u64,
) -> Result<Option<u64>, Src::Error> {
    let mut at = start;
    while at < source.len() {
        let bytes = source.bytes(at, 1)?;
        if bytes.is_empty() {
            break;
        }
        if let Some(found) = first_nonzero(bytes) {
            return Ok(Some(at + found as u64));
        }
        at += bytes.len() as u64;
    }
    Ok(None)
}

/// The body offset of the last non-zero byte at or after `start`, if any: one pass to the end.
pub(crate) fn last_nonzero_from<Src: Source>(
    source: &mut Src,
    start: u64,
) -> Result<Option<u64>, Src::Error> {
    let mut at = start;
    let mut last = None;
    while at < source.len() {
        let bytes = source.bytes(at, 1)?;
        if bytes.is_empty() {
            break;
        }
        if let Some(found) = bytes.iter().rposition(|&b| b != 0) {
            last = Some(at + found as u64);
        }
        at += bytes.len() as u64;
    }
    Ok(last)
}

/// The index of the first non-zero byte. ORs 64-byte chunks (which the compiler vectorises)
/// before looking at single bytes: a preallocated tail can be gigabytes of zeros.
pub(crate) fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    const CHUNK_BYTES: usize = 64;
    let mut chunks = bytes.chunks_exact(CHUNK_BYTES);
    let zero_chunks = chunks
        .by_ref()
        .take_while(|chunk| chunk.iter().fold(0u8, |acc, &b| acc | b) == 0)
        .count();
    let from = zero_chunks * CHUNK_BYTES;
    bytes[from..]
        .iter()
        .position(|&b| b != 0)
        .map(|found| from + found)
}

/// The answer of a scan over a [`SliceSource`], which cannot fail to read.
pub(crate) fn infallible<T>(result: Result<T, Stop<Infallible>>) -> Result<T, RecoveryError> {
    result.map_err(|stop| match stop {
        Stop::Refused(err) => err,
        Stop::Read(never) => match never {},
    })
}
