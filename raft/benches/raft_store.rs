//! What a Raft log store costs, on real files: each log store (the in-memory `MemLog` baseline,
//! and `walden_raft::LogStore` with Walden's default durability, `SyncData`) measured for
//!
//! - an awaited `append` of 1 entry and of 100 entries per call (`blocking_append`: the append,
//!   then the wait for its `LogFlushed` callback), as µs per call;
//! - a one-node cluster's `client_write` throughput with 1 and with 64 concurrent clients (tokio
//!   tasks, each writing in a loop), as writes/s;
//!
//! and beside them the raw rate of `walden::Wal::commit` of a payload the size of one entry as
//! JSON, from 1 thread and from 64, on the same disk in the same run, and of `Wal::commit_async`
//! awaited from one task (the path the Walden store's flush callback waits on: the flusher
//! thread's fsync and a wake-up), which separates the store's own cost from the async path's.
//!
//! Every sample runs for a fixed time (entries capped so the in-memory store stays small) on a
//! fresh directory; every round takes one sample of everything, in an order rotated every round,
//! and the table shows medians over the rounds. The ratios at the end are the goals: the Walden
//! store's 64-client throughput over the in-memory store's (at least 0.5), and its awaited
//! 1-entry append over one raw `Wal::commit` (at most 1.2). The second is also measured on its
//! own, the store's appends and raw commits alternating in short slices within one step, since
//! this machine's fsync latency drifts by several times between the steps of a round.
//!
//! Run with `cargo bench -p walden-raft --bench raft_store` (about a minute);
//! `WALDEN_BENCH_DIR` picks the directory (default: the workspace's `target/`, the build's disk;
//! not a tmpfs). `cargo test --benches` runs everything once, briefly.

#[path = "../tests/support/mod.rs"]
mod support;

use openraft::storage::RaftLogStorageExt;
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, ServerState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::cluster::config;
use support::kv::KvStateMachine;
use support::router::Router;
use support::stores::{LogStores, MemLogs, WaldenLogs};
use support::types::{Entry, LogId, Raft, Request};

/// The value written by every entry: with its key, about what a small kv write is.
const VALUE_BYTES: usize = 100;
const ROUNDS: usize = 7;
/// How long one sample of an append or a commit rate runs.
const APPEND_TIME: Duration = Duration::from_millis(250);
/// How long one sample of a cluster's throughput runs.
const CLUSTER_TIME: Duration = Duration::from_millis(800);
/// At most this many entries per append sample (the in-memory store keeps them all).
const MAX_ENTRIES: u64 = 200_000;
const MANY_CLIENTS: usize = 64;

/// One measurement: what it is and its unit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Metric {
    Append1,
    Append100,
    Clients1,
    ClientsMany,
}

impl Metric {
    const ALL: [Metric; 4] = [
        Metric::Append1,
        Metric::Append100,
        Metric::Clients1,
        Metric::ClientsMany,
    ];

    fn label(self) -> String {
        match self {
            Metric::Append1 => "append 1 entry, awaited (µs/call)".to_string(),
            Metric::Append100 => "append 100 entries, awaited (µs/call)".to_string(),
            Metric::Clients1 => "client_write, 1 client (writes/s)".to_string(),
            Metric::ClientsMany => format!("client_write, {MANY_CLIENTS} clients (writes/s)"),
        }
    }
}

/// The sizes a run uses: full for `cargo bench`, tiny for the smoke run.
#[derive(Clone, Copy)]
struct Budget {
    append: Duration,
    cluster: Duration,
    rounds: usize,
}

fn main() -> Result<(), String> {
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let budget = if smoke {
        Budget {
            append: Duration::from_millis(20),
            cluster: Duration::from_millis(50),
            rounds: 1,
        }
    } else {
        Budget {
            append: APPEND_TIME,
            cluster: CLUSTER_TIME,
            rounds: ROUNDS,
        }
    };
    let dir = bench_dir()?;
    let entry_bytes = serde_json::to_vec(&entry(1_000_000))
        .map_err(|e| e.to_string())?
        .len();
    println!(
        "raft_store bench in {}; load average before: {}",
        dir.path().display(),
        load_average()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = Results::default();
    let steps: Vec<Step> = Subject::ALL
        .into_iter()
        .map(Step::Store)
        .chain([Step::Wal, Step::Paired])
        .collect();
    for round in 0..budget.rounds {
        for k in 0..steps.len() {
            let step = steps[(round + k) % steps.len()];
            let sample_dir = fresh(dir.path(), &format!("round-{round}-step-{k}"))?;
            match step {
                Step::Store(subject) => {
                    let samples = runtime.block_on(subject.measure(&sample_dir, budget))?;
                    for (metric, value) in samples {
                        results
                            .stores
                            .entry((subject, metric))
                            .or_default()
                            .push(value);
                    }
                }
                Step::Wal => {
                    let (one, many) = (sample_dir.join("w1"), sample_dir.join("wn"));
                    let time = budget.append;
                    results
                        .commit_1
                        .push(wal_commit_rate(&one, 1, entry_bytes, time)?);
                    let rate = wal_commit_rate(&many, MANY_CLIENTS, entry_bytes, time)?;
                    results.commit_many.push(rate);
                    let path = sample_dir.join("wa");
                    let rate = runtime.block_on(wal_commit_async_rate(&path, entry_bytes, time))?;
                    results.commit_async.push(rate);
                }
                Step::Paired => {
                    let ratio = runtime.block_on(paired_append_over_commit(
                        &sample_dir,
                        entry_bytes,
                        budget.append,
                    ))?;
                    results.paired.push(ratio);
                }
            }
            std::fs::remove_dir_all(&sample_dir).map_err(|e| e.to_string())?;
        }
        eprintln!("round {} of {} done", round + 1, budget.rounds);
    }
    if smoke {
        println!("raft_store: smoke run ok");
        return Ok(());
    }
    println!("load average after: {}", load_average());
    println!(
        "entries of {entry_bytes} B as JSON (the Wal::commit payload is as long); \
         medians of {} rounds",
        budget.rounds
    );
    results.print();
    Ok(())
}

/// One step of a round.
#[derive(Clone, Copy)]
enum Step {
    /// Every metric of one log store.
    Store(Subject),
    /// The raw `Wal` commit rates.
    Wal,
    /// The Walden store's awaited 1-entry append against raw `Wal::commit`, interleaved.
    Paired,
}

/// Every sample taken.
#[derive(Default)]
struct Results {
    stores: BTreeMap<(Subject, Metric), Vec<f64>>,
    /// Raw `Wal::commit` from 1 thread, commits/s.
    commit_1: Vec<f64>,
    /// Raw `Wal::commit` from `MANY_CLIENTS` threads, commits/s.
    commit_many: Vec<f64>,
    /// Raw `Wal::commit_async` from one task, commits/s.
    commit_async: Vec<f64>,
    /// The Walden store's awaited 1-entry append time over raw `Wal::commit`'s, interleaved.
    paired: Vec<f64>,
}

impl Results {
    fn print(&self) {
        let of = |subject, metric| median(&self.stores[&(subject, metric)]);
        print!("{:<42}", "");
        for subject in Subject::ALL {
            print!("{:>14}", subject.name());
        }
        println!();
        for metric in Metric::ALL {
            print!("{:<42}", metric.label());
            for subject in Subject::ALL {
                print!("{:>14.1}", of(subject, metric));
            }
            println!();
        }
        let rows = [
            (
                "raw Wal::commit, 1 thread (µs/commit)".to_string(),
                1e6 / median(&self.commit_1),
            ),
            (
                format!("raw Wal::commit, {MANY_CLIENTS} threads (commits/s)"),
                median(&self.commit_many),
            ),
            (
                "raw Wal::commit_async, 1 task (µs/commit)".to_string(),
                1e6 / median(&self.commit_async),
            ),
        ];
        for (label, value) in rows {
            println!("{label:<42}{value:>14.1}");
        }
        let throughput =
            of(Subject::Walden, Metric::ClientsMany) / of(Subject::Mem, Metric::ClientsMany);
        println!(
            "walden store / mem store, client_write at {MANY_CLIENTS} clients: {throughput:.2}x \
             (goal >= 0.5x)"
        );
        println!(
            "walden store awaited 1-entry append / raw Wal::commit (1 thread): {:.2}x interleaved \
             (goal <= 1.2x); from the table's medians: {:.2}x over Wal::commit, {:.2}x over \
             Wal::commit_async",
            median(&self.paired),
            of(Subject::Walden, Metric::Append1) / (1e6 / median(&self.commit_1)),
            of(Subject::Walden, Metric::Append1) / (1e6 / median(&self.commit_async)),
        );
    }
}

/// A log store measured.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Subject {
    /// The in-memory baseline.
    Mem,
    /// `walden_raft::LogStore`, default options.
    Walden,
}

impl Subject {
    const ALL: [Subject; 2] = [Subject::Mem, Subject::Walden];

    fn name(self) -> &'static str {
        match self {
            Subject::Mem => MemLogs::default().name(),
            Subject::Walden => WaldenLogs.name(),
        }
    }

    /// One sample of every metric, each on a fresh directory under `dir`.
    async fn measure(self, dir: &Path, budget: Budget) -> Result<Vec<(Metric, f64)>, String> {
        match self {
            Subject::Mem => measure::<MemLogs>(dir, budget).await,
            Subject::Walden => measure::<WaldenLogs>(dir, budget).await,
        }
    }
}

/// One sample of every metric for the log stores `S` opens, each on a fresh directory.
async fn measure<S: LogStores + Default>(
    dir: &Path,
    budget: Budget,
) -> Result<Vec<(Metric, f64)>, String> {
    Ok(vec![
        (
            Metric::Append1,
            append_calls::<S>(&dir.join("a1"), 1, budget.append).await?,
        ),
        (
            Metric::Append100,
            append_calls::<S>(&dir.join("a100"), 100, budget.append).await?,
        ),
        (
            Metric::Clients1,
            client_writes::<S>(&dir.join("c1"), 1, budget.cluster).await?,
        ),
        (
            Metric::ClientsMany,
            client_writes::<S>(&dir.join("cn"), MANY_CLIENTS, budget.cluster).await?,
        ),
    ])
}

/// The bench's entry at `index`: a `Set` of a key to a `VALUE_BYTES` value, in term 1.
fn entry(index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Request::set(
            format!("key-{index}"),
            "v".repeat(VALUE_BYTES),
        )),
    }
}

/// µs per awaited append of `batch` entries to a new store in `dir`, over `time`.
async fn append_calls<S: LogStores + Default>(
    dir: &Path,
    batch: u64,
    time: Duration,
) -> Result<f64, String> {
    let stores = S::default();
    let mut store = stores.open(dir)?;
    let mut next = 0;
    let mut calls = 0u64;
    let start = Instant::now();
    while start.elapsed() < time && next < MAX_ENTRIES {
        let entries: Vec<Entry> = (next..next + batch).map(entry).collect();
        next += batch;
        store
            .blocking_append(entries)
            .await
            .map_err(|e| e.to_string())?;
        calls += 1;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / calls as f64)
}

/// Writes/s through a new one-node cluster in `dir` with `clients` concurrent writers, over
/// `time`.
async fn client_writes<S: LogStores + Default>(
    dir: &Path,
    clients: usize,
    time: Duration,
) -> Result<f64, String> {
    let stores = S::default();
    let log = stores.open(&dir.join("log"))?;
    let machine = KvStateMachine::open(dir.join("sm")).map_err(|e| e.to_string())?;
    let router = Router::new();
    let raft = Raft::new(1, config()?, router.network(1), log, machine)
        .await
        .map_err(|e| e.to_string())?;
    router.add(1, raft.clone());
    let members = BTreeMap::from([(1, BasicNode::new("node-1"))]);
    raft.initialize(members).await.map_err(|e| e.to_string())?;
    raft.wait(Some(Duration::from_secs(10)))
        .state(ServerState::Leader, "the one node leads")
        .await
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let deadline = start + time;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let raft = raft.clone();
            tokio::spawn(async move {
                let mut written = 0u64;
                while Instant::now() < deadline {
                    let key = format!("client-{client}-{written}");
                    raft.client_write(Request::set(key, "v".repeat(VALUE_BYTES)))
                        .await
                        .map_err(|e| e.to_string())?;
                    written += 1;
                }
                Ok::<u64, String>(written)
            })
        })
        .collect();
    let mut written = 0;
    for task in tasks {
        written += task.await.map_err(|e| e.to_string())??;
    }
    let seconds = start.elapsed().as_secs_f64();
    raft.shutdown().await.map_err(|e| e.to_string())?;
    Ok(written as f64 / seconds)
}

/// Commits/s of `walden::Wal::commit` of `payload_bytes` from `threads` threads on a new log in
/// `dir`, over `time`.
fn wal_commit_rate(
    dir: &Path,
    threads: usize,
    payload_bytes: usize,
    time: Duration,
) -> Result<f64, String> {
    let wal = Arc::new(walden::Wal::open(dir).map_err(|e| e.to_string())?);
    let payload = vec![0xA5u8; payload_bytes];
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (wal, payload) = (Arc::clone(&wal), payload.clone());
            let (stop, commits) = (Arc::clone(&stop), Arc::clone(&commits));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    wal.commit(&payload).map_err(|e| e.to_string())?;
                    commits.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    std::thread::sleep(time);
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle
            .join()
            .map_err(|_| "a commit thread panicked".to_string())??;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(commits.load(Ordering::Relaxed) as f64 / seconds)
}

/// How many slices of each kind `paired_append_over_commit` alternates.
const PAIRED_SLICES: u32 = 10;

/// The Walden store's awaited 1-entry append time over raw `Wal::commit`'s (entry-sized payload,
/// 1 caller), on a new store and a new log under `dir`, measured in alternating slices of
/// `time / PAIRED_SLICES` each so that both see the same disk and the same neighbours.
async fn paired_append_over_commit(
    dir: &Path,
    payload_bytes: usize,
    time: Duration,
) -> Result<f64, String> {
    let mut store = WaldenLogs.open(&dir.join("store"))?;
    let wal = walden::Wal::open(dir.join("wal")).map_err(|e| e.to_string())?;
    let payload = vec![0xA5u8; payload_bytes];
    let slice = time / PAIRED_SLICES;
    let (mut appends, mut append_time) = (0u64, Duration::ZERO);
    let (mut commits, mut commit_time) = (0u64, Duration::ZERO);
    for _ in 0..PAIRED_SLICES {
        let start = Instant::now();
        while start.elapsed() < slice && appends < MAX_ENTRIES {
            store
                .blocking_append([entry(appends)])
                .await
                .map_err(|e| e.to_string())?;
            appends += 1;
        }
        append_time += start.elapsed();
        let start = Instant::now();
        while start.elapsed() < slice {
            // Blocks this task's thread on the fsync, as a synchronous committer does.
            wal.commit(&payload).map_err(|e| e.to_string())?;
            commits += 1;
        }
        commit_time += start.elapsed();
    }
    let per_append = append_time.as_secs_f64() / appends as f64;
    let per_commit = commit_time.as_secs_f64() / commits as f64;
    Ok(per_append / per_commit)
}

/// Commits/s of `walden::Wal::commit_async` of `payload_bytes`, awaited one at a time from one
/// task, on a new log in `dir`, over `time`.
async fn wal_commit_async_rate(
    dir: &Path,
    payload_bytes: usize,
    time: Duration,
) -> Result<f64, String> {
    let wal = Arc::new(walden::Wal::open(dir).map_err(|e| e.to_string())?);
    let payload = vec![0xA5u8; payload_bytes];
    let mut commits = 0u64;
    let start = Instant::now();
    while start.elapsed() < time {
        wal.commit_async(&payload)
            .await
            .map_err(|e| e.to_string())?;
        commits += 1;
    }
    Ok(commits as f64 / start.elapsed().as_secs_f64())
}

/// The median (the upper one for an even count) of `values`, which must not be empty.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A temporary directory on the disk being measured: under `WALDEN_BENCH_DIR` if set, else under
/// the workspace's `target/`.
fn bench_dir() -> Result<tempfile::TempDir, String> {
    let parent = std::env::var_os("WALDEN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
    tempfile::tempdir_in(parent).map_err(|e| e.to_string())
}

/// `dir/name`, created empty.
fn fresh(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The machine's 1, 5 and 15 minute load averages, or "unknown": the machine is shared.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_string())
}
