//! [`LogReader`]: openraft's `RaftLogReader` for a [`crate::LogStore`], and the one function
//! both use to read a range of entries.
//!
//! Invariants:
//! - Entries come back in index order, each checked to hold the index the store mapped it to.
//! - An entry purged or truncated while a read runs ends the range there (the entries before
//!   it are returned), as openraft expects of a log that moves under a replication reader.

use crate::error::Error;
use crate::record::{decode, Record};
use crate::store::Shared;
use openraft::{
    ErrorSubject, ErrorVerb, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError,
};
use std::fmt;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::Arc;
use walden::{Lsn, WalReader};

/// A reader of a [`crate::LogStore`]'s entries, for openraft's replication tasks. Each has its
/// own open segment handles.
pub struct LogReader<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
    reader: WalReader,
}

impl<C: RaftTypeConfig> LogReader<C> {
    pub(crate) fn new(shared: Arc<Shared<C>>) -> LogReader<C> {
        let reader = shared.wal.reader();
        LogReader { shared, reader }
    }
}

/// The entries of `range` the store holds.
pub(crate) fn read_entries<C: RaftTypeConfig>(
    shared: &Shared<C>,
    reader: &mut WalReader,
    range: impl RangeBounds<u64>,
) -> Result<Vec<C::Entry>, Error> {
    let positions: Vec<(u64, Lsn)> = {
        let state = shared.state();
        let (start, end) = state.index.clip(&range);
        state.index.range(start, end)
    };
    let mut entries = Vec::with_capacity(positions.len());
    for (index, lsn) in positions {
        let record = match reader.read(lsn) {
            Ok(record) => record,
            Err(walden::Error::Checkpointed { .. } | walden::Error::Truncated { .. }) => break,
            Err(err) => return Err(err.into()),
        };
        match decode::<C>(lsn, &record.payload)? {
            Record::Entry(entry) if entry.get_log_id().index == index => entries.push(entry),
            _ => {
                return Err(Error::Decode {
                    lsn,
                    reason: format!("expected the entry at index {index}"),
                })
            }
        }
    }
    Ok(entries)
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogReader<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        read_entries(&self.shared, &mut self.reader, range)
            .map_err(|err| err.storage(ErrorSubject::Logs, ErrorVerb::Read))
    }
}

impl<C: RaftTypeConfig> fmt::Debug for LogReader<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader").finish_non_exhaustive()
    }
}
