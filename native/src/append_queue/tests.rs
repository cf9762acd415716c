//! The append queue's promises, one test each: LSN order under many threads, out-of-order
//! completion, backpressure without a dedicated drainer, bounded memory, no hang after an
//! abandoned range or a failed drain, and waiters that sleep instead of spinning.
//!
//! Every test that can hang runs under [`within`], so a hang fails the test instead of blocking
//! the run. Randomised tests print their seed; set `WALDEN_TEST_SEED` to replay one.

use super::*;
use std::convert::Infallible;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Long enough for any of these tests on a loaded 2-core machine, short enough to notice.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs `test` on its own thread and fails if it does not finish within `limit`.
fn within<T: Send + 'static>(limit: Duration, test: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(test());
    });
    match result.recv_timeout(limit) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: not finished after {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the test thread panicked"),
    }
}

/// A test frame: its own LSN and length, then bytes derived from both, so a drained stream
/// shows any byte that is missing, duplicated, misplaced or from another frame.
fn frame(lsn: Lsn, len: usize) -> Vec<u8> {
    assert!(
        len >= FRAME_PREFIX_LEN,
        "test frames carry a 12-byte prefix"
    );
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&lsn.get().to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(len).expect("small frames").to_le_bytes());
    bytes.extend((FRAME_PREFIX_LEN..len).map(|i| filler(lsn, i)));
    bytes
}

const FRAME_PREFIX_LEN: usize = 12;

fn filler(lsn: Lsn, i: usize) -> u8 {
    (lsn.get() as u8).wrapping_mul(31).wrapping_add(i as u8)
}

/// Checks that `stream`, starting at `start`, is exactly a sequence of test frames, each at its
/// own LSN; returns how many.
fn check_stream(start: Lsn, stream: &[u8]) -> usize {
    let mut offset = 0;
    let mut frames = 0;
    while offset < stream.len() {
        let lsn = Lsn::new(start.get() + offset as u64);
        let at = &stream[offset..];
        let claimed = u64::from_le_bytes(at[..8].try_into().expect("8 bytes"));
        assert_eq!(claimed, lsn.get(), "frame {frames} is not at its own LSN");
        let len = u32::from_le_bytes(at[8..12].try_into().expect("4 bytes")) as usize;
        assert_eq!(
            &at[..len],
            &frame(lsn, len)[..],
            "frame at LSN {lsn} is damaged"
        );
        offset += len;
        frames += 1;
    }
    assert_eq!(offset, stream.len(), "the stream ends inside a frame");
    frames
}

/// xorshift64*: enough randomness for sizes and schedules, and replayable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn seed() -> u64 {
    let seed = std::env::var("WALDEN_TEST_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("a clock after 1970")
                .subsec_nanos();
            u64::from(nanos) | 1
        });
    eprintln!("seed {seed} (replay with WALDEN_TEST_SEED={seed})");
    seed
}

/// What a `Wal` keeps under its writer lock: the drainer, and where drained bytes go.
struct Log {
    drainer: Drainer,
    start: Lsn,
    bytes: Vec<u8>,
    /// The largest single drain, to check the memory bound.
    drain_bytes_max: usize,
    /// Reservations that found the queue full, to check that a test exercised backpressure.
    full_reservations: usize,
}

type SharedLog = Arc<Mutex<Log>>;

fn log(start: Lsn, capacity: usize) -> (Arc<AppendQueue>, SharedLog) {
    let (queue, drainer) = AppendQueue::new(start, capacity).expect("a valid start");
    let log = Log {
        drainer,
        start,
        bytes: Vec::new(),
        drain_bytes_max: 0,
        full_reservations: 0,
    };
    (queue, Arc::new(Mutex::new(log)))
}

/// Drains the queue into the log, as the `Wal` does under its writer lock.
fn drain(log: &Mutex<Log>) -> Result<Lsn, QueueError> {
    let mut guard = log.lock().expect("no panic holding the log");
    let Log {
        drainer,
        start,
        bytes,
        drain_bytes_max,
        ..
    } = &mut *guard;
    drainer
        .drain(|lsn, frames| {
            assert_eq!(
                lsn.get(),
                start.get() + bytes.len() as u64,
                "a gap or overlap"
            );
            bytes.extend_from_slice(frames);
            *drain_bytes_max = (*drain_bytes_max).max(frames.len());
            Ok::<(), Infallible>(())
        })
        .map_err(|err| match err {
            DrainError::Queue(err) => err,
            DrainError::Sink(never) => match never {},
        })
}

/// Appends one test frame the way the `Wal` will: reserve, drain while full, encode outside
/// any lock, complete.
fn append(queue: &AppendQueue, log: &Mutex<Log>, len: usize) -> Result<Lsn, QueueError> {
    append_pausing(queue, log, len, false)
}

/// [`append`], yielding the processor between reserve and complete when `pause` is set, as a
/// writer preempted in the middle of its append would.
fn append_pausing(
    queue: &AppendQueue,
    log: &Mutex<Log>,
    len: usize,
    pause: bool,
) -> Result<Lsn, QueueError> {
    let mut reserved = queue.reserve(len)?;
    let reservation = loop {
        match reserved {
            Reserved::Ready(reservation) => break reservation,
            Reserved::Full(blocked) => {
                log.lock()
                    .expect("no panic holding the log")
                    .full_reservations += 1;
                drain(log)?;
                reserved = blocked.wait()?;
            }
        }
    };
    let lsn = reservation.lsn();
    let frames = frame(lsn, len);
    if pause {
        thread::yield_now();
    }
    reservation.complete(&frames)?;
    Ok(lsn)
}

fn ready(reserved: Result<Reserved<'_>, QueueError>) -> Reservation<'_> {
    match reserved.expect("a reservation") {
        Reserved::Ready(reservation) => reservation,
        Reserved::Full(blocked) => panic!("range at {} is not admitted", blocked.lsn()),
    }
}

fn blocked(reserved: Result<Reserved<'_>, QueueError>) -> Blocked<'_> {
    match reserved.expect("a reservation") {
        Reserved::Full(blocked) => blocked,
        Reserved::Ready(reservation) => panic!("range at {} was admitted", reservation.lsn()),
    }
}

fn complete(reservation: Reservation<'_>) {
    let (lsn, len) = (
        reservation.lsn(),
        reservation.end().get() - reservation.lsn().get(),
    );
    reservation
        .complete(&frame(lsn, len as usize))
        .expect("completed");
}

#[test]
fn the_queue_can_be_shared_between_threads() {
    // Guards against a field that would make the queue or its handles thread-bound.
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<AppendQueue>();
    send::<Drainer>();
    send::<Reservation<'static>>();
    send::<Blocked<'static>>();
}

#[test]
fn one_writer_drains_what_it_appended_in_order() {
    let start = Lsn::new(1000);
    let (queue, log) = log(start, 4096);
    let first = append(&queue, &log, 40).expect("appended");
    let second = append(&queue, &log, 100).expect("appended");
    assert_eq!((first, second), (start, Lsn::new(1040)));
    let state = queue.state();
    assert_eq!(
        (state.reserved, state.completed, state.drained),
        (Lsn::new(1140), Lsn::new(1140), start)
    );
    assert_eq!((state.pending_bytes(), state.drainable_bytes()), (140, 140));
    assert_eq!(drain(&log), Ok(Lsn::new(1140)));
    assert_eq!(queue.state().drained, Lsn::new(1140));
    let log = log.lock().expect("no panic");
    assert_eq!(check_stream(start, &log.bytes), 2);
}

#[test]
fn a_drain_with_nothing_completed_calls_nothing() {
    let (queue, log) = log(Lsn::new(7), 4096);
    let pending = ready(queue.reserve(20));
    let mut drainer = log.lock().expect("no panic");
    let drained = drainer
        .drainer
        .drain(|_, _| -> Result<(), ()> { panic!("nothing is completed") });
    assert_eq!(drained, Ok(Lsn::new(7)));
    drop(drainer);
    complete(pending);
}

#[test]
fn ranges_completed_out_of_order_wait_for_the_gap() {
    // A writer that finishes encoding early must not be drained before a slower one in front
    // of it, and must not be lost while it waits.
    let start = Lsn::new(64);
    let (queue, log) = log(start, 4096);
    let a = ready(queue.reserve(30));
    let b = ready(queue.reserve(50));
    let c = ready(queue.reserve(20));
    complete(c);
    complete(b);
    assert_eq!(
        drain(&log),
        Ok(start),
        "nothing drains past the gap at {start}"
    );
    assert_eq!(queue.state().completed, start);
    complete(a);
    assert_eq!(queue.state().completed, Lsn::new(164));
    assert_eq!(drain(&log), Ok(Lsn::new(164)));
    let log = log.lock().expect("no panic");
    assert_eq!(check_stream(start, &log.bytes), 3);
}

#[test]
fn completions_behind_one_gap_join_one_run() {
    // A writer preempted mid-append leaves a gap; the hundreds of completions behind it must
    // not each cost an entry (and an allocation) in the reorder structure.
    let (queue, log) = log(Lsn::ZERO, 1 << 20);
    let slow = ready(queue.reserve(50));
    for _ in 0..100 {
        complete(ready(queue.reserve(20)));
    }
    let reversed = [ready(queue.reserve(30)), ready(queue.reserve(30))];
    let [first, second] = reversed;
    complete(second);
    complete(first);
    assert_eq!(
        queue.lock().parked.len(),
        2,
        "one run, and the one completed early"
    );
    complete(slow);
    assert!(queue.lock().parked.is_empty());
    assert_eq!(drain(&log), Ok(Lsn::new(50 + 100 * 20 + 60)));
    assert_eq!(
        check_stream(Lsn::ZERO, &log.lock().expect("no panic").bytes),
        103
    );
}

#[test]
fn sixteen_writers_drain_as_exactly_the_lsn_order_with_a_drainer_thread() {
    many_writers(true);
}

#[test]
fn sixteen_writers_drain_as_exactly_the_lsn_order_draining_only_themselves() {
    // A full queue with no dedicated drainer must not deadlock: blocked writers drain it.
    many_writers(false);
}

/// 16 writers x 10k frames of random sizes through a 4 KiB queue, with group-commit-style
/// waits (`wait_complete` then drain) every 64 frames. The drained stream must be exactly the
/// frames in LSN order, and the queue must never hold more than its capacity.
fn many_writers(drainer_thread: bool) {
    const WRITERS: usize = 16;
    const FRAMES_PER_WRITER: usize = 10_000;
    const CAPACITY: usize = 4096;
    const FRAME_LEN_MAX: u64 = 300;
    let seed = seed();
    let start = Lsn::new(1 << 40);
    let (queue, log) = log(start, CAPACITY);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drainer = drainer_thread.then(|| {
        let (queue, log, stop) = (Arc::clone(&queue), Arc::clone(&log), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                drain(&log).expect("drained");
                let buffered = queue.buffered_bytes();
                assert!(buffered <= CAPACITY as u64, "{buffered} bytes held");
                let state = queue.state();
                assert!(state.drained <= state.completed && state.completed <= state.reserved);
                thread::sleep(Duration::from_micros(50));
            }
        })
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (queue, log) = (Arc::clone(&queue), Arc::clone(&log));
            thread::spawn(move || {
                let mut rng = Rng(seed ^ (writer as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                for i in 0..FRAMES_PER_WRITER {
                    let len = FRAME_PREFIX_LEN + rng.below(FRAME_LEN_MAX) as usize;
                    let pause = rng.below(100) == 0;
                    let lsn = append_pausing(&queue, &log, len, pause).expect("appended");
                    if i % 64 == 0 {
                        // A group-commit leader: wait for everything before its record, then
                        // drain; the drain must reach its record.
                        let end = Lsn::new(lsn.get() + len as u64);
                        assert!(queue.wait_complete(end).expect("complete") >= end);
                        assert!(drain(&log).expect("drained") >= end, "seed {seed}");
                    }
                }
            })
        })
        .collect();
    let writers = within(HANG_LIMIT, move || {
        writers
            .into_iter()
            .map(thread::JoinHandle::join)
            .all(|joined| joined.is_ok())
    });
    assert!(writers, "a writer failed; seed {seed}");
    stop.store(true, Ordering::Release);
    if let Some(drainer) = drainer {
        drainer.join().expect("the drainer thread");
    }
    let end = drain(&log).expect("drained");
    let state = queue.state();
    assert_eq!(
        (state.reserved, state.completed, state.drained),
        (end, end, end)
    );
    let log = log.lock().expect("no panic");
    assert_eq!(log.bytes.len() as u64, end.get() - start.get());
    assert_eq!(
        check_stream(start, &log.bytes),
        WRITERS * FRAMES_PER_WRITER,
        "seed {seed}"
    );
    assert!(
        log.drain_bytes_max <= CAPACITY,
        "a drain held {}",
        log.drain_bytes_max
    );
    assert!(log.full_reservations > 0, "the queue never filled");
    eprintln!(
        "{} reservations found the queue full",
        log.full_reservations
    );
}

#[test]
fn a_full_queue_declines_and_a_drain_admits() {
    let start = Lsn::new(0);
    let (queue, log) = log(start, 100);
    let first = ready(queue.reserve(60));
    let second = blocked(queue.reserve(60));
    let third = blocked(queue.reserve(12));
    assert_eq!(queue.state().pending_bytes(), 132);
    complete(first);
    // Nothing is drained yet, but there is something to drain: the writer is told to drain.
    let second = match second.wait().expect("no failure") {
        Reserved::Full(blocked) => blocked,
        Reserved::Ready(_) => panic!("admitted before any drain"),
    };
    assert_eq!(drain(&log), Ok(Lsn::new(60)));
    let second = ready(second.wait());
    assert_eq!(queue.buffered_bytes(), 0);
    complete(second);
    assert_eq!(queue.buffered_bytes(), 60);
    assert_eq!(drain(&log), Ok(Lsn::new(120)));
    complete(ready(third.wait()));
    assert_eq!(drain(&log), Ok(Lsn::new(132)));
    assert_eq!(check_stream(start, &log.lock().expect("no panic").bytes), 3);
}

#[test]
fn a_blocked_writer_sleeps_until_a_completion_lets_it_drain_itself() {
    // Nobody but the blocked writer ever drains: it must wake when there is something to drain
    // and then get through, rather than sleep for ever or spin.
    within(HANG_LIMIT, || {
        let (queue, log) = log(Lsn::ZERO, 100);
        let first = ready(queue.reserve(60));
        let writer = {
            let (queue, log) = (Arc::clone(&queue), Arc::clone(&log));
            thread::spawn(move || append(&queue, &log, 60))
        };
        while queue.state().reserved < Lsn::new(120) {
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(50));
        complete(first);
        assert_eq!(writer.join().expect("the writer"), Ok(Lsn::new(60)));
        assert!(queue.wakeups() <= 3, "{} wakeups", queue.wakeups());
        assert_eq!(drain(&log), Ok(Lsn::new(120)));
    });
}

#[test]
fn a_frame_longer_than_the_capacity_goes_through_alone() {
    let (queue, log) = log(Lsn::ZERO, 16);
    let small = ready(queue.reserve(12));
    let large = blocked(queue.reserve(100));
    complete(small);
    assert_eq!(drain(&log), Ok(Lsn::new(12)));
    let large = ready(large.wait());
    let after = blocked(queue.reserve(12));
    complete(large);
    assert_eq!(drain(&log), Ok(Lsn::new(112)));
    complete(ready(after.wait()));
    assert_eq!(drain(&log), Ok(Lsn::new(124)));
    assert_eq!(
        check_stream(Lsn::ZERO, &log.lock().expect("no panic").bytes),
        3
    );
}

#[test]
fn an_abandoned_range_fails_the_drain_and_wait_complete_without_hanging() {
    // An encoder that fails between reserve and complete must not leave the group-commit
    // leader waiting for bytes that will never come.
    within(HANG_LIMIT, || {
        let (queue, log) = log(Lsn::ZERO, 4096);
        complete(ready(queue.reserve(20)));
        let lost = ready(queue.reserve(30));
        complete(ready(queue.reserve(40)));
        let waiter = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.wait_complete(Lsn::new(90)))
        };
        thread::sleep(Duration::from_millis(20));
        drop(lost);
        let abandoned = QueueError::Abandoned {
            lsn: Lsn::new(20),
            end: Lsn::new(50),
        };
        assert_eq!(waiter.join().expect("the waiter"), Err(abandoned.clone()));
        assert_eq!(queue.wait_complete(Lsn::new(20)), Ok(Lsn::new(20)));
        assert_eq!(queue.wait_complete(Lsn::new(21)), Err(abandoned.clone()));
        // The prefix before the hole is handed over, then the drain says why it stops.
        assert_eq!(drain(&log), Err(abandoned.clone()));
        assert_eq!(queue.state().drained, Lsn::new(20));
        assert_eq!(drain(&log), Err(abandoned.clone()));
        // A later writer learns at once that its record cannot reach the log.
        let later = ready(queue.reserve(12));
        assert_eq!(later.complete(&frame(Lsn::new(90), 12)), Err(abandoned));
    });
}

#[test]
fn an_encoder_that_panics_abandons_its_range() {
    within(HANG_LIMIT, || {
        let (queue, log) = log(Lsn::ZERO, 4096);
        let panicked = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                let _reservation = ready(queue.reserve(16));
                panic!("the encoder failed");
            })
            .join()
        };
        assert!(panicked.is_err());
        assert_eq!(
            drain(&log),
            Err(QueueError::Abandoned {
                lsn: Lsn::ZERO,
                end: Lsn::new(16)
            })
        );
    });
}

#[test]
fn a_blocked_writer_behind_an_abandoned_range_is_told_not_left_waiting() {
    within(HANG_LIMIT, || {
        let (queue, _log) = log(Lsn::ZERO, 10);
        let first = ready(queue.reserve(10));
        let second = blocked(queue.reserve(10));
        let third = blocked(queue.reserve(10));
        let waiter = thread::scope(|scope| {
            let waiter = scope.spawn(|| third.wait().map(|reserved| reserved.lsn()));
            thread::sleep(Duration::from_millis(20));
            drop(first);
            waiter.join().expect("the waiter")
        });
        let abandoned = QueueError::Abandoned {
            lsn: Lsn::ZERO,
            end: Lsn::new(10),
        };
        assert_eq!(waiter, Err(abandoned.clone()));
        assert_eq!(second.wait().map(|reserved| reserved.lsn()), Err(abandoned));
    });
}

#[test]
fn a_blocked_range_dropped_is_abandoned_too() {
    let (queue, log) = log(Lsn::ZERO, 12);
    let first = ready(queue.reserve(12));
    drop(blocked(queue.reserve(12)));
    complete(first);
    let abandoned = QueueError::Abandoned {
        lsn: Lsn::new(12),
        end: Lsn::new(24),
    };
    assert_eq!(drain(&log), Err(abandoned));
    assert_eq!(queue.state().drained, Lsn::new(12));
}

#[test]
fn a_completion_of_the_wrong_length_abandons_its_range() {
    let (queue, log) = log(Lsn::ZERO, 100);
    let reservation = ready(queue.reserve(20));
    assert_eq!(
        reservation.complete(&[0; 19]),
        Err(QueueError::LengthMismatch {
            lsn: Lsn::ZERO,
            expected: 20,
            got: 19
        })
    );
    assert!(matches!(drain(&log), Err(QueueError::Abandoned { .. })));
}

#[test]
fn a_waiter_behind_a_descheduled_writer_sleeps_instead_of_spinning() {
    // reddb's queue busy-waits for a slow writer. Here a waiter must sleep through any number
    // of later completions (they cannot fill the gap) and wake when the gap fills.
    within(HANG_LIMIT, || {
        const LATER_COMPLETIONS: usize = 1000;
        let (queue, _log) = log(Lsn::ZERO, 1 << 20);
        let slow = ready(queue.reserve(100));
        let mut later = Vec::new();
        for _ in 0..LATER_COMPLETIONS {
            later.push(ready(queue.reserve(20)));
        }
        let target = queue.state().reserved;
        let waiter = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                let result = queue.wait_complete(target);
                (result, Instant::now())
            })
        };
        thread::sleep(Duration::from_millis(20));
        for reservation in later {
            complete(reservation);
        }
        thread::sleep(Duration::from_millis(100));
        // At most one spurious wakeup: nothing above could fill the gap, so nothing wakes it.
        assert!(
            queue.wakeups() <= 1,
            "the waiter woke {} times",
            queue.wakeups()
        );
        let filled = Instant::now();
        complete(slow);
        let (result, returned) = waiter.join().expect("the waiter");
        assert_eq!(result, Ok(target));
        assert!(
            returned.duration_since(filled) < Duration::from_secs(1),
            "the waiter returned late"
        );
        assert!(queue.wakeups() <= 2, "{} wakeups", queue.wakeups());
    });
}

#[test]
fn a_failed_sink_fails_later_drains_waits_and_completions() {
    // The frames a failed sink held are gone; everyone after must hear so, not wait.
    within(HANG_LIMIT, || {
        let (queue, mut drainer) = AppendQueue::new(Lsn::ZERO, 24).expect("a queue");
        complete(ready(queue.reserve(12)));
        let pending = ready(queue.reserve(12));
        let full = blocked(queue.reserve(12));
        assert_eq!(
            drainer.drain(|_, _| Err("disk full")),
            Err(DrainError::Sink("disk full"))
        );
        let failed = QueueError::DrainFailed { drained: Lsn::ZERO };
        assert_eq!(
            drainer.drain(|_, _| Ok::<(), ()>(())),
            Err(DrainError::Queue(failed.clone()))
        );
        assert_eq!(
            full.wait().map(|reserved| reserved.lsn()),
            Err(failed.clone())
        );
        assert_eq!(pending.complete(&frame(Lsn::new(12), 12)), Err(failed));
    });
}

#[test]
fn a_sink_that_panics_fails_the_queue() {
    within(HANG_LIMIT, || {
        let (queue, mut drainer) = AppendQueue::new(Lsn::ZERO, 12).expect("a queue");
        complete(ready(queue.reserve(12)));
        let full = blocked(queue.reserve(12));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drainer.drain(|_, _| -> Result<(), ()> { panic!("the sink failed") })
        }));
        assert!(unwound.is_err());
        let failed = QueueError::DrainFailed { drained: Lsn::ZERO };
        assert_eq!(full.wait().map(|reserved| reserved.lsn()), Err(failed));
    });
}

#[test]
fn reserving_past_the_lsn_limit_is_a_typed_error_and_reserves_nothing() {
    let start = Lsn::new(LSN_LIMIT.get() - 100);
    let (queue, mut drainer) = AppendQueue::new(start, 4096).expect("a queue");
    let first = ready(queue.reserve(64));
    assert_eq!(
        queue.reserve(64).map(|reserved| reserved.lsn()),
        Err(QueueError::LsnExhausted {
            lsn: Lsn::new(start.get() + 64),
            len: 64
        })
    );
    assert_eq!(queue.state().reserved, Lsn::new(start.get() + 64));
    let last = ready(queue.reserve(36));
    assert_eq!(last.end(), LSN_LIMIT);
    complete(first);
    complete(last);
    assert_eq!(drainer.drain(|_, _| Ok::<(), ()>(())), Ok(LSN_LIMIT));
    assert!(AppendQueue::new(Lsn::new(LSN_LIMIT.get() + 1), 1).is_err());
    assert!(AppendQueue::new(Lsn::MAX, 1).is_err());
}

#[test]
fn reservations_must_have_a_frame_length() {
    let (queue, _drainer) = AppendQueue::new(Lsn::ZERO, 4096).expect("a queue");
    for len in [0, RESERVATION_BYTES_MAX + 1] {
        assert_eq!(
            queue.reserve(len).map(|reserved| reserved.lsn()),
            Err(QueueError::InvalidLength { len })
        );
    }
    assert_eq!(queue.state().reserved, Lsn::ZERO);
}

#[test]
fn waiting_past_every_reservation_is_an_error_not_a_hang() {
    let (queue, _drainer) = AppendQueue::new(Lsn::new(10), 4096).expect("a queue");
    assert_eq!(queue.wait_complete(Lsn::new(10)), Ok(Lsn::new(10)));
    assert_eq!(
        queue.wait_complete(Lsn::new(11)),
        Err(QueueError::BeyondReserved {
            target: Lsn::new(11),
            reserved: Lsn::new(10)
        })
    );
}

#[test]
fn errors_say_what_to_do() {
    let abandoned = QueueError::Abandoned {
        lsn: Lsn::new(5),
        end: Lsn::new(9),
    };
    assert!(abandoned.to_string().contains("Reopen the log"));
    let failed: DrainError<&str> = DrainError::Queue(QueueError::DrainFailed {
        drained: Lsn::new(5),
    });
    assert!(failed.to_string().contains("Reopen the log"));
    assert!(DrainError::Sink("disk full")
        .to_string()
        .contains("disk full"));
}
