//! The workloads `walden bench` times, as `native/benches` defines them (see `mod.rs`).
//!
//! Invariants: each call works on a fresh path under the scratch directory and removes it
//! before returning; opening and closing a log are never timed; a commit's latency is timed
//! from the call to its return, so it includes waiting for the group's fsync. Each run stops at
//! its count or its time budget, whichever comes first (a disk that stalls for milliseconds per
//! fsync would otherwise stretch a short default run to minutes), and its rate divides what it
//! did by the time it took.

use crate::error::CliError;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use walden::backend::write_all_at;
use walden::walden_core::FRAME_HEADER_LEN;
use walden::Wal;

/// What one run of one workload measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sample {
    /// Operations per second (records, commits or fsyncs).
    pub(crate) rate: f64,
    /// Mean records each fsync made durable (`None` for W1, which never syncs).
    pub(crate) per_fsync: Option<f64>,
    /// Each operation's latency in nanoseconds (empty for W1: timing each append would cost
    /// more than the append).
    pub(crate) latencies_ns: Vec<u64>,
}

/// A path under `dir` with nothing there.
fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn wal_error(op: &'static str) -> impl FnOnce(walden::Error) -> CliError {
    move |source| CliError::Wal { op, source }
}

fn nanos(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// How a raw loop makes each write durable (the comparison `pg_test_fsync` makes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncMethod {
    /// `pwrite` + `fdatasync`, into a preallocated file: the baseline (what Walden does).
    Fdatasync,
    /// `pwrite` + `fsync` (data and metadata), preallocated.
    Fsync,
    /// `pwrite` on a file opened `O_DSYNC`: each write returns once durable, preallocated.
    #[cfg(unix)]
    Dsync,
    /// `pwrite` + `fdatasync` at the end of a file that grows with each write (no
    /// preallocation: each sync also persists the new size).
    Growing,
}

impl SyncMethod {
    /// Every method this platform has, the baseline first.
    pub(crate) fn all() -> Vec<SyncMethod> {
        vec![
            SyncMethod::Fdatasync,
            SyncMethod::Fsync,
            #[cfg(unix)]
            SyncMethod::Dsync,
            SyncMethod::Growing,
        ]
    }

    /// The table's name for it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SyncMethod::Fdatasync => "raw pwrite+fdatasync, preallocated",
            SyncMethod::Fsync => "raw pwrite+fsync, preallocated",
            #[cfg(unix)]
            SyncMethod::Dsync => "raw O_DSYNC pwrite, preallocated",
            SyncMethod::Growing => "raw pwrite+fdatasync, growing file",
        }
    }

    /// A short stable name, for JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SyncMethod::Fdatasync => "raw",
            SyncMethod::Fsync => "raw_fsync",
            #[cfg(unix)]
            SyncMethod::Dsync => "raw_o_dsync",
            SyncMethod::Growing => "raw_growing",
        }
    }
}

/// A raw loop: write one frame's worth of bytes at the next offset, make it durable as `method`
/// says, repeat up to `syncs` times within `budget`.
pub(crate) fn raw_fsyncs(
    dir: &Path,
    syncs: u64,
    payload_bytes: usize,
    budget: Duration,
    method: SyncMethod,
) -> Result<Sample, CliError> {
    let path = fresh(dir, "raw");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(CliError::io("creating", &path))?;
    let record = vec![0x5Au8; payload_bytes + FRAME_HEADER_LEN];
    let len = record.len() as u64;
    if method != SyncMethod::Growing {
        // Real blocks, not a sparse extent, so the timed writes only overwrite them.
        const ZEROS_BYTES: u64 = 1 << 20;
        let zeros = vec![0u8; ZEROS_BYTES as usize];
        let total = len * syncs;
        let mut offset = 0;
        while offset < total {
            let chunk = (total - offset).min(ZEROS_BYTES) as usize;
            write_all_at(&file, &zeros[..chunk], offset)
                .map_err(CliError::io("preallocating", &path))?;
            offset += chunk as u64;
        }
    }
    file.sync_all()
        .map_err(CliError::io("preallocating", &path))?;
    let file = match method {
        #[cfg(unix)]
        SyncMethod::Dsync => {
            use std::os::unix::fs::OpenOptionsExt;
            drop(file);
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DSYNC)
                .open(&path)
                .map_err(CliError::io("opening O_DSYNC", &path))?
        }
        _ => file,
    };
    let mut latencies_ns = Vec::with_capacity(usize::try_from(syncs).unwrap_or(0));
    let start = Instant::now();
    let mut done = 0u64;
    // At least one, whatever the budget, so every run has a rate.
    while done < syncs && (done == 0 || start.elapsed() < budget) {
        let one = Instant::now();
        let written = write_all_at(&file, &record, done * len);
        let synced = match method {
            SyncMethod::Fdatasync | SyncMethod::Growing => written.and_then(|()| file.sync_data()),
            SyncMethod::Fsync => written.and_then(|()| file.sync_all()),
            #[cfg(unix)]
            SyncMethod::Dsync => written,
        };
        synced.map_err(CliError::io("writing and syncing", &path))?;
        latencies_ns.push(nanos(one));
        done += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(Sample {
        rate: done as f64 / seconds,
        per_fsync: Some(1.0),
        latencies_ns,
    })
}

/// W1: up to `records` appends of `payload` within `budget` on one thread, not waiting for
/// durability.
pub(crate) fn appends(
    dir: &Path,
    records: u64,
    payload: &[u8],
    budget: Duration,
) -> Result<Sample, CliError> {
    /// Appends between two looks at the clock, so reading it costs the loop nothing.
    const CLOCK_EVERY: u64 = 1024;
    let path = fresh(dir, "w1");
    let wal = Wal::open(&path).map_err(wal_error("opening the W1 log"))?;
    let start = Instant::now();
    let mut done = 0u64;
    while done < records {
        std::hint::black_box(wal.append(std::hint::black_box(payload)))
            .map_err(wal_error("W1 append"))?;
        done += 1;
        if done.is_multiple_of(CLOCK_EVERY) && start.elapsed() >= budget {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(wal);
    let _ = std::fs::remove_dir_all(&path);
    Ok(Sample {
        rate: done as f64 / seconds,
        per_fsync: None,
        latencies_ns: Vec::new(),
    })
}

/// W2 (`threads` = 1) and W3: each thread commits up to `per_thread` records, waiting for each,
/// until the shared `budget` runs out.
pub(crate) fn commits(
    dir: &Path,
    threads: u32,
    per_thread: u64,
    payload: &[u8],
    budget: Duration,
) -> Result<Sample, CliError> {
    let path = fresh(dir, "wal");
    let wal = Arc::new(Wal::open(&path).map_err(wal_error("opening the bench log"))?);
    let before = wal.stats();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let wal = Arc::clone(&wal);
            let payload = payload.to_vec();
            std::thread::spawn(move || -> Result<Vec<u64>, walden::Error> {
                let mut latencies = Vec::with_capacity(usize::try_from(per_thread).unwrap_or(0));
                for done in 0..per_thread {
                    // At least one commit per thread, whatever the budget.
                    if done > 0 && start.elapsed() >= budget {
                        break;
                    }
                    let one = Instant::now();
                    wal.commit(&payload)?;
                    latencies.push(nanos(one));
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies_ns = Vec::new();
    let mut failed = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(latencies)) => latencies_ns.extend(latencies),
            Ok(Err(err)) => failed = failed.or(Some(err)),
            Err(_) => {
                return Err(CliError::Usage(String::from(
                    "a bench thread panicked (a bug in walden)",
                )))
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(err) = failed {
        return Err(wal_error("commit")(err));
    }
    let after = wal.stats();
    let fsyncs = after.fsyncs.saturating_sub(before.fsyncs);
    let durable = after.records_durable.saturating_sub(before.records_durable);
    drop(wal);
    let _ = std::fs::remove_dir_all(&path);
    let commits = latencies_ns.len() as u64;
    Ok(Sample {
        rate: commits as f64 / seconds,
        per_fsync: (fsyncs > 0).then(|| durable as f64 / fsyncs as f64),
        latencies_ns,
    })
}
