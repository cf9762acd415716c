//! The lock-free append path's queue (`AppendQueue`), per record, beside the writer-lock path it
//! replaces, measured in the same run.
//!
//! - `uncontended/queue_drain_each`: reserve + complete (a 108-byte frame, already encoded) +
//!   drain, one record at a time: the queue's whole cost per record when nothing is batched.
//! - `uncontended/queue_drain_every_64`: the same, draining once per 64 records, as a group
//!   commit does.
//! - `uncontended/append_queue_encode`: a whole append: reserve, encode at the LSN
//!   (`Codec::encode_into` of a 100-byte payload), complete, drain once per 64 records. Goal:
//!   <= 40 ns per record.
//! - `uncontended/append_writer_lock_encode` (baseline): the current path, encoding under a
//!   mutex into a shared buffer.
//! - `uncontended/encode_only` (floor): `Codec::encode_into` alone.
//! - `threads_4/*`: 4 threads appending (with encoding) through the queue, draining under a
//!   shared "writer lock" when full and once per 64 of their records, against 4 threads
//!   appending under the writer lock.
//!
//! After criterion's report, `main` prints a ratio summary measured in interleaved rounds (set
//! `WALDEN_BENCH_NO_SUMMARY=1` to skip it). Run with
//! `cargo bench -p walden --bench append_queue`; `cargo test --benches` runs each once.

use criterion::{BenchmarkGroup, Criterion, Throughput};
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use walden::walden_core::{frame_len, Codec, Lsn};
use walden::{AppendQueue, Drainer, Reservation, Reserved};

/// The record size of the append goal.
const PAYLOAD_LEN: usize = 100;
/// The queue's window: the writer's buffer size.
const CAPACITY_BYTES: usize = 64 << 10;
/// Records per drain in the batched benchmarks (a group commit's worth).
const DRAIN_EVERY: u64 = 64;
/// Threads in the contended benchmarks.
const THREADS: usize = 4;
/// Any salt will do: the CRC's cost does not depend on it.
const SALT: u64 = 0x5eed_0000_c0de_cafe;
/// Rounds of the interleaved summary measurement; the median is reported.
const SUMMARY_ROUNDS: usize = 7;
/// Records per thread in one summary round.
const SUMMARY_RECORDS: u64 = 1 << 20;

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_uncontended(&mut criterion);
    bench_threads(&mut criterion);
    criterion.final_summary();
    if is_benchmark_run() && std::env::var_os("WALDEN_BENCH_NO_SUMMARY").is_none() {
        print_summary();
    }
}

/// Whether criterion will measure (`cargo bench`) rather than run each benchmark once.
fn is_benchmark_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    has("--bench")
        && !has("--test")
        && !has("--list")
        && !args.iter().any(|a| a.starts_with("--profile-time"))
}

/// What the `Wal` will keep under its writer lock: the drainer and the writer's buffer (here a
/// `Vec` that is cleared when it reaches the writer's 64 KiB, as a drain into the OS would).
struct Writer {
    drainer: Drainer,
    buffer: Vec<u8>,
}

impl Writer {
    fn new(capacity_bytes: usize) -> (Arc<AppendQueue>, Writer) {
        let (queue, drainer) = AppendQueue::new(Lsn::ZERO, capacity_bytes).expect("a queue");
        let buffer = Vec::with_capacity(CAPACITY_BYTES);
        (queue, Writer { drainer, buffer })
    }

    fn drain(&mut self) -> Lsn {
        let buffer = &mut self.buffer;
        self.drainer
            .drain(|_, frames| {
                if buffer.len() + frames.len() > CAPACITY_BYTES {
                    buffer.clear();
                }
                buffer.extend_from_slice(frames);
                Ok::<(), ()>(())
            })
            .expect("drained")
    }
}

/// Reserves `len` bytes, draining through `writer` while the queue is full.
fn reserve<'q>(queue: &'q AppendQueue, writer: &Mutex<Writer>, len: usize) -> Reservation<'q> {
    let mut reserved = queue.reserve(len).expect("reserved");
    loop {
        match reserved {
            Reserved::Ready(reservation) => return reservation,
            Reserved::Full(blocked) => {
                writer.lock().expect("no panic").drain();
                reserved = blocked.wait().expect("admitted");
            }
        }
    }
}

/// One frame's bytes and its encoder.
struct Input {
    codec: Codec,
    payload: Vec<u8>,
    frame: Vec<u8>,
}

impl Input {
    fn new() -> Input {
        let payload: Vec<u8> = (0..PAYLOAD_LEN).map(|i| i as u8).collect();
        Input {
            codec: Codec::new(SALT),
            payload,
            frame: vec![0xa5; frame_len(PAYLOAD_LEN)],
        }
    }

    /// Appends one record through the queue, encoding into `scratch` outside any lock.
    fn append_queue(&self, queue: &AppendQueue, writer: &Mutex<Writer>, scratch: &mut [u8]) {
        let reservation = reserve(queue, writer, scratch.len());
        self.codec
            .encode_into(reservation.lsn(), black_box(&self.payload), scratch)
            .expect("fits");
        reservation.complete(scratch).expect("completed");
    }

    /// Appends one record the current way: encoded under the writer lock into its buffer.
    fn append_writer_lock(&self, writer: &Mutex<(Lsn, Vec<u8>)>) {
        let mut guard = writer.lock().expect("no panic");
        let (lsn, buffer) = &mut *guard;
        if buffer.len() + frame_len(PAYLOAD_LEN) > CAPACITY_BYTES {
            buffer.clear();
        }
        let len = self
            .codec
            .encode_append(*lsn, black_box(&self.payload), buffer)
            .expect("fits");
        *lsn = Lsn::new(lsn.get() + len as u64);
    }
}

fn bench_uncontended(criterion: &mut Criterion) {
    let input = Input::new();
    let mut group = criterion.benchmark_group("uncontended");
    configure(&mut group);

    let (queue, writer) = Writer::new(CAPACITY_BYTES);
    let writer = Mutex::new(writer);
    group.bench_function("queue_drain_each", |b| {
        b.iter(|| {
            reserve(&queue, &writer, input.frame.len())
                .complete(black_box(&input.frame))
                .expect("completed");
            black_box(writer.lock().expect("no panic").drain());
        })
    });

    let mut count = 0u64;
    group.bench_function("queue_drain_every_64", |b| {
        b.iter(|| {
            reserve(&queue, &writer, input.frame.len())
                .complete(black_box(&input.frame))
                .expect("completed");
            count += 1;
            if count.is_multiple_of(DRAIN_EVERY) {
                black_box(writer.lock().expect("no panic").drain());
            }
        })
    });

    let mut scratch = vec![0u8; frame_len(PAYLOAD_LEN)];
    group.bench_function("append_queue_encode", |b| {
        b.iter(|| {
            input.append_queue(&queue, &writer, &mut scratch);
            count += 1;
            if count.is_multiple_of(DRAIN_EVERY) {
                black_box(writer.lock().expect("no panic").drain());
            }
        })
    });

    let locked = Mutex::new((Lsn::ZERO, Vec::with_capacity(CAPACITY_BYTES)));
    group.bench_function("append_writer_lock_encode", |b| {
        b.iter(|| input.append_writer_lock(&locked))
    });

    group.bench_function("encode_only", |b| {
        b.iter(|| {
            input
                .codec
                .encode_into(Lsn::ZERO, black_box(&input.payload), &mut scratch)
                .expect("fits");
            black_box(&scratch);
        })
    });
    group.finish();
}

fn bench_threads(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("threads_4");
    configure(&mut group);
    group.bench_function("append_queue_encode", |b| {
        b.iter_custom(|records| queue_threads(records / THREADS as u64 + 1))
    });
    group.bench_function("append_writer_lock_encode", |b| {
        b.iter_custom(|records| writer_lock_threads(records / THREADS as u64 + 1))
    });
    group.finish();
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
}

/// `THREADS` threads each append `per_thread` records through one queue; returns the wall time.
fn queue_threads(per_thread: u64) -> Duration {
    let (queue, writer) = Writer::new(CAPACITY_BYTES);
    let writer = Mutex::new(writer);
    let input = Input::new();
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let mut scratch = vec![0u8; frame_len(PAYLOAD_LEN)];
                for i in 1..=per_thread {
                    input.append_queue(&queue, &writer, &mut scratch);
                    if i.is_multiple_of(DRAIN_EVERY) {
                        writer.lock().expect("no panic").drain();
                    }
                }
            });
        }
    });
    let end = writer.lock().expect("no panic").drain();
    let elapsed = started.elapsed();
    assert_eq!(
        end.get(),
        per_thread * THREADS as u64 * frame_len(PAYLOAD_LEN) as u64
    );
    elapsed
}

/// `THREADS` threads each append `per_thread` records under one writer lock.
fn writer_lock_threads(per_thread: u64) -> Duration {
    let writer = Mutex::new((Lsn::ZERO, Vec::with_capacity(CAPACITY_BYTES)));
    let input = Input::new();
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    input.append_writer_lock(&writer);
                }
            });
        }
    });
    started.elapsed()
}

/// Nanoseconds per record of one single-threaded run of `records` appends.
fn single(records: u64, mut append: impl FnMut(u64)) -> f64 {
    let started = Instant::now();
    for i in 1..=records {
        append(i);
    }
    started.elapsed().as_nanos() as f64 / records as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_summary() {
    let input = Input::new();
    let (queue, writer) = Writer::new(CAPACITY_BYTES);
    let writer = Mutex::new(writer);
    let locked = Mutex::new((Lsn::ZERO, Vec::with_capacity(CAPACITY_BYTES)));
    let mut scratch = vec![0u8; frame_len(PAYLOAD_LEN)];
    let mut rounds: [Vec<f64>; 5] = Default::default();
    for _ in 0..SUMMARY_ROUNDS {
        rounds[0].push(single(SUMMARY_RECORDS, |i| {
            input.append_queue(&queue, &writer, &mut scratch);
            if i.is_multiple_of(DRAIN_EVERY) {
                black_box(writer.lock().expect("no panic").drain());
            }
        }));
        rounds[1].push(single(SUMMARY_RECORDS, |_| {
            input.append_writer_lock(&locked)
        }));
        rounds[2].push(single(SUMMARY_RECORDS, |_| {
            input
                .codec
                .encode_into(Lsn::ZERO, black_box(&input.payload), &mut scratch)
                .expect("fits");
            black_box(&scratch);
        }));
        let records = SUMMARY_RECORDS * THREADS as u64;
        rounds[3].push(queue_threads(SUMMARY_RECORDS).as_nanos() as f64 / records as f64);
        rounds[4].push(writer_lock_threads(SUMMARY_RECORDS).as_nanos() as f64 / records as f64);
    }
    let [queue_1, lock_1, encode, queue_4, lock_4] = rounds.map(median);
    println!();
    println!(
        "append_queue summary: median of {SUMMARY_ROUNDS} interleaved rounds, ns per record \
         ({PAYLOAD_LEN}-byte payloads, drain every {DRAIN_EVERY} records)"
    );
    println!("{:<44} {:>8} {:>8}", "workload", "ns", "ratio");
    println!("{:<44} {encode:>8.1} {:>8}", "encode only (floor)", "1.00x");
    println!(
        "{:<44} {queue_1:>8.1} {:>7.2}x  goal <= 40 ns: {}",
        "1 thread, queue (reserve+encode+complete)",
        queue_1 / encode,
        if queue_1 <= 40.0 { "met" } else { "MISSED" }
    );
    println!(
        "{:<44} {lock_1:>8.1} {:>7.2}x",
        "1 thread, writer lock (encode under lock)",
        lock_1 / encode
    );
    println!(
        "{:<44} {queue_4:>8.1} {:>7.2}x of the writer lock",
        format!("{THREADS} threads, queue (wall time / records)"),
        queue_4 / lock_4
    );
    println!(
        "{:<44} {lock_4:>8.1}",
        format!("{THREADS} threads, writer lock (wall time / records)")
    );
}
