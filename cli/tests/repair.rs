//! `walden repair`: cuts torn tails where recovery would, backup first; refuses corruption
//! without `--point-in-time` and does what that flag says with it; never touches a locked log.

mod common;

use common::{
    append, flip, fresh_wal, fresh_wal_with_end, golden, golden_copy, newer_version_copy, payload,
    read_all, segments, valid_len, walden,
};
use std::path::{Path, PathBuf};
use walden::walden_core::{FileHeader, Lsn, BODY_OFFSET, HEADER_LEN};

fn bak(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Guards the whole promise for each torn golden file: repair cuts exactly what recovery
/// would cut, the backup holds exactly the cut bytes, and verify is clean afterwards.
#[test]
fn repair_then_verify_is_clean_and_the_backup_holds_what_was_cut() {
    let cases = [
        ("torn_tail.wal", 4368u64, 336usize),
        ("torn_tail_checksum.wal", 4368, 336),
        ("other_salt.wal", 4368, 336),
        ("unsynced_hole.wal", 4292, 260),
    ];
    for (name, at, keep) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let log = golden_copy(tmp.path(), name);
        let before = std::fs::read(&log).unwrap();
        let run = walden(["repair".as_ref(), log.as_os_str()]);
        run.code(0).quiet();
        assert!(
            run.stdout.contains("verify after repair: clean"),
            "{run:#?}"
        );
        let after = std::fs::read(&log).unwrap();
        assert_eq!(
            after,
            before[..keep],
            "{name}: the valid prefix is kept, unchanged"
        );
        let backup = bak(&log, &format!(".torn-{at}.bak"));
        assert_eq!(
            std::fs::read(&backup).unwrap(),
            before[keep..],
            "{name}: the backup holds exactly the cut bytes"
        );
        walden(["verify".as_ref(), log.as_os_str()]).code(0).quiet();
        // A second repair finds nothing to do and changes nothing.
        let again = walden(["repair".as_ref(), log.as_os_str()]);
        again.code(0).quiet();
        assert!(again.stdout.contains("nothing to repair"));
        assert_eq!(std::fs::read(&log).unwrap(), after);
    }
}

#[test]
fn the_backup_goes_where_asked_and_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let log = golden_copy(tmp.path(), "torn_tail.wal");
    let before = std::fs::read(&log).unwrap();
    let backup = tmp.path().join("elsewhere.bin");
    std::fs::write(&backup, b"precious").unwrap();
    let run = walden([
        "repair".as_ref(),
        log.as_os_str(),
        "--backup".as_ref(),
        backup.as_os_str(),
    ]);
    run.code(1).one_line_error("exists already");
    assert_eq!(std::fs::read(&log).unwrap(), before, "nothing was changed");
    assert_eq!(std::fs::read(&backup).unwrap(), b"precious");
    std::fs::remove_file(&backup).unwrap();
    walden([
        "repair".as_ref(),
        log.as_os_str(),
        "--backup".as_ref(),
        backup.as_os_str(),
    ])
    .code(0)
    .quiet();
    assert_eq!(std::fs::read(&backup).unwrap(), before[336..]);
}

#[test]
fn a_clean_log_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["clean.wal", "zero_tail.wal"] {
        let log = golden_copy(tmp.path(), name);
        let before = std::fs::read(&log).unwrap();
        let run = walden(["repair".as_ref(), log.as_os_str()]);
        run.code(0).quiet();
        assert!(run.stdout.contains("nothing to repair"), "{run:#?}");
        assert_eq!(
            std::fs::read(&log).unwrap(),
            before,
            "{name}: zero fill is kept"
        );
    }
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "no backup was written");
}

/// Guards against repair papering over corruption: without the flag it changes nothing.
#[test]
fn corruption_is_refused_without_point_in_time() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "mid_log_corruption.wal",
        "lost_below_sync_mark.wal",
        "header_checksum.wal",
        "truncated_header.wal",
    ] {
        let log = golden_copy(tmp.path(), name);
        let before = std::fs::read(&log).unwrap();
        let run = walden(["repair".as_ref(), log.as_os_str()]);
        run.code(3).one_line_error("refusing to repair");
        assert!(run.stderr.contains("--point-in-time"), "{run:#?}");
        assert_eq!(std::fs::read(&log).unwrap(), before, "{name} untouched");
    }
    for (name, code) in [("not_a_wal.wal", 1), ("newer_version.wal", 1)] {
        let log = match name {
            "newer_version.wal" => newer_version_copy(tmp.path()),
            _ => golden_copy(tmp.path(), name),
        };
        let before = std::fs::read(&log).unwrap();
        walden([
            "repair".as_ref(),
            log.as_os_str(),
            "--point-in-time".as_ref(),
        ])
        .code(code)
        .one_line_error("cannot repair");
        assert_eq!(std::fs::read(&log).unwrap(), before, "{name} untouched");
    }
    let dir = golden_copy(tmp.path(), "foreign_segment");
    walden(["repair".as_ref(), dir.as_os_str()])
        .code(3)
        .one_line_error("belongs to another log");
    assert_eq!(segments(&dir).len(), 3);
}

#[test]
fn point_in_time_keeps_the_records_before_the_damage_and_backs_up_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let log = golden_copy(tmp.path(), "mid_log_corruption.wal");
    let before = std::fs::read(&log).unwrap();
    let run = walden([
        "repair".as_ref(),
        log.as_os_str(),
        "--point-in-time".as_ref(),
    ]);
    run.code(0).quiet();
    assert!(
        run.stdout.contains("verify after repair: clean, 3 records"),
        "{run:#?}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), before[..171]);
    let backup = bak(&log, ".discarded-4203.bak");
    assert_eq!(std::fs::read(backup).unwrap(), before[171..]);
    walden(["verify".as_ref(), log.as_os_str()]).code(0);
    // Native recovery agrees: the repaired file opens as a clean log with 3 records.
    let mut writer = walden::WalWriter::open(&log).unwrap();
    assert_eq!(writer.recovery().records, 3);
    assert_eq!(writer.recovery().tail, None);
    writer.append(b"after the repair").unwrap();
    writer.close().unwrap();
}

/// Guards the sync mark: cutting records below it without lowering it would leave a log that
/// the next open refuses as lost data.
#[test]
fn point_in_time_below_the_sync_mark_lowers_it_so_the_log_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let log = golden_copy(tmp.path(), "lost_below_sync_mark.wal");
    let before = std::fs::read(&log).unwrap();
    let run = walden([
        "repair".as_ref(),
        log.as_os_str(),
        "--point-in-time".as_ref(),
    ]);
    run.code(0).quiet();
    assert!(
        run.stdout.contains("lowered the sync mark to LSN 4315"),
        "{run:#?}"
    );
    let after = std::fs::read(&log).unwrap();
    assert_eq!(after.len(), 283);
    assert_eq!(
        after[64..],
        before[64..283],
        "the records are kept as they were"
    );
    assert_eq!(
        std::fs::read(bak(&log, ".discarded-4315.bak")).unwrap(),
        before[283..]
    );
    let writer = walden::WalWriter::open(&log).unwrap();
    assert_eq!(writer.recovery().records, 6);
    assert_eq!(writer.current_lsn(), Lsn::new(4315));
}

#[test]
fn point_in_time_in_a_sealed_segment_moves_later_segments_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let lsns = fresh_wal(&log, 200, 1024);
    let files = segments(&log);
    assert!(files.len() >= 4);
    // Damage the second segment's third record's payload.
    let second = std::fs::read(&files[1]).unwrap();
    let base =
        walden::backend::parse_segment_file_name(files[1].file_name().unwrap().to_str().unwrap())
            .unwrap();
    let third = lsns.iter().filter(|lsn| **lsn >= base).nth(2).unwrap();
    let offset = BODY_OFFSET + (third.get() - base.get()) as usize + 10;
    flip(&files[1], offset);
    let kept: Vec<Lsn> = lsns.iter().copied().filter(|lsn| lsn < third).collect();
    walden(["repair".as_ref(), log.as_os_str()])
        .code(3)
        .one_line_error("refusing to repair");
    let run = walden([
        "repair".as_ref(),
        log.as_os_str(),
        "--point-in-time".as_ref(),
    ]);
    run.code(0).quiet();
    assert!(
        run.stdout.contains(&format!(
            "verify after repair: clean, {} records",
            kept.len()
        )),
        "{run:#?}"
    );
    assert_eq!(
        segments(&log),
        files[..2],
        "later segments are gone from the log"
    );
    for file in &files[2..] {
        assert!(
            bak(file, ".discarded.bak").exists(),
            "{} kept aside",
            file.display()
        );
    }
    let cut_backup = bak(&files[1], &format!(".discarded-{}.bak", third.get()));
    let mut damaged = second.clone();
    damaged[offset] ^= 1;
    let cut_at = BODY_OFFSET + (third.get() - base.get()) as usize;
    assert_eq!(std::fs::read(cut_backup).unwrap(), damaged[cut_at..]);
    // The native log opens it and reads back exactly the records before the damage.
    let records = read_all(&log);
    assert_eq!(
        records.iter().map(|(lsn, _)| *lsn).collect::<Vec<_>>(),
        kept
    );
    assert_eq!(records[5].1, payload(5));
}

#[test]
fn a_torn_tail_of_a_fresh_directory_is_cut_and_native_recovery_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let (_, end_lsn) = fresh_wal_with_end(&log, 50, 1024);
    let last = segments(&log).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let end = valid_len(&last);
    std::fs::write(&last, &bytes[..end]).unwrap();
    let garbage = [0xde, 0xad, 0xbe, 0xef, 200, 0, 0, 0, 9, 9];
    append(&last, &garbage);
    let run = walden(["repair".as_ref(), log.as_os_str()]);
    run.code(0).quiet();
    assert!(run.stdout.contains("cut 10 bytes"), "{run:#?}");
    assert_eq!(std::fs::read(&last).unwrap(), bytes[..end]);
    // The cut starts where the log ended (after the last record, or the sync marker after it).
    assert_eq!(
        std::fs::read(bak(&last, &format!(".torn-{end_lsn}.bak"))).unwrap(),
        garbage
    );
    assert_eq!(read_all(&log).len(), 50);
    walden(["verify".as_ref(), log.as_os_str()]).code(0).quiet();
}

/// Guards "never touches a log open elsewhere": a `Wal` in another handle holds the lock.
#[test]
fn repair_refuses_a_directory_while_a_wal_has_it_open() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let wal = walden::Wal::open(&log).unwrap();
    wal.commit(b"one").unwrap();
    wal.sync().unwrap();
    let last = segments(&log).pop().unwrap();
    append(&last, b"\x01\x02\x03"); // something repair would otherwise cut
    let before = std::fs::read(&last).unwrap();
    let run = walden(["repair".as_ref(), log.as_os_str()]);
    run.code(4)
        .one_line_error("locked: the log is open elsewhere");
    assert_eq!(std::fs::read(&last).unwrap(), before, "nothing was changed");
    // A segment file named on its own is refused: only the directory knows the last segment.
    walden(["repair".as_ref(), last.as_os_str()])
        .code(1)
        .one_line_error("is a segment of the log in");
    drop(wal);
    let names: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|name| !name.ends_with(".bak")),
        "{names:?}"
    );
}

#[test]
fn repair_refuses_a_file_while_a_wal_writer_has_it_open() {
    let tmp = tempfile::tempdir().unwrap();
    let log = golden_copy(tmp.path(), "clean.wal");
    let writer = walden::WalWriter::open(&log).unwrap();
    append(&log, b"\x07\x07\x07");
    let before = std::fs::read(&log).unwrap();
    walden(["repair".as_ref(), log.as_os_str()])
        .code(4)
        .one_line_error("locked: the log is open elsewhere");
    assert_eq!(std::fs::read(&log).unwrap(), before);
    drop(writer);
    // Once the writer is gone, repair may take the lock (and a writer then waits for repair).
    walden(["repair".as_ref(), log.as_os_str()]).code(0).quiet();
}

#[test]
fn a_missing_path_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    walden(["repair".as_ref(), missing.as_os_str()])
        .code(1)
        .one_line_error("no such file or directory");
    assert!(!missing.exists(), "repair created nothing");
    let _ = golden("clean.wal");
}

#[test]
fn point_in_time_moves_a_foreign_last_segment_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = golden_copy(tmp.path(), "foreign_segment");
    let foreign = dir.join("00000000000000db.wal");
    let bytes = std::fs::read(&foreign).unwrap();
    let run = walden([
        "repair".as_ref(),
        dir.as_os_str(),
        "--point-in-time".as_ref(),
    ]);
    run.code(0).quiet();
    assert!(
        run.stdout.contains("verify after repair: clean, 6 records"),
        "{run:#?}"
    );
    assert_eq!(
        std::fs::read(bak(&foreign, ".discarded.bak")).unwrap(),
        bytes,
        "the segment is kept whole beside the log"
    );
    assert_eq!(
        read_all(&dir).len(),
        6,
        "native recovery opens what is left"
    );
}

#[test]
fn point_in_time_cannot_keep_anything_behind_a_damaged_first_header() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["header_checksum.wal", "truncated_header.wal"] {
        let log = golden_copy(tmp.path(), name);
        let before = std::fs::read(&log).unwrap();
        walden([
            "repair".as_ref(),
            log.as_os_str(),
            "--point-in-time".as_ref(),
        ])
        .code(3)
        .one_line_error("no records before the damage could be kept");
        assert_eq!(std::fs::read(&log).unwrap(), before, "{name} untouched");
    }
}

/// Guards "repair matches recovery exactly": on every golden file, `walden repair` leaves the
/// bytes a `WalWriter` open leaves (header aside: the writer may move the sync mark), and
/// refuses, changing nothing, exactly where the open refuses.
#[test]
fn repair_cuts_exactly_where_a_writer_open_cuts() {
    let names = [
        "clean.wal",
        "torn_tail.wal",
        "torn_tail_checksum.wal",
        "zero_tail.wal",
        "mid_log_corruption.wal",
        "other_salt.wal",
        "over_limit.wal",
        "newer_version.wal",
        "truncated_header.wal",
        "header_checksum.wal",
        "not_a_wal.wal",
        "unsynced_hole.wal",
        "lost_below_sync_mark.wal",
    ];
    for name in names {
        let tmp = tempfile::tempdir().unwrap();
        let by_walden = match name {
            "newer_version.wal" => newer_version_copy(tmp.path()),
            _ => golden_copy(tmp.path(), name),
        };
        let original = std::fs::read(&by_walden).unwrap();
        let run = walden(["repair".as_ref(), by_walden.as_os_str()]);
        run.no_panic();
        let by_writer = tmp.path().join("writer.wal");
        std::fs::write(&by_writer, &original).unwrap();
        match walden::WalWriter::open(&by_writer) {
            Ok(writer) => {
                let kept = std::fs::read(&by_writer).unwrap();
                drop(writer);
                let repaired = std::fs::read(&by_walden).unwrap();
                assert_eq!(run.code, 0, "{name}: the writer opens it; {run:#?}");
                assert_eq!(repaired.len(), kept.len(), "{name}: same length");
                let body = FileHeader::read(&kept).unwrap().body_offset() as usize;
                assert_eq!(repaired[body..], kept[body..], "{name}: same records");
            }
            Err(err) => {
                assert_ne!(
                    run.code, 0,
                    "{name}: the writer refuses it ({err}); {run:#?}"
                );
                assert_eq!(
                    std::fs::read(&by_walden).unwrap(),
                    original,
                    "{name}: refused, untouched"
                );
            }
        }
    }
}

/// Guards against cutting a sealed segment as if it were a whole log: named on its own, a
/// segment looks like a log whose damage at the end is a torn tail.
#[test]
fn a_segment_named_on_its_own_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = golden_copy(tmp.path(), "segments");
    let first = dir.join("0000000000000000.wal");
    common::append(&first, b"\x01\x02\x03");
    let before = std::fs::read(&first).unwrap();
    walden(["repair".as_ref(), first.as_os_str()])
        .code(1)
        .one_line_error("repair the directory");
    assert_eq!(std::fs::read(&first).unwrap(), before);
    // The directory sees it for what it is: damage in a sealed segment.
    walden(["repair".as_ref(), dir.as_os_str()])
        .code(3)
        .one_line_error("sealed segment is damaged");
}

/// Guards that `verify` and `repair` judge an interrupted background seal as recovery on open
/// does: the segment before the last, unsealed and cut short by a power loss, is a torn tail
/// (exit 2, not corruption), its orphaned successor is moved aside, and the log then opens
/// with the same records `Wal::open` would keep.
#[test]
fn an_interrupted_seal_is_a_torn_tail_and_its_orphan_is_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let lsns = fresh_wal(&log, 200, 1024);
    let files = segments(&log);
    assert!(files.len() >= 3);
    // What a power loss during the background seal of the segment before the last leaves:
    // its sync mark still at its base, and its last 5 bytes never written.
    let previous = &files[files.len() - 2];
    let last = &files[files.len() - 1];
    // The header in effect: a newer one with the mark at the base, in the slot not holding the
    // sealed header.
    let end = valid_len(previous);
    let mut bytes = std::fs::read(previous).unwrap();
    let header = FileHeader::read(&bytes).unwrap();
    let unsealed = header.next(|header| header.with_sync_mark(header.base_lsn));
    let slot = unsealed.slot_offset() as usize;
    bytes[slot..slot + HEADER_LEN].copy_from_slice(&unsealed.encode());
    bytes.truncate(end - 5);
    std::fs::write(previous, &bytes).unwrap();

    let verify = walden(["verify".as_ref(), log.as_os_str()]);
    verify.code(2);
    assert!(verify.stdout.contains("orphaned segment"), "{verify:#?}");
    let run = walden(["repair".as_ref(), log.as_os_str()]);
    run.code(0).quiet();
    assert!(!last.exists(), "the orphan left the log");
    assert!(
        bak(last, ".discarded.bak").exists(),
        "the orphan was kept aside"
    );
    walden(["verify".as_ref(), log.as_os_str()]).code(0).quiet();
    // Everything before the torn record is read back, nothing after it.
    let records = read_all(&log);
    let kept = records.len();
    assert!(kept > 0 && kept < lsns.len());
    assert_eq!(
        records.iter().map(|(lsn, _)| *lsn).collect::<Vec<_>>(),
        lsns[..kept]
    );
}
