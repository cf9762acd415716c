//! The [`Pipeline`] checked against a simple reference model, over random sequences of appends,
//! commits, sync starts, sync results (success or failure), abandoned leads, write failures
//! outside any sync, and polls.
//!
//! The model: the durable LSN is the largest LSN a successful sync covered while the log was
//! healthy; it never moves once the log is poisoned; the poison's cause is the first failure
//! reported, whatever came after; the written LSN is the largest a started sync covered.
//! Checked after every step: the pipeline's durable LSN, written LSN and cause equal the
//! model's, `durable <= written <= appended`; nobody is told durable above the model's durable
//! LSN; after a failure no request succeeds; one leader at a time. Checked across the run:
//! every committer that had to wait is told exactly once (in one `Completion` or one `Failed`),
//! and at the end every one of them has been told.

use proptest::collection::vec;
use proptest::prelude::*;
use walden_core::{
    Cause, CauseKind, Decision, Event, Lead, Lsn, Pipeline, SyncTicket, WaitStatus, WaiterId,
};

#[derive(Clone, Debug)]
enum Op {
    /// Append a record of this many payload bytes.
    Append(u16),
    /// Commit: ask for durability up to the end of the record picked by this index.
    Commit(usize),
    /// The leader drains everything appended and starts its sync.
    Begin,
    /// The leader starts a sync that stops short of its own target (a driver's bug).
    BeginShort,
    /// The sync in flight succeeds.
    FinishOk,
    /// The sync in flight fails.
    FinishErr,
    /// The leader's drain fails before it could start its sync.
    Abandon,
    /// A write outside any sync fails.
    WriteFailed,
    /// Every committer not yet told polls.
    Poll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u16>().prop_map(|n| Op::Append(n % 512)),
        6 => any::<usize>().prop_map(Op::Commit),
        4 => Just(Op::Begin),
        1 => Just(Op::BeginShort),
        4 => Just(Op::FinishOk),
        1 => Just(Op::FinishErr),
        1 => Just(Op::Abandon),
        1 => Just(Op::WriteFailed),
        3 => Just(Op::Poll),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Told {
    Durable,
    Failed,
}

struct Committer {
    id: WaiterId,
    target: Lsn,
    told: Option<Told>,
}

struct Harness {
    pipeline: Pipeline<Vec<Event>>,
    appended: Lsn,
    ends: Vec<Lsn>,
    lead: Option<Lead>,
    ticket: Option<SyncTicket>,
    committers: Vec<Committer>,
    failures: u32,
    model_durable: Lsn,
    model_written: Lsn,
    model_cause: Option<Cause>,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            pipeline: Pipeline::with_events(Lsn::ZERO, Vec::new()),
            appended: Lsn::ZERO,
            ends: Vec::new(),
            lead: None,
            ticket: None,
            committers: Vec::new(),
            failures: 0,
            model_durable: Lsn::ZERO,
            model_written: Lsn::ZERO,
            model_cause: None,
        }
    }

    /// A new, numbered cause, so the test can tell which one the pipeline kept.
    fn next_cause(&mut self, kind: CauseKind) -> Cause {
        self.failures += 1;
        Cause::new(kind, format!("failure {}", self.failures))
    }

    fn model_fail(&mut self, cause: Cause) {
        self.model_cause.get_or_insert(cause);
    }

    /// Marks each of `ids` as told `told`; each committer is told at most once.
    fn tell(&mut self, ids: &[WaiterId], told: Told) -> Result<(), TestCaseError> {
        for id in ids {
            let committer = self.committers.iter_mut().find(|c| c.id == *id);
            let Some(committer) = committer else {
                return Err(TestCaseError::fail(format!(
                    "told unknown committer {id:?}"
                )));
            };
            prop_assert_eq!(committer.told, None, "committer {:?} told twice", id);
            if told == Told::Durable {
                prop_assert!(
                    committer.target <= self.model_durable,
                    "told durable above the model"
                );
            }
            committer.told = Some(told);
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Append(len) => {
                self.appended = Lsn::new(self.appended.get() + 8 + u64::from(len));
                self.ends.push(self.appended);
            }
            Op::Commit(pick) => self.commit(pick)?,
            Op::Begin => {
                if let (Some(lead), None) = (self.lead, &self.ticket) {
                    let ticket = self.pipeline.begin_sync(lead, self.appended);
                    let ticket = ticket.map_err(|f| TestCaseError::fail(f.poison.to_string()))?;
                    prop_assert_eq!(ticket.lead(), lead);
                    prop_assert_eq!(ticket.written(), self.appended);
                    self.model_written = self.appended;
                    self.ticket = Some(ticket);
                }
            }
            Op::BeginShort => {
                if let (Some(lead), None) = (self.lead, &self.ticket) {
                    let short = Lsn::new(lead.target.get() - 1);
                    let Err(failed) = self.pipeline.begin_sync(lead, short) else {
                        return Err(TestCaseError::fail("a sync short of its target started"));
                    };
                    // A leader exists only while the log is healthy, so this is the first cause.
                    prop_assert!(self.model_cause.is_none());
                    prop_assert_eq!(failed.poison.cause.kind, CauseKind::Protocol);
                    self.model_fail(failed.poison.cause.clone());
                    prop_assert_eq!(failed.failed.first(), Some(&lead.leader));
                    self.tell(&failed.failed, Told::Failed)?;
                    self.lead = None;
                }
            }
            Op::FinishOk => {
                if let Some(ticket) = self.ticket.take() {
                    let written = ticket.written();
                    let leader = ticket.lead().leader;
                    match self.pipeline.finish_sync(ticket, Ok(())) {
                        Ok(completion) => {
                            prop_assert!(self.model_cause.is_none(), "published after a failure");
                            self.model_durable = self.model_durable.max(written);
                            prop_assert_eq!(completion.durable, self.model_durable);
                            prop_assert_eq!(completion.covered.first(), Some(&leader));
                            self.tell(&completion.covered, Told::Durable)?;
                            // Nobody coverable is left behind.
                            for c in self.committers.iter().filter(|c| c.told.is_none()) {
                                prop_assert!(c.target > self.model_durable, "left behind");
                            }
                            self.lead = completion.next_leader;
                        }
                        Err(failed) => {
                            // Only a failure while the sync ran stops its success.
                            let first = self.model_cause.clone();
                            prop_assert!(first.is_some(), "a healthy sync refused");
                            prop_assert_eq!(Some(failed.poison.cause.clone()), first);
                            prop_assert!(failed.failed.is_empty());
                        }
                    }
                }
            }
            Op::FinishErr => {
                if let Some(ticket) = self.ticket.take() {
                    let cause = self.next_cause(CauseKind::Sync);
                    let Err(failed) = self.pipeline.finish_sync(ticket, Err(cause.clone())) else {
                        return Err(TestCaseError::fail("a failed sync published"));
                    };
                    self.model_fail(cause);
                    prop_assert_eq!(Some(&failed.poison.cause), self.model_cause.as_ref());
                    prop_assert_eq!(failed.poison.durable, self.model_durable);
                    self.tell(&failed.failed, Told::Failed)?;
                    self.lead = None;
                }
            }
            Op::Abandon => {
                if let (Some(lead), None) = (self.lead, &self.ticket) {
                    let cause = self.next_cause(CauseKind::Write);
                    let failed = self.pipeline.abandon_lead(lead, cause.clone());
                    self.model_fail(cause);
                    prop_assert_eq!(Some(&failed.poison.cause), self.model_cause.as_ref());
                    prop_assert_eq!(failed.failed.first(), Some(&lead.leader));
                    self.tell(&failed.failed, Told::Failed)?;
                    self.lead = None;
                }
            }
            Op::WriteFailed => {
                let cause = self.next_cause(CauseKind::Write);
                let failed = self.pipeline.write_failed(cause.clone());
                self.model_fail(cause);
                prop_assert_eq!(Some(&failed.poison.cause), self.model_cause.as_ref());
                if let Some(lead) = self.lead {
                    prop_assert_eq!(failed.failed.first(), Some(&lead.leader));
                }
                self.tell(&failed.failed, Told::Failed)?;
                // A ticket in flight stays with its leader, who must still redeem it.
                self.lead = None;
            }
            Op::Poll => self.poll_all()?,
        }
        self.check_invariants()
    }

    fn commit(&mut self, pick: usize) -> Result<(), TestCaseError> {
        if self.ends.is_empty() {
            return Ok(());
        }
        let target = self.ends[pick % self.ends.len()];
        match self.pipeline.request(target) {
            Decision::Failed(poisoned) => {
                prop_assert!(self.model_cause.is_some());
                prop_assert_eq!(poisoned.durable, self.model_durable);
            }
            Decision::Durable => {
                prop_assert!(self.model_cause.is_none(), "durable after a failure");
                prop_assert!(target <= self.model_durable, "durable above the model");
            }
            Decision::Lead(lead) => {
                prop_assert!(self.model_cause.is_none());
                prop_assert!(target > self.model_durable);
                prop_assert!(self.lead.is_none(), "two leaders");
                prop_assert_eq!(lead.target, target);
                self.lead = Some(lead);
                self.committers.push(Committer {
                    id: lead.leader,
                    target,
                    told: None,
                });
            }
            Decision::Wait(id) => {
                prop_assert!(self.model_cause.is_none());
                prop_assert!(target > self.model_durable);
                prop_assert!(self.lead.is_some(), "waiting with no leader");
                self.committers.push(Committer {
                    id,
                    target,
                    told: None,
                });
            }
        }
        Ok(())
    }

    fn poll_all(&mut self) -> Result<(), TestCaseError> {
        for c in self.committers.iter().filter(|c| c.told.is_none()) {
            let status = self.pipeline.poll(c.id, c.target);
            match status.map_err(|err| TestCaseError::fail(err.to_string()))? {
                WaitStatus::Waiting => {}
                WaitStatus::Durable => prop_assert!(false, "durable but never told"),
                WaitStatus::Failed(_) => prop_assert!(false, "failed but never told"),
                WaitStatus::Lead(lead) => {
                    prop_assert_eq!(Some(lead), self.lead, "told to lead but is not the leader");
                    prop_assert_eq!(lead.leader, c.id);
                }
            }
        }
        for c in self.committers.iter().filter(|c| c.told.is_some()) {
            let status = self.pipeline.poll(c.id, c.target);
            match status.map_err(|err| TestCaseError::fail(err.to_string()))? {
                WaitStatus::Durable => {
                    prop_assert!(c.target <= self.model_durable, "durable above the model");
                }
                WaitStatus::Failed(poisoned) => {
                    prop_assert_eq!(c.told, Some(Told::Failed));
                    prop_assert_eq!(poisoned.durable, self.model_durable);
                }
                other => prop_assert!(false, "told, yet polls {:?}", other),
            }
        }
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let pipeline = &self.pipeline;
        prop_assert_eq!(pipeline.durable(), self.model_durable);
        prop_assert_eq!(pipeline.written(), self.model_written);
        prop_assert!(pipeline.durable() <= pipeline.written());
        prop_assert!(pipeline.written() <= self.appended);
        prop_assert_eq!(
            pipeline.poison().map(|p| &p.cause),
            self.model_cause.as_ref()
        );
        if let Some(poison) = pipeline.poison() {
            prop_assert!(poison.durable <= self.model_durable);
            prop_assert_eq!(pipeline.in_flight(), None);
            prop_assert_eq!(pipeline.waiting(), 0);
        } else {
            prop_assert_eq!(pipeline.in_flight().map(|(lead, _)| lead), self.lead);
        }
        Ok(())
    }

    /// Drives the pipeline until no leader and no ticket remain: every committer that had to
    /// wait must then have been told exactly once.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        let bound = self.committers.len() + 2;
        for _ in 0..bound {
            if self.ticket.is_some() {
                self.apply(&Op::FinishOk)?;
            } else if self.lead.is_some() {
                self.apply(&Op::Begin)?;
                self.apply(&Op::FinishOk)?;
            } else {
                break;
            }
        }
        prop_assert!(
            self.lead.is_none() && self.ticket.is_none(),
            "leaders kept coming"
        );
        self.poll_all()?;
        for c in &self.committers {
            prop_assert!(c.told.is_some(), "committer {:?} was never told", c.id);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pipeline_matches_the_reference_model(ops in vec(op(), 1..300)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op)?;
        }
        harness.finish()?;
    }
}

/// Guards the events a visualiser draws from a failure reported outside any sync: the leader
/// and its waiters are failed in events, exactly as for a failed sync, and later requests show
/// as refused.
#[test]
fn a_write_failure_shows_in_events_as_a_failed_sync() {
    let mut pipeline = Pipeline::with_events(Lsn::ZERO, Vec::new());
    let Decision::Lead(lead) = pipeline.request(Lsn::new(10)) else {
        panic!("first request must lead");
    };
    let Decision::Wait(waiter) = pipeline.request(Lsn::new(20)) else {
        panic!("must wait");
    };
    let failed = pipeline.write_failed(Cause::write("write failed: EIO"));
    assert_eq!(failed.failed, vec![lead.leader, waiter]);
    let _ = pipeline.request(Lsn::new(30));
    let events = pipeline.into_events();
    assert!(events.contains(&Event::SyncFailed {
        leader: lead.leader,
        upto: None
    }));
    assert!(events.contains(&Event::WaiterFailed {
        waiter,
        target: Lsn::new(20)
    }));
    assert_eq!(
        events.last(),
        Some(&Event::Refused {
            target: Lsn::new(30)
        })
    );
}
