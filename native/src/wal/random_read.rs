//! [`WalReader`]: reads single records by LSN, in any order, keeping segment files open between
//! reads, and reads records the log appended but has not made durable yet.
//!
//! Invariants:
//! - Every record returned passed its checksum at its LSN under its segment's salt.
//! - Read your appends: a record appended to this `Wal` can be read back at once. Bytes still in
//!   the writer's buffer are handed to the OS first (a drain under the writer lock, no sync);
//!   reads of durable records take no lock of the writer's (the segment list is read again only
//!   after a rotation or a checkpoint).
//! - A record a suffix truncation dropped is [`Error::Truncated`], never returned.
//! - Handles are cached per segment (at most [`OPEN_SEGMENTS`]); a segment a checkpoint removed
//!   is [`Error::Checkpointed`].

use super::Wal;
use crate::error::{io, Error};
use crate::reader::LogRecord;
use crate::segment_dir::{FsDir, SegmentDir};
use crate::segments::open_segment;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use walden_core::{Codec, Decoded, InputError, Lsn, Storage, FRAME_HEADER_LEN};

/// Segment handles a [`WalReader`] keeps open; reading from one more closes them all first.
pub const OPEN_SEGMENTS: usize = 16;
/// Bytes read with a record's frame header, so a small record takes one read.
const FIRST_READ: usize = 4096;

/// Random access to a [`Wal`]'s records. Made by [`Wal::reader`]; see the module
/// documentation. `Send`, and cheap to make: give each reading thread its own.
pub struct WalReader<D: SegmentDir = FsDir> {
    wal: Arc<Wal<D>>,
    /// The segments' base LSNs as last listed, oldest first.
    segments: Vec<Lsn>,
    open: HashMap<Lsn, OpenSegment<D>>,
    buf: Vec<u8>,
}

struct OpenSegment<D: SegmentDir> {
    storage: D::Storage,
    codec: Codec,
    body_offset: u64,
}

impl<D: SegmentDir> Wal<D> {
    /// A reader of single records by LSN (see [`WalReader`]), including records appended but
    /// not durable yet.
    ///
    /// ```
    /// # fn main() -> Result<(), walden::Error> {
    /// # let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = std::sync::Arc::new(walden::Wal::open(dir.path())?);
    /// let first = wal.append(b"one")?;
    /// let second = wal.append(b"two")?; // not durable yet
    /// let mut reader = wal.reader();
    /// assert_eq!(reader.read(second.lsn())?.payload, b"two");
    /// assert_eq!(reader.read(first.lsn())?.payload, b"one");
    /// # Ok(())
    /// # }
    /// ```
    pub fn reader(self: &Arc<Self>) -> WalReader<D> {
        WalReader {
            wal: Arc::clone(self),
            segments: self.segments(),
            open: HashMap::new(),
            buf: Vec::new(),
        }
    }

    /// Hands the buffer to the OS if it holds bytes below `target` (for a reader of records
    /// not yet durable). A failed write poisons the log, as a full buffer's does.
    fn written_through(&self, target: Lsn) -> Result<(), Error> {
        let mut writer = self.writer();
        if writer.log.written_lsn() >= target {
            return Ok(());
        }
        let drained = writer.log.drain();
        self.publish_current(&writer);
        if let Err(err) = drained {
            let err = self.poison_with(&mut writer, err);
            drop(writer);
            self.fail_outside_sync(&err);
            return Err(err);
        }
        Ok(())
    }
}

impl<D: SegmentDir> WalReader<D> {
    /// The record that starts at `lsn` (an LSN an append returned).
    ///
    /// Errors, none of which change the log: [`Error::Input`] (`lsn` at or past the end of
    /// what was appended), [`Error::Checkpointed`], [`Error::Truncated`],
    /// [`Error::NotARecordBoundary`] (no record starts there, or the one there is damaged).
    pub fn read(&mut self, lsn: Lsn) -> Result<LogRecord, Error> {
        let current = self.wal.current_lsn();
        if lsn >= current {
            return Err(InputError::BeyondCurrent {
                target: lsn,
                current,
            }
            .into());
        }
        let first = self.wal.first_lsn();
        if lsn < first {
            // Its segment may still be open here: it was removed all the same.
            self.open.retain(|&base, _| base >= first);
            return Err(Error::Checkpointed {
                requested: lsn,
                first,
            });
        }
        if let Some(t) = self.wal.truncations().iter().find(|t| t.covers(lsn)) {
            return Err(Error::Truncated {
                lsn,
                from: t.from,
                to: t.to,
            });
        }
        let header_end = Lsn::new(lsn.get().saturating_add(FRAME_HEADER_LEN as u64));
        let durable = self.wal.durable_lsn();
        if header_end > durable {
            self.wal.written_through(header_end.min(current))?;
        }
        let base = self.segment_of(lsn)?;
        let offset = self.open_segment(base)?.body_offset + (lsn.get() - base.get());
        let mut want = FIRST_READ;
        // The first read, one more for a record longer than it, and one after a drain.
        for _ in 0..3 {
            self.buf.resize(want, 0);
            let segment = self.open.get(&base).ok_or(Error::Checkpointed {
                requested: lsn,
                first: base,
            })?;
            let got = read_full(&segment.storage, offset, &mut self.buf)?;
            match segment.codec.decode(lsn, &self.buf[..got]) {
                Decoded::Record(record) => {
                    return Ok(LogRecord {
                        lsn,
                        payload: record.payload.to_vec(),
                    })
                }
                Decoded::Incomplete { needed, .. } if needed > got => {
                    let end = Lsn::new(lsn.get().saturating_add(needed as u64));
                    if end > current {
                        return Err(Error::NotARecordBoundary { lsn });
                    }
                    if end > durable {
                        self.wal.written_through(end)?;
                    } else if got < want {
                        // The file ends inside a durable record: not a record of this log.
                        return Err(Error::NotARecordBoundary { lsn });
                    }
                    want = needed;
                }
                _ => return Err(Error::NotARecordBoundary { lsn }),
            }
        }
        Err(Error::NotARecordBoundary { lsn })
    }

    /// The base of the segment holding `lsn`. Lists the segments again (under the writer lock)
    /// only when the list it holds cannot say: `lsn` past the last segment it knows while a
    /// newer one is active, or below the first (checkpointed since).
    fn segment_of(&mut self, lsn: Lsn) -> Result<Lsn, Error> {
        let active = self.wal.active_base();
        let known_last = self.segments.last().copied();
        let stale = self.segments.first().is_none_or(|&first| lsn < first)
            || known_last.is_some_and(|last| lsn >= last && last != active);
        if stale {
            self.segments = self.wal.segments();
            self.open.retain(|base, _| self.segments.contains(base));
        }
        let first = self.segments.first().copied().unwrap_or(Lsn::ZERO);
        if lsn < first {
            return Err(Error::Checkpointed {
                requested: lsn,
                first,
            });
        }
        let index = self.segments.partition_point(|&base| base <= lsn);
        Ok(self.segments[index.saturating_sub(1)])
    }

    fn open_segment(&mut self, base: Lsn) -> Result<&OpenSegment<D>, Error> {
        if !self.open.contains_key(&base) {
            if self.open.len() >= OPEN_SEGMENTS {
                self.open.clear();
            }
            let (storage, header) = match open_segment(&self.wal.dir, base) {
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::Checkpointed {
                        requested: base,
                        first: self.wal.first_lsn(),
                    });
                }
                opened => opened?,
            };
            let codec =
                Codec::for_header(&header).with_max_payload_len(self.wal.options.max_payload_len);
            self.open.insert(
                base,
                OpenSegment {
                    storage,
                    codec,
                    body_offset: header.body_offset(),
                },
            );
        }
        self.open.get(&base).ok_or(Error::Checkpointed {
            requested: base,
            first: base,
        })
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full<S: Storage<Error = std::io::Error>>(
    storage: &S,
    offset: u64,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut got = 0;
    while got < buf.len() {
        let n = storage
            .read_at(offset + got as u64, &mut buf[got..])
            .map_err(io("reading a record"))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

impl<D: SegmentDir> fmt::Debug for WalReader<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalReader")
            .field("segments", &self.segments)
            .field("open", &self.open.len())
            .finish_non_exhaustive()
    }
}
