//! One writer per log: a second `Wal` or `WalWriter` on the same directory or file, in this
//! process or another, gets `Error::Locked` and changes nothing; the lock goes away with the
//! writer (or the process) that held it.

mod common;

use std::path::Path;
use std::process::Command;
use walden::{Error, Wal, WalWriter};

/// Set in the environment of a child copy of this test binary: the log it must try to open.
const CHILD_ENV: &str = "WALDEN_LOCK_TEST_CHILD";

/// Prevents two writers in one process from interleaving appends into the same segments.
#[test]
fn a_second_wal_on_the_same_directory_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let first = Wal::open(&path).unwrap();
    let lsn = first.commit(b"kept").unwrap().lsn();
    let before = common::dir_contents(&path);

    let err = Wal::open(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { log } if log.contains("log")),
        "{err}"
    );
    assert!(err.to_string().contains("locked"), "{err}");
    assert_eq!(
        common::dir_contents(&path),
        before,
        "the refused open changed nothing"
    );

    first.close().unwrap();
    let second = Wal::open(&path).unwrap();
    let records: Vec<_> = second.read_from(lsn).unwrap().map(Result::unwrap).collect();
    assert_eq!(records[0].payload, b"kept");
}

/// Prevents two single-file writers from appending at the same offsets.
#[test]
fn a_second_wal_writer_on_the_same_file_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("single.wal");
    let mut first = WalWriter::open(&path).unwrap();
    first.append(b"one").unwrap();
    let err = WalWriter::open(&path).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    first.close().unwrap();
    assert_eq!(WalWriter::open(&path).unwrap().recovery().records, 1);
}

/// Prevents a second process from opening a log that a live process is writing, and a dead
/// writer from locking its log forever.
#[test]
fn another_process_is_refused_while_the_writer_lives() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        // The child: report what opening the log gave, as the exit status.
        let code = match Wal::open(Path::new(&path)) {
            Err(Error::Locked { .. }) => 3,
            Err(other) => {
                eprintln!("child: unexpected error: {other}");
                4
            }
            Ok(_) => 0,
        };
        std::process::exit(code);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let child = |path: &Path| {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "another_process_is_refused_while_the_writer_lives",
                "--nocapture",
            ])
            .env(CHILD_ENV, path)
            .status()
            .unwrap()
            .code()
    };
    let wal = Wal::open(&path).unwrap();
    wal.commit(b"held").unwrap();
    assert_eq!(child(&path), Some(3), "the child must get Error::Locked");
    drop(wal);
    assert_eq!(child(&path), Some(0), "the lock went away with the writer");
}
