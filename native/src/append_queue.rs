//! [`AppendQueue`]: the lock-free append path. Writers reserve an LSN range with one atomic
//! operation, encode outside any lock, and hand their frames over; one [`Drainer`] takes them
//! out in LSN order.
//!
//! # The path of a record
//!
//! 1. [`AppendQueue::reserve`]`(frame_len)`: one `fetch_add` on the reserved end gives the range
//!    `[lsn, lsn + frame_len)`. The answer is [`Reserved::Ready`] when the range fits in the
//!    window (see *Backpressure*), else [`Reserved::Full`].
//! 2. The writer encodes its frame at [`Reservation::lsn`] into its own buffer, holding no lock.
//! 3. [`Reservation::complete`]`(&frames)` copies the frames into the queue under a short
//!    internal mutex (never the writer's lock): appended to the contiguous ready run when the
//!    range starts where the completed prefix ends, otherwise parked until the gap before it
//!    fills.
//! 4. [`Drainer::drain`]`(sink)` hands the completed contiguous prefix to `sink` in one call,
//!    outside the internal mutex, and advances the drained end.
//!
//! # Invariants
//!
//! - `drained <= completed <= reserved` (see [`QueueState`]): the drained end only moves by
//!   draining completed bytes, the completed end only over reserved ranges.
//! - Ranges never overlap and leave no gaps: every byte of `[start, reserved)` belongs to exactly
//!   one reservation, and a drain hands out the bytes of `[drained, completed)` exactly once, in
//!   LSN order. Bytes completed out of order wait until the gap before them fills.
//! - One drainer: [`AppendQueue::new`] makes exactly one [`Drainer`], and draining takes
//!   `&mut Drainer`, so the caller's lock around it (the writer lock) serialises drains.
//! - Bounded memory: the queue holds at most `capacity_bytes` of frames (or one frame, when a
//!   single frame is longer than that), plus two buffers of that size that are reused.
//! - No spinning, no timers: every wait in this module sleeps on a condition variable and is
//!   woken by the event it waits for (a completion, a drain, an abandonment, a failed drain).
//! - No hang: a reservation dropped without [`Reservation::complete`] (its encoder failed or
//!   panicked) is *abandoned*: everyone waiting for it, or for anything after it, gets
//!   [`QueueError::Abandoned`] instead of waiting forever. A drain whose sink fails (or panics)
//!   leaves the queue failed: later drains, waits and completions get
//!   [`QueueError::DrainFailed`]. Either way the caller must poison the log; the queue never
//!   skips bytes, because an LSN is a byte position and a skipped range would shift every later
//!   record.
//!
//! # Backpressure
//!
//! A range is *admitted* when it ends within `capacity_bytes` of the drained end, or when it
//! starts at the drained end (so a frame longer than the capacity goes through alone).
//! Admission only depends on `drained`, which only grows, so an admitted range stays admitted,
//! and whenever a range is admissible so is every range before it.
//!
//! A range that is not admitted comes back as [`Reserved::Full`]: its LSN is taken (the
//! `fetch_add` cannot be undone), but its writer may not hand bytes over yet, and must drain
//! then [`Blocked::wait`]. `wait` sleeps until the range is admitted ([`Reserved::Ready`]), or
//! until completed bytes are waiting that no drain has taken ([`Reserved::Full`] again: drain,
//! then wait again). So a full queue makes progress even when no other thread ever drains: the
//! blocked writers drain it themselves. The queue does not block inside `reserve` for that
//! reason: a writer blocked inside the queue could not drain, and a full queue whose writers
//! only append (nobody commits) would deadlock.
//!
//! Progress argument: take the lowest range that is not admitted. Every range before it is
//! admitted, so it completes as soon as its encoder finishes (or is abandoned, which fails the
//! waiters). Each completion wakes the blocked writers, one of them drains, the drained end
//! reaches the lowest blocked range, and that range is admitted.
//!
//! # Lock order (the caller's contract)
//!
//! Never call [`AppendQueue::wait_complete`] or [`Blocked::wait`] while holding the lock that
//! guards the [`Drainer`]. A writer told to drain needs that lock before it can see that its
//! range was admitted; if the lock's holder waits for that writer's range to complete, neither
//! moves. A group-commit leader therefore calls `wait_complete(target)` first, then takes the
//! writer lock and drains.
//!
//! # Cost
//!
//! Per record, uncontended: one `fetch_add` and one load to reserve; one lock and unlock of the
//! internal mutex and a copy of the frame to complete; a drain is one lock and unlock for any
//! number of records. The internal mutex is held only to copy a frame and update a few
//! integers, never across I/O or encoding. Frames completed behind a gap join one run per gap
//! (no allocation per record in the steady state) and are copied again when the gap fills.
//!
//! Measured (`benches/append_queue.rs`, 2-core EPYC VM shared with other builds, 100-byte
//! payloads, drain every 64 records; noisy by +-30%): the queue alone is ~28-34 ns per record
//! (3 locked instructions: `fetch_add`, lock, unlock; ~16 ns is their floor here); a whole
//! append with encoding ~61-66 ns, against ~25-29 ns for encoding under one mutex (today's
//! path) and ~19-23 ns for encoding alone. So the <= 40 ns single-thread goal is missed, and on
//! 2 cores 4 threads are not faster than the writer lock either. Meeting it needs a handover
//! without the mutex (writers copy into a shared byte ring and publish with one release store),
//! which needs `unsafe`; see the hand-off notes.
//!
//! # LSN space
//!
//! Reservations end at most at [`LSN_LIMIT`], 2^48 bytes below `u64::MAX`: a reservation that
//! would pass it is undone and fails with [`QueueError::LsnExhausted`]. The headroom is what
//! makes a plain `fetch_add` safe: a reserved end can only wrap around if more than 2^16
//! threads each hold a failed 4 GiB reservation at once.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use walden_core::Lsn;

/// The highest LSN a reservation may end at (see the module documentation, *LSN space*).
pub const LSN_LIMIT: Lsn = Lsn::new(u64::MAX - (1 << 48));

/// The longest range one reservation may take: the format stores a frame's length in a `u32`.
pub const RESERVATION_BYTES_MAX: usize = u32::MAX as usize;

/// How many buffers for out-of-order runs the queue keeps for reuse. Each holds at most the
/// window's bytes, so this bounds the memory kept beyond the window.
const PARKED_BUFFERS_FREE_MAX: usize = 4;

/// The most the ready and drain buffers each allocate up front; they grow to the capacity if
/// they need to, and keep what they grew to.
const READY_PREALLOCATED_BYTES_MAX: usize = 1 << 20;

/// Keeps a value on its own cache lines, so that the reservers' counter, the drainer's counter
/// and the mutex do not slow each other down by sharing a line. 128 bytes: a pair of 64-byte
/// lines, because x86 prefetches lines in pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
struct CachePadded<T>(T);

/// The queue between writers and the drainer. See the module documentation.
#[derive(Debug)]
pub struct AppendQueue {
    /// The end of every range reserved so far (written by `fetch_add` in `reserve`).
    reserved: CachePadded<AtomicU64>,
    /// The end of what the drainer has handed to its sink; only the drainer writes it.
    drained: CachePadded<AtomicU64>,
    /// Writers sleeping in `Blocked::wait`. Changed under `inner`'s lock; the drainer reads it
    /// without the lock, after publishing `drained` (both `SeqCst`, so either the drainer sees
    /// the waiter and wakes it, or the waiter sees the new `drained` and does not sleep).
    room_waiters: AtomicUsize,
    /// A copy of `Inner::completed`, for lock-free reads (`wait_complete`'s fast path, stats).
    completed: AtomicU64,
    /// The window: how far past `drained` an admitted range may end.
    capacity_bytes: u64,
    inner: Mutex<Inner>,
    /// Signalled when the completed end moves, and on abandonment or a failed drain.
    completion: Condvar,
    /// Signalled when the drained end or the completed end moves, and on abandonment or a failed
    /// drain.
    room: Condvar,
}

/// The handover and reorder state, behind `AppendQueue::inner`.
#[derive(Debug)]
struct Inner {
    /// The end of the contiguous prefix of completed ranges.
    completed: u64,
    /// The end of what a drain has taken out of `ready` (`drained <= taken <= completed`).
    taken: u64,
    /// The frames of `[taken, completed)`, contiguous.
    ready: Vec<u8>,
    /// Runs of ranges completed past a gap: (start LSN, frames), sorted, disjoint, each past
    /// `completed`. A range completed right after a run joins it, so a writer preempted
    /// mid-append leaves one run behind it, not one entry per later completion: the deque
    /// stays short and nothing is allocated per record. (A `BTreeMap` of single ranges spent a
    /// fifth of the time with 4 threads on 2 cores allocating nodes.)
    parked: VecDeque<(u64, Vec<u8>)>,
    /// Empty buffers for `parked`, kept for reuse.
    free: Vec<Vec<u8>>,
    /// The lowest range reserved and never completed.
    abandoned: Option<(u64, u64)>,
    /// The drained end when a drain's sink failed; nothing past it will ever be drained.
    drain_failed: Option<u64>,
    /// Threads sleeping in `wait_complete`.
    completion_waiters: usize,
    /// How many times a waiter woke up, so tests can tell sleeping from spinning.
    #[cfg(test)]
    wakeups: u64,
}

/// What the queue knows, for stats and the dashboard. Read without a lock, one field at a time,
/// in the order drained, completed, reserved, so `drained <= completed <= reserved` holds in
/// every snapshot even though the fields are not read at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueState {
    /// The end of every range reserved so far.
    pub reserved: Lsn,
    /// The end of the contiguous prefix of completed ranges.
    pub completed: Lsn,
    /// The end of what the drainer has handed to its sink.
    pub drained: Lsn,
    /// The window size the queue was made with.
    pub capacity_bytes: u64,
}

impl QueueState {
    /// Bytes reserved and not yet drained (what the window holds, whether encoded or not).
    pub fn pending_bytes(&self) -> u64 {
        self.reserved.get() - self.drained.get()
    }

    /// Bytes a drain would hand over right now (at least: more may complete meanwhile).
    pub fn drainable_bytes(&self) -> u64 {
        self.completed.get() - self.drained.get()
    }
}

/// The answer to a reservation. Both variants own the range: dropping either without
/// completing it abandons the range (see [`QueueError::Abandoned`]).
#[derive(Debug)]
#[must_use = "a reserved range must be completed; dropping it abandons it and fails the log"]
pub enum Reserved<'q> {
    /// The range is admitted: encode at its LSN and [`Reservation::complete`] it.
    Ready(Reservation<'q>),
    /// The queue is full: drain it (with the [`Drainer`]), then [`Blocked::wait`].
    Full(Blocked<'q>),
}

impl Reserved<'_> {
    /// The LSN the range starts at.
    #[inline]
    pub fn lsn(&self) -> Lsn {
        match self {
            Reserved::Ready(reservation) => reservation.lsn(),
            Reserved::Full(blocked) => blocked.lsn(),
        }
    }
}

/// An admitted range, waiting for its frames. Dropping it without [`Reservation::complete`]
/// abandons the range.
#[derive(Debug)]
#[must_use = "a reserved range must be completed; dropping it abandons it and fails the log"]
pub struct Reservation<'q>(Claim<'q>);

/// A range reserved while the queue was full. Dropping it abandons the range.
#[derive(Debug)]
#[must_use = "a reserved range must be completed; dropping it abandons it and fails the log"]
pub struct Blocked<'q>(Claim<'q>);

/// A reserved range not yet completed; abandons it when dropped. Completing it forgets it
/// (`mem::forget`: it owns nothing but the obligation), so it carries no "done" flag.
#[derive(Debug)]
struct Claim<'q> {
    queue: &'q AppendQueue,
    lsn: u64,
    end: u64,
}

/// The one thread at a time that takes frames out of the queue. Keep it under the lock that
/// serialises writes to the log (the writer lock).
#[derive(Debug)]
pub struct Drainer {
    queue: Arc<AppendQueue>,
    /// The buffer a drain swaps with the queue's ready run; empty between drains.
    spare: Vec<u8>,
}

/// Why a queue operation failed. Every variant but `InvalidLength`, `LengthMismatch` and
/// `BeyondReserved` means the log can no longer be appended to: poison it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueError {
    /// The range `[lsn, end)` was reserved and dropped without its frames (its encoder failed
    /// or panicked). Nothing at or past `lsn` can be drained: poison the log and reopen it.
    Abandoned {
        /// Where the abandoned range starts.
        lsn: Lsn,
        /// Where it ends.
        end: Lsn,
    },
    /// A drain's sink failed (or panicked) with the frames after `drained` in hand; they are
    /// gone, so nothing past `drained` can be drained: poison the log and reopen it.
    DrainFailed {
        /// The drained end when the sink failed.
        drained: Lsn,
    },
    /// Reserving `len` bytes at `lsn` would pass [`LSN_LIMIT`]. Nothing was reserved.
    LsnExhausted {
        /// The reserved end the reservation started from.
        lsn: Lsn,
        /// The bytes asked for.
        len: u64,
    },
    /// A reservation must be 1 to [`RESERVATION_BYTES_MAX`] bytes long. Nothing was reserved.
    InvalidLength {
        /// The length asked for.
        len: usize,
    },
    /// `complete` was given a different number of bytes than the range holds. The range is
    /// abandoned (a bug in the encoder's caller).
    LengthMismatch {
        /// Where the range starts.
        lsn: Lsn,
        /// The range's length.
        expected: u64,
        /// The bytes given.
        got: usize,
    },
    /// `wait_complete` asked for an LSN past every reservation; it would wait for a writer that
    /// does not exist yet.
    BeyondReserved {
        /// The LSN asked for.
        target: Lsn,
        /// The reserved end.
        reserved: Lsn,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Abandoned { lsn, end } => write!(
                f,
                "the append at LSN {lsn}..{end} was abandoned before its bytes were handed over \
                 (its encoder failed); nothing from LSN {lsn} on can be written. Reopen the log"
            ),
            QueueError::DrainFailed { drained } => write!(
                f,
                "an earlier drain of the append queue failed; nothing past LSN {drained} can be \
                 written. Reopen the log"
            ),
            QueueError::LsnExhausted { lsn, len } => write!(
                f,
                "cannot reserve {len} bytes at LSN {lsn}: the log's LSN space ends at \
                 {LSN_LIMIT}"
            ),
            QueueError::InvalidLength { len } => write!(
                f,
                "cannot reserve {len} bytes: a reservation is 1 to {RESERVATION_BYTES_MAX} bytes"
            ),
            QueueError::LengthMismatch { lsn, expected, got } => write!(
                f,
                "the append at LSN {lsn} reserved {expected} bytes but handed over {got}; the \
                 range is abandoned"
            ),
            QueueError::BeyondReserved { target, reserved } => write!(
                f,
                "cannot wait for LSN {target}: only {reserved} is reserved"
            ),
        }
    }
}

impl std::error::Error for QueueError {}

/// Why a drain failed: the sink's own error, or the queue's.
#[derive(Debug, PartialEq, Eq)]
pub enum DrainError<E> {
    /// The sink failed; the frames it was given are dropped and the queue is failed
    /// ([`QueueError::DrainFailed`] from now on).
    Sink(E),
    /// The queue cannot drain further (an abandoned range at the drained end, or an earlier
    /// failed drain). Everything before it was handed over.
    Queue(QueueError),
}

impl<E: fmt::Display> fmt::Display for DrainError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrainError::Sink(err) => write!(f, "draining the append queue failed: {err}"),
            DrainError::Queue(err) => err.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for DrainError<E> {}

impl AppendQueue {
    /// A queue whose first reservation starts at `start` (the log's current LSN), holding at
    /// most `capacity_bytes` of frames (see *Backpressure*; 0 admits one frame at a time), and
    /// its one drainer. Fails if `start` is past [`LSN_LIMIT`].
    pub fn new(
        start: Lsn,
        capacity_bytes: usize,
    ) -> Result<(Arc<AppendQueue>, Drainer), QueueError> {
        if start > LSN_LIMIT {
            return Err(QueueError::LsnExhausted { lsn: start, len: 0 });
        }
        let preallocated = capacity_bytes.min(READY_PREALLOCATED_BYTES_MAX);
        let queue = Arc::new(AppendQueue {
            reserved: CachePadded(AtomicU64::new(start.get())),
            drained: CachePadded(AtomicU64::new(start.get())),
            room_waiters: AtomicUsize::new(0),
            completed: AtomicU64::new(start.get()),
            capacity_bytes: capacity_bytes as u64,
            inner: Mutex::new(Inner {
                completed: start.get(),
                taken: start.get(),
                ready: Vec::with_capacity(preallocated),
                parked: VecDeque::new(),
                free: Vec::new(),
                abandoned: None,
                drain_failed: None,
                completion_waiters: 0,
                #[cfg(test)]
                wakeups: 0,
            }),
            completion: Condvar::new(),
            room: Condvar::new(),
        });
        let drainer = Drainer {
            queue: Arc::clone(&queue),
            spare: Vec::with_capacity(preallocated),
        };
        Ok((queue, drainer))
    }

    /// Reserves the next `frame_len` bytes of the log with one `fetch_add`. Never blocks.
    ///
    /// [`Reserved::Ready`]: encode at its LSN and complete it. [`Reserved::Full`]: drain, then
    /// [`Blocked::wait`]. Either way the range is this caller's to complete: dropping it
    /// abandons it.
    #[inline]
    pub fn reserve(&self, frame_len: usize) -> Result<Reserved<'_>, QueueError> {
        if frame_len == 0 || frame_len > RESERVATION_BYTES_MAX {
            return Err(QueueError::InvalidLength { len: frame_len });
        }
        let len = frame_len as u64;
        let lsn = self.reserved.0.fetch_add(len, Ordering::AcqRel);
        let end = lsn.wrapping_add(len);
        if lsn > LSN_LIMIT.get() - len {
            // Undo: every reservation that saw this one's bytes in the counter fails the same
            // test (its start is at least as far on), so undoing leaves no gap.
            self.reserved.0.fetch_sub(len, Ordering::AcqRel);
            return Err(QueueError::LsnExhausted {
                lsn: Lsn::new(lsn),
                len,
            });
        }
        let claim = Claim {
            queue: self,
            lsn,
            end,
        };
        Ok(if self.admits(lsn, end) {
            Reserved::Ready(Reservation(claim))
        } else {
            Reserved::Full(Blocked(claim))
        })
    }

    /// Waits, asleep, until every range below `target` is completed, and returns the completed
    /// end (at least `target`). Returns at once when it already is. Fails if a range below
    /// `target` was abandoned, or if `target` is past every reservation.
    ///
    /// A group-commit leader calls it with its own record's end before draining, so the drain
    /// reaches its target even when a slower writer was still encoding a record before it. See
    /// *Lock order*: never call it holding the drainer's lock.
    pub fn wait_complete(&self, target: Lsn) -> Result<Lsn, QueueError> {
        let completed = self.completed.load(Ordering::Acquire);
        if completed >= target.get() {
            return Ok(Lsn::new(completed));
        }
        let reserved = self.reserved.0.load(Ordering::Acquire);
        if target.get() > reserved {
            return Err(QueueError::BeyondReserved {
                target,
                reserved: Lsn::new(reserved),
            });
        }
        let mut inner = self.lock();
        inner.completion_waiters += 1;
        let outcome = loop {
            if inner.completed >= target.get() {
                break Ok(Lsn::new(inner.completed));
            }
            if let Some((lsn, end)) = inner.abandoned.filter(|&(lsn, _)| lsn < target.get()) {
                break Err(abandoned(lsn, end));
            }
            inner = self
                .completion
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
            #[cfg(test)]
            {
                inner.wakeups += 1;
            }
        };
        inner.completion_waiters -= 1;
        outcome
    }

    /// The queue's watermarks, without a lock.
    pub fn state(&self) -> QueueState {
        // In this order, so that each later read is at least the earlier one (see QueueState).
        let drained = self.drained.0.load(Ordering::SeqCst);
        let completed = self.completed.load(Ordering::Acquire);
        let reserved = self.reserved.0.load(Ordering::Acquire);
        QueueState {
            reserved: Lsn::new(reserved),
            completed: Lsn::new(completed),
            drained: Lsn::new(drained),
            capacity_bytes: self.capacity_bytes,
        }
    }

    /// Whether the range `[lsn, end)` may be handed over now (see *Backpressure*).
    #[inline]
    fn admits(&self, lsn: u64, end: u64) -> bool {
        let drained = self.drained.0.load(Ordering::SeqCst);
        lsn == drained || end - drained <= self.capacity_bytes
    }

    /// Hands over the frames of `[lsn, end)`.
    fn complete(&self, lsn: u64, end: u64, frames: &[u8]) -> Result<(), QueueError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.check_usable(lsn)?;
        if lsn != inner.completed {
            debug_assert!(lsn > inner.completed, "a range completes once");
            inner.park(lsn, frames);
            return Ok(());
        }
        inner.ready.extend_from_slice(frames);
        inner.completed = end;
        while inner
            .parked
            .front()
            .is_some_and(|&(parked, _)| parked == inner.completed)
        {
            let Some((_, mut buffer)) = inner.parked.pop_front() else {
                break;
            };
            inner.ready.extend_from_slice(&buffer);
            inner.completed += buffer.len() as u64;
            if inner.free.len() < PARKED_BUFFERS_FREE_MAX {
                buffer.clear();
                inner.free.push(buffer);
            }
        }
        self.completed.store(inner.completed, Ordering::Release);
        if inner.completion_waiters > 0 {
            self.completion.notify_all();
        }
        // Blocked writers wake to drain what just completed.
        if self.room_waiters.load(Ordering::Relaxed) > 0 {
            self.room.notify_all();
        }
        Ok(())
    }

    /// Marks `[lsn, end)` as never to be completed, and wakes everyone so nobody waits for it.
    fn abandon(&self, lsn: u64, end: u64) {
        let mut inner = self.lock();
        if inner.abandoned.is_none_or(|(lowest, _)| lsn < lowest) {
            inner.abandoned = Some((lsn, end));
        }
        self.completion.notify_all();
        self.room.notify_all();
    }

    /// Marks the queue failed after a drain lost the frames past `drained`, and wakes everyone.
    fn fail_drain(&self, drained: u64) {
        let mut inner = self.lock();
        inner.drain_failed.get_or_insert(drained);
        self.completion.notify_all();
        self.room.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing in this module panics while holding the lock (a panic inside would be an
        // allocation failure, which aborts), so a poisoned lock still guards consistent state.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Keeps the frames of a range completed past a gap, joining the run that ends where it
    /// starts, if any.
    fn park(&mut self, lsn: u64, frames: &[u8]) {
        let at = self.parked.partition_point(|&(start, _)| start < lsn);
        if let Some((start, run)) = at
            .checked_sub(1)
            .and_then(|before| self.parked.get_mut(before))
        {
            if *start + run.len() as u64 == lsn {
                run.extend_from_slice(frames);
                return;
            }
        }
        let mut run = self.free.pop().unwrap_or_default();
        run.extend_from_slice(frames);
        self.parked.insert(at, (lsn, run));
    }

    /// Fails if the range starting at `lsn` can never be drained.
    fn check_usable(&self, lsn: u64) -> Result<(), QueueError> {
        if let Some(drained) = self.drain_failed {
            return Err(QueueError::DrainFailed {
                drained: Lsn::new(drained),
            });
        }
        match self.abandoned {
            Some((abandoned_lsn, end)) if abandoned_lsn < lsn => Err(abandoned(abandoned_lsn, end)),
            _ => Ok(()),
        }
    }
}

fn abandoned(lsn: u64, end: u64) -> QueueError {
    QueueError::Abandoned {
        lsn: Lsn::new(lsn),
        end: Lsn::new(end),
    }
}

impl<'q> Reservation<'q> {
    /// The LSN the range starts at: encode the frame at this LSN.
    #[inline]
    pub fn lsn(&self) -> Lsn {
        Lsn::new(self.0.lsn)
    }

    /// The LSN just past the range.
    #[inline]
    pub fn end(&self) -> Lsn {
        Lsn::new(self.0.end)
    }

    /// Hands over the range's frames: exactly `end - lsn` bytes, encoded at `lsn`. They are
    /// copied, so the caller can reuse its buffer. Never blocks on the writer's lock.
    ///
    /// Fails (and abandons the range) if `frames` has the wrong length, or if the queue can no
    /// longer drain this range (an earlier range was abandoned, or a drain failed): the record
    /// is not in the log.
    #[inline]
    pub fn complete(self, frames: &[u8]) -> Result<(), QueueError> {
        let claim = self.0;
        let expected = claim.end - claim.lsn;
        if frames.len() as u64 != expected {
            return Err(QueueError::LengthMismatch {
                lsn: Lsn::new(claim.lsn),
                expected,
                got: frames.len(),
            });
        }
        claim.queue.complete(claim.lsn, claim.end, frames)?;
        std::mem::forget(claim);
        Ok(())
    }
}

impl<'q> Blocked<'q> {
    /// The LSN the range starts at.
    #[inline]
    pub fn lsn(&self) -> Lsn {
        Lsn::new(self.0.lsn)
    }

    /// Sleeps until the range is admitted ([`Reserved::Ready`]), or until completed frames
    /// are waiting that no drain has taken ([`Reserved::Full`]: drain, then wait again).
    /// Returns at once if either already holds. Fails, abandoning the range, if it can never be
    /// admitted (an earlier range was abandoned, or a drain failed). See *Lock order*: never
    /// call it holding the drainer's lock.
    pub fn wait(self) -> Result<Reserved<'q>, QueueError> {
        let Blocked(claim) = self;
        let queue = claim.queue;
        let mut inner = queue.lock();
        queue.room_waiters.fetch_add(1, Ordering::SeqCst);
        let outcome = loop {
            if let Err(err) = inner.check_usable(claim.lsn) {
                break Err(err);
            }
            if queue.admits(claim.lsn, claim.end) {
                break Ok(true);
            }
            if inner.completed > inner.taken {
                break Ok(false);
            }
            inner = queue
                .room
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
            #[cfg(test)]
            {
                inner.wakeups += 1;
            }
        };
        queue.room_waiters.fetch_sub(1, Ordering::SeqCst);
        drop(inner);
        match outcome {
            Ok(true) => Ok(Reserved::Ready(Reservation(claim))),
            Ok(false) => Ok(Reserved::Full(Blocked(claim))),
            Err(err) => Err(err),
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.queue.abandon(self.lsn, self.end);
    }
}

impl Drainer {
    /// The queue this drainer drains.
    pub fn queue(&self) -> &Arc<AppendQueue> {
        &self.queue
    }

    /// Hands the completed contiguous prefix past the drained end to `sink`, in one call with
    /// its starting LSN (whole frames, contiguous, in LSN order), and returns the new drained
    /// end. Calls nothing and returns the drained end when nothing is completed past it. Never
    /// waits: ranges completed past a gap stay queued until the gap fills.
    ///
    /// `sink` runs without the queue's lock (writers keep completing) and must not drain.
    /// If it fails or panics, the frames it was given are lost and the queue is failed.
    /// If an abandoned range starts at the new drained end, the prefix before it is handed over
    /// and the drain fails with [`QueueError::Abandoned`].
    pub fn drain<E>(
        &mut self,
        sink: impl FnOnce(Lsn, &[u8]) -> Result<(), E>,
    ) -> Result<Lsn, DrainError<E>> {
        let queue = &*self.queue;
        // Only this drainer writes `drained`, so its own last store is the current value.
        let drained = queue.drained.0.load(Ordering::Relaxed);
        let hole = {
            let mut guard = queue.lock();
            let inner = &mut *guard;
            if let Some(at) = inner.drain_failed {
                return Err(DrainError::Queue(QueueError::DrainFailed {
                    drained: Lsn::new(at),
                }));
            }
            debug_assert_eq!(inner.taken, drained, "only the drainer moves both");
            if inner.completed > inner.taken {
                std::mem::swap(&mut inner.ready, &mut self.spare);
                inner.taken = inner.completed;
            }
            inner
                .abandoned
                .filter(|&(lsn, _)| lsn == inner.taken)
                .map(|(lsn, end)| abandoned(lsn, end))
        };
        let mut now = drained;
        if !self.spare.is_empty() {
            let mut unwind = FailOnUnwind {
                queue,
                drained,
                armed: true,
            };
            let handed = sink(Lsn::new(drained), &self.spare);
            unwind.armed = false;
            now = drained + self.spare.len() as u64;
            self.spare.clear();
            if let Err(err) = handed {
                queue.fail_drain(drained);
                return Err(DrainError::Sink(err));
            }
            queue.drained.0.store(now, Ordering::SeqCst);
            if queue.room_waiters.load(Ordering::SeqCst) > 0 {
                // Under the lock, so a writer between its check and its sleep cannot miss it.
                let _inner = queue.lock();
                queue.room.notify_all();
            }
        }
        match hole {
            Some(err) => Err(DrainError::Queue(err)),
            None => Ok(Lsn::new(now)),
        }
    }
}

/// Fails the queue if a drain's sink unwinds with the frames in hand, so that blocked writers
/// are told instead of waiting for a drained end that will never move.
struct FailOnUnwind<'q> {
    queue: &'q AppendQueue,
    drained: u64,
    armed: bool,
}

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.queue.fail_drain(self.drained);
        }
    }
}

#[cfg(test)]
impl AppendQueue {
    /// Bytes of frames the queue holds right now: handed to a running drain, ready, and
    /// parked. The memory bound says this never exceeds the capacity (or one larger frame).
    fn buffered_bytes(&self) -> u64 {
        let inner = self.lock();
        let in_drain = inner.taken - self.drained.0.load(Ordering::SeqCst);
        let parked: usize = inner.parked.iter().map(|(_, buffer)| buffer.len()).sum();
        in_drain + inner.ready.len() as u64 + parked as u64
    }

    /// How many times waiters have woken up so far.
    fn wakeups(&self) -> u64 {
        self.lock().wakeups
    }
}

#[cfg(test)]
mod tests;
