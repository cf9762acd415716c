//! [`SharedSync`]: storage whose sync can run on a shared handle, outside the writer's lock.
//!
//! Group commit needs the leader to fsync while other threads keep appending under the writer
//! lock, so the sync must go through a handle that does not borrow the writer. Files provide one
//! (`Arc<File>`: `fdatasync` on a clone of the descriptor covers every write to the file).

use crate::file_storage::FileStorage;
use std::fs::File;
use std::io;
use std::sync::Arc;
use walden_core::{Storage, SyncMode};

/// Storage that can hand out a handle to sync it from another thread.
pub trait SharedSync: Storage {
    /// The handle; cheap to clone, usable without the storage.
    type Handle: Send + Sync + 'static;

    /// A handle that syncs this storage.
    fn sync_handle(&self) -> Self::Handle;

    /// Makes every write handed to the storage before this call durable, per `mode`.
    fn sync_shared(handle: &Self::Handle, mode: SyncMode) -> io::Result<()>;
}

impl SharedSync for FileStorage {
    type Handle = Arc<File>;

    fn sync_handle(&self) -> Arc<File> {
        self.shared_file()
    }

    fn sync_shared(handle: &Arc<File>, mode: SyncMode) -> io::Result<()> {
        match mode {
            SyncMode::Data => handle.sync_data(),
            SyncMode::All => handle.sync_all(),
        }
    }
}
