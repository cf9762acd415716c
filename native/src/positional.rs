//! Positional reads and writes of a [`File`], on Unix and on Windows: the one place that knows
//! how each platform does them, so nothing else in Walden uses a file's cursor.
//!
//! - Unix: `pread`/`pwrite` (`std::os::unix::fs::FileExt`), which leave the cursor alone.
//! - Windows: `ReadFile`/`WriteFile` at an offset (`std::os::windows::fs::FileExt::seek_read` /
//!   `seek_write`), which also move the file's cursor. Walden never reads or writes through the
//!   cursor, so that is harmless; a short write is continued like `write_all_at` does on Unix.
//!
//! Invariant: [`read_at`] fills `buf` unless the file ends first (interrupted reads retried), and
//! [`write_all_at`] writes all of `buf` or fails.

use std::fs::File;
use std::io;

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_once(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Writes all of `bytes` at `offset`.
pub fn write_all_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        match write_once(file, bytes, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the file took no bytes of a positional write",
                ))
            }
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(unix)]
fn read_once(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(unix)]
fn write_once(file: &File, bytes: &[u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(file, bytes, offset)
}

#[cfg(windows)]
fn read_once(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(windows)]
fn write_once(file: &File, bytes: &[u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_write(file, bytes, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_at_offsets_without_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("f"))
            .unwrap();
        write_all_at(&file, b"world", 6).unwrap();
        write_all_at(&file, b"hello ", 0).unwrap();
        let mut buf = [0; 16];
        assert_eq!(read_at(&file, &mut buf, 0).unwrap(), 11);
        assert_eq!(&buf[..11], b"hello world");
        assert_eq!(read_at(&file, &mut buf, 20).unwrap(), 0, "past the end");
    }
}
