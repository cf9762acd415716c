//! [`LogWriter`]: one log file, one writer (`&mut self`), over any [`Storage`]. The single-file
//! log every backend shares: the native `WalWriter` (and each segment of its `Wal`) and the
//! browser's OPFS log wrap exactly this code, adding only their I/O, locking and tracing.
//!
//! The path of a record: `append` encodes it (the [`Codec`]) into the user-space buffer and
//! advances `current`; a full buffer, `drain`, `sync` and `flush_until` hand the buffer to storage
//! (`written`); `sync` then syncs storage and publishes `durable`.
//!
//! Invariants:
//! - `durable <= written <= current` ([`Watermarks`]), and the buffer holds exactly the frames in
//!   `[written, current)`, so storage holds the header plus `[base, written)`.
//! - Every path that syncs drains the buffer first.
//! - Recovering truncates a torn tail, and syncs the truncation, before anything new can be
//!   appended; nothing counts as durable until this writer has synced it. Records past the sync
//!   mark are written again, so that sync persists them even if an earlier process's failed
//!   fsync left their pages clean but unwritten.
//! - Recovering never holds the file whole: it scans through a window of
//!   [`RECOVERY_WINDOW_BYTES`] ([`crate::scan_storage`]) and rewrites the records past the sync
//!   mark a window at a time, so opening a log of any size needs about the same memory.
//! - A failed write or sync poisons the writer: from then on every call that could append or
//!   report durability returns [`WriterError::Poisoned`], and `durable` never moves again. Linux
//!   may mark the pages of a failed fsync clean, so retrying could report success for lost data.
//! - LSNs only grow: `truncate` and `set_current_lsn` rewrite the header with a later base LSN.
//! - A sync mark (docs/format.md) never exceeds what a completed sync made durable. In a v2 file
//!   every drain after a sync appends a sync marker frame with the durable LSN to its batch, so
//!   that batch's own write carries it (no second page, no extra sync); a drain that appends
//!   pre-encoded frames (`append_bytes`) does not, since those frames were encoded at the LSN a
//!   marker would take. In a v1 file (a file never changes version) the writer instead rewrites
//!   the header's mark once the durable LSN is [`SYNC_MARK_STEP_BYTES`] past it, as v1 always
//!   did. `seal` and `close` sync once more to move the header's mark to the very end.
//!   Recovery treats damage at or past the highest mark as an interrupted batch.
//! - A header rewrite (the mark, a new base LSN) goes to the slot that does not hold the newest
//!   header (v2: two slots, `crate::header`) and is synced before the next one, so a crash tearing
//!   it leaves the other slot valid.
//! - With preallocation on, zeros are written ahead of the records (never over them) in
//!   `preallocate_bytes` steps, so most syncs overwrite existing blocks; recovery keeps a
//!   zero-filled tail, since zeros never decode as a frame.
//!
//! The buffer is this module's own `Vec` rather than a generic buffered writer: the writer must
//! know exactly which LSN each drain reached, and must not keep half-written bytes after a failed
//! write (a `BufWriter` retries them on the next flush).

use crate::{
    scan_storage, Appended, Codec, Durability, FileHeader, InputError, Lsn, PoisonedError,
    Recovery, Storage, SyncMode, Tail, TailKind, WatermarkError, Watermarks, WriterError,
    WriterOptions, FORMAT_V1, FRAME_HEADER_LEN,
};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// v1 files only: how far the durable LSN moves past the header's sync mark before a drain
/// rewrites the mark. Damage in the records between the mark and the durable LSN looks like an
/// interrupted batch to recovery, so this bounds that blind spot (plus one batch); rewriting the
/// header on every sync instead would cost W2 about 5% and W3 at 64 threads about 25%
/// (docs/performance.md). v2 files carry the mark in sync marker frames instead.
pub const SYNC_MARK_STEP_BYTES: u64 = 64 * 1024;

/// The window recovery reads a log through ([`crate::scan_storage`]), and the piece size of the
/// rewrite past the sync mark: opening a log of any size holds about this much of it (plus one
/// maximal frame when the scan searches after damage), never the whole file.
pub const RECOVERY_WINDOW_BYTES: usize = 1 << 20;

/// The result of a [`LogWriter`] call over storage `S`.
pub type WriterResult<T, S> = Result<T, WriterError<<S as Storage>::Error>>;

/// A single-writer log over storage `S`. See the module documentation.
#[derive(Debug)]
pub struct LogWriter<S: Storage> {
    storage: S,
    codec: Codec,
    options: WriterOptions,
    base_lsn: Lsn,
    marks: Watermarks,
    /// The frames in `[marks.written(), marks.current())`.
    buffer: Vec<u8>,
    /// Set by the first failed write or sync; see [`WriterError::Poisoned`].
    poisoned: Option<String>,
    /// Records appended by this writer since it opened.
    records_appended: u64,
    /// What recovery found when this writer opened the log.
    recovery: Recovery,
    /// The file offset up to which the file exists (records or zero fill): drains below it
    /// overwrite existing blocks.
    allocated: u64,
    /// Whether recovery removed what followed the valid records (`recovery.tail`): it keeps a
    /// zero-filled tail when preallocation is on.
    tail_cut: bool,
    /// The newest header in storage (perhaps not yet synced): its sync mark is `None` for a v1
    /// file written before the mark existed, until this writer first sets it.
    header: FileHeader,
    /// The highest durable LSN the file vouches for, in its header or a sync marker (v2), the
    /// buffer's included: a drain appends a marker only once the durable LSN passes it.
    marked: Lsn,
}

impl<S: Storage> LogWriter<S> {
    /// Starts a new log on empty `storage`: writes a header with `salt` (random, chosen by the
    /// caller: it tells this log's records from any other's) and `base_lsn`, and syncs it.
    pub fn create(
        mut storage: S,
        salt: u64,
        base_lsn: Lsn,
        options: WriterOptions,
    ) -> WriterResult<Self, S> {
        let size = storage
            .size()
            .map_err(storage_err("reading the log size"))?;
        if size != 0 {
            return Err(InputError::NotEmpty {
                current: Lsn::new(size),
            }
            .into());
        }
        let header = FileHeader::new(salt, base_lsn);
        storage
            .write_at(0, &header.encode_initial())
            .map_err(storage_err("writing the log header"))?;
        storage
            .sync(SyncMode::All)
            .map_err(storage_err("syncing the new log header"))?;
        LogWriter::recover(storage, options, salt)
    }

    /// Opens an existing log on `storage`: validates the header (a foreign or newer file is a
    /// typed error and is left untouched), scans it, and truncates a torn tail (syncing the
    /// truncation) before anything can be appended. An empty storage gets a fresh header with
    /// `salt_if_new` (see [`LogWriter::create`]).
    pub fn recover(
        mut storage: S,
        options: WriterOptions,
        salt_if_new: u64,
    ) -> WriterResult<Self, S> {
        let size = storage
            .size()
            .map_err(storage_err("reading the log size"))?;
        if size == 0 {
            return LogWriter::create(storage, salt_if_new, Lsn::ZERO, options);
        }
        let max = options.max_payload_len;
        let (header, recovery) = scan_storage(
            &storage,
            |salt| Codec::new(salt).with_max_payload_len(max),
            options.recovery_mode,
            RECOVERY_WINDOW_BYTES,
        )?;
        // Records past the sync mark may sit in pages that a failed fsync (of an earlier process,
        // in this boot) left clean in the page cache but never wrote: they read back fine, and a
        // sync would skip them. Writing them again dirties those pages, so this process's next
        // sync really persists them. Usually one batch; nothing after a clean close.
        // The mark comes from disk: decoding keeps it at or above the base, but it may lie
        // anywhere up to `Lsn::MAX` (a salvage open accepts a mark past the records), so its file
        // offset is computed without overflow; past the records it means nothing to rewrite.
        let mark = recovery.sync_mark.unwrap_or(header.base_lsn);
        let unmarked = mark
            .checked_distance_from(header.base_lsn)
            .and_then(|distance| distance.checked_add(header.body_offset()))
            .map_or(recovery.valid_file_len(), |offset| {
                offset.min(recovery.valid_file_len())
            });
        rewrite(&mut storage, unmarked..recovery.valid_file_len())?;
        // Zero fill after the records is preallocated (or never-written) space: it can never
        // decode as a record, so with preallocation on it stays, and appends overwrite it.
        let keep_zeroed = options.preallocate_bytes > 0
            && matches!(
                recovery.tail,
                Some(Tail {
                    kind: TailKind::Zeroed,
                    ..
                })
            );
        let mut allocated = size;
        let tail_cut = recovery.tail.is_some() && !keep_zeroed;
        if tail_cut {
            storage
                .truncate(recovery.valid_file_len())
                .map_err(storage_err("truncating the torn tail"))?;
            storage
                .sync(SyncMode::All)
                .map_err(storage_err("syncing the truncated log"))?;
            allocated = recovery.valid_file_len();
        }
        // A salvage (`PointInTime`) may keep fewer records than the header's mark says were
        // synced. Left there, that mark would make the next default open refuse the salvaged log
        // as lost data; it goes back to the base (nothing known durable), synced, in the slot
        // that does not hold it.
        let mut header = header;
        if header.sync_mark > Some(recovery.end_lsn) {
            header = header.next(|header| header.with_sync_mark(header.base_lsn));
            storage
                .write_at(header.slot_offset(), &header.encode())
                .map_err(storage_err("resetting the sync mark of a salvaged log"))?;
            storage
                .sync(SyncMode::All)
                .map_err(storage_err("syncing the reset sync mark"))?;
        }
        // Nothing counts as durable until this process has synced it: durable stays at the base.
        let marks = Watermarks::recovered(header.base_lsn, recovery.end_lsn)?;
        Ok(LogWriter {
            storage,
            codec: Codec::for_header(&header).with_max_payload_len(max),
            options,
            base_lsn: header.base_lsn,
            marks,
            buffer: Vec::with_capacity(options.buffer_bytes),
            poisoned: None,
            records_appended: 0,
            recovery,
            allocated,
            tail_cut,
            header,
            marked: recovery
                .sync_mark
                .unwrap_or(header.base_lsn)
                .min(recovery.end_lsn),
        })
    }

    /// What recovery found when the log was opened: records, end LSN, any tail it truncated.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Whether recovery removed the tail [`LogWriter::recovery`] reports (truncated and synced),
    /// rather than keeping it (zero fill, with preallocation on).
    pub fn recovery_cut_tail(&self) -> bool {
        self.tail_cut
    }

    /// The end of what was appended.
    pub fn current_lsn(&self) -> Lsn {
        self.marks.current()
    }

    /// The end of what was handed to storage.
    pub fn written_lsn(&self) -> Lsn {
        self.marks.written()
    }

    /// The end of what is durable.
    pub fn durable_lsn(&self) -> Lsn {
        self.marks.durable()
    }

    /// The LSN of the log's first byte (it grows with `truncate`).
    pub fn base_lsn(&self) -> Lsn {
        self.base_lsn
    }

    /// Records appended through this writer since it opened (not counting recovered ones).
    pub fn records_appended(&self) -> u64 {
        self.records_appended
    }

    /// The options this writer was opened with.
    pub fn options(&self) -> &WriterOptions {
        &self.options
    }

    /// The codec frames of this log are encoded with (its salt and payload limit): encode with it
    /// at a reserved LSN outside the writer's lock, then hand the frames to `append_bytes`.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The storage underneath (for tests and tools).
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The storage underneath, mutably (for tests that inject faults or crashes).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// The header's sync mark as this writer last wrote it (perhaps not yet synced).
    pub fn sync_mark(&self) -> Option<Lsn> {
        self.header.sync_mark
    }

    /// The newest header in storage: its format version, salt, base LSN and sync mark.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// Whether appending a record of `payload_len` bytes would only buffer it: no drain to make
    /// room first (which may put a sync marker in front of it) and no spill of an oversized
    /// record. Then, and always right after [`LogWriter::drain`], the record will start at
    /// [`LogWriter::current_lsn`], and none of its bytes reach storage before the next drain:
    /// a caller can tell others where a record will lie before any of it can be written.
    pub fn append_stays_buffered(&self, payload_len: usize) -> bool {
        self.buffer.len() + crate::frame_len(payload_len) <= self.options.buffer_bytes
    }

    /// Appends one record and returns where it lies: not durable until a sync covers
    /// [`Appended::end`] (`flush_until(appended.end())`).
    pub fn append(&mut self, payload: &[u8]) -> WriterResult<Appended, S> {
        self.check_poisoned()?;
        let len = self.codec.check(self.marks.current(), payload.len())?;
        self.make_room(len, Marker::Allowed)?;
        // A drain to make room may have appended a sync marker: the record starts after it.
        let lsn = self.marks.current();
        self.codec.encode_append(lsn, payload, &mut self.buffer)?;
        self.marks.append(len as u64)?;
        self.records_appended += 1;
        // Taken before a spill, whose drain may append a sync marker after the record.
        let end = self.marks.current();
        self.spill_oversized()?;
        Ok(Appended::new(lsn, end))
    }

    /// Appends frames already encoded at the current LSN (the group-commit drain path encodes
    /// outside the writer's lock). Checks that `frames` are whole frames within the size limit;
    /// their checksums are the encoder's responsibility and are verified by every reader.
    pub fn append_bytes(&mut self, frames: &[u8]) -> WriterResult<Lsn, S> {
        self.check_poisoned()?;
        let count = self.check_frames(frames)?;
        let lsn = self.marks.current();
        // The frames were encoded at `lsn`: a marker in front of them would move them.
        self.make_room(frames.len(), Marker::Withheld)?;
        self.buffer.extend_from_slice(frames);
        self.marks.append(frames.len() as u64)?;
        self.records_appended += count;
        self.spill_oversized()?;
        Ok(lsn)
    }

    /// Hands the buffer to storage and returns the written LSN, without syncing: a group-commit
    /// leader drains, syncs (perhaps elsewhere), then reports with [`LogWriter::mark_durable`]
    /// or [`LogWriter::poison`]. A failed write poisons: some prefix of the buffer may be in
    /// storage, and only recovery can tell which.
    pub fn drain(&mut self) -> WriterResult<Lsn, S> {
        self.check_poisoned()?;
        self.drain_buffer(Marker::Allowed)
    }

    /// Drains the buffer and syncs, per the durability mode (`SyncData` for `Buffered`, which
    /// only governs `flush_until`). Returns the new durable LSN.
    pub fn sync(&mut self) -> WriterResult<Lsn, S> {
        self.check_poisoned()?;
        let written = self.drain_buffer(Marker::Allowed)?;
        if let Err(err) = self.storage.sync(self.sync_mode()) {
            return Err(self.poison_with("sync", err));
        }
        self.marks.mark_durable(written)?;
        Ok(written)
    }

    /// Makes everything up to `target` durable: a no-op when it already is, otherwise a drain
    /// and a sync. With `Durability::Buffered` it drains only, and returns the written LSN.
    pub fn flush_until(&mut self, target: Lsn) -> WriterResult<Lsn, S> {
        self.check_poisoned()?;
        if !self.marks.needs_flush(target) {
            return Ok(self.marks.durable());
        }
        if target > self.marks.current() {
            return Err(InputError::BeyondCurrent {
                target,
                current: self.marks.current(),
            }
            .into());
        }
        match self.options.durability {
            Durability::Buffered => self.drain_buffer(Marker::Allowed),
            Durability::SyncData | Durability::SyncAll => self.sync(),
        }
    }

    /// Publishes `lsn` as durable after a sync this writer did not do itself (the group-commit
    /// leader's). Monotonic: a stale value is a no-op and returns `false`.
    pub fn mark_durable(&mut self, lsn: Lsn) -> WriterResult<bool, S> {
        self.check_poisoned()?;
        Ok(self.marks.mark_durable(lsn)?)
    }

    /// Poisons the writer because of a failure it did not see itself (a sync done on another
    /// handle, a segment that could not be created, an append queue that lost a range): `cause`
    /// becomes what every later [`WriterError::Poisoned`] names. Returns `false` (and keeps the
    /// first cause) if the writer was already poisoned.
    pub fn poison(&mut self, cause: String) -> bool {
        if self.poisoned.is_some() {
            return false;
        }
        self.poisoned = Some(cause);
        true
    }

    /// What poisoned the writer, if anything did.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Moves the current LSN forward to `lsn` on a log that holds no records yet, by rewriting
    /// the header's base LSN (e.g. to continue an LSN sequence recorded elsewhere).
    pub fn set_current_lsn(&mut self, lsn: Lsn) -> WriterResult<(), S> {
        self.check_poisoned()?;
        if self.marks.current() != self.base_lsn {
            return Err(InputError::NotEmpty {
                current: self.marks.current(),
            }
            .into());
        }
        if lsn < self.base_lsn {
            return Err(WriterError::Watermark(
                WatermarkError::CurrentNotMonotonic {
                    lsn,
                    current: self.base_lsn,
                },
            ));
        }
        self.rebase(lsn)
    }

    /// Discards every record (after a checkpoint made them unnecessary) while keeping LSNs
    /// growing: drains and syncs, then rewrites the header with base LSN = current LSN and
    /// truncates the file to it. A crash in between leaves old frames behind a header whose base
    /// no longer matches their LSNs, so recovery reads them as a torn tail and drops them.
    pub fn truncate(&mut self) -> WriterResult<Lsn, S> {
        let current = self.sync()?;
        self.rebase(current)?;
        Ok(current)
    }

    /// Drains and syncs everything appended, then moves the header's sync mark to the durable
    /// end and syncs that too, so recovery reports any later damage to these records as lost
    /// data rather than a torn tail. For a segment that will not be written again, and `close`.
    pub fn seal(&mut self) -> WriterResult<Lsn, S> {
        let durable = self.sync()?;
        if Some(durable) > self.header.sync_mark {
            self.write_sync_mark(durable)?;
            if let Err(err) = self.storage.sync(self.sync_mode()) {
                return Err(self.poison_with("sync of the sync mark", err));
            }
        }
        Ok(durable)
    }

    /// Seals the log (see [`LogWriter::seal`]) and returns the durable LSN with the storage, so
    /// the caller can release it (close a handle, drop a lock). On error, says what was not made
    /// durable; the log is then poisoned and must be reopened.
    pub fn close(mut self) -> Result<(Lsn, S), WriterError<S::Error>> {
        let durable = self.seal()?;
        Ok((durable, self.storage))
    }

    /// The sync `sync` performs: the durability mode's, and `SyncData` for `Buffered` (which
    /// only governs `flush_until`).
    pub fn sync_mode(&self) -> SyncMode {
        self.options
            .durability
            .sync_mode()
            .unwrap_or(SyncMode::Data)
    }

    /// The `Poisoned` error, with its cause, once a write or sync has failed.
    pub fn check_poisoned(&self) -> WriterResult<(), S> {
        match &self.poisoned {
            Some(cause) => Err(PoisonedError::new(self.marks.durable(), cause.clone()).into()),
            None => Ok(()),
        }
    }

    /// Rewrites the header with its sync mark at `durable`, an LSN a completed sync made durable,
    /// into the slot that does not hold the newest header (v2; a v1 file has one slot, and
    /// docs/durability.md states the assumption that a 64-byte write there is atomic).
    fn write_sync_mark(&mut self, durable: Lsn) -> WriterResult<(), S> {
        let header = self.header.next(|header| header.with_sync_mark(durable));
        if let Err(err) = self
            .storage
            .write_at(header.slot_offset(), &header.encode())
        {
            return Err(self.poison_with("sync mark write", err));
        }
        self.header = header;
        self.marked = self.marked.max(durable);
        Ok(())
    }

    fn rebase(&mut self, base_lsn: Lsn) -> WriterResult<(), S> {
        let header = self.header.next(|header| FileHeader {
            base_lsn,
            sync_mark: Some(base_lsn),
            ..header
        });
        // Into the slot that does not hold the newest header: torn, the other one still
        // describes the old records (a v1 file has one slot; see `write_sync_mark`).
        if let Err(err) = self
            .storage
            .write_at(header.slot_offset(), &header.encode())
        {
            return Err(self.poison_with("header rewrite", err));
        }
        if let Err(err) = self.storage.sync(SyncMode::All) {
            return Err(self.poison_with("sync of the header rewrite", err));
        }
        if let Err(err) = self.storage.truncate(header.body_offset()) {
            return Err(self.poison_with("truncate", err));
        }
        if let Err(err) = self.storage.sync(SyncMode::All) {
            return Err(self.poison_with("sync of the truncation", err));
        }
        self.allocated = header.body_offset();
        self.header = header;
        self.marked = base_lsn;
        self.base_lsn = base_lsn;
        self.marks = Watermarks::new(base_lsn);
        Ok(())
    }

    /// Hands the buffer to storage; returns the written LSN. A failed write poisons.
    fn drain_buffer(&mut self, marker: Marker) -> WriterResult<Lsn, S> {
        if self.buffer.is_empty() {
            return Ok(self.marks.written());
        }
        let durable = self.marks.durable();
        if self.header.version == FORMAT_V1 {
            // The batch this drain starts carries the mark of the last completed sync with it,
            // once that has moved a step past the mark the header holds: a header rewrite on
            // every sync would add a second dirty page to every fsync.
            let due = self.header.sync_mark.is_none_or(|mark| {
                durable.get().saturating_sub(mark.get()) >= SYNC_MARK_STEP_BYTES
            });
            if due && Some(durable) > self.header.sync_mark {
                self.write_sync_mark(durable)?;
            }
        } else if marker == Marker::Allowed && durable > self.marked {
            // The batch carries the fact that everything below `durable` was synced: its own
            // write, and the sync that follows, persist it. A marker that would end past the
            // LSN space is left out (it only vouches; records there fail to encode anyway).
            let lsn = self.marks.current();
            if let Ok(len) = self.codec.encode_marker(lsn, durable, &mut self.buffer) {
                self.marks.append(len as u64)?;
                self.marked = durable;
            }
        }
        let offset = self.file_offset(self.marks.written());
        self.preallocate(offset.saturating_add(self.buffer.len() as u64))?;
        if let Err(err) = self.storage.write_at(offset, &self.buffer) {
            return Err(self.poison_with("write", err));
        }
        self.buffer.clear();
        let current = self.marks.current();
        self.marks.mark_written(current)?;
        Ok(current)
    }

    /// With preallocation on, makes sure the file extends past `end` by writing zeros from the
    /// allocated end up to the next multiple of the preallocation step, so the syncs of the next
    /// step's worth of records overwrite existing blocks instead of growing the file. The zeros
    /// lie past every record, where recovery reads them as unwritten space.
    fn preallocate(&mut self, end: u64) -> WriterResult<(), S> {
        let step = self.options.preallocate_bytes;
        if step == 0 || end <= self.allocated {
            return Ok(());
        }
        let target = end.div_ceil(step).saturating_mul(step);
        // Zeros go only after the bytes about to be written, never over buffered records.
        let mut at = self.allocated.max(end);
        while at < target {
            let len = (target - at).min(ZEROS.len() as u64) as usize;
            if let Err(err) = self.storage.write_at(at, &ZEROS[..len]) {
                return Err(self.poison_with("preallocating write", err));
            }
            at += len as u64;
        }
        self.allocated = target;
        Ok(())
    }

    /// Drains first if `len` more bytes would overflow the buffer.
    fn make_room(&mut self, len: usize, marker: Marker) -> WriterResult<(), S> {
        if !self.buffer.is_empty() && self.buffer.len() + len > self.options.buffer_bytes {
            self.drain_buffer(marker)?;
        }
        Ok(())
    }

    /// A record larger than the whole buffer goes straight through rather than growing it.
    fn spill_oversized(&mut self) -> WriterResult<(), S> {
        if self.buffer.len() > self.options.buffer_bytes {
            self.drain_buffer(Marker::Allowed)?;
            self.buffer.shrink_to(self.options.buffer_bytes);
        }
        Ok(())
    }

    /// The file offset of `lsn`, one of this writer's watermarks (never below the base, and at
    /// most the records recovered plus those appended since past it, so in memory: neither the
    /// distance nor the sum can fail for one). Saturates rather than wrapping all the same: a
    /// wrapped offset would write over the header.
    fn file_offset(&self, lsn: Lsn) -> u64 {
        let distance = lsn.checked_distance_from(self.base_lsn).unwrap_or(0);
        self.header.body_offset().saturating_add(distance)
    }

    /// Counts the frames in `frames`, checking they tile it exactly and that each passes the
    /// codec's own pre-encoding check at its LSN (payload limit, LSN overflow), so nothing is
    /// buffered that `marks.append` could then refuse.
    fn check_frames(&self, frames: &[u8]) -> WriterResult<u64, S> {
        let mut offset = 0;
        let mut count = 0;
        while offset < frames.len() {
            let Some(len_bytes) = frames.get(offset + 4..offset + FRAME_HEADER_LEN) else {
                return Err(InputError::InvalidFrames {
                    offset,
                    reason: "a frame header is cut short",
                }
                .into());
            };
            let mut raw = [0u8; 4];
            raw.copy_from_slice(len_bytes);
            let len = u32::from_le_bytes(raw) as usize;
            let lsn = Lsn::new(self.marks.current().get().saturating_add(offset as u64));
            let within_limits = len
                .checked_sub(FRAME_HEADER_LEN)
                .is_some_and(|payload_len| self.codec.check(lsn, payload_len).is_ok());
            if !within_limits {
                return Err(InputError::InvalidFrames {
                    offset,
                    reason: "a frame length is outside the allowed range",
                }
                .into());
            }
            offset += len;
            count += 1;
        }
        if offset != frames.len() {
            return Err(InputError::InvalidFrames {
                offset: frames.len(),
                reason: "the last frame is cut short",
            }
            .into());
        }
        Ok(count)
    }

    /// Poisons the writer with the failure of `op` and returns that failure.
    fn poison_with(&mut self, op: &'static str, err: S::Error) -> WriterError<S::Error> {
        self.poison(format!("{op} failed: {err}"));
        WriterError::Storage { op, source: err }
    }
}

/// Whether a drain may append a sync marker to its batch (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Allowed,
    /// The caller encoded frames at the current LSN itself.
    Withheld,
}

/// The zeros preallocation writes, a block of them at a time.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Writes the bytes of `range` (file offsets) back where they are, a window at a time: see
/// `LogWriter::recover`.
fn rewrite<S: Storage>(storage: &mut S, range: core::ops::Range<u64>) -> WriterResult<(), S> {
    const OP: &str = "rewriting the records past the sync mark";
    if range.is_empty() {
        return Ok(());
    }
    let piece_max = usize::try_from(range.end - range.start)
        .map_or(RECOVERY_WINDOW_BYTES, |len| len.min(RECOVERY_WINDOW_BYTES));
    let mut piece = vec![0u8; piece_max];
    let mut at = range.start;
    while at < range.end {
        let want = usize::try_from(range.end - at).map_or(piece_max, |left| left.min(piece_max));
        let read = storage
            .read_at(at, &mut piece[..want])
            .map_err(storage_err(OP))?;
        if read == 0 {
            // The scan just read these bytes; a storage that ends first has nothing left to
            // rewrite.
            break;
        }
        storage
            .write_at(at, &piece[..read.min(want)])
            .map_err(storage_err(OP))?;
        at += read.min(want) as u64;
    }
    Ok(())
}

fn storage_err<E>(op: &'static str) -> impl FnOnce(E) -> WriterError<E> {
    move |source| WriterError::Storage { op, source }
}
