//! [`OpfsStorage`]: the core's [`Storage`] contract over one OPFS file's
//! `FileSystemSyncAccessHandle`.
//!
//! Opening is asynchronous (`navigator.storage.getDirectory()`, `getFileHandle`,
//! `createSyncAccessHandle`); everything after is synchronous, as the core's writer needs.
//! Sync access handles exist only in dedicated workers, so this type does too.
//!
//! Invariants:
//! - The handle is exclusive: while an `OpfsStorage` is open, any other attempt to open the same
//!   log (another tab, worker, or this one) fails with [`OpfsError::Locked`]. The handle is
//!   closed by [`OpfsStorage::close`], on drop, and by the browser when the worker ends.
//! - A write or read that moves fewer bytes than asked is an error ([`OpfsError::Short`]),
//!   never accepted silently. A failed write, truncate or flush is reported to the writer, which
//!   poisons the log exactly as for a failed fsync.
//! - `sync` is `flush()`: the durability point. OPFS has no separate data/metadata flush, so
//!   both [`SyncMode`]s flush.
//! - After `close`, every call fails with [`OpfsError::Closed`].

use crate::error::{OpfsError, OP_CREATE_HANDLE};
use walden_core::{Storage, SyncMode};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetFileOptions,
    FileSystemReadWriteOptions, FileSystemSyncAccessHandle,
};

/// One log file in the Origin Private File System, open for synchronous access.
#[derive(Debug)]
pub struct OpfsStorage {
    name: String,
    handle: Option<FileSystemSyncAccessHandle>,
}

impl OpfsStorage {
    /// Opens (creating if needed) the file `name` at the root of this origin's private file
    /// system and takes its exclusive sync access handle. Only in a dedicated worker.
    pub async fn open(name: &str) -> Result<OpfsStorage, OpfsError> {
        let file = file_handle(name, true).await?;
        let handle = JsFuture::from(file.create_sync_access_handle())
            .await
            .map_err(|err| OpfsError::from_js(OP_CREATE_HANDLE, name, &err))?;
        let handle = handle
            .dyn_into::<FileSystemSyncAccessHandle>()
            .map_err(|_| OpfsError::NotSupported {
                what: "createSyncAccessHandle returned something else".to_owned(),
            })?;
        Ok(OpfsStorage {
            name: name.to_owned(),
            handle: Some(handle),
        })
    }

    /// Removes the file `name` (for tests and "delete this log" buttons). The log must not be
    /// open anywhere; a missing file is not an error.
    pub async fn remove(name: &str) -> Result<(), OpfsError> {
        let root = root_directory().await?;
        match JsFuture::from(root.remove_entry(name)).await {
            Ok(_) => Ok(()),
            Err(err) => {
                let (kind, _) = crate::error::exception_name_and_message(&err);
                if kind == "NotFoundError" {
                    Ok(())
                } else {
                    Err(OpfsError::from_js("removing the log file", name, &err))
                }
            }
        }
    }

    /// The log's name (its file name in the origin's private file system).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the handle, releasing the lock. Later calls fail with [`OpfsError::Closed`].
    /// Closing does not flush: the writer syncs first when it closes cleanly.
    pub fn close(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.close();
        }
    }

    fn handle(&self) -> Result<&FileSystemSyncAccessHandle, OpfsError> {
        self.handle.as_ref().ok_or_else(|| OpfsError::Closed {
            name: self.name.clone(),
        })
    }

    fn js_err(&self, op: &'static str) -> impl FnOnce(JsValue) -> OpfsError + '_ {
        move |err| OpfsError::from_js(op, &self.name, &err)
    }
}

impl Drop for OpfsStorage {
    fn drop(&mut self) {
        self.close();
    }
}

impl Storage for OpfsStorage {
    type Error = OpfsError;

    fn size(&self) -> Result<u64, OpfsError> {
        let size = self
            .handle()?
            .get_size()
            .map_err(self.js_err("reading the log size (getSize)"))?;
        Ok(size as u64)
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), OpfsError> {
        let options = FileSystemReadWriteOptions::new();
        options.set_at(offset as f64);
        let written = self
            .handle()?
            .write_with_u8_array_and_options(bytes, &options)
            .map_err(self.js_err("writing to the log (write)"))?;
        if written as usize != bytes.len() {
            return Err(OpfsError::Short {
                name: self.name.clone(),
                op: "writing to the log (write)",
                wanted: bytes.len(),
                done: written as usize,
            });
        }
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, OpfsError> {
        let options = FileSystemReadWriteOptions::new();
        options.set_at(offset as f64);
        let read = self
            .handle()?
            .read_with_u8_array_and_options(buf, &options)
            .map_err(self.js_err("reading the log (read)"))?;
        Ok(read as usize)
    }

    fn sync(&mut self, _mode: SyncMode) -> Result<(), OpfsError> {
        self.handle()?
            .flush()
            .map_err(self.js_err("making the log durable (flush)"))
    }

    fn truncate(&mut self, len: u64) -> Result<(), OpfsError> {
        self.handle()?
            .truncate_with_f64(len as f64)
            .map_err(self.js_err("truncating the log (truncate)"))
    }
}

/// The root of this origin's private file system, from a worker's or a page's navigator.
async fn root_directory() -> Result<FileSystemDirectoryHandle, OpfsError> {
    let global = js_sys::global();
    let storage = if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        worker.navigator().storage()
    } else if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        window.navigator().storage()
    } else {
        return Err(OpfsError::NotSupported {
            what: "neither a window nor a worker".to_owned(),
        });
    };
    let root = JsFuture::from(storage.get_directory())
        .await
        .map_err(|err| {
            OpfsError::from_js("opening the private file system (getDirectory)", "", &err)
        })?;
    root.dyn_into::<FileSystemDirectoryHandle>()
        .map_err(|_| OpfsError::NotSupported {
            what: "navigator.storage.getDirectory() returned something else".to_owned(),
        })
}

async fn file_handle(name: &str, create: bool) -> Result<FileSystemFileHandle, OpfsError> {
    let root = root_directory().await?;
    let options = FileSystemGetFileOptions::new();
    options.set_create(create);
    let file = JsFuture::from(root.get_file_handle_with_options(name, &options))
        .await
        .map_err(|err| OpfsError::from_js("opening the log file (getFileHandle)", name, &err))?;
    file.dyn_into::<FileSystemFileHandle>()
        .map_err(|_| OpfsError::NotSupported {
            what: "getFileHandle returned something else".to_owned(),
        })
}
