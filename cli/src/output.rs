//! Writing results: the buffered stdout every command prints to, and how payloads are shown.
//!
//! Invariants: a failed write to stdout is an error like any other (so `walden dump | head`
//! ends quietly instead of panicking, see `main.rs`); previews never print raw control or
//! non-ASCII bytes, so a payload cannot garble the terminal.

use crate::error::CliError;
use std::io::Write;

/// Writes a line to `out`, turning a failed write into a [`CliError`].
pub(crate) fn line(out: &mut dyn Write, text: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    out.write_fmt(text)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(CliError::io("writing to", "stdout"))
}

/// Writes `text` and a newline to `out`.
#[macro_export]
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {
        $crate::output::line($out, format_args!($($arg)*))
    };
}

/// Writes one JSON value as one line.
pub(crate) fn json_line(
    out: &mut dyn Write,
    value: &impl serde::Serialize,
) -> Result<(), CliError> {
    serde_json::to_writer(&mut *out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(CliError::io("writing to", "stdout"))
}

/// The first `limit` bytes of `payload`, printable ASCII as is and everything else escaped
/// (`\n`, `\x00`), with `...(+N bytes)` when cut.
pub(crate) fn preview(payload: &[u8], limit: usize) -> String {
    let shown = &payload[..payload.len().min(limit)];
    let mut text = shown.escape_ascii().to_string();
    if payload.len() > shown.len() {
        text.push_str(&format!("...(+{} bytes)", payload.len() - shown.len()));
    }
    text
}
