//! The test cluster's openraft type configuration: node ids are `u64`, nodes are
//! [`openraft::BasicNode`], application data is a [`Request`] and the state machine answers each
//! with a [`Response`]; snapshots are in-memory byte buffers and the runtime is tokio.
//!
//! Invariant: every type here round-trips through serde (JSON), because entries are what the log
//! stores persist and snapshots are what the state machine writes to its directory.

use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// A write to the key-value state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Sets `key` to `value`, replacing any earlier value.
    Set {
        /// The key written.
        key: String,
        /// Its new value.
        value: String,
    },
}

impl Request {
    /// A `Set` of `key` to `value`.
    pub(crate) fn set(key: impl Into<String>, value: impl Into<String>) -> Request {
        Request::Set {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// What applying an entry answered: for a `Set`, the value written; for a blank or membership
/// entry, `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Response {
    /// The value the write stored, if the entry was a write.
    pub(crate) value: Option<String>,
}

/// A node's id in the test cluster.
pub(crate) type NodeId = u64;

openraft::declare_raft_types!(
    /// The type configuration of the key-value test cluster.
    pub(crate) TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft node of the test cluster.
pub(crate) type Raft = openraft::Raft<TypeConfig>;
/// A log id of the test cluster.
pub(crate) type LogId = openraft::LogId<NodeId>;
/// A log entry of the test cluster.
pub(crate) type Entry = openraft::Entry<TypeConfig>;
/// A storage error of the test cluster.
pub(crate) type StorageError = openraft::StorageError<NodeId>;
