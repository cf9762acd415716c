//! [`WaldenLog`]: the page's handle on a log served by a dedicated worker. The same class is
//! the JavaScript API (`WaldenLog.open(name)`, `commit(bytes)`, ...) and the Rust one (the
//! `*_record(s)` futures with typed [`LogError`]s), for the dashboard.
//!
//! Ops issued within one task are posted to the worker as one message (in a microtask), in the
//! binary batch form of `batch`, so a burst of commits costs one message and lands in one
//! flush. Each op's promise settles when the worker's answer with its id arrives: `commit`
//! once its record is durable. The promises' resolvers stay in a JavaScript `Map`, so a flush's
//! LSN answers are settled by one call into JavaScript, not one per commit.
//!
//! Invariants: every promise settles exactly once (a reply, or the worker's failure or
//! closing rejects everything pending with `closed`); LSNs are `bigint`s; errors reject with
//! an `Error` whose `kind` is [`LogError::kind`].

use crate::batch::OpBatch;
use crate::log_error::LogError;
use crate::protocol::{error_from_js, get, lsn_from_js, lsn_to_js, set, DEFAULT_READ_MAX_BYTES};
use crate::worker_log::RequestId;
use js_sys::{Array, BigUint64Array, Float64Array, Function, Object, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use walden_core::Lsn;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

/// The pending promises live on the JavaScript side, in a `Map` from request id to its
/// resolve and reject functions: a burst of LSN answers is then settled by one call per
/// message rather than one per promise.
#[wasm_bindgen(inline_js = r#"
export function defaultWorkerUrl() {
  return new URL('../../walden-worker.js', import.meta.url).href;
}
export function epochNow() { return performance.timeOrigin + performance.now(); }
export function newPending() { return new Map(); }
export function deferred(pending, id) {
  return new Promise((resolve, reject) => { pending.set(id, [resolve, reject]); });
}
export function settle(pending, id, ok, value) {
  const entry = pending.get(id);
  if (entry === undefined) return;
  pending.delete(id);
  entry[ok ? 0 : 1](value);
}
export function settleAcks(pending, ids, lsns) {
  for (let i = 0; i < ids.length; i++) {
    const entry = pending.get(ids[i]);
    if (entry === undefined) continue;
    pending.delete(ids[i]);
    entry[0](lsns[i]);
  }
}
export function rejectAll(pending, error) {
  const entries = [...pending.values()];
  pending.clear();
  for (const entry of entries) entry[1](error);
}
"#)]
extern "C" {
    /// `walden-worker.js` at the package root (this snippet lives in `snippets/<crate>/`).
    #[wasm_bindgen(js_name = defaultWorkerUrl)]
    fn default_worker_url() -> String;
    /// `performance.timeOrigin + performance.now()`, the clock the worker compares with.
    #[wasm_bindgen(js_name = epochNow)]
    fn epoch_now() -> f64;
    #[wasm_bindgen(js_name = newPending)]
    fn new_pending() -> JsValue;
    fn deferred(pending: &JsValue, id: f64) -> Promise;
    fn settle(pending: &JsValue, id: f64, ok: bool, value: &JsValue);
    #[wasm_bindgen(js_name = settleAcks)]
    fn settle_acks(pending: &JsValue, ids: &Float64Array, lsns: &BigUint64Array);
    #[wasm_bindgen(js_name = rejectAll)]
    fn reject_all(pending: &JsValue, error: &JsValue);
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options for `WaldenLog.open`. */
export interface OpenOptions {
  /** URL of `walden-worker.js`; defaults to the one beside this package's JavaScript. */
  workerUrl?: string;
  /** Flush after every commit instead of grouping them (the benchmark's baseline). */
  flushPerCommit?: boolean;
  /** How the worker ends its group-commit window: "adaptive" (default), "timeout",
   *  "channel" or "microtask". For experiments; see wasm/README.md. */
  flushScheduler?: "adaptive" | "timeout" | "channel" | "microtask";
}
/** One record read back. */
export interface WaldenRecord { lsn: bigint; payload: Uint8Array; }
/** Counters and watermarks of an open log. */
export interface WaldenStats {
  baseLsn: bigint; currentLsn: bigint; writtenLsn: bigint; durableLsn: bigint;
  recoveredRecords: number; truncatedBytes: number; appends: number; commits: number;
  flushes: number; commitsFlushed: number; maxCommitsPerFlush: number;
  /** Time spent draining and flushing since open, in milliseconds. */
  flushMsTotal: number;
  pendingCommits: number; poisoned: boolean;
}
/** An event: `type` is appended, drained, flushStarted, flushFinished, or a group-commit step. */
export interface WaldenEvent { type: string; [field: string]: unknown; }
/** What every failed promise rejects with. */
export interface WaldenError extends Error {
  kind: "locked" | "quota" | "notSupported" | "closed" | "io" | "notAWal" | "newerVersion"
      | "badHeader" | "corrupt" | "tooLarge" | "poisoned" | "badRequest" | "internal" | "worker";
}
"#;

/// A worker event handler.
type Handler = Closure<dyn FnMut(JsValue)>;

struct Client {
    name: String,
    worker: Worker,
    next_id: Cell<RequestId>,
    /// The JavaScript `Map` of pending promises (see `deferred`).
    pending: JsValue,
    /// The open request, posted once the worker is ready, before any batch.
    open_message: RefCell<Option<Object>>,
    /// Ops issued but not yet posted: posted together at the end of the current task.
    outbox: RefCell<OpBatch>,
    post_scheduled: Cell<bool>,
    ready: Cell<bool>,
    /// Set by the first `close` (or drop).
    closing: Cell<bool>,
    closed: Cell<bool>,
    durable: Cell<u64>,
    listeners: RefCell<Vec<Function>>,
    /// The worker's handlers; dropped on close, which breaks their reference cycle.
    handlers: RefCell<Vec<Handler>>,
}

/// A log in the Origin Private File System, served by its own dedicated worker.
#[wasm_bindgen]
pub struct WaldenLog {
    client: Rc<Client>,
}

#[wasm_bindgen]
impl WaldenLog {
    /// Starts a worker and opens (creating or recovering) the log `name` in it. Rejects with
    /// kind `locked` if another tab or worker has it open, `notAWal` / `newerVersion` for a
    /// foreign or newer file (left untouched), `corrupt` for damage recovery must not repair.
    pub async fn open(
        name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: Option<Object>,
    ) -> Result<WaldenLog, JsValue> {
        let options = JsValue::from(options.unwrap_or_default());
        let url = get(&options, "workerUrl")
            .as_string()
            .unwrap_or_else(default_worker_url);
        let worker_options = WorkerOptions::new();
        worker_options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(&url, &worker_options)?;
        let client = Client::start(name.clone(), worker);
        let id = client.next();
        let open = Object::new();
        set(&open, "id", id as f64);
        set(&open, "name", name);
        for key in ["flushPerCommit", "flushScheduler"] {
            let value = get(&options, key);
            if !value.is_undefined() {
                set(&open, key, value);
            }
        }
        let message = Object::new();
        set(&message, "open", open);
        *client.open_message.borrow_mut() = Some(message);
        let opened = JsFuture::from(client.issue_with_id(id, |_, _| {})).await;
        if let Err(err) = opened {
            client.shut_down("the log failed to open");
            return Err(err);
        }
        Ok(WaldenLog { client })
    }

    /// The log's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.client.name.clone()
    }

    /// The durable LSN the page last heard of (a `bigint`): every record below it is durable.
    #[wasm_bindgen(getter, js_name = durableLsn, unchecked_return_type = "bigint")]
    pub fn durable_lsn(&self) -> JsValue {
        lsn_to_js(Lsn::new(self.client.durable.get()))
    }

    /// Appends a record without waiting for durability; resolves to its LSN (`bigint`).
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn append(&self, payload: &Uint8Array) -> Promise {
        self.client
            .issue(|batch, id| batch.push_js_payload(false, id, payload))
    }

    /// Appends a record and resolves to its LSN (`bigint`) once it is durable (OPFS
    /// `flush()`). Commits issued together, or while a flush runs, share one flush.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn commit(&self, payload: &Uint8Array) -> Promise {
        self.client
            .issue(|batch, id| batch.push_js_payload(true, id, payload))
    }

    /// Durable records from `fromLsn` (a record's LSN; the log's base LSN, `0n` for a new log,
    /// for all), up to about `maxBytes` (default 4 MiB) of them.
    #[wasm_bindgen(unchecked_return_type = "Promise<WaldenRecord[]>")]
    pub fn read(
        &self,
        #[wasm_bindgen(js_name = fromLsn, unchecked_param_type = "bigint")] from_lsn: JsValue,
        #[wasm_bindgen(js_name = maxBytes)] max_bytes: Option<f64>,
    ) -> Promise {
        let Some(from) = lsn_from_js(&from_lsn) else {
            return Promise::reject(&error_value(
                "badRequest",
                "read needs `fromLsn`: an LSN (bigint) returned by append or commit, or 0n",
            ));
        };
        let max_bytes = max_bytes.map_or(DEFAULT_READ_MAX_BYTES, |max| max.clamp(1.0, 4e9) as u32);
        self.client
            .issue(|batch, id| batch.push_read(id, from, max_bytes))
    }

    /// Counters and watermarks.
    #[wasm_bindgen(unchecked_return_type = "Promise<WaldenStats>")]
    pub fn stats(&self) -> Promise {
        self.client.issue(|batch, id| batch.push_stats(id))
    }

    /// Calls `callback(event)` for every event of the worker log from now on (appends, drains,
    /// flushes, group-commit steps). Recording starts with the first callback.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: WaldenEvent) => void")] callback: Function,
    ) {
        let first = self.client.listeners.borrow().is_empty();
        self.client.listeners.borrow_mut().push(callback);
        if first {
            // The answer carries nothing; a failure shows up on the next request.
            let observing =
                JsFuture::from(self.client.issue(|batch, id| batch.push_observe(id, true)));
            wasm_bindgen_futures::spawn_local(async move {
                let _ = observing.await;
            });
        }
    }

    /// Discards every record, for an app that has saved what it needs of them (a snapshot):
    /// flushes what waits, then empties the file while LSNs keep growing. Resolves to the new
    /// base LSN (`bigint`), where the next record starts; reads from an older LSN are refused.
    /// Ops issued before it are applied before it, so a snapshot of the state they built is
    /// exactly what it discards.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn truncate(&self) -> Promise {
        self.client.issue(|batch, id| batch.push_truncate(id))
    }

    /// Flushes what waits, closes the log (releasing its lock) and ends the worker. Resolves
    /// to the final durable LSN.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn close(&self) -> Promise {
        if self.client.closing.replace(true) {
            // Closing already (or closed): the first close's promise tells how it went.
            return Promise::resolve(&lsn_to_js(Lsn::new(self.client.durable.get())));
        }
        let client = Rc::clone(&self.client);
        let closing = client.issue(|batch, id| batch.push_close(id));
        wasm_bindgen_futures::future_to_promise(async move {
            let result = JsFuture::from(closing).await;
            client.shut_down("the log was closed");
            result
        })
    }

    /// Asks the browser to keep this origin's storage (OPFS included) under storage pressure:
    /// `navigator.storage.persist()`, only available on the page. Resolves to whether it did.
    #[wasm_bindgen(js_name = requestPersistence, unchecked_return_type = "Promise<boolean>")]
    pub fn request_persistence() -> Result<Promise, JsValue> {
        let window = web_sys::window()
            .ok_or_else(|| JsValue::from_str("requestPersistence needs a page (window)"))?;
        window.navigator().storage().persist()
    }
}

/// The Rust API, for the dashboard: the same operations as futures with typed errors.
impl WaldenLog {
    /// Calls `callback` with every event (a JavaScript object, as `onEvent` gives it) for as
    /// long as the log is open.
    pub fn on_event_fn(&self, callback: impl FnMut(JsValue) + 'static) {
        let closure = Closure::<dyn FnMut(JsValue)>::new(callback);
        self.on_event(closure.as_ref().unchecked_ref::<Function>().clone());
        self.client.handlers.borrow_mut().push(closure);
    }

    /// Appends a record; its LSN.
    pub async fn append_record(&self, payload: &[u8]) -> Result<Lsn, LogError> {
        let promise = self
            .client
            .issue(|batch, id| batch.push_payload(false, id, payload));
        lsn_result(JsFuture::from(promise).await)
    }

    /// Commits a record; its LSN once durable.
    pub async fn commit_record(&self, payload: &[u8]) -> Result<Lsn, LogError> {
        let promise = self
            .client
            .issue(|batch, id| batch.push_payload(true, id, payload));
        lsn_result(JsFuture::from(promise).await)
    }

    /// Durable records from `from`.
    pub async fn read_records(&self, from: Lsn) -> Result<Vec<(Lsn, Vec<u8>)>, LogError> {
        let records = JsFuture::from(self.read(lsn_to_js(from), None))
            .await
            .map_err(|err| error_from_js(&err))?;
        let records: Array = records.unchecked_into();
        Ok(records
            .iter()
            .filter_map(|record| {
                let lsn = lsn_from_js(&get(&record, "lsn"))?;
                let payload = get(&record, "payload").dyn_into::<Uint8Array>().ok()?;
                Some((lsn, payload.to_vec()))
            })
            .collect())
    }
}

impl Drop for WaldenLog {
    /// A log dropped without `close` (in Rust, or `free()` in JavaScript) is closed anyway: the
    /// worker flushes what waits and closes the file, then ends, which releases the lock.
    /// Commits still pending settle as they would have.
    fn drop(&mut self) {
        if !self.client.closing.get() {
            let closing = JsFuture::from(self.close());
            // Awaited so that a failure is not an unhandled rejection; nobody is left to tell.
            wasm_bindgen_futures::spawn_local(async move {
                let _ = closing.await;
            });
        }
    }
}

fn lsn_result(result: Result<JsValue, JsValue>) -> Result<Lsn, LogError> {
    let value = result.map_err(|err| error_from_js(&err))?;
    lsn_from_js(&value).ok_or_else(|| LogError::internal("the worker answered without an LSN"))
}

impl Client {
    fn start(name: String, worker: Worker) -> Rc<Client> {
        let client = Rc::new(Client {
            name,
            worker,
            next_id: Cell::new(1),
            pending: new_pending(),
            outbox: RefCell::new(OpBatch::default()),
            open_message: RefCell::new(None),
            post_scheduled: Cell::new(false),
            ready: Cell::new(false),
            closing: Cell::new(false),
            closed: Cell::new(false),
            durable: Cell::new(0),
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

    fn next(&self) -> RequestId {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Queues one op (`push` adds it to the batch under its id) for the next post and returns
    /// the promise its answer settles.
    fn issue(self: &Rc<Self>, push: impl FnOnce(&mut OpBatch, RequestId)) -> Promise {
        let id = self.next();
        self.issue_with_id(id, push)
    }

    fn issue_with_id(
        self: &Rc<Self>,
        id: RequestId,
        push: impl FnOnce(&mut OpBatch, RequestId),
    ) -> Promise {
        if self.closed.get() {
            return Promise::reject(&error_value("closed", "the log is closed; open it again"));
        }
        let promise = deferred(&self.pending, id as f64);
        push(&mut self.outbox.borrow_mut(), id);
        self.schedule_post();
        promise
    }

    fn schedule_post(self: &Rc<Self>) {
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
        if let Some(durable) = lsn_from_js(&get(data, "durable")) {
            self.durable.set(self.durable.get().max(durable.get()));
        }
        let acks = get(data, "acks");
        if let (Ok(ids), Ok(lsns)) = (
            get(&acks, "ids").dyn_into::<Float64Array>(),
            get(&acks, "lsns").dyn_into::<BigUint64Array>(),
        ) {
            settle_acks(&self.pending, &ids, &lsns);
        }
        if let Some(replies) = get(data, "replies").dyn_ref::<Array>() {
            for reply in replies.iter() {
                self.settle(&reply);
            }
        }
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
    fn fail_all(&self, kind: &str, message: &str) {
        self.closed.set(true);
        *self.outbox.borrow_mut() = OpBatch::default();
        self.open_message.borrow_mut().take();
        reject_all(&self.pending, &error_value(kind, message));
    }

    /// Ends the worker (the browser closes its OPFS handle, releasing the lock) and rejects
    /// whatever was still pending.
    fn shut_down(&self, why: &str) {
        self.worker.terminate();
        self.fail_all("closed", &format!("{why}; open it again to use it"));
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.handlers.borrow_mut().clear();
    }
}

/// An `Error` with a `kind`, what every promise of this API rejects with.
fn error_value(kind: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("WaldenError");
    set(&error, "kind", kind);
    error.into()
}
