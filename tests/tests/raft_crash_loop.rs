//! A node's `walden-raft` log store under SIGKILL: a child process performs random storage calls
//! (append, truncate, purge, vote) and is killed at a random moment, over and over; after each
//! kill the store is reopened and compared with an independent model of every acknowledged call
//! (`walden_tests::raft_crash`): all of them are present, and nothing else but the one in flight.
//!
//! `WALDEN_RAFT_CRASH_SEED` and `WALDEN_RAFT_CRASH_CYCLES` replay or lengthen a run.

use openraft::storage::RaftLogStorage;
use openraft::{EntryPayload, RaftLogReader};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use walden_raft::LogStore;
use walden_tests::killed_child::run_until_killed;
use walden_tests::raft_crash::{wal_options, CrashConfig, Model, Op};
use walden_tests::Rng;

const SEED_DEFAULT: u64 = 0x7261_6674_2d6b_696c;
const CYCLES_DEFAULT: u64 = 40;
/// The longest wait for the child's acks before the kill (it normally acks every millisecond).
const ACK_WAIT_MAX: Duration = Duration::from_secs(10);

/// When the parent kills a child.
#[derive(Clone, Copy, Debug)]
enum KillPlan {
    /// This long after spawning it (maybe before the store is even open).
    AfterSpawn(Duration),
    /// Once it printed this many acks, then after a delay.
    AfterAcks(usize, Duration),
}

impl KillPlan {
    fn draw(rng: &mut Rng) -> KillPlan {
        if rng.chance(1, 5) {
            KillPlan::AfterSpawn(Duration::from_millis(rng.below(30)))
        } else {
            KillPlan::AfterAcks(
                rng.below(40) as usize,
                Duration::from_micros(rng.below(2_000)),
            )
        }
    }
}

#[derive(Default)]
struct Totals {
    acked: u64,
    in_flight_found: u64,
    in_flight_not_found: u64,
    max_entries: usize,
    segments_max: usize,
}

#[test]
fn every_acknowledged_storage_call_survives_repeated_sigkills() {
    let seed = env_u64("WALDEN_RAFT_CRASH_SEED", SEED_DEFAULT);
    let cycles = env_u64("WALDEN_RAFT_CRASH_CYCLES", CYCLES_DEFAULT);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("raft-log");
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let mut totals = Totals::default();
    for cycle in 0..cycles {
        let plan = KillPlan::draw(&mut rng);
        let outcome = run_child(&log, seed, cycle, plan)
            .and_then(|lines| fold(&lines, &model, cycle))
            .and_then(|(acked, in_flight, count)| {
                totals.acked += count;
                check(&log, &acked, in_flight.as_ref(), cycle, &mut totals)
            });
        match outcome {
            Ok(found) => model = found,
            Err(what) => {
                let kept = dir.keep();
                panic!(
                    "raft crash loop failed: seed {seed:#x}, cycle {cycle} ({plan:?}): {what}\n\
                     the store is kept in {}\nreplay with WALDEN_RAFT_CRASH_SEED={seed:#x} \
                     WALDEN_RAFT_CRASH_CYCLES={}",
                    kept.display(),
                    cycle + 1
                );
            }
        }
    }
    println!(
        "raft crash loop: {cycles} cycles in {:.1} s, seed {seed:#x}: {} calls acknowledged; the \
         call in flight found {} times, not found {} times; up to {} entries and {} segments",
        started.elapsed().as_secs_f64(),
        totals.acked,
        totals.in_flight_found,
        totals.in_flight_not_found,
        totals.max_entries,
        totals.segments_max,
    );
    assert!(
        totals.acked > cycles,
        "the children acknowledged only {} calls in {cycles} cycles",
        totals.acked
    );
}

/// Spawns the child for `cycle`, kills it as `plan` says, and returns the whole lines it printed.
fn run_child(log: &Path, seed: u64, cycle: u64, plan: KillPlan) -> Result<Vec<String>, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_raft_crash_child"));
    command
        .arg(log)
        .arg(seed.to_string())
        .arg(cycle.to_string());
    run_until_killed(command, "raft_crash_child", |lines| match plan {
        KillPlan::AfterSpawn(delay) => {
            std::thread::sleep(delay);
            Ok(())
        }
        KillPlan::AfterAcks(acks, delay) => {
            let mut seen = 0;
            while seen < acks {
                let line = lines
                    .recv_timeout(ACK_WAIT_MAX)
                    .map_err(|err| format!("waiting for the child's acks: {err}"))?;
                seen += usize::from(line == "ack");
            }
            std::thread::sleep(delay);
            Ok(())
        }
    })
}

/// Applies the child's acknowledged calls to `model`; returns the model after them, the call in
/// flight at the kill (begun, not acknowledged) and how many were acknowledged.
fn fold(lines: &[String], model: &Model, cycle: u64) -> Result<(Model, Option<Op>, u64), String> {
    let mut lines = lines.iter();
    let mut model = model.clone();
    let mut in_flight = None;
    let mut acked = 0;
    match lines.next().map(String::as_str) {
        None => return Ok((model, None, 0)),
        Some(ready) => {
            let next = ready
                .strip_prefix("ready ")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("the child's first line is {ready:?}"))?;
            if next != model.next_index() {
                return Err(format!(
                    "the child found the next index {next}, the model says {}",
                    model.next_index()
                ));
            }
        }
    }
    for line in lines {
        match (line.strip_prefix("begin "), in_flight.take()) {
            (Some(op), None) => in_flight = Some(Op::parse(op)?),
            (None, Some(op)) if line == "ack" => {
                model = model.after(&op, cycle, u64::MAX);
                acked += 1;
            }
            _ => return Err(format!("unexpected line {line:?}")),
        }
    }
    Ok((model, in_flight, acked))
}

/// Reopens the store and checks it holds `acked` (possibly with the call in flight); returns
/// what it holds.
fn check(
    log: &Path,
    acked: &Model,
    in_flight: Option<&Op>,
    cycle: u64,
    totals: &mut Totals,
) -> Result<Model, String> {
    let found = read_store(log)?;
    let candidates = acked.candidates(in_flight, cycle);
    match candidates.iter().position(|candidate| *candidate == found) {
        Some(0) => totals.in_flight_not_found += u64::from(in_flight.is_some()),
        Some(_) => totals.in_flight_found += 1,
        None => {
            return Err(format!(
                "after recovery the store holds {found:?}; every acknowledged call (and \
                 perhaps {in_flight:?}) gives one of {candidates:?}"
            ))
        }
    }
    totals.max_entries = totals.max_entries.max(found.entries.len());
    let segments = std::fs::read_dir(log)
        .map_err(|err| format!("listing the store: {err}"))?
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|ext| ext == "wal"))
        })
        .count();
    totals.segments_max = totals.segments_max.max(segments);
    Ok(found)
}

/// What the store in `log` holds, read through its openraft API.
fn read_store(log: &Path) -> Result<Model, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|err| err.to_string())?;
    runtime.block_on(async {
        let mut store = LogStore::<CrashConfig>::open_with(log, wal_options())
            .map_err(|err| format!("reopening the store: {err}"))?;
        let state = store.get_log_state().await.map_err(|e| e.to_string())?;
        let vote = store.read_vote().await.map_err(|e| e.to_string())?;
        let entries = store
            .try_get_log_entries(..)
            .await
            .map_err(|e| e.to_string())?;
        let mut model = Model {
            purged: state
                .last_purged_log_id
                .map(|id| (id.leader_id.term, id.index)),
            vote: vote.map(|vote| vote.leader_id.term),
            ..Model::default()
        };
        for entry in entries {
            let EntryPayload::Normal(payload) = entry.payload else {
                return Err(format!("entry {} is not a normal entry", entry.log_id));
            };
            model
                .entries
                .insert(entry.log_id.index, (entry.log_id.leader_id.term, payload));
        }
        store
            .close()
            .map_err(|err| format!("closing the store: {err}"))?;
        Ok(model)
    })
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number"))
        }
        Err(_) => default,
    }
}
