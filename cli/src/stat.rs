//! `walden stat PATH [--json]`: segments, LSN range, record count and payload size distribution.
//!
//! Counts the records a reader sees: the valid prefix of each segment, as recovery's scan finds
//! it. Damage is summarised from the same check `verify` runs (`check.rs`); `verify` says more.
//! Exits 0 when it could report; statting only reads, each segment a window at a time (the
//! check's streaming scan, then one more pass for the payload sizes), never a whole file at once.

use crate::check::{check, LogCheck};
use crate::error::CliError;
use crate::exit::{Verdict, EXIT_OK};
use crate::open::Log;
use crate::outln;
use crate::output::json_line;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use walden::backend::FileStorage;
use walden::walden_core::{
    Codec, Damage, FileHeader, Lsn, Records, Storage, Truncation, RECOVERY_WINDOW_BYTES,
};

/// Upper bounds (exclusive) of the payload size buckets, in bytes; the last bucket is open.
const BUCKET_BOUNDS: [u64; 10] = [
    1,
    16,
    64,
    256,
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
];

/// One segment's line.
#[derive(Serialize)]
struct SegmentStat {
    name: String,
    base_lsn: Option<u64>,
    end_lsn: Option<u64>,
    file_bytes: u64,
    records: u64,
    /// The worst verdict of the segment's findings (`clean` without any), as a word.
    status: &'static str,
    /// How many findings the segment has.
    findings: usize,
    /// Zero bytes preallocated after its records.
    #[serde(skip_serializing_if = "Option::is_none")]
    zero_fill_bytes: Option<u64>,
    /// The text line's last column: the status in words.
    #[serde(skip)]
    summary: String,
}

/// One size bucket.
#[derive(Serialize)]
struct Bucket {
    /// Smallest payload length in the bucket.
    min: u64,
    /// Largest, or `None` for the open last bucket.
    max: Option<u64>,
    records: u64,
}

/// The whole report.
#[derive(Serialize)]
struct Stat {
    path: String,
    kind: String,
    segments: Vec<SegmentStat>,
    first_lsn: Option<u64>,
    end_lsn: Option<u64>,
    records: u64,
    payload_bytes: u64,
    payload_min: Option<u64>,
    payload_p50: Option<u64>,
    payload_p90: Option<u64>,
    payload_p99: Option<u64>,
    payload_max: Option<u64>,
    payload_mean: Option<f64>,
    buckets: Vec<Bucket>,
    status: &'static str,
    findings: usize,
    /// Records a suffix truncation dropped: in the files until a checkpoint, not counted above.
    truncated_records: u64,
}

/// Runs `stat`; returns the exit code.
pub(crate) fn run(
    path: &Path,
    json: bool,
    max_payload_len: u32,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let checked = check(Log::locate(path)?, max_payload_len)?;
    let unreadable = checked
        .segments
        .iter()
        .all(|segment| segment.header.is_none());
    if let (true, Some(finding)) = (unreadable, checked.findings.first()) {
        // Nothing could be read at all: that is an error, said in one line.
        return Err(CliError::Refused {
            reason: format!(
                "{}: {}",
                checked.log.segments[finding.segment].path.display(),
                finding.what
            ),
            code: finding.verdict.exit_code(),
        });
    }
    // Records a suffix truncation dropped are not counted (no reader returns them); a `META`
    // file that cannot be read is verify's finding, and counts nothing as dropped here.
    let truncations = checked.log.truncations().unwrap_or_default();
    let mut sizes = Vec::new();
    let mut segments = Vec::new();
    let mut truncated = 0;
    for (index, segment) in checked.log.segments.iter().enumerate() {
        let opened = segment.open()?;
        let file_bytes = opened.size;
        let mut records = 0u64;
        let mut end = None;
        if let Ok(header) = opened.header {
            let codec = Codec::for_header(&header).with_max_payload_len(max_payload_len);
            let scanned = payload_sizes(
                &opened.file,
                &header,
                codec,
                file_bytes,
                &truncations,
                &mut sizes,
            )
            .map_err(CliError::io("reading", &segment.path))?;
            records = scanned.records;
            truncated += scanned.truncated;
            end = Some(scanned.end.get());
        }
        segments.push(SegmentStat {
            name: segment.name(),
            base_lsn: checked.segments[index].header.map(|h| h.base_lsn.get()),
            end_lsn: end,
            file_bytes,
            records,
            status: segment_verdict(&checked, index).word(),
            findings: checked
                .findings
                .iter()
                .filter(|finding| finding.segment == index)
                .count(),
            zero_fill_bytes: zero_fill(&checked, index),
            summary: segment_status(&checked, index),
        });
    }
    sizes.sort_unstable();
    let mut stat = summarise(&checked, segments, &sizes);
    stat.truncated_records = truncated;
    if json {
        json_line(out, &stat)?;
    } else {
        print_text(&stat, out)?;
    }
    out.flush().map_err(CliError::io("writing to", "stdout"))?;
    Ok(EXIT_OK)
}

/// Walks the records of one segment's valid prefix a window at a time, pushing each payload's
/// size; returns how many there were and the LSN where they end (where the first damage, or the
/// file's end, is: what a reader sees).
fn payload_sizes(
    file: &FileStorage,
    header: &FileHeader,
    codec: Codec,
    file_bytes: u64,
    truncations: &[Truncation],
    sizes: &mut Vec<u64>,
) -> std::io::Result<Scanned> {
    let mut truncated = 0;
    let mut buf: Vec<u8> = Vec::new();
    let mut lsn = header.base_lsn;
    let mut offset = header.body_offset();
    let mut records = 0;
    loop {
        let want = file_bytes
            .saturating_sub(offset)
            .min(RECOVERY_WINDOW_BYTES as u64) as usize;
        let held = buf.len();
        buf.resize(held + want, 0);
        let read = file.read_at(offset, &mut buf[held..])?;
        buf.truncate(held + read);
        offset += read as u64;
        let mut iter = Records::new(codec, lsn, &buf);
        for record in iter.by_ref() {
            if truncations.iter().any(|t| t.covers(record.lsn)) {
                truncated += 1;
                continue;
            }
            sizes.push(record.payload.len() as u64);
            records += 1;
        }
        let used = iter.offset();
        let damage = iter.damage();
        lsn = iter.lsn();
        buf.drain(..used);
        let more = read > 0 && offset < file_bytes;
        // Stop at real damage, or once the file is read: an incomplete frame at the window's
        // end only needs the next window.
        if !more || matches!(damage, Some(Damage::Invalid(_))) {
            return Ok(Scanned {
                records,
                truncated,
                end: lsn,
            });
        }
    }
}

/// What [`payload_sizes`] counted in one segment.
struct Scanned {
    /// Records a reader sees.
    records: u64,
    /// Records a suffix truncation dropped (still in the file, returned by no reader).
    truncated: u64,
    /// Where the valid prefix ends.
    end: Lsn,
}

/// The worst verdict among the segment's findings.
fn segment_verdict(checked: &LogCheck, index: usize) -> Verdict {
    checked
        .findings
        .iter()
        .filter(|finding| finding.segment == index)
        .map(|finding| finding.verdict)
        .max()
        .unwrap_or(Verdict::Clean)
}

/// The zero fill after a clean segment's records (preallocated space).
fn zero_fill(checked: &LogCheck, index: usize) -> Option<u64> {
    let clean = segment_verdict(checked, index) == Verdict::Clean;
    clean
        .then(|| checked.segments[index].recovery.and_then(|r| r.tail))
        .flatten()
        .map(|tail| tail.bytes)
}

fn segment_status(checked: &LogCheck, index: usize) -> String {
    let findings = checked
        .findings
        .iter()
        .filter(|finding| finding.segment == index)
        .count();
    let worst = checked
        .findings
        .iter()
        .filter(|finding| finding.segment == index)
        .map(|finding| finding.verdict)
        .max();
    match worst {
        None => match checked.segments[index].recovery.and_then(|r| r.tail) {
            Some(tail) => format!("ok, {} zero bytes preallocated", tail.bytes),
            None => String::from("ok"),
        },
        Some(verdict) => format!(
            "{} ({findings} finding{})",
            verdict.word(),
            if findings == 1 { "" } else { "s" }
        ),
    }
}

fn summarise(checked: &LogCheck, segments: Vec<SegmentStat>, sizes: &[u64]) -> Stat {
    // Nearest rank, as the bench's latency percentiles: the smallest size at or below which
    // at least p% of the records fall.
    let percentile = |p: usize| {
        let rank = (sizes.len() * p).div_ceil(100).clamp(1, sizes.len().max(1));
        sizes.get(rank - 1).copied()
    };
    let total: u64 = sizes.iter().sum();
    let mut buckets = Vec::new();
    let mut low = 0u64;
    for &bound in BUCKET_BOUNDS.iter() {
        buckets.push(Bucket {
            min: low,
            max: Some(bound - 1),
            records: sizes.iter().filter(|&&s| s >= low && s < bound).count() as u64,
        });
        low = bound;
    }
    buckets.push(Bucket {
        min: low,
        max: None,
        records: sizes.iter().filter(|&&s| s >= low).count() as u64,
    });
    let first_lsn = segments.iter().find_map(|segment| segment.base_lsn);
    let end_lsn = segments.iter().rev().find_map(|segment| segment.end_lsn);
    Stat {
        path: checked.log.path.display().to_string(),
        kind: checked.log.describe(),
        first_lsn,
        end_lsn,
        records: sizes.len() as u64,
        payload_bytes: total,
        payload_min: sizes.first().copied(),
        payload_p50: percentile(50),
        payload_p90: percentile(90),
        payload_p99: percentile(99),
        payload_max: sizes.last().copied(),
        payload_mean: (!sizes.is_empty()).then(|| total as f64 / sizes.len() as f64),
        buckets,
        status: checked.verdict().word(),
        findings: checked.findings.len(),
        truncated_records: 0,
        segments,
    }
}

fn print_text(stat: &Stat, out: &mut dyn Write) -> Result<(), CliError> {
    let opt = |value: Option<u64>| value.map_or_else(|| String::from("-"), |v| v.to_string());
    outln!(out, "log          {} ({})", stat.path, stat.kind)?;
    outln!(
        out,
        "lsn range    {}..{} ({} bytes of frames)",
        opt(stat.first_lsn),
        opt(stat.end_lsn),
        stat.end_lsn.unwrap_or(0) - stat.first_lsn.unwrap_or(0).min(stat.end_lsn.unwrap_or(0))
    )?;
    if stat.truncated_records > 0 {
        outln!(
            out,
            "records      {} (and {} dropped by suffix truncations, still in the files)",
            stat.records,
            stat.truncated_records
        )?;
    } else {
        outln!(out, "records      {}", stat.records)?;
    }
    outln!(
        out,
        "payload      {} bytes in all; min {}, p50 {}, p90 {}, p99 {}, max {}, mean {}",
        stat.payload_bytes,
        opt(stat.payload_min),
        opt(stat.payload_p50),
        opt(stat.payload_p90),
        opt(stat.payload_p99),
        opt(stat.payload_max),
        stat.payload_mean
            .map_or_else(|| String::from("-"), |mean| format!("{mean:.1}"))
    )?;
    let buckets: Vec<String> = stat
        .buckets
        .iter()
        .filter(|bucket| bucket.records > 0)
        .map(|bucket| match bucket.max {
            Some(max) if max == bucket.min => format!("{} B: {}", bucket.min, bucket.records),
            Some(max) => format!("{}-{} B: {}", bucket.min, max, bucket.records),
            None => format!(">= {} B: {}", bucket.min, bucket.records),
        })
        .collect();
    outln!(
        out,
        "sizes        {}",
        if buckets.is_empty() {
            String::from("-")
        } else {
            buckets.join(" | ")
        }
    )?;
    outln!(out, "segments     {}", stat.segments.len())?;
    for segment in &stat.segments {
        outln!(
            out,
            "  {}  LSN {}..{}  {} records  {} bytes  {}",
            segment.name,
            opt(segment.base_lsn),
            opt(segment.end_lsn),
            segment.records,
            segment.file_bytes,
            segment.summary
        )?;
    }
    let more = if stat.findings > 0 {
        " (run `walden verify` for where and what)"
    } else {
        ""
    };
    outln!(out, "status       {}{more}", stat.status)
}
