//! The group-commit state machine checked against a simple reference model, over random
//! sequences of appends, commits, drains, successes, failures and polls.
//!
//! The model: the durable LSN is the largest LSN a successful sync covered, it never moves after
//! a failure, and the machine is poisoned from the first failure on. Properties checked after
//! every step: nobody is told durable above the model's durable LSN; after a failure no request
//! succeeds; exactly one leader at a time; and, at the end, every waiter has been answered.

use proptest::collection::vec;
use proptest::prelude::*;
use walden_core::{
    Decision, Event, GroupCommit, GroupCommitError, Lead, Lsn, WaitStatus, WaiterId,
};

/// Turns a protocol error into a test failure that proptest can shrink.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, TestCaseError> {
    result.map_err(|err| TestCaseError::fail(err.to_string()))
}

#[derive(Clone, Debug)]
enum Op {
    /// Append a record of this many payload bytes.
    Append(u16),
    /// Commit: ask for durability up to the end of the record picked by this index.
    Commit(usize),
    /// The leader drains and starts its sync.
    Drain,
    /// The sync in flight succeeds.
    SyncOk,
    /// The leader's drain or sync fails.
    SyncFail,
    /// Every unanswered waiter polls.
    Poll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u16>().prop_map(|n| Op::Append(n % 512)),
        6 => any::<usize>().prop_map(Op::Commit),
        3 => Just(Op::Drain),
        3 => Just(Op::SyncOk),
        1 => Just(Op::SyncFail),
        3 => Just(Op::Poll),
    ]
}

#[derive(Debug, PartialEq)]
enum Answer {
    Durable,
    Failed,
}

struct Waiter {
    id: WaiterId,
    target: Lsn,
    answer: Option<Answer>,
}

struct Harness {
    machine: GroupCommit<Vec<Event>>,
    appended: Lsn,
    ends: Vec<Lsn>,
    lead: Option<Lead>,
    syncing: Option<Lsn>,
    waiters: Vec<Waiter>,
    model_durable: Lsn,
    model_poisoned: bool,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            machine: GroupCommit::with_events(Lsn::ZERO, Vec::new()),
            appended: Lsn::ZERO,
            ends: Vec::new(),
            lead: None,
            syncing: None,
            waiters: Vec::new(),
            model_durable: Lsn::ZERO,
            model_poisoned: false,
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Append(len) => {
                self.appended = Lsn::new(self.appended.get() + 8 + u64::from(len));
                self.ends.push(self.appended);
            }
            Op::Commit(pick) => {
                if self.ends.is_empty() {
                    return Ok(());
                }
                let target = self.ends[pick % self.ends.len()];
                match self.machine.request(target) {
                    Decision::Failed(poisoned) => {
                        prop_assert!(self.model_poisoned);
                        prop_assert_eq!(poisoned.durable, self.model_durable);
                    }
                    Decision::Durable => {
                        prop_assert!(!self.model_poisoned, "durable after a failure");
                        prop_assert!(target <= self.model_durable, "durable above the model");
                    }
                    Decision::Lead(lead) => {
                        prop_assert!(!self.model_poisoned);
                        prop_assert!(target > self.model_durable);
                        prop_assert!(self.lead.is_none(), "two leaders");
                        prop_assert_eq!(lead.target, target);
                        self.lead = Some(lead);
                    }
                    Decision::Wait(id) => {
                        prop_assert!(!self.model_poisoned);
                        prop_assert!(target > self.model_durable);
                        prop_assert!(self.lead.is_some(), "waiting with no leader");
                        self.waiters.push(Waiter {
                            id,
                            target,
                            answer: None,
                        });
                    }
                }
            }
            Op::Drain => {
                if let (Some(lead), None) = (self.lead, self.syncing) {
                    ok(self.machine.sync_started(lead, self.appended))?;
                    prop_assert_eq!(
                        self.machine.sync_started(lead, self.appended),
                        Err(GroupCommitError::AlreadySyncing {
                            upto: self.appended
                        })
                    );
                    self.syncing = Some(self.appended);
                }
            }
            Op::SyncOk => {
                if let (Some(lead), Some(upto)) = (self.lead, self.syncing) {
                    let completion = ok(self.machine.sync_succeeded(lead))?;
                    self.model_durable = self.model_durable.max(upto);
                    prop_assert_eq!(completion.durable, self.model_durable);
                    prop_assert_eq!(completion.covered[0], lead.leader);
                    for id in &completion.covered[1..] {
                        let waiter = self.waiters.iter().find(|w| w.id == *id);
                        let waiter = ok(waiter.ok_or("covered an unknown waiter"))?;
                        prop_assert!(waiter.target <= self.model_durable);
                    }
                    // Nobody coverable is left behind: every unanswered waiter at or below the
                    // new durable LSN now polls as durable.
                    for waiter in self.waiters.iter().filter(|w| w.answer.is_none()) {
                        if waiter.target <= self.model_durable {
                            prop_assert_eq!(
                                self.machine.poll(waiter.id, waiter.target),
                                Ok(WaitStatus::Durable)
                            );
                        }
                    }
                    self.syncing = None;
                    self.lead = completion.next_leader;
                    if let Some(next) = completion.next_leader {
                        prop_assert!(next.target > self.model_durable);
                    }
                } else if let Some(lead) = self.lead {
                    prop_assert_eq!(
                        self.machine.sync_succeeded(lead),
                        Err(GroupCommitError::NotSyncing)
                    );
                }
            }
            Op::SyncFail => {
                if let Some(lead) = self.lead.take() {
                    let failure = ok(self.machine.sync_failed(lead))?;
                    self.model_poisoned = true;
                    self.syncing = None;
                    prop_assert_eq!(failure.poisoned.durable, self.model_durable);
                    prop_assert_eq!(failure.failed[0], lead.leader);
                }
            }
            Op::Poll => self.poll_all()?,
        }
        self.check_invariants()
    }

    fn poll_all(&mut self) -> Result<(), TestCaseError> {
        for waiter in self.waiters.iter_mut().filter(|w| w.answer.is_none()) {
            match ok(self.machine.poll(waiter.id, waiter.target))? {
                WaitStatus::Waiting => {}
                WaitStatus::Durable => {
                    prop_assert!(
                        waiter.target <= self.model_durable,
                        "durable above the model"
                    );
                    waiter.answer = Some(Answer::Durable);
                }
                WaitStatus::Failed(_) => {
                    prop_assert!(self.model_poisoned);
                    waiter.answer = Some(Answer::Failed);
                }
                WaitStatus::Lead(lead) => {
                    prop_assert_eq!(Some(lead), self.lead, "told to lead but is not the leader");
                    prop_assert_eq!(lead.leader, waiter.id);
                }
            }
        }
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.machine.durable(), self.model_durable);
        prop_assert_eq!(self.machine.poisoned().is_some(), self.model_poisoned);
        prop_assert_eq!(self.machine.in_flight().map(|(lead, _)| lead), self.lead);
        Ok(())
    }

    /// Drives the machine until no leader remains: every waiter must then have an answer.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        let bound = self.waiters.len() + 2;
        for _ in 0..bound {
            if self.lead.is_none() {
                break;
            }
            self.apply(&Op::Drain)?;
            self.apply(&Op::SyncOk)?;
        }
        prop_assert!(self.lead.is_none(), "leaders kept coming");
        self.poll_all()?;
        for waiter in &self.waiters {
            prop_assert!(
                waiter.answer.is_some(),
                "waiter {:?} was never answered",
                waiter.id
            );
            if waiter.answer == Some(Answer::Durable) {
                prop_assert!(waiter.target <= self.model_durable);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn group_commit_matches_the_reference_model(ops in vec(op(), 1..300)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op)?;
        }
        harness.finish()?;
    }
}

/// Prevents a stale or forged lead from reporting a sync.
#[test]
fn only_the_current_leader_can_report_a_sync() {
    let mut machine = GroupCommit::new(Lsn::ZERO);
    let Decision::Lead(lead) = machine.request(Lsn::new(10)) else {
        panic!("first request must lead");
    };
    let forged = Lead {
        leader: WaiterId(99),
        target: Lsn::new(10),
    };
    assert_eq!(
        machine.sync_started(forged, Lsn::new(10)),
        Err(GroupCommitError::NotLeader { lead: forged })
    );
    assert_eq!(
        machine.sync_started(lead, Lsn::new(5)),
        Err(GroupCommitError::SyncBelowTarget {
            upto: Lsn::new(5),
            target: Lsn::new(10)
        })
    );
    machine.sync_started(lead, Lsn::new(10)).unwrap();
    machine.sync_succeeded(lead).unwrap();
    assert_eq!(
        machine.sync_succeeded(lead),
        Err(GroupCommitError::NotLeader { lead })
    );
}

/// Shows one whole group in events: the shape a visualiser draws.
#[test]
fn one_sync_carries_every_commit_that_arrived_while_it_ran() {
    let mut machine = GroupCommit::with_events(Lsn::ZERO, Vec::new());
    let Decision::Lead(lead) = machine.request(Lsn::new(100)) else {
        panic!("first request must lead");
    };
    machine.sync_started(lead, Lsn::new(300)).unwrap();
    let Decision::Wait(a) = machine.request(Lsn::new(200)) else {
        panic!("must wait")
    };
    let Decision::Wait(b) = machine.request(Lsn::new(300)) else {
        panic!("must wait")
    };
    let Decision::Wait(c) = machine.request(Lsn::new(400)) else {
        panic!("must wait")
    };
    let completion = machine.sync_succeeded(lead).unwrap();
    assert_eq!(completion.covered, vec![lead.leader, a, b]);
    assert_eq!(
        completion.next_leader,
        Some(Lead {
            leader: c,
            target: Lsn::new(400)
        })
    );
    assert_eq!(machine.poll(a, Lsn::new(200)), Ok(WaitStatus::Durable));
    assert!(matches!(
        machine.poll(c, Lsn::new(400)),
        Ok(WaitStatus::Lead(_))
    ));
    assert!(machine.events().contains(&Event::SyncSucceeded {
        leader: lead.leader,
        durable: Lsn::new(300),
        covered: 3
    }));

    // The next leader fails: it and every later request learn the log is poisoned, but what was
    // acknowledged before stays acknowledged.
    let next = completion.next_leader.unwrap();
    let Decision::Wait(d) = machine.request(Lsn::new(500)) else {
        panic!("must wait")
    };
    let failure = machine.sync_failed(next).unwrap();
    assert_eq!(failure.failed, vec![c, d]);
    assert!(matches!(
        machine.poll(d, Lsn::new(500)),
        Ok(WaitStatus::Failed(_))
    ));
    assert_eq!(machine.poll(a, Lsn::new(200)), Ok(WaitStatus::Durable));
    assert!(matches!(machine.request(Lsn::new(1)), Decision::Failed(_)));
}
