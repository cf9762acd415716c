//! [`WaldenRecords`]: `log.records(fromLsn?)`, an async iterator over the durable records,
//! read a page (about 4 MiB) at a time, so a page never does LSN arithmetic or learns the
//! frame format: each read answers where the next one starts.
//!
//! Invariants: records come in LSN order, each once; the iterator ends at the durable LSN it
//! reaches (records committed later are not waited for); an error rejects `next()` once and
//! ends the iteration.

use super::conn::{Client, Op};
use crate::protocol::{get, lsn_from_js, set, DEFAULT_READ_MAX_BYTES};
use js_sys::{Array, Object, Promise};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use walden_core::Lsn;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

struct Cursor {
    client: Rc<Client>,
    /// Where the next read starts; `None` until the log's base LSN is known.
    next: Option<Lsn>,
    /// Records read and not yet yielded.
    buffered: VecDeque<JsValue>,
    done: bool,
}

/// The iterator `records()` returns (also an async iterable: `for await` takes it).
#[wasm_bindgen]
pub struct WaldenRecords {
    cursor: Rc<RefCell<Cursor>>,
}

impl WaldenRecords {
    /// The iterator from `from` (an LSN as JavaScript gives it), or from the log's first
    /// record when `None`. A `from` that is no LSN rejects the first `next()`.
    pub(crate) fn start(client: Rc<Client>, from: Option<JsValue>) -> JsValue {
        let (next, done_with) = match from {
            None => (None, None),
            Some(from) => match lsn_from_js(&from) {
                Some(lsn) => (Some(lsn), None),
                None => (None, Some(())),
            },
        };
        let iterator = WaldenRecords {
            cursor: Rc::new(RefCell::new(Cursor {
                client,
                next,
                buffered: VecDeque::new(),
                done: false,
            })),
        };
        if done_with.is_some() {
            // Reported by the first next(): the same badRequest a read gives.
            iterator.cursor.borrow_mut().next = Some(Lsn::new(u64::MAX));
        }
        super::js::make_async_iterable(iterator.into())
    }
}

fn step(value: &JsValue, done: bool) -> JsValue {
    let result = Object::new();
    set(&result, "value", value.clone());
    set(&result, "done", done);
    result.into()
}

#[wasm_bindgen]
impl WaldenRecords {
    /// The next record, as `{value: {lsn, payload}, done: false}`, or `{done: true}` at the
    /// durable end.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<WaldenRecord, undefined>>")]
    pub fn next(&self) -> Promise {
        let cursor = Rc::clone(&self.cursor);
        wasm_bindgen_futures::future_to_promise(async move {
            loop {
                let (client, from) = {
                    let mut state = cursor.borrow_mut();
                    if let Some(record) = state.buffered.pop_front() {
                        return Ok(step(&record, false));
                    }
                    if state.done {
                        return Ok(step(&JsValue::UNDEFINED, true));
                    }
                    (Rc::clone(&state.client), state.next)
                };
                let from = match from {
                    Some(from) => from,
                    None => {
                        let stats = JsFuture::from(client.issue(Op::Stats)).await;
                        let base = stats
                            .as_ref()
                            .ok()
                            .and_then(|stats| lsn_from_js(&get(stats, "baseLsn")));
                        match (stats, base) {
                            (Ok(_), Some(base)) => base,
                            (Err(err), _) => {
                                cursor.borrow_mut().done = true;
                                return Err(err);
                            }
                            (Ok(_), None) => Lsn::ZERO,
                        }
                    }
                };
                if from.get() == u64::MAX {
                    cursor.borrow_mut().done = true;
                    return Err(super::conn::error_value(
                        "badRequest",
                        "records needs `fromLsn`: an LSN (bigint) returned by append or commit",
                    ));
                }
                let page = JsFuture::from(client.issue(Op::Read {
                    from,
                    max_bytes: DEFAULT_READ_MAX_BYTES,
                }))
                .await;
                let page = match page {
                    Ok(page) => page,
                    Err(err) => {
                        cursor.borrow_mut().done = true;
                        return Err(err);
                    }
                };
                let records: Array = get(&page, "records").unchecked_into();
                let next = lsn_from_js(&get(&page, "next")).unwrap_or(from);
                let mut state = cursor.borrow_mut();
                if records.length() == 0 || next <= from {
                    state.done = true;
                } else {
                    state.next = Some(next);
                    state.buffered.extend(records.iter());
                }
            }
        })
    }

    /// Ends the iteration early (`break` in `for await` calls it).
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<WaldenRecord, undefined>>"
    )]
    pub fn finish(&self) -> Promise {
        let mut state = self.cursor.borrow_mut();
        state.done = true;
        state.buffered.clear();
        Promise::resolve(&step(&JsValue::UNDEFINED, true))
    }
}
