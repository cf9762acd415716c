//! [`InputError`]: a writer call that was wrong for the log's state — bytes that are not whole
//! frames, an LSN never appended, a change that needs an empty log. The usage errors of
//! [`crate::LogWriter`], shared by every backend so each text has one definition.
//!
//! Invariant: every variant is returned before anything was written or changed; the writer is
//! not poisoned and the call may be retried with a correct argument.

use crate::Lsn;
use core::fmt;

/// A call that was wrong for the log's state. Nothing was written or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// Bytes given to `append_bytes` are not whole frames. Nothing was appended.
    InvalidFrames {
        /// Offset in the given bytes where the problem is.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
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
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::InvalidFrames { offset, reason } => write!(
                f,
                "append_bytes needs whole frames encoded at the current LSN: {reason} at byte \
                 {offset}; nothing was appended"
            ),
            InputError::BeyondCurrent { target, current } => write!(
                f,
                "cannot flush up to LSN {target}: only {current} was appended"
            ),
            InputError::NotEmpty { current } => write!(
                f,
                "the log already holds records (up to LSN {current}); this needs an empty log"
            ),
        }
    }
}
