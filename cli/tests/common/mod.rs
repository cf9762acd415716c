//! Shared by the `walden` binary's tests: running it, copying golden files into a temporary
//! directory (the committed ones are never modified), writing fresh logs, and damaging files.

#![allow(dead_code, clippy::unwrap_used)] // Each test binary uses its own part; test helpers.

use std::path::{Path, PathBuf};
use std::process::Command;
use walden::walden_core::{scan_file, Codec, Lsn, RecoveryMode, FORMAT_VERSION};
use walden::{Wal, WalOptions};

/// What one run of `walden` printed and returned.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output on failure.
    pub(crate) fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, expected, "exit code; {self:#?}");
        self
    }

    /// Asserts stderr is exactly one line, with `text` in it, and no panic.
    pub(crate) fn one_line_error(&self, text: &str) -> &Run {
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "one line on stderr; {self:#?}"
        );
        assert!(self.stderr.starts_with("walden: "), "{self:#?}");
        assert!(self.stderr.contains(text), "stderr has {text:?}; {self:#?}");
        // A brace in a message is a format string that was printed instead of filled in.
        assert!(
            !self.stderr.contains('{') && !self.stderr.contains('}'),
            "an unformatted placeholder in {self:#?}"
        );
        self.no_panic()
    }

    /// Asserts nothing on stderr.
    pub(crate) fn quiet(&self) -> &Run {
        assert_eq!(self.stderr, "", "nothing on stderr; {self:#?}");
        self
    }

    /// Asserts no panic message or backtrace.
    pub(crate) fn no_panic(&self) -> &Run {
        for bad in ["panicked", "RUST_BACKTRACE", "internal error"] {
            assert!(!self.stderr.contains(bad), "{bad} on stderr; {self:#?}");
        }
        self
    }
}

/// Runs `walden` with `args`.
///
/// A run that found the log locked is retried, a bounded number of times: the test threads of
/// one binary run in parallel, and a child another thread forks (to run `walden`) holds a copy of
/// every descriptor until it execs, including the `flock`ed `LOCK` of a `Wal` this thread has
/// just dropped. So "locked" can be briefly true here although this test holds no writer. A test
/// that expects `Locked` holds its writer throughout, and gets the same answer each time.
pub(crate) fn walden<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args
        .into_iter()
        .map(|arg| arg.as_ref().to_owned())
        .collect();
    let mut run = walden_once(&args);
    for _ in 0..LOCKED_RETRIES {
        if !(run.code == LOCKED_EXIT_CODE && run.stderr.contains("locked")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        run = walden_once(&args);
    }
    run
}

/// `walden`'s exit code for a locked log (cli/src/exit.rs).
const LOCKED_EXIT_CODE: i32 = 4;
/// How many times a "locked" run is repeated, 20 ms apart, before it counts.
const LOCKED_RETRIES: usize = 25;

fn walden_once(args: &[std::ffi::OsString]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_walden"))
        .args(args)
        .output()
        .expect("run the walden binary");
    Run {
        code: output
            .status
            .code()
            .expect("walden exited, not killed by a signal"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// The committed golden file or directory `name` (`tests/golden` here links to the repository's
/// `tests/golden`; a packaged crate holds the files themselves).
pub(crate) fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// A copy of the golden file or directory `name` in `dir`.
pub(crate) fn golden_copy(dir: &Path, name: &str) -> PathBuf {
    let from = golden(name);
    let to = dir.join(name);
    if from.is_dir() {
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    } else {
        std::fs::copy(&from, &to).unwrap();
    }
    to
}

/// The format version after the newest this build reads.
pub(crate) const NEWER_VERSION: u32 = FORMAT_VERSION + 1;

/// A copy of the golden `newer_version.wal` in `dir`, its version field set to
/// [`NEWER_VERSION`]: the golden file claims a version that a later build may read, and the
/// point of it is a version this build does not (the version is checked before the checksum).
pub(crate) fn newer_version_copy(dir: &Path) -> PathBuf {
    let path = golden_copy(dir, "newer_version.wal");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&NEWER_VERSION.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The length of the valid prefix of the log file (or segment) at `path`: header and frames,
/// records and sync markers, without the zero fill or damage after them, as the core's scanner
/// finds it (independently of the `walden` binary).
pub(crate) fn valid_len(path: &Path) -> usize {
    let image = std::fs::read(path).unwrap();
    let (_, recovery) = scan_file(&image, Codec::new, RecoveryMode::TolerateTornTail).unwrap();
    usize::try_from(recovery.valid_file_len()).unwrap()
}

/// The payload of the `i`th record of a fresh log.
pub(crate) fn payload(i: usize) -> Vec<u8> {
    format!("record {i:04}: {}", "x".repeat(i % 50)).into_bytes()
}

/// Writes a fresh `Wal` at `path` with `records` records (see [`payload`]) in segments of about
/// `segment_bytes`, with preallocation on (so sealed segments end in zero fill), and closes it.
/// Returns each record's LSN.
pub(crate) fn fresh_wal(path: &Path, records: usize, segment_bytes: u64) -> Vec<Lsn> {
    fresh_wal_with_end(path, records, segment_bytes).0
}

/// [`fresh_wal`], also returning the LSN `close` returned: the log's end, which may lie one
/// sync marker past the last record's (a drain after a sync appends one).
pub(crate) fn fresh_wal_with_end(
    path: &Path,
    records: usize,
    segment_bytes: u64,
) -> (Vec<Lsn>, Lsn) {
    let options = WalOptions {
        segment_bytes,
        preallocate_bytes: 4096,
        ..WalOptions::default()
    };
    let wal = Wal::open_with(path, options).unwrap();
    // A commit each, so the segments rotate at their size as in service.
    let lsns = (0..records)
        .map(|i| wal.commit(&payload(i)).unwrap().lsn())
        .collect();
    let end = wal.close().unwrap();
    (lsns, end)
}

/// The segment files of a `Wal` directory, oldest first.
pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    files.sort();
    files
}

/// Flips the low bit of the byte at `offset`.
pub(crate) fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

/// Appends `bytes` to the file.
pub(crate) fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// Every record `Wal::read_from` returns from the log's first LSN, opening it (so recovery
/// must accept it).
pub(crate) fn read_all(path: &Path) -> Vec<(Lsn, Vec<u8>)> {
    let wal = Wal::open(path).unwrap();
    let records = wal
        .read_from(wal.first_lsn())
        .unwrap()
        .map(|record| {
            let record = record.unwrap();
            (record.lsn, record.payload.to_vec())
        })
        .collect();
    wal.close().unwrap();
    records
}
