//! Codec benchmarks, each measured beside its floor: `crc32fast::hash` over the same bytes, in the
//! same run, so a result reads as a ratio to what the checksum alone costs on this machine.
//!
//! - `encode_100b`: one 100-byte record, `Codec::encode_into` into a reused buffer and
//!   `Codec::encode_append` into a reused `Vec`, beside the CRC of the 108 encoded bytes.
//!   Goal: encoding within 1.3x of the floor.
//! - `recovery_scan`: `scan_file` over ~64 MiB log images (100-byte and 4 KiB payloads, a torn
//!   tail of 64 KiB, 1 MiB of stale random bytes, a 16 MiB zero-filled tail), beside the CRC of
//!   the whole image. Goal: at least 2 GB/s.
//!
//! After criterion's own report, `main` prints a ratio summary from a small interleaved
//! measurement (subject and floor alternate, median of several rounds), so machine noise hits
//! both sides of each ratio alike. Run with `cargo bench -p walden-core --bench codec`; see
//! `docs/performance.md`. Under `cargo test --benches` every benchmark runs once on 1 MiB images
//! and the summary is skipped.

use criterion::{BenchmarkGroup, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};
use walden_core::{
    frame_len, scan_file, Codec, FileHeader, Lsn, Recovery, RecoveryMode, TailKind, BODY_OFFSET,
};

/// The salt every benchmark log is written with. Any value does: the CRC cost does not depend on it.
const SALT: u64 = 0x5eed_0000_c0de_cafe;
/// A non-zero base LSN, as a log that has been rotated at least once would have.
const BASE_LSN: Lsn = Lsn::new(1 << 30);
/// The record size of the encoding goal.
const SMALL_PAYLOAD_LEN: usize = 100;
/// A page-sized record, where per-record overhead is amortised and the CRC dominates.
const LARGE_PAYLOAD_LEN: usize = 4096;
/// Body bytes of each benchmark log image: large enough to leave the CPU caches.
const IMAGE_BODY_BYTES: usize = 64 << 20;
/// Image size under `cargo test --benches`, where each benchmark runs once unoptimised.
const QUICK_IMAGE_BODY_BYTES: usize = 1 << 20;
/// The zero-filled tail after the records: preallocated space that was never written.
const ZERO_TAIL_BYTES: usize = 16 << 20;
/// Bytes of the last frame that reached the media before the torn write stopped.
const TORN_FRAME_PREFIX_BYTES: usize = 50;
/// Stale bytes after the torn frame: at most one 64 KiB buffer drain's worth.
const TORN_GARBAGE_BYTES: usize = 64 << 10;
/// A larger run of stale, random-looking bytes after the records, as a crash on a file system
/// that exposes stale blocks in a file's unwritten tail can leave. Recovery must show that no
/// valid frame hides in it, and that search costs more per byte than scanning records.
const STALE_TAIL_BYTES: usize = 1 << 20;
/// Rounds of the interleaved summary measurement; the median is reported.
const SUMMARY_ROUNDS: usize = 9;
/// Target wall time of one side of one summary round.
const SUMMARY_ROUND_TIME: Duration = Duration::from_millis(150);

fn main() {
    let benchmarking = is_benchmark_run();
    let body_bytes = if benchmarking {
        IMAGE_BODY_BYTES
    } else {
        QUICK_IMAGE_BODY_BYTES
    };
    let images = Images::build(body_bytes);

    let mut criterion = Criterion::default().configure_from_args();
    bench_encode(&mut criterion);
    bench_recovery_scan(&mut criterion, &images);
    criterion.final_summary();

    if benchmarking && std::env::var_os("WALDEN_BENCH_NO_SUMMARY").is_none() {
        print_summary(&images);
    }
}

/// Whether criterion will measure (`cargo bench`) rather than run each benchmark once
/// (`cargo test --benches`, `--list`). Mirrors `Criterion::configure_from_args`.
fn is_benchmark_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    has("--bench")
        && !has("--test")
        && !has("--list")
        && !args.iter().any(|a| a.starts_with("--profile-time"))
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// A small deterministic generator, so every run benchmarks the same bytes.
struct XorShift(u64);

impl XorShift {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    XorShift(seed).fill(&mut bytes);
    bytes
}

/// A file image: the header, then records of `payload_len` bytes filling at most `body_bytes`.
/// Returns the image and the LSN where the next record would start.
fn build_log(payload_len: usize, body_bytes: usize) -> (Vec<u8>, Lsn) {
    let codec = Codec::new(SALT);
    let header = FileHeader::new(SALT, BASE_LSN);
    let mut image = Vec::with_capacity(BODY_OFFSET + body_bytes + ZERO_TAIL_BYTES);
    image.extend_from_slice(&header.encode_initial());
    let mut rng = XorShift(0x0123_4567_89ab_cdef ^ payload_len as u64);
    let mut payload = vec![0u8; payload_len];
    let mut lsn = BASE_LSN;
    while image.len() - BODY_OFFSET + frame_len(payload_len) <= body_bytes {
        rng.fill(&mut payload);
        let len = codec
            .encode_append(lsn, &payload, &mut image)
            .expect("benchmark records fit the default limit");
        lsn = Lsn::new(lsn.get() + len as u64);
    }
    (image, lsn)
}

/// One log image to scan, with the outcome its scan must have.
struct Image {
    name: &'static str,
    bytes: Vec<u8>,
    records: u64,
    end_lsn: Lsn,
    tail: Option<&'static str>,
}

impl Image {
    fn new(name: &'static str, bytes: Vec<u8>, records: u64, end_lsn: Lsn) -> Image {
        Image {
            name,
            bytes,
            records,
            end_lsn,
            tail: None,
        }
    }

    /// Scans the image, panicking unless the outcome is the expected one: a benchmark of a scan
    /// that fails early would report a meaningless speed.
    fn check(&self) {
        let recovery = scan(&self.bytes);
        assert_eq!(
            recovery.records, self.records,
            "{}: record count",
            self.name
        );
        assert_eq!(recovery.end_lsn, self.end_lsn, "{}: end LSN", self.name);
        let tail = recovery.tail.map(|tail| match tail.kind {
            TailKind::Zeroed => "zeroed",
            TailKind::Torn(_) => "torn",
            TailKind::Discarded { .. } => "discarded",
            TailKind::Unsynced { .. } => "unsynced",
        });
        assert_eq!(tail, self.tail, "{}: tail", self.name);
    }
}

struct Images {
    all: Vec<Image>,
}

impl Images {
    fn build(body_bytes: usize) -> Images {
        let small_records = (body_bytes / frame_len(SMALL_PAYLOAD_LEN)) as u64;
        let large_records = (body_bytes / frame_len(LARGE_PAYLOAD_LEN)) as u64;
        let (small, small_end) = build_log(SMALL_PAYLOAD_LEN, body_bytes);
        let (large, large_end) = build_log(LARGE_PAYLOAD_LEN, body_bytes);

        // A torn write: the first bytes of the next frame, then stale bytes that were never
        // overwritten. Recovery must look through all of them for a valid frame before it may
        // call the tail torn.
        let mut torn = small.clone();
        let mut next_frame = Vec::new();
        Codec::new(SALT)
            .encode_append(small_end, &payload(SMALL_PAYLOAD_LEN, 7), &mut next_frame)
            .expect("fits");
        torn.extend_from_slice(&next_frame[..TORN_FRAME_PREFIX_BYTES]);
        torn.extend_from_slice(&payload(TORN_GARBAGE_BYTES, 11));

        let mut stale_tail = small.clone();
        stale_tail.extend_from_slice(&payload(STALE_TAIL_BYTES, 13));

        let mut zero_tail = small.clone();
        zero_tail.resize(small.len() + ZERO_TAIL_BYTES, 0);

        let mut images = vec![
            Image::new("100B", small, small_records, small_end),
            Image::new("4KiB", large, large_records, large_end),
            Image::new("100B+torn_tail", torn, small_records, small_end),
            Image::new("100B+stale_tail_1MiB", stale_tail, small_records, small_end),
            Image::new("100B+zero_tail_16MiB", zero_tail, small_records, small_end),
        ];
        images[2].tail = Some("torn");
        images[3].tail = Some("torn");
        images[4].tail = Some("zeroed");
        for image in &images {
            image.check();
        }
        Images { all: images }
    }
}

fn scan(image: &[u8]) -> Recovery {
    let (_, recovery) = scan_file(image, Codec::new, RecoveryMode::TolerateTornTail)
        .expect("benchmark images recover");
    recovery
}

// ---------------------------------------------------------------------------------------------
// The encoding pair

/// What one encoding measurement needs: the codec, the payload, and the encoded frame (the
/// floor's input).
struct EncodeInput {
    codec: Codec,
    lsn: Lsn,
    payload: Vec<u8>,
    frame: Vec<u8>,
}

impl EncodeInput {
    fn new() -> EncodeInput {
        let codec = Codec::new(SALT);
        let lsn = BASE_LSN;
        let payload = payload(SMALL_PAYLOAD_LEN, 3);
        let mut frame = Vec::new();
        codec
            .encode_append(lsn, &payload, &mut frame)
            .expect("fits");
        assert_eq!(frame.len(), frame_len(SMALL_PAYLOAD_LEN));
        EncodeInput {
            codec,
            lsn,
            payload,
            frame,
        }
    }

    fn encode_into(&self, out: &mut [u8]) -> usize {
        let codec = black_box(&self.codec);
        codec
            .encode_into(
                black_box(self.lsn),
                black_box(&self.payload),
                black_box(out),
            )
            .expect("fits")
    }

    fn encode_append(&self, out: &mut Vec<u8>) -> usize {
        out.clear();
        let codec = black_box(&self.codec);
        codec
            .encode_append(
                black_box(self.lsn),
                black_box(&self.payload),
                black_box(out),
            )
            .expect("fits")
    }

    fn floor(&self) -> u32 {
        crc32fast::hash(black_box(&self.frame))
    }
}

fn bench_encode(criterion: &mut Criterion) {
    let input = EncodeInput::new();
    let mut group = criterion.benchmark_group("encode_100b");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);

    let mut buf = vec![0u8; frame_len(SMALL_PAYLOAD_LEN)];
    // Check once that the measured call produces the floor's bytes, then measure it.
    assert_eq!(input.encode_into(&mut buf), input.frame.len());
    assert_eq!(buf, input.frame);
    group.bench_function("encode_into", |b| {
        b.iter(|| black_box(input.encode_into(&mut buf)))
    });

    let mut out = Vec::with_capacity(frame_len(SMALL_PAYLOAD_LEN));
    assert_eq!(input.encode_append(&mut out), input.frame.len());
    assert_eq!(out, input.frame);
    group.bench_function("encode_append", |b| {
        b.iter(|| {
            input.encode_append(&mut out);
            black_box(&out);
        })
    });

    group.bench_function("floor_crc32fast_108B", |b| b.iter(|| input.floor()));
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The scanning pairs

fn bench_recovery_scan(criterion: &mut Criterion, images: &Images) {
    let mut group = criterion.benchmark_group("recovery_scan");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    for image in &images.all {
        bench_scan_pair(&mut group, image);
    }
    group.finish();
}

fn bench_scan_pair(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    image: &Image,
) {
    group.throughput(Throughput::BytesDecimal(image.bytes.len() as u64));
    group.bench_function(format!("scan/{}", image.name), |b| {
        b.iter(|| scan(black_box(&image.bytes)))
    });
    group.bench_function(format!("floor_crc32fast/{}", image.name), |b| {
        b.iter(|| crc32fast::hash(black_box(&image.bytes)))
    });
}

// ---------------------------------------------------------------------------------------------
// The ratio summary

/// Median seconds per call of `subject` and of `floor`, measured in alternating rounds so that
/// frequency changes and neighbours' load hit both alike.
fn interleaved(mut subject: impl FnMut(), mut floor: impl FnMut()) -> (f64, f64) {
    let per_round = calls_per_round(&mut subject);
    let mut subject_times = Vec::with_capacity(SUMMARY_ROUNDS);
    let mut floor_times = Vec::with_capacity(SUMMARY_ROUNDS);
    for _ in 0..SUMMARY_ROUNDS {
        subject_times.push(time_calls(&mut subject, per_round));
        floor_times.push(time_calls(&mut floor, per_round));
    }
    (median(subject_times), median(floor_times))
}

/// How many calls of `f` take about [`SUMMARY_ROUND_TIME`] (at least one).
fn calls_per_round(f: &mut impl FnMut()) -> u64 {
    let mut calls = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..calls {
            f();
        }
        let elapsed = start.elapsed();
        if elapsed >= SUMMARY_ROUND_TIME / 8 || calls >= 1 << 30 {
            let scale = SUMMARY_ROUND_TIME.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            return ((calls as f64 * scale) as u64).max(1);
        }
        calls *= 2;
    }
}

fn time_calls(f: &mut impl FnMut(), calls: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_secs_f64() / calls as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn gb_per_s(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e9
}

fn print_summary(images: &Images) {
    println!();
    println!(
        "walden-core codec summary: median of {SUMMARY_ROUNDS} interleaved rounds; \
         floor = crc32fast::hash over the same bytes; GB/s = 10^9 bytes/s"
    );
    println!(
        "{:<34} {:>14} {:>14} {:>7}  goal",
        "workload", "walden", "floor", "ratio"
    );

    let input = EncodeInput::new();
    let mut buf = vec![0u8; frame_len(SMALL_PAYLOAD_LEN)];
    let (encode, floor) = interleaved(
        || {
            black_box(input.encode_into(&mut buf));
        },
        || {
            black_box(input.floor());
        },
    );
    print_encode_row("encode_into, 100 B payload", encode, floor);
    let mut out = Vec::with_capacity(frame_len(SMALL_PAYLOAD_LEN));
    let (encode, floor) = interleaved(
        || {
            input.encode_append(&mut out);
            black_box(&out);
        },
        || {
            black_box(input.floor());
        },
    );
    print_encode_row("encode_append, 100 B payload", encode, floor);

    let mut floor_gb_per_s_max = 0f64;
    for image in &images.all {
        let (scan_s, floor_s) = interleaved(
            || {
                black_box(scan(black_box(&image.bytes)));
            },
            || {
                black_box(crc32fast::hash(black_box(&image.bytes)));
            },
        );
        let walden = gb_per_s(image.bytes.len(), scan_s);
        let floor = gb_per_s(image.bytes.len(), floor_s);
        floor_gb_per_s_max = floor_gb_per_s_max.max(floor);
        let verdict = if walden >= 2.0 { "ok" } else { "MISSED" };
        println!(
            "{:<34} {:>9.2} GB/s {:>9.2} GB/s {:>6.2}x  >= 2 GB/s {verdict}",
            format!("scan {} ({} MiB)", image.name, image.bytes.len() >> 20),
            walden,
            floor,
            scan_s / floor_s,
        );
    }

    // crc32fast picks its SIMD kernel by runtime detection only with its `std` feature; without
    // it, only features enabled at compile time count, and a default x86_64 build falls back to
    // the table-driven kernel. Say so when the floor itself looks like that fallback.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq") && floor_gb_per_s_max < 6.0 {
        println!(
            "note: this CPU has PCLMULQDQ but crc32fast ran at {floor_gb_per_s_max:.1} GB/s at \
             best, the speed of its table-driven fallback: it was likely built without its \
             `std` feature (runtime CPU detection). See docs/performance.md."
        );
    }
}

fn print_encode_row(name: &str, encode_s: f64, floor_s: f64) {
    let ratio = encode_s / floor_s;
    let verdict = if ratio <= 1.3 { "ok" } else { "MISSED" };
    println!(
        "{name:<34} {:>7.1} ns/rec {:>7.1} ns/rec {ratio:>6.2}x  <= 1.30x {verdict}",
        encode_s * 1e9,
        floor_s * 1e9,
    );
}
