//! Shared by the durable-log benches: where they write, fresh paths, medians, and Walden's W3
//! workload.

#![allow(dead_code)] // Each bench binary uses its own part.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use walden::Wal;

/// A path under `dir` with nothing there: a `Wal` is a directory, the other logs files or
/// directories.
pub(crate) fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&path);
    path
}

/// The median (the upper one for an even count) of `values`, which must not be empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A temporary directory on the disk being measured: under `WALDEN_BENCH_DIR` if set, else under
/// `target/` (the build's disk).
pub(crate) fn bench_dir() -> tempfile::TempDir {
    let parent = std::env::var_os("WALDEN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&parent).expect("create the bench directory");
    tempfile::tempdir_in(parent).expect("a temporary bench directory")
}

/// W3 for Walden: `threads` threads each commit `per_thread` records of `payload_bytes` and wait
/// for each to be durable, on a new log under `dir`. Returns commits/s and records per fsync.
pub(crate) fn wal_commits(
    dir: &Path,
    threads: usize,
    per_thread: usize,
    payload_bytes: usize,
) -> (f64, f64) {
    let path = fresh(dir, "wal");
    let wal = Arc::new(Wal::open(&path).expect("open the bench log"));
    let payload = vec![0xA5u8; payload_bytes];
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let wal = Arc::clone(&wal);
            let payload = payload.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    wal.commit(&payload).expect("commit");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a bench thread panicked");
    }
    let seconds = start.elapsed().as_secs_f64();
    let per_fsync = wal.stats().mean_records_per_fsync();
    drop(wal);
    let _ = std::fs::remove_dir_all(&path);
    ((threads * per_thread) as f64 / seconds, per_fsync)
}

/// The machine's load averages (1, 5, 15 minutes) from `/proc/loadavg`, or "unknown": the
/// benches print it before and after a run, since the machine is shared.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let fields: Vec<&str> = text.split_whitespace().take(3).collect();
            (fields.len() == 3).then(|| fields.join(" "))
        })
        .unwrap_or_else(|| String::from("unknown"))
}

/// This thread's time on a CPU and its time ready but waiting for one so far, in ns, from
/// `/proc/thread-self/schedstat` (zeros where that is not available). On a shared machine the
/// first says what a subject cost, the second how busy the neighbours kept the CPUs.
pub(crate) fn schedstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text
        .split_whitespace()
        .map(|field| field.parse::<u64>().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}
