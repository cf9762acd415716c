//! [`WalWriter`]: one log file, one writer (`&mut self`), over any [`Storage`]: the core's
//! [`LogWriter`] with what a native process adds around it.
//!
//! Everything about the file's contents lives in the core's `LogWriter` (`core/src/log_writer.rs`,
//! shared with the browser backend): the 64 KiB buffer, drains, syncs, recovery on open (a torn
//! tail truncated and synced before any append), the sync mark, preallocation and poisoning.
//! This module adds only:
//! - opening a file by path: atomic creation (temporary name, header synced, rename, directory
//!   synced) and the one-writer `flock`, held as long as the writer lives;
//! - a random salt for new logs;
//! - a shared sync handle for a group-commit leader that syncs outside the writer's lock
//!   (`drain_for_group_sync`), and the report of that sync's failure;
//! - `tracing` for opening, recovery and poisoning;
//! - the crate's [`Error`], into which the core's `WriterError` converts.
//!
//! Invariant: every error the core writer returns passes through [`WalWriter::lift`], which logs
//! the poisoning (once) and converts the error, so no failure is reported without its event.

use crate::error::{lock_error, not_writable_or, Error};
use crate::file_storage::FileStorage;
use crate::options::WalOptions;
use crate::shared_sync::SharedSync;
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
pub use walden_core::SYNC_MARK_STEP_BYTES;
use walden_core::{
    Appended, Codec, FileHeader, LogWriter, Lsn, Recovery, Storage, SyncMode, WriterError,
};

/// A single-writer log over storage `S`. See the module documentation.
#[derive(Debug)]
pub struct WalWriter<S: Storage = FileStorage> {
    log: LogWriter<S>,
    /// Whether the poisoning has been reported through `tracing` (once per writer).
    poison_reported: bool,
}

impl WalWriter<FileStorage> {
    /// Opens the log file at `path` with default options, creating it if it does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<WalWriter<FileStorage>, Error> {
        WalWriter::open_with(path, WalOptions::default())
    }

    /// Opens the log file at `path`, creating it if it does not exist, and recovers it.
    ///
    /// A new file is written under a temporary name, synced, renamed into place and its directory
    /// synced, so a crash never leaves a log file with a partial header. The file is locked
    /// (`flock`) for as long as the writer lives: a second writer gets [`Error::Locked`].
    pub fn open_with(
        path: impl AsRef<Path>,
        options: WalOptions,
    ) -> Result<WalWriter<FileStorage>, Error> {
        let path = path.as_ref();
        let _span = tracing::info_span!("walden.open", path = %path.display()).entered();
        let log = || path.display().to_string();
        if !path.exists() {
            let header = FileHeader::new(random_salt(), Lsn::ZERO);
            FileStorage::create_atomically(path, &header.encode_initial())
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
    pub(crate) fn drain_with_handle(&mut self) -> Result<(Lsn, S::Handle), Error> {
        let drained = self.log.drain();
        let written = self.lift(drained)?;
        Ok((written, self.log.storage().sync_handle()))
    }

    /// The sync a group-commit leader performs on the handle, per the durability mode.
    pub(crate) fn sync_mode(&self) -> SyncMode {
        self.log.sync_mode()
    }
}

impl<S: Storage> WalWriter<S>
where
    S::Error: Into<std::io::Error>,
{
    /// Starts a new log on empty `storage`: writes a header with a random salt and syncs it.
    pub fn create(storage: S, base_lsn: Lsn, options: WalOptions) -> Result<Self, Error> {
        let created = LogWriter::create(storage, random_salt(), base_lsn, options.writer_options());
        WalWriter::opened(created)
    }

    /// Opens an existing log on `storage`: validates the header (a foreign or newer file is a
    /// typed error and is left untouched), scans it, and truncates a torn tail (syncing the
    /// truncation) before anything can be appended. An empty storage gets a fresh header.
    pub fn recover(storage: S, options: WalOptions) -> Result<Self, Error> {
        let _span = tracing::info_span!("walden.recover").entered();
        let recovered = LogWriter::recover(storage, options.writer_options(), random_salt());
        let writer = WalWriter::opened(recovered)?;
        let recovery = writer.recovery();
        tracing::info!(
            records = recovery.records,
            end_lsn = recovery.end_lsn.get(),
            tail = ?recovery.tail.map(|tail| tail.kind),
            tail_bytes = recovery.tail.map_or(0, |tail| tail.bytes),
            "walden: recovered"
        );
        // Every cut is an operator's business: bytes were removed from the log.
        if let Some(tail) = recovery.tail.filter(|_| writer.recovery_cut_tail()) {
            let cut = crate::recovery::Cut {
                at: tail.at,
                bytes: tail.bytes,
                why: crate::recovery::CutReason::Tail(tail.kind),
            };
            tracing::warn!(
                at = tail.at.get(),
                bytes = tail.bytes,
                sync_mark = recovery.sync_mark.map(Lsn::get),
                "walden: recovery {cut}"
            );
        }
        Ok(writer)
    }

    fn opened(log: Result<LogWriter<S>, WriterError<S::Error>>) -> Result<Self, Error> {
        Ok(WalWriter {
            log: log.map_err(convert)?,
            poison_reported: false,
        })
    }

    /// What recovery found when the log was opened: records, end LSN, any tail it truncated.
    pub fn recovery(&self) -> &Recovery {
        self.log.recovery()
    }

    /// Whether recovery removed the tail [`WalWriter::recovery`] reports, rather than keeping
    /// it (zero fill, with preallocation on).
    pub(crate) fn recovery_cut_tail(&self) -> bool {
        self.log.recovery_cut_tail()
    }

    /// The end of what was appended.
    pub fn current_lsn(&self) -> Lsn {
        self.log.current_lsn()
    }

    /// The end of what was handed to the OS.
    pub fn written_lsn(&self) -> Lsn {
        self.log.written_lsn()
    }

    /// The end of what is durable.
    pub fn durable_lsn(&self) -> Lsn {
        self.log.durable_lsn()
    }

    /// The LSN of the log's first byte (it grows with `truncate`).
    pub fn base_lsn(&self) -> Lsn {
        self.log.base_lsn()
    }

    /// Records appended through this writer since it opened (not counting recovered ones).
    pub fn records_appended(&self) -> u64 {
        self.log.records_appended()
    }

    /// The codec frames of this log are encoded with (its salt and payload limit): encode with it
    /// at a reserved LSN outside the writer's lock, then hand the frames to `append_bytes`.
    pub fn codec(&self) -> Codec {
        self.log.codec()
    }

    /// The storage underneath (for tests and tools).
    pub fn storage(&self) -> &S {
        self.log.storage()
    }

    /// The storage underneath, mutably (for tests that inject faults or crashes).
    pub fn storage_mut(&mut self) -> &mut S {
        self.log.storage_mut()
    }

    /// Appends one record and returns where it lies. It is not durable yet: hand the receipt
    /// to [`WalWriter::wait_durable`], or call [`WalWriter::sync`].
    pub fn append(&mut self, payload: &[u8]) -> Result<Appended, Error> {
        let appended = self.log.append(payload);
        self.lift(appended)
    }

    /// Makes `record` (and everything appended before it) durable: a no-op when it already is,
    /// otherwise a drain and a sync. Returns the durable LSN (with `Durability::Buffered`, which
    /// only drains: the written LSN).
    pub fn wait_durable(&mut self, record: Appended) -> Result<Lsn, Error> {
        self.flush_until(record.end())
    }

    /// Hands the buffer to the OS without syncing; returns the written LSN.
    pub(crate) fn drain(&mut self) -> Result<Lsn, Error> {
        let drained = self.log.drain();
        self.lift(drained)
    }

    /// Appends frames already encoded at the current LSN (the group-commit drain path encodes
    /// outside the writer's lock). Checks that `frames` are whole frames within the size limit;
    /// their checksums are the encoder's responsibility and are verified by every reader.
    pub fn append_bytes(&mut self, frames: &[u8]) -> Result<Lsn, Error> {
        let appended = self.log.append_bytes(frames);
        self.lift(appended)
    }

    /// Drains the buffer and syncs, per the durability mode (`SyncData` for `Buffered`, which
    /// only governs `flush_until`). Returns the new durable LSN.
    pub fn sync(&mut self) -> Result<Lsn, Error> {
        let synced = self.log.sync();
        self.lift(synced)
    }

    /// Makes everything up to `target`, an end position such as [`WalWriter::current_lsn`],
    /// durable: a no-op when it already is, otherwise a drain and a sync. With
    /// `Durability::Buffered` it drains only, and returns the written LSN. For one record you
    /// appended, [`WalWriter::wait_durable`] takes its receipt instead.
    pub fn flush_until(&mut self, target: Lsn) -> Result<Lsn, Error> {
        let flushed = self.log.flush_until(target);
        self.lift(flushed)
    }

    /// Publishes `lsn` as durable after a sync this writer did not do itself (the group-commit
    /// leader's). Monotonic: a stale value is a no-op and returns `false`.
    pub fn mark_durable(&mut self, lsn: Lsn) -> Result<bool, Error> {
        let marked = self.log.mark_durable(lsn);
        self.lift(marked)
    }

    /// Reports that a sync done outside the writer (see `drain_for_group_sync`) failed: poisons
    /// the writer and returns the error to hand to everyone waiting.
    pub fn mark_sync_failed(&mut self, err: std::io::Error) -> Error {
        self.log.poison(format!("sync failed: {err}"));
        self.report_poison();
        Error::Io {
            op: "sync",
            source: err,
        }
    }

    /// Moves the current LSN forward to `lsn` on a log that holds no records yet, by rewriting
    /// the header's base LSN (e.g. to continue an LSN sequence recorded elsewhere).
    pub fn set_current_lsn(&mut self, lsn: Lsn) -> Result<(), Error> {
        let set = self.log.set_current_lsn(lsn);
        self.lift(set)
    }

    /// Discards every record (after a checkpoint made them unnecessary) while keeping LSNs
    /// growing: drains and syncs, then rewrites the header with base LSN = current LSN and
    /// truncates the file to it. A crash in between leaves old frames behind a header whose base
    /// no longer matches their LSNs, so recovery reads them as a torn tail and drops them.
    pub fn truncate(&mut self) -> Result<Lsn, Error> {
        let truncated = self.log.truncate();
        self.lift(truncated)
    }

    /// Drains and syncs everything appended, then moves the header's sync mark to the durable
    /// end and syncs that too, so recovery reports any later damage to these records as lost
    /// data rather than a torn tail. For a segment that will not be written again, and `close`.
    pub fn seal(&mut self) -> Result<Lsn, Error> {
        let sealed = self.log.seal();
        self.lift(sealed)
    }

    /// Seals the log (see [`WalWriter::seal`]) and returns the durable LSN. On error, says what
    /// was not made durable; the log is then poisoned and must be reopened.
    pub fn close(mut self) -> Result<Lsn, Error> {
        self.seal()
    }

    /// Whether the writer is poisoned (a write or sync failed).
    pub fn is_poisoned(&self) -> bool {
        self.log.poisoned().is_some()
    }

    /// The header's sync mark as this writer last wrote it (perhaps not yet synced).
    pub fn sync_mark(&self) -> Option<Lsn> {
        self.log.sync_mark()
    }

    /// The `Poisoned` error, with its cause, once a write or sync has failed.
    pub(crate) fn poisoned_error(&self) -> Option<Error> {
        self.log.check_poisoned().err().map(convert)
    }

    /// Poisons the writer (a no-op if it already is) because of a failure around it, such as a
    /// segment that could not be created or an append queue that lost a range: `cause` becomes
    /// the cause every later [`Error::Poisoned`] names.
    pub(crate) fn poison_because(&mut self, cause: &Error) {
        self.log.poison(cause.to_string());
        self.report_poison();
    }

    /// Converts a core writer result into the crate's, reporting a poisoning it caused.
    fn lift<T>(&mut self, result: Result<T, WriterError<S::Error>>) -> Result<T, Error> {
        if result.is_err() {
            self.report_poison();
        }
        result.map_err(convert)
    }

    /// Emits the poisoning's error event, once, if the writer is poisoned.
    fn report_poison(&mut self) {
        if self.poison_reported {
            return;
        }
        if let Some(cause) = self.log.poisoned() {
            tracing::error!(
                error = cause,
                durable_lsn = self.log.durable_lsn().get(),
                "walden: log poisoned; reopen it to recover"
            );
            self.poison_reported = true;
        }
    }
}

/// What a `WalWriter` dropped without [`WalWriter::close`] does, as a `BufWriter` would: the
/// buffer is handed to the OS, so every record appended survives this process ending or
/// crashing afterwards. Nothing is synced: a record no `sync`, `flush_until` or `wait_durable`
/// covered may be lost in a power loss or an OS crash. A poisoned writer writes nothing more. A
/// failure is reported through `tracing` (a destructor cannot return it); call `close` to see it.
impl<S: Storage> Drop for WalWriter<S> {
    fn drop(&mut self) {
        if self.log.poisoned().is_some() || self.log.written_lsn() == self.log.current_lsn() {
            return;
        }
        if let Err(err) = self.log.drain() {
            tracing::error!(
                error = %err,
                durable_lsn = self.log.durable_lsn().get(),
                "walden: dropping the log could not hand its last appends to the OS"
            );
        }
    }
}

/// The crate's error for a core writer error; storage errors become `std::io` errors.
fn convert<E: Into<std::io::Error>>(err: WriterError<E>) -> Error {
    match err.map_storage(Into::into) {
        WriterError::Storage { op, source } => Error::Io { op, source },
        WriterError::Header(err) => Error::Header(err),
        WriterError::Recovery(err) => Error::Recovery(err),
        WriterError::Encode(err) => Error::Encode(err),
        WriterError::Input(err) => Error::Input(err),
        WriterError::Watermark(err) => Error::Watermark(err),
        WriterError::Poisoned(err) => Error::Poisoned(err),
        // `WriterError` is non-exhaustive for other crates: a variant added to the core later
        // still reaches the caller with its own text.
        other => Error::Io {
            op: "writing the log",
            source: std::io::Error::other(other.to_string()),
        },
    }
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
