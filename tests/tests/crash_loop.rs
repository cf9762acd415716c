//! The process crash loop: a child process (`crash_child`) commits records from several threads
//! and prints an ack for each; the test SIGKILLs it at a random moment (during open and recovery,
//! mid-commit, mid-rotation), reopens the log and checks that no acknowledged record was lost and
//! that the log is a gap-free prefix of what was appended, holding nothing that was never
//! written (the checker is `walden_tests::crash::check_cycle`). Then it starts the next child on
//! the same directory.
//!
//! A SIGKILL loses what the process had not handed to the kernel yet, never what the kernel has:
//! this tests the process-crash contract, not power loss (that is `MemStorage`'s job).
//!
//! `WALDEN_CRASH_CYCLES` sets the number of cycles (default 200; the long run is 10000) and
//! `WALDEN_CRASH_SEED` the seed of the kill schedule (decimal or `0x` hex). Run with
//! `-- --nocapture` to see the summary line.

#![cfg(unix)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};
use walden::{LogRecord, Wal};
use walden_core::{Lsn, FRAME_HEADER_LEN, MARKER_FRAME_LEN};
use walden_tests::crash::{
    check_cycle, wal_options, Ack, ChildLine, LogModel, Observed, RecordId, CHILD_THREADS,
};
use walden_tests::killed_child::run_until_killed;
use walden_tests::Rng;

/// Cycles run by `cargo test`.
const CYCLES_DEFAULT: u64 = 200;

/// The seed used unless `WALDEN_CRASH_SEED` says otherwise.
const SEED_DEFAULT: u64 = 0x00C0_FFEE;

/// The longest a child runs after printing `ready` before it is killed.
const RUN_AFTER_READY_US_MAX: u64 = 30_000;

/// The longest a child runs after being spawned when it is killed without waiting for `ready`:
/// about as long as starting and opening the log takes, so these kills land in exec, open and
/// recovery.
const KILL_AFTER_SPAWN_US_MAX: u64 = 4_000;

/// The parent checkpoints the whole log (all sealed segments) every this many cycles, so the
/// log stays small however long the loop runs.
const CHECKPOINT_EVERY_CYCLES: u64 = 4;

/// How long the parent waits for a child's first line before failing.
const FIRST_LINE_WAIT_MAX: Duration = Duration::from_secs(10);

/// When a cycle's child is killed.
#[derive(Clone, Copy, Debug)]
enum KillPlan {
    /// This long after it was spawned, whether or not the log is open yet.
    AfterSpawn(Duration),
    /// This long after it printed `ready` (0 included).
    AfterReady(Duration),
}

impl KillPlan {
    fn draw(rng: &mut Rng) -> KillPlan {
        if rng.chance(1, 8) {
            KillPlan::AfterSpawn(Duration::from_micros(
                rng.below(KILL_AFTER_SPAWN_US_MAX + 1),
            ))
        } else if rng.chance(1, 8) {
            KillPlan::AfterReady(Duration::ZERO)
        } else {
            KillPlan::AfterReady(Duration::from_micros(rng.below(RUN_AFTER_READY_US_MAX + 1)))
        }
    }
}

/// Counts over the whole run, for the summary line.
#[derive(Debug, Default)]
struct Totals {
    acked: usize,
    found: usize,
    unacked_found: usize,
    unacked_found_max: usize,
    kills_before_ready: u64,
    kills_before_first_ack: u64,
    segments: BTreeSet<Lsn>,
}

/// A failed check: in which cycle, and what differs.
struct Failure {
    cycle: u64,
    what: String,
}

#[test]
fn acknowledged_records_survive_repeated_sigkills() {
    let seed = env_u64("WALDEN_CRASH_SEED", SEED_DEFAULT);
    let cycles = env_u64("WALDEN_CRASH_CYCLES", CYCLES_DEFAULT);
    println!(
        "crash loop: seed {seed:#x}, {cycles} cycles (WALDEN_CRASH_SEED, WALDEN_CRASH_CYCLES)"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let started = Instant::now();
    match crash_loop(&dir.path().join("log"), seed, cycles) {
        Ok(totals) => println!(
            "crash loop: {cycles} cycles in {:.1} s, seed {seed:#x}: {} records acknowledged, {} \
             found ({} durable but not acknowledged, at most {} in one cycle); {} kills before \
             the log was open, {} before the first ack; {} segments seen",
            started.elapsed().as_secs_f64(),
            totals.acked,
            totals.found,
            totals.unacked_found,
            totals.unacked_found_max,
            totals.kills_before_ready,
            totals.kills_before_first_ack,
            totals.segments.len(),
        ),
        Err(Failure { cycle, what }) => {
            let kept = dir.keep();
            panic!(
                "crash loop failed: seed {seed:#x}, cycle {cycle}: {what}\nthe log is kept in \
                 {}\nreplay the kill schedule with WALDEN_CRASH_SEED={seed:#x} \
                 WALDEN_CRASH_CYCLES={} (thread timing differs from run to run)",
                kept.display(),
                cycle + 1
            );
        }
    }
}

/// Runs `cycles` kill-and-check cycles on the log in `log_dir`.
fn crash_loop(log_dir: &Path, seed: u64, cycles: u64) -> Result<Totals, Failure> {
    let mut rng = Rng::new(seed);
    let mut model = LogModel::new();
    let mut totals = Totals::default();
    for cycle in 0..cycles {
        let fail = |what: String| Failure { cycle, what };
        let plan = KillPlan::draw(&mut rng);
        let lines = run_child(log_dir, cycle, plan).map_err(fail)?;
        let acks = check_lines(&lines, &model).map_err(fail)?;
        let checkpoint = cycle % CHECKPOINT_EVERY_CYCLES == CHECKPOINT_EVERY_CYCLES - 1;
        model = reopen_and_check(log_dir, &model, cycle, &acks, checkpoint, &mut totals)
            .map_err(fail)?;
        totals.kills_before_ready += u64::from(lines.is_empty());
        totals.kills_before_first_ack += u64::from(acks.is_empty());
    }
    Ok(totals)
}

/// Spawns the child for `cycle`, kills it as `plan` says, and returns the lines it printed. Fails
/// if the child did not start, exited by itself, or was not killed by the SIGKILL.
fn run_child(log_dir: &Path, cycle: u64, plan: KillPlan) -> Result<Vec<ChildLine>, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crash_child"));
    command.arg(log_dir).arg(cycle.to_string());
    let lines = run_until_killed(command, "the child", |lines| match plan {
        KillPlan::AfterSpawn(delay) => {
            std::thread::sleep(delay);
            Ok(())
        }
        KillPlan::AfterReady(delay) => match lines.recv_timeout(FIRST_LINE_WAIT_MAX) {
            Ok(_) => {
                std::thread::sleep(delay);
                Ok(())
            }
            Err(RecvTimeoutError::Disconnected) => Err(String::from(
                "the child closed its stdout without printing a line",
            )),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "the child printed nothing in {FIRST_LINE_WAIT_MAX:?}"
            )),
        },
    })?;
    lines.iter().map(|line| ChildLine::parse(line)).collect()
}

/// Checks the child's lines (at most one `ready`, first, naming the log as the parent left it;
/// then acks) and returns the acks.
fn check_lines(lines: &[ChildLine], model: &LogModel) -> Result<Vec<Ack>, String> {
    let mut acks = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        match *line {
            ChildLine::Ready { first, current } if index == 0 => {
                if (first, current) != (model.first(), model.end()) {
                    return Err(format!(
                        "the child opened the log as [{first}, {current}), but the parent had \
                         closed it as [{}, {})",
                        model.first(),
                        model.end()
                    ));
                }
            }
            ChildLine::Ack(ack) if index > 0 => acks.push(ack),
            _ => return Err(format!("the child printed {line:?} as line {index}")),
        }
    }
    Ok(acks)
}

/// Reopens the log after a kill, checks it against `model` and the acks, checkpoints it if
/// asked, closes it, and returns the new model.
fn reopen_and_check(
    log_dir: &Path,
    model: &LogModel,
    cycle: u64,
    acks: &[Ack],
    checkpoint: bool,
    totals: &mut Totals,
) -> Result<LogModel, String> {
    let wal = Wal::open_with(log_dir, wal_options())
        .map_err(|err| format!("reopening the log after the kill: {err}"))?;
    let (first_lsn, end_lsn) = (wal.first_lsn(), wal.current_lsn());
    if wal.committed_lsn() != end_lsn {
        return Err(format!(
            "after reopening, the committed LSN is {} but the current LSN is {end_lsn}: recovered \
             records must be durable and readable",
            wal.committed_lsn()
        ));
    }
    let records = wal
        .read_from(first_lsn)
        .and_then(|records| records.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("reading the log from its first LSN {first_lsn}: {err}"))?;
    let observed = Observed {
        first_lsn,
        end_lsn,
        records: &records,
    };
    let report = check_cycle(model, cycle, &observed, acks)?;
    totals.acked += report.acked;
    totals.found += report.found;
    totals.unacked_found += report.unacked_found;
    totals.unacked_found_max = totals.unacked_found_max.max(report.unacked_found);
    totals.segments.extend(wal.segments());
    let mut model = report.model;
    if checkpoint {
        let first = wal
            .checkpoint(end_lsn)
            .map_err(|err| format!("checkpointing up to {end_lsn}: {err}"))?;
        model.checkpointed(first)?;
        if wal.first_lsn() != first {
            return Err(format!(
                "the checkpoint returned first LSN {first}, but first_lsn() is {}",
                wal.first_lsn()
            ));
        }
    }
    let closed = wal
        .close()
        .map_err(|err| format!("closing the log: {err}"))?;
    if closed != end_lsn {
        return Err(format!(
            "closing the log returned durable LSN {closed}, expected its end {end_lsn}"
        ));
    }
    Ok(model)
}

/// The number in environment variable `name` (decimal, or hex after `0x`), or `default`.
fn env_u64(name: &str, default: u64) -> u64 {
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number"))
}

// The checker itself: each kind of violation is reported, so the loop cannot pass vacuously.

// The synthetic logs below use threads 0 to 3.
const _: () = assert!(CHILD_THREADS >= 4);

/// Records of `cycle` for `(thread, seq)` pairs, laid end to end from `start`.
fn chain(start: Lsn, cycle: u64, ids: &[(u32, u64)]) -> Vec<LogRecord> {
    let mut lsn = start;
    ids.iter()
        .map(|&(thread, seq)| {
            let payload = RecordId { cycle, thread, seq }.payload();
            let record = LogRecord { lsn, payload };
            lsn = Lsn::new(lsn.get() + (FRAME_HEADER_LEN + record.payload.len()) as u64);
            record
        })
        .collect()
}

fn end_of(records: &[LogRecord], start: Lsn) -> Lsn {
    records.last().map_or(start, |last| {
        Lsn::new(last.lsn.get() + (FRAME_HEADER_LEN + last.payload.len()) as u64)
    })
}

fn ack(record: &LogRecord) -> Ack {
    let id = RecordId::parse(&record.payload).expect("a payload built by `chain`");
    Ack {
        lsn: record.lsn,
        thread: id.thread,
        seq: id.seq,
    }
}

fn check(before: &LogModel, cycle: u64, records: &[LogRecord], acks: &[Ack]) -> Result<(), String> {
    let observed = Observed {
        first_lsn: before.first(),
        end_lsn: end_of(records, before.first()),
        records,
    };
    check_cycle(before, cycle, &observed, acks).map(|_| ())
}

/// A log after cycle 0: threads 0 and 1 wrote seqs 0 and 1, all acknowledged.
fn after_cycle_0() -> (LogModel, Vec<LogRecord>) {
    let records = chain(Lsn::ZERO, 0, &[(0, 0), (1, 0), (0, 1), (1, 1)]);
    let acks: Vec<Ack> = records.iter().map(ack).collect();
    let observed = Observed {
        first_lsn: Lsn::ZERO,
        end_lsn: end_of(&records, Lsn::ZERO),
        records: &records,
    };
    let report = check_cycle(&LogModel::new(), 0, &observed, &acks).expect("a consistent log");
    assert_eq!(
        (report.found, report.acked, report.unacked_found),
        (4, 4, 0)
    );
    (report.model, records)
}

#[test]
fn checker_accepts_a_consistent_log_with_unacknowledged_durable_records() {
    let (model, mut records) = after_cycle_0();
    let new = chain(model.end(), 1, &[(2, 0), (3, 0), (2, 1)]);
    // (2, 1) is durable but its ack was never printed: allowed, at most one per thread.
    let acks = [ack(&new[0]), ack(&new[1])];
    records.extend(new);
    check(&model, 1, &records, &acks).expect("a consistent log");
}

/// A drain after a sync ends its batch with a sync marker (format v2): one marker's LSN space
/// between two records, or after the last, is no gap.
#[test]
fn checker_accepts_one_sync_marker_between_records_and_at_the_end() {
    let (model, mut records) = after_cycle_0();
    let marker = MARKER_FRAME_LEN as u64;
    let first = chain(Lsn::new(model.end().get() + marker), 1, &[(2, 0)]);
    let second = chain(
        Lsn::new(end_of(&first, model.end()).get() + marker),
        1,
        &[(3, 0)],
    );
    let acks = [ack(&first[0]), ack(&second[0])];
    records.extend(first);
    records.extend(second);
    let observed = Observed {
        first_lsn: Lsn::ZERO,
        end_lsn: Lsn::new(end_of(&records, Lsn::ZERO).get() + marker),
        records: &records,
    };
    check_cycle(&model, 1, &observed, &acks).expect("a consistent log");
}

#[test]
fn checker_reports_each_kind_of_violation() {
    let (model, old) = after_cycle_0();
    let new = chain(model.end(), 1, &[(0, 0), (1, 0), (0, 1)]);
    let all: Vec<LogRecord> = old.iter().chain(&new).cloned().collect();
    let acks: Vec<Ack> = new.iter().map(ack).collect();
    // Cycle 0's records `old_ids`, then cycle 1's `new_ids`, laid end to end from LSN 0.
    let relaid = |old_ids: &[(u32, u64)], new_ids: &[(u32, u64)]| -> Vec<LogRecord> {
        let mut records = chain(Lsn::ZERO, 0, old_ids);
        records.extend(chain(end_of(&records, Lsn::ZERO), 1, new_ids));
        records
    };

    let mut torn = all.clone();
    torn.pop();
    let mut corrupted = all.clone();
    let last = corrupted.last_mut().expect("records");
    *last.payload.last_mut().expect("a body") ^= 1;
    let mut shifted = all.clone();
    shifted[5].lsn = Lsn::new(shifted[5].lsn.get() + 1);
    // Two sync markers' worth: a drain appends one marker at most.
    let mut shifted_twice = all.clone();
    shifted_twice[5].lsn = Lsn::new(shifted_twice[5].lsn.get() + 2 * MARKER_FRAME_LEN as u64);
    shifted_twice[6].lsn = Lsn::new(shifted_twice[6].lsn.get() + 2 * MARKER_FRAME_LEN as u64);
    let mut misplaced = acks.clone();
    misplaced[1].lsn = new[0].lsn;
    let many = [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (0, 1),
        (1, 1),
        (2, 1),
        (3, 1),
    ];
    let lost_old = relaid(&[(0, 0), (1, 0), (0, 1)], &many);
    assert!(
        end_of(&lost_old, Lsn::ZERO) > model.end(),
        "the lost case must reach past the old end"
    );

    let cases: Vec<(&str, Vec<LogRecord>, Vec<Ack>, &str)> = vec![
        (
            "acked record torn off the end",
            torn,
            acks.clone(),
            "is missing",
        ),
        (
            "acked record at another LSN",
            all.clone(),
            misplaced,
            "that LSN holds",
        ),
        (
            "ack printed out of order",
            all.clone(),
            acks[2..].to_vec(),
            "out of order",
        ),
        (
            "payload changed",
            corrupted,
            acks[..2].to_vec(),
            "never written",
        ),
        ("gap in the chain", shifted, acks.clone(), "gap"),
        ("gap of two sync markers", shifted_twice, Vec::new(), "gap"),
        (
            "seq skipped",
            relaid(&[(0, 0), (1, 0), (0, 1), (1, 1)], &[(0, 0), (0, 2)]),
            Vec::new(),
            "expected 1",
        ),
        (
            "record from the wrong cycle",
            [old.clone(), chain(model.end(), 7, &[(0, 0)])].concat(),
            Vec::new(),
            "cycle 7",
        ),
        (
            "two durable records without acks",
            relaid(&[(0, 0), (1, 0), (0, 1), (1, 1)], &[(0, 0), (0, 1), (0, 2)]),
            acks[..1].to_vec(),
            "at most one",
        ),
        (
            "earlier cycle's record lost",
            lost_old,
            Vec::new(),
            "log changed below",
        ),
        (
            "earlier cycle's records reordered",
            relaid(&[(1, 0), (0, 0), (0, 1), (1, 1)], &[(0, 0)]),
            Vec::new(),
            "log changed below",
        ),
    ];
    for (name, records, acks, expected) in cases {
        match check(&model, 1, &records, &acks) {
            Ok(()) => panic!("{name}: the checker accepted it"),
            Err(what) => assert!(
                what.contains(expected),
                "{name}: expected a message containing {expected:?}, got {what:?}"
            ),
        }
    }

    // A log shorter than when the child started, and one that starts elsewhere.
    let short = Observed {
        first_lsn: model.first(),
        end_lsn: end_of(&old[..3], Lsn::ZERO),
        records: &old[..3],
    };
    let what = check_cycle(&model, 1, &short, &[]).expect_err("a shorter log");
    assert!(what.contains("were lost"), "{what}");
    let moved = Observed {
        first_lsn: old[1].lsn,
        end_lsn: model.end(),
        records: &old[1..],
    };
    let what = check_cycle(&model, 1, &moved, &[]).expect_err("a moved start");
    assert!(what.contains("only the parent checkpoints"), "{what}");
    // An ack for a record that never reached the log, with no record of the cycle at all.
    let phantom = [Ack {
        lsn: model.end(),
        thread: 0,
        seq: 0,
    }];
    let what = check(&model, 1, &old, &phantom).expect_err("an ack with no record");
    assert!(what.contains("is missing"), "{what}");
}
