//! [`SegmentedWriter`]: a log spread over segment files in a [`SegmentDir`], one writer.
//!
//! The active (last) segment is a [`WalWriter`]; the segments before it are sealed: complete and
//! synced, never written again, removed whole by [`SegmentedWriter::checkpoint`].
//!
//! Invariants:
//! - Every segment of a log carries the salt chosen when the log was created, so a record can be
//!   encoded before anyone knows which segment it will land in; a segment with another salt is
//!   from another log and refused on open.
//! - Segment `i` holds exactly the records in `[base_i, base_{i+1})`: a record never spans two
//!   segments, and a new segment's base is the full segment's end.
//! - A segment is *sealed* once it is synced whole and its header's sync mark is at its end.
//!   Only the active segment, and the one before it while its seal runs, can be unsealed.
//! - Durability never passes an unsealed segment's end: a group-commit leader whose sync covers
//!   records past it waits for its seal first (`pending_seal`). So after a crash every
//!   segment but the last two is whole, and if the one before the last is unsealed and cut
//!   short, nothing in the last was acknowledged.
//! - Opening recovers the last segment as the active one; the one before it, if unsealed (its
//!   mark short of its successor's base), is recovered the same way: whole, its seal is
//!   finished; cut short by a power loss, its successor is removed (reported in
//!   `WalRecovery`, `CutReason::Orphaned`) and it is the active segment again. Other segments
//!   have their headers, salts and lengths checked; readers verify every frame they return.
//! - Opening syncs the recovered active segment, so every record recovery kept is durable (and
//!   readable) from the start.
//! - No segment is rotated out while a group-commit leader's sync of it is in flight (between
//!   [`SegmentedWriter::drain_with_handle`] and the leader's report): Linux reports an fsync
//!   error once per file description, so a seal's own sync could succeed after the leader's
//!   failed, and seal a segment with a hole. Rotation waits for the next append after the report.
//! - A failed seal poisons the writer like any failed sync.
//! - A checkpoint removes sealed segments oldest first (a seal in progress finishes first) and
//!   never the active one, so the log stays a contiguous range of LSNs.
//!
//! # Sealing off the append path
//!
//! Sealing a full segment means syncing all of it (up to 64 MiB that no commit synced yet, for a
//! writer that never waits) and then its sync mark: tens of milliseconds. The appending thread
//! that fills a segment only hands its buffer to the OS, creates the successor (temporary name,
//! header synced, rename, directory synced: a small file) and goes on appending into it; a
//! thread of its own (`walden-sealer`) seals the full segment. One seal runs at a time: a
//! segment filled while the previous seal still runs waits for it. The writer waits for a
//! running seal before it is dropped, so no other writer ever opens a segment being sealed.

use crate::error::{io, Error};
use crate::options::WalOptions;
use crate::recovery::{SegmentRecovery, WalRecovery};
use crate::segment_dir::{segment_file_name, SegmentDir};
use crate::shared_sync::SharedSync;
use crate::writer::{random_salt, WalWriter};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use walden_core::{Appended, FileHeader, InputError, Lsn, Storage, SyncMode, BODY_OFFSET};

/// A log over the segment files of `D`. See the module documentation.
#[derive(Debug)]
pub(crate) struct SegmentedWriter<D: SegmentDir> {
    dir: D,
    options: WalOptions,
    /// Base LSNs of the sealed segments, oldest first.
    sealed: Vec<Lsn>,
    active: WalWriter<D::Storage>,
    /// Records appended through segments sealed since opening.
    records_sealed: u64,
    /// A leader took a sync handle of the active segment and has not reported back yet.
    sync_in_flight: bool,
    /// The segment before the active one while a background thread seals it (see
    /// *Sealing off the append path* in the module documentation).
    sealing: Option<Sealing>,
}

/// The name of the thread that seals a full segment after a rotation.
pub const SEALER_THREAD_NAME: &str = "walden-sealer";

/// A full segment being sealed by its own thread: synced, its sync mark moved to its end, and
/// synced again.
#[derive(Debug)]
struct Sealing {
    base: Lsn,
    /// Records appended to it since opening.
    records: u64,
    outcome: Arc<SealOutcome>,
    thread: Option<JoinHandle<()>>,
}

/// Where the sealing thread reports; a leader about to publish durability past the sealing
/// segment's end waits here.
/// A failed seal, kept so that every waiter gets the same error (an `io::Error` is not `Clone`).
#[derive(Clone, Debug)]
struct SealFailure {
    /// What failed (`sync`, `sync of the sync mark`, ...).
    op: &'static str,
    /// The OS's error number, when there was one.
    os_error: Option<i32>,
    /// The error's text otherwise.
    text: String,
}

impl SealFailure {
    fn new(err: &Error) -> SealFailure {
        match err {
            Error::Io { op, source } => SealFailure {
                op,
                os_error: source.raw_os_error(),
                text: source.to_string(),
            },
            other => SealFailure {
                op: "sealing a segment",
                os_error: None,
                text: other.to_string(),
            },
        }
    }

    fn to_error(&self) -> Error {
        let source = match self.os_error {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::other(self.text.clone()),
        };
        Error::Io {
            op: self.op,
            source,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct SealOutcome {
    /// `None` while the seal runs; then the durable end, or what failed.
    result: Mutex<Option<Result<Lsn, SealFailure>>>,
    done: Condvar,
}

impl SealOutcome {
    /// Waits for the seal to finish; returns its durable end, or the failure as the crate's
    /// error.
    pub(crate) fn wait(&self) -> Result<Lsn, Error> {
        let mut result = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*result {
                Some(Ok(end)) => return Ok(*end),
                Some(Err(failure)) => return Err(failure.to_error()),
                None => {
                    result = self
                        .done
                        .wait(result)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
    }

    fn finish(&self, result: Result<Lsn, SealFailure>) {
        *self.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        self.done.notify_all();
    }
}

impl<D: SegmentDir> SegmentedWriter<D> {
    /// Opens the log in `dir`, creating its first segment if there is none. Checks every
    /// segment's header against its name and recovers the active segment (see
    /// [`WalWriter::recover`]); returns it with the report of what recovery found and cut.
    pub(crate) fn open(
        dir: D,
        options: WalOptions,
    ) -> Result<(SegmentedWriter<D>, WalRecovery), Error> {
        let mut bases = dir.list().map_err(io("listing the log's segments"))?;
        let Some(last) = bases.pop() else {
            let active = create_segment(&dir, Lsn::ZERO, random_salt(), options)?;
            let recovery = WalRecovery::new(&[], active.recovery(), active.recovery_cut_tail());
            let writer = SegmentedWriter {
                dir,
                options,
                sealed: Vec::new(),
                active,
                records_sealed: 0,
                sync_in_flight: false,
                sealing: None,
            };
            return Ok((writer, recovery));
        };
        let (storage, active_header) = open_segment(&dir, last)?;
        let mut orphan = None;
        let mut active = match unsealed_predecessor(&dir, &bases, last, options)? {
            Some(previous) if previous.current_lsn() == last => {
                // Whole, only its seal was interrupted: finish it, then go on as usual.
                previous.close()?;
                WalWriter::recover(storage, options)?
            }
            Some(previous) if previous.current_lsn() > last => {
                return Err(Error::SegmentMismatch {
                    segment: segment_file_name(previous.base_lsn()),
                    reason: format!(
                        "its records run to LSN {}, past its successor's base {last}",
                        previous.current_lsn()
                    ),
                });
            }
            Some(previous) => {
                // It ends short of its successor: a power loss took writes the seal never
                // synced. The successor cannot hold an acknowledged record (durability passes
                // a segment's end only once its seal is done), so it goes, and the predecessor,
                // cut where its records end, is the active segment again. Only a successor of
                // this log, though: a foreign file is never removed.
                if active_header.salt != previous.codec().salt() {
                    return Err(Error::SegmentMismatch {
                        segment: segment_file_name(last),
                        reason: String::from("the file belongs to another log (its salt differs)"),
                    });
                }
                let size = storage.size().map_err(io("reading a segment's size"))?;
                drop(storage);
                orphan = Some(SegmentRecovery::removed(
                    last,
                    size.saturating_sub(active_header.body_offset()),
                    previous.current_lsn(),
                ));
                dir.remove(last)
                    .map_err(io("removing a segment whose predecessor was cut"))?;
                tracing::warn!(
                    segment = %last,
                    predecessor_end = %previous.current_lsn(),
                    "walden: removed a segment whose unsealed predecessor was cut short"
                );
                bases.pop();
                previous
            }
            None => WalWriter::recover(storage, options)?,
        };
        let salt = active.codec().salt();
        let sealed: Vec<Lsn> = bases
            .iter()
            .copied()
            .filter(|&base| base != active.base_lsn())
            .collect();
        let successors = sealed.iter().skip(1).copied().chain([active.base_lsn()]);
        for (&base, successor) in sealed.iter().zip(successors) {
            check_sealed_header(&dir, base, successor, salt)?;
        }
        if active.current_lsn() > active.durable_lsn() {
            // What recovery kept may still sit in the page cache of the process that wrote it:
            // one sync makes it durable, so readers (who see only durable records) see it.
            active.sync()?;
        }
        bases.retain(|&base| base != active.base_lsn());
        let mut recovery = WalRecovery::new(&bases, active.recovery(), active.recovery_cut_tail());
        recovery.segments.extend(orphan);
        let writer = SegmentedWriter {
            dir,
            options,
            sealed: bases,
            active,
            records_sealed: 0,
            sync_in_flight: false,
            sealing: None,
        };
        Ok((writer, recovery))
    }

    /// The base LSN of every segment, oldest first, the active one last.
    pub(crate) fn segments(&self) -> Vec<Lsn> {
        let mut bases = self.sealed.clone();
        bases.extend(self.sealing.as_ref().map(|sealing| sealing.base));
        bases.push(self.active.base_lsn());
        bases
    }

    /// The first LSN the log holds (the oldest segment's base).
    pub(crate) fn first_lsn(&self) -> Lsn {
        self.sealed
            .first()
            .copied()
            .or(self.sealing.as_ref().map(|sealing| sealing.base))
            .unwrap_or_else(|| self.active.base_lsn())
    }

    /// The active segment's writer.
    pub(crate) fn active(&self) -> &WalWriter<D::Storage> {
        &self.active
    }

    /// The end of what was appended.
    pub(crate) fn current_lsn(&self) -> Lsn {
        self.active.current_lsn()
    }

    /// The end of what was handed to the OS.
    pub(crate) fn written_lsn(&self) -> Lsn {
        self.active.written_lsn()
    }

    /// The end of what is durable.
    pub(crate) fn durable_lsn(&self) -> Lsn {
        self.active.durable_lsn()
    }

    /// Records appended since opening.
    pub(crate) fn records_appended(&self) -> u64 {
        let sealing = self.sealing.as_ref().map_or(0, |sealing| sealing.records);
        self.records_sealed + sealing + self.active.records_appended()
    }

    /// Appends one record (starting a new segment first if the active one is full); returns
    /// where it lies.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<Appended, Error> {
        self.rotate_if_full()?;
        self.active.append(payload)
    }

    /// Makes everything up to `target` durable (see [`WalWriter::flush_until`]).
    pub(crate) fn flush_until(&mut self, target: Lsn) -> Result<Lsn, Error> {
        self.active.flush_until(target)
    }

    /// Publishes `lsn` as durable after a group-commit leader's sync; stale values (including
    /// ones from a segment sealed since) are no-ops.
    pub(crate) fn mark_durable(&mut self, lsn: Lsn) -> Result<bool, Error> {
        self.sync_in_flight = false;
        self.active.mark_durable(lsn)
    }

    /// Ends a leader's sync without publishing it (what it covered cannot be reported durable:
    /// the predecessor's seal failed). The caller poisons the writer.
    pub(crate) fn mark_durable_failed(&mut self) {
        self.sync_in_flight = false;
    }

    /// Reports a failed sync done outside the writer: poisons it.
    pub(crate) fn mark_sync_failed(&mut self, err: std::io::Error) -> Error {
        self.sync_in_flight = false;
        self.active.mark_sync_failed(err)
    }

    /// Poisons the active segment's writer because of `cause` (see
    /// [`WalWriter::poison_because`]).
    pub(crate) fn poison_because(&mut self, cause: &Error) {
        self.active.poison_because(cause);
    }

    /// The `Poisoned` error once a write or sync has failed.
    pub(crate) fn poisoned_error(&self) -> Option<Error> {
        self.active.poisoned_error()
    }

    /// Hands the active segment's buffer to the OS, without syncing; returns the written LSN.
    pub(crate) fn drain(&mut self) -> Result<Lsn, Error> {
        self.active.drain()
    }

    /// Drains and syncs the active segment, leaving its header as it is (a truncation's sync).
    pub(crate) fn sync_active(&mut self) -> Result<(), Error> {
        self.active.sync().map(|_| ())
    }

    /// Drains and syncs the active segment, and moves its sync mark to the end (see
    /// [`WalWriter::seal`]); it stays the active segment. Returns the durable LSN.
    pub(crate) fn seal_active(&mut self) -> Result<Lsn, Error> {
        self.collect_seal(true)?;
        self.active.seal()
    }

    /// Removes every sealed segment that holds only records below `lsn` (the caller no longer
    /// needs them, e.g. after a checkpoint of its own state), oldest first, each removal synced.
    /// The active segment is never removed. Returns the log's new first LSN. A poisoned log is
    /// refused with [`Error::Poisoned`], and nothing is removed.
    pub(crate) fn checkpoint(&mut self, lsn: Lsn) -> Result<Lsn, Error> {
        if let Some(err) = self.poisoned_error() {
            return Err(err);
        }
        // Only sealed segments are removed: a seal in progress finishes first.
        self.collect_seal(true)?;
        if lsn > self.current_lsn() {
            return Err(InputError::BeyondCurrent {
                target: lsn,
                current: self.current_lsn(),
            }
            .into());
        }
        while !self.sealed.is_empty() {
            let end = self
                .sealed
                .get(1)
                .copied()
                .unwrap_or_else(|| self.active.base_lsn());
            if end > lsn {
                break;
            }
            let base = self.sealed[0];
            self.dir
                .remove(base)
                .map_err(io("removing a checkpointed segment"))?;
            self.sealed.remove(0);
            tracing::info!(segment = %base, upto = %end, "walden: checkpoint removed a segment");
        }
        Ok(self.first_lsn())
    }

    /// Starts a new segment when the active one holds at least `segment_bytes` of records, and
    /// hands the full one to a thread of its own to seal (see *Sealing off the append path*).
    fn rotate_if_full(&mut self) -> Result<(), Error> {
        let held = self.active.current_lsn().get() - self.active.base_lsn().get();
        if held < self.options.segment_bytes.max(1) || self.sync_in_flight {
            return Ok(());
        }
        // One seal at a time: a segment filled before the previous seal ended waits for it.
        self.collect_seal(true)?;
        // Everything in the full segment goes to the OS before its successor exists; the seal
        // makes it durable.
        let end = self.active.drain()?;
        let salt = self.active.codec().salt();
        let next = create_segment(&self.dir, end, salt, self.options)?;
        let full = std::mem::replace(&mut self.active, next);
        let base = full.base_lsn();
        let records = full.records_appended();
        let outcome = Arc::new(SealOutcome::default());
        let report = Arc::clone(&outcome);
        let thread = std::thread::Builder::new()
            .name(SEALER_THREAD_NAME.to_owned())
            .spawn(move || {
                let sealed = full.close();
                match &sealed {
                    Ok(_) => tracing::info!(sealed = %base, next = %end, "walden: segment sealed"),
                    Err(err) => {
                        tracing::error!(segment = %base, error = %err, "walden: seal failed");
                    }
                }
                report.finish(sealed.as_ref().copied().map_err(SealFailure::new));
            })
            .map_err(io("starting the segment sealer thread"))?;
        self.sealing = Some(Sealing {
            base,
            records,
            outcome,
            thread: Some(thread),
        });
        Ok(())
    }

    /// The seal in progress, for a leader about to publish durability past its segment's end:
    /// it waits on it first (outside the writer lock).
    pub(crate) fn pending_seal(&self) -> Option<Arc<SealOutcome>> {
        self.sealing
            .as_ref()
            .map(|sealing| Arc::clone(&sealing.outcome))
    }

    /// Moves a finished seal's segment to the sealed ones (waiting for it when `wait`); a
    /// failed seal poisons the writer and is returned.
    pub(crate) fn collect_seal(&mut self, wait: bool) -> Result<(), Error> {
        let Some(sealing) = &mut self.sealing else {
            return Ok(());
        };
        let finished = sealing
            .outcome
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if !finished && !wait {
            return Ok(());
        }
        if let Some(thread) = sealing.thread.take() {
            // The thread only seals and reports; a panic there is reported as a failure below.
            if thread.join().is_err() {
                sealing.outcome.finish(Err(SealFailure {
                    op: "sealing a segment",
                    os_error: None,
                    text: String::from("the sealer thread panicked"),
                }));
            }
        }
        let outcome = sealing.outcome.wait();
        let (base, records) = (sealing.base, sealing.records);
        self.sealing = None;
        match outcome {
            Ok(_) => {
                self.sealed.push(base);
                self.records_sealed += records;
                Ok(())
            }
            Err(err) => {
                self.active.poison_because(&err);
                Err(err)
            }
        }
    }
}

impl<D: SegmentDir> Drop for SegmentedWriter<D> {
    /// A seal in progress finishes before the writer (and the log's lock) goes away, so no other
    /// writer ever sees a segment still being written.
    fn drop(&mut self) {
        if let Some(thread) = self
            .sealing
            .as_mut()
            .and_then(|sealing| sealing.thread.take())
        {
            let _ = thread.join();
        }
    }
}

impl<D: SegmentDir> SegmentedWriter<D> {
    /// Drains the active segment and hands back a handle to sync it outside the writer's lock
    /// (see [`WalWriter::drain_with_handle`]). The caller must report the outcome with
    /// [`SegmentedWriter::mark_durable`] or [`SegmentedWriter::mark_sync_failed`]; until then the
    /// active segment is not sealed.
    pub(crate) fn drain_with_handle(
        &mut self,
    ) -> Result<(Lsn, <D::Storage as SharedSync>::Handle), Error> {
        let drained = self.active.drain_with_handle()?;
        self.sync_in_flight = true;
        Ok(drained)
    }

    /// The sync a group-commit leader performs on the handle.
    pub(crate) fn sync_mode(&self) -> SyncMode {
        self.active.sync_mode()
    }
}

/// The segment before `last`, recovered as an active segment is, if it is not sealed: its sync
/// mark stops short of its successor's base, so its background seal was interrupted (a crash
/// between a rotation and the seal's end) and its tail may be torn. `None` when it is sealed, or
/// has no sync mark (a log written before marks existed: its segments were sealed before their
/// successors were created).
fn unsealed_predecessor<D: SegmentDir>(
    dir: &D,
    bases: &[Lsn],
    last: Lsn,
    options: WalOptions,
) -> Result<Option<WalWriter<D::Storage>>, Error> {
    let Some(&previous) = bases.last() else {
        return Ok(None);
    };
    let (storage, header) = open_segment(dir, previous)?;
    if header.sync_mark.is_none_or(|mark| mark >= last) {
        return Ok(None);
    }
    tracing::info!(segment = %previous, "walden: recovering a segment whose seal was interrupted");
    WalWriter::recover(storage, options).map(Some)
}

/// Creates the segment starting at `base` and opens a writer on it.
fn create_segment<D: SegmentDir>(
    dir: &D,
    base: Lsn,
    salt: u64,
    options: WalOptions,
) -> Result<WalWriter<D::Storage>, Error> {
    let header = FileHeader::new(salt, base);
    let storage = dir
        .create(base, &header.encode_initial())
        .map_err(io("creating a segment"))?;
    WalWriter::recover(storage, options)
}

/// Opens a segment and reads its header: a Walden header of a version this build reads, with the
/// base LSN its name says. Returns the open storage with it.
pub(crate) fn open_segment<D: SegmentDir>(
    dir: &D,
    base: Lsn,
) -> Result<(D::Storage, FileHeader), Error> {
    let storage = dir.open(base).map_err(io("opening a segment"))?;
    // Both slots of a v2 header; a v1 file's second 64 bytes are frames, which reading ignores.
    let mut bytes = [0u8; BODY_OFFSET];
    let read = storage
        .read_at(0, &mut bytes)
        .map_err(io("reading a segment header"))?;
    let header = FileHeader::read(&bytes[..read]).map_err(Error::Header)?;
    if header.base_lsn != base {
        return Err(Error::SegmentMismatch {
            segment: segment_file_name(base),
            reason: format!(
                "the file is named for LSN {base} but its header says LSN {}",
                header.base_lsn
            ),
        });
    }
    Ok((storage, header))
}

/// Checks a sealed segment's header against its name and the log's salt (every segment of a
/// log shares the salt chosen when the log was created), its sync mark against its successor's
/// base (a seal moves the mark to the segment's end, which is where the successor starts), and
/// its length against the mark: a sealed segment shorter than what its mark says was durable
/// lost records. Its frames are not scanned here (readers verify each one).
fn check_sealed_header<D: SegmentDir>(
    dir: &D,
    base: Lsn,
    successor: Lsn,
    salt: u64,
) -> Result<(), Error> {
    let (storage, header) = open_segment(dir, base)?;
    if header.salt != salt {
        return Err(Error::SegmentMismatch {
            segment: segment_file_name(base),
            reason: String::from("the file belongs to another log (its salt differs)"),
        });
    }
    // A segment from before sync marks existed has none: its seal came before its successor.
    if let Some(mark) = header.sync_mark.filter(|&mark| mark != successor) {
        let what = if mark < successor {
            "its seal never finished"
        } else {
            "its records would run past the next segment's start"
        };
        return Err(Error::SegmentMismatch {
            segment: segment_file_name(base),
            reason: format!(
                "its header says its records end at LSN {mark}, but the next segment starts at \
                 LSN {successor}: {what} (or a file was replaced by hand)"
            ),
        });
    }
    let size = storage.size().map_err(io("reading a segment's size"))?;
    // The mark comes from disk: decoding keeps it at or above the base, but it may lie anywhere
    // up to `Lsn::MAX`, where the length it implies does not fit a `u64` (no file is that long).
    let mark = header.sync_mark.unwrap_or(base);
    let marked_len = mark
        .checked_distance_from(base)
        .and_then(|records| records.checked_add(header.body_offset()));
    if marked_len.is_none_or(|marked_len| size < marked_len) {
        let length = marked_len.map_or_else(
            || String::from("more than any file holds"),
            |len| format!("{len} bytes"),
        );
        return Err(Error::SegmentMismatch {
            segment: segment_file_name(base),
            reason: format!(
                "the file is {size} bytes, but its header says its records were durable up to \
                 LSN {mark} ({length}): it was truncated and lost acknowledged records"
            ),
        });
    }
    Ok(())
}
