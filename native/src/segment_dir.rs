//! [`SegmentDir`]: where a [`crate::Wal`] keeps its segment files, and [`FsDir`], a directory.
//!
//! A log is a sequence of segment files, each a complete log file (header plus frames) whose
//! name carries its base LSN: `{base:016x}.wal`, sixteen lower-case hex digits, so names sort in
//! LSN order. Segment `i` holds the records in `[base_i, base_{i+1})`; the last one is the
//! active segment the writer appends to.
//!
//! Invariants of [`FsDir`]:
//! - A segment appears whole or not at all: it is written as `{name}.creating`, synced, renamed
//!   into place, and the directory synced. A leftover `.creating` file is an interrupted
//!   creation and is removed on open.
//! - A removal is made durable (directory sync) before the next one starts, so a crash in the
//!   middle of a checkpoint leaves a contiguous suffix of segments, never a hole.
//! - Files whose names do not follow the pattern are ignored, never touched (`LOCK` and `META`
//!   among them; `META` is the log's, read and written only through `open_meta`/`create_meta`).
//! - One writer at a time: [`SegmentDir::lock`] takes an exclusive lock (`flock` on the file
//!   `LOCK` in the directory) that a second writer, in this process or another, cannot take. The
//!   kernel releases it when its descriptor closes, so a writer that dies never leaves it held.
//!   A `Wal` takes it before it lists (and so before it cleans up) anything.

use crate::file_storage::{sync_dir, FileStorage, CREATING_SUFFIX};
use crate::shared_sync::SharedSync;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use walden_core::{Lsn, Storage};

/// The suffix of segment file names.
pub const SEGMENT_SUFFIX: &str = ".wal";
/// The file in a log directory that its writer holds locked.
pub const LOCK_FILE_NAME: &str = "LOCK";
/// The file in a log directory that holds the application's metadata and the log's
/// truncations (`walden_core::Meta`), created by the first `Wal::set_metadata` or
/// `Wal::truncate_from`.
pub const META_FILE_NAME: &str = "META";

/// Where segment files live: listed, created, opened and removed by base LSN.
pub trait SegmentDir: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The storage of one segment.
    type Storage: SharedSync + Storage<Error = io::Error> + Send + std::fmt::Debug + 'static;
    /// Held by the one writer of these segments; dropping it lets another writer in.
    type Lock: Send + Sync + std::fmt::Debug + 'static;

    /// Takes the writer's exclusive lock without waiting. Fails with
    /// [`io::ErrorKind::WouldBlock`] when another writer holds it.
    fn lock(&self) -> io::Result<Self::Lock>;

    /// The base LSNs of the segments present, in increasing order. Removes leftovers of
    /// interrupted creations.
    fn list(&self) -> io::Result<Vec<Lsn>>;

    /// Opens the segment starting at `base`.
    fn open(&self, base: Lsn) -> io::Result<Self::Storage>;

    /// Creates the segment starting at `base` holding `header`, durably and atomically (whole or
    /// not at all, and still there after a power loss), and opens it.
    fn create(&self, base: Lsn, header: &[u8]) -> io::Result<Self::Storage>;

    /// Removes the segment starting at `base`, durably.
    fn remove(&self, base: Lsn) -> io::Result<()>;

    /// Where the segments are, for messages.
    fn describe(&self) -> String;

    /// Opens the directory's metadata file ([`META_FILE_NAME`] in an [`FsDir`]), or `None` if it
    /// has none yet. The default: a directory that never holds one.
    fn open_meta(&self) -> io::Result<Option<Self::Storage>> {
        Ok(None)
    }

    /// Creates the metadata file holding `contents`, durably and atomically (as
    /// [`SegmentDir::create`]), and opens it. The default refuses with
    /// [`io::ErrorKind::Unsupported`]: on such a directory `Wal::set_metadata` and
    /// `Wal::truncate_from` fail and change nothing.
    fn create_meta(&self, contents: &[u8]) -> io::Result<Self::Storage> {
        let _ = contents;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} cannot hold a metadata file", self.describe()),
        ))
    }
}

/// A directory of segment files. See the module documentation.
#[derive(Clone, Debug)]
pub struct FsDir {
    path: PathBuf,
}

impl FsDir {
    /// The directory at `path`, created if missing. A path that exists but is not a directory is
    /// an error.
    ///
    /// The parent's entry for the directory is synced on every call, not only when this call
    /// created it: a process that died between creating the directory and syncing its parent
    /// would otherwise leave an entry that a power loss can still take away, under a log that
    /// has since acknowledged commits. Ancestors this call creates have their entries synced too.
    pub fn create_all(path: &Path) -> io::Result<FsDir> {
        let parent_of = |dir: &Path| match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !path.exists() {
            let missing: Vec<PathBuf> = path
                .ancestors()
                .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
                .map(Path::to_path_buf)
                .collect();
            std::fs::create_dir_all(path)?;
            // Every new ancestor (the log directory itself is synced below), outermost first, so
            // each new entry is durable before the one inside it.
            for dir in missing.iter().skip(1).rev() {
                sync_dir(&parent_of(dir))?;
            }
        } else if !path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!(
                    "{} is not a directory: a Wal keeps its segment files in a directory",
                    path.display()
                ),
            ));
        }
        sync_dir(&parent_of(path))?;
        Ok(FsDir {
            path: path.to_path_buf(),
        })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the segment starting at `base`.
    pub fn segment_path(&self, base: Lsn) -> PathBuf {
        self.path.join(segment_file_name(base))
    }
}

/// The file name of the segment starting at `base`.
pub fn segment_file_name(base: Lsn) -> String {
    format!("{:016x}{SEGMENT_SUFFIX}", base.get())
}

/// The base LSN a segment file name carries, or `None` for any other name.
pub fn parse_segment_file_name(name: &str) -> Option<Lsn> {
    let hex = name.strip_suffix(SEGMENT_SUFFIX)?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(Lsn::new)
}

/// The lock of an [`FsDir`]: the `LOCK` file, held with `flock(LOCK_EX)` while this lives.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl SegmentDir for FsDir {
    type Storage = FileStorage;
    type Lock = DirLock;

    fn lock(&self) -> io::Result<DirLock> {
        let path = self.path.join(LOCK_FILE_NAME);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if !existed {
            sync_dir(&self.path)?;
        }
        file.try_lock().map_err(io::Error::from)?; // WouldBlock when another writer holds it
        Ok(DirLock { _file: file })
    }

    fn list(&self) -> io::Result<Vec<Lsn>> {
        let mut bases = Vec::new();
        let mut leftovers = false;
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(segment) = name.strip_suffix(CREATING_SUFFIX) {
                if parse_segment_file_name(segment).is_some() {
                    std::fs::remove_file(entry.path())?;
                    leftovers = true;
                }
            } else if let Some(base) = parse_segment_file_name(name) {
                bases.push(base);
            }
        }
        if leftovers {
            sync_dir(&self.path)?;
        }
        bases.sort_unstable();
        Ok(bases)
    }

    fn open(&self, base: Lsn) -> io::Result<FileStorage> {
        FileStorage::open(&self.segment_path(base))
    }

    fn create(&self, base: Lsn, header: &[u8]) -> io::Result<FileStorage> {
        let path = self.segment_path(base);
        FileStorage::create_atomically(&path, header)?;
        FileStorage::open(&path)
    }

    fn remove(&self, base: Lsn) -> io::Result<()> {
        std::fs::remove_file(self.segment_path(base))?;
        sync_dir(&self.path)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn open_meta(&self) -> io::Result<Option<FileStorage>> {
        match FileStorage::open(&self.path.join(META_FILE_NAME)) {
            Ok(file) => Ok(Some(file)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn create_meta(&self, contents: &[u8]) -> io::Result<FileStorage> {
        let path = self.path.join(META_FILE_NAME);
        FileStorage::create_atomically(&path, contents)?;
        FileStorage::open(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_base_lsn_and_sort_in_lsn_order() {
        let low = segment_file_name(Lsn::new(0x2a));
        let high = segment_file_name(Lsn::new(0x1_0000_0000));
        assert_eq!(low, "000000000000002a.wal");
        assert!(low < high);
        assert_eq!(
            parse_segment_file_name(&high),
            Some(Lsn::new(0x1_0000_0000))
        );
        for other in [
            "2a.wal",
            "000000000000002A.wal",
            "000000000000002a.log",
            "LOCK",
            "",
        ] {
            assert_eq!(parse_segment_file_name(other), None, "{other}");
        }
    }

    #[test]
    fn creation_is_atomic_and_leftovers_are_cleaned_up() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = FsDir::create_all(&tmp.path().join("log")).unwrap();
        dir.create(Lsn::new(64), b"header").unwrap();
        std::fs::write(dir.path().join("0000000000000080.wal.creating"), b"half").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
        assert_eq!(dir.list().unwrap(), vec![Lsn::new(64)]);
        assert!(!dir.path().join("0000000000000080.wal.creating").exists());
        assert!(dir.path().join("notes.txt").exists());
        let err = dir.create(Lsn::new(64), b"again").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        dir.remove(Lsn::new(64)).unwrap();
        assert_eq!(dir.list().unwrap(), Vec::<Lsn>::new());
    }

    #[test]
    fn the_lock_admits_one_writer_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = FsDir::create_all(&tmp.path().join("log")).unwrap();
        let held = dir.lock().unwrap();
        let again = FsDir::create_all(dir.path()).unwrap();
        assert_eq!(again.lock().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(held);
        again.lock().unwrap();
        assert_eq!(
            dir.list().unwrap(),
            Vec::<Lsn>::new(),
            "LOCK is not a segment"
        );
    }

    #[test]
    fn a_file_is_not_a_log_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = FsDir::create_all(&file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory);
    }
}
