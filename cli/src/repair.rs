//! `walden repair PATH [--backup FILE] [--point-in-time]`: cuts a torn tail, keeping a backup.
//!
//! What it does, in order, holding the log's writer lock (`lock.rs`) from before it reads the
//! log until it is done (a segment file of a `Wal` directory named on its own is refused: only
//! the directory says which segment is the last, and holds its writer's lock):
//! 1. checks the log (`check.rs`: the same decisions as recovery on open);
//! 2. a clean log (zero fill included) is left alone; input it cannot judge is refused;
//! 3. a torn tail in the last segment (recovery's `Torn` or `Unsynced` tail) is cut at the end
//!    of the valid records, `Recovery::valid_file_len`, the same length a `WalWriter` / `Wal`
//!    open truncates to;
//! 4. anything worse (corruption in the middle, records lost below a sync mark, damage in a
//!    sealed segment) is refused unless `--point-in-time` is given, which keeps only the records
//!    before the first damage (recovery's `PointInTime` mode): it cuts the damaged segment there,
//!    moves every later segment aside to `NAME.discarded.bak`, and lowers the segment's sync mark
//!    to the cut if it was above it (otherwise the next open would report the cut records as
//!    lost);
//! 5. checks the log again and reports the verdict.
//!
//! Invariants: the bytes cut are written to the backup file (default
//! `SEGMENT.torn-LSN.bak` or `SEGMENT.discarded-LSN.bak` beside the segment), and it is synced
//! with its directory, before anything in the log changes; no existing file is overwritten;
//! later segments are moved aside newest first, each rename made durable before the next, so a
//! crash leaves a contiguous log; the truncation is synced before the command reports success.

use crate::check::{check, LogCheck};
use crate::error::CliError;
use crate::exit::Verdict;
use crate::lock::lock;
use crate::open::{enclosing_wal_dir, Log, LogKind};
use crate::outln;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use walden::backend::write_all_at;
use walden::walden_core::{scan_file, Codec, FileHeader, Lsn, RecoveryMode};

/// What `repair` may do.
#[derive(Clone, Debug)]
pub(crate) struct RepairOptions {
    /// Where to write the bytes cut (default: beside the segment).
    pub(crate) backup: Option<PathBuf>,
    /// Also repair corruption, keeping only the records before the first damage.
    pub(crate) point_in_time: bool,
    /// The payload limit records are checked against.
    pub(crate) max_payload_len: u32,
}

/// A cut of one segment.
#[derive(Debug)]
struct Cut {
    /// Index of the segment.
    segment: usize,
    /// The file length to keep: header plus valid records.
    keep_len: u64,
    /// The LSN where the cut falls.
    at: Lsn,
    /// The header, rewritten with its sync mark at `at` when the mark is above the cut.
    lower_mark: Option<FileHeader>,
    /// The bytes removed, written to `backup` first.
    removed: Vec<u8>,
    /// Where the removed bytes go.
    backup: PathBuf,
}

/// Everything a repair will change.
#[derive(Debug)]
struct Plan {
    cut: Option<Cut>,
    /// Segments to move aside, newest first, with their new names.
    discard: Vec<(PathBuf, PathBuf)>,
    /// What was found, for the report.
    reason: String,
}

/// Runs `repair`; returns the exit code.
pub(crate) fn run(
    path: &Path,
    options: &RepairOptions,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let log = Log::locate(path)?;
    if log.kind == LogKind::File {
        // Only the directory knows which segment is the last (the only one a torn tail may be
        // cut from) and holds the lock its writer takes.
        if let Some(dir) = enclosing_wal_dir(&log.path) {
            return Err(CliError::Refused {
                reason: format!(
                    "{} is a segment of the log in {}: repair the directory (`walden repair \
                     {}`). Nothing was changed",
                    log.path.display(),
                    dir.display(),
                    dir.display()
                ),
                code: crate::exit::EXIT_ERROR,
            });
        }
    }
    let _lock = lock(&log)?;
    let checked = check(log, options.max_payload_len)?;
    let plan = match checked.verdict() {
        Verdict::Clean => {
            outln!(
                out,
                "clean: nothing to repair ({} records); nothing was changed",
                checked.records()
            )?;
            return Ok(crate::exit::EXIT_OK);
        }
        Verdict::Unjudgeable => {
            return Err(refusal(&checked, Verdict::Unjudgeable, "cannot repair"));
        }
        Verdict::TornTail => torn_tail_plan(&checked, options)?,
        Verdict::Corrupt if !options.point_in_time => {
            let mut err = refusal(&checked, Verdict::Corrupt, "refusing to repair");
            if let CliError::Refused { reason, .. } = &mut err {
                // The finding may already name the flag (with the LSN it keeps up to).
                if !reason.contains("--point-in-time") {
                    reason.push_str(
                        ". Nothing was changed; `walden repair --point-in-time` keeps only the \
                         records before the damage",
                    );
                }
                reason.push_str(
                    " (every record after it is lost, even acknowledged ones; the cut bytes \
                     and any later segments are kept as backups)",
                );
            }
            return Err(err);
        }
        Verdict::Corrupt => point_in_time_plan(&checked, options)?,
    };
    execute(&checked.log, &plan)?;
    report(&plan, out)?;
    let after = check(Log::locate(path)?, options.max_payload_len)?;
    let verdict = after.verdict();
    match verdict {
        Verdict::Clean => outln!(
            out,
            "verify after repair: clean, {} records",
            after.records()
        )?,
        _ => {
            crate::verify::report(&after, out)?;
            if let Some(line) = crate::verify::stderr_line(&after) {
                eprintln!("walden: after repair: {line}");
            }
        }
    }
    Ok(verdict.exit_code())
}

fn refusal(checked: &LogCheck, verdict: Verdict, what: &str) -> CliError {
    let reason = checked
        .findings
        .iter()
        .find(|finding| finding.verdict == verdict)
        .map_or_else(String::new, |finding| {
            format!(
                "{}: {}",
                checked.log.segments[finding.segment].path.display(),
                finding.what
            )
        });
    CliError::Refused {
        reason: format!("{what}: {reason}"),
        code: verdict.exit_code(),
    }
}

/// Cuts where recovery would: the last segment's torn tail, or, when a crash interrupted the
/// seal of the segment before it, that segment's torn tail, moving its orphaned successor aside.
fn torn_tail_plan(checked: &LogCheck, options: &RepairOptions) -> Result<Plan, CliError> {
    let finding = checked
        .findings
        .iter()
        .find(|finding| finding.verdict == Verdict::TornTail);
    // The first torn finding is in the last segment, or in the unsealed one before it (the
    // orphan's own finding comes after it).
    let index = finding.map_or(checked.segments.len() - 1, |finding| finding.segment);
    let (Some(recovery), Some(finding)) = (checked.segments[index].recovery, finding) else {
        return Err(refusal(checked, Verdict::TornTail, "cannot repair"));
    };
    // Its successor is an orphan only when its records end short of the successor's base; a
    // whole unsealed segment with a torn tail keeps its successor.
    let orphaned = checked
        .segments
        .get(index + 1)
        .and_then(|next| next.header)
        .is_some_and(|next| recovery.end_lsn < next.base_lsn);
    let orphans = if orphaned {
        &checked.log.segments[index + 1..]
    } else {
        &[]
    };
    let mut discard = Vec::new();
    for segment in orphans.iter().rev() {
        let target = with_suffix(&segment.path, ".discarded.bak");
        if target.exists() {
            return Err(CliError::BackupExists { path: target });
        }
        discard.push((segment.path.clone(), target));
    }
    let segment = &checked.log.segments[index];
    let image = segment.read()?;
    let keep_len = recovery.valid_file_len();
    let cut = make_cut(
        index,
        segment.path.as_path(),
        &image,
        keep_len,
        recovery.end_lsn,
        None,
        options.backup.clone(),
        "torn",
    )?;
    Ok(Plan {
        cut: Some(cut),
        discard,
        reason: finding.what.clone(),
    })
}

/// Keeps only the records before the first damage.
fn point_in_time_plan(checked: &LogCheck, options: &RepairOptions) -> Result<Plan, CliError> {
    let Some(first) = checked.findings.first() else {
        return Err(refusal(checked, Verdict::Corrupt, "cannot repair"));
    };
    let segments = &checked.log.segments;
    let (cut, discard_from) = if first.in_header {
        if first.segment == 0 {
            return Err(CliError::Refused {
                reason: format!(
                    "cannot repair: {}: {}; it is the first segment, so no records before the \
                     damage could be kept. Nothing was changed: restore from a backup",
                    segments[0].path.display(),
                    first.what
                ),
                code: Verdict::Corrupt.exit_code(),
            });
        }
        (None, first.segment)
    } else {
        let segment = &segments[first.segment];
        let image = segment.read()?;
        let (header, recovery) = scan_file(
            &image,
            |salt| Codec::new(salt).with_max_payload_len(options.max_payload_len),
            RecoveryMode::PointInTime,
        )
        .map_err(|err| CliError::Refused {
            reason: format!(
                "cannot repair: {}: {err}. Nothing was changed",
                segment.path.display()
            ),
            code: Verdict::Corrupt.exit_code(),
        })?;
        let at = recovery.end_lsn;
        let lower_mark = header
            .sync_mark
            .filter(|mark| *mark > at)
            .map(|_| header.with_sync_mark(at));
        let keep_len = recovery.valid_file_len();
        let cut = (keep_len < image.len() as u64 || lower_mark.is_some())
            .then(|| {
                make_cut(
                    first.segment,
                    &segment.path,
                    &image,
                    keep_len,
                    at,
                    lower_mark,
                    options.backup.clone(),
                    "discarded",
                )
            })
            .transpose()?;
        (cut, first.segment + 1)
    };
    let mut discard = Vec::new();
    for segment in segments[discard_from..].iter().rev() {
        let target = with_suffix(&segment.path, ".discarded.bak");
        if target.exists() {
            return Err(CliError::BackupExists { path: target });
        }
        discard.push((segment.path.clone(), target));
    }
    Ok(Plan {
        cut,
        discard,
        reason: first.what.clone(),
    })
}

#[allow(clippy::too_many_arguments)] // One call site each; a struct would only rename them.
fn make_cut(
    segment: usize,
    path: &Path,
    image: &[u8],
    keep_len: u64,
    at: Lsn,
    lower_mark: Option<FileHeader>,
    backup: Option<PathBuf>,
    kind: &str,
) -> Result<Cut, CliError> {
    let keep = usize::try_from(keep_len)
        .unwrap_or(usize::MAX)
        .min(image.len());
    let backup = backup.unwrap_or_else(|| with_suffix(path, &format!(".{kind}-{at}.bak")));
    if backup.exists() {
        return Err(CliError::BackupExists { path: backup });
    }
    Ok(Cut {
        segment,
        keep_len: keep as u64,
        at,
        lower_mark,
        removed: image[keep..].to_vec(),
        backup,
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Changes the log per `plan`, backups first; see the module documentation for the order.
fn execute(log: &Log, plan: &Plan) -> Result<(), CliError> {
    if let Some(cut) = &plan.cut {
        if !cut.removed.is_empty() {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&cut.backup)
                .map_err(CliError::io("creating the backup", &cut.backup))?;
            file.write_all(&cut.removed)
                .and_then(|()| file.sync_all())
                .map_err(CliError::io("writing the backup", &cut.backup))?;
            let dir = parent_of(&cut.backup);
            walden::backend::sync_dir(dir).map_err(CliError::io("syncing", dir))?;
        }
    }
    for (from, to) in &plan.discard {
        std::fs::rename(from, to).map_err(CliError::io("moving aside", from))?;
        let dir = parent_of(from);
        walden::backend::sync_dir(dir).map_err(CliError::io("syncing", dir))?;
    }
    if let Some(cut) = &plan.cut {
        let path = &log.segments[cut.segment].path;
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(CliError::io("opening", path))?;
        if let Some(header) = cut.lower_mark {
            write_all_at(&file, &header.encode(), 0)
                .and_then(|()| file.sync_all())
                .map_err(CliError::io("lowering the sync mark of", path))?;
        }
        file.set_len(cut.keep_len)
            .and_then(|()| file.sync_all())
            .map_err(CliError::io("truncating", path))?;
        drop::<File>(file);
    }
    Ok(())
}

fn report(plan: &Plan, out: &mut dyn Write) -> Result<(), CliError> {
    outln!(out, "found: {}", plan.reason)?;
    if let Some(cut) = &plan.cut {
        if let Some(header) = cut.lower_mark {
            outln!(
                out,
                "lowered the sync mark to LSN {} (the records above it are cut)",
                header.sync_mark.unwrap_or(cut.at)
            )?;
        }
        if !cut.removed.is_empty() {
            outln!(
                out,
                "cut {} bytes at LSN {} (file length now {}); backup of the cut bytes: {}",
                cut.removed.len(),
                cut.at,
                cut.keep_len,
                cut.backup.display()
            )?;
        }
    }
    for (from, to) in plan.discard.iter().rev() {
        outln!(
            out,
            "moved segment {} aside to {}",
            from.display(),
            to.display()
        )?;
    }
    Ok(())
}
