//! [`WalWriter`]: one log file, one writer (`&mut self`), over any [`Storage`].
//!
//! The path of a record: `append` encodes it (the core's `Codec`) into the user-space buffer and
//! advances `current`; a full buffer, `sync`, `flush_until` and `drain_for_group_sync` drain the
//! buffer into storage (`written`); `sync` then syncs storage and publishes `durable`.
//!
//! Invariants:
//! - `durable <= written <= current` (the core's `Watermarks`), and the buffer holds exactly the
//!   frames in `[written, current)`, so storage holds the header plus `[base, written)`.
//! - Every path that syncs drains the buffer first.
//! - Opening recovers: a torn tail is truncated, and the truncation synced, before anything new
//!   can be appended; nothing counts as durable until this process has synced it. Records past
//!   the sync mark are written again, so that sync persists them even if an earlier process's
//!   failed fsync left their pages clean but unwritten.
//! - A failed write or sync poisons the writer: from then on every call that could append or
//!   report durability returns [`Error::Poisoned`], and `durable` never moves again. Linux may
//!   mark the pages of a failed fsync clean, so retrying could report success for lost data.
//! - LSNs only grow: `truncate` and `set_current_lsn` rewrite the header with a later base LSN.
//! - The header's sync mark (docs/format.md) never exceeds what a completed sync made durable:
//!   once the durable LSN is [`SYNC_MARK_STEP_BYTES`] past it, the next drain first rewrites the
//!   header with the mark at the durable LSN, so that batch's sync persists it; `seal` and
//!   `close` sync once more to move it to the very end. Recovery treats damage at or past the mark as an interrupted batch.
//! - With preallocation on, zeros are written ahead of the records (never over them) in
//!   `preallocate_bytes` steps, so most syncs overwrite existing blocks; recovery keeps a
//!   zero-filled tail, since zeros never decode as a frame.
//!
//! The buffer is this module's own `Vec` rather than `std::io::BufWriter`: the writer must know
//! exactly which LSN each drain reached, and must not keep half-written bytes after a failed
//! write (a `BufWriter` retries them on the next flush).

use crate::error::{io, lock_error, not_writable_or, Error};
use crate::file_storage::FileStorage;
use crate::options::WalOptions;
use crate::shared_sync::SharedSync;
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use walden_core::{
    scan_file, Codec, Durability, FileHeader, Lsn, Recovery, Storage, SyncMode, Tail, TailKind,
    Watermarks, FRAME_HEADER_LEN, HEADER_LEN,
};

/// How far the durable LSN moves past the header's sync mark before a drain rewrites the mark.
/// Damage in the records between the mark and the durable LSN looks like an interrupted batch to
/// recovery, so this bounds that blind spot (plus one batch); rewriting the header on every sync
/// instead would cost W2 about 5% and W3 at 64 threads about 25% (docs/performance.md).
pub const SYNC_MARK_STEP_BYTES: u64 = 64 * 1024;

/// A single-writer log over storage `S`. See the module documentation.
#[derive(Debug)]
pub struct WalWriter<S: Storage = FileStorage> {
    storage: S,
    codec: Codec,
    options: WalOptions,
    base_lsn: Lsn,
    marks: Watermarks,
    /// The frames in `[marks.written(), marks.current())`.
    buffer: Vec<u8>,
    /// Set by the first failed write or sync; see [`Error::Poisoned`].
    poisoned: Option<String>,
    /// Records appended by this writer since it opened.
    records_appended: u64,
    /// What recovery found when this writer opened the log.
    recovery: Recovery,
    /// The file offset up to which the file exists (records or zero fill): drains below it
    /// overwrite existing blocks.
    allocated: u64,
    /// The sync mark the header in storage holds (perhaps not yet synced); `None` for a file
    /// written before the mark existed, until this writer first sets it.
    sync_mark: Option<Lsn>,
}

impl WalWriter<FileStorage> {
    /// Opens the log file at `path` with default options, creating it if it does not exist.
    pub fn open(path: &Path) -> Result<WalWriter<FileStorage>, Error> {
        WalWriter::open_with(path, WalOptions::default())
    }

    /// Opens the log file at `path`, creating it if it does not exist, and recovers it.
    ///
    /// A new file is written under a temporary name, synced, renamed into place and its directory
    /// synced, so a crash never leaves a log file with a partial header. The file is locked
    /// (`flock`) for as long as the writer lives: a second writer gets [`Error::Locked`].
    pub fn open_with(path: &Path, options: WalOptions) -> Result<WalWriter<FileStorage>, Error> {
        let _span = tracing::info_span!("walden.open", path = %path.display()).entered();
        let log = || path.display().to_string();
        if !path.exists() {
            let header = FileHeader::new(random_salt(), Lsn::ZERO);
            FileStorage::create_atomically(path, &header.encode())
                .map_err(not_writable_or("creating the log file", log()))?;
        }
        let storage =
            FileStorage::open(path).map_err(not_writable_or("opening the log file", log()))?;
        // One writer per file: the lock lives as long as the file's descriptor (this writer's,
        // and the sync handles it hands out), and dies with the process.
        storage
            .shared_file()
            .try_lock()
            .map_err(std::io::Error::from)
            .map_err(lock_error(log()))?;
        WalWriter::recover(storage, options)
    }

    /// Drains the buffer into the OS and returns the LSN it reached with a shared handle to the
    /// file, so a group-commit leader can `sync_data` it outside the writer's lock, then report
    /// back with [`WalWriter::mark_durable`] or [`WalWriter::mark_sync_failed`].
    pub fn drain_for_group_sync(&mut self) -> Result<(Lsn, Arc<File>), Error> {
        self.drain_with_handle()
    }
}

impl<S: SharedSync> WalWriter<S>
where
    S::Error: Into<std::io::Error>,
{
    /// [`WalWriter::drain_for_group_sync`] for any storage with a shared sync handle.
    pub fn drain_with_handle(&mut self) -> Result<(Lsn, S::Handle), Error> {
        self.check_poisoned()?;
        let written = self.drain()?;
        Ok((written, self.storage.sync_handle()))
    }

    /// The sync a group-commit leader performs on the handle, per the durability mode.
    pub fn sync_mode(&self) -> SyncMode {
        self.sync_mode_or_data()
    }
}

impl<S: Storage> WalWriter<S>
where
    S::Error: Into<std::io::Error>,
{
    /// Starts a new log on empty `storage`: writes a header with a random salt and syncs it.
    pub fn create(mut storage: S, base_lsn: Lsn, options: WalOptions) -> Result<Self, Error> {
        let size = storage
            .size()
            .map_err(storage_err("reading the log size"))?;
        if size != 0 {
            return Err(Error::NotEmpty {
                current: Lsn::new(size),
            });
        }
        let header = FileHeader::new(random_salt(), base_lsn);
        storage
            .write_at(0, &header.encode())
            .map_err(storage_err("writing the log header"))?;
        storage
            .sync(SyncMode::All)
            .map_err(storage_err("syncing the new log header"))?;
        WalWriter::recover(storage, options)
    }

    /// Opens an existing log on `storage`: validates the header (a foreign or newer file is a
    /// typed error and is left untouched), scans it, and truncates a torn tail (syncing the
    /// truncation) before anything can be appended. An empty storage gets a fresh header.
    pub fn recover(mut storage: S, options: WalOptions) -> Result<Self, Error> {
        let _span = tracing::info_span!("walden.recover").entered();
        let size = storage
            .size()
            .map_err(storage_err("reading the log size"))?;
        if size == 0 {
            return WalWriter::create(storage, Lsn::ZERO, options);
        }
        let Ok(len) = usize::try_from(size) else {
            return Err(Error::Io {
                op: "reading the log for recovery",
                source: std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("a {size}-byte log does not fit in this platform's address space"),
                ),
            });
        };
        let mut image = vec![0u8; len];
        let read = storage
            .read_at(0, &mut image)
            .map_err(storage_err("reading the log for recovery"))?;
        image.truncate(read);
        let max = options.max_payload_len;
        let (header, recovery) = scan_file(
            &image,
            |salt| Codec::new(salt).with_max_payload_len(max),
            options.recovery_mode,
        )?;
        // Records past the sync mark may sit in pages that a failed fsync (of an earlier process,
        // in this boot) left clean in the page cache but never wrote: they read back fine, and a
        // sync would skip them. Writing them again dirties those pages, so this process's next
        // sync really persists them. Usually one batch; nothing after a clean close.
        let mark = header.sync_mark.unwrap_or(header.base_lsn);
        let unmarked = (HEADER_LEN as u64 + (mark.get() - header.base_lsn.get()))
            .min(recovery.valid_file_len());
        if unmarked < recovery.valid_file_len() {
            let range = usize::try_from(unmarked).unwrap_or(usize::MAX)
                ..usize::try_from(recovery.valid_file_len()).unwrap_or(usize::MAX);
            storage
                .write_at(unmarked, &image[range])
                .map_err(storage_err("rewriting the records past the sync mark"))?;
        }
        drop(image);
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
        if recovery.tail.is_some() && !keep_zeroed {
            storage
                .truncate(recovery.valid_file_len())
                .map_err(storage_err("truncating the torn tail"))?;
            storage
                .sync(SyncMode::All)
                .map_err(storage_err("syncing the truncated log"))?;
            allocated = recovery.valid_file_len();
        }
        tracing::info!(
            records = recovery.records,
            end_lsn = recovery.end_lsn.get(),
            tail = ?recovery.tail.map(|tail| tail.kind),
            tail_bytes = recovery.tail.map_or(0, |tail| tail.bytes),
            "walden: recovered"
        );
        // Nothing counts as durable until this process has synced it: durable stays at the base.
        let marks = Watermarks::recovered(header.base_lsn, recovery.end_lsn)?;
        Ok(WalWriter {
            storage,
            codec: Codec::new(header.salt).with_max_payload_len(max),
            options,
            base_lsn: header.base_lsn,
            marks,
            buffer: Vec::with_capacity(options.buffer_bytes),
            poisoned: None,
            records_appended: 0,
            recovery,
            allocated,
            sync_mark: header.sync_mark,
        })
    }

    /// What recovery found when the log was opened: records, end LSN, any tail it truncated.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The end of what was appended.
    pub fn current_lsn(&self) -> Lsn {
        self.marks.current()
    }

    /// The end of what was handed to the OS.
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

    /// Appends one record and returns its LSN. Not durable until a sync covers it.
    pub fn append(&mut self, payload: &[u8]) -> Result<Lsn, Error> {
        self.check_poisoned()?;
        let lsn = self.marks.current();
        let len = self.codec.check(lsn, payload.len())?;
        self.make_room(len)?;
        self.codec.encode_append(lsn, payload, &mut self.buffer)?;
        self.marks.append(len as u64)?;
        self.records_appended += 1;
        self.spill_oversized()?;
        Ok(lsn)
    }

    /// Appends frames already encoded at the current LSN (the group-commit drain path encodes
    /// outside the writer's lock). Checks that `frames` are whole frames within the size limit;
    /// their checksums are the encoder's responsibility and are verified by every reader.
    pub fn append_bytes(&mut self, frames: &[u8]) -> Result<Lsn, Error> {
        self.check_poisoned()?;
        let count = self.check_frames(frames)?;
        let lsn = self.marks.current();
        self.make_room(frames.len())?;
        self.buffer.extend_from_slice(frames);
        self.marks.append(frames.len() as u64)?;
        self.records_appended += count;
        self.spill_oversized()?;
        Ok(lsn)
    }

    /// Drains the buffer and syncs, per the durability mode (`SyncData` for `Buffered`, which
    /// only governs `flush_until`). Returns the new durable LSN.
    pub fn sync(&mut self) -> Result<Lsn, Error> {
        self.check_poisoned()?;
        let written = self.drain()?;
        if let Err(err) = self.storage.sync(self.sync_mode_or_data()) {
            return Err(self.poison("sync", err.into()));
        }
        self.marks.mark_durable(written)?;
        Ok(written)
    }

    /// Makes everything up to `target` durable: a no-op when it already is, otherwise a drain
    /// and a sync. With `Durability::Buffered` it drains only, and returns the written LSN.
    pub fn flush_until(&mut self, target: Lsn) -> Result<Lsn, Error> {
        self.check_poisoned()?;
        if !self.marks.needs_flush(target) {
            return Ok(self.marks.durable());
        }
        if target > self.marks.current() {
            return Err(Error::BeyondCurrent {
                target,
                current: self.marks.current(),
            });
        }
        match self.options.durability {
            Durability::Buffered => self.drain(),
            Durability::SyncData | Durability::SyncAll => self.sync(),
        }
    }

    /// Publishes `lsn` as durable after a sync this writer did not do itself (the group-commit
    /// leader's). Monotonic: a stale value is a no-op and returns `false`.
    pub fn mark_durable(&mut self, lsn: Lsn) -> Result<bool, Error> {
        self.check_poisoned()?;
        Ok(self.marks.mark_durable(lsn)?)
    }

    /// Reports that a sync done outside the writer (see `drain_for_group_sync`) failed: poisons
    /// the writer and returns the error to hand to everyone waiting.
    pub fn mark_sync_failed(&mut self, err: std::io::Error) -> Error {
        self.poison("sync", err)
    }

    /// Moves the current LSN forward to `lsn` on a log that holds no records yet, by rewriting
    /// the header's base LSN (e.g. to continue an LSN sequence recorded elsewhere).
    pub fn set_current_lsn(&mut self, lsn: Lsn) -> Result<(), Error> {
        self.check_poisoned()?;
        if self.marks.current() != self.base_lsn {
            return Err(Error::NotEmpty {
                current: self.marks.current(),
            });
        }
        if lsn < self.base_lsn {
            return Err(Error::Watermark(
                walden_core::WatermarkError::CurrentNotMonotonic {
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
    pub fn truncate(&mut self) -> Result<Lsn, Error> {
        let current = self.sync()?;
        self.rebase(current)?;
        Ok(current)
    }

    /// Drains and syncs everything appended, then moves the header's sync mark to the durable
    /// end and syncs that too, so recovery reports any later damage to these records as lost
    /// data rather than a torn tail. For a segment that will not be written again, and `close`.
    pub fn seal(&mut self) -> Result<Lsn, Error> {
        let durable = self.sync()?;
        if Some(durable) > self.sync_mark {
            self.write_sync_mark(durable)?;
            if let Err(err) = self.storage.sync(self.sync_mode_or_data()) {
                return Err(self.poison("sync of the sync mark", err.into()));
            }
        }
        Ok(durable)
    }

    /// Seals the log (see [`WalWriter::seal`]) and returns the durable LSN. On error, says what
    /// was not made durable; the log is then poisoned and must be reopened.
    pub fn close(mut self) -> Result<Lsn, Error> {
        self.seal()
    }

    /// The header's sync mark as this writer last wrote it (perhaps not yet synced).
    pub fn sync_mark(&self) -> Option<Lsn> {
        self.sync_mark
    }

    /// The sync `sync` performs: the durability mode's, and `SyncData` for `Buffered` (which
    /// only governs `flush_until`).
    fn sync_mode_or_data(&self) -> SyncMode {
        self.options
            .durability
            .sync_mode()
            .unwrap_or(SyncMode::Data)
    }

    /// Rewrites the header with its sync mark at `durable`, an LSN a completed sync made durable.
    /// A 64-byte write at offset 0 lies within one sector: docs/durability.md states the
    /// assumption that such a write is atomic.
    fn write_sync_mark(&mut self, durable: Lsn) -> Result<(), Error> {
        let header = FileHeader::new(self.codec.salt(), self.base_lsn).with_sync_mark(durable);
        if let Err(err) = self.storage.write_at(0, &header.encode()) {
            return Err(self.poison("sync mark write", err.into()));
        }
        self.sync_mark = Some(durable);
        Ok(())
    }

    fn rebase(&mut self, base_lsn: Lsn) -> Result<(), Error> {
        let header = FileHeader::new(self.codec.salt(), base_lsn);
        // A 64-byte write at offset 0 lies within one sector: docs/durability.md states the
        // assumption that such a write is atomic.
        if let Err(err) = self.storage.write_at(0, &header.encode()) {
            return Err(self.poison("header rewrite", err.into()));
        }
        if let Err(err) = self.storage.sync(SyncMode::All) {
            return Err(self.poison("sync of the header rewrite", err.into()));
        }
        if let Err(err) = self.storage.truncate(HEADER_LEN as u64) {
            return Err(self.poison("truncate", err.into()));
        }
        if let Err(err) = self.storage.sync(SyncMode::All) {
            return Err(self.poison("sync of the truncation", err.into()));
        }
        self.allocated = HEADER_LEN as u64;
        self.sync_mark = header.sync_mark;
        self.base_lsn = base_lsn;
        self.marks = Watermarks::new(base_lsn);
        Ok(())
    }

    /// Hands the buffer to storage; returns the written LSN. A failed write poisons: some prefix
    /// of the buffer may be on disk, and only recovery can tell which.
    fn drain(&mut self) -> Result<Lsn, Error> {
        if self.buffer.is_empty() {
            return Ok(self.marks.written());
        }
        // The batch this drain starts carries the mark of the last completed sync with it, once
        // that has moved a step past the mark the header holds: a header rewrite on every sync
        // would add a second dirty page to every fsync.
        let durable = self.marks.durable();
        let due = self
            .sync_mark
            .is_none_or(|mark| durable.get().saturating_sub(mark.get()) >= SYNC_MARK_STEP_BYTES);
        if due && Some(durable) > self.sync_mark {
            self.write_sync_mark(durable)?;
        }
        let offset = self.file_offset(self.marks.written());
        self.preallocate(offset + self.buffer.len() as u64)?;
        if let Err(err) = self.storage.write_at(offset, &self.buffer) {
            return Err(self.poison("write", err.into()));
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
    fn preallocate(&mut self, end: u64) -> Result<(), Error> {
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
                return Err(self.poison("preallocating write", err.into()));
            }
            at += len as u64;
        }
        self.allocated = target;
        Ok(())
    }

    /// Drains first if `len` more bytes would overflow the buffer.
    fn make_room(&mut self, len: usize) -> Result<(), Error> {
        if !self.buffer.is_empty() && self.buffer.len() + len > self.options.buffer_bytes {
            self.drain()?;
        }
        Ok(())
    }

    /// A record larger than the whole buffer goes straight through rather than growing it.
    fn spill_oversized(&mut self) -> Result<(), Error> {
        if self.buffer.len() > self.options.buffer_bytes {
            self.drain()?;
            self.buffer.shrink_to(self.options.buffer_bytes);
        }
        Ok(())
    }

    fn file_offset(&self, lsn: Lsn) -> u64 {
        HEADER_LEN as u64 + (lsn.get() - self.base_lsn.get())
    }

    /// Counts the frames in `frames`, checking they tile it exactly and that each passes the
    /// codec's own pre-encoding check at its LSN (payload limit, LSN overflow), so nothing is
    /// buffered that `marks.append` could then refuse.
    fn check_frames(&self, frames: &[u8]) -> Result<u64, Error> {
        let mut offset = 0;
        let mut count = 0;
        while offset < frames.len() {
            let Some(len_bytes) = frames.get(offset + 4..offset + FRAME_HEADER_LEN) else {
                return Err(Error::InvalidFrames {
                    offset,
                    reason: "a frame header is cut short",
                });
            };
            let mut raw = [0u8; 4];
            raw.copy_from_slice(len_bytes);
            let len = u32::from_le_bytes(raw) as usize;
            let lsn = Lsn::new(self.marks.current().get().saturating_add(offset as u64));
            let within_limits = len
                .checked_sub(FRAME_HEADER_LEN)
                .is_some_and(|payload_len| self.codec.check(lsn, payload_len).is_ok());
            if !within_limits {
                return Err(Error::InvalidFrames {
                    offset,
                    reason: "a frame length is outside the allowed range",
                });
            }
            offset += len;
            count += 1;
        }
        if offset != frames.len() {
            return Err(Error::InvalidFrames {
                offset: frames.len(),
                reason: "the last frame is cut short",
            });
        }
        Ok(count)
    }

    /// The `Poisoned` error, with its cause, once a write or sync has failed.
    pub(crate) fn poisoned_error(&self) -> Option<Error> {
        self.check_poisoned().err()
    }

    fn check_poisoned(&self) -> Result<(), Error> {
        match &self.poisoned {
            Some(cause) => Err(Error::Poisoned {
                durable: self.marks.durable(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison(&mut self, op: &'static str, err: std::io::Error) -> Error {
        if self.poisoned.is_none() {
            tracing::error!(
                op,
                error = %err,
                durable_lsn = self.marks.durable().get(),
                "walden: log poisoned; reopen it to recover"
            );
            self.poisoned = Some(format!("{op} failed: {err}"));
        }
        Error::Io { op, source: err }
    }

    /// Poisons the writer (a no-op if it already is) because of a failure around it, such as a
    /// segment that could not be created or an append queue that lost a range: `cause` becomes
    /// the cause every later [`Error::Poisoned`] names.
    pub(crate) fn poison_because(&mut self, cause: &Error) {
        if self.poisoned.is_none() {
            tracing::error!(
                error = %cause,
                durable_lsn = self.marks.durable().get(),
                "walden: log poisoned; reopen it to recover"
            );
            self.poisoned = Some(cause.to_string());
        }
    }
}

/// The zeros preallocation writes, a block of them at a time.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

fn storage_err<E: Into<std::io::Error>>(op: &'static str) -> impl FnOnce(E) -> Error {
    move |err| io(op)(err.into())
}

/// A salt that differs between logs and between incarnations of one path: the standard
/// library's per-process random hasher keys, mixed with the clock.
pub(crate) fn random_salt() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}
