//! Simulated power loss under the real `Wal` (`walden_tests::sim`): for each seed, a random
//! workload on a simulated disk, a crash at a random operation, a crash image keeping a random
//! subset of the unsynced writes (whole, torn, garbled, lost, misdirected), and the property
//! that recovery keeps every record published as durable, in order, with nothing invented.
//!
//! Two disk models must pass, both on the media Walden assumes (`MEDIA`: powersafe overwrite,
//! and a sector rewritten with the bytes it holds keeps them): the full model (10,000 seeds by
//! default) and in-order prefixes of the unsynced writes, no holes (3,000). Two deliberately
//! broken disks must fail (500 seeds each): one that loses a synced write (the
//! checker must notice), one that damages records below the sync mark (recovery must refuse,
//! never truncate).
//!
//! - `cargo test -p walden-tests --test power_loss`: the default run.
//! - `WALDEN_SIM_SEEDS=100000 cargo test -p walden-tests --test power_loss -- --nocapture`:
//!   the long run (seeds 0 to 99,999; `WALDEN_SIM_FIRST_SEED=<n>` starts elsewhere, so
//!   repeated long runs can cover new seeds).
//! - `WALDEN_SIM_SEED=<n> cargo test -p walden-tests --test power_loss <test> -- --nocapture`:
//!   replays seed `n` with a trace of every operation, step and crash decision. Every failure
//!   prints this command with its seed.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;
use walden_tests::sim::{
    run_seed, DiskBug, SeedReport, SimConfig, Trace, Violation, ViolationKind,
};

/// Seeds for the full model in a default run.
const DEFAULT_SEEDS: u64 = 10_000;
/// Seeds for the in-order baseline: it differs from the full model only in dropping holes, so
/// a quarter as many keeps the default run short; long runs give every test the same count.
const IN_ORDER_SEEDS: u64 = 3_000;
/// Seeds for the test that the checker catches a broken disk.
const BROKEN_DISK_SEEDS: u64 = 500;
/// Example seeds printed per kind of violation.
const EXAMPLES_PER_KIND: usize = 5;

/// Which seeds to run: `WALDEN_SIM_SEED` (one, traced), or `WALDEN_SIM_SEEDS` of them (the
/// default for the test otherwise) from `WALDEN_SIM_FIRST_SEED` (0 otherwise). A broken-disk
/// test lists no example seeds (its violations are expected) unless `WALDEN_SIM_LIST` is set.
enum Seeds {
    One(u64),
    Range(std::ops::Range<u64>),
}

fn seeds(default: u64) -> Seeds {
    let parse = |name: &str| {
        std::env::var(name).ok().map(|value| {
            value
                .trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name}={value:?} is not a number"))
        })
    };
    if let Some(seed) = parse("WALDEN_SIM_SEED") {
        return Seeds::One(seed);
    }
    let first = parse("WALDEN_SIM_FIRST_SEED").unwrap_or(0);
    let count = parse("WALDEN_SIM_SEEDS").unwrap_or(default);
    Seeds::Range(first..first.saturating_add(count))
}

/// What a run of many seeds found.
#[derive(Default)]
struct Summary {
    seeds: u64,
    crashes: u64,
    crashes_in_recovery: u64,
    crashes_at_end: u64,
    records_checked: u64,
    images: u64,
    images_torn: u64,
    images_garbage: u64,
    images_lost: u64,
    images_misdirected: u64,
    images_synced_lost: u64,
    images_synced_damaged: u64,
    /// Images in which a header slot rewrite was torn after some byte, or garbled.
    images_header_torn: u64,
    images_slots_destroyed: u64,
    images_last_batch_damaged: u64,
    /// Seeds whose disk broke a media assumption (a `DiskBug`) and that reported no violation.
    broken_but_unreported: u64,
    torn_tails: u64,
    unsynced_tails: u64,
    zeroed_tails: u64,
    /// Images in which a write of the bytes already there was garbled.
    images_rewrite_garbled: u64,
    violations: BTreeMap<ViolationKind, Vec<(u64, Violation)>>,
    /// Per kind, the violating seeds whose disk garbled a write of identical bytes.
    violations_after_garbled_rewrite: BTreeMap<ViolationKind, u64>,
}

impl Summary {
    fn add(&mut self, report: SeedReport) {
        self.seeds += 1;
        self.crashes += report.crashes;
        self.crashes_in_recovery += report.crashes_in_recovery;
        self.crashes_at_end += report.crashes_at_end;
        self.records_checked += report.records_checked;
        for image in &report.images {
            self.images += 1;
            self.images_torn += u64::from(image.torn > 0);
            self.images_garbage += u64::from(image.garbage > 0);
            self.images_lost += u64::from(image.lost > 0);
            self.images_misdirected += u64::from(image.misdirected > 0);
            self.images_synced_lost += u64::from(image.synced_writes_lost > 0);
            self.images_synced_damaged += u64::from(image.synced_sectors_damaged > 0);
            self.images_header_torn += u64::from(image.header_slots_torn > 0);
            self.images_slots_destroyed += u64::from(image.header_slots_destroyed > 0);
            self.images_last_batch_damaged += u64::from(image.last_batch_damaged > 0);
            self.images_rewrite_garbled += u64::from(image.identical_rewrites_garbled > 0);
        }
        let rewrite_garbled = report
            .images
            .iter()
            .any(|image| image.identical_rewrites_garbled > 0);
        let broken = report.images.iter().any(|image| {
            image.synced_writes_lost > 0
                || image.synced_sectors_damaged > 0
                || image.header_slots_destroyed > 0
        });
        self.broken_but_unreported += u64::from(broken && report.violation.is_none());
        self.torn_tails += report.torn_tails;
        self.unsynced_tails += report.unsynced_tails;
        self.zeroed_tails += report.zeroed_tails;
        if let Some(violation) = report.violation {
            if rewrite_garbled {
                *self
                    .violations_after_garbled_rewrite
                    .entry(violation.kind)
                    .or_default() += 1;
            }
            self.violations
                .entry(violation.kind)
                .or_default()
                .push((report.seed, violation));
        }
    }

    fn failures(&self) -> usize {
        self.violations.values().map(Vec::len).sum()
    }

    /// Prints the counts, and for each kind of violation some seeds with their replay command
    /// (unless `expected`: a deliberately broken disk).
    fn print(&self, test: &str, seconds: f64, expected: bool) {
        println!(
            "power_loss {test}: {} seeds in {seconds:.1} s; {} crashes ({} during recovery, {} \
             after the workload); {} records checked after recovery",
            self.seeds,
            self.crashes,
            self.crashes_in_recovery,
            self.crashes_at_end,
            self.records_checked
        );
        println!(
            "  crash images: {}; with a torn write: {}, with garbage: {}, with a lost write: {}, \
             with a misdirected write: {}, broken disk: lost a synced write {}, damaged \
             synced records {} (unreported seeds: {}); \
             recoveries truncated {} torn tails and {} interrupted batches (a hole, then \
             frames) and kept or cut {} zero-filled tails",
            self.images,
            self.images_torn,
            self.images_garbage,
            self.images_lost,
            self.images_misdirected,
            self.images_synced_lost,
            self.images_synced_damaged,
            self.broken_but_unreported,
            self.torn_tails,
            self.unsynced_tails,
            self.zeroed_tails
        );
        println!(
            "  crash images that garbled a rewrite of the bytes already there: {}; with a header \
             slot rewrite torn or garbled: {}; broken disk: both slots destroyed {}, last synced \
             batch damaged {}",
            self.images_rewrite_garbled,
            self.images_header_torn,
            self.images_slots_destroyed,
            self.images_last_batch_damaged
        );
        for (kind, found) in &self.violations {
            println!(
                "  {kind:?}: {} seeds ({} after a garbled rewrite of identical bytes)",
                found.len(),
                self.violations_after_garbled_rewrite
                    .get(kind)
                    .copied()
                    .unwrap_or(0)
            );
            let examples = if expected && std::env::var_os("WALDEN_SIM_LIST").is_none() {
                0
            } else {
                EXAMPLES_PER_KIND
            };
            for (seed, violation) in found.iter().take(examples) {
                println!("    seed {seed}: {}", violation.detail);
                println!(
                    "      replay: WALDEN_SIM_SEED={seed} cargo test -p walden-tests --test \
                     power_loss {test} -- --nocapture"
                );
            }
        }
    }
}

/// Runs the seeds the environment asks for (or `default` of them) on disk model `config`.
fn run(test: &str, config: SimConfig, default: u64) -> Summary {
    let one = matches!(seeds(default), Seeds::One(_));
    // A broken disk is expected to fail; its seeds are listed only when one is replayed.
    let expected = config.bug.is_some() && !one;
    let started = Instant::now();
    let mut summary = Summary::default();
    match seeds(default) {
        Seeds::One(seed) => summary.add(run_one(seed, config, Trace::VERBOSE)),
        Seeds::Range(seeds) => {
            for seed in seeds {
                summary.add(run_one(seed, config, Trace::QUIET));
            }
        }
    }
    summary.print(test, started.elapsed().as_secs_f64(), expected);
    summary
}

/// One seed; a panic is reported as a violation of that seed.
fn run_one(seed: u64, config: SimConfig, trace: Trace) -> SeedReport {
    catch_unwind(AssertUnwindSafe(|| run_seed(seed, config, trace))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        SeedReport {
            seed,
            violation: Some(Violation::new(ViolationKind::Panic, message)),
            ..SeedReport::default()
        }
    })
}

/// Runs the broken-disk seeds with `bug` on the in-order model with old-or-new sectors (only the
/// broken assumption under test, so nothing else may lose records); `None` when one seed is
/// replayed, which only prints its trace.
fn run_broken_disk(test: &str, bug: DiskBug) -> Option<Summary> {
    let config = SimConfig {
        in_order_prefixes: true,
        identical_rewrites_survive: true,
        bug: Some(bug),
    };
    let summary = run(test, config, BROKEN_DISK_SEEDS);
    (!matches!(seeds(0), Seeds::One(_))).then_some(summary)
}

/// Asserts that every violation a broken disk caused is a refusal to open or a failed read,
/// never a log that opened with the wrong records; `must` says what was expected.
fn assert_only_refusals(summary: &Summary, must: &str) {
    for kind in summary.violations.keys() {
        assert!(
            matches!(
                kind,
                ViolationKind::RecoveryRefused | ViolationKind::ReadFailed
            ),
            "{must}, not give {kind:?}"
        );
    }
}

fn assert_no_violations(test: &str, summary: &Summary) {
    assert!(
        summary.violations.is_empty(),
        "{test}: {} of {} seeds violate the power-loss property (kinds and replay commands \
         above): {:?}",
        summary.failures(),
        summary.seeds,
        summary
            .violations
            .iter()
            .map(|(kind, found)| (kind, found.len()))
            .collect::<Vec<_>>()
    );
}

/// The media Walden assumes (docs/durability.md): powersafe overwrite, and a sector write that
/// rewrites the bytes a sector already holds leaves them (sector writes land old-or-new).
/// Recovery relies on the second: it rewrites the records past the sync mark in place, because
/// they may sit in pages a failed fsync left clean but unwritten.
const MEDIA: SimConfig = SimConfig {
    in_order_prefixes: false,
    identical_rewrites_survive: true,
    bug: None,
};

/// The full fault model: any subset of the unsynced writes lands, each whole, torn, garbled or
/// misdirected. Prevents losing an acknowledged record, or recovering one never written, after
/// a power loss at any point (including during recovery).
#[test]
fn full_model_keeps_every_durable_record() {
    let test = "full_model_keeps_every_durable_record";
    let summary = run(test, MEDIA, DEFAULT_SEEDS);
    assert_no_violations(test, &summary);
    if !matches!(seeds(0), Seeds::One(_)) {
        // Header slot rewrites (seals, closes) were torn after arbitrary bytes or garbled, and
        // no record was lost for it.
        assert!(
            summary.images_header_torn > 0,
            "no crash image tore a header slot rewrite: the model does not test format v2's slots"
        );
    }
}

/// Only in-order prefixes of the unsynced writes land (no hole before landed data): a baseline
/// that needs no sync mark. When only the full model fails, suspect the sync mark; when this
/// fails too, suspect plain torn-tail recovery or the simulator.
#[test]
fn in_order_prefixes_keep_every_durable_record() {
    let test = "in_order_prefixes_keep_every_durable_record";
    let config = SimConfig {
        in_order_prefixes: true,
        ..MEDIA
    };
    let summary = run(test, config, IN_ORDER_SEEDS);
    assert_no_violations(test, &summary);
}

/// Prevents the suite from passing vacuously: a disk that loses a synced write must be reported
/// as losing durable records.
#[test]
fn the_checker_reports_a_disk_that_loses_synced_writes() {
    let test = "the_checker_reports_a_disk_that_loses_synced_writes";
    let Some(summary) = run_broken_disk(test, DiskBug::LoseLastSync) else {
        return;
    };
    let lost = summary
        .violations
        .get(&ViolationKind::LostDurable)
        .map_or(0, Vec::len);
    assert!(
        summary.images_synced_lost > 0 && lost * 4 >= summary.seeds as usize,
        "a disk losing synced writes in {} images was reported as losing durable records in only \
         {lost} of {} seeds",
        summary.images_synced_lost,
        summary.seeds
    );
    for kind in summary.violations.keys() {
        assert!(
            // Or a refusal to open: a sealed segment whose seal the disk lost has its header's
            // mark short of its successor's base, which opening refuses.
            matches!(
                kind,
                ViolationKind::LostDurable
                    | ViolationKind::ReadFailed
                    | ViolationKind::Disagree
                    | ViolationKind::RecoveryRefused
            ),
            "a lost synced write should read as lost records or a refusal, not {kind:?}"
        );
    }
}

/// Prevents recovery from truncating acknowledged records as if they were an interrupted batch:
/// when the disk damages records below a segment's sync mark, the log must refuse to open, or
/// its reader must fail on them; it must never open and read back a log without them.
#[test]
fn recovery_refuses_damage_below_the_sync_mark() {
    let test = "recovery_refuses_damage_below_the_sync_mark";
    let Some(summary) = run_broken_disk(test, DiskBug::DamageSyncedSector) else {
        return;
    };
    assert!(
        summary.images_synced_damaged * 4 >= summary.seeds,
        "only {} of {} seeds damaged synced records",
        summary.images_synced_damaged,
        summary.seeds
    );
    assert_eq!(
        summary.broken_but_unreported, 0,
        "damage below the sync mark went unreported (run with --nocapture for the counts)"
    );
    assert_only_refusals(
        &summary,
        "damage below the sync mark must be refused or fail the reader",
    );
}

/// Prevents the torn-header coverage from passing vacuously: a disk that destroys both header
/// slots when a rewrite is interrupted (what one slot rewritten in place could suffer) leaves a
/// log that cannot be opened, and the checker must say so for every seed it happened in.
#[test]
fn the_checker_reports_a_disk_that_destroys_both_header_slots() {
    let test = "the_checker_reports_a_disk_that_destroys_both_header_slots";
    let Some(summary) = run_broken_disk(test, DiskBug::DestroyBothSlots) else {
        return;
    };
    assert!(
        summary.images_slots_destroyed > 0,
        "no seed had a header slot rewrite pending at a crash"
    );
    assert_eq!(
        summary.broken_but_unreported, 0,
        "a log whose two header slots were destroyed went unreported"
    );
    assert_only_refusals(
        &summary,
        "destroyed header slots must make the log refuse to open",
    );
}

/// Prevents the checker from missing what format v2 cannot see (docs/durability.md): a flipped
/// byte in the last batch a sync covered, which no later sync marker vouches for, is cut as an
/// interrupted batch; whenever that batch had been acknowledged, the checker must report the
/// acknowledged records as lost.
#[test]
fn the_checker_reports_damage_to_the_last_synced_batch_as_lost_records() {
    let test = "the_checker_reports_damage_to_the_last_synced_batch_as_lost_records";
    let Some(summary) = run_broken_disk(test, DiskBug::DamageLastBatch) else {
        return;
    };
    let lost = summary
        .violations
        .get(&ViolationKind::LostDurable)
        .map_or(0, Vec::len);
    assert!(
        summary.images_last_batch_damaged > 0 && lost > 0,
        "damage to {} last synced batches was reported as lost records in {lost} of {} seeds",
        summary.images_last_batch_damaged,
        summary.seeds
    );
}
