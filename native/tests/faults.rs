//! Injected I/O faults in the native backend (see `common::FaultyDir`): what each one fails,
//! how the log refuses everything after it, and what reopening recovers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
mod common;

use common::{open_faulty, Faults, Syncs, WriteFault, EIO, ENOSPC};
use walden::{Error, WalOptions};
use walden_core::Durability;

/// Operations a test runs at most while waiting for its fault to fire.
const ATTEMPTS_MAX: usize = 400;

/// Payloads of varied length (13 to 65 bytes), so records cross preallocation steps and segment
/// boundaries at varied offsets.
fn payload(i: usize) -> Vec<u8> {
    format!("record {i:04} ").repeat(1 + i % 5).into_bytes()
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
    assert!(matches!(err, Error::Poisoned { .. }), "{err:?}");
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
    let first = wal.commit(b"handed to the OS").unwrap();
    faults.fail_write(WriteFault::default());
    let err = wal.commit(b"never written").unwrap_err();
    assert!(matches!(err, Error::Io { op: "write", .. }), "{err:?}");
    assert!(matches!(wal.append(b"x"), Err(Error::Poisoned { .. })));
    let current = wal.current_lsn();
    assert!(matches!(
        wal.wait_durable(current),
        Err(Error::Poisoned { .. })
    ));
    let mut tail = wal.tail(first).unwrap();
    assert_eq!(tail.next().unwrap().unwrap().payload, b"handed to the OS");
    let outcome = tail.next_timeout(Duration::from_secs(10));
    assert!(
        matches!(outcome, Some(Err(Error::Poisoned { .. }))),
        "{outcome:?}"
    );
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
    let first = wal.commit(b"durable").unwrap();
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
        matches!(outcome, Some(Err(Error::Poisoned { .. }))),
        "{outcome:?} after {waited:?}"
    );
    assert!(waited < Duration::from_secs(20), "woken late: {waited:?}");
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
