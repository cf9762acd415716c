//! [`Pipeline`]: the one owner of a log's durability. It holds the durable watermark, the
//! group-commit state machine ([`GroupCommit`], wrapped) and the log's one poison cause, and it
//! changes them only through checked transitions. Pure: no I/O, no clock, no threads; every
//! backend (the native `Wal`, the browser's worker log, the dashboard's simulation) drives the
//! same transitions around its own I/O.
//!
//! The protocol, for a committer that needs `target` durable:
//! 1. [`Pipeline::request`] answers durable, lead, wait (then [`Pipeline::poll`]) or failed,
//!    exactly as [`GroupCommit::request`] does.
//! 2. A leader may first let appends already under way join its sync ([`Gather`]), then drains
//!    its buffer into storage and calls [`Pipeline::begin_sync`] with the LSN the drain reached.
//!    It gets a [`SyncTicket`]: the only thing that can later publish that sync's outcome.
//!    If the drain itself failed, it reports [`Pipeline::abandon_lead`] instead.
//! 3. After its sync (outside any lock), the leader redeems the ticket with
//!    [`Pipeline::finish_sync`] and the sync's result. Success publishes the durable LSN and
//!    acknowledges every committer it covers; failure poisons and fails every committer.
//! 4. A write failure outside any sync (a full buffer drained on the append path, a lost append
//!    range) is reported with [`Pipeline::write_failed`].
//!
//! There is no other way to move the durable LSN or to poison: no `mark_durable`, no `poison`.
//! A ticket is neither `Clone` nor `Copy` and its fields are private, so a sync's outcome is
//! published at most once, and only for a sync that was started:
//!
//! ```
//! use walden_core::{Decision, Lsn, Pipeline};
//!
//! let mut pipeline = Pipeline::new(Lsn::ZERO);
//! let Decision::Lead(lead) = pipeline.request(Lsn::new(10)) else { unreachable!() };
//! let ticket = pipeline.begin_sync(lead, Lsn::new(10)).expect("the leader starts its sync");
//! // ... the leader syncs storage here ...
//! let completion = pipeline.finish_sync(ticket, Ok(())).expect("the sync succeeded");
//! assert_eq!(completion.durable, Lsn::new(10));
//! assert_eq!(pipeline.durable(), Lsn::new(10));
//! ```
//!
//! Redeeming one ticket twice does not compile (the first `finish_sync` consumed it):
//!
//! ```compile_fail,E0382
//! use walden_core::{Decision, Lsn, Pipeline};
//!
//! let mut pipeline = Pipeline::new(Lsn::ZERO);
//! let Decision::Lead(lead) = pipeline.request(Lsn::new(10)) else { unreachable!() };
//! let ticket = pipeline.begin_sync(lead, Lsn::new(10)).unwrap();
//! let _ = pipeline.finish_sync(ticket, Ok(()));
//! let _ = pipeline.finish_sync(ticket, Ok(()));
//! ```
//!
//! Nor does forging a ticket for a sync that never started:
//!
//! ```compile_fail,E0451
//! use walden_core::{Decision, Lsn, Pipeline, SyncTicket};
//!
//! let mut pipeline = Pipeline::new(Lsn::ZERO);
//! let Decision::Lead(lead) = pipeline.request(Lsn::new(10)) else { unreachable!() };
//! let forged = SyncTicket { lead, written: Lsn::new(10) };
//! let _ = pipeline.finish_sync(forged, Ok(()));
//! ```
//!
//! Nor publishing durability without one:
//!
//! ```compile_fail,E0599
//! use walden_core::{Lsn, Pipeline};
//!
//! let mut pipeline = Pipeline::new(Lsn::ZERO);
//! pipeline.mark_durable(Lsn::new(10));
//! ```
//!
//! Invariants, asserted where they change:
//! - `durable <= written`: the durable LSN only moves to the LSN a started sync covered, and
//!   `written` (the highest such LSN) only moves forward. Drivers assert `written <= current`
//!   against their own buffer ([`crate::Watermarks`] does for the core's writer).
//! - The durable LSN only moves forward, only on a successful sync, and never after poisoning.
//! - The first failure is the cause every later refusal names; later failures are not lost
//!   (their waiters are failed) but do not replace it.
//! - Every committer is answered exactly once: in a [`Completion`], in a [`Failed`], or by
//!   polling. A refusal by the state machine (a driver's bug, e.g. a ticket from another
//!   pipeline) poisons too, so a bug stops the log rather than acknowledging what it must not.

use crate::{
    Completion, Decision, Event, EventSink, GroupCommit, GroupCommitError, Lead, Lsn, NoEvents,
    Poisoned, WaitStatus, WaiterId,
};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The most rounds a leader gathers before its drain (the native leader yields its thread once
/// per round): enough for the appends under way on other cores to land, small enough that a
/// leader never waits long for appends that keep coming.
pub const GATHER_ROUNDS_MAX: u32 = 64;

/// The leader's gather policy, as pure logic: before draining, a leader lets appends that are
/// under way right now join its sync. It yields (a thread yield natively, a microsecond in the
/// dashboard's simulation) and observes how far appends have reached (natively the reserved
/// LSN, which moves as soon as an append starts); it keeps going while that LSN grows, and
/// stops at the first round in which it did not (at once when nobody else is appending), or
/// after `rounds_max` rounds. No timer: a leader never waits for appends that
/// are not already happening.
///
/// Without it, a leader elected the moment the previous sync completes drains before the
/// committers that sync just acknowledged have appended their next records, and groups
/// alternate between large and small.
///
/// ```
/// use walden_core::{Gather, Lsn};
///
/// let mut gather = Gather::new(Lsn::new(100));
/// // After one yield another writer's append landed: gather one more round.
/// assert!(gather.keep_gathering(Lsn::new(140)));
/// // After the next nothing moved: drain now.
/// assert!(!gather.keep_gathering(Lsn::new(140)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gather {
    seen: Lsn,
    rounds: u32,
    rounds_max: u32,
    done: bool,
}

impl Gather {
    /// Starts gathering, with the LSN appends have reached as the leader sees it, for at most
    /// [`GATHER_ROUNDS_MAX`] rounds.
    pub const fn new(current: Lsn) -> Gather {
        Gather::with_rounds_max(current, GATHER_ROUNDS_MAX)
    }

    /// Starts gathering for at most `rounds_max` rounds (at least one: the caller yields once
    /// before its first observation).
    pub const fn with_rounds_max(current: Lsn, rounds_max: u32) -> Gather {
        Gather {
            seen: current,
            rounds: 0,
            rounds_max: if rounds_max == 0 { 1 } else { rounds_max },
            done: false,
        }
    }

    /// Called after each yield with the LSN appends have reached then: whether to yield again
    /// (`true`) or drain now (`false`). Once it has said `false` it keeps saying so.
    pub fn keep_gathering(&mut self, current: Lsn) -> bool {
        assert!(
            current >= self.seen,
            "the appended LSN went back from {} to {} while a leader gathered",
            self.seen,
            current
        );
        if self.done {
            return false;
        }
        self.rounds += 1;
        let grew = current > self.seen;
        self.seen = current;
        self.done = !grew || self.rounds >= self.rounds_max;
        assert!(self.rounds <= self.rounds_max, "gathered past the bound");
        !self.done
    }

    /// Rounds gathered so far (yields the caller made).
    pub const fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The bound on rounds.
    pub const fn rounds_max(&self) -> u32 {
        self.rounds_max
    }
}

/// What kind of step failed. Small and `Copy`, for matching; the [`Cause`]'s message says the
/// rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CauseKind {
    /// Handing bytes to storage (a drain, a preallocating write, a header rewrite) failed: some
    /// prefix of them may be in storage, and only recovery can tell which.
    Write,
    /// A sync (fsync, `fdatasync`, OPFS `flush()`) failed: the pages it covered may be lost
    /// even though they read back fine.
    Sync,
    /// A driver broke the protocol (a bug): e.g. a ticket from another pipeline.
    Protocol,
    /// Anything else a driver reports: an append range that was never handed over, a segment
    /// that could not be created.
    Other,
}

impl CauseKind {
    /// A short lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            CauseKind::Write => "write",
            CauseKind::Sync => "sync",
            CauseKind::Protocol => "protocol",
            CauseKind::Other => "other",
        }
    }
}

/// What failed: a kind and a message (the storage's own words, with what the log was doing).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cause {
    /// What kind of step failed.
    pub kind: CauseKind,
    /// What failed, in words: the storage's error and the operation.
    pub message: String,
}

impl Cause {
    /// A cause of `kind`, described by `message`.
    pub fn new(kind: CauseKind, message: impl Into<String>) -> Cause {
        Cause {
            kind,
            message: message.into(),
        }
    }

    /// A failed write (see [`CauseKind::Write`]).
    pub fn write(message: impl Into<String>) -> Cause {
        Cause::new(CauseKind::Write, message)
    }

    /// A failed sync (see [`CauseKind::Sync`]).
    pub fn sync(message: impl Into<String>) -> Cause {
        Cause::new(CauseKind::Sync, message)
    }

    /// Anything else (see [`CauseKind::Other`]).
    pub fn other(message: impl Into<String>) -> Cause {
        Cause::new(CauseKind::Other, message)
    }

    fn protocol(err: GroupCommitError) -> Cause {
        Cause::new(
            CauseKind::Protocol,
            alloc::format!("internal group-commit error (a bug): {err}"),
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The sticky failure of a poisoned log: its first cause, and the durable LSN at that moment.
/// Only reopening (and recovering) the log clears it: after a failed fsync Linux may mark the
/// lost pages clean, so a retry can report success for data that never reached the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Poison {
    /// What failed first.
    pub cause: Cause,
    /// The durable LSN when it failed: everything below it is durable, nothing above may be.
    pub durable: Lsn,
    /// The LSN the sync in flight then tried to make durable, if one had started.
    pub failed_upto: Option<Lsn>,
}

impl Poison {
    /// The small `Copy` form the state machine's [`Decision`] and [`WaitStatus`] carry.
    pub const fn poisoned(&self) -> Poisoned {
        Poisoned {
            durable: self.durable,
            failed_upto: self.failed_upto,
        }
    }
}

impl fmt::Display for Poison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (cause: {})", self.poisoned(), self.cause)
    }
}

/// The answer to a transition that failed, or that found the log poisoned: the poison (its
/// first cause) and the committers told now that their records may not be durable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "the committers in `failed` must be told that their commits failed"]
pub struct Failed {
    /// The log's poison: its first cause, not necessarily this call's.
    pub poison: Poison,
    /// The committers (the leader first, when there was one) failed by this call; each
    /// committer appears in exactly one `Failed` or [`Completion`].
    pub failed: Vec<WaiterId>,
}

/// The right to publish one sync's outcome: handed out by [`Pipeline::begin_sync`], redeemed
/// (consumed) by [`Pipeline::finish_sync`]. Not `Clone`, not `Copy`, and its fields are private,
/// so an outcome is published at most once and only for a sync that started (see the module
/// documentation for what does not compile). Dropping one without redeeming it leaves its
/// waiters waiting: redeem it with the sync's result, whatever that was.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "redeem the ticket with `Pipeline::finish_sync`, or its waiters are never answered"]
pub struct SyncTicket {
    lead: Lead,
    written: Lsn,
}

impl SyncTicket {
    /// The leader whose sync this is.
    pub const fn lead(&self) -> Lead {
        self.lead
    }

    /// The LSN the sync covers: everything handed to storage before it started.
    pub const fn written(&self) -> Lsn {
        self.written
    }
}

/// The one owner of a log's durability. See the module documentation for the protocol. Not
/// `Clone`: a copy would be a second owner, on which the same ticket could be redeemed again.
#[derive(Debug)]
pub struct Pipeline<E: EventSink = NoEvents> {
    group: GroupCommit<E>,
    /// The highest LSN a started sync covered (or the durable LSN it started from).
    written: Lsn,
    poison: Option<Poison>,
}

impl Pipeline<NoEvents> {
    /// A pipeline for a log durable up to `durable`, recording no events.
    pub fn new(durable: Lsn) -> Pipeline<NoEvents> {
        Pipeline::with_events(durable, NoEvents)
    }
}

impl<E: EventSink> Pipeline<E> {
    /// A pipeline for a log durable up to `durable`, sending the state machine's [`Event`]s to
    /// `events`.
    pub fn with_events(durable: Lsn, events: E) -> Pipeline<E> {
        Pipeline {
            group: GroupCommit::with_events(durable, events),
            written: durable,
            poison: None,
        }
    }

    /// The durable LSN: everything below it is durable, and committers up to it were told so.
    pub fn durable(&self) -> Lsn {
        self.group.durable()
    }

    /// The highest LSN a started sync covered (the durable LSN before any did).
    pub fn written(&self) -> Lsn {
        self.written
    }

    /// The poison, once something failed.
    pub fn poison(&self) -> Option<&Poison> {
        self.poison.as_ref()
    }

    /// `Err` with the poison once something failed: every path that could append or report
    /// durability asks this first.
    pub fn check(&self) -> Result<(), &Poison> {
        match &self.poison {
            Some(poison) => Err(poison),
            None => Ok(()),
        }
    }

    /// The current leader, and the LSN its sync covers once it has started.
    pub fn in_flight(&self) -> Option<(Lead, Option<Lsn>)> {
        self.group.in_flight()
    }

    /// Committers waiting, the leader not included.
    pub fn waiting(&self) -> usize {
        self.group.waiting()
    }

    /// The event sink.
    pub fn events(&self) -> &E {
        self.group.events()
    }

    /// The event sink, e.g. to drain recorded events.
    pub fn events_mut(&mut self) -> &mut E {
        self.group.events_mut()
    }

    /// The event sink, for a pipeline that starts over (e.g. after a log's truncation).
    pub fn into_events(self) -> E {
        self.group.into_events()
    }

    /// Asks for durability up to `target`. See [`Decision`]; a poisoned log refuses.
    pub fn request(&mut self, target: Lsn) -> Decision {
        if let Some(poison) = &self.poison {
            let poisoned = poison.poisoned();
            self.group.events_mut().event(Event::Refused { target });
            return Decision::Failed(poisoned);
        }
        self.group.request(target)
    }

    /// What became of the waiter `waiter`, which requested `target`. See [`WaitStatus`].
    pub fn poll(&self, waiter: WaiterId, target: Lsn) -> Result<WaitStatus, GroupCommitError> {
        let status = self.group.poll(waiter, target)?;
        Ok(match (status, &self.poison) {
            (WaitStatus::Failed(_), Some(poison)) => WaitStatus::Failed(poison.poisoned()),
            (status, _) => status,
        })
    }

    /// The leader `lead` has drained everything up to `written` into storage and starts its
    /// sync. Returns the ticket that publishes the sync's outcome. A refusal (the log is
    /// poisoned, `lead` is not the current leader or has started already, or `written` is
    /// below its target, the durable LSN or an earlier sync's) fails every committer.
    pub fn begin_sync(&mut self, lead: Lead, written: Lsn) -> Result<SyncTicket, Failed> {
        if let Some(poison) = self.poison.clone() {
            return Err(self.fail_everyone(poison));
        }
        if written < self.written {
            let cause = Cause::new(
                CauseKind::Protocol,
                alloc::format!(
                    "a sync up to LSN {written} started after one up to {}: the written LSN \
                     never goes back (a bug)",
                    self.written
                ),
            );
            return Err(self.poison_with(cause, None));
        }
        if let Err(err) = self.group.sync_started(lead, written) {
            return Err(self.poison_with(Cause::protocol(err), None));
        }
        self.written = written;
        self.check_order();
        Ok(SyncTicket { lead, written })
    }

    /// The sync of `ticket` finished with `io_result`. `Ok` publishes its LSN as durable and
    /// acknowledges every committer it covers (electing the next leader if any remain); `Err`
    /// poisons (keeping an earlier cause if there was one) and fails every committer. If the
    /// log was poisoned while the sync ran, its success publishes nothing.
    pub fn finish_sync(
        &mut self,
        ticket: SyncTicket,
        io_result: Result<(), Cause>,
    ) -> Result<Completion, Failed> {
        let SyncTicket { lead, written } = ticket;
        if let Err(cause) = io_result {
            return Err(self.poison_with(cause, Some(written)));
        }
        if let Some(poison) = self.poison.clone() {
            return Err(self.fail_everyone(poison));
        }
        if self.group.in_flight() != Some((lead, Some(written))) {
            let cause = Cause::new(
                CauseKind::Protocol,
                alloc::format!(
                    "a ticket for a sync up to LSN {written} by waiter {} does not match the \
                     sync in flight (a ticket from another pipeline: a bug)",
                    lead.leader.0
                ),
            );
            return Err(self.poison_with(cause, Some(written)));
        }
        let before = self.group.durable();
        let completion = match self.group.sync_succeeded(lead) {
            Ok(completion) => completion,
            Err(err) => return Err(self.poison_with(Cause::protocol(err), Some(written))),
        };
        assert!(
            completion.durable >= before && completion.durable >= written,
            "the durable LSN must reach the sync's {written} and never go back from {before}, \
             yet it is {}",
            completion.durable
        );
        assert_eq!(
            completion.covered.first(),
            Some(&lead.leader),
            "a successful sync acknowledges its leader first"
        );
        self.check_order();
        Ok(completion)
    }

    /// The leader `lead` failed before it could start its sync (its drain failed): poisons
    /// (keeping an earlier cause) and fails every committer, the leader first.
    pub fn abandon_lead(&mut self, lead: Lead, cause: Cause) -> Failed {
        let failed = self.poison_with(cause, None);
        debug_assert!(
            failed.failed.is_empty() || failed.failed[0] == lead.leader,
            "abandon_lead by {:?}, who is not the leader",
            lead
        );
        failed
    }

    /// A write outside any sync failed (a full buffer drained on the append path, a lost
    /// append range): poisons (keeping an earlier cause) and fails every committer, including
    /// a leader whose sync is in flight (its ticket then publishes nothing).
    pub fn write_failed(&mut self, cause: Cause) -> Failed {
        let failed_upto = self.group.in_flight().and_then(|(_, syncing)| syncing);
        self.poison_with(cause, failed_upto)
    }

    /// Poisons with `cause` unless already poisoned, then fails every committer.
    fn poison_with(&mut self, cause: Cause, failed_upto: Option<Lsn>) -> Failed {
        let durable = self.group.durable();
        let poison = self
            .poison
            .get_or_insert(Poison {
                cause,
                durable,
                failed_upto,
            })
            .clone();
        self.fail_everyone(poison)
    }

    /// Fails the current leader and every waiter of a pipeline poisoned with `poison`.
    fn fail_everyone(&mut self, poison: Poison) -> Failed {
        let failed = match self.group.in_flight() {
            // The current leader is always accepted: `sync_failed` cannot refuse it.
            Some((lead, _)) => self
                .group
                .sync_failed(lead)
                .map(|failure| failure.failed)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        debug_assert!(
            self.group.in_flight().is_none() && self.group.waiting() == 0,
            "a poisoned pipeline has nobody waiting"
        );
        assert_eq!(
            self.group.durable(),
            poison.durable,
            "the durable LSN never moves after poisoning"
        );
        Failed { poison, failed }
    }

    /// Asserts `durable <= written`.
    fn check_order(&self) {
        assert!(
            self.group.durable() <= self.written,
            "pipeline invariant broken: durable {} <= written {}",
            self.group.durable(),
            self.written
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn lead_of(decision: Decision) -> Lead {
        match decision {
            Decision::Lead(lead) => lead,
            other => panic!("expected to lead, got {other:?}"),
        }
    }

    fn waiter_of(decision: Decision) -> WaiterId {
        match decision {
            Decision::Wait(waiter) => waiter,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[test]
    fn a_successful_sync_publishes_and_acknowledges_what_it_covers() {
        let mut pipeline = Pipeline::new(Lsn::ZERO);
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        let a = waiter_of(pipeline.request(Lsn::new(20)));
        let ticket = pipeline.begin_sync(lead, Lsn::new(20)).unwrap();
        let b = waiter_of(pipeline.request(Lsn::new(30)));
        assert_eq!(pipeline.durable(), Lsn::ZERO, "nothing is durable mid-sync");
        let completion = pipeline.finish_sync(ticket, Ok(())).unwrap();
        assert_eq!(completion.durable, Lsn::new(20));
        assert_eq!(completion.covered, vec![lead.leader, a]);
        let next = completion.next_leader.unwrap();
        assert_eq!(next.leader, b);
        assert_eq!(pipeline.poll(a, Lsn::new(20)), Ok(WaitStatus::Durable));
        assert_eq!(pipeline.poll(b, Lsn::new(30)), Ok(WaitStatus::Lead(next)));
        assert_eq!(pipeline.written(), Lsn::new(20));
    }

    #[test]
    fn a_failed_sync_poisons_with_its_cause_and_fails_everyone() {
        // Guards the one owner of the failure: the cause, the durable LSN at that moment and
        // every committer's answer come from one place.
        let mut pipeline = Pipeline::new(Lsn::new(5));
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        let ticket = pipeline.begin_sync(lead, Lsn::new(10)).unwrap();
        let a = waiter_of(pipeline.request(Lsn::new(20)));
        let failed = pipeline
            .finish_sync(ticket, Err(Cause::sync("fsync failed: EIO")))
            .unwrap_err();
        assert_eq!(failed.failed, vec![lead.leader, a]);
        assert_eq!(failed.poison.cause.kind, CauseKind::Sync);
        assert_eq!(failed.poison.durable, Lsn::new(5));
        assert_eq!(failed.poison.failed_upto, Some(Lsn::new(10)));
        assert_eq!(pipeline.durable(), Lsn::new(5));
        assert!(matches!(
            pipeline.poll(a, Lsn::new(20)),
            Ok(WaitStatus::Failed(_))
        ));
        assert!(matches!(
            pipeline.request(Lsn::new(1)),
            Decision::Failed(poisoned) if poisoned.durable == Lsn::new(5)
        ));
        assert_eq!(
            pipeline.check().map_err(|p| p.cause.kind),
            Err(CauseKind::Sync)
        );
    }

    #[test]
    fn the_first_cause_is_kept() {
        let mut pipeline = Pipeline::new(Lsn::ZERO);
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        let ticket = pipeline.begin_sync(lead, Lsn::new(10)).unwrap();
        let first = pipeline.write_failed(Cause::write("write failed: ENOSPC"));
        assert_eq!(first.failed, vec![lead.leader]);
        let second = pipeline
            .finish_sync(ticket, Err(Cause::sync("fsync failed: EIO")))
            .unwrap_err();
        assert!(
            second.failed.is_empty(),
            "the leader was failed once already"
        );
        assert_eq!(second.poison.cause, Cause::write("write failed: ENOSPC"));
        assert_eq!(
            pipeline.poison().map(|p| p.failed_upto),
            Some(Some(Lsn::new(10)))
        );
    }

    #[test]
    fn a_sync_that_succeeds_after_a_write_failure_publishes_nothing() {
        // A write failure on the append path while a leader syncs: the waiters must not be told
        // durable, even though the sync itself reports success.
        let mut pipeline = Pipeline::new(Lsn::ZERO);
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        let ticket = pipeline.begin_sync(lead, Lsn::new(10)).unwrap();
        let _ = pipeline.write_failed(Cause::write("drain of a full buffer failed"));
        let failed = pipeline.finish_sync(ticket, Ok(())).unwrap_err();
        assert_eq!(failed.poison.cause.kind, CauseKind::Write);
        assert_eq!(pipeline.durable(), Lsn::ZERO);
    }

    #[test]
    fn an_abandoned_lead_fails_its_waiters() {
        let mut pipeline = Pipeline::new(Lsn::ZERO);
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        let a = waiter_of(pipeline.request(Lsn::new(20)));
        let failed = pipeline.abandon_lead(lead, Cause::write("write failed: EIO"));
        assert_eq!(failed.failed, vec![lead.leader, a]);
        assert_eq!(failed.poison.failed_upto, None);
        assert!(matches!(
            pipeline.request(Lsn::new(30)),
            Decision::Failed(_)
        ));
    }

    #[test]
    fn a_write_failure_with_nobody_waiting_refuses_later_requests() {
        let mut pipeline = Pipeline::with_events(Lsn::ZERO, Vec::new());
        let failed = pipeline.write_failed(Cause::other("an append range was lost"));
        assert!(failed.failed.is_empty());
        assert!(matches!(pipeline.request(Lsn::new(1)), Decision::Failed(_)));
        assert_eq!(
            pipeline.events().last(),
            Some(&Event::Refused {
                target: Lsn::new(1)
            })
        );
    }

    #[test]
    fn a_forged_lead_stops_the_log_instead_of_syncing() {
        let mut pipeline = Pipeline::new(Lsn::ZERO);
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        let forged = Lead {
            leader: WaiterId(99),
            target: Lsn::new(10),
        };
        let failed = pipeline.begin_sync(forged, Lsn::new(10)).unwrap_err();
        assert_eq!(failed.poison.cause.kind, CauseKind::Protocol);
        assert_eq!(failed.failed, vec![lead.leader]);
    }

    #[test]
    fn a_sync_below_the_leaders_target_or_an_earlier_sync_is_refused() {
        let mut pipeline = Pipeline::new(Lsn::ZERO);
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        assert!(pipeline.begin_sync(lead, Lsn::new(5)).is_err());
        assert_eq!(pipeline.durable(), Lsn::ZERO);

        let mut pipeline = Pipeline::new(Lsn::ZERO);
        let lead = lead_of(pipeline.request(Lsn::new(10)));
        let ticket = pipeline.begin_sync(lead, Lsn::new(30)).unwrap();
        let waiter = waiter_of(pipeline.request(Lsn::new(40)));
        let next = pipeline.finish_sync(ticket, Ok(())).unwrap().next_leader;
        assert_eq!(next.map(|lead| lead.leader), Some(waiter));
        let failed = pipeline
            .begin_sync(next.unwrap(), Lsn::new(20))
            .unwrap_err();
        assert_eq!(failed.poison.cause.kind, CauseKind::Protocol);
        assert_eq!(pipeline.durable(), Lsn::new(30));
    }

    #[test]
    fn a_ticket_from_another_pipeline_publishes_nothing() {
        let mut a = Pipeline::new(Lsn::ZERO);
        let mut b = Pipeline::new(Lsn::ZERO);
        let lead_a = lead_of(a.request(Lsn::new(10)));
        let lead_b = lead_of(b.request(Lsn::new(10)));
        let ticket_a = a.begin_sync(lead_a, Lsn::new(50)).unwrap();
        let ticket_b = b.begin_sync(lead_b, Lsn::new(10)).unwrap();
        // Same waiter id and target, another sync: `b` must not publish `a`'s 50.
        let failed = b.finish_sync(ticket_a, Ok(())).unwrap_err();
        assert_eq!(failed.poison.cause.kind, CauseKind::Protocol);
        assert_eq!(b.durable(), Lsn::ZERO);
        assert!(b.finish_sync(ticket_b, Ok(())).is_err());
    }

    #[test]
    fn gathering_stops_when_appends_stop_or_at_the_bound() {
        let mut gather = Gather::new(Lsn::new(0));
        assert!(
            !gather.keep_gathering(Lsn::new(0)),
            "nobody appending: drain at once"
        );
        assert!(!gather.keep_gathering(Lsn::new(10)), "and it stays stopped");
        assert_eq!(gather.rounds(), 1);

        let mut gather = Gather::with_rounds_max(Lsn::new(0), 3);
        assert!(gather.keep_gathering(Lsn::new(1)));
        assert!(gather.keep_gathering(Lsn::new(2)));
        assert!(
            !gather.keep_gathering(Lsn::new(3)),
            "the third round is the last"
        );
        assert_eq!(gather.rounds(), 3);

        let mut growing = Gather::new(Lsn::new(0));
        let rounds = (1..=1_000u64)
            .take_while(|&lsn| growing.keep_gathering(Lsn::new(lsn)))
            .count();
        assert_eq!(rounds as u32 + 1, GATHER_ROUNDS_MAX);
        assert_eq!(Gather::with_rounds_max(Lsn::ZERO, 0).rounds_max(), 1);
    }

    #[test]
    #[should_panic(expected = "went back")]
    fn gathering_refuses_a_current_lsn_that_goes_back() {
        let mut gather = Gather::new(Lsn::new(10));
        let _ = gather.keep_gathering(Lsn::new(9));
    }
}
