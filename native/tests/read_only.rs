//! A log this process may not write (a read-only directory or file) is refused with
//! `Error::NotWritable`, which says what to check, and nothing is changed.
//!
//! Root ignores permission bits, so when the tests run as root the opening happens in a child
//! copy of this test binary running as `nobody` (through util-linux `setpriv`).

use std::os::unix::fs::PermissionsExt;
mod common;

use std::path::Path;
use std::process::Command;
use walden::{Error, Wal, WalWriter};

/// Set in the environment of the child: the log it must try to open, and how.
const CHILD_ENV: &str = "WALDEN_READ_ONLY_TEST_CHILD";
const NOBODY: &str = "65534";

/// Prevents a confusing I/O error (or a half-created log) when the directory is read-only.
#[test]
fn a_read_only_log_is_refused_with_not_writable_and_left_untouched() {
    if let Some(spec) = std::env::var_os(CHILD_ENV) {
        std::process::exit(child(spec.to_str().expect("a UTF-8 spec")));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let file = tmp.path().join("single.wal");
    Wal::open(&dir).unwrap().commit(b"kept").unwrap();
    let mut single = WalWriter::open(&file).unwrap();
    single.append(b"kept").unwrap();
    single.close().unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        set_mode(&entry.unwrap().path(), 0o444);
    }
    set_mode(&dir, 0o555);
    set_mode(&file, 0o444);
    set_mode(tmp.path(), 0o555);
    let before = (common::dir_contents(&dir), std::fs::read(&file).unwrap());

    for (kind, path) in [("dir", &dir), ("file", &file)] {
        let spec = format!("{kind}:{}", path.display());
        let code = if is_root() {
            let status = Command::new("setpriv")
                .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
                .arg(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "a_read_only_log_is_refused_with_not_writable_and_left_untouched",
                ])
                .env(CHILD_ENV, &spec)
                .status()
                .expect("run setpriv (util-linux) to drop root for this test");
            status.code()
        } else {
            Some(child(&spec))
        };
        assert_eq!(
            code,
            Some(3),
            "{kind}: expected Error::NotWritable (see the child's stderr)"
        );
    }
    assert_eq!(
        (common::dir_contents(&dir), std::fs::read(&file).unwrap()),
        before
    );
    set_mode(tmp.path(), 0o755); // so the temporary directory can be removed
    set_mode(&dir, 0o755);
}

/// Opens the log `spec` names ("dir:PATH" or "file:PATH") and returns an exit code: 3 for
/// `Error::NotWritable` with an actionable message, 4 for any other error, 0 if it opened.
fn child(spec: &str) -> i32 {
    let (kind, path) = spec.split_once(':').expect("kind:path");
    let result = match kind {
        "dir" => Wal::open(Path::new(path)).map(drop),
        _ => WalWriter::open(Path::new(path)).map(drop),
    };
    match result {
        Err(err @ Error::NotWritable { .. }) if err.to_string().contains("permissions") => 3,
        Err(other) => {
            eprintln!("child: unexpected error for {spec}: {other:?}");
            4
        }
        Ok(()) => {
            eprintln!("child: {spec} opened for writing although it is read-only");
            0
        }
    }
}

fn is_root() -> bool {
    // The owner of a file this process just created is this process's effective user.
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().expect("a temporary file");
    probe.as_file().metadata().expect("its metadata").uid() == 0
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
