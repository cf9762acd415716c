//! The durability watermarks of one log: how far records were appended, handed to the OS, and
//! made durable.
//!
//! Invariant, checked by every method that changes a watermark and by [`Watermarks::check`]:
//! `durable <= written <= current`. `durable` and `written` only move forward; a stale
//! `mark_durable` or `mark_written` is a no-op, never a step back.

use crate::Lsn;
use core::fmt;

/// The three watermarks. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    current: Lsn,
    written: Lsn,
    durable: Lsn,
}

/// A watermark update that would break `durable <= written <= current`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatermarkError {
    /// `mark_written` past what was appended.
    WrittenBeyondCurrent {
        /// The LSN asked for.
        lsn: Lsn,
        /// The current (appended) LSN.
        current: Lsn,
    },
    /// `mark_durable` past what was handed to the OS.
    DurableBeyondWritten {
        /// The LSN asked for.
        lsn: Lsn,
        /// The written LSN.
        written: Lsn,
    },
    /// `set_current` or `append` would move `current` backwards or past `Lsn::MAX`.
    CurrentNotMonotonic {
        /// The LSN asked for (saturated at `Lsn::MAX` on overflow).
        lsn: Lsn,
        /// The current LSN.
        current: Lsn,
    },
}

impl fmt::Display for WatermarkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WatermarkError::WrittenBeyondCurrent { lsn, current } => write!(
                f,
                "cannot mark LSN {lsn} written: only {current} was appended"
            ),
            WatermarkError::DurableBeyondWritten { lsn, written } => write!(
                f,
                "cannot mark LSN {lsn} durable: only {written} was handed to the OS"
            ),
            WatermarkError::CurrentNotMonotonic { lsn, current } => write!(
                f,
                "cannot move the current LSN from {current} to {lsn}: LSNs never go back"
            ),
        }
    }
}

impl Watermarks {
    /// A fresh log whose bytes up to `lsn` are known durable (e.g. an empty log whose header was
    /// synced): all three watermarks at `lsn`.
    pub const fn new(lsn: Lsn) -> Watermarks {
        Watermarks {
            current: lsn,
            written: lsn,
            durable: lsn,
        }
    }

    /// A log just recovered up to `end`: its bytes are in the OS, but nothing counts as durable
    /// until this process has synced it, so `durable` stays at `durable_floor` (the LSN this
    /// process knows to be synced, usually the log's base LSN).
    pub fn recovered(durable_floor: Lsn, end: Lsn) -> Result<Watermarks, WatermarkError> {
        if durable_floor > end {
            return Err(WatermarkError::DurableBeyondWritten {
                lsn: durable_floor,
                written: end,
            });
        }
        Ok(Watermarks {
            current: end,
            written: end,
            durable: durable_floor,
        })
    }

    /// The end of what was appended.
    pub const fn current(&self) -> Lsn {
        self.current
    }

    /// The end of what was handed to the OS.
    pub const fn written(&self) -> Lsn {
        self.written
    }

    /// The end of what is durable.
    pub const fn durable(&self) -> Lsn {
        self.durable
    }

    /// Whether making `target` durable needs a flush (it is not durable yet).
    pub const fn needs_flush(&self, target: Lsn) -> bool {
        target.get() > self.durable.get()
    }

    /// Records an append of `len` bytes; returns the LSN where they start.
    pub fn append(&mut self, len: u64) -> Result<Lsn, WatermarkError> {
        let start = self.current;
        let end = start
            .checked_add(len)
            .ok_or(WatermarkError::CurrentNotMonotonic {
                lsn: Lsn::MAX,
                current: start,
            })?;
        self.current = end;
        self.check();
        Ok(start)
    }

    /// Moves `current` forward to `lsn` (e.g. to continue after a recovered log's end).
    pub fn set_current(&mut self, lsn: Lsn) -> Result<(), WatermarkError> {
        if lsn < self.current {
            return Err(WatermarkError::CurrentNotMonotonic {
                lsn,
                current: self.current,
            });
        }
        self.current = lsn;
        self.check();
        Ok(())
    }

    /// Records that bytes up to `lsn` were handed to the OS. Returns whether `written` moved.
    pub fn mark_written(&mut self, lsn: Lsn) -> Result<bool, WatermarkError> {
        if lsn > self.current {
            return Err(WatermarkError::WrittenBeyondCurrent {
                lsn,
                current: self.current,
            });
        }
        let moved = lsn > self.written;
        if moved {
            self.written = lsn;
        }
        self.check();
        Ok(moved)
    }

    /// Records that bytes up to `lsn` are durable. Monotonic: a value at or below `durable` is a
    /// no-op. Returns whether `durable` moved.
    pub fn mark_durable(&mut self, lsn: Lsn) -> Result<bool, WatermarkError> {
        if lsn > self.written {
            return Err(WatermarkError::DurableBeyondWritten {
                lsn,
                written: self.written,
            });
        }
        let moved = lsn > self.durable;
        if moved {
            self.durable = lsn;
        }
        self.check();
        Ok(moved)
    }

    /// Asserts `durable <= written <= current`. Every mutation ends with this check, so a
    /// violation is a bug in this module, never a caller's input.
    pub fn check(&self) {
        assert!(
            self.durable <= self.written && self.written <= self.current,
            "watermark invariant broken: durable {} <= written {} <= current {}",
            self.durable,
            self.written,
            self.current
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_durable_is_monotonic_and_stale_values_are_no_ops() {
        let mut marks = Watermarks::new(Lsn::ZERO);
        marks.append(100).unwrap();
        marks.mark_written(Lsn::new(100)).unwrap();
        assert_eq!(marks.mark_durable(Lsn::new(60)), Ok(true));
        assert_eq!(marks.mark_durable(Lsn::new(40)), Ok(false));
        assert_eq!(marks.durable(), Lsn::new(60));
        assert!(!marks.needs_flush(Lsn::new(60)));
        assert!(marks.needs_flush(Lsn::new(61)));
    }

    #[test]
    fn durable_cannot_pass_written_nor_written_pass_current() {
        let mut marks = Watermarks::new(Lsn::new(10));
        marks.append(5).unwrap();
        assert!(marks.mark_durable(Lsn::new(11)).is_err());
        assert!(marks.mark_written(Lsn::new(16)).is_err());
        assert!(marks.set_current(Lsn::new(9)).is_err());
        assert_eq!(marks, {
            let mut expected = Watermarks::new(Lsn::new(10));
            expected.append(5).unwrap();
            expected
        });
    }

    #[test]
    fn recovered_log_is_not_durable_until_synced() {
        let marks = Watermarks::recovered(Lsn::new(0), Lsn::new(500)).unwrap();
        assert!(marks.needs_flush(Lsn::new(1)));
        assert_eq!(marks.written(), Lsn::new(500));
    }
}
