//! [`LogEvent`]: what the worker log did, step by step, for observers (the dashboard draws the
//! group commit from these).
//!
//! The core's group-commit [`Event`]s (who led a flush, who waited, who was acknowledged) are
//! forwarded unchanged inside [`LogEvent::GroupCommit`]; the worker adds the I/O steps the state
//! machine does not see: each append, each drain into OPFS, and each flush with its duration.
//!
//! Invariant: events are recorded in the order the steps happened, and only while someone
//! observes ([`EventLog::set_observing`]), so an unobserved log pays nothing for them.

use walden_core::{Event, EventSink, Lsn};

/// One observable step of the worker log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogEvent {
    /// A record was appended to the in-memory buffer.
    Appended {
        /// The record's LSN.
        lsn: Lsn,
        /// The end of what is appended, after it.
        current: Lsn,
        /// Whether a commit (rather than a plain append) asked for it.
        commit: bool,
    },
    /// The buffer was drained into the OPFS file (`write`).
    Drained {
        /// The end of what OPFS now holds.
        written: Lsn,
    },
    /// A flush (`flush()`, the durability point) started.
    FlushStarted {
        /// The LSN it makes durable.
        upto: Lsn,
        /// Commits it carries (the leader and every waiter it covers).
        commits: usize,
    },
    /// A flush finished, successfully or not.
    FlushFinished {
        /// The durable LSN after it.
        durable: Lsn,
        /// Commits it acknowledged (0 when it failed).
        commits: usize,
        /// Records appended since the previous flush, commits and plain appends alike.
        records: u64,
        /// How long the drain and the flush took, in milliseconds.
        elapsed_ms: f64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A step of the core's group-commit state machine.
    GroupCommit(Event),
}

/// Records [`LogEvent`]s while observed; the core's state machine writes into it too.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    observing: bool,
    events: Vec<LogEvent>,
}

impl EventLog {
    /// Starts or stops recording. Stopping discards what was recorded.
    pub fn set_observing(&mut self, observing: bool) {
        self.observing = observing;
        if !observing {
            self.events.clear();
        }
    }

    /// Whether events are being recorded.
    pub fn observing(&self) -> bool {
        self.observing
    }

    /// Records `event` if observed.
    pub fn push(&mut self, event: LogEvent) {
        if self.observing {
            self.events.push(event);
        }
    }

    /// Takes everything recorded so far, oldest first.
    pub fn take(&mut self) -> Vec<LogEvent> {
        core::mem::take(&mut self.events)
    }
}

impl EventSink for EventLog {
    fn event(&mut self, event: Event) {
        self.push(LogEvent::GroupCommit(event));
    }
}
