//! `WalWriter`'s contract, one test per promise, each opening with the failure it prevents.

use std::io::Write;
use walden::{Error, InputError, PoisonedError, WalOptions, WalWriter, SYNC_MARK_STEP_BYTES};
use walden_core::{
    Codec, Decoded, Durability, FileHeader, HeaderError, Lsn, Marker, MemStorage, Records,
    RecoveryError, Storage, SyncMode, TailKind, BODY_OFFSET, FORMAT_VERSION, MARKER_FRAME_LEN,
};

/// The payloads of every record in a log file image.
fn payloads(image: &[u8]) -> Vec<Vec<u8>> {
    let header = FileHeader::read(image).expect("a valid header");
    Records::new(
        Codec::for_header(&header),
        header.base_lsn,
        &image[header.body_offset() as usize..],
    )
    .map(|record| record.payload.to_vec())
    .collect()
}

fn mem_writer() -> WalWriter<MemStorage> {
    WalWriter::create(MemStorage::new(), Lsn::ZERO, WalOptions::default()).expect("a new log")
}

/// Prevents losing records across a clean close and reopen, or counting them durable too early.
#[test]
fn records_survive_close_and_reopen_and_are_not_durable_until_synced_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let mut log = WalWriter::open(&path).unwrap();
    log.append(b"one").unwrap();
    log.append(b"two").unwrap();
    assert_eq!(log.durable_lsn(), Lsn::ZERO);
    let end = log.close().unwrap();

    let mut log = WalWriter::open(&path).unwrap();
    assert_eq!(log.recovery().records, 2);
    assert_eq!(log.current_lsn(), end);
    assert_eq!(
        log.durable_lsn(),
        log.base_lsn(),
        "nothing is durable until this process syncs"
    );
    assert_eq!(log.sync().unwrap(), end);
    assert_eq!(
        payloads(&std::fs::read(&path).unwrap()),
        vec![b"one".to_vec(), b"two".to_vec()]
    );
}

/// Prevents the reddb bug: after a torn tail, new records must not land behind the garbage.
#[test]
fn torn_tail_is_truncated_before_the_next_append_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    // Without preallocation the garbage is the whole tail; the next test covers preallocation.
    let options = WalOptions {
        preallocate_bytes: 0,
        ..WalOptions::default()
    };
    let mut log = WalWriter::open_with(&path, options).unwrap();
    for i in 0..5u8 {
        log.append(&[i; 50]).unwrap();
    }
    log.close().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&[0xAB; 29]).unwrap();
    drop(file);

    let mut log = WalWriter::open_with(&path, options).unwrap();
    let tail = log.recovery().tail.unwrap();
    assert!(matches!(tail.kind, TailKind::Torn(_)), "{tail:?}");
    assert_eq!(tail.bytes, 29);
    log.append(b"after").unwrap();
    log.close().unwrap();

    let log = WalWriter::open_with(&path, options).unwrap();
    assert_eq!(log.recovery().records, 6);
    assert_eq!(log.recovery().tail, None);
    assert_eq!(payloads(&std::fs::read(&path).unwrap())[5], b"after");
}

/// Preallocation: the file grows in zero-filled steps ahead of the records, a reopen keeps the
/// zero fill (it is unwritten space, not damage), and a torn write into it is still truncated.
#[test]
fn preallocated_zero_fill_is_kept_and_a_torn_write_into_it_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let options = WalOptions {
        preallocate_bytes: 4096,
        ..WalOptions::default()
    };
    let mut log = WalWriter::open_with(&path, options).unwrap();
    for i in 0..5u8 {
        log.append(&[i; 50]).unwrap();
    }
    let end = log.close().unwrap();
    let file_len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(file_len, 4096, "one preallocation step");

    let log = WalWriter::open_with(&path, options).unwrap();
    let tail = log.recovery().tail.unwrap();
    assert_eq!(tail.kind, TailKind::Zeroed);
    assert_eq!(log.current_lsn(), end);
    drop(log);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        4096,
        "zero fill kept"
    );

    // A torn write: garbage right after the last record, zeros after it.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[0xAB; 29], BODY_OFFSET as u64 + end.get())
        .unwrap();
    drop(file);
    let mut log = WalWriter::open_with(&path, options).unwrap();
    assert!(matches!(
        log.recovery().tail.unwrap().kind,
        TailKind::Torn(_)
    ));
    log.append(b"after").unwrap();
    // Enough to cross into the next preallocation step.
    for _ in 0..60 {
        log.append(&[7; 100]).unwrap();
    }
    log.close().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len() % 4096, 0);

    let log = WalWriter::open_with(&path, options).unwrap();
    assert_eq!(log.recovery().records, 66);
    assert_eq!(log.recovery().tail.unwrap().kind, TailKind::Zeroed);
    assert_eq!(payloads(&std::fs::read(&path).unwrap())[5], b"after");
}

/// Prevents opening, and so modifying, a file that is not ours or is from a newer release.
#[test]
fn foreign_and_newer_files_are_typed_errors_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-wal");
    std::fs::write(
        &path,
        b"SQLite format 3\0 and then some more bytes of a database file",
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = WalWriter::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::Header(HeaderError::NotAWalFile { .. })),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let newer = dir.path().join("newer");
    // Both slots of a v2 header, each claiming the version after this build's.
    let mut header = FileHeader::new(1, Lsn::ZERO).encode_initial();
    let newer_version = FORMAT_VERSION + 1;
    for slot in header.chunks_mut(walden_core::HEADER_LEN) {
        slot[8..12].copy_from_slice(&newer_version.to_le_bytes());
    }
    std::fs::write(&newer, &header).unwrap();
    let err = WalWriter::open(&newer).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Header(HeaderError::NewerVersion { found, .. }) if found == newer_version
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"), "{err}");
    assert_eq!(std::fs::read(&newer).unwrap(), header);
}

/// Prevents a failed fsync from being retried into a false acknowledgement.
#[test]
fn a_failed_sync_poisons_until_reopened_and_recovered() {
    let mut log = mem_writer();
    log.append(b"durable").unwrap();
    let durable = log.sync().unwrap();
    log.append(b"lost").unwrap();
    log.storage_mut().fail_next_sync();
    assert!(matches!(log.sync(), Err(Error::Io { op: "sync", .. })));

    for result in [
        log.append(b"more").map(|_| ()),
        log.sync().map(|_| ()),
        log.flush_until(log.current_lsn()).map(|_| ()),
        log.mark_durable(log.written_lsn()).map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(Error::Poisoned(PoisonedError { durable: d, .. })) if d == durable)
        );
    }
    assert_eq!(log.durable_lsn(), durable);

    // Reopening recovers what reached the media: Linux dropped the failed pages.
    let storage = MemStorage::from_durable(log.storage().durable_image().to_vec());
    let mut log = WalWriter::recover(storage, WalOptions::default()).unwrap();
    assert_eq!(log.recovery().records, 1);
    assert!(log.append(b"works again").is_ok());
}

/// Prevents a failed write from leaving the writer usable with an unknown tail.
#[test]
fn a_failed_write_poisons_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let log = WalWriter::open(&path).unwrap();
    drop(log);
    // Reopen on a read-only handle so the drain's write fails.
    let file = std::fs::File::open(&path).unwrap();
    let storage = ReadOnly(file);
    let mut log = WalWriter::recover(storage, WalOptions::default()).unwrap();
    log.append(b"x").unwrap();
    assert!(matches!(
        log.sync(),
        Err(Error::Io {
            op: "write" | "preallocating write",
            ..
        })
    ));
    assert!(matches!(log.append(b"y"), Err(Error::Poisoned(_))));
}

/// A storage whose writes fail: a file opened read-only.
struct ReadOnly(std::fs::File);

impl Storage for ReadOnly {
    type Error = std::io::Error;
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, bytes, offset)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
    }
    fn sync(&mut self, _mode: SyncMode) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
}

/// Prevents an oversized record from being half-appended.
#[test]
fn a_record_over_the_limit_is_refused_and_nothing_is_appended() {
    let options = WalOptions {
        max_payload_len: 100,
        ..WalOptions::default()
    };
    let mut log = WalWriter::create(MemStorage::new(), Lsn::ZERO, options).unwrap();
    let err = log.append(&[0u8; 101]).unwrap_err();
    assert!(matches!(err, Error::Encode(_)), "{err}");
    assert!(err.to_string().contains("limit"), "{err}");
    assert_eq!(log.current_lsn(), Lsn::ZERO);
    log.append(&[0u8; 100]).unwrap();
}

/// Prevents flush_until from paying for an fsync that nothing needs.
#[test]
fn flush_until_is_a_no_op_at_or_below_the_durable_lsn() {
    let mut log = mem_writer();
    log.append(b"a").unwrap();
    let end = log.flush_until(log.current_lsn()).unwrap();
    let syncs = log.storage().syncs();
    assert_eq!(log.flush_until(end).unwrap(), end);
    assert_eq!(log.flush_until(Lsn::ZERO).unwrap(), end);
    assert_eq!(log.storage().syncs(), syncs);
    assert!(matches!(
        log.flush_until(Lsn::new(end.get() + 1)),
        Err(Error::Input(InputError::BeyondCurrent { .. }))
    ));
}

/// Prevents Buffered mode from claiming durability it does not have.
#[test]
fn buffered_mode_flush_drains_without_syncing() {
    let options = WalOptions {
        durability: Durability::Buffered,
        ..WalOptions::default()
    };
    let mut log = WalWriter::create(MemStorage::new(), Lsn::ZERO, options).unwrap();
    let syncs = log.storage().syncs();
    log.append(b"a").unwrap();
    let written = log.flush_until(log.current_lsn()).unwrap();
    assert_eq!(written, log.current_lsn());
    assert_eq!(log.written_lsn(), written);
    assert_eq!(log.durable_lsn(), Lsn::ZERO);
    assert_eq!(log.storage().syncs(), syncs);
}

/// Prevents unbounded memory: the buffer drains into the OS when full, without syncing.
#[test]
fn a_full_buffer_drains_into_the_os_but_is_not_durable() {
    let mut log = mem_writer();
    let record = [7u8; 1000];
    while log.written_lsn() == Lsn::ZERO {
        log.append(&record).unwrap();
        assert!(log.current_lsn().get() < 70_000, "the buffer never drained");
    }
    assert_eq!(log.durable_lsn(), Lsn::ZERO);
    // A record larger than the buffer goes straight through.
    log.append(&vec![1u8; 100_000]).unwrap();
    assert_eq!(log.written_lsn(), log.current_lsn());
}

/// Prevents LSNs from going back after a checkpoint's truncate, which would make held LSNs lie.
#[test]
fn truncate_discards_records_but_keeps_lsns_growing_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let mut log = WalWriter::open(&path).unwrap();
    log.append(b"old 1").unwrap();
    log.append(b"old 2").unwrap();
    let cut = log.truncate().unwrap();
    assert_eq!(log.base_lsn(), cut);
    let next = log.append(b"new").unwrap();
    assert_eq!(next.lsn(), cut);
    log.close().unwrap();

    let log = WalWriter::open(&path).unwrap();
    assert_eq!(log.base_lsn(), cut);
    assert_eq!(log.recovery().records, 1);
    assert_eq!(
        payloads(&std::fs::read(&path).unwrap()),
        vec![b"new".to_vec()]
    );
}

/// Prevents a crash in the middle of truncate from resurrecting old records at new LSNs.
#[test]
fn a_crash_between_the_header_rewrite_and_the_truncation_drops_the_old_records() {
    let mut log = mem_writer();
    log.append(b"old").unwrap();
    let end = log.sync().unwrap();
    // The first half of truncate: the header now says the log starts at `end`, written as
    // truncate writes it, into the slot that does not hold the newest header.
    let storage = log.storage_mut();
    let header = FileHeader::read(storage.live_image()).unwrap();
    let rebased = header.next(|header| FileHeader {
        base_lsn: end,
        sync_mark: Some(end),
        ..header
    });
    storage
        .write_at(rebased.slot_offset(), &rebased.encode())
        .unwrap();
    storage.sync(SyncMode::All).unwrap();
    storage.crash();
    let image = storage.durable_image().to_vec();

    let log = WalWriter::recover(MemStorage::from_durable(image), WalOptions::default()).unwrap();
    assert_eq!(log.base_lsn(), end);
    assert_eq!(log.recovery().records, 0);
    assert!(matches!(
        log.recovery().tail.unwrap().kind,
        TailKind::Torn(_)
    ));
    assert_eq!(log.current_lsn(), end);
}

/// The group-commit leader's path: drain under the lock, sync a shared handle, publish.
#[test]
fn drain_for_group_sync_hands_out_a_handle_that_makes_the_drained_bytes_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = WalWriter::open(dir.path().join("wal")).unwrap();
    log.append(b"grouped").unwrap();
    let (written, file) = log.drain_for_group_sync().unwrap();
    assert_eq!(written, log.current_lsn());
    log.append(b"appended while the leader syncs").unwrap();
    file.sync_data().unwrap();
    assert!(log.mark_durable(written).unwrap());
    assert!(
        !log.mark_durable(Lsn::ZERO).unwrap(),
        "stale values are no-ops"
    );
    assert_eq!(log.durable_lsn(), written);
    assert!(matches!(
        log.mark_durable(log.current_lsn()),
        Err(Error::Watermark(_))
    ));
    let err = log.mark_sync_failed(std::io::Error::other("EIO"));
    assert!(matches!(err, Error::Io { .. }));
    assert!(matches!(log.append(b"x"), Err(Error::Poisoned(_))));
}

/// Prevents malformed pre-encoded frames from entering the log.
#[test]
fn append_bytes_takes_whole_frames_encoded_at_the_current_lsn() {
    let mut log = mem_writer();
    let mut frames = Vec::new();
    let codec = log.codec();
    let lsn = log.current_lsn();
    let len = codec.encode_append(lsn, b"first", &mut frames).unwrap();
    codec
        .encode_append(Lsn::new(lsn.get() + len as u64), b"second", &mut frames)
        .unwrap();
    assert_eq!(log.append_bytes(&frames).unwrap(), lsn);
    assert!(matches!(
        log.append_bytes(&frames[..frames.len() - 1]),
        Err(Error::Input(InputError::InvalidFrames { .. }))
    ));
    assert!(matches!(
        log.append_bytes(&[0u8; 8]),
        Err(Error::Input(InputError::InvalidFrames { .. }))
    ));
    let end = log.sync().unwrap();
    assert_eq!(end.get(), frames.len() as u64);
    assert_eq!(
        payloads(log.storage().live_image()),
        vec![b"first".to_vec(), b"second".to_vec()]
    );
}

/// Lets a log continue an LSN sequence kept elsewhere, but never rewinds or rewrites history.
#[test]
fn set_current_lsn_moves_an_empty_log_forward_only() {
    let mut log = mem_writer();
    log.set_current_lsn(Lsn::new(5000)).unwrap();
    assert_eq!(log.append(b"x").unwrap().lsn(), Lsn::new(5000));
    assert!(matches!(
        log.set_current_lsn(Lsn::new(9000)),
        Err(Error::Input(InputError::NotEmpty { .. }))
    ));
    let mut empty = mem_writer();
    empty.set_current_lsn(Lsn::new(10)).unwrap();
    assert!(matches!(
        empty.set_current_lsn(Lsn::new(5)),
        Err(Error::Watermark(_))
    ));
}

/// Prevents buffering frames that would end past the largest LSN (the watermark would then refuse
/// them after the buffer already held them).
#[test]
fn append_bytes_refuses_frames_that_would_end_past_the_largest_lsn() {
    let mut log = WalWriter::create(
        MemStorage::new(),
        Lsn::new(u64::MAX - 20),
        WalOptions::default(),
    )
    .expect("a new log");
    let mut frames = Vec::new();
    Codec::new(0)
        .encode_append(Lsn::ZERO, &[0u8; 30], &mut frames)
        .unwrap();
    assert!(matches!(
        log.append_bytes(&frames),
        Err(Error::Input(InputError::InvalidFrames { offset: 0, .. }))
    ));
    assert_eq!(log.current_lsn(), Lsn::new(u64::MAX - 20));
    assert!(log.append(b"fits").is_ok());
}

/// Prevents a log from refusing to open after an ordinary power loss: the writes of a batch that
/// was never synced can reach the media out of order, leaving a hole before valid frames.
#[test]
fn a_hole_in_an_unsynced_batch_is_truncated_and_synced_records_stay() {
    // A buffer smaller than a record: every append is drained to storage at once.
    let tiny_buffer = WalOptions {
        buffer_bytes: 16,
        ..WalOptions::default()
    };
    let mut log = WalWriter::create(MemStorage::new(), Lsn::ZERO, tiny_buffer).unwrap();
    // More than a v1 sync-mark step (a v2 file carries the mark in a marker on every drain).
    let count = SYNC_MARK_STEP_BYTES / 108 + 1;
    let synced: Vec<Lsn> = (0..count)
        .map(|i| log.append(&[i as u8; 100]).unwrap().lsn())
        .collect();
    let durable = log.sync().unwrap();
    let unsynced: Vec<Lsn> = (0..5u8)
        .map(|i| log.append(&[i; 100]).unwrap().lsn())
        .collect();
    // The second batch was drained but never synced; "lose" its first record's write.
    assert_eq!(log.written_lsn(), log.current_lsn());
    let mut image = log.storage().live_image().to_vec();
    // The first drain after the sync carries the mark: a sync marker right after its record.
    let marker_lsn = unsynced[0].get() + 108;
    assert_eq!(unsynced[1].get(), marker_lsn + MARKER_FRAME_LEN as u64);
    let at = BODY_OFFSET + marker_lsn as usize;
    assert_eq!(
        log.codec().decode(Lsn::new(marker_lsn), &image[at..]),
        Decoded::Marker(Marker {
            lsn: Lsn::new(marker_lsn),
            durable
        }),
        "the drain carries the mark"
    );
    let hole = (BODY_OFFSET as u64 + unsynced[0].get()) as usize;
    image[hole..hole + 108].fill(0);

    let log = WalWriter::recover(MemStorage::from_durable(image), WalOptions::default()).unwrap();
    assert_eq!(log.current_lsn(), unsynced[0]);
    assert!(
        matches!(
            log.recovery().tail.map(|tail| tail.kind),
            // The first valid frame after the hole is the batch's marker.
            Some(TailKind::Unsynced { next_valid, .. }) if next_valid == Lsn::new(marker_lsn)
        ),
        "{:?}",
        log.recovery()
    );
    assert_eq!(log.recovery().records, synced.len() as u64);
    assert_eq!(
        log.storage().durable_image().len() as u64,
        BODY_OFFSET as u64 + unsynced[0].get(),
        "the unsynced tail was truncated, and the truncation synced"
    );
}

/// Prevents a cleanly closed log that later lost records from being "repaired" by truncation.
#[test]
fn a_closed_log_cut_short_is_lost_data_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let mut log = WalWriter::open(&path).unwrap();
    let lsns: Vec<Lsn> = (0..5u8)
        .map(|i| log.append(&[i; 100]).unwrap().lsn())
        .collect();
    let end = log.close().unwrap();
    let cut = BODY_OFFSET as u64 + lsns[3].get() + 20;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let before = std::fs::read(&path).unwrap();

    let err = WalWriter::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Recovery(RecoveryError::SyncedDataLost { at, sync_mark, .. })
                if at == lsns[3] && sync_mark == end
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was changed");
}

/// Prevents a receipt that claims more than its record (core/src/appended.rs: for one record,
/// `end - lsn` is its frame's length): a record larger than the buffer goes straight through,
/// and the sync marker that drain appends after it (format v2) is not part of the record.
#[test]
fn an_oversized_records_receipt_ends_at_its_frame_even_when_a_marker_follows() {
    let mut log = mem_writer();
    log.append(b"first").unwrap();
    log.sync().unwrap();
    let big = vec![3u8; 100_000];
    let appended = log.append(&big).unwrap();
    assert_eq!(
        appended.end().get() - appended.lsn().get(),
        walden_core::frame_len(big.len()) as u64,
        "{appended:?}, current {}",
        log.current_lsn()
    );
}
