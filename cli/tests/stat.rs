//! `walden stat`: segments, LSN range, record count and payload size distribution.

mod common;

use common::{fresh_wal_with_end, golden, payload, walden};
use walden::walden_core::{frame_len, MARKER_FRAME_LEN};

#[test]
fn the_golden_directory_has_three_segments_and_eight_records() {
    let run = walden(["stat".as_ref(), golden("segments").as_os_str()]);
    run.code(0).quiet();
    let expected = [
        "lsn range    0..272 (272 bytes of frames)",
        "records      8",
        "payload      208 bytes in all; min 0, p50 15, p90 64, p99 64, max 64, mean 26.0",
        "sizes        0 B: 1 | 1-15 B: 3 | 16-63 B: 3 | 64-255 B: 1",
        "segments     3",
        "  0000000000000000.wal  LSN 0..107  3 records  171 bytes  ok",
        "status       clean",
    ];
    for line in expected {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "{line:?} in {run:#?}"
        );
    }
}

#[test]
fn json_matches_a_fresh_log() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let (lsns, end) = fresh_wal_with_end(&log, 300, 2048);
    let run = walden(["stat".as_ref(), log.as_os_str(), "--json".as_ref()]);
    run.code(0).quiet();
    let stat: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let sizes: Vec<u64> = (0..300).map(|i| payload(i).len() as u64).collect();
    assert_eq!(stat["records"], 300);
    assert_eq!(stat["first_lsn"], 0);
    // The log ends at the last record's end, or one sync marker after it.
    let last_end = lsns[299].get() + frame_len(sizes[299] as usize) as u64;
    assert!(
        [last_end, last_end + MARKER_FRAME_LEN as u64].contains(&end.get()),
        "{end} after the last record's end {last_end}"
    );
    assert_eq!(stat["end_lsn"], end.get());
    assert_eq!(stat["payload_bytes"], sizes.iter().sum::<u64>());
    assert_eq!(stat["payload_min"], *sizes.iter().min().unwrap());
    assert_eq!(stat["payload_max"], *sizes.iter().max().unwrap());
    assert_eq!(stat["status"], "clean");
    let segments = stat["segments"].as_array().unwrap();
    assert!(segments.len() > 2);
    let counted: u64 = segments
        .iter()
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 300);
    let bucketed: u64 = stat["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["records"].as_u64().unwrap())
        .sum();
    assert_eq!(bucketed, 300);
}

#[test]
fn a_damaged_log_is_reported_in_the_status() {
    let run = walden(["stat".as_ref(), golden("torn_tail.wal").as_os_str()]);
    run.code(0).quiet();
    assert!(run.stdout.contains("records      8"));
    assert!(run
        .stdout
        .contains("status       torn tail (run `walden verify`"));
    let run = walden([
        "stat".as_ref(),
        golden("mid_log_corruption.wal").as_os_str(),
    ]);
    run.code(0).quiet();
    assert!(run.stdout.contains("records      3"), "the readable prefix");
    assert!(run.stdout.contains("status       corrupt"));
}

#[test]
fn a_file_that_is_not_a_log_is_one_line() {
    walden(["stat".as_ref(), golden("not_a_wal.wal").as_os_str()])
        .code(1)
        .one_line_error("not a Walden log file");
    walden(["stat".as_ref(), golden("truncated_header.wal").as_os_str()])
        .code(3)
        .one_line_error("truncated");
}

/// Guards the windowed walk `stat` and `verify` read a segment with: a segment of several MiB
/// (records cut by every window boundary, one record larger than the window) is counted whole,
/// and verified clean.
#[test]
fn a_segment_larger_than_the_read_window_is_counted_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.wal");
    let options = walden::WalOptions {
        max_payload_len: 4 << 20,
        ..walden::WalOptions::default()
    };
    let mut writer = walden::WalWriter::open_with(&path, options).unwrap();
    let mut bytes = 0u64;
    for i in 0..40_000u64 {
        let len = if i == 20_000 {
            3 << 20
        } else {
            50 + (i % 97) as usize
        };
        writer.append(&vec![(i % 251) as u8; len]).unwrap();
        bytes += len as u64;
    }
    let end = writer.close().unwrap();
    let file = std::fs::metadata(&path).unwrap().len();
    assert!(file > 5 << 20, "{file} bytes");
    let run = walden([
        "stat".as_ref(),
        path.as_os_str(),
        "--json".as_ref(),
        "--max-payload-len".as_ref(),
        "4194304".as_ref(),
    ]);
    run.code(0).quiet();
    let stat: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(stat["records"], 40_000);
    assert_eq!(stat["payload_bytes"], bytes);
    assert_eq!(stat["end_lsn"], end.get());
    assert_eq!(stat["status"], "clean");
    let run = walden([
        "verify".as_ref(),
        path.as_os_str(),
        "--max-payload-len".as_ref(),
        "4194304".as_ref(),
    ]);
    run.code(0).quiet();
    assert!(run.stdout.contains("clean: 40000 records"), "{run:#?}");
}

/// `stat --json` gives each segment's status as a verdict word and its findings as a count.
#[test]
fn json_segment_status_is_a_verdict_and_a_count() {
    let run = walden([
        "stat".as_ref(),
        "--json".as_ref(),
        golden("torn_tail.wal").as_os_str(),
    ]);
    let stat: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let segment = &stat["segments"][0];
    assert_eq!(segment["status"], "torn tail");
    assert_eq!(segment["findings"], 1);
}

/// Records a suffix truncation dropped are not counted as records (no reader returns them),
/// and are counted apart.
#[test]
fn records_a_truncation_dropped_are_counted_apart() {
    let run = walden([
        "stat".as_ref(),
        "--json".as_ref(),
        golden("meta/truncated").as_os_str(),
    ]);
    run.code(0);
    let stat: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(stat["records"], 5);
    assert_eq!(stat["truncated_records"], 3);
    assert_eq!(stat["segments"][0]["records"], 5);
}
