//! [`MemLog`]: an in-memory [`RaftLogStorage`], the baseline the benches compare Walden's log
//! store with and the stand-in for it in the cluster scenario.
//!
//! Owns a map of entries by index, the vote, the committed log id and the last purged log id,
//! behind one lock shared by every clone (the log reader handed to replication is a clone).
//! Invariants: the entries are consecutive (openraft appends after the last entry or truncates
//! first); every entry's index is above the last purged index; `append` calls the flush callback
//! before it returns, since memory is as durable as this store gets. Nothing survives the
//! process, but a clone kept elsewhere survives a node's restart (see `cluster::MemLogs`).

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogId, LogState, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, Vote};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

/// The in-memory log store; clones share the same log.
pub(crate) struct MemLog<C: RaftTypeConfig> {
    inner: Arc<Mutex<Inner<C>>>,
}

/// What the lock guards.
struct Inner<C: RaftTypeConfig> {
    /// The entries, by index; none at or below `last_purged`.
    log: BTreeMap<u64, C::Entry>,
    last_purged: Option<LogId<C::NodeId>>,
    committed: Option<LogId<C::NodeId>>,
    vote: Option<Vote<C::NodeId>>,
}

impl<C: RaftTypeConfig> Clone for MemLog<C> {
    fn clone(&self) -> Self {
        MemLog {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: RaftTypeConfig> Default for MemLog<C> {
    fn default() -> Self {
        MemLog {
            inner: Arc::new(Mutex::new(Inner {
                log: BTreeMap::new(),
                last_purged: None,
                committed: None,
                vote: None,
            })),
        }
    }
}

impl<C: RaftTypeConfig> MemLog<C> {
    /// An empty log.
    pub(crate) fn new() -> MemLog<C> {
        MemLog::default()
    }

    /// The number of entries held (purged ones are gone).
    pub(crate) fn len(&self) -> usize {
        self.lock().log.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner<C>> {
        // A panic while holding the lock left a half-applied change: surface it, do not hide it.
        self.inner
            .lock()
            .expect("a MemLog user panicked holding its lock")
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for MemLog<C>
where
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(self
            .lock()
            .log
            .range(range)
            .map(|(_, entry)| entry.clone())
            .collect())
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for MemLog<C>
where
    C::Entry: Clone,
{
    type LogReader = MemLog<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let inner = self.lock();
        let last = inner
            .log
            .values()
            .next_back()
            .map(|e| e.get_log_id().clone());
        Ok(LogState {
            last_purged_log_id: inner.last_purged.clone(),
            last_log_id: last.or_else(|| inner.last_purged.clone()),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.lock().vote = Some(vote.clone());
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.lock().vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        self.lock().committed = committed;
        Ok(())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.lock().committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + Send,
        I::IntoIter: Send,
    {
        {
            let mut inner = self.lock();
            for entry in entries {
                inner.log.insert(entry.get_log_id().index, entry);
            }
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        // `split_off` keeps below `log_id.index` and hands back the rest, which is dropped.
        let mut inner = self.lock();
        let _removed = inner.log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let mut inner = self.lock();
        assert!(
            inner.last_purged.as_ref() <= Some(&log_id),
            "purge went backwards: {:?} after {:?}",
            log_id,
            inner.last_purged
        );
        let kept = inner.log.split_off(&(log_id.index + 1));
        inner.log = kept;
        inner.last_purged = Some(log_id);
        Ok(())
    }
}
