//! Shared by the `Wal` tests: a segment directory whose files inject faults and record who
//! synced them, and an independent reader of a log directory.
//!
//! The faults (`Faults`, armed by the test, each firing once):
//! - a write fails with an errno (`EIO`, `ENOSPC`), optionally after landing a prefix of its bytes
//!   (a short write: the `Storage` contract allows any prefix on error), matching record writes
//!   or the zero fill of preallocation, in any segment or only in segments created later;
//! - a sync fails with `EIO`, with Linux's semantics: the writes it covered are dropped from
//!   what reaches the disk, yet they no longer count as dirty, so the next sync (on any handle
//!   of the file) reports success without them;
//! - creating a segment fails with an errno, leaving a partial `{name}.creating` file behind;
//! - syncs can be slowed (`sync_delay_ms`) or held at a gate until the test releases them.
//!
//! What reaches the disk is modelled per segment: the bytes of the last successful syncs (the
//! durable image) and the writes and truncations since (pending). `Faults::power_loss` rewrites
//! every segment to its durable image, as a power cut would leave it; without it, a dropped log
//! reopens with everything the OS was handed, as after a process crash.

#![allow(dead_code, unreachable_pub)] // Each test binary uses its own part; `pub` is for them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use walden::backend::{segment_file_name, FileStorage, FsDir, SegmentDir, SharedSync};
use walden::{Error, Wal, WalOptions};
use walden_core::{Codec, Decoded, FileHeader, Lsn, Records, Storage, SyncMode, MARKER_FRAME_LEN};

/// Linux's `EIO`: the device reported an I/O error.
pub const EIO: i32 = 5;
/// Linux's `ENOSPC`: no space left on the device.
pub const ENOSPC: i32 = 28;

/// How long a test waits for a sync to reach a gate before failing instead of hanging.
const GATE_WAIT_MAX: Duration = Duration::from_secs(30);

/// Which writes a [`WriteFault`] matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// Every write.
    Any,
    /// Writes holding record bytes (drains); frames are never all zeros.
    Records,
    /// Writes of zeros only: preallocation extending the file ahead of the records.
    ZeroFill,
}

/// A write that fails once. See the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct WriteFault {
    /// The error the write returns.
    pub errno: i32,
    /// Bytes of the write that reach the file before the error (clamped to the write's length).
    pub lands: usize,
    /// The writes it matches.
    pub writes: Writes,
    /// Only writes into segments whose base LSN is at least this.
    pub min_base: Lsn,
    /// Matching writes that succeed before the one that fails.
    pub skip: u64,
}

impl Default for WriteFault {
    /// `EIO` on the next record write, nothing landing.
    fn default() -> WriteFault {
        WriteFault {
            errno: EIO,
            lands: 0,
            writes: Writes::Records,
            min_base: Lsn::ZERO,
            skip: 0,
        }
    }
}

/// Which syncs a sync fault or a gate applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syncs {
    /// The group-commit leader's sync of a shared handle (`SharedSync::sync_shared`).
    Shared,
    /// The writer's own `Storage::sync`: sealing a segment, recovery on open, close.
    Own,
    /// Both.
    Any,
}

impl Syncs {
    fn matches(self, kind: Syncs) -> bool {
        self == Syncs::Any || self == kind
    }
}

/// What the fault-injecting files saw and what they should do (shared with their sync handles).
#[derive(Debug, Default)]
pub struct Faults {
    /// Shared (group-commit) syncs run.
    pub syncs: AtomicU64,
    /// The next shared sync fails (Linux-style, as [`Faults::fail_sync`]), with the error
    /// "injected EIO" rather than the OS's text.
    pub fail_next_sync: AtomicBool,
    /// Each shared sync sleeps this long first: a slow disk, so work can overlap it.
    pub sync_delay_ms: AtomicU64,
    /// Shared syncs in flight right now.
    pub syncing: AtomicU64,
    /// The names of the threads that ran shared syncs.
    pub sync_threads: Mutex<BTreeSet<String>>,
    /// The writers' own syncs run.
    pub own_syncs: AtomicU64,
    plan: Mutex<Plan>,
    fired: Mutex<Vec<String>>,
    disk: Mutex<Disk>,
    gates: Mutex<Gates>,
    gate_changed: Condvar,
}

/// The armed faults; each fires once and is then disarmed.
#[derive(Debug, Default)]
struct Plan {
    write: Option<WriteFault>,
    /// Which syncs, and how many matching ones succeed first.
    sync: Option<(Syncs, u64)>,
    create: Option<i32>,
}

/// Syncs held by the test: whether each gate is closed, and how many syncs wait at it.
#[derive(Debug, Default)]
struct Gates {
    shared_held: bool,
    own_held: bool,
    shared_parked: u64,
    own_parked: u64,
}

/// What reaches the disk, per segment (by base LSN).
#[derive(Debug, Default)]
struct Disk {
    files: BTreeMap<Lsn, FileModel>,
    /// Orders every write and truncation, so a sync covers exactly those made before it began.
    next_seq: u64,
}

#[derive(Debug, Default)]
struct FileModel {
    /// What a power loss leaves.
    durable: Vec<u8>,
    /// Writes and truncations since, in order, with their sequence numbers.
    pending: Vec<(u64, Pending)>,
}

#[derive(Debug)]
enum Pending {
    Write { offset: usize, bytes: Vec<u8> },
    Truncate { len: usize },
}

impl Pending {
    fn apply(&self, image: &mut Vec<u8>) {
        match self {
            Pending::Write { offset, bytes } => {
                let end = offset + bytes.len();
                if image.len() < end {
                    image.resize(end, 0);
                }
                image[*offset..end].copy_from_slice(bytes);
            }
            Pending::Truncate { len } => image.resize(*len, 0),
        }
    }
}

/// A sync in progress: it covers the writes made before `seq`, and fails with `fail`.
#[derive(Debug)]
struct SyncTicket {
    base: Lsn,
    seq: u64,
    fail: Option<io::Error>,
}

impl Faults {
    /// Shared syncs run so far.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Arms a write fault.
    pub fn fail_write(&self, fault: WriteFault) {
        self.plan().write = Some(fault);
    }

    /// Arms a sync fault: the first matching sync after `skip` successful ones fails with `EIO`
    /// and drops the writes it covered (Linux marks their pages clean).
    pub fn fail_sync(&self, syncs: Syncs, skip: u64) {
        self.plan().sync = Some((syncs, skip));
    }

    /// Arms a failure of the next segment creation with `errno`.
    pub fn fail_create(&self, errno: i32) {
        self.plan().create = Some(errno);
    }

    /// Whether every armed fault has fired.
    pub fn all_fired(&self) -> bool {
        let plan = self.plan();
        plan.write.is_none()
            && plan.sync.is_none()
            && plan.create.is_none()
            && !self.fail_next_sync.load(Ordering::Acquire)
    }

    /// The faults that fired, in order, described.
    pub fn fired(&self) -> Vec<String> {
        lock(&self.fired).clone()
    }

    /// Holds matching syncs at a gate until [`Faults::release`]; they have taken their snapshot
    /// of what they cover (and their fate) before they wait.
    pub fn hold(&self, syncs: Syncs) {
        let mut gates = lock(&self.gates);
        gates.shared_held |= syncs.matches(Syncs::Shared);
        gates.own_held |= syncs.matches(Syncs::Own);
    }

    /// Lets held syncs go.
    pub fn release(&self, syncs: Syncs) {
        let mut gates = lock(&self.gates);
        gates.shared_held &= !syncs.matches(Syncs::Shared);
        gates.own_held &= !syncs.matches(Syncs::Own);
        self.gate_changed.notify_all();
    }

    /// Waits until `count` syncs of `kind` (`Shared` or `Own`) wait at the gate; panics after
    /// [`GATE_WAIT_MAX`].
    pub fn wait_parked(&self, kind: Syncs, count: u64) {
        let deadline = Instant::now() + GATE_WAIT_MAX;
        let mut gates = lock(&self.gates);
        loop {
            let parked = match kind {
                Syncs::Shared => gates.shared_parked,
                Syncs::Own => gates.own_parked,
                Syncs::Any => gates.shared_parked + gates.own_parked,
            };
            if parked >= count {
                return;
            }
            let now = Instant::now();
            assert!(now < deadline, "no {kind:?} sync reached the gate");
            gates = self
                .gate_changed
                .wait_timeout(gates, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Cuts the power: rewrites every segment in the directory at `path` to what its last
    /// successful syncs made durable. Call it with no log open on the directory.
    pub fn power_loss(&self, path: &Path) {
        let mut disk = lock(&self.disk);
        for (base, file) in &mut disk.files {
            std::fs::write(path.join(segment_file_name(*base)), &file.durable)
                .expect("rewrite a segment to its durable image");
            file.pending.clear();
        }
    }

    /// The durable image of the segment starting at `base`, if a faulty file has opened it.
    pub fn durable_image(&self, base: Lsn) -> Option<Vec<u8>> {
        lock(&self.disk)
            .files
            .get(&base)
            .map(|file| file.durable.clone())
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        lock(&self.plan)
    }

    fn note(&self, what: String) {
        lock(&self.fired).push(what);
    }

    /// Registers a segment the first time a faulty file opens it: what is in it now counts as
    /// durable (it was written before these faults existed, or synced by its creation).
    fn register(&self, base: Lsn, durable: impl FnOnce() -> Vec<u8>) {
        lock(&self.disk)
            .files
            .entry(base)
            .or_insert_with(|| FileModel {
                durable: durable(),
                pending: Vec::new(),
            });
    }

    fn record(&self, base: Lsn, op: Pending) {
        let mut disk = lock(&self.disk);
        let seq = disk.next_seq;
        disk.next_seq += 1;
        disk.files.entry(base).or_default().pending.push((seq, op));
    }

    /// Decides a write's fate: `Some((bytes that land, errno))` if a fault fires on it.
    fn write_fault(&self, base: Lsn, bytes: &[u8]) -> Option<(usize, i32)> {
        let mut plan = self.plan();
        let fault = plan.write.as_mut()?;
        let zeros = bytes.iter().all(|&b| b == 0);
        let matches = base >= fault.min_base
            && match fault.writes {
                Writes::Any => true,
                Writes::Records => !zeros,
                Writes::ZeroFill => zeros,
            };
        if !matches {
            return None;
        }
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        let fault = plan.write.take()?;
        drop(plan);
        let lands = fault.lands.min(bytes.len());
        self.note(format!(
            "write of {} bytes to segment {base}: {lands} landed, then errno {}",
            bytes.len(),
            fault.errno
        ));
        Some((lands, fault.errno))
    }

    /// Starts a sync of segment `base`: snapshots what it covers and decides whether it fails.
    /// A failing sync drops what it covers at once: a concurrent sync of the same file that
    /// completes first must not persist those writes either (Linux reports the error once).
    fn begin_sync(&self, kind: Syncs, base: Lsn) -> SyncTicket {
        let fail = {
            let mut plan = self.plan();
            let planned = match plan.sync.as_mut() {
                Some((syncs, skip)) if syncs.matches(kind) => {
                    if *skip > 0 {
                        *skip -= 1;
                        false
                    } else {
                        plan.sync = None;
                        true
                    }
                }
                _ => false,
            };
            let flagged =
                kind == Syncs::Shared && self.fail_next_sync.swap(false, Ordering::AcqRel);
            match (planned, flagged) {
                (true, _) => Some(io::Error::from_raw_os_error(EIO)),
                (false, true) => Some(io::Error::other("injected EIO")),
                (false, false) => None,
            }
        };
        let mut disk = lock(&self.disk);
        let seq = disk.next_seq;
        if fail.is_some() {
            let dropped = disk.files.get_mut(&base).map_or(0, |file| {
                let before = file.pending.len();
                file.pending.retain(|(op_seq, _)| *op_seq >= seq);
                before - file.pending.len()
            });
            drop(disk);
            self.note(format!(
                "{kind:?} sync of segment {base} failed with EIO; {dropped} pending writes lost"
            ));
        }
        SyncTicket { base, seq, fail }
    }

    /// Finishes a successful sync: what it covered is durable.
    fn end_sync(&self, ticket: &SyncTicket) {
        let mut disk = lock(&self.disk);
        let Some(file) = disk.files.get_mut(&ticket.base) else {
            return;
        };
        let (covered, later): (Vec<_>, Vec<_>) = std::mem::take(&mut file.pending)
            .into_iter()
            .partition(|(seq, _)| *seq < ticket.seq);
        for (_, op) in &covered {
            op.apply(&mut file.durable);
        }
        file.pending = later;
    }

    /// Waits while the gate for `kind` is closed.
    fn pass_gate(&self, kind: Syncs) {
        let mut gates = lock(&self.gates);
        let held = |gates: &Gates| match kind {
            Syncs::Shared => gates.shared_held,
            _ => gates.own_held,
        };
        if !held(&gates) {
            return;
        }
        match kind {
            Syncs::Shared => gates.shared_parked += 1,
            _ => gates.own_parked += 1,
        }
        self.gate_changed.notify_all();
        while held(&gates) {
            gates = self
                .gate_changed
                .wait(gates)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        match kind {
            Syncs::Shared => gates.shared_parked -= 1,
            _ => gates.own_parked -= 1,
        }
    }

    /// Runs one sync of segment `base` through the fault plan, the gate and the disk model.
    fn sync(
        &self,
        kind: Syncs,
        base: Lsn,
        real: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let mut ticket = self.begin_sync(kind, base);
        self.pass_gate(kind);
        if let Some(err) = ticket.fail.take() {
            return Err(err);
        }
        real()?;
        self.end_sync(&ticket);
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A segment file with fault injection on its writes and syncs, and a model of what of it has
/// reached the disk.
#[derive(Debug)]
pub struct FaultyFile {
    inner: FileStorage,
    faults: Arc<Faults>,
    base: Lsn,
}

impl Storage for FaultyFile {
    type Error = io::Error;
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let start = usize::try_from(offset).expect("test files fit in memory");
        if let Some((lands, errno)) = self.faults.write_fault(self.base, bytes) {
            if lands > 0 {
                self.inner.write_at(offset, &bytes[..lands])?;
                self.faults.record(
                    self.base,
                    Pending::Write {
                        offset: start,
                        bytes: bytes[..lands].to_vec(),
                    },
                );
            }
            return Err(io::Error::from_raw_os_error(errno));
        }
        self.inner.write_at(offset, bytes)?;
        self.faults.record(
            self.base,
            Pending::Write {
                offset: start,
                bytes: bytes.to_vec(),
            },
        );
        Ok(())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn sync(&mut self, mode: SyncMode) -> io::Result<()> {
        self.faults.own_syncs.fetch_add(1, Ordering::Relaxed);
        let inner = &mut self.inner;
        self.faults.sync(Syncs::Own, self.base, || inner.sync(mode))
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)?;
        let len = usize::try_from(len).expect("test files fit in memory");
        self.faults.record(self.base, Pending::Truncate { len });
        Ok(())
    }
}

impl SharedSync for FaultyFile {
    type Handle = (Arc<File>, Arc<Faults>, Lsn);
    fn sync_handle(&self) -> Self::Handle {
        (
            self.inner.shared_file(),
            Arc::clone(&self.faults),
            self.base,
        )
    }
    fn sync_shared((file, faults, base): &Self::Handle, mode: SyncMode) -> io::Result<()> {
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        lock(&faults.sync_threads).insert(name);
        faults.syncing.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(
            faults.sync_delay_ms.load(Ordering::Relaxed),
        ));
        faults.syncs.fetch_add(1, Ordering::Relaxed);
        let result = faults.sync(Syncs::Shared, *base, || {
            FileStorage::sync_shared(file, mode)
        });
        faults.syncing.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// A directory whose segments are `FaultyFile`s sharing one set of faults.
#[derive(Clone, Debug)]
pub struct FaultyDir {
    inner: FsDir,
    faults: Arc<Faults>,
}

impl FaultyDir {
    /// The directory at `path` (created if missing), its files sharing `faults`.
    pub fn new(path: &Path, faults: &Arc<Faults>) -> FaultyDir {
        FaultyDir {
            inner: FsDir::create_all(path).expect("create the log directory"),
            faults: Arc::clone(faults),
        }
    }

    /// The path of the segment starting at `base`.
    pub fn segment_path(&self, base: Lsn) -> PathBuf {
        self.inner.segment_path(base)
    }
}

impl SegmentDir for FaultyDir {
    type Storage = FaultyFile;
    type Lock = walden::backend::DirLock;
    fn lock(&self) -> io::Result<walden::backend::DirLock> {
        self.inner.lock()
    }
    fn list(&self) -> io::Result<Vec<Lsn>> {
        self.inner.list()
    }
    fn open(&self, base: Lsn) -> io::Result<FaultyFile> {
        let inner = self.inner.open(base)?;
        let path = self.inner.segment_path(base);
        self.faults.register(base, || {
            std::fs::read(&path).expect("read a segment the first time it is opened")
        });
        Ok(FaultyFile {
            inner,
            faults: Arc::clone(&self.faults),
            base,
        })
    }
    fn create(&self, base: Lsn, header: &[u8]) -> io::Result<FaultyFile> {
        let planned = self.faults.plan().create.take();
        if let Some(errno) = planned {
            // What the error leaves halfway through an atomic creation: a partial temporary
            // file, which the next open removes.
            let partial = format!("{}.creating", segment_file_name(base));
            std::fs::write(self.inner.path().join(partial), &header[..header.len() / 2])?;
            self.faults
                .note(format!("creating segment {base} failed with errno {errno}"));
            return Err(io::Error::from_raw_os_error(errno));
        }
        let inner = self.inner.create(base, header)?;
        // Creation syncs the file and its directory entry: the header is durable.
        lock(&self.faults.disk).files.insert(
            base,
            FileModel {
                durable: header.to_vec(),
                pending: Vec::new(),
            },
        );
        Ok(FaultyFile {
            inner,
            faults: Arc::clone(&self.faults),
            base,
        })
    }
    fn remove(&self, base: Lsn) -> io::Result<()> {
        self.inner.remove(base)?;
        lock(&self.faults.disk).files.remove(&base);
        Ok(())
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Opens the log in directory `path` over fault-injecting files.
pub fn faulty_wal(path: &Path, options: WalOptions) -> (Arc<Wal<FaultyDir>>, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let wal = open_faulty(path, &faults, options).expect("open the log");
    (Arc::new(wal), faults)
}

/// Opens (or reopens) the log in directory `path` over fault-injecting files sharing `faults`,
/// so its disk model carries over from the log opened there before.
pub fn open_faulty(
    path: &Path,
    faults: &Arc<Faults>,
    options: WalOptions,
) -> Result<Wal<FaultyDir>, Error> {
    Wal::open_in(FaultyDir::new(path, faults), options)
}

/// Every record in the log directory at `path`, by LSN, read segment by segment with the core's
/// scanner (independently of the `Wal`'s own reader).
pub fn records(path: &Path) -> Vec<(Lsn, Vec<u8>)> {
    let mut out = Vec::new();
    for file in segment_files(path) {
        let image = std::fs::read(file).expect("read a segment");
        let header = FileHeader::read(&image).expect("a valid header");
        out.extend(
            Records::new(
                Codec::for_header(&header),
                header.base_lsn,
                &image[header.body_offset() as usize..],
            )
            .map(|record| (record.lsn, record.payload.to_vec())),
        );
    }
    out
}

/// The LSN of every sync marker frame in the valid prefix of each segment of the log directory
/// at `path` (format v2; none in a v1 file), read with the core's codec, independently of the
/// `Wal`'s reader, which skips them.
pub fn markers(path: &Path) -> BTreeSet<Lsn> {
    let mut out = BTreeSet::new();
    for file in segment_files(path) {
        let image = std::fs::read(file).expect("read a segment");
        let header = FileHeader::read(&image).expect("a valid header");
        let codec = Codec::for_header(&header);
        let body = &image[header.body_offset() as usize..];
        let mut offset = 0;
        while offset < body.len() {
            let lsn = Lsn::new(header.base_lsn.get() + offset as u64);
            match codec.decode(lsn, &body[offset..]) {
                Decoded::Record(record) => offset += record.frame_len(),
                Decoded::Marker(marker) => {
                    out.insert(marker.lsn);
                    offset += MARKER_FRAME_LEN;
                }
                _ => break,
            }
        }
    }
    out
}

/// Checks that `records` tile the LSN space from `from` to `to` the way a writer lays them out:
/// each starts where the one before it (or `from`) ends, or exactly one sync marker frame later
/// when a marker in `markers` sits in between (a drain after a sync appends one); `to` is the
/// end of the last record, or of one marker after it. Any other gap fails.
pub fn assert_tiles(
    records: &[(Lsn, Vec<u8>)],
    from: Lsn,
    to: Lsn,
    markers: &BTreeSet<Lsn>,
    context: &str,
) {
    let after_marker = |at: Lsn| {
        markers
            .contains(&at)
            .then(|| Lsn::new(at.get() + MARKER_FRAME_LEN as u64))
    };
    let mut at = from;
    for (lsn, payload) in records {
        if *lsn != at {
            assert_eq!(
                after_marker(at),
                Some(*lsn),
                "{context}: a gap before the record at {lsn} (the previous one ends at {at})"
            );
        }
        at = Lsn::new(lsn.get() + walden_core::frame_len(payload.len()) as u64);
    }
    if at != to {
        assert_eq!(
            after_marker(at),
            Some(to),
            "{context}: records end at {at}, before the log's end"
        );
    }
}

/// The segment files (`*.wal`) of the log directory at `path`, in LSN order.
fn segment_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(path)
        .expect("list the log")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|file| file.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    files.sort();
    files
}

/// Every file name in a directory with its contents (LOCK included), to show nothing changed.
pub fn dir_contents(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(path)
        .expect("list the directory")
        .map(|entry| {
            let entry = entry.expect("a directory entry");
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).expect("read a file"),
            )
        })
        .collect();
    files.sort();
    files
}
