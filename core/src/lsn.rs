//! Log sequence numbers.
//!
//! An [`Lsn`] is a byte position in the log's logical stream: the concatenation of every record
//! frame ever appended, without file headers. A record's LSN is where its frame starts; watermarks
//! (`current`, `written`, `durable`) are end positions, i.e. the LSN one past the last byte they
//! cover.
//!
//! Invariant: LSNs only grow for the whole life of a log. Truncation, checkpoints and segment
//! rotation never reset them; a file header carries the LSN of its first frame byte.

use core::fmt;

/// A byte position in the log's logical stream. See the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(u64);

impl Lsn {
    /// The start of a brand-new log.
    pub const ZERO: Lsn = Lsn(0);
    /// The largest representable position.
    pub const MAX: Lsn = Lsn(u64::MAX);

    /// Wraps a raw position.
    #[inline]
    pub const fn new(raw: u64) -> Lsn {
        Lsn(raw)
    }

    /// The raw byte position.
    #[inline]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The position `bytes` further on, or `None` if that would overflow `u64`.
    #[inline]
    pub const fn checked_add(self, bytes: u64) -> Option<Lsn> {
        match self.0.checked_add(bytes) {
            Some(raw) => Some(Lsn(raw)),
            None => None,
        }
    }

    /// The number of bytes from `earlier` to `self`, or `None` if `earlier` is later than `self`.
    #[inline]
    pub const fn checked_distance_from(self, earlier: Lsn) -> Option<u64> {
        self.0.checked_sub(earlier.0)
    }
}

impl fmt::Display for Lsn {
    /// LSNs print as plain decimal byte positions, the unit every error message and tool uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for Lsn {
    fn from(raw: u64) -> Lsn {
        Lsn(raw)
    }
}

impl From<Lsn> for u64 {
    fn from(lsn: Lsn) -> u64 {
        lsn.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_refuses_overflow_and_negative_distances() {
        assert_eq!(Lsn::new(10).checked_add(5), Some(Lsn::new(15)));
        assert_eq!(Lsn::MAX.checked_add(1), None);
        assert_eq!(Lsn::new(15).checked_distance_from(Lsn::new(10)), Some(5));
        assert_eq!(Lsn::new(10).checked_distance_from(Lsn::new(15)), None);
    }
}
