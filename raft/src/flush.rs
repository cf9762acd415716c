//! [`notify_when_durable`]: tells openraft an append is flushed from the thread that made it
//! durable, with no task or runtime in between.
//!
//! The batch's durability is a [`CommitFuture`] (`Wal::wait_durable_async`). Rather than
//! spawning a task to await it (two more thread wake-ups before openraft hears of it), the
//! future is polled by its own waker: the first poll registers it with Walden's flusher, and the
//! flusher's wake-up, after its sync, polls it again on the flusher thread, which then calls
//! openraft's callback (a one-shot send).
//!
//! Invariants:
//! - The callback is called exactly once: with `Ok` once the batch is durable, or with the
//!   error (a poisoned log) that the future resolved to. It is never called before.
//! - The future is polled under its slot's lock, so a wake-up racing the first poll waits for
//!   it and then polls again; a poll after the future resolved finds the slot empty.
//! - Memory: one slot per append in flight, freed when its callback is called.

use crate::error::Error;
use openraft::storage::LogFlushed;
use openraft::RaftTypeConfig;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use walden::CommitFuture;

/// The future and the callback waiting on it.
struct Pending<C: RaftTypeConfig> {
    slot: Mutex<Option<(CommitFuture, LogFlushed<C>)>>,
}

/// Calls `callback` once `durable` resolves (at once if it already has).
pub(crate) fn notify_when_durable<C: RaftTypeConfig>(
    durable: CommitFuture,
    callback: LogFlushed<C>,
) {
    let pending = Arc::new(Pending {
        slot: Mutex::new(Some((durable, callback))),
    });
    pending.poll();
}

impl<C: RaftTypeConfig> Pending<C> {
    fn poll(self: &Arc<Self>) {
        let mut slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((future, _)) = slot.as_mut() else {
            return;
        };
        let waker = Waker::from(Arc::clone(self));
        let result = match Pin::new(future).poll(&mut Context::from_waker(&waker)) {
            Poll::Pending => return,
            Poll::Ready(result) => result,
        };
        let Some((_, callback)) = slot.take() else {
            return;
        };
        drop(slot);
        callback.log_io_completed(result.map(|_| ()).map_err(|err| Error::Wal(err).into_io()));
    }
}

impl<C: RaftTypeConfig> Wake for Pending<C> {
    fn wake(self: Arc<Self>) {
        self.poll();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.poll();
    }
}
