//! [`Appended`]: what every append returns, and what every durability wait takes.
//!
//! A record's LSN is where its frame starts, but a sync must cover the frame's *end* for the
//! record to be durable. Handing a start LSN to a wait is the classic mistake (the wait returns
//! at once and the record is not durable), so appends return this receipt instead of a bare
//! [`Lsn`], and the waits of `walden` (`Wal::wait_durable`, `WalWriter::wait_durable`) take only
//! an `Appended`: the wrong use does not compile, and nobody computes an end from the frame
//! header's size.
//!
//! Invariant: `lsn < end` (a frame is never empty); for one record, `end - lsn` is its frame's
//! length. A receipt of several records (a batch appended at once) spans from the first's start
//! to the last's end.

use crate::Lsn;
use core::fmt;

/// Where an appended record lies in the log: [`Appended::lsn`] is where it starts (to read it
/// back, or checkpoint up to it), [`Appended::end`] is where it ends (it is durable once the
/// durable LSN reaches this). Pass it to a durability wait as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Appended {
    lsn: Lsn,
    end: Lsn,
}

impl Appended {
    /// The receipt of the record (or the records) in `[lsn, end)`.
    ///
    /// # Panics
    /// If `end <= lsn`: a frame always has a header, so a record is never empty. Only code that
    /// appends records builds receipts; a bad one would make a wait return too early.
    #[inline]
    pub fn new(lsn: Lsn, end: Lsn) -> Appended {
        assert!(lsn < end, "a record ends after it starts ({lsn}..{end})");
        Appended { lsn, end }
    }

    /// Where the record starts: the LSN to read it back from (`read_from`) or to checkpoint up
    /// to.
    #[inline]
    pub const fn lsn(self) -> Lsn {
        self.lsn
    }

    /// Where the record ends, one past its last byte: it is durable once the durable LSN is at
    /// least this, and the next record starts here.
    #[inline]
    pub const fn end(self) -> Lsn {
        self.end
    }

    /// Bytes the record's frame (or the batch's frames) occupy in the log.
    #[inline]
    pub const fn frame_bytes(self) -> u64 {
        self.end.get() - self.lsn.get()
    }

    /// Whether a log whose durable LSN is `durable` holds this record durably.
    #[inline]
    pub fn is_durable_at(self, durable: Lsn) -> bool {
        durable >= self.end
    }

    /// The receipt spanning `self` and a later receipt `last` (a batch: the first record's start
    /// to the last one's end). Waiting on it makes every record of the batch durable.
    #[inline]
    pub fn through(self, last: Appended) -> Appended {
        assert!(
            last.end >= self.end,
            "a batch's last record ({}..{}) ends before its first ({}..{})",
            last.lsn,
            last.end,
            self.lsn,
            self.end
        );
        Appended {
            lsn: self.lsn,
            end: last.end,
        }
    }
}

impl fmt::Display for Appended {
    /// `LSN start..end`, the form every tool prints a record's place in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LSN {}..{}", self.lsn, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_knows_both_ends_and_when_it_is_durable() {
        let rec = Appended::new(Lsn::new(100), Lsn::new(113));
        assert_eq!(
            (rec.lsn(), rec.end(), rec.frame_bytes()),
            (Lsn::new(100), Lsn::new(113), 13)
        );
        // The mistake the type exists to prevent: the start is not enough.
        assert!(!rec.is_durable_at(rec.lsn()));
        assert!(!rec.is_durable_at(Lsn::new(112)));
        assert!(rec.is_durable_at(rec.end()));
    }

    #[test]
    fn a_batch_spans_its_first_start_to_its_last_end() {
        let first = Appended::new(Lsn::new(0), Lsn::new(10));
        let last = Appended::new(Lsn::new(20), Lsn::new(30));
        let batch = first.through(last);
        assert_eq!((batch.lsn(), batch.end()), (Lsn::new(0), Lsn::new(30)));
    }

    #[test]
    #[should_panic(expected = "a record ends after it starts")]
    fn an_empty_receipt_is_refused() {
        let _ = Appended::new(Lsn::new(5), Lsn::new(5));
    }
}
