//! [`Wal`]: the shared, thread-safe log services use, with group commit.
//!
//! Two locks, never held together: the writer lock (`WalWriter`: appends and drains) and the
//! group lock (the core's `GroupCommit` state machine, plus a condition variable for waiters).
//!
//! A commit appends under the writer lock, then asks the state machine for durability up to its
//! record's end. The state machine answers: already durable (return), lead, wait, or poisoned.
//! The leader drains under the writer lock and releases it, syncs a shared handle with no lock
//! held (other threads keep appending), then publishes the durable LSN and wakes every waiter;
//! waiters the sync covered return, and the one the state machine elects leads the next sync.
//!
//! Invariants:
//! - No committer waits on a timer: waiters sleep on the condition variable and are woken by the
//!   leader's publish or failure.
//! - No waiter hangs when a leader fails: a failed drain or sync fails every waiter, and a leader
//!   that unwinds (a panic) does the same from a drop guard, poisoning the log.
//! - After a failure the log is poisoned: every later commit and wait returns an error until the
//!   log is reopened and recovered.
//! - Memory is bounded: appends go into the writer's fixed-size buffer, which drains into the OS
//!   when full (a blocking write is the backpressure), and the state machine holds one entry per
//!   blocked committer thread.

use crate::error::Error;
use crate::options::WalOptions;
use crate::reader::WalIter;
use crate::segment_dir::{FsDir, SegmentDir};
use crate::segments::SegmentedWriter;
use crate::shared_sync::SharedSync;
use crate::stats::{StatsSnapshot, WalStats};
use crate::tail::Tail;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;
use walden_core::{Decision, Durability, GroupCommit, Lead, Lsn, WaitStatus};

/// The most times a leader yields to let in-progress appends join its sync (see `Wal::gather`).
const GATHER_YIELDS_MAX: usize = 64;

/// The shared log over a directory of segment files. `Send + Sync`: put it in an `Arc` and
/// commit from any thread.
#[derive(Debug)]
pub struct Wal<D: SegmentDir = FsDir> {
    writer: Mutex<SegmentedWriter<D>>,
    /// The segments' directory, for readers (they open their own handles).
    dir: D,
    options: WalOptions,
    group: Mutex<GroupCommit>,
    woken: Condvar,
    stats: WalStats,
    /// Records made durable so far (as counted by the writer when each sync drained); only the
    /// leader, of which there is one at a time, reads and writes it.
    records_durable: AtomicU64,
    /// The durable LSN, readable without a lock; only the leader raises it, under the group lock.
    durable: AtomicU64,
    /// What readers may see: the durable LSN, or with `Durability::Buffered` the end of what
    /// commits handed to the OS. Raised under the group lock, with a wake-up of `woken`.
    committed: AtomicU64,
    /// The end of what was appended, readable without a lock: the leader watches it to see
    /// whether other threads are still appending before it drains.
    appended: AtomicU64,
    durability: Durability,
}

impl Wal<FsDir> {
    /// Opens (creating if missing) and recovers the log in directory `path` with default
    /// options.
    pub fn open(path: &Path) -> Result<Wal<FsDir>, Error> {
        Wal::open_with(path, WalOptions::default())
    }

    /// Opens (creating if missing) and recovers the log in directory `path`.
    pub fn open_with(path: &Path, options: WalOptions) -> Result<Wal<FsDir>, Error> {
        let dir = FsDir::create_all(path).map_err(|source| Error::Io {
            op: "opening the log directory",
            source,
        })?;
        Wal::open_in(dir, options)
    }
}

impl<D: SegmentDir> Wal<D> {
    /// Opens (creating its first segment if there is none) and recovers the log in `dir`.
    pub fn open_in(dir: D, options: WalOptions) -> Result<Wal<D>, Error> {
        let writer = SegmentedWriter::open(dir.clone(), options)?;
        let durable = writer.durable_lsn();
        let appended = writer.current_lsn();
        Ok(Wal {
            writer: Mutex::new(writer),
            dir,
            options,
            group: Mutex::new(GroupCommit::new(durable)),
            woken: Condvar::new(),
            stats: WalStats::default(),
            records_durable: AtomicU64::new(0),
            durable: AtomicU64::new(durable.get()),
            committed: AtomicU64::new(durable.get()),
            appended: AtomicU64::new(appended.get()),
            durability: options.durability,
        })
    }

    /// Appends a record without waiting; returns its LSN. Durable once a later commit, `sync` or
    /// `wait_durable` covers it.
    pub fn append(&self, payload: &[u8]) -> Result<Lsn, Error> {
        self.append_with_end(payload).map(|(lsn, _)| lsn)
    }

    /// Appends a record; returns its LSN and the LSN just past it.
    fn append_with_end(&self, payload: &[u8]) -> Result<(Lsn, Lsn), Error> {
        let (lsn, end) = {
            let mut writer = self.writer();
            let lsn = writer.append(payload)?;
            (lsn, writer.current_lsn())
        };
        self.appended.fetch_max(end.get(), Ordering::Release);
        self.stats.appended(payload.len());
        Ok((lsn, end))
    }

    /// What the log has done: appends, fsyncs, records per fsync, fsync latency.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Appends a record and returns its LSN once it is durable (with `Durability::Buffered`:
    /// once it is handed to the OS).
    pub fn commit(&self, payload: &[u8]) -> Result<Lsn, Error> {
        let (lsn, end) = self.append_with_end(payload)?;
        self.wait_durable(end)?;
        Ok(lsn)
    }

    /// Makes everything up to `target` durable, sharing the sync with concurrent committers.
    /// Returns the durable LSN (at least `target`).
    pub fn wait_durable(&self, target: Lsn) -> Result<Lsn, Error> {
        if self.durability == Durability::Buffered {
            self.writer().flush_until(target)?;
            let written = self.writer().written_lsn();
            let _group = self.group();
            self.committed.fetch_max(written.get(), Ordering::AcqRel);
            drop(_group);
            self.woken.notify_all();
            return Ok(self.durable_lsn());
        }
        let durable = self.durable_lsn();
        if target <= durable {
            return Ok(durable);
        }
        let mut group = self.group();
        // The first answer comes from `request`, later ones from `poll`: each outcome is handled
        // in one place below.
        let (waiter, mut status) = match group.request(target) {
            Decision::Durable => (None, WaitStatus::Durable),
            Decision::Lead(lead) => (None, WaitStatus::Lead(lead)),
            Decision::Failed(poisoned) => (None, WaitStatus::Failed(poisoned)),
            Decision::Wait(waiter) => (Some(waiter), WaitStatus::Waiting),
        };
        loop {
            match (status, waiter) {
                (WaitStatus::Durable, _) => return Ok(group.durable()),
                (WaitStatus::Failed(_), _) => {
                    drop(group);
                    return Err(self.poisoned_error());
                }
                (WaitStatus::Lead(lead), _) => {
                    drop(group);
                    return self.lead(lead);
                }
                (WaitStatus::Waiting, Some(waiter)) => {
                    group = self
                        .woken
                        .wait(group)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    status = group.poll(waiter, target).map_err(Error::GroupCommit)?;
                }
                (WaitStatus::Waiting, None) => {
                    unreachable!("only a waiter is told to wait")
                }
            }
        }
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<Lsn, Error> {
        let current = self.current_lsn();
        self.wait_durable(current)
    }

    /// The durable LSN, without taking a lock.
    pub fn durable_lsn(&self) -> Lsn {
        Lsn::new(self.durable.load(Ordering::Acquire))
    }

    /// The end of what was appended.
    pub fn current_lsn(&self) -> Lsn {
        self.writer().current_lsn()
    }

    /// The end of what readers may see: the durable LSN (with `Durability::Buffered`, the end
    /// of what commits handed to the OS).
    pub fn committed_lsn(&self) -> Lsn {
        Lsn::new(self.committed.load(Ordering::Acquire))
    }

    /// The first LSN the log still holds (checkpoints remove whole segments below it).
    pub fn first_lsn(&self) -> Lsn {
        self.writer().first_lsn()
    }

    /// The base LSN of every segment, oldest first; the last is the one being appended to.
    pub fn segments(&self) -> Vec<Lsn> {
        self.writer().segments()
    }

    /// Removes the segments that hold only records below `lsn`: call it once the records below
    /// `lsn` are no longer needed (e.g. the state they describe is checkpointed elsewhere). The
    /// segment being appended to stays. Returns the new first LSN.
    pub fn checkpoint(&self, lsn: Lsn) -> Result<Lsn, Error> {
        self.writer().checkpoint(lsn)
    }

    /// Reads the committed records from `from` (a record's LSN, at or above
    /// [`Wal::first_lsn`]) up to [`Wal::committed_lsn`] as it is now, across segments.
    pub fn read_from(&self, from: Lsn) -> Result<WalIter<D>, Error> {
        let segments = self.segments();
        WalIter::new(
            self.dir.clone(),
            &self.options,
            segments,
            from,
            self.committed_lsn(),
        )
    }

    /// Follows the log from `from`: yields records as they become committed (durable), waiting
    /// for more when it has read everything.
    pub fn tail(&self, from: Lsn) -> Result<Tail<'_, D>, Error> {
        Ok(Tail::new(self, self.read_from(from)?))
    }

    /// Waits until the committed LSN passes `after`, or `deadline` passes; returns the
    /// committed LSN. Fails once the log is poisoned.
    pub(crate) fn wait_committed_past(
        &self,
        after: Lsn,
        deadline: Option<Instant>,
    ) -> Result<Lsn, Error> {
        let mut group = self.group();
        loop {
            let committed = self.committed_lsn();
            if committed > after {
                return Ok(committed);
            }
            if group.poisoned().is_some() {
                drop(group);
                return Err(self.poisoned_error());
            }
            match deadline {
                None => {
                    group = self
                        .woken
                        .wait(group)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(committed);
                    }
                    group = self
                        .woken
                        .wait_timeout(group, deadline - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// Drains and syncs everything appended, then closes the log; returns the durable LSN. On
    /// error, says what was not made durable.
    pub fn close(self) -> Result<Lsn, Error> {
        self.writer
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .close()
    }

    /// Leads one sync: drain under the writer lock, sync the shared handle with no lock held,
    /// publish. Any failure, or an unwind, fails every waiter and poisons the log.
    fn lead(&self, lead: Lead) -> Result<Lsn, Error> {
        let mut guard = LeadGuard {
            wal: self,
            lead,
            finished: false,
        };
        self.gather();
        let (upto, handle, mode, records) = {
            let mut writer = self.writer();
            match writer.drain_with_handle() {
                Ok((upto, handle)) => (upto, handle, writer.sync_mode(), writer.records_appended()),
                Err(err) => {
                    drop(writer);
                    guard.fail();
                    return Err(err);
                }
            }
        };
        self.group()
            .sync_started(lead, upto)
            .map_err(Error::GroupCommit)?;
        let started = Instant::now();
        let synced = <D::Storage as SharedSync>::sync_shared(&handle, mode);
        let took = started.elapsed();
        if let Err(err) = synced {
            let err = self.writer().mark_sync_failed(err);
            guard.fail();
            return Err(err);
        }
        if let Err(err) = self.writer().mark_durable(upto) {
            // Only a write failure elsewhere (a full buffer's drain) poisons the writer while a
            // leader syncs; its waiters must not be told durable.
            guard.fail();
            return Err(err);
        }
        let completion = {
            // Published under the group lock, so a reader that checked `committed` under it
            // before waiting cannot miss the wake-up.
            let mut group = self.group();
            let completion = group.sync_succeeded(lead).map_err(Error::GroupCommit)?;
            self.durable
                .fetch_max(completion.durable.get(), Ordering::AcqRel);
            self.committed
                .fetch_max(completion.durable.get(), Ordering::AcqRel);
            completion
        };
        let before = self.records_durable.swap(records, Ordering::Relaxed);
        self.stats.synced(records.saturating_sub(before), took);
        guard.finished = true;
        self.woken.notify_all();
        Ok(completion.durable)
    }

    /// Lets committers that are appending right now join this sync: yields while the appended
    /// LSN keeps growing, and stops as soon as it does not (at once when nobody else is
    /// appending), or after [`GATHER_YIELDS_MAX`] yields. No timer: a leader never waits for
    /// appends that are not already happening.
    ///
    /// Without it, a leader elected the moment the previous sync completes drains before the
    /// committers that sync just acknowledged have appended their next records, and groups
    /// alternate between large and small.
    fn gather(&self) {
        let mut seen = self.appended.load(Ordering::Acquire);
        for _ in 0..GATHER_YIELDS_MAX {
            std::thread::yield_now();
            let now = self.appended.load(Ordering::Acquire);
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    fn poisoned_error(&self) -> Error {
        self.writer().poisoned_error().unwrap_or(Error::Poisoned {
            durable: self.durable_lsn(),
            cause: String::from("sync"),
        })
    }

    fn writer(&self) -> MutexGuard<'_, SegmentedWriter<D>> {
        // A panic while holding the lock is a bug; the leader's guard has poisoned the log if it
        // mattered, so the state is still safe to read.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn group(&self) -> MutexGuard<'_, GroupCommit> {
        self.group
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Fails the group if a leader returns early or unwinds without publishing.
struct LeadGuard<'a, D: SegmentDir> {
    wal: &'a Wal<D>,
    lead: Lead,
    finished: bool,
}

impl<D: SegmentDir> LeadGuard<'_, D> {
    fn fail(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        // Poison the writer too (a no-op if the failure already did), so that no later call
        // reports durability the failed sync did not give.
        let _ = self
            .wal
            .writer()
            .mark_sync_failed(std::io::Error::other("a group-commit leader failed"));
        let _ = self.wal.group().sync_failed(self.lead);
        self.wal.woken.notify_all();
    }
}

impl<D: SegmentDir> Drop for LeadGuard<'_, D> {
    fn drop(&mut self) {
        self.fail();
    }
}
