//! The post-crash image: what a frozen [`Disk`] leaves on the media, chosen from the seed.
//!
//! Each named file starts from its durable image; then its pending operations are replayed in
//! issue order, each with a fate:
//!
//! - a truncation happened or not;
//! - a write is applied whole; torn at sector boundaries (each sector-sized piece of it lands
//!   or not); torn with garbage (some pieces hold random bytes, the others land or not); lost
//!   (and if it extended the file, the new size may still have reached the disk, zero-filled);
//!   or misdirected (it lands whole at an offset shifted by a multiple of the sector size).
//!
//! Invariants (the media assumptions, see the module documentation of [`crate::sim`]):
//! - A write only ever changes the bytes it covered: garbage and torn pieces stay inside the
//!   write's own byte range, even inside a sector it shares with older data.
//! - With [`SimConfig::identical_rewrites_survive`], a piece of a write that holds exactly the
//!   bytes already there is never garbled (media whose sector writes land old-or-new).
//! - A header slot rewrite (64 bytes at offset 0 or 64 of a v2 file) may land whole, be lost,
//!   be torn after any byte (a prefix lands), be garbled, or be misdirected: format v2 promises
//!   that none of these costs a record. The first write of a file's two slots (128 bytes, synced
//!   under a temporary name before the file is renamed into place) stays atomic.
//! - A misdirected write lands only at or beyond the file's durable length: it never touches
//!   synced bytes.
//! - Synced bytes never change, except under a [`DiskBug`], which exists to prove that the
//!   checker catches a disk that loses acknowledged data ([`DiskBug::LoseLastSync`]) and that
//!   recovery refuses damage below the sync mark ([`DiskBug::DamageSyncedSector`]), and to show
//!   what the checker reports when the disk breaks what format v2 relies on: both header slots
//!   destroyed by one interrupted rewrite ([`DiskBug::DestroyBothSlots`]), or synced bytes of
//!   the last synced batch damaged, which no marker vouches for ([`DiskBug::DamageLastBatch`]).
//! - With [`SimConfig::in_order_prefixes`] each file keeps an in-order prefix of its pending
//!   operations, and only the last one kept may be torn, garbled or misdirected, so no hole is
//!   ever followed by data.
//! - Every choice comes from the `Rng` passed in: the same disk and seed give the same image.

use super::disk::{apply, write_into, Disk, FileState, PendingOp};
use super::{DiskBug, SimConfig, Trace};
use crate::Rng;
use std::collections::BTreeMap;
use walden::backend::segment_file_name;
use walden_core::{scan_file, Codec, Lsn, RecoveryMode, BODY_OFFSET, HEADER_LEN};

/// How many writes of one crash image met each fate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Writes applied whole.
    pub whole: u64,
    /// Writes torn at sector boundaries (some pieces landed, others not).
    pub torn: u64,
    /// Writes with random bytes in some of their pieces.
    pub garbage: u64,
    /// Writes lost entirely.
    pub lost: u64,
    /// Lost writes whose new file size reached the disk anyway (zero-filled).
    pub size_only: u64,
    /// Writes that landed at a shifted offset.
    pub misdirected: u64,
    /// Truncations that happened.
    pub truncations_kept: u64,
    /// Truncations that did not.
    pub truncations_lost: u64,
    /// Sector pieces of writes that rewrote the bytes already there, garbled (never with
    /// [`SimConfig::identical_rewrites_survive`]).
    pub identical_rewrites_garbled: u64,
    /// Files rolled back by [`DiskBug::LoseLastSync`].
    pub synced_writes_lost: u64,
    /// Sectors of synced records damaged by [`DiskBug::DamageSyncedSector`].
    pub synced_sectors_damaged: u64,
    /// Header slot rewrites torn after some byte or garbled (format v2 must survive them).
    pub header_slots_torn: u64,
    /// Files whose two header slots [`DiskBug::DestroyBothSlots`] garbled.
    pub header_slots_destroyed: u64,
    /// Bytes of a last synced batch damaged by [`DiskBug::DamageLastBatch`].
    pub last_batch_damaged: u64,
}

/// A file's contents after the crash, by base LSN (the directory after the crash).
pub(crate) type Image = BTreeMap<Lsn, Vec<u8>>;

/// What one write becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fate {
    Whole,
    /// Per piece: landed or not.
    Torn(Vec<bool>),
    Garbage(Vec<Piece>),
    Lost {
        size_kept: bool,
    },
    Misdirected {
        to: u64,
    },
    /// Only the first `n` bytes landed (a header slot rewrite torn inside its sector).
    Prefix(usize),
}

/// Whether a fate garbled its write (for counting torn header slots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FateKind {
    Garbage,
    Other,
}

/// What one sector-sized piece of a torn write holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    New,
    Old,
    Garbage,
}

/// Builds the image the crash leaves on `disk` (frozen or not: pending operations are what is
/// at stake), with sectors of `sector_bytes`.
pub(crate) fn crash_image(
    disk: &Disk,
    config: &SimConfig,
    sector_bytes: u64,
    rng: &mut Rng,
    trace: Trace,
) -> (Image, FaultCounts) {
    let mut counts = FaultCounts::default();
    let mut image = Image::new();
    let lose_sync = match config.bug {
        Some(DiskBug::LoseLastSync) if disk.syncs() > 0 => Some(disk.syncs()),
        _ => None,
    };
    for (base, file) in disk.named_files() {
        let name = segment_file_name(base);
        let rolled_back = lose_sync.and_then(|number| match &file.before_last_sync {
            Some((before, n)) if *n == number => Some(before),
            _ => None,
        });
        let bytes = if let Some(before) = rolled_back {
            trace.note(|| {
                format!(
                    "  {name}: BUG: the disk loses sync #{} and everything after it",
                    lose_sync.unwrap_or(0)
                )
            });
            counts.synced_writes_lost += 1;
            before.clone()
        } else {
            file_after_crash(&name, file, config, sector_bytes, rng, trace, &mut counts)
        };
        image.insert(base, bytes);
    }
    match config.bug {
        Some(DiskBug::DamageSyncedSector) => {
            damage_synced_sector(disk, &mut image, sector_bytes, rng, trace, &mut counts);
        }
        Some(DiskBug::DestroyBothSlots) => {
            destroy_both_slots(disk, &mut image, rng, trace, &mut counts);
        }
        Some(DiskBug::DamageLastBatch) => {
            damage_last_batch(disk, &mut image, rng, trace, &mut counts);
        }
        _ => {}
    }
    (image, counts)
}

/// Whether `op` rewrites one header slot of a v2 file.
fn is_slot_rewrite(op: &PendingOp) -> bool {
    matches!(op, PendingOp::Write { offset, bytes }
        if (*offset == 0 || *offset == HEADER_LEN as u64) && bytes.len() == HEADER_LEN)
}

/// [`DiskBug::DestroyBothSlots`]: in every file with a header slot rewrite pending, garbles
/// both slots, as a disk that scrambles more than the write it was doing would.
fn destroy_both_slots(
    disk: &Disk,
    image: &mut Image,
    rng: &mut Rng,
    trace: Trace,
    counts: &mut FaultCounts,
) {
    for (base, file) in disk.named_files() {
        if !file.pending.iter().any(is_slot_rewrite) {
            continue;
        }
        let bytes = image
            .get_mut(&base)
            .expect("every named file is in the crash image");
        let mut garbage = vec![0u8; BODY_OFFSET];
        rng.fill(&mut garbage);
        write_into(bytes, 0, &garbage);
        trace.note(|| {
            format!(
                "  {}: BUG: the disk garbles both header slots",
                segment_file_name(base)
            )
        });
        counts.header_slots_destroyed += 1;
    }
}

/// [`DiskBug::DamageLastBatch`]: flips a byte of synced records at or past the highest sync
/// mark (the last batch a sync covered, which no later marker vouches for), in one file.
fn damage_last_batch(
    disk: &Disk,
    image: &mut Image,
    rng: &mut Rng,
    trace: Trace,
    counts: &mut FaultCounts,
) {
    let batches: Vec<(Lsn, u64, u64)> = disk
        .named_files()
        .filter_map(|(base, file)| {
            let (header, recovery) =
                scan_file(&file.durable, Codec::new, RecoveryMode::PointInTime).ok()?;
            let mark = recovery.sync_mark.unwrap_or(header.base_lsn);
            let start = header.body_offset() + mark.checked_distance_from(base)?;
            let end = recovery.valid_file_len();
            (start < end).then_some((base, start, end))
        })
        .collect();
    if batches.is_empty() {
        return;
    }
    let (base, start, end) = batches[rng.below(batches.len() as u64) as usize];
    let at = rng.in_range(start..end) as usize;
    let bytes = image
        .get_mut(&base)
        .expect("every named file is in the crash image");
    if let Some(byte) = bytes.get_mut(at) {
        *byte ^= 1 << rng.below(8);
        trace.note(|| {
            format!(
                "  {}: BUG: the disk flips a synced byte at offset {at}, in the last synced batch",
                segment_file_name(base)
            )
        });
        counts.last_batch_damaged += 1;
    }
}

/// [`DiskBug::DamageSyncedSector`]: garbles (or zeroes) the part of one sector that lies in
/// records below a file's durable sync mark, which recovery must then refuse, never drop.
fn damage_synced_sector(
    disk: &Disk,
    image: &mut Image,
    sector_bytes: u64,
    rng: &mut Rng,
    trace: Trace,
    counts: &mut FaultCounts,
) {
    // Each file's synced body below its durable mark: [BODY_OFFSET, marked end). The mark is
    // the higher of the header's and the highest sync marker frame's (format v2), as the core's
    // scan finds it: recovery must refuse damage below either.
    let marked: Vec<(Lsn, u64)> = disk
        .named_files()
        .filter_map(|(base, file)| {
            let (header, recovery) =
                scan_file(&file.durable, Codec::new, RecoveryMode::PointInTime).ok()?;
            let mark = recovery
                .sync_mark?
                .min(recovery.end_lsn.max(header.base_lsn));
            let end = header.body_offset() + (mark.get() - base.get());
            (end > header.body_offset()).then_some((base, end))
        })
        .collect();
    if marked.is_empty() {
        return;
    }
    let (base, end) = marked[rng.below(marked.len() as u64) as usize];
    let first = BODY_OFFSET as u64 / sector_bytes;
    let last = (end - 1) / sector_bytes;
    let sector = rng.in_range(first..last + 1);
    let start = (sector * sector_bytes).max(BODY_OFFSET as u64);
    let stop = ((sector + 1) * sector_bytes).min(end);
    let mut damage = vec![0u8; (stop - start) as usize];
    if rng.chance(1, 2) {
        rng.fill(&mut damage);
    }
    let bytes = image
        .get_mut(&base)
        .expect("every named file is in the crash image");
    if bytes.get(start as usize..stop as usize) == Some(damage.as_slice()) {
        // Zeros over zero bytes (a frame length's high bytes) change nothing.
        return;
    }
    write_into(bytes, start, &damage);
    trace.note(|| {
        format!(
            "  {}: BUG: the disk damages synced bytes [{start}..{stop}) below the mark",
            segment_file_name(base)
        )
    });
    counts.synced_sectors_damaged += 1;
}

/// The durable images alone: a crash that keeps no pending operation.
pub(crate) fn durable_image(disk: &Disk) -> Image {
    disk.named_files()
        .map(|(base, file)| (base, file.durable.clone()))
        .collect()
}

fn file_after_crash(
    name: &str,
    file: &FileState,
    config: &SimConfig,
    sector_bytes: u64,
    rng: &mut Rng,
    trace: Trace,
    counts: &mut FaultCounts,
) -> Vec<u8> {
    let mut image = file.durable.clone();
    let durable_len = image.len() as u64;
    let ops = &file.pending;
    if ops.is_empty() {
        return image;
    }
    trace.note(|| {
        format!(
            "  {name}: durable {durable_len} B, {} pending ops",
            ops.len()
        )
    });
    if config.in_order_prefixes {
        let kept = rng.below(ops.len() as u64 + 1) as usize;
        trace.note(|| format!("  {name}: keeps the first {kept} pending ops in order"));
        for (index, op) in ops.iter().enumerate() {
            let fate = if index + 1 < kept {
                Some(Fate::Whole)
            } else if index + 1 == kept {
                // The last one kept may be damaged anywhere after its landed prefix: only torn
                // tails, never holes before data.
                None
            } else {
                Some(Fate::Lost {
                    size_kept: rng.chance(1, 3),
                })
            };
            replay(
                name,
                &mut image,
                index,
                op,
                fate,
                durable_len,
                config,
                sector_bytes,
                rng,
                trace,
                counts,
            );
        }
    } else {
        // Whole-file patterns as well as free mixes: everything landed, nothing landed.
        let pattern = rng.below(100);
        for (index, op) in ops.iter().enumerate() {
            let fate = match pattern {
                0..15 => Some(Fate::Whole),
                15..30 => Some(Fate::Lost {
                    size_kept: rng.chance(1, 3),
                }),
                _ => None,
            };
            replay(
                name,
                &mut image,
                index,
                op,
                fate,
                durable_len,
                config,
                sector_bytes,
                rng,
                trace,
                counts,
            );
        }
    }
    image
}

/// Replays one pending operation onto `image` with `fate` (or one chosen here).
#[allow(clippy::too_many_arguments)] // One call site per model; a struct would only rename them.
fn replay(
    name: &str,
    image: &mut Vec<u8>,
    index: usize,
    op: &PendingOp,
    fate: Option<Fate>,
    durable_len: u64,
    config: &SimConfig,
    sector_bytes: u64,
    rng: &mut Rng,
    trace: Trace,
    counts: &mut FaultCounts,
) {
    let (offset, bytes) = match op {
        PendingOp::Truncate { len } => {
            let happened = match fate {
                Some(Fate::Whole) => true,
                Some(_) => false,
                None => rng.chance(1, 2),
            };
            trace.note(|| format!("    op {index}: truncate to {len} B: happened = {happened}"));
            if happened {
                apply(image, op);
                counts.truncations_kept += 1;
            } else {
                counts.truncations_lost += 1;
            }
            return;
        }
        PendingOp::Write { offset, bytes } => (*offset, bytes.as_slice()),
    };
    let end = offset + bytes.len() as u64;
    let pieces = pieces(offset, end, sector_bytes);
    let fate = match fate {
        Some(fate) => fate,
        None if config.in_order_prefixes => choose_last_kept_fate(
            &pieces,
            offset,
            bytes.len(),
            image,
            durable_len,
            sector_bytes,
            rng,
        ),
        None => choose_fate(&pieces, offset, bytes.len(), durable_len, sector_bytes, rng),
    };
    let fate = match fate {
        Fate::Garbage(contents) => {
            // Pieces that write exactly the bytes already there (recovery's rewrite past the
            // sync mark): garbling them damages data that was on the media.
            let mut rewrites_garbled = 0;
            let contents = pieces
                .iter()
                .zip(contents)
                .map(|(&(start, stop), piece)| {
                    let held = image.get(start as usize..stop as usize);
                    let new = &bytes[(start - offset) as usize..(stop - offset) as usize];
                    if piece != Piece::Garbage || held != Some(new) {
                        piece
                    } else if config.identical_rewrites_survive {
                        Piece::Old
                    } else {
                        rewrites_garbled += 1;
                        piece
                    }
                })
                .collect();
            counts.identical_rewrites_garbled += rewrites_garbled;
            Fate::Garbage(contents)
        }
        fate => fate,
    };
    trace.note(|| {
        format!(
            "    op {index}: write [{offset}..{end}) {} B: {fate:?}",
            bytes.len()
        )
    });
    let fate_kind = match fate {
        Fate::Garbage(_) => FateKind::Garbage,
        _ => FateKind::Other,
    };
    match fate {
        Fate::Whole => {
            write_into(image, offset, bytes);
            counts.whole += 1;
        }
        Fate::Torn(landed) => {
            for (&(start, stop), landed) in pieces.iter().zip(landed) {
                if landed {
                    write_piece(image, offset, bytes, start, stop);
                }
            }
            counts.torn += 1;
        }
        Fate::Garbage(contents) => {
            for (&(start, stop), piece) in pieces.iter().zip(contents) {
                match piece {
                    Piece::New => write_piece(image, offset, bytes, start, stop),
                    Piece::Old => {}
                    Piece::Garbage => {
                        let mut garbage = vec![0u8; (stop - start) as usize];
                        rng.fill(&mut garbage);
                        write_into(image, start, &garbage);
                    }
                }
            }
            counts.garbage += 1;
        }
        Fate::Lost { size_kept } => {
            if size_kept && end > image.len() as u64 {
                image.resize(end as usize, 0);
                counts.size_only += 1;
            }
            counts.lost += 1;
        }
        Fate::Misdirected { to } => {
            assert!(
                to >= durable_len,
                "{name}: a misdirected write onto synced bytes"
            );
            write_into(image, to, bytes);
            counts.misdirected += 1;
        }
        Fate::Prefix(landed) => {
            write_into(image, offset, &bytes[..landed]);
            counts.header_slots_torn += 1;
        }
    }
    if is_slot_rewrite(op) && matches!(fate_kind, FateKind::Garbage) {
        counts.header_slots_torn += 1;
    }
}

/// A fate for a write inside the header: a slot rewrite may also be torn after any byte or
/// garbled whole; the first write of both slots (synced before the file is renamed into place)
/// is atomic.
fn header_fate(offset: u64, len: usize, floor: u64, sector_bytes: u64, rng: &mut Rng) -> Fate {
    if len != HEADER_LEN {
        return atomic_fate(offset, floor, sector_bytes, rng);
    }
    match rng.below(10) {
        0..3 => Fate::Whole,
        3..5 => Fate::Lost { size_kept: false },
        5..8 => Fate::Prefix(rng.in_range(1..HEADER_LEN as u64) as usize),
        8 => Fate::Garbage(vec![Piece::Garbage]),
        _ => Fate::Misdirected {
            to: misdirect_target(offset, floor, sector_bytes, rng),
        },
    }
}

/// The write `[offset, end)` cut at sector boundaries: absolute ranges, in order.
fn pieces(offset: u64, end: u64, sector_bytes: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut start = offset;
    while start < end {
        let stop = ((start / sector_bytes + 1) * sector_bytes).min(end);
        out.push((start, stop));
        start = stop;
    }
    out
}

fn write_piece(image: &mut Vec<u8>, offset: u64, bytes: &[u8], start: u64, stop: u64) {
    write_into(
        image,
        start,
        &bytes[(start - offset) as usize..(stop - offset) as usize],
    );
}

/// A fate for a write in the full model.
fn choose_fate(
    pieces: &[(u64, u64)],
    offset: u64,
    len: usize,
    durable_len: u64,
    sector_bytes: u64,
    rng: &mut Rng,
) -> Fate {
    if len == 0 {
        return Fate::Whole;
    }
    if in_header(offset, len) {
        return header_fate(offset, len, durable_len, sector_bytes, rng);
    }
    match rng.below(100) {
        0..35 => Fate::Whole,
        // A write within one sector cannot tear at a sector boundary: it is lost instead.
        35..78 if pieces.len() < 2 => Fate::Lost {
            size_kept: rng.chance(1, 3),
        },
        35..65 => Fate::Lost {
            size_kept: rng.chance(1, 3),
        },
        65..78 => {
            // At least one piece lands and at least one does not.
            let mut landed: Vec<bool> = pieces.iter().map(|_| rng.chance(1, 2)).collect();
            let first = rng.below(pieces.len() as u64) as usize;
            let second = (first + 1 + rng.below(pieces.len() as u64 - 1) as usize) % pieces.len();
            landed[first] = true;
            landed[second] = false;
            Fate::Torn(landed)
        }
        78..90 => {
            let mut contents: Vec<Piece> = pieces
                .iter()
                .map(|_| match rng.below(3) {
                    0 => Piece::New,
                    1 => Piece::Old,
                    _ => Piece::Garbage,
                })
                .collect();
            let garbled = rng.below(pieces.len() as u64) as usize;
            contents[garbled] = Piece::Garbage;
            Fate::Garbage(contents)
        }
        _ => Fate::Misdirected {
            to: misdirect_target(offset, durable_len, sector_bytes, rng),
        },
    }
}

/// A fate for the last write an in-order prefix keeps: damage only after what landed, so
/// nothing valid can follow it.
fn choose_last_kept_fate(
    pieces: &[(u64, u64)],
    offset: u64,
    len: usize,
    image: &[u8],
    durable_len: u64,
    sector_bytes: u64,
    rng: &mut Rng,
) -> Fate {
    if len == 0 {
        return Fate::Whole;
    }
    if in_header(offset, len) {
        let floor = durable_len.max(image.len() as u64);
        return header_fate(offset, len, floor, sector_bytes, rng);
    }
    let landed = rng.below(pieces.len() as u64) as usize;
    match rng.below(100) {
        0..50 => Fate::Whole,
        50..70 if pieces.len() >= 2 => {
            Fate::Torn((0..pieces.len()).map(|i| i < landed.max(1)).collect())
        }
        50..85 => Fate::Garbage(
            (0..pieces.len())
                .map(|i| match i.cmp(&landed) {
                    std::cmp::Ordering::Less => Piece::New,
                    std::cmp::Ordering::Equal => Piece::Garbage,
                    std::cmp::Ordering::Greater if rng.chance(1, 2) => Piece::Garbage,
                    std::cmp::Ordering::Greater => Piece::Old,
                })
                .collect(),
        ),
        _ => {
            // Beyond everything kept so far, so it cannot garble data that lands before it.
            let floor = durable_len.max(image.len() as u64);
            Fate::Misdirected {
                to: misdirect_target(offset, floor, sector_bytes, rng),
            }
        }
    }
}

/// Whether a write lies inside the file header (both slots of a v2 file): see [`header_fate`].
fn in_header(offset: u64, len: usize) -> bool {
    offset + len as u64 <= BODY_OFFSET as u64
}

/// A fate for an atomic write: whole, lost, or misdirected (at or beyond `floor`).
fn atomic_fate(offset: u64, floor: u64, sector_bytes: u64, rng: &mut Rng) -> Fate {
    match rng.below(10) {
        0..5 => Fate::Whole,
        5..9 => Fate::Lost { size_kept: false },
        _ => Fate::Misdirected {
            to: misdirect_target(offset, floor, sector_bytes, rng),
        },
    }
}

/// An offset shifted from `offset` by a non-zero multiple of the sector size, at or beyond
/// `floor`.
fn misdirect_target(offset: u64, floor: u64, sector_bytes: u64, rng: &mut Rng) -> u64 {
    let back_max = offset.saturating_sub(floor) / sector_bytes;
    if back_max > 0 && rng.chance(1, 2) {
        return offset - sector_bytes * rng.in_range(1..back_max.min(8) + 1);
    }
    let forward_min = floor.saturating_sub(offset).div_ceil(sector_bytes).max(1);
    offset + sector_bytes * rng.in_range(forward_min..forward_min + 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Bytes that say where they were meant to land: a write shifted by a multiple of 512 B, or
    /// a piece of one, never matches what was meant to be at its new offset.
    fn pattern(offset: u64, len: usize) -> Vec<u8> {
        (offset..offset + len as u64)
            .map(|at| (at % 251 + 1) as u8)
            .collect()
    }

    /// A disk with one file: `durable_len` bytes of 0xAA synced, then `writes` pending.
    fn disk_with(durable_len: usize, writes: &[(u64, usize)]) -> Disk {
        let mut files = BTreeMap::new();
        files.insert(Lsn::ZERO, vec![0xAA; durable_len]);
        let mut disk = Disk::new(&files, None, false, Rng::new(0), Trace::QUIET);
        let inode = disk.open(Lsn::ZERO).unwrap();
        for &(offset, len) in writes {
            disk.write_at(inode, offset, &pattern(offset, len)).unwrap();
        }
        disk
    }

    fn image_of(disk: &Disk, config: &SimConfig, seed: u64) -> Vec<u8> {
        let (mut image, _) = crash_image(disk, config, 512, &mut Rng::new(seed), Trace::QUIET);
        image.remove(&Lsn::ZERO).unwrap()
    }

    /// Prevents a crash image from damaging bytes no pending write covered (the media
    /// assumption), or from misdirecting a write onto synced bytes.
    #[test]
    fn damage_stays_inside_the_writes_and_never_touches_synced_bytes() {
        // One write that rewrites the end of a partly synced sector and runs on.
        let disk = disk_with(700, &[(700, 3000)]);
        for seed in 0..2000 {
            let image = image_of(&disk, &SimConfig::default(), seed);
            assert!(image[..700].iter().all(|&b| b == 0xAA), "seed {seed}");
        }
        // A write inside the synced range (over preallocated space) and one beyond it: bytes
        // outside both writes keep their content.
        let disk = disk_with(4096, &[(1000, 100), (5000, 1500)]);
        for seed in 0..2000 {
            let image = image_of(&disk, &SimConfig::default(), seed);
            let mut outside = (0..1000).chain(1100..4096);
            assert!(outside.all(|i| image[i] == 0xAA), "seed {seed}");
        }
    }

    /// Prevents the in-order model from leaving a hole before landed data: past the longest
    /// prefix that matches the full write sequence, no whole sector holds what was meant for it.
    #[test]
    fn in_order_prefixes_leave_no_data_after_a_hole() {
        let writes = [(64, 1000), (1064, 1000), (2064, 1000)];
        let disk = disk_with(64, &writes);
        let mut live = vec![0xAA; 64];
        for (offset, len) in writes {
            live.extend(pattern(offset, len));
        }
        let config = SimConfig {
            in_order_prefixes: true,
            ..SimConfig::default()
        };
        for seed in 0..2000 {
            let image = image_of(&disk, &config, seed);
            let matching = image.iter().zip(&live).take_while(|(a, b)| a == b).count();
            let end = image.len().min(live.len());
            let mut sector = matching.div_ceil(512) * 512;
            while sector < end {
                let stop = (sector + 512).min(end);
                assert_ne!(
                    image[sector..stop],
                    live[sector..stop],
                    "seed {seed}: data at {sector} after a hole at {matching}"
                );
                sector = stop;
            }
        }
    }

    /// Prevents the model from sparing header slot rewrites (format v2 must survive them torn
    /// at any byte or garbled) and from letting one reach beyond its slot: the other slot keeps
    /// its bytes whatever happens to the rewrite.
    #[test]
    fn a_header_slot_rewrite_may_tear_anywhere_but_never_touches_the_other_slot() {
        let disk = disk_with(128, &[(0, 64), (128, 2000)]);
        let new = pattern(0, 64);
        let (mut whole, mut old, mut torn) = (0, 0, 0);
        for seed in 0..2000 {
            let image = image_of(&disk, &SimConfig::default(), seed);
            assert!(image[64..128].iter().all(|&b| b == 0xAA), "seed {seed}");
            let slot = &image[..64];
            if slot == new {
                whole += 1;
            } else if slot.iter().all(|&b| b == 0xAA) {
                old += 1;
            } else {
                torn += 1;
            }
        }
        assert!(
            whole > 0 && old > 0 && torn > 0,
            "{whole} whole, {old} old, {torn} torn"
        );
    }

    /// Prevents a crash image from tearing the first write of a file's two slots: it is synced
    /// under a temporary name before the file is renamed into place, so it lands whole or not.
    #[test]
    fn the_first_write_of_both_slots_lands_whole_or_not_at_all() {
        let disk = disk_with(0, &[(0, 128), (128, 2000)]);
        let new = pattern(0, 128);
        for seed in 0..2000 {
            let image = image_of(&disk, &SimConfig::default(), seed);
            let header = image.get(..128);
            assert!(
                header.is_none_or(|header| header == new || header.iter().all(|&b| b == 0)),
                "seed {seed}"
            );
        }
    }

    /// Prevents the two media models from blurring: rewriting the bytes already on the media
    /// (recovery's rewrite past the sync mark) can garble them under powersafe overwrite alone,
    /// and never on old-or-new media.
    #[test]
    fn identical_rewrites_are_at_risk_only_without_old_or_new_sectors() {
        let mut files = BTreeMap::new();
        let mut durable = vec![0xAA; 64];
        durable.extend(pattern(64, 3000));
        files.insert(Lsn::ZERO, durable.clone());
        let mut disk = Disk::new(&files, None, false, Rng::new(0), Trace::QUIET);
        let inode = disk.open(Lsn::ZERO).unwrap();
        disk.write_at(inode, 64, &pattern(64, 3000)).unwrap();
        let old_or_new = SimConfig {
            identical_rewrites_survive: true,
            ..SimConfig::default()
        };
        let mut garbled = 0;
        for seed in 0..500 {
            let image = image_of(&disk, &old_or_new, seed);
            assert_eq!(image[..durable.len()], durable[..], "seed {seed}");
            garbled += u32::from(image_of(&disk, &SimConfig::default(), seed)[..3064] != durable);
        }
        assert!(garbled > 0, "the default model never garbled a rewrite");
    }

    /// Prevents a replayed seed from building another image than the failing run did.
    #[test]
    fn the_same_seed_builds_the_same_image() {
        let disk = disk_with(64, &[(64, 5000), (5064, 300)]);
        let build = |seed| {
            crash_image(
                &disk,
                &SimConfig::default(),
                512,
                &mut Rng::new(seed),
                Trace::QUIET,
            )
        };
        for seed in 0..100 {
            assert_eq!(build(seed), build(seed));
        }
    }
}
