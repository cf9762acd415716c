//! Torn tails on a real file and on simulated storage: recovery must truncate the tail before
//! the next append, or records appended after it land behind garbage and vanish at the next
//! recovery (the reddb bug).

use std::io::Write;
use walden::backend::FileStorage;
use walden_core::{Lsn, MemStorage, Storage, SyncMode, TailKind};
use walden_tests::{payloads, read_all, Appender};

/// Prevents the reddb bug: reopen after a torn tail, append, reopen again, lose the appends.
#[test]
fn reopen_after_a_torn_tail_then_append_then_reopen_keeps_everything_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");

    let mut log = Appender::create(FileStorage::create_new(&path).unwrap(), 42, Lsn::ZERO).unwrap();
    for i in 0..10u32 {
        log.append(&i.to_le_bytes()).unwrap();
    }
    log.storage.sync(SyncMode::Data).unwrap();
    drop(log);

    // A crash mid-write leaves half a frame at the end of the file.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&[0x31, 0x7F, 0x00, 0x00, 0x99, 0x00])
        .unwrap();
    drop(file);

    let (mut log, recovery) = Appender::recover(FileStorage::open(&path).unwrap()).unwrap();
    assert_eq!(recovery.records, 10);
    assert!(matches!(recovery.tail.unwrap().kind, TailKind::Torn(_)));
    log.append(b"after the crash").unwrap();
    log.storage.sync(SyncMode::Data).unwrap();
    drop(log);

    let (_, recovery) = Appender::recover(FileStorage::open(&path).unwrap()).unwrap();
    assert_eq!(recovery.records, 11);
    assert_eq!(recovery.tail, None);
    let image = std::fs::read(&path).unwrap();
    assert_eq!(payloads(&image).last().unwrap(), b"after the crash");
}

/// Prevents counting unsynced records as recovered after a crash.
#[test]
fn a_crash_keeps_exactly_the_synced_records() {
    let mut log = Appender::create(MemStorage::new(), 7, Lsn::new(1 << 40)).unwrap();
    for i in 0..5u8 {
        log.append(&[i; 100]).unwrap();
    }
    log.storage.sync(SyncMode::Data).unwrap();
    for i in 5..8u8 {
        log.append(&[i; 100]).unwrap();
    }
    log.storage.crash();

    let (log, recovery) = Appender::recover(log.storage).unwrap();
    assert_eq!(recovery.records, 5);
    assert_eq!(recovery.tail, None);
    assert_eq!(payloads(&read_all(&log.storage).unwrap()).len(), 5);
}

/// Prevents trusting a sync that "succeeds" after a failed one (Linux marks lost pages clean).
#[test]
fn writes_lost_by_a_failed_sync_stay_lost_and_recovery_sees_a_torn_tail() {
    let mut log = Appender::create(MemStorage::new(), 9, Lsn::ZERO).unwrap();
    log.append(b"synced").unwrap();
    log.storage.sync(SyncMode::Data).unwrap();
    log.append(b"lost").unwrap();
    log.storage.fail_next_sync();
    assert!(log.storage.sync(SyncMode::Data).is_err());
    log.storage.sync(SyncMode::Data).unwrap();
    log.storage.crash();

    let (_, recovery) = Appender::recover(log.storage).unwrap();
    assert_eq!(recovery.records, 1);
    assert_eq!(recovery.tail.map(|t| t.kind), Some(TailKind::Zeroed));
}
