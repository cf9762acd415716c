//! `walden verify PATH`: checks every header and record and says where and what is wrong.
//!
//! Output: one line per segment on stdout (its LSN range, records, and what was found), then a
//! verdict line. When the log is not clean, one line on stderr names the worst finding, and the
//! exit code reports the verdict (`exit.rs`). `--json` prints the verdict and every finding as
//! one JSON object instead of the lines (the stderr line and the exit code stay). Verifying only reads: it takes no lock, so a log
//! open elsewhere may show its in-flight last batch as a torn tail.

use crate::check::{check, LogCheck};
use crate::error::CliError;
use crate::exit::Verdict;
use crate::open::Log;
use crate::outln;
use crate::output::json_line;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use walden::walden_core::Lsn;

/// `--json`: the verdict and every finding, for monitoring.
#[derive(Serialize)]
struct JsonVerify<'a> {
    path: String,
    verdict: &'static str,
    exit_code: u8,
    records: u64,
    findings: Vec<JsonFinding<'a>>,
}

/// One finding in `--json`: data a monitor can act on, and the sentence for a person.
#[derive(Serialize)]
struct JsonFinding<'a> {
    /// The segment file's path.
    segment: String,
    /// A stable name: `torn_tail`, `unsynced_tail`, `corrupt_mid_log`, `synced_records_lost`,
    /// `record_over_limit`, `sealed_segment_damaged`, `records_missing`, `segments_overlap`,
    /// `orphaned_segment`, `name_mismatch`, `other_log`, a header's (`not_a_wal_file`,
    /// `newer_version`, `truncated_header`, `header_checksum`, `bad_header`) or the `META`
    /// file's (`meta_damaged`, `meta_newer`, `meta_unreadable`, `meta_past_end`).
    kind: &'static str,
    verdict: &'static str,
    /// Where it starts, if it has a position.
    #[serde(skip_serializing_if = "Option::is_none")]
    lsn: Option<u64>,
    /// How many bytes it spans, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    /// What opening the log does about it: `cut`, `remove`, `refuse`, `cannot_judge`.
    recovery: &'static str,
    what: &'a str,
}

/// Runs `verify`; returns the exit code.
pub(crate) fn run(
    path: &Path,
    max_payload_len: u32,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let result = check(Log::locate(path)?, max_payload_len)?;
    if json {
        let verdict = result.verdict();
        json_line(
            out,
            &JsonVerify {
                path: result.log.path.display().to_string(),
                verdict: verdict.word(),
                exit_code: verdict.exit_code(),
                records: result.records(),
                findings: result
                    .findings
                    .iter()
                    .map(|finding| JsonFinding {
                        segment: result.log.segments[finding.segment]
                            .path
                            .display()
                            .to_string(),
                        kind: finding.kind,
                        verdict: finding.verdict.word(),
                        lsn: finding.lsn.map(Lsn::get),
                        bytes: finding.bytes,
                        recovery: finding.recovery(),
                        what: &finding.what,
                    })
                    .collect(),
            },
        )?;
    } else {
        report(&result, out)?;
    }
    let verdict = result.verdict();
    if let Some(line) = stderr_line(&result) {
        eprintln!("walden: {line}");
    }
    Ok(verdict.exit_code())
}

/// Prints the per-segment lines and the verdict line.
pub(crate) fn report(result: &LogCheck, out: &mut dyn Write) -> Result<(), CliError> {
    outln!(
        out,
        "log {} ({})",
        result.log.path.display(),
        result.log.describe()
    )?;
    for (index, (segment, checked)) in result.log.segments.iter().zip(&result.segments).enumerate()
    {
        let range = match (checked.header, checked.recovery) {
            (Some(_), Some(recovery)) => format!(
                "LSN {}..{}  {} records",
                recovery.base_lsn, recovery.end_lsn, recovery.records
            ),
            (Some(_), None) => match checked.prefix {
                Some(prefix) => format!(
                    "LSN {}..{}  {} records before the damage",
                    prefix.base_lsn, prefix.end_lsn, prefix.records
                ),
                None => String::from("LSN ?"),
            },
            (None, _) if result.findings.is_empty() => {
                String::from("empty: no header yet (opening it starts a new log)")
            }
            (None, _) => String::from("no header"),
        };
        let mut findings = result
            .findings
            .iter()
            .filter(|finding| finding.segment == index);
        let status = match findings.next() {
            Some(finding) => finding.what.clone(),
            None => match checked.recovery.and_then(|recovery| recovery.tail) {
                Some(tail) => format!(
                    "ok ({} zero bytes after the records: preallocated space)",
                    tail.bytes
                ),
                None => String::from("ok"),
            },
        };
        outln!(out, "{}  {range}  {status}", segment.name())?;
        for finding in findings {
            outln!(out, "    also: {}", finding.what)?;
        }
    }
    let records = result.records();
    let verdict = match result.verdict() {
        Verdict::Clean => format!("clean: {records} records"),
        Verdict::TornTail => String::from("torn tail (exit 2): run `walden repair` to cut it"),
        Verdict::Corrupt => {
            String::from("corrupt (exit 3): recovery refuses this log; see the lines above")
        }
        Verdict::Unjudgeable => String::from("cannot check (exit 1): see the lines above"),
    };
    outln!(out, "verdict: {verdict}")
}

/// The one stderr line for a log that is not clean: the worst finding, where it is.
pub(crate) fn stderr_line(result: &LogCheck) -> Option<String> {
    let verdict = result.verdict();
    let worst = result
        .findings
        .iter()
        .find(|finding| finding.verdict == verdict)?;
    let others = result.findings.len() - 1;
    let more = if others > 0 {
        format!(
            " (and {others} more finding{})",
            if others == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    Some(format!(
        "{}: {}{more}",
        result.log.segments[worst.segment].path.display(),
        worst.what
    ))
}
