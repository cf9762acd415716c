//! The shared `Wal`: concurrent committers, group commit, and a failed fsync under load.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;
mod common;

use common::{faulty_wal, records, FaultyDir};
use walden::{Appended, Error, InputError, Wal, WalOptions};
use walden_core::{Durability, Lsn};

/// Runs `threads` closures and fails the test instead of hanging if they do not all finish.
/// Joins every thread before returning, so whatever the closures captured has been dropped.
fn run_all<T: Send + 'static>(
    threads: usize,
    work: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let work = Arc::new(work);
    let (done, results) = mpsc::channel();
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let work = Arc::clone(&work);
            let done = done.clone();
            std::thread::spawn(move || {
                let _ = done.send((thread, work(thread)));
            })
        })
        .collect();
    let mut out: Vec<(usize, T)> = (0..threads)
        .map(|_| {
            results
                .recv_timeout(Duration::from_secs(60))
                .expect("a committer hung: no answer within 60 s")
        })
        .collect();
    for handle in handles {
        handle.join().expect("a committer thread panicked");
    }
    out.sort_by_key(|(thread, _)| *thread);
    out.into_iter().map(|(_, result)| result).collect()
}

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
    assert_send_sync::<Wal<FaultyDir>>();
}

/// Prevents lost, reordered or duplicated acknowledged records under concurrent commits, and
/// checks that commits actually share fsyncs.
#[test]
fn concurrent_commits_are_all_present_in_lsn_order_without_gaps_and_share_fsyncs() {
    const THREADS: usize = 16;
    const COMMITS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    let shared = Arc::clone(&wal);
    let acks = run_all(THREADS, move |thread| {
        (0..COMMITS)
            .map(|i| {
                let payload = format!("thread {thread} record {i}").into_bytes();
                let committed = shared.commit(&payload).expect("commit");
                assert!(
                    shared.durable_lsn() >= committed.end(),
                    "acknowledged before durable"
                );
                (committed.lsn(), payload)
            })
            .collect::<Vec<_>>()
    });
    let syncs = faults.syncs.load(Ordering::Relaxed);
    let stats = wal.stats();
    assert_eq!(stats.appends, (THREADS * COMMITS) as u64);
    assert_eq!(stats.fsyncs, syncs, "stats count every leader fsync");
    assert_eq!(
        stats.records_durable, stats.appends,
        "every committed record was made durable"
    );
    assert_eq!(stats.records_per_fsync.iter().sum::<u64>(), stats.fsyncs);
    let Ok(wal) = Arc::try_unwrap(wal) else {
        panic!("the test holds the last reference")
    };
    wal.close().unwrap();

    let on_disk: HashMap<Lsn, Vec<u8>> = records(&path).into_iter().collect();
    assert_eq!(on_disk.len(), THREADS * COMMITS, "records lost or invented");
    for (lsn, payload) in acks.iter().flatten() {
        assert_eq!(
            on_disk.get(lsn),
            Some(payload),
            "acknowledged record at {lsn}"
        );
    }
    // Each thread's records appear in the order it committed them.
    for thread_acks in &acks {
        assert!(thread_acks.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }
    let commits = (THREADS * COMMITS) as u64;
    assert!(
        syncs < commits,
        "{syncs} fsyncs for {commits} concurrent commits: nothing was grouped"
    );
}

/// Prevents a failed fsync from leaving a waiter hanging or acknowledging a record.
#[test]
fn a_failed_fsync_fails_every_waiter_and_poisons_the_log_until_reopened() {
    const THREADS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    wal.commit(b"before the failure").unwrap();
    faults.fail_next_sync.store(true, Ordering::Release);

    let shared = Arc::clone(&wal);
    let outcomes = run_all(THREADS, move |thread| {
        let mut acked = Vec::new();
        for i in 0..1000 {
            match shared.commit(format!("{thread}/{i}").as_bytes()) {
                Ok(lsn) => acked.push(lsn),
                Err(err) => return (acked, Some(err.to_string())),
            }
        }
        (acked, None)
    });
    for (thread, (_, err)) in outcomes.iter().enumerate() {
        let err = err
            .as_ref()
            .unwrap_or_else(|| panic!("thread {thread} never saw the failure"));
        assert!(err.contains("sync") || err.contains("poisoned"), "{err}");
    }
    assert!(
        outcomes.iter().all(|(acked, _)| acked.is_empty()),
        "acknowledged after a failed fsync"
    );
    assert!(matches!(wal.commit(b"later"), Err(Error::Poisoned(_))));
    assert!(
        matches!(wal.append(b"later"), Err(Error::Poisoned(_))),
        "a poisoned log refuses appends too"
    );
    assert!(matches!(wal.sync(), Err(Error::Poisoned(_))));
    assert_eq!(
        faults.syncs.load(Ordering::Relaxed),
        2,
        "a sync ran after the failure"
    );

    drop(wal);
    let wal = Wal::open(&path).unwrap();
    assert!(records(&path)
        .iter()
        .any(|(_, p)| p == b"before the failure"));
    wal.commit(b"after reopening").unwrap();
}

/// Prevents paying for an fsync when the target is already durable.
#[test]
fn waiting_for_an_lsn_that_is_already_durable_does_not_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = faulty_wal(&dir.path().join("wal"), WalOptions::default());
    let committed = wal.commit(b"one").unwrap();
    let syncs = faults.syncs.load(Ordering::Relaxed);
    assert!(wal.wait_durable(committed).unwrap() >= committed.end());
    assert!(wal.wait_durable(committed).is_ok());
    assert_eq!(wal.sync().unwrap(), committed.end(), "nothing more to sync");
    assert_eq!(faults.syncs.load(Ordering::Relaxed), syncs);
}

/// Buffered mode hands records to the OS on commit and never claims durability.
#[test]
fn buffered_commits_reach_the_os_without_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let options = WalOptions {
        durability: Durability::Buffered,
        ..WalOptions::default()
    };
    let (wal, faults) = faulty_wal(&path, options);
    wal.commit(b"buffered").unwrap();
    assert_eq!(faults.syncs.load(Ordering::Relaxed), 0);
    assert_eq!(wal.durable_lsn(), Lsn::ZERO);
    assert_eq!(records(&path).len(), 1, "the record reached the file");
}

/// A tail waiting for records gets the error when the log is poisoned, instead of hanging.
#[test]
fn a_waiting_tail_gets_the_error_when_a_sync_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = faulty_wal(&dir.path().join("wal"), WalOptions::default());
    let first = wal.commit(b"durable").unwrap();
    let reader = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            let mut tail = wal.tail(first.lsn()).unwrap();
            let record = tail.next().unwrap().unwrap();
            assert_eq!(record.payload, b"durable");
            // Blocks: nothing else is durable until the failed sync poisons the log.
            let outcome = tail.next_timeout(Duration::from_secs(30));
            (outcome.map(|r| r.map(|r| r.payload)), tail.next().is_none())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    faults.fail_next_sync.store(true, Ordering::Release);
    assert!(wal.commit(b"never durable").is_err());
    let (outcome, ended) = reader.join().unwrap();
    assert!(
        matches!(outcome, Some(Err(Error::Poisoned(_)))),
        "{outcome:?}"
    );
    assert!(ended, "the tail ends after the error");
}

/// Appends from many threads through a tiny buffer never deadlock, even when nobody commits
/// (a full buffer is written by the appender that fills it), and every record lands once, in
/// LSN order.
#[test]
fn appends_through_a_tiny_buffer_from_many_threads_without_commits_all_land() {
    const THREADS: usize = 8;
    const APPENDS: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let options = WalOptions {
        buffer_bytes: 256,
        ..WalOptions::default()
    };
    let wal = Arc::new(Wal::open_with(&path, options).unwrap());
    let shared = Arc::clone(&wal);
    let appended = run_all(THREADS, move |thread| {
        (0..APPENDS)
            .map(|i| {
                let payload = format!("{thread}/{i}").into_bytes();
                (shared.append(&payload).expect("append").lsn(), payload)
            })
            .collect::<Vec<_>>()
    });
    let mut expected: Vec<(Lsn, Vec<u8>)> = appended.into_iter().flatten().collect();
    expected.sort();
    let wal = Arc::into_inner(wal).unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.stats().appends, (THREADS * APPENDS) as u64);
    wal.close().unwrap();
    assert_eq!(records(&path), expected);
}

/// Waiting for an LSN that was never appended is a typed error, and poisons nothing.
#[test]
fn waiting_past_the_current_lsn_is_refused_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path().join("wal")).unwrap();
    wal.commit(b"one").unwrap();
    let current = wal.current_lsn();
    let beyond = Appended::new(current, Lsn::new(current.get() + 100));
    assert!(matches!(
        wal.wait_durable(beyond),
        Err(Error::Input(InputError::BeyondCurrent { .. }))
    ));
    wal.commit(b"two").unwrap();
}
