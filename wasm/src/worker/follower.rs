//! Following: forwarding the page's ops to the leader, relaying its answers, and taking the
//! ops the lost leader never answered to the next one (decided by `forwarded`: acknowledged,
//! `leaderLost`, or sent again when the lost leader never placed them).
//!
//! Invariants: every op of the page is answered once, by the leader's answer, by the decision
//! when its leader is lost, or here (observe, close); answers from any worker but the current
//! leader are ignored; the page's `close` is answered once nothing it forwarded is left
//! unanswered.

use super::answers::Answers;
use super::{Role, WorkerState};
use crate::batch::{BatchOp, OpBatch};
use crate::forwarded::{Decision, Forwarded, Place};
use crate::protocol::{get, lsn_from_js, reply_ok, set};
use crate::tabs::Announcement;
use crate::worker_log::RequestId;
use js_sys::{Array, BigUint64Array, Float64Array};
use std::rc::Rc;
use walden_core::Lsn;
use wasm_bindgen::{JsCast, JsValue};

impl WorkerState {
    /// The page's batch, forwarded to the leader (or kept until one is known).
    pub(super) fn forward_page_batch(self: &Rc<Self>, batch: &OpBatch) {
        let mut answers = Answers::default();
        if let Err(err) = batch.validate() {
            batch.ids().for_each(|id| answers.error(id, &err));
            self.send(answers);
            return;
        }
        let leader = self.leader.borrow().clone();
        let mut forward = OpBatch::default();
        {
            let mut outstanding = self.outstanding.borrow_mut();
            for (id, op) in batch.ops() {
                let forwarded = match op {
                    Ok(BatchOp::Append(payload)) => {
                        forward.push_payload(false, id, payload);
                        Forwarded::record(false, payload)
                    }
                    Ok(BatchOp::Commit(payload)) => {
                        forward.push_payload(true, id, payload);
                        Forwarded::record(true, payload)
                    }
                    Ok(BatchOp::Read { from, max_bytes }) => {
                        let max_bytes = u32::try_from(max_bytes).unwrap_or(u32::MAX);
                        forward.push_read(id, from, max_bytes);
                        Forwarded::Read { from, max_bytes }
                    }
                    Ok(BatchOp::Stats) => {
                        forward.push_stats(id);
                        Forwarded::Stats
                    }
                    Ok(BatchOp::Truncate) => {
                        forward.push_truncate(id);
                        Forwarded::Truncate
                    }
                    Ok(BatchOp::Observe(_)) => {
                        // Events are the leader's; a follower's page gets none.
                        answers.value(id, JsValue::UNDEFINED);
                        continue;
                    }
                    Ok(BatchOp::Close) => {
                        self.closing.set(Some(id));
                        continue;
                    }
                    Err(err) => {
                        answers.error(id, &err);
                        continue;
                    }
                };
                outstanding.insert(id, leader.as_deref(), forwarded);
            }
        }
        match leader {
            Some(leader) => self.post_to_leader(&leader, &forward),
            None => self.unsent.borrow_mut().extend(&forward),
        }
        self.send(answers);
        self.finish_close_if_done();
    }

    fn post_to_leader(&self, leader: &str, batch: &OpBatch) {
        if batch.is_empty() {
            return;
        }
        let (message, _) = batch.to_js();
        set(&message, "from", self.tab().unwrap_or_default());
        // Stamped as the page stamps its own: the leader flushes a message sent to it while
        // idle at once, without waiting for a new task.
        set(&message, "sentAt", super::epoch_ms());
        self.post_to_tab(leader, &message);
    }

    /// A leader's message to this worker: where records will lie, answers, the durable LSN.
    pub(super) fn relay(&self, data: &JsValue) {
        let from = get(data, "leader").as_string();
        let is_current = from.is_some() && *self.leader.borrow() == from;
        if !is_current || self.role.get() != Role::Follower {
            return;
        }
        let mut moved = false;
        if let Some(durable) = lsn_from_js(&get(data, "durable")) {
            if durable > self.durable.get() {
                self.durable.set(durable);
                moved = true;
            }
        }
        let leader = from.unwrap_or_default();
        let mut answers = Answers::default();
        {
            let mut outstanding = self.outstanding.borrow_mut();
            let assigned = get(data, "assigned");
            if let (Ok(ids), Ok(lsns), Ok(ends)) = (
                get(&assigned, "ids").dyn_into::<Float64Array>(),
                get(&assigned, "lsns").dyn_into::<BigUint64Array>(),
                get(&assigned, "ends").dyn_into::<BigUint64Array>(),
            ) {
                let (ids, lsns, ends) = (ids.to_vec(), lsns.to_vec(), ends.to_vec());
                for ((id, lsn), end) in ids.iter().zip(&lsns).zip(&ends) {
                    outstanding.assign(&leader, *id as RequestId, Lsn::new(*lsn), Lsn::new(*end));
                }
            }
            let acks = get(data, "acks");
            if let (Ok(ids), Ok(lsns)) = (
                get(&acks, "ids").dyn_into::<Float64Array>(),
                get(&acks, "lsns").dyn_into::<BigUint64Array>(),
            ) {
                for (id, lsn) in ids.to_vec().iter().zip(lsns.to_vec()) {
                    if outstanding.answered(&leader, *id as RequestId) {
                        answers.lsn(*id as RequestId, Lsn::new(lsn));
                    }
                }
            }
            if let Some(replies) = get(data, "replies").dyn_ref::<Array>() {
                for reply in replies.iter() {
                    let id = get(&reply, "id").as_f64().unwrap_or(-1.0);
                    if id >= 0.0 && outstanding.answered(&leader, id as RequestId) {
                        answers.replies.push(reply);
                    }
                }
            }
        }
        if answers.page_is_empty() && moved {
            // Nothing to answer, but the page's durableLsn moves.
            let message = js_sys::Object::new();
            set(
                &message,
                "durable",
                crate::protocol::lsn_to_js(self.durable.get()),
            );
            self.post_to_page(&message, &Array::new());
        }
        self.send(answers);
        self.finish_close_if_done();
    }

    /// A leader announced itself: a new one means the last was lost, so what was sent to that
    /// one and never answered is decided now, and what waited goes to the new one.
    pub(super) fn follow(self: &Rc<Self>, announcement: Announcement) {
        if !matches!(self.role.get(), Role::Joining | Role::Follower) {
            return;
        }
        self.epoch.set(self.epoch.get().max(announcement.epoch));
        if announcement.durable > self.durable.get() {
            self.durable.set(announcement.durable);
        }
        let mut answers = Answers::default();
        let new_leader = self.leader.borrow().as_deref() != Some(announcement.leader.as_str());
        if new_leader {
            let leader = announcement.leader.clone();
            let mut resend = OpBatch::default();
            let decided = self
                .outstanding
                .borrow_mut()
                .leader_lost(&leader, announcement.recovered_end);
            for (id, decision) in decided {
                match decision {
                    Decision::Acknowledge(lsn) => answers.lsn(id, lsn),
                    Decision::Reject(err) => answers.error(id, &err),
                    Decision::Resend(op) => {
                        match &op {
                            Forwarded::Read { from, max_bytes } => {
                                resend.push_read(id, *from, *max_bytes);
                            }
                            Forwarded::Record {
                                commit,
                                place: Place::Unassigned(payload),
                            } => resend.push_payload(*commit, id, payload),
                            _ => resend.push_stats(id),
                        }
                        self.outstanding.borrow_mut().insert(id, Some(&leader), op);
                    }
                }
            }
            self.outstanding.borrow_mut().sent_unsent(&leader);
            resend.extend(&std::mem::take(&mut *self.unsent.borrow_mut()));
            *self.leader.borrow_mut() = Some(leader.clone());
            self.post_to_leader(&leader, &resend);
        }
        self.role.set(Role::Follower);
        if let Some(id) = self.open_id.take() {
            answers
                .replies
                .push(reply_ok(id, announcement.stats.clone()));
        }
        if new_leader {
            self.post_role();
        }
        self.send(answers);
        self.finish_close_if_done();
    }

    /// Answers the page's close once everything it forwarded is answered.
    fn finish_close_if_done(&self) {
        let done = self.outstanding.borrow().is_empty() && self.unsent.borrow().is_empty();
        if !done || !matches!(self.role.get(), Role::Joining | Role::Follower) {
            return;
        }
        if let Some(id) = self.closing.take() {
            self.role.set(Role::Closed);
            let mut answers = Answers::default();
            answers.lsn(id, self.durable.get());
            self.send(answers);
        }
    }
}
