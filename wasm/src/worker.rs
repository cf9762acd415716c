//! The worker's side: [`worker_main`] serves one [`WorkerLog`] on OPFS to the page, by messages.
//!
//! The group-commit window is this worker's event loop. Each page message (a batch of ops) is
//! handled at once: appends and commits go into the writer's buffer and commits register with
//! the state machine. The first commit that needs a flush schedules one as a separate task (a
//! message on a private `MessageChannel`), so every message already queued is handled, and its
//! commits appended, before the flush runs; commits that arrive while the flush blocks the
//! worker are handled after it and form the next group. With `flushPerCommit` every commit is
//! flushed at once instead (the benchmark's baseline).
//!
//! Invariants: one log per worker; every op gets exactly one reply; replies and events of one
//! step go out in one message; the OPFS handle is closed on `close`, and by the browser when
//! the worker ends (page closed or reloaded), which releases the lock.

use crate::log_error::LogError;
use crate::opfs_storage::OpfsStorage;
use crate::protocol::{
    decode_ops, event_to_js, lsn_to_js, records_to_js, reply_err, reply_ok, set, stats_to_js,
    FlushScheduler, Op,
};
use crate::worker_log::{
    CommitOutcome, FlushPolicy, FlushReport, LogOptions, RequestId, WorkerLog,
};
use js_sys::{Array, Function, Object};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DedicatedWorkerGlobalScope, MessageChannel, MessageEvent, MessagePort};

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
        scheduler: Cell::new(FlushScheduler::Timeout),
        flush_scheduled: Cell::new(false),
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

impl WorkerState {
    fn handle(self: &Rc<Self>, data: &JsValue) {
        let mut replies = Vec::new();
        for (id, op) in decode_ops(data) {
            match op {
                Err(err) => replies.push(reply_err(id, &err)),
                Ok(Op::Open {
                    name,
                    options,
                    observe,
                    scheduler,
                }) => {
                    self.scheduler.set(scheduler);
                    self.open(id, name, options, observe);
                }
                Ok(op) => self.serve(id, op, &mut replies),
            }
        }
        self.send(replies);
        self.schedule_flush_if_due();
    }

    fn serve(&self, id: RequestId, op: Op, replies: &mut Vec<JsValue>) {
        let mut guard = self.log.borrow_mut();
        let Some(log) = guard.as_mut() else {
            let err = LogError::Closed {
                message: "the log is not open in this worker (open it first, or it was closed)"
                    .to_owned(),
            };
            replies.push(reply_err(id, &err));
            return;
        };
        match op {
            Op::Append(payload) => replies.push(match log.append(&payload) {
                Ok(lsn) => reply_ok(id, lsn_to_js(lsn)),
                Err(err) => reply_err(id, &err),
            }),
            Op::Commit(payload) => match log.commit(id, &payload) {
                CommitOutcome::Durable(lsn) => replies.push(reply_ok(id, lsn_to_js(lsn))),
                CommitOutcome::Failed(err) => replies.push(reply_err(id, &err)),
                CommitOutcome::Queued(_) => {
                    if log.flush_policy() == FlushPolicy::PerCommit {
                        let report = log.flush(&now_ms);
                        push_answers(&report, replies);
                    }
                }
            },
            Op::Read { from, max_bytes } => replies.push(match log.read(from, max_bytes) {
                Ok(records) => reply_ok(id, records_to_js(&records)),
                Err(err) => reply_err(id, &err),
            }),
            Op::Stats => replies.push(reply_ok(id, stats_to_js(&log.stats()))),
            Op::Observe(on) => {
                log.set_observing(on);
                replies.push(reply_ok(id, JsValue::UNDEFINED));
            }
            Op::Close => {
                if let Some(log) = guard.take() {
                    let (report, closed) = log.close(&now_ms);
                    push_answers(&report, replies);
                    replies.push(match closed {
                        Ok((durable, mut storage)) => {
                            storage.close();
                            reply_ok(id, lsn_to_js(durable))
                        }
                        Err(err) => reply_err(id, &err),
                    });
                }
            }
            Op::Open { .. } => {}
        }
    }

    fn open(self: &Rc<Self>, id: RequestId, name: String, options: LogOptions, observe: bool) {
        if self.log.borrow().is_some() || self.opening.get() {
            let err = LogError::BadRequest {
                message: "this worker already serves a log; start another worker for another log"
                    .to_owned(),
            };
            self.send(vec![reply_err(id, &err)]);
            return;
        }
        self.opening.set(true);
        let state = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            let opened = match OpfsStorage::open(&name).await {
                Ok(storage) => WorkerLog::recover(storage, options, random_salt()),
                Err(err) => Err(LogError::from(err)),
            };
            state.opening.set(false);
            let reply = match opened {
                Ok(mut log) => {
                    log.set_observing(observe);
                    let stats = stats_to_js(&log.stats());
                    *state.log.borrow_mut() = Some(log);
                    reply_ok(id, stats)
                }
                Err(err) => reply_err(id, &err),
            };
            state.send(vec![reply]);
        });
    }

    fn schedule_flush_if_due(&self) {
        let due = self.log.borrow().as_ref().is_some_and(WorkerLog::flush_due);
        if !due || self.flush_scheduled.get() {
            return;
        }
        self.flush_scheduled.set(true);
        let callback = self.flush_callback.borrow().clone();
        let scheduled = match (self.scheduler.get(), callback) {
            (FlushScheduler::Channel, _) => self.flush_port.post_message(&JsValue::NULL),
            (FlushScheduler::Timeout, Some(callback)) => self
                .scope
                .set_timeout_with_callback_and_timeout_and_arguments_0(&callback, 0)
                .map(drop),
            (FlushScheduler::Microtask, Some(callback)) => {
                self.scope.queue_microtask(&callback);
                Ok(())
            }
            (_, None) => Err(JsValue::from_str("no flush callback")),
        };
        if let Err(err) = scheduled {
            // Without a scheduled task nobody would flush: flush now rather than hang.
            web_sys::console::error_2(&"walden: could not schedule a flush".into(), &err);
            self.run_flush();
        }
    }

    fn run_flush(&self) {
        self.flush_scheduled.set(false);
        let report = match self.log.borrow_mut().as_mut() {
            Some(log) => log.flush(&now_ms),
            None => return,
        };
        let mut replies = Vec::with_capacity(report.answers.len());
        push_answers(&report, &mut replies);
        self.send(replies);
        self.schedule_flush_if_due();
    }

    /// Posts `replies`, the durable LSN and any recorded events in one message.
    fn send(&self, replies: Vec<JsValue>) {
        let (events, durable) = match self.log.borrow_mut().as_mut() {
            Some(log) => (log.take_events(), Some(log.durable_lsn())),
            None => (Vec::new(), None),
        };
        if replies.is_empty() && events.is_empty() {
            return;
        }
        let message = Object::new();
        set(&message, "replies", replies.into_iter().collect::<Array>());
        if let Some(durable) = durable {
            set(&message, "durable", lsn_to_js(durable));
        }
        if !events.is_empty() {
            set(
                &message,
                "events",
                events.iter().map(event_to_js).collect::<Array>(),
            );
        }
        if let Err(err) = self.scope.post_message(&message) {
            web_sys::console::error_2(&"walden: could not post to the page".into(), &err);
        }
    }
}

fn push_answers(report: &FlushReport, replies: &mut Vec<JsValue>) {
    for (id, answer) in &report.answers {
        replies.push(match answer {
            Ok(lsn) => reply_ok(*id, lsn_to_js(*lsn)),
            Err(err) => reply_err(*id, err),
        });
    }
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
