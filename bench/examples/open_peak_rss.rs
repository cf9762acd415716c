//! Peak memory of opening a large log (issue 13: at most 32 MiB above opening an empty one).
//!
//! Writes, in a child process (so that writing it does not count), a log whose only segment
//! holds 1 GiB of 100-byte records, sealed; then, in this process, opens an empty log and reads
//! the peak resident set (`VmHWM` in `/proc/self/status`), opens the 1 GiB log the same way, and
//! reads it again. Both opens go through `WalWriter::open` and `Wal::open`. Prints both peaks and
//! the difference.
//!
//! Run with `cargo run --release -p walden-bench --example open_peak_rss [DIR] [BODY_MIB]`: `DIR`
//! defaults to a temporary directory under `target/`, `BODY_MIB` to 1024.

use std::path::PathBuf;
use std::process::Command;
use walden::{Wal, WalOptions, WalWriter};
use walden_bench::{peak_rss_kib, write_sealed_log};

const PAYLOAD_BYTES: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--write") {
        let path = PathBuf::from(&args[2]);
        let body_bytes: u64 = args[3].parse().expect("a byte count");
        write_sealed_log(&path, body_bytes, PAYLOAD_BYTES);
        return;
    }
    let dir = walden_bench::bench_dir();
    let root = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    let body_mib: u64 = args.get(2).map_or(1024, |mib| mib.parse().expect("MiB"));
    let big = root.join("big.wal");
    let status = Command::new(std::env::current_exe().expect("this program's path"))
        .arg("--write")
        .arg(&big)
        .arg((body_mib << 20).to_string())
        .status()
        .expect("run the writer");
    assert!(status.success(), "writing the log failed");
    let big_dir = root.join("big-wal");
    let _ = std::fs::remove_dir_all(&big_dir);
    std::fs::create_dir(&big_dir).expect("create the Wal directory");
    std::fs::hard_link(&big, big_dir.join(format!("{:016x}.wal", 0))).expect("link the segment");
    let empty = root.join("empty.wal");
    let empty_dir = root.join("empty-wal");
    let _ = std::fs::remove_file(&empty);
    let _ = std::fs::remove_dir_all(&empty_dir);
    let options = WalOptions {
        segment_bytes: 4 * (body_mib << 20),
        ..WalOptions::default()
    };
    let start_kib = peak_rss_kib();

    // An empty log and an empty `Wal` first, so that what the opens share (the allocator's
    // first arenas, the `Wal`'s threads) counts in the baseline.
    drop(WalWriter::open_with(&empty, options).expect("open the empty log"));
    drop(Wal::open_with(&empty_dir, options).expect("open the empty Wal"));
    let empty_kib = peak_rss_kib();

    let log = WalWriter::open_with(&big, options).expect("open the big log");
    let records = log.recovery().records;
    drop(log);
    let writer_kib = peak_rss_kib();
    let wal = Wal::open_with(&big_dir, options).expect("open the big Wal");
    let end = wal.current_lsn();
    drop(wal);
    let big_kib = peak_rss_kib();

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "log: {body_mib} MiB of {PAYLOAD_BYTES}-byte records ({records} records, end LSN {end})"
    );
    println!(
        "peak RSS at start:                  {:8.1} MiB",
        mib(start_kib)
    );
    println!(
        "peak RSS after opening empty logs:  {:8.1} MiB",
        mib(empty_kib)
    );
    println!(
        "peak RSS after WalWriter::open big: {:8.1} MiB",
        mib(writer_kib)
    );
    println!(
        "peak RSS after Wal::open big:       {:8.1} MiB",
        mib(big_kib)
    );
    println!(
        "difference (big - empty):           {:8.1} MiB (goal: at most 32 MiB)",
        mib(big_kib.saturating_sub(empty_kib))
    );
    let _ = std::fs::remove_dir_all(&big_dir);
    let _ = std::fs::remove_file(&big);
}
