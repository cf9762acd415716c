//! [`Answers`]: what one step of the worker answers, addressed: to its own page, or (as the
//! leader of several tabs) to the follower tab whose op it was.
//!
//! A follower's ops are served under ids of their own, from [`FIRST_REMOTE_ID`] up (a page's
//! ids count from 1 and never get there), so the pipeline never confuses two tabs' requests;
//! [`Routes`] remembers which tab and which of its ids each one stands for, until answered.
//!
//! Invariants: every answer goes to exactly the page or tab that asked, under the id it asked
//! with; the own page's LSN answers stay in columns (the hot path does no lookup).

use crate::batch::Acks;
use crate::log_error::LogError;
use crate::protocol::{reply_err, reply_ok};
use crate::worker_log::{FlushReport, RequestId};
use std::collections::{BTreeMap, HashMap};
use walden_core::Lsn;
use wasm_bindgen::JsValue;

/// The first id a follower's op is served under: 2^52, past any id a page counts to, still
/// exact as a JavaScript number.
pub(crate) const FIRST_REMOTE_ID: RequestId = 1 << 52;

/// Which follower tab, and which of its ids, each remote id stands for.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    next: RequestId,
    routes: HashMap<RequestId, (String, RequestId)>,
}

impl Routes {
    /// A new id for op `id` of tab `tab`.
    pub(crate) fn route(&mut self, tab: &str, id: RequestId) -> RequestId {
        let remote = FIRST_REMOTE_ID + self.next;
        self.next += 1;
        self.routes.insert(remote, (tab.to_owned(), id));
        remote
    }

    fn take(&mut self, remote: RequestId) -> Option<(String, RequestId)> {
        self.routes.remove(&remote)
    }
}

/// One follower tab's share of a step's answers.
#[derive(Default)]
pub(crate) struct TabAnswers {
    pub(crate) acks: Acks,
    pub(crate) replies: Vec<JsValue>,
}

enum Answer {
    Lsn(Lsn),
    Value(JsValue),
    Error(LogError),
}

/// What one step of the worker answers.
#[derive(Default)]
pub(crate) struct Answers {
    /// The own page's LSN answers and replies.
    pub(crate) acks: Acks,
    pub(crate) replies: Vec<JsValue>,
    /// Answers to followers' ops, by remote id.
    remote: Vec<(RequestId, Answer)>,
}

impl Answers {
    pub(crate) fn lsn(&mut self, id: RequestId, lsn: Lsn) {
        if id < FIRST_REMOTE_ID {
            self.acks.push(id, lsn);
        } else {
            self.remote.push((id, Answer::Lsn(lsn)));
        }
    }

    pub(crate) fn value(&mut self, id: RequestId, value: JsValue) {
        if id < FIRST_REMOTE_ID {
            self.replies.push(reply_ok(id, value));
        } else {
            self.remote.push((id, Answer::Value(value)));
        }
    }

    pub(crate) fn error(&mut self, id: RequestId, err: &LogError) {
        if id < FIRST_REMOTE_ID {
            self.replies.push(reply_err(id, err));
        } else {
            self.remote.push((id, Answer::Error(err.clone())));
        }
    }

    pub(crate) fn flush(&mut self, report: &FlushReport) {
        for (id, answer) in &report.answers {
            match answer {
                Ok(lsn) => self.lsn(*id, *lsn),
                Err(err) => self.error(*id, err),
            }
        }
    }

    pub(crate) fn page_is_empty(&self) -> bool {
        self.acks.is_empty() && self.replies.is_empty()
    }

    /// The followers' answers, by tab, under the ids they asked with (routes used up).
    pub(crate) fn take_remote(&mut self, routes: &mut Routes) -> BTreeMap<String, TabAnswers> {
        let mut by_tab: BTreeMap<String, TabAnswers> = BTreeMap::new();
        for (remote, answer) in self.remote.drain(..) {
            let Some((tab, id)) = routes.take(remote) else {
                continue;
            };
            let answers = by_tab.entry(tab).or_default();
            match answer {
                Answer::Lsn(lsn) => answers.acks.push(id, lsn),
                Answer::Value(value) => answers.replies.push(reply_ok(id, value)),
                Answer::Error(err) => answers.replies.push(reply_err(id, &err)),
            }
        }
        by_tab
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prevents an answer reaching the wrong tab or going out twice: every remote id is new,
    /// past every page id, and leads back to the tab and id it stands for exactly once.
    #[test]
    fn remote_ids_route_back_once_to_the_tab_that_asked() {
        let mut routes = Routes::default();
        let a = routes.route("tab-a", 7);
        let b = routes.route("tab-b", 7);
        assert!(a >= FIRST_REMOTE_ID && b >= FIRST_REMOTE_ID && a != b);
        assert!(
            (FIRST_REMOTE_ID as f64) as RequestId == FIRST_REMOTE_ID,
            "exact in JavaScript"
        );
        assert_eq!(routes.take(b), Some(("tab-b".to_owned(), 7)));
        assert_eq!(routes.take(b), None);
        assert_eq!(routes.take(a), Some(("tab-a".to_owned(), 7)));
    }
}
