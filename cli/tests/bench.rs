//! `walden bench` in a tiny configuration: every workload runs and reports, as a table and as
//! JSON, and the scratch directory is removed.

mod common;

use common::walden;

const TINY: [&str; 10] = [
    "--rounds",
    "1",
    "--records",
    "500",
    "--commits",
    "10",
    "--threads",
    "1,3",
    "--per-thread",
    "4",
];

#[test]
fn the_json_report_has_every_workload_against_the_raw_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["bench", "--json", "--dir", tmp.path().to_str().unwrap()];
    args.extend(TINY);
    let run = walden(args);
    run.code(0).no_panic();
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let raw = report["raw_fsyncs_per_s"].as_f64().unwrap();
    assert!(raw > 0.0);
    let rows = report["workloads"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "raw",
            "raw_fsync",
            "raw_o_dsync",
            "raw_growing",
            "W1",
            "W2",
            "W3",
            "W3"
        ]
    );
    assert_eq!(rows[7]["threads"], 3);
    for row in rows {
        let (min, max) = (
            row["rate_min_per_s"].as_f64().unwrap(),
            row["rate_max_per_s"].as_f64().unwrap(),
        );
        let median = row["rate_per_s"].as_f64().unwrap();
        assert!(min <= median && median <= max, "{row}");
        assert_eq!(row["rounds_disagree"], max > 2.0 * min, "{row}");
    }
    for row in rows {
        assert!(row["rate_per_s"].as_f64().unwrap() > 0.0, "{row}");
    }
    assert!(rows[4]["ns_per_record"].as_f64().unwrap() > 0.0);
    assert!(
        rows[4]["latency_p50_us"].is_null(),
        "W1 does not time each append"
    );
    for row in [
        &rows[0], &rows[1], &rows[2], &rows[3], &rows[5], &rows[6], &rows[7],
    ] {
        let ratio = row["vs_raw_fsync"].as_f64().unwrap();
        let expected = row["rate_per_s"].as_f64().unwrap() / raw;
        assert!((ratio - expected).abs() < 1e-9, "{row}");
        let p50 = row["latency_p50_us"].as_f64().unwrap();
        let p99 = row["latency_p99_us"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 <= p99, "{row}");
        assert!(row["records_per_fsync"].as_f64().unwrap() >= 1.0, "{row}");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the scratch directory is removed"
    );
}

#[test]
fn the_table_has_a_row_per_workload() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["bench", "--dir", tmp.path().to_str().unwrap()];
    args.extend(TINY);
    let run = walden(args);
    run.code(0).quiet();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 10, "{run:#?}");
    assert!(lines[0].contains("raw fsync rate of this disk"));
    assert!(lines[1].contains("vs raw fsync") && lines[1].contains("p99 latency"));
    assert!(lines[1].contains("rounds (min..max)"));
    assert!(
        lines[2].starts_with("raw pwrite+fdatasync, preallocated") && lines[2].contains("1.00x")
    );
    assert!(lines[3].starts_with("raw pwrite+fsync, preallocated"));
    assert!(lines[4].starts_with("raw O_DSYNC pwrite, preallocated"));
    assert!(lines[5].starts_with("raw pwrite+fdatasync, growing file"));
    assert!(lines[6].starts_with("W1 Wal::append") && lines[6].contains("ns each"));
    assert!(lines[7].starts_with("W2 Wal::commit, 1 thread"));
    assert!(lines[8].starts_with("W3 Wal::commit, 1 thread"));
    assert!(lines[9].starts_with("W3 Wal::commit, 3 threads"));
}

#[test]
fn a_missing_bench_directory_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    walden(["bench", "--dir", missing.to_str().unwrap()])
        .code(1)
        .one_line_error("not a directory");
}
