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
//!   segments, and a new segment's base is the sealed segment's end.
//! - A segment is sealed only after it is drained and synced, and its successor is created (and
//!   its directory entry synced) only after that: after a crash every sealed segment is whole,
//!   and only the active segment can have a torn tail. So opening scans only the active segment
//!   and checks the others' headers; readers verify every frame they return.
//! - Opening syncs the recovered active segment, so every record recovery kept is durable (and
//!   readable) from the start; sealed segments were synced when they were sealed.
//! - No segment is sealed while a group-commit leader's sync of it is in flight (between
//!   [`SegmentedWriter::drain_with_handle`] and the leader's report): Linux reports an fsync
//!   error once per file description, so a seal's own sync could succeed after the leader's
//!   failed, and seal a segment with a hole. Rotation waits for the next append after the report.
//! - Durability carries over: the new active segment's durable LSN starts at its base, which the
//!   sealing sync made durable. A failed seal poisons the writer like any failed sync.
//! - A checkpoint removes sealed segments oldest first and never the active one, so the log stays
//!   a contiguous range of LSNs.

use crate::error::{io, Error};
use crate::options::WalOptions;
use crate::recovery::WalRecovery;
use crate::segment_dir::{segment_file_name, SegmentDir};
use crate::shared_sync::SharedSync;
use crate::writer::{random_salt, WalWriter};
use walden_core::{Appended, FileHeader, Lsn, Storage, SyncMode, HEADER_LEN};

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
            let recovery = WalRecovery::new(&[], active.recovery(), false);
            let writer = SegmentedWriter {
                dir,
                options,
                sealed: Vec::new(),
                active,
                records_sealed: 0,
                sync_in_flight: false,
            };
            return Ok((writer, recovery));
        };
        let (storage, active_header) = open_segment(&dir, last)?;
        for &base in &bases {
            check_sealed_header(&dir, base, active_header.salt)?;
        }
        let mut active = WalWriter::recover(storage, options)?;
        if active.current_lsn() > active.durable_lsn() {
            // What recovery kept may still sit in the page cache of the process that wrote it:
            // one sync makes it durable, so readers (who see only durable records) see it.
            active.sync()?;
        }
        let zero_fill_kept = options.preallocate_bytes > 0;
        let recovery = WalRecovery::new(&bases, active.recovery(), zero_fill_kept);
        let writer = SegmentedWriter {
            dir,
            options,
            sealed: bases,
            active,
            records_sealed: 0,
            sync_in_flight: false,
        };
        Ok((writer, recovery))
    }

    /// The base LSN of every segment, oldest first, the active one last.
    pub(crate) fn segments(&self) -> Vec<Lsn> {
        let mut bases = self.sealed.clone();
        bases.push(self.active.base_lsn());
        bases
    }

    /// The first LSN the log holds (the oldest segment's base).
    pub(crate) fn first_lsn(&self) -> Lsn {
        self.sealed
            .first()
            .copied()
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
        self.records_sealed + self.active.records_appended()
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

    /// Drains and syncs the active segment, and moves its sync mark to the end (see
    /// [`WalWriter::seal`]); it stays the active segment. Returns the durable LSN.
    pub(crate) fn seal_active(&mut self) -> Result<Lsn, Error> {
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
        if lsn > self.current_lsn() {
            return Err(Error::BeyondCurrent {
                target: lsn,
                current: self.current_lsn(),
            });
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

    /// Seals the active segment and starts a new one when the active segment holds at least
    /// `segment_bytes` of records.
    fn rotate_if_full(&mut self) -> Result<(), Error> {
        let held = self.active.current_lsn().get() - self.active.base_lsn().get();
        if held < self.options.segment_bytes.max(1) || self.sync_in_flight {
            return Ok(());
        }
        // Seal: everything in the segment reaches the disk, and its sync mark moves to its end,
        // before its successor exists.
        let end = self.active.seal()?;
        let salt = self.active.codec().salt();
        let next = create_segment(&self.dir, end, salt, self.options)?;
        let sealed = std::mem::replace(&mut self.active, next);
        self.records_sealed += sealed.records_appended();
        self.sealed.push(sealed.base_lsn());
        tracing::info!(sealed = %sealed.base_lsn(), next = %end, "walden: segment sealed");
        Ok(())
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

/// Creates the segment starting at `base` and opens a writer on it.
fn create_segment<D: SegmentDir>(
    dir: &D,
    base: Lsn,
    salt: u64,
    options: WalOptions,
) -> Result<WalWriter<D::Storage>, Error> {
    let header = FileHeader::new(salt, base);
    let storage = dir
        .create(base, &header.encode())
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
    let mut bytes = [0u8; HEADER_LEN];
    let read = storage
        .read_at(0, &mut bytes)
        .map_err(io("reading a segment header"))?;
    let header = FileHeader::decode(&bytes[..read]).map_err(Error::Header)?;
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
/// log shares the salt chosen when the log was created), and its length against its sync mark:
/// a sealed segment shorter than what its mark says was durable lost records. Its frames are
/// not scanned here (readers verify each one).
fn check_sealed_header<D: SegmentDir>(dir: &D, base: Lsn, salt: u64) -> Result<(), Error> {
    let (storage, header) = open_segment(dir, base)?;
    if header.salt != salt {
        return Err(Error::SegmentMismatch {
            segment: segment_file_name(base),
            reason: String::from("the file belongs to another log (its salt differs)"),
        });
    }
    let size = storage.size().map_err(io("reading a segment's size"))?;
    // The mark comes from disk: decoding keeps it at or above the base, but it may lie anywhere
    // up to `Lsn::MAX`, where the length it implies does not fit a `u64` (no file is that long).
    let mark = header.sync_mark.unwrap_or(base);
    let marked_len = mark
        .checked_distance_from(base)
        .and_then(|records| records.checked_add(HEADER_LEN as u64));
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
