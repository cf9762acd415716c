//! `Wal::append` against a bare locked append, on real files, at 1 and 2 threads: what the
//! shared log adds over `Mutex<WalWriter>`. 100-byte payloads, no durability wait; the figure
//! is the wall time from the first append to the last divided by the records appended
//! (`RECORDS` in all, split evenly between the threads), so it is a throughput, not a latency.
//!
//! - `Wal`: `Wal::append` from every thread on one `Arc<Wal>` (the writer lock, the frame
//!   encoded straight into the active segment's 64 KiB buffer, the current LSN published to an
//!   atomic).
//! - `locked`: `Mutex<WalWriter>`, `lock().append(payload)` per record: the frame is encoded
//!   straight into the writer's 64 KiB buffer under the lock; a full buffer is written under it.
//!
//! This bench chose the `Wal`'s append path: it first measured the lock-free append queue the
//! `Wal` had (a `fetch_add` reservation, encoding into a thread-local buffer, a copy into the
//! queue, a drain into the segments) against these locked appends, and the queue was slower at
//! 1 thread in every run and no faster at 2 (docs/performance.md, "The lock-free append queue
//! against a locked append"), so the `Wal` now appends under its writer lock.
//!
//! The `Wal` uses segments of 1 GiB, so no segment is sealed during a run (a seal syncs 64 MiB
//! on the appending thread, which `append.rs` measures) and both write one growing,
//! preallocated file.
//!
//! With a syncer (W3-like contention): 2 appending threads while a third calls a sync every
//! 1 ms until they finish. For the `Wal` it is `Wal::sync`; for the locked writer it is what a
//! locked log with group commit does: drain under the lock
//! (`WalWriter::drain_for_group_sync`), `sync_data` with the lock released, then
//! `mark_durable` under the lock again.
//!
//! Beside the wall time, each row shows the appending threads' time on a CPU and their time
//! waiting for one (ready, but the CPUs busy: the neighbours' load), summed over the threads, per
//! record, from `/proc/thread-self/schedstat`: on a shared 2-core machine the wall time of 2
//! threads says as much about the neighbours as about the log.
//!
//! Every round runs every workload once, in an order rotated every round; the table shows
//! medians and the best of `ROUNDS`, and the ratio of the `Wal`'s median to the locked
//! writer's at the same thread count. Run with `cargo bench -p walden-bench --bench append_threads`;
//! `WALDEN_BENCH_DIR` picks the directory, `WALDEN_BENCH_ONLY=<text>` runs only the workloads
//! whose name contains it (for `perf record`). `cargo test --benches` runs each once, tiny.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use walden::walden_core::frame_len;
use walden::{Wal, WalOptions, WalWriter};
use walden_bench::{bench_dir, fresh, load_average, median, schedstat};

const PAYLOAD_BYTES: usize = 100;
/// Records per run, over all threads.
const RECORDS: usize = 1_000_000;
const ROUNDS: usize = 9;
/// Segments larger than a run: nothing is sealed while timing.
const SEGMENT_BYTES: u64 = 1 << 30;
/// How often the syncer syncs.
const SYNC_EVERY: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Queue,
    Locked,
}

#[derive(Clone, Copy)]
struct Workload {
    via: Via,
    threads: usize,
    syncer: bool,
}

impl Workload {
    fn name(&self) -> String {
        let path = match self.via {
            Via::Queue => "Wal: Wal::append",
            Via::Locked => "locked: Mutex<WalWriter>",
        };
        let syncer = if self.syncer { " + syncer/1 ms" } else { "" };
        format!("{} thread(s){syncer}, {path}", self.threads)
    }

    /// The workload's group: same thread count and syncer.
    fn group(&self) -> (usize, bool) {
        (self.threads, self.syncer)
    }
}

const WORKLOADS: [Workload; 6] = [
    Workload {
        via: Via::Queue,
        threads: 1,
        syncer: false,
    },
    Workload {
        via: Via::Locked,
        threads: 1,
        syncer: false,
    },
    Workload {
        via: Via::Queue,
        threads: 2,
        syncer: false,
    },
    Workload {
        via: Via::Locked,
        threads: 2,
        syncer: false,
    },
    Workload {
        via: Via::Queue,
        threads: 2,
        syncer: true,
    },
    Workload {
        via: Via::Locked,
        threads: 2,
        syncer: true,
    },
];

/// One run's outcome.
struct Run {
    ns_per_record: f64,
    /// The appending threads' time on a CPU, summed, per record.
    cpu_ns_per_record: f64,
    /// The time the appending threads were ready but waited for a CPU (the neighbours' load),
    /// summed, per record.
    waiting_ns_per_record: f64,
    syncs: u64,
}

fn main() {
    let dir = bench_dir();
    if !std::env::args().any(|arg| arg == "--bench") {
        // `cargo test --benches` runs this without `--bench`: a smoke run will do.
        for workload in WORKLOADS {
            let _ = run(dir.path(), workload, 1000);
        }
        println!("append_threads: smoke run ok");
        return;
    }
    println!(
        "append_threads bench in {}; load average before: {}",
        dir.path().display(),
        load_average()
    );
    let only = std::env::var("WALDEN_BENCH_ONLY").unwrap_or_default();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); WORKLOADS.len()];
    let mut syncs: Vec<Vec<f64>> = vec![Vec::new(); WORKLOADS.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); WORKLOADS.len()];
    let mut waiting: Vec<Vec<f64>> = vec![Vec::new(); WORKLOADS.len()];
    for round in 0..ROUNDS {
        for k in 0..WORKLOADS.len() {
            let i = (round + k) % WORKLOADS.len();
            if WORKLOADS[i].name().contains(only.as_str()) {
                let outcome = run(dir.path(), WORKLOADS[i], RECORDS);
                times[i].push(outcome.ns_per_record);
                syncs[i].push(outcome.syncs as f64);
                cpu[i].push(outcome.cpu_ns_per_record);
                waiting[i].push(outcome.waiting_ns_per_record);
            }
        }
        eprintln!("round {} of {ROUNDS} done", round + 1);
    }
    println!();
    println!("load average after: {}", load_average());
    println!(
        "{RECORDS} records of {PAYLOAD_BYTES} B per run over all threads, no durability wait; \
         ns/record = wall time / records; {} rounds",
        times.iter().map(Vec::len).max().unwrap_or(0)
    );
    println!(
        "{:<62} {:>10} {:>7} {:>15} {:>8} {:>9} {:>9}",
        "workload", "ns/record", "best", "Wal / this", "syncs", "on-CPU", "waiting"
    );
    println!(
        "{:<62} {:>10} {:>7} {:>15} {:>8} {:>9} {:>9}",
        "", "(median)", "round", "(medians)", "", "ns/rec", "ns/rec"
    );
    for (i, workload) in WORKLOADS.iter().enumerate() {
        if times[i].is_empty() {
            continue;
        }
        let queue = WORKLOADS
            .iter()
            .position(|w| w.via == Via::Queue && w.group() == workload.group())
            .filter(|&q| !times[q].is_empty())
            .map_or(f64::NAN, |q| median(&times[q]));
        let best = times[i].iter().copied().fold(f64::INFINITY, f64::min);
        let this = median(&times[i]);
        let syncs = if workload.syncer {
            format!("{:.0}", median(&syncs[i]))
        } else {
            String::from("-")
        };
        println!(
            "{:<62} {this:>10.1} {best:>7.1} {:>14.2}x {syncs:>8} {:>9.1} {:>9.1}",
            workload.name(),
            queue / this,
            median(&cpu[i]),
            median(&waiting[i]),
        );
    }
}

fn run(dir: &Path, workload: Workload, records: usize) -> Run {
    match workload.via {
        Via::Queue => queue(dir, workload, records),
        Via::Locked => locked(dir, workload, records),
    }
}

fn options() -> WalOptions {
    WalOptions {
        segment_bytes: SEGMENT_BYTES,
        ..WalOptions::default()
    }
}

/// Runs `append` `records / threads` times on each of `threads` threads, all released at once,
/// and `sync` every `SYNC_EVERY` on one more thread (if `syncer`) until they are done. Returns
/// the appenders' wall time per record and the number of syncs.
fn drive(
    threads: usize,
    records: usize,
    syncer: bool,
    append: &(dyn Fn() + Sync),
    sync: &(dyn Fn() + Sync),
) -> Run {
    let per_thread = records / threads;
    let start_line = Barrier::new(threads + 1);
    let done = AtomicBool::new(false);
    let synced = AtomicU64::new(0);
    let on_cpu = AtomicU64::new(0);
    let waited = AtomicU64::new(0);
    let elapsed = thread::scope(|scope| {
        if syncer {
            scope.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    thread::sleep(SYNC_EVERY);
                    sync();
                    synced.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let appenders: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start_line.wait();
                    let (cpu_before, wait_before) = schedstat();
                    for _ in 0..per_thread {
                        append();
                    }
                    let (cpu_after, wait_after) = schedstat();
                    on_cpu.fetch_add(cpu_after - cpu_before, Ordering::Relaxed);
                    waited.fetch_add(wait_after - wait_before, Ordering::Relaxed);
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        for appender in appenders {
            appender.join().expect("an appender panicked");
        }
        let elapsed = start.elapsed();
        done.store(true, Ordering::Release);
        elapsed
    });
    let appended = (per_thread * threads) as f64;
    Run {
        ns_per_record: elapsed.as_nanos() as f64 / appended,
        cpu_ns_per_record: on_cpu.load(Ordering::Relaxed) as f64 / appended,
        waiting_ns_per_record: waited.load(Ordering::Relaxed) as f64 / appended,
        syncs: synced.load(Ordering::Relaxed),
    }
}

fn queue(dir: &Path, workload: Workload, records: usize) -> Run {
    let path = fresh(dir, "queue");
    let wal = Wal::open_with(&path, options()).expect("open the bench log");
    let start = wal.current_lsn();
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let append = || {
        black_box(wal.append(black_box(&payload)).expect("append"));
    };
    let sync = || {
        wal.sync().expect("sync");
    };
    let outcome = drive(workload.threads, records, workload.syncer, &append, &sync);
    check_appended(start.get(), wal.current_lsn().get(), workload, records);
    drop(wal);
    let _ = std::fs::remove_dir_all(&path);
    outcome
}

fn locked(dir: &Path, workload: Workload, records: usize) -> Run {
    let path = fresh(dir, "locked");
    let writer = WalWriter::open_with(&path, options()).expect("open the bench log");
    let start = writer.current_lsn();
    let writer = Mutex::new(writer);
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let append = || {
        let lsn = writer
            .lock()
            .expect("no panic")
            .append(black_box(&payload))
            .expect("append");
        black_box(lsn);
    };
    let sync = || {
        // Drain under the lock, sync without it, publish under it: appends go on meanwhile.
        let (lsn, file) = writer
            .lock()
            .expect("no panic")
            .drain_for_group_sync()
            .expect("drain");
        file.sync_data().expect("sync_data");
        writer
            .lock()
            .expect("no panic")
            .mark_durable(lsn)
            .expect("mark durable");
    };
    let outcome = drive(workload.threads, records, workload.syncer, &append, &sync);
    let writer = writer.into_inner().expect("no panic");
    check_appended(start.get(), writer.current_lsn().get(), workload, records);
    drop(writer);
    let _ = std::fs::remove_file(&path);
    outcome
}

fn check_appended(start: u64, end: u64, workload: Workload, records: usize) {
    let appended = (records / workload.threads * workload.threads) as u64;
    assert_eq!(
        end - start,
        appended * frame_len(PAYLOAD_BYTES) as u64,
        "{}: records missing",
        workload.name()
    );
}
