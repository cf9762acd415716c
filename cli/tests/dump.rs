//! `walden dump`: one line per record with LSN, length, checksum status and preview, past
//! damage, across segments; `--from` / `--to`; JSON lines.

mod common;

use common::{fresh_wal, golden, payload, walden};

/// The first column of each line.
fn lsns(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .map(|line| {
            let first = line.split_whitespace().next().expect("a first column");
            first.parse().expect("an LSN")
        })
        .collect()
}

#[test]
fn a_clean_file_dumps_its_eight_records() {
    let run = walden(["dump".as_ref(), golden("clean.wal").as_os_str()]);
    run.code(0).quiet();
    assert_eq!(
        lsns(&run.stdout),
        [4096, 4130, 4138, 4203, 4275, 4292, 4315, 4335]
    );
    let first = run.stdout.lines().next().unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>()[..3],
        ["4096", "26", "ok"]
    );
    assert!(first.ends_with("\"golden record 0: the first\""), "{first}");
    // Control and non-ASCII bytes are escaped, never printed raw.
    assert!(run.stdout.contains(r#""\x00\x01\x02"#), "{run:#?}");
    assert!(run.stdout.chars().all(|c| c == '\n' || !c.is_control()));
}

#[test]
fn a_directory_dumps_across_segments_within_from_and_to() {
    let dir = golden("segments");
    let run = walden(["dump".as_ref(), dir.as_os_str()]);
    run.code(0).quiet();
    assert_eq!(lsns(&run.stdout), [0, 34, 42, 107, 179, 196, 219, 239]);
    let run = walden([
        "dump".as_ref(),
        dir.as_os_str(),
        "--from".as_ref(),
        "42".as_ref(),
        "--to".as_ref(),
        "0xdb".as_ref(),
    ]);
    run.code(0).quiet();
    assert_eq!(lsns(&run.stdout), [42, 107, 179, 196]);
}

#[test]
fn damage_gets_a_line_and_records_after_it_are_shown() {
    let run = walden([
        "dump".as_ref(),
        golden("mid_log_corruption.wal").as_os_str(),
    ]);
    run.code(0).quiet();
    assert_eq!(
        lsns(&run.stdout),
        [4096, 4130, 4138, 4203, 4275, 4292, 4315, 4335]
    );
    let damaged = run.stdout.lines().nth(3).unwrap();
    assert!(
        damaged.contains("bad-crc") && damaged.contains("72 bytes: checksum mismatch"),
        "{damaged}"
    );
    let run = walden(["dump".as_ref(), golden("torn_tail.wal").as_os_str()]);
    let last = run.stdout.lines().last().unwrap().to_string();
    assert!(
        last.contains("4368") && last.contains("torn") && last.contains("13 of 40 bytes"),
        "{last}"
    );
    let run = walden(["dump".as_ref(), golden("zero_tail.wal").as_os_str()]);
    assert!(run.stdout.lines().last().unwrap().contains("zero-fill"));
}

#[test]
fn json_lines_parse_and_carry_every_field() {
    let run = walden([
        "dump".as_ref(),
        golden("torn_tail.wal").as_os_str(),
        "--json".as_ref(),
    ]);
    run.code(0).quiet();
    let values: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(values.len(), 9);
    assert_eq!(values[0]["lsn"], 4096);
    assert_eq!(values[0]["status"], "ok");
    assert_eq!(values[0]["payload_len"], 26);
    assert_eq!(values[0]["frame_len"], 34);
    assert_eq!(values[0]["segment"], "torn_tail.wal");
    assert_eq!(values[0]["preview"], "golden record 0: the first");
    assert_eq!(values[8]["lsn"], 4368);
    assert_eq!(values[8]["status"], "torn");
    assert_eq!(values[8]["bytes"], 13);
}

#[test]
fn a_fresh_log_dumps_what_was_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let written = fresh_wal(&log, 120, 1024);
    let run = walden([
        "dump".as_ref(),
        log.as_os_str(),
        "--json".as_ref(),
        "--preview".as_ref(),
        "100".as_ref(),
    ]);
    run.code(0).quiet();
    let values: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|value: &serde_json::Value| value["status"] == "ok")
        .collect();
    assert_eq!(values.len(), 120);
    for (i, (value, lsn)) in values.iter().zip(&written).enumerate() {
        assert_eq!(value["lsn"], lsn.get());
        let expected = String::from_utf8(payload(i)).unwrap();
        assert_eq!(value["preview"], expected.as_str());
    }
}

#[test]
fn an_over_limit_record_is_stepped_over_and_named() {
    let run = walden([
        "dump".as_ref(),
        golden("over_limit.wal").as_os_str(),
        "--max-payload-len".as_ref(),
        "1024".as_ref(),
    ]);
    run.code(0).quiet();
    assert_eq!(lsns(&run.stdout), [0, 20, 2028]);
    assert!(run.stdout.contains("over-limit"));
    assert!(run.stdout.contains("--max-payload-len 2000"));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("big.wal");
    let mut writer = walden::WalWriter::open(&log).unwrap();
    for i in 0..3000 {
        writer.append(&payload(i)).unwrap(); // far more output than a pipe buffers
    }
    writer.close().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_walden"))
        .args(["dump".as_ref(), log.as_os_str()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, as `| head -0` would
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr, "", "no panic, no message");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_segment_with_a_damaged_header_is_named_and_the_others_are_dumped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::golden_copy(tmp.path(), "segments");
    common::flip(&dir.join("000000000000006b.wal"), 20); // a bit of the salt
    let run = walden(["dump".as_ref(), dir.as_os_str()]);
    run.code(3)
        .one_line_error("000000000000006b.wal: log header checksum mismatch");
    assert_eq!(lsns(&run.stdout), [0, 34, 42, 219, 239]);
}

#[test]
fn records_a_truncation_dropped_are_marked_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let wal = walden::Wal::open(dir.path()).unwrap();
    let kept = wal.commit(b"kept").unwrap();
    let dropped = wal.commit(b"dropped").unwrap();
    wal.truncate_from(dropped.lsn()).unwrap();
    let after = wal.commit(b"after").unwrap();
    drop(wal);
    let run = walden(["dump".as_ref(), dir.path().as_os_str()]);
    run.code(0).quiet();
    let statuses: Vec<(u64, &str)> = run
        .stdout
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words[0].parse().unwrap(), words[2])
        })
        // The preallocated space after the last record.
        .filter(|(_, status)| *status != "zero-fill")
        .collect();
    assert_eq!(
        statuses,
        [
            (kept.lsn().get(), "ok"),
            (dropped.lsn().get(), "truncated"),
            (after.lsn().get(), "ok")
        ]
    );
}

#[test]
fn limit_and_payload_encodings() {
    let clean = golden("clean.wal");
    let run = walden([
        "dump".as_ref(),
        "--limit".as_ref(),
        "3".as_ref(),
        clean.as_os_str(),
    ]);
    run.code(0).quiet();
    assert_eq!(lsns(&run.stdout), [4096, 4130, 4138]);
    let hex = walden([
        "dump".as_ref(),
        "--limit".as_ref(),
        "1".as_ref(),
        "--payload".as_ref(),
        "hex".as_ref(),
        clean.as_os_str(),
    ]);
    assert!(
        hex.stdout
            .contains("\"676f6c64656e207265636f726420303a20746865206669727374\""),
        "{hex:#?}"
    );
    let base64 = walden([
        "dump".as_ref(),
        "--limit".as_ref(),
        "1".as_ref(),
        "--payload".as_ref(),
        "base64".as_ref(),
        clean.as_os_str(),
    ]);
    assert!(
        base64
            .stdout
            .contains("\"Z29sZGVuIHJlY29yZCAwOiB0aGUgZmlyc3Q=\""),
        "{base64:#?}"
    );
}

#[test]
fn a_from_inside_a_record_is_said_on_stderr() {
    let run = walden([
        "dump".as_ref(),
        "--from".as_ref(),
        "4100".as_ref(),
        "--limit".as_ref(),
        "1".as_ref(),
        golden("clean.wal").as_os_str(),
    ]);
    run.code(0);
    assert_eq!(lsns(&run.stdout), [4130]);
    assert!(
        run.stderr
            .contains("--from 4100 is not where a record starts")
            && run.stderr.contains("LSN 4096")
            && run.stderr.contains("LSN 4130"),
        "{run:#?}"
    );
}

/// `--follow` tails a live log: a record committed after it started is printed.
#[test]
fn follow_prints_a_record_committed_after_it_started() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let wal = walden::Wal::open(dir.path()).unwrap();
    wal.commit(b"before").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_walden"))
        .args(["dump", "--follow"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait = std::time::Duration::from_secs(20);
    let first = lines_rx.recv_timeout(wait).expect("the existing record");
    assert!(first.contains("\"before\""), "{first}");
    let after = wal.commit(b"after it started").unwrap();
    let second = lines_rx.recv_timeout(wait).expect("the new record");
    assert!(
        second.contains("\"after it started\"")
            && second
                .trim_start()
                .starts_with(&after.lsn().get().to_string()),
        "{second}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
}

/// `--follow` keeps up across segment rotations: every record committed after it started is
/// printed once, in LSN order.
#[test]
fn follow_keeps_up_across_rotations() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let options = walden::WalOptions {
        segment_bytes: 1024,
        ..walden::WalOptions::default()
    };
    let wal = walden::Wal::open_with(dir.path(), options).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_walden"))
        .args(["dump", "--follow", "--limit", "50"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let committed: Vec<u64> = (0..50)
        .map(|i| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            wal.commit(format!("record {i:02} {}", "x".repeat(80)).as_bytes())
                .unwrap()
                .lsn()
                .get()
        })
        .collect();
    assert!(wal.segments().len() > 4, "{:?}", wal.segments());
    let stdout = child.stdout.take().unwrap();
    // Records only: a sealed segment's preallocated zeros get their `zero-fill` line, as in a
    // dump without --follow.
    let printed: Vec<u64> = BufReader::new(stdout)
        .lines()
        .map(|line| line.unwrap())
        .filter(|line| line.split_whitespace().nth(2) == Some("ok"))
        .map(|line| line.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    // --limit 50 ends the follow once every record was printed.
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(printed, committed);
}
