//! One seed: the real `Wal` on a simulated disk, through one to three generations of
//! open (recovery), workload and power loss, then a final commit that must survive one more.
//!
//! A generation picks options (small segments, a small buffer, preallocation or not, a
//! durability mode), a workload length and a crash point; opens the log on the previous
//! generation's crash image (checking the recovered log against the property); runs one
//! thread's random mix of `append`, `commit`, `sync`, `checkpoint`, read-backs and the odd
//! `close` and clean reopen (checked like a recovery) until the disk loses power or the
//! workload ends (then the power is cut there); and builds the next crash image. Finally the log is opened once more (checked), one record is committed, the
//! power is cut keeping only synced data, and the reopened log must hold that record.
//!
//! Invariants:
//! - Every random choice comes from the seed's `Rng`, and the workload runs on the test's
//!   thread (the `Wal` starts no thread unless `commit_async` is used), so a seed replays
//!   exactly. (The log's salt is random, but only the bytes of frames depend on it.)
//! - An operation may fail only once the disk is frozen; an error before is a violation.
//! - The model learns every durable LSN the log publishes, after every step whatever its
//!   outcome: a published durable LSN is a promise even when a later call fails.

use super::check::{
    after_marker, record_end, scan_image, Entry, Model, ScanCache, ScanError, Violation,
    ViolationKind,
};
use super::crash::{crash_image, durable_image, FaultCounts, Image};
use super::dir::{lock, SharedDisk, SimDir};
use super::disk::Disk;
use super::{DiskBug, SimConfig, Trace};
use crate::Rng;
use std::sync::{Arc, Mutex};
use walden::{Error, Wal, WalOptions};
use walden_core::{
    scan_file, Appended, Codec, Durability, Lsn, RecoveryError, RecoveryMode, TailKind,
};

/// The most generations (open, workload, power loss) a seed runs before its final check.
const GENERATIONS_MAX: u64 = 3;
/// The most workload steps in one generation.
const STEPS_MAX: u64 = 48;

/// What one seed did and found.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Power losses with a random crash image (one per generation).
    pub crashes: u64,
    /// Of those, power losses while the log was being opened and recovered.
    pub crashes_in_recovery: u64,
    /// Of those, power losses after the workload ended rather than in the middle of it.
    pub crashes_at_end: u64,
    /// Records read back after a recovery and checked against the model.
    pub records_checked: u64,
    /// Per crash image, how many writes met each fate.
    pub images: Vec<FaultCounts>,
    /// Recoveries whose active segment ended in a torn tail (truncated).
    pub torn_tails: u64,
    /// Recoveries that truncated an interrupted batch: damage past the sync mark with valid
    /// frames after it (a hole left by out-of-order writeback).
    pub unsynced_tails: u64,
    /// Recoveries whose active segment ended in zeros.
    pub zeroed_tails: u64,
    /// The first violation of the property, if any.
    pub violation: Option<Violation>,
}

/// Runs seed `seed` with disk model `config`, tracing to `trace`.
pub fn run_seed(seed: u64, config: SimConfig, trace: Trace) -> SeedReport {
    let mut rng = Rng::new(seed);
    let mut sim = Sim {
        sector_bytes: if rng.chance(1, 2) { 512 } else { 4096 },
        segment_bytes: rng.in_range(4 * 1024..64 * 1024 + 1),
        rng,
        config,
        trace,
        image: Image::new(),
        synced: Image::new(),
        model: Model::default(),
        scans: ScanCache::default(),
        report: SeedReport {
            seed,
            ..SeedReport::default()
        },
    };
    trace.note(|| {
        format!(
            "seed {seed}: {config:?}, {}-byte sectors, {}-byte segments",
            sim.sector_bytes, sim.segment_bytes
        )
    });
    let result = sim.run();
    trace.note(|| format!("seed {seed}: {result:?}"));
    SeedReport {
        violation: result.err(),
        ..sim.report
    }
}

/// One seed's state.
struct Sim {
    rng: Rng,
    config: SimConfig,
    trace: Trace,
    sector_bytes: u64,
    segment_bytes: u64,
    /// What is on the disk now (the last crash image).
    image: Image,
    /// What had been synced when the power was lost (the durable images).
    synced: Image,
    model: Model,
    scans: ScanCache,
    report: SeedReport,
}

impl Sim {
    fn run(&mut self) -> Result<(), Violation> {
        let generations = 1 + self.rng.below(GENERATIONS_MAX);
        for generation in 0..generations {
            self.generation(generation)?;
        }
        self.final_commit()
    }

    fn generation(&mut self, generation: u64) -> Result<(), Violation> {
        let options = self.options(false);
        let steps = self.rng.in_range(1..STEPS_MAX + 1);
        // About one mutating operation per step, plus the open: most crashes fall inside the
        // workload, some in recovery, some after it.
        let crash_at = self.rng.in_range(1..steps + 4);
        self.trace.note(|| {
            format!(
                "== generation {generation}: {steps} steps, power loss at op #{crash_at}, \
                 {options:?}"
            )
        });
        let disk = self.disk(Some(crash_at));
        if let Some(wal) = self.open(&disk, options)? {
            let wal = self.workload(wal, &disk, steps, options)?;
            lock(&disk).freeze("at the end of the workload");
            if lock(&disk).ops() < crash_at {
                self.report.crashes_at_end += 1;
            }
            drop(wal);
        }
        self.synced = durable_image(&lock(&disk));
        let (image, faults) = crash_image(
            &lock(&disk),
            &self.config,
            self.sector_bytes,
            &mut self.rng,
            self.trace,
        );
        self.trace.note(|| format!("crash image: {faults:?}"));
        self.image = image;
        self.report.crashes += 1;
        self.report.images.push(faults);
        Ok(())
    }

    /// Opens the log after the last power loss, checks what it recovered, commits one record,
    /// cuts the power keeping only synced data, and checks the record survived.
    fn final_commit(&mut self) -> Result<(), Violation> {
        let options = self.options(true);
        self.trace
            .note(|| format!("== final: reopen, commit one record, cut the power; {options:?}"));
        let disk = self.disk(None);
        let Some(wal) = self.open(&disk, options)? else {
            return Err(unexpected("the disk lost power without a crash point"));
        };
        let payload = self.payload();
        let expected = wal.current_lsn();
        let committed = wal
            .commit(&payload)
            .map_err(|err| unexpected(format!("commit after recovery failed: {err}")))?;
        let lsn = committed.lsn();
        // Checked against the model's own arithmetic, not the receipt's.
        let end = record_end(lsn, payload.len());
        self.trace
            .note(|| format!("commit {} B at LSN {lsn} after recovery", payload.len()));
        if lsn != expected || committed.end() != end || wal.durable_lsn() < end {
            return Err(unexpected(format!(
                "commit after recovery: LSN {lsn} (expected {expected}), durable LSN {} (the \
                 record ends at {end})",
                wal.durable_lsn()
            )));
        }
        self.model.appended(lsn, payload)?;
        self.model.published(wal.durable_lsn());
        lock(&disk).freeze("after the commit that followed recovery");
        drop(wal);
        self.image = durable_image(&lock(&disk));
        self.synced.clone_from(&self.image);
        let disk = self.disk(None);
        self.open(&disk, options).map(drop)
    }

    /// A fresh disk holding the current image.
    fn disk(&mut self, crash_at: Option<u64>) -> SharedDisk {
        let remember_syncs = self.config.bug == Some(DiskBug::LoseLastSync);
        let rng = Rng::new(self.rng.next_u64());
        Arc::new(Mutex::new(Disk::new(
            &self.image,
            crash_at,
            remember_syncs,
            rng,
            self.trace,
        )))
    }

    /// Opens the log on `disk` and checks what it recovered against the model and against the
    /// core's scan of the image. `None` when the power was lost during the open.
    fn open(
        &mut self,
        disk: &SharedDisk,
        options: WalOptions,
    ) -> Result<Option<Wal<SimDir>>, Violation> {
        let scanned = scan_image(&self.image, &mut self.scans);
        self.trace.note(|| match &scanned {
            Ok(scanned) => format!(
                "scan of the image: {} records from LSN {}, tail {:?}",
                scanned.records.len(),
                scanned.first,
                scanned.tail
            ),
            Err(err) => format!("scan of the image: {err:?}"),
        });
        if let Ok(scanned) = &scanned {
            self.model
                .check(scanned.first, &scanned.records, scanned.end)
                .map_err(|v| {
                    Violation::new(v.kind, format!("in the crash image itself: {}", v.detail))
                })?;
        }
        let opened = Wal::open_in(SimDir::new(Arc::clone(disk)), options);
        if lock(disk).is_frozen() {
            self.trace
                .note(|| format!("open during the power loss: {:?}", opened.as_ref().err()));
            self.report.crashes_in_recovery += 1;
            return match opened {
                Err(_) => Ok(None),
                Ok(_) => Err(unexpected(
                    "the open succeeded although an operation failed under it",
                )),
            };
        }
        let wal = match opened {
            Ok(wal) => wal,
            Err(Error::Recovery(
                err @ (RecoveryError::CorruptionMidLog { at, .. }
                | RecoveryError::SyncedDataLost { at, .. }),
            )) => {
                // Damage past what the last segment had synced is the hole unsynced writes
                // leave; damage inside it would be lost acknowledged data.
                let synced = self.synced.iter().next_back().and_then(|(_, bytes)| {
                    scan_file(bytes, Codec::new, RecoveryMode::PointInTime).ok()
                });
                let synced_end = synced.map_or(Lsn::ZERO, |(_, recovery)| recovery.end_lsn);
                let kind = if at >= synced_end {
                    ViolationKind::Hole
                } else {
                    ViolationKind::RecoveryRefused
                };
                return Err(Violation::new(
                    kind,
                    format!("{err} (the records synced before the crash end at LSN {synced_end})"),
                ));
            }
            Err(err) => {
                return Err(Violation::new(
                    ViolationKind::RecoveryRefused,
                    format!("reopening after the power loss: {err}"),
                ));
            }
        };
        let first = wal.first_lsn();
        let records = read_all(&wal, first).map_err(|err| {
            Violation::new(
                ViolationKind::ReadFailed,
                format!("reading the recovered log from LSN {first}: {err}"),
            )
        })?;
        let end = self.model.check(first, &records, wal.current_lsn())?;
        match scanned {
            Ok(scanned)
                if scanned.first == first && scanned.records == records && scanned.end == end =>
            {
                match scanned.tail {
                    Some(TailKind::Torn(_)) => self.report.torn_tails += 1,
                    Some(TailKind::Unsynced { .. }) => self.report.unsynced_tails += 1,
                    Some(TailKind::Zeroed) => self.report.zeroed_tails += 1,
                    _ => {}
                }
            }
            Ok(scanned) => {
                return Err(Violation::new(
                    ViolationKind::Disagree,
                    format!(
                        "the Wal recovered {} records from LSN {first} to {end}, the scanner {} \
                         from LSN {} to {}",
                        records.len(),
                        scanned.records.len(),
                        scanned.first,
                        scanned.end
                    ),
                ));
            }
            Err(ScanError::Refused(err)) => {
                return Err(Violation::new(
                    ViolationKind::Disagree,
                    format!("the Wal opened an image the scanner refuses: {err}"),
                ));
            }
            Err(ScanError::Broken(why)) => {
                return Err(Violation::new(
                    ViolationKind::Disagree,
                    format!("the Wal read back an image the scanner finds broken: {why}"),
                ));
            }
        }
        if wal.current_lsn() != end || wal.durable_lsn() != end || wal.committed_lsn() != end {
            return Err(unexpected(format!(
                "recovered records end at LSN {end}, but current {}, durable {}, committed {}",
                wal.current_lsn(),
                wal.durable_lsn(),
                wal.committed_lsn()
            )));
        }
        self.trace.note(|| {
            format!(
                "recovered {} records, LSNs {first}..{end} (D was {})",
                records.len(),
                self.model.durable()
            )
        });
        self.report.records_checked += records.len() as u64;
        self.model.recovered(records, end);
        Ok(Some(wal))
    }

    /// Runs up to `steps` random operations on `wal`, stopping at the power loss. Returns the
    /// log as it is then (a close and reopen replaces it; none if the power failed in between).
    fn workload(
        &mut self,
        mut wal: Wal<SimDir>,
        disk: &SharedDisk,
        steps: u64,
        options: WalOptions,
    ) -> Result<Option<Wal<SimDir>>, Violation> {
        let syncs = options.durability != Durability::Buffered;
        for step in 0..steps {
            if lock(disk).is_frozen() {
                break;
            }
            let outcome: Result<(), Error> = match self.rng.below(100) {
                91..93 => {
                    // Close (which seals: the sync mark moves to the end) and reopen cleanly.
                    // Its drain may end the last batch with a sync marker.
                    let current = wal.current_lsn();
                    let closed = wal.close();
                    self.trace
                        .note(|| format!("step {step}: close -> {closed:?}, then reopen"));
                    match closed {
                        Ok(durable) if durable == current || durable == after_marker(current) => {
                            self.model.published(durable);
                        }
                        Ok(durable) => {
                            return Err(unexpected(format!(
                                "close returned durable LSN {durable}, but LSN {current} was \
                                 appended"
                            )));
                        }
                        Err(_) if lock(disk).is_frozen() => return Ok(None),
                        Err(err) => {
                            return Err(unexpected(format!(
                                "step {step}: close failed before any power loss: {err}"
                            )));
                        }
                    }
                    // Everything is synced now: the disk holds exactly its durable images.
                    self.image = durable_image(&lock(disk));
                    self.synced.clone_from(&self.image);
                    match self.open(disk, options)? {
                        Some(reopened) => wal = reopened,
                        None => return Ok(None),
                    }
                    continue;
                }
                0..45 => {
                    let payload = self.payload();
                    let expected = wal.current_lsn();
                    let appended = wal.append(&payload);
                    self.trace.note(|| {
                        format!("step {step}: append {} B -> {appended:?}", payload.len())
                    });
                    self.landed(expected, appended.as_ref().ok(), payload)?;
                    appended.map(drop)
                }
                45..75 => {
                    let payload = self.payload();
                    let expected = wal.current_lsn();
                    let committed = wal.commit(&payload);
                    // Where the record ends, by the model's arithmetic from where it starts (at
                    // the current LSN, or after a sync marker a drain appended there).
                    let start = committed
                        .as_ref()
                        .map_or(expected, |committed| committed.lsn());
                    let end = record_end(start, payload.len());
                    self.trace.note(|| {
                        format!(
                            "step {step}: commit {} B -> {committed:?}, durable {}",
                            payload.len(),
                            wal.durable_lsn()
                        )
                    });
                    if committed.is_ok() && syncs && wal.durable_lsn() < end {
                        return Err(unexpected(format!(
                            "commit of the record ending at LSN {end} returned with durable LSN {}",
                            wal.durable_lsn()
                        )));
                    }
                    self.landed(expected, committed.as_ref().ok(), payload)?;
                    committed.map(drop)
                }
                75..85 => {
                    let synced = wal.sync();
                    self.trace
                        .note(|| format!("step {step}: sync -> {synced:?}"));
                    synced.map(drop)
                }
                85..91 => {
                    let current = wal.current_lsn().get();
                    let lsn = Lsn::new(self.rng.below(current + 1));
                    self.model.checkpointed(lsn);
                    let done = wal.checkpoint(lsn);
                    self.trace
                        .note(|| format!("step {step}: checkpoint({lsn}) -> {done:?}"));
                    done.map(drop)
                }
                _ => {
                    // Read back from one of the last few records: reading everything at every
                    // step would cost the square of the log's length.
                    let first = self
                        .model
                        .recent(self.rng.below(8) as usize)
                        .max(wal.first_lsn());
                    let read = read_all(&wal, first);
                    self.trace.note(|| match &read {
                        Ok(records) => format!("step {step}: read back {} records", records.len()),
                        Err(err) => format!("step {step}: read back -> {err}"),
                    });
                    if let Ok(records) = &read {
                        self.model.check_run(first, records, None).map_err(|v| {
                            Violation::new(
                                v.kind,
                                format!("reading back before the crash: {}", v.detail),
                            )
                        })?;
                    }
                    read.map(drop)
                }
            };
            self.model.published(wal.durable_lsn());
            if let Err(err) = outcome {
                if lock(disk).is_frozen() {
                    break;
                }
                return Err(unexpected(format!(
                    "step {step} failed before any power loss: {err}"
                )));
            }
        }
        Ok(Some(wal))
    }

    /// Adds a record the workload appended at `expected` to the model: also when the call
    /// failed (`got` is `None`), as the record may still have reached the disk there.
    fn landed(
        &mut self,
        expected: Lsn,
        got: Option<&Appended>,
        payload: Vec<u8>,
    ) -> Result<(), Violation> {
        let Some(got) = got else {
            return self.model.appended_somewhere(expected, payload);
        };
        // A drain to make room may have ended its batch with a sync marker: the record then
        // starts one marker later.
        let lsn = got.lsn();
        let end = record_end(lsn, payload.len());
        if (lsn != expected && lsn != after_marker(expected)) || got.end() != end {
            return Err(unexpected(format!(
                "a record was appended at {got}, but the log's current LSN was {expected} (the \
                 record of {} B ends at {end})",
                payload.len()
            )));
        }
        self.model.appended(lsn, payload)
    }

    /// Options for one open: small segments (per seed), a small buffer, preallocation or not,
    /// any durability mode (one that syncs when `syncing`).
    fn options(&mut self, syncing: bool) -> WalOptions {
        let durability = match self.rng.below(10) {
            0 if !syncing => Durability::Buffered,
            1 | 2 => Durability::SyncAll,
            _ => Durability::SyncData,
        };
        let preallocate_bytes = match self.rng.below(8) {
            0..4 => 0,
            4 => 512,
            5 => 4096,
            6 => 16 * 1024,
            _ => self.rng.in_range(1..20_000),
        };
        WalOptions {
            durability,
            buffer_bytes: self.rng.in_range(64..8 * 1024 + 1) as usize,
            preallocate_bytes,
            segment_bytes: self.segment_bytes,
            ..WalOptions::default()
        }
    }

    /// A payload: mostly up to 2000 bytes, sometimes several times the buffer or a segment.
    fn payload(&mut self) -> Vec<u8> {
        let len = match self.rng.below(100) {
            0..85 => self.rng.below(2001),
            85..98 => self.rng.in_range(2000..9000),
            _ => self.rng.in_range(9000..40_000),
        };
        let mut payload = vec![0u8; len as usize];
        self.rng.fill(&mut payload);
        payload
    }
}

/// Every record the log can read back from `first`.
fn read_all(wal: &Wal<SimDir>, first: Lsn) -> Result<Vec<Entry>, Error> {
    wal.read_from(first)?
        .map(|record| record.map(|record| (record.lsn, record.payload)))
        .collect()
}

fn unexpected(detail: impl Into<String>) -> Violation {
    Violation::new(ViolationKind::Unexpected, detail)
}
