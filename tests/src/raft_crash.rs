//! The `walden-raft` crash loop's shared parts: the type configuration, the operations the
//! `raft_crash_child` performs on a node's log store, the lines it prints, and the independent
//! model the `raft_crash_loop` test checks the reopened store against after each SIGKILL.
//!
//! The property checked: every acknowledged operation (append, truncate, purge, vote) is
//! present after recovery, and nothing else is, except the one operation in flight when the
//! child was killed, which may be found whole or not at all (an append: any prefix of its batch,
//! since each entry is its own record). Precisely, after each kill the store's entries above the
//! purge point, its purge point and its vote equal those of the model after every acknowledged
//! operation, possibly followed by (a part of) the one in flight.
//!
//! The model is pure (operations in, state out), so it is tested here on hand-made cases too.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Cursor;
use walden::WalOptions;

openraft::declare_raft_types!(
    /// The crash loop's types: entries carry a `String`, the state machine answers nothing.
    pub CrashConfig: D = String, R = ()
);

/// The node id every vote and log id of the loop names.
pub const NODE: u64 = 1;

/// The options the child and the checking parent open the store with: small segments, so
/// segments rotate and purges remove files within a few cycles.
pub fn wal_options() -> WalOptions {
    WalOptions {
        segment_bytes: 4096,
        ..WalOptions::default()
    }
}

/// One storage call of the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `append` (awaited until flushed) of `count` entries from index `first`, of term `term`.
    Append {
        /// The first entry's index.
        first: u64,
        /// How many entries.
        count: u64,
        /// Their term.
        term: u64,
    },
    /// `truncate` from `index` on.
    Truncate {
        /// The first index dropped.
        index: u64,
    },
    /// `purge` up to and including `index` (term `term`).
    Purge {
        /// The last index purged.
        index: u64,
        /// The purged log id's term.
        term: u64,
    },
    /// `save_vote` of term `term`, for [`NODE`].
    Vote {
        /// The vote's term.
        term: u64,
    },
}

/// The payload of the entry at `index` of term `term` written in child run `cycle`.
pub fn payload(cycle: u64, index: u64, term: u64) -> String {
    format!("cycle {cycle} index {index} term {term}")
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Append { first, count, term } => write!(f, "append {first} {count} {term}"),
            Op::Truncate { index } => write!(f, "truncate {index}"),
            Op::Purge { index, term } => write!(f, "purge {index} {term}"),
            Op::Vote { term } => write!(f, "vote {term}"),
        }
    }
}

impl Op {
    /// Parses what [`Op`]'s `Display` wrote.
    pub fn parse(text: &str) -> Result<Op, String> {
        let words: Vec<&str> = text.split(' ').collect();
        let number = |i: usize| -> Result<u64, String> {
            words
                .get(i)
                .and_then(|word| word.parse().ok())
                .ok_or_else(|| format!("not an operation: {text:?}"))
        };
        match words.first().copied() {
            Some("append") => Ok(Op::Append {
                first: number(1)?,
                count: number(2)?,
                term: number(3)?,
            }),
            Some("truncate") => Ok(Op::Truncate { index: number(1)? }),
            Some("purge") => Ok(Op::Purge {
                index: number(1)?,
                term: number(2)?,
            }),
            Some("vote") => Ok(Op::Vote { term: number(1)? }),
            _ => Err(format!("not an operation: {text:?}")),
        }
    }
}

/// What a store holds, as the loop sees it: entries above the purge point (index to term and
/// payload), the purge point (term, index) and the vote's term.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// Entries above the purge point: index to (term, payload).
    pub entries: BTreeMap<u64, (u64, String)>,
    /// The purge point: (term, index).
    pub purged: Option<(u64, u64)>,
    /// The vote's term.
    pub vote: Option<u64>,
}

impl Model {
    /// The model after `op` (entries written in child run `cycle`), with only the first `part`
    /// entries of an append.
    pub fn after(&self, op: &Op, cycle: u64, part: u64) -> Model {
        let mut next = self.clone();
        match *op {
            Op::Append { first, count, term } => {
                for index in first..first + count.min(part) {
                    next.entries
                        .insert(index, (term, payload(cycle, index, term)));
                }
            }
            Op::Truncate { index } => {
                next.entries.split_off(&index);
            }
            Op::Purge { index, term } => {
                if next.purged.is_none_or(|(_, purged)| purged < index) {
                    next.purged = Some((term, index));
                    next.entries = next.entries.split_off(&(index + 1));
                }
            }
            Op::Vote { term } => next.vote = Some(term),
        }
        next
    }

    /// Every state a store may be found in after a kill: this one, or (a part of) the
    /// operation in flight applied to it.
    pub fn candidates(&self, in_flight: Option<&Op>, cycle: u64) -> Vec<Model> {
        let mut out = vec![self.clone()];
        match in_flight {
            Some(op @ Op::Append { count, .. }) => {
                out.extend((1..=*count).map(|part| self.after(op, cycle, part)));
            }
            Some(op) => out.push(self.after(op, cycle, u64::MAX)),
            None => {}
        }
        out
    }

    /// The index the next append starts at: after the last entry and the purge point.
    pub fn next_index(&self) -> u64 {
        let after_entries = self.entries.last_key_value().map(|(&index, _)| index + 1);
        let after_purge = self.purged.map(|(_, index)| index + 1);
        after_entries.max(after_purge).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_through_their_lines() {
        for op in [
            Op::Append {
                first: 3,
                count: 4,
                term: 2,
            },
            Op::Truncate { index: 5 },
            Op::Purge { index: 1, term: 2 },
            Op::Vote { term: 9 },
        ] {
            assert_eq!(Op::parse(&op.to_string()), Ok(op));
        }
        assert!(Op::parse("append 1").is_err());
    }

    #[test]
    fn the_model_appends_truncates_purges_and_votes() {
        let model = Model::default()
            .after(
                &Op::Append {
                    first: 0,
                    count: 5,
                    term: 1,
                },
                0,
                u64::MAX,
            )
            .after(&Op::Truncate { index: 3 }, 0, u64::MAX)
            .after(&Op::Purge { index: 0, term: 1 }, 0, u64::MAX)
            .after(&Op::Vote { term: 2 }, 0, u64::MAX);
        assert_eq!(model.entries.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(model.next_index(), 3);
        assert_eq!((model.purged, model.vote), (Some((1, 0)), Some(2)));
        let beyond = model.after(&Op::Purge { index: 7, term: 2 }, 0, u64::MAX);
        assert!(beyond.entries.is_empty());
        assert_eq!(beyond.next_index(), 8);
    }

    #[test]
    fn an_append_in_flight_may_be_found_in_any_part() {
        let append = Op::Append {
            first: 0,
            count: 3,
            term: 1,
        };
        let candidates = Model::default().candidates(Some(&append), 4);
        let lens: Vec<usize> = candidates.iter().map(|m| m.entries.len()).collect();
        assert_eq!(lens, [0, 1, 2, 3]);
        assert_eq!(candidates[3].entries[&2].1, payload(4, 2, 1));
        assert_eq!(Model::default().candidates(None, 0).len(), 1);
    }
}
