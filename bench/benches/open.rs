//! Opening a large log: how fast recovery scans a log from the page cache, and (with
//! `examples/open_peak_rss.rs`) how much memory it takes.
//!
//! One log whose only (active) segment holds `LOG_BYTES` (1 GiB) of 100-byte records is written
//! once, with the raw codec (`walden_bench::write_sealed_log`), sealed as `close` leaves it, synced,
//! then read once so it sits in the page cache. Each round then times, in an order rotated every
//! round:
//!
//! - `WalWriter::open`: the single-file log (scan, no tail to cut, nothing to rewrite).
//! - `Wal::open`: the same file as the only segment of a `Wal` directory (a hard link: the same
//!   pages), with segments larger than it, so it stays the active segment.
//! - `read + CRC floor`: the file read through the same 1 MiB window with `pread` and each
//!   window hashed with `crc32fast`: what any scan that reads and checks every byte costs.
//!
//! Throughput is file bytes over the time to open; the table shows the median and the best of
//! `ROUNDS`, and each subject's median as a ratio to the floor's. Goal (issue 13): at least
//! 2 GB/s. Run with `cargo bench -p walden-bench --bench open`; `WALDEN_BENCH_DIR` picks the directory.
//! Under `cargo test --benches` it runs once on an 8 MiB log.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;
use walden::walden_core::RECOVERY_WINDOW_BYTES;
use walden::{Wal, WalOptions, WalWriter};
use walden_bench::{bench_dir, load_average, median, write_sealed_log};

/// Body bytes of the benchmark log.
const LOG_BYTES: u64 = 1 << 30;
/// The log under `cargo test --benches`.
const QUICK_LOG_BYTES: u64 = 8 << 20;
const PAYLOAD_BYTES: usize = 100;
const ROUNDS: usize = 7;

fn main() {
    let benchmarking = is_benchmark_run();
    let body_bytes = if benchmarking {
        LOG_BYTES
    } else {
        QUICK_LOG_BYTES
    };
    let rounds = if benchmarking { ROUNDS } else { 1 };
    println!("load average before: {}", load_average());
    let dir = bench_dir();
    let file = dir.path().join("log.wal");
    let file_bytes = write_sealed_log(&file, body_bytes, PAYLOAD_BYTES);
    let records = body_bytes / walden::walden_core::frame_len(PAYLOAD_BYTES) as u64;
    let wal_dir = dir.path().join("wal");
    std::fs::create_dir(&wal_dir).expect("create the Wal directory");
    std::fs::hard_link(&file, wal_dir.join(format!("{:016x}.wal", 0)))
        .expect("link the log into the Wal directory");
    let options = WalOptions {
        segment_bytes: 4 * LOG_BYTES,
        ..WalOptions::default()
    };
    // Into the page cache.
    read_and_hash(&file);

    type Subject<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let subjects: Vec<Subject<'_>> = vec![
        (
            "WalWriter::open",
            Box::new(|| {
                let log = WalWriter::open_with(&file, options).expect("open the log");
                assert_eq!(log.recovery().records, records);
                assert!(log.recovery().tail.is_none());
            }),
        ),
        (
            "Wal::open",
            Box::new(|| {
                let wal = Wal::open_with(&wal_dir, options).expect("open the Wal");
                assert_eq!(wal.current_lsn().get(), file_bytes - 128);
            }),
        ),
        (
            "read + CRC floor",
            Box::new(|| {
                std::hint::black_box(read_and_hash(&file));
            }),
        ),
    ];
    let mut seconds = vec![Vec::new(); subjects.len()];
    for round in 0..rounds {
        for i in 0..subjects.len() {
            let subject = (i + round) % subjects.len();
            let start = Instant::now();
            (subjects[subject].1)();
            seconds[subject].push(start.elapsed().as_secs_f64());
        }
    }
    let gb = file_bytes as f64 / 1e9;
    let floor = median(&seconds[subjects.len() - 1]);
    println!(
        "\nopen of a {:.2} GB log of {PAYLOAD_BYTES}-byte records ({records} records), from the \
         page cache, {rounds} rounds:",
        gb
    );
    println!(
        "| subject | median GB/s | best GB/s | median time | time / floor's |\n|---|---:|---:|---:|---:|"
    );
    for (i, (name, _)) in subjects.iter().enumerate() {
        let median_s = median(&seconds[i]);
        let best_s = seconds[i].iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "| {name} | {:.2} | {:.2} | {:.1} ms | {:.2}x |",
            gb / median_s,
            gb / best_s,
            median_s * 1e3,
            median_s / floor
        );
    }
    println!("load average after: {}", load_average());
}

/// Reads `path` through a window of the recovery's size and hashes each window: the floor.
fn read_and_hash(path: &Path) -> u32 {
    let file = std::fs::File::open(path).expect("open the bench log");
    let mut window = vec![0u8; RECOVERY_WINDOW_BYTES];
    let mut hasher = crc32fast::Hasher::new();
    let mut offset = 0u64;
    loop {
        let read = file
            .read_at(&mut window, offset)
            .expect("read the bench log");
        if read == 0 {
            break;
        }
        hasher.update(&window[..read]);
        offset += read as u64;
    }
    hasher.finalize()
}

/// Whether this is a measuring run (`cargo bench`) rather than `cargo test --benches`.
fn is_benchmark_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test")
}
