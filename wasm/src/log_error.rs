//! [`LogError`]: what a browser log operation can fail with, as the page sees it.
//!
//! One flat enum whose variants name what the user can act on (`Locked`, `QuotaExceeded`,
//! `Poisoned`, `Corrupt`, ...), each with a stable [`LogError::kind`] string that JavaScript
//! callers switch on. It is `Clone` because one failed flush answers every commit it carried.
//!
//! Invariants:
//! - The conversion from the core's [`WriterError`] keeps the storage's own classification
//!   (through [`StorageFailure`]): a full quota during a flush is `QuotaExceeded`, not a generic
//!   I/O error.
//! - Display texts are the core's and the storage's actionable messages, unchanged.

use crate::error::OpfsError;
use core::fmt;
use walden_core::{HeaderError, Lsn, MemError, Poison, RecoveryError, WriterError};

/// An error from the browser log, with a stable [`kind`](LogError::kind).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogError {
    /// Another tab or worker has the log open.
    Locked {
        /// The actionable message.
        message: String,
    },
    /// The origin's storage quota is full; nothing acknowledged was lost, the log is poisoned.
    QuotaExceeded {
        /// The actionable message.
        message: String,
    },
    /// OPFS sync access handles are not available in this context.
    NotSupported {
        /// The actionable message.
        message: String,
    },
    /// The log (or its worker) is closed.
    Closed {
        /// The actionable message.
        message: String,
    },
    /// The browser failed a read, write, truncate or flush in another way.
    Io {
        /// The actionable message.
        message: String,
    },
    /// The file is not a Walden log; it was left untouched.
    NotAWal {
        /// The actionable message.
        message: String,
    },
    /// The file was written by a newer Walden; it was left untouched.
    NewerVersion {
        /// The actionable message.
        message: String,
    },
    /// The file's header is truncated or damaged; it was left untouched.
    BadHeader {
        /// The actionable message.
        message: String,
    },
    /// Recovery found damage it must not repair silently (corruption in the middle, synced
    /// records lost, a record over the reader's limit); the file was left untouched.
    Corrupt {
        /// The actionable message.
        message: String,
    },
    /// A record is larger than the log's payload limit; nothing was appended.
    TooLarge {
        /// The actionable message.
        message: String,
    },
    /// A flush failed earlier, so nothing more can be trusted to be durable until the log is
    /// reopened and recovered.
    Poisoned {
        /// Everything below this LSN is durable; nothing above it may be.
        durable: Lsn,
        /// The actionable message.
        message: String,
    },
    /// The request itself was wrong (e.g. reading from an LSN that is not a record boundary).
    BadRequest {
        /// The actionable message.
        message: String,
    },
    /// The log's worker could not start (e.g. `walden-worker.js` was not found) or crashed.
    Worker {
        /// The actionable message.
        message: String,
    },
    /// The tab whose worker held the log (the leader) went away before answering this request,
    /// and the tab that took over found that the record is not in the log (or, for a
    /// truncate, cannot tell whether it ran): retry it.
    LeaderLost {
        /// The actionable message.
        message: String,
    },
    /// A broken invariant: a bug in Walden, reported rather than hidden.
    Internal {
        /// The actionable message.
        message: String,
    },
}

impl LogError {
    /// A stable name for the kind, for JavaScript: `locked`, `quota`, `notSupported`, `closed`,
    /// `io`, `notAWal`, `newerVersion`, `badHeader`, `corrupt`, `tooLarge`, `poisoned`,
    /// `badRequest`, `worker`, `leaderLost`, `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            LogError::Locked { .. } => "locked",
            LogError::QuotaExceeded { .. } => "quota",
            LogError::NotSupported { .. } => "notSupported",
            LogError::Closed { .. } => "closed",
            LogError::Io { .. } => "io",
            LogError::NotAWal { .. } => "notAWal",
            LogError::NewerVersion { .. } => "newerVersion",
            LogError::BadHeader { .. } => "badHeader",
            LogError::Corrupt { .. } => "corrupt",
            LogError::TooLarge { .. } => "tooLarge",
            LogError::Poisoned { .. } => "poisoned",
            LogError::BadRequest { .. } => "badRequest",
            LogError::Worker { .. } => "worker",
            LogError::LeaderLost { .. } => "leaderLost",
            LogError::Internal { .. } => "internal",
        }
    }

    /// The actionable message.
    pub fn message(&self) -> &str {
        match self {
            LogError::Locked { message }
            | LogError::QuotaExceeded { message }
            | LogError::NotSupported { message }
            | LogError::Closed { message }
            | LogError::Io { message }
            | LogError::NotAWal { message }
            | LogError::NewerVersion { message }
            | LogError::BadHeader { message }
            | LogError::Corrupt { message }
            | LogError::TooLarge { message }
            | LogError::Poisoned { message, .. }
            | LogError::BadRequest { message }
            | LogError::Worker { message }
            | LogError::LeaderLost { message }
            | LogError::Internal { message } => message,
        }
    }

    /// Rebuilds an error from its kind and message (the page side of the worker protocol).
    pub fn from_kind(kind: &str, message: String) -> LogError {
        match kind {
            "locked" => LogError::Locked { message },
            "quota" => LogError::QuotaExceeded { message },
            "notSupported" => LogError::NotSupported { message },
            "closed" => LogError::Closed { message },
            "io" => LogError::Io { message },
            "notAWal" => LogError::NotAWal { message },
            "newerVersion" => LogError::NewerVersion { message },
            "badHeader" => LogError::BadHeader { message },
            "corrupt" => LogError::Corrupt { message },
            "tooLarge" => LogError::TooLarge { message },
            "poisoned" => LogError::Poisoned {
                durable: Lsn::ZERO,
                message,
            },
            "badRequest" => LogError::BadRequest { message },
            "worker" => LogError::Worker { message },
            "leaderLost" => LogError::LeaderLost { message },
            _ => LogError::Internal { message },
        }
    }

    /// The error every call gets once the log's pipeline is poisoned: the durable LSN then,
    /// and the first cause.
    pub(crate) fn poisoned(poison: &Poison) -> LogError {
        LogError::Poisoned {
            durable: poison.durable,
            message: poison.to_string(),
        }
    }

    pub(crate) fn internal(what: impl fmt::Display) -> LogError {
        LogError::Internal {
            message: format!("internal error in walden-wasm (please report it): {what}"),
        }
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for LogError {}

/// A storage error type that knows which [`LogError`] it is: the storage's own
/// classification survives the core writer's generic [`WriterError`].
pub trait StorageFailure: fmt::Display {
    /// The error, with `context` (what the log was doing) in its message.
    fn to_log_error(&self, context: &str) -> LogError;
}

impl StorageFailure for OpfsError {
    fn to_log_error(&self, context: &str) -> LogError {
        let message = format!("{context} failed: {self}");
        match self {
            OpfsError::Locked { .. } => LogError::Locked {
                message: self.to_string(),
            },
            OpfsError::QuotaExceeded { .. } => LogError::QuotaExceeded { message },
            OpfsError::NotSupported { .. } => LogError::NotSupported { message },
            OpfsError::Closed { .. } => LogError::Closed { message },
            _ => LogError::Io { message },
        }
    }
}

impl StorageFailure for MemError {
    fn to_log_error(&self, context: &str) -> LogError {
        LogError::Io {
            message: format!("{context} failed: {self}"),
        }
    }
}

impl<E: StorageFailure> From<WriterError<E>> for LogError {
    fn from(err: WriterError<E>) -> LogError {
        let message = err.to_string();
        match err {
            WriterError::Storage { op, source } => source.to_log_error(op),
            WriterError::Header(HeaderError::NotAWalFile { .. }) => LogError::NotAWal { message },
            WriterError::Header(HeaderError::NewerVersion { .. }) => {
                LogError::NewerVersion { message }
            }
            WriterError::Header(_) => LogError::BadHeader { message },
            WriterError::Recovery(RecoveryError::Header(HeaderError::NotAWalFile { .. })) => {
                LogError::NotAWal { message }
            }
            WriterError::Recovery(_) => LogError::Corrupt {
                message: format!(
                    "{message}; nothing was changed. Restore the log from a copy, or salvage the \
                     records before the damage by opening it with {{recovery: \"pointInTime\"}} \
                     (which discards everything after the damage)"
                ),
            },
            WriterError::Encode(_) => LogError::TooLarge { message },
            WriterError::Poisoned(poisoned) => LogError::Poisoned {
                durable: poisoned.durable,
                message,
            },
            // The worker builds every frame and LSN it hands the writer itself: a usage error
            // from the writer is a bug in walden-wasm, not in the page's request.
            WriterError::Input(_) | WriterError::Watermark(_) => LogError::internal(message),
            _ => LogError::internal(message),
        }
    }
}

impl From<OpfsError> for LogError {
    fn from(err: OpfsError) -> LogError {
        err.to_log_error("opening the log")
    }
}
