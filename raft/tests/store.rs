//! `LogStore` as a user drives it through openraft's storage API: a purge removes segment files
//! and never the vote, a store dropped without `close` reopens with everything it reported
//! flushed, and a directory that is not a walden-raft log is refused with a typed error.

#[path = "support/mod.rs"]
mod support;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, EntryPayload, LogId, RaftLogReader, Vote};
use support::types::{Entry, Request, TypeConfig};
use walden::WalOptions;
use walden_raft::{Error, LogStore};

fn tiny_segments() -> WalOptions {
    WalOptions {
        segment_bytes: 1024,
        ..WalOptions::default()
    }
}

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(Request::set(format!("k{index}"), format!("v{index}"))),
    }
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("list the store's directory")
        .filter(|e| {
            e.as_ref()
                .expect("a directory entry")
                .path()
                .extension()
                .is_some_and(|ext| ext == "wal")
        })
        .count()
}

#[tokio::test]
async fn a_purge_removes_segment_files_and_keeps_the_vote() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::<TypeConfig>::open_with(dir.path(), tiny_segments()).unwrap();
    store.save_vote(&Vote::new(3, 1)).await.unwrap();
    store
        .blocking_append((0..200).map(|i| entry(3, i)))
        .await
        .unwrap();
    let before = segment_files(dir.path());
    assert!(before > 10, "{before} segments");
    store
        .purge(LogId::new(CommittedLeaderId::new(3, 1), 189))
        .await
        .unwrap();
    let after = segment_files(dir.path());
    assert!(
        after <= 3,
        "{before} segments before the purge, {after} after"
    );
    drop(store);

    let mut store = LogStore::<TypeConfig>::open_with(dir.path(), tiny_segments()).unwrap();
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(189));
    assert_eq!(state.last_log_id.map(|id| id.index), Some(199));
    let entries = store.try_get_log_entries(..).await.unwrap();
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, (190..200).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_store_dropped_without_close_keeps_every_flushed_entry_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::<TypeConfig>::open(dir.path()).unwrap();
    store
        .blocking_append((0..10).map(|i| entry(1, i)))
        .await
        .unwrap();
    store
        .truncate(LogId::new(CommittedLeaderId::new(1, 1), 6))
        .await
        .unwrap();
    store
        .blocking_append((6..8).map(|i| entry(2, i)))
        .await
        .unwrap();
    drop(store);
    let mut store = LogStore::<TypeConfig>::open(dir.path()).unwrap();
    let entries = store.try_get_log_entries(..).await.unwrap();
    let ids: Vec<(u64, u64)> = entries
        .iter()
        .map(|e| (e.log_id.leader_id.term, e.log_id.index))
        .collect();
    let mut expected: Vec<(u64, u64)> = (0..6).map(|i| (1, i)).collect();
    expected.extend([(2, 6), (2, 7)]);
    assert_eq!(ids, expected);
    // Readers see appends at once, durable or not.
    let mut reader = store.get_log_reader().await;
    store.blocking_append([entry(2, 8)]).await.unwrap();
    assert_eq!(reader.try_get_log_entries(8..9).await.unwrap().len(), 1);
}

#[test]
fn a_directory_of_other_records_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let wal = walden::Wal::open(dir.path()).unwrap();
    wal.commit(b"not a raft entry").unwrap();
    drop(wal);
    let err = LogStore::<TypeConfig>::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    let locked = walden::Wal::open(dir.path()).unwrap();
    let err = LogStore::<TypeConfig>::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Wal(wal) if wal.kind() == walden::ErrorKind::Locked),
        "{err}"
    );
    drop(locked);
}
