//! The bench's result: medians over rounds, ratios against the raw fsync loop of the same run,
//! latency percentiles, as a table or one JSON object.
//!
//! Invariants: every ratio divides by the raw loop's median from this run; a percentile is the
//! nearest-rank value over every operation of every round of that workload.

use super::workloads::Sample;
use super::workloads::SyncMethod;
use super::{BenchArgs, Workload};
use crate::error::CliError;
use crate::outln;
use serde::Serialize;
use std::io::Write;

/// One workload's row.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    workload: String,
    name: String,
    threads: u32,
    /// Median over rounds: fsyncs/s (raw), records/s (W1), commits/s (W2, W3).
    rate_per_s: f64,
    /// The slowest and fastest round's rates.
    rate_min_per_s: f64,
    rate_max_per_s: f64,
    /// Whether the fastest round was more than [`DISAGREEMENT`] times the slowest.
    rounds_disagree: bool,
    unit: &'static str,
    /// W1 only: median nanoseconds per append.
    ns_per_record: Option<f64>,
    /// `rate_per_s` over the raw loop's (commits only).
    vs_raw_fsync: Option<f64>,
    records_per_fsync: Option<f64>,
    latency_p50_us: Option<f64>,
    latency_p99_us: Option<f64>,
}

/// Rounds whose rates differ by more than this factor are reported as disagreeing.
pub(crate) const DISAGREEMENT: f64 = 2.0;

/// The whole run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    dir: String,
    payload_bytes: u32,
    rounds: u32,
    /// The disk's raw `pwrite` + `fdatasync` rate (median), for comparison.
    raw_fsyncs_per_s: f64,
    workloads: Vec<Row>,
}

/// The median (the upper one for an even count); `NaN` for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The nearest-rank `p`th percentile of every latency, in microseconds.
fn percentile_us(samples: &[Sample], p: usize) -> Option<f64> {
    let mut all: Vec<u64> = samples
        .iter()
        .flat_map(|sample| sample.latencies_ns.iter().copied())
        .collect();
    if all.is_empty() {
        return None;
    }
    all.sort_unstable();
    let rank = (all.len() * p).div_ceil(100).clamp(1, all.len());
    Some(all[rank - 1] as f64 / 1000.0)
}

impl Report {
    /// Summarises the samples of `plan` (one list of rounds per workload).
    pub(crate) fn new(
        args: &BenchArgs,
        scratch: &tempfile::TempDir,
        plan: &[Workload],
        samples: &[Vec<Sample>],
    ) -> Report {
        let rate = |i: usize| median(samples[i].iter().map(|sample| sample.rate));
        let raw = plan
            .iter()
            .position(|workload| *workload == Workload::Raw(SyncMethod::Fdatasync))
            .map_or(f64::NAN, rate);
        let workloads = plan
            .iter()
            .enumerate()
            .map(|(i, &workload)| {
                let per_fsync: Vec<f64> = samples[i].iter().filter_map(|s| s.per_fsync).collect();
                let median_rate = rate(i);
                let rates = samples[i].iter().map(|sample| sample.rate);
                let min = rates.clone().fold(f64::INFINITY, f64::min);
                let max = rates.fold(0.0, f64::max);
                let (short, threads, unit) = match workload {
                    Workload::Raw(method) => (method.name(), 1, "fsyncs/s"),
                    Workload::W1 => ("W1", 1, "records/s"),
                    Workload::W2 => ("W2", 1, "commits/s"),
                    Workload::W3(threads) => ("W3", threads, "commits/s"),
                };
                Row {
                    workload: short.to_string(),
                    name: workload.label(),
                    threads,
                    rate_per_s: median_rate,
                    rate_min_per_s: min,
                    rate_max_per_s: max,
                    rounds_disagree: max > DISAGREEMENT * min,
                    unit,
                    ns_per_record: (workload == Workload::W1).then(|| 1e9 / median_rate),
                    vs_raw_fsync: (workload != Workload::W1).then(|| median_rate / raw),
                    records_per_fsync: (!per_fsync.is_empty())
                        .then(|| median(per_fsync.into_iter())),
                    latency_p50_us: percentile_us(&samples[i], 50),
                    latency_p99_us: percentile_us(&samples[i], 99),
                }
            })
            .collect();
        Report {
            dir: scratch.path().display().to_string(),
            payload_bytes: args.payload,
            rounds: args.rounds,
            raw_fsyncs_per_s: raw,
            workloads,
        }
    }

    /// Prints the table.
    pub(crate) fn print(&self, out: &mut dyn Write) -> Result<(), CliError> {
        outln!(
            out,
            "walden bench: {}-byte records, {} round{}, medians; raw fsync rate of this disk: \
             {:.0}/s (in {})",
            self.payload_bytes,
            self.rounds,
            if self.rounds == 1 { "" } else { "s" },
            self.raw_fsyncs_per_s,
            self.dir
        )?;
        outln!(
            out,
            "{:<36} {:>32} {:>19} {:>13} {:>13} {:>12} {:>12}",
            "workload",
            "rate (median)",
            "rounds (min..max)",
            "vs raw fsync",
            "records/fsync",
            "p50 latency",
            "p99 latency"
        )?;
        for row in &self.workloads {
            let rate = match row.ns_per_record {
                Some(ns) => format!("{:.0} {} ({ns:.0} ns each)", row.rate_per_s, row.unit),
                None => format!("{:.0} {}", row.rate_per_s, row.unit),
            };
            let opt = |value: Option<f64>, suffix: &str, digits: usize| {
                value.map_or_else(|| String::from("-"), |v| format!("{v:.digits$}{suffix}"))
            };
            outln!(
                out,
                "{:<36} {:>32} {:>19} {:>13} {:>13} {:>12} {:>12}",
                row.name,
                rate,
                format!("{:.0}..{:.0}", row.rate_min_per_s, row.rate_max_per_s),
                opt(row.vs_raw_fsync, "x", 2),
                opt(row.records_per_fsync, "", 1),
                opt(row.latency_p50_us, " us", 0),
                opt(row.latency_p99_us, " us", 0)
            )?;
        }
        Ok(())
    }

    /// Warns on stderr of each workload whose rounds disagree by more than [`DISAGREEMENT`]
    /// (the table and the JSON say it too, per row).
    pub(crate) fn warn(&self) {
        for row in self.workloads.iter().filter(|row| row.rounds_disagree) {
            eprintln!(
                "walden: warning: the rounds of \"{}\" disagree by {:.1}x ({:.0} to {:.0} {}): the disk \
                 was not steady, so read its ratios with care; rerun with more --rounds or \
                 --seconds",
                row.name,
                row.rate_max_per_s / row.rate_min_per_s,
                row.rate_min_per_s,
                row.rate_max_per_s,
                row.unit
            );
        }
    }
}
