//! `walden-bench`: what the durable-log benches (`benches/`) and the open-RSS example share:
//! where they write, fresh paths, medians, and Walden's W3
//! workload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use walden::Wal;

/// A path under `dir` with nothing there: a `Wal` is a directory, the other logs files or
/// directories.
pub fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&path);
    path
}

/// The median (the upper one for an even count) of `values`, which must not be empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A temporary directory on the disk being measured: under `WALDEN_BENCH_DIR` if set, else under
/// `target/` (the build's disk).
pub fn bench_dir() -> tempfile::TempDir {
    let parent = std::env::var_os("WALDEN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&parent).expect("create the bench directory");
    tempfile::tempdir_in(parent).expect("a temporary bench directory")
}

/// W3 for Walden: `threads` threads each commit `per_thread` records of `payload_bytes` and wait
/// for each to be durable, on a new log under `dir`. Returns commits/s and records per fsync.
pub fn wal_commits(
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
pub fn load_average() -> String {
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
pub fn schedstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text
        .split_whitespace()
        .map(|field| field.parse::<u64>().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

/// The salt of the logs `write_sealed_log` writes: any value does, the CRC's cost does not
/// depend on it.
pub const OPEN_SALT: u64 = 0x5eed_0000_0000_0013;

/// Writes, at `path`, a v2 log of `payload_bytes`-byte records filling `body_bytes` of body
/// (about), encoded with the raw codec and written 1 MiB at a time (the writer's own path would
/// take minutes for a gigabyte of fsyncs), with its header's sync mark at the end, as
/// `close` leaves it. Returns the file's length. Holds 1 MiB of memory.
pub fn write_sealed_log(path: &Path, body_bytes: u64, payload_bytes: usize) -> u64 {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use walden::walden_core::{frame_len, Codec, FileHeader, Lsn};
    const CHUNK_BYTES: usize = 1 << 20;
    let header = FileHeader::new(OPEN_SALT, Lsn::ZERO);
    let codec = Codec::for_header(&header);
    let mut file = std::fs::File::create(path).expect("create the bench log");
    file.write_all(&header.encode_initial())
        .expect("write the header");
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + frame_len(payload_bytes));
    let mut payload = vec![0xA5u8; payload_bytes];
    let mut lsn = Lsn::ZERO;
    let mut index = 0u64;
    while lsn.get() + frame_len(payload_bytes) as u64 <= body_bytes {
        let stamp = index.to_le_bytes();
        let stamped = stamp.len().min(payload.len());
        payload[..stamped].copy_from_slice(&stamp[..stamped]);
        let len = codec
            .encode_append(lsn, &payload, &mut chunk)
            .expect("bench records fit the default limit");
        lsn = Lsn::new(lsn.get() + len as u64);
        index += 1;
        if chunk.len() >= CHUNK_BYTES {
            file.write_all(&chunk).expect("write the bench log");
            chunk.clear();
        }
    }
    file.write_all(&chunk).expect("write the bench log");
    let sealed = header.next(|header| header.with_sync_mark(lsn));
    file.write_all_at(&sealed.encode(), sealed.slot_offset())
        .expect("write the sealed header");
    // Written back once here, so that no open's sync waits for a gigabyte of writeback.
    file.sync_all().expect("sync the bench log");
    header.body_offset() + lsn.get()
}

/// The process's peak resident set (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmHWM in /proc/self/status")
}
