//! [`CliError`]: every way a `walden` command can fail before reaching a verdict, each with a
//! message a user can act on, printed as one line on stderr, and its exit code.
//!
//! Invariant: a command that returns one of these changed nothing in the log, except where the
//! variant says otherwise (a repair that failed half-way says what it had done).

use crate::exit::{EXIT_ERROR, EXIT_LOCKED};
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a command could not do its work.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The path given does not exist.
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// A directory with no segment files (named like `0000000000000000.wal`) in it.
    NoSegments {
        /// The directory.
        dir: PathBuf,
    },
    /// An operating-system call failed.
    Io {
        /// What `walden` was doing.
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The log's writer lock is held: another process (or a `Wal` / `WalWriter` in this one)
    /// has the log open.
    Locked {
        /// The file whose lock is held.
        lock: PathBuf,
    },
    /// The file a backup would be written to exists already.
    BackupExists {
        /// The backup path.
        path: PathBuf,
    },
    /// The log is in a state the command will not act on (a finding it refuses to fix).
    Refused {
        /// What was found and what to do about it.
        reason: String,
        /// The exit code that reports it.
        code: u8,
    },
    /// A bench workload failed inside the log.
    Wal {
        /// What the bench was doing.
        op: &'static str,
        /// The log's error.
        source: walden::Error,
    },
    /// Bad arguments (clap's own errors are printed before they get here).
    Usage(String),
}

impl CliError {
    /// The process exit code that reports this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Locked { .. } => EXIT_LOCKED,
            CliError::Refused { code, .. } => *code,
            _ => EXIT_ERROR,
        }
    }

    /// An [`CliError::Io`] builder for `map_err`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| CliError::Io { op, path, source }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::NotFound { path } => {
                write!(f, "{}: no such file or directory", path.display())
            }
            CliError::NoSegments { dir } => write!(
                f,
                "{}: no segment files in this directory (a Walden log directory holds files named \
                 by their base LSN in sixteen hex digits, such as 0000000000000000.wal): not a \
                 Walden log directory",
                dir.display()
            ),
            CliError::Io { op, path, source } => {
                write!(f, "{op} {} failed: {source}", path.display())
            }
            CliError::Locked { lock } => write!(
                f,
                "locked: the log is open elsewhere ({} is locked by its writer); close that \
                 writer first. Nothing was changed",
                lock.display()
            ),
            CliError::BackupExists { path } => write!(
                f,
                "backup file {} exists already: move it away or name another with --backup. \
                 Nothing was changed",
                path.display()
            ),
            CliError::Refused { reason, .. } => write!(f, "{reason}"),
            CliError::Wal { op, source } => write!(f, "{op}: {source}"),
            CliError::Usage(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for CliError {}
