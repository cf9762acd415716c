//! W1: appends without waiting for durability. One thread appends `RECORDS` payloads of 100
//! bytes; the figure is ns per record, timed from the first append to the last (opening and
//! closing the log are not timed).
//!
//! - `bare loop` (the W1 baseline): no log at all. Each payload is framed exactly as Walden
//!   frames it (`Codec::encode_append`: the same CRC32 over salt, LSN, length and payload) into a
//!   `Vec` of 64 KiB capacity, and the `Vec` goes to a fresh file with one `write_all` (write(2))
//!   when the next frame would not fit. Every subject's median is also shown as a ratio to this
//!   one's median in the same run; the goals are `WalWriter::append` <= 1.2x, `Wal::append`
//!   <= 1.5x.
//! - `Wal::append`: the shared log (its writer lock, the frame encoded into the active segment's
//!   buffer).
//! - `WalWriter::append`: the single-writer log, `&mut self`, no lock.
//! - `WalWriter::append, no preallocation`: the same with `preallocate_bytes: 0`, so the file
//!   grows by the records' writes alone, as the bare loop's does (by default the writer writes
//!   zeros 1 MiB ahead of its records, so every byte goes to the OS twice).
//! - `Wal::append, one 1 GiB segment`: the shared log with segments larger than the run, so no
//!   segment is sealed (sealing syncs the full 64 MiB segment): what the rotation costs W1.
//! - `okaywal` 0.3.1: every okaywal entry commit fsyncs, so it has no no-wait append of a
//!   committed record. Its closest path is measured: `EntryWriter::write_chunk` of each payload
//!   into one open entry (buffered, written to the OS as its 16 KiB buffer fills, like Walden's
//!   64 KiB buffer); the entry is rolled back after the timing.
//!
//! Beside the wall time, each subject's time on a CPU and its time waiting for one (ready, but
//! the CPUs busy with neighbours) are read from `/proc/thread-self/schedstat`, per record; the
//! ratios to the bare loop are shown for both, since on a shared machine the on-CPU ratio moves
//! less between runs.
//!
//! Each round runs every subject once, in an order rotated every round, so disk writeback and
//! neighbours' load hit all alike; the table shows the median and the best of `ROUNDS`. Run with
//! `cargo bench -p walden-bench --bench append`; `WALDEN_BENCH_DIR` picks the directory, and
//! `WALDEN_BENCH_ONLY=<text>` runs only the subjects whose name contains it (for `perf record`).

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use walden::walden_core::{frame_len, Codec, Lsn};
use walden::{Wal, WalOptions, WalWriter};
use walden_bench::{bench_dir, fresh, load_average, median, schedstat};

const PAYLOAD_BYTES: usize = 100;
const RECORDS: usize = 1_000_000;
const ROUNDS: usize = 9;
/// The bare loop's buffer: the size of Walden's write buffer (`DEFAULT_BUFFER_BYTES`).
const BARE_BUFFER_BYTES: usize = 64 << 10;
/// Any salt will do: the CRC's cost does not depend on it.
const BARE_SALT: u64 = 0x5eed_0000_c0de_cafe;

type Subject = (&'static str, fn(&Path, usize) -> Sample);

/// One timed run, per record: wall time, and this thread's time on a CPU and waiting for one.
#[derive(Clone, Copy)]
struct Sample {
    wall_ns: f64,
    cpu_ns: f64,
    waiting_ns: f64,
}

/// Times the loop of a subject, on the calling thread (every subject's work happens there, but
/// okaywal's, whose background threads are not counted in the on-CPU time).
struct Timer {
    start: Instant,
    cpu: u64,
    waiting: u64,
}

impl Timer {
    fn start() -> Timer {
        let (cpu, waiting) = schedstat();
        Timer {
            start: Instant::now(),
            cpu,
            waiting,
        }
    }

    fn stop(self, records: usize) -> Sample {
        let wall = self.start.elapsed();
        let (cpu, waiting) = schedstat();
        let per = |ns: f64| ns / records as f64;
        Sample {
            wall_ns: per(wall.as_nanos() as f64),
            cpu_ns: per((cpu - self.cpu) as f64),
            waiting_ns: per((waiting - self.waiting) as f64),
        }
    }
}

/// Indices into `SUBJECTS` that the summary refers to.
const BARE: usize = 0;
const WAL: usize = 1;
const WRITER: usize = 2;
const OKAYWAL: usize = 3;

const SUBJECTS: [Subject; 6] = [
    (
        "bare loop (CRC32 frame into 64 KiB buffer, write(2) when full)",
        bare_loop,
    ),
    ("Wal::append", wal_append),
    ("WalWriter::append", writer_append),
    ("okaywal write_chunk (one open entry)", okaywal_chunks),
    ("Wal::append, one 1 GiB segment", wal_append_one_segment),
    (
        "WalWriter::append, no preallocation",
        writer_append_no_preallocation,
    ),
];

fn main() {
    let dir = bench_dir();
    if !std::env::args().any(|arg| arg == "--bench") {
        // `cargo test --benches` runs this without `--bench`: a smoke run will do.
        for (_, run) in SUBJECTS {
            let _ = run(dir.path(), 1000);
        }
        println!("append: smoke run ok");
        return;
    }
    println!(
        "append bench (W1) in {}; load average before: {}",
        dir.path().display(),
        load_average()
    );
    let only = std::env::var("WALDEN_BENCH_ONLY").unwrap_or_default();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); SUBJECTS.len()];
    for round in 0..ROUNDS {
        for k in 0..SUBJECTS.len() {
            let i = (round + k) % SUBJECTS.len();
            if SUBJECTS[i].0.contains(only.as_str()) {
                samples[i].push(SUBJECTS[i].1(dir.path(), RECORDS));
            }
        }
        eprintln!("round {} of {ROUNDS} done", round + 1);
    }
    // The median of one field of subject `i`'s samples (NaN if it did not run).
    let median_of = |i: usize, field: fn(&Sample) -> f64| {
        let values: Vec<f64> = samples[i].iter().map(field).collect();
        if values.is_empty() {
            f64::NAN
        } else {
            median(&values)
        }
    };
    let wall = |sample: &Sample| sample.wall_ns;
    let cpu = |sample: &Sample| sample.cpu_ns;
    let waiting = |sample: &Sample| sample.waiting_ns;
    let bare = median_of(BARE, wall);
    let bare_cpu = median_of(BARE, cpu);
    let okaywal = median_of(OKAYWAL, wall);
    println!();
    println!("load average after: {}", load_average());
    println!(
        "W1, {RECORDS} x {PAYLOAD_BYTES} B, 1 thread, {} rounds; medians, ns per record",
        samples.iter().map(Vec::len).max().unwrap_or(0)
    );
    println!(
        "{:<64} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "subject", "wall", "best", "/ bare", "on-CPU", "/ bare", "waiting", "okaywal /"
    );
    println!(
        "{:<64} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "", "", "round", "(wall)", "", "(CPU)", "for CPU", "this"
    );
    for (i, (name, _)) in SUBJECTS.iter().enumerate() {
        if samples[i].is_empty() {
            continue;
        }
        let best = samples[i].iter().map(wall).fold(f64::INFINITY, f64::min);
        let this = median_of(i, wall);
        let this_cpu = median_of(i, cpu);
        println!(
            "{name:<64} {this:>7.1} {best:>7.1} {:>7.2}x {this_cpu:>8.1} {:>7.2}x {:>8.1} {:>8.2}x",
            this / bare,
            this_cpu / bare_cpu,
            median_of(i, waiting),
            okaywal / this
        );
    }
    println!("(okaywal's on-CPU time leaves out its background threads)");
    println!();
    for (i, goal) in [(WRITER, 1.2), (WAL, 1.5)] {
        let ratio = median_of(i, wall) / bare;
        if ratio.is_nan() {
            continue;
        }
        println!(
            "goal: {} <= {goal:.1}x the bare loop (wall time): {ratio:.2}x, {}",
            SUBJECTS[i].0,
            if ratio <= goal { "met" } else { "MISSED" }
        );
    }
}

/// The W1 baseline: frames each payload as Walden does into a 64 KiB buffer and writes the
/// buffer to a fresh file when the next frame would not fit. Returns ns per record; the last,
/// partial buffer is written after the timing, as the logs drain theirs when closed.
fn bare_loop(dir: &Path, records: usize) -> Sample {
    let path = fresh(dir, "bare");
    let mut file = std::fs::File::create(&path).expect("create the bare loop's file");
    let codec = Codec::new(BARE_SALT);
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let mut buffer: Vec<u8> = Vec::with_capacity(BARE_BUFFER_BYTES);
    let mut lsn = 0u64;
    let timer = Timer::start();
    for _ in 0..records {
        let payload = black_box(&payload);
        if buffer.len() + frame_len(payload.len()) > BARE_BUFFER_BYTES {
            file.write_all(&buffer).expect("write");
            buffer.clear();
        }
        let len = codec
            .encode_append(Lsn::new(lsn), payload, &mut buffer)
            .expect("encode");
        lsn += len as u64;
    }
    let sample = timer.stop(records);
    file.write_all(&buffer).expect("write");
    black_box(lsn);
    drop(file);
    let _ = std::fs::remove_file(&path);
    sample
}

/// Returns ns per record.
fn wal_append(dir: &Path, records: usize) -> Sample {
    wal_append_with(dir, records, WalOptions::default())
}

fn wal_append_one_segment(dir: &Path, records: usize) -> Sample {
    let options = WalOptions {
        segment_bytes: 1 << 30,
        ..WalOptions::default()
    };
    wal_append_with(dir, records, options)
}

fn wal_append_with(dir: &Path, records: usize, options: WalOptions) -> Sample {
    let path = fresh(dir, "wal");
    let wal = Wal::open_with(&path, options).expect("open the bench log");
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let timer = Timer::start();
    for _ in 0..records {
        black_box(wal.append(black_box(&payload)).expect("append"));
    }
    let sample = timer.stop(records);
    drop(wal);
    let _ = std::fs::remove_dir_all(&path);
    sample
}

fn writer_append(dir: &Path, records: usize) -> Sample {
    writer_append_with(dir, records, WalOptions::default())
}

fn writer_append_no_preallocation(dir: &Path, records: usize) -> Sample {
    let options = WalOptions {
        preallocate_bytes: 0,
        ..WalOptions::default()
    };
    writer_append_with(dir, records, options)
}

fn writer_append_with(dir: &Path, records: usize, options: WalOptions) -> Sample {
    let path = fresh(dir, "writer");
    let mut writer = WalWriter::open_with(&path, options).expect("open the bench log");
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let timer = Timer::start();
    for _ in 0..records {
        black_box(writer.append(black_box(&payload)).expect("append"));
    }
    let sample = timer.stop(records);
    drop(writer);
    let _ = std::fs::remove_file(&path);
    sample
}

fn okaywal_chunks(dir: &Path, records: usize) -> Sample {
    let path = fresh(dir, "okaywal");
    let log = okaywal::WriteAheadLog::recover(&path, okaywal::LogVoid).expect("open okaywal");
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let mut entry = log.begin_entry().expect("begin an entry");
    let timer = Timer::start();
    for _ in 0..records {
        black_box(entry.write_chunk(black_box(&payload)).expect("write_chunk"));
    }
    let sample = timer.stop(records);
    entry.rollback().expect("roll back");
    log.shutdown().expect("shut okaywal down");
    let _ = std::fs::remove_dir_all(&path);
    sample
}
