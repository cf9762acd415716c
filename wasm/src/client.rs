//! [`WaldenLog`]: the page's handle on a log served by a dedicated worker. The same class is
//! the JavaScript API (`WaldenLog.open(name)`, `commit(bytes)`, ...) and the Rust one (the
//! `*_record(s)` futures with typed [`LogError`]s), for the dashboard.
//!
//! Ops issued within one task are posted to the worker as one message (in a microtask), so a
//! burst of commits costs one message and lands in one flush. Each op's promise settles when
//! the worker's reply with its id arrives: `commit` once its record is durable.
//!
//! Invariants: every promise settles exactly once (a reply, or the worker's failure or
//! closing rejects everything pending with `closed`); LSNs are `bigint`s; errors reject with
//! an `Error` whose `kind` is [`LogError::kind`].

use crate::log_error::LogError;
use crate::protocol::{
    error_from_js, get, lsn_from_js, lsn_to_js, op_object, set, DEFAULT_READ_MAX_BYTES,
};
use crate::worker_log::RequestId;
use js_sys::{Array, Function, Object, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use walden_core::Lsn;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

#[wasm_bindgen(inline_js = "export function defaultWorkerUrl() { \
    return new URL('../../walden-worker.js', import.meta.url).href; }")]
extern "C" {
    /// `walden-worker.js` at the package root (this snippet lives in `snippets/<crate>/`).
    #[wasm_bindgen(js_name = defaultWorkerUrl)]
    fn default_worker_url() -> String;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options for `WaldenLog.open`. */
export interface OpenOptions {
  /** URL of `walden-worker.js`; defaults to the one beside this package's JavaScript. */
  workerUrl?: string;
  /** Flush after every commit instead of grouping them (the benchmark's baseline). */
  flushPerCommit?: boolean;
  /** Which task ends the worker's group-commit window: "timeout" (default), "channel" or
   *  "microtask". For experiments; see wasm/README.md. */
  flushScheduler?: "timeout" | "channel" | "microtask";
}
/** One record read back. */
export interface WaldenRecord { lsn: bigint; payload: Uint8Array; }
/** Counters and watermarks of an open log. */
export interface WaldenStats {
  baseLsn: bigint; currentLsn: bigint; writtenLsn: bigint; durableLsn: bigint;
  recoveredRecords: number; truncatedBytes: number; appends: number; commits: number;
  flushes: number; commitsFlushed: number; maxCommitsPerFlush: number;
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

type Settle = (Function, Function);
/// A worker event handler.
type Handler = Closure<dyn FnMut(JsValue)>;

struct Client {
    name: String,
    worker: Worker,
    next_id: Cell<RequestId>,
    pending: RefCell<HashMap<RequestId, Settle>>,
    /// Ops issued but not yet posted: posted together at the end of the current task.
    outbox: RefCell<Vec<JsValue>>,
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
        let op = op_object(client.next(), "open");
        set(&op, "name", name);
        for key in ["flushPerCommit", "flushScheduler"] {
            let value = get(&options, key);
            if !value.is_undefined() {
                set(&op, key, value);
            }
        }
        let opened = JsFuture::from(client.request(op)).await;
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
        self.client.payload_op("append", payload)
    }

    /// Appends a record and resolves to its LSN (`bigint`) once it is durable (OPFS
    /// `flush()`). Commits issued together, or while a flush runs, share one flush.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn commit(&self, payload: &Uint8Array) -> Promise {
        self.client.payload_op("commit", payload)
    }

    /// Durable records from `fromLsn` (a record's LSN; the log's base LSN, `0n` for a new log,
    /// for all), up to about `maxBytes` (default 4 MiB) of them.
    #[wasm_bindgen(unchecked_return_type = "Promise<WaldenRecord[]>")]
    pub fn read(
        &self,
        #[wasm_bindgen(js_name = fromLsn, unchecked_param_type = "bigint")] from_lsn: JsValue,
        #[wasm_bindgen(js_name = maxBytes)] max_bytes: Option<f64>,
    ) -> Promise {
        let op = op_object(self.client.next(), "read");
        set(&op, "from", from_lsn);
        set(
            &op,
            "maxBytes",
            max_bytes.unwrap_or(DEFAULT_READ_MAX_BYTES as f64),
        );
        self.client.request(op)
    }

    /// Counters and watermarks.
    #[wasm_bindgen(unchecked_return_type = "Promise<WaldenStats>")]
    pub fn stats(&self) -> Promise {
        self.client.request(op_object(self.client.next(), "stats"))
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
            let op = op_object(self.client.next(), "observe");
            set(&op, "on", true);
            // The answer carries nothing; a failure shows up on the next request.
            let _ = self.client.request(op);
        }
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
        let closing = client.request(op_object(client.next(), "close"));
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
        lsn_result(JsFuture::from(self.append(&Uint8Array::from(payload))).await)
    }

    /// Commits a record; its LSN once durable.
    pub async fn commit_record(&self, payload: &[u8]) -> Result<Lsn, LogError> {
        lsn_result(JsFuture::from(self.commit(&Uint8Array::from(payload))).await)
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
            pending: RefCell::new(HashMap::new()),
            outbox: RefCell::new(Vec::new()),
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

    fn payload_op(self: &Rc<Self>, kind: &str, payload: &Uint8Array) -> Promise {
        let op = op_object(self.next(), kind);
        // A copy: the caller may reuse its buffer before the batch is posted.
        set(&op, "payload", payload.slice(0, payload.length()));
        self.request(op)
    }

    /// Queues `op` for the next post and returns the promise its reply settles.
    fn request(self: &Rc<Self>, op: Object) -> Promise {
        let id = get(&op, "id").as_f64().unwrap_or_default() as RequestId;
        if self.closed.get() {
            return Promise::reject(&error_value("closed", "the log is closed; open it again"));
        }
        let promise = Promise::new(&mut |resolve, reject| {
            self.pending.borrow_mut().insert(id, (resolve, reject));
        });
        self.outbox.borrow_mut().push(op.into());
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
        let ops: Array = self.outbox.borrow_mut().drain(..).collect();
        if ops.length() == 0 {
            return;
        }
        let message = Object::new();
        set(&message, "ops", ops);
        if let Err(err) = self.worker.post_message(&message) {
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
        let Some((resolve, reject)) = self.pending.borrow_mut().remove(&(id as RequestId)) else {
            return;
        };
        let outcome = if get(reply, "ok").as_bool() == Some(true) {
            resolve.call1(&JsValue::NULL, &get(reply, "value"))
        } else {
            let error = error_from_js(&get(reply, "error"));
            reject.call1(&JsValue::NULL, &error_value(error.kind(), error.message()))
        };
        if let Err(err) = outcome {
            web_sys::console::error_2(&"walden: settling a promise threw".into(), &err);
        }
    }

    /// Rejects everything pending with `kind` and stops accepting requests.
    fn fail_all(&self, kind: &str, message: &str) {
        self.closed.set(true);
        let pending: Vec<Settle> = self.pending.borrow_mut().drain().map(|(_, s)| s).collect();
        self.outbox.borrow_mut().clear();
        let error = error_value(kind, message);
        for (_, reject) in pending {
            let _ = reject.call1(&JsValue::NULL, &error);
        }
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
