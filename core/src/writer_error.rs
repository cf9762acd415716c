//! [`WriterError`]: what a [`crate::LogWriter`] call can fail with, generic over the storage's
//! own error type so each backend keeps its typed I/O errors (`std::io::Error` natively, OPFS
//! errors in the browser).
//!
//! Invariant: every variant except `Storage` and `Poisoned` is returned before anything was
//! written; `Storage` from a write, sync or truncation means the writer is now poisoned.

use crate::{EncodeError, HeaderError, Lsn, RecoveryError, WatermarkError};
use alloc::string::String;
use core::fmt;

/// Any error from [`crate::LogWriter`]; `E` is the storage's error type.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriterError<E> {
    /// The storage failed. From a write, sync or truncation of an open writer this poisons it:
    /// some prefix of the bytes may have reached the media, and only recovery can tell which.
    Storage {
        /// What the log was doing.
        op: &'static str,
        /// The storage's error.
        source: E,
    },
    /// The file's header is foreign, newer, truncated or damaged. The file was left untouched.
    Header(HeaderError),
    /// Recovery refused the log (corruption in the middle, lost synced data, a record over the
    /// limit). The file was left untouched.
    Recovery(RecoveryError),
    /// A record could not be encoded (e.g. over the size limit). Nothing was appended.
    Encode(EncodeError),
    /// Bytes given to `append_bytes` are not whole frames. Nothing was appended.
    InvalidFrames {
        /// Offset in the given bytes where the problem is.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// A watermark update was refused (e.g. `mark_durable` past what was written).
    Watermark(WatermarkError),
    /// `flush_until` asked for an LSN that was never appended.
    BeyondCurrent {
        /// The LSN asked for.
        target: Lsn,
        /// The end of what was appended.
        current: Lsn,
    },
    /// The operation needs an empty log (no records since the header's base LSN).
    NotEmpty {
        /// The end of what was appended.
        current: Lsn,
    },
    /// The log file is larger than this platform can address. Recovery reads logs through a
    /// window and no longer returns this; kept for the backends that map it.
    TooLarge {
        /// The file's size in bytes.
        bytes: u64,
    },
    /// An earlier write or sync failed, so nothing more can be trusted to be durable. Reopen the
    /// log: recovery finds what actually reached the media.
    Poisoned {
        /// The durable LSN when the failure happened; it never moves after.
        durable: Lsn,
        /// What failed first, and its error (e.g. "sync failed: Input/output error").
        cause: String,
    },
}

impl<E> WriterError<E> {
    /// The same error with the storage error converted by `f` (e.g. into `std::io::Error`).
    pub fn map_storage<F>(self, f: impl FnOnce(E) -> F) -> WriterError<F> {
        match self {
            WriterError::Storage { op, source } => WriterError::Storage {
                op,
                source: f(source),
            },
            WriterError::Header(err) => WriterError::Header(err),
            WriterError::Recovery(err) => WriterError::Recovery(err),
            WriterError::Encode(err) => WriterError::Encode(err),
            WriterError::InvalidFrames { offset, reason } => {
                WriterError::InvalidFrames { offset, reason }
            }
            WriterError::Watermark(err) => WriterError::Watermark(err),
            WriterError::BeyondCurrent { target, current } => {
                WriterError::BeyondCurrent { target, current }
            }
            WriterError::NotEmpty { current } => WriterError::NotEmpty { current },
            WriterError::TooLarge { bytes } => WriterError::TooLarge { bytes },
            WriterError::Poisoned { durable, cause } => WriterError::Poisoned { durable, cause },
        }
    }
}

impl<E: fmt::Display> fmt::Display for WriterError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriterError::Storage { op, source } => write!(f, "{op} failed: {source}"),
            WriterError::Header(err) => err.fmt(f),
            WriterError::Recovery(err) => err.fmt(f),
            WriterError::Encode(err) => err.fmt(f),
            WriterError::InvalidFrames { offset, reason } => write!(
                f,
                "append_bytes needs whole frames encoded at the current LSN: {reason} at byte \
                 {offset}; nothing was appended"
            ),
            WriterError::Watermark(err) => err.fmt(f),
            WriterError::BeyondCurrent { target, current } => write!(
                f,
                "cannot flush up to LSN {target}: only {current} was appended"
            ),
            WriterError::NotEmpty { current } => write!(
                f,
                "the log already holds records (up to LSN {current}); this needs an empty log"
            ),
            WriterError::TooLarge { bytes } => write!(
                f,
                "a {bytes}-byte log does not fit in this platform's address space; open it on a \
                 64-bit machine"
            ),
            WriterError::Poisoned { durable, cause } => write!(
                f,
                "log is poisoned: {cause}; nothing past LSN {durable} can be trusted to be \
                 durable. Reopen the log to recover"
            ),
        }
    }
}

impl<E> From<RecoveryError> for WriterError<E> {
    fn from(err: RecoveryError) -> WriterError<E> {
        match err {
            RecoveryError::Header(header) => WriterError::Header(header),
            other => WriterError::Recovery(other),
        }
    }
}

impl<E> From<EncodeError> for WriterError<E> {
    fn from(err: EncodeError) -> WriterError<E> {
        WriterError::Encode(err)
    }
}

impl<E> From<WatermarkError> for WriterError<E> {
    fn from(err: WatermarkError) -> WriterError<E> {
        WriterError::Watermark(err)
    }
}
