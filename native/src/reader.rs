//! [`WalIter`]: reads records in LSN order from any record boundary, across segments.
//!
//! A reader opens its own handles on the segment files and never takes the writer's lock while
//! reading. It reads only below a bound fixed when it is created (the durable LSN, so it never
//! returns a record a crash could still take back) and [`WalIter::extend`] moves the bound (the
//! tail does that as the durable LSN advances).
//!
//! Invariants:
//! - Every record returned passed its checksum at its LSN under its segment's salt.
//! - Records come in LSN order without gaps: the next record starts where the last one ended,
//!   and crossing into a segment requires the previous one to end exactly at its base.
//! - Damage inside the bound (below the durable LSN, where only whole records can be) is an
//!   error ([`Error::Corrupt`], or [`Error::SegmentMismatch`] for a sealed segment that ends
//!   early), never a silent end. After an error the iterator is finished.
//! - Memory is bounded by one read chunk plus the largest record.
//! - Records in a range a suffix truncation dropped are passed over like sync markers: they are
//!   still in the segment (and still verified) until a checkpoint removes it.

use crate::error::{io, Error};
use crate::options::WalOptions;
use crate::segment_dir::{segment_file_name, SegmentDir};
use crate::segments::open_segment;
use std::sync::Arc;
use walden_core::{Codec, Decoded, Lsn, Storage, Truncation};

/// Bytes read from a segment at a time.
const READ_CHUNK: usize = 256 * 1024;

/// One record read back: its LSN and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Where the record starts.
    pub lsn: Lsn,
    /// The payload given to `append` or `commit`.
    pub payload: Vec<u8>,
}

impl LogRecord {
    /// Where the record's frame ends: the LSN of the record after it.
    pub fn end_lsn(&self) -> Lsn {
        Lsn::new(self.lsn.get() + walden_core::frame_len(self.payload.len()) as u64)
    }
}

/// An iterator over records from an LSN up to a bound. See the module documentation.
#[derive(Debug)]
pub struct WalIter<D: SegmentDir> {
    dir: D,
    max_payload_len: u32,
    /// Base LSNs of the segments, oldest first.
    segments: Vec<Lsn>,
    /// The segment `next` is in.
    index: usize,
    /// The LSN of the next record.
    next: Lsn,
    /// Records are returned only if they end at or below this.
    upto: Lsn,
    /// `next` was given by the caller and no record has been read there yet.
    at_start: bool,
    open: Option<OpenSegment<D>>,
    finished: bool,
    /// Ranges whose records a suffix truncation dropped: passed over, like sync markers.
    truncations: Arc<[Truncation]>,
}

#[derive(Debug)]
struct OpenSegment<D: SegmentDir> {
    storage: D::Storage,
    codec: Codec,
    base: Lsn,
    /// The file offset of the segment's first frame byte (its format version's).
    body_offset: u64,
    /// Bytes read from the file, starting at LSN `buf_lsn`.
    buf: Vec<u8>,
    buf_lsn: Lsn,
}

impl<D: SegmentDir> WalIter<D> {
    /// Reads from `from`, which must be a record boundary at or above the first segment's base,
    /// up to `upto`. `segments` are the segments' base LSNs, oldest first.
    pub(crate) fn new(
        dir: D,
        options: &WalOptions,
        segments: Vec<Lsn>,
        from: Lsn,
        upto: Lsn,
    ) -> Result<WalIter<D>, Error> {
        let first = segments.first().copied().unwrap_or(Lsn::ZERO);
        if from < first {
            return Err(Error::Checkpointed {
                requested: from,
                first,
            });
        }
        let index = segments
            .partition_point(|&base| base <= from)
            .saturating_sub(1);
        Ok(WalIter {
            dir,
            max_payload_len: options.max_payload_len,
            segments,
            index,
            next: from,
            upto,
            at_start: true,
            open: None,
            finished: false,
            truncations: Arc::from(Vec::new()),
        })
    }

    /// Passes over the records of `truncations` (the log's, as the `Wal` holds them).
    pub(crate) fn skipping(mut self, truncations: Arc<[Truncation]>) -> WalIter<D> {
        self.truncations = truncations;
        self
    }

    /// The LSN of the next record this iterator would return.
    pub fn next_lsn(&self) -> Lsn {
        self.next
    }

    /// The bound: records ending above it are not returned (yet).
    pub fn upto(&self) -> Lsn {
        self.upto
    }

    /// Raises the bound to `upto` and takes a newer list of segments (from the same log), so
    /// iteration continues into records made durable since.
    pub fn extend(&mut self, upto: Lsn, segments: Vec<Lsn>) {
        self.upto = self.upto.max(upto);
        if segments.len() > self.segments.len() || segments.first() != self.segments.first() {
            let current = self.segments.get(self.index).copied();
            self.segments = segments;
            self.index = current
                .and_then(|base| self.segments.iter().position(|&b| b == base))
                .unwrap_or(self.index);
        }
    }

    fn read_next(&mut self) -> Result<Option<LogRecord>, Error> {
        'frames: loop {
            if self.next >= self.upto {
                return Ok(None);
            }
            let segment_end = self.segments.get(self.index + 1).copied();
            if segment_end.is_some_and(|end| self.next >= end) {
                // Move on only from exactly the end: records tile the segments.
                if segment_end != Some(self.next) {
                    return Err(self.mismatch("a record runs past the next segment's base"));
                }
                self.index += 1;
                self.open = None;
                continue;
            }
            // Records in this segment end at its successor's base; none past the bound.
            let cut_by_segment = segment_end.is_some_and(|end| end <= self.upto);
            let limit = segment_end.unwrap_or(self.upto).min(self.upto);
            let next = self.next;
            let at_start = self.at_start;
            let truncations = Arc::clone(&self.truncations);
            let open = self.open_segment()?;
            let mut need = walden_core::FRAME_HEADER_LEN;
            loop {
                let available = fill(open, next, need, limit)?;
                let offset = (next.get() - open.buf_lsn.get()) as usize;
                match open
                    .codec
                    .decode(next, &open.buf[offset..offset + available])
                {
                    Decoded::Record(record) => {
                        let end = record.end_lsn();
                        let payload = (!truncations.iter().any(|t| t.covers(next)))
                            .then(|| record.payload.to_vec());
                        self.next = end;
                        self.at_start = false;
                        match payload {
                            Some(payload) => return Ok(Some(LogRecord { lsn: next, payload })),
                            // Dropped by a truncation: pass over it.
                            None => continue 'frames,
                        }
                    }
                    Decoded::Marker(marker) => {
                        // A sync marker is part of the log, not a record: step over it.
                        self.next = marker.end_lsn();
                        self.at_start = false;
                        continue 'frames;
                    }
                    Decoded::Incomplete { needed, .. } => {
                        let frame_end = next.get().saturating_add(needed as u64);
                        if frame_end > limit.get() && !cut_by_segment {
                            // The record ends past the bound: not readable yet.
                            return Ok(None);
                        }
                        if frame_end > limit.get() || need >= needed {
                            // Cut by the next segment's base, or the file ends early.
                            let reason = if frame_end > limit.get() {
                                "a record runs past the next segment's base"
                            } else {
                                "the segment ends before the records it should hold"
                            };
                            return Err(self.mismatch(reason));
                        }
                        need = needed;
                    }
                    Decoded::Invalid { .. } if at_start => {
                        return Err(Error::NotARecordBoundary { lsn: next });
                    }
                    Decoded::Invalid { reason, .. } => {
                        return Err(Error::Corrupt {
                            segment: segment_file_name(open.base),
                            at: next,
                            reason: reason.to_string(),
                        });
                    }
                }
            }
        }
    }

    fn open_segment(&mut self) -> Result<&mut OpenSegment<D>, Error> {
        let segment = match self.open.take() {
            Some(open) => open,
            None => {
                let base = self.segments.get(self.index).copied().unwrap_or(Lsn::ZERO);
                let (storage, header) = match open_segment(&self.dir, base) {
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        // Removed by a checkpoint since this reader listed the segments.
                        return Err(Error::Checkpointed {
                            requested: base,
                            first: base,
                        });
                    }
                    opened => opened?,
                };
                OpenSegment {
                    storage,
                    codec: Codec::for_header(&header).with_max_payload_len(self.max_payload_len),
                    base,
                    body_offset: header.body_offset(),
                    buf: Vec::new(),
                    buf_lsn: base,
                }
            }
        };
        Ok(self.open.insert(segment))
    }

    fn mismatch(&self, reason: &str) -> Error {
        let base = self.segments.get(self.index).copied().unwrap_or(Lsn::ZERO);
        Error::SegmentMismatch {
            segment: segment_file_name(base),
            reason: format!("{reason} (at LSN {})", self.next),
        }
    }
}

/// Makes the buffer hold at least `need` bytes from `lsn` (fewer only where the segment or
/// `limit` ends); returns how many bytes from `lsn` it holds.
fn fill<D: SegmentDir>(
    open: &mut OpenSegment<D>,
    lsn: Lsn,
    need: usize,
    limit: Lsn,
) -> Result<usize, Error> {
    let start = lsn.get().checked_sub(open.buf_lsn.get());
    let start = match start.and_then(|s| usize::try_from(s).ok()) {
        Some(start) if start <= open.buf.len() => start,
        _ => {
            open.buf.clear();
            open.buf_lsn = lsn;
            0
        }
    };
    if open.buf.len() - start >= need {
        return Ok(open.buf.len() - start);
    }
    // Drop what was consumed, then read a chunk (or the rest of the record, if larger) after
    // what is held, never past `limit`.
    open.buf.drain(..start);
    open.buf_lsn = lsn;
    let held = open.buf.len();
    let read_from = lsn.get().saturating_add(held as u64);
    let room = usize::try_from(limit.get().saturating_sub(read_from)).unwrap_or(usize::MAX);
    let want = need.max(READ_CHUNK).saturating_sub(held).min(room);
    // Segment bases come from disk: a reader asked to start far into a segment whose successor's
    // base is near `Lsn::MAX` can ask for an offset no file has. Nothing is read there, which the
    // caller reports as a segment that ends early.
    let offset = read_from
        .checked_sub(open.base.get())
        .and_then(|records| records.checked_add(open.body_offset));
    if let Some(offset) = offset.filter(|_| want > 0) {
        open.buf.resize(held + want, 0);
        let read = open
            .storage
            .read_at(offset, &mut open.buf[held..])
            .map_err(io("reading a segment"))?;
        open.buf.truncate(held + read);
    }
    Ok(open.buf.len())
}

impl<D: SegmentDir> Iterator for WalIter<D> {
    type Item = Result<LogRecord, Error>;

    fn next(&mut self) -> Option<Result<LogRecord, Error>> {
        if self.finished {
            return None;
        }
        match self.read_next() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => None,
            Err(err) => {
                self.finished = true;
                Some(Err(err))
            }
        }
    }
}
