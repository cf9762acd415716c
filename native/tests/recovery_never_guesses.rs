//! "Recovery never silently drops acknowledged records", tried as a newcomer would: a key-value
//! service commits each `set`, stops without `close`, and a byte of its log goes bad. Each test
//! opens with the failure it prevents.

use std::path::{Path, PathBuf};
use walden::{CutReason, ErrorKind, Lsn, Wal};

fn commit_sets(path: &Path, count: usize) -> Vec<walden::Appended> {
    let wal = Wal::open(path).expect("a new log");
    let receipts = (0..count)
        .map(|i| {
            wal.commit(format!("set key{i} = {i}").as_bytes())
                .expect("commits")
        })
        .collect();
    // No close: the process just stops (its appends were all committed).
    drop(wal);
    receipts
}

fn active_segment(path: &Path) -> PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(path)
        .expect("lists the log")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|file| file.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    segments.sort();
    segments.pop().expect("a segment")
}

fn body_offset(segment: &Path) -> u64 {
    let image = std::fs::read(segment).expect("reads the segment");
    walden::walden_core::FileHeader::read(&image)
        .expect("a valid header")
        .body_offset()
}

// Prevents the v1 blind spot: 1,000 committed records, one flipped byte at about LSN 20,000 of a
// 41 KiB segment, and `Wal::open` returned Ok with 478 records (522 acknowledged ones cut,
// reported only at info level).
#[test]
fn a_flipped_byte_in_committed_records_is_corruption_not_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let receipts = commit_sets(&path, 1000);
    let segment = active_segment(&path);
    let at = body_offset(&segment) + 20_000;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[at as usize] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();

    let err = Wal::open(&path).expect_err("a damaged acknowledged record must not be cut");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        bytes,
        "the file was left untouched"
    );
    assert_eq!(receipts.len(), 1000);
}

// Prevents any byte of a small log's acknowledged records from being cut as a torn tail: at
// every byte below the last committed batch, opening is a corruption error and changes nothing;
// in the last batch (which nothing after it vouches for) the cut is reported, and keeps every
// record before it.
#[test]
fn every_byte_of_the_acknowledged_records_is_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("kv");
    let receipts = commit_sets(&original, 24);
    let segment = active_segment(&original);
    let name = segment.file_name().unwrap().to_owned();
    let clean = std::fs::read(&segment).unwrap();
    let body = body_offset(&segment) as usize;
    let last = receipts.last().unwrap().lsn().get() as usize;
    // Every byte of every frame (the zero fill preallocated after them aside).
    let (_, scanned) = walden::walden_core::scan_file(
        &clean,
        walden::walden_core::Codec::new,
        walden::RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let end = body + scanned.end_lsn.get() as usize;
    assert!(end > body + last);
    for offset in body..end {
        let lsn = Lsn::new((offset - body) as u64);
        let copy = dir.path().join(format!("copy-{offset}"));
        std::fs::create_dir(&copy).unwrap();
        let mut bytes = clean.clone();
        bytes[offset] ^= 0x40;
        std::fs::write(copy.join(&name), &bytes).unwrap();
        match Wal::open(&copy) {
            Err(err) => {
                assert!(
                    offset - body < last,
                    "LSN {lsn} in the last batch refused: {err}"
                );
                assert_eq!(err.kind(), ErrorKind::Corrupt, "LSN {lsn}: {err}");
                assert_eq!(std::fs::read(copy.join(&name)).unwrap(), bytes, "LSN {lsn}");
            }
            Ok(wal) => {
                assert!(
                    offset - body >= last,
                    "LSN {lsn}, below the last batch at {last}: opened, {}",
                    wal.recovery()
                );
                let cut = wal.recovery().segments.last().unwrap().cut;
                let cut = cut.unwrap_or_else(|| panic!("LSN {lsn}: damage was kept"));
                assert!(matches!(cut.why, CutReason::Tail(_)), "LSN {lsn}: {cut:?}");
                let read = wal.read_from(Lsn::ZERO).unwrap().count();
                assert!(read >= receipts.len() - 1, "LSN {lsn}: {read} records");
            }
        }
        std::fs::remove_dir_all(&copy).unwrap();
    }
}
