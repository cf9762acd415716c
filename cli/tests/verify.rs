//! `walden verify`: the verdict and exit code for every golden file and for fresh logs damaged
//! in known ways, and what it says on stdout and stderr.

mod common;

use common::{
    append, flip, fresh_wal, golden, golden_copy, newer_version_copy, segments, valid_len, walden,
};
use walden::walden_core::FileHeader;

/// Guards the exit codes against drifting from recovery's decisions on the golden files (the
/// table in tests/golden/README.md).
#[test]
fn each_golden_file_gets_recoverys_verdict() {
    let cases: [(&str, i32, &str); 15] = [
        ("clean.wal", 0, "clean: 8 records"),
        ("zero_tail.wal", 0, "1024 zero bytes after the records"),
        ("over_limit.wal", 0, "clean: 3 records"),
        ("segments", 0, "clean: 8 records"),
        ("torn_tail.wal", 2, "torn tail: 13 bytes at LSN 4368"),
        (
            "torn_tail_checksum.wal",
            2,
            "torn tail: 40 bytes at LSN 4368",
        ),
        ("other_salt.wal", 2, "torn tail: 203 bytes at LSN 4368"),
        ("unsynced_hole.wal", 2, "torn tail: 76 bytes at LSN 4292"),
        ("mid_log_corruption.wal", 3, "corrupt in the middle"),
        (
            "lost_below_sync_mark.wal",
            3,
            "lost records that were durable",
        ),
        ("truncated_header.wal", 3, "truncated"),
        ("header_checksum.wal", 3, "header checksum mismatch"),
        ("foreign_segment", 3, "belongs to another log"),
        ("not_a_wal.wal", 1, "not a Walden log file"),
        ("newer_version.wal", 1, "newer than this build supports"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let newer = newer_version_copy(tmp.path());
    for (name, code, text) in cases {
        let path = match name {
            "newer_version.wal" => newer.clone(),
            _ => golden(name),
        };
        let run = walden(["verify".as_ref(), path.as_os_str()]);
        run.code(code).no_panic();
        assert!(
            run.stdout.contains(text),
            "{name}: stdout has {text:?}; {run:#?}"
        );
        if code == 0 {
            run.quiet();
        } else {
            run.one_line_error(text);
        }
    }
}

#[test]
fn a_clean_log_prints_one_line_per_segment_and_the_verdict() {
    let run = walden(["verify".as_ref(), golden("segments").as_os_str()]);
    run.code(0).quiet();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{run:#?}");
    assert!(lines[0].contains("(directory, 3 segments)"));
    assert_eq!(lines[1], "0000000000000000.wal  LSN 0..107  3 records  ok");
    assert_eq!(
        lines[2],
        "000000000000006b.wal  LSN 107..219  3 records  ok"
    );
    assert_eq!(
        lines[3],
        "00000000000000db.wal  LSN 219..272  2 records  ok"
    );
    assert_eq!(lines[4], "verdict: clean: 8 records");
}

#[test]
fn the_mid_log_corruption_says_where_and_what_can_be_kept() {
    let run = walden([
        "verify".as_ref(),
        golden("mid_log_corruption.wal").as_os_str(),
    ]);
    run.code(3)
        .one_line_error("at LSN 4203, but a valid record follows at LSN 4275");
    assert!(run
        .stderr
        .contains("`walden repair --point-in-time` keeps only the records before LSN 4203"));
    assert!(run
        .stdout
        .contains("LSN 4096..4203  3 records before the damage"));
}

#[test]
fn a_fresh_multi_segment_log_is_clean_with_zero_fill_in_sealed_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    fresh_wal(&log, 200, 1024);
    assert!(segments(&log).len() > 3, "the log rotated");
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    run.code(0).quiet();
    assert!(
        run.stdout.contains("verdict: clean: 200 records"),
        "{run:#?}"
    );
}

/// Guards against treating damage in a sealed segment as a torn tail: sealing synced it whole,
/// so it is lost data, whatever follows it in that file.
#[test]
fn damage_in_a_sealed_segment_is_corruption_even_at_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    fresh_wal(&log, 200, 1024);
    let files = segments(&log);
    // The last frame of the first segment (a record, or the sync marker after it): its last
    // byte sits just before the zeros.
    flip(&files[0], valid_len(&files[0]) - 1);
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    // Sealing moved the segment's sync mark to its end, so recovery's own words are "lost".
    run.code(3).one_line_error("lost records that were durable");
    assert!(
        run.stderr.contains(&files[0].display().to_string()),
        "{run:#?}"
    );
    // Without a sync mark in the header (as in a log from before the mark), the damage is
    // still corruption: a newer header without the mark, in the slot not holding the newest.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let header = FileHeader::read(&bytes).unwrap();
    let unmarked = header.next(|header| FileHeader {
        sync_mark: None,
        ..header
    });
    let slot = unmarked.slot_offset() as usize;
    bytes[slot..slot + unmarked.encode().len()].copy_from_slice(&unmarked.encode());
    assert_eq!(FileHeader::read(&bytes).unwrap().sync_mark, None);
    std::fs::write(&files[0], &bytes).unwrap();
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    run.code(3).one_line_error("sealed segment is damaged");
}

#[test]
fn a_sealed_segment_cut_short_is_missing_records() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    fresh_wal(&log, 200, 1024);
    let files = segments(&log);
    let bytes = std::fs::read(&files[1]).unwrap();
    let end = valid_len(&files[1]);
    // Cut whole records off the end (the file then ends cleanly on a frame boundary or inside
    // one; either way records the next segment's base promises are missing).
    std::fs::write(&files[1], &bytes[..end - 60]).unwrap();
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    run.code(3).no_panic();
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
}

#[test]
fn a_torn_tail_on_the_last_segment_of_a_directory_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    fresh_wal(&log, 50, 1024);
    let last = segments(&log).pop().unwrap();
    // Cut the preallocated zeros, then leave half a frame, as an interrupted write would.
    let bytes = std::fs::read(&last).unwrap();
    let end = valid_len(&last);
    std::fs::write(&last, &bytes[..end]).unwrap();
    append(&last, &[0x11, 0x22, 0x33, 0x44, 40, 0, 0, 0, 1, 2, 3]);
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    run.code(2).one_line_error("torn tail: 11 bytes");
}

#[test]
fn a_segment_named_for_another_lsn_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let log = golden_copy(tmp.path(), "segments");
    std::fs::rename(
        log.join("000000000000006b.wal"),
        log.join("000000000000006c.wal"),
    )
    .unwrap();
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    run.code(3).no_panic();
    assert!(
        run.stdout
            .contains("the file is named for LSN 108 but its header says LSN 107"),
        "{run:#?}"
    );
}

/// Guards agreement with `WalWriter::open`, which starts a new log in an empty file.
#[test]
fn an_empty_file_is_a_log_with_no_records() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("empty.wal");
    std::fs::write(&log, b"").unwrap();
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    run.code(0).quiet();
    assert!(run.stdout.contains("empty: no header yet"), "{run:#?}");
    assert!(run.stdout.contains("verdict: clean: 0 records"), "{run:#?}");
    walden(["stat".as_ref(), log.as_os_str()]).code(0).quiet();
    walden(["dump".as_ref(), log.as_os_str()]).code(0).quiet();
    walden(["repair".as_ref(), log.as_os_str()]).code(0).quiet();
    assert_eq!(std::fs::read(&log).unwrap(), b"", "nothing was written");
}

/// Guards against calling a sealed segment's damage a torn tail when the segment is named on
/// its own: a later segment beside it says it was sealed.
#[test]
fn a_sealed_segment_named_on_its_own_is_judged_as_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = golden_copy(tmp.path(), "segments");
    let first = dir.join("0000000000000000.wal");
    append(&first, b"\x01\x02\x03");
    walden(["verify".as_ref(), first.as_os_str()])
        .code(3)
        .one_line_error("sealed segment is damaged");
    let last = dir.join("00000000000000db.wal");
    append(&last, b"\x01\x02\x03");
    walden(["verify".as_ref(), last.as_os_str()])
        .code(2)
        .one_line_error("torn tail");
}

#[test]
fn json_gives_the_verdict_and_every_finding() {
    let run = walden([
        "verify".as_ref(),
        golden("foreign_segment").as_os_str(),
        "--json".as_ref(),
    ]);
    run.code(3).one_line_error("belongs to another log");
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["verdict"], "corrupt");
    assert_eq!(report["exit_code"], 3);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    assert!(findings[0]["segment"]
        .as_str()
        .unwrap()
        .ends_with("00000000000000db.wal"));
    assert_eq!(findings[0]["verdict"], "corrupt");
    let run = walden([
        "verify".as_ref(),
        golden("clean.wal").as_os_str(),
        "--json".as_ref(),
    ]);
    run.code(0).quiet();
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["verdict"], "clean");
    assert_eq!(report["records"], 8);
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);
}

/// Guards the newcomer's case of issue 13: 1,000 committed records, the process stopped without
/// `close`, one byte flipped at about LSN 20,000 of the active segment. `verify` called it "an
/// interrupted batch past the sync mark that was never acknowledged" (exit 2) while `dump`
/// showed every record after it as ok; the sync markers of format v2 make it corruption.
#[test]
fn a_flipped_byte_in_committed_records_is_corruption_in_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("kv");
    let wal = walden::Wal::open(&log).unwrap();
    for i in 0..1000 {
        wal.commit(format!("set key{i} = {i}").as_bytes()).unwrap();
    }
    drop(wal);
    let files = segments(&log);
    let active = files.last().unwrap();
    let body = FileHeader::read(&std::fs::read(active).unwrap())
        .unwrap()
        .body_offset();
    flip(active, body as usize + 20_000);
    let run = walden(["verify".as_ref(), log.as_os_str()]);
    run.code(3).one_line_error("corrupt in the middle");
    assert!(!run.stdout.contains("never acknowledged"), "{run:#?}");
}

/// The golden `META` directories get what `Wal::open` decides: the truncated one is clean, a
/// damaged `META` is corruption (exit 3), a newer one cannot be judged (exit 1).
#[test]
fn the_meta_file_is_judged_as_opening_judges_it() {
    for (name, code) in [
        ("meta/truncated", 0),
        ("meta/torn_rewrite", 0),
        ("meta/damaged", 3),
        ("meta/newer", 1),
    ] {
        let run = walden(["verify".as_ref(), golden(name).as_os_str()]);
        run.code(code);
        if code != 0 {
            assert!(run.stdout.contains("META"), "{name}: {run:#?}");
        }
    }
}

/// `verify --json` findings are data: a stable kind, the LSN and length, and what opening does.
#[test]
fn json_findings_carry_kind_lsn_length_and_what_recovery_does() {
    let finding = |name: &str| -> serde_json::Value {
        let run = walden([
            "verify".as_ref(),
            "--json".as_ref(),
            golden(name).as_os_str(),
        ]);
        let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        report["findings"][0].clone()
    };
    let torn = finding("torn_tail.wal");
    assert_eq!(torn["kind"], "torn_tail");
    assert_eq!(torn["lsn"], 4368);
    assert_eq!(torn["bytes"], 13);
    assert_eq!(torn["recovery"], "cut");
    let mid = finding("mid_log_corruption.wal");
    assert_eq!(mid["kind"], "corrupt_mid_log");
    assert_eq!(mid["recovery"], "refuse");
    assert!(mid["lsn"].is_u64() && mid["bytes"].is_u64(), "{mid}");
    let meta = finding("meta/damaged");
    assert_eq!(meta["kind"], "meta_damaged");
    assert_eq!(meta["recovery"], "refuse");
    let newer = finding("newer_version.wal");
    assert_eq!(newer["kind"], "newer_version");
    assert_eq!(newer["recovery"], "cannot_judge");
}
