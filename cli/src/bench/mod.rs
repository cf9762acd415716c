//! `walden bench [--dir D]`: the W1, W2 and W3 workloads of `native/benches` on this disk,
//! beside the disk's raw `pwrite` + `fdatasync` rate measured in the same run.
//!
//! - raw: write one frame's worth of bytes into a preallocated file, `fdatasync`, repeat (the
//!   baseline of `bench/benches/group_commit.rs`, and what `pg_test_fsync` measures), beside the
//!   other ways to make a write durable that `pg_test_fsync` compares: `fsync`, an `O_DSYNC`
//!   file (Unix), and `fdatasync` on a file that grows with each write;
//! - W1: one thread `Wal::append`s 100-byte records without waiting (`bench/benches/append.rs`);
//! - W2: one thread `Wal::commit`s in a loop, each returning once durable;
//! - W3: N threads each commit and wait (`wal_commits` in `bench/src/lib.rs`),
//!   with records per fsync from the log's own stats.
//!
//! Invariants: every workload runs `--rounds` times, interleaved round by round so a disk
//! stall hits all alike, each on a fresh log in a temporary directory under `--dir` (removed at
//! the end, even on error); each run stops at its count or after `--seconds` (default 1), so the
//! defaults take about half a minute even on a disk whose fsyncs take milliseconds; the table
//! reports medians over rounds with their spread (min..max) and ratios against the raw loop's
//! median from the same run, never a lone absolute time, and warns when a workload's rounds
//! disagree by more than [`report::DISAGREEMENT`] (the disk was not steady).

mod report;
mod workloads;

use workloads::SyncMethod;

use crate::error::CliError;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use workloads::Sample;

/// `walden bench` options.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Directory on the disk to measure (a temporary directory is made inside and removed).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Rounds of every workload; the table shows medians.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// W1: records appended per round.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    records: u64,
    /// W2 and the raw loop: commits (fsyncs) per round.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    commits: u64,
    /// W3: thread counts, comma-separated.
    #[arg(long, value_name = "N,N,..", value_delimiter = ',', default_value = "4,16,64", value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Vec<u32>,
    /// W3: commits per thread per round.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    per_thread: u64,
    /// Time budget of each workload in each round, in seconds: a run stops at its count or
    /// after this long, whichever comes first.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = parse_seconds)]
    seconds: f64,
    /// Payload bytes per record.
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    payload: u32,
}

/// One workload of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    /// A raw write-and-sync loop (`Raw(SyncMethod::Fdatasync)` is the baseline).
    Raw(SyncMethod),
    /// `Wal::append` without waiting.
    W1,
    /// One thread committing.
    W2,
    /// Threads committing.
    W3(u32),
}

impl Workload {
    /// The table's name for it.
    pub(crate) fn label(self) -> String {
        match self {
            Workload::Raw(method) => String::from(method.label()),
            Workload::W1 => String::from("W1 Wal::append, no wait"),
            Workload::W2 => String::from("W2 Wal::commit, 1 thread"),
            Workload::W3(threads) => format!(
                "W3 Wal::commit, {threads} thread{}",
                if threads == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Runs the bench and prints its table (or JSON); returns the exit code.
pub(crate) fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    if !args.dir.is_dir() {
        return Err(CliError::Usage(format!(
            "--dir {}: not a directory (bench writes its logs under it)",
            args.dir.display()
        )));
    }
    let scratch = tempfile::Builder::new()
        .prefix("walden-bench-")
        .tempdir_in(&args.dir)
        .map_err(CliError::io("creating a directory in", &args.dir))?;
    let mut plan: Vec<Workload> = SyncMethod::all().into_iter().map(Workload::Raw).collect();
    plan.extend([Workload::W1, Workload::W2]);
    plan.extend(args.threads.iter().map(|&threads| Workload::W3(threads)));
    let progress = ProgressBar::new(u64::from(args.rounds) * plan.len() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
    {
        progress.set_style(style.progress_chars("=> "));
    }
    progress.set_prefix("walden bench");
    let payload = vec![0xA5u8; args.payload as usize];
    let budget = Duration::from_secs_f64(args.seconds);
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); plan.len()];
    for round in 0..args.rounds {
        for (i, &workload) in plan.iter().enumerate() {
            progress.set_message(format!("round {}: {}", round + 1, workload.label()));
            let sample = match workload {
                Workload::Raw(method) => workloads::raw_fsyncs(
                    scratch.path(),
                    args.commits,
                    payload.len(),
                    budget,
                    method,
                )?,
                Workload::W1 => workloads::appends(scratch.path(), args.records, &payload, budget)?,
                Workload::W2 => {
                    workloads::commits(scratch.path(), 1, args.commits, &payload, budget)?
                }
                Workload::W3(threads) => {
                    workloads::commits(scratch.path(), threads, args.per_thread, &payload, budget)?
                }
            };
            samples[i].push(sample);
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    let table = report::Report::new(args, &scratch, &plan, &samples);
    if args.json {
        crate::output::json_line(out, &table)?;
    } else {
        table.print(out)?;
    }
    table.warn();
    scratch
        .close()
        .map_err(CliError::io("removing", &args.dir))?;
    Ok(crate::exit::EXIT_OK)
}

/// A positive number of seconds, at most an hour.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => Ok(seconds),
        _ => Err(format!(
            "`{text}` is not a number of seconds between 0 and 3600"
        )),
    }
}
