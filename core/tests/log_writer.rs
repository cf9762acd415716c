//! `LogWriter`'s contract as the browser backend sees it: the core writer alone over
//! `MemStorage`, with the core's own error type. (The native `WalWriter`, a thin wrapper, pins
//! the same promises through its API in `native/tests/writer.rs`.)

use walden_core::{
    InputError, LogWriter, Lsn, MemError, MemStorage, PoisonedError, Storage, TailKind,
    WriterError, WriterOptions,
};

const SALT: u64 = 0x5eed_0001;

fn options() -> WriterOptions {
    WriterOptions {
        preallocate_bytes: 0,
        ..WriterOptions::default()
    }
}

fn new_log() -> LogWriter<MemStorage> {
    LogWriter::recover(MemStorage::new(), options(), SALT).expect("a new log")
}

/// Prevents a backend from counting records durable before a sync of its own, or losing synced
/// records across a crash.
#[test]
fn synced_records_survive_a_crash_and_unsynced_ones_do_not() {
    let mut log = new_log();
    assert_eq!(log.codec().salt(), SALT);
    log.append(b"one").unwrap();
    let synced = log.sync().unwrap();
    log.append(b"two").unwrap();
    assert_eq!(log.durable_lsn(), synced);

    let mut storage = log.storage().clone();
    storage.crash();
    let log = LogWriter::recover(storage, options(), 0).unwrap();
    assert_eq!(log.recovery().records, 1);
    assert_eq!(log.current_lsn(), synced);
    assert_eq!(
        log.durable_lsn(),
        Lsn::ZERO,
        "nothing is durable until this writer syncs"
    );
}

/// Prevents new records landing behind garbage (lost at the next recovery): the torn tail is cut,
/// and the cut synced, before the first append.
#[test]
fn a_torn_tail_is_cut_and_synced_before_the_next_append() {
    let mut log = new_log();
    log.append(b"kept").unwrap();
    let end = log.sync().unwrap();
    let (_, mut storage) = log.close().unwrap();
    let len = storage.size().unwrap();
    storage.write_at(len, b"\x07garbage").unwrap();
    storage.sync(walden_core::SyncMode::Data).unwrap();

    let mut log = LogWriter::recover(storage, options(), 0).unwrap();
    assert!(matches!(
        log.recovery().tail.map(|tail| tail.kind),
        Some(TailKind::Torn(_))
    ));
    assert_eq!(
        log.storage().durable_image().len() as u64,
        len,
        "the cut is durable"
    );
    assert_eq!(log.append(b"after").unwrap().lsn(), end);
    log.sync().unwrap();
    let (_, storage) = log.close().unwrap();
    let log = LogWriter::recover(storage, options(), 0).unwrap();
    assert_eq!(log.recovery().records, 2);
    assert!(log.recovery().tail.is_none());
}

/// Prevents a retried sync from reporting success for data a failed one lost: the first failure
/// poisons, naming its cause, and nothing reports durability again.
#[test]
fn a_failed_sync_poisons_with_its_cause_until_reopened() {
    let mut log = new_log();
    log.append(b"a").unwrap();
    log.storage_mut().fail_next_sync();
    match log.sync() {
        Err(WriterError::Storage {
            op: "sync",
            source: MemError::InjectedSyncFailure,
        }) => {}
        other => panic!("expected the sync's own failure, got {other:?}"),
    }
    assert_eq!(log.poisoned(), Some("sync failed: injected sync failure"));
    for result in [
        log.sync(),
        log.append(b"b").map(|appended| appended.end()),
        log.flush_until(Lsn::new(1)),
    ] {
        match result {
            Err(WriterError::Poisoned(PoisonedError { durable, cause })) => {
                assert_eq!(durable, Lsn::ZERO);
                assert!(cause.contains("injected sync failure"), "{cause}");
            }
            other => panic!("expected Poisoned, got {other:?}"),
        }
    }
    assert!(log.mark_durable(Lsn::new(1)).is_err());
    assert_eq!(log.durable_lsn(), Lsn::ZERO);
}

/// Prevents a group-commit leader from publishing more than it drained, or a failure it saw
/// elsewhere from being forgotten: `drain` hands back the written LSN, `mark_durable` publishes
/// it, and `poison` keeps the first cause.
#[test]
fn drain_then_mark_durable_is_a_split_sync_and_poison_keeps_the_first_cause() {
    let mut log = new_log();
    let appended = log.append(b"grouped").unwrap();
    let lsn = appended.lsn();
    let written = log.drain().unwrap();
    assert_eq!(written, appended.end());
    assert_eq!(log.durable_lsn(), Lsn::ZERO);
    log.storage_mut().sync(walden_core::SyncMode::Data).unwrap();
    assert!(log.mark_durable(written).unwrap());
    assert!(!log.mark_durable(lsn).unwrap(), "a stale mark is a no-op");
    assert!(matches!(
        log.mark_durable(Lsn::new(written.get() + 1)),
        Err(WriterError::Watermark(_))
    ));
    assert!(log.poison("flush on the leader's handle failed".into()));
    assert!(!log.poison("a later failure".into()));
    assert_eq!(log.poisoned(), Some("flush on the leader's handle failed"));
}

/// Prevents a foreign file from being "recovered" into an empty log: it is a typed header error
/// whose text says what the file is not.
#[test]
fn a_foreign_file_is_a_typed_header_error() {
    let image = b"this is not a write-ahead log, just some text".to_vec();
    let err = LogWriter::recover(MemStorage::from_durable(image), options(), 0).unwrap_err();
    assert!(matches!(err, WriterError::Header(_)), "{err:?}");
    assert!(err.to_string().contains("not a Walden log"), "{err}");
}

/// Prevents a usage error from poisoning the log or losing its own type: a wrong call is a
/// typed `InputError`, with that error's text, and the log goes on as if it was never made.
#[test]
fn a_wrong_call_is_a_typed_input_error_and_changes_nothing() {
    let mut log = new_log();
    let end = log.append(b"a").unwrap().end();
    let target = Lsn::new(end.get() + 1);
    let expected = InputError::BeyondCurrent {
        target,
        current: end,
    };
    match log.flush_until(target) {
        Err(WriterError::Input(err)) => assert_eq!(err, expected),
        other => panic!("expected BeyondCurrent, got {other:?}"),
    }
    match log.set_current_lsn(Lsn::new(end.get() + 100)) {
        Err(err @ WriterError::Input(InputError::NotEmpty { current })) => {
            assert_eq!(current, end);
            assert_eq!(
                err.to_string(),
                InputError::NotEmpty { current }.to_string()
            );
        }
        other => panic!("expected NotEmpty, got {other:?}"),
    }
    match log.append_bytes(&[0u8; 3]) {
        Err(WriterError::Input(InputError::InvalidFrames { offset: 0, .. })) => {}
        other => panic!("expected InvalidFrames, got {other:?}"),
    }
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.sync().unwrap(), end);
}

/// Prevents a browser leader from telling a follower the wrong place for its record (the
/// follower would then acknowledge someone else's bytes after a crash): whenever
/// `append_stays_buffered` says yes, the record lands at `current_lsn` and nothing reaches
/// storage; after a drain it lands at `current_lsn` even when a sync marker was added.
#[test]
fn a_record_that_stays_buffered_lands_at_the_current_lsn_and_writes_nothing() {
    let mut log = LogWriter::recover(
        MemStorage::new(),
        WriterOptions {
            buffer_bytes: 1024,
            ..options()
        },
        SALT,
    )
    .unwrap();
    log.append(b"first").unwrap();
    log.sync().unwrap();
    let mut buffered = 0;
    for round in 0..200usize {
        let payload = vec![round as u8; 10 + (round * 37) % 300];
        if log.append_stays_buffered(payload.len()) {
            buffered += 1;
        } else {
            log.drain().unwrap();
            if round % 3 == 0 {
                // A sync between, so that the next drain adds a sync marker.
                log.sync().unwrap();
            }
        }
        let predicted = log.current_lsn();
        let stays = log.append_stays_buffered(payload.len());
        let written = log.written_lsn();
        let appended = log.append(&payload).unwrap();
        assert_eq!(appended.lsn(), predicted, "round {round}");
        if stays {
            assert_eq!(log.written_lsn(), written, "round {round} wrote to storage");
        }
    }
    assert!(buffered > 100, "most rounds fit the buffer: {buffered}");
    // An oversized record: after a drain the buffer is empty and it lands at current_lsn.
    assert!(!log.append_stays_buffered(4096));
    log.drain().unwrap();
    let predicted = log.current_lsn();
    assert_eq!(log.append(&[7u8; 4096]).unwrap().lsn(), predicted);
}
