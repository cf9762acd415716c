//! [`LogStores`]: how the cluster opens a node's log store from the node's `log/` directory, so
//! the scenario runs the same against any [`RaftLogStorage`].
//!
//! Invariant: opening the same directory again after the node's `Raft` was shut down yields the
//! log that node left (its vote, entries, committed and purged ids): that is what a restart
//! relies on. [`WaldenLogs`] keeps it on disk (`walden_raft::LogStore`, Walden's default
//! durability); [`MemLogs`] keeps it for the in-memory [`MemLog`] by handing out the store it
//! opened before for that directory (the memory outlives the node, not the process).

use crate::support::mem_log::MemLog;
use crate::support::types::TypeConfig;
use openraft::storage::RaftLogStorage;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Opens nodes' log stores by directory.
pub(crate) trait LogStores: Send + Sync {
    /// The log store type.
    type Store: RaftLogStorage<TypeConfig>;
    /// A short name for output.
    fn name(&self) -> &'static str;
    /// Opens (creating if missing) the log store in `dir`.
    fn open(&self, dir: &Path) -> Result<Self::Store, String>;
}

/// Walden log stores (`walden_raft::LogStore` with default options: `Durability::SyncData`).
#[derive(Default)]
pub(crate) struct WaldenLogs;

impl LogStores for WaldenLogs {
    type Store = walden_raft::LogStore<TypeConfig>;

    fn name(&self) -> &'static str {
        "walden"
    }

    fn open(&self, dir: &Path) -> Result<walden_raft::LogStore<TypeConfig>, String> {
        walden_raft::LogStore::open(dir).map_err(|e| format!("opening {}: {e}", dir.display()))
    }
}

/// In-memory log stores, one per directory for the life of this value.
#[derive(Default)]
pub(crate) struct MemLogs {
    opened: Mutex<BTreeMap<PathBuf, MemLog<TypeConfig>>>,
}

impl LogStores for MemLogs {
    type Store = MemLog<TypeConfig>;

    fn name(&self) -> &'static str {
        "mem-log"
    }

    fn open(&self, dir: &Path) -> Result<MemLog<TypeConfig>, String> {
        let mut opened = self
            .opened
            .lock()
            .map_err(|_| "a MemLogs user panicked holding its lock".to_string())?;
        Ok(opened.entry(dir.to_path_buf()).or_default().clone())
    }
}
