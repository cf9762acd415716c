//! The worker's side: [`worker_main`] serves one [`WorkerLog`] on OPFS to the page, by messages.
//!
//! The group-commit window is this worker's event loop. Each page message (a batch of ops) is
//! handled at once: appends and commits go into the writer's buffer and commits register with
//! the state machine. The flush those commits need ends the window: right after the message
//! when the page sent it to an idle worker (no flush was running, so nothing had piled up), or
//! as a new task (`setTimeout(0)`) when the message waited during the previous flush, so that
//! every message that piled up with it is handled, and its commits appended, before the flush
//! runs (see `FlushScheduler`). Commits that arrive while a flush blocks the worker form the
//! next group; no commit waits on a timer delay. With `flushPerCommit` every commit is flushed
//! at once instead (the benchmark's baseline).
//!
//! Several tabs: the page's `open` makes this worker queue for the log's Web Lock (`tabs`). The
//! holder leads: it opens the file and serves its own page as above, and its followers' ops
//! too (`leader`), telling each follower where its records will lie before any byte of them
//! can be written. A worker waiting for the lock follows: it forwards its page's ops to the
//! leader and relays the answers (`follower`); when the leader is lost, the next worker in the
//! queue leads, and the ops the lost leader never answered are decided by `forwarded`. Where
//! Web Locks do not exist, the worker opens the file at once (one tab per log).
//!
//! Invariants: one log per worker; every op gets exactly one answer (an LSN in the `acks`
//! columns, or a reply object); the answers and events of one step go out in one message; the
//! OPFS handle is closed on `close`, and by the browser when the worker ends (page closed or
//! reloaded), which releases the file's lock and the Web Lock.

mod answers;
mod follower;
mod leader;

use crate::batch::{BatchOp, OpBatch};
use crate::forwarded::Outstanding;
use crate::log_error::LogError;
use crate::opfs_storage::OpfsStorage;
use crate::protocol::{
    decode_open, event_to_js, lsn_to_js, read_page_to_js, recovery_to_js, set, stats_to_js,
    FlushScheduler, OpenRequest,
};
use crate::worker_log::{CommitOutcome, FlushPolicy, RequestId, WorkerLog};
use answers::{Answers, Routes};
use js_sys::{Array, Function, Object};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use walden_core::Lsn;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    BroadcastChannel, DedicatedWorkerGlobalScope, MessageChannel, MessageEvent, MessagePort,
};

/// What this worker is to the log it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// No log opened yet.
    Idle,
    /// Opened, waiting for the Web Lock and listening for a leader.
    Joining,
    /// Another tab's worker leads: ops are forwarded to it.
    Follower,
    /// This worker holds the lock and the file.
    Leader,
    /// Closed (or failed to lead): nothing more is served.
    Closed,
}

/// How this worker meets the others serving the same log (see `tabs`).
struct Sharing {
    name: String,
    /// This worker's id.
    tab: String,
    log_channel: BroadcastChannel,
    /// Where this worker hears from the others.
    inbox: BroadcastChannel,
    /// Releases the Web Lock.
    release: Option<Function>,
    /// The channels to other workers, by tab.
    outboxes: HashMap<String, BroadcastChannel>,
}

/// The state of the worker: its log (once open) and the flush it has scheduled.
struct WorkerState {
    scope: DedicatedWorkerGlobalScope,
    log: RefCell<Option<WorkerLog<OpfsStorage>>>,
    opening: Cell<bool>,
    /// Posting on this port runs a flush as a new task, after the messages already queued.
    flush_port: MessagePort,
    /// Calling this runs a flush (for `setTimeout` and `queueMicrotask`).
    flush_callback: RefCell<Option<Function>>,
    scheduler: Cell<FlushScheduler>,
    flush_scheduled: Cell<bool>,
    /// When the last flush ended, as `performance.timeOrigin + performance.now()` (the clock
    /// the page stamps its messages with): a message sent before it waited during that flush.
    last_flush_end_ms: Cell<f64>,
    role: Cell<Role>,
    /// The page's open request, kept for when this worker comes to lead.
    request: RefCell<Option<OpenRequest>>,
    /// The page's open, until answered.
    open_id: Cell<Option<RequestId>>,
    sharing: RefCell<Option<Sharing>>,
    /// Leaders this worker has heard of (the epoch of the next one it would be).
    epoch: Cell<u32>,
    /// As a follower: the leader's tab, the ops forwarded to it, those waiting for a leader,
    /// the page's close waiting for them, and the durable LSN last heard.
    leader: RefCell<Option<String>>,
    outstanding: RefCell<Outstanding>,
    unsent: RefCell<OpBatch>,
    closing: Cell<Option<RequestId>>,
    durable: Cell<Lsn>,
    /// As the leader: where its records end after recovery, the followers' ops in flight, and
    /// the durable LSN last broadcast.
    recovered_end: Cell<Lsn>,
    routes: RefCell<Routes>,
    has_followers: Cell<bool>,
    broadcast_durable: Cell<Lsn>,
}

/// Starts serving a log in this dedicated worker: the package's `walden-worker.js` calls it
/// once the wasm module is initialised. Posts `{ready: true}` to the page when listening.
#[wasm_bindgen(js_name = workerMain)]
pub fn worker_main() -> Result<(), JsValue> {
    let scope = js_sys::global()
        .dyn_into::<DedicatedWorkerGlobalScope>()
        .map_err(|_| {
            JsValue::from_str(
                "workerMain must run in a dedicated worker (OPFS sync access handles exist only there)",
            )
        })?;
    let channel = MessageChannel::new()?;
    let state = Rc::new(WorkerState {
        scope: scope.clone(),
        log: RefCell::new(None),
        opening: Cell::new(false),
        flush_port: channel.port2(),
        flush_callback: RefCell::new(None),
        scheduler: Cell::new(FlushScheduler::Adaptive),
        flush_scheduled: Cell::new(false),
        last_flush_end_ms: Cell::new(f64::NEG_INFINITY),
        role: Cell::new(Role::Idle),
        request: RefCell::new(None),
        open_id: Cell::new(None),
        sharing: RefCell::new(None),
        epoch: Cell::new(0),
        leader: RefCell::new(None),
        outstanding: RefCell::new(Outstanding::default()),
        unsent: RefCell::new(OpBatch::default()),
        closing: Cell::new(None),
        durable: Cell::new(Lsn::ZERO),
        recovered_end: Cell::new(Lsn::ZERO),
        routes: RefCell::new(Routes::default()),
        has_followers: Cell::new(false),
        broadcast_durable: Cell::new(Lsn::ZERO),
    });
    let flusher = Rc::clone(&state);
    let flush_callback = Closure::<dyn FnMut()>::new(move || flusher.run_flush());
    *state.flush_callback.borrow_mut() =
        Some(flush_callback.as_ref().unchecked_ref::<Function>().clone());
    flush_callback.forget();
    let flusher = Rc::clone(&state);
    let on_flush = Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| {
        flusher.run_flush();
    });
    channel
        .port1()
        .set_onmessage(Some(on_flush.as_ref().unchecked_ref()));
    // The handlers live as long as the worker.
    on_flush.forget();
    let handler = Rc::clone(&state);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        handler.handle(&event.data());
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let ready = Object::new();
    set(&ready, "ready", true);
    scope.post_message(&ready)
}

thread_local! {
    /// Milliseconds this worker spent handling messages and running flushes (its CPU time,
    /// the flushes' `flush()` waits included): `stats().workerBusyMs`, for profiling.
    static BUSY_MS: Cell<f64> = const { Cell::new(0.0) };
}

/// Runs `work`, adding its time to [`BUSY_MS`].
fn timed<T>(work: impl FnOnce() -> T) -> T {
    let start = now_ms();
    let out = work();
    BUSY_MS.with(|busy| busy.set(busy.get() + (now_ms() - start)));
    out
}

impl WorkerState {
    fn handle(self: &Rc<Self>, data: &JsValue) {
        timed(|| self.handle_message(data));
    }

    fn handle_message(self: &Rc<Self>, data: &JsValue) {
        let mut answers = Answers::default();
        if let Some((id, open)) = decode_open(data) {
            match open {
                Ok(open) => self.open(id, open),
                Err(err) => answers.error(id, &err),
            }
        }
        match OpBatch::from_js(data) {
            None => {}
            Some(Err(err)) => {
                // Unreadable: nothing can be answered by id.
                web_sys::console::error_1(&err.to_string().into());
            }
            Some(Ok(batch)) if matches!(self.role.get(), Role::Joining | Role::Follower) => {
                self.send(answers);
                self.forward_page_batch(&batch);
                return;
            }
            Some(Ok(batch)) => match batch.validate() {
                Err(err) => batch.ids().for_each(|id| answers.error(id, &err)),
                Ok(()) => {
                    for (id, op) in batch.ops() {
                        match op {
                            Ok(op) => self.serve(id, op, &mut answers),
                            Err(err) => answers.error(id, &err),
                        }
                    }
                }
            },
        }
        self.send(answers);
        // A message sent after the last flush ended was sent to an idle worker: nothing piled
        // up with it, so its flush need not wait. One without a stamp counts as piled up.
        let sent_at = crate::protocol::get(data, "sentAt")
            .as_f64()
            .unwrap_or(f64::NEG_INFINITY);
        let queued_behind_flush = sent_at <= self.last_flush_end_ms.get();
        self.schedule_flush_if_due(queued_behind_flush);
    }

    fn serve(&self, id: RequestId, op: BatchOp<'_>, answers: &mut Answers) {
        let mut guard = self.log.borrow_mut();
        let Some(log) = guard.as_mut() else {
            let err = LogError::Closed {
                message: "the log is not open in this worker (open it first, or it was closed)"
                    .to_owned(),
            };
            answers.error(id, &err);
            return;
        };
        match op {
            BatchOp::Append(payload) => match log.append(payload) {
                Ok(lsn) => answers.lsn(id, lsn),
                Err(err) => answers.error(id, &err),
            },
            BatchOp::Commit(payload) => match log.commit(id, payload) {
                CommitOutcome::Durable(lsn) => answers.lsn(id, lsn),
                CommitOutcome::Failed(err) => answers.error(id, &err),
                CommitOutcome::Queued(_) => {
                    if log.flush_policy() == FlushPolicy::PerCommit {
                        answers.flush(&log.flush(&now_ms));
                    }
                }
            },
            BatchOp::Read { from, max_bytes } => match log.read_page(from, max_bytes) {
                Ok((records, next)) => answers.value(id, read_page_to_js(&records, next)),
                Err(err) => answers.error(id, &err),
            },
            BatchOp::Stats => answers.value(id, stats_value(log)),
            BatchOp::Observe(on) => {
                log.set_observing(on);
                answers.value(id, JsValue::UNDEFINED);
            }
            BatchOp::Truncate => {
                let (report, truncated) = log.truncate(&now_ms);
                answers.flush(&report);
                match truncated {
                    Ok(base) => answers.lsn(id, base),
                    Err(err) => answers.error(id, &err),
                }
            }
            BatchOp::Close => {
                if let Some(log) = guard.take() {
                    let (report, closed) = log.close(&now_ms);
                    answers.flush(&report);
                    match closed {
                        Ok((durable, mut storage)) => {
                            storage.close();
                            answers.lsn(id, durable);
                        }
                        Err(err) => answers.error(id, &err),
                    }
                    // The file is closed: the next tab may lead.
                    drop(guard);
                    self.step_down();
                }
            }
        }
    }

    fn open(self: &Rc<Self>, id: RequestId, open: OpenRequest) {
        if self.role.get() != Role::Idle || self.opening.get() {
            let err = LogError::BadRequest {
                message: "this worker already serves a log; start another worker for another log"
                    .to_owned(),
            };
            let mut answers = Answers::default();
            answers.error(id, &err);
            self.send(answers);
            return;
        }
        self.scheduler.set(open.scheduler);
        self.open_id.set(Some(id));
        let name = open.name.clone();
        *self.request.borrow_mut() = Some(open);
        if !self.join(&name) {
            // No Web Locks here: this worker opens the file at once, alone.
            self.become_leader();
        }
    }

    /// Schedules the flush that waiting commits need, if none is scheduled: see
    /// [`FlushScheduler`]. `backlog` says whether other messages may be queued behind the one
    /// just handled.
    fn schedule_flush_if_due(&self, backlog: bool) {
        let due = self.log.borrow().as_ref().is_some_and(WorkerLog::flush_due);
        if !due || self.flush_scheduled.get() {
            return;
        }
        self.flush_scheduled.set(true);
        let callback = self.flush_callback.borrow().clone();
        let scheduler = match self.scheduler.get() {
            FlushScheduler::Adaptive if backlog => FlushScheduler::Timeout,
            FlushScheduler::Adaptive => FlushScheduler::Microtask,
            other => other,
        };
        let scheduled = match (scheduler, callback) {
            (FlushScheduler::Channel, _) => self.flush_port.post_message(&JsValue::NULL),
            (FlushScheduler::Microtask, Some(callback)) => {
                self.scope.queue_microtask(&callback);
                Ok(())
            }
            (_, Some(callback)) => self
                .scope
                .set_timeout_with_callback_and_timeout_and_arguments_0(&callback, 0)
                .map(drop),
            (_, None) => Err(JsValue::from_str("no flush callback")),
        };
        if let Err(err) = scheduled {
            // Without a scheduled task nobody would flush: flush now rather than hang.
            web_sys::console::error_2(&"walden: could not schedule a flush".into(), &err);
            self.run_flush();
        }
    }

    fn run_flush(&self) {
        timed(|| self.flush_now());
    }

    fn flush_now(&self) {
        self.flush_scheduled.set(false);
        let report = match self.log.borrow_mut().as_mut() {
            Some(log) => log.flush(&now_ms),
            None => return,
        };
        self.last_flush_end_ms.set(epoch_ms());
        let mut answers = Answers::default();
        answers.flush(&report);
        self.send(answers);
        self.schedule_flush_if_due(true);
    }

    /// Posts the answers, the durable LSN and any recorded events in one message, transferring
    /// the LSN columns' buffers.
    fn send(&self, mut answers: Answers) {
        let (events, durable) = match self.log.borrow_mut().as_mut() {
            Some(log) => (log.take_events(), log.durable_lsn()),
            None => (Vec::new(), self.durable.get()),
        };
        self.send_to_followers(&mut answers, durable);
        if answers.page_is_empty() && events.is_empty() {
            return;
        }
        let message = Object::new();
        let transfer = Array::new();
        if !answers.acks.is_empty() {
            let (acks, buffers) = answers.acks.to_js();
            set(&message, "acks", acks);
            for buffer in buffers {
                transfer.push(&buffer);
            }
        }
        if !answers.replies.is_empty() {
            set(
                &message,
                "replies",
                answers.replies.into_iter().collect::<Array>(),
            );
        }
        set(&message, "durable", lsn_to_js(durable));
        if !events.is_empty() {
            set(
                &message,
                "events",
                events.iter().map(event_to_js).collect::<Array>(),
            );
        }
        self.post_to_page(&message, &transfer);
    }

    fn post_to_page(&self, message: &JsValue, transfer: &JsValue) {
        if let Err(err) = self.scope.post_message_with_transfer(message, transfer) {
            web_sys::console::error_2(&"walden: could not post to the page".into(), &err);
        }
    }

    /// Tells the page what this worker now is: `{role: "leader" | "follower", epoch}`.
    fn post_role(&self) {
        let role = match self.role.get() {
            Role::Leader => "leader",
            Role::Follower => "follower",
            _ => return,
        };
        let message = Object::new();
        set(&message, "role", role);
        set(&message, "epoch", self.epoch.get());
        self.post_to_page(&message, &Array::new());
    }
}

/// The stats of `log` as the page sees them, with what recovery found when it was opened
/// (`recovery`) and this worker's wasm memory (`workerMemoryBytes`: it only grows, so it
/// bounds what the worker ever held).
fn stats_value(log: &WorkerLog<OpfsStorage>) -> JsValue {
    let stats = stats_to_js(&log.stats());
    let (recovery, mode, cut) = log.recovery();
    set(
        stats.unchecked_ref(),
        "recovery",
        recovery_to_js(recovery, mode, cut),
    );
    let memory = crate::protocol::get(&wasm_bindgen::memory(), "buffer");
    let bytes = crate::protocol::get(&memory, "byteLength");
    set(stats.unchecked_ref(), "workerMemoryBytes", bytes);
    set(
        stats.unchecked_ref(),
        "workerBusyMs",
        BUSY_MS.with(Cell::get),
    );
    stats
}

/// `performance.timeOrigin + performance.now()`: milliseconds on a clock the page and the
/// worker share (each context's monotonic clock, offset by its wall-clock origin).
fn epoch_ms() -> f64 {
    js_sys::global()
        .dyn_into::<web_sys::WorkerGlobalScope>()
        .ok()
        .and_then(|scope| scope.performance())
        .map_or_else(js_sys::Date::now, |performance| {
            performance.time_origin() + performance.now()
        })
}

/// Milliseconds from the worker's `performance.now()`.
fn now_ms() -> f64 {
    js_sys::global()
        .dyn_into::<web_sys::WorkerGlobalScope>()
        .ok()
        .and_then(|scope| scope.performance())
        .map_or_else(js_sys::Date::now, |performance| performance.now())
}

/// A salt for a new log: it only has to differ between logs and incarnations (it is mixed into
/// every checksum so stale frames fail), not be secret, so `Math.random` and the clock suffice.
fn random_salt() -> u64 {
    let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    ((high << 32) | low) ^ (js_sys::Date::now() as u64).rotate_left(17)
}
