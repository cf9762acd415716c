//! The power-loss property, and the model it is checked against.
//!
//! The [`Model`] remembers every record the workload appended (LSN and payload), the highest
//! durable LSN the log ever published (`D`), and the highest LSN a checkpoint was asked for
//! (`C`). A recovered log satisfies the property when its records, read from its first LSN,
//! are gap-free (each starts where the previous one ends: LSN + 8 + payload length, or exactly
//! one sync marker frame later, [`MARKER_FRAME_LEN`]: in format v2 a drain after a sync ends its
//! batch with a marker, which takes LSN space but is no record), are each exactly the payload
//! appended at that LSN, start at or below `C`, and the log (its last record, or one marker
//! after it) ends at or beyond `D`.
//!
//! The same property is checked twice per recovery: on what the reopened `Wal` reads back, and
//! on the raw crash image, scanned segment by segment with `walden_core::scan_file` (an oracle
//! independent of the `Wal`'s recovery and reader); the two must also agree record for record.
//!
//! Invariants:
//! - The model's records are gap-free and in LSN order: an append lands where the previous
//!   record ended (or one sync marker later), and after a recovery the model becomes exactly what was recovered (records
//!   past the recovered end were never durable and are overwritten by new appends).
//! - `D` and `C` only grow.

use super::crash::Image;
use std::collections::BTreeMap;
use std::fmt;
use walden_core::{
    scan_file, Codec, FileHeader, Lsn, Records, RecoveryError, RecoveryMode, TailKind,
    FRAME_HEADER_LEN, MARKER_FRAME_LEN,
};

/// What went wrong with a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// Recovery refused the log over damage that lies entirely past what was synced before the
    /// crash (`CorruptionMidLog`, `SyncedDataLost`): typically the hole an unsynced write that
    /// never landed leaves before one that did. The header's sync mark exists to make recovery
    /// truncate that as an interrupted batch.
    Hole,
    /// Recovery refused the log for another reason, or over damage inside what was synced.
    RecoveryRefused,
    /// The recovered log ends before a durable LSN the log published, or starts after every
    /// checkpoint asked for: acknowledged records are missing.
    LostDurable,
    /// A recovered record is not the payload appended at its LSN.
    Unwritten,
    /// Recovered records do not follow each other without a gap.
    Gap,
    /// Reading the recovered log back failed.
    ReadFailed,
    /// The reopened `Wal` and the core's scanner of the crash image disagree.
    Disagree,
    /// The log misbehaved before the power loss (an error with the disk still up, or a
    /// watermark or LSN other than the contract says).
    Unexpected,
    /// The seed panicked.
    Panic,
}

/// A property violation: its kind and what exactly was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The kind, for counting.
    pub kind: ViolationKind,
    /// The details, for the person replaying the seed.
    pub detail: String,
}

impl Violation {
    /// A violation of `kind`.
    pub fn new(kind: ViolationKind, detail: impl Into<String>) -> Violation {
        Violation {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

/// One record: its LSN and payload.
pub(crate) type Entry = (Lsn, Vec<u8>);

/// What the workload did, as far as the property cares. See the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    records: Vec<Entry>,
    /// The highest durable LSN the log published (`D`).
    durable: Lsn,
    /// The highest LSN a checkpoint was asked for (`C`); records below it may be gone.
    checkpoint: Lsn,
    /// The last record again, one sync marker later: where a record whose append failed may
    /// have landed instead (the drain that failed may have appended a marker before it).
    either: Option<Entry>,
}

impl Model {
    /// `D`.
    pub(crate) fn durable(&self) -> Lsn {
        self.durable
    }

    /// Where the next record lands, if the model knows (it holds a record).
    pub(crate) fn end(&self) -> Option<Lsn> {
        self.records
            .last()
            .map(|(lsn, payload)| record_end(*lsn, payload.len()))
    }

    /// Records `payload`, appended at `lsn`: where the previous record ended, or one sync
    /// marker later.
    pub(crate) fn appended(&mut self, lsn: Lsn, payload: Vec<u8>) -> Result<(), Violation> {
        if let Some(end) = self.end() {
            if lsn != end && lsn != after_marker(end) {
                return Err(Violation::new(
                    ViolationKind::Unexpected,
                    format!(
                        "a record was appended at LSN {lsn}, but the previous one ends at {end} \
                         (only one {MARKER_FRAME_LEN}-byte sync marker may lie between them)"
                    ),
                ));
            }
        }
        self.either = None;
        self.records.push((lsn, payload));
        Ok(())
    }

    /// Records `payload`, whose append at `expected` (the log's current LSN) failed: it may
    /// still have reached the disk, at `expected` or one sync marker later.
    pub(crate) fn appended_somewhere(
        &mut self,
        expected: Lsn,
        payload: Vec<u8>,
    ) -> Result<(), Violation> {
        let either = (after_marker(expected), payload.clone());
        self.appended(expected, payload)?;
        self.either = Some(either);
        Ok(())
    }

    /// Records a durable LSN the log published.
    pub(crate) fn published(&mut self, durable: Lsn) {
        self.durable = self.durable.max(durable);
    }

    /// Records a checkpoint asked for at `lsn`.
    pub(crate) fn checkpointed(&mut self, lsn: Lsn) {
        self.checkpoint = self.checkpoint.max(lsn);
    }

    /// After a recovery that passed the property: the log holds exactly `records`, all durable.
    pub(crate) fn recovered(&mut self, records: Vec<Entry>, end: Lsn) {
        self.records = records;
        self.either = None;
        self.durable = self.durable.max(end);
    }

    /// The LSN of the record `back` records before the last one (the first record's if there
    /// are fewer; 0 if there are none).
    pub(crate) fn recent(&self, back: usize) -> Lsn {
        let index = self.records.len().saturating_sub(back + 1);
        self.records.get(index).map_or(Lsn::ZERO, |(lsn, _)| *lsn)
    }

    fn payload_at(&self, lsn: Lsn) -> Option<&[u8]> {
        if let Some((at, payload)) = &self.either {
            if *at == lsn {
                return Some(payload);
            }
        }
        self.records
            .binary_search_by_key(&lsn, |(at, _)| *at)
            .ok()
            .map(|index| self.records[index].1.as_slice())
    }

    /// Checks the property for a log whose first LSN is `first`, whose records, read from
    /// there, are `records`, and which ends at `end`. Returns `end`.
    pub(crate) fn check(&self, first: Lsn, records: &[Entry], end: Lsn) -> Result<Lsn, Violation> {
        if first > self.checkpoint {
            return Err(Violation::new(
                ViolationKind::LostDurable,
                format!(
                    "the log starts at LSN {first}, but no checkpoint above {} was asked for",
                    self.checkpoint
                ),
            ));
        }
        self.check_run(first, records, Some(end))
    }

    /// Checks records read from `from` (any record's LSN) of a log that ends at `log_end`:
    /// gap-free (but for one sync marker between two records, or after the last), each the
    /// payload appended at its LSN, the log ending at or beyond `D`. Returns `log_end`.
    ///
    /// Without `log_end` (records read while the log is open, up to where it was written, which
    /// may be just past a sync marker), the log's end is taken as the records' end, or one
    /// marker past it if that reaches `D`.
    pub(crate) fn check_run(
        &self,
        from: Lsn,
        records: &[Entry],
        log_end: Option<Lsn>,
    ) -> Result<Lsn, Violation> {
        let mut end = from;
        for (lsn, payload) in records {
            if *lsn != end && *lsn != after_marker(end) {
                return Err(Violation::new(
                    ViolationKind::Gap,
                    format!("a record at LSN {lsn} follows one that ends at {end}"),
                ));
            }
            match self.payload_at(*lsn) {
                Some(expected) if expected == payload.as_slice() => {}
                Some(expected) => {
                    return Err(Violation::new(
                        ViolationKind::Unwritten,
                        format!(
                            "the record at LSN {lsn} has a {}-byte payload other than the {}-byte \
                             one appended there",
                            payload.len(),
                            expected.len()
                        ),
                    ));
                }
                None => {
                    return Err(Violation::new(
                        ViolationKind::Unwritten,
                        format!(
                            "a {}-byte record at LSN {lsn}, where nothing was appended",
                            payload.len()
                        ),
                    ));
                }
            }
            end = record_end(*lsn, payload.len());
        }
        let log_end = log_end.unwrap_or(if end < self.durable {
            after_marker(end)
        } else {
            end
        });
        if log_end != end && log_end != after_marker(end) {
            return Err(Violation::new(
                ViolationKind::Gap,
                format!(
                    "the log ends at LSN {log_end}, but its records ({} from {from}) end at {end}",
                    records.len()
                ),
            ));
        }
        if log_end < self.durable {
            return Err(Violation::new(
                ViolationKind::LostDurable,
                format!(
                    "the log ends at LSN {log_end} ({} records from {from}), but LSN {} was \
                     published as durable",
                    records.len(),
                    self.durable
                ),
            ));
        }
        Ok(log_end)
    }
}

/// The LSN just past a sync marker frame at `lsn`.
pub(crate) fn after_marker(lsn: Lsn) -> Lsn {
    Lsn::new(lsn.get().saturating_add(MARKER_FRAME_LEN as u64))
}

/// The LSN just past a record at `lsn` with a `payload_len`-byte payload.
pub(crate) fn record_end(lsn: Lsn, payload_len: usize) -> Lsn {
    Lsn::new(lsn.get() + (FRAME_HEADER_LEN + payload_len) as u64)
}

/// What the core's scanner finds in a crash image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// The first segment's base (0 for an empty directory, where a new log starts).
    pub(crate) first: Lsn,
    /// Every record, in order, across segments.
    pub(crate) records: Vec<Entry>,
    /// Where the log ends: the end of the valid prefix of the segment recovery keeps last.
    pub(crate) end: Lsn,
    /// What follows the last segment's records.
    pub(crate) tail: Option<TailKind>,
}

/// Why the scanner could not read an image as a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Recovery of the last (active) segment refuses it.
    Refused(RecoveryError),
    /// A sealed segment is damaged or does not end where its successor starts.
    Broken(String),
}

/// What scanning one segment found.
#[derive(Clone, Debug)]
struct SegmentScan {
    /// The base LSN its header gives.
    base: Lsn,
    /// The end of its valid prefix.
    end: Lsn,
    /// What follows the valid prefix.
    tail: Option<TailKind>,
    records: Vec<Entry>,
}

/// Scans of sealed segments, reused while their bytes stay the same: a sealed segment never
/// changes, and scanning is most of a seed's time in a debug build.
#[derive(Debug, Default)]
pub(crate) struct ScanCache {
    sealed: BTreeMap<Lsn, (Vec<u8>, SegmentScan)>,
}

/// Recovers one segment image in the default mode, and reads its valid prefix's records.
fn scan_segment(bytes: &[u8]) -> Result<SegmentScan, RecoveryError> {
    let (header, recovery) = scan_file(bytes, Codec::new, RecoveryMode::TolerateTornTail)?;
    let body = &bytes[recovery.body_offset as usize..recovery.valid_file_len() as usize];
    Ok(SegmentScan {
        base: header.base_lsn,
        end: recovery.end_lsn,
        tail: recovery.tail.map(|tail| tail.kind),
        records: Records::new(Codec::for_header(&header), header.base_lsn, body)
            .map(|record| (record.lsn, record.payload.to_vec()))
            .collect(),
    })
}

/// Scans `image` as a log directory: sealed segments must hold whole records up to their
/// successor's base (zero fill after them is preallocation), the last one is recovered in the
/// default mode. The one before the last may be unsealed (its sync mark short of its
/// successor's base: its background seal was interrupted): it is recovered in the default mode
/// too, and if it then ends short of its successor, the successor is an orphan that never held
/// an acknowledged record, and recovery removes it (`native/src/segments.rs`).
pub(crate) fn scan_image(image: &Image, cache: &mut ScanCache) -> Result<Scanned, ScanError> {
    cache.sealed.retain(|base, _| image.contains_key(base));
    let mut scanned = Scanned {
        first: image.keys().next().copied().unwrap_or(Lsn::ZERO),
        records: Vec::new(),
        end: Lsn::ZERO,
        tail: None,
    };
    scanned.end = scanned.first;
    let count = image.len();
    let mut segments = image.iter().enumerate().peekable();
    while let Some((index, (&base, bytes))) = segments.next() {
        let name = walden::backend::segment_file_name(base);
        let successor = segments.peek().map(|(_, (&next, _))| next);
        if index + 2 == count {
            let next = successor.expect("the one before the last has a successor");
            let unsealed = FileHeader::read(bytes)
                .ok()
                .and_then(|header| header.sync_mark)
                .is_some_and(|mark| mark < next);
            if unsealed {
                let scan = scan_segment(bytes).map_err(ScanError::Refused)?;
                if scan.base != base {
                    return Err(ScanError::Broken(format!(
                        "{name}: its header says LSN {}",
                        scan.base
                    )));
                }
                scanned.records.extend(scan.records);
                scanned.end = scan.end;
                if scan.end < next {
                    // The last segment is an orphan: recovery removes it.
                    scanned.tail = scan.tail;
                    return Ok(scanned);
                }
                if scan.end > next {
                    return Err(ScanError::Broken(format!(
                        "unsealed segment {name} runs to LSN {}, past its successor's base {next}",
                        scan.end
                    )));
                }
                continue;
            }
        }
        let scan = match (successor, cache.sealed.get(&base)) {
            (Some(_), Some((cached, scan))) if cached == bytes => Ok(scan.clone()),
            (Some(_), _) => scan_segment(bytes).inspect(|scan| {
                cache.sealed.insert(base, (bytes.clone(), scan.clone()));
            }),
            (None, _) => scan_segment(bytes),
        };
        let scan = match scan {
            Ok(scan) => scan,
            Err(err) if successor.is_none() => return Err(ScanError::Refused(err)),
            Err(err) => return Err(ScanError::Broken(format!("sealed segment {name}: {err}"))),
        };
        if scan.base != base {
            return Err(ScanError::Broken(format!(
                "{name}: its header says LSN {}",
                scan.base
            )));
        }
        if let Some(next) = successor {
            if !matches!(scan.tail, None | Some(TailKind::Zeroed)) || scan.end != next {
                return Err(ScanError::Broken(format!(
                    "sealed segment {name} ends at LSN {} with tail {:?}, but its successor \
                     starts at {next}",
                    scan.end, scan.tail
                )));
            }
        } else {
            scanned.tail = scan.tail;
        }
        scanned.end = scan.end;
        scanned.records.extend(scan.records);
    }
    Ok(scanned)
}
