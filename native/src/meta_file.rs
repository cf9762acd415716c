//! [`MetaFile`]: a [`crate::Wal`]'s `META` file on its [`SegmentDir`]: the application's
//! metadata slot and the log's suffix truncations (the core's [`Meta`] format).
//!
//! Invariants:
//! - What this holds in memory is what the file's newest valid copy says: a change is made in
//!   memory only after its copy is written and synced.
//! - The file is created whole (atomically, as a segment is) by the first change; until then the
//!   log has no metadata and no truncations, exactly as a log written before `META` existed.
//! - Each rewrite goes to the slot not holding the newest copy and is synced before the next
//!   one, so a crash during a rewrite leaves the previous copy.
//! - A failed write or sync leaves the file's state unknown: the caller poisons the log, and
//!   this refuses every later change.

use crate::error::{io, Error};
use crate::segment_dir::SegmentDir;
use std::sync::Arc;
use walden_core::{Lsn, Meta, Storage, SyncMode, Truncation, META_SLOT_BYTES};

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct MetaFile<D: SegmentDir> {
    storage: Option<D::Storage>,
    meta: Meta,
    /// `meta.truncations`, shared with readers created since the last change.
    truncations: Arc<[Truncation]>,
    failed: bool,
}

impl<D: SegmentDir> MetaFile<D> {
    /// Reads the directory's `META` file (none yet: no metadata, no truncations).
    pub(crate) fn open(dir: &D) -> Result<MetaFile<D>, Error> {
        let Some(storage) = dir.open_meta().map_err(io("opening the META file"))? else {
            return Ok(MetaFile {
                storage: None,
                meta: Meta::default(),
                truncations: Arc::from(Vec::new()),
                failed: false,
            });
        };
        let size = storage.size().map_err(io("reading the META file"))?;
        let len = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .min(2 * META_SLOT_BYTES);
        let mut image = vec![0; len];
        let mut read = 0;
        while read < len {
            let n = storage
                .read_at(read as u64, &mut image[read..])
                .map_err(io("reading the META file"))?;
            if n == 0 {
                break;
            }
            read += n;
        }
        image.truncate(read);
        let meta = Meta::read(&image)?;
        Ok(MetaFile {
            storage: Some(storage),
            truncations: Arc::from(meta.truncations.clone()),
            meta,
            failed: false,
        })
    }

    /// Whether a write or sync failed, leaving the file's state unknown (the log must be
    /// poisoned and reopened).
    pub(crate) fn has_failed(&self) -> bool {
        self.failed
    }

    /// The newest copy.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The truncations, oldest first, shared (readers keep the list they started with).
    pub(crate) fn truncations(&self) -> Arc<[Truncation]> {
        Arc::clone(&self.truncations)
    }

    /// Writes `truncations` and `metadata` as the next copy, durably, forgetting truncations
    /// below `first_kept`. On an I/O error the file's state is unknown: the caller must poison
    /// the log (this refuses every later change).
    pub(crate) fn store(
        &mut self,
        dir: &D,
        truncations: Vec<Truncation>,
        metadata: Vec<u8>,
        first_kept: Lsn,
    ) -> Result<(), Error> {
        if self.failed {
            return Err(Error::Io {
                op: "writing the META file",
                source: std::io::Error::other(
                    "an earlier write of the META file failed; reopen the log",
                ),
            });
        }
        let next = self.meta.next(truncations, metadata, first_kept)?;
        let bytes = next.encode();
        let offset = next.slot_offset();
        let written = match &mut self.storage {
            None => match dir.create_meta(&[vec![0; offset as usize], bytes].concat()) {
                Ok(storage) => {
                    self.storage = Some(storage);
                    Ok(())
                }
                // A directory that cannot hold the file: nothing was written.
                Err(err) if err.kind() == std::io::ErrorKind::Unsupported => {
                    return Err(io("creating the META file")(err));
                }
                Err(err) => Err(io("creating the META file")(err)),
            },
            Some(storage) => storage
                .write_at(offset, &bytes)
                .and_then(|()| storage.sync(SyncMode::Data))
                .map_err(io("writing the META file")),
        };
        if let Err(err) = written {
            // A rewrite may have left either copy newest; a creation may have failed after the
            // file got its name (syncing the directory), so it may or may not be there.
            self.failed = true;
            return Err(err);
        }
        self.truncations = Arc::from(next.truncations.clone());
        self.meta = next;
        Ok(())
    }
}
