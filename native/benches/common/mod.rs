//! Shared by the durable-log benches: where they write, fresh paths, medians.

#![allow(dead_code)] // Each bench binary uses its own part.

use std::path::{Path, PathBuf};

/// A path under `dir` with nothing there: a `Wal` is a directory, the other logs files or
/// directories.
pub(crate) fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&path);
    path
}

/// The median (the upper one for an even count) of `values`, which must not be empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A temporary directory on the disk being measured: under `WALDEN_BENCH_DIR` if set, else under
/// `target/` (the build's disk).
pub(crate) fn bench_dir() -> tempfile::TempDir {
    let parent = std::env::var_os("WALDEN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&parent).expect("create the bench directory");
    tempfile::tempdir_in(parent).expect("a temporary bench directory")
}
