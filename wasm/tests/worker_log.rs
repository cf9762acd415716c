//! The worker log's group commit, poisoning, recovery and reads, natively on `MemStorage`: the
//! same `WorkerLog` the browser worker serves, without a browser. (The OPFS side is tested in
//! headless Chromium by `opfs_worker.rs`.)
#![cfg(not(target_arch = "wasm32"))]

use walden_core::{Lsn, MemStorage, Storage, WriterOptions};
use walden_wasm::{
    CommitOutcome, FlushPolicy, LogError, LogEvent, LogOptions, RequestId, WorkerLog,
};

const SALT: u64 = 0x5eed_0fa1;

fn clock() -> f64 {
    0.0
}

fn options(policy: FlushPolicy) -> LogOptions {
    LogOptions {
        writer: WriterOptions {
            preallocate_bytes: 0,
            ..WriterOptions::default()
        },
        flush_policy: policy,
    }
}

fn open(storage: MemStorage, policy: FlushPolicy) -> WorkerLog<MemStorage> {
    match WorkerLog::recover(storage, options(policy), SALT) {
        Ok(log) => log,
        Err(err) => panic!("recover failed: {err}"),
    }
}

fn queued(outcome: CommitOutcome) -> Lsn {
    match outcome {
        CommitOutcome::Queued(lsn) => lsn,
        other => panic!("expected the commit to wait for a flush, got {other:?}"),
    }
}

fn payloads(log: &WorkerLog<MemStorage>) -> Vec<Vec<u8>> {
    payloads_from(log, Lsn::ZERO)
}

fn payloads_from(log: &WorkerLog<MemStorage>, from: Lsn) -> Vec<Vec<u8>> {
    match log.read(from, usize::MAX) {
        Ok(records) => records.into_iter().map(|(_, payload)| payload).collect(),
        Err(err) => panic!("read from {from} failed: {err}"),
    }
}

/// Guards the group commit itself: commits queued before a flush runs share that one flush,
/// each is answered with its own LSN, and none is answered before it.
#[test]
fn commits_queued_before_a_flush_share_it() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    let syncs_before = log.writer().storage().syncs();
    let lsns: Vec<Lsn> = (0..3u64)
        .map(|id| queued(log.commit(id, format!("record {id}").as_bytes())))
        .collect();
    assert!(log.flush_due());
    assert_eq!(
        log.durable_lsn(),
        Lsn::ZERO,
        "nothing is durable before the flush"
    );
    let report = log.flush(&clock);
    let answers: Vec<(RequestId, Lsn)> = report
        .answers
        .iter()
        .map(|(id, answer)| match answer {
            Ok(lsn) => (*id, *lsn),
            Err(err) => panic!("commit {id} failed: {err}"),
        })
        .collect();
    assert_eq!(answers, vec![(0, lsns[0]), (1, lsns[1]), (2, lsns[2])]);
    assert_eq!(
        log.writer().storage().syncs(),
        syncs_before + 1,
        "one flush for three commits"
    );
    assert_eq!(report.durable, log.writer().current_lsn());
    assert!(!log.flush_due());
    let stats = log.stats();
    assert_eq!(
        (stats.commits, stats.flushes, stats.max_commits_per_flush),
        (3, 1, 3)
    );
}

/// Guards the window's edge: a commit that arrives after a flush ran is not acknowledged by it,
/// and gets the next one.
#[test]
fn a_commit_after_a_flush_waits_for_the_next() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"first"));
    assert_eq!(log.flush(&clock).answers.len(), 1);
    let second = queued(log.commit(2, b"second"));
    assert!(log.flush_due());
    assert!(
        log.durable_lsn() <= second,
        "the second record is not durable yet"
    );
    let report = log.flush(&clock);
    assert_eq!(report.answers, vec![(2, Ok(second))]);
}

/// Guards the benchmark's baseline: with `PerCommit` every commit gets its own flush.
#[test]
fn flush_per_commit_flushes_every_commit() {
    let mut log = open(MemStorage::new(), FlushPolicy::PerCommit);
    let syncs_before = log.writer().storage().syncs();
    for id in 0..5 {
        queued(log.commit(id, b"x"));
        assert_eq!(log.flush(&clock).answers.len(), 1);
    }
    assert_eq!(log.writer().storage().syncs(), syncs_before + 5);
}

/// Guards poisoning: a failed flush fails every commit it carried, the durable LSN stays, and
/// every later commit or append is refused with `Poisoned` until the log is reopened.
#[test]
fn a_failed_flush_fails_its_commits_and_poisons_the_log() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"durable"));
    log.flush(&clock);
    let durable = log.durable_lsn();
    queued(log.commit(2, b"lost a"));
    queued(log.commit(3, b"lost b"));
    log.writer_mut().storage_mut().fail_next_sync();
    let report = log.flush(&clock);
    assert_eq!(report.answers.len(), 2);
    for (id, answer) in &report.answers {
        match answer {
            Err(LogError::Io { .. }) => {}
            other => panic!("commit {id}: expected the flush's I/O error, got {other:?}"),
        }
    }
    assert_eq!(
        log.durable_lsn(),
        durable,
        "the durable LSN never moves past a failed flush"
    );
    match log.commit(4, b"later") {
        CommitOutcome::Failed(err @ LogError::Poisoned { .. }) => {
            assert_eq!(err.kind(), "poisoned");
            assert!(err.to_string().to_lowercase().contains("reopen"), "{err}");
        }
        other => panic!("expected Poisoned, got {other:?}"),
    }
    assert!(matches!(
        log.append(b"later"),
        Err(LogError::Poisoned { .. })
    ));
    assert!(log.stats().poisoned);
}

/// Guards the pipeline's one cause: the refusal every later call gets names the failure that
/// poisoned the log (the failed flush), not a generic "an earlier flush failed".
#[test]
fn later_refusals_name_the_flush_that_failed() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"lost"));
    log.writer_mut().storage_mut().fail_next_sync();
    let report = log.flush(&clock);
    assert!(matches!(report.answers.as_slice(), [(1, Err(_))]));
    for err in [
        log.append(b"later").err(),
        match log.commit(2, b"later") {
            CommitOutcome::Failed(err) => Some(err),
            _ => None,
        },
    ] {
        let message = err.map(|err| err.to_string()).unwrap_or_default();
        assert!(message.contains("injected sync failure"), "{message}");
    }
}

/// Guards a leader whose drain fails before its flush starts (the pipeline's abandoned lead):
/// every commit the flush would have carried gets the write's error, none is acknowledged, and
/// the log is poisoned.
#[test]
fn a_failed_drain_fails_the_commits_it_would_have_flushed() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"durable"));
    log.flush(&clock);
    let durable = log.durable_lsn();
    queued(log.commit(2, b"lost a"));
    queued(log.commit(3, b"lost b"));
    log.writer_mut().storage_mut().fail_next_write();
    let syncs = log.writer().storage().syncs();
    let report = log.flush(&clock);
    let ids: Vec<RequestId> = report.answers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![2, 3]);
    for (id, answer) in &report.answers {
        match answer {
            Err(err @ LogError::Io { .. }) => {
                assert!(err.to_string().contains("injected write failure"), "{err}")
            }
            other => panic!("commit {id}: expected the write's error, got {other:?}"),
        }
    }
    assert_eq!(
        log.writer().storage().syncs(),
        syncs,
        "no flush after a failed drain"
    );
    assert_eq!(log.durable_lsn(), durable);
    assert!(log.stats().poisoned);
    assert!(matches!(
        log.commit(4, b"later"),
        CommitOutcome::Failed(LogError::Poisoned { .. })
    ));
}

/// Guards a write failure outside any flush: a full buffer's drain fails on the append path
/// while commits wait. The append gets the error; the waiting commits are failed by the
/// pipeline at once, and the next flush (which the worker schedules, as one is due) delivers
/// their answers without flushing anything; later calls are refused as poisoned.
#[test]
fn a_full_buffers_failed_drain_fails_the_waiting_commits() {
    let mut log = match WorkerLog::recover(
        MemStorage::new(),
        LogOptions {
            writer: WriterOptions {
                preallocate_bytes: 0,
                buffer_bytes: 64,
                ..WriterOptions::default()
            },
            flush_policy: FlushPolicy::Grouped,
        },
        SALT,
    ) {
        Ok(log) => log,
        Err(err) => panic!("recover failed: {err}"),
    };
    queued(log.commit(1, b"waits a"));
    queued(log.commit(2, b"waits b"));
    log.writer_mut().storage_mut().fail_next_write();
    let durable = log.durable_lsn();
    let syncs = log.writer().storage().syncs();
    match log.append(&[7u8; 60]) {
        Err(err @ LogError::Io { .. }) => {
            assert!(err.to_string().contains("injected write failure"), "{err}")
        }
        other => panic!("expected the drain's I/O error, got {other:?}"),
    }
    assert!(log.stats().poisoned);
    assert!(log.flush_due(), "the failed commits' answers are owed");
    let report = log.flush(&clock);
    let ids: Vec<RequestId> = report.answers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(report.answers.iter().all(|(_, answer)| answer.is_err()));
    assert!(!log.flush_due());
    assert_eq!(log.writer().storage().syncs(), syncs);
    assert_eq!(log.durable_lsn(), durable);
    assert!(matches!(
        log.append(b"later"),
        Err(LogError::Poisoned { .. })
    ));
}

/// Guards recovery through the worker log: garbage after the last record is truncated on open,
/// and records committed after that survive the next reopen (they are not behind the garbage).
#[test]
fn garbage_tail_is_truncated_and_later_commits_survive() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"one"));
    log.flush(&clock);
    let (_, result) = log.close(&clock);
    let Ok((_, storage)) = result else {
        panic!("close failed")
    };
    let mut image = storage.durable_image().to_vec();
    image.extend_from_slice(&[0xA5; 37]);
    let mut log = open(MemStorage::from_durable(image), FlushPolicy::Grouped);
    assert_eq!(log.stats().truncated_bytes, 37);
    assert_eq!(log.stats().recovered_records, 1);
    queued(log.commit(2, b"two"));
    log.flush(&clock);
    let mut storage = match log.close(&clock).1 {
        Ok((_, storage)) => storage,
        Err(err) => panic!("close failed: {err}"),
    };
    storage.crash();
    let log = open(storage, FlushPolicy::Grouped);
    assert_eq!(payloads(&log), vec![b"one".to_vec(), b"two".to_vec()]);
}

/// Guards the typed refusal of a foreign file, which must be left byte for byte as it was.
#[test]
fn a_foreign_file_is_not_a_wal_and_untouched() {
    let foreign = b"PK\x03\x04 this is a zip file, not a log".repeat(4);
    let storage = MemStorage::from_durable(foreign.clone());
    match WorkerLog::recover(storage, options(FlushPolicy::Grouped), SALT) {
        Err(err @ LogError::NotAWal { .. }) => assert_eq!(err.kind(), "notAWal"),
        Err(err) => panic!("expected NotAWal, got {err:?}"),
        Ok(_) => panic!("a foreign file opened as a log"),
    }
}

/// Guards reads: only durable records are returned, from any record boundary, and an LSN that
/// is not one is a `BadRequest`, not garbage.
#[test]
fn read_returns_durable_records_from_a_boundary() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    let first = queued(log.commit(1, b"alpha"));
    let second = queued(log.commit(2, b"beta"));
    log.flush(&clock);
    let appended = match log.append(b"not yet durable") {
        Ok(lsn) => lsn,
        Err(err) => panic!("append failed: {err}"),
    };
    assert!(appended >= log.durable_lsn());
    assert_eq!(payloads(&log), vec![b"alpha".to_vec(), b"beta".to_vec()]);
    match log.read(second, usize::MAX) {
        Ok(records) => assert_eq!(records, vec![(second, b"beta".to_vec())]),
        Err(err) => panic!("read failed: {err}"),
    }
    let inside = Lsn::new(first.get() + 3);
    assert!(matches!(
        log.read(inside, usize::MAX),
        Err(LogError::BadRequest { .. })
    ));
    match log.read(log.durable_lsn(), usize::MAX) {
        Ok(records) => assert!(records.is_empty()),
        Err(err) => panic!("read at the durable end failed: {err}"),
    }
}

/// Guards what the dashboard draws: with observing on, one grouped flush shows the appends, the
/// state machine's lead and waits, the drain, and a flush that carried every commit.
#[test]
fn events_show_appends_drain_and_the_flush_that_carried_them() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(0, b"unobserved"));
    log.flush(&clock);
    assert!(
        log.take_events().is_empty(),
        "no events are recorded unless observed"
    );
    log.set_observing(true);
    for id in 1..=4 {
        queued(log.commit(id, b"observed"));
    }
    log.flush(&clock);
    let events = log.take_events();
    let appended = events
        .iter()
        .filter(|event| matches!(event, LogEvent::Appended { commit: true, .. }))
        .count();
    assert_eq!(appended, 4);
    assert!(events
        .iter()
        .any(|event| matches!(event, LogEvent::Drained { .. })));
    assert!(events.iter().any(|event| matches!(
        event,
        LogEvent::FlushFinished {
            commits: 4,
            ok: true,
            ..
        }
    )));
    assert!(events.iter().any(|event| matches!(
        event,
        LogEvent::GroupCommit(walden_core::Event::SyncSucceeded { covered: 4, .. })
    )));
}

/// Guards the open path: a reopened log's recovered records are durable (and readable) at once,
/// as the native `Wal` makes them.
#[test]
fn reopened_records_are_durable_and_readable() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"kept"));
    log.flush(&clock);
    let Ok((end, mut storage)) = log.close(&clock).1 else {
        panic!("close failed")
    };
    storage.crash();
    let size = storage.size().unwrap_or_default();
    let log = open(storage, FlushPolicy::Grouped);
    assert_eq!(log.durable_lsn(), end);
    assert!(size > 0);
    assert_eq!(payloads(&log), vec![b"kept".to_vec()]);
}

fn closed_image(records: &[&[u8]]) -> Vec<u8> {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    for (id, payload) in records.iter().enumerate() {
        queued(log.commit(id as RequestId, payload));
    }
    log.flush(&clock);
    match log.close(&clock).1 {
        Ok((_, storage)) => storage.durable_image().to_vec(),
        Err(err) => panic!("close failed: {err}"),
    }
}

/// Guards the refusal of a newer format: the typed `NewerVersion` (kind `newerVersion`), and
/// the file is not changed.
#[test]
fn a_newer_format_is_refused_untouched() {
    let mut image = closed_image(&[b"from the future"]);
    // Both header slots claim the version after this build's.
    for slot in [0, walden_core::HEADER_LEN] {
        image[slot + 8..slot + 12]
            .copy_from_slice(&(walden_core::FORMAT_VERSION + 1).to_le_bytes());
    }
    let storage = MemStorage::from_durable(image.clone());
    match WorkerLog::recover(storage, options(FlushPolicy::Grouped), SALT) {
        Err(err @ LogError::NewerVersion { .. }) => assert_eq!(err.kind(), "newerVersion"),
        Err(err) => panic!("expected NewerVersion, got {err:?}"),
        Ok(_) => panic!("a newer-format log opened"),
    }
}

/// Guards mid-log corruption: a damaged record with valid records after it is reported as
/// `corrupt` on open, never truncated away silently.
#[test]
fn corruption_mid_log_is_reported_not_truncated() {
    let mut image = closed_image(&[b"first record", b"second record", b"third record"]);
    let first_payload = walden_core::BODY_OFFSET + walden_core::FRAME_HEADER_LEN;
    image[first_payload] ^= 0x40;
    let storage = MemStorage::from_durable(image);
    match WorkerLog::recover(storage, options(FlushPolicy::Grouped), SALT) {
        Err(err @ LogError::Corrupt { .. }) => {
            assert_eq!(err.kind(), "corrupt");
            assert!(err.to_string().contains("nothing was changed"), "{err}");
        }
        Err(err) => panic!("expected Corrupt, got {err:?}"),
        Ok(_) => panic!("a log corrupt in the middle opened"),
    }
}

/// Guards `truncate`, the browser log's only way to stay small: the commits waiting when it
/// runs are made durable and answered first, every record is then discarded (in the file, not
/// just hidden), LSNs keep growing across it and across a reopen, and reads from before the new
/// base are refused rather than answered with nothing.
#[test]
fn truncate_answers_waiting_commits_then_discards_every_record_and_lsns_keep_growing() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"flushed earlier"));
    log.flush(&clock);
    let waiting = queued(log.commit(2, b"waiting when truncate runs"));
    let appended = match log.append(b"appended, never committed") {
        Ok(lsn) => lsn,
        Err(err) => panic!("append failed: {err}"),
    };
    let (report, truncated) = log.truncate(&clock);
    let answers: Vec<(RequestId, Lsn)> = report
        .answers
        .iter()
        .map(|(id, answer)| match answer {
            Ok(lsn) => (*id, *lsn),
            Err(err) => panic!("commit {id} failed: {err}"),
        })
        .collect();
    assert_eq!(
        answers,
        vec![(2, waiting)],
        "the waiting commit is answered first"
    );
    let base = match truncated {
        Ok(base) => base,
        Err(err) => panic!("truncate failed: {err}"),
    };
    assert!(
        base > appended,
        "the new base is past every record: {base} vs {appended}"
    );
    assert_eq!(report.durable, base);
    assert_eq!(log.durable_lsn(), base);
    assert_eq!(log.stats().base_lsn, base);
    assert!(payloads_from(&log, base).is_empty());
    assert!(matches!(
        log.read(Lsn::ZERO, usize::MAX),
        Err(LogError::BadRequest { .. })
    ));
    let image = log.writer().storage().durable_image().to_vec();
    assert_eq!(
        image.len(),
        walden_core::BODY_OFFSET,
        "only the header is left"
    );

    let next = queued(log.commit(3, b"after the truncate"));
    assert_eq!(next, base, "the next record starts at the new base");
    log.flush(&clock);
    let (_, closed) = log.close(&clock);
    let storage = match closed {
        Ok((_, storage)) => storage,
        Err(err) => panic!("close failed: {err}"),
    };
    let log = open(
        MemStorage::from_durable(storage.durable_image().to_vec()),
        FlushPolicy::Grouped,
    );
    assert_eq!(log.stats().base_lsn, base, "the base survives a reopen");
    assert_eq!(
        payloads_from(&log, base),
        vec![b"after the truncate".to_vec()]
    );
}

/// Guards poisoning across `truncate`: after a failed flush nothing is discarded and the
/// refusal says the log is poisoned.
#[test]
fn a_poisoned_log_refuses_truncate_and_keeps_its_records() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    queued(log.commit(1, b"durable"));
    log.flush(&clock);
    queued(log.commit(2, b"lost"));
    log.writer_mut().storage_mut().fail_next_sync();
    let (report, truncated) = log.truncate(&clock);
    assert!(matches!(report.answers.as_slice(), [(2, Err(_))]));
    match truncated {
        Err(err @ LogError::Poisoned { .. }) => assert_eq!(err.kind(), "poisoned"),
        other => panic!("expected Poisoned, got {other:?}"),
    }
    assert_eq!(payloads(&log), vec![b"durable".to_vec()]);
}

/// Prevents a leader from telling a follower a wrong place for its record: `next_record_lsn`
/// is where the record lands whenever it answers, it answers `None` only when a drain must come
/// first (after which `current_lsn` is exact), and it never places a record the log refuses.
#[test]
fn a_record_placed_before_appending_lands_where_it_was_placed() {
    let mut log = open(MemStorage::new(), FlushPolicy::Grouped);
    let mut drained = 0;
    for i in 0..2_000u64 {
        let payload = vec![i as u8; 1 + (i as usize * 97) % 3_000];
        let placed = match log.next_record_lsn(payload.len()) {
            Some(lsn) => lsn,
            None => {
                drained += 1;
                log.drain().unwrap();
                log.current_lsn()
            }
        };
        assert_eq!(queued(log.commit(i, &payload)), placed, "record {i}");
        if i % 100 == 99 {
            let report = log.flush(&clock);
            assert!(report.answers.iter().all(|(_, answer)| answer.is_ok()));
        }
    }
    assert!(drained > 10, "the buffer filled now and then: {drained}");
    let too_large = walden_core::DEFAULT_MAX_PAYLOAD_LEN as usize + 1;
    assert!(log.refuses(too_large));
    assert_eq!(log.next_record_lsn(too_large), None);
}
