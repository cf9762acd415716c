//! Locating a log: a single log file (a `WalWriter`'s) or a directory of segments (a `Wal`'s),
//! and reading one segment's bytes.
//!
//! Invariants: the segments of a directory are exactly the files whose names parse as
//! `{base:016x}.wal` (what `walden::backend::FsDir` lists), in increasing base order; every other name
//! (`LOCK`, `.creating` leftovers, backups) is ignored and never touched. A single file is one
//! segment with no name-derived base. Locating only reads the directory.
//!
//! A segment is read either whole ([`Segment::read`], for `dump` and `repair`) or opened read-only
//! ([`Segment::open`]) for recovery's streaming scan to read a window at a time (`verify` and
//! `stat`), so checking a log costs the same memory whatever its segments' size.

use crate::error::CliError;
use std::path::{Path, PathBuf};
use walden::backend::FileStorage;
use walden::walden_core::{FileHeader, HeaderError, Lsn, Meta, Storage, Truncation, BODY_OFFSET};

/// Whether the log is one file or a directory of segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogKind {
    /// One log file, as `WalWriter` writes it.
    File,
    /// A directory of segment files, as `Wal` writes it.
    Dir,
}

/// One file of a log.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    /// Where it is.
    pub(crate) path: PathBuf,
    /// The base LSN its name carries (directories only).
    pub(crate) named_base: Option<Lsn>,
}

impl Segment {
    /// The file name, for messages.
    pub(crate) fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }

    /// Reads the whole file.
    pub(crate) fn read(&self) -> Result<Vec<u8>, CliError> {
        std::fs::read(&self.path).map_err(CliError::io("reading", &self.path))
    }

    /// Opens the file for reading only, with its size and its header (both slots read).
    pub(crate) fn open(&self) -> Result<OpenSegment, CliError> {
        let failed = || CliError::io("reading", &self.path);
        let file = FileStorage::open_read_only(&self.path).map_err(failed())?;
        let size = file.size().map_err(failed())?;
        let mut head = [0u8; BODY_OFFSET];
        let read = file.read_at(0, &mut head).map_err(failed())?;
        Ok(OpenSegment {
            file,
            size,
            header: FileHeader::read(&head[..read]),
        })
    }
}

/// A segment opened for reading only: a [`Storage`] recovery's streaming scan can read.
#[derive(Debug)]
pub(crate) struct OpenSegment {
    /// The file, opened read-only (the OS refuses writes to it).
    pub(crate) file: FileStorage,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Its header, or why it does not decode.
    pub(crate) header: Result<FileHeader, HeaderError>,
}

/// A log found at a path.
#[derive(Clone, Debug)]
pub(crate) struct Log {
    /// The path given.
    pub(crate) path: PathBuf,
    /// File or directory.
    pub(crate) kind: LogKind,
    /// Its segments, oldest first; never empty.
    pub(crate) segments: Vec<Segment>,
    /// A single file that is a sealed segment of a `Wal` directory (a later segment follows it
    /// there): damage in it is corruption, never a torn tail.
    pub(crate) sealed_segment: bool,
}

impl Log {
    /// The suffix truncations a log directory's `META` file records (none for a file, or a
    /// directory without one): records starting in them are dropped.
    pub(crate) fn truncations(&self) -> Result<Vec<Truncation>, String> {
        if self.kind != LogKind::Dir {
            return Ok(Vec::new());
        }
        let path = self.path.join(walden::backend::META_FILE_NAME);
        match std::fs::read(&path) {
            Ok(image) => Meta::read(&image)
                .map(|meta| meta.truncations)
                .map_err(|err| err.to_string()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(format!("reading {}: {err}", path.display())),
        }
    }

    /// Finds the log at `path`: a file is a one-segment log, a directory is listed for segments.
    pub(crate) fn locate(path: &Path) -> Result<Log, CliError> {
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CliError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                CliError::Io {
                    op: "reading",
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        if !meta.is_dir() {
            return Ok(Log {
                path: path.to_path_buf(),
                kind: LogKind::File,
                segments: vec![Segment {
                    path: path.to_path_buf(),
                    named_base: None,
                }],
                sealed_segment: is_sealed_segment(path),
            });
        }
        let mut segments = Vec::new();
        let entries = std::fs::read_dir(path).map_err(CliError::io("listing", path))?;
        for entry in entries {
            let entry = entry.map_err(CliError::io("listing", path))?;
            let name = entry.file_name();
            let Some(base) = name
                .to_str()
                .and_then(walden::backend::parse_segment_file_name)
            else {
                continue;
            };
            segments.push(Segment {
                path: entry.path(),
                named_base: Some(base),
            });
        }
        if segments.is_empty() {
            return Err(CliError::NoSegments {
                dir: path.to_path_buf(),
            });
        }
        segments.sort_unstable_by_key(|segment| segment.named_base);
        Ok(Log {
            path: path.to_path_buf(),
            kind: LogKind::Dir,
            segments,
            sealed_segment: false,
        })
    }

    /// "file" or "directory, N segments", for reports.
    pub(crate) fn describe(&self) -> String {
        match self.kind {
            LogKind::File => String::from("file"),
            LogKind::Dir => format!(
                "directory, {} segment{}",
                self.segments.len(),
                if self.segments.len() == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The `Wal` directory that `file` is a segment of: its name is a segment name, and its
/// directory holds the `LOCK` file or other segments.
pub(crate) fn enclosing_wal_dir(file: &Path) -> Option<PathBuf> {
    let name = file.file_name()?.to_str()?;
    walden::backend::parse_segment_file_name(name)?;
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let has_lock = dir.join(walden::backend::LOCK_FILE_NAME).is_file();
    let has_siblings = || {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                entry.file_name().to_str().is_some_and(|other| {
                    other != name && walden::backend::parse_segment_file_name(other).is_some()
                })
            })
        })
    };
    (has_lock || has_siblings()).then(|| dir.to_path_buf())
}

/// Whether `file` is a segment of a `Wal` directory with a later segment beside it.
fn is_sealed_segment(file: &Path) -> bool {
    let Some(base) = file
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(walden::backend::parse_segment_file_name)
    else {
        return false;
    };
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry
                .file_name()
                .to_str()
                .and_then(walden::backend::parse_segment_file_name)
                .is_some_and(|other| other > base)
        })
    })
}

/// Parses an LSN given on the command line: decimal, or hexadecimal with `0x` (segment names
/// are hexadecimal).
pub(crate) fn parse_lsn(text: &str) -> Result<Lsn, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse::<u64>(),
    };
    parsed
        .map(Lsn::new)
        .map_err(|_| format!("`{text}` is not an LSN (a byte position: decimal, or hex with 0x)"))
}
