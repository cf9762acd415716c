//! The binary form of the ops a page sends and of the LSNs the worker answers with.
//!
//! A burst of commits is the hot path: per op, the page copies the payload into one growing
//! buffer and appends a few numbers to typed columns; the worker copies each column into its
//! memory once per message, and answers every LSN of a flush with two typed arrays. No op
//! becomes a JavaScript object, so nothing per op is structured-cloned or reflected on.
//!
//! Page to worker: `{batch: {kinds: Uint8Array, ids: Float64Array, args: BigUint64Array,
//! lens: Uint32Array, bytes: Uint8Array}}` (buffers transferred). Op `i` has kind `kinds[i]`
//! (append, commit, read, stats, observe, close), the page's request id `ids[i]`, an argument
//! `args[i]` (read: the LSN to read from; observe: 1 or 0) and a length `lens[i]` (append and
//! commit: the payload's bytes, which follow the previous op's in `bytes`; read: the byte cap).
//! Worker to page: `{acks: {ids: Float64Array, lsns: BigUint64Array}}` for answers that are an
//! LSN, beside the object replies of `protocol`.
//!
//! Invariants: ops are served in the order they were issued; a batch whose columns disagree in
//! length, or whose lengths overrun `bytes`, is refused as a whole (every id answered).

use crate::log_error::LogError;
use crate::worker_log::RequestId;
use js_sys::{Array, BigUint64Array, Float64Array, Object, Uint32Array, Uint8Array};
use walden_core::Lsn;
use wasm_bindgen::{JsCast, JsValue};

/// Op kinds, as numbered on the wire.
const KIND_APPEND: u8 = 1;
const KIND_COMMIT: u8 = 2;
const KIND_READ: u8 = 3;
const KIND_STATS: u8 = 4;
const KIND_OBSERVE: u8 = 5;
const KIND_CLOSE: u8 = 6;
const KIND_TRUNCATE: u8 = 7;

/// One op of a batch, borrowing its payload from the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchOp<'a> {
    Append(&'a [u8]),
    Commit(&'a [u8]),
    Read { from: Lsn, max_bytes: usize },
    Stats,
    Observe(bool),
    Close,
    Truncate,
}

/// Ops in issue order, as columns. Built by the page, decoded by the worker.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct OpBatch {
    kinds: Vec<u8>,
    ids: Vec<f64>,
    args: Vec<u64>,
    lens: Vec<u32>,
    bytes: Vec<u8>,
}

impl OpBatch {
    pub(crate) fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The request ids, in order (to fail them all at once).
    pub(crate) fn ids(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.ids.iter().map(|id| *id as RequestId)
    }

    fn push(&mut self, kind: u8, id: RequestId, arg: u64, len: u32) {
        self.kinds.push(kind);
        self.ids.push(id as f64);
        self.args.push(arg);
        self.lens.push(len);
    }

    /// Queues an append (`commit: false`) or commit of `payload`. A payload over 4 GiB is
    /// refused by the worker's payload limit long before; its length saturates here.
    pub(crate) fn push_payload(&mut self, commit: bool, id: RequestId, payload: &[u8]) {
        let kind = if commit { KIND_COMMIT } else { KIND_APPEND };
        self.push(
            kind,
            id,
            0,
            u32::try_from(payload.len()).unwrap_or(u32::MAX),
        );
        self.bytes.extend_from_slice(payload);
    }

    /// As [`OpBatch::push_payload`], copying straight from a JavaScript array.
    pub(crate) fn push_js_payload(&mut self, commit: bool, id: RequestId, payload: &Uint8Array) {
        let kind = if commit { KIND_COMMIT } else { KIND_APPEND };
        let len = payload.length();
        self.push(kind, id, 0, len);
        let start = self.bytes.len();
        self.bytes.resize(start + len as usize, 0);
        payload.copy_to(&mut self.bytes[start..]);
    }

    pub(crate) fn push_read(&mut self, id: RequestId, from: Lsn, max_bytes: u32) {
        self.push(KIND_READ, id, from.get(), max_bytes);
    }

    pub(crate) fn push_stats(&mut self, id: RequestId) {
        self.push(KIND_STATS, id, 0, 0);
    }

    pub(crate) fn push_observe(&mut self, id: RequestId, on: bool) {
        self.push(KIND_OBSERVE, id, u64::from(on), 0);
    }

    pub(crate) fn push_close(&mut self, id: RequestId) {
        self.push(KIND_CLOSE, id, 0, 0);
    }

    pub(crate) fn push_truncate(&mut self, id: RequestId) {
        self.push(KIND_TRUNCATE, id, 0, 0);
    }

    /// Appends every op of `other`, in order.
    pub(crate) fn extend(&mut self, other: &OpBatch) {
        self.kinds.extend_from_slice(&other.kinds);
        self.ids.extend_from_slice(&other.ids);
        self.args.extend_from_slice(&other.args);
        self.lens.extend_from_slice(&other.lens);
        self.bytes.extend_from_slice(&other.bytes);
    }

    /// Checks that the columns agree and the payloads fit, so that [`OpBatch::ops`] can slice.
    pub(crate) fn validate(&self) -> Result<(), LogError> {
        let n = self.kinds.len();
        if self.ids.len() != n || self.args.len() != n || self.lens.len() != n {
            return Err(bad("the batch's columns have different lengths"));
        }
        let payload_bytes: u64 = self
            .kinds
            .iter()
            .zip(&self.lens)
            .filter(|(kind, _)| matches!(**kind, KIND_APPEND | KIND_COMMIT))
            .map(|(_, len)| u64::from(*len))
            .sum();
        if payload_bytes != self.bytes.len() as u64 {
            return Err(bad(
                "the batch's payload lengths do not add up to its bytes",
            ));
        }
        Ok(())
    }

    /// The ops in issue order; call [`OpBatch::validate`] first.
    pub(crate) fn ops(&self) -> impl Iterator<Item = (RequestId, Result<BatchOp<'_>, LogError>)> {
        let mut offset = 0usize;
        (0..self.kinds.len()).map(move |i| {
            let id = self.ids[i] as RequestId;
            let len = self.lens[i] as usize;
            let op = match self.kinds[i] {
                KIND_APPEND | KIND_COMMIT => {
                    let payload = self.bytes.get(offset..offset + len).unwrap_or_default();
                    offset += len;
                    if self.kinds[i] == KIND_COMMIT {
                        Ok(BatchOp::Commit(payload))
                    } else {
                        Ok(BatchOp::Append(payload))
                    }
                }
                KIND_READ => Ok(BatchOp::Read {
                    from: Lsn::new(self.args[i]),
                    max_bytes: len.max(1),
                }),
                KIND_STATS => Ok(BatchOp::Stats),
                KIND_OBSERVE => Ok(BatchOp::Observe(self.args[i] != 0)),
                KIND_CLOSE => Ok(BatchOp::Close),
                KIND_TRUNCATE => Ok(BatchOp::Truncate),
                other => Err(bad(&format!("unknown op kind {other}"))),
            };
            (id, op)
        })
    }

    /// `{batch: {...}}` and the buffers to transfer with it.
    pub(crate) fn to_js(&self) -> (Object, Array) {
        let kinds = Uint8Array::from(self.kinds.as_slice());
        let ids = Float64Array::from(self.ids.as_slice());
        let args = BigUint64Array::from(self.args.as_slice());
        let lens = Uint32Array::from(self.lens.as_slice());
        let bytes = Uint8Array::from(self.bytes.as_slice());
        let transfer = Array::of5(
            &kinds.buffer(),
            &ids.buffer(),
            &args.buffer(),
            &lens.buffer(),
            &bytes.buffer(),
        );
        let batch = Object::new();
        crate::protocol::set(&batch, "kinds", kinds);
        crate::protocol::set(&batch, "ids", ids);
        crate::protocol::set(&batch, "args", args);
        crate::protocol::set(&batch, "lens", lens);
        crate::protocol::set(&batch, "bytes", bytes);
        let message = Object::new();
        crate::protocol::set(&message, "batch", batch);
        (message, transfer)
    }

    /// The batch of a page message, if it has one (a malformed one is an error).
    pub(crate) fn from_js(message: &JsValue) -> Option<Result<OpBatch, LogError>> {
        let batch = crate::protocol::get(message, "batch");
        if batch.is_undefined() {
            return None;
        }
        let column = |key: &str| crate::protocol::get(&batch, key);
        let decoded = (|| {
            Some(OpBatch {
                kinds: column("kinds").dyn_into::<Uint8Array>().ok()?.to_vec(),
                ids: column("ids").dyn_into::<Float64Array>().ok()?.to_vec(),
                args: column("args").dyn_into::<BigUint64Array>().ok()?.to_vec(),
                lens: column("lens").dyn_into::<Uint32Array>().ok()?.to_vec(),
                bytes: column("bytes").dyn_into::<Uint8Array>().ok()?.to_vec(),
            })
        })();
        Some(decoded.ok_or_else(|| bad("a batch column is missing or of the wrong type")))
    }
}

fn bad(message: &str) -> LogError {
    LogError::BadRequest {
        message: format!("malformed message from the page: {message}"),
    }
}

/// The LSN answers of one worker step, as two columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Acks {
    ids: Vec<f64>,
    lsns: Vec<u64>,
}

impl Acks {
    pub(crate) fn push(&mut self, id: RequestId, lsn: Lsn) {
        self.ids.push(id as f64);
        self.lsns.push(lsn.get());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// `{ids, lsns}` and the buffers to transfer with it.
    pub(crate) fn to_js(&self) -> (Object, [JsValue; 2]) {
        let ids = Float64Array::from(self.ids.as_slice());
        let lsns = BigUint64Array::from(self.lsns.as_slice());
        let transfer = [ids.buffer().into(), lsns.buffer().into()];
        let acks = Object::new();
        crate::protocol::set(&acks, "ids", ids);
        crate::protocol::set(&acks, "lsns", lsns);
        (acks, transfer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the wire order: ops come out in the order they were pushed, each with its own
    /// payload and arguments.
    #[test]
    fn ops_come_out_in_issue_order_with_their_payloads() {
        let mut batch = OpBatch::default();
        batch.push_payload(false, 1, b"appended");
        batch.push_read(2, Lsn::new(42), 4096);
        batch.push_payload(true, 3, b"");
        batch.push_payload(true, 4, b"committed");
        batch.push_observe(5, true);
        batch.push_stats(6);
        batch.push_truncate(7);
        batch.push_close(8);
        assert!(batch.validate().is_ok());
        let ops: Vec<(RequestId, BatchOp<'_>)> = batch
            .ops()
            .map(|(id, op)| (id, op.unwrap_or(BatchOp::Stats)))
            .collect();
        assert_eq!(
            ops,
            vec![
                (1, BatchOp::Append(b"appended")),
                (
                    2,
                    BatchOp::Read {
                        from: Lsn::new(42),
                        max_bytes: 4096
                    }
                ),
                (3, BatchOp::Commit(b"")),
                (4, BatchOp::Commit(b"committed")),
                (5, BatchOp::Observe(true)),
                (6, BatchOp::Stats),
                (7, BatchOp::Truncate),
                (8, BatchOp::Close),
            ]
        );
    }

    /// Guards against a malformed batch slicing past its bytes: it is refused whole.
    #[test]
    fn a_batch_whose_lengths_overrun_its_bytes_is_refused() {
        let mut batch = OpBatch::default();
        batch.push_payload(true, 1, b"abc");
        batch.lens[0] = 10;
        assert!(matches!(batch.validate(), Err(LogError::BadRequest { .. })));
        let mut batch = OpBatch::default();
        batch.push_stats(1);
        batch.ids.push(2.0);
        assert!(batch.validate().is_err());
    }

    /// Guards the unknown-kind path: an op of a kind this build does not know is answered with
    /// an error, and the ops around it are still served.
    #[test]
    fn an_unknown_kind_fails_only_its_op() {
        let mut batch = OpBatch::default();
        batch.push_stats(1);
        batch.push(99, 2, 0, 0);
        batch.push_stats(3);
        assert!(batch.validate().is_ok());
        let results: Vec<bool> = batch.ops().map(|(_, op)| op.is_ok()).collect();
        assert_eq!(results, vec![true, false, true]);
    }
}
