//! Checking a log: every header and every record of every segment, with recovery's own rules.
//!
//! Invariants:
//! - The last segment is judged by `scan_file` in the default mode
//!   ([`RecoveryMode::TolerateTornTail`]), exactly as `WalWriter` / `Wal` recovery judges it on
//!   open: a torn or unsynced tail there is [`Verdict::TornTail`] (what recovery would cut), and
//!   what recovery refuses is [`Verdict::Corrupt`].
//! - A sealed segment (any but the last, and its sync mark at its successor's base) was synced
//!   whole, so any damage in it, records ending before the next segment's base, or records
//!   running past it, is [`Verdict::Corrupt`], never a torn tail. Zero fill after its records
//!   is preallocated space and fine.
//! - The segment before the last may be *unsealed* (its sync mark short of its successor's
//!   base): a crash interrupted its background seal. It is judged as recovery on open judges
//!   it, like the last segment: a torn or unsynced tail is [`Verdict::TornTail`], and if its
//!   records then end short of its successor, the successor is an orphan that recovery removes
//!   (nothing in it was acknowledged): [`Verdict::TornTail`] too, and `walden repair` moves it
//!   aside.
//! - A single file named as a segment of a `Wal` directory that has a later segment is judged
//!   as the sealed segment it is.
//! - Every segment of a directory must carry the base LSN its name says and the log's salt (the
//!   salt most segments carry; on a tie, the first segment's).
//! - An empty single file is clean (`WalWriter::open` writes a new header there); any other
//!   header that does not decode is a finding.
//! - A directory's `META` file (metadata and truncations) is judged as `Wal::open` judges it:
//!   neither copy decoding is [`Verdict::Corrupt`], a newer version [`Verdict::Unjudgeable`],
//!   and a truncation ending past the last segment's records [`Verdict::Corrupt`] (segments
//!   were lost). Its findings are reported with the last segment.
//! - Checking only reads, through recovery's own streaming scan (`scan_storage`, a window of
//!   [`RECOVERY_WINDOW_BYTES`] at a time): memory does not grow with a segment's size.

use crate::exit::Verdict;
use crate::open::{Log, LogKind};
use walden::walden_core::{
    scan_storage, Codec, FileHeader, HeaderError, Lsn, Meta, MetaError, Recovery, RecoveryError,
    RecoveryMode, Tail, TailKind, WriterError, RECOVERY_WINDOW_BYTES,
};

/// One problem found in a log.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    /// The segment it is in (index into [`Log::segments`]).
    pub(crate) segment: usize,
    /// How bad it is.
    pub(crate) verdict: Verdict,
    /// Whether it lies in the segment's header, name or salt (rather than in its records).
    pub(crate) in_header: bool,
    /// What kind of problem, as a stable name for monitoring (`torn_tail`, `corrupt_mid_log`,
    /// ...; see [`Finding::recovery`] for what opening does about it).
    pub(crate) kind: &'static str,
    /// Where it starts, when it has a position in the log.
    pub(crate) lsn: Option<Lsn>,
    /// How many bytes it spans, when known.
    pub(crate) bytes: Option<u64>,
    /// What is wrong, as a sentence.
    pub(crate) what: String,
}

impl Finding {
    /// What recovery on open does about it: `cut` (a torn or unsynced tail), `remove` (an
    /// orphaned segment), `refuse` (corruption: the log is not opened), or `cannot_judge`
    /// (another format, or a limit this check was not given).
    pub(crate) fn recovery(&self) -> &'static str {
        match (self.verdict, self.kind) {
            (Verdict::TornTail, "orphaned_segment") => "remove",
            (Verdict::TornTail, _) => "cut",
            (Verdict::Corrupt, _) => "refuse",
            (Verdict::Unjudgeable, _) => "cannot_judge",
            (Verdict::Clean, _) => "none",
        }
    }
}

/// The stable name of a header error.
fn header_kind(err: HeaderError) -> &'static str {
    match err {
        HeaderError::Truncated { .. } => "truncated_header",
        HeaderError::NotAWalFile { .. } => "not_a_wal_file",
        HeaderError::NewerVersion { .. } => "newer_version",
        HeaderError::ChecksumMismatch { .. } => "header_checksum",
        _ => "bad_header",
    }
}

/// What the check learned about one segment.
#[derive(Clone, Debug)]
pub(crate) struct SegmentCheck {
    /// Its header, when it decoded.
    pub(crate) header: Option<FileHeader>,
    /// The default-mode scan, when the header decoded and the scan succeeded.
    pub(crate) recovery: Option<Recovery>,
    /// When the default-mode scan refused the segment: the records before the first damage
    /// (a `PointInTime` scan), which is all a reader could get.
    pub(crate) prefix: Option<Recovery>,
}

impl SegmentCheck {
    /// The end of the valid records, when the scan succeeded.
    pub(crate) fn end(&self) -> Option<Lsn> {
        self.recovery.map(|recovery| recovery.end_lsn)
    }

    /// The records before the first damage: what recovery keeps, or what a point-in-time
    /// recovery would keep when recovery refuses the segment.
    pub(crate) fn readable(&self) -> Option<Recovery> {
        self.recovery.or(self.prefix)
    }
}

/// The result of checking a whole log.
#[derive(Clone, Debug)]
pub(crate) struct LogCheck {
    /// The log checked.
    pub(crate) log: Log,
    /// One per segment, in order.
    pub(crate) segments: Vec<SegmentCheck>,
    /// Every problem found, in segment order.
    pub(crate) findings: Vec<Finding>,
}

impl LogCheck {
    /// The worst finding's verdict, or clean.
    pub(crate) fn verdict(&self) -> Verdict {
        self.findings
            .iter()
            .map(|finding| finding.verdict)
            .max()
            .unwrap_or(Verdict::Clean)
    }

    /// Records in the valid prefixes of all segments.
    pub(crate) fn records(&self) -> u64 {
        self.segments
            .iter()
            .filter_map(SegmentCheck::readable)
            .map(|recovery| recovery.records)
            .sum()
    }
}

/// Checks every segment of `log`, reading one at a time.
pub(crate) fn check(log: Log, max_payload_len: u32) -> Result<LogCheck, crate::error::CliError> {
    let mut segments = Vec::with_capacity(log.segments.len());
    let mut findings = Vec::new();
    let last = log.segments.len() - 1;
    let mut unsealed_predecessor = None;
    for (index, segment) in log.segments.iter().enumerate() {
        let opened = segment.open()?;
        let mut finding = |verdict: Verdict,
                           in_header: bool,
                           kind: &'static str,
                           at: (Option<Lsn>, Option<u64>),
                           what: String| {
            findings.push(Finding {
                segment: index,
                verdict,
                in_header,
                kind,
                lsn: at.0,
                bytes: at.1,
                what,
            });
        };
        let header = match opened.header {
            Ok(header) => header,
            // An empty log file is what `WalWriter::open` starts a new log in (it writes the
            // header): no records, nothing wrong. An empty segment in a directory is not.
            Err(_) if opened.size == 0 && log.kind == LogKind::File => {
                segments.push(SegmentCheck {
                    header: None,
                    recovery: None,
                    prefix: None,
                });
                continue;
            }
            Err(err) => {
                finding(
                    header_verdict(err, log.kind),
                    true,
                    header_kind(err),
                    (None, None),
                    err.to_string(),
                );
                segments.push(SegmentCheck {
                    header: None,
                    recovery: None,
                    prefix: None,
                });
                continue;
            }
        };
        if let Some(named) = segment.named_base {
            if named != header.base_lsn {
                finding(
                    Verdict::Corrupt,
                    true,
                    "name_mismatch",
                    (Some(header.base_lsn), None),
                    format!(
                        "the file is named for LSN {named} but its header says LSN {}",
                        header.base_lsn
                    ),
                );
            }
        }
        // The one before the last, with a sync mark short of its successor's base, is recovered
        // like the last (see the module documentation).
        let successor = log.segments.get(index + 1).and_then(|next| next.named_base);
        let unsealed = index + 1 == last
            && log.kind == LogKind::Dir
            && header
                .sync_mark
                .zip(successor)
                .is_some_and(|(mark, next)| mark < next);
        if unsealed {
            unsealed_predecessor = Some(index);
        }
        let codec = |salt| Codec::new(salt).with_max_payload_len(max_payload_len);
        let scan_in = |mode| match scan_storage(&opened.file, codec, mode, RECOVERY_WINDOW_BYTES) {
            Ok(scanned) => Ok(Ok(scanned)),
            Err(WriterError::Recovery(err)) => Ok(Err(err)),
            Err(WriterError::Header(err)) => Ok(Err(RecoveryError::Header(err))),
            Err(err) => Err(crate::error::CliError::Io {
                op: "reading",
                path: segment.path.clone(),
                source: io_error(err),
            }),
        };
        let scan = scan_in(RecoveryMode::TolerateTornTail)?;
        let prefix = match scan {
            Err(RecoveryError::CorruptionMidLog { .. } | RecoveryError::SyncedDataLost { .. }) => {
                scan_in(RecoveryMode::PointInTime)?
                    .ok()
                    .map(|(_, recovery)| recovery)
            }
            _ => None,
        };
        drop(opened);
        let recovery = match scan {
            Ok(recovery) => Some(recovery.1),
            Err(err) => {
                if let RecoveryError::RecordOverLimit {
                    payload_len, at, ..
                } = err
                {
                    finding(
                        Verdict::Unjudgeable,
                        false,
                        "record_over_limit",
                        (Some(at), Some(u64::from(payload_len))),
                        format!("{err} (here: rerun with --max-payload-len {payload_len})"),
                    );
                    segments.push(SegmentCheck {
                        header: Some(header),
                        recovery: None,
                        prefix: None,
                    });
                    continue;
                }
                // Corruption in the middle, synced records lost: what recovery refuses.
                let verdict = Verdict::Corrupt;
                let hint = match prefix {
                    Some(prefix) => format!(
                        "; with walden: `walden repair --point-in-time` keeps only the records \
                         before LSN {}",
                        prefix.end_lsn
                    ),
                    None => String::new(),
                };
                let (kind, at) = match err {
                    RecoveryError::CorruptionMidLog { at, next_valid, .. } => (
                        "corrupt_mid_log",
                        (Some(at), Some(next_valid.get().saturating_sub(at.get()))),
                    ),
                    RecoveryError::SyncedDataLost { at, .. } => {
                        ("synced_records_lost", (Some(at), None))
                    }
                    _ => ("refused", (None, None)),
                };
                finding(verdict, false, kind, at, format!("{err}{hint}"));
                None
            }
        };
        if let Some(Recovery {
            tail: Some(Tail { at, bytes, kind }),
            ..
        }) = recovery
        {
            let sealed = (index < last && !unsealed) || log.sealed_segment;
            match kind {
                TailKind::Zeroed => {}
                TailKind::Torn(damage) if !sealed => finding(
                    Verdict::TornTail,
                    false,
                    "torn_tail",
                    (Some(at), Some(bytes)),
                    format!(
                        "torn tail: {bytes} bytes at LSN {at} ({damage}), the last write was \
                         interrupted; recovery cuts it on open, `walden repair` cuts it now and \
                         keeps a backup"
                    ),
                ),
                TailKind::Unsynced { damage, next_valid } if !sealed => finding(
                    Verdict::TornTail,
                    false,
                    "unsynced_tail",
                    (Some(at), Some(bytes)),
                    format!(
                        "torn tail: {bytes} bytes at LSN {at} ({damage}; a record at LSN \
                         {next_valid} landed out of order), an interrupted batch past the sync \
                         mark that was never acknowledged; recovery cuts it on open, `walden \
                         repair` cuts it now and keeps a backup"
                    ),
                ),
                TailKind::Torn(damage)
                | TailKind::Unsynced { damage, .. }
                | TailKind::Discarded { damage, .. } => finding(
                    Verdict::Corrupt,
                    false,
                    "sealed_segment_damaged",
                    (Some(at), Some(bytes)),
                    format!(
                        "sealed segment is damaged at LSN {at} ({damage}, {bytes} bytes to its \
                         end): it was synced whole before the next segment was created, so \
                         these records were lost"
                    ),
                ),
            }
        }
        segments.push(SegmentCheck {
            header: Some(header),
            recovery,
            prefix,
        });
    }
    check_salts(&segments, &mut findings);
    let orphan = check_orphan(&log, &segments, unsealed_predecessor, &mut findings);
    check_continuity(&log, &segments, orphan, &mut findings);
    check_meta(&log, &segments, &mut findings);
    findings.sort_by_key(|finding| (finding.segment, !finding.in_header));
    Ok(LogCheck {
        log,
        segments,
        findings,
    })
}

/// The directory's `META` file, as `Wal::open` reads it.
fn check_meta(log: &Log, segments: &[SegmentCheck], findings: &mut Vec<Finding>) {
    if log.kind != LogKind::Dir {
        return;
    }
    let path = log.path.join(walden::backend::META_FILE_NAME);
    let segment = segments.len().saturating_sub(1);
    let mut finding = |verdict: Verdict, kind: &'static str, lsn: Option<Lsn>, what: String| {
        findings.push(Finding {
            segment,
            verdict,
            in_header: false,
            kind,
            lsn,
            bytes: None,
            what,
        });
    };
    let image = match std::fs::read(&path) {
        Ok(image) => image,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => {
            return finding(
                Verdict::Corrupt,
                "meta_unreadable",
                None,
                format!("META cannot be read: {err}"),
            )
        }
    };
    let meta = match Meta::read(&image) {
        Ok(meta) => meta,
        Err(err @ MetaError::NewerVersion { .. }) => {
            return finding(
                Verdict::Unjudgeable,
                "meta_newer",
                None,
                format!("META: {err}"),
            )
        }
        Err(err) => {
            return finding(
                Verdict::Corrupt,
                "meta_damaged",
                None,
                format!("META: {err}"),
            )
        }
    };
    let end = segments.last().and_then(SegmentCheck::end);
    if let (Some(last), Some(end)) = (meta.truncations.last(), end) {
        if last.to > end {
            finding(
                Verdict::Corrupt,
                "meta_past_end",
                Some(last.to),
                format!(
                    "META records a truncation up to LSN {}, past the end of the records (LSN \
                     {end}): segments holding the log's end are missing; opening refuses the log",
                    last.to
                ),
            );
        }
    }
}

/// A header error in a single file that is not a log, or of a newer format, is input the tool
/// cannot judge; any other header error (and any in a directory's segment, named as a segment)
/// is damage.
pub(crate) fn header_verdict(err: HeaderError, kind: LogKind) -> Verdict {
    match (err, kind) {
        (HeaderError::NewerVersion { .. }, _) => Verdict::Unjudgeable,
        (HeaderError::NotAWalFile { .. }, LogKind::File) => Verdict::Unjudgeable,
        _ => Verdict::Corrupt,
    }
}

/// Every segment must carry the log's salt.
fn check_salts(segments: &[SegmentCheck], findings: &mut Vec<Finding>) {
    let salts: Vec<Option<u64>> = segments
        .iter()
        .map(|segment| segment.header.map(|header| header.salt))
        .collect();
    let count = |salt: u64| salts.iter().filter(|s| **s == Some(salt)).count();
    // The most common salt; on a tie, the earliest segment's.
    let Some(log_salt) = salts
        .iter()
        .flatten()
        .copied()
        .fold(None, |best: Option<u64>, salt| match best {
            Some(best) if count(best) >= count(salt) => Some(best),
            _ => Some(salt),
        })
    else {
        return;
    };
    for (index, salt) in salts.iter().enumerate() {
        if matches!(salt, Some(salt) if *salt != log_salt) {
            findings.push(Finding {
                segment: index,
                verdict: Verdict::Corrupt,
                in_header: true,
                kind: "other_log",
                lsn: None,
                bytes: None,
                what: String::from(
                    "the segment belongs to another log (its salt differs from the other \
                     segments')",
                ),
            });
        }
    }
}

/// An unsealed segment before the last whose records end short of the last one's base: the
/// last is an orphan recovery removes on open. Returns the orphan's index.
fn check_orphan(
    log: &Log,
    segments: &[SegmentCheck],
    unsealed: Option<usize>,
    findings: &mut Vec<Finding>,
) -> Option<usize> {
    let index = unsealed?;
    let end = segments[index].end()?;
    let next = segments[index + 1].header?.base_lsn;
    if end >= next {
        return None;
    }
    findings.push(Finding {
        segment: index + 1,
        verdict: Verdict::TornTail,
        in_header: false,
        kind: "orphaned_segment",
        lsn: Some(next),
        bytes: None,
        what: format!(
            "orphaned segment: the one before it ({}) was never sealed and its records end at \
             LSN {end}, before this segment's base {next}, so none of this segment's records was \
             acknowledged; recovery removes it on open, `walden repair` moves it aside now",
            log.segments[index].name()
        ),
    });
    Some(index + 1)
}

/// Each sealed segment's records must end exactly where the next segment begins.
fn check_continuity(
    log: &Log,
    segments: &[SegmentCheck],
    orphan: Option<usize>,
    findings: &mut Vec<Finding>,
) {
    for index in 0..segments.len().saturating_sub(1) {
        // The gap before an orphan is the orphan's finding.
        if orphan == Some(index + 1) {
            continue;
        }
        let damaged = findings.iter().any(|finding| finding.segment == index);
        let (Some(end), Some(next)) = (
            segments[index].end(),
            segments[index + 1].header.map(|header| header.base_lsn),
        ) else {
            continue;
        };
        if damaged || end == next {
            continue;
        }
        let (kind, bytes) = if end < next {
            ("records_missing", next.get() - end.get())
        } else {
            ("segments_overlap", end.get() - next.get())
        };
        let what = if end < next {
            format!(
                "the records end at LSN {end} but the next segment ({}) starts at LSN {next}: \
                 {} bytes of records are missing from this sealed segment",
                log.segments[index + 1].name(),
                next.get() - end.get()
            )
        } else {
            format!(
                "the records run to LSN {end}, past the start of the next segment ({}) at LSN \
                 {next}: the segments overlap",
                log.segments[index + 1].name()
            )
        };
        findings.push(Finding {
            segment: index,
            verdict: Verdict::Corrupt,
            in_header: false,
            kind,
            lsn: Some(end.min(next)),
            bytes: Some(bytes),
            what,
        });
    }
}

/// The I/O error inside a failed streaming scan's error.
fn io_error(err: WriterError<std::io::Error>) -> std::io::Error {
    match err {
        WriterError::Storage { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }
}
