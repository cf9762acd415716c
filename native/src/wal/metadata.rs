//! The parts of [`Wal`] that change its `META` file: the application's durable metadata slot
//! ([`Wal::set_metadata`]) and suffix truncation ([`Wal::truncate_from`]).
//!
//! Invariants:
//! - Both are durable when they return `Ok`, and atomic across a crash: the `META` rewrite is
//!   the one commit point (see `meta_file.rs`), so a crash leaves the old state or the new one.
//! - A truncation is recorded only after every record it drops, and everything before them, is
//!   synced: the log cannot come back from a crash shorter than a truncation's end, so LSNs
//!   after a truncation always resume at or past its end and only grow.
//! - Truncation holds the metadata lock, then the writer lock, for its whole duration (two
//!   syncs): no append lands between its check of the log's end and its record of it.
//! - A failed sync or `META` write poisons the log, as any failed sync does.

use super::Wal;
use crate::error::Error;
use crate::reader::WalIter;
use crate::segment_dir::SegmentDir;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use walden_core::{InputError, Lsn, Truncation};

impl<D: SegmentDir> Wal<D> {
    /// The application's metadata: the bytes last given to [`Wal::set_metadata`] (empty if
    /// never). Kept in the directory's `META` file, so checkpoints never remove it.
    pub fn metadata(&self) -> Vec<u8> {
        self.meta_file().meta().metadata.clone()
    }

    /// Replaces the application's metadata (at most [`walden_core::MAX_METADATA_BYTES`]) and
    /// makes it durable before returning: a consensus engine's vote, the last entry it purged.
    /// A crash during the call leaves the old bytes or the new ones, never a mix or nothing.
    ///
    /// It costs one write and one `fdatasync` of a small file, independent of the log's
    /// records (it does not wait for or make durable any appended record).
    ///
    /// ```
    /// # fn main() -> Result<(), walden::Error> {
    /// # let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = walden::Wal::open(dir.path())?;
    /// wal.set_metadata(b"term=3 voted_for=2")?;
    /// drop(wal);
    /// assert_eq!(walden::Wal::open(dir.path())?.metadata(), b"term=3 voted_for=2");
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_metadata(&self, metadata: &[u8]) -> Result<(), Error> {
        self.refuse_if_unusable()?;
        let mut meta = self.meta_file();
        let truncations = meta.meta().truncations.clone();
        let first = self.first_lsn();
        let stored = meta.store(&self.dir, truncations, metadata.to_vec(), first);
        let unknown = meta.has_failed();
        drop(meta);
        match stored {
            Err(err) if unknown => {
                let err = {
                    let mut writer = self.writer();
                    self.poison_with(&mut writer, err)
                };
                self.fail_outside_sync(&err);
                Err(err)
            }
            other => other,
        }
    }

    /// Drops every record from `from` on (Raft's conflict truncation of a log's suffix), and
    /// returns the LSN appends continue from: the end of the log before the call, so LSNs only
    /// ever grow and a receipt handed out before the truncation never names a later record.
    ///
    /// `from` must be the LSN of a record still in the log (not dropped already), or
    /// [`Wal::current_lsn`] (nothing to drop). Durable when it returns: it syncs the log first
    /// (so everything before `from` is durable too), then records the truncation in the `META`
    /// file; a crash at any point leaves either the whole log or the truncated one. Readers
    /// ([`Wal::read_from`], [`Wal::reader`]) no longer return the dropped records; their bytes
    /// stay in the segments until a checkpoint removes them.
    ///
    /// A wrong `from` is [`Error::Input`], [`Error::NotARecordBoundary`],
    /// [`Error::Checkpointed`] or [`Error::Truncated`], and changes nothing.
    ///
    /// ```
    /// # fn main() -> Result<(), walden::Error> {
    /// # let dir = tempfile::tempdir().expect("a temporary directory");
    /// let wal = walden::Wal::open(dir.path())?;
    /// let kept = wal.commit(b"term 1: x = 1")?;
    /// let conflicting = wal.commit(b"term 1: x = 2")?;
    /// wal.truncate_from(conflicting.lsn())?;
    /// let replacement = wal.commit(b"term 2: x = 3")?;
    /// assert!(replacement.lsn() > conflicting.lsn(), "LSNs only grow");
    /// let payloads: Vec<Vec<u8>> = wal
    ///     .read_from(kept.lsn())?
    ///     .map(|record| record.map(|r| r.payload))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(payloads, [&b"term 1: x = 1"[..], b"term 2: x = 3"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn truncate_from(&self, from: Lsn) -> Result<Lsn, Error> {
        self.refuse_if_unusable()?;
        let mut meta = self.meta_file();
        let mut writer = self.writer();
        let end = writer.log.current_lsn();
        if from > end {
            return Err(InputError::BeyondCurrent {
                target: from,
                current: end,
            }
            .into());
        }
        let first = writer.log.first_lsn();
        if from < first {
            return Err(Error::Checkpointed {
                requested: from,
                first,
            });
        }
        if let Some(t) = meta.meta().truncations.iter().find(|t| t.covers(from)) {
            return Err(Error::Truncated {
                lsn: from,
                from: t.from,
                to: t.to,
            });
        }
        if from == end {
            return Ok(end);
        }
        // Everything appended, in every segment, durable before the truncation is recorded.
        let synced = writer
            .log
            .collect_seal(true)
            .and_then(|()| writer.log.sync_active());
        if let Err(err) = synced {
            let err = self.poison_with(&mut writer, err);
            drop(writer);
            drop(meta);
            self.fail_outside_sync(&err);
            return Err(err);
        }
        self.publish_current(&writer);
        // `from` must start a record: read it back (from the file, now that it is synced).
        let mut at = WalIter::new(
            self.dir.clone(),
            &self.options,
            writer.log.segments(),
            from,
            end,
        )?;
        match at.next() {
            Some(Ok(record)) if record.lsn == from => {}
            Some(Err(err)) => return Err(err),
            _ => return Err(Error::NotARecordBoundary { lsn: from }),
        }
        // The ranges before `from` stay; any after it are inside the new one. A truncation
        // right where the previous one ended extends it.
        let mut truncations: Vec<Truncation> = meta
            .meta()
            .truncations
            .iter()
            .copied()
            .filter(|t| t.to <= from)
            .collect();
        match truncations.last_mut() {
            Some(last) if last.to == from => last.to = end,
            _ => truncations.push(Truncation { from, to: end }),
        }
        let metadata = meta.meta().metadata.clone();
        let stored = meta.store(&self.dir, truncations, metadata, first);
        if let Err(err) = stored {
            if meta.has_failed() {
                let err = self.poison_with(&mut writer, err);
                drop(writer);
                drop(meta);
                self.fail_outside_sync(&err);
                return Err(err);
            }
            return Err(err);
        }
        tracing::info!(from = %from, to = %end, "walden: truncated the log's suffix");
        Ok(end)
    }

    /// The suffix truncations the log holds, oldest first (those below [`Wal::first_lsn`] are
    /// forgotten at the next change of the `META` file).
    pub fn truncations(&self) -> Arc<[Truncation]> {
        self.meta_file().truncations()
    }

    fn refuse_if_unusable(&self) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        Ok(())
    }
}
