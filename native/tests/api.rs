//! The code a newcomer writes (append, wait, drop, reopen, shut down through an `Arc`), checked
//! against every promise README makes about it. Each test opens with the failure it prevents.

mod common;

use common::{faulty_wal, open_faulty, records};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use walden::{
    Appended, CutReason, Durability, Error, ErrorKind, InputError, Lsn, PoisonedError,
    RecoveryMode, TailKind, Wal, WalOptions, WalWriter,
};

/// Prevents the start-LSN trap: a receipt from `append` handed to `wait_durable` must make
/// *that* record durable, so that a power cut right after keeps it (the old API returned the
/// start LSN, `wait_durable(start)` returned at once, and a power cut lost the record).
#[test]
fn wait_durable_on_what_append_returned_survives_a_power_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    let record = wal.append(b"set x = 1").unwrap();
    assert!(!record.is_durable_at(wal.durable_lsn()), "not durable yet");
    let durable = wal.wait_durable(record).unwrap();
    assert!(
        durable >= record.end(),
        "durable {durable} < end of {record}"
    );
    assert!(record.is_durable_at(wal.durable_lsn()));
    assert_eq!(faults.syncs(), 1, "one sync made it durable");
    // No close: the process ends, then the power goes.
    drop(Arc::into_inner(wal).unwrap());
    faults.power_loss(&path);
    assert_eq!(
        records(&path),
        vec![(record.lsn(), b"set x = 1".to_vec())],
        "the acknowledged record survived the power cut"
    );
}

/// Prevents an uncommitted record from being lost with no crash at all: dropping a `Wal`
/// without `close` must hand what was appended to the OS, as a `BufWriter` does, so reopening
/// in the same boot finds it.
#[test]
fn dropping_a_wal_without_close_keeps_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let wal = Wal::open(&path).unwrap();
    wal.commit(b"set x = 1").unwrap();
    let unsynced = wal.append(b"set y = 2").unwrap();
    drop(wal);

    let wal = Wal::open(&path).unwrap();
    // The drop's drain may end its batch with a sync marker (docs/format.md), after the record.
    assert!(
        wal.current_lsn() >= unsynced.end(),
        "the appended record is there"
    );
    let read: Vec<_> = wal
        .read_from(unsynced.lsn())
        .unwrap()
        .map(|r| r.unwrap().payload)
        .collect();
    assert_eq!(read, vec![b"set y = 2".to_vec()]);
    assert!(wal.recovery().is_clean(), "{}", wal.recovery());
}

/// Prevents the same loss through a `WalWriter`: its 64 KiB buffer must reach the OS on drop.
#[test]
fn dropping_a_wal_writer_without_close_keeps_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("single.wal");
    let mut log = WalWriter::open(&path).unwrap();
    let first = log.append(b"one").unwrap();
    log.wait_durable(first).unwrap();
    let second = log.append(b"two").unwrap();
    assert_eq!(
        log.written_lsn(),
        first.end(),
        "the second record is only buffered"
    );
    drop(log);

    let log = WalWriter::open(&path).unwrap();
    assert_eq!(log.recovery().records, 2);
    assert!(log.current_lsn() >= second.end());
}

/// Prevents a drop from promising more than it gives: a dropped record reaches the OS but was
/// never synced, so a power cut may lose it (and here does), while committed ones survive.
#[test]
fn a_dropped_unsynced_record_is_not_durable_across_a_power_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    let committed = wal.commit(b"committed").unwrap();
    wal.append(b"appended only").unwrap();
    drop(Arc::into_inner(wal).unwrap());
    assert_eq!(records(&path).len(), 2, "both reached the OS on drop");
    faults.power_loss(&path);
    assert_eq!(
        records(&path),
        vec![(committed.lsn(), b"committed".to_vec())]
    );
}

/// Prevents `close(self)` being the only clean shutdown, unreachable behind the `Arc` that
/// threads and `commit_async` need: `shutdown(&self)` makes everything appended durable, and
/// every later append or wait gets `Error::Closed`.
#[test]
fn shutdown_through_an_arc_makes_everything_durable_and_refuses_more() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    let other = Arc::clone(&wal);
    let worker = std::thread::spawn(move || {
        let mut last = None;
        for i in 0..100 {
            last = Some(other.append(format!("set k{i} = {i}").as_bytes()).unwrap());
        }
        last.unwrap()
    });
    let last = worker.join().unwrap();
    let durable = wal.shutdown().unwrap();
    assert!(
        last.is_durable_at(durable),
        "shutdown made the appends durable"
    );
    assert_eq!(
        wal.shutdown().unwrap(),
        durable,
        "a second shutdown changes nothing"
    );
    assert!(
        wal.wait_durable(last).is_ok(),
        "a record the shutdown covered is durable"
    );

    let err = wal.append(b"too late").unwrap_err();
    assert!(
        matches!(err, Error::Closed { durable: d } if d == durable),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert!(!err.is_poisoned());
    assert!(matches!(wal.commit(b"too late"), Err(Error::Closed { .. })));
    assert!(matches!(wal.sync(), Err(Error::Closed { .. })));
    assert!(matches!(
        wal.checkpoint(Lsn::ZERO),
        Err(Error::Closed { .. })
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(matches!(
        runtime.block_on(wal.commit_async(b"too late")),
        Err(Error::Closed { .. })
    ));
    // Readers keep working.
    assert_eq!(wal.read_from(Lsn::ZERO).unwrap().count(), 100);
    let syncs = faults.syncs();
    drop(wal);
    faults.power_loss(&path);
    assert_eq!(
        records(&path).len(),
        100,
        "all of it survived the power cut"
    );
    assert_eq!(
        faults.syncs(),
        syncs,
        "dropping after shutdown syncs nothing more"
    );
}

/// Prevents a recovery decision nobody hears about: `Wal::recovery` lists every segment, what
/// was kept, and every cut with where, how long and why.
#[test]
fn recovery_reports_each_segment_and_the_torn_tail_it_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let options = WalOptions {
        segment_bytes: 256,
        preallocate_bytes: 0,
        ..WalOptions::default()
    };
    let wal = Wal::open_with(&path, options).unwrap();
    let fresh = wal.recovery();
    assert_eq!(fresh.segments.len(), 1);
    assert!(fresh.is_clean());
    let mut last = None;
    for i in 0..40 {
        last = Some(
            wal.commit(format!("record {i:02} of the log").as_bytes())
                .unwrap(),
        );
    }
    let last = last.unwrap();
    let segments = wal.segments();
    assert!(segments.len() > 2, "{segments:?}");
    let end = wal.close().unwrap();
    assert!(end >= last.end());
    // Tear the active segment's last write: 5 bytes of a frame that never completed.
    let active = path.join(walden::backend::segment_file_name(
        *segments.last().unwrap(),
    ));
    let mut bytes = std::fs::read(&active).unwrap();
    bytes.extend_from_slice(&[0x5a; 5]);
    std::fs::write(&active, bytes).unwrap();

    let wal = Wal::open_with(&path, options).unwrap();
    let report = wal.recovery();
    assert_eq!(report.segments.len(), segments.len());
    for (segment, base) in report.segments.iter().zip(&segments) {
        assert_eq!(segment.base_lsn, *base);
    }
    for pair in report.segments.windows(2) {
        assert_eq!(pair[0].end_lsn, pair[1].base_lsn, "no gap between segments");
        assert!(pair[0].sealed && pair[0].records.is_none());
    }
    let active = report.segments.last().unwrap();
    assert!(!active.sealed);
    assert!(active.records.unwrap() > 0);
    assert_eq!(active.end_lsn, end);
    let cut = active.cut.expect("the torn tail was cut");
    assert_eq!((cut.at, cut.bytes), (end, 5));
    assert!(
        matches!(cut.why, CutReason::Tail(TailKind::Torn(_))),
        "{:?}",
        cut.why
    );
    assert_eq!(report.cut_bytes(), 5);
    let text = report.to_string();
    assert!(
        text.contains("cut 5 bytes at LSN") && text.contains("torn"),
        "{text}"
    );
    assert_eq!(report.end_lsn(), wal.current_lsn());
}

/// Prevents errors a program cannot act on without matching every variant: `kind()` and
/// `is_poisoned()` classify them, and a poisoned log says so from every later call.
#[test]
fn errors_say_their_kind_and_a_failed_sync_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let options = WalOptions {
        max_payload_len: 16,
        ..WalOptions::default()
    };
    let (wal, faults) = faulty_wal(&path, options);
    let too_big = wal.append(&[0; 17]).unwrap_err();
    assert_eq!(too_big.kind(), ErrorKind::RecordTooLarge, "{too_big}");
    let beyond = Appended::new(wal.current_lsn(), Lsn::new(wal.current_lsn().get() + 9));
    assert_eq!(
        wal.wait_durable(beyond).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    wal.commit(b"kept").unwrap();
    faults.fail_next_sync.store(true, Ordering::Release);
    let failed = wal.commit(b"lost").unwrap_err();
    assert_eq!(failed.kind(), ErrorKind::Io, "{failed}");
    let later = wal.commit(b"later").unwrap_err();
    assert!(later.is_poisoned(), "{later}");
    assert_eq!(later.kind(), ErrorKind::Poisoned);
    assert!(wal.sync().unwrap_err().is_poisoned());
    assert!(wal.shutdown().unwrap_err().is_poisoned());
    drop(wal);

    let locked_dir = tempfile::tempdir().unwrap();
    let first = Wal::open(locked_dir.path()).unwrap();
    let second = Wal::open(locked_dir.path()).unwrap_err();
    assert_eq!(second.kind(), ErrorKind::Locked);
    drop(first);

    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("not-a-log.wal"), b"hello").unwrap();
    let err = WalWriter::open(foreign.path().join("not-a-log.wal")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Format, "{err}");
}

/// Prevents the native error from drifting from the core's: a usage error and a poisoned log
/// come back as the core's own `InputError` and `PoisonedError`, wrapped, with their text, as
/// `source()`, and with the kind and durable LSN a caller acts on.
#[test]
fn usage_and_poison_errors_are_the_cores_own_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = faulty_wal(&dir.path().join("kv"), WalOptions::default());
    let current = wal.current_lsn();
    let target = Lsn::new(current.get() + 9);
    let beyond = wal
        .wait_durable(Appended::new(current, target))
        .unwrap_err();
    let expected = InputError::BeyondCurrent { target, current };
    assert!(
        matches!(&beyond, Error::Input(input) if *input == expected),
        "{beyond:?}"
    );
    assert_eq!(beyond.kind(), ErrorKind::InvalidInput);
    assert_eq!(beyond.to_string(), expected.to_string());
    let source = std::error::Error::source(&beyond).expect("the wrapped InputError");
    assert_eq!(source.downcast_ref::<InputError>(), Some(&expected));
    assert!(!beyond.is_poisoned() && beyond.durable_lsn().is_none());

    let kept = wal.commit(b"kept").unwrap();
    faults.fail_next_sync.store(true, Ordering::Release);
    wal.commit(b"lost").unwrap_err();
    let later = wal.commit(b"later").unwrap_err();
    let Error::Poisoned(poisoned) = &later else {
        panic!("expected Poisoned, got {later:?}");
    };
    assert_eq!(poisoned.durable, kept.end());
    assert!(
        poisoned.cause.contains("injected EIO"),
        "{}",
        poisoned.cause
    );
    assert!(later.is_poisoned());
    assert_eq!(later.kind(), ErrorKind::Poisoned);
    assert_eq!(later.durable_lsn(), Some(kept.end()));
    assert_eq!(
        later.to_string(),
        format!(
            "log is poisoned: {}; nothing past LSN {} can be trusted to be durable. Reopen the \
             log to recover",
            poisoned.cause,
            kept.end()
        )
    );
    let source = std::error::Error::source(&later).expect("the wrapped PoisonedError");
    assert_eq!(source.downcast_ref::<PoisonedError>(), Some(poisoned));
}

/// Prevents a receipt from lying about where the record is: `lsn()` is where a reader finds
/// it, `end()` where the next record starts, for the `Wal`, the `WalWriter` and batches.
#[test]
fn receipts_are_where_readers_find_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path().join("kv")).unwrap();
    let first = wal.append(b"alpha").unwrap();
    let second = wal.append(b"beta").unwrap();
    assert_eq!(second.lsn(), first.end(), "records follow each other");
    let batch = first.through(second);
    wal.wait_durable(batch).unwrap();
    let read: Vec<_> = wal
        .read_from(first.lsn())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read.len(), 2);
    assert_eq!((read[0].lsn, read[1].lsn), (first.lsn(), second.lsn()));
    assert_eq!(read[1].end_lsn(), second.end());

    let mut log = WalWriter::open(dir.path().join("single.wal")).unwrap();
    let one = log.append(b"one").unwrap();
    let two = log.append(b"two").unwrap();
    assert_eq!(two.lsn(), one.end());
    assert_eq!(log.current_lsn(), two.end());
}

/// Prevents `Durability::Buffered` from claiming durability it never gave: its waits hand
/// records to the OS and return, while the durable LSN stays where it was.
#[test]
fn buffered_waits_hand_records_to_the_os_without_claiming_durability() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let options = WalOptions {
        durability: Durability::Buffered,
        recovery_mode: RecoveryMode::TolerateTornTail,
        ..WalOptions::default()
    };
    let faults = Arc::new(common::Faults::default());
    let wal = open_faulty(&path, &faults, options).unwrap();
    let record = wal.append(b"buffered").unwrap();
    wal.wait_durable(record).unwrap();
    assert_eq!(faults.syncs(), 0);
    assert!(!record.is_durable_at(wal.durable_lsn()));
    assert_eq!(records(&path).len(), 1, "it reached the OS");
}
