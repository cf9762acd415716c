//! [`Wal::commit_async`] and [`CommitFuture`]: commits an `async` caller awaits without blocking
//! its executor on an fsync, with no dependency on any runtime (only `std::task` wakers).
//!
//! This module owns the per-log flusher thread and the registry of futures waiting for
//! durability. `commit_async` appends at once, on the caller's thread, exactly like
//! [`Wal::append`] (a lock and a copy into the 64 KiB buffer; when the buffer is full, a write
//! into the OS, never an fsync), and returns a future. Polling the future never syncs: it checks
//! the durable LSN, and otherwise registers its waker and its target LSN and returns `Pending`.
//! The flusher, a thread named `walden-flusher` started by the first future that has to wait,
//! takes the highest registered target, calls the blocking `Wal::wait_durable` (so it leads or
//! joins group commit exactly like a synchronous committer, and shares fsyncs with them), then
//! wakes every future its sync covered.
//!
//! Invariants:
//! - No lost wake-up. A future registers, and the flusher takes targets and publishes what it
//!   made durable, under one lock (`Shared::state`); a future checks that published LSN under
//!   the same lock before registering. A target that became durable through someone else's sync
//!   between a future's check and its registration is still served: the flusher serves every
//!   registered entry, and its `wait_durable` returns at once for a target already durable.
//! - Every registered future is answered. The flusher sleeps only while the registry is empty;
//!   after each sync it removes and wakes the entries it covered and serves the rest next. If the
//!   sync fails (or the flusher panics) it records the failure and wakes every entry; from then
//!   on every future whose record was not durable before the failure resolves to
//!   [`Error::Poisoned`], and later `commit_async` calls fail at their append (the writer is
//!   poisoned too).
//! - Memory is bounded by the futures alive: one registry entry per pending future; polling
//!   again replaces its waker, and dropping a future removes its entry.
//! - The flusher does not keep the log alive: it holds a `Weak<Wal>`, upgraded only for one
//!   `wait_durable`. Dropping the `Wal` drops its [`AsyncCommit`], which tells the flusher to
//!   stop and joins it (the flusher is then asleep or about to see the stop, never mid-fsync,
//!   since a mid-fsync flusher holds a strong reference). If the flusher held the last reference
//!   the drop runs on the flusher itself, which then exits when it returns to its loop.
//! - No timers and no busy-waiting: the flusher sleeps on a condition variable until a future
//!   registers or the log is dropped.
//! - `Durability::Buffered` needs no flusher: `commit_async` drains at once (a write into the
//!   OS, as `commit` does in that mode) and returns a future that is already ready.

use crate::error::Error;
use crate::segment_dir::{FsDir, SegmentDir};
use crate::wal::Wal;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle};
use walden_core::{Appended, Durability, Lsn, PoisonedError};

/// The flusher thread's name, as the OS shows it (`/proc/<pid>/task/<tid>/comm` on Linux).
pub const FLUSHER_THREAD_NAME: &str = "walden-flusher";

/// A `Wal`'s async-commit state: its flusher and the futures waiting on it. See the module
/// documentation.
#[derive(Debug)]
pub(crate) struct AsyncCommit {
    durability: Durability,
    shared: Arc<Shared>,
}

/// What the futures and the flusher share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// The flusher sleeps on it while the registry is empty; a new registration or a stop
    /// wakes it.
    work: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The futures waiting for durability, by entry id.
    waiters: HashMap<u64, Waiter>,
    next_id: u64,
    /// The highest durable LSN the flusher has seen returned (published under this lock, so a
    /// future that checks it here cannot miss the wake-up that goes with it).
    durable: Lsn,
    /// Set once by a failed flush; every later poll of an undurable future returns it.
    failure: Option<Failure>,
    flusher: Option<JoinHandle<()>>,
    /// Set when the `Wal` is dropped: the flusher exits.
    stopping: bool,
}

#[derive(Debug)]
struct Waiter {
    /// The LSN just past the future's record: it is durable once `durable >= target`.
    target: Lsn,
    waker: Waker,
}

/// Why the flusher stopped making records durable.
#[derive(Clone, Debug)]
struct Failure {
    durable: Lsn,
    cause: String,
    /// The log was shut down (not poisoned): futures get `Error::Closed`.
    closed: bool,
}

impl Failure {
    fn from_error(err: &Error, durable: Lsn) -> Failure {
        let cause = match err {
            Error::Poisoned(poisoned) => poisoned.cause.clone(),
            Error::Io { op, source } => format!("{op} ({source})"),
            other => other.to_string(),
        };
        let closed = matches!(err, Error::Closed { .. });
        Failure {
            durable,
            cause,
            closed,
        }
    }

    fn to_error(&self) -> Error {
        if self.closed {
            return Error::Closed {
                durable: self.durable,
            };
        }
        Error::Poisoned(PoisonedError::new(self.durable, self.cause.clone()))
    }
}

impl AsyncCommit {
    /// The state of a log opened with `durability`; no thread starts until a future waits.
    pub(crate) fn new(durability: Durability) -> AsyncCommit {
        AsyncCommit {
            durability,
            shared: Arc::default(),
        }
    }
}

impl Drop for AsyncCommit {
    fn drop(&mut self) {
        let flusher = {
            let mut state = self.shared.lock();
            state.stopping = true;
            state.flusher.take()
        };
        self.shared.work.notify_all();
        if let Some(flusher) = flusher {
            // On the flusher itself (it held the last reference to the log) a join would wait
            // for this very thread; it exits when it returns to its loop and sees the stop.
            if flusher.thread().id() != thread::current().id() {
                let _ = flusher.join();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock except through a bug in this module, and the
        // state stays consistent (each change is a single insert, remove or assignment).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove(&self, id: u64) {
        self.lock().waiters.remove(&id);
    }
}

impl<S: SegmentDir> Wal<S> {
    /// Appends a record now and returns a future that resolves to its receipt once it is durable
    /// (with `Durability::Buffered`: at once, the record handed to the OS).
    ///
    /// Awaiting never blocks the executor on an fsync: a pending future registers its waker,
    /// and the log's flusher thread (started on first need, named [`FLUSHER_THREAD_NAME`]) makes
    /// the record durable through the same group commit as [`Wal::commit`], then wakes it. Works
    /// with any executor. Dropping the future does not undo the append.
    ///
    /// It takes `&Arc<Self>` because the flusher calls [`Wal::wait_durable`] from its own thread
    /// after this call has returned, which needs shared ownership: it keeps a `Weak` (so it
    /// never keeps the log alive), and each future keeps an `Arc` (so the log stays open until
    /// every pending commit has its answer).
    ///
    /// Errors: an append error (e.g. [`Error::Poisoned`] after an earlier failure, or a record
    /// over the size limit) is returned by the future's first poll; a failed sync resolves every
    /// future it would have covered to [`Error::Poisoned`].
    ///
    /// ```
    /// # fn main() -> Result<(), walden::Error> {
    /// use std::sync::Arc;
    /// let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = Arc::new(walden::Wal::open(dir.path().join("orders"))?);
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    /// runtime.block_on(async {
    ///     // Both records are appended now; their fsyncs run on the flusher, shared.
    ///     let first = wal.commit_async(b"order 1: 3 apples");
    ///     let second = wal.commit_async(b"order 2: 1 pear");
    ///     let (first, second) = tokio::join!(first, second);
    ///     let (first, second) = (first?, second?);
    ///     assert!(first.lsn() < second.lsn() && second.is_durable_at(wal.durable_lsn()));
    ///     Ok::<(), walden::Error>(())
    /// })
    /// # }
    /// ```
    pub fn commit_async(self: &Arc<Self>, payload: &[u8]) -> CommitFuture<S> {
        match self.append(payload) {
            Err(err) => CommitFuture {
                step: Step::Ready(Err(err)),
            },
            Ok(appended) => self.wait_durable_async(appended),
        }
    }

    /// A future that resolves once `record` (and everything before it) is durable: the async
    /// form of [`Wal::wait_durable`], for records appended with [`Wal::append`] (a batch: wait
    /// on the last one). Like [`Wal::commit_async`], it never blocks the executor on an fsync.
    ///
    /// ```
    /// # fn main() -> Result<(), walden::Error> {
    /// use std::sync::Arc;
    /// let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = Arc::new(walden::Wal::open(dir.path())?);
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    /// runtime.block_on(async {
    ///     wal.append(b"entry 1")?;
    ///     let last = wal.append(b"entry 2")?;
    ///     wal.wait_durable_async(last).await?; // one sync covers both
    ///     assert!(last.is_durable_at(wal.durable_lsn()));
    ///     Ok::<(), walden::Error>(())
    /// })
    /// # }
    /// ```
    pub fn wait_durable_async(self: &Arc<Self>, record: Appended) -> CommitFuture<S> {
        let step = if self.async_commit.durability == Durability::Buffered
            || record.is_durable_at(self.durable_lsn())
        {
            Step::Ready(self.wait_durable(record).map(|_| record))
        } else {
            Step::Waiting {
                wal: Arc::clone(self),
                record,
                entry: None,
            }
        };
        CommitFuture { step }
    }

    /// Ready once `end` is durable or the log has failed; otherwise registers `cx`'s waker
    /// (under `entry`, reused on every poll) with the flusher, starting it if needed.
    fn poll_durable(
        self: &Arc<Self>,
        end: Lsn,
        entry: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        let shared = &self.async_commit.shared;
        let mut state = shared.lock();
        if end <= self.durable_lsn() || end <= state.durable {
            remove_entry(&mut state, entry);
            return Poll::Ready(Ok(()));
        }
        if let Some(failure) = &state.failure {
            let err = failure.to_error();
            remove_entry(&mut state, entry);
            return Poll::Ready(Err(err));
        }
        if let Some(waiter) = entry.and_then(|id| state.waiters.get_mut(&id)) {
            waiter.waker.clone_from(cx.waker());
            return Poll::Pending;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.waiters.insert(
            id,
            Waiter {
                target: end,
                waker: cx.waker().clone(),
            },
        );
        *entry = Some(id);
        if state.flusher.is_none() {
            let wal = Arc::downgrade(self);
            let for_flusher = Arc::clone(shared);
            let started = thread::Builder::new()
                .name(FLUSHER_THREAD_NAME.to_owned())
                .spawn(move || run_flusher(&wal, &for_flusher));
            match started {
                Ok(handle) => state.flusher = Some(handle),
                Err(source) => {
                    remove_entry(&mut state, entry);
                    return Poll::Ready(Err(Error::Io {
                        op: "starting the flusher thread",
                        source,
                    }));
                }
            }
        }
        drop(state);
        shared.work.notify_one();
        Poll::Pending
    }
}

fn remove_entry(state: &mut State, entry: &mut Option<u64>) {
    if let Some(id) = entry.take() {
        state.waiters.remove(&id);
    }
}

/// The flusher's loop: sleep until futures wait, make the highest target durable through group
/// commit, wake those it covered, repeat; exit when the log is dropped.
fn run_flusher<S: SegmentDir>(wal: &Weak<Wal<S>>, shared: &Shared) {
    let _answers_on_panic = PanicGuard(shared);
    loop {
        let (target, waiting) = {
            let mut state = shared.lock();
            loop {
                if state.stopping {
                    return;
                }
                if let Some(target) = state.waiters.values().map(|w| w.target).max() {
                    break (target, state.waiters.len());
                }
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Some(wal) = wal.upgrade() else {
            return;
        };
        let span = tracing::debug_span!(
            "walden.flusher_batch",
            target = target.get(),
            waiting,
            durable = tracing::field::Empty,
        );
        let _entered = span.enter();
        let result = wal.wait_durable_through(target);
        let wakers: Vec<Waker> = {
            let mut state = shared.lock();
            match &result {
                Ok(durable) => {
                    span.record("durable", durable.get());
                    state.durable = state.durable.max(*durable);
                    let durable = state.durable;
                    take_wakers(&mut state, |waiter| waiter.target <= durable)
                }
                Err(err) => {
                    tracing::error!(error = %err, "walden: flush failed, failing every waiting commit");
                    state.failure = Some(Failure::from_error(err, wal.durable_lsn()));
                    take_wakers(&mut state, |_| true)
                }
            }
        };
        // A waker may drop the last other reference to the log: let go of ours first, so that
        // the log is dropped (and this thread told to stop) wherever that happens.
        drop(wal);
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Removes the registry entries `covered` selects and returns their wakers.
fn take_wakers(state: &mut State, covered: impl Fn(&Waiter) -> bool) -> Vec<Waker> {
    let ids: Vec<u64> = state
        .waiters
        .iter()
        .filter(|(_, waiter)| covered(waiter))
        .map(|(id, _)| *id)
        .collect();
    ids.iter()
        .filter_map(|id| state.waiters.remove(id))
        .map(|waiter| waiter.waker)
        .collect()
}

/// If the flusher unwinds (a bug), fails and wakes every waiting future instead of leaving it
/// pending forever; later polls see the failure.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if !thread::panicking() {
            return;
        }
        let wakers = {
            let mut state = self.0.lock();
            let durable = state.durable;
            state.failure.get_or_insert(Failure {
                durable,
                cause: String::from("flush (the flusher thread panicked)"),
                closed: false,
            });
            take_wakers(&mut state, |_| true)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The future of [`Wal::commit_async`] and [`Wal::wait_durable_async`]: resolves to the
/// record's [`Appended`] receipt once it is durable. Runtime
/// agnostic (`Send`, `Unpin`, `'static`); see the module documentation.
#[must_use = "the record is appended, but only awaiting the future says it is durable"]
pub struct CommitFuture<S: SegmentDir = FsDir> {
    step: Step<S>,
}

enum Step<S: SegmentDir> {
    /// The answer is known (an append error, or `Durability::Buffered`).
    Ready(Result<Appended, Error>),
    Waiting {
        wal: Arc<Wal<S>>,
        record: Appended,
        /// This future's registry entry, once it has registered.
        entry: Option<u64>,
    },
    Done,
}

impl<S: SegmentDir> Future for CommitFuture<S> {
    type Output = Result<Appended, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.step {
            Step::Ready(_) => match std::mem::replace(&mut this.step, Step::Done) {
                Step::Ready(result) => Poll::Ready(result),
                _ => unreachable!("the step was just matched as ready"),
            },
            Step::Waiting { wal, record, entry } => match wal.poll_durable(record.end(), entry, cx)
            {
                Poll::Pending => Poll::Pending,
                Poll::Ready(result) => {
                    let result = result.map(|()| *record);
                    this.step = Step::Done;
                    Poll::Ready(result)
                }
            },
            Step::Done => panic!("a CommitFuture was polled after it resolved"),
        }
    }
}

impl<S: SegmentDir> Drop for CommitFuture<S> {
    fn drop(&mut self) {
        if let Step::Waiting {
            wal,
            entry: Some(id),
            ..
        } = &self.step
        {
            wal.async_commit.shared.remove(*id);
        }
    }
}

impl<S: SegmentDir> fmt::Debug for CommitFuture<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            Step::Ready(result) => f.debug_tuple("CommitFuture::Ready").field(result).finish(),
            Step::Waiting { record, .. } => f
                .debug_struct("CommitFuture::Waiting")
                .field("record", record)
                .finish(),
            Step::Done => f.write_str("CommitFuture::Done"),
        }
    }
}
