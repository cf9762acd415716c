//! [`WaldenLog`]: the page's handle on a log served by a dedicated worker. The same class is
//! the JavaScript API (`WaldenLog.open(name)`, `commit(bytes)`, ...) and the Rust one (the
//! `*_record(s)` futures with typed [`LogError`]s), for the dashboard.
//!
//! Ops issued within one task are posted to the worker as one message (in a microtask), in the
//! binary batch form of `batch`, so a burst of commits costs one message and lands in one
//! flush. Each op's promise settles when the worker's answer with its id arrives: `commit`
//! once its record is durable. A page that issues more than the in-flight bound without
//! awaiting gets promises that wait in the page (`conn`), not unbounded memory.
//!
//! Invariants: every promise settles exactly once (a reply, or the worker's failure or
//! closing rejects everything pending with `closed`); LSNs are `bigint`s; errors reject with
//! an `Error` whose `kind` is [`LogError::kind`].

mod conn;
mod js;
mod records;

use crate::log_error::LogError;
use crate::protocol::{error_from_js, get, lsn_from_js, lsn_to_js, set, DEFAULT_READ_MAX_BYTES};
use conn::{error_value, Client, Op, Payload, DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_OPS};
use js_sys::{Array, Function, Object, Promise, Uint8Array};
use std::rc::Rc;
use walden_core::Lsn;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub use records::WaldenRecords;

/// A log in the Origin Private File System, served by its own dedicated worker.
#[wasm_bindgen]
pub struct WaldenLog {
    client: Rc<Client>,
}

/// A positive whole-number option, or `default`.
fn bound(options: &JsValue, key: &str, default: u32) -> u32 {
    get(options, key)
        .as_f64()
        .filter(|value| *value >= 1.0)
        .map_or(default, |value| value.min(f64::from(u32::MAX)) as u32)
}

#[wasm_bindgen]
impl WaldenLog {
    /// Starts a worker and opens (creating or recovering) the log `name` in it. Rejects with
    /// kind `locked` if another tab or worker has it open, `notAWal` / `newerVersion` for a
    /// foreign or newer file (left untouched), `corrupt` for damage recovery must not repair
    /// (open with `{recovery: "pointInTime"}` to salvage what precedes it).
    pub async fn open(
        name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: Option<Object>,
    ) -> Result<WaldenLog, JsValue> {
        let options = JsValue::from(options.unwrap_or_default());
        let worker = js::start_worker(get(&options, "workerUrl").as_string())?;
        let client = Client::start(
            name.clone(),
            worker,
            bound(&options, "maxPendingOps", DEFAULT_MAX_PENDING_OPS),
            bound(&options, "maxPendingBytes", DEFAULT_MAX_PENDING_BYTES),
        );
        let id = client.next();
        let open = Object::new();
        set(&open, "id", id as f64);
        set(&open, "name", name);
        for key in ["flushPerCommit", "flushScheduler", "durability", "recovery"] {
            let value = get(&options, key);
            if !value.is_undefined() {
                set(&open, key, value);
            }
        }
        let message = Object::new();
        set(&message, "open", open);
        *client.open_message.borrow_mut() = Some(message);
        let answer = client.expect(id);
        client.schedule_post();
        match JsFuture::from(answer).await {
            Ok(stats) => {
                *client.recovery.borrow_mut() = get(&stats, "recovery");
                Ok(WaldenLog { client })
            }
            Err(err) => {
                client.shut_down("the log failed to open");
                Err(err)
            }
        }
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

    /// What this tab's worker is to the log: `"leader"` (it holds the file and serves every
    /// tab's ops, its page's events included) or `"follower"` (it forwards to the leader's
    /// tab). It changes when the leader's tab goes away and this one takes over.
    #[wasm_bindgen(getter, unchecked_return_type = "\"leader\" | \"follower\"")]
    pub fn role(&self) -> String {
        self.client.role.borrow().clone()
    }

    /// What recovery found and did when this log was opened: the records it kept and what
    /// followed them (a torn tail it cut, or with `pointInTime` what it discarded).
    #[wasm_bindgen(getter, unchecked_return_type = "RecoveryReport")]
    pub fn recovery(&self) -> JsValue {
        self.client.recovery.borrow().clone()
    }

    /// Appends a record without waiting for durability; resolves to its LSN (`bigint`).
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn append(&self, payload: &Uint8Array) -> Promise {
        self.client.issue(Op::Payload {
            commit: false,
            payload: Payload::Js(payload),
        })
    }

    /// Appends a record and resolves to its LSN (`bigint`) once it is durable (OPFS
    /// `flush()`; with `{durability: "buffered"}`, once written). Commits issued together, or
    /// while a flush runs, share one flush.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn commit(&self, payload: &Uint8Array) -> Promise {
        self.client.issue(Op::Payload {
            commit: true,
            payload: Payload::Js(payload),
        })
    }

    /// Durable records from `fromLsn` (a record's LSN; the log's base LSN, `0n` for a new log,
    /// for all), up to about `maxBytes` (default 4 MiB) of them. `records()` walks them all.
    #[wasm_bindgen(unchecked_return_type = "Promise<WaldenRecord[]>")]
    pub fn read(
        &self,
        #[wasm_bindgen(js_name = fromLsn, unchecked_param_type = "bigint")] from_lsn: JsValue,
        #[wasm_bindgen(js_name = maxBytes)] max_bytes: Option<f64>,
    ) -> Promise {
        match self.read_page(&from_lsn, max_bytes) {
            Ok(page) => js::records_of(&page),
            Err(rejected) => rejected,
        }
    }

    /// Every durable record from `fromLsn` on (default: the first), in order, read a page at
    /// a time: `for await (const {lsn, payload} of log.records()) ...`. Ends at the durable
    /// LSN it reaches.
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<WaldenRecord>")]
    pub fn records(
        &self,
        #[wasm_bindgen(js_name = fromLsn, unchecked_optional_param_type = "bigint")]
        from_lsn: JsValue,
    ) -> JsValue {
        let from = if from_lsn.is_undefined() {
            None
        } else {
            Some(from_lsn)
        };
        WaldenRecords::start(self.clone_handle(), from)
    }

    /// Counters and watermarks.
    #[wasm_bindgen(unchecked_return_type = "Promise<WaldenStats>")]
    pub fn stats(&self) -> Promise {
        self.client.issue(Op::Stats)
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
            let observing = JsFuture::from(self.client.issue(Op::Observe(true)));
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
        self.client.issue(Op::Truncate)
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
        let closing = client.issue(Op::Close);
        wasm_bindgen_futures::future_to_promise(async move {
            let result = JsFuture::from(closing).await;
            client.shut_down("the log was closed");
            result
        })
    }

    /// Ends the log's worker at once, without flushing: what a crash of the tab would do.
    /// Commits not yet acknowledged reject with `closed` and may or may not be in the log when
    /// it is opened again (recovery decides, and never keeps a torn record); acknowledged ones
    /// are. For tests of an app's crash handling, and for a page that must let go at once.
    pub fn terminate(&self) {
        self.client.closing.set(true);
        self.client
            .shut_down("the log's worker was terminated before answering");
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
    fn clone_handle(&self) -> Rc<Client> {
        Rc::clone(&self.client)
    }

    /// A read's raw `{records, next}` answer, or the rejected promise for a bad `from`.
    fn read_page(&self, from_lsn: &JsValue, max_bytes: Option<f64>) -> Result<Promise, Promise> {
        read_page(&self.client, from_lsn, max_bytes)
    }

    /// Calls `callback` with every event (a JavaScript object, as `onEvent` gives it) for as
    /// long as the log is open.
    pub fn on_event_fn(&self, callback: impl FnMut(JsValue) + 'static) {
        let closure = Closure::<dyn FnMut(JsValue)>::new(callback);
        self.on_event(closure.as_ref().unchecked_ref::<Function>().clone());
        self.client.handlers.borrow_mut().push(closure);
    }

    /// Appends a record; its LSN.
    pub async fn append_record(&self, payload: &[u8]) -> Result<Lsn, LogError> {
        let promise = self.client.issue(Op::Payload {
            commit: false,
            payload: Payload::Bytes(payload),
        });
        lsn_result(JsFuture::from(promise).await)
    }

    /// Commits a record; its LSN once durable.
    pub async fn commit_record(&self, payload: &[u8]) -> Result<Lsn, LogError> {
        let promise = self.client.issue(Op::Payload {
            commit: true,
            payload: Payload::Bytes(payload),
        });
        lsn_result(JsFuture::from(promise).await)
    }

    /// Durable records from `from` (up to about 4 MiB of them).
    pub async fn read_records(&self, from: Lsn) -> Result<Vec<(Lsn, Vec<u8>)>, LogError> {
        self.read_records_page(from)
            .await
            .map(|(records, _)| records)
    }

    /// Durable records from `from` (up to about 4 MiB of them), and where the next read
    /// starts (`from` when there were none).
    #[allow(clippy::type_complexity)]
    pub async fn read_records_page(
        &self,
        from: Lsn,
    ) -> Result<(Vec<(Lsn, Vec<u8>)>, Lsn), LogError> {
        let page = match self.read_page(&lsn_to_js(from), None) {
            Ok(page) | Err(page) => page,
        };
        let page = JsFuture::from(page)
            .await
            .map_err(|err| error_from_js(&err))?;
        let next = lsn_from_js(&get(&page, "next")).unwrap_or(from);
        let records: Array = get(&page, "records").unchecked_into();
        let records = records
            .iter()
            .filter_map(|record| {
                let lsn = lsn_from_js(&get(&record, "lsn"))?;
                let payload = get(&record, "payload").dyn_into::<Uint8Array>().ok()?;
                Some((lsn, payload.to_vec()))
            })
            .collect();
        Ok((records, next))
    }
}

/// Issues a read of `{records, next}` from `from_lsn`, or rejects a `from_lsn` that is no LSN.
fn read_page(
    client: &Rc<Client>,
    from_lsn: &JsValue,
    max_bytes: Option<f64>,
) -> Result<Promise, Promise> {
    let Some(from) = lsn_from_js(from_lsn) else {
        return Err(Promise::reject(&error_value(
            "badRequest",
            "read needs `fromLsn`: an LSN (bigint) returned by append or commit, or 0n",
        )));
    };
    let max_bytes = max_bytes.map_or(DEFAULT_READ_MAX_BYTES, |max| max.clamp(1.0, 4e9) as u32);
    Ok(client.issue(Op::Read { from, max_bytes }))
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
