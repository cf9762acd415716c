//! How the workers of several tabs share one log: the names they meet under, the Web Lock that
//! elects the leader, and the announcement a leader makes.
//!
//! Every tab's worker that opens log `name` queues for the exclusive Web Lock `walden:name`
//! (`navigator.locks.request`). The holder is the *leader*: it alone opens the OPFS sync access
//! handle, recovers and serves the log. The others are *followers*: they forward their page's
//! ops to the leader and relay its answers. The lock is released when the leader closes the
//! log, or by the browser when the leader's worker ends (tab closed, reloaded or crashed, or
//! the worker terminated); the next worker in the queue takes it, recovers, and announces.
//!
//! Channels (`BroadcastChannel`s, which reach every context of the origin but the sender):
//! - `walden:name` (the log's): `{hello: tab}` from a worker looking for the leader;
//!   `{announce: {leader, epoch, recoveredEnd, durable, stats}}` from a new leader, and again in
//!   answer to a hello; `{durable, leader}` after the leader's flushes, for idle followers.
//! - `walden:name:to:tab` (one per worker): a follower's `{from, batch}` to the leader, and the
//!   leader's `{leader, assigned?, acks?, replies?, durable}` to a follower.
//!
//! Invariants: at most one leader at a time (the lock); a worker leads at most once, and its
//! tab id names it, so an answer or announcement says which leader sent it; the epoch counts
//! leaders up (for people reading logs; ordering uses the tab id).

use crate::protocol::{get, lsn_from_js, lsn_to_js, set};
use js_sys::{Function, Object};
use walden_core::Lsn;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

#[wasm_bindgen(inline_js = r#"
export function requestLeadership(name, granted) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks) return undefined;
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  locks.request(name, { mode: "exclusive" }, () => { granted(); return held; })
    .catch((error) => console.error("walden: the Web Lock request failed", error));
  return release;
}
export function newTabId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
"#)]
extern "C" {
    /// Queues for the exclusive lock `name`; calls `granted` once held. Returns the function
    /// that releases it, or `undefined` where Web Locks do not exist.
    #[wasm_bindgen(js_name = requestLeadership)]
    pub(crate) fn request_leadership(name: &str, granted: &Function) -> JsValue;
    /// A unique id for this worker.
    #[wasm_bindgen(js_name = newTabId)]
    pub(crate) fn new_tab_id() -> String;
}

/// The Web Lock's name for log `name`.
pub(crate) fn lock_name(name: &str) -> String {
    format!("walden:{name}")
}

/// The log's own channel.
pub(crate) fn log_channel(name: &str) -> String {
    format!("walden:{name}")
}

/// The channel worker `tab` listens on for log `name`.
pub(crate) fn inbox(name: &str, tab: &str) -> String {
    format!("walden:{name}:to:{tab}")
}

/// A leader's announcement.
#[derive(Clone, Debug)]
pub(crate) struct Announcement {
    pub(crate) leader: String,
    pub(crate) epoch: u32,
    /// Where the records this leader recovered end: a record the lost leader placed below it is
    /// in the log, anything past it is not.
    pub(crate) recovered_end: Lsn,
    pub(crate) durable: Lsn,
    /// The leader's stats, its recovery report included (the follower's open answers with it).
    pub(crate) stats: JsValue,
}

impl Announcement {
    pub(crate) fn to_js(&self) -> JsValue {
        let value = Object::new();
        set(&value, "leader", self.leader.as_str());
        set(&value, "epoch", self.epoch);
        set(&value, "recoveredEnd", lsn_to_js(self.recovered_end));
        set(&value, "durable", lsn_to_js(self.durable));
        set(&value, "stats", self.stats.clone());
        let message = Object::new();
        set(&message, "announce", value);
        message.into()
    }

    /// The announcement a message carries, if it carries one.
    pub(crate) fn from_js(message: &JsValue) -> Option<Announcement> {
        let value = get(message, "announce");
        if value.is_undefined() {
            return None;
        }
        Some(Announcement {
            leader: get(&value, "leader").as_string()?,
            epoch: get(&value, "epoch").as_f64()? as u32,
            recovered_end: lsn_from_js(&get(&value, "recoveredEnd"))?,
            durable: lsn_from_js(&get(&value, "durable"))?,
            stats: get(&value, "stats"),
        })
    }
}
