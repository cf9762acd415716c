//! The messages between the page ([`crate::WaldenLog`]) and the worker ([`crate::worker_main`]),
//! as plain JavaScript objects (structured-clone friendly, readable in devtools).
//!
//! Page to worker: `{ops: [op, ...]}`, where each op is `{id, op: "open" | "append" | "commit" |
//! "read" | "stats" | "observe" | "close", ...}`. The page batches the ops it issues within one
//! task into one message, so a burst of commits costs one message and lands in one flush.
//!
//! Worker to page: `{ready: true}` once the worker's wasm is running; `{fatal: message}` if it
//! cannot start; otherwise `{replies: [{id, ok: true, value} | {id, ok: false, error: {kind,
//! message}}], durable: bigint, events?: [...]}`.
//!
//! Invariants: LSNs cross as `bigint` (they are u64 byte positions, beyond 2^53 in long-lived
//! logs); every op carries the page's `id` and gets exactly one reply with it.

use crate::events::LogEvent;
use crate::log_error::LogError;
use crate::worker_log::{FlushPolicy, LogOptions, LogStats, RequestId};
use js_sys::{Array, Object, Reflect, Uint8Array};
use walden_core::{Event, Lsn};
use wasm_bindgen::{JsCast, JsValue};

/// One operation the page asks of the worker.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Open {
        name: String,
        options: LogOptions,
        observe: bool,
        scheduler: FlushScheduler,
    },
    Append(Vec<u8>),
    Commit(Vec<u8>),
    Read {
        from: Lsn,
        max_bytes: usize,
    },
    Stats,
    Observe(bool),
    Close,
}

/// How the worker runs a flush after the commits that need it: the end of the group-commit
/// window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushScheduler {
    /// `setTimeout(0)`: a new task, queued behind the messages already waiting. The default.
    Timeout,
    /// A message on a private `MessageChannel`: also a new task, but each post crosses
    /// Chromium's message-port plumbing, which costs more.
    Channel,
    /// `queueMicrotask`: right after the current message, before any other; groups only the
    /// commits of one page message.
    Microtask,
}

/// The default cap on the bytes one `read` returns.
pub(crate) const DEFAULT_READ_MAX_BYTES: usize = 4 << 20;

/// Sets `key` on a plain object (which cannot fail for a plain, extensible object).
pub(crate) fn set(target: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(target, &JsValue::from_str(key), &value.into());
}

/// Reads `key` of an object, `undefined` when missing.
pub(crate) fn get(source: &JsValue, key: &str) -> JsValue {
    Reflect::get(source, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// An LSN as a JavaScript `bigint`.
pub(crate) fn lsn_to_js(lsn: Lsn) -> JsValue {
    JsValue::from(lsn.get())
}

/// An LSN from a `bigint` or a non-negative integral `number`.
pub(crate) fn lsn_from_js(value: &JsValue) -> Option<Lsn> {
    if value.is_bigint() {
        return u64::try_from(value.clone()).ok().map(Lsn::new);
    }
    let number = value.as_f64()?;
    (number >= 0.0 && number.fract() == 0.0 && number <= 9_007_199_254_740_991.0)
        .then(|| Lsn::new(number as u64))
}

/// Decodes the ops of one page message; an op that cannot be decoded is answered with its
/// error (when it has an id) instead of being dropped.
pub(crate) fn decode_ops(data: &JsValue) -> Vec<(RequestId, Result<Op, LogError>)> {
    let ops = get(data, "ops");
    let Some(ops) = ops.dyn_ref::<Array>() else {
        return Vec::new();
    };
    ops.iter()
        .filter_map(|op| {
            let id = get(&op, "id").as_f64()? as RequestId;
            Some((id, decode_op(&op)))
        })
        .collect()
}

fn bad(message: String) -> LogError {
    LogError::BadRequest { message }
}

fn payload(op: &JsValue) -> Result<Vec<u8>, LogError> {
    let payload = get(op, "payload");
    payload
        .dyn_ref::<Uint8Array>()
        .map(Uint8Array::to_vec)
        .ok_or_else(|| bad("a record's payload must be a Uint8Array".to_owned()))
}

fn decode_op(op: &JsValue) -> Result<Op, LogError> {
    let kind = get(op, "op").as_string().unwrap_or_default();
    match kind.as_str() {
        "open" => {
            let name = get(op, "name")
                .as_string()
                .filter(|name| !name.is_empty())
                .ok_or_else(|| bad("open needs a non-empty log name".to_owned()))?;
            let mut options = LogOptions::default();
            if get(op, "flushPerCommit").as_bool() == Some(true) {
                options.flush_policy = FlushPolicy::PerCommit;
            }
            let scheduler = match get(op, "flushScheduler").as_string().as_deref() {
                None | Some("timeout") => FlushScheduler::Timeout,
                Some("channel") => FlushScheduler::Channel,
                Some("microtask") => FlushScheduler::Microtask,
                Some(other) => {
                    return Err(bad(format!(
                        "unknown flushScheduler {other:?}: use \"timeout\", \"channel\" or \"microtask\""
                    )))
                }
            };
            Ok(Op::Open {
                name,
                options,
                observe: get(op, "observe").as_bool() == Some(true),
                scheduler,
            })
        }
        "append" => Ok(Op::Append(payload(op)?)),
        "commit" => Ok(Op::Commit(payload(op)?)),
        "read" => {
            let from = lsn_from_js(&get(op, "from")).ok_or_else(|| {
                bad("read needs `from`: an LSN (bigint) returned by append or commit".to_owned())
            })?;
            let max_bytes = get(op, "maxBytes")
                .as_f64()
                .filter(|max| *max >= 1.0)
                .map_or(DEFAULT_READ_MAX_BYTES, |max| max as usize);
            Ok(Op::Read { from, max_bytes })
        }
        "stats" => Ok(Op::Stats),
        "observe" => Ok(Op::Observe(get(op, "on").as_bool() == Some(true))),
        "close" => Ok(Op::Close),
        other => Err(bad(format!("unknown operation {other:?}"))),
    }
}

/// The op object the page sends.
pub(crate) fn op_object(id: RequestId, op: &str) -> Object {
    let object = Object::new();
    set(&object, "id", id as f64);
    set(&object, "op", op);
    object
}

/// A successful reply.
pub(crate) fn reply_ok(id: RequestId, value: JsValue) -> JsValue {
    let reply = Object::new();
    set(&reply, "id", id as f64);
    set(&reply, "ok", true);
    set(&reply, "value", value);
    reply.into()
}

/// A failed reply.
pub(crate) fn reply_err(id: RequestId, err: &LogError) -> JsValue {
    let reply = Object::new();
    set(&reply, "id", id as f64);
    set(&reply, "ok", false);
    set(&reply, "error", error_to_js(err));
    reply.into()
}

/// `{kind, message}`.
pub(crate) fn error_to_js(err: &LogError) -> JsValue {
    let error = Object::new();
    set(&error, "kind", err.kind());
    set(&error, "message", err.message());
    error.into()
}

/// Rebuilds a [`LogError`] from `{kind, message}`.
pub(crate) fn error_from_js(value: &JsValue) -> LogError {
    let kind = get(value, "kind").as_string().unwrap_or_default();
    let message = get(value, "message")
        .as_string()
        .unwrap_or_else(|| "the worker failed without a message".to_owned());
    LogError::from_kind(&kind, message)
}

/// The stats as `{baseLsn, currentLsn, writtenLsn, durableLsn (bigints), recoveredRecords, ...}`.
pub(crate) fn stats_to_js(stats: &LogStats) -> JsValue {
    let object = Object::new();
    set(&object, "baseLsn", lsn_to_js(stats.base_lsn));
    set(&object, "currentLsn", lsn_to_js(stats.current_lsn));
    set(&object, "writtenLsn", lsn_to_js(stats.written_lsn));
    set(&object, "durableLsn", lsn_to_js(stats.durable_lsn));
    set(&object, "recoveredRecords", stats.recovered_records as f64);
    set(&object, "truncatedBytes", stats.truncated_bytes as f64);
    set(&object, "appends", stats.appends as f64);
    set(&object, "commits", stats.commits as f64);
    set(&object, "flushes", stats.flushes as f64);
    set(&object, "commitsFlushed", stats.commits_flushed as f64);
    set(
        &object,
        "maxCommitsPerFlush",
        stats.max_commits_per_flush as f64,
    );
    set(&object, "pendingCommits", stats.pending_commits as f64);
    set(&object, "poisoned", stats.poisoned);
    object.into()
}

/// Records as `[{lsn: bigint, payload: Uint8Array}, ...]`.
pub(crate) fn records_to_js(records: &[(Lsn, Vec<u8>)]) -> JsValue {
    let array = Array::new_with_length(records.len() as u32);
    for (index, (lsn, payload)) in records.iter().enumerate() {
        let record = Object::new();
        set(&record, "lsn", lsn_to_js(*lsn));
        set(&record, "payload", Uint8Array::from(payload.as_slice()));
        array.set(index as u32, record.into());
    }
    array.into()
}

/// One event as `{type, ...}`: `appended`, `drained`, `flushStarted`, `flushFinished`, or a
/// group-commit step (`led`, `waiting`, `syncStarted`, `syncSucceeded`, `acknowledged`, ...).
pub(crate) fn event_to_js(event: &LogEvent) -> JsValue {
    let object = Object::new();
    let kind = match *event {
        LogEvent::Appended {
            lsn,
            current,
            commit,
        } => {
            set(&object, "lsn", lsn_to_js(lsn));
            set(&object, "current", lsn_to_js(current));
            set(&object, "commit", commit);
            "appended"
        }
        LogEvent::Drained { written } => {
            set(&object, "written", lsn_to_js(written));
            "drained"
        }
        LogEvent::FlushStarted { upto, commits } => {
            set(&object, "upto", lsn_to_js(upto));
            set(&object, "commits", commits as f64);
            "flushStarted"
        }
        LogEvent::FlushFinished {
            durable,
            commits,
            records,
            elapsed_ms,
            ok,
        } => {
            set(&object, "durable", lsn_to_js(durable));
            set(&object, "commits", commits as f64);
            set(&object, "records", records as f64);
            set(&object, "elapsedMs", elapsed_ms);
            set(&object, "ok", ok);
            "flushFinished"
        }
        LogEvent::GroupCommit(event) => group_event(&object, event),
    };
    set(&object, "type", kind);
    object.into()
}

fn group_event(object: &Object, event: Event) -> &'static str {
    match event {
        Event::AlreadyDurable { target } => {
            set(object, "target", lsn_to_js(target));
            "alreadyDurable"
        }
        Event::Led { lead } => {
            set(object, "waiter", lead.leader.0 as f64);
            set(object, "target", lsn_to_js(lead.target));
            "led"
        }
        Event::Waiting { waiter, target } => {
            set(object, "waiter", waiter.0 as f64);
            set(object, "target", lsn_to_js(target));
            "waiting"
        }
        Event::Refused { target } => {
            set(object, "target", lsn_to_js(target));
            "refused"
        }
        Event::SyncStarted {
            leader,
            upto,
            waiting,
        } => {
            set(object, "waiter", leader.0 as f64);
            set(object, "upto", lsn_to_js(upto));
            set(object, "waiting", waiting as f64);
            "syncStarted"
        }
        Event::SyncSucceeded {
            leader,
            durable,
            covered,
        } => {
            set(object, "waiter", leader.0 as f64);
            set(object, "durable", lsn_to_js(durable));
            set(object, "covered", covered as f64);
            "syncSucceeded"
        }
        Event::Acknowledged { waiter, target } => {
            set(object, "waiter", waiter.0 as f64);
            set(object, "target", lsn_to_js(target));
            "acknowledged"
        }
        Event::LeaderElected { lead } => {
            set(object, "waiter", lead.leader.0 as f64);
            set(object, "target", lsn_to_js(lead.target));
            "leaderElected"
        }
        Event::SyncFailed { leader, upto } => {
            set(object, "waiter", leader.0 as f64);
            if let Some(upto) = upto {
                set(object, "upto", lsn_to_js(upto));
            }
            "syncFailed"
        }
        Event::WaiterFailed { waiter, target } => {
            set(object, "waiter", waiter.0 as f64);
            set(object, "target", lsn_to_js(target));
            "waiterFailed"
        }
    }
}
