//! [`WorkerLog`]: the log a worker serves: the core's [`LogWriter`] for the bytes, the core's
//! [`Pipeline`] for who waits on which flush, what is durable and what failed, and the requests
//! of the page waiting on them.
//!
//! It is pure over any [`Storage`] (no clock, no JavaScript), so its group-commit behaviour is
//! tested natively on [`walden_core::MemStorage`] and in the browser on OPFS.
//!
//! The group-commit window is the worker's event loop: the worker calls [`WorkerLog::commit`]
//! for every commit message as it arrives (appending at once, and registering the commit with
//! the state machine), and calls [`WorkerLog::flush`] from a task it schedules after the
//! messages already queued, so one flush covers every commit that arrived before it ran.
//! Commits that arrive while a flush runs (the worker is blocked in `flush()`) are handled after
//! it, and go into the next one.
//!
//! Invariants:
//! - Recovery is the core writer's: a torn tail is truncated (and synced) before any append;
//!   a foreign or newer file, or mid-log corruption, is refused untouched. The log syncs once
//!   on open, so recovered records are durable and readable.
//! - A commit is answered `Ok` only after a flush covering its record succeeded; every commit is
//!   answered exactly once (`Ok`, or the error of the flush that failed it).
//! - The pipeline is the one owner of durability and of the failure: a flush is drain, then
//!   [`Pipeline::begin_sync`], then OPFS `flush()`, then [`Pipeline::finish_sync`] with its
//!   result, and nothing else publishes a durable LSN. A failed drain or flush poisons it (the
//!   writer, which saw the failure, refuses too); so does a full buffer's failed drain on the
//!   append path ([`Pipeline::write_failed`]). Every path that appends or reports durability
//!   asks the pipeline first, so every pending and later commit is refused, naming the first
//!   cause, until the log is reopened. The durable LSN never moves after.
//! - `read` returns only records below the durable LSN, each checked by the codec.

use crate::events::{EventLog, LogEvent};
use crate::log_error::{LogError, StorageFailure};
use std::collections::BTreeMap;
use walden_core::{
    Cause, Completion, Decision, Failed, Lead, LogWriter, Lsn, Pipeline, Records, Storage,
    TailKind, WaiterId, WriterOptions, FRAME_HEADER_LEN,
};

/// The page's identifier for one request, echoed in its answer.
pub type RequestId = u64;

/// When commits are flushed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlushPolicy {
    /// One flush covers every commit that arrived before it ran (group commit). The default.
    #[default]
    Grouped,
    /// Every commit gets its own flush, at once: the baseline the benchmark compares against.
    PerCommit,
}

/// How a worker log is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// The core writer's options (durability, recovery mode, payload limit, buffer size,
    /// preallocation).
    pub writer: WriterOptions,
    /// When commits are flushed.
    pub flush_policy: FlushPolicy,
}

/// What became of a commit request at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The record (at this LSN) is already durable; answer now.
    Durable(Lsn),
    /// The record (at this LSN) is appended and waits for a flush: the answer comes from
    /// [`WorkerLog::flush`].
    Queued(Lsn),
    /// Nothing was appended, or the log is poisoned; answer with this error now.
    Failed(LogError),
}

/// The answers one flush produced, one per commit it carried, in the order they were covered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlushReport {
    /// `(request, Ok(record LSN))` for each commit made durable, or the error that failed it.
    pub answers: Vec<(RequestId, Result<Lsn, LogError>)>,
    /// The durable LSN after the flush.
    pub durable: Lsn,
}

/// Counters and watermarks of a worker log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// The LSN of the first byte of the log.
    pub base_lsn: Lsn,
    /// The end of what was appended.
    pub current_lsn: Lsn,
    /// The end of what was handed to OPFS.
    pub written_lsn: Lsn,
    /// The end of what is durable.
    pub durable_lsn: Lsn,
    /// Records recovery found when the log was opened.
    pub recovered_records: u64,
    /// Bytes recovery cut off after the valid records when the log was opened (a torn tail;
    /// preallocated zeros that are kept do not count).
    pub truncated_bytes: u64,
    /// Plain appends since open.
    pub appends: u64,
    /// Commits since open.
    pub commits: u64,
    /// Successful flushes since open.
    pub flushes: u64,
    /// Commits acknowledged by those flushes.
    pub commits_flushed: u64,
    /// The most commits one flush carried.
    pub max_commits_per_flush: u64,
    /// Time spent in drains and flushes (successful or not) since open, in microseconds, by the
    /// clock the worker passes to [`WorkerLog::flush`].
    pub flush_micros_total: u64,
    /// Commits appended and waiting for a flush.
    pub pending_commits: u64,
    /// Whether a flush failed (the log must be reopened).
    pub poisoned: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    request: RequestId,
    lsn: Lsn,
}

/// A recovered log and the commits waiting on it. See the module documentation.
#[derive(Debug)]
pub struct WorkerLog<S: Storage> {
    writer: LogWriter<S>,
    pipeline: Pipeline<EventLog>,
    policy: FlushPolicy,
    /// The commit that leads the next flush, once one is pending.
    lead: Option<(Lead, Pending)>,
    /// Commits waiting for the next flush, the leader not included.
    waiting: BTreeMap<WaiterId, Pending>,
    /// Answers to commits failed outside a flush (a full buffer's drain failed while they
    /// waited); the next flush delivers them.
    owed: Vec<(RequestId, Result<Lsn, LogError>)>,
    records_since_flush: u64,
    truncated_bytes: u64,
    stats: LogStats,
}

impl<S: Storage> WorkerLog<S>
where
    S::Error: StorageFailure,
{
    /// Recovers the log on `storage` (a new one gets a header with `salt_if_new`) and syncs
    /// once, so every recovered record is durable and readable.
    pub fn recover(storage: S, options: LogOptions, salt_if_new: u64) -> Result<Self, LogError> {
        let mut writer = LogWriter::recover(storage, options.writer, salt_if_new)?;
        // A zero-filled tail is preallocated space the writer keeps (with preallocation on);
        // anything else after the valid records was cut off.
        let kept_zeros = options.writer.preallocate_bytes > 0;
        let truncated_bytes = writer.recovery().tail.map_or(0, |tail| match tail.kind {
            TailKind::Zeroed if kept_zeros => 0,
            _ => tail.bytes,
        });
        let durable = writer.sync()?;
        let stats = LogStats {
            recovered_records: writer.recovery().records,
            truncated_bytes,
            ..LogStats::default()
        };
        Ok(WorkerLog {
            writer,
            pipeline: Pipeline::with_events(durable, EventLog::default()),
            policy: options.flush_policy,
            lead: None,
            waiting: BTreeMap::new(),
            owed: Vec::new(),
            records_since_flush: 0,
            truncated_bytes,
            stats,
        })
    }

    /// Appends a record without waiting for durability; returns its LSN.
    pub fn append(&mut self, payload: &[u8]) -> Result<Lsn, LogError> {
        self.check()?;
        let lsn = self
            .writer
            .append(payload)
            .map_err(|err| self.append_failed(err.into()))?
            .lsn();
        self.stats.appends += 1;
        self.records_since_flush += 1;
        let current = self.writer.current_lsn();
        self.events().push(LogEvent::Appended {
            lsn,
            current,
            commit: false,
        });
        Ok(lsn)
    }

    /// Appends a record for `request` and registers it for the next flush. See
    /// [`CommitOutcome`]. With [`FlushPolicy::PerCommit`] the caller flushes at once.
    pub fn commit(&mut self, request: RequestId, payload: &[u8]) -> CommitOutcome {
        if let Err(err) = self.check() {
            return CommitOutcome::Failed(err);
        }
        let (lsn, target) = match self.writer.append(payload) {
            Ok(appended) => (appended.lsn(), appended.end()),
            Err(err) => return CommitOutcome::Failed(self.append_failed(err.into())),
        };
        self.stats.commits += 1;
        self.records_since_flush += 1;
        self.events().push(LogEvent::Appended {
            lsn,
            current: target,
            commit: true,
        });
        let pending = Pending { request, lsn };
        match self.pipeline.request(target) {
            Decision::Durable => CommitOutcome::Durable(lsn),
            Decision::Lead(lead) => {
                self.lead = Some((lead, pending));
                CommitOutcome::Queued(lsn)
            }
            Decision::Wait(waiter) => {
                self.waiting.insert(waiter, pending);
                CommitOutcome::Queued(lsn)
            }
            // `check` above refused a poisoned log, and appending cannot poison the pipeline
            // without failing here first.
            Decision::Failed(_) => CommitOutcome::Failed(self.poisoned_error()),
        }
    }

    /// `Err(Poisoned)`, naming the first cause, once the log is poisoned: every path that
    /// appends or reports durability asks this first.
    fn check(&self) -> Result<(), LogError> {
        self.pipeline.check().map_err(LogError::poisoned)
    }

    fn poisoned_error(&self) -> LogError {
        match self.pipeline.check() {
            Err(poison) => LogError::poisoned(poison),
            Ok(()) => LogError::internal("the state machine refused a healthy log"),
        }
    }

    /// An append failed with `err`. If its drain of the full buffer failed, the writer poisoned
    /// itself: the pipeline is told ([`Pipeline::write_failed`]), and the commits waiting for a
    /// flush are owed `err`, delivered by the next flush. Returns `err`.
    fn append_failed(&mut self, err: LogError) -> LogError {
        let Some(cause) = self.writer.poisoned() else {
            // Refused before anything was written (e.g. too large): nothing failed.
            return err;
        };
        let failed = self.pipeline.write_failed(Cause::write(cause));
        let leader = self.lead.take();
        let owed = self.fail_pending(failed, leader, &err);
        self.owed.extend(owed);
        err
    }

    /// Answers with `err` every commit `failed` names (and, defensively, any other still
    /// pending: a poisoned pipeline has nobody waiting).
    fn fail_pending(
        &mut self,
        failed: Failed,
        leader: Option<(Lead, Pending)>,
        err: &LogError,
    ) -> Vec<(RequestId, Result<Lsn, LogError>)> {
        let mut answers = Vec::with_capacity(failed.failed.len());
        for waiter in &failed.failed {
            let pending = match leader {
                Some((lead, pending)) if lead.leader == *waiter => Some(pending),
                _ => self.waiting.remove(waiter),
            };
            if let Some(pending) = pending {
                answers.push((pending.request, Err(err.clone())));
            }
        }
        debug_assert!(
            self.waiting.is_empty(),
            "the pipeline failed every waiting commit"
        );
        for (_, pending) in core::mem::take(&mut self.waiting) {
            answers.push((pending.request, Err(err.clone())));
        }
        answers
    }

    /// Whether commits wait for a flush: the worker schedules [`WorkerLog::flush`] when true.
    pub fn flush_due(&self) -> bool {
        self.lead.is_some() || !self.owed.is_empty()
    }

    /// The flush policy the log was opened with.
    pub fn flush_policy(&self) -> FlushPolicy {
        self.policy
    }

    /// Drains everything appended, flushes it, and answers every commit the flush covered (or
    /// failed), after any answers owed from a failure outside a flush. `clock_ms` times the
    /// flush for its event. A no-op when no commit waits.
    ///
    /// The sequence is the pipeline's: drain ([`LogWriter::drain`]; a failure abandons the
    /// lead), [`Pipeline::begin_sync`], OPFS `flush()` (through [`LogWriter::flush_until`],
    /// which finds the buffer drained), then [`Pipeline::finish_sync`] with its result, which
    /// alone publishes the durable LSN or poisons.
    pub fn flush(&mut self, clock_ms: &dyn Fn() -> f64) -> FlushReport {
        let owed = core::mem::take(&mut self.owed);
        let Some((lead, leader)) = self.lead.take() else {
            return FlushReport {
                answers: owed,
                durable: self.pipeline.durable(),
            };
        };
        let started_ms = clock_ms();
        let records = core::mem::take(&mut self.records_since_flush);
        let written = match self.writer.drain() {
            Ok(written) => written,
            Err(err) => {
                let err = LogError::from(err);
                let failed = self
                    .pipeline
                    .abandon_lead(lead, Cause::write(err.to_string()));
                return self.flush_failed(
                    failed,
                    (lead, leader),
                    &err,
                    owed,
                    records,
                    started_ms,
                    clock_ms,
                );
            }
        };
        let ticket = match self.pipeline.begin_sync(lead, written) {
            Ok(ticket) => ticket,
            Err(failed) => {
                let err = LogError::internal(&failed.poison);
                return self.flush_failed(
                    failed,
                    (lead, leader),
                    &err,
                    owed,
                    records,
                    started_ms,
                    clock_ms,
                );
            }
        };
        let commits = 1 + self.waiting.len();
        self.events().push(LogEvent::Drained { written });
        self.events().push(LogEvent::FlushStarted {
            upto: written,
            commits,
        });
        let flushed = self.writer.flush_until(written).map_err(LogError::from);
        let io_result = match &flushed {
            Ok(_) => Ok(()),
            Err(err) => Err(Cause::sync(err.to_string())),
        };
        match self.pipeline.finish_sync(ticket, io_result) {
            Ok(completion) => self.flush_succeeded(
                completion,
                (lead, leader),
                owed,
                records,
                started_ms,
                clock_ms,
            ),
            Err(failed) => {
                let err = match flushed {
                    Err(err) => err,
                    Ok(_) => LogError::internal(&failed.poison),
                };
                self.flush_failed(
                    failed,
                    (lead, leader),
                    &err,
                    owed,
                    records,
                    started_ms,
                    clock_ms,
                )
            }
        }
    }

    fn flush_succeeded(
        &mut self,
        completion: Completion,
        (lead, leader): (Lead, Pending),
        mut answers: Vec<(RequestId, Result<Lsn, LogError>)>,
        records: u64,
        started_ms: f64,
        clock_ms: &dyn Fn() -> f64,
    ) -> FlushReport {
        let owed = answers.len();
        answers.reserve(completion.covered.len());
        for waiter in &completion.covered {
            let pending = if *waiter == lead.leader {
                Some(leader)
            } else {
                self.waiting.remove(waiter)
            };
            if let Some(pending) = pending {
                answers.push((pending.request, Ok(pending.lsn)));
            }
        }
        if let Some(next) = completion.next_leader {
            let pending = self.waiting.remove(&next.leader);
            debug_assert!(pending.is_some(), "the next leader is a waiting commit");
            if let Some(pending) = pending {
                self.lead = Some((next, pending));
            }
        }
        let commits = (answers.len() - owed) as u64;
        self.stats.flushes += 1;
        self.stats.commits_flushed += commits;
        self.stats.max_commits_per_flush = self.stats.max_commits_per_flush.max(commits);
        let elapsed_ms = clock_ms() - started_ms;
        self.stats.flush_micros_total += micros(elapsed_ms);
        self.events().push(LogEvent::FlushFinished {
            durable: completion.durable,
            commits: commits as usize,
            records,
            elapsed_ms,
            ok: true,
        });
        FlushReport {
            answers,
            durable: completion.durable,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn flush_failed(
        &mut self,
        failed: Failed,
        leader: (Lead, Pending),
        err: &LogError,
        mut answers: Vec<(RequestId, Result<Lsn, LogError>)>,
        records: u64,
        started_ms: f64,
        clock_ms: &dyn Fn() -> f64,
    ) -> FlushReport {
        answers.extend(self.fail_pending(failed, Some(leader), err));
        let elapsed_ms = clock_ms() - started_ms;
        self.stats.flush_micros_total += micros(elapsed_ms);
        let durable = self.pipeline.durable();
        self.events().push(LogEvent::FlushFinished {
            durable,
            commits: 0,
            records,
            elapsed_ms,
            ok: false,
        });
        FlushReport { answers, durable }
    }

    /// Records from `from` (a record boundary) up to the durable LSN, at most about
    /// `max_bytes` of frames (always at least one record when one is durable there).
    pub fn read(&self, from: Lsn, max_bytes: usize) -> Result<Vec<(Lsn, Vec<u8>)>, LogError> {
        self.read_page(from, max_bytes).map(|(records, _)| records)
    }

    /// As [`WorkerLog::read`], and where the next read starts: just past the last record
    /// returned (and any sync marker after it), or `from` when none was.
    #[allow(clippy::type_complexity)]
    pub fn read_page(
        &self,
        from: Lsn,
        max_bytes: usize,
    ) -> Result<(Vec<(Lsn, Vec<u8>)>, Lsn), LogError> {
        let base = self.writer.base_lsn();
        // The LSN commits were acknowledged up to (with `Durability::Buffered`, what was
        // drained into storage): everything below it is in storage, none of it in the buffer.
        let durable = self.pipeline.durable();
        if from < base {
            return Err(LogError::BadRequest {
                message: format!(
                    "cannot read from LSN {from}: the log starts at LSN {base} (older records \
                     were truncated away)"
                ),
            });
        }
        if from >= durable {
            return Ok((Vec::new(), from));
        }
        // One record of the largest size, and the sync marker that may precede it.
        let one_record = self.writer.options().max_payload_len as usize
            + FRAME_HEADER_LEN
            + walden_core::MARKER_FRAME_LEN;
        let available = usize::try_from(durable.get() - from.get()).unwrap_or(usize::MAX);
        let len = available.min(max_bytes.max(one_record));
        let mut body = vec![0u8; len];
        let offset = self.writer.header().body_offset() + (from.get() - base.get());
        let read = self
            .writer
            .storage()
            .read_at(offset, &mut body)
            .map_err(|err| err.to_log_error("reading the log"))?;
        if read != len {
            return Err(LogError::Io {
                message: format!(
                    "reading the log returned {read} of {len} durable bytes at LSN {from}: the \
                     file is shorter than its durable LSN; reopen the log to recover"
                ),
            });
        }
        let mut records = Records::new(self.writer.codec(), from, &body);
        let out: Vec<(Lsn, Vec<u8>)> = records
            .by_ref()
            .map(|record| (record.lsn, record.payload.to_vec()))
            .collect();
        let cut_short = len < available;
        let next = records.lsn();
        match records.damage() {
            None => Ok((out, next)),
            Some(walden_core::Damage::Incomplete { .. }) if cut_short && !out.is_empty() => {
                Ok((out, next))
            }
            Some(damage) if out.is_empty() => Err(LogError::BadRequest {
                message: format!(
                    "cannot read from LSN {from}: no record starts there ({damage}); read from \
                     an LSN that append or commit returned"
                ),
            }),
            Some(damage) => Err(LogError::Corrupt {
                message: format!(
                    "the durable record at LSN {} is damaged ({damage}); reopen the log to let \
                     recovery decide",
                    records.lsn()
                ),
            }),
        }
    }

    /// Where the next record of `payload_len` bytes will start, when that is known before it is
    /// appended and none of it can reach storage until the next drain: see
    /// [`walden_core::LogWriter::append_stays_buffered`]. `None` when the buffer must drain
    /// first or the record is larger than the buffer: after [`WorkerLog::drain`] it starts at
    /// [`WorkerLog::current_lsn`] (and an oversized one is written as it is appended). A record
    /// [`WorkerLog::refuses`] is never appended.
    pub fn next_record_lsn(&self, payload_len: usize) -> Option<Lsn> {
        (!self.refuses(payload_len) && self.writer.append_stays_buffered(payload_len))
            .then(|| self.writer.current_lsn())
    }

    /// Whether appending a record of `payload_len` bytes would fail before anything is written:
    /// the log is poisoned, or the payload is over the limit.
    pub fn refuses(&self, payload_len: usize) -> bool {
        self.check().is_err() || payload_len > self.writer.options().max_payload_len as usize
    }

    /// Hands the buffer to storage without syncing (its commits still wait for a flush). A
    /// failed write poisons the log, and the commits waiting are owed the error.
    pub fn drain(&mut self) -> Result<Lsn, LogError> {
        self.check()?;
        match self.writer.drain() {
            Ok(written) => Ok(written),
            Err(err) => Err(self.append_failed(err.into())),
        }
    }

    /// The end of what was appended: where the next record goes, unless a drain adds a sync
    /// marker first.
    pub fn current_lsn(&self) -> Lsn {
        self.writer.current_lsn()
    }

    /// What recovery found when the log was opened, in the mode it ran in, and whether it cut
    /// the tail it reports.
    pub fn recovery(&self) -> (&walden_core::Recovery, walden_core::RecoveryMode, bool) {
        (
            self.writer.recovery(),
            self.writer.options().recovery_mode,
            self.writer.recovery_cut_tail(),
        )
    }

    /// Starts or stops recording events.
    pub fn set_observing(&mut self, observing: bool) {
        self.events().set_observing(observing);
    }

    /// Takes the events recorded since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<LogEvent> {
        self.events().take()
    }

    /// The durable LSN.
    pub fn durable_lsn(&self) -> Lsn {
        self.pipeline.durable()
    }

    /// Counters and watermarks.
    pub fn stats(&self) -> LogStats {
        LogStats {
            base_lsn: self.writer.base_lsn(),
            current_lsn: self.writer.current_lsn(),
            written_lsn: self.writer.written_lsn(),
            durable_lsn: self.pipeline.durable(),
            truncated_bytes: self.truncated_bytes,
            pending_commits: self.waiting.len() as u64 + u64::from(self.lead.is_some()),
            poisoned: self.pipeline.poison().is_some(),
            ..self.stats
        }
    }

    /// The writer (for tests and tools).
    pub fn writer(&self) -> &LogWriter<S> {
        &self.writer
    }

    /// The writer, mutably (for tests that inject faults).
    pub fn writer_mut(&mut self) -> &mut LogWriter<S> {
        &mut self.writer
    }

    /// Discards every record, keeping LSNs growing: for an app that has saved what it needs of
    /// them (a snapshot), so the file and the next recovery stay small. Flushes what waits
    /// (answering those commits), then the core writer's `truncate` syncs everything appended,
    /// rewrites the header with the current LSN as its base, and cuts the file to the header (a
    /// crash in between leaves old frames whose LSNs no longer match the header: recovery drops
    /// them as a torn tail). Returns the flush's answers and the new base LSN, where the next
    /// record starts. A poisoned log refuses, and nothing is discarded.
    pub fn truncate(&mut self, clock_ms: &dyn Fn() -> f64) -> (FlushReport, Result<Lsn, LogError>) {
        let mut report = self.flush(clock_ms);
        // One flush covers every commit appended so far (the worker is single-threaded, so none
        // arrive meanwhile); this loop only guards that nothing is left waiting if that ever
        // changes. Each pass either covers every waiter or fails and poisons: it ends.
        while self.flush_due() {
            let more = self.flush(clock_ms);
            report.answers.extend(more.answers);
            report.durable = more.durable;
        }
        if let Err(err) = self.check() {
            return (report, Err(err));
        }
        match self.writer.truncate() {
            Ok(_) => {
                let base = self.writer.base_lsn();
                // Nothing waits, and the writer synced everything up to the new base: the
                // pipeline starts over there, keeping its event log.
                let events = core::mem::take(self.pipeline.events_mut());
                self.pipeline = Pipeline::with_events(base, events);
                report.durable = base;
                (report, Ok(base))
            }
            Err(err) => {
                let err = LogError::from(err);
                // A failed sync, header rewrite or truncation outside any commit's flush.
                let failed = self.pipeline.write_failed(Cause::other(err.to_string()));
                let owed = self.fail_pending(failed, None, &err);
                report.answers.extend(owed);
                (report, Err(err))
            }
        }
    }

    /// Flushes what waits, then closes the writer (which syncs everything appended and moves
    /// the sync mark) and returns the storage with the final durable LSN.
    pub fn close(
        mut self,
        clock_ms: &dyn Fn() -> f64,
    ) -> (FlushReport, Result<(Lsn, S), LogError>) {
        let report = self.flush(clock_ms);
        if let Err(err) = self.check() {
            return (report, Err(err));
        }
        let closed = self.writer.close().map_err(LogError::from);
        (report, closed)
    }

    fn events(&mut self) -> &mut EventLog {
        self.pipeline.events_mut()
    }
}

/// Whole microseconds in a non-negative duration in milliseconds (a clock that went back counts
/// as zero).
fn micros(elapsed_ms: f64) -> u64 {
    (elapsed_ms.max(0.0) * 1000.0).round() as u64
}
