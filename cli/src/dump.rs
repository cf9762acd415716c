//! `walden dump PATH [--from LSN] [--to LSN] [--json]`: one line per record, across segments.
//!
//! Each line gives the record's LSN, payload length, checksum status and a payload preview;
//! each damaged stretch (see `walk.rs`) gets one line too, with its status (`torn`, `bad-crc`,
//! `bad-length`, `over-limit`, `zero-fill`) and length, and records after it are shown again
//! from the next valid frame. `--json` prints the same as one JSON object per line.
//!
//! Invariants: lines come in LSN order; only items whose LSN is in `[from, to)` are printed;
//! dumping only reads. A segment whose header cannot be decoded is reported on stderr and the
//! others are still dumped; the exit code then reports that header's damage.

use crate::check::header_verdict;
use crate::error::CliError;
use crate::open::{Log, LogKind};
use crate::outln;
use crate::output::{json_line, preview};
use crate::walk::{walk, Item};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use walden::walden_core::{Codec, FileHeader, Lsn};

/// What to dump and how.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DumpOptions {
    /// First LSN to show.
    pub(crate) from: Lsn,
    /// Show items below this LSN only.
    pub(crate) to: Lsn,
    /// JSON lines instead of text.
    pub(crate) json: bool,
    /// Payload bytes to preview.
    pub(crate) preview_bytes: usize,
    /// The payload limit frames are checked against.
    pub(crate) max_payload_len: u32,
}

/// One line of `--json` output.
#[derive(Serialize)]
struct JsonItem<'a> {
    lsn: u64,
    segment: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preview: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// Runs `dump`; returns the exit code.
pub(crate) fn run(path: &Path, options: DumpOptions, out: &mut dyn Write) -> Result<u8, CliError> {
    let log = Log::locate(path)?;
    let mut exit_code = crate::exit::EXIT_OK;
    for (index, segment) in log.segments.iter().enumerate() {
        // A segment holds LSNs from its base up to the next segment's base: skip those outside.
        let next_base = log.segments.get(index + 1).and_then(|next| next.named_base);
        if next_base.is_some_and(|next| next <= options.from)
            || segment.named_base.is_some_and(|base| base >= options.to)
        {
            continue;
        }
        let image = segment.read()?;
        let header = match FileHeader::read(&image) {
            Ok(header) => header,
            // An empty log file has no records yet (opening it writes the header).
            Err(_) if image.is_empty() && log.kind == LogKind::File => continue,
            Err(err) => {
                eprintln!("walden: {}: {err}", segment.path.display());
                exit_code = exit_code.max(header_verdict(err, log.kind).exit_code());
                continue;
            }
        };
        let codec = Codec::for_header(&header).with_max_payload_len(options.max_payload_len);
        let name = segment.name();
        let mut failed = Ok(());
        walk(&codec, header.base_lsn, header.body_of(&image), |item| {
            failed = print(&item, &name, options, out);
            failed.is_ok() && item_lsn(&item) < options.to
        });
        failed?;
    }
    out.flush().map_err(CliError::io("writing to", "stdout"))?;
    Ok(exit_code)
}

fn item_lsn(item: &Item<'_>) -> Lsn {
    match item {
        Item::Record(record) => record.lsn,
        Item::Damage { at, .. } => *at,
    }
}

fn print(
    item: &Item<'_>,
    segment: &str,
    options: DumpOptions,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let lsn = item_lsn(item);
    if lsn < options.from || lsn >= options.to {
        return Ok(());
    }
    match *item {
        Item::Record(record) => {
            let shown = preview(record.payload, options.preview_bytes);
            if options.json {
                json_line(
                    out,
                    &JsonItem {
                        lsn: lsn.get(),
                        segment,
                        status: "ok",
                        frame_len: Some(record.frame_len()),
                        payload_len: Some(record.payload.len()),
                        preview: Some(shown),
                        bytes: None,
                        detail: None,
                    },
                )
            } else {
                outln!(
                    out,
                    "{:>12}  {:>8}  {:<10}  \"{shown}\"",
                    lsn.get(),
                    record.payload.len(),
                    "ok"
                )
            }
        }
        Item::Damage { at, bytes, kind } => {
            let detail = kind.describe(options.max_payload_len);
            if options.json {
                json_line(
                    out,
                    &JsonItem {
                        lsn: at.get(),
                        segment,
                        status: kind.status(),
                        frame_len: None,
                        payload_len: None,
                        preview: None,
                        bytes: Some(bytes),
                        detail: Some(detail),
                    },
                )
            } else {
                outln!(
                    out,
                    "{:>12}  {:>8}  {:<10}  {bytes} bytes: {detail}",
                    at.get(),
                    "-",
                    kind.status()
                )
            }
        }
    }
}
