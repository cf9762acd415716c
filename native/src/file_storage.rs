//! [`FileStorage`]: the core's `Storage` contract over a `std::fs::File`.
//!
//! Positional I/O only (`positional.rs`: `pread`/`pwrite` on Unix, offset `ReadFile`/`WriteFile`
//! on Windows), so the file offset is never shared state. `sync(SyncMode::Data)` is `fdatasync`
//! (`FlushFileBuffers` on Windows), `sync(SyncMode::All)` is `fsync`. Creating a file is not
//! durable until its directory is synced: [`FileStorage::create_new`] does that itself.
//!
//! Windows has no directory sync that std can call (a directory cannot be opened as a `File`):
//! [`sync_dir`] does nothing there. A file's data and size are durable through its own
//! `FlushFileBuffers`; a new or renamed *name* (a segment's creation, a checkpoint's removal) is
//! made durable by NTFS's metadata journal on its own schedule, so a power loss within moments
//! of a rotation can leave the directory without the new segment's name, or with a removed
//! segment back. Recovery treats both as it treats an interrupted creation or checkpoint: the
//! log reopens consistent, but a segment created just before the loss may be missing, with the
//! records acknowledged in it.

use crate::positional;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::Arc;
use walden_core::{Storage, SyncMode};

/// The suffix of a file being created by [`FileStorage::create_atomically`].
pub(crate) const CREATING_SUFFIX: &str = ".creating";

/// A log file. See the module documentation.
#[derive(Debug)]
pub struct FileStorage {
    /// Shared so a group-commit leader can fsync a clone outside the writer lock.
    file: Arc<File>,
}

impl FileStorage {
    /// Opens an existing file for reading and writing.
    pub fn open(path: &Path) -> io::Result<FileStorage> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(FileStorage {
            file: Arc::new(file),
        })
    }

    /// Opens an existing file for reading only, for tools that check a log and must not change
    /// it: the OS refuses its writes and truncations.
    pub fn open_read_only(path: &Path) -> io::Result<FileStorage> {
        Ok(FileStorage {
            file: Arc::new(File::open(path)?),
        })
    }

    /// Creates a new file (failing if it exists) and syncs its directory, so the file's
    /// existence survives a power loss.
    pub fn create_new(path: &Path) -> io::Result<FileStorage> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        sync_dir(path.parent().unwrap_or_else(|| Path::new(".")))?;
        Ok(FileStorage {
            file: Arc::new(file),
        })
    }

    /// Creates the file at `path` holding `contents`, atomically and durably: written as
    /// `{path}.creating` (a leftover of an interrupted creation is replaced) and synced, then
    /// renamed into place and the directory synced. A crash leaves either no file or the whole
    /// contents, never a part. Fails if `path` already exists.
    pub fn create_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(CREATING_SUFFIX);
        let tmp = path.with_file_name(tmp_name);
        match std::fs::remove_file(&tmp) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        {
            let mut storage = FileStorage::create_new(&tmp)?;
            storage.write_at(0, contents)?;
            storage.sync(SyncMode::All)?;
        }
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            ));
        }
        std::fs::rename(&tmp, path)?;
        sync_dir(path.parent().unwrap_or_else(|| Path::new(".")))
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// A shared handle to the file, to sync outside the writer's lock.
    pub fn shared_file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }
}

/// Syncs a directory, making the creation, removal or renaming of its entries durable. On
/// Windows it does nothing: see the module documentation for what that means for durability.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if cfg!(windows) {
        return Ok(());
    }
    File::open(dir)?.sync_all()
}

impl Storage for FileStorage {
    type Error = io::Error;

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        positional::write_all_at(&self.file, bytes, offset)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        positional::read_at(&self.file, buf, offset)
    }

    fn sync(&mut self, mode: SyncMode) -> io::Result<()> {
        match mode {
            SyncMode::Data => self.file.sync_data(),
            SyncMode::All => self.file.sync_all(),
        }
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_truncates_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut storage = FileStorage::create_new(&path).unwrap();
        assert_eq!(storage.append(b"hello").unwrap(), 0);
        storage.write_at(7, b"!").unwrap();
        storage.sync(SyncMode::Data).unwrap();
        let mut buf = [0xFFu8; 16];
        assert_eq!(storage.read_at(0, &mut buf).unwrap(), 8);
        assert_eq!(&buf[..8], b"hello\0\0!");
        storage.truncate(5).unwrap();
        assert_eq!(storage.size().unwrap(), 5);
        assert_eq!(storage.read_at(9, &mut buf).unwrap(), 0);
        let err = FileStorage::create_new(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }
}
