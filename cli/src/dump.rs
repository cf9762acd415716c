//! `walden dump PATH [--from LSN] [--to LSN] [--limit N] [--payload text|hex|base64] [--json]
//! [--follow]`: one line per record, across segments.
//!
//! Each line gives the record's LSN, payload length, checksum status and a payload preview;
//! each damaged stretch (see `walk.rs`) gets one line too, with its status (`torn`, `bad-crc`,
//! `bad-length`, `over-limit`, `zero-fill`) and length, and records after it are shown again
//! from the next valid frame. `--json` prints the same as one JSON object per line.
//!
//! `--limit N` stops after N records. A `--from` inside a record is said on stderr (the dump
//! starts at the next record). `--follow` keeps printing records as they are written, like
//! `pg_waldump --follow`: it polls the last segment (and any newer one) every
//! [`FOLLOW_POLL`], reading only the bytes past the last record printed, prints each whole,
//! valid frame there, and waits at anything else at the end (zero fill, a frame being written),
//! which a later poll reads again.
//!
//! Invariants: lines come in LSN order; only items whose LSN is in `[from, to)` are printed;
//! dumping only reads. A segment whose header cannot be decoded is reported on stderr and the
//! others are still dumped; the exit code then reports that header's damage.

use crate::check::header_verdict;
use crate::error::CliError;
use crate::open::{Log, LogKind, Segment};
use crate::outln;
use crate::output::{json_line, preview};
use crate::walk::{walk, Item};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use walden::walden_core::{Codec, FileHeader, Lsn, Storage, Truncation};

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
    /// Stop after this many records.
    pub(crate) limit: Option<u64>,
    /// How payloads are shown.
    pub(crate) payload: PayloadFormat,
    /// Keep printing records as they are written.
    pub(crate) follow: bool,
}

/// How `dump` shows a payload's first `--preview` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PayloadFormat {
    /// Printable ASCII as is, everything else escaped (`\n`, `\x00`).
    Text,
    /// Lower-case hex.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// How often `--follow` reads the log again.
pub(crate) const FOLLOW_POLL: Duration = Duration::from_millis(100);

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
    let truncations = match log.truncations() {
        Ok(truncations) => truncations,
        Err(err) => {
            eprintln!("walden: {}: {err}", path.display());
            exit_code = crate::exit::EXIT_CORRUPT;
            Vec::new()
        }
    };
    let mut printer = Printer {
        options,
        truncations,
        printed: 0,
        next: options.from,
        damage_seen: None,
        noted_from: false,
        out,
    };
    exit_code = exit_code.max(printer.pass(&log, false)?);
    if options.follow {
        while !printer.done() {
            printer
                .out
                .flush()
                .map_err(CliError::io("writing to", "stdout"))?;
            std::thread::sleep(FOLLOW_POLL);
            // Segments come and go (rotation, checkpoints): list them again.
            let log = Log::locate(path)?;
            printer.pass(&log, true)?;
        }
    }
    printer
        .out
        .flush()
        .map_err(CliError::io("writing to", "stdout"))?;
    Ok(exit_code)
}

/// What a dump has printed so far, and where it goes on.
struct Printer<'o> {
    options: DumpOptions,
    truncations: Vec<Truncation>,
    /// Records printed.
    printed: u64,
    /// Records below this LSN were printed (or are before `--from`).
    next: Lsn,
    /// The last damaged stretch printed (a later pass of `--follow` does not print it again).
    damage_seen: Option<Lsn>,
    noted_from: bool,
    out: &'o mut dyn Write,
}

impl Printer<'_> {
    /// Whether `--limit` or `--to` is reached.
    fn done(&self) -> bool {
        self.options
            .limit
            .is_some_and(|limit| self.printed >= limit)
            || self.next >= self.options.to
    }

    /// Prints every item of `log` at or after `next`. Following, a damaged stretch or zero fill
    /// in the last segment ends the pass unprinted (it may be a write in flight), and a
    /// segment that cannot be read now is skipped until the next pass.
    fn pass(&mut self, log: &Log, following: bool) -> Result<u8, CliError> {
        let mut exit_code = crate::exit::EXIT_OK;
        let last = log.segments.len() - 1;
        for (index, segment) in log.segments.iter().enumerate() {
            if self.done() {
                break;
            }
            // A segment holds LSNs from its base up to the next segment's base: skip those
            // outside.
            let next_base = log.segments.get(index + 1).and_then(|next| next.named_base);
            if next_base.is_some_and(|next| next <= self.next)
                || segment
                    .named_base
                    .is_some_and(|base| base >= self.options.to)
            {
                continue;
            }
            // Following, read only what lies past the last record printed: `next` is a frame
            // boundary (a record's end), so the walk can start there.
            let (header, base, bytes, skip) = if following {
                match read_from(segment, self.next) {
                    Some((header, base, body)) => (header, base, body, 0),
                    // Removed by a checkpoint since it was listed, or not whole yet.
                    None => continue,
                }
            } else {
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
                let skip = image.len() - header.body_of(&image).len();
                (header, header.base_lsn, image, skip)
            };
            let codec =
                Codec::for_header(&header).with_max_payload_len(self.options.max_payload_len);
            let name = segment.name();
            let wait_at_damage = self.options.follow && index == last;
            let mut failed = Ok(());
            walk(&codec, base, &bytes[skip..], |item| {
                if wait_at_damage && matches!(item, Item::Damage { .. }) {
                    return false;
                }
                failed = self.item(&item, &name);
                failed.is_ok() && !self.done()
            });
            failed?;
        }
        Ok(exit_code)
    }

    /// Prints `item` if it is at or after `next` (and a damaged stretch not printed before), and
    /// moves `next` past a record. (A damaged stretch's bytes are file space, not LSNs: zero fill
    /// after a sealed segment's records runs past its successor's base.)
    fn item(&mut self, item: &Item<'_>, segment: &str) -> Result<(), CliError> {
        let record = match *item {
            Item::Damage { at, .. } => {
                if at < self.next
                    || at >= self.options.to
                    || self.damage_seen.is_some_and(|seen| at <= seen)
                {
                    return Ok(());
                }
                self.damage_seen = Some(at);
                return print(item, segment, &self.truncations, self.options, self.out);
            }
            Item::Record(record) => record,
        };
        let (lsn, end) = (
            record.lsn,
            Lsn::new(record.lsn.get() + record.frame_len() as u64),
        );
        if lsn < self.next {
            if !self.noted_from && self.next == self.options.from && end > self.options.from {
                self.noted_from = true;
                eprintln!(
                    "walden: --from {} is not where a record starts (it is inside the record at \
                     LSN {lsn}); starting at the next one, LSN {end}",
                    self.options.from,
                );
            }
            return Ok(());
        }
        if lsn >= self.options.to {
            self.next = lsn;
            return Ok(());
        }
        print(item, segment, &self.truncations, self.options, self.out)?;
        self.printed += 1;
        self.next = end;
        Ok(())
    }
}

/// The segment's header and its frames from `from` on (from its first frame when `from` is
/// below it): what a `--follow` poll reads, so it does not read a whole segment each time.
/// `None` when the segment is gone or its header does not decode.
fn read_from(segment: &Segment, from: Lsn) -> Option<(FileHeader, Lsn, Vec<u8>)> {
    let opened = segment.open().ok()?;
    let header = opened.header.ok()?;
    let start = from.max(header.base_lsn);
    let offset = header
        .body_offset()
        .checked_add(start.get() - header.base_lsn.get())?;
    let len = usize::try_from(opened.size.saturating_sub(offset)).ok()?;
    let mut body = vec![0; len];
    let read = opened.file.read_at(offset, &mut body).ok()?;
    body.truncate(read);
    Some((header, start, body))
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
    truncations: &[Truncation],
    options: DumpOptions,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let lsn = item_lsn(item);
    if lsn < options.from || lsn >= options.to {
        return Ok(());
    }
    match *item {
        Item::Record(record) => {
            let shown = match options.payload {
                PayloadFormat::Text => preview(record.payload, options.preview_bytes),
                PayloadFormat::Hex => encoded(record.payload, options.preview_bytes, hex),
                PayloadFormat::Base64 => encoded(record.payload, options.preview_bytes, base64),
            };
            let status = if truncations.iter().any(|t| t.covers(lsn)) {
                "truncated"
            } else {
                "ok"
            };
            if options.json {
                json_line(
                    out,
                    &JsonItem {
                        lsn: lsn.get(),
                        segment,
                        status,
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
                    status
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

/// The first `limit` bytes of `payload` in an encoding, with `...(+N bytes)` when cut.
fn encoded(payload: &[u8], limit: usize, encode: fn(&[u8]) -> String) -> String {
    let shown = &payload[..payload.len().min(limit)];
    let mut text = encode(shown);
    if payload.len() > shown.len() {
        text.push_str(&format!("...(+{} bytes)", payload.len() - shown.len()));
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (i, &byte)| {
            word | u32::from(byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(word >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex_match_their_standards() {
        // RFC 4648's test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(encoded(b"abcdef", 2, hex), "6162...(+4 bytes)");
    }
}
