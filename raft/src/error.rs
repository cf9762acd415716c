//! [`Error`]: why a [`crate::LogStore`] could not be opened or written, and its conversion into
//! openraft's `StorageError` for the trait methods.

use openraft::{AnyError, ErrorSubject, ErrorVerb, NodeId, StorageError, StorageIOError};
use std::fmt;
use walden::Lsn;

/// Any error of the log store.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The Walden log failed (I/O, a poisoned log, a damaged or locked directory).
    Wal(walden::Error),
    /// A record is not one this store wrote (an unknown tag, or JSON that does not decode as
    /// this `RaftTypeConfig`'s entry). Nothing was changed.
    Decode {
        /// The record's LSN.
        lsn: Lsn,
        /// What the decoder said.
        reason: String,
    },
    /// The log's metadata slot does not hold this store's state (or a newer format of it).
    /// Nothing was changed.
    Metadata {
        /// What is wrong.
        reason: String,
    },
    /// An entry or the metadata could not be serialized.
    Encode {
        /// What the encoder said.
        reason: String,
    },
    /// Entries do not come in increasing index order above the purge point (in the log when it
    /// is opened, or in an `append` that would step back without a truncation). Nothing was
    /// changed.
    OutOfOrder {
        /// The record's LSN.
        lsn: Lsn,
        /// The index found there.
        found: u64,
        /// The lowest index that may come next.
        expected: u64,
    },
    /// An index the store does not hold was asked for where one is required (a truncation or
    /// purge point the log never reached is not an error; this is one below the first kept).
    Missing {
        /// The index asked for.
        index: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Wal(err) => write!(f, "the Walden log failed: {err}"),
            Error::Decode { lsn, reason } => write!(
                f,
                "the record at LSN {lsn} is not a walden-raft record of this type configuration \
                 ({reason}): was the directory written by another program, or with other entry \
                 types? Nothing was changed"
            ),
            Error::Metadata { reason } => write!(
                f,
                "the log's metadata is not walden-raft's vote and purge state ({reason}). \
                 Nothing was changed"
            ),
            Error::Encode { reason } => write!(f, "could not serialize for the log: {reason}"),
            Error::OutOfOrder {
                lsn,
                found,
                expected,
            } => write!(
                f,
                "the entry at LSN {lsn} has index {found} where an index of at least {expected} \
                 must follow: entries are kept in increasing index order (a log changed outside \
                 walden-raft, or an append below the last entry without a truncation). Nothing \
                 was changed"
            ),
            Error::Missing { index } => write!(f, "the log no longer holds index {index}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Wal(err) => Some(err),
            _ => None,
        }
    }
}

impl From<walden::Error> for Error {
    fn from(err: walden::Error) -> Error {
        Error::Wal(err)
    }
}

impl Error {
    /// As openraft's `StorageError`, for `subject` and `verb`.
    pub(crate) fn storage<NID: NodeId>(
        &self,
        subject: ErrorSubject<NID>,
        verb: ErrorVerb,
    ) -> StorageError<NID> {
        StorageIOError::new(subject, verb, AnyError::new(self)).into()
    }

    /// As an `io::Error`, for openraft's flush callback.
    pub(crate) fn into_io(self) -> std::io::Error {
        std::io::Error::other(self)
    }
}
