//! [`Wal`]: the shared, thread-safe log services use, with group commit.
//!
//! An append takes the writer lock, encodes its frame straight into the active segment's 64 KiB
//! buffer (one copy of the payload, no re-validation), publishes the new current LSN to an
//! atomic, and releases the lock. A full buffer is written to the OS under the lock: that write
//! is the backpressure. (An earlier lock-free queue, a `fetch_add` reservation with encoding
//! outside any lock, was slower at 1 thread and no faster at 2 on the machines measured:
//! docs/performance.md, "The append queue against a locked append".)
//!
//! Two locks, never held together: the writer lock (the segments: appends, drains, rotation,
//! syncs of the writer's own) and the group lock (the core's `Pipeline`: group commit, the
//! durable LSN and the one poison cause; plus a condition variable for waiters).
//!
//! A commit appends, then asks the state machine for durability up to its record's end. The
//! state machine answers: already durable (return), lead, wait, or poisoned. The leader drains
//! the buffer under the writer lock and releases it, syncs a shared handle with no lock held
//! (other threads keep appending), then publishes the durable LSN and wakes every waiter;
//! waiters the sync covered return, and the one the state machine elects leads the next sync.
//!
//! Invariants:
//! - `durable <= written <= current`: `current` (an atomic mirror, stored under the writer
//!   lock after every append) never runs behind what readers of it were promised, and a leader
//!   publishes only what it drained; asserted where the durable LSN is published.
//! - No committer waits on a timer: waiters sleep on the condition variable and are woken by the
//!   leader's publish or failure.
//! - No waiter hangs when a leader fails: a failed drain or sync fails every waiter, and a leader
//!   that unwinds (a panic) does the same from a drop guard, poisoning the log.
//! - After a failure the log is poisoned: every later append, commit, wait, checkpoint and tail
//!   returns an error until the log is reopened and recovered. Every failure sets a flag that
//!   appends, checkpoints and tails check without the writer lock; a failed write outside group
//!   commit (a full buffer's, or a segment's rotation) also wakes every sleeper, so a waiting
//!   tail sees it.
//! - Memory is bounded: the writer's buffer holds at most `buffer_bytes` (or one record longer
//!   than that), and the state machine one entry per blocked committer thread.

use crate::async_commit::AsyncCommit;
use crate::error::{lock_error, not_writable_or, Error};
use crate::meta_file::MetaFile;
use crate::options::WalOptions;
use crate::reader::WalIter;
use crate::recovery::WalRecovery;
use crate::segment_dir::{FsDir, SegmentDir};
use crate::segments::SegmentedWriter;
use crate::shared_sync::SharedSync;
use crate::stats::{StatsSnapshot, WalStats};
use crate::tail::Tail;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;
use walden_core::{
    Appended, Cause, Codec, Decision, Durability, Gather, InputError, Lead, Lsn, Pipeline,
    PoisonedError, SyncTicket, WaitStatus,
};

/// The shared log over a directory of segment files. `Send + Sync`: put it in an `Arc` and
/// commit from any thread.
#[derive(Debug)]
pub struct Wal<D: SegmentDir = FsDir> {
    writer: Mutex<Locked<D>>,
    /// The end of what was appended: stored under the writer lock after every append, read
    /// without it.
    current: AtomicU64,
    /// The log's codec (its salt and payload limit), to check a payload before taking a lock.
    codec: Codec,
    /// Set once the log is poisoned: appends refuse without taking a lock.
    poisoned: AtomicBool,
    /// Set by `shutdown` (never cleared): appends refuse with `Error::Closed`, and `Drop` has
    /// nothing left to hand to the OS.
    closed: AtomicBool,
    /// What recovery found and did when this log was opened.
    recovery: WalRecovery,
    /// The segments' directory, for readers (they open their own handles).
    dir: D,
    options: WalOptions,
    /// The core's sync pipeline: group commit, the durable LSN and the one poison cause.
    group: Mutex<Pipeline>,
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
    durability: Durability,
    /// The flusher and the futures of `commit_async` (`async_commit.rs`).
    pub(crate) async_commit: AsyncCommit,
    /// The first LSN the log holds, readable without a lock; raised by `checkpoint` under the
    /// writer lock, after the segments below it are removed.
    first: AtomicU64,
    /// The active segment's base LSN, readable without a lock; stored with `current` under the
    /// writer lock (a rotation happens inside an append).
    active_base: AtomicU64,
    /// The `META` file: the application's metadata and the suffix truncations. Its lock is
    /// taken before the writer lock when both are held (`truncate_from`).
    meta: Mutex<MetaFile<D>>,
    /// The one-writer lock on `dir`, held for as long as this `Wal` lives.
    _lock: D::Lock,
}

mod metadata;
mod random_read;
pub use random_read::{WalReader, OPEN_SEGMENTS};

/// What the writer lock guards.
#[derive(Debug)]
struct Locked<D: SegmentDir> {
    log: SegmentedWriter<D>,
    /// Payload bytes appended since opening (for `stats`).
    payload_bytes: u64,
}

impl Wal<FsDir> {
    /// Opens (creating if missing) and recovers the log in directory `path` with default
    /// options. What recovery found and cut is in [`Wal::recovery`].
    pub fn open(path: impl AsRef<Path>) -> Result<Wal<FsDir>, Error> {
        Wal::open_with(path, WalOptions::default())
    }

    /// Opens (creating if missing) and recovers the log in directory `path`.
    pub fn open_with(path: impl AsRef<Path>, options: WalOptions) -> Result<Wal<FsDir>, Error> {
        let path = path.as_ref();
        let dir = FsDir::create_all(path).map_err(not_writable_or(
            "opening the log directory",
            path.display().to_string(),
        ))?;
        Wal::open_in(dir, options)
    }
}

impl<D: SegmentDir> Wal<D> {
    /// Opens (creating its first segment if there is none) and recovers the log in `dir`.
    ///
    /// Takes the directory's writer lock first: while this `Wal` lives, another open of the same
    /// directory fails with [`Error::Locked`] and changes nothing.
    pub fn open_in(dir: D, options: WalOptions) -> Result<Wal<D>, Error> {
        let _span = tracing::info_span!("walden.open", path = %dir.describe()).entered();
        let lock = dir.lock().map_err(lock_error(dir.describe()))?;
        let meta = MetaFile::open(&dir)?;
        let (writer, recovery) = SegmentedWriter::open(dir.clone(), options)?;
        // Appends resumed at the end of every truncation, which was durable before the
        // truncation was recorded: a log that ends before it lost segments.
        if let Some(last) = meta.meta().truncations.last() {
            if last.to > writer.current_lsn() {
                return Err(Error::MetaPastEnd {
                    truncated_to: last.to,
                    end: writer.current_lsn(),
                });
            }
        }
        let durable = writer.durable_lsn();
        let first = AtomicU64::new(writer.first_lsn().get());
        let active_base = AtomicU64::new(writer.active().base_lsn().get());
        let codec = writer.active().codec();
        let current = AtomicU64::new(writer.current_lsn().get());
        Ok(Wal {
            writer: Mutex::new(Locked {
                log: writer,
                payload_bytes: 0,
            }),
            current,
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            recovery,
            codec,
            dir,
            options,
            group: Mutex::new(Pipeline::new(durable)),
            woken: Condvar::new(),
            stats: WalStats::default(),
            records_durable: AtomicU64::new(0),
            durable: AtomicU64::new(durable.get()),
            committed: AtomicU64::new(durable.get()),
            durability: options.durability,
            async_commit: AsyncCommit::new(options.durability),
            meta: Mutex::new(meta),
            first,
            active_base,
            _lock: lock,
        })
    }

    /// Appends a record without waiting, and returns where it lies. It is not durable yet:
    /// hand the receipt to [`Wal::wait_durable`] (or call [`Wal::sync`]) to make it so, or use
    /// [`Wal::commit`] to do both. Takes the writer lock for as long as it takes to encode the
    /// record into the buffer (and, when the buffer is full, to write the buffer to the OS).
    ///
    /// ```
    /// # fn main() -> Result<(), walden::Error> {
    /// # let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = walden::Wal::open(dir.path())?;
    /// let record = wal.append(b"set x = 1")?;
    /// wal.wait_durable(record)?; // that record, and everything before it, is durable now
    /// assert!(record.is_durable_at(wal.durable_lsn()));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A bare LSN is not a receipt, so the classic mistake (waiting on where the record
    /// *starts*, which returns at once) does not compile:
    ///
    /// ```compile_fail
    /// # fn main() -> Result<(), walden::Error> {
    /// # let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = walden::Wal::open(dir.path())?;
    /// let record = wal.append(b"set x = 1")?;
    /// wal.wait_durable(record.lsn())?; // expected `Appended`, found `Lsn`
    /// # Ok(())
    /// # }
    /// ```
    pub fn append(&self, payload: &[u8]) -> Result<Appended, Error> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        // Checked before taking the lock; an append that fails this changes nothing.
        self.codec.check(Lsn::ZERO, payload.len())?;
        let mut writer = self.writer();
        match writer.log.append(payload) {
            Ok(appended) => {
                writer.payload_bytes += payload.len() as u64;
                // The mirror is the segments' current LSN: each record starts where the last
                // ended, or after the sync marker a drain appended there (see `log_writer`).
                // Stored under the lock, so it only ever moves forward.
                assert!(
                    self.current.load(Ordering::Relaxed) <= appended.lsn().get(),
                    "the current LSN mirror ran ahead of the segments"
                );
                self.publish_current(&writer);
                Ok(appended)
            }
            // Nothing was appended: a record the codec refuses (the LSN space is used up).
            Err(err @ Error::Encode(_)) => Err(err),
            // A failed write of the full buffer, or of a rotation: the log is poisoned.
            Err(err) => {
                let err = self.poison_with(&mut writer, err);
                drop(writer);
                self.fail_outside_sync(&err);
                Err(err)
            }
        }
    }

    /// Appends every payload of `payloads`, in order, under one acquisition of the writer lock,
    /// and returns each record's receipt: wait on the last one ([`Wal::wait_durable`] or
    /// [`Wal::wait_durable_async`]) and one sync covers the whole batch.
    ///
    /// Every payload is checked against the size limit first: if one is too large, nothing is
    /// appended. (A failed write while appending poisons the log, as for [`Wal::append`].)
    ///
    /// ```
    /// # fn main() -> Result<(), walden::Error> {
    /// # let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = walden::Wal::open(dir.path())?;
    /// let records = wal.append_batch([&b"a"[..], b"b", b"c"])?;
    /// wal.wait_durable(*records.last().expect("three receipts"))?;
    /// assert!(records.iter().all(|r| r.is_durable_at(wal.durable_lsn())));
    /// # Ok(())
    /// # }
    /// ```
    pub fn append_batch<'p>(
        &self,
        payloads: impl IntoIterator<Item = &'p [u8]>,
    ) -> Result<Vec<Appended>, Error> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        let payloads: Vec<&[u8]> = payloads.into_iter().collect();
        for payload in &payloads {
            self.codec.check(Lsn::ZERO, payload.len())?;
        }
        let mut receipts = Vec::with_capacity(payloads.len());
        let mut writer = self.writer();
        for payload in payloads {
            match writer.log.append(payload) {
                Ok(appended) => {
                    writer.payload_bytes += payload.len() as u64;
                    receipts.push(appended);
                }
                Err(err @ Error::Encode(_)) => {
                    // The LSN space is used up: the records before this one stay appended.
                    self.publish_current(&writer);
                    return Err(err);
                }
                Err(err) => {
                    let err = self.poison_with(&mut writer, err);
                    drop(writer);
                    self.fail_outside_sync(&err);
                    return Err(err);
                }
            }
        }
        self.publish_current(&writer);
        Ok(receipts)
    }

    /// What the log has done: appends, fsyncs, records per fsync, fsync latency.
    pub fn stats(&self) -> StatsSnapshot {
        let (appends, payload_bytes) = {
            let writer = self.writer();
            (writer.log.records_appended(), writer.payload_bytes)
        };
        self.stats.snapshot(appends, payload_bytes)
    }

    /// Appends a record and returns where it lies once it is durable (with
    /// `Durability::Buffered`: once it is handed to the OS), sharing the sync with concurrent
    /// committers.
    pub fn commit(&self, payload: &[u8]) -> Result<Appended, Error> {
        let appended = self.append(payload)?;
        self.wait_durable(appended)?;
        Ok(appended)
    }

    /// Makes `record` (and everything appended before it) durable, sharing the sync with
    /// concurrent committers; returns the durable LSN (at least `record.end()`). Returns at once
    /// when it already is. With `Durability::Buffered` it only hands the record to the OS.
    ///
    /// After [`Wal::shutdown`], a record the shutdown made durable still returns `Ok`; any
    /// other gets [`Error::Closed`]. Once the log is poisoned every call returns
    /// [`Error::Poisoned`], whatever the record.
    pub fn wait_durable(&self, record: Appended) -> Result<Lsn, Error> {
        self.wait_durable_through(record.end())
    }

    /// [`Wal::wait_durable`] for an end position (the flusher's highest target).
    pub(crate) fn wait_durable_through(&self, target: Lsn) -> Result<Lsn, Error> {
        // A poisoned log reports no durability until it is reopened, not even of records made
        // durable before the failure: the caller learns of the failure at its next call.
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        let durable = self.durable_lsn();
        if target <= durable {
            return Ok(durable);
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        self.durable_through(target)
    }

    /// Makes everything up to `target` (an end position: a record's end, or the current LSN)
    /// durable, sharing the sync with concurrent committers. Returns the durable LSN (at least
    /// `target`). A target past [`Wal::current_lsn`] is [`Error::Input`]
    /// ([`InputError::BeyondCurrent`]; the log is not poisoned).
    pub(crate) fn durable_through(&self, target: Lsn) -> Result<Lsn, Error> {
        // Checked first: with `Durability::Buffered` no group commit remembers a failure.
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        let current = self.current_lsn();
        if target > current {
            return Err(InputError::BeyondCurrent { target, current }.into());
        }
        if self.durability == Durability::Buffered {
            let flushed = {
                let mut writer = self.writer();
                match writer.log.flush_until(target) {
                    // A failed drain poisoned the writer; the log's flag makes appends refuse
                    // too.
                    Err(err) => Err(self.poison_with(&mut writer, err)),
                    Ok(_) => {
                        self.publish_current(&writer);
                        Ok(writer.log.written_lsn())
                    }
                }
            };
            let written = flushed.inspect_err(|err| self.fail_outside_sync(err))?;
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

    /// Makes everything appended so far durable; returns the durable LSN.
    pub fn sync(&self) -> Result<Lsn, Error> {
        // Even with nothing left to sync: a poisoned log reports no durability until reopened.
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        let current = self.current_lsn();
        self.durable_through(current)
    }

    /// What recovery found when this log was opened, segment by segment: what it kept, what
    /// it cut (where, how many bytes, and why), and what it only checked.
    pub fn recovery(&self) -> &WalRecovery {
        &self.recovery
    }

    /// The durable LSN, without taking a lock.
    pub fn durable_lsn(&self) -> Lsn {
        Lsn::new(self.durable.load(Ordering::Acquire))
    }

    /// The end of what was appended.
    pub fn current_lsn(&self) -> Lsn {
        Lsn::new(self.current.load(Ordering::Acquire))
    }

    /// The end of what readers may see: the durable LSN (with `Durability::Buffered`, the end
    /// of what commits handed to the OS).
    pub fn committed_lsn(&self) -> Lsn {
        Lsn::new(self.committed.load(Ordering::Acquire))
    }

    /// The first LSN the log still holds (checkpoints remove whole segments below it).
    pub fn first_lsn(&self) -> Lsn {
        Lsn::new(self.first.load(Ordering::Acquire))
    }

    /// The base LSN of every segment, oldest first; the last is the one being appended to.
    pub fn segments(&self) -> Vec<Lsn> {
        self.writer().log.segments()
    }

    /// Removes the segments that hold only records below `lsn`: call it once the records below
    /// `lsn` are no longer needed (e.g. the state they describe is checkpointed elsewhere). The
    /// segment being appended to stays. Returns the new first LSN. A poisoned log is refused
    /// with [`Error::Poisoned`], and nothing is removed.
    pub fn checkpoint(&self, lsn: Lsn) -> Result<Lsn, Error> {
        // A poisoned log changes nothing on disk until it is reopened and recovered.
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        let mut writer = self.writer();
        let checkpointed = writer.log.checkpoint(lsn);
        self.first
            .store(writer.log.first_lsn().get(), Ordering::Release);
        checkpointed
    }

    /// Reads the committed records from `from` (a record's LSN, at or above
    /// [`Wal::first_lsn`]) up to [`Wal::committed_lsn`] as it is now, across segments.
    ///
    /// Records a [`Wal::truncate_from`] dropped before this call are skipped; an iterator made
    /// before a truncation keeps the list it started with.
    pub fn read_from(&self, from: Lsn) -> Result<WalIter<D>, Error> {
        let truncations = self.meta_file().truncations();
        let segments = self.segments();
        WalIter::new(
            self.dir.clone(),
            &self.options,
            segments,
            from,
            self.committed_lsn(),
        )
        .map(|iter| iter.skipping(truncations))
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
            // A failed sync poisons the group; a failed drain only sets the flag.
            if group.poison().is_some() || self.poisoned.load(Ordering::Acquire) {
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

    /// Shuts the log down through a shared reference (an `Arc<Wal>` that other threads or
    /// [`Wal::commit_async`] futures still hold): refuses every later append with
    /// [`Error::Closed`], makes everything appended before it durable (sharing the sync with
    /// committers in flight), and moves the active segment's sync mark to the end. Returns the
    /// durable LSN. Calling it again returns the same. Readers keep working.
    ///
    /// An append racing the shutdown either is refused, or is appended and then covered by the
    /// shutdown's sync, or is appended after it: such a record is handed to the OS when the log
    /// is dropped, and waiting on it returns [`Error::Closed`].
    pub fn shutdown(&self) -> Result<Lsn, Error> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        self.closed.store(true, Ordering::Release);
        let reserved = self.current_lsn();
        self.durable_through(reserved)?;
        let sealed = {
            let mut writer = self.writer();
            let sealed = writer.log.seal_active();
            self.publish_current(&writer);
            match sealed {
                Err(err) => Err(self.poison_with(&mut writer, err)),
                ok => ok,
            }
        };
        let sealed = sealed.inspect_err(|err| self.fail_outside_sync(err))?;
        // With `Durability::Buffered` the seal's sync is the first to cover the records (group
        // commit never ran); with a syncing mode it covers nothing new.
        {
            let _group = self.group();
            self.durable.fetch_max(sealed.get(), Ordering::AcqRel);
            self.committed.fetch_max(sealed.get(), Ordering::AcqRel);
        }
        self.woken.notify_all();
        Ok(self.durable_lsn())
    }

    /// Shuts the log down ([`Wal::shutdown`]) and closes it; returns the durable LSN. On error,
    /// says what was not made durable.
    pub fn close(self) -> Result<Lsn, Error> {
        self.shutdown()
    }

    /// Leads one sync: drain under the writer lock, sync the shared handle with no lock held,
    /// publish. Any failure, or an unwind, fails every waiter and poisons the log.
    fn lead(&self, lead: Lead) -> Result<Lsn, Error> {
        let mut guard = LeadGuard {
            wal: self,
            lead,
            ticket: None,
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
        let (upto, handle, mode, records, seal) = {
            let mut writer = self.writer();
            let drained = writer.log.drain_with_handle();
            // The drain may have appended a sync marker.
            self.publish_current(&writer);
            match drained {
                Ok((upto, handle)) => (
                    upto,
                    handle,
                    writer.log.sync_mode(),
                    writer.log.records_appended(),
                    writer.log.pending_seal(),
                ),
                Err(err) => {
                    drop(writer);
                    guard.fail(Cause::write(err.to_string()));
                    return Err(err);
                }
            }
        };
        span.record("upto", upto.get());
        span.record("bytes", upto.get().saturating_sub(self.durable_lsn().get()));
        // The ticket is the only way to publish this sync's outcome; the guard redeems it with
        // a failure if anything below returns early or unwinds.
        let begun = self.group().begin_sync(lead, upto);
        match begun {
            Ok(ticket) => guard.ticket = Some(ticket),
            Err(failed) => {
                guard.fail(failed.poison.cause);
                return Err(self.poisoned_error());
            }
        }
        let started = Instant::now();
        let synced = <D::Storage as SharedSync>::sync_shared(&handle, mode);
        let took = started.elapsed();
        if let Err(err) = synced {
            let err = self.writer().log.mark_sync_failed(err);
            guard.fail(Cause::sync(err.to_string()));
            return Err(err);
        }
        // The records before the active segment are durable once its predecessor's seal is
        // done: wait for it (it is usually done already), holding no lock.
        if let Some(Err(err)) = seal.map(|seal| seal.wait()) {
            let err = {
                let mut writer = self.writer();
                writer.log.mark_durable_failed();
                self.poison_with(&mut writer, err)
            };
            guard.fail(Cause::sync(err.to_string()));
            return Err(err);
        }
        if let Err(err) = self.writer().log.mark_durable(upto) {
            // Only a write failure elsewhere (a full buffer's drain) poisons the writer while a
            // leader syncs; its waiters must not be told durable.
            guard.fail(Cause::write(err.to_string()));
            return Err(err);
        }
        let completion = {
            // Published under the group lock, so a reader that checked `committed` under it
            // before waiting cannot miss the wake-up.
            let mut group = self.group();
            let ticket = guard.ticket.take().expect("the sync began with a ticket");
            let completion = match group.finish_sync(ticket, Ok(())) {
                Ok(completion) => completion,
                Err(_failed) => {
                    // A failure outside this sync poisoned the pipeline while it ran: it has
                    // failed every committer, this leader included.
                    drop(group);
                    guard.finished = true;
                    self.poisoned.store(true, Ordering::Release);
                    self.woken.notify_all();
                    return Err(self.poisoned_error());
                }
            };
            // durable <= written <= current: the sync covered only drained bytes.
            assert!(
                completion.durable >= upto && upto <= self.current_lsn(),
                "durable {} must cover the sync ({upto}) and stay within what was appended ({})",
                completion.durable,
                self.current_lsn()
            );
            let before = self
                .durable
                .fetch_max(completion.durable.get(), Ordering::AcqRel);
            // The mirror only ever holds what the core published; only the leader raises it.
            assert!(
                before <= completion.durable.get(),
                "the durable mirror ({before}) ran ahead of the core ({})",
                completion.durable
            );
            self.committed
                .fetch_max(completion.durable.get(), Ordering::AcqRel);
            completion
        };
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
    /// appending), or after the core's bound ([`Gather`]: the same policy the browser worker
    /// and the dashboard's simulation follow). No timer: a leader never waits for appends that
    /// are not already happening.
    ///
    /// Without it, a leader elected the moment the previous sync completes drains before the
    /// committers that sync just acknowledged have appended their next records, and groups
    /// alternate between large and small.
    fn gather(&self) {
        let mut gather = Gather::new(self.current_lsn());
        loop {
            std::thread::yield_now();
            if !gather.keep_gathering(self.current_lsn()) {
                return;
            }
        }
    }

    /// Reports a failure outside a leader's sync (a failed write while appending, a failed
    /// seal) to the pipeline, which poisons it (keeping an earlier cause) and fails every
    /// committer, then wakes every committer and tail asleep on the log so they see it. Call it
    /// with no lock held.
    fn fail_outside_sync(&self, err: &Error) {
        let _failed = self.group().write_failed(Cause::write(err.to_string()));
        self.woken.notify_all();
    }

    /// Poisons the log (a no-op if it already is) because of `err`; returns `err`.
    fn poison_with(&self, writer: &mut Locked<D>, err: Error) -> Error {
        writer.log.poison_because(&err);
        self.poisoned.store(true, Ordering::Release);
        err
    }

    fn closed_error(&self) -> Error {
        Error::Closed {
            durable: self.durable_lsn(),
        }
    }

    /// The `Poisoned` error: the pipeline's first cause (the writer's own, for a failure the
    /// pipeline has not been told of yet). Call it with no lock held.
    fn poisoned_error(&self) -> Error {
        let poison = self.group().poison().cloned();
        match poison {
            Some(poison) => Error::Poisoned(poison.into()),
            None => self.writer().log.poisoned_error().unwrap_or_else(|| {
                Error::Poisoned(PoisonedError::new(
                    self.durable_lsn(),
                    "a group-commit sync failed",
                ))
            }),
        }
    }

    /// Stores the segments' current LSN in the mirror, under the writer lock (so it only moves
    /// forward): after an append, and after a drain, which may append a sync marker.
    fn publish_current(&self, writer: &Locked<D>) {
        self.active_base
            .store(writer.log.active().base_lsn().get(), Ordering::Release);
        self.current
            .store(writer.log.current_lsn().get(), Ordering::Release);
    }

    /// The active segment's base LSN as of the last append (no lock).
    pub(crate) fn active_base(&self) -> Lsn {
        Lsn::new(self.active_base.load(Ordering::Acquire))
    }

    fn writer(&self) -> MutexGuard<'_, Locked<D>> {
        // A panic while holding the lock is a bug; the leader's guard has poisoned the log if it
        // mattered, so the state is still safe to read.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn meta_file(&self) -> MutexGuard<'_, MetaFile<D>> {
        self.meta
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn group(&self) -> MutexGuard<'_, Pipeline> {
        self.group
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a `Wal` dropped without [`Wal::close`] does, as a `BufWriter` would: every record
/// appended is handed to the OS (the segment's buffer written), so it survives this process
/// ending or crashing afterwards. Nothing is synced: a record no commit, `wait_durable`, `sync`
/// or `shutdown` covered may be lost in a power loss or an OS crash. A poisoned log writes
/// nothing more; a shut-down one only the appends that raced its shutdown. A failure is reported
/// through `tracing` (a destructor cannot return it); call [`Wal::close`] to see it.
impl<D: SegmentDir> Drop for Wal<D> {
    fn drop(&mut self) {
        if self.poisoned.load(Ordering::Acquire) {
            return;
        }
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(err) = writer.log.drain() {
            tracing::error!(
                error = %err,
                durable_lsn = self.durable.load(Ordering::Acquire),
                "walden: dropping the log could not hand its last appends to the OS"
            );
        }
    }
}

/// Fails the lead if a leader returns early or unwinds without publishing: redeems its ticket
/// with the failure once its sync began, or abandons the lead before that.
struct LeadGuard<'a, D: SegmentDir> {
    wal: &'a Wal<D>,
    lead: Lead,
    ticket: Option<SyncTicket>,
    finished: bool,
}

impl<D: SegmentDir> LeadGuard<'_, D> {
    fn fail(&mut self, cause: Cause) {
        if self.finished {
            return;
        }
        self.finished = true;
        // Poison the writer too (a no-op if the failure already did), so that no later call
        // reports durability the failed sync did not give.
        let _ = self
            .wal
            .writer()
            .log
            .mark_sync_failed(std::io::Error::other(cause.message.clone()));
        self.wal.poisoned.store(true, Ordering::Release);
        {
            let mut group = self.wal.group();
            let _failed = match self.ticket.take() {
                Some(ticket) => group.finish_sync(ticket, Err(cause)).err(),
                None => Some(group.abandon_lead(self.lead, cause)),
            };
        }
        self.wal.woken.notify_all();
    }
}

impl<D: SegmentDir> Drop for LeadGuard<'_, D> {
    fn drop(&mut self) {
        self.fail(Cause::other("a group-commit leader failed (it unwound)"));
    }
}
