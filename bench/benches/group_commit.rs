//! Durable-commit throughput: the W2 and W3 workloads against a raw `pwrite` +
//! `fdatasync` loop measured in the same run, on the local disk.
//!
//! - W2: one thread, append + commit, `COMMITS_W2` times: commits/s, against the raw loop on a
//!   preallocated file (the baseline) and on a growing file (what the `Wal` does today,
//!   without preallocation).
//! - W3: N = 1, 4, 16, 64 threads, each committing and waiting: commits/s and records per fsync.
//!
//! The disk stalls in bursts (see docs/performance.md), so every workload runs `ROUNDS` times,
//! interleaved, and the table shows the median and the best round. Run with
//! `cargo bench -p walden-bench --bench group_commit`; `WALDEN_BENCH_DIR` picks the directory (default:
//! a temporary directory under `target/`, on the same disk as the build).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;
use walden_bench::{bench_dir, fresh, median, wal_commits};

const PAYLOAD_BYTES: usize = 100;
const COMMITS_W2: usize = 2000;
const COMMITS_PER_THREAD_W3: usize = 200;
const THREADS_W3: [usize; 4] = [1, 4, 16, 64];
const ROUNDS: usize = 5;

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        // `cargo bench` passes `--bench`; `cargo test --benches` does not: a smoke run will do.
        let dir = bench_dir();
        let _ = wal_commits(dir.path(), 1, 20, PAYLOAD_BYTES);
        let _ = raw_commits(dir.path(), 20, true);
        println!("group_commit: smoke run ok");
        return;
    }
    let dir = bench_dir();
    println!("group_commit bench in {}", dir.path().display());
    let mut raw_prealloc = Vec::new();
    let mut raw_growing = Vec::new();
    let mut w2 = Vec::new();
    let mut w3: Vec<Vec<(f64, f64)>> = vec![Vec::new(); THREADS_W3.len()];
    for round in 0..ROUNDS {
        raw_prealloc.push(raw_commits(dir.path(), COMMITS_W2, true));
        w2.push(wal_commits(dir.path(), 1, COMMITS_W2, PAYLOAD_BYTES).0);
        raw_growing.push(raw_commits(dir.path(), COMMITS_W2, false));
        for (i, &threads) in THREADS_W3.iter().enumerate() {
            w3[i].push(wal_commits(
                dir.path(),
                threads,
                COMMITS_PER_THREAD_W3,
                PAYLOAD_BYTES,
            ));
        }
        eprintln!("round {} of {ROUNDS} done", round + 1);
    }
    let prealloc = median(&raw_prealloc);
    println!();
    println!("workload                                   commits/s (median)  best round  vs raw prealloc  records/fsync");
    row(
        "raw pwrite+fdatasync, preallocated",
        &raw_prealloc,
        prealloc,
        None,
    );
    row(
        "raw pwrite+fdatasync, growing file",
        &raw_growing,
        prealloc,
        None,
    );
    row("W2: Wal::commit, 1 thread", &w2, prealloc, None);
    for (i, &threads) in THREADS_W3.iter().enumerate() {
        let rates: Vec<f64> = w3[i].iter().map(|(rate, _)| *rate).collect();
        let per_fsync: Vec<f64> = w3[i].iter().map(|(_, per)| *per).collect();
        row(
            &format!("W3: Wal::commit, {threads} threads"),
            &rates,
            prealloc,
            Some(median(&per_fsync)),
        );
    }
}

fn row(name: &str, rates: &[f64], baseline: f64, per_fsync: Option<f64>) {
    let best = rates.iter().copied().fold(0.0, f64::max);
    let median = median(rates);
    let per_fsync = per_fsync.map_or(String::from("-"), |p| format!("{p:.1}"));
    println!(
        "{name:<42} {median:>18.0} {best:>11.0} {:>15.2}x {per_fsync:>14}",
        median / baseline
    );
}

/// The baseline: write one 108-byte frame's worth of bytes, `fdatasync`, repeat.
fn raw_commits(dir: &Path, commits: usize, preallocate: bool) -> f64 {
    let path = fresh(dir, "raw");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("create the raw file");
    let record = [0x5Au8; PAYLOAD_BYTES + 8];
    if preallocate {
        // Write real blocks (not a sparse extent) so later writes only overwrite them.
        let zeros = vec![0u8; record.len() * commits];
        file.write_all_at(&zeros, 0).expect("preallocate");
        file.sync_all().expect("sync the preallocation");
    }
    let start = Instant::now();
    for i in 0..commits {
        file.write_all_at(&record, (i * record.len()) as u64)
            .expect("write");
        file.sync_data().expect("fdatasync");
    }
    let seconds = start.elapsed().as_secs_f64();
    drop::<File>(file);
    let _ = std::fs::remove_file(&path);
    commits as f64 / seconds
}
