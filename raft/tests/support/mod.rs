//! What the raft tests, the example and the bench share: an openraft type configuration, a
//! key-value state machine that snapshots to files, an in-process network, an in-memory log
//! store, a way to open nodes' log stores by directory, openraft's storage suite on those, and the
//! three-node cluster scenario.
//!
//! Each user includes this with `#[path]` and uses its own part of it.

#![allow(dead_code)]

pub(crate) mod cluster;
pub(crate) mod kv;
pub(crate) mod mem_log;
pub(crate) mod router;
pub(crate) mod stores;
pub(crate) mod suite;
pub(crate) mod types;
