//! W3 against peers: N = 1, 4, 16, 64 committers, each committing a 100-byte record and waiting
//! until it is durable, `COMMITS_PER_THREAD` times; commits/s from the first commit to the last
//! (opening and closing are not timed). Every subject starts from an empty directory.
//!
//! - `walden`: `Wal::commit` from N threads (group commit, `fdatasync`).
//! - `okaywal` 0.3.1: `begin_entry`, `write_chunk`, `commit` from N threads (its commit returns
//!   once synced; it batches concurrent syncs). Default configuration.
//! - `surrealkv` 1.2.0: a transaction per record, `set` of an 8-byte key and a 100-byte value,
//!   `Durability::Immediate`, `commit().await` from N tasks on a tokio multi-thread runtime
//!   (commits are async there). Default options.
//!
//! The disk stalls in bursts, so each round runs every subject at every N, subjects in an order
//! rotated every round; the table shows the median and the best of `ROUNDS`. Run with
//! `cargo bench -p walden-bench --bench peers`; `WALDEN_BENCH_DIR` picks the directory, and
//! `WALDEN_BENCH_ONLY=<text>` runs only the subjects whose name contains it (for `strace -c`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use walden_bench::{bench_dir, fresh, median, wal_commits};

const PAYLOAD_BYTES: usize = 100;
const COMMITS_PER_THREAD: usize = 1000;
const THREADS: [usize; 4] = [1, 4, 16, 64];
const ROUNDS: usize = 7;

type Subject = (&'static str, fn(&Path, usize, usize) -> f64);

const SUBJECTS: [Subject; 3] = [
    ("walden Wal::commit", walden_commits),
    ("okaywal 0.3.1", okaywal_commits),
    ("surrealkv 1.2.0 Immediate", surrealkv_commits),
];

fn main() {
    let dir = bench_dir();
    let only = std::env::var("WALDEN_BENCH_ONLY").unwrap_or_default();
    let chosen = |s: usize| SUBJECTS[s].0.contains(only.as_str());
    if !std::env::args().any(|arg| arg == "--bench") {
        // `cargo test --benches` runs this without `--bench`: a smoke run will do.
        for (s, (_, run)) in SUBJECTS.iter().enumerate() {
            if chosen(s) {
                let _ = run(dir.path(), 2, 5);
            }
        }
        println!("peers: smoke run ok");
        return;
    }
    println!("peers bench (W3) in {}", dir.path().display());
    // rates[subject][threads index][round]
    let mut rates = vec![vec![Vec::new(); THREADS.len()]; SUBJECTS.len()];
    for round in 0..ROUNDS {
        for (t, &threads) in THREADS.iter().enumerate() {
            for k in 0..SUBJECTS.len() {
                let s = (round + k) % SUBJECTS.len();
                if !chosen(s) {
                    continue;
                }
                rates[s][t].push(SUBJECTS[s].1(dir.path(), threads, COMMITS_PER_THREAD));
            }
        }
        eprintln!("round {} of {ROUNDS} done", round + 1);
    }
    println!();
    println!(
        "W3 threads  subject                     commits/s (median)  best round  walden / this"
    );
    for (t, &threads) in THREADS.iter().enumerate() {
        let walden = if chosen(0) {
            median(&rates[0][t])
        } else {
            f64::NAN
        };
        for (s, (name, _)) in SUBJECTS.iter().enumerate() {
            if !chosen(s) {
                continue;
            }
            let best = rates[s][t].iter().copied().fold(0.0, f64::max);
            let median = median(&rates[s][t]);
            println!(
                "{threads:>10}  {name:<27} {median:>18.0} {best:>11.0} {:>13.2}x",
                walden / median
            );
        }
    }
}

fn walden_commits(dir: &Path, threads: usize, per_thread: usize) -> f64 {
    wal_commits(dir, threads, per_thread, PAYLOAD_BYTES).0
}

fn okaywal_commits(dir: &Path, threads: usize, per_thread: usize) -> f64 {
    let path = fresh(dir, "okaywal");
    let log = okaywal::WriteAheadLog::recover(&path, okaywal::LogVoid).expect("open okaywal");
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    let mut entry = log.begin_entry().expect("begin an entry");
                    entry.write_chunk(&payload).expect("write_chunk");
                    entry.commit().expect("commit");
                }
            })
        })
        .collect();
    join(handles);
    let rate = (threads * per_thread) as f64 / start.elapsed().as_secs_f64();
    log.shutdown().expect("shut okaywal down");
    let _ = std::fs::remove_dir_all(&path);
    rate
}

fn surrealkv_commits(dir: &Path, threads: usize, per_thread: usize) -> f64 {
    let path = fresh(dir, "surrealkv");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let rate = runtime.block_on(async {
        // An `Arc`, not clones: dropping any clone of a native `Tree` closes the database.
        let tree = Arc::new(
            surrealkv::TreeBuilder::new()
                .with_path(path.clone())
                .build()
                .expect("open surrealkv"),
        );
        let value = [0xA5u8; PAYLOAD_BYTES];
        let start = Instant::now();
        let tasks: Vec<_> = (0..threads)
            .map(|thread| {
                let tree = Arc::clone(&tree);
                tokio::spawn(async move {
                    for i in 0..per_thread {
                        let key = ((thread * per_thread + i) as u64).to_be_bytes();
                        let mut tx = tree.begin().expect("begin");
                        tx.set_durability(surrealkv::Durability::Immediate);
                        tx.set(&key, &value).expect("set");
                        if let Err(e) = tx.commit().await {
                            panic!("surrealkv commit {i} of thread {thread}: {e:?}");
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a bench task panicked");
        }
        let rate = (threads * per_thread) as f64 / start.elapsed().as_secs_f64();
        tree.close().await.expect("close surrealkv");
        rate
    });
    drop(runtime);
    let _ = std::fs::remove_dir_all(&path);
    rate
}

fn join(handles: Vec<std::thread::JoinHandle<()>>) {
    for handle in handles {
        handle.join().expect("a bench thread panicked");
    }
}
