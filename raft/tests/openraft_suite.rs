//! openraft's own storage suite (`openraft::testing::Suite::test_all`) on [`LogStore`], in four
//! setups: default options; tiny segments (so purges delete segment files); the store closed and
//! reopened from disk before every storage call; and the store dropped without `close`, with
//! everything that was not durable cut from its files (what a power loss may take), and
//! reopened before every call. The suite alone never reopens a store: the last two are what
//! prove that what the store reported is on disk.

#[path = "support/mod.rs"]
mod support;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    AnyError, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
};
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::kv::KvStateMachine;
use support::types::{NodeId, TypeConfig};
use tokio::sync::{Mutex, MutexGuard};
use walden::walden_core::FileHeader;
use walden::{Lsn, WalOptions};
use walden_raft::LogStore;

type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;

fn io_error(err: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write(AnyError::error(err.to_string())).into()
}

/// How the store of each case is opened.
#[derive(Clone, Copy, Debug)]
enum Setup {
    Default,
    TinySegments,
    /// Closed and reopened before every call.
    ReopenClosed,
    /// Dropped, its undurable bytes cut away, and reopened before every call.
    ReopenDropped,
}

impl Setup {
    fn options(self) -> WalOptions {
        match self {
            Setup::TinySegments => WalOptions {
                segment_bytes: 512,
                ..WalOptions::default()
            },
            _ => WalOptions::default(),
        }
    }
}

struct Builder(Setup);

impl StoreBuilder<TypeConfig, Store, KvStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, Store, KvStateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().map_err(io_error)?;
        let log = dir.path().join("log");
        let store = LogStore::open_with(&log, self.0.options()).map_err(io_error)?;
        let machine = KvStateMachine::open(dir.path().join("sm")).map_err(io_error)?;
        let store = Store {
            setup: self.0,
            dir: log,
            store: Arc::new(Mutex::new(Some(store))),
        };
        Ok((dir, store, machine))
    }
}

/// A [`LogStore`] that, in the reopening setups, is reopened from its directory before every
/// call (its readers too).
struct Store {
    setup: Setup,
    dir: PathBuf,
    store: Arc<Mutex<Option<LogStore<TypeConfig>>>>,
}

/// Reopens the store in `dir` as `setup` says, and hands it out.
async fn reopened<'s>(
    setup: Setup,
    dir: &Path,
    store: &'s Mutex<Option<LogStore<TypeConfig>>>,
) -> Result<MutexGuard<'s, Option<LogStore<TypeConfig>>>, StorageError<NodeId>> {
    let mut guard = store.lock().await;
    match setup {
        Setup::Default | Setup::TinySegments => {}
        Setup::ReopenClosed => {
            if let Some(open) = guard.take() {
                open.close().map_err(io_error)?;
            }
            *guard = Some(LogStore::open_with(dir, setup.options()).map_err(io_error)?);
        }
        Setup::ReopenDropped => {
            if let Some(open) = guard.take() {
                let durable = open.wal().durable_lsn();
                let active = *open.wal().segments().last().expect("a log has a segment");
                drop(open);
                lose_undurable(dir, active, durable).map_err(io_error)?;
            }
            *guard = Some(LogStore::open_with(dir, setup.options()).map_err(io_error)?);
        }
    }
    Ok(guard)
}

/// Cuts the active segment (starting at `base`) at `durable`: everything the log had not made
/// durable is gone, as if a power loss took every page the OS had not written back.
fn lose_undurable(dir: &Path, base: Lsn, durable: Lsn) -> std::io::Result<()> {
    let path = dir.join(walden::backend::segment_file_name(base));
    let image = std::fs::read(&path)?;
    let header = FileHeader::read(&image).map_err(std::io::Error::other)?;
    let keep = header.body_offset() + durable.get().saturating_sub(base.get());
    if keep < image.len() as u64 {
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.set_len(keep)?;
        file.sync_all()?;
    }
    Ok(())
}

macro_rules! with_store {
    ($self:ident, |$store:ident| $body:expr) => {{
        let mut guard = reopened($self.setup, &$self.dir, &$self.store).await?;
        let $store = guard.as_mut().expect("the store is open");
        $body
    }};
}

impl RaftLogReader<TypeConfig> for Store {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        with_store!(self, |store| store.try_get_log_entries(range).await)
    }
}

/// A reader that goes through the (reopened) store, so no reader keeps the log open.
struct Reader {
    setup: Setup,
    dir: PathBuf,
    store: Arc<Mutex<Option<LogStore<TypeConfig>>>>,
}

impl RaftLogReader<TypeConfig> for Reader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        with_store!(self, |store| store.try_get_log_entries(range).await)
    }
}

impl RaftLogStorage<TypeConfig> for Store {
    type LogReader = Reader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        with_store!(self, |store| store.get_log_state().await)
    }

    async fn get_log_reader(&mut self) -> Reader {
        Reader {
            setup: self.setup,
            dir: self.dir.clone(),
            store: Arc::clone(&self.store),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        with_store!(self, |store| store.save_vote(vote).await)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        with_store!(self, |store| store.read_vote().await)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        with_store!(self, |store| store.save_committed(committed).await)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        with_store!(self, |store| store.read_committed().await)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        with_store!(self, |store| store.append(entries, callback).await)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        with_store!(self, |store| store.truncate(log_id).await)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        with_store!(self, |store| store.purge(log_id).await)
    }
}

fn run(setup: Setup) {
    Suite::test_all(Builder(setup)).unwrap_or_else(|err| panic!("{setup:?}: {err}"));
}

#[test]
fn the_suite_passes_with_default_options() {
    run(Setup::Default);
}

#[test]
fn the_suite_passes_with_tiny_segments() {
    run(Setup::TinySegments);
}

#[test]
fn the_suite_passes_with_the_store_closed_and_reopened_before_every_call() {
    run(Setup::ReopenClosed);
}

#[test]
fn the_suite_passes_with_the_store_dropped_undurable_bytes_lost_and_reopened_before_every_call() {
    run(Setup::ReopenDropped);
}
