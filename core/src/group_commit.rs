//! The group-commit state machine: who syncs, who waits, and who is told what. Pure: no I/O, no
//! clock, no threads. The native backend drives it under a mutex; the dashboard drives it from a
//! simulated clock; both see the same decisions and the same [`Event`]s.
//!
//! The protocol:
//! 1. A committer calls [`GroupCommit::request`] with the LSN it needs durable. It is told
//!    [`Decision::Durable`] (nothing to do), [`Decision::Lead`] (no sync is in flight: drain the
//!    buffer, then sync), [`Decision::Wait`] (a leader is at work: wait, then [`GroupCommit::poll`]),
//!    or [`Decision::Failed`] (the log is poisoned).
//! 2. The leader drains and reports [`GroupCommit::sync_started`] with the LSN the sync covers
//!    (everything drained, at least its own target), syncs outside any lock, then reports
//!    [`GroupCommit::sync_succeeded`] or [`GroupCommit::sync_failed`].
//! 3. Success publishes the new durable LSN, acknowledges every waiter it covers, and, if waiters
//!    remain, elects the one with the lowest target as the next leader. Failure poisons the
//!    machine: every waiter and every later request gets [`Poisoned`].
//!
//! Invariants (checked by the reference-model tests in `tests/group_commit_model.rs`):
//! - At most one leader at a time; only it can report a sync.
//! - Nobody is told durable above the durable LSN, which only moves forward, and only on a
//!   successful sync.
//! - After a failure nobody is told durable again: requests fail, pending waiters fail.
//! - Every waiter is answered: a success covers it or hands it the lead, a failure fails it.
//!   No step waits on a timer.

use crate::Lsn;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::fmt;

/// Identifies one committer's request for durability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId(pub u64);

/// The right, and duty, to sync: held by exactly one committer at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lead {
    /// The committer that leads.
    pub leader: WaiterId,
    /// The LSN it needs durable; its sync must cover at least this.
    pub target: Lsn,
}

/// The answer to [`GroupCommit::request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The target is already durable.
    Durable,
    /// No sync is in flight: drain the buffer and sync, reporting through the `sync_*` methods.
    Lead(Lead),
    /// A leader is at work: wait for it, then [`GroupCommit::poll`] with this id.
    Wait(WaiterId),
    /// The log is poisoned.
    Failed(Poisoned),
}

/// What a waiter learns from [`GroupCommit::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    /// Still waiting.
    Waiting,
    /// Its target is durable.
    Durable,
    /// It was elected to lead the next sync.
    Lead(Lead),
    /// The log is poisoned; its target may not be durable.
    Failed(Poisoned),
}

/// The sticky error of a log whose sync failed. Only reopening (and recovering) the log clears it:
/// after a failed fsync Linux may mark the lost pages clean, so a retry can report success for data
/// that never reached the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poisoned {
    /// The durable LSN when the sync failed: everything below it is durable, nothing above.
    pub durable: Lsn,
    /// The LSN the failed sync tried to make durable, if it had started.
    pub failed_upto: Option<Lsn>,
}

impl fmt::Display for Poisoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "log is poisoned: a sync failed, so nothing past LSN {} can be trusted to be durable; \
             reopen the log to recover",
            self.durable
        )
    }
}

/// Misuse of the protocol: a bug in the caller, reported instead of corrupting the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupCommitError {
    /// The lead presented is not the current leader's.
    NotLeader {
        /// The lead presented.
        lead: Lead,
    },
    /// `sync_started` twice for one lead.
    AlreadySyncing {
        /// The LSN of the sync already in flight.
        upto: Lsn,
    },
    /// `sync_succeeded` without `sync_started`.
    NotSyncing,
    /// The sync would not cover the leader's own target.
    SyncBelowTarget {
        /// The LSN the sync covers.
        upto: Lsn,
        /// The leader's target.
        target: Lsn,
    },
    /// `poll` for a waiter this machine does not know with that target.
    UnknownWaiter {
        /// The id presented.
        waiter: WaiterId,
    },
}

impl fmt::Display for GroupCommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GroupCommitError::NotLeader { lead } => write!(
                f,
                "waiter {} reported a sync but is not the current leader",
                lead.leader.0
            ),
            GroupCommitError::AlreadySyncing { upto } => {
                write!(f, "a sync up to LSN {upto} is already in flight")
            }
            GroupCommitError::NotSyncing => {
                write!(f, "sync reported as finished but it was never started")
            }
            GroupCommitError::SyncBelowTarget { upto, target } => write!(
                f,
                "a sync up to LSN {upto} would not cover the leader's target {target}"
            ),
            GroupCommitError::UnknownWaiter { waiter } => {
                write!(f, "waiter {} is not known to the group commit", waiter.0)
            }
        }
    }
}

/// One observable step, in the order it happened. A visualiser can draw the whole protocol from
/// these alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A request whose target was already durable returned at once.
    AlreadyDurable {
        /// The target asked for.
        target: Lsn,
    },
    /// A request found no sync in flight and became the leader.
    Led {
        /// The new leader and its target.
        lead: Lead,
    },
    /// A request found a leader at work and waits.
    Waiting {
        /// The waiter.
        waiter: WaiterId,
        /// Its target.
        target: Lsn,
    },
    /// A request was refused because the log is poisoned.
    Refused {
        /// The target asked for.
        target: Lsn,
    },
    /// The leader drained the buffer and started a sync.
    SyncStarted {
        /// The leader.
        leader: WaiterId,
        /// The LSN the sync covers.
        upto: Lsn,
        /// Waiters pending when it started (some may not be covered).
        waiting: usize,
    },
    /// A sync succeeded and the durable LSN moved.
    SyncSucceeded {
        /// The leader.
        leader: WaiterId,
        /// The new durable LSN.
        durable: Lsn,
        /// Committers it acknowledged, the leader included.
        covered: usize,
    },
    /// A committer's target became durable.
    Acknowledged {
        /// The committer.
        waiter: WaiterId,
        /// Its target.
        target: Lsn,
    },
    /// A waiter not covered by the last sync was handed the lead.
    LeaderElected {
        /// The new leader and its target.
        lead: Lead,
    },
    /// The leader's drain or sync failed: the log is poisoned from here on.
    SyncFailed {
        /// The leader.
        leader: WaiterId,
        /// The LSN the sync covered, if it had started.
        upto: Option<Lsn>,
    },
    /// A waiter was told the log is poisoned.
    WaiterFailed {
        /// The waiter.
        waiter: WaiterId,
        /// Its target.
        target: Lsn,
    },
}

/// Receives [`Event`]s. `NoEvents` discards them at no cost; `Vec<Event>` records them.
pub trait EventSink {
    /// Called once per event, in order.
    fn event(&mut self, event: Event);
}

/// An [`EventSink`] that discards everything; the native hot path uses it.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    #[inline]
    fn event(&mut self, _event: Event) {}
}

impl EventSink for Vec<Event> {
    fn event(&mut self, event: Event) {
        self.push(event);
    }
}

/// The result of a successful sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The durable LSN after the sync.
    pub durable: Lsn,
    /// The committers acknowledged by this sync, the leader first.
    pub covered: Vec<WaiterId>,
    /// The waiter elected to lead the next sync, when some were not covered.
    pub next_leader: Option<Lead>,
}

/// The result of a failed drain or sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The sticky error every later request gets.
    pub poisoned: Poisoned,
    /// The waiters (the leader first) that were told the log is poisoned.
    pub failed: Vec<WaiterId>,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    lead: Lead,
    syncing: Option<Lsn>,
}

/// The state machine. See the module documentation for the protocol.
#[derive(Clone, Debug)]
pub struct GroupCommit<S: EventSink = NoEvents> {
    durable: Lsn,
    leader: Option<InFlight>,
    waiting: BTreeSet<(Lsn, WaiterId)>,
    poisoned: Option<Poisoned>,
    next_id: u64,
    events: S,
}

impl GroupCommit<NoEvents> {
    /// A machine whose log is durable up to `durable`, recording no events.
    pub fn new(durable: Lsn) -> GroupCommit<NoEvents> {
        GroupCommit::with_events(durable, NoEvents)
    }
}

impl<S: EventSink> GroupCommit<S> {
    /// A machine whose log is durable up to `durable`, sending events to `events`.
    pub fn with_events(durable: Lsn, events: S) -> GroupCommit<S> {
        GroupCommit {
            durable,
            leader: None,
            waiting: BTreeSet::new(),
            poisoned: None,
            next_id: 0,
            events,
        }
    }

    /// The durable LSN: everything below it is durable.
    pub fn durable(&self) -> Lsn {
        self.durable
    }

    /// The sticky error, once a sync has failed.
    pub fn poisoned(&self) -> Option<Poisoned> {
        self.poisoned
    }

    /// The current leader, and the LSN its sync covers once it has started.
    pub fn in_flight(&self) -> Option<(Lead, Option<Lsn>)> {
        self.leader.map(|flight| (flight.lead, flight.syncing))
    }

    /// Waiters pending, the leader not included.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The event sink.
    pub fn events(&self) -> &S {
        &self.events
    }

    /// The event sink, e.g. to drain recorded events.
    pub fn events_mut(&mut self) -> &mut S {
        &mut self.events
    }

    /// The event sink, for a machine that starts over.
    pub fn into_events(self) -> S {
        self.events
    }

    /// Asks for durability up to `target`. See [`Decision`].
    pub fn request(&mut self, target: Lsn) -> Decision {
        if let Some(poisoned) = self.poisoned {
            self.events.event(Event::Refused { target });
            return Decision::Failed(poisoned);
        }
        if target <= self.durable {
            self.events.event(Event::AlreadyDurable { target });
            return Decision::Durable;
        }
        let waiter = WaiterId(self.next_id);
        self.next_id += 1;
        if self.leader.is_none() {
            let lead = Lead {
                leader: waiter,
                target,
            };
            self.leader = Some(InFlight {
                lead,
                syncing: None,
            });
            self.events.event(Event::Led { lead });
            return Decision::Lead(lead);
        }
        self.waiting.insert((target, waiter));
        self.events.event(Event::Waiting { waiter, target });
        Decision::Wait(waiter)
    }

    /// What became of the waiter `waiter`, which requested `target`.
    pub fn poll(&self, waiter: WaiterId, target: Lsn) -> Result<WaitStatus, GroupCommitError> {
        if let Some(flight) = self.leader {
            if flight.lead.leader == waiter {
                return Ok(WaitStatus::Lead(flight.lead));
            }
        }
        if self.waiting.contains(&(target, waiter)) {
            return Ok(WaitStatus::Waiting);
        }
        if waiter.0 >= self.next_id {
            return Err(GroupCommitError::UnknownWaiter { waiter });
        }
        if target <= self.durable {
            return Ok(WaitStatus::Durable);
        }
        match self.poisoned {
            Some(poisoned) => Ok(WaitStatus::Failed(poisoned)),
            None => Err(GroupCommitError::UnknownWaiter { waiter }),
        }
    }

    /// The leader has drained the buffer and starts a sync covering everything below `upto`.
    pub fn sync_started(&mut self, lead: Lead, upto: Lsn) -> Result<(), GroupCommitError> {
        let waiting = self.waiting.len();
        let flight = self.current_flight(lead)?;
        if let Some(upto) = flight.syncing {
            return Err(GroupCommitError::AlreadySyncing { upto });
        }
        if upto < lead.target {
            return Err(GroupCommitError::SyncBelowTarget {
                upto,
                target: lead.target,
            });
        }
        flight.syncing = Some(upto);
        self.events.event(Event::SyncStarted {
            leader: lead.leader,
            upto,
            waiting,
        });
        Ok(())
    }

    /// The leader's sync succeeded: publishes the durable LSN, acknowledges the waiters it
    /// covers, and elects the next leader if any remain.
    pub fn sync_succeeded(&mut self, lead: Lead) -> Result<Completion, GroupCommitError> {
        let upto = self
            .current_flight(lead)?
            .syncing
            .ok_or(GroupCommitError::NotSyncing)?;
        self.leader = None;
        // Monotonic: a sync never moves the durable LSN back, even if it covered less than an
        // earlier one (it cannot here, but the watermark's rule holds regardless).
        self.durable = self.durable.max(upto);
        let covered_waiters = self
            .waiting
            .range(..=(self.durable, WaiterId(u64::MAX)))
            .count();
        self.events.event(Event::SyncSucceeded {
            leader: lead.leader,
            durable: self.durable,
            covered: 1 + covered_waiters,
        });
        self.events.event(Event::Acknowledged {
            waiter: lead.leader,
            target: lead.target,
        });
        let mut covered = Vec::with_capacity(1 + covered_waiters);
        covered.push(lead.leader);
        for _ in 0..covered_waiters {
            if let Some((target, waiter)) = self.waiting.pop_first() {
                covered.push(waiter);
                self.events.event(Event::Acknowledged { waiter, target });
            }
        }
        let next_leader = self.waiting.pop_first().map(|(target, waiter)| {
            let lead = Lead {
                leader: waiter,
                target,
            };
            self.leader = Some(InFlight {
                lead,
                syncing: None,
            });
            self.events.event(Event::LeaderElected { lead });
            lead
        });
        Ok(Completion {
            durable: self.durable,
            covered,
            next_leader,
        })
    }

    /// The leader's drain or sync failed: poisons the machine and fails every waiter.
    pub fn sync_failed(&mut self, lead: Lead) -> Result<Failure, GroupCommitError> {
        let upto = self.current_flight(lead)?.syncing;
        self.leader = None;
        let poisoned = Poisoned {
            durable: self.durable,
            failed_upto: upto,
        };
        self.poisoned = Some(poisoned);
        self.events.event(Event::SyncFailed {
            leader: lead.leader,
            upto,
        });
        let mut failed = Vec::with_capacity(1 + self.waiting.len());
        failed.push(lead.leader);
        self.events.event(Event::WaiterFailed {
            waiter: lead.leader,
            target: lead.target,
        });
        while let Some((target, waiter)) = self.waiting.pop_first() {
            failed.push(waiter);
            self.events.event(Event::WaiterFailed { waiter, target });
        }
        Ok(Failure { poisoned, failed })
    }

    fn current_flight(&mut self, lead: Lead) -> Result<&mut InFlight, GroupCommitError> {
        match &mut self.leader {
            Some(flight) if flight.lead == lead => Ok(flight),
            _ => Err(GroupCommitError::NotLeader { lead }),
        }
    }
}
