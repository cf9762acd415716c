//! Simulated power loss under the real [`walden::Wal`], in the spirit of SQLite's crash VFS and
//! TigerBeetle's simulator: every choice comes from one seed, so every failure replays.
//!
//! | file | owns |
//! |---|---|
//! | `disk.rs` | `Disk`: durable image, live image and pending operations per file; the directory; the crash point that freezes everything |
//! | `dir.rs` | [`SimDir`] / [`SimFile`]: `walden::backend::SegmentDir`, `Storage` and `SharedSync` over that disk |
//! | `crash.rs` | the post-crash image: the fate of each pending write (whole, torn, garbage, lost, misdirected) |
//! | `check.rs` | the property, on the reopened `Wal` and on the raw images (`walden_core::scan_file`) |
//! | `workload.rs` | one seed: options, generations of workload and crash, recovery checks, the final append |
//!
//! # The fault model
//!
//! Per file the disk keeps the durable image and the operations issued since the last sync
//! (writes and truncations, in order). `sync` makes all of them durable. Creating and removing
//! a segment are durable when they return (`FsDir` renames and syncs the directory; a
//! simulated creation is atomic). Reads see the latest state, like a page cache.
//!
//! The seed picks a crash point: the k-th mutating operation (write, truncate, sync, create,
//! remove), counted from the start of a generation (a log's open, including recovery), or the
//! end of the generation's workload. The interrupted operation returns an error and the disk
//! freezes: every later operation of the old `Wal` fails, so it poisons itself and is dropped
//! without changing anything. The image the crash leaves is then built per file from the
//! durable image and the pending operations replayed in order, each with a fate chosen by the
//! seed: a truncation happened or not; a write landed whole, was torn at sector boundaries
//! (sector size 512 B or 4 KiB per seed), was torn with random bytes in some of its sectors,
//! was lost (possibly with the grown file size persisted, zero-filled), or was misdirected by a
//! multiple of the sector size.
//!
//! # Assumptions about the media (what the model never does)
//!
//! - A successful sync makes every earlier write and truncation of that file durable, and
//!   synced bytes never change afterwards.
//! - Powersafe overwrite (SQLite's term): an interrupted write can leave anything in the bytes
//!   it was writing (old, new or random, sector by sector), but never changes a byte outside
//!   its own range, even in a sector it shares with older data. Media whose sector writes land
//!   old-or-new give this for the bytes outside the write. It is what makes it safe for each
//!   drain to rewrite the last, partly filled sector that an earlier sync made durable.
//!   Inside its own range an interrupted write can leave anything where it changes bytes.
//! - A sector rewritten with the bytes it already holds keeps them, interrupted or not (sector
//!   writes land old-or-new, as NVMe's atomic write unit and disks' per-sector ECC give).
//!   Recovery relies on it: it rewrites the records past the sync mark in place, since they may
//!   sit in pages a failed fsync left clean but unwritten. The power-loss tests run with
//!   [`SimConfig::identical_rewrites_survive`]; without it (powersafe overwrite alone), a power
//!   loss during that rewrite can garble acknowledged records of the last 64 KiB, which the
//!   next recovery truncates as an interrupted batch.
//! - A write inside the 64-byte file header lies within one sector and is atomic: it lands
//!   whole or not at all (the assumption docs/durability.md already states for header
//!   rewrites). Garbage there would lose the whole segment, synced records included.
//! - A misdirected write lands only at or beyond the file's durable length. A misdirected write
//!   onto synced data is media failure, which no log can survive without redundancy (a second
//!   copy or a checksummed replica), so it is outside the model.
//! - Directory operations are atomic and durable when they return.
//!
//! With [`SimConfig::in_order_prefixes`] each file keeps only an in-order prefix of its pending
//! operations (the last one kept may still be torn, garbled or misdirected past the others),
//! so no image has a hole followed by data.
//!
//! # The property (checked after every crash)
//!
//! Reopening with `Wal::open_in` succeeds, and reading from `first_lsn()` gives a gap-free run
//! of records (each at the previous one's LSN + 8 + its payload length), each exactly the
//! payload appended at that LSN, ending at or beyond every durable LSN the log published before
//! the crash, and starting no later than the highest checkpoint asked for. Then one more record
//! is committed on the recovered log, the power is cut again keeping only what was synced, and
//! the record must be there: a torn tail was truncated before new appends.

mod check;
mod crash;
mod dir;
mod disk;
mod workload;

pub use check::{Violation, ViolationKind};
pub use crash::FaultCounts;
pub use dir::{SimDir, SimFile, SimLock, SimSyncHandle};
pub use workload::{run_seed, SeedReport};

/// Which disk model a run uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimConfig {
    /// Keep only an in-order prefix of each file's pending operations, so no hole is followed
    /// by data (off: any subset, the full model).
    pub in_order_prefixes: bool,
    /// A piece of an interrupted write that holds exactly the bytes already on the media is
    /// never garbled, as on media whose sector writes land old-or-new (off: powersafe overwrite
    /// only, which lets an interrupted write leave anything in its own range, even when it was
    /// writing the same bytes again, as recovery's rewrite past the sync mark does).
    pub identical_rewrites_survive: bool,
    /// A deliberately broken disk, to show the checker reports what it must.
    pub bug: Option<DiskBug>,
}

/// A disk that breaks the media assumptions on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskBug {
    /// The crash also undoes the latest sync that made anything durable: acknowledged records
    /// vanish.
    LoseLastSync,
    /// The crash also garbles or zeroes one sector's worth of records below a file's durable
    /// sync mark: media damage that recovery cannot repair but must report, not truncate.
    DamageSyncedSector,
    /// An interrupted header slot rewrite garbles both slots of its file: the one thing the two
    /// slots of format v2 cannot survive, which the checker must report (the log no longer
    /// opens).
    DestroyBothSlots,
    /// The crash also flips a synced byte of the last batch a sync covered, which no later sync
    /// marker vouches for: the blind spot docs/durability.md states, which the checker must
    /// report as lost acknowledged records whenever that batch was acknowledged.
    DamageLastBatch,
}

/// Where a seed's verbose trace goes: nowhere, or standard output (for a replayed seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trace {
    verbose: bool,
}

impl Trace {
    /// No trace.
    pub const QUIET: Trace = Trace { verbose: false };
    /// Every operation, workload step and crash decision, printed as it happens.
    pub const VERBOSE: Trace = Trace { verbose: true };

    /// Prints the line `line` builds, if verbose (the line is not built otherwise).
    pub fn note(self, line: impl FnOnce() -> String) {
        if self.verbose {
            println!("{}", line());
        }
    }
}
