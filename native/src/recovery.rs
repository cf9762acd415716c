//! [`WalRecovery`]: what opening a [`crate::Wal`] found and did, segment by segment.
//!
//! Recovery decides what survives a crash, so it never decides silently: every byte it cut is
//! in this report (where, how many, and why), beside what it kept and what it only checked.
//!
//! Invariants:
//! - One [`SegmentRecovery`] per segment file, oldest first; the last kept is the active one.
//!   Their LSN ranges follow each other without a gap. A segment removed whole (its
//!   predecessor's seal was interrupted and a power loss cut the predecessor short) comes last,
//!   with `removed` set.
//! - A sealed segment was whole and synced when it was sealed, so opening checks its header,
//!   salt and length against its sync mark but does not scan its frames (readers verify each
//!   frame they return): its `records` is `None`.
//! - The active segment is scanned: `records` counts what was kept, and `cut` is set exactly
//!   when recovery removed bytes after them (a zero-filled preallocated tail is kept, and
//!   reported in `zero_fill_kept_bytes`).

use crate::segment_dir::segment_file_name;
use std::fmt;
use walden_core::{Lsn, Recovery, TailKind};

/// What recovery found and did when a log was opened. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalRecovery {
    /// Every segment, oldest first; the last is the one appends go to.
    pub segments: Vec<SegmentRecovery>,
}

/// What recovery found in one segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRecovery {
    /// The segment's file name in the log directory (`{base:016x}.wal`).
    pub file_name: String,
    /// The LSN of the segment's first record.
    pub base_lsn: Lsn,
    /// The end of what the segment holds after recovery (for a sealed segment: the next
    /// segment's base).
    pub end_lsn: Lsn,
    /// Whether the segment is sealed (complete, synced, never written again).
    pub sealed: bool,
    /// Records kept, for the scanned (active) segment; `None` for a sealed one, whose frames
    /// are verified by readers rather than on open.
    pub records: Option<u64>,
    /// What recovery removed after the kept records, if anything.
    pub cut: Option<Cut>,
    /// Bytes of zero fill (preallocated, never written) kept after the records.
    pub zero_fill_kept_bytes: u64,
    /// Whether recovery removed the whole file (see [`CutReason::Orphaned`]).
    pub removed: bool,
}

/// Bytes recovery removed from the end of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Where the removed bytes started: the end of the kept records.
    pub at: Lsn,
    /// How many bytes were removed.
    pub bytes: u64,
    /// Why.
    pub why: CutReason,
}

/// Why recovery removed bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CutReason {
    /// What the scan found after the kept records: a torn last write, an interrupted (never
    /// acknowledged) batch past the sync mark, or damage discarded on purpose in
    /// `RecoveryMode::PointInTime`.
    Tail(TailKind),
    /// The whole segment: its predecessor's background seal never finished and a power loss
    /// cut the predecessor short of this segment's base, so nothing in it was acknowledged
    /// (durability passes a segment's end only once its seal is done), and its records could
    /// never be reached without the gap.
    Orphaned {
        /// Where the predecessor's records now end.
        predecessor_end: Lsn,
    },
}

impl WalRecovery {
    /// The report for sealed segments `sealed` (base LSNs, oldest first) followed by the active
    /// segment, whose scan found `active`; `tail_cut` says whether recovery removed its tail
    /// (the writer's own decision: it keeps zero fill when preallocation is on).
    pub(crate) fn new(sealed: &[Lsn], active: &Recovery, tail_cut: bool) -> WalRecovery {
        let mut segments: Vec<SegmentRecovery> = sealed
            .iter()
            .enumerate()
            .map(|(i, &base)| SegmentRecovery {
                file_name: segment_file_name(base),
                base_lsn: base,
                end_lsn: sealed.get(i + 1).copied().unwrap_or(active.base_lsn),
                sealed: true,
                records: None,
                cut: None,
                zero_fill_kept_bytes: 0,
                removed: false,
            })
            .collect();
        let (cut, zero_fill_kept_bytes) = match active.tail {
            Some(tail) if !tail_cut => (None, tail.bytes),
            Some(tail) => (
                Some(Cut {
                    at: tail.at,
                    bytes: tail.bytes,
                    why: CutReason::Tail(tail.kind),
                }),
                0,
            ),
            None => (None, 0),
        };
        segments.push(SegmentRecovery {
            file_name: segment_file_name(active.base_lsn),
            base_lsn: active.base_lsn,
            end_lsn: active.end_lsn,
            sealed: false,
            records: Some(active.records),
            cut,
            zero_fill_kept_bytes,
            removed: false,
        });
        WalRecovery { segments }
    }

    /// Every cut recovery made, with its segment.
    pub fn cuts(&self) -> impl Iterator<Item = (&SegmentRecovery, Cut)> {
        self.segments
            .iter()
            .filter_map(|segment| segment.cut.map(|cut| (segment, cut)))
    }

    /// Whether recovery removed nothing.
    pub fn is_clean(&self) -> bool {
        self.cuts().next().is_none()
    }

    /// Bytes removed in all.
    pub fn cut_bytes(&self) -> u64 {
        self.cuts().map(|(_, cut)| cut.bytes).sum()
    }

    /// The end of the log after recovery: where the next record goes.
    pub fn end_lsn(&self) -> Lsn {
        self.segments
            .iter()
            .rev()
            .find(|segment| !segment.removed)
            .map_or(Lsn::ZERO, |segment| segment.end_lsn)
    }
}

impl SegmentRecovery {
    /// The report of a segment recovery removed whole (see [`CutReason::Orphaned`]).
    pub(crate) fn removed(base: Lsn, bytes: u64, predecessor_end: Lsn) -> SegmentRecovery {
        SegmentRecovery {
            file_name: segment_file_name(base),
            base_lsn: base,
            end_lsn: base,
            sealed: false,
            records: None,
            cut: Some(Cut {
                at: base,
                bytes,
                why: CutReason::Orphaned { predecessor_end },
            }),
            zero_fill_kept_bytes: 0,
            removed: true,
        }
    }
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = match self.why {
            CutReason::Tail(kind) => kind,
            CutReason::Orphaned { predecessor_end } => {
                return write!(
                    f,
                    "removed the segment ({} bytes of records at LSN {}): its predecessor's seal \
                     never finished and a power loss cut it at LSN {predecessor_end}, so nothing \
                     here was acknowledged",
                    self.bytes, self.at
                )
            }
        };
        let why = match tail {
            TailKind::Zeroed => String::from("zero fill (never-written space)"),
            TailKind::Torn(damage) => format!("a torn last write ({damage})"),
            TailKind::Unsynced { damage, next_valid } => format!(
                "an interrupted batch past the sync mark, never acknowledged ({damage}; \
                 valid frames again at LSN {next_valid})"
            ),
            TailKind::Discarded { damage, next_valid } => format!(
                "point-in-time recovery discarded damage and everything after it ({damage}; \
                 valid frames again at LSN {next_valid})"
            ),
        };
        write!(f, "cut {} bytes at LSN {}: {why}", self.bytes, self.at)
    }
}

impl fmt::Display for SegmentRecovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} LSN {}..{}",
            self.file_name, self.base_lsn, self.end_lsn
        )?;
        match self.records {
            None if self.removed => write!(f, " removed")?,
            None => write!(f, " sealed: header, salt and length checked")?,
            Some(records) => write!(f, " active: {records} records kept")?,
        }
        if self.zero_fill_kept_bytes > 0 {
            write!(f, ", {} bytes of zero fill kept", self.zero_fill_kept_bytes)?;
        }
        match self.cut {
            Some(cut) => write!(f, "; {cut}"),
            None => write!(f, "; nothing cut"),
        }
    }
}

impl fmt::Display for WalRecovery {
    /// One line per segment, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            writeln!(f, "{segment}")?;
        }
        if self.is_clean() {
            write!(f, "recovered to LSN {}; nothing cut", self.end_lsn())
        } else {
            write!(
                f,
                "recovered to LSN {}; {} bytes cut",
                self.end_lsn(),
                self.cut_bytes()
            )
        }
    }
}
