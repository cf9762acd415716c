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

use crate::async_commit::AsyncCommit;
use crate::error::Error;
use crate::file_storage::FileStorage;
use crate::options::WalOptions;
use crate::shared_sync::SharedSync;
use crate::stats::{StatsSnapshot, WalStats};
use crate::writer::WalWriter;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;
use walden_core::{Decision, Durability, GroupCommit, Lead, Lsn, WaitStatus};

/// The most times a leader yields to let in-progress appends join its sync (see `Wal::gather`).
const GATHER_YIELDS_MAX: usize = 64;

/// The shared log. `Send + Sync`: put it in an `Arc` and commit from any thread.
#[derive(Debug)]
pub struct Wal<S: SharedSync = FileStorage> {
    writer: Mutex<WalWriter<S>>,
    group: Mutex<GroupCommit>,
    woken: Condvar,
    stats: WalStats,
    /// Records made durable so far (as counted by the writer when each sync drained); only the
    /// leader, of which there is one at a time, reads and writes it.
    records_durable: AtomicU64,
    /// The durable LSN, readable without a lock; only the leader raises it.
    durable: AtomicU64,
    /// The end of what was appended, readable without a lock: the leader watches it to see
    /// whether other threads are still appending before it drains.
    appended: AtomicU64,
    durability: Durability,
    /// The flusher and the futures of `commit_async` (`async_commit.rs`).
    pub(crate) async_commit: AsyncCommit,
}

impl Wal<FileStorage> {
    /// Opens (creating if missing) and recovers the log file at `path` with default options.
    pub fn open(path: &Path) -> Result<Wal<FileStorage>, Error> {
        Wal::open_with(path, WalOptions::default())
    }

    /// Opens (creating if missing) and recovers the log file at `path`.
    pub fn open_with(path: &Path, options: WalOptions) -> Result<Wal<FileStorage>, Error> {
        Ok(Wal::from_writer(
            WalWriter::open_with(path, options)?,
            options,
        ))
    }
}

impl<S: SharedSync> Wal<S>
where
    S::Error: Into<std::io::Error>,
{
    /// Shares an open writer; `options` must be the ones it was opened with.
    pub fn from_writer(writer: WalWriter<S>, options: WalOptions) -> Wal<S> {
        let durable = writer.durable_lsn();
        let appended = writer.current_lsn();
        Wal {
            writer: Mutex::new(writer),
            group: Mutex::new(GroupCommit::new(durable)),
            woken: Condvar::new(),
            stats: WalStats::default(),
            records_durable: AtomicU64::new(0),
            durable: AtomicU64::new(durable.get()),
            appended: AtomicU64::new(appended.get()),
            durability: options.durability,
            async_commit: AsyncCommit::new(options.durability),
        }
    }

    /// Appends a record without waiting; returns its LSN. Durable once a later commit, `sync` or
    /// `wait_durable` covers it.
    pub fn append(&self, payload: &[u8]) -> Result<Lsn, Error> {
        self.append_with_end(payload).map(|(lsn, _)| lsn)
    }

    /// Appends a record; returns its LSN and the LSN just past it.
    pub(crate) fn append_with_end(&self, payload: &[u8]) -> Result<(Lsn, Lsn), Error> {
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
            return self.writer().flush_until(target);
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
        let empty = tracing::field::Empty;
        let span = tracing::debug_span!(
            "walden.group_sync",
            upto = empty,
            records = empty,
            bytes = empty,
            duration_us = empty
        );
        let _entered = span.enter();
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
        span.record("upto", upto.get());
        span.record("bytes", upto.get().saturating_sub(self.durable_lsn().get()));
        self.group()
            .sync_started(lead, upto)
            .map_err(Error::GroupCommit)?;
        let started = Instant::now();
        let synced = S::sync_shared(&handle, mode);
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
        let completion = self
            .group()
            .sync_succeeded(lead)
            .map_err(Error::GroupCommit)?;
        self.durable
            .fetch_max(completion.durable.get(), Ordering::AcqRel);
        let before = self.records_durable.swap(records, Ordering::Relaxed);
        self.stats.synced(records.saturating_sub(before), took);
        span.record("records", records.saturating_sub(before));
        span.record(
            "duration_us",
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        );
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

    fn writer(&self) -> MutexGuard<'_, WalWriter<S>> {
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
struct LeadGuard<'a, S: SharedSync>
where
    S::Error: Into<std::io::Error>,
{
    wal: &'a Wal<S>,
    lead: Lead,
    finished: bool,
}

impl<S: SharedSync> LeadGuard<'_, S>
where
    S::Error: Into<std::io::Error>,
{
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

impl<S: SharedSync> Drop for LeadGuard<'_, S>
where
    S::Error: Into<std::io::Error>,
{
    fn drop(&mut self) {
        self.fail();
    }
}
