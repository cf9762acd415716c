//! What a follower tab's worker has forwarded to the leader and not yet had answered
//! ([`Outstanding`]), and what becomes of it when the leader is lost.
//!
//! The leader tells a follower where each of its records will lie (the LSN range) *before*
//! any byte of the record can reach the file (`worker::leader`). So when a new leader takes
//! over, having recovered the log up to `recovered_end`, a record the lost leader never
//! answered is decided without guessing:
//! - its range was assigned and ends at or below `recovered_end`: it is in the log, and was
//!   synced by the new leader's recovery: acknowledged with its LSN;
//! - its range was assigned and ends past `recovered_end`: it is not in the log and never will
//!   be (the new leader appends from `recovered_end`): rejected with `leaderLost`, which the
//!   app may retry;
//! - no range was assigned: the lost leader never appended it, so it is sent to the new leader
//!   as if for the first time (the follower keeps each record's payload until it is assigned).
//!   Unassigned records are always the last ones a tab forwarded (the leader assigns in order),
//!   so sending them again keeps the tab's order.
//!
//! Reads and stats are sent again to the new leader; a truncate that was not answered cannot
//! be decided (it leaves no record) and is rejected with `leaderLost`.
//!
//! Invariants: each op is answered exactly once (by the leader's answer or by the decision
//! above); never an acknowledgement for a record that is not in the recovered log, and never a
//! record sent again once a leader has placed it.

use crate::log_error::LogError;
use crate::worker_log::RequestId;
use std::collections::BTreeMap;
use walden_core::Lsn;

/// One forwarded op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Forwarded {
    /// An append (`commit: false`) or commit.
    Record {
        commit: bool,
        place: Place,
    },
    Read {
        from: Lsn,
        max_bytes: u32,
    },
    Stats,
    Truncate,
}

/// Where a forwarded record stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Not placed by any leader yet: its payload, to send again if the leader is lost.
    Unassigned(Vec<u8>),
    /// The LSN range the leader said it will occupy.
    Assigned(Lsn, Lsn),
}

impl Forwarded {
    /// A record not yet placed.
    pub(crate) fn record(commit: bool, payload: &[u8]) -> Forwarded {
        Forwarded::Record {
            commit,
            place: Place::Unassigned(payload.to_vec()),
        }
    }
}

/// What to do with an op whose leader was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// In the log: answer with this LSN.
    Acknowledge(Lsn),
    /// Not in the log (or undecidable): answer with this error.
    Reject(LogError),
    /// Ask the new leader again.
    Resend(Forwarded),
}

/// A follower's forwarded ops, by the page's request id, with the leader each went to (`None`:
/// not sent yet, no leader known).
#[derive(Debug, Default)]
pub(crate) struct Outstanding {
    ops: BTreeMap<RequestId, (Option<String>, Forwarded)>,
}

impl Outstanding {
    pub(crate) fn insert(&mut self, id: RequestId, leader: Option<&str>, op: Forwarded) {
        self.ops.insert(id, (leader.map(str::to_owned), op));
    }

    /// Records where leader `leader` will put record `id`; ignored from any other leader.
    pub(crate) fn assign(&mut self, leader: &str, id: RequestId, lsn: Lsn, end: Lsn) {
        if let Some((Some(to), Forwarded::Record { place, .. })) = self.ops.get_mut(&id) {
            if to == leader {
                *place = Place::Assigned(lsn, end);
            }
        }
    }

    /// Forgets `id`, answered by `leader`; false if it was not outstanding with that leader
    /// (a late answer from a lost leader, already decided).
    pub(crate) fn answered(&mut self, leader: &str, id: RequestId) -> bool {
        match self.ops.get(&id) {
            Some((Some(to), _)) if to == leader => {
                self.ops.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Marks every unsent op as sent to `leader`.
    pub(crate) fn sent_unsent(&mut self, leader: &str) {
        for (to, _) in self.ops.values_mut() {
            if to.is_none() {
                *to = Some(leader.to_owned());
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Decides every op sent to a leader other than `new_leader`, which recovered the log up to
    /// `recovered_end`, and removes it (a resent op is inserted again by the caller). Ops not
    /// sent yet are kept.
    pub(crate) fn leader_lost(
        &mut self,
        new_leader: &str,
        recovered_end: Lsn,
    ) -> Vec<(RequestId, Decision)> {
        let lost: Vec<RequestId> = self
            .ops
            .iter()
            .filter(|(_, (to, _))| to.as_deref().is_some_and(|to| to != new_leader))
            .map(|(id, _)| *id)
            .collect();
        lost.into_iter()
            .filter_map(|id| {
                self.ops
                    .remove(&id)
                    .map(|(_, op)| (id, decide(op, recovered_end)))
            })
            .collect()
    }
}

fn decide(op: Forwarded, recovered_end: Lsn) -> Decision {
    match op {
        Forwarded::Record {
            place: Place::Assigned(lsn, end),
            ..
        } if end <= recovered_end => Decision::Acknowledge(lsn),
        Forwarded::Record {
            place: Place::Assigned(lsn, _),
            ..
        } => Decision::Reject(LogError::LeaderLost {
            message: format!(
                "the tab that held the log went away before this record (LSN {lsn}) was \
                 durable, and the tab that took over recovered the log up to LSN \
                 {recovered_end}: the record is not in the log; commit it again"
            ),
        }),
        Forwarded::Truncate => Decision::Reject(LogError::LeaderLost {
            message: "the tab that held the log went away before answering this truncate: it \
                      may or may not have run; check stats().baseLsn and truncate again if needed"
                .to_owned(),
        }),
        unplaced_read_or_stats => Decision::Resend(unplaced_read_or_stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unplaced(byte: u8) -> Forwarded {
        Forwarded::record(true, &[byte])
    }

    /// Prevents a false acknowledgement and a duplicate: only a record whose whole assigned
    /// range the new leader recovered is acknowledged; a range cut in the middle, or past the
    /// end, is leaderLost; a record never placed is sent again, payload and all.
    #[test]
    fn a_lost_leaders_records_are_acknowledged_only_when_recovered_whole() {
        let mut out = Outstanding::default();
        for id in 1..=5 {
            out.insert(id, Some("old"), unplaced(id as u8));
        }
        out.assign("old", 1, Lsn::new(0), Lsn::new(40));
        out.assign("old", 2, Lsn::new(40), Lsn::new(80));
        out.assign("old", 3, Lsn::new(80), Lsn::new(120));
        out.assign("old", 4, Lsn::new(120), Lsn::new(160));
        // An assignment from another leader is not this op's.
        out.assign("someone", 5, Lsn::new(160), Lsn::new(200));
        let decided = out.leader_lost("new", Lsn::new(100));
        assert_eq!(decided[0], (1, Decision::Acknowledge(Lsn::new(0))));
        assert_eq!(decided[1], (2, Decision::Acknowledge(Lsn::new(40))));
        for (id, decision) in &decided[2..4] {
            assert!(
                matches!(decision, Decision::Reject(err) if err.kind() == "leaderLost"),
                "op {id}: {decision:?}"
            );
        }
        assert_eq!(decided[4], (5, Decision::Resend(unplaced(5))));
        assert!(out.is_empty());
    }

    /// Prevents a silent drop or a duplicate: reads and stats are asked again, an unanswered
    /// truncate is reported, ops not yet sent and ops sent to the new leader are kept, and a
    /// late answer from the lost leader is ignored.
    #[test]
    fn reads_are_resent_unsent_ops_kept_and_late_answers_ignored() {
        let mut out = Outstanding::default();
        let read = Forwarded::Read {
            from: Lsn::new(7),
            max_bytes: 100,
        };
        out.insert(1, Some("old"), read.clone());
        out.insert(2, Some("old"), Forwarded::Stats);
        out.insert(3, Some("old"), Forwarded::Truncate);
        out.insert(4, None, unplaced(4));
        out.insert(5, Some("new"), unplaced(5));
        let decided = out.leader_lost("new", Lsn::new(0));
        assert_eq!(decided.len(), 3);
        assert_eq!(decided[0], (1, Decision::Resend(read)));
        assert_eq!(decided[1], (2, Decision::Resend(Forwarded::Stats)));
        assert!(matches!(&decided[2], (3, Decision::Reject(err)) if err.kind() == "leaderLost"));
        assert_eq!(out.len(), 2);
        assert!(!out.answered("old", 5), "a lost leader's late answer");
        assert!(out.answered("new", 5));
        out.sent_unsent("new");
        assert!(out.answered("new", 4));
        assert!(out.is_empty());
    }
}
