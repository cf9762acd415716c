//! W1: appends without waiting for durability. One thread appends `RECORDS` payloads of 100
//! bytes; the figure is ns per record, timed from the first append to the last (opening and
//! closing the log are not timed).
//!
//! - `Wal::append`: the shared log (writer lock, atomic watermark, stats).
//! - `WalWriter::append`: the single-writer log, `&mut self`, no lock.
//! - `Wal::append, one 1 GiB segment`: the shared log with segments larger than the run, so no
//!   segment is sealed (sealing syncs the full 64 MiB segment): what the rotation costs W1.
//! - `okaywal` 0.3.1: every okaywal entry commit fsyncs, so it has no no-wait append of a
//!   committed record. Its closest path is measured: `EntryWriter::write_chunk` of each payload
//!   into one open entry (buffered, written to the OS as its 16 KiB buffer fills, like Walden's
//!   64 KiB buffer); the entry is rolled back after the timing.
//!
//! Each round runs every subject once, in an order rotated every round, so disk writeback and
//! neighbours' load hit all alike; the table shows the median and the best of `ROUNDS`. Run with
//! `cargo bench -p walden --bench append`; `WALDEN_BENCH_DIR` picks the directory, and
//! `WALDEN_BENCH_ONLY=<text>` runs only the subjects whose name contains it (for `perf record`).

mod common;

use common::{bench_dir, fresh, median};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use walden::{Wal, WalOptions, WalWriter};

const PAYLOAD_BYTES: usize = 100;
const RECORDS: usize = 1_000_000;
const ROUNDS: usize = 9;

type Subject = (&'static str, fn(&Path, usize) -> f64);

const SUBJECTS: [Subject; 4] = [
    ("Wal::append", wal_append),
    ("WalWriter::append", writer_append),
    ("okaywal write_chunk (one open entry)", okaywal_chunks),
    ("Wal::append, one 1 GiB segment", wal_append_one_segment),
];

fn main() {
    let dir = bench_dir();
    if !std::env::args().any(|arg| arg == "--bench") {
        // `cargo test --benches` runs this without `--bench`: a smoke run will do.
        for (_, run) in SUBJECTS {
            let _ = run(dir.path(), 1000);
        }
        println!("append: smoke run ok");
        return;
    }
    println!("append bench (W1) in {}", dir.path().display());
    let only = std::env::var("WALDEN_BENCH_ONLY").unwrap_or_default();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); SUBJECTS.len()];
    for round in 0..ROUNDS {
        for k in 0..SUBJECTS.len() {
            let i = (round + k) % SUBJECTS.len();
            if SUBJECTS[i].0.contains(only.as_str()) {
                times[i].push(SUBJECTS[i].1(dir.path(), RECORDS));
            }
        }
        eprintln!("round {} of {ROUNDS} done", round + 1);
    }
    let okaywal = if times[2].is_empty() {
        f64::NAN
    } else {
        median(&times[2])
    };
    println!();
    println!(
        "W1, {RECORDS} x {PAYLOAD_BYTES} B, 1 thread    ns/record (median)  best  okaywal / this"
    );
    for (i, (name, _)) in SUBJECTS.iter().enumerate() {
        if times[i].is_empty() {
            continue;
        }
        let best = times[i].iter().copied().fold(f64::INFINITY, f64::min);
        let median = median(&times[i]);
        println!(
            "{name:<38} {median:>18.1} {best:>5.1} {:>13.2}x",
            okaywal / median
        );
    }
}

/// Returns ns per record.
fn wal_append(dir: &Path, records: usize) -> f64 {
    wal_append_with(dir, records, WalOptions::default())
}

fn wal_append_one_segment(dir: &Path, records: usize) -> f64 {
    let options = WalOptions {
        segment_bytes: 1 << 30,
        ..WalOptions::default()
    };
    wal_append_with(dir, records, options)
}

fn wal_append_with(dir: &Path, records: usize, options: WalOptions) -> f64 {
    let path = fresh(dir, "wal");
    let wal = Wal::open_with(&path, options).expect("open the bench log");
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let start = Instant::now();
    for _ in 0..records {
        black_box(wal.append(black_box(&payload)).expect("append"));
    }
    let ns = start.elapsed().as_nanos() as f64 / records as f64;
    drop(wal);
    let _ = std::fs::remove_dir_all(&path);
    ns
}

fn writer_append(dir: &Path, records: usize) -> f64 {
    let path = fresh(dir, "writer");
    let mut writer = WalWriter::open(&path).expect("open the bench log");
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let start = Instant::now();
    for _ in 0..records {
        black_box(writer.append(black_box(&payload)).expect("append"));
    }
    let ns = start.elapsed().as_nanos() as f64 / records as f64;
    drop(writer);
    let _ = std::fs::remove_file(&path);
    ns
}

fn okaywal_chunks(dir: &Path, records: usize) -> f64 {
    let path = fresh(dir, "okaywal");
    let log = okaywal::WriteAheadLog::recover(&path, okaywal::LogVoid).expect("open okaywal");
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let mut entry = log.begin_entry().expect("begin an entry");
    let start = Instant::now();
    for _ in 0..records {
        black_box(entry.write_chunk(black_box(&payload)).expect("write_chunk"));
    }
    let ns = start.elapsed().as_nanos() as f64 / records as f64;
    entry.rollback().expect("roll back");
    log.shutdown().expect("shut okaywal down");
    let _ = std::fs::remove_dir_all(&path);
    ns
}
