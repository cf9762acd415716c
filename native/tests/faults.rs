//! Injected I/O faults in the native backend (see `common::FaultyDir`): what each one fails,
//! how the log refuses everything after it, and what reopening recovers.

use std::path::Path;
use std::sync::Arc;
mod common;

use common::{open_faulty, Faults, Syncs};
use walden::{Error, WalOptions};

/// Payloads of varied length (13 to 65 bytes), so records cross preallocation steps and segment
/// boundaries at varied offsets.
fn payload(i: usize) -> Vec<u8> {
    format!("record {i:04} ").repeat(1 + i % 5).into_bytes()
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
