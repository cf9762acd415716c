//! The OPFS backend in a real dedicated worker of headless Chromium (wasm-bindgen-test, run by
//! `scripts/test` through `wasm-bindgen-test-runner`): the core writer on `OpfsStorage`,
//! recovery, the exclusive lock, typed refusals and poisoning. One file per test mode: every
//! test here runs in a dedicated worker, where sync access handles exist.
#![cfg(target_arch = "wasm32")]

use walden_core::{Lsn, Storage, SyncMode, BODY_OFFSET};
use walden_wasm::{
    CommitOutcome, FlushPolicy, LogError, LogOptions, OpfsError, OpfsStorage, WorkerLog,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const SALT: u64 = 0x0bf5_5a17;

fn clock() -> f64 {
    0.0
}

/// A fresh, empty OPFS file for one test.
async fn fresh(name: &str) -> OpfsStorage {
    OpfsStorage::remove(name)
        .await
        .expect("remove the old test file");
    OpfsStorage::open(name)
        .await
        .expect("open a fresh OPFS file")
}

async fn open_log(name: &str) -> Result<WorkerLog<OpfsStorage>, LogError> {
    let storage = OpfsStorage::open(name).await?;
    WorkerLog::recover(storage, LogOptions::default(), SALT)
}

fn commit_and_flush(log: &mut WorkerLog<OpfsStorage>, id: u64, payload: &[u8]) -> Lsn {
    let lsn = match log.commit(id, payload) {
        CommitOutcome::Queued(lsn) => lsn,
        other => panic!("commit {id}: expected it to wait for a flush, got {other:?}"),
    };
    let report = log.flush(&clock);
    assert_eq!(
        report.answers,
        vec![(id, Ok(lsn))],
        "the flush acknowledges commit {id}"
    );
    lsn
}

fn close(log: WorkerLog<OpfsStorage>) {
    let (_, closed) = log.close(&clock);
    let (_, mut storage) = closed.expect("close the log");
    storage.close();
}

fn payloads(log: &WorkerLog<OpfsStorage>) -> Vec<Vec<u8>> {
    log.read(Lsn::ZERO, usize::MAX)
        .expect("read the log back")
        .into_iter()
        .map(|(_, payload)| payload)
        .collect()
}

/// Guards the basic promise: what a flush acknowledged is in OPFS after the handle is closed
/// and the file reopened, byte for byte, at the same LSNs.
#[wasm_bindgen_test]
async fn write_flush_reopen_read_back() {
    let name = "walden-test-roundtrip.wal";
    drop(fresh(name).await);
    let mut log = open_log(name).await.expect("create the log");
    let lsns: Vec<Lsn> = (0..3u64)
        .map(|id| commit_and_flush(&mut log, id, format!("record {id}").as_bytes()))
        .collect();
    close(log);
    let log = open_log(name).await.expect("reopen the log");
    let records = log.read(Lsn::ZERO, usize::MAX).expect("read back");
    let expected: Vec<(Lsn, Vec<u8>)> = lsns
        .iter()
        .enumerate()
        .map(|(id, lsn)| (*lsn, format!("record {id}").into_bytes()))
        .collect();
    assert_eq!(records, expected);
    assert_eq!(log.stats().recovered_records, 3);
    close(log);
}

/// Guards recovery on OPFS: garbage after the last record (a torn write) is truncated on
/// reopen, so a record committed after that is not stranded behind it and survives the next
/// reopen.
#[wasm_bindgen_test]
async fn garbage_tail_is_truncated_and_later_appends_survive() {
    let name = "walden-test-torn.wal";
    drop(fresh(name).await);
    let mut log = open_log(name).await.expect("create the log");
    commit_and_flush(&mut log, 1, b"before the garbage");
    close(log);
    let garbage = [0xA5u8; 41];
    let mut raw = OpfsStorage::open(name).await.expect("open the file raw");
    let end = raw.size().expect("size");
    raw.write_at(end, &garbage).expect("append garbage");
    raw.sync(SyncMode::Data).expect("flush the garbage");
    raw.close();
    let mut log = open_log(name).await.expect("reopen over the garbage");
    let stats = log.stats();
    assert_eq!(stats.recovered_records, 1);
    assert!(
        stats.truncated_bytes >= garbage.len() as u64,
        "the torn tail ({} bytes) includes the garbage",
        stats.truncated_bytes
    );
    commit_and_flush(&mut log, 2, b"after the garbage");
    close(log);
    let log = open_log(name).await.expect("reopen again");
    assert_eq!(
        payloads(&log),
        vec![
            b"before the garbage".to_vec(),
            b"after the garbage".to_vec()
        ]
    );
    assert_eq!(log.stats().truncated_bytes, 0, "nothing left to truncate");
    close(log);
}

/// Guards the lock: a second handle on an open log is refused at once with the typed
/// `Locked` error (not a hang), and the lock is released when the first one closes.
#[wasm_bindgen_test]
async fn a_second_handle_is_refused_with_locked() {
    let name = "walden-test-lock.wal";
    drop(fresh(name).await);
    let log = open_log(name).await.expect("open the log");
    match OpfsStorage::open(name).await {
        Err(err @ OpfsError::Locked { .. }) => {
            assert!(
                err.to_string().contains("open in another tab or worker"),
                "{err}"
            );
        }
        Err(err) => panic!("expected Locked, got {err:?}"),
        Ok(_) => panic!("a second sync access handle was granted"),
    }
    match open_log(name).await {
        Err(err) => assert_eq!(err.kind(), "locked", "{err}"),
        Ok(_) => panic!("a second log opened"),
    }
    close(log);
    let again = open_log(name).await.expect("the lock is released on close");
    close(again);
}

/// Guards the refusal of a foreign file: a typed `NotAWal`, and not one byte changed.
#[wasm_bindgen_test]
async fn a_foreign_file_is_refused_and_untouched() {
    let name = "walden-test-foreign.wal";
    let foreign = b"SQLite format 3\0 this file belongs to someone else".repeat(3);
    let mut raw = fresh(name).await;
    raw.write_at(0, &foreign).expect("write the foreign file");
    raw.sync(SyncMode::Data).expect("flush it");
    raw.close();
    match open_log(name).await {
        Err(err @ LogError::NotAWal { .. }) => assert_eq!(err.kind(), "notAWal"),
        Err(err) => panic!("expected NotAWal, got {err:?}"),
        Ok(_) => panic!("a foreign file opened as a log"),
    }
    let raw = OpfsStorage::open(name).await.expect("reopen raw");
    let mut bytes = vec![0u8; foreign.len() + 16];
    let read = raw.read_at(0, &mut bytes).expect("read it back");
    assert_eq!(
        &bytes[..read],
        foreign.as_slice(),
        "the foreign file is untouched"
    );
}

/// OPFS storage whose next flush or write fails as a full quota does.
struct QuotaAfter {
    inner: OpfsStorage,
    fail_next_sync: bool,
}

impl Storage for QuotaAfter {
    type Error = OpfsError;
    fn size(&self) -> Result<u64, OpfsError> {
        self.inner.size()
    }
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), OpfsError> {
        self.inner.write_at(offset, bytes)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, OpfsError> {
        self.inner.read_at(offset, buf)
    }
    fn sync(&mut self, mode: SyncMode) -> Result<(), OpfsError> {
        if std::mem::take(&mut self.fail_next_sync) {
            return Err(OpfsError::QuotaExceeded {
                name: self.inner.name().to_owned(),
                op: "making the log durable (flush)",
            });
        }
        self.inner.sync(mode)
    }
    fn truncate(&mut self, len: u64) -> Result<(), OpfsError> {
        self.inner.truncate(len)
    }
}

/// Guards poisoning and the quota promise: a flush that fails (as with a full quota) fails the
/// commits it carried with kind `quota`, every later commit is refused as `poisoned`, and on
/// reopen every commit acknowledged before the failure is there.
#[wasm_bindgen_test]
async fn a_failed_flush_poisons_and_loses_nothing_acknowledged() {
    let name = "walden-test-poison.wal";
    drop(fresh(name).await);
    let storage = QuotaAfter {
        inner: OpfsStorage::open(name).await.expect("open"),
        fail_next_sync: false,
    };
    let options = LogOptions {
        flush_policy: FlushPolicy::Grouped,
        ..LogOptions::default()
    };
    let mut log = WorkerLog::recover(storage, options, SALT).expect("create the log");
    let acked = match log.commit(1, b"acknowledged") {
        CommitOutcome::Queued(lsn) => lsn,
        other => panic!("{other:?}"),
    };
    assert_eq!(log.flush(&clock).answers, vec![(1, Ok(acked))]);
    let durable = log.durable_lsn();
    assert!(matches!(
        log.commit(2, b"never acknowledged"),
        CommitOutcome::Queued(_)
    ));
    log.writer_mut().storage_mut().fail_next_sync = true;
    let report = log.flush(&clock);
    match &report.answers[..] {
        [(2, Err(err))] => assert_eq!(err.kind(), "quota", "{err}"),
        other => panic!("expected commit 2 to fail with quota, got {other:?}"),
    }
    assert_eq!(log.durable_lsn(), durable);
    match log.commit(3, b"after the failure") {
        CommitOutcome::Failed(err) => assert_eq!(err.kind(), "poisoned", "{err}"),
        other => panic!("expected poisoned, got {other:?}"),
    }
    assert!(log.stats().poisoned);
    drop(log);
    let log = open_log(name).await.expect("reopen after poisoning");
    let records = payloads(&log);
    assert_eq!(
        records.first().map(Vec::as_slice),
        Some(&b"acknowledged"[..])
    );
    close(log);
}

/// Guards the header's place: a new log's file starts with a full header and its first record
/// right after it.
#[wasm_bindgen_test]
async fn a_new_log_starts_with_a_header() {
    let name = "walden-test-header.wal";
    drop(fresh(name).await);
    let mut log = open_log(name).await.expect("create the log");
    let lsn = commit_and_flush(&mut log, 1, b"first");
    assert_eq!(lsn, Lsn::ZERO);
    assert!(log.writer().storage().size().expect("size") > BODY_OFFSET as u64);
    close(log);
}

/// Guards `truncate` on real OPFS: the file shrinks to its header (OPFS `truncate` and the
/// header rewrite both reach the file), and after a reopen the log starts at the new base with
/// only what was committed after it.
#[wasm_bindgen_test]
async fn truncate_empties_the_file_and_lsns_keep_growing_across_a_reopen() {
    let name = "walden-test-truncate.wal";
    drop(fresh(name).await);
    let mut log = open_log(name).await.expect("create the log");
    for id in 0..3u64 {
        commit_and_flush(&mut log, id, format!("before {id}").as_bytes());
    }
    let (_, truncated) = log.truncate(&clock);
    let base = truncated.expect("truncate");
    assert!(base > Lsn::ZERO);
    assert_eq!(
        log.writer().storage().size().expect("size"),
        BODY_OFFSET as u64,
        "only the header is left in the OPFS file"
    );
    let after = commit_and_flush(&mut log, 3, b"after");
    assert_eq!(after, base);
    close(log);
    let log = open_log(name).await.expect("reopen the log");
    assert_eq!(log.stats().base_lsn, base);
    assert_eq!(log.stats().recovered_records, 1);
    let records = log.read(base, usize::MAX).expect("read back");
    assert_eq!(records, vec![(base, b"after".to_vec())]);
    close(log);
}
