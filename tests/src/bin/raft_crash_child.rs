//! The child of the `raft_crash_loop` test: opens a `walden-raft` log store in the directory
//! given as the first argument and performs random storage calls on it (append, truncate,
//! purge, vote) until its parent kills it with SIGKILL.
//!
//! Usage: `raft_crash_child DIR SEED CYCLE`. It prints `ready NEXT` (the next append index it
//! found) once the store is open, then `begin OP` before each call and `ack` once the call
//! returned (an append: once openraft's flush callback said it is durable). Calls are made one
//! at a time, so at most one is in flight when the kill lands.

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};
use std::time::{Duration, Instant};
use walden_raft::LogStore;
use walden_tests::raft_crash::{payload, wal_options, CrashConfig, Op, NODE};
use walden_tests::Rng;

/// How long a child runs before it concludes its parent is gone.
const LIFETIME_MAX: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, seed, cycle] = args.as_slice() else {
        eprintln!("usage: raft_crash_child DIR SEED CYCLE");
        std::process::exit(2);
    };
    let seed: u64 = seed.parse().expect("SEED is a number");
    let cycle: u64 = cycle.parse().expect("CYCLE is a number");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(dir, seed, cycle));
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, NODE), index)
}

async fn run(dir: &str, seed: u64, cycle: u64) {
    let mut rng = Rng::new(seed ^ cycle.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut store = LogStore::<CrashConfig>::open_with(dir, wal_options()).expect("open the store");
    let state = store.get_log_state().await.expect("the log state");
    let vote = store.read_vote().await.expect("the vote");
    let mut next = state.last_log_id.as_ref().map_or(0, |id| id.index + 1);
    let mut lowest = state
        .last_purged_log_id
        .as_ref()
        .map_or(0, |id| id.index + 1);
    let mut term = vote.map_or(1, |vote| vote.leader_id.term);
    println!("ready {next}");
    let started = Instant::now();
    while started.elapsed() < LIFETIME_MAX {
        let roll = rng.below(100);
        let op = if roll < 55 || next <= lowest {
            Op::Append {
                first: next,
                count: rng.in_range(1..9),
                term,
            }
        } else if roll < 70 {
            Op::Truncate {
                index: rng.in_range(lowest..next),
            }
        } else if roll < 82 {
            Op::Purge {
                index: rng.in_range(lowest..next + 2),
                term,
            }
        } else {
            Op::Vote {
                term: term + rng.below(2),
            }
        };
        println!("begin {op}");
        match op {
            Op::Append { first, count, term } => {
                let entries = (first..first + count).map(|index| Entry::<CrashConfig> {
                    log_id: log_id(term, index),
                    payload: EntryPayload::Normal(payload(cycle, index, term)),
                });
                store.blocking_append(entries).await.expect("append");
                next = first + count;
            }
            Op::Truncate { index } => {
                store.truncate(log_id(term, index)).await.expect("truncate");
                next = index;
            }
            Op::Purge { index, term } => {
                store.purge(log_id(term, index)).await.expect("purge");
                lowest = index + 1;
                next = next.max(lowest);
            }
            Op::Vote { term: voted } => {
                store
                    .save_vote(&Vote::new(voted, NODE))
                    .await
                    .expect("save the vote");
                term = voted;
            }
        }
        println!("ack");
    }
    eprintln!("raft_crash_child: no SIGKILL within {LIFETIME_MAX:?}; exiting");
    std::process::exit(3);
}
