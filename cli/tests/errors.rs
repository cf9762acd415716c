//! Bad input and bad arguments: one line on stderr, a non-zero exit code, no panic, nothing
//! changed; and the exit codes documented in `--help`.

mod common;

use common::{golden, golden_copy, newer_version_copy, walden, NEWER_VERSION};

#[test]
fn bad_input_is_one_line_for_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.wal");
    let empty_dir = tmp.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let not_a_wal = golden_copy(tmp.path(), "not_a_wal.wal");
    let newer = newer_version_copy(tmp.path());
    let before = [
        std::fs::read(&not_a_wal).unwrap(),
        std::fs::read(&newer).unwrap(),
    ];
    for command in ["dump", "verify", "repair", "stat"] {
        walden([command.as_ref(), missing.as_os_str()])
            .code(1)
            .one_line_error("no such file or directory");
        walden([command.as_ref(), empty_dir.as_os_str()])
            .code(1)
            .one_line_error("no segment files");
        walden([command.as_ref(), not_a_wal.as_os_str()])
            .code(1)
            .one_line_error("not a Walden log file");
        walden([command.as_ref(), newer.as_os_str()])
            .code(1)
            .one_line_error(&format!("format version {NEWER_VERSION} is newer"));
    }
    assert_eq!(std::fs::read(&not_a_wal).unwrap(), before[0]);
    assert_eq!(std::fs::read(&newer).unwrap(), before[1]);
    assert!(!missing.exists());
}

#[test]
fn bad_arguments_are_one_line_and_exit_1() {
    let clean = golden("clean.wal");
    walden([
        "dump".as_ref(),
        clean.as_os_str(),
        "--from".as_ref(),
        "banana".as_ref(),
    ])
    .code(1)
    .one_line_error("is not an LSN");
    walden([
        "verify".as_ref(),
        clean.as_os_str(),
        "--frobnicate".as_ref(),
    ])
    .code(1)
    .one_line_error("--frobnicate");
    walden(["fly"]).code(1).one_line_error("fly");
    walden(["dump"])
        .code(1)
        .one_line_error("required arguments were not provided: <PATH>");
    walden(["bench", "--rounds", "0"])
        .code(1)
        .one_line_error("--rounds");
    walden(["bench", "--seconds", "0"])
        .code(1)
        .one_line_error("seconds");
}

#[test]
fn help_documents_every_exit_code() {
    let run = walden(["--help"]);
    run.code(0).quiet();
    for line in [
        "0  clean",
        "1  usage or I/O error",
        "2  torn tail",
        "3  corruption",
        "4  locked",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in {run:#?}");
    }
    let run = walden(Vec::<&str>::new());
    assert_eq!(run.code, 1, "no subcommand is a usage error");
    assert!(run.stdout.is_empty());
}

/// Exit codes are listed once, all of them, in the top-level help; each subcommand's help lists
/// only the codes it returns.
#[test]
fn each_help_lists_the_exit_codes_that_apply() {
    let codes = |args: &[&str]| -> Vec<String> {
        let run = walden(args.iter().copied());
        let text = run
            .stdout
            .split("Exit codes:")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        text.lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|word| word.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(codes(&["--help"]), ["0", "1", "2", "3", "4", "101"]);
    assert_eq!(codes(&["verify", "--help"]), ["0", "1", "2", "3", "101"]);
    assert_eq!(codes(&["repair", "--help"]), ["0", "1", "3", "4", "101"]);
    assert_eq!(codes(&["dump", "--help"]), ["0", "1", "3", "101"]);
    assert_eq!(codes(&["stat", "--help"]), ["0", "1", "3", "101"]);
    assert_eq!(codes(&["bench", "--help"]), ["0", "1", "101"]);
}
