//! [`Disk`]: the simulated disk under a log directory: per file a durable image, a live image
//! and the ordered list of operations not yet synced; the directory's names; and the crash
//! point that freezes it all.
//!
//! Invariants:
//! - `live` is always `durable` with every pending operation applied in order: reads see the
//!   latest state, like a page cache.
//! - `durable` changes only in a successful `sync` of that file (then it equals `live` and the
//!   pending list is empty), or in a directory operation, which is durable when it returns
//!   (`FsDir` syncs the directory; this models that).
//! - Mutating operations (write, truncate, sync, create, remove) are numbered from 1 in the
//!   order they are issued. Operation number `crash_at` is interrupted by the power loss: a
//!   write or truncation joins the pending list (the crash image decides its fate), a sync
//!   makes nothing durable, a create or remove happens or not (a coin of the disk's own `Rng`).
//!   It returns an error, and from then on the disk is frozen: every operation, reads included,
//!   returns an error and changes nothing, so the log that was running can fail, poison itself
//!   and be dropped without touching the image the crash left.
//! - With [`crate::sim::DiskBug::LoseLastSync`] the disk also remembers each file's durable
//!   image from before its latest sync that made anything durable, so the crash image can
//!   deliberately roll it back (a disk that loses acknowledged data).

use crate::sim::Trace;
use crate::Rng;
use std::collections::BTreeMap;
use std::io;
use walden::backend::segment_file_name;
use walden_core::Lsn;

/// Identifies a file independently of its name, so a removed file's open handles stay valid.
pub(crate) type Inode = u64;

/// One operation issued to a file since its last sync, in issue order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PendingOp {
    /// `bytes` written at `offset` (the file grows, zero-filled, to reach it).
    Write {
        /// The file offset of the first byte.
        offset: u64,
        /// What was written.
        bytes: Vec<u8>,
    },
    /// The file's length set to `len` (shrinking discards, growing zero-fills).
    Truncate {
        /// The new length.
        len: u64,
    },
}

/// One file's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileState {
    /// What survives a power loss for sure.
    pub(crate) durable: Vec<u8>,
    /// What reads see: `durable` with `pending` applied.
    pub(crate) live: Vec<u8>,
    /// Operations since the last sync, in issue order.
    pub(crate) pending: Vec<PendingOp>,
    /// With `DiskBug::LoseLastSync`: the durable image before the latest sync that changed it,
    /// and that sync's number on this disk.
    pub(crate) before_last_sync: Option<(Vec<u8>, u64)>,
}

/// How an operation ended up when the crash point was reached.
enum Tick {
    /// Run it normally.
    Run,
    /// This operation is the one the power loss interrupts.
    Crash,
}

/// The simulated disk. See the module documentation.
#[derive(Debug)]
pub(crate) struct Disk {
    files: BTreeMap<Inode, FileState>,
    /// The directory: base LSN to file. Durable as soon as a create or remove returns.
    names: BTreeMap<Lsn, Inode>,
    next_inode: Inode,
    /// Mutating operations issued so far.
    ops: u64,
    /// The number of the operation the power loss interrupts, if any.
    crash_at: Option<u64>,
    /// Set once the power is lost: a description of the interrupted operation.
    frozen: Option<String>,
    /// Whether a writer holds the directory's lock (not persistent: a power loss drops it).
    locked: bool,
    /// Syncs that made something durable, numbered, for `DiskBug::LoseLastSync`.
    syncs: u64,
    remember_syncs: bool,
    /// For the coin of an interrupted directory operation.
    rng: Rng,
    trace: Trace,
}

impl Disk {
    /// A disk holding `image` (base LSN to file contents, all durable), that will lose power at
    /// mutating operation `crash_at` (never, for `None`).
    pub(crate) fn new(
        image: &BTreeMap<Lsn, Vec<u8>>,
        crash_at: Option<u64>,
        remember_syncs: bool,
        rng: Rng,
        trace: Trace,
    ) -> Disk {
        let mut disk = Disk {
            files: BTreeMap::new(),
            names: BTreeMap::new(),
            next_inode: 1,
            ops: 0,
            crash_at,
            frozen: None,
            locked: false,
            syncs: 0,
            remember_syncs,
            rng,
            trace,
        };
        for (&base, bytes) in image {
            let inode = disk.new_file(bytes.clone());
            disk.names.insert(base, inode);
        }
        disk
    }

    /// Whether the power was lost.
    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// Mutating operations issued so far.
    pub(crate) fn ops(&self) -> u64 {
        self.ops
    }

    /// Loses the power now (between operations), if it was not lost already.
    pub(crate) fn freeze(&mut self, why: &str) {
        if self.frozen.is_none() {
            self.trace
                .note(|| format!("power lost {why}, after {} operations", self.ops));
            self.frozen = Some(why.to_owned());
        }
    }

    /// The files the directory names, by base LSN.
    pub(crate) fn named_files(&self) -> impl Iterator<Item = (Lsn, &FileState)> {
        self.names
            .iter()
            .map(|(&base, inode)| (base, &self.files[inode]))
    }

    /// The number of the latest sync that made anything durable (0 if none).
    pub(crate) fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Takes the directory's one-writer lock, or fails with `WouldBlock` while it is held.
    pub(crate) fn lock(&mut self) -> io::Result<()> {
        self.check_frozen("lock")?;
        if self.locked {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another writer holds the simulated directory's lock",
            ));
        }
        self.locked = true;
        Ok(())
    }

    /// Releases the lock (also on a frozen disk: it is process state, not disk state).
    pub(crate) fn unlock(&mut self) {
        self.locked = false;
    }

    pub(crate) fn list(&mut self) -> io::Result<Vec<Lsn>> {
        self.check_frozen("list")?;
        Ok(self.names.keys().copied().collect())
    }

    pub(crate) fn open(&mut self, base: Lsn) -> io::Result<Inode> {
        self.check_frozen("open")?;
        self.names.get(&base).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no segment {}", segment_file_name(base)),
            )
        })
    }

    /// Creates the file named for `base` holding `header`, durably and atomically.
    pub(crate) fn create(&mut self, base: Lsn, header: &[u8]) -> io::Result<Inode> {
        let name = segment_file_name(base);
        let tick = self.tick(|| format!("create {name}"))?;
        if self.names.contains_key(&base) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name} already exists"),
            ));
        }
        match tick {
            Tick::Run => {
                let inode = self.new_file(header.to_vec());
                self.names.insert(base, inode);
                self.trace.note(|| format!("create {name}: durable"));
                Ok(inode)
            }
            Tick::Crash => {
                // The rename and the directory sync either reached the disk or not.
                if self.rng.chance(1, 2) {
                    let inode = self.new_file(header.to_vec());
                    self.names.insert(base, inode);
                    self.trace
                        .note(|| format!("  interrupted create {name}: it happened"));
                } else {
                    self.trace
                        .note(|| format!("  interrupted create {name}: it did not happen"));
                }
                Err(self.frozen_error("create"))
            }
        }
    }

    /// Removes the file named for `base`, durably. Open handles keep working on it.
    pub(crate) fn remove(&mut self, base: Lsn) -> io::Result<()> {
        let name = segment_file_name(base);
        let tick = self.tick(|| format!("remove {name}"))?;
        if !self.names.contains_key(&base) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no segment {name}"),
            ));
        }
        match tick {
            Tick::Run => {
                self.names.remove(&base);
                Ok(())
            }
            Tick::Crash => {
                let happened = self.rng.chance(1, 2);
                if happened {
                    self.names.remove(&base);
                }
                self.trace
                    .note(|| format!("  interrupted remove {name}: happened = {happened}"));
                Err(self.frozen_error("remove"))
            }
        }
    }

    pub(crate) fn size(&self, inode: Inode) -> io::Result<u64> {
        self.check_frozen("size")?;
        Ok(self.file(inode).live.len() as u64)
    }

    pub(crate) fn read_at(&self, inode: Inode, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.check_frozen("read")?;
        let live = &self.file(inode).live;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(live.len());
        let len = buf.len().min(live.len() - start);
        buf[..len].copy_from_slice(&live[start..start + len]);
        Ok(len)
    }

    pub(crate) fn write_at(&mut self, inode: Inode, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let file = self.label(inode);
        let tick = self.tick(|| {
            format!(
                "write {file} [{offset}..{}) {} B",
                offset + bytes.len() as u64,
                bytes.len()
            )
        })?;
        let op = PendingOp::Write {
            offset,
            bytes: bytes.to_vec(),
        };
        let file = self.file_mut(inode);
        apply(&mut file.live, &op);
        file.pending.push(op);
        match tick {
            Tick::Run => Ok(()),
            Tick::Crash => Err(self.frozen_error("write")),
        }
    }

    pub(crate) fn truncate(&mut self, inode: Inode, len: u64) -> io::Result<()> {
        let file = self.label(inode);
        let tick = self.tick(|| format!("truncate {file} to {len} B"))?;
        let op = PendingOp::Truncate { len };
        let file = self.file_mut(inode);
        apply(&mut file.live, &op);
        file.pending.push(op);
        match tick {
            Tick::Run => Ok(()),
            Tick::Crash => Err(self.frozen_error("truncate")),
        }
    }

    /// Makes every pending operation of the file durable.
    pub(crate) fn sync(&mut self, inode: Inode) -> io::Result<()> {
        let file = self.label(inode);
        let tick = self.tick(|| format!("sync {file}"))?;
        if let Tick::Crash = tick {
            return Err(self.frozen_error("sync"));
        }
        let remember = self.remember_syncs;
        let number = self.syncs + 1;
        let file = self.file_mut(inode);
        if file.pending.is_empty() {
            return Ok(());
        }
        if remember {
            file.before_last_sync = Some((file.durable.clone(), number));
        }
        // Replaying the operations costs what they wrote, where copying `live` would cost the
        // whole file at every sync.
        for op in file.pending.drain(..) {
            apply(&mut file.durable, &op);
        }
        debug_assert!(file.durable == file.live, "a synced file is its live image");
        self.syncs = number;
        Ok(())
    }

    fn new_file(&mut self, durable: Vec<u8>) -> Inode {
        let inode = self.next_inode;
        self.next_inode += 1;
        self.files.insert(
            inode,
            FileState {
                live: durable.clone(),
                durable,
                ..FileState::default()
            },
        );
        inode
    }

    /// The file's name, for the trace (empty when not tracing: it is built for every operation).
    fn label(&self, inode: Inode) -> String {
        if !self.trace.verbose {
            return String::new();
        }
        match self.names.iter().find(|(_, &named)| named == inode) {
            Some((&base, _)) => segment_file_name(base),
            None => format!("removed file (inode {inode})"),
        }
    }

    fn file(&self, inode: Inode) -> &FileState {
        &self.files[&inode]
    }

    fn file_mut(&mut self, inode: Inode) -> &mut FileState {
        self.files
            .get_mut(&inode)
            .expect("a handle's inode exists for the disk's lifetime")
    }

    /// Counts a mutating operation; refuses it on a frozen disk; says whether it is the one the
    /// crash interrupts (and then freezes the disk).
    fn tick(&mut self, describe: impl FnOnce() -> String) -> io::Result<Tick> {
        self.check_frozen("mutating")?;
        self.ops += 1;
        let number = self.ops;
        if self.crash_at == Some(number) {
            let what = describe();
            self.trace
                .note(|| format!("op #{number}: {what}  <-- POWER LOSS interrupts it"));
            self.frozen = Some(format!("during op #{number} ({what})"));
            return Ok(Tick::Crash);
        }
        self.trace.note(|| format!("op #{number}: {}", describe()));
        Ok(Tick::Run)
    }

    fn check_frozen(&self, op: &str) -> io::Result<()> {
        match self.frozen {
            Some(_) => Err(self.frozen_error(op)),
            None => Ok(()),
        }
    }

    fn frozen_error(&self, op: &str) -> io::Error {
        io::Error::other(format!(
            "simulated power loss ({}): {op} refused",
            self.frozen.as_deref().unwrap_or("?")
        ))
    }
}

/// Applies one operation to an image.
pub(crate) fn apply(image: &mut Vec<u8>, op: &PendingOp) {
    match op {
        PendingOp::Write { offset, bytes } => write_into(image, *offset, bytes),
        PendingOp::Truncate { len } => {
            image.resize(
                usize::try_from(*len).expect("simulated files fit in memory"),
                0,
            );
        }
    }
}

/// Writes `bytes` at `offset`, growing the image (zero-filled) to reach it.
pub(crate) fn write_into(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = usize::try_from(offset).expect("simulated files fit in memory");
    let end = start + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(crash_at: Option<u64>) -> Disk {
        Disk::new(&BTreeMap::new(), crash_at, false, Rng::new(1), Trace::QUIET)
    }

    /// Prevents a crashed log from changing the image its power loss left: after the
    /// interrupted operation, everything fails and nothing is recorded.
    #[test]
    fn a_frozen_disk_refuses_everything_and_keeps_what_was_pending() {
        let mut disk = disk(Some(4));
        let inode = disk.create(Lsn::ZERO, b"header").unwrap(); // op 1
        disk.write_at(inode, 6, b"synced").unwrap(); // op 2
        disk.sync(inode).unwrap(); // op 3
        assert!(disk.write_at(inode, 12, b"interrupted").is_err()); // op 4: the crash
        assert!(disk.is_frozen());
        assert!(disk.write_at(inode, 23, b"after").is_err());
        assert!(disk.truncate(inode, 0).is_err());
        assert!(disk.sync(inode).is_err());
        assert!(disk.size(inode).is_err());
        assert!(disk.read_at(inode, 0, &mut [0; 4]).is_err());
        assert!(disk.list().is_err());
        assert!(disk.create(Lsn::new(100), b"h").is_err());
        assert_eq!(disk.ops(), 4);
        let (_, file) = disk.named_files().next().unwrap();
        assert_eq!(file.durable, b"headersynced");
        assert_eq!(
            file.pending,
            vec![PendingOp::Write {
                offset: 12,
                bytes: b"interrupted".to_vec()
            }]
        );
    }

    /// Prevents reads from seeing only durable data (they see the page cache) and a sync from
    /// leaving anything pending.
    #[test]
    fn reads_see_pending_writes_and_sync_makes_them_durable() {
        let mut disk = disk(None);
        let inode = disk.create(Lsn::ZERO, b"0123").unwrap();
        disk.write_at(inode, 6, b"ab").unwrap();
        disk.truncate(inode, 7).unwrap();
        let mut buf = [9u8; 8];
        assert_eq!(disk.read_at(inode, 0, &mut buf).unwrap(), 7);
        assert_eq!(&buf[..7], b"0123\0\0a");
        assert_eq!(disk.named_files().next().unwrap().1.durable, b"0123");
        disk.sync(inode).unwrap();
        let (_, file) = disk.named_files().next().unwrap();
        assert_eq!(file.durable, b"0123\0\0a");
        assert!(file.pending.is_empty());
    }
}
