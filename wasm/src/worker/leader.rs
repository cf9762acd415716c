//! Joining the tabs that share a log, and leading them: taking the Web Lock, opening and
//! recovering the file, announcing, and serving the followers' ops (see `tabs` for the
//! channels, `forwarded` for what a follower does with the answers).
//!
//! Invariants:
//! - A follower's record is told its LSN range before any byte of it can reach the file: a
//!   range is known before appending only while the record stays in the writer's buffer
//!   ([`WorkerLog::next_record_lsn`]), so the ranges assigned so far are posted before every
//!   step that can write (a drain to make room, an oversized record, a per-commit flush, a
//!   truncate) and at the end of each message, before the flush it schedules.
//! - A lost leader's unanswered ops are decided against this leader's recovered end before
//!   anything is appended after it.

use super::answers::Answers;
use super::{Role, Sharing, WorkerState};
use crate::batch::{BatchOp, OpBatch};
use crate::forwarded::{Decision, Forwarded, Outstanding, Place};
use crate::log_error::LogError;
use crate::opfs_storage::OpfsStorage;
use crate::protocol::{get, lsn_to_js, set};
use crate::tabs::{self, Announcement};
use crate::worker_log::{FlushPolicy, WorkerLog};
use crate::OpfsError;
use js_sys::{BigUint64Array, Float64Array, Function, Object, Promise};
use std::collections::HashMap;
use std::rc::Rc;
use walden_core::{frame_len, Lsn};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

/// How often, and how long apart, a new leader retries opening a file whose previous holder
/// is still letting go of it (its worker ended, the browser not yet done closing the handle).
const OPEN_ATTEMPTS: u32 = 100;
const OPEN_RETRY_MS: i32 = 20;

/// Where each follower record will lie, for one follower, posted before it can be written.
#[derive(Default)]
pub(super) struct Assigned {
    ids: Vec<f64>,
    lsns: Vec<u64>,
    ends: Vec<u64>,
}

impl Assigned {
    fn push(&mut self, id: u64, lsn: Lsn, end: Lsn) {
        self.ids.push(id as f64);
        self.lsns.push(lsn.get());
        self.ends.push(end.get());
    }
}

impl WorkerState {
    /// Starts meeting the other workers of log `name`: listens on its channels, asks for a
    /// leader, and queues for the Web Lock. False where Web Locks do not exist.
    pub(super) fn join(self: &Rc<Self>, name: &str) -> bool {
        let granted = {
            let state = Rc::clone(self);
            Closure::<dyn FnMut()>::new(move || state.become_leader())
        };
        let release = tabs::request_leadership(
            &tabs::lock_name(name),
            granted.as_ref().unchecked_ref::<Function>(),
        );
        // Called once, whenever the lock comes; it lives as long as the worker.
        granted.forget();
        if release.is_undefined() {
            return false;
        }
        let tab = tabs::new_tab_id();
        let channels = BroadcastChannel::new(&tabs::log_channel(name))
            .and_then(|log| Ok((log, BroadcastChannel::new(&tabs::inbox(name, &tab))?)));
        let (log_channel, inbox) = match channels {
            Ok(channels) => channels,
            Err(err) => {
                web_sys::console::error_2(&"walden: no BroadcastChannel".into(), &err);
                return false;
            }
        };
        for channel in [&log_channel, &inbox] {
            let state = Rc::clone(self);
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                super::timed(|| state.on_channel(&event.data()));
            });
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
        }
        let hello = Object::new();
        set(&hello, "hello", tab.as_str());
        let _ = log_channel.post_message(&hello);
        *self.sharing.borrow_mut() = Some(Sharing {
            name: name.to_owned(),
            tab,
            log_channel,
            inbox,
            release: release.dyn_into::<Function>().ok(),
            outboxes: HashMap::new(),
        });
        self.role.set(Role::Joining);
        true
    }

    /// This worker's tab id, once joined.
    pub(super) fn tab(&self) -> Option<String> {
        self.sharing
            .borrow()
            .as_ref()
            .map(|sharing| sharing.tab.clone())
    }

    /// A message from another worker: on the log's channel or this worker's inbox.
    fn on_channel(self: &Rc<Self>, data: &JsValue) {
        if let Some(announcement) = Announcement::from_js(data) {
            self.follow(announcement);
        } else if get(data, "hello").is_string() {
            if self.role.get() == Role::Leader {
                self.has_followers.set(true);
                self.announce();
            }
        } else if let Some(from) = get(data, "from").as_string() {
            if self.role.get() == Role::Leader {
                let sent_at = get(data, "sentAt").as_f64().unwrap_or(f64::NEG_INFINITY);
                match OpBatch::from_js(data) {
                    Some(Ok(batch)) => self.serve_remote(&from, &batch, sent_at),
                    Some(Err(err)) => web_sys::console::error_1(&err.to_string().into()),
                    None => {}
                }
            }
        } else if get(data, "leader").is_string() {
            self.relay(data);
        }
    }

    /// Holds the Web Lock (or there are none): opens and recovers the file, then leads.
    pub(super) fn become_leader(self: &Rc<Self>) {
        let Some(request) = self.request.borrow().clone() else {
            return;
        };
        match self.role.get() {
            Role::Leader => return,
            // Closed while queued for the lock: hand it straight on.
            Role::Closed => return self.step_down(),
            _ => {}
        }
        self.opening.set(true);
        let state = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            let opened = match open_when_released(&state, &request.name).await {
                Ok(storage) => WorkerLog::recover(storage, request.options, super::random_salt()),
                Err(err) => Err(LogError::from(err)),
            };
            state.opening.set(false);
            match opened {
                Ok(log) => state.lead(log),
                Err(err) => state.fail_to_lead(&err),
            }
        });
    }

    fn lead(self: &Rc<Self>, log: WorkerLog<OpfsStorage>) {
        let recovered_end = log.current_lsn();
        self.recovered_end.set(recovered_end);
        *self.log.borrow_mut() = Some(log);
        self.role.set(Role::Leader);
        self.epoch.set(self.epoch.get() + 1);
        let tab = self.tab().unwrap_or_default();
        let mut answers = Answers::default();
        // What this tab forwarded to a lost leader, decided; what it never sent, served here.
        let decided = self
            .outstanding
            .borrow_mut()
            .leader_lost(&tab, recovered_end);
        for (id, decision) in decided {
            match decision {
                Decision::Acknowledge(lsn) => answers.lsn(id, lsn),
                Decision::Reject(err) => answers.error(id, &err),
                Decision::Resend(op) => self.serve(id, resend_op(&op), &mut answers),
            }
        }
        *self.outstanding.borrow_mut() = Outstanding::default();
        let unsent = std::mem::take(&mut *self.unsent.borrow_mut());
        for (id, op) in unsent.ops() {
            match op {
                Ok(op) => self.serve(id, op, &mut answers),
                Err(err) => answers.error(id, &err),
            }
        }
        if let Some(id) = self.open_id.take() {
            if let Some(log) = self.log.borrow().as_ref() {
                answers.value(id, super::stats_value(log));
            }
        }
        self.post_role();
        self.send(answers);
        self.announce();
        if let Some(id) = self.closing.take() {
            let mut answers = Answers::default();
            self.serve(id, BatchOp::Close, &mut answers);
            self.send(answers);
        }
        self.schedule_flush_if_due(true);
    }

    /// Opening or recovering failed: everything waiting gets the error, and the lock goes to
    /// the next tab (which will likely fail the same way, and say so to its page).
    fn fail_to_lead(&self, err: &LogError) {
        let mut answers = Answers::default();
        if let Some(id) = self.open_id.take() {
            answers.error(id, err);
        }
        let decided = self.outstanding.borrow_mut().leader_lost("", Lsn::ZERO);
        for (id, _) in decided {
            answers.error(id, err);
        }
        let unsent = std::mem::take(&mut *self.unsent.borrow_mut());
        for id in unsent.ids() {
            answers.error(id, err);
        }
        *self.outstanding.borrow_mut() = Outstanding::default();
        if let Some(id) = self.closing.take() {
            answers.lsn(id, self.durable.get());
        }
        self.send(answers);
        self.step_down();
    }

    /// Stops serving and releases the Web Lock, so that the next tab leads.
    pub(super) fn step_down(&self) {
        self.role.set(Role::Closed);
        if let Some(sharing) = self.sharing.borrow_mut().as_mut() {
            sharing.inbox.close();
            sharing.log_channel.close();
            if let Some(release) = sharing.release.take() {
                let _ = release.call0(&JsValue::NULL);
            }
        }
    }

    /// Tells every worker of the log who leads, where its recovered records end, and its stats.
    fn announce(&self) {
        let (Some(tab), Some(stats), Some(durable)) = (
            self.tab(),
            self.log.borrow().as_ref().map(super::stats_value),
            self.log.borrow().as_ref().map(WorkerLog::durable_lsn),
        ) else {
            return;
        };
        let announcement = Announcement {
            leader: tab,
            epoch: self.epoch.get(),
            recovered_end: self.recovered_end.get(),
            durable,
            stats,
        };
        if let Some(sharing) = self.sharing.borrow().as_ref() {
            let _ = sharing.log_channel.post_message(&announcement.to_js());
        }
    }

    /// Serves a follower's batch (posted at `sent_at`, on the clock pages stamp with): each op
    /// under an id of this worker's (`Routes`), each record told its place before it can be
    /// written.
    fn serve_remote(self: &Rc<Self>, from: &str, batch: &OpBatch, sent_at: f64) {
        self.has_followers.set(true);
        let mut answers = Answers::default();
        let mut assigned = Assigned::default();
        if let Err(err) = batch.validate() {
            for id in batch.ids() {
                let remote = self.routes.borrow_mut().route(from, id);
                answers.error(remote, &err);
            }
            self.send(answers);
            return;
        }
        let per_commit = self
            .log
            .borrow()
            .as_ref()
            .is_some_and(|log| log.flush_policy() == FlushPolicy::PerCommit);
        for (id, op) in batch.ops() {
            let remote = self.routes.borrow_mut().route(from, id);
            match op {
                Ok(op @ (BatchOp::Append(payload) | BatchOp::Commit(payload))) => {
                    if let Some((lsn, written_at_once)) =
                        self.place(payload.len(), from, &mut assigned)
                    {
                        let end =
                            Lsn::new(lsn.get().saturating_add(frame_len(payload.len()) as u64));
                        assigned.push(id, lsn, end);
                        let commit = matches!(op, BatchOp::Commit(_));
                        if written_at_once || (commit && per_commit) {
                            self.post_assigned(from, &mut assigned);
                        }
                    }
                    self.serve(remote, op, &mut answers);
                }
                Ok(BatchOp::Observe(_) | BatchOp::Close) => answers.error(
                    remote,
                    &LogError::BadRequest {
                        message: "a follower's worker answers observe and close itself".to_owned(),
                    },
                ),
                Ok(op) => {
                    // A truncate flushes: what is assigned must be told first.
                    self.post_assigned(from, &mut assigned);
                    self.serve(remote, op, &mut answers);
                }
                Err(err) => answers.error(remote, &err),
            }
        }
        self.post_assigned(from, &mut assigned);
        self.send(answers);
        // As for the own page's messages (see `FlushScheduler`): one sent after the last flush
        // ended found the leader idle, so its flush need not wait for a new task.
        self.schedule_flush_if_due(sent_at <= self.last_flush_end_ms.get());
    }

    /// Where a follower's record of `len` bytes will start, and whether it is written as it is
    /// appended (larger than the buffer); `None` if it will not be appended (refused, or a
    /// drain failed). Posts what is assigned so far before draining.
    fn place(&self, len: usize, from: &str, assigned: &mut Assigned) -> Option<(Lsn, bool)> {
        {
            let guard = self.log.borrow();
            let log = guard.as_ref()?;
            if let Some(lsn) = log.next_record_lsn(len) {
                return Some((lsn, false));
            }
            if log.refuses(len) {
                return None;
            }
        }
        self.post_assigned(from, assigned);
        let mut guard = self.log.borrow_mut();
        let log = guard.as_mut()?;
        log.drain().ok()?;
        Some((log.current_lsn(), log.next_record_lsn(len).is_none()))
    }

    fn post_assigned(&self, to: &str, assigned: &mut Assigned) {
        if assigned.ids.is_empty() {
            return;
        }
        let taken = std::mem::take(assigned);
        let columns = Object::new();
        set(&columns, "ids", Float64Array::from(taken.ids.as_slice()));
        set(
            &columns,
            "lsns",
            BigUint64Array::from(taken.lsns.as_slice()),
        );
        set(
            &columns,
            "ends",
            BigUint64Array::from(taken.ends.as_slice()),
        );
        let message = self.leader_message();
        set(&message, "assigned", columns);
        self.post_to_tab(to, &message);
    }

    /// `{leader: this tab}`, the start of every message to a follower.
    fn leader_message(&self) -> Object {
        let message = Object::new();
        set(&message, "leader", self.tab().unwrap_or_default());
        message
    }

    /// Posts `message` to worker `tab`'s inbox.
    pub(super) fn post_to_tab(&self, tab: &str, message: &JsValue) {
        let mut sharing = self.sharing.borrow_mut();
        let Some(sharing) = sharing.as_mut() else {
            return;
        };
        let name = sharing.name.clone();
        let channel = match sharing.outboxes.get(tab) {
            Some(channel) => channel.clone(),
            None => match BroadcastChannel::new(&tabs::inbox(&name, tab)) {
                Ok(channel) => {
                    sharing.outboxes.insert(tab.to_owned(), channel.clone());
                    channel
                }
                Err(_) => return,
            },
        };
        if let Err(err) = channel.post_message(message) {
            web_sys::console::error_2(&"walden: could not post to another tab".into(), &err);
        }
    }

    /// Sends the followers their share of `answers`, and the durable LSN to every follower when
    /// it moved.
    pub(super) fn send_to_followers(&self, answers: &mut Answers, durable: Lsn) {
        if self.role.get() != Role::Leader && self.role.get() != Role::Closed {
            return;
        }
        let by_tab = answers.take_remote(&mut self.routes.borrow_mut());
        for (tab, share) in by_tab {
            let message = self.leader_message();
            if !share.acks.is_empty() {
                set(&message, "acks", share.acks.to_js().0);
            }
            if !share.replies.is_empty() {
                set(
                    &message,
                    "replies",
                    share.replies.into_iter().collect::<js_sys::Array>(),
                );
            }
            set(&message, "durable", lsn_to_js(durable));
            self.post_to_tab(&tab, &message);
        }
        if self.has_followers.get() && durable > self.broadcast_durable.get() {
            self.broadcast_durable.set(durable);
            let message = self.leader_message();
            set(&message, "durable", lsn_to_js(durable));
            if let Some(sharing) = self.sharing.borrow().as_ref() {
                let _ = sharing.log_channel.post_message(&message);
            }
        }
    }
}

/// The op a resent read, stats or never-placed record is served as.
fn resend_op(op: &Forwarded) -> BatchOp<'_> {
    match op {
        Forwarded::Read { from, max_bytes } => BatchOp::Read {
            from: *from,
            max_bytes: *max_bytes as usize,
        },
        Forwarded::Record {
            commit: true,
            place: Place::Unassigned(payload),
        } => BatchOp::Commit(payload),
        Forwarded::Record {
            commit: false,
            place: Place::Unassigned(payload),
        } => BatchOp::Append(payload),
        _ => BatchOp::Stats,
    }
}

/// Opens the file, retrying while the previous leader's handle is still being closed.
async fn open_when_released(state: &WorkerState, name: &str) -> Result<OpfsStorage, OpfsError> {
    let mut attempt = 1;
    loop {
        match OpfsStorage::open(name).await {
            Err(OpfsError::Locked { .. }) if attempt < OPEN_ATTEMPTS => {
                attempt += 1;
                sleep(state, OPEN_RETRY_MS).await;
            }
            other => return other,
        }
    }
}

async fn sleep(state: &WorkerState, ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = state
            .scope
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}
