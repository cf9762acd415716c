//! `walden`: inspect, verify, repair and benchmark Walden write-ahead logs.
//!
//! This file owns the command line (clap), the exit codes' wiring (`exit.rs` defines them), and
//! the rule that every failure is one line on stderr: clap's usage errors are cut to their first
//! line, a [`error::CliError`] prints its message, and a panic (a bug) prints one line through
//! the panic hook instead of a backtrace. A closed stdout (`walden dump | head`) ends quietly.
//!
//! | subcommand | module |
//! |---|---|
//! | `dump` | `dump.rs` (with `walk.rs`) |
//! | `verify` | `verify.rs` (with `check.rs`) |
//! | `repair` | `repair.rs` (with `check.rs`, `lock.rs`) |
//! | `stat` | `stat.rs` |
//! | `bench` | `bench/` |

mod bench;
mod check;
mod dump;
mod error;
mod exit;
mod lock;
mod open;
mod output;
mod repair;
mod stat;
mod verify;
mod walk;

use clap::{Parser, Subcommand};
use error::CliError;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use walden::walden_core::{Lsn, DEFAULT_MAX_PAYLOAD_LEN};

/// Inspect, verify, repair and benchmark Walden write-ahead logs.
///
/// PATH is a log file (written by `WalWriter`) or a directory of segments (written by `Wal`).
/// LSNs are byte positions in the log's stream: decimal, or hexadecimal with 0x.
#[derive(Debug, Parser)]
#[command(name = "walden", version, after_help = exit::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print one line per record: LSN, payload length, checksum status, payload preview.
    ///
    /// Damaged stretches get a line each (status torn, bad-crc, bad-length, over-limit or
    /// zero-fill), and records after them are shown from the next valid frame on. Records a
    /// suffix truncation dropped (the directory's META file) have the status truncated.
    #[command(after_help = exit::DUMP_EXIT_CODES)]
    Dump {
        /// The log file or segment directory.
        path: PathBuf,
        /// Show records at or after this LSN.
        #[arg(long, value_name = "LSN", value_parser = open::parse_lsn)]
        from: Option<Lsn>,
        /// Show records before this LSN.
        #[arg(long, value_name = "LSN", value_parser = open::parse_lsn)]
        to: Option<Lsn>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Payload bytes to show in each preview.
        #[arg(long, value_name = "BYTES", default_value_t = 32)]
        preview: usize,
        /// How to show payloads: text (escaped), hex or base64.
        #[arg(long, value_name = "FORMAT", value_enum, default_value_t = dump::PayloadFormat::Text)]
        payload: dump::PayloadFormat,
        /// Stop after this many records.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Keep printing records as they are written (poll the log), until interrupted.
        #[arg(long)]
        follow: bool,
        /// The payload limit the log was written with.
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_PAYLOAD_LEN)]
        max_payload_len: u32,
    },
    /// Check every header and record; exit 0 when clean, 2 for a torn tail, 3 for corruption.
    ///
    /// Prints one line per segment and a verdict; when the log is not clean, one line on
    /// stderr says where and what. Judges the last segment exactly as recovery on open does.
    /// Takes no lock: on a log open elsewhere, a batch in flight can look like a torn tail.
    #[command(after_help = exit::VERIFY_EXIT_CODES)]
    Verify {
        /// The log file or segment directory.
        path: PathBuf,
        /// One JSON object: verdict, exit code, records and every finding.
        #[arg(long)]
        json: bool,
        /// The payload limit the log was written with.
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_PAYLOAD_LEN)]
        max_payload_len: u32,
    },
    /// Cut a torn tail, after writing a backup of the bytes it removes.
    ///
    /// Takes the log's writer lock first (exit 4 if it is open elsewhere). Refuses corruption
    /// in the middle of the log (exit 3) unless --point-in-time is given.
    #[command(after_help = exit::REPAIR_EXIT_CODES)]
    Repair {
        /// The log file or segment directory.
        path: PathBuf,
        /// Write the cut bytes here (default: SEGMENT.torn-LSN.bak beside the segment, or
        /// SEGMENT.discarded-LSN.bak with --point-in-time). An existing file is never replaced.
        #[arg(long, value_name = "FILE")]
        backup: Option<PathBuf>,
        /// Also repair corruption: keep only the records before the first damage, cut the rest
        /// (records after it are lost, even acknowledged ones) and move later segments aside to
        /// NAME.discarded.bak.
        #[arg(long)]
        point_in_time: bool,
        /// The payload limit the log was written with.
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_PAYLOAD_LEN)]
        max_payload_len: u32,
    },
    /// Print segments, LSN range, record count and payload size distribution.
    #[command(after_help = exit::STAT_EXIT_CODES)]
    Stat {
        /// The log file or segment directory.
        path: PathBuf,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        /// The payload limit the log was written with.
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_PAYLOAD_LEN)]
        max_payload_len: u32,
    },
    /// Measure W1, W2 and W3 on this disk beside its raw pwrite+fdatasync rate.
    ///
    /// Every workload runs --rounds times, interleaved, on fresh logs in a temporary directory
    /// under --dir; the table shows medians and ratios to the raw fsync loop of the same run.
    /// Build with --release for meaningful numbers.
    #[command(after_help = exit::BENCH_EXIT_CODES)]
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let info = info.to_string().replace('\n', " ");
        eprintln!("walden: internal error (a bug in walden, please report it): {info}");
        std::process::exit(i32::from(exit::EXIT_BUG));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = run(cli.command, &mut out);
    let flushed = out.flush().map_err(CliError::io("writing to", "stdout"));
    match result.and_then(|code| flushed.map(|()| code)) {
        Ok(code) => ExitCode::from(code),
        Err(CliError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(exit::EXIT_OK)
        }
        Err(err) => {
            eprintln!("walden: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Help and version go to stdout with code 0; a usage error is its first line on stderr.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        print!("{}", err.render());
        return ExitCode::from(exit::EXIT_OK);
    }
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        eprint!("{}", err.render());
        return ExitCode::from(exit::EXIT_ERROR);
    }
    // clap's message is its first paragraph (a list of missing arguments continues it on the
    // next lines), then its tips; the usage after them is what `--help` is for.
    let rendered = err.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty())
        .collect();
    let mut message = message.join(" ");
    for tip in rendered
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("tip:"))
    {
        message.push_str("; ");
        message.push_str(tip);
    }
    let message = message.trim_start_matches("error: ");
    eprintln!("walden: {message} (see `walden --help`)");
    ExitCode::from(exit::EXIT_ERROR)
}

fn run(command: Command, out: &mut dyn Write) -> Result<u8, CliError> {
    match command {
        Command::Dump {
            path,
            from,
            to,
            json,
            preview,
            payload,
            limit,
            follow,
            max_payload_len,
        } => dump::run(
            &path,
            dump::DumpOptions {
                from: from.unwrap_or(Lsn::ZERO),
                to: to.unwrap_or(Lsn::MAX),
                json,
                preview_bytes: preview,
                max_payload_len,
                limit,
                payload,
                follow,
            },
            out,
        ),
        Command::Verify {
            path,
            json,
            max_payload_len,
        } => verify::run(&path, max_payload_len, json, out),
        Command::Repair {
            path,
            backup,
            point_in_time,
            max_payload_len,
        } => repair::run(
            &path,
            &repair::RepairOptions {
                backup,
                point_in_time,
                max_payload_len,
            },
            out,
        ),
        Command::Stat {
            path,
            json,
            max_payload_len,
        } => stat::run(&path, json, max_payload_len, out),
        Command::Bench(args) => bench::run(&args, out),
    }
}
