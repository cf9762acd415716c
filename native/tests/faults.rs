//! The fault matrix of the native backend: every injected I/O fault, under every operation that
//! can meet it, through `Wal::open_in` (and `WalWriter`) over `common::FaultyDir`.
//!
//! Faults: `EIO` on a write; a short write (a prefix lands, then an error); `ENOSPC` on a
//! write, on the zero fill of preallocation and on segment creation; a failed fsync with
//! Linux's semantics (the pages it covered are marked clean, so a retried fsync succeeds
//! although the data never reached the disk). Each case asserts:
//! - no false acknowledgement: nothing returns `Ok` for a record that was not made durable, and
//!   `durable_lsn()` never moves past the failure;
//! - the failing call's error names the injected error, and every later append, commit,
//!   `commit_async`, sync, `wait_durable`, checkpoint and tail returns `Error::Poisoned`, whose
//!   text says to reopen;
//! - reopening (after a process crash, or after a power cut that keeps only what was synced)
//!   recovers every acknowledged record, as a gap-free prefix of what was attempted, and
//!   commits after the reopen survive another one.
//!
//! The concurrent cases hold the leader's fsync at a gate while other committers block behind
//! it, so "every waiter gets the error" is tested with waiters that are really waiting. Faults
//! that other files already pin are not repeated: `writer.rs` (a failed sync and a failed write
//! through `MemStorage` and a read-only file), `async_commit.rs` (pending futures failing),
//! `wal.rs` (a tail waiting when a sync fails).
//!
//! The bugs this matrix found each have a test of their own at the end.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;
mod common;

use common::{
    assert_tiles, markers, open_faulty, records, Faults, FaultyDir, Syncs, WriteFault, Writes, EIO,
    ENOSPC,
};
use walden::backend::SegmentDir;
use walden::{Appended, Error, PoisonedError, Wal, WalOptions, WalWriter};
use walden_core::{
    scan_file, Codec, Durability, FileHeader, Lsn, RecoveryMode, Storage, SyncMode, BODY_OFFSET,
    FRAME_HEADER_LEN,
};

/// Records committed (and acknowledged) before a case arms its fault.
const RECORDS_BEFORE: usize = 5;
/// Operations a case runs at most while waiting for its fault to fire.
const ATTEMPTS_MAX: usize = 400;
/// Records committed after a reopen, to check they survive the next one.
const RECORDS_AFTER: usize = 3;

/// Payloads of varied length (13 to 65 bytes), so records cross preallocation steps and segment
/// boundaries at varied offsets.
fn payload(i: usize) -> Vec<u8> {
    format!("record {i:04} ").repeat(1 + i % 5).into_bytes()
}

/// The LSN just past a record.
fn end_of(lsn: Lsn, payload: &[u8]) -> Lsn {
    Lsn::new(lsn.get() + (FRAME_HEADER_LEN + payload.len()) as u64)
}

/// How the OS describes `errno` (and so how it appears in Walden's errors).
fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// Preallocation in small steps, so a few dozen records cross one.
fn small_steps() -> WalOptions {
    WalOptions {
        preallocate_bytes: 4096,
        ..WalOptions::default()
    }
}

/// Small segments, so a few dozen records rotate.
fn small_segments() -> WalOptions {
    WalOptions {
        segment_bytes: 700,
        preallocate_bytes: 512,
        ..WalOptions::default()
    }
}

/// What a case's log is driven with until the fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `commit` one record.
    Commit,
    /// `commit_async` one record, awaited on a current-thread runtime.
    CommitAsync,
    /// `append` three records, then `sync`.
    AppendThenSync,
    /// `append` one record, then `wait_durable` up to its end.
    AppendThenWaitDurable,
}

/// The fault a case arms.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Write(WriteFault),
    /// A write fault only in segments created after it is armed.
    WriteInNextSegment(WriteFault),
    Sync(Syncs),
    Create(i32),
}

impl Fault {
    fn errno(self) -> i32 {
        match self {
            Fault::Write(fault) | Fault::WriteInNextSegment(fault) => fault.errno,
            Fault::Sync(_) => EIO,
            Fault::Create(errno) => errno,
        }
    }

    fn arm(self, faults: &Faults, wal: &Wal<FaultyDir>) {
        match self {
            Fault::Write(fault) => faults.fail_write(fault),
            Fault::WriteInNextSegment(fault) => {
                let active = *wal.segments().last().expect("an active segment");
                faults.fail_write(WriteFault {
                    min_base: Lsn::new(active.get() + 1),
                    ..fault
                });
            }
            Fault::Sync(syncs) => faults.fail_sync(syncs, 0),
            Fault::Create(errno) => faults.fail_create(errno),
        }
    }
}

/// How the process ends before the log is reopened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crash {
    /// The process dies; the OS keeps everything it was handed.
    Process,
    /// The power is cut; only what successful syncs covered is on the disk.
    PowerLoss,
}

/// One row of the matrix.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    fault: Fault,
    op: Op,
    options: WalOptions,
}

const SHORT_EIO: WriteFault = WriteFault {
    errno: EIO,
    lands: 11,
    writes: Writes::Records,
    min_base: Lsn::ZERO,
    skip: 0,
};

const SHORT_ENOSPC: WriteFault = WriteFault {
    errno: ENOSPC,
    lands: 21,
    ..SHORT_EIO
};

const ENOSPC_PREALLOCATING: WriteFault = WriteFault {
    errno: ENOSPC,
    lands: 1000,
    writes: Writes::ZeroFill,
    ..SHORT_EIO
};

fn cases() -> Vec<Case> {
    let eio = WriteFault::default();
    let case = |name, fault, op, options| Case {
        name,
        fault,
        op,
        options,
    };
    vec![
        case(
            "EIO on a record write",
            Fault::Write(eio),
            Op::Commit,
            small_steps(),
        ),
        case(
            "EIO on a record write",
            Fault::Write(eio),
            Op::CommitAsync,
            small_steps(),
        ),
        case(
            "short write, then EIO",
            Fault::Write(SHORT_EIO),
            Op::AppendThenSync,
            small_steps(),
        ),
        case(
            "short write, then ENOSPC",
            Fault::Write(SHORT_ENOSPC),
            Op::Commit,
            small_steps(),
        ),
        case(
            "ENOSPC preallocating (after a partial zero fill)",
            Fault::Write(ENOSPC_PREALLOCATING),
            Op::Commit,
            small_steps(),
        ),
        case(
            "failed fsync",
            Fault::Sync(Syncs::Shared),
            Op::Commit,
            small_steps(),
        ),
        case(
            "failed fsync",
            Fault::Sync(Syncs::Shared),
            Op::AppendThenSync,
            small_steps(),
        ),
        case(
            "failed fsync",
            Fault::Sync(Syncs::Shared),
            Op::AppendThenWaitDurable,
            small_steps(),
        ),
        case(
            "failed fsync",
            Fault::Sync(Syncs::Shared),
            Op::CommitAsync,
            small_steps(),
        ),
        case(
            "rotation: failed fsync sealing a segment",
            Fault::Sync(Syncs::Own),
            Op::Commit,
            small_segments(),
        ),
        case(
            "rotation: ENOSPC creating the next segment",
            Fault::Create(ENOSPC),
            Op::Commit,
            small_segments(),
        ),
        case(
            "rotation: EIO on the first write into a new segment",
            Fault::WriteInNextSegment(eio),
            Op::Commit,
            small_segments(),
        ),
        case(
            "rotation: ENOSPC preallocating a new segment",
            Fault::WriteInNextSegment(WriteFault {
                lands: 100,
                ..ENOSPC_PREALLOCATING
            }),
            Op::AppendThenSync,
            small_segments(),
        ),
    ]
}

/// Prevents false acknowledgements and unrecoverable logs after any injected fault: runs every
/// case of the matrix, once with a process crash and once with a power cut before reopening.
#[test]
fn every_fault_fails_its_operation_poisons_the_log_and_reopening_recovers() {
    for case in cases() {
        for crash in [Crash::Process, Crash::PowerLoss] {
            run_case(case, crash);
        }
    }
}

/// Prevents a failed write from being acknowledged in `Buffered` mode, where a commit returns
/// once its record is handed to the OS (and so survives a process crash, not a power cut).
#[test]
fn buffered_mode_fails_and_poisons_on_a_write_fault_and_recovers_after_a_process_crash() {
    let buffered = WalOptions {
        durability: Durability::Buffered,
        ..small_steps()
    };
    for (name, fault) in [
        ("EIO on a record write", WriteFault::default()),
        ("short write, then ENOSPC", SHORT_ENOSPC),
    ] {
        let case = Case {
            name,
            fault: Fault::Write(fault),
            op: Op::Commit,
            options: buffered,
        };
        run_case(case, Crash::Process);
    }
}

/// Runs `op` once on `wal`; returns the records it acknowledged. Pushes every payload it tries
/// to `attempted`, in LSN order (one thread: reservations are in call order).
fn attempt(
    op: Op,
    wal: &Arc<Wal<FaultyDir>>,
    runtime: &tokio::runtime::Runtime,
    attempted: &mut Vec<Vec<u8>>,
) -> Result<Vec<(Lsn, Vec<u8>)>, Error> {
    let mut next = || {
        let bytes = payload(attempted.len());
        attempted.push(bytes.clone());
        bytes
    };
    match op {
        Op::Commit => {
            let bytes = next();
            Ok(vec![(wal.commit(&bytes)?.lsn(), bytes)])
        }
        Op::CommitAsync => {
            let bytes = next();
            Ok(vec![(
                runtime.block_on(wal.commit_async(&bytes))?.lsn(),
                bytes,
            )])
        }
        Op::AppendThenSync => {
            let mut appended = Vec::new();
            for _ in 0..3 {
                let bytes = next();
                appended.push((wal.append(&bytes)?.lsn(), bytes));
            }
            wal.sync()?;
            Ok(appended)
        }
        Op::AppendThenWaitDurable => {
            let bytes = next();
            let appended = wal.append(&bytes)?;
            assert_eq!(appended.end(), end_of(appended.lsn(), &bytes));
            wal.wait_durable(appended)?;
            Ok(vec![(appended.lsn(), bytes)])
        }
    }
}

/// Runs one case: commits a few records, arms the fault, drives `case.op` until it fails, checks
/// the failure and the poisoning, then ends the process per `crash`, reopens, checks what was
/// recovered, commits again, and checks that survives one more reopen.
fn run_case(case: Case, crash: Crash) {
    let context = format!("{} / {:?} / {crash:?}", case.name, case.op);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("log");
    let faults = Arc::new(Faults::default());
    let wal = Arc::new(open_faulty(&path, &faults, case.options).expect("open the log"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let buffered = case.options.durability == Durability::Buffered;
    // What a commit promised: durable, or with `Buffered`, handed to the OS.
    let promised = |wal: &Wal<FaultyDir>| {
        if buffered {
            wal.committed_lsn()
        } else {
            wal.durable_lsn()
        }
    };

    let mut attempted = Vec::new();
    let mut acked = Vec::new();
    for _ in 0..RECORDS_BEFORE {
        acked.extend(
            attempt(Op::Commit, &wal, &runtime, &mut attempted).expect("commit before the fault"),
        );
    }
    case.fault.arm(&faults, &wal);
    let err = (0..ATTEMPTS_MAX)
        .find_map(|_| match attempt(case.op, &wal, &runtime, &mut attempted) {
            Ok(records) => {
                acked.extend(records);
                None
            }
            Err(err) => Some(err),
        })
        .unwrap_or_else(|| panic!("{context}: the fault never surfaced"));
    assert!(faults.all_fired(), "{context}: the fault did not fire");
    assert_eq!(faults.fired().len(), 1, "{context}: {:?}", faults.fired());

    // The failing call names the injected error.
    let injected = errno_text(case.fault.errno());
    assert!(
        matches!(err, Error::Io { .. } | Error::Poisoned(_)),
        "{context}: {err:?}"
    );
    assert!(err.to_string().contains(&injected), "{context}: {err}");

    // No false acknowledgement.
    let durable = wal.durable_lsn();
    let bound = promised(&wal);
    for (lsn, bytes) in &acked {
        assert!(
            end_of(*lsn, bytes) <= bound,
            "{context}: acknowledged past {bound}"
        );
    }
    let claimed = assert_poisoned(&wal, &runtime, &acked, case.fault, &context);
    assert_eq!(wal.durable_lsn(), durable, "{context}: durable LSN moved");
    drop(runtime);
    let Ok(wal) = Arc::try_unwrap(wal) else {
        panic!("{context}: the test holds the last reference")
    };
    drop(wal);

    // Reopen without faults.
    if crash == Crash::PowerLoss {
        faults.power_loss(&path);
    }
    let wal = open_faulty(&path, &faults, case.options)
        .unwrap_or_else(|err| panic!("{context}: reopening failed: {err}"));
    assert_no_leftovers(&path, &context);
    let recovered = read_back(&wal, &path, &context);
    assert_prefix_of_attempted(&recovered, &attempted, &acked, &context);
    if crash == Crash::PowerLoss {
        // What survived ends at the reopened log's end: `read_back` checked that the records
        // tile it, with at most a sync marker (which a durable LSN may include) after the last.
        let end = wal.current_lsn();
        assert!(
            end >= durable && end >= claimed,
            "{context}: the log claimed {durable} (and {claimed} in its error) durable; \
             {end} survived"
        );
    }

    // Commits after the reopen survive the next one.
    let mut expected = recovered.clone();
    for i in 0..RECORDS_AFTER {
        let bytes = format!("after reopening {i}").into_bytes();
        expected.push((
            wal.commit(&bytes).expect("commit after reopening").lsn(),
            bytes,
        ));
    }
    drop(wal);
    if crash == Crash::PowerLoss && !buffered {
        faults.power_loss(&path);
    }
    let wal = open_faulty(&path, &faults, case.options).expect("reopen again");
    assert_eq!(read_back(&wal, &path, &context), expected, "{context}");
}

/// Checks that every later call on the poisoned `wal` is refused with `Error::Poisoned`, whose
/// text names the failure `fault` caused and says to reopen, and that a tail yields only what
/// was acknowledged before the error. Returns the highest LSN a `Poisoned` error claimed
/// durable.
fn assert_poisoned(
    wal: &Arc<Wal<FaultyDir>>,
    runtime: &tokio::runtime::Runtime,
    acked: &[(Lsn, Vec<u8>)],
    fault: Fault,
    context: &str,
) -> Lsn {
    let current = wal.current_lsn();
    let outcomes = [
        ("append", wal.append(b"after the fault").map(drop)),
        ("commit", wal.commit(b"after the fault").map(drop)),
        (
            "commit_async",
            runtime
                .block_on(wal.commit_async(b"after the fault"))
                .map(drop),
        ),
        ("sync", wal.sync().map(drop)),
        (
            "wait_durable",
            wal.wait_durable(Appended::new(Lsn::ZERO, current))
                .map(drop),
        ),
        ("checkpoint", wal.checkpoint(wal.durable_lsn()).map(drop)),
    ];
    let mut claimed = Lsn::ZERO;
    for (call, outcome) in outcomes {
        match outcome {
            Err(err @ Error::Poisoned(_)) => {
                let text = err.to_string();
                assert!(text.contains("Reopen the log"), "{context}: {call}: {text}");
                if let Error::Poisoned(PoisonedError { durable, cause }) = err {
                    assert!(
                        cause.contains(&errno_text(fault.errno())),
                        "{context}: {call}: {cause}"
                    );
                    assert_eq!(
                        cause.starts_with("sync failed"),
                        matches!(fault, Fault::Sync(_)),
                        "{context}: {call}: the cause blames the wrong operation: {cause}"
                    );
                    claimed = claimed.max(durable);
                }
            }
            other => panic!("{context}: {call} on a poisoned log gave {other:?}"),
        }
    }

    let mut tail = wal
        .tail(wal.first_lsn())
        .expect("a tail of a poisoned log starts");
    let mut seen = Vec::new();
    let err = loop {
        match tail.next_timeout(Duration::from_secs(10)) {
            Some(Ok(record)) => seen.push((record.lsn, record.payload)),
            Some(Err(err)) => break err,
            None => panic!("{context}: a tail of a poisoned log waited instead of failing"),
        }
    };
    assert!(
        matches!(err, Error::Poisoned(_)),
        "{context}: tail: {err:?}"
    );
    assert!(
        tail.next().is_none(),
        "{context}: the tail ends after its error"
    );
    assert_eq!(
        seen, acked,
        "{context}: the tail yields exactly what was acknowledged"
    );
    claimed
}

/// Reads the whole log back with the `Wal`'s reader, checking it starts at the first LSN, has
/// no gaps, ends at the current LSN, and agrees with an independent scan of the files.
fn read_back(wal: &Wal<FaultyDir>, path: &Path, context: &str) -> Vec<(Lsn, Vec<u8>)> {
    let read: Vec<(Lsn, Vec<u8>)> = wal
        .read_from(wal.first_lsn())
        .unwrap_or_else(|err| panic!("{context}: start reading: {err}"))
        .map(|record| record.map(|record| (record.lsn, record.payload)))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| panic!("{context}: reading the log back: {err}"));
    // No gaps: between records, and after the last, at most the sync marker a drain appended.
    assert_tiles(
        &read,
        wal.first_lsn(),
        wal.current_lsn(),
        &markers(path),
        context,
    );
    assert_eq!(
        read,
        records(path),
        "{context}: the reader and a scan disagree"
    );
    read
}

/// Checks that the recovered payloads are a prefix of those attempted, covering every
/// acknowledged record at its LSN.
fn assert_prefix_of_attempted(
    recovered: &[(Lsn, Vec<u8>)],
    attempted: &[Vec<u8>],
    acked: &[(Lsn, Vec<u8>)],
    context: &str,
) {
    assert!(
        recovered.len() <= attempted.len()
            && recovered
                .iter()
                .zip(attempted)
                .all(|((_, got), tried)| got == tried),
        "{context}: recovered records that were never attempted, or out of order"
    );
    assert!(
        recovered.len() >= acked.len() && recovered[..acked.len()] == *acked,
        "{context}: an acknowledged record is missing: {} recovered, {} acknowledged",
        recovered.len(),
        acked.len()
    );
}

/// Checks that no interrupted segment creation is left in the directory.
fn assert_no_leftovers(path: &Path, context: &str) {
    let leftovers: Vec<_> = std::fs::read_dir(path)
        .expect("list the log")
        .map(|entry| entry.expect("a directory entry").file_name())
        .filter(|name| name.to_string_lossy().ends_with(".creating"))
        .collect();
    assert!(leftovers.is_empty(), "{context}: {leftovers:?}");
}

/// Which fault strikes while committers wait behind the leader.
#[derive(Clone, Copy, Debug)]
enum LeaderFault {
    /// The leader's own fsync fails.
    ItsSync,
    /// The leader's fsync succeeds; the next leader, elected among the waiters, fails to write.
    NextLeadersWrite,
}

/// A commit running on its own thread.
struct Committer {
    outcome: mpsc::Receiver<Result<Lsn, Error>>,
    thread: std::thread::JoinHandle<()>,
}

impl Committer {
    fn spawn(wal: &Arc<Wal<FaultyDir>>, bytes: Vec<u8>) -> Committer {
        let (done, outcome) = mpsc::channel();
        let wal = Arc::clone(wal);
        let thread = std::thread::spawn(move || {
            let _ = done.send(wal.commit(&bytes).map(|committed| committed.lsn()));
        });
        Committer { outcome, thread }
    }

    /// The commit's outcome, once its thread has finished (and dropped its reference to the
    /// log); fails the test instead of hanging.
    fn finish(self) -> Result<Lsn, Error> {
        let outcome = self
            .outcome
            .recv_timeout(Duration::from_secs(60))
            .expect("a committer hung after the fault");
        self.thread.join().expect("a committer panicked");
        outcome
    }
}

/// Prevents a waiter from hanging, or being acknowledged, when the fsync (or write) that would
/// have covered it fails: six committers block behind a leader whose fsync is held at a gate.
fn every_blocked_waiter_gets_the_error(fault: LeaderFault) {
    const WAITERS: usize = 6;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("log");
    let faults = Arc::new(Faults::default());
    let wal = Arc::new(open_faulty(&path, &faults, small_steps()).expect("open the log"));
    let before = b"before the fault".to_vec();
    let mut acked = vec![(
        wal.commit(&before).expect("commit before the fault").lsn(),
        before,
    )];
    let durable_before = wal.durable_lsn();

    faults.hold(Syncs::Shared);
    if let LeaderFault::ItsSync = fault {
        faults.fail_sync(Syncs::Shared, 0);
    }
    let leader_payload = b"the leader's record".to_vec();
    let leader = Committer::spawn(&wal, leader_payload.clone());
    faults.wait_parked(Syncs::Shared, 1);
    let payloads: Vec<Vec<u8>> = (0..WAITERS).map(payload).collect();
    let mut expected_end = wal.current_lsn();
    let waiters: Vec<_> = payloads
        .iter()
        .map(|bytes| {
            expected_end = Lsn::new(expected_end.get() + (FRAME_HEADER_LEN + bytes.len()) as u64);
            Committer::spawn(&wal, bytes.clone())
        })
        .collect();
    // Every waiter has appended; give them a moment to fall asleep in `wait_durable`.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while wal.current_lsn() < expected_end {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiters never appended"
        );
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(100));
    if let LeaderFault::NextLeadersWrite = fault {
        faults.fail_write(WriteFault::default());
    }
    faults.release(Syncs::Shared);

    let leader = leader.finish();
    let waiters: Vec<_> = waiters.into_iter().map(Committer::finish).collect();
    assert!(faults.all_fired(), "{fault:?}: {:?}", faults.fired());
    let injected = errno_text(EIO);
    match fault {
        LeaderFault::ItsSync => {
            let err = leader.expect_err("the leader's fsync failed");
            assert!(matches!(err, Error::Io { op: "sync", .. }), "{err:?}");
            assert_eq!(wal.durable_lsn(), durable_before);
        }
        LeaderFault::NextLeadersWrite => {
            acked.push((
                leader.expect("the leader's fsync succeeded"),
                leader_payload,
            ));
        }
    }
    // One waiter may have led the failing write; every other one was told it was poisoned.
    let mut poisoned = 0;
    for outcome in waiters {
        let err = outcome.expect_err("no waiter is acknowledged after the fault");
        assert!(err.to_string().contains(&injected), "{fault:?}: {err}");
        poisoned += usize::from(matches!(err, Error::Poisoned(_)));
    }
    assert!(poisoned >= WAITERS - 1, "{fault:?}: {poisoned} poisoned");
    let durable = wal.durable_lsn();
    assert!(matches!(wal.commit(b"later"), Err(Error::Poisoned(_))));
    assert_eq!(
        wal.durable_lsn(),
        durable,
        "durable LSN moved after the fault"
    );
    let Ok(wal) = Arc::try_unwrap(wal) else {
        panic!("every committer thread has finished")
    };
    drop(wal);

    faults.power_loss(&path);
    let wal = open_faulty(&path, &faults, small_steps()).expect("reopen after the power cut");
    assert_eq!(
        read_back(&wal, &path, "after the power cut"),
        acked,
        "{fault:?}: exactly the acknowledged records survive"
    );
}

#[test]
fn every_committer_blocked_behind_a_failing_fsync_gets_the_error() {
    every_blocked_waiter_gets_the_error(LeaderFault::ItsSync);
}

#[test]
fn every_committer_blocked_behind_a_failing_write_gets_the_error() {
    every_blocked_waiter_gets_the_error(LeaderFault::NextLeadersWrite);
}

/// Prevents a log from being left unopenable when its first segment cannot be created: the
/// error names the cause, and the partial file is cleaned up by the next open.
#[test]
fn enospc_creating_a_new_logs_first_segment_fails_the_open_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let faults = Arc::new(Faults::default());
    faults.fail_create(ENOSPC);
    let err = open_faulty(&path, &faults, WalOptions::default()).unwrap_err();
    match &err {
        Error::Io { op, source } => {
            assert_eq!(*op, "creating a segment");
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&errno_text(ENOSPC)), "{err}");
    let left: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != walden::backend::LOCK_FILE_NAME)
        .collect();
    assert_eq!(left.len(), 1, "the partial file: {left:?}");

    let wal = open_faulty(&path, &faults, WalOptions::default()).unwrap();
    assert_no_leftovers(&path, "reopened");
    let lsn = wal.commit(b"first").unwrap().lsn();
    drop(wal);
    faults.power_loss(&path);
    let wal = open_faulty(&path, &faults, WalOptions::default()).unwrap();
    assert_eq!(
        read_back(&wal, &path, "reopened"),
        vec![(lsn, b"first".to_vec())]
    );
}

/// Prevents a failed fsync during recovery (of the truncated torn tail) from opening a log whose
/// truncation may not be durable: the open fails, and the next one truncates again, even after
/// a power cut brought the torn tail back.
#[test]
fn a_failed_fsync_while_recovering_fails_the_open_and_the_next_open_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let faults = Arc::new(Faults::default());
    let wal = open_faulty(&path, &faults, small_steps()).unwrap();
    let acked: Vec<_> = (0..10)
        .map(|i| (wal.commit(&payload(i)).unwrap().lsn(), payload(i)))
        .collect();
    let end = wal.current_lsn();
    drop(wal);
    // A torn record after the last one, as a crash mid-write leaves it; then a fresh model, in
    // which everything now in the file is on the disk.
    let file = FaultyDir::new(&path, &faults).segment_path(Lsn::ZERO);
    let torn = [0x5Au8, 0xA5, 0x01, 0x00, 0x40, 0x00, 0x00, 0x00, 0x77, 0x77];
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new().write(true).open(&file).unwrap(),
        &torn,
        BODY_OFFSET as u64 + end.get(),
    )
    .unwrap();
    let with_torn_tail = std::fs::read(&file).unwrap();
    let faults = Arc::new(Faults::default());

    faults.fail_sync(Syncs::Own, 0);
    let err = open_faulty(&path, &faults, small_steps()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { op, .. } if op.contains("truncat")),
        "{err:?}"
    );
    assert!(err.to_string().contains(&errno_text(EIO)), "{err}");
    faults.power_loss(&path);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        with_torn_tail,
        "the torn tail is back"
    );

    let wal = open_faulty(&path, &faults, small_steps()).unwrap();
    assert_eq!(read_back(&wal, &path, "reopened"), acked);
    assert_eq!(wal.current_lsn(), end);
}

/// The single-file `WalWriter` under the same write and sync faults: poisoned until reopened,
/// nothing acknowledged lost, after a process crash or a power cut.
#[test]
fn a_single_writer_is_poisoned_by_every_fault_and_recovers_on_reopen() {
    let faults_to_try = [
        ("EIO on a record write", Fault::Write(WriteFault::default())),
        ("short write, then ENOSPC", Fault::Write(SHORT_ENOSPC)),
        ("ENOSPC preallocating", Fault::Write(ENOSPC_PREALLOCATING)),
        ("failed fsync", Fault::Sync(Syncs::Own)),
    ];
    let options = WalOptions {
        buffer_bytes: 256,
        ..small_steps()
    };
    for (name, fault) in faults_to_try {
        for crash in [Crash::Process, Crash::PowerLoss] {
            let context = format!("WalWriter: {name} / {crash:?}");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log");
            let faults = Arc::new(Faults::default());
            let faulty = FaultyDir::new(&path, &faults);
            let header = FileHeader::new(0x5EED_FA17_0000_0001, Lsn::ZERO);
            let storage = faulty.create(Lsn::ZERO, &header.encode_initial()).unwrap();
            let mut writer = WalWriter::recover(storage, options).unwrap();

            let mut attempted = Vec::new();
            let mut acked = Vec::new();
            let mut pending = Vec::new();
            let mut armed = false;
            let err = loop {
                assert!(attempted.len() < ATTEMPTS_MAX, "{context}: never fired");
                if attempted.len() == RECORDS_BEFORE && !armed {
                    armed = true;
                    match fault {
                        Fault::Write(write) => faults.fail_write(write),
                        Fault::Sync(syncs) => faults.fail_sync(syncs, 0),
                        _ => unreachable!("not in this table"),
                    }
                }
                let bytes = payload(attempted.len());
                attempted.push(bytes.clone());
                match writer.append(&bytes) {
                    Ok(appended) => pending.push((appended.lsn(), bytes)),
                    Err(err) => break err,
                }
                if attempted.len() % 2 == 1 {
                    match writer.flush_until(writer.current_lsn()) {
                        Ok(_) => acked.append(&mut pending),
                        Err(err) => break err,
                    }
                }
            };
            assert!(faults.all_fired(), "{context}");
            assert!(
                err.to_string().contains(&errno_text(fault.errno())),
                "{context}: {err}"
            );
            let durable = writer.durable_lsn();
            for (lsn, bytes) in &acked {
                assert!(
                    end_of(*lsn, bytes) <= durable,
                    "{context}: false acknowledgement"
                );
            }
            let current = writer.current_lsn();
            let refusals = [
                ("append", writer.append(b"later").map(drop)),
                ("sync", writer.sync().map(drop)),
                ("flush_until", writer.flush_until(current).map(drop)),
                ("truncate", writer.truncate().map(drop)),
            ];
            for (call, outcome) in refusals {
                assert!(
                    matches!(outcome, Err(Error::Poisoned(_))),
                    "{context}: {call} gave {outcome:?}"
                );
            }
            assert_eq!(writer.durable_lsn(), durable, "{context}");
            assert!(matches!(writer.close(), Err(Error::Poisoned(_))));

            if crash == Crash::PowerLoss {
                faults.power_loss(&path);
            }
            let storage = faulty.open(Lsn::ZERO).unwrap();
            let mut writer = WalWriter::recover(storage, options).unwrap();
            let recovered = records(&path);
            assert_prefix_of_attempted(&recovered, &attempted, &acked, &context);
            // Recovery left nothing but zero fill after the records: no torn tail.
            let image = std::fs::read(faulty.segment_path(Lsn::ZERO)).unwrap();
            let (_, rescan) =
                scan_file(&image, Codec::new, RecoveryMode::AbsoluteConsistency).unwrap();
            assert_eq!(rescan.end_lsn, writer.current_lsn(), "{context}");
            let mut expected = recovered;
            let bytes = b"after reopening".to_vec();
            expected.push((writer.append(&bytes).unwrap().lsn(), bytes));
            writer.sync().unwrap();
            drop(writer);
            if crash == Crash::PowerLoss {
                faults.power_loss(&path);
            }
            drop(WalWriter::recover(faulty.open(Lsn::ZERO).unwrap(), options).unwrap());
            assert_eq!(records(&path), expected, "{context}");
        }
    }
}

/// Pins the fault model the other tests rely on: a failed sync loses the writes it covered
/// although reads still see them, a retried sync succeeds without them, and a short write lands
/// exactly its prefix.
#[test]
fn the_disk_model_loses_what_a_failed_sync_covered_and_the_retry_succeeds_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let faults = Arc::new(Faults::default());
    let faulty = FaultyDir::new(&path, &faults);
    let mut file = faulty.create(Lsn::ZERO, b"header").unwrap();
    file.write_at(6, b"first").unwrap();
    file.sync(SyncMode::Data).unwrap();
    file.write_at(11, b"second").unwrap();
    faults.fail_sync(Syncs::Own, 0);
    let err = file.sync(SyncMode::Data).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EIO));
    file.sync(SyncMode::Data).unwrap();
    file.write_at(17, b"third").unwrap();
    file.sync(SyncMode::Data).unwrap();
    let mut live = [0u8; 22];
    assert_eq!(file.read_at(0, &mut live).unwrap(), 22);
    assert_eq!(&live, b"headerfirstsecondthird", "reads see the lost write");

    faults.fail_write(WriteFault {
        errno: ENOSPC,
        lands: 2,
        writes: Writes::Any,
        ..WriteFault::default()
    });
    let err = file.write_at(22, b"fourth").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    drop(file);
    assert_eq!(
        std::fs::read(faulty.segment_path(Lsn::ZERO)).unwrap(),
        b"headerfirstsecondthirdfo"
    );

    faults.power_loss(&path);
    let mut expected = b"headerfirst".to_vec();
    expected.extend_from_slice(&[0; 6]);
    expected.extend_from_slice(b"third");
    assert_eq!(
        std::fs::read(faulty.segment_path(Lsn::ZERO)).unwrap(),
        expected
    );
    assert_eq!(faults.fired().len(), 2, "{:?}", faults.fired());
}

/// Prevents a tail from waiting forever on a log poisoned by a failed drain rather than by a
/// failed group-commit sync: an appender draining a full queue itself hits `EIO` while a tail
/// waits for the next record.
#[test]
fn a_waiting_tail_gets_the_error_when_an_appenders_drain_fails() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        buffer_bytes: 256,
        ..small_steps()
    };
    let faults = Arc::new(Faults::default());
    let wal = Arc::new(open_faulty(&dir.path().join("log"), &faults, options).unwrap());
    let first = wal.commit(b"durable").unwrap().lsn();
    let reader = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            let mut tail = wal.tail(first).unwrap();
            assert_eq!(tail.next().unwrap().unwrap().payload, b"durable");
            let started = std::time::Instant::now();
            let outcome = tail.next_timeout(Duration::from_secs(30));
            (
                outcome.map(|record| record.map(|r| r.payload)),
                started.elapsed(),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    faults.fail_write(WriteFault::default());
    let err = (0..ATTEMPTS_MAX)
        .find_map(|i| wal.append(&payload(i)).err())
        .expect("an append drains the full queue and fails");
    assert!(err.to_string().contains(&errno_text(EIO)), "{err}");
    let (outcome, waited) = reader.join().unwrap();
    assert!(
        matches!(outcome, Some(Err(Error::Poisoned(_)))),
        "{outcome:?} after {waited:?}"
    );
    assert!(waited < Duration::from_secs(20), "woken late: {waited:?}");
}

/// Prevents a poisoned log from removing segments: a checkpoint after a failed fsync is refused
/// with `Poisoned`, and every segment file stays.
#[test]
fn a_poisoned_log_refuses_to_checkpoint_and_keeps_every_segment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let faults = Arc::new(Faults::default());
    let wal = open_faulty(&path, &faults, small_segments()).unwrap();
    for i in 0..60 {
        wal.commit(&payload(i)).unwrap();
    }
    assert!(
        wal.segments().len() > 3,
        "{} segments",
        wal.segments().len()
    );
    let files = segment_files(&path);
    faults.fail_sync(Syncs::Shared, 0);
    assert!(wal.commit(b"never durable").is_err());
    let err = wal.checkpoint(wal.durable_lsn()).unwrap_err();
    assert!(matches!(err, Error::Poisoned(_)), "{err:?}");
    assert_eq!(segment_files(&path), files, "a segment was removed");
}

/// The names of the files in a log directory, sorted.
fn segment_files(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .expect("list the log")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Prevents a `Buffered` log from taking appends after a failed write (its commits drain outside
/// group commit, so nothing there remembered the failure): appends, waits and tails get
/// `Poisoned`.
#[test]
fn buffered_mode_refuses_appends_waits_and_tails_after_a_failed_write() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        durability: Durability::Buffered,
        ..small_steps()
    };
    let faults = Arc::new(Faults::default());
    let wal = open_faulty(&dir.path().join("log"), &faults, options).unwrap();
    let first = wal.commit(b"handed to the OS").unwrap().lsn();
    faults.fail_write(WriteFault::default());
    let err = wal.commit(b"never written").unwrap_err();
    assert!(matches!(err, Error::Io { op: "write", .. }), "{err:?}");
    assert!(matches!(wal.append(b"x"), Err(Error::Poisoned(_))));
    let current = wal.current_lsn();
    assert!(matches!(
        wal.wait_durable(Appended::new(first, current)),
        Err(Error::Poisoned(_))
    ));
    let mut tail = wal.tail(first).unwrap();
    assert_eq!(tail.next().unwrap().unwrap().payload, b"handed to the OS");
    let outcome = tail.next_timeout(Duration::from_secs(10));
    assert!(
        matches!(outcome, Some(Err(Error::Poisoned(_)))),
        "{outcome:?}"
    );
}

/// Prevents a `Poisoned` error from blaming a sync for a failure elsewhere: when the next
/// segment cannot be created, every later call says so, with the OS's error.
#[test]
fn a_poisoned_error_names_the_failure_that_poisoned_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let wal = open_faulty(&dir.path().join("log"), &faults, small_segments()).unwrap();
    faults.fail_create(ENOSPC);
    let err = (0..ATTEMPTS_MAX)
        .find_map(|i| wal.commit(&payload(i)).err())
        .expect("the segment rotates");
    assert!(
        matches!(
            err,
            Error::Io {
                op: "creating a segment",
                ..
            }
        ),
        "{err:?}"
    );
    let durable = wal.durable_lsn();
    let err = wal.commit(b"later").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "log is poisoned: creating a segment failed: {}; nothing past LSN {durable} can be \
             trusted to be durable. Reopen the log to recover",
            errno_text(ENOSPC)
        )
    );
}

/// Prevents a hole behind acknowledged records after a failed fsync and a reopen in the same
/// boot. Linux keeps the pages the failed fsync lost in the page cache, marked clean: a reopen
/// (the process restarts, the kernel does not) reads them back as valid records, and a plain
/// recovery fsync would have nothing dirty to write, so commits after the reopen would land
/// behind records that never reached the disk, and a power cut would leave a hole followed by
/// acknowledged records (`CorruptionMidLog`). Recovery therefore writes the records past the
/// header's sync mark again (`LogWriter::recover`), so its sync really persists them.
#[test]
fn a_reopen_after_a_failed_fsync_in_the_same_boot_keeps_later_commits_after_a_power_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let faults = Arc::new(Faults::default());
    let wal = open_faulty(&path, &faults, small_steps()).unwrap();
    let mut acked = vec![(wal.commit(b"durable").unwrap().lsn(), b"durable".to_vec())];
    faults.fail_sync(Syncs::Shared, 0);
    assert!(wal.commit(b"lost by the failed fsync").is_err());
    drop(wal);

    let wal = open_faulty(&path, &faults, small_steps()).unwrap();
    let after = b"committed after the reopen".to_vec();
    acked.push((wal.commit(&after).unwrap().lsn(), after));
    drop(wal);
    faults.power_loss(&path);

    let wal = open_faulty(&path, &faults, small_steps())
        .unwrap_or_else(|err| panic!("the log no longer opens: {err}"));
    let recovered = read_back(&wal, &path, "after the power cut");
    for record in &acked {
        assert!(recovered.contains(record), "lost {record:?}");
    }
}

/// Prevents a segment from being sealed with a hole. The leader's fsync of the active segment
/// fails (Linux drops the pages it covered); if an appender draining a full queue sealed the
/// same segment before the leader reported, the seal's fsync would report success (Linux reports
/// the error once) and the sealed segment would miss the leader's bytes: after a power cut,
/// reading from the start would stop at the hole. So no segment rotates while a leader's sync of
/// it is in flight, however far past `segment_bytes` appends go meanwhile.
#[test]
fn a_segment_sealed_while_the_leaders_fsync_fails_reads_back_whole_after_a_power_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let options = WalOptions {
        segment_bytes: 1024,
        buffer_bytes: 256,
        ..small_segments()
    };
    let faults = Arc::new(Faults::default());
    let wal = Arc::new(open_faulty(&path, &faults, options).unwrap());
    let acked: Vec<_> = (0..5)
        .map(|i| (wal.commit(&payload(i)).unwrap().lsn(), payload(i)))
        .collect();

    faults.hold(Syncs::Shared);
    faults.fail_sync(Syncs::Shared, 0);
    let leader = Committer::spawn(&wal, b"the leader's record".to_vec());
    faults.wait_parked(Syncs::Shared, 1);
    // Meanwhile this thread appends three segments' worth, draining the full queue itself.
    let segments = wal.segments().len();
    let mut appended = 0;
    for i in 0.. {
        if appended > 3 * options.segment_bytes as usize {
            break;
        }
        let record = payload(100 + i);
        appended += record.len() + 8;
        wal.append(&record).unwrap();
    }
    assert_eq!(
        wal.segments().len(),
        segments,
        "a segment rotated while the leader's sync of it was in flight"
    );
    faults.release(Syncs::Shared);
    assert!(leader.finish().is_err());
    let Ok(wal) = Arc::try_unwrap(wal) else {
        panic!("the leader's thread has finished")
    };
    drop(wal);

    faults.power_loss(&path);
    let wal = open_faulty(&path, &faults, options).unwrap();
    let recovered = read_back(&wal, &path, "after the power cut");
    assert_eq!(recovered[..acked.len()], acked[..]);
}
