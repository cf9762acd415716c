//! The messages between the page ([`crate::WaldenLog`]) and the worker ([`crate::worker_main`]),
//! except the binary op batches and LSN answers of the hot path (`batch`).
//!
//! Page to worker: `{open: {id, name, flushPerCommit?, flushScheduler?, durability?, recovery?}}`
//! to open the log, and
//! `{batch: ..., sentAt}` (see `batch`; `sentAt` is the page's `performance.timeOrigin +
//! performance.now()` when it posted) for everything after.
//!
//! Worker to page: `{ready: true}` once the worker's wasm is running; `{fatal: message}` if it
//! cannot start; otherwise `{acks?: {ids, lsns}, replies?: [{id, ok: true, value} | {id, ok:
//! false, error: {kind, message}}], durable: bigint, events?: [...]}`.
//!
//! Invariants: LSNs cross as `bigint` (they are u64 byte positions, beyond 2^53 in long-lived
//! logs); every op carries the page's `id` and gets exactly one answer with it.

use crate::events::LogEvent;
use crate::log_error::LogError;
use crate::worker_log::{FlushPolicy, LogOptions, LogStats, RequestId};
use js_sys::{Array, Object, Reflect, Uint8Array};
use walden_core::{Durability, Event, Lsn, Recovery, RecoveryMode, TailKind};
use wasm_bindgen::JsValue;

/// The page's request to open a log.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OpenRequest {
    pub(crate) name: String,
    pub(crate) options: LogOptions,
    pub(crate) scheduler: FlushScheduler,
}

/// How the worker ends the group-commit window: when it runs the flush that the commits of a
/// message need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushScheduler {
    /// The default. A message the page sent after the worker's last flush ended was sent to
    /// an idle worker, so nothing piled up with it: flush right after it (a microtask), with no
    /// delay. A message sent before the last flush ended waited during that flush, and others
    /// may have piled up behind it: flush in a new task (`setTimeout(0)`), after every message
    /// already queued, so they all share it. (A message posted within the few microseconds
    /// between an idle worker's receiving one message and flushing it gets the next flush.)
    Adaptive,
    /// Always `setTimeout(0)`: a new task, queued behind the messages already waiting.
    Timeout,
    /// Always a message on a private `MessageChannel`: also a new task, but each post crosses
    /// Chromium's message-port plumbing, which costs more.
    Channel,
    /// Always `queueMicrotask`: right after the current message, before any other; groups only
    /// the commits of one page message.
    Microtask,
}

/// The default cap on the bytes one `read` returns.
pub(crate) const DEFAULT_READ_MAX_BYTES: u32 = 4 << 20;

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

/// The open request of a page message, if it is one: its id and what it asks.
pub(crate) fn decode_open(message: &JsValue) -> Option<(RequestId, Result<OpenRequest, LogError>)> {
    let open = get(message, "open");
    if open.is_undefined() {
        return None;
    }
    let id = get(&open, "id").as_f64()? as RequestId;
    Some((id, open_request(&open)))
}

fn bad(message: String) -> LogError {
    LogError::BadRequest { message }
}

fn open_request(open: &JsValue) -> Result<OpenRequest, LogError> {
    let name = get(open, "name")
        .as_string()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| bad("open needs a non-empty log name".to_owned()))?;
    let mut options = LogOptions::default();
    if get(open, "flushPerCommit").as_bool() == Some(true) {
        options.flush_policy = FlushPolicy::PerCommit;
    }
    options.writer.durability = match get(open, "durability").as_string().as_deref() {
        None | Some("flush") => Durability::SyncData,
        Some("buffered") => Durability::Buffered,
        Some(other) => {
            return Err(bad(format!(
                "unknown durability {other:?}: use \"flush\" (the default: a commit resolves once \
                 OPFS flush() returned) or \"buffered\" (once written, before the flush)"
            )))
        }
    };
    options.writer.recovery_mode = match get(open, "recovery").as_string().as_deref() {
        None | Some("tolerateTornTail") => RecoveryMode::TolerateTornTail,
        Some("absoluteConsistency") => RecoveryMode::AbsoluteConsistency,
        Some("pointInTime") => RecoveryMode::PointInTime,
        Some(other) => {
            return Err(bad(format!(
                "unknown recovery mode {other:?}: use \"tolerateTornTail\" (the default), \
                 \"absoluteConsistency\" or \"pointInTime\""
            )))
        }
    };
    let scheduler = match get(open, "flushScheduler").as_string().as_deref() {
        None | Some("adaptive") => FlushScheduler::Adaptive,
        Some("timeout") => FlushScheduler::Timeout,
        Some("channel") => FlushScheduler::Channel,
        Some("microtask") => FlushScheduler::Microtask,
        Some(other) => {
            return Err(bad(format!(
                "unknown flushScheduler {other:?}: use \"adaptive\", \"timeout\", \"channel\" or \"microtask\""
            )))
        }
    };
    Ok(OpenRequest {
        name,
        options,
        scheduler,
    })
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
    set(
        &object,
        "flushMsTotal",
        stats.flush_micros_total as f64 / 1000.0,
    );
    set(&object, "pendingCommits", stats.pending_commits as f64);
    set(&object, "poisoned", stats.poisoned);
    object.into()
}

/// What recovery found when the log was opened: `{mode, baseLsn, endLsn, records, tailCut,
/// tail: null | {kind, at, bytes, damage?, nextValid?}}`; `kind` is `zeroed` (never-written
/// space), `torn` (an incomplete or damaged last write), `unsynced` (damage in a batch that was
/// never flushed, valid frames after it) or `discarded` (`pointInTime` salvage: everything
/// from the damage on was dropped, valid frames included).
pub(crate) fn recovery_to_js(recovery: &Recovery, mode: RecoveryMode, tail_cut: bool) -> JsValue {
    let object = Object::new();
    let mode = match mode {
        RecoveryMode::TolerateTornTail => "tolerateTornTail",
        RecoveryMode::AbsoluteConsistency => "absoluteConsistency",
        RecoveryMode::PointInTime => "pointInTime",
    };
    set(&object, "mode", mode);
    set(&object, "baseLsn", lsn_to_js(recovery.base_lsn));
    set(&object, "endLsn", lsn_to_js(recovery.end_lsn));
    set(&object, "records", recovery.records as f64);
    set(&object, "tailCut", tail_cut);
    let tail = match recovery.tail {
        None => JsValue::NULL,
        Some(tail) => {
            let value = Object::new();
            set(&value, "at", lsn_to_js(tail.at));
            set(&value, "bytes", tail.bytes as f64);
            let (kind, damage, next_valid) = match tail.kind {
                TailKind::Zeroed => ("zeroed", None, None),
                TailKind::Torn(damage) => ("torn", Some(damage), None),
                TailKind::Unsynced { damage, next_valid } => {
                    ("unsynced", Some(damage), Some(next_valid))
                }
                TailKind::Discarded { damage, next_valid } => {
                    ("discarded", Some(damage), Some(next_valid))
                }
            };
            set(&value, "kind", kind);
            if let Some(damage) = damage {
                set(&value, "damage", damage.to_string());
            }
            if let Some(next_valid) = next_valid {
                set(&value, "nextValid", lsn_to_js(next_valid));
            }
            value.into()
        }
    };
    set(&object, "tail", tail);
    object.into()
}

/// A read's answer: `{records: [{lsn: bigint, payload: Uint8Array}, ...], next: bigint}`, where
/// `next` is where the following read starts (past the last record, or `from` when none was
/// returned).
pub(crate) fn read_page_to_js(records: &[(Lsn, Vec<u8>)], next: Lsn) -> JsValue {
    let object = Object::new();
    set(&object, "records", records_to_js(records));
    set(&object, "next", lsn_to_js(next));
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
