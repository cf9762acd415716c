//! Format v2 through the core's `LogWriter`: sync marker frames close the blind spot the v1
//! header mark left (damage to acknowledged records read as an interrupted batch), and the two
//! header slots survive a rewrite torn at any byte.

use walden_core::{
    scan_file, Codec, Decoded, FileHeader, LogWriter, Lsn, MemStorage, Records, RecoveryError,
    RecoveryMode, Storage, WriterOptions, BODY_OFFSET, FORMAT_VERSION, HEADER_LEN,
    MARKER_FRAME_LEN,
};

const SALT: u64 = 0x5eed_0002;

fn options() -> WriterOptions {
    WriterOptions {
        preallocate_bytes: 0,
        ..WriterOptions::default()
    }
}

fn payload(i: usize) -> Vec<u8> {
    format!("record {i:04}: set key{i} = value").into_bytes()
}

/// A v2 log of `count` records, each committed on its own (append, then sync), as a service
/// that logs each `set` does. Returns the writer and each record's LSN.
fn committed_one_by_one(count: usize) -> (LogWriter<MemStorage>, Vec<Lsn>) {
    let mut log = LogWriter::create(MemStorage::new(), SALT, Lsn::ZERO, options())
        .expect("a new log in memory");
    let mut lsns = Vec::new();
    for i in 0..count {
        let appended = log.append(&payload(i)).expect("appends");
        log.flush_until(appended.end()).expect("syncs");
        lsns.push(appended.lsn());
    }
    (log, lsns)
}

fn payloads_of(image: &[u8]) -> Vec<Vec<u8>> {
    let header = FileHeader::read(image).expect("a valid header");
    Records::new(
        Codec::for_header(&header),
        header.base_lsn,
        &image[header.body_offset() as usize..],
    )
    .map(|record| record.payload.to_vec())
    .collect()
}

#[test]
fn a_new_log_is_v2_and_readers_see_only_records() {
    let (log, lsns) = committed_one_by_one(5);
    let image = log.storage().live_image().to_vec();
    let header = FileHeader::read(&image).unwrap();
    assert_eq!(header.version, FORMAT_VERSION);
    assert_eq!(header.body_offset(), BODY_OFFSET as u64);
    assert_eq!(payloads_of(&image), (0..5).map(payload).collect::<Vec<_>>());
    // After the first commit, every batch carries a marker after its record: the record after
    // it starts a marker's length later.
    let frame = walden_core::frame_len(payload(0).len()) as u64;
    assert_eq!(lsns[1].get(), lsns[0].get() + frame);
    assert_eq!(
        lsns[2].get(),
        lsns[1].get() + frame + MARKER_FRAME_LEN as u64
    );
    // The highest marker vouches for everything before the last batch.
    let (_, recovery) = scan_file(&image, Codec::new, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(recovery.sync_mark, Some(lsns[4]));
    assert_eq!(recovery.records, 5);
}

// Prevents the v1 blind spot: a flipped byte in acknowledged records of a small log followed by
// valid frames was cut as an interrupted batch (522 of 1,000 records lost without an error).
#[test]
fn every_flipped_byte_below_the_last_synced_batch_is_refused_untouched() {
    let (log, lsns) = committed_one_by_one(60);
    let image = log.storage().live_image().to_vec();
    let body = BODY_OFFSET;
    let last_batch = lsns[59].get() as usize;
    for offset in body..image.len() {
        let mut flipped = image.clone();
        flipped[offset] ^= 0x10;
        let lsn = offset - body;
        let scanned = scan_file(&flipped, Codec::new, RecoveryMode::TolerateTornTail);
        if lsn < last_batch {
            assert!(
                matches!(
                    scanned,
                    Err(RecoveryError::CorruptionMidLog { .. }
                        | RecoveryError::SyncedDataLost { .. })
                ),
                "byte at LSN {lsn} (acknowledged, below the last batch at {last_batch}): \
                 {scanned:?}"
            );
            let reopened =
                LogWriter::recover(MemStorage::from_durable(flipped.clone()), options(), 0);
            assert!(reopened.is_err(), "LSN {lsn}: a writer opened it");
        } else {
            // The last synced batch: nothing after it vouches for it, so damage there reads as
            // an interrupted batch; it is cut and reported, and nothing before it is.
            let (_, recovery) = scanned.unwrap_or_else(|err| panic!("LSN {lsn}: {err}"));
            assert!(recovery.end_lsn.get() as usize >= last_batch, "LSN {lsn}");
            assert!(recovery.tail.is_some(), "LSN {lsn}: the cut is reported");
        }
    }
}

#[test]
fn a_torn_header_rewrite_of_either_slot_keeps_every_record() {
    let mut log = LogWriter::create(MemStorage::new(), SALT, Lsn::ZERO, options()).unwrap();
    let mut expected = Vec::new();
    let mut slots_torn = [false; 2];
    for round in 0..2 {
        for i in 0..10 {
            let appended = log.append(&payload(round * 10 + i)).unwrap();
            log.flush_until(appended.end()).unwrap();
            expected.push(payload(round * 10 + i));
        }
        // The rewrite a seal would make next, torn after every prefix of its 64 bytes.
        let image = log.storage().live_image().to_vec();
        let header = FileHeader::read(&image).unwrap();
        let next = header.next(|h| h.with_sync_mark(log.durable_lsn()));
        let at = next.slot_offset() as usize;
        slots_torn[at / HEADER_LEN] = true;
        for cut in 0..=HEADER_LEN {
            let mut torn = image.clone();
            torn[at..at + cut].copy_from_slice(&next.encode()[..cut]);
            let reopened = LogWriter::recover(MemStorage::from_durable(torn), options(), 0)
                .unwrap_or_else(|err| panic!("slot at {at} torn after {cut} bytes: {err}"));
            assert_eq!(
                reopened.recovery().records,
                expected.len() as u64,
                "cut {cut}"
            );
            assert_eq!(payloads_of(reopened.storage().live_image()), expected);
        }
        log.seal().unwrap();
        assert_eq!(FileHeader::read(log.storage().live_image()).unwrap(), next);
    }
    assert_eq!(slots_torn, [true, true], "both slots were torn");
}

#[test]
fn a_v1_file_stays_v1_and_holds_no_markers() {
    let mut image = FileHeader::v1(SALT, Lsn::new(100)).encode_initial();
    let codec = Codec::new(SALT);
    codec
        .encode_append(Lsn::new(100), b"old", &mut image)
        .unwrap();
    let mut log = LogWriter::recover(MemStorage::from_durable(image), options(), 0).unwrap();
    for i in 0..5 {
        let appended = log.append(&payload(i)).unwrap();
        log.flush_until(appended.end()).unwrap();
    }
    log.seal().unwrap();
    let image = log.storage().live_image().to_vec();
    let header = FileHeader::read(&image).unwrap();
    assert_eq!(
        (header.version, header.body_offset()),
        (1, HEADER_LEN as u64)
    );
    let v1 = Codec::for_header(&header);
    let mut lsn = header.base_lsn;
    let mut offset = HEADER_LEN;
    while offset < image.len() {
        match v1.decode(lsn, &image[offset..]) {
            Decoded::Record(record) => {
                offset += record.frame_len();
                lsn = record.end_lsn();
            }
            other => panic!("at LSN {lsn}: {other:?} in a v1 file"),
        }
    }
    assert_eq!(payloads_of(&image).len(), 6);
}

#[test]
fn a_buffered_writer_that_never_syncs_writes_no_markers() {
    let mut log = LogWriter::create(MemStorage::new(), SALT, Lsn::ZERO, options()).unwrap();
    let mut end = Lsn::ZERO;
    for i in 0..5000 {
        end = log.append(&payload(i)).unwrap().end();
    }
    log.drain().unwrap();
    let expected: u64 = (0..5000)
        .map(|i| walden_core::frame_len(payload(i).len()) as u64)
        .sum();
    assert_eq!(end.get(), expected);
    assert_eq!(log.storage().size().unwrap(), BODY_OFFSET as u64 + expected);
}
