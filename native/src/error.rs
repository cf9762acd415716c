//! The native crate's error type. Every variant says what happened and what to do about it; the
//! log's files are never modified on the way to returning one, except where a variant says so.
//!
//! [`Error`] wraps the core's error families ([`HeaderError`], [`RecoveryError`],
//! [`EncodeError`], [`InputError`], [`WatermarkError`], [`PoisonedError`]) rather than copying
//! their variants, so each text has one definition; its own variants are only what files,
//! directories and threads add (I/O, segments, the lock, permissions, shutdown).

use std::fmt;
use std::io;
use walden_core::{
    EncodeError, GroupCommitError, HeaderError, InputError, Lsn, MetaError, PoisonedError,
    RecoveryError, WatermarkError,
};

/// Any error from the native backend.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on the log failed.
    Io {
        /// What the log was doing.
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file's header is foreign, newer, truncated or damaged. The file was left untouched.
    Header(HeaderError),
    /// Recovery refused the log (corruption in the middle, a record over the limit). The file was
    /// left untouched.
    Recovery(RecoveryError),
    /// A record could not be encoded (e.g. over the size limit). Nothing was appended.
    Encode(EncodeError),
    /// The call was wrong for the log's state (bytes that are not whole frames, an LSN never
    /// appended, a change that needs an empty log). Nothing was written or changed.
    Input(InputError),
    /// A watermark update was refused (e.g. `mark_durable` past what was written).
    Watermark(WatermarkError),
    /// The group-commit protocol was misused: a bug in Walden, please report it.
    GroupCommit(GroupCommitError),
    /// An earlier write or sync failed, so nothing more can be trusted to be durable. Reopen the
    /// log: recovery finds what actually reached the disk.
    Poisoned(PoisonedError),
    /// A segment file's header disagrees with its name, or the segments do not follow each other
    /// without a gap. Nothing was modified: inspect the directory (a file copied in from another
    /// log, or one removed by hand).
    SegmentMismatch {
        /// The segment file.
        segment: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading stopped at damage inside the range that should hold only whole records: the
    /// segment was modified or the disk returned bad data. Nothing was modified.
    Corrupt {
        /// The segment file.
        segment: String,
        /// The LSN where the damage starts.
        at: Lsn,
        /// What the decoder found.
        reason: String,
    },
    /// Reading was asked to start below the first LSN still kept: a checkpoint removed it.
    Checkpointed {
        /// The LSN asked for.
        requested: Lsn,
        /// The first LSN the log still holds.
        first: Lsn,
    },
    /// The log was shut down ([`crate::Wal::shutdown`] or `close`): nothing more can be appended,
    /// and nothing past `durable` will become durable through it. Reopen the log to write again.
    Closed {
        /// The durable LSN when the log was shut down.
        durable: Lsn,
    },
    /// Reading was asked to start at an LSN where no record starts.
    NotARecordBoundary {
        /// The LSN asked for.
        lsn: Lsn,
    },
    /// The log's `META` file (its metadata and truncations) is damaged or newer, or a change to
    /// it was refused (metadata too long, too many truncations). Nothing was changed.
    Meta(MetaError),
    /// The `META` file records a truncation up to an LSN past the end of the recovered log: the
    /// segments holding the log's end were removed or replaced. Nothing was changed.
    MetaPastEnd {
        /// Where the recorded truncation ends.
        truncated_to: Lsn,
        /// The end of the log the segments hold.
        end: Lsn,
    },
    /// The record at `lsn` was dropped by a suffix truncation ([`crate::Wal::truncate_from`]).
    Truncated {
        /// The LSN asked for.
        lsn: Lsn,
        /// The first LSN the truncation dropped.
        from: Lsn,
        /// Where appends resumed after it.
        to: Lsn,
    },
    /// Another writer (in this process or another) has the log open: only one may. Nothing was
    /// read or changed.
    Locked {
        /// The log, as its directory or file describes itself.
        log: String,
    },
    /// This process may not write where the log lives (permissions, or a read-only file
    /// system). Nothing was changed.
    NotWritable {
        /// The log, as its directory or file describes itself.
        log: String,
        /// What the OS said.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, source } => write!(f, "{op} failed: {source}"),
            Error::Header(err) => err.fmt(f),
            Error::Recovery(err) => err.fmt(f),
            Error::Encode(err) => err.fmt(f),
            Error::Input(err) => err.fmt(f),
            Error::Watermark(err) => err.fmt(f),
            Error::GroupCommit(err) => write!(f, "internal group-commit error (a bug): {err}"),
            Error::Locked { log } => write!(
                f,
                "log {log} is locked: another writer, in this process or another, has it open; \
                 close that one first (the lock goes away with the process that holds it). \
                 Nothing was changed"
            ),
            Error::NotWritable { log, source } => write!(
                f,
                "log {log} cannot be opened for writing ({source}): this process may not write \
                 there; check the permissions of the directory and its files, and whether the \
                 file system is mounted read-only. Nothing was changed"
            ),
            Error::SegmentMismatch { segment, reason } => write!(
                f,
                "segment {segment}: {reason}; the log was not modified: check whether a segment \
                 file was copied in from another log or removed by hand"
            ),
            Error::Corrupt {
                segment,
                at,
                reason,
            } => write!(
                f,
                "segment {segment} is damaged at LSN {at} ({reason}); records from there on in \
                 this segment cannot be read"
            ),
            Error::Checkpointed { requested, first } => write!(
                f,
                "LSN {requested} was removed by a checkpoint; the log now starts at LSN {first}"
            ),
            Error::Closed { durable } => write!(
                f,
                "the log was shut down (durable up to LSN {durable}); nothing more can be \
                 appended or made durable through it. Reopen it to write again"
            ),
            Error::NotARecordBoundary { lsn } => write!(
                f,
                "no record starts at LSN {lsn}: read from an LSN returned by append or commit"
            ),
            Error::Poisoned(err) => err.fmt(f),
            Error::Meta(err) => err.fmt(f),
            Error::MetaPastEnd { truncated_to, end } => write!(
                f,
                "the log's META file records a truncation up to LSN {truncated_to}, but its \
                 segments end at LSN {end}: segment files were removed or replaced by hand. \
                 Nothing was changed; restore the missing segments"
            ),
            Error::Truncated { lsn, from, to } => write!(
                f,
                "the record at LSN {lsn} was dropped when the log was truncated from LSN {from} \
                 (appends resumed at LSN {to})"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::NotWritable { source, .. } => Some(source),
            Error::Header(err) => Some(err),
            Error::Recovery(err) => Some(err),
            Error::Encode(err) => Some(err),
            Error::Input(err) => Some(err),
            Error::Watermark(err) => Some(err),
            Error::GroupCommit(err) => Some(err),
            Error::Poisoned(err) => Some(err),
            Error::Meta(err) => Some(err),
            _ => None,
        }
    }
}

/// What kind of failure an [`Error`] is, for code that decides what to do about it (retry,
/// reopen, alert an operator) without matching every variant. New kinds may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O operation failed (a full disk, a failed write or sync). If it was a write or
    /// sync, the log is now poisoned and later calls return [`ErrorKind::Poisoned`].
    Io,
    /// The file is not a Walden log, was written by a newer format version, or its header is
    /// damaged. Nothing was changed.
    Format,
    /// Records the log must hold are damaged or missing (corruption in the middle, a sealed
    /// segment cut short, a segment from another log). Nothing was changed.
    Corrupt,
    /// A record is over the payload limit. Nothing was appended.
    RecordTooLarge,
    /// The call itself was wrong for the log's state: a read from an LSN where no record
    /// starts or that a checkpoint removed, bytes that are not whole frames, an LSN never
    /// appended, a change that needs an empty log. Nothing was changed.
    InvalidInput,
    /// An earlier failure poisoned the log: nothing more is reported durable until it is
    /// reopened and recovered.
    Poisoned,
    /// Another writer has the log open. Nothing was changed.
    Locked,
    /// This process may not write where the log lives. Nothing was changed.
    NotWritable,
    /// The log was shut down.
    Closed,
    /// The log's LSN space is used up (a record would end past the largest LSN). Nothing was
    /// appended; start a new log.
    LsnExhausted,
    /// A bug in Walden (a broken internal invariant); please report it.
    Bug,
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Header(_) => ErrorKind::Format,
            Error::Recovery(RecoveryError::Header(_)) => ErrorKind::Format,
            Error::Recovery(RecoveryError::RecordOverLimit { .. }) => ErrorKind::RecordTooLarge,
            Error::Recovery(_)
            | Error::SegmentMismatch { .. }
            | Error::Corrupt { .. }
            | Error::MetaPastEnd { .. }
            | Error::Meta(MetaError::Damaged) => ErrorKind::Corrupt,
            Error::Meta(MetaError::NewerVersion { .. }) => ErrorKind::Format,
            Error::Meta(_) | Error::Truncated { .. } => ErrorKind::InvalidInput,
            Error::Encode(EncodeError::PayloadTooLarge { .. }) => ErrorKind::RecordTooLarge,
            Error::Encode(EncodeError::LsnOverflow { .. }) => ErrorKind::LsnExhausted,
            Error::Encode(_) => ErrorKind::Bug,
            Error::Input(_) | Error::Checkpointed { .. } | Error::NotARecordBoundary { .. } => {
                ErrorKind::InvalidInput
            }
            Error::Watermark(_) | Error::GroupCommit(_) => ErrorKind::Bug,
            Error::Poisoned(_) => ErrorKind::Poisoned,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::NotWritable { .. } => ErrorKind::NotWritable,
            Error::Closed { .. } => ErrorKind::Closed,
        }
    }

    /// Whether this error says the log is poisoned: an earlier write or sync failed, so
    /// nothing past [`Error::durable_lsn`] can be trusted durable until the log is reopened.
    /// (The failure itself comes back once as its own error, e.g. [`ErrorKind::Io`]; every
    /// later call gets a poisoned one.)
    pub fn is_poisoned(&self) -> bool {
        self.kind() == ErrorKind::Poisoned
    }

    /// The durable LSN the error reports, where it has one (a poisoned or shut-down log).
    pub fn durable_lsn(&self) -> Option<Lsn> {
        match self {
            Error::Poisoned(PoisonedError { durable, .. }) | Error::Closed { durable } => {
                Some(*durable)
            }
            _ => None,
        }
    }
}

impl From<RecoveryError> for Error {
    fn from(err: RecoveryError) -> Error {
        match err {
            RecoveryError::Header(header) => Error::Header(header),
            other => Error::Recovery(other),
        }
    }
}

impl From<EncodeError> for Error {
    fn from(err: EncodeError) -> Error {
        Error::Encode(err)
    }
}

impl From<WatermarkError> for Error {
    fn from(err: WatermarkError) -> Error {
        Error::Watermark(err)
    }
}

impl From<InputError> for Error {
    fn from(err: InputError) -> Error {
        Error::Input(err)
    }
}

impl From<MetaError> for Error {
    fn from(err: MetaError) -> Error {
        Error::Meta(err)
    }
}

impl From<PoisonedError> for Error {
    fn from(err: PoisonedError) -> Error {
        Error::Poisoned(err)
    }
}

/// Maps a failure to take a writer's lock: [`Error::Locked`] when another writer holds it,
/// [`Error::NotWritable`] when this process may not write there.
pub(crate) fn lock_error(log: String) -> impl FnOnce(io::Error) -> Error {
    move |source| match source.kind() {
        io::ErrorKind::WouldBlock => Error::Locked { log },
        _ => not_writable_or("locking the log for writing", log)(source),
    }
}

/// Maps a failure to open or create a log for writing: [`Error::NotWritable`] for a permission
/// or read-only file system error, otherwise [`Error::Io`] with `op`.
pub(crate) fn not_writable_or(op: &'static str, log: String) -> impl FnOnce(io::Error) -> Error {
    move |source| match source.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            Error::NotWritable { log, source }
        }
        _ => Error::Io { op, source },
    }
}

/// Attaches the operation to an I/O error.
pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { op, source }
}
