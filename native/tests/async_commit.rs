//! `Wal::commit_async`: futures that never block their executor on an fsync, on any runtime,
//! sharing group commit with each other; failure, shutdown and tracing.
//!
//! Every test takes `serial()`: the flusher-thread tests count this process's threads by name,
//! so no other test's flusher may start or stop meanwhile.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
mod common;

use common::{faulty_wal, records};
use walden::backend::SegmentDir;
use walden::{Error, PoisonedError, Wal, WalOptions, FLUSHER_THREAD_NAME};
use walden_core::{Durability, Lsn};

/// Holds every test in this file to one at a time (see the module documentation).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Closes the log (it must be the last reference) and checks that reopening recovers every
/// acknowledged record at its LSN.
fn close_and_check_recovery<S: SegmentDir>(wal: Arc<Wal<S>>, path: &Path, acks: &[(Lsn, Vec<u8>)]) {
    let Ok(wal) = Arc::try_unwrap(wal) else {
        panic!("the test should hold the last reference to the log")
    };
    wal.close().expect("close");
    let on_disk: HashMap<Lsn, Vec<u8>> = records(path).into_iter().collect();
    assert_eq!(on_disk.len(), acks.len());
    for (lsn, payload) in acks {
        assert_eq!(
            on_disk.get(lsn),
            Some(payload),
            "acknowledged record at {lsn}"
        );
    }
}

/// What a committer was acknowledged: each record's LSN and payload.
type Acks = Vec<(Lsn, Vec<u8>)>;

/// Spawns `tasks` tokio tasks on the current runtime, each committing `commits` numbered records
/// with `commit_async` and checking each resolves only once durable; each returns its acks.
fn spawn_async_committers<D: SegmentDir>(
    wal: &Arc<Wal<D>>,
    tasks: usize,
    commits: usize,
) -> Vec<tokio::task::JoinHandle<Acks>> {
    (0..tasks)
        .map(|task| {
            let wal = Arc::clone(wal);
            tokio::spawn(async move {
                let mut acks = Vec::new();
                for i in 0..commits {
                    let payload = format!("task {task} record {i}").into_bytes();
                    let committed = wal.commit_async(&payload).await.expect("commit_async");
                    assert!(
                        committed.is_durable_at(wal.durable_lsn()),
                        "resolved before durable"
                    );
                    acks.push((committed.lsn(), payload));
                }
                acks
            })
        })
        .collect()
}

/// Threads of this process named like the flusher (Linux: `/proc/self/task/*/comm`).
fn flusher_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task (Linux)")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == FLUSHER_THREAD_NAME)
        .count()
}

/// Waits up to 10 s for the number of flusher threads to become `expected` (a joined thread
/// may linger in /proc for a moment after `join` returns).
fn assert_flusher_threads_become(expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while flusher_threads() != expected {
        assert!(
            Instant::now() < deadline,
            "{} flusher threads, expected {expected}",
            flusher_threads()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Prevents an async commit from running (or waiting for) an fsync on the executor's only
/// thread: 32 tasks commit on a current-thread runtime while a ticking task must keep running
/// during the syncs, and every sync must run on the flusher.
#[test]
fn commit_async_on_one_thread_shares_fsyncs_and_never_blocks_the_executor() {
    const TASKS: usize = 32;
    const COMMITS: usize = 10;
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    faults.sync_delay_ms.store(5, Ordering::Relaxed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();

    let (acks, ticks, ticks_during_sync) = runtime.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let ticker = {
            let done = Arc::clone(&done);
            let faults = Arc::clone(&faults);
            tokio::spawn(async move {
                let (mut ticks, mut ticks_during_sync) = (0u64, 0u64);
                while !done.load(Ordering::Acquire) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    ticks += 1;
                    if faults.syncing.load(Ordering::SeqCst) > 0 {
                        ticks_during_sync += 1;
                    }
                }
                (ticks, ticks_during_sync)
            })
        };
        let tasks = spawn_async_committers(&wal, TASKS, COMMITS);
        let mut acks = Vec::new();
        for task in tasks {
            acks.extend(task.await.expect("a committing task panicked"));
        }
        done.store(true, Ordering::Release);
        let (ticks, ticks_during_sync) = ticker.await.expect("the ticker panicked");
        (acks, ticks, ticks_during_sync)
    });
    drop(runtime);

    let sync_threads = faults.sync_threads.lock().unwrap().clone();
    assert_eq!(
        sync_threads,
        BTreeSet::from([FLUSHER_THREAD_NAME.to_owned()]),
        "an fsync ran off the flusher thread"
    );
    assert!(
        ticks_during_sync >= 3,
        "the ticker ran {ticks_during_sync} times during an fsync ({ticks} in all): the executor \
         was blocked"
    );
    let commits = (TASKS * COMMITS) as u64;
    assert!(
        faults.syncs() < commits,
        "{} fsyncs for {commits} concurrent commits: nothing was grouped",
        faults.syncs()
    );
    close_and_check_recovery(wal, &path, &acks);
}

/// Prevents lost or early acknowledgements when async commits from 32 tasks on a multi-thread
/// runtime share group commit with 4 threads committing synchronously.
#[test]
fn commit_async_from_many_tasks_and_sync_commits_share_group_commit() {
    const TASKS: usize = 32;
    const THREADS: usize = 4;
    const COMMITS: usize = 25;
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();

    let sync_committers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                (0..COMMITS)
                    .map(|i| {
                        let payload = format!("thread {thread} record {i}").into_bytes();
                        let lsn = wal.commit(&payload).expect("commit").lsn();
                        (lsn, payload)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acks = runtime.block_on(async {
        let tasks = spawn_async_committers(&wal, TASKS, COMMITS);
        let mut acks = Vec::new();
        for task in tasks {
            let task_acks = tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("a commit_async never resolved")
                .expect("a committing task panicked");
            assert!(task_acks.windows(2).all(|pair| pair[0].0 < pair[1].0));
            acks.extend(task_acks);
        }
        acks
    });
    for committer in sync_committers {
        acks.extend(committer.join().expect("a committer thread panicked"));
    }
    drop(runtime);

    let commits = ((TASKS + THREADS) * COMMITS) as u64;
    assert_eq!(acks.len() as u64, commits);
    assert_eq!(wal.stats().records_durable, commits);
    assert!(faults.syncs() < commits, "nothing was grouped");
    close_and_check_recovery(wal, &path, &acks);
}

/// Prevents a failed fsync from leaving an async committer pending forever, or acknowledging
/// its record: every pending future resolves to `Poisoned`, and so does every later commit.
#[test]
fn a_failed_fsync_fails_every_pending_commit_async_and_poisons_later_ones() {
    const PENDING: usize = 16;
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();

    runtime.block_on(async {
        wal.commit_async(b"before the failure").await.unwrap();
        faults.sync_delay_ms.store(20, Ordering::Relaxed);
        faults.fail_next_sync.store(true, Ordering::Release);
        // Appended now, all after the last successful sync; awaited from separate tasks so
        // they register while the failing sync is in flight.
        let tasks: Vec<_> = (0..PENDING)
            .map(|i| tokio::spawn(wal.commit_async(format!("doomed {i}").as_bytes())))
            .collect();
        for task in tasks {
            let outcome = tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("a pending commit_async hung after a failed fsync")
                .expect("task");
            assert!(
                matches!(&outcome, Err(Error::Poisoned(PoisonedError { cause, .. })) if cause.contains("sync")),
                "{outcome:?}"
            );
        }
        let later = wal.commit_async(b"later").await;
        assert!(matches!(later, Err(Error::Poisoned(_))), "{later:?}");
    });
    assert!(matches!(
        wal.commit(b"later, sync"),
        Err(Error::Poisoned(_))
    ));
    assert_eq!(faults.syncs(), 2, "a sync ran after the failure");

    drop(runtime);
    drop(wal);
    let reopened = Wal::open(&path).unwrap();
    assert!(records(&path)
        .iter()
        .map(|(_, payload)| payload)
        .any(|payload| payload == b"before the failure"));
    reopened.commit(b"after reopening").unwrap();
}

/// Prevents the flusher thread from outliving its log (a thread and a file handle leaked per
/// opened log), whether the user or the last pending future drops the log.
#[test]
fn dropping_the_wal_stops_its_flusher_thread() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = flusher_threads();

    let (wal, _) = faulty_wal(&dir.path().join("one"), WalOptions::default());
    runtime
        .block_on(wal.commit_async(b"starts the flusher"))
        .unwrap();
    assert_eq!(flusher_threads(), before + 1, "one flusher per log");
    assert_eq!(
        (Arc::strong_count(&wal), Arc::weak_count(&wal)),
        (1, 1),
        "an idle flusher holds a Weak, never an Arc"
    );
    let weak = Arc::downgrade(&wal);
    within_10_s("dropping the log", move || drop(wal));
    assert!(weak.upgrade().is_none(), "something kept the log alive");
    assert_flusher_threads_become(before);

    // The user lets go first; the pending future holds the last reference and drops the log on
    // the executor's thread when it resolves.
    let (wal, _) = faulty_wal(&dir.path().join("two"), WalOptions::default());
    let pending = wal.commit_async(b"outlives the handle");
    drop(wal);
    within_10_s("the last future dropping the log", move || {
        runtime.block_on(pending).unwrap();
    });
    assert_flusher_threads_become(before);
}

/// Runs `work` on its own thread and fails the test if it takes over 10 s (a drop that waits
/// for a flusher that never stops), rather than hanging the test run.
fn within_10_s(what: &str, work: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        work();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not finish within 10 s"));
    worker.join().expect("the worker panicked");
}

/// Prevents Buffered mode from starting a thread or syncing: the record is handed to the OS
/// when `commit_async` is called, and the first poll is ready.
#[test]
fn buffered_commit_async_is_ready_at_once_without_a_flusher_or_fsync() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let options = WalOptions {
        durability: Durability::Buffered,
        ..WalOptions::default()
    };
    let (wal, faults) = faulty_wal(&path, options);
    let before = flusher_threads();
    let mut future = pin!(wal.commit_async(b"buffered"));
    let polled = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(polled, Poll::Ready(Ok(appended)) if appended.lsn() == Lsn::ZERO),
        "{polled:?}"
    );
    assert_eq!(faults.syncs(), 0);
    assert_eq!(flusher_threads(), before);
    assert_eq!(records(&path).len(), 1, "the record reached the file");
}

/// Wakes a parked thread; records that it did, so a lost wake-up is told from a late one.
struct Unpark {
    thread: std::thread::Thread,
    woken: AtomicBool,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The smallest executor: poll, park until woken. Fails if a pending future is not woken
/// within 30 s (a lost wake-up), instead of re-polling on a timer and hiding it.
fn block_on<F: Future>(future: F) -> F::Output {
    let unpark = Arc::new(Unpark {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(Arc::clone(&unpark));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !unpark.woken.swap(false, Ordering::AcqRel) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "a pending future was never woken");
            std::thread::park_timeout(left);
        }
    }
}

/// Prevents a dependency on any runtime, and lost wake-ups: a first poll that needs an fsync
/// returns Pending without syncing on the polling thread, and a hand-made executor that only
/// re-polls when woken sees every commit resolve, including a future dropped while pending.
#[test]
fn commit_async_needs_no_runtime_and_its_waker_is_always_called() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, faults) = faulty_wal(&path, WalOptions::default());
    faults.sync_delay_ms.store(500, Ordering::Relaxed);

    let mut first = Box::pin(wal.commit_async(b"first"));
    let polled = first.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending(), "{polled:?}");
    assert_eq!(faults.syncs(), 0, "the poll did not wait for a sync");
    faults.sync_delay_ms.store(0, Ordering::Relaxed);
    // Cancelled while registered: its entry goes, and nobody else's wake-up is affected.
    drop(first);

    let mut acks = Vec::new();
    for i in 0..50 {
        let payload = format!("record {i}").into_bytes();
        let committed = block_on(wal.commit_async(&payload)).expect("commit_async");
        acks.push((committed.lsn(), payload));
    }
    let sync_threads = faults.sync_threads.lock().unwrap().clone();
    assert_eq!(
        sync_threads,
        BTreeSet::from([FLUSHER_THREAD_NAME.to_owned()])
    );
    let mut on_disk = acks.clone();
    on_disk.insert(0, (Lsn::ZERO, b"first".to_vec()));
    close_and_check_recovery(wal, &path, &on_disk);
}

/// A subscriber that keeps every span's name and fields, and every event's fields.
#[derive(Default)]
struct Capture {
    spans: Mutex<Vec<(&'static str, HashMap<String, String>)>>,
    events: Mutex<Vec<HashMap<String, String>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().expect("the span record");
        spans.push((span.metadata().name(), fields));
        tracing::span::Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut spans = self.spans.lock().expect("the span record");
        let index = usize::try_from(span.into_u64() - 1).expect("a span id this subscriber made");
        values.record(&mut Fields(&mut spans[index].1));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().expect("the event record").push(fields);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Prevents the operational story from going dark: opening, recovering, each group-commit sync
/// and the poisoning each leave a span or event with the numbers an operator needs.
#[test]
fn open_recovery_group_syncs_and_poisoning_are_traced() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    drop(Wal::open(&path).unwrap().commit(b"one"));
    let capture = Arc::new(Capture::default());
    let (wal, faults) = tracing::subscriber::with_default(Arc::clone(&capture), || {
        let wal = Wal::open(&path).unwrap();
        let lsn = wal.commit(b"two").unwrap().lsn();
        drop(wal);
        let (wal, faults) = faulty_wal(&path, WalOptions::default());
        faults.fail_next_sync.store(true, Ordering::Release);
        assert!(wal.commit(b"three").is_err());
        assert!(lsn > Lsn::ZERO);
        (wal, faults)
    });
    drop((wal, faults));

    let spans = capture.spans.lock().unwrap();
    let span = |name: &str| {
        spans
            .iter()
            .find(|(span, _)| *span == name)
            .unwrap_or_else(|| panic!("no {name} span in {spans:?}"))
            .1
            .clone()
    };
    assert!(span("walden.open")["path"].contains("wal"));
    assert!(span("walden.recover").is_empty());
    let sync = span("walden.group_sync");
    for field in ["upto", "records", "bytes", "duration_us"] {
        assert!(
            sync.contains_key(field),
            "group_sync lacks {field}: {sync:?}"
        );
    }
    assert_eq!(sync["records"], "1");
    let events = capture.events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|event| event.get("records").map(String::as_str) == Some("1")),
        "no recovery event counting the one record: {events:?}"
    );
    assert!(
        events.iter().any(|event| event
            .get("message")
            .is_some_and(|message| message.contains("poisoned"))
            && event["error"].contains("injected EIO")),
        "no poisoning event: {events:?}"
    );
}
