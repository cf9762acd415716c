//! `scan_storage` (the streaming scan recovery opens logs with) against `scan_file` (the scan
//! of an image in memory): the same answer for every image, window and mode, read through
//! bounded reads, and a failed read as a typed error.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use walden_core::{
    scan_file, scan_storage, Codec, FileHeader, LogWriter, Lsn, MemError, MemStorage, Recovery,
    RecoveryError, RecoveryMode, Storage, SyncMode, TailKind, WriterError, WriterOptions,
    FRAME_HEADER_LEN, MAX_PAYLOAD_LEN_LIMIT, RECOVERY_WINDOW_BYTES, SCAN_READ_OP,
};

const SALT: u64 = 0x5eed_0013;
const OTHER_SALT: u64 = 0x0dd_5a17;
const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateTornTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];
/// Windows smaller than most frames (16, 100), one page, and the one recovery uses.
const WINDOWS: [usize; 4] = [16, 100, 4096, RECOVERY_WINDOW_BYTES];

type Scan = Result<(FileHeader, Recovery), RecoveryError>;

/// The streaming scan's answer in `scan_file`'s terms (a storage error fails the test).
fn streamed<S: Storage>(storage: &S, limit: u32, mode: RecoveryMode, window: usize) -> Scan {
    match scan_storage(
        storage,
        |salt| Codec::new(salt).with_max_payload_len(limit),
        mode,
        window,
    ) {
        Ok(found) => Ok(found),
        Err(WriterError::Header(err)) => Err(RecoveryError::Header(err)),
        Err(WriterError::Recovery(err)) => Err(err),
        Err(other) => panic!("a scan of memory failed to read: {other}"),
    }
}

fn in_memory(image: &[u8], limit: u32, mode: RecoveryMode) -> Scan {
    scan_file(
        image,
        |salt| Codec::new(salt).with_max_payload_len(limit),
        mode,
    )
}

/// Asserts both scans agree on `image` in every mode and window; returns `scan_file`'s
/// answers, so a caller can check what the image exercised.
fn assert_same(image: &[u8], limit: u32, windows: &[usize]) -> Vec<Scan> {
    let storage = MemStorage::from_durable(image.to_vec());
    MODES
        .iter()
        .map(|&mode| {
            let expected = in_memory(image, limit, mode);
            for &window in windows {
                assert_eq!(
                    streamed(&storage, limit, mode, window),
                    expected,
                    "{mode:?}, window {window}, limit {limit}, {} bytes",
                    image.len()
                );
            }
            expected
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Random images

/// One piece of a body, laid down in order at the LSN its offset gives.
#[derive(Clone, Debug)]
enum Piece {
    /// A record of this payload length (clamped to the limit), payload bytes from the seed.
    Record {
        len: usize,
        seed: u8,
    },
    /// A sync marker vouching for this fraction (in 256ths) of the LSNs so far.
    Marker {
        fraction: u8,
    },
    Zeros(usize),
    Garbage(Vec<u8>),
    /// A valid frame of another log's salt, at this offset's LSN.
    Foreign(usize),
    /// A valid frame of this log at the wrong LSN (left over from an older incarnation).
    Stale(usize),
    /// A frame with a valid CRC whose payload is this much over the reader's limit.
    OverLimit(usize),
}

fn piece(limit: usize) -> impl Strategy<Value = Piece> {
    prop_oneof![
        8 => prop_oneof![Just(0usize), 0..=limit, limit.saturating_sub(8)..=limit]
            .prop_flat_map(|len| any::<u8>().prop_map(move |seed| Piece::Record { len, seed })),
        2 => any::<u8>().prop_map(|fraction| Piece::Marker { fraction }),
        1 => (1usize..300).prop_map(Piece::Zeros),
        1 => proptest::collection::vec(any::<u8>(), 1..300).prop_map(Piece::Garbage),
        1 => (0..=limit).prop_map(Piece::Foreign),
        1 => (0..=limit).prop_map(Piece::Stale),
        1 => (1usize..200).prop_map(Piece::OverLimit),
    ]
}

/// Damage done to the finished image.
#[derive(Clone, Debug)]
enum Damage {
    /// XOR this byte into the byte at this fraction (in 65536ths) of the image.
    Flip { at: u16, xor: u8 },
    /// Zero this many bytes from this fraction of the image.
    Zero { at: u16, len: usize },
    /// Cut the image at this fraction.
    Truncate { at: u16 },
    /// Append these bytes.
    GarbageTail(Vec<u8>),
    /// Append this many zeros.
    ZeroTail(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (any::<u16>(), 1u8..=255).prop_map(|(at, xor)| Damage::Flip { at, xor }),
        2 => (any::<u16>(), 1usize..200).prop_map(|(at, len)| Damage::Zero { at, len }),
        2 => any::<u16>().prop_map(|at| Damage::Truncate { at }),
        1 => proptest::collection::vec(any::<u8>(), 1..200).prop_map(Damage::GarbageTail),
        1 => (1usize..2000).prop_map(Damage::ZeroTail),
    ]
}

#[derive(Clone, Debug)]
struct Plan {
    v1: bool,
    base: u64,
    /// The header's sync mark, as an offset past the base (`None`: no mark).
    mark: Option<u16>,
    limit: u32,
    pieces: Vec<Piece>,
    damage: Vec<Damage>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        any::<bool>(),
        prop_oneof![
            4 => Just(0u64),
            2 => 0u64..(1 << 40),
            // Near the top of the LSN space: frames stop fitting, and data past the room is
            // refused (`BaseLsnTooHigh`).
            1 => (0u64..3000).prop_map(|below| u64::MAX - below),
        ],
        proptest::option::of(any::<u16>()),
        prop_oneof![Just(0u32), 1u32..64, 64u32..400, Just(2000u32)],
    )
        .prop_flat_map(|(v1, base, mark, limit)| {
            (
                proptest::collection::vec(piece(limit as usize), 0..24),
                proptest::collection::vec(damage(), 0..3),
            )
                .prop_map(move |(pieces, damage)| Plan {
                    v1,
                    base,
                    mark,
                    limit,
                    pieces,
                    damage,
                })
        })
}

fn bytes_from(seed: u8, len: usize) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn build(plan: &Plan) -> Vec<u8> {
    let base = Lsn::new(plan.base);
    let mut header = if plan.v1 {
        FileHeader::v1(SALT, base)
    } else {
        FileHeader::new(SALT, base)
    };
    header.sync_mark = plan
        .mark
        .map(|mark| Lsn::new(plan.base.saturating_add(u64::from(mark))));
    let mut image = header.encode_initial();
    let body_start = image.len();
    let codec = Codec::for_header(&header).with_max_payload_len(plan.limit);
    let unlimited = codec.with_max_payload_len(MAX_PAYLOAD_LEN_LIMIT);
    let foreign = Codec::new(OTHER_SALT);
    for piece in &plan.pieces {
        let lsn = Lsn::new(plan.base.saturating_add((image.len() - body_start) as u64));
        // A frame that cannot be encoded here (past the end of the LSN space) is left out.
        let _ = match piece {
            Piece::Record { len, seed } => {
                codec.encode_append(lsn, &bytes_from(*seed, *len), &mut image)
            }
            Piece::Marker { fraction } => {
                let below = lsn.get() - plan.base;
                let durable = plan.base + below / 256 * u64::from(*fraction);
                codec.encode_marker(lsn, Lsn::new(durable), &mut image)
            }
            Piece::Zeros(len) => {
                image.resize(image.len() + len, 0);
                Ok(*len)
            }
            Piece::Garbage(bytes) => {
                image.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            Piece::Foreign(len) => foreign.encode_append(lsn, &bytes_from(7, *len), &mut image),
            Piece::Stale(len) => codec.encode_append(
                Lsn::new(lsn.get().wrapping_add(4096)),
                &bytes_from(9, *len),
                &mut image,
            ),
            Piece::OverLimit(over) => {
                unlimited.encode_append(lsn, &bytes_from(3, plan.limit as usize + over), &mut image)
            }
        };
    }
    for damage in &plan.damage {
        let at = |fraction: u16| image.len() * usize::from(fraction) / 65536;
        match damage {
            Damage::Flip { at: where_, xor } => {
                let i = at(*where_);
                if let Some(byte) = image.get_mut(i) {
                    *byte ^= xor;
                }
            }
            Damage::Zero { at: where_, len } => {
                let start = at(*where_);
                let end = (start + len).min(image.len());
                image[start..end].fill(0);
            }
            Damage::Truncate { at: where_ } => {
                let len = at(*where_);
                image.truncate(len);
            }
            Damage::GarbageTail(bytes) => image.extend_from_slice(bytes),
            Damage::ZeroTail(len) => image.resize(image.len() + len, 0),
        }
    }
    image
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    })]

    /// Prevents the streaming scan from deciding anything differently from the in-memory one
    /// (a frame split across windows read as torn, a candidate cut short by a window read as
    /// no frame, a marker after the damage missed), on random v1 and v2 images with random
    /// damage, in every mode, through windows smaller than a frame and larger than the image.
    #[test]
    fn the_streaming_scan_decides_what_the_in_memory_scan_decides(plan in plan()) {
        let image = build(&plan);
        assert_same(&image, plan.limit, &WINDOWS);
    }
}

/// Prevents the generator above from drifting into images that exercise nothing: a fixed set
/// of plans, built the same way, must between them reach every kind of answer.
#[test]
fn the_random_images_reach_every_kind_of_answer() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let plan = plan()
            .new_tree(&mut runner)
            .expect("the strategy generates")
            .current();
        let image = build(&plan);
        for scan in assert_same(&image, plan.limit, &[100]) {
            let kind = match scan {
                Ok((_, recovery)) => match recovery.tail.map(|tail| tail.kind) {
                    None => "clean",
                    Some(TailKind::Zeroed) => "zeroed",
                    Some(TailKind::Torn(_)) => "torn",
                    Some(TailKind::Unsynced { .. }) => "unsynced",
                    Some(TailKind::Discarded { .. }) => "discarded",
                },
                Err(RecoveryError::Header(_)) => "header",
                Err(RecoveryError::CorruptionMidLog { .. }) => "mid-log",
                Err(RecoveryError::RecordOverLimit { .. }) => "over-limit",
                Err(RecoveryError::SyncedDataLost { .. }) => "lost",
                Err(RecoveryError::BaseLsnTooHigh { .. }) => "base-too-high",
                Err(RecoveryError::TornTail { .. }) => "torn-strict",
                Err(_) => "other",
            };
            seen.insert(kind);
        }
    }
    for kind in [
        "clean",
        "zeroed",
        "torn",
        "unsynced",
        "discarded",
        "header",
        "mid-log",
        "over-limit",
        "lost",
        "base-too-high",
        "torn-strict",
    ] {
        assert!(seen.contains(kind), "no image gave {kind}: saw {seen:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Long frames: the search's block CRCs and the streamed CRC of an over-limit frame

/// A v2 log of `lens` records (payload lengths) at base 0, its image and each record's offset.
/// Its header's sync mark is at its base: nothing known durable, as in a log never closed.
fn log_of(lens: &[usize], limit: u32) -> (Vec<u8>, Vec<usize>) {
    let header = FileHeader::new(SALT, Lsn::ZERO);
    let codec = Codec::for_header(&header).with_max_payload_len(limit);
    let mut image = header.encode_initial();
    let mut offsets = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        offsets.push(image.len());
        let lsn = Lsn::new((image.len() - header.body_offset() as usize) as u64);
        codec
            .encode_append(lsn, &bytes_from(i as u8, len), &mut image)
            .expect("fits the limit");
    }
    (image, offsets)
}

/// [`log_of`] with the header's sync mark at the end, as `close` leaves it: damage anywhere is
/// damage to synced records.
fn sealed_log_of(lens: &[usize], limit: u32) -> (Vec<u8>, Vec<usize>) {
    let (mut image, offsets) = log_of(lens, limit);
    let header = FileHeader::read(&image).expect("just written");
    let end = Lsn::new(image.len() as u64 - header.body_offset());
    let sealed = header.next(|header| header.with_sync_mark(end));
    let slot = sealed.slot_offset() as usize;
    image[slot..slot + sealed.encode().len()].copy_from_slice(&sealed.encode());
    (image, offsets)
}

/// Prevents a long candidate after the damage (its CRC assembled from per-block CRCs, its bytes
/// spanning many windows) from being missed or misjudged by the streaming search.
#[test]
fn long_frames_after_damage_are_found_through_small_windows() {
    const LIMIT: u32 = 300 << 10;
    let (clean, offsets) = sealed_log_of(&[200 << 10, 1000, 250 << 10, 5, 140 << 10], LIMIT);
    let windows = [100, 4096, 64 << 10];
    // A flipped payload byte in the first record: the claimed-length jump finds the second.
    let mut flipped = clean.clone();
    flipped[offsets[0] + 5000] ^= 1;
    // A wrong length in the second: the search walks every offset to the third, a long one.
    let mut relength = clean.clone();
    relength[offsets[1] + 4..offsets[1] + 8].copy_from_slice(&77u32.to_le_bytes());
    // The first record's header zeroed: a zero run, then stale payload bytes, then valid frames.
    let mut zeroed = clean.clone();
    zeroed[offsets[0]..offsets[0] + 8].fill(0);
    // Everything after the first record's header garbled by a flip every 7 bytes, payloads and
    // headers alike, lengths left plausible where missed: no valid frame.
    let mut garbled = clean.clone();
    for i in (offsets[0] + 8..garbled.len()).step_by(7) {
        garbled[i] ^= 0x80;
    }
    for (name, image) in [
        ("clean", &clean),
        ("flipped", &flipped),
        ("relength", &relength),
        ("zeroed", &zeroed),
        ("garbled", &garbled),
    ] {
        let scans = assert_same(image, LIMIT, &windows);
        let (default, salvage) = (&scans[0], &scans[2]);
        match name {
            "clean" => assert!(matches!(default, Ok((_, r)) if r.tail.is_none() && r.records == 5)),
            "garbled" => {
                assert!(
                    matches!(default, Err(RecoveryError::SyncedDataLost { .. })),
                    "{default:?}"
                );
                assert!(
                    matches!(salvage, Ok((_, r)) if matches!(r.tail.map(|t| t.kind), Some(TailKind::Torn(_)))),
                    "{salvage:?}"
                );
            }
            _ => assert!(
                matches!(default, Err(RecoveryError::CorruptionMidLog { .. })),
                "{name}: {default:?}"
            ),
        }
    }
}

/// Prevents a record over the reader's limit (written under a larger one) from being read as a
/// torn tail when it is longer than the window, so that its CRC is computed as it is read.
#[test]
fn a_long_record_over_the_limit_is_refused_through_any_window() {
    let (image, _) = log_of(&[10, 3 << 20, 10], MAX_PAYLOAD_LEN_LIMIT);
    for limit in [1000, 1 << 20] {
        let scans = assert_same(&image, limit, &[100, 4096, RECOVERY_WINDOW_BYTES]);
        for scan in scans {
            assert!(
                matches!(scan, Err(RecoveryError::RecordOverLimit { payload_len, .. }) if payload_len == 3 << 20),
                "{scan:?}"
            );
        }
    }
    // One flipped payload byte: no longer a valid record, so a damaged frame, not a refusal.
    let mut flipped = image.clone();
    flipped[image.len() - 4000] ^= 1;
    let scans = assert_same(&flipped, 1000, &[100, 4096]);
    assert!(
        !matches!(scans[0], Err(RecoveryError::RecordOverLimit { .. })),
        "{:?}",
        scans[0]
    );
}

// ---------------------------------------------------------------------------------------------
// The golden files

fn golden_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("the golden directory exists")
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            golden_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "wal") {
            out.push(path);
        }
    }
}

/// Prevents the streaming scan from drifting from the answers the golden files pin (each one a
/// case of docs/durability.md), for the default limit and a small one (which makes records
/// over-limit).
#[test]
fn the_golden_files_give_the_same_answers_both_ways() {
    // A link to the repository's tests/golden, which the package holds as files.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files = Vec::new();
    golden_files(&root, &mut files);
    assert!(files.len() >= 20, "found only {files:?}");
    assert!(files.iter().any(|path| path.starts_with(root.join("v2"))));
    for path in files {
        let image = std::fs::read(&path).expect("a readable golden file");
        for limit in [walden_core::DEFAULT_MAX_PAYLOAD_LEN, 16] {
            let storage = MemStorage::from_durable(image.clone());
            for mode in MODES {
                let expected = in_memory(&image, limit, mode);
                for window in [16, 100, 4096, RECOVERY_WINDOW_BYTES] {
                    assert_eq!(
                        streamed(&storage, limit, mode, window),
                        expected,
                        "{}: {mode:?}, window {window}, limit {limit}",
                        path.display()
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reads: failures and sizes

/// A `MemStorage` whose reads fail from the `fail_from`-th on, and that records the largest
/// read and the bytes read.
#[derive(Debug)]
struct Watched {
    inner: Rc<RefCell<MemStorage>>,
    fail_from: Option<u64>,
    reads: Cell<u64>,
    largest_read: Cell<usize>,
    bytes_read: Cell<u64>,
}

impl Watched {
    fn new(image: Vec<u8>) -> Watched {
        Watched {
            inner: Rc::new(RefCell::new(MemStorage::from_durable(image))),
            fail_from: None,
            reads: Cell::new(0),
            largest_read: Cell::new(0),
            bytes_read: Cell::new(0),
        }
    }
}

impl Storage for Watched {
    type Error = MemError;

    fn size(&self) -> Result<u64, MemError> {
        self.inner.borrow().size()
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), MemError> {
        self.inner.borrow_mut().write_at(offset, bytes)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let n = self.reads.get();
        self.reads.set(n + 1);
        if self.fail_from.is_some_and(|from| n >= from) {
            return Err(MemError::TooLarge { requested: offset });
        }
        self.largest_read
            .set(self.largest_read.get().max(buf.len()));
        let read = self.inner.borrow().read_at(offset, buf)?;
        self.bytes_read.set(self.bytes_read.get() + read as u64);
        Ok(read)
    }

    fn sync(&mut self, mode: SyncMode) -> Result<(), MemError> {
        self.inner.borrow_mut().sync(mode)
    }

    fn truncate(&mut self, len: u64) -> Result<(), MemError> {
        self.inner.borrow_mut().truncate(len)
    }
}

/// Prevents a read failure during recovery from being taken for the end of the log (and the
/// rest cut as a torn tail): it is a typed storage error, and the file is left as it was.
#[test]
fn a_failed_read_is_a_typed_error_and_changes_nothing() {
    let (image, _) = log_of(&vec![100; 400], walden_core::DEFAULT_MAX_PAYLOAD_LEN);
    for fail_from in [0, 1, 3] {
        let mut storage = Watched::new(image.clone());
        storage.fail_from = Some(fail_from);
        let err = scan_storage(&storage, Codec::new, RecoveryMode::TolerateTornTail, 4096)
            .expect_err("the read fails");
        assert!(
            matches!(err, WriterError::Storage { op, source: MemError::TooLarge { .. } } if op == SCAN_READ_OP),
            "read {fail_from}: {err:?}"
        );
        let err = LogWriter::recover(storage, WriterOptions::default(), SALT)
            .expect_err("the read fails");
        assert!(
            matches!(err, WriterError::Storage { op, .. } if op == SCAN_READ_OP),
            "read {fail_from}: {err:?}"
        );
    }
    // The writer's open, failing on a body read, leaves every byte in place.
    let mut storage = Watched::new(image.clone());
    storage.fail_from = Some(2);
    let inner = storage.inner.clone();
    assert!(LogWriter::recover(storage, WriterOptions::default(), SALT).is_err());
    let after = inner.borrow();
    assert_eq!(after.live_image(), &image[..]);
    assert_eq!(after.syncs(), 0);
}

/// Prevents recovery from reading a log whole (the memory bound of issue 13): every read asks
/// for at most the window plus one maximal frame, a clean scan reads each byte about once, and
/// a damaged one (which searches the tail) stays within the same bound per read.
#[test]
fn no_read_asks_for_more_than_the_window_and_one_frame() {
    const LIMIT: u32 = 2000;
    let frame_max = LIMIT as usize + FRAME_HEADER_LEN;
    let lens: Vec<usize> = (0..3000).map(|i| (i * 37) % (LIMIT as usize + 1)).collect();
    let (clean, offsets) = log_of(&lens, LIMIT);
    let mut damaged = clean.clone();
    damaged[offsets[1500] + 4] ^= 0x10;
    for window in [16, 100, 4096] {
        for (name, image) in [("clean", &clean), ("damaged", &damaged)] {
            let storage = Watched::new(image.clone());
            let scan = scan_storage(
                &storage,
                |salt| Codec::new(salt).with_max_payload_len(LIMIT),
                RecoveryMode::PointInTime,
                window,
            );
            assert_eq!(
                scan.map_err(|err| err.to_string()),
                in_memory(image, LIMIT, RecoveryMode::PointInTime).map_err(|err| err.to_string())
            );
            let largest = storage.largest_read.get();
            assert!(
                largest <= window + frame_max,
                "{name}, window {window}: a read of {largest} bytes"
            );
            if name == "clean" {
                // Each byte once (a refill keeps what it holds of the new window), plus the
                // header.
                let read = storage.bytes_read.get();
                assert!(
                    read <= image.len() as u64 + 128,
                    "window {window}: {read} bytes read of {}",
                    image.len()
                );
            }
        }
    }
    // The writer's open: 1 MiB windows over a log of several.
    let (big, _) = log_of(&vec![100; 60_000], walden_core::DEFAULT_MAX_PAYLOAD_LEN);
    assert!(big.len() > 4 * RECOVERY_WINDOW_BYTES);
    let storage = Watched::new(big.clone());
    let log = LogWriter::recover(storage, WriterOptions::default(), SALT).expect("recovers");
    assert_eq!(log.recovery().records, 60_000);
    let largest = log.storage().largest_read.get();
    assert!(
        largest <= RECOVERY_WINDOW_BYTES + walden_core::DEFAULT_MAX_PAYLOAD_LEN as usize + 8,
        "a read of {largest} bytes"
    );
    // The scan reads each byte once; the rewrite past the sync mark (at the base: the log was
    // never sealed) reads the records once more, in windows too.
    assert!(log.storage().bytes_read.get() <= 2 * big.len() as u64 + 128);
}
