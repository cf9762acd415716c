//! [`Client`]: one page's connection to its log's worker: request ids, the pending promises,
//! the outbox that batches the ops of one task into one message, backpressure, and the
//! worker's answers.
//!
//! Invariants: every promise settles exactly once (an answer, or the worker's failure or
//! closing rejects everything pending); ops reach the worker in the order they were issued,
//! backlogged or not; at most `max_ops` ops and about `max_bytes` payload bytes are in flight
//! (always at least one op, however large), the rest wait in the JavaScript backlog. Every op
//! gets exactly one answer, so the answers a message carries are the ops it takes out of
//! flight; their bytes are counted at the in-flight average (exact for equal sizes, and back to
//! zero whenever nothing is in flight), which keeps the hot path free of per-op bookkeeping.

use super::js::{
    backlog_clear, backlog_peek, backlog_push, backlog_shift, deferred, epoch_now, js_copy,
    new_backlog, new_pending, reject_all, settle, settle_acks,
};
use crate::batch::OpBatch;
use crate::protocol::{error_from_js, get, lsn_from_js, set};
use crate::worker_log::RequestId;
use js_sys::{Array, BigUint64Array, Float64Array, Function, Object, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use walden_core::Lsn;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{ErrorEvent, MessageEvent, Worker};

/// The default bound on ops in flight.
pub(crate) const DEFAULT_MAX_PENDING_OPS: u32 = 4096;
/// The default bound on payload bytes in flight: 4 MiB.
pub(crate) const DEFAULT_MAX_PENDING_BYTES: u32 = 4 << 20;

/// A worker event handler.
pub(crate) type Handler = Closure<dyn FnMut(JsValue)>;

/// A record's bytes, from JavaScript or from Rust.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    Js(&'a Uint8Array),
    Bytes(&'a [u8]),
}

impl Payload<'_> {
    fn len(&self) -> u32 {
        match self {
            Payload::Js(array) => array.length(),
            Payload::Bytes(bytes) => u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }
    }
}

/// One op a page issues.
#[derive(Clone, Copy)]
pub(crate) enum Op<'a> {
    Payload { commit: bool, payload: Payload<'a> },
    Read { from: Lsn, max_bytes: u32 },
    Stats,
    Observe(bool),
    Truncate,
    Close,
}

// Backlog entries: `[kind, id, arg, len]`, kinds numbered as here.
const APPEND: u8 = 1;
const COMMIT: u8 = 2;
const READ: u8 = 3;
const STATS: u8 = 4;
const OBSERVE: u8 = 5;
const CLOSE: u8 = 6;
const TRUNCATE: u8 = 7;

impl Op<'_> {
    /// The payload bytes it puts in flight.
    fn bytes(&self) -> u32 {
        match self {
            Op::Payload { payload, .. } => payload.len(),
            _ => 0,
        }
    }

    fn push(&self, batch: &mut OpBatch, id: RequestId) {
        match *self {
            Op::Payload {
                commit,
                payload: Payload::Js(array),
            } => batch.push_js_payload(commit, id, array),
            Op::Payload {
                commit,
                payload: Payload::Bytes(bytes),
            } => batch.push_payload(commit, id, bytes),
            Op::Read { from, max_bytes } => batch.push_read(id, from, max_bytes),
            Op::Stats => batch.push_stats(id),
            Op::Observe(on) => batch.push_observe(id, on),
            Op::Truncate => batch.push_truncate(id),
            Op::Close => batch.push_close(id),
        }
    }

    /// Queues it in the backlog, copying its payload into JavaScript memory.
    fn backlog(&self, backlog: &JsValue, id: RequestId) {
        let id = id as f64;
        match *self {
            Op::Payload { commit, payload } => {
                let kind = if commit { COMMIT } else { APPEND };
                let copy = match payload {
                    Payload::Js(array) => array.slice(0, array.length()),
                    Payload::Bytes(bytes) => js_copy(bytes),
                };
                backlog_push(backlog, kind, id, &copy, f64::from(payload.len()));
            }
            Op::Read { from, max_bytes } => {
                backlog_push(
                    backlog,
                    READ,
                    id,
                    &JsValue::from(from.get()),
                    f64::from(max_bytes),
                );
            }
            Op::Stats => backlog_push(backlog, STATS, id, &JsValue::UNDEFINED, 0.0),
            Op::Observe(on) => backlog_push(backlog, OBSERVE, id, &JsValue::from(on), 0.0),
            Op::Truncate => backlog_push(backlog, TRUNCATE, id, &JsValue::UNDEFINED, 0.0),
            Op::Close => backlog_push(backlog, CLOSE, id, &JsValue::UNDEFINED, 0.0),
        }
    }

    /// Pushes a backlog entry into the batch.
    fn push_backlogged(entry: &Array, batch: &mut OpBatch) {
        let kind = entry.get(0).as_f64().unwrap_or(0.0) as u8;
        let id = entry.get(1).as_f64().unwrap_or(0.0) as RequestId;
        let arg = entry.get(2);
        let len = entry.get(3).as_f64().unwrap_or(0.0) as u32;
        match kind {
            APPEND | COMMIT => {
                batch.push_js_payload(kind == COMMIT, id, arg.unchecked_ref::<Uint8Array>());
            }
            READ => batch.push_read(id, lsn_from_js(&arg).unwrap_or(Lsn::ZERO), len),
            STATS => batch.push_stats(id),
            OBSERVE => batch.push_observe(id, arg.as_bool() == Some(true)),
            TRUNCATE => batch.push_truncate(id),
            _ => batch.push_close(id),
        }
    }
}

pub(crate) struct Client {
    pub(crate) name: String,
    pub(crate) worker: Worker,
    next_id: Cell<RequestId>,
    /// The JavaScript `Map` of pending promises (see `js::deferred`).
    pending: JsValue,
    /// Ops issued over the in-flight bound, in order (see `js::newBacklog`), and how many.
    backlog: JsValue,
    backlogged: Cell<u32>,
    max_ops: u32,
    max_bytes: f64,
    /// Ops posted (or about to be) and not yet answered, and their payload bytes.
    flight_ops: Cell<u32>,
    flight_bytes: Cell<f64>,
    /// The open request, posted once the worker is ready, before any batch.
    pub(crate) open_message: RefCell<Option<Object>>,
    /// Ops issued but not yet posted: posted together at the end of the current task.
    outbox: RefCell<OpBatch>,
    post_scheduled: Cell<bool>,
    ready: Cell<bool>,
    /// Set by the first `close` (or drop, or `terminate`).
    pub(crate) closing: Cell<bool>,
    closed: Cell<bool>,
    pub(crate) durable: Cell<u64>,
    /// What recovery reported when the log was opened.
    pub(crate) recovery: RefCell<JsValue>,
    /// What the worker last said it is to the log: "leader" or "follower".
    pub(crate) role: RefCell<String>,
    pub(crate) listeners: RefCell<Vec<Function>>,
    /// The worker's handlers; dropped on close, which breaks their reference cycle.
    pub(crate) handlers: RefCell<Vec<Handler>>,
}

impl Client {
    pub(crate) fn start(name: String, worker: Worker, max_ops: u32, max_bytes: u32) -> Rc<Client> {
        let client = Rc::new(Client {
            name,
            worker,
            next_id: Cell::new(1),
            pending: new_pending(),
            backlog: new_backlog(),
            backlogged: Cell::new(0),
            max_ops: max_ops.max(1),
            max_bytes: f64::from(max_bytes.max(1)),
            flight_ops: Cell::new(0),
            flight_bytes: Cell::new(0.0),
            outbox: RefCell::new(OpBatch::default()),
            open_message: RefCell::new(None),
            post_scheduled: Cell::new(false),
            ready: Cell::new(false),
            closing: Cell::new(false),
            closed: Cell::new(false),
            durable: Cell::new(0),
            recovery: RefCell::new(JsValue::NULL),
            role: RefCell::new(String::from("leader")),
            listeners: RefCell::new(Vec::new()),
            handlers: RefCell::new(Vec::new()),
        });
        let on_message = {
            let client = Rc::clone(&client);
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                if let Some(event) = event.dyn_ref::<MessageEvent>() {
                    client.receive(&event.data());
                }
            })
        };
        let on_error = {
            let client = Rc::clone(&client);
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let detail = event
                    .dyn_ref::<ErrorEvent>()
                    .map(ErrorEvent::message)
                    .unwrap_or_default();
                client.fail_all(
                    "worker",
                    &format!(
                        "the log's worker failed to load or crashed ({detail}); check that \
                         workerUrl points at walden-worker.js and is served with the package"
                    ),
                );
            })
        };
        client
            .worker
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        client
            .worker
            .set_onerror(Some(on_error.as_ref().unchecked_ref()));
        client.handlers.borrow_mut().push(on_message);
        client.handlers.borrow_mut().push(on_error);
        client
    }

    pub(crate) fn next(&self) -> RequestId {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// A promise for the answer to request `id`, which the caller sends itself (the open).
    pub(crate) fn expect(&self, id: RequestId) -> Promise {
        self.flight_ops.set(self.flight_ops.get() + 1);
        deferred(&self.pending, id as f64)
    }

    /// Whether an op with `bytes` of payload may go in flight now.
    fn has_room(&self, bytes: f64) -> bool {
        let ops = self.flight_ops.get();
        ops == 0 || (ops < self.max_ops && self.flight_bytes.get() + bytes <= self.max_bytes)
    }

    fn take_off(&self, bytes: f64) {
        self.flight_ops.set(self.flight_ops.get() + 1);
        self.flight_bytes.set(self.flight_bytes.get() + bytes);
    }

    /// `answered` ops came back.
    fn landed(&self, answered: u32) {
        let ops = self.flight_ops.get();
        let left = ops.saturating_sub(answered);
        let bytes = if left == 0 {
            0.0
        } else {
            self.flight_bytes.get() * f64::from(left) / f64::from(ops)
        };
        self.flight_ops.set(left);
        self.flight_bytes.set(bytes);
    }

    /// Queues one op for the next post, or in the backlog when the in-flight bound is
    /// reached, and returns the promise its answer settles.
    pub(crate) fn issue(self: &Rc<Self>, op: Op<'_>) -> Promise {
        if self.closed.get() {
            return Promise::reject(&error_value("closed", "the log is closed; open it again"));
        }
        let id = self.next();
        let bytes = f64::from(op.bytes());
        let promise = deferred(&self.pending, id as f64);
        if self.backlogged.get() == 0 && self.has_room(bytes) {
            self.take_off(bytes);
            op.push(&mut self.outbox.borrow_mut(), id);
            self.schedule_post();
        } else {
            op.backlog(&self.backlog, id);
            self.backlogged.set(self.backlogged.get() + 1);
        }
        promise
    }

    /// Moves backlogged ops into the outbox while the bound allows.
    fn drain_backlog(self: &Rc<Self>) {
        let mut moved = false;
        while self.backlogged.get() > 0 {
            let entry = backlog_peek(&self.backlog);
            let kind = entry.get(0).as_f64().unwrap_or(0.0) as u8;
            let bytes = if kind == APPEND || kind == COMMIT {
                entry.get(3).as_f64().unwrap_or(0.0)
            } else {
                0.0
            };
            if !self.has_room(bytes) {
                break;
            }
            let entry = backlog_shift(&self.backlog);
            self.backlogged.set(self.backlogged.get() - 1);
            self.take_off(bytes);
            Op::push_backlogged(&entry, &mut self.outbox.borrow_mut());
            moved = true;
        }
        if moved {
            self.schedule_post();
        }
    }

    pub(crate) fn schedule_post(self: &Rc<Self>) {
        if self.post_scheduled.get() || !self.ready.get() {
            return;
        }
        self.post_scheduled.set(true);
        let client = Rc::clone(self);
        // Runs as a microtask: after the caller's current task has issued all its ops.
        wasm_bindgen_futures::spawn_local(async move {
            client.post_outbox();
        });
    }

    fn post_outbox(&self) {
        self.post_scheduled.set(false);
        if let Some(open) = self.open_message.borrow_mut().take() {
            if let Err(err) = self.worker.post_message(&open) {
                let text = format!("could not post to the log's worker: {err:?}");
                self.fail_all("worker", &text);
                return;
            }
        }
        let batch = std::mem::take(&mut *self.outbox.borrow_mut());
        if batch.is_empty() {
            return;
        }
        let (message, transfer) = batch.to_js();
        set(&message, "sentAt", epoch_now());
        if let Err(err) = self.worker.post_message_with_transfer(&message, &transfer) {
            let text = format!("could not post to the log's worker: {err:?}");
            self.fail_all("worker", &text);
        }
    }

    fn receive(self: &Rc<Self>, data: &JsValue) {
        if get(data, "ready").as_bool() == Some(true) {
            self.ready.set(true);
            self.schedule_post();
            return;
        }
        if let Some(fatal) = get(data, "fatal").as_string() {
            self.fail_all(
                "worker",
                &format!("the log's worker could not start: {fatal}"),
            );
            return;
        }
        if let Some(role) = get(data, "role").as_string() {
            *self.role.borrow_mut() = role;
        }
        if let Some(durable) = lsn_from_js(&get(data, "durable")) {
            self.durable.set(self.durable.get().max(durable.get()));
        }
        let mut answered = 0;
        let acks = get(data, "acks");
        if let (Ok(ids), Ok(lsns)) = (
            get(&acks, "ids").dyn_into::<Float64Array>(),
            get(&acks, "lsns").dyn_into::<BigUint64Array>(),
        ) {
            answered += ids.length();
            settle_acks(&self.pending, &ids, &lsns);
        }
        if let Some(replies) = get(data, "replies").dyn_ref::<Array>() {
            answered += replies.length();
            for reply in replies.iter() {
                self.settle(&reply);
            }
        }
        self.landed(answered);
        if let Some(events) = get(data, "events").dyn_ref::<Array>() {
            let listeners = self.listeners.borrow().clone();
            for event in events.iter() {
                for listener in &listeners {
                    if let Err(err) = listener.call1(&JsValue::NULL, &event) {
                        web_sys::console::error_2(
                            &"walden: an onEvent callback threw".into(),
                            &err,
                        );
                    }
                }
            }
        }
        self.drain_backlog();
    }

    fn settle(&self, reply: &JsValue) {
        let Some(id) = get(reply, "id").as_f64() else {
            return;
        };
        if get(reply, "ok").as_bool() == Some(true) {
            settle(&self.pending, id, true, &get(reply, "value"));
        } else {
            let error = error_from_js(&get(reply, "error"));
            settle(
                &self.pending,
                id,
                false,
                &error_value(error.kind(), error.message()),
            );
        }
    }

    /// Rejects everything pending with `kind` and stops accepting requests.
    pub(crate) fn fail_all(&self, kind: &str, message: &str) {
        self.closed.set(true);
        *self.outbox.borrow_mut() = OpBatch::default();
        backlog_clear(&self.backlog);
        self.backlogged.set(0);
        self.flight_ops.set(0);
        self.flight_bytes.set(0.0);
        self.open_message.borrow_mut().take();
        reject_all(&self.pending, &error_value(kind, message));
    }

    /// Ends the worker (the browser closes its OPFS handle, releasing the lock) and rejects
    /// whatever was still pending.
    pub(crate) fn shut_down(&self, why: &str) {
        self.worker.terminate();
        self.fail_all("closed", &format!("{why}; open it again to use it"));
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.handlers.borrow_mut().clear();
    }
}

/// An `Error` with a `kind`, what every promise of this API rejects with.
pub(crate) fn error_value(kind: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("WaldenError");
    set(&error, "kind", kind);
    error.into()
}
