//! [`PoisonedError`]: what every call on a poisoned log gets — the durable LSN when the log was
//! poisoned and, in words, what failed first. Shared by every backend so the text has one
//! definition.
//!
//! Invariant: the durable LSN it reports never moves after the failure; only reopening (and
//! recovering) the log clears the poison.

use crate::{Lsn, Poison};
use alloc::string::String;
use core::fmt;

/// An earlier write or sync failed, so nothing more can be trusted to be durable. Reopen the
/// log: recovery finds what actually reached the media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonedError {
    /// The durable LSN when the failure happened; it never moves after.
    pub durable: Lsn,
    /// What failed first, and its error (e.g. "sync failed: Input/output error").
    pub cause: String,
}

impl PoisonedError {
    /// The error for a log poisoned by `cause` while `durable` was its durable LSN.
    pub fn new(durable: Lsn, cause: impl Into<String>) -> PoisonedError {
        PoisonedError {
            durable,
            cause: cause.into(),
        }
    }
}

impl fmt::Display for PoisonedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "log is poisoned: {}; nothing past LSN {} can be trusted to be durable. Reopen the \
             log to recover",
            self.cause, self.durable
        )
    }
}

/// A [`Pipeline`](crate::Pipeline)'s poison as the error a caller sees: its durable LSN and its
/// first cause's message.
impl From<Poison> for PoisonedError {
    fn from(poison: Poison) -> PoisonedError {
        PoisonedError {
            durable: poison.durable,
            cause: poison.cause.message,
        }
    }
}
