//! [`KvStateMachine`]: the cluster's state machine, a `BTreeMap<String, String>` with the last
//! applied log id and the last membership, whose snapshots are files in its own directory.
//!
//! Owns that directory. The file `snapshot.json` is always either absent or one complete
//! snapshot (meta and map): it is written as `snapshot.json.tmp`, fsynced, renamed over, and the
//! directory fsynced, so a crash at any point leaves the old snapshot or the new one. The state
//! itself is not persisted apart from snapshots: [`KvStateMachine::open`] reloads the latest
//! snapshot as the state, and openraft re-applies the committed entries after it from the log.
//! The stored snapshot never moves backwards (a build that finishes after a newer install or
//! build is returned but not stored). Clones share one state, so a test keeps a clone to read
//! the map while the `Raft` owns another.

use crate::support::types::Request;
use crate::support::types::{Entry, LogId, NodeId, Response, StorageError, TypeConfig};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The snapshot's file name in the state machine's directory.
const SNAPSHOT_FILE: &str = "snapshot.json";
/// Where a new snapshot is written before it is renamed over [`SNAPSHOT_FILE`].
const SNAPSHOT_TMP: &str = "snapshot.json.tmp";

/// The key-value state machine of one node; clones share it.
#[derive(Clone)]
pub(crate) struct KvStateMachine {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    /// The current snapshot, as `SNAPSHOT_FILE` holds it. Whoever writes the file holds this lock
    /// from before the write until the mirror is updated, so two snapshots never race on it.
    snapshot: Mutex<Option<StoredSnapshot>>,
    /// Makes snapshot ids unique within this process.
    builds: AtomicU64,
}

/// What the state machine holds.
#[derive(Clone, Default)]
struct State {
    last_applied: Option<LogId>,
    last_membership: StoredMembership<NodeId, BasicNode>,
    map: BTreeMap<String, String>,
}

/// A snapshot in memory: its meta and the bytes sent to followers (the map as JSON).
#[derive(Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

/// `SNAPSHOT_FILE`'s contents.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    map: BTreeMap<String, String>,
}

impl KvStateMachine {
    /// Opens the state machine in `dir` (created if missing): the state is the snapshot stored
    /// there, or empty if there is none. A leftover temporary file from an interrupted snapshot
    /// write is removed.
    pub(crate) fn open(dir: impl AsRef<Path>) -> io::Result<KvStateMachine> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        match fs::remove_file(dir.join(SNAPSHOT_TMP)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let (state, snapshot) = match fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(bytes) => {
                let file: SnapshotFile = serde_json::from_slice(&bytes)?;
                let data = serde_json::to_vec(&file.map)?;
                let state = State {
                    last_applied: file.meta.last_log_id,
                    last_membership: file.meta.last_membership.clone(),
                    map: file.map,
                };
                (
                    state,
                    Some(StoredSnapshot {
                        meta: file.meta,
                        data,
                    }),
                )
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (State::default(), None),
            Err(e) => return Err(e),
        };
        Ok(KvStateMachine {
            shared: Arc::new(Shared {
                dir,
                state: Mutex::new(state),
                snapshot: Mutex::new(snapshot),
                builds: AtomicU64::new(0),
            }),
        })
    }

    /// The value of `key`, if set.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.state().map.get(key).cloned()
    }

    /// A copy of the whole map.
    pub(crate) fn map(&self) -> BTreeMap<String, String> {
        self.state().map.clone()
    }

    /// The last log id applied (or loaded from a snapshot).
    pub(crate) fn last_applied(&self) -> Option<LogId> {
        self.state().last_applied
    }

    /// The last log id of the stored snapshot, if there is one.
    pub(crate) fn snapshot_last_log_id(&self) -> Option<LogId> {
        self.snapshot().as_ref().and_then(|s| s.meta.last_log_id)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .expect("a state machine user panicked holding its lock")
    }

    fn snapshot(&self) -> MutexGuard<'_, Option<StoredSnapshot>> {
        self.shared
            .snapshot
            .lock()
            .expect("a snapshot writer panicked holding its lock")
    }

    /// Writes `file` as the stored snapshot: temporary file, fsync, rename, directory fsync.
    fn persist(&self, file: &SnapshotFile) -> io::Result<()> {
        let tmp = self.shared.dir.join(SNAPSHOT_TMP);
        let mut out = File::create(&tmp)?;
        out.write_all(&serde_json::to_vec(file)?)?;
        out.sync_all()?;
        drop(out);
        fs::rename(&tmp, self.shared.dir.join(SNAPSHOT_FILE))?;
        File::open(&self.shared.dir)?.sync_all()
    }
}

/// `entry`'s effect on `state`, and the response to it.
fn apply_one(state: &mut State, entry: Entry) -> Response {
    state.last_applied = Some(entry.log_id);
    match entry.payload {
        EntryPayload::Blank => Response { value: None },
        EntryPayload::Normal(Request::Set { key, value }) => {
            state.map.insert(key, value.clone());
            Response { value: Some(value) }
        }
        EntryPayload::Membership(membership) => {
            state.last_membership = StoredMembership::new(Some(entry.log_id), membership);
            Response { value: None }
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for KvStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let state = self.state().clone();
        let build = self.shared.builds.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot_id = match state.last_applied {
            Some(last) => format!("{}-{}-{build}", last.leader_id, last.index),
            None => format!("none-{build}"),
        };
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.last_membership,
            snapshot_id,
        };
        let data =
            serde_json::to_vec(&state.map).map_err(|e| StorageIOError::read_state_machine(&e))?;
        let mut current = self.snapshot();
        let newer = current
            .as_ref()
            .is_none_or(|stored| stored.meta.last_log_id <= meta.last_log_id);
        if newer {
            let file = SnapshotFile {
                meta: meta.clone(),
                map: state.map,
            };
            self.persist(&file)
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            *current = Some(StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            });
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for KvStateMachine {
    type SnapshotBuilder = KvStateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, BasicNode>), StorageError> {
        let state = self.state();
        Ok((state.last_applied, state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut state = self.state();
        Ok(entries
            .into_iter()
            .map(|e| apply_one(&mut state, e))
            .collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let map: BTreeMap<String, String> = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let mut current = self.snapshot();
        let file = SnapshotFile {
            meta: meta.clone(),
            map,
        };
        self.persist(&file)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        *self.state() = State {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            map: file.map,
        };
        *current = Some(StoredSnapshot {
            meta: meta.clone(),
            data,
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.snapshot().clone().map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}
