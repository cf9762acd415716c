//! [`LogStore`]: openraft's `RaftLogStorage` (storage v2) on a [`walden::Wal`].
//!
//! Each entry is one record (`record.rs`); the vote, the last purged log id and a copy of the
//! committed log id live in the log's metadata slot (`persisted.rs`); an in-memory index maps
//! log indexes to LSNs (`index.rs`), rebuilt by reading the log once when the store opens.
//!
//! Invariants:
//! - `append` reports an entry flushed (openraft's `LogFlushed` callback) only once Walden says
//!   it is durable: the entries of one call are one batch (`Wal::append_batch`) and one wait on
//!   its last record (`Wal::wait_durable_async`), so calls in flight share group commit's fsyncs;
//!   nothing waits on the calling task, and the callback is called from Walden's flusher thread
//!   (`flush.rs`).
//! - `truncate` is `Wal::truncate_from`: durable and atomic when it returns, and LSNs keep
//!   growing, so a record position handed out before it never names a later entry.
//! - `purge` records the purged log id durably before any segment is removed, then
//!   checkpoints whole segments below the first entry kept; the metadata slot is outside the
//!   segments, so purging can never lose the vote.
//! - `save_vote` is durable when it returns. `save_committed` appends a record and does not wait:
//!   the committed id is a hint (openraft re-applies from an older one safely), made durable by
//!   the next entry's sync.
//! - Reads see every appended entry at once, durable or not (`WalReader`: read your appends).
//! - Storage calls do their I/O on the calling task (fsyncs only in `save_vote`, `truncate` and
//!   `purge`, which openraft calls rarely); `append` never waits for an fsync there.

use crate::error::Error;
use crate::flush::notify_when_durable;
use crate::index::Index;
use crate::persisted::Persisted;
use crate::reader::{read_entries, LogReader};
use crate::record::{decode, encode_committed, encode_entry, Record};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogId, RaftLogReader,
    RaftTypeConfig, StorageError, Vote,
};
use std::fmt;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use walden::{Wal, WalOptions, WalReader};

/// The log storage of one openraft node, in a Walden log directory. See the module
/// documentation.
///
/// ```
/// use std::io::Cursor; // the default snapshot data type `declare_raft_types!` names
/// openraft::declare_raft_types!(pub TypeConfig: D = String, R = String);
/// # fn main() -> Result<(), walden_raft::Error> {
/// # let dir = tempfile::tempdir().expect("a temporary directory");
/// let store = walden_raft::LogStore::<TypeConfig>::open(dir.path().join("raft-log"))?;
/// // Hand it to openraft: `Raft::new(node_id, config, network, store, state_machine)`.
/// # drop(store);
/// # Ok(())
/// # }
/// ```
pub struct LogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
    reader: WalReader,
}

/// What the store and its readers share.
pub(crate) struct Shared<C: RaftTypeConfig> {
    pub(crate) wal: Arc<Wal>,
    pub(crate) state: Mutex<State<C>>,
}

pub(crate) struct State<C: RaftTypeConfig> {
    pub(crate) index: Index<C::NodeId>,
    persisted: Persisted<C::NodeId>,
    /// The newest committed log id saved (the persisted copy may be older).
    committed: Option<LogId<C::NodeId>>,
}

impl<C: RaftTypeConfig> Shared<C> {
    pub(crate) fn state(&self) -> MutexGuard<'_, State<C>> {
        // The state is only changed after the log accepted the change: still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<C: RaftTypeConfig> LogStore<C> {
    /// Opens (creating if missing) the store in directory `dir` with Walden's default options
    /// (`Durability::SyncData`, 64 MiB segments).
    pub fn open(dir: impl AsRef<Path>) -> Result<LogStore<C>, Error> {
        LogStore::open_with(dir, WalOptions::default())
    }

    /// Opens (creating if missing) the store in directory `dir`: recovers the Walden log, then
    /// reads it once to rebuild the index of entries. A record this store did not write is
    /// [`Error::Decode`]; nothing is changed on the way to any error.
    pub fn open_with(dir: impl AsRef<Path>, options: WalOptions) -> Result<LogStore<C>, Error> {
        let wal = Arc::new(Wal::open_with(dir, options)?);
        let persisted = Persisted::<C::NodeId>::decode(&wal.metadata())?;
        let purged = persisted.last_purged.as_ref().map(|id| id.index);
        let mut index = Index::starting_at(purged.map_or(0, |p| p + 1));
        let mut committed = persisted.committed.clone();
        for record in wal.read_from(wal.first_lsn())? {
            let record = record?;
            match decode::<C>(record.lsn, &record.payload)? {
                Record::Entry(entry) => {
                    let id = entry.get_log_id().clone();
                    if purged.is_some_and(|purged| id.index <= purged) {
                        continue;
                    }
                    if !index.accepts(id.index) {
                        return Err(Error::OutOfOrder {
                            lsn: record.lsn,
                            found: id.index,
                            expected: index.next_index(),
                        });
                    }
                    index.push(id, record.lsn);
                }
                Record::Committed(saved) => committed = committed.max(saved),
            }
        }
        let reader = wal.reader();
        Ok(LogStore {
            shared: Arc::new(Shared {
                wal,
                state: Mutex::new(State {
                    index,
                    persisted,
                    committed,
                }),
            }),
            reader,
        })
    }

    /// The Walden log underneath (for its stats, its recovery report, or a sync).
    pub fn wal(&self) -> &Arc<Wal> {
        &self.shared.wal
    }

    /// Makes everything durable and shuts the log down ([`Wal::shutdown`]). Dropping the store
    /// without it is safe: what openraft was told is flushed is durable, and what was appended
    /// after is handed to the OS.
    pub fn close(self) -> Result<(), Error> {
        self.shared.wal.shutdown()?;
        Ok(())
    }

    fn write_persisted(
        &self,
        state: &mut State<C>,
        next: Persisted<C::NodeId>,
    ) -> Result<(), Error> {
        self.shared.wal.set_metadata(&next.encode()?)?;
        state.persisted = next;
        Ok(())
    }

    /// Drops the entries from `index` on (see [`RaftLogStorage::truncate`]).
    fn truncate_from_index(&mut self, index: u64) -> Result<(), Error> {
        let mut state = self.shared.state();
        let Some((from, lsn)) = state.index.first_from(index) else {
            return Ok(());
        };
        // The entry before `from` becomes the last one: read its id before it can change.
        let new_last = match state.index.last_before(from) {
            Some((_, before)) => {
                let record = self.reader.read(before)?;
                match decode::<C>(before, &record.payload)? {
                    Record::Entry(entry) => Some(entry.get_log_id().clone()),
                    Record::Committed(_) => {
                        return Err(Error::Decode {
                            lsn: before,
                            reason: String::from("expected an entry"),
                        })
                    }
                }
            }
            None => None,
        };
        self.shared.wal.truncate_from(lsn)?;
        state.index.truncate(from, new_last);
        // A committed record appended after `lsn` was dropped with the entries: keep the hint.
        if state.committed.is_some() {
            self.shared
                .wal
                .append(&encode_committed::<C>(&state.committed)?)?;
        }
        Ok(())
    }

    fn append_entries(
        &mut self,
        entries: Vec<C::Entry>,
        callback: LogFlushed<C>,
    ) -> Result<(), Error> {
        let mut payloads = Vec::with_capacity(entries.len());
        let mut ids = Vec::with_capacity(entries.len());
        for entry in &entries {
            ids.push(entry.get_log_id().clone());
            payloads.push(encode_entry::<C>(entry)?);
        }
        let Some(first) = ids.first().map(|id| id.index) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let next = self.shared.state().index.next_index();
        if first < next {
            // openraft truncates before it overwrites; a caller that does not still gets a
            // consistent log.
            self.truncate_from_index(first)?;
        }
        let last = {
            let mut state = self.shared.state();
            let increasing = ids.windows(2).all(|pair| pair[0].index < pair[1].index);
            if !increasing || !state.index.accepts(first) {
                let found = ids
                    .windows(2)
                    .find(|pair| pair[0].index >= pair[1].index)
                    .map_or(first, |pair| pair[1].index);
                return Err(Error::OutOfOrder {
                    lsn: self.shared.wal.current_lsn(),
                    found,
                    expected: state.index.next_index(),
                });
            }
            let receipts = self
                .shared
                .wal
                .append_batch(payloads.iter().map(Vec::as_slice))?;
            for (id, receipt) in ids.iter().zip(&receipts) {
                state.index.push(id.clone(), receipt.lsn());
            }
            *receipts.last().ok_or(Error::Missing { index: first })?
        };
        notify_when_durable(self.shared.wal.wait_durable_async(last), callback);
        Ok(())
    }

    fn purge_upto(&mut self, log_id: LogId<C::NodeId>) -> Result<(), Error> {
        let mut state = self.shared.state();
        if state.persisted.last_purged >= Some(log_id.clone()) {
            return Ok(());
        }
        let mut next = state.persisted.clone();
        let index = log_id.index;
        next.last_purged = Some(log_id);
        next.committed = next.committed.max(state.committed.clone());
        // Recorded before anything is removed: a crash after this reopens with the entries
        // up to `log_id` skipped, whether or not their segments were removed.
        self.write_persisted(&mut state, next)?;
        state.index.purge(index);
        let upto = state
            .index
            .first_position()
            .unwrap_or_else(|| self.shared.wal.current_lsn());
        self.shared.wal.checkpoint(upto)?;
        Ok(())
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogStore<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        read_entries(&self.shared, &mut self.reader, range)
            .map_err(|err| err.storage(ErrorSubject::Logs, ErrorVerb::Read))
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for LogStore<C> {
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let state = self.shared.state();
        let last_purged_log_id = state.persisted.last_purged.clone();
        Ok(LogState {
            last_log_id: state.index.last().or(last_purged_log_id.clone()),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogReader<C> {
        LogReader::new(Arc::clone(&self.shared))
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let mut state = self.shared.state();
        let mut next = state.persisted.clone();
        next.vote = Some(vote.clone());
        next.committed = next.committed.max(state.committed.clone());
        self.write_persisted(&mut state, next)
            .map_err(|err| err.storage(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.shared.state().persisted.vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        let appended = encode_committed::<C>(&committed)
            .and_then(|record| Ok(self.shared.wal.append(&record)?));
        appended.map_err(|err| err.storage(ErrorSubject::Store, ErrorVerb::Write))?;
        self.shared.state().committed = committed;
        Ok(())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.shared.state().committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_entries(entries.into_iter().collect(), callback)
            .map_err(|err| err.storage(ErrorSubject::Logs, ErrorVerb::Write))
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.truncate_from_index(log_id.index)
            .map_err(|err| err.storage(ErrorSubject::Logs, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.purge_upto(log_id)
            .map_err(|err| err.storage(ErrorSubject::Logs, ErrorVerb::Delete))
    }
}

impl<C: RaftTypeConfig> fmt::Debug for LogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        f.debug_struct("LogStore")
            .field("next_index", &state.index.next_index())
            .field("last_log_id", &state.index.last())
            .field("last_purged", &state.persisted.last_purged)
            .finish_non_exhaustive()
    }
}
