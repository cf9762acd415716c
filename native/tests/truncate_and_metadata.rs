//! What a consensus engine needs from the log, as a user calls it: suffix truncation, the
//! durable metadata slot, random access with read-your-appends, and batch appends.

mod common;

use common::{dir_contents, faulty_wal};
use std::sync::Arc;
use walden::backend::META_FILE_NAME;
use walden::{Error, ErrorKind, Lsn, MetaError, Wal, WalOptions, MAX_METADATA_BYTES};

fn tiny_segments() -> WalOptions {
    WalOptions {
        segment_bytes: 256,
        ..WalOptions::default()
    }
}

fn payloads(wal: &Wal, from: Lsn) -> Vec<Vec<u8>> {
    wal.read_from(from)
        .expect("a reader")
        .map(|record| record.expect("a record").payload)
        .collect()
}

#[test]
fn metadata_is_durable_across_reopen_and_survives_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), tiny_segments()).unwrap();
    assert!(wal.metadata().is_empty(), "a new log has no metadata");
    assert!(
        !dir.path().join(META_FILE_NAME).exists(),
        "no META file until it is needed"
    );
    wal.set_metadata(b"vote=1").unwrap();
    wal.set_metadata(b"vote=2").unwrap();
    let mut last = None;
    for i in 0..100u32 {
        last = Some(wal.commit(format!("record {i:03}").as_bytes()).unwrap());
    }
    assert!(wal.segments().len() > 3);
    wal.checkpoint(last.unwrap().lsn()).unwrap();
    assert_eq!(
        wal.segments().len(),
        1,
        "the checkpoint removed every sealed segment"
    );
    assert_eq!(wal.metadata(), b"vote=2");
    drop(wal);
    let wal = Wal::open_with(dir.path(), tiny_segments()).unwrap();
    assert_eq!(wal.metadata(), b"vote=2");
}

#[test]
fn metadata_over_the_limit_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path()).unwrap();
    wal.set_metadata(b"kept").unwrap();
    let err = wal
        .set_metadata(&vec![7; MAX_METADATA_BYTES + 1])
        .unwrap_err();
    assert!(
        matches!(err, Error::Meta(MetaError::MetadataTooLong { .. })),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(wal.metadata(), b"kept");
    wal.commit(b"still writable").unwrap();
}

#[test]
fn truncation_drops_the_suffix_lsns_keep_growing_and_it_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open_with(dir.path(), tiny_segments()).unwrap());
    let records: Vec<_> = (0..20u32)
        .map(|i| wal.commit(format!("old {i:02}").as_bytes()).unwrap())
        .collect();
    // Some of the suffix not even durable: truncation syncs it before recording itself.
    let undurable = wal.append(b"old, not durable").unwrap();
    let end_before = wal.current_lsn();
    let resumed = wal.truncate_from(records[12].lsn()).unwrap();
    assert_eq!(resumed, end_before, "appends resume at the old end");
    let new = wal.commit(b"new 0").unwrap();
    assert!(new.lsn() >= end_before, "LSNs only grow");

    let mut expected: Vec<Vec<u8>> = (0..12u32)
        .map(|i| format!("old {i:02}").into_bytes())
        .collect();
    expected.push(b"new 0".to_vec());
    assert_eq!(payloads(&wal, records[0].lsn()), expected);
    let mut reader = wal.reader();
    let err = reader.read(undurable.lsn()).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert_eq!(reader.read(new.lsn()).unwrap().payload, b"new 0");

    drop(reader);
    drop(Arc::into_inner(wal).unwrap());
    let wal = Wal::open_with(dir.path(), tiny_segments()).unwrap();
    assert_eq!(payloads(&wal, records[0].lsn()), expected, "after reopen");
    let after = wal.commit(b"new 1").unwrap();
    assert!(after.lsn() > new.lsn());
}

#[test]
fn a_wrong_truncation_point_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path()).unwrap();
    let a = wal.commit(b"aaaa").unwrap();
    let b = wal.commit(b"bbbb").unwrap();
    let inside = Lsn::new(a.lsn().get() + 3);
    let err = wal.truncate_from(inside).unwrap_err();
    assert!(matches!(err, Error::NotARecordBoundary { .. }), "{err}");
    let past = Lsn::new(wal.current_lsn().get() + 1);
    assert_eq!(
        wal.truncate_from(past).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(
        !dir.path().join(META_FILE_NAME).exists(),
        "nothing recorded"
    );
    assert_eq!(
        wal.truncate_from(wal.current_lsn()).unwrap(),
        wal.current_lsn(),
        "truncating at the end drops nothing"
    );
    wal.truncate_from(b.lsn()).unwrap();
    let err = wal.truncate_from(b.lsn()).unwrap_err();
    assert!(
        matches!(err, Error::Truncated { .. }),
        "{err}: dropped already"
    );
    assert_eq!(payloads(&wal, a.lsn()), [b"aaaa".to_vec()]);
}

#[test]
fn truncations_nest_and_extend_and_stay_few() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path()).unwrap();
    let r: Vec<_> = (0..6u8).map(|i| wal.commit(&[i; 8]).unwrap()).collect();
    wal.truncate_from(r[4].lsn()).unwrap();
    let x = wal.commit(b"x").unwrap();
    // An earlier point swallows the earlier truncation.
    wal.truncate_from(r[2].lsn()).unwrap();
    assert_eq!(wal.truncations().len(), 1);
    // Truncating what was appended right after a truncation extends it.
    let y = wal.commit(b"y").unwrap();
    wal.truncate_from(y.lsn()).unwrap();
    assert_eq!(wal.truncations().len(), 1, "{:?}", wal.truncations());
    let z = wal.commit(b"z").unwrap();
    assert!(z.lsn() > x.lsn());
    assert_eq!(
        payloads(&wal, r[0].lsn()),
        [vec![0; 8], vec![1; 8], b"z".to_vec()]
    );
}

/// The one commit point of a truncation is the `META` rewrite. A crash in the middle of it
/// leaves the copy before it (a torn rewrite fails its checksum), so the log reopens whole.
#[test]
fn a_torn_meta_rewrite_leaves_the_log_as_it_was_before() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path()).unwrap();
    let r: Vec<_> = (0..6u8).map(|i| wal.commit(&[i; 8]).unwrap()).collect();
    wal.truncate_from(r[5].lsn()).unwrap();
    let before_second = std::fs::read(dir.path().join(META_FILE_NAME)).unwrap();
    wal.truncate_from(r[3].lsn()).unwrap();
    drop(wal);
    let after_second = std::fs::read(dir.path().join(META_FILE_NAME)).unwrap();
    // The second copy went to the other slot (here slot 0); tear it after every byte.
    let second = walden::walden_core::Meta::read(&after_second).unwrap();
    let (start, end) = (
        second.slot_offset() as usize,
        second.slot_offset() as usize + second.encode().len(),
    );
    assert_eq!(
        before_second[start..end],
        vec![0; end - start],
        "a fresh slot"
    );
    for torn in start..end {
        let mut image = after_second.clone();
        image[torn..end].copy_from_slice(&before_second[torn..end]);
        std::fs::write(dir.path().join(META_FILE_NAME), &image).unwrap();
        let wal = Wal::open(dir.path()).unwrap();
        let kept = payloads(&wal, r[0].lsn()).len();
        // Torn bytes that equal what was being written (the zero high bytes of an LSN) leave
        // the rewrite whole; anything else leaves the copy before it.
        let expected = if image == after_second { 3 } else { 5 };
        assert_eq!(kept, expected, "torn at byte {torn}");
    }
}

#[test]
fn a_damaged_meta_file_refuses_to_open_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path()).unwrap();
    let a = wal.commit(b"a").unwrap();
    wal.commit(b"b").unwrap();
    wal.truncate_from(Lsn::new(a.end().get())).unwrap();
    wal.set_metadata(b"vote").unwrap();
    drop(wal);
    let path = dir.path().join(META_FILE_NAME);
    let mut image = std::fs::read(&path).unwrap();
    image[3] ^= 0x40;
    image[walden::walden_core::META_SLOT_BYTES + 3] ^= 0x40;
    std::fs::write(&path, &image).unwrap();
    let before = dir_contents(dir.path());
    let err = Wal::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Meta(MetaError::Damaged)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert_eq!(dir_contents(dir.path()), before);
}

#[test]
fn a_truncation_past_the_segments_end_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), tiny_segments()).unwrap();
    let r: Vec<_> = (0..40u8).map(|i| wal.commit(&[i; 16]).unwrap()).collect();
    wal.truncate_from(r[39].lsn()).unwrap();
    let last = *wal.segments().last().unwrap();
    drop(wal);
    // The segments holding the truncation's end, removed by hand.
    for segment in std::fs::read_dir(dir.path()).unwrap() {
        let path = segment.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if walden::backend::parse_segment_file_name(&name).is_some_and(|base| base >= last) {
            std::fs::remove_file(path).unwrap();
        }
    }
    let err = Wal::open_with(dir.path(), tiny_segments()).unwrap_err();
    assert!(matches!(err, Error::MetaPastEnd { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

#[test]
fn the_random_reader_reads_every_record_in_any_order_durable_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open_with(dir.path(), tiny_segments()).unwrap());
    let mut records = Vec::new();
    for i in 0..60u32 {
        let payload = format!("record {i} {}", "x".repeat(i as usize % 7)).into_bytes();
        let appended = if i % 3 == 0 {
            wal.commit(&payload).unwrap()
        } else {
            wal.append(&payload).unwrap()
        };
        records.push((appended, payload));
    }
    let long = vec![9u8; 10_000];
    records.push((wal.append(&long).unwrap(), long));
    assert!(wal.segments().len() > 3);
    let mut reader = wal.reader();
    // A fixed shuffle: every 7th, wrapping.
    for k in 0..records.len() {
        let (appended, payload) = &records[(k * 7) % records.len()];
        let read = reader.read(appended.lsn()).unwrap();
        assert_eq!(&read.payload, payload);
        assert_eq!(read.end_lsn(), appended.end());
    }
    let (first, _) = &records[0];
    let err = reader.read(Lsn::new(first.lsn().get() + 1)).unwrap_err();
    assert!(matches!(err, Error::NotARecordBoundary { .. }), "{err}");
    let err = reader.read(wal.current_lsn()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    wal.sync().unwrap();
    let (middle, _) = &records[40];
    wal.checkpoint(middle.lsn()).unwrap();
    let err = reader.read(first.lsn()).unwrap_err();
    assert!(matches!(err, Error::Checkpointed { .. }), "{err}");
    assert_eq!(
        reader.read(records[45].0.lsn()).unwrap().payload,
        records[45].1
    );
}

#[test]
fn a_batch_is_contiguous_and_one_wait_makes_it_durable_with_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path()).unwrap();
    let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 1 + i as usize]).collect();
    let receipts = wal
        .append_batch(payloads.iter().map(Vec::as_slice))
        .unwrap();
    assert_eq!(receipts.len(), 100);
    assert!(receipts.windows(2).all(|w| w[0].end() <= w[1].lsn()));
    let fsyncs = wal.stats().fsyncs;
    wal.wait_durable(*receipts.last().unwrap()).unwrap();
    assert_eq!(wal.stats().fsyncs, fsyncs + 1);
    assert!(receipts.iter().all(|r| r.is_durable_at(wal.durable_lsn())));

    let current = wal.current_lsn();
    let too_long = vec![0u8; WalOptions::default().max_payload_len as usize + 1];
    let err = wal
        .append_batch([&b"fits"[..], too_long.as_slice()])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RecordTooLarge);
    assert_eq!(
        wal.current_lsn(),
        current,
        "nothing of the batch was appended"
    );
}

#[test]
fn a_directory_without_a_meta_file_refuses_metadata_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _faults) = faulty_wal(dir.path(), WalOptions::default());
    let a = wal.commit(b"a").unwrap();
    let err = wal.set_metadata(b"vote").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let err = wal.truncate_from(a.lsn()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    wal.commit(b"still writable").unwrap();
}

/// A directory whose `META` file's syncs fail once `fail` is set (its segments never fail).
#[derive(Clone, Debug)]
struct FailingMetaDir {
    inner: walden::backend::FsDir,
    fail: Arc<std::sync::atomic::AtomicBool>,
}

/// A file of a [`FailingMetaDir`]: `fail` is `None` for segments.
#[derive(Debug)]
struct MaybeFailing {
    inner: walden::backend::FileStorage,
    fail: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl walden::walden_core::Storage for MaybeFailing {
    type Error = std::io::Error;
    fn size(&self) -> std::io::Result<u64> {
        self.inner.size()
    }
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_at(offset, bytes)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn sync(&mut self, mode: walden::SyncMode) -> std::io::Result<()> {
        if self
            .fail
            .as_ref()
            .is_some_and(|fail| fail.load(std::sync::atomic::Ordering::SeqCst))
        {
            return Err(std::io::Error::from_raw_os_error(5)); // EIO
        }
        self.inner.sync(mode)
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.truncate(len)
    }
}

impl walden::backend::SharedSync for MaybeFailing {
    type Handle = <walden::backend::FileStorage as walden::backend::SharedSync>::Handle;
    fn sync_handle(&self) -> Self::Handle {
        self.inner.sync_handle()
    }
    fn sync_shared(handle: &Self::Handle, mode: walden::SyncMode) -> std::io::Result<()> {
        walden::backend::FileStorage::sync_shared(handle, mode)
    }
}

impl walden::backend::SegmentDir for FailingMetaDir {
    type Storage = MaybeFailing;
    type Lock = walden::backend::DirLock;
    fn lock(&self) -> std::io::Result<Self::Lock> {
        self.inner.lock()
    }
    fn list(&self) -> std::io::Result<Vec<Lsn>> {
        self.inner.list()
    }
    fn open(&self, base: Lsn) -> std::io::Result<MaybeFailing> {
        Ok(MaybeFailing {
            inner: self.inner.open(base)?,
            fail: None,
        })
    }
    fn create(&self, base: Lsn, header: &[u8]) -> std::io::Result<MaybeFailing> {
        Ok(MaybeFailing {
            inner: self.inner.create(base, header)?,
            fail: None,
        })
    }
    fn remove(&self, base: Lsn) -> std::io::Result<()> {
        self.inner.remove(base)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn open_meta(&self) -> std::io::Result<Option<MaybeFailing>> {
        Ok(self.inner.open_meta()?.map(|inner| MaybeFailing {
            inner,
            fail: Some(Arc::clone(&self.fail)),
        }))
    }
    fn create_meta(&self, contents: &[u8]) -> std::io::Result<MaybeFailing> {
        Ok(MaybeFailing {
            inner: self.inner.create_meta(contents)?,
            fail: Some(Arc::clone(&self.fail)),
        })
    }
}

#[test]
fn a_failed_meta_sync_poisons_the_log_until_it_is_reopened() {
    use walden::backend::SegmentDir;
    let tmp = tempfile::tempdir().unwrap();
    let dir = FailingMetaDir {
        inner: walden::backend::FsDir::create_all(tmp.path()).unwrap(),
        fail: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    let wal = Wal::open_in(dir.clone(), WalOptions::default()).unwrap();
    wal.set_metadata(b"vote=1").unwrap();
    let a = wal.commit(b"a").unwrap();
    let b = wal.commit(b"b").unwrap();
    dir.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = wal.truncate_from(b.lsn()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    for err in [
        wal.commit(b"after").unwrap_err(),
        wal.set_metadata(b"vote=2").unwrap_err(),
        wal.sync().unwrap_err(),
    ] {
        assert!(err.is_poisoned(), "{err}");
    }
    drop(wal);
    dir.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(dir.lock().is_ok(), "the lock went with the log");
    // Reopened: the truncation's rewrite was written but not synced; either copy may be the
    // newest, and both name a consistent log.
    let wal = Wal::open_in(dir, WalOptions::default()).unwrap();
    assert_eq!(wal.metadata(), b"vote=1");
    let kept: Vec<Vec<u8>> = wal
        .read_from(a.lsn())
        .unwrap()
        .map(|r| r.unwrap().payload)
        .collect();
    assert!(
        kept == [b"a".to_vec()] || kept == [b"a".to_vec(), b"b".to_vec()],
        "{kept:?}"
    );
    wal.commit(b"writable again").unwrap();
}
