//! The page side's JavaScript: starting the worker, the pending promises and the backlog, and
//! the TypeScript declarations of the API's shapes.
//!
//! The pending promises live on the JavaScript side, in a `Map` from request id to
//! `[resolve, reject]`: a burst of LSN answers is then settled by one call per message rather
//! than one per promise. Ops over the in-flight bound (`conn`) wait in a JavaScript backlog
//! (their payloads copied there), so a page that never awaits grows no wasm memory.

use js_sys::{Array, BigUint64Array, Float64Array, Promise, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use web_sys::Worker;

#[wasm_bindgen(inline_js = r#"
export function startWorker(url) {
  // Written out in full so that bundlers (Vite, webpack, esbuild, Parcel) see the worker and
  // bundle it: `new Worker(new URL("...", import.meta.url), {type: "module"})`. This snippet
  // lives in `snippets/<crate>/`, so the package root is two folders up.
  if (url !== undefined) return new Worker(url, { type: "module" });
  return new Worker(new URL("../../walden-worker.js", import.meta.url), { type: "module" });
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
export function newBacklog() { return { items: [], head: 0 }; }
export function backlogPush(backlog, kind, id, arg, len) { backlog.items.push([kind, id, arg, len]); }
export function backlogPeek(backlog) { return backlog.items[backlog.head]; }
export function backlogShift(backlog) {
  const item = backlog.items[backlog.head];
  backlog.items[backlog.head] = undefined;
  backlog.head += 1;
  if (backlog.head > 1024 && backlog.head * 2 > backlog.items.length) {
    backlog.items = backlog.items.slice(backlog.head);
    backlog.head = 0;
  }
  return item;
}
export function backlogClear(backlog) { backlog.items = []; backlog.head = 0; }
export function recordsOf(read) { return read.then((page) => page.records); }
export function makeAsyncIterable(iterator) {
  iterator[Symbol.asyncIterator] = function () { return this; };
  return iterator;
}
"#)]
extern "C" {
    /// A module worker for `walden-worker.js` (or `url`), written so bundlers follow it.
    #[wasm_bindgen(js_name = startWorker, catch)]
    pub(crate) fn start_worker(url: Option<String>) -> Result<Worker, JsValue>;
    /// `performance.timeOrigin + performance.now()`, the clock the worker compares with.
    #[wasm_bindgen(js_name = epochNow)]
    pub(crate) fn epoch_now() -> f64;
    #[wasm_bindgen(js_name = newPending)]
    pub(crate) fn new_pending() -> JsValue;
    pub(crate) fn deferred(pending: &JsValue, id: f64) -> Promise;
    pub(crate) fn settle(pending: &JsValue, id: f64, ok: bool, value: &JsValue);
    #[wasm_bindgen(js_name = settleAcks)]
    pub(crate) fn settle_acks(pending: &JsValue, ids: &Float64Array, lsns: &BigUint64Array);
    #[wasm_bindgen(js_name = rejectAll)]
    pub(crate) fn reject_all(pending: &JsValue, error: &JsValue);
    #[wasm_bindgen(js_name = newBacklog)]
    pub(crate) fn new_backlog() -> JsValue;
    #[wasm_bindgen(js_name = backlogPush)]
    pub(crate) fn backlog_push(backlog: &JsValue, kind: u8, id: f64, arg: &JsValue, len: f64);
    #[wasm_bindgen(js_name = backlogPeek)]
    pub(crate) fn backlog_peek(backlog: &JsValue) -> Array;
    #[wasm_bindgen(js_name = backlogShift)]
    pub(crate) fn backlog_shift(backlog: &JsValue) -> Array;
    #[wasm_bindgen(js_name = backlogClear)]
    pub(crate) fn backlog_clear(backlog: &JsValue);
    /// The `records` of a read's `{records, next}` answer.
    #[wasm_bindgen(js_name = recordsOf)]
    pub(crate) fn records_of(read: &Promise) -> Promise;
    #[wasm_bindgen(js_name = makeAsyncIterable)]
    pub(crate) fn make_async_iterable(iterator: JsValue) -> JsValue;
}

/// A payload copied into JavaScript memory (for the backlog: the caller may reuse its array).
pub(crate) fn js_copy(payload: &[u8]) -> Uint8Array {
    Uint8Array::from(payload)
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options for `WaldenLog.open`. */
export interface OpenOptions {
  /** URL of `walden-worker.js`; by default the one beside this package's JavaScript (bundlers
   *  such as Vite find and bundle it themselves). */
  workerUrl?: string;
  /** What a commit waits for: "flush" (default: OPFS `flush()` returned, so it survives a
   *  power loss) or "buffered" (written to the file; survives the tab or browser crashing,
   *  not the machine losing power). */
  durability?: "flush" | "buffered";
  /** How recovery treats damage when opening: "tolerateTornTail" (default: cut an incomplete
   *  last write, refuse real damage with kind `corrupt`), "absoluteConsistency" (refuse any
   *  tail but zero fill), or "pointInTime" (salvage: keep the records before the first damage
   *  and discard everything after it; see `recovery`). */
  recovery?: "tolerateTornTail" | "absoluteConsistency" | "pointInTime";
  /** Most ops in flight (sent to the worker, not yet answered) before later ops wait in the
   *  page (default 4096). */
  maxPendingOps?: number;
  /** Most payload bytes in flight before later ops wait in the page (default 4 MiB). */
  maxPendingBytes?: number;
  /** Flush after every commit instead of grouping them (the benchmark's baseline). */
  flushPerCommit?: boolean;
  /** How the worker ends its group-commit window: "adaptive" (default), "timeout",
   *  "channel" or "microtask". For experiments; see wasm/README.md. */
  flushScheduler?: "adaptive" | "timeout" | "channel" | "microtask";
}
/** One record read back. */
export interface WaldenRecord { lsn: bigint; payload: Uint8Array; }
/** What recovery found and did when the log was opened. */
export interface RecoveryReport {
  mode: "tolerateTornTail" | "absoluteConsistency" | "pointInTime";
  /** The first record's LSN and the end of the records kept (where the next one goes). */
  baseLsn: bigint; endLsn: bigint;
  /** Records kept. */
  records: number;
  /** Whether recovery cut the tail off the file (false for zero fill it keeps). */
  tailCut: boolean;
  /** What followed the records kept: never-written space ("zeroed"), an incomplete last write
   *  ("torn"), a batch never flushed ("unsynced"), or, with "pointInTime", damage and every
   *  record after it, discarded ("discarded", from `at`; `nextValid` is the first intact
   *  record that was dropped). */
  tail: null | {
    kind: "zeroed" | "torn" | "unsynced" | "discarded";
    at: bigint; bytes: number; damage?: string; nextValid?: bigint;
  };
}
/** Counters and watermarks of an open log. */
export interface WaldenStats {
  baseLsn: bigint; currentLsn: bigint; writtenLsn: bigint; durableLsn: bigint;
  recoveredRecords: number; truncatedBytes: number; appends: number; commits: number;
  flushes: number; commitsFlushed: number; maxCommitsPerFlush: number;
  /** Time spent draining and flushing since open, in milliseconds. */
  flushMsTotal: number;
  pendingCommits: number; poisoned: boolean;
  /** The log worker's wasm memory, in bytes (it never shrinks: the most it ever held). */
  workerMemoryBytes: number;
  /** Milliseconds the leader's worker spent handling messages and flushing since it started
   *  (its busy time, flush() waits included): for profiling where a commit's time goes. */
  workerBusyMs: number;
}
/** What `onEvent` callbacks get: one case per `type`. */
export type WaldenEvent =
  | { type: "appended"; lsn: bigint; current: bigint; commit: boolean }
  | { type: "drained"; written: bigint }
  | { type: "flushStarted"; upto: bigint; commits: number }
  | { type: "flushFinished"; durable: bigint; commits: number; records: number; elapsedMs: number; ok: boolean }
  | { type: "alreadyDurable"; target: bigint }
  | { type: "led"; waiter: number; target: bigint }
  | { type: "waiting"; waiter: number; target: bigint }
  | { type: "refused"; target: bigint }
  | { type: "syncStarted"; waiter: number; upto: bigint; waiting: number }
  | { type: "syncSucceeded"; waiter: number; durable: bigint; covered: number }
  | { type: "acknowledged"; waiter: number; target: bigint }
  | { type: "leaderElected"; waiter: number; target: bigint }
  | { type: "syncFailed"; waiter: number; upto?: bigint }
  | { type: "waiterFailed"; waiter: number; target: bigint };
/** What every failed promise rejects with. */
export interface WaldenError extends Error {
  kind: "locked" | "quota" | "notSupported" | "closed" | "io" | "notAWal" | "newerVersion"
      | "badHeader" | "corrupt" | "tooLarge" | "poisoned" | "badRequest" | "internal" | "worker"
      | "leaderLost";
}
"#;
