//! [`Tail`]: follows a log, yielding records as they become committed.
//!
//! A tail is a [`WalIter`] whose bound it raises whenever the log's committed (durable) LSN
//! passes it. When it has read everything committed, it sleeps on the log's wake-up (the same
//! one group-commit leaders signal after publishing), never on a timer.
//!
//! Invariants: it yields only committed records, in LSN order, without gaps (those of
//! [`WalIter`]); once the log is poisoned it yields the error and ends.

use crate::error::Error;
use crate::reader::{LogRecord, WalIter};
use crate::segment_dir::SegmentDir;
use crate::wal::Wal;
use std::time::{Duration, Instant};

/// Follows a [`Wal`]; see the module documentation. Made by [`Wal::tail`].
#[derive(Debug)]
pub struct Tail<'a, D: SegmentDir> {
    wal: &'a Wal<D>,
    iter: WalIter<D>,
    finished: bool,
}

impl<'a, D: SegmentDir> Tail<'a, D> {
    pub(crate) fn new(wal: &'a Wal<D>, iter: WalIter<D>) -> Tail<'a, D> {
        Tail {
            wal,
            iter,
            finished: false,
        }
    }

    /// The next committed record if there is one now, without waiting.
    pub fn try_next(&mut self) -> Option<Result<LogRecord, Error>> {
        self.next_until(Some(Instant::now()))
    }

    /// The next committed record, waiting up to `timeout` for one; `None` if none came.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<LogRecord, Error>> {
        self.next_until(Some(Instant::now() + timeout))
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<LogRecord, Error>> {
        if self.finished {
            return None;
        }
        loop {
            match self.iter.next() {
                Some(Ok(record)) => return Some(Ok(record)),
                Some(Err(err)) => return self.fail(err),
                None => {}
            }
            let upto = self.iter.upto();
            match self.wal.wait_committed_past(upto, deadline) {
                Ok(committed) if committed > upto => {
                    self.iter.extend(committed, self.wal.segments());
                }
                Ok(_) => return None,
                Err(err) => return self.fail(err),
            }
        }
    }

    fn fail(&mut self, err: Error) -> Option<Result<LogRecord, Error>> {
        self.finished = true;
        Some(Err(err))
    }
}

impl<D: SegmentDir> Iterator for Tail<'_, D> {
    type Item = Result<LogRecord, Error>;

    /// Blocks until the next record is committed. Ends only after an error (a poisoned log);
    /// use [`Tail::next_timeout`] to stop waiting.
    fn next(&mut self) -> Option<Result<LogRecord, Error>> {
        self.next_until(None)
    }
}
