//! [`Index`]: where each Raft entry the store holds lies in the Walden log (its record's LSN),
//! by log index, in memory (a `BTreeMap`, tens of bytes per entry held), rebuilt when the store
//! opens.
//!
//! Invariants:
//! - Indexes held only grow in append order: an entry is accepted only above every entry held
//!   (Raft logs are contiguous; openraft's storage suite also writes logs with gaps, and once
//!   an entry below the purge point, which the index keeps as they are, like openraft's own
//!   in-memory example).
//! - `last` is the log id of the entry at the highest index held (`None` when none is held).

use openraft::{LogId, NodeId};
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use walden::Lsn;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Index<NID: NodeId> {
    /// Every index below this is purged (or was never written).
    floor: u64,
    positions: BTreeMap<u64, Lsn>,
    last: Option<LogId<NID>>,
}

impl<NID: NodeId> Index<NID> {
    /// An empty index whose entries start at `floor` or above.
    pub(crate) fn starting_at(floor: u64) -> Index<NID> {
        Index {
            floor,
            positions: BTreeMap::new(),
            last: None,
        }
    }

    /// The lowest index the next appended entry may have: one past the last held.
    pub(crate) fn next_index(&self) -> u64 {
        self.positions
            .last_key_value()
            .map_or(self.floor, |(&index, _)| index + 1)
    }

    /// The log id of the last entry held.
    pub(crate) fn last(&self) -> Option<LogId<NID>> {
        self.last.clone()
    }

    /// Where the entry at `index` lies, if it is held.
    #[cfg(test)]
    pub(crate) fn position(&self, index: u64) -> Option<Lsn> {
        self.positions.get(&index).copied()
    }

    /// The LSN of the first entry held.
    pub(crate) fn first_position(&self) -> Option<Lsn> {
        self.positions.first_key_value().map(|(_, &lsn)| lsn)
    }

    /// The held entry at or above `index` with the lowest index, and where it lies.
    pub(crate) fn first_from(&self, index: u64) -> Option<(u64, Lsn)> {
        self.positions
            .range(index..)
            .next()
            .map(|(&index, &lsn)| (index, lsn))
    }

    /// The held entry below `index` with the highest index.
    pub(crate) fn last_before(&self, index: u64) -> Option<(u64, Lsn)> {
        self.positions
            .range(..index)
            .next_back()
            .map(|(&index, &lsn)| (index, lsn))
    }

    /// Whether an entry at `index` may be appended: above every entry held. (Below the purge
    /// point too, as openraft's storage suite does once: such an entry is held until the store
    /// is reopened, which skips every entry at or below the purge point.)
    pub(crate) fn accepts(&self, index: u64) -> bool {
        self.positions
            .last_key_value()
            .is_none_or(|(&last, _)| index > last)
    }

    /// Records the entry `id` at `lsn`; the caller checked [`Index::accepts`].
    pub(crate) fn push(&mut self, id: LogId<NID>, lsn: Lsn) {
        debug_assert!(self.accepts(id.index));
        self.positions.insert(id.index, lsn);
        self.last = Some(id);
    }

    /// Forgets the entries from `index` on; `last` becomes `new_last` (the caller read it).
    pub(crate) fn truncate(&mut self, index: u64, new_last: Option<LogId<NID>>) {
        self.positions.split_off(&index);
        self.last = if self.positions.is_empty() {
            None
        } else {
            new_last
        };
    }

    /// Forgets the entries up to and including `index`.
    pub(crate) fn purge(&mut self, index: u64) {
        self.positions = self.positions.split_off(&(index + 1));
        self.floor = self.floor.max(index + 1);
        if self.positions.is_empty() {
            self.last = None;
        }
    }

    /// The indexes of `range`, as a half-open range.
    pub(crate) fn clip(&self, range: &impl RangeBounds<u64>) -> (u64, u64) {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        };
        (start, end.max(start))
    }

    /// The entries held in `[start, end)`, in index order.
    pub(crate) fn range(&self, start: u64, end: u64) -> Vec<(u64, Lsn)> {
        self.positions
            .range(start..end)
            .map(|(&index, &lsn)| (index, lsn))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn id(index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(1, 0), index)
    }

    #[test]
    fn pushes_truncates_purges_and_clips() {
        let mut index = Index::starting_at(0);
        for i in 3..10 {
            assert!(index.accepts(i));
            index.push(id(i), Lsn::new(100 * i));
        }
        assert!(!index.accepts(9), "not below the last held");
        assert!(index.accepts(12), "a gap is kept as it is");
        assert_eq!(index.position(5), Some(Lsn::new(500)));
        assert_eq!(index.position(2), None);
        assert_eq!(
            index.range(0, 5),
            vec![(3, Lsn::new(300)), (4, Lsn::new(400))]
        );
        assert_eq!(index.clip(&(5..=6)), (5, 7));
        assert_eq!(index.first_from(0), Some((3, Lsn::new(300))));
        assert_eq!(index.last_before(8), Some((7, Lsn::new(700))));
        index.truncate(8, Some(id(7)));
        assert_eq!((index.next_index(), index.last()), (8, Some(id(7))));
        index.purge(4);
        assert_eq!(index.first_position(), Some(Lsn::new(500)));
        index.purge(20);
        assert_eq!(index.first_position(), None);
        assert_eq!(index.next_index(), 21);
        assert!(index.accepts(1), "an empty index takes any entry");
    }
}
