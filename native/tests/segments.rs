//! Segments, checkpoints, reading from any LSN, and tailing: the `Wal` over a directory.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use walden::backend::segment_file_name;
use walden::{Error, InputError, LogRecord, Wal, WalOptions};
use walden_core::{FileHeader, Lsn, TailKind, BODY_OFFSET, HEADER_LEN};

/// Small segments (and preallocation steps) so a few hundred records span many files.
fn small_segments() -> WalOptions {
    WalOptions {
        segment_bytes: 1024,
        preallocate_bytes: 512,
        ..WalOptions::default()
    }
}

fn payload(i: usize) -> Vec<u8> {
    format!("record {i:04} ").repeat(1 + i % 7).into_bytes()
}

/// Commits `count` numbered records; returns their LSNs.
fn commit_numbered(wal: &Wal, from: usize, count: usize) -> Vec<Lsn> {
    (from..from + count)
        .map(|i| wal.commit(&payload(i)).expect("commit").lsn())
        .collect()
}

fn read_all(wal: &Wal, from: Lsn) -> Vec<LogRecord> {
    wal.read_from(from)
        .expect("start reading")
        .collect::<Result<Vec<_>, _>>()
        .expect("read every record")
}

/// The files in a log directory other than its writer's lock file.
fn segment_files(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .expect("list the log")
        .map(|entry| {
            let name = entry.expect("a directory entry").file_name();
            name.into_string().expect("a UTF-8 name")
        })
        .filter(|name| name != walden::backend::LOCK_FILE_NAME)
        .collect();
    names.sort();
    names
}

/// Prevents records from being lost, reordered or split when the log spreads over segments,
/// and file names from disagreeing with the LSNs inside.
#[test]
fn records_span_segments_named_by_base_lsn_and_survive_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    let lsns = commit_numbered(&wal, 0, 200);
    let segments = wal.segments();
    assert!(segments.len() > 10, "{} segments", segments.len());
    drop(wal);

    let names = segment_files(&path);
    let expected: Vec<String> = segments.iter().map(|&b| segment_file_name(b)).collect();
    assert_eq!(names, expected);
    for &base in &segments {
        let bytes = std::fs::read(path.join(segment_file_name(base))).unwrap();
        let header = FileHeader::read(&bytes).unwrap();
        assert_eq!(header.base_lsn, base);
    }

    let wal = Wal::open_with(&path, small_segments()).unwrap();
    assert_eq!(wal.segments(), segments);
    let more = commit_numbered(&wal, 200, 50);
    let records = read_all(&wal, Lsn::ZERO);
    assert_eq!(records.len(), 250);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.payload, payload(i), "record {i}");
        let lsn = if i < 200 { lsns[i] } else { more[i - 200] };
        assert_eq!(record.lsn, lsn, "record {i}");
    }
}

/// Reading starts at any record, across segment boundaries, and refuses LSNs that are not
/// record starts or were checkpointed away.
#[test]
fn reading_starts_at_any_record_and_refuses_other_lsns() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path().join("log"), small_segments()).unwrap();
    let lsns = commit_numbered(&wal, 0, 120);
    for start in [0, 1, 37, 64, 119] {
        let records = read_all(&wal, lsns[start]);
        assert_eq!(records.len(), 120 - start, "from record {start}");
        assert_eq!(records[0].payload, payload(start));
    }
    assert!(read_all(&wal, wal.current_lsn()).is_empty());
    let mut iter = wal.read_from(Lsn::new(lsns[37].get() + 1)).unwrap();
    assert!(matches!(
        iter.next(),
        Some(Err(Error::NotARecordBoundary { .. }))
    ));
    assert!(iter.next().is_none(), "an iterator ends after an error");
}

/// Readers see only committed records: an append is invisible until a sync covers it.
#[test]
fn readers_see_only_committed_records() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path().join("log"), small_segments()).unwrap();
    commit_numbered(&wal, 0, 3);
    wal.append(b"not yet durable").unwrap();
    assert_eq!(read_all(&wal, Lsn::ZERO).len(), 3);
    wal.sync().unwrap();
    let records = read_all(&wal, Lsn::ZERO);
    assert_eq!(records.len(), 4);
    assert_eq!(records[3].payload, b"not yet durable");
}

/// A checkpoint removes whole segments below its LSN, oldest first, never the active one, and
/// what remains reads back and reopens.
#[test]
fn checkpoint_removes_whole_segments_below_the_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    let lsns = commit_numbered(&wal, 0, 150);
    let before = wal.segments();
    let first = wal.checkpoint(lsns[100]).unwrap();
    assert!(first <= lsns[100] && first > lsns[50], "first LSN {first}");
    let after = wal.segments();
    assert_eq!(after.first(), Some(&first));
    assert_eq!(&before[before.len() - after.len()..], &after[..]);
    assert_eq!(segment_files(&path).len(), after.len());
    assert!(matches!(
        wal.read_from(Lsn::ZERO),
        Err(Error::Checkpointed { first: f, .. }) if f == first
    ));
    let kept = read_all(&wal, first);
    assert_eq!(kept.last().unwrap().payload, payload(149));
    assert!(kept.iter().any(|r| r.lsn == lsns[100]));

    // Everything: only the active segment stays.
    wal.checkpoint(wal.current_lsn()).unwrap();
    assert_eq!(wal.segments().len(), 1);
    assert!(matches!(
        wal.checkpoint(Lsn::new(wal.current_lsn().get() + 1)),
        Err(Error::Input(InputError::BeyondCurrent { .. }))
    ));
    drop(wal);
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    let lsn = wal.commit(b"after the checkpoint").unwrap().lsn();
    assert!(lsn > lsns[149]);
}

/// Prevents the reddb bug across segments: a torn tail in the active segment is truncated
/// before new appends, sealed segments are untouched, and everything survives the next reopen.
#[test]
fn a_torn_tail_in_the_active_segment_is_truncated_and_later_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    commit_numbered(&wal, 0, 40);
    let end = wal.current_lsn();
    let active = *wal.segments().last().unwrap();
    drop(wal);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path.join(segment_file_name(active)))
        .unwrap();
    let offset = BODY_OFFSET as u64 + (end.get() - active.get());
    std::os::unix::fs::FileExt::write_all_at(&file, &[0xEE; 13], offset).unwrap();
    drop(file);

    let wal = Wal::open_with(&path, small_segments()).unwrap();
    assert_eq!(wal.current_lsn(), end);
    commit_numbered(&wal, 40, 30);
    drop(wal);
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    let records = read_all(&wal, Lsn::ZERO);
    assert_eq!(records.len(), 70);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.payload, payload(i));
    }
}

/// An interrupted segment creation is cleaned up; a segment whose header disagrees with its
/// name is refused without modifying anything.
#[test]
fn leftovers_are_removed_and_a_misnamed_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    commit_numbered(&wal, 0, 30);
    let segments = wal.segments();
    drop(wal);
    let leftover = path.join(format!("{}.creating", segment_file_name(Lsn::new(1 << 40))));
    std::fs::write(&leftover, b"half a header").unwrap();
    drop(Wal::open_with(&path, small_segments()).unwrap());
    assert!(!leftover.exists());

    // Rename a sealed segment: its header no longer matches its name.
    let from = path.join(segment_file_name(segments[1]));
    let to = path.join(segment_file_name(Lsn::new(segments[1].get() + 1)));
    std::fs::rename(&from, &to).unwrap();
    let listing = segment_files(&path);
    let err = Wal::open_with(&path, small_segments()).unwrap_err();
    assert!(matches!(err, Error::SegmentMismatch { .. }), "{err}");
    assert!(err.to_string().contains("named for LSN"), "{err}");
    assert_eq!(segment_files(&path), listing, "nothing was modified");
}

/// A sealed segment that lost records (cut by hand) is reported, not skipped over.
#[test]
fn a_sealed_segment_that_ends_early_is_an_error_for_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    commit_numbered(&wal, 0, 60);
    let segments = wal.segments();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path.join(segment_file_name(segments[2])))
        .unwrap();
    file.set_len(BODY_OFFSET as u64 + 20).unwrap();
    drop(file);
    let results: Vec<_> = wal.read_from(Lsn::ZERO).unwrap().collect();
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert!(matches!(err, Error::SegmentMismatch { .. }), "{err}");
}

/// The preallocated zero fill of the active segment is kept across reopen (no truncation, no
/// rewrite), and is reported as unwritten space.
#[test]
fn the_active_segment_keeps_its_preallocation_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let options = WalOptions {
        preallocate_bytes: 64 * 1024,
        ..WalOptions::default()
    };
    let wal = Wal::open_with(&path, options).unwrap();
    commit_numbered(&wal, 0, 10);
    let active = *wal.segments().last().unwrap();
    drop(wal);
    let file = path.join(segment_file_name(active));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 64 * 1024);
    let wal = Wal::open_with(&path, options).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 64 * 1024);
    assert_eq!(
        read_all(&wal, Lsn::ZERO).len(),
        10,
        "opening made the recovered records durable"
    );
    let writer = walden::WalWriter::open_with(&file, options).unwrap();
    assert_eq!(writer.recovery().tail.unwrap().kind, TailKind::Zeroed);
}

/// A tail yields every record as it becomes durable, in order, while another thread commits.
#[test]
fn a_tail_follows_commits_as_they_become_durable() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open_with(dir.path().join("log"), small_segments()).unwrap());
    commit_numbered(&wal, 0, 5);
    let writer = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            for i in 5..300 {
                wal.commit(&payload(i)).unwrap();
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
    };
    let mut tail = wal.tail(Lsn::ZERO).unwrap();
    for i in 0..300 {
        let record = tail
            .next_timeout(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("record {i} never arrived"))
            .unwrap();
        assert_eq!(record.payload, payload(i), "record {i}");
    }
    writer.join().unwrap();
    assert!(tail.try_next().is_none(), "nothing past the last commit");
    assert!(tail.next_timeout(Duration::from_millis(20)).is_none());
}

/// Prevents losing acknowledged records when segments rotate under concurrent commits (a
/// leader syncing the old segment's handle while another thread seals it and starts the next).
#[test]
fn concurrent_commits_across_rotations_are_all_read_back_in_order_without_gaps() {
    const THREADS: usize = 8;
    const COMMITS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Arc::new(Wal::open_with(&path, small_segments()).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                (0..COMMITS)
                    .map(|i| {
                        let payload = format!("{thread}/{i}").into_bytes();
                        (wal.commit(&payload).expect("commit").lsn(), payload)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(Lsn, Vec<u8>)> = handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap())
        .collect();
    acked.sort();
    assert!(wal.segments().len() > 5);
    drop(wal);

    let wal = Wal::open_with(&path, small_segments()).unwrap();
    let records = read_all(&wal, Lsn::ZERO);
    let read: Vec<(Lsn, Vec<u8>)> = records.into_iter().map(|r| (r.lsn, r.payload)).collect();
    assert_eq!(
        read, acked,
        "every acknowledged record, in LSN order, nothing else"
    );
}

/// Every segment of a log shares its salt; a segment copied in from another log is refused on
/// open, with nothing modified.
#[test]
fn a_segment_from_another_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    for path in [&ours, &theirs] {
        let wal = Wal::open_with(path, small_segments()).unwrap();
        commit_numbered(&wal, 0, 40);
    }
    let wal = Wal::open_with(&ours, small_segments()).unwrap();
    let victim = wal.segments()[1];
    drop(wal);
    let name = segment_file_name(victim);
    std::fs::copy(theirs.join(&name), ours.join(&name)).unwrap();
    let err = Wal::open_with(&ours, small_segments()).unwrap_err();
    assert!(err.to_string().contains("another log"), "{err}");
}

// Prevents a sealed segment whose header (valid checksum) carries a sync mark near `u64::MAX`
// from overflowing the length check on open (`HEADER_LEN + (mark - base)` panicked in debug and
// wrapped in release, letting the truncated segment pass).
#[test]
fn a_sealed_segment_whose_sync_mark_is_past_any_file_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    commit_numbered(&wal, 0, 30);
    let segments = wal.segments();
    drop(wal);
    // The first segment: base LSN 0, so `mark - base` is the mark itself.
    assert_eq!(segments[0], Lsn::ZERO);
    let sealed = path.join(segment_file_name(segments[0]));
    let mut image = std::fs::read(&sealed).unwrap();
    let header = FileHeader::read(&image).unwrap();
    for mark in [u64::MAX, u64::MAX - 63, u64::MAX - 64] {
        // A header rewrite with that mark, into the slot that does not hold the newest header:
        // it becomes the header in effect.
        let bad = header.next(|header| header.with_sync_mark(Lsn::new(mark)));
        let slot = bad.slot_offset() as usize;
        image[slot..slot + HEADER_LEN].copy_from_slice(&bad.encode());
        std::fs::write(&sealed, &image).unwrap();
        let listing = segment_files(&path);
        let err = Wal::open_with(&path, small_segments()).unwrap_err();
        assert!(matches!(err, Error::SegmentMismatch { .. }), "{err}");
        // A sealed segment's mark is its successor's base: one past it is refused before any
        // length is computed from it.
        assert!(
            err.to_string()
                .contains("would run past the next segment's start"),
            "{err}"
        );
        assert_eq!(segment_files(&path), listing, "nothing was modified");
    }
}

// Prevents a sealed segment whose seal never finished (its header's mark short of its
// successor's base, which only the segment before the active one may be) from passing the
// checks on open.
#[test]
fn an_older_sealed_segment_whose_mark_stops_short_of_its_successor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let wal = Wal::open_with(&path, small_segments()).unwrap();
    commit_numbered(&wal, 0, 60);
    let segments = wal.segments();
    drop(wal);
    assert!(segments.len() >= 3, "{segments:?}");
    // The oldest segment rewritten as an interrupted seal leaves one, though two more follow it.
    unseal(&path, segments[0], 0);
    let listing = segment_files(&path);
    let err = Wal::open_with(&path, small_segments()).unwrap_err();
    assert!(matches!(err, Error::SegmentMismatch { .. }), "{err}");
    assert!(err.to_string().contains("its seal never finished"), "{err}");
    assert_eq!(segment_files(&path), listing, "nothing was modified");
}

/// Rewrites the sealed segment at `base` as a seal interrupted by a crash would leave it: its
/// sync mark back at its base (the seal never moved it) and, when `lost` > 0, its last `lost`
/// bytes gone (a power loss took writes that only the seal would have synced).
fn unseal(path: &Path, base: Lsn, lost: u64) {
    let file = path.join(segment_file_name(base));
    let mut bytes = std::fs::read(&file).expect("read the segment");
    let header = FileHeader::read(&bytes).expect("a segment header");
    assert!(header.sync_mark > Some(base), "the segment was sealed");
    // The header in effect says nothing was sealed: a newer header with the mark at the base,
    // in the slot that does not hold the sealed one (which that slot's sequence then outranks).
    let unsealed = header.next(|header| header.with_sync_mark(base));
    let slot = unsealed.slot_offset() as usize;
    bytes[slot..slot + HEADER_LEN].copy_from_slice(&unsealed.encode());
    let len = bytes.len() as u64 - lost;
    bytes.truncate(len as usize);
    std::fs::write(&file, bytes).expect("rewrite the segment");
}

/// A closed log of at least three segments whose next-to-last segment is then rewritten as an
/// interrupted seal would leave it (see `unseal`, losing `lost` bytes). Returns the directory,
/// the log's path and options, the records' LSNs and the segments' bases.
fn interrupted_seal(lost: u64) -> (tempfile::TempDir, PathBuf, WalOptions, Vec<Lsn>, Vec<Lsn>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("wal");
    let options = WalOptions {
        preallocate_bytes: 0,
        ..small_segments()
    };
    let wal = Wal::open_with(&path, options).expect("open the log");
    let lsns = commit_numbered(&wal, 0, 60);
    let segments = wal.segments();
    assert!(segments.len() >= 3, "{segments:?}");
    wal.close().expect("close the log");
    unseal(&path, segments[segments.len() - 2], lost);
    (dir, path, options, lsns, segments)
}

/// Prevents an interrupted background seal from costing records or availability: a segment
/// whose seal never finished but whose records are all there is sealed on open, and its
/// successor kept.
#[test]
fn a_whole_segment_whose_seal_was_interrupted_is_sealed_on_open() {
    let (_dir, path, options, lsns, segments) = interrupted_seal(0);
    let previous = segments[segments.len() - 2];

    let wal = Wal::open_with(&path, options).unwrap();
    assert_eq!(wal.segments(), segments, "every segment kept");
    assert!(wal.recovery().is_clean(), "{}", wal.recovery());
    let read: Vec<Lsn> = read_all(&wal, Lsn::ZERO).iter().map(|r| r.lsn).collect();
    assert_eq!(read, lsns);
    drop(wal);
    let header = std::fs::read(path.join(segment_file_name(previous))).unwrap();
    let header = FileHeader::read(&header).unwrap();
    assert_eq!(
        header.sync_mark,
        Some(segments[segments.len() - 1]),
        "the seal was finished: the mark is at the segment's end"
    );
}

/// Prevents a gap after a power loss during a background seal: when the unsealed segment lost
/// its last writes, its successor (which cannot hold an acknowledged record) is removed and
/// reported, the cut segment is the active one again, and appends continue from its end.
#[test]
fn a_segment_cut_short_before_its_seal_finished_loses_its_orphaned_successor() {
    let (_dir, path, options, lsns, segments) = interrupted_seal(5);
    let previous = segments[segments.len() - 2];
    let last = segments[segments.len() - 1];

    let wal = Wal::open_with(&path, options).unwrap();
    assert_eq!(
        wal.segments(),
        segments[..segments.len() - 1],
        "the orphan is gone"
    );
    assert!(!path.join(segment_file_name(last)).exists());
    let report = wal.recovery();
    let orphan = report.segments.last().unwrap();
    assert!(orphan.removed, "{report}");
    assert_eq!(orphan.base_lsn, last);
    let cut = orphan.cut.unwrap();
    assert!(
        matches!(cut.why, walden::CutReason::Orphaned { predecessor_end } if predecessor_end < last),
        "{cut:?}"
    );
    let active = &report.segments[report.segments.len() - 2];
    assert_eq!(active.base_lsn, previous);
    assert!(active.cut.is_some(), "the torn record was cut: {report}");
    assert!(
        report.to_string().contains("removed the segment"),
        "{report}"
    );
    // Everything before the torn record is there, and nothing from the orphan.
    let read: Vec<Lsn> = read_all(&wal, Lsn::ZERO).iter().map(|r| r.lsn).collect();
    let kept: Vec<Lsn> = lsns
        .iter()
        .copied()
        .filter(|&lsn| lsn < wal.current_lsn())
        .collect();
    assert_eq!(read, kept);
    assert!(wal.current_lsn() < last);
    let next = wal.commit(b"after the orphan").unwrap();
    assert_eq!(next.lsn(), report.end_lsn());
    drop(wal);
    let wal = Wal::open_with(&path, options).unwrap();
    assert!(wal.recovery().is_clean(), "{}", wal.recovery());
    assert_eq!(
        read_all(&wal, Lsn::ZERO).last().unwrap().payload,
        b"after the orphan"
    );
}

/// Prevents sealing from coming back onto the append path, and durability from passing an
/// unsealed segment: while the seal of a full segment is held at the disk, appends go on into
/// its successor without waiting, but a commit of a record there waits for the seal, and is
/// acknowledged once it is done.
#[test]
fn appends_do_not_wait_for_a_seal_but_commits_past_it_do() {
    use common::{faulty_wal, Syncs};
    use std::sync::mpsc;

    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        preallocate_bytes: 0,
        ..small_segments()
    };
    let (wal, faults) = faulty_wal(&dir.path().join("wal"), options);
    faults.hold(Syncs::Own);
    let (appended, appends_done) = mpsc::channel();
    let appender = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            // Past one rotation, short of a second (which would wait for the first seal).
            let mut last = None;
            while wal.segments().len() < 2 || wal.current_lsn().get() < 1024 + 256 {
                last = Some(wal.append(&[7u8; 40]).expect("append"));
            }
            appended.send(last.expect("appended")).expect("send");
        })
    };
    faults.wait_parked(Syncs::Own, 1);
    let last = appends_done
        .recv_timeout(Duration::from_secs(30))
        .expect("appends finished while the seal was held");
    appender.join().unwrap();
    assert_eq!(wal.segments().len(), 2);

    let (committed, commit_done) = mpsc::channel();
    let committer = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || committed.send(wal.wait_durable(last)).expect("send"))
    };
    assert!(
        commit_done
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "a record past an unsealed segment was acknowledged before its seal"
    );
    assert!(!last.is_durable_at(wal.durable_lsn()));
    faults.release(Syncs::Own);
    let durable = commit_done
        .recv_timeout(Duration::from_secs(30))
        .expect("the commit finished once the seal was done")
        .expect("the commit succeeded");
    committer.join().unwrap();
    assert!(last.is_durable_at(durable));
}
