//! [`WorkerLog`]: the log a worker serves: the core's [`LogWriter`] for the bytes, the core's
//! [`GroupCommit`] for who waits on which flush, and the requests of the page waiting on them.
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
//! - A failed drain or flush poisons both the writer and the state machine: every pending and
//!   later commit is refused until the log is reopened. The durable LSN never moves after.
//! - `read` returns only records below the durable LSN, each checked by the codec.

use crate::events::{EventLog, LogEvent};
use crate::log_error::{LogError, StorageFailure};
use std::collections::BTreeMap;
use walden_core::{
    Decision, GroupCommit, Lead, LogWriter, Lsn, Records, Storage, TailKind, WaiterId,
    WriterOptions, FRAME_HEADER_LEN, HEADER_LEN,
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
    group: GroupCommit<EventLog>,
    policy: FlushPolicy,
    /// The commit that leads the next flush, once one is pending.
    lead: Option<(Lead, Pending)>,
    /// Commits waiting for the next flush, the leader not included.
    waiting: BTreeMap<WaiterId, Pending>,
    /// What failed first, once the log is poisoned.
    poison_cause: Option<String>,
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
            group: GroupCommit::with_events(durable, EventLog::default()),
            policy: options.flush_policy,
            lead: None,
            waiting: BTreeMap::new(),
            poison_cause: None,
            records_since_flush: 0,
            truncated_bytes,
            stats,
        })
    }

    /// Appends a record without waiting for durability; returns its LSN.
    pub fn append(&mut self, payload: &[u8]) -> Result<Lsn, LogError> {
        let lsn = self.writer.append(payload)?.lsn();
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
        let (lsn, target) = match self.writer.append(payload) {
            Ok(appended) => (appended.lsn(), appended.end()),
            Err(err) => return CommitOutcome::Failed(err.into()),
        };
        self.stats.commits += 1;
        self.records_since_flush += 1;
        self.events().push(LogEvent::Appended {
            lsn,
            current: target,
            commit: true,
        });
        let pending = Pending { request, lsn };
        match self.group.request(target) {
            Decision::Durable => CommitOutcome::Durable(lsn),
            Decision::Lead(lead) => {
                self.lead = Some((lead, pending));
                CommitOutcome::Queued(lsn)
            }
            Decision::Wait(waiter) => {
                self.waiting.insert(waiter, pending);
                CommitOutcome::Queued(lsn)
            }
            Decision::Failed(poisoned) => CommitOutcome::Failed(LogError::poisoned(
                poisoned,
                self.poison_cause
                    .as_deref()
                    .unwrap_or("an earlier flush failed"),
            )),
        }
    }

    /// Whether commits wait for a flush: the worker schedules [`WorkerLog::flush`] when true.
    pub fn flush_due(&self) -> bool {
        self.lead.is_some()
    }

    /// The flush policy the log was opened with.
    pub fn flush_policy(&self) -> FlushPolicy {
        self.policy
    }

    /// Drains everything appended, flushes it, and answers every commit the flush covered (or
    /// failed). `clock_ms` times the flush for its event. A no-op when no commit waits.
    pub fn flush(&mut self, clock_ms: &dyn Fn() -> f64) -> FlushReport {
        let Some((lead, leader)) = self.lead.take() else {
            return FlushReport {
                answers: Vec::new(),
                durable: self.group.durable(),
            };
        };
        let started_ms = clock_ms();
        let records = core::mem::take(&mut self.records_since_flush);
        match self.drain_and_flush(lead) {
            Ok(()) => self.flush_succeeded(lead, leader, records, started_ms, clock_ms),
            Err(err) => self.flush_failed(lead, leader, &err, records, started_ms, clock_ms),
        }
    }

    fn drain_and_flush(&mut self, lead: Lead) -> Result<(), LogError> {
        let written = self.writer.drain()?;
        self.group
            .sync_started(lead, written)
            .map_err(LogError::internal)?;
        let commits = 1 + self.waiting.len();
        self.events().push(LogEvent::Drained { written });
        self.events().push(LogEvent::FlushStarted {
            upto: written,
            commits,
        });
        self.writer.flush_until(written)?;
        Ok(())
    }

    fn flush_succeeded(
        &mut self,
        lead: Lead,
        leader: Pending,
        records: u64,
        started_ms: f64,
        clock_ms: &dyn Fn() -> f64,
    ) -> FlushReport {
        let completion = match self.group.sync_succeeded(lead) {
            Ok(completion) => completion,
            Err(err) => {
                let err = LogError::internal(err);
                return self.flush_failed(lead, leader, &err, records, started_ms, clock_ms);
            }
        };
        let mut answers = Vec::with_capacity(completion.covered.len());
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
            if let Some(pending) = self.waiting.remove(&next.leader) {
                self.lead = Some((next, pending));
            }
        }
        let commits = answers.len() as u64;
        self.stats.flushes += 1;
        self.stats.commits_flushed += commits;
        self.stats.max_commits_per_flush = self.stats.max_commits_per_flush.max(commits);
        let elapsed_ms = clock_ms() - started_ms;
        self.stats.flush_micros_total += micros(elapsed_ms);
        self.events().push(LogEvent::FlushFinished {
            durable: completion.durable,
            commits: answers.len(),
            records,
            elapsed_ms,
            ok: true,
        });
        FlushReport {
            answers,
            durable: completion.durable,
        }
    }

    fn flush_failed(
        &mut self,
        lead: Lead,
        leader: Pending,
        err: &LogError,
        records: u64,
        started_ms: f64,
        clock_ms: &dyn Fn() -> f64,
    ) -> FlushReport {
        // The writer poisoned itself if its drain or flush failed; a refusal by the state
        // machine (a bug) must stop the log just the same.
        let cause = err.to_string();
        self.writer.poison(cause.clone());
        self.poison_cause.get_or_insert(cause);
        // The state machine answers "not the leader" if it already failed this lead; every
        // pending commit is failed below either way.
        let _ = self.group.sync_failed(lead);
        let mut answers = vec![(leader.request, Err(err.clone()))];
        for (_, pending) in core::mem::take(&mut self.waiting) {
            answers.push((pending.request, Err(err.clone())));
        }
        self.lead = None;
        let elapsed_ms = clock_ms() - started_ms;
        self.stats.flush_micros_total += micros(elapsed_ms);
        let durable = self.group.durable();
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
        let base = self.writer.base_lsn();
        // The LSN commits were acknowledged up to (with `Durability::Buffered`, what was
        // drained into storage): everything below it is in storage, none of it in the buffer.
        let durable = self.group.durable();
        if from < base {
            return Err(LogError::BadRequest {
                message: format!(
                    "cannot read from LSN {from}: the log starts at LSN {base} (older records \
                     were truncated away)"
                ),
            });
        }
        if from >= durable {
            return Ok(Vec::new());
        }
        let one_record = self.writer.options().max_payload_len as usize + FRAME_HEADER_LEN;
        let available = usize::try_from(durable.get() - from.get()).unwrap_or(usize::MAX);
        let len = available.min(max_bytes.max(one_record));
        let mut body = vec![0u8; len];
        let offset = HEADER_LEN as u64 + (from.get() - base.get());
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
        match records.damage() {
            None => Ok(out),
            Some(walden_core::Damage::Incomplete { .. }) if cut_short && !out.is_empty() => Ok(out),
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
        self.group.durable()
    }

    /// Counters and watermarks.
    pub fn stats(&self) -> LogStats {
        LogStats {
            base_lsn: self.writer.base_lsn(),
            current_lsn: self.writer.current_lsn(),
            written_lsn: self.writer.written_lsn(),
            durable_lsn: self.group.durable(),
            truncated_bytes: self.truncated_bytes,
            pending_commits: self.waiting.len() as u64 + u64::from(self.lead.is_some()),
            poisoned: self.poison_cause.is_some() || self.writer.poisoned().is_some(),
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
        // A failed flush poisoned the writer too, so `truncate` refuses with `Poisoned`.
        match self.writer.truncate() {
            Ok(_) => {
                let base = self.writer.base_lsn();
                // Nothing waits, so the state machine starts over at the new durable LSN (the
                // base), keeping its event log.
                let events = core::mem::take(self.group.events_mut());
                self.group = GroupCommit::with_events(base, events);
                report.durable = base;
                (report, Ok(base))
            }
            Err(err) => {
                let err = LogError::from(err);
                self.poison_cause.get_or_insert_with(|| err.to_string());
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
        let closed = self.writer.close().map_err(LogError::from);
        (report, closed)
    }

    fn events(&mut self) -> &mut EventLog {
        self.group.events_mut()
    }
}

/// Whole microseconds in a non-negative duration in milliseconds (a clock that went back counts
/// as zero).
fn micros(elapsed_ms: f64) -> u64 {
    (elapsed_ms.max(0.0) * 1000.0).round() as u64
}
