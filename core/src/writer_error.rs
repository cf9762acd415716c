//! [`WriterError`]: what a [`crate::LogWriter`] call can fail with, generic over the storage's
//! own error type so each backend keeps its typed I/O errors (`std::io::Error` natively, OPFS
//! errors in the browser).
//!
//! The usage errors ([`InputError`]) and the poisoned-log error ([`PoisonedError`]) are their own
//! types, wrapped here, so each backend wraps the same ones instead of copying their variants.
//!
//! Invariant: every variant except `Storage` and `Poisoned` is returned before anything was
//! written; `Storage` from a write, sync or truncation means the writer is now poisoned.

use crate::{EncodeError, HeaderError, InputError, PoisonedError, RecoveryError, WatermarkError};
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
    /// The call was wrong for the log's state (bytes that are not whole frames, an LSN never
    /// appended, a change that needs an empty log). Nothing was written or changed.
    Input(InputError),
    /// A watermark update was refused (e.g. `mark_durable` past what was written).
    Watermark(WatermarkError),
    /// An earlier write or sync failed, so nothing more can be trusted to be durable. Reopen the
    /// log: recovery finds what actually reached the media.
    Poisoned(PoisonedError),
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
            WriterError::Input(err) => WriterError::Input(err),
            WriterError::Watermark(err) => WriterError::Watermark(err),
            WriterError::Poisoned(err) => WriterError::Poisoned(err),
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
            WriterError::Input(err) => err.fmt(f),
            WriterError::Watermark(err) => err.fmt(f),
            WriterError::Poisoned(err) => err.fmt(f),
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

impl<E> From<InputError> for WriterError<E> {
    fn from(err: InputError) -> WriterError<E> {
        WriterError::Input(err)
    }
}

impl<E> From<PoisonedError> for WriterError<E> {
    fn from(err: PoisonedError) -> WriterError<E> {
        WriterError::Poisoned(err)
    }
}
