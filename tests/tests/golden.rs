//! Golden files: committed format-v1 logs (`tests/golden/`) and format-v2 logs
//! (`tests/golden/v2/`), written by `generate.py` from docs/format.md alone, and exactly what each
//! recovers to, through the core's `scan_file` in
//! every `RecoveryMode` and through the native `WalWriter` and `Wal` on a copy. A change to the
//! format or to recovery that alters any of these outcomes fails here, and so does a generator
//! that no longer writes the committed bytes.
//!
//! Header bytes 32..60 are reserved in format v1 (zero in every golden file); a backend may come
//! to write them (a sync mark), so comparisons of files a backend has touched skip them and the
//! header checksum after them.

use std::path::{Path, PathBuf};
use std::process::Command;
use walden::{Error, ErrorKind, Wal, WalOptions, WalWriter};
use walden_core::{
    scan_file, Codec, Damage, Decoded, FileHeader, HeaderError, InvalidFrame, Lsn, Records,
    Recovery, RecoveryError, RecoveryMode, Tail, TailKind, HEADER_LEN,
};

/// The salt of every golden log but the "other" ones.
const SALT: u64 = 0x601D_E4F1_1E5A_1701;
/// The salt of the older incarnation and of the foreign log.
const OTHER_SALT: u64 = 0x0B5E_1E7E_D5A1_7002;
/// The base LSN of the single-file golden logs.
const BASE: Lsn = Lsn::new(4096);
/// Where the eight records of `clean.wal` end.
const END: Lsn = Lsn::new(4368);
/// The length of `clean.wal`: its header and its eight records.
const CLEAN_LEN: u64 = 336;
/// The LSN of each record of `clean.wal`.
const LSNS: [u64; 8] = [4096, 4130, 4138, 4203, 4275, 4292, 4315, 4335];

/// The payloads of `clean.wal`, typed here independently of the generator.
fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"golden record 0: the first".to_vec(),
        Vec::new(),
        [b"golden record 2: ".as_slice(), &[b'x'; 40]].concat(),
        (0..64).collect(),
        b"put k1 v1".to_vec(),
        b"golden record 5".to_vec(),
        vec![0; 12],
        b"golden record 7: the last".to_vec(),
    ]
}

/// The records of `clean.wal`: LSN and payload.
fn clean_records() -> Vec<(Lsn, Vec<u8>)> {
    LSNS.iter()
        .map(|&lsn| Lsn::new(lsn))
        .zip(payloads())
        .collect()
}

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateTornTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(golden_dir().join(name)).expect("read a golden file")
}

fn scan(name: &str, mode: RecoveryMode) -> Result<(FileHeader, Recovery), RecoveryError> {
    scan_file(&golden(name), Codec::new, mode)
}

/// The records of a log file image, read with the core's iterator.
fn records_of(image: &[u8]) -> Vec<(Lsn, Vec<u8>)> {
    let header = FileHeader::read(image).expect("a valid header");
    Records::new(
        Codec::for_header(&header),
        header.base_lsn,
        &image[header.body_offset() as usize..],
    )
    .map(|record| (record.lsn, record.payload.to_vec()))
    .collect()
}

/// A copy of a golden file in a fresh temporary directory, under its own name.
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file_name = Path::new(name).file_name().expect("a file name");
    let path = dir.path().join(file_name);
    std::fs::copy(golden_dir().join(name), &path).expect("copy a golden file");
    (dir, path)
}

/// A log directory holding a copy of a single-file golden log as its one segment (named by the
/// golden base LSN), for `Wal::open`.
fn copy_as_segment(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("log");
    std::fs::create_dir_all(&log).expect("create the log directory");
    let segment = log.join(walden::backend::segment_file_name(BASE));
    std::fs::copy(golden_dir().join(name), &segment).expect("copy a golden file");
    (dir, log, segment)
}

/// A copy of a golden log directory.
fn copy_dir(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join(name);
    std::fs::create_dir_all(&log).expect("create the log directory");
    for entry in std::fs::read_dir(golden_dir().join(name)).expect("list a golden directory") {
        let entry = entry.expect("a directory entry");
        std::fs::copy(entry.path(), log.join(entry.file_name())).expect("copy a segment");
    }
    (dir, log)
}

/// Every file in a directory, by name, with its bytes.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list a directory")
        .map(|entry| {
            let entry = entry.expect("a directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).expect("read a file"))
        })
        // Opening takes the writer's lock first, which creates the empty LOCK file: the one
        // trace a refused open leaves, and not part of the log.
        .filter(|(name, _)| name != walden::backend::LOCK_FILE_NAME)
        .collect();
    files.sort();
    files
}

/// Checks that a backend cut the copy at `path` to the first `len` bytes of the golden file
/// `name`: same length, same header fields, same records (reserved header bytes not compared).
fn assert_cut_to(path: &Path, name: &str, len: u64) {
    let original = golden(name);
    let cut = std::fs::read(path).expect("read the copy");
    assert_eq!(
        cut.len() as u64,
        len,
        "{name}: truncated to the wrong length"
    );
    assert_eq!(cut[..32], original[..32], "{name}: header fields changed");
    assert_eq!(
        FileHeader::decode(&cut).expect("the copy's header still decodes"),
        FileHeader::decode(&original[..HEADER_LEN]).expect("a valid golden header")
    );
    assert_eq!(cut[HEADER_LEN..], original[HEADER_LEN..cut.len()], "{name}");
}

/// The clean log: every record, in every mode, and through both native APIs.
#[test]
fn clean_log_recovers_every_record_in_every_mode() {
    for mode in MODES {
        let (header, recovery) = scan("clean.wal", mode).unwrap();
        assert_eq!(
            header,
            FileHeader {
                sync_mark: None,
                ..FileHeader::v1(SALT, BASE)
            }
        );
        assert_eq!(
            recovery,
            Recovery {
                base_lsn: BASE,
                end_lsn: END,
                records: 8,
                tail: None,
                sync_mark: None,
                body_offset: HEADER_LEN as u64,
            },
            "{mode:?}"
        );
    }
    assert_eq!(records_of(&golden("clean.wal")), clean_records());

    let (_dir, path) = copy("clean.wal");
    let mut writer = WalWriter::open(&path).unwrap();
    assert_eq!(writer.recovery().records, 8);
    assert_eq!(writer.current_lsn(), END);
    let lsn = writer.append(b"appended to the golden log").unwrap().lsn();
    assert_eq!(lsn, END);
    writer.close().unwrap();
    let mut expected = clean_records();
    expected.push((END, b"appended to the golden log".to_vec()));
    assert_eq!(records_of(&std::fs::read(&path).unwrap()), expected);

    let (_dir, log, _) = copy_as_segment("clean.wal");
    let wal = Wal::open(&log).unwrap();
    let read: Vec<_> = wal
        .read_from(BASE)
        .unwrap()
        .map(|record| record.map(|r| (r.lsn, r.payload)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, clean_records());
}

/// A torn tail (a frame cut short): truncated to the last whole record in the tolerant modes,
/// an error in `AbsoluteConsistency`; new records after the truncation survive a reopen.
#[test]
fn torn_tail_is_cut_at_the_last_whole_record() {
    let torn = Tail {
        at: END,
        bytes: 13,
        kind: TailKind::Torn(Damage::Incomplete {
            needed: 40,
            available: 13,
        }),
    };
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::PointInTime] {
        let (_, recovery) = scan("torn_tail.wal", mode).unwrap();
        assert_eq!((recovery.end_lsn, recovery.records), (END, 8), "{mode:?}");
        assert_eq!(recovery.tail, Some(torn), "{mode:?}");
        assert_eq!(recovery.valid_file_len(), CLEAN_LEN);
    }
    assert_eq!(
        scan("torn_tail.wal", RecoveryMode::AbsoluteConsistency),
        Err(RecoveryError::TornTail {
            at: END,
            bytes: 13,
            damage: Damage::Incomplete {
                needed: 40,
                available: 13
            },
        })
    );

    let (_dir, path) = copy("torn_tail.wal");
    let mut writer = WalWriter::open(&path).unwrap();
    assert_cut_to(&path, "torn_tail.wal", CLEAN_LEN);
    writer.append(b"after the torn tail").unwrap();
    writer.close().unwrap();
    let writer = WalWriter::open(&path).unwrap();
    assert_eq!(writer.recovery().records, 9);
    assert!(
        matches!(
            writer.recovery().tail,
            None | Some(Tail {
                kind: TailKind::Zeroed,
                ..
            })
        ),
        "only preallocated zeros follow the records: {:?}",
        writer.recovery().tail
    );

    let (_dir, log, segment) = copy_as_segment("torn_tail.wal");
    let wal = Wal::open(&log).unwrap();
    assert_eq!(wal.current_lsn(), END);
    assert_eq!(wal.read_from(BASE).unwrap().count(), 8);
    drop(wal);
    let image = std::fs::read(&segment).unwrap();
    assert_eq!(records_of(&image), clean_records());
    assert_eq!(image.len() as u64, CLEAN_LEN, "the torn bytes are gone");
}

/// A torn tail whose length landed but whose payload did not: a checksum mismatch with nothing
/// valid after it is a torn tail too, never corruption.
#[test]
fn torn_tail_with_a_bad_checksum_is_cut_at_the_last_whole_record() {
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::PointInTime] {
        let (_, recovery) = scan("torn_tail_checksum.wal", mode).unwrap();
        assert_eq!((recovery.end_lsn, recovery.records), (END, 8), "{mode:?}");
        let tail = recovery.tail.unwrap();
        assert_eq!((tail.at, tail.bytes), (END, 40), "{mode:?}");
        assert!(
            matches!(
                tail.kind,
                TailKind::Torn(Damage::Invalid(InvalidFrame::ChecksumMismatch { .. }))
            ),
            "{mode:?}: {tail:?}"
        );
    }
    assert!(matches!(
        scan("torn_tail_checksum.wal", RecoveryMode::AbsoluteConsistency),
        Err(RecoveryError::TornTail {
            at: END,
            bytes: 40,
            damage: Damage::Invalid(InvalidFrame::ChecksumMismatch { .. }),
        })
    ));
    let (_dir, path) = copy("torn_tail_checksum.wal");
    drop(WalWriter::open(&path).unwrap());
    assert_cut_to(&path, "torn_tail_checksum.wal", CLEAN_LEN);
}

/// Zeros after the last record are unwritten space in every mode: kept when preallocation is
/// on (the default), cut when it is off.
#[test]
fn zero_tail_is_unwritten_space() {
    for mode in MODES {
        let (_, recovery) = scan("zero_tail.wal", mode).unwrap();
        assert_eq!((recovery.end_lsn, recovery.records), (END, 8), "{mode:?}");
        assert_eq!(
            recovery.tail,
            Some(Tail {
                at: END,
                bytes: 1024,
                kind: TailKind::Zeroed
            }),
            "{mode:?}"
        );
    }
    let (_dir, path) = copy("zero_tail.wal");
    drop(WalWriter::open(&path).unwrap());
    assert_eq!(
        std::fs::read(&path).unwrap().len(),
        1360,
        "preallocation kept"
    );
    let no_preallocation = WalOptions {
        preallocate_bytes: 0,
        ..WalOptions::default()
    };
    drop(WalWriter::open_with(&path, no_preallocation).unwrap());
    assert_cut_to(&path, "zero_tail.wal", CLEAN_LEN);
}

/// Damage followed by valid records (a flipped bit in record 3): refused, with both positions,
/// and nothing modified, unless `PointInTime` is asked for, which keeps records 0 to 2 and says
/// what it discarded.
#[test]
fn mid_log_corruption_is_refused_and_the_file_left_untouched() {
    let at = Lsn::new(LSNS[3]);
    let next_valid = Lsn::new(LSNS[4]);
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let err = scan("mid_log_corruption.wal", mode).unwrap_err();
        assert!(
            matches!(
                err,
                RecoveryError::CorruptionMidLog {
                    at: a,
                    damage: Damage::Invalid(InvalidFrame::ChecksumMismatch { .. }),
                    next_valid: n,
                } if a == at && n == next_valid
            ),
            "{mode:?}: {err:?}"
        );
    }
    let (_, recovery) = scan("mid_log_corruption.wal", RecoveryMode::PointInTime).unwrap();
    assert_eq!((recovery.end_lsn, recovery.records), (at, 3));
    let tail = recovery.tail.unwrap();
    assert_eq!(
        (tail.at, tail.bytes),
        (at, CLEAN_LEN - 64 - (LSNS[3] - 4096))
    );
    assert!(
        matches!(tail.kind, TailKind::Discarded { next_valid: n, .. } if n == next_valid),
        "{tail:?}"
    );

    let original = golden("mid_log_corruption.wal");
    let (_dir, path) = copy("mid_log_corruption.wal");
    let err = WalWriter::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::Recovery(RecoveryError::CorruptionMidLog { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("PointInTime"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        original,
        "the file was modified"
    );

    let (_dir, log, segment) = copy_as_segment("mid_log_corruption.wal");
    let err = Wal::open(&log).unwrap_err();
    assert!(
        matches!(err, Error::Recovery(RecoveryError::CorruptionMidLog { .. })),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        original,
        "the file was modified"
    );

    let point_in_time = WalOptions {
        recovery_mode: RecoveryMode::PointInTime,
        ..WalOptions::default()
    };
    let writer = WalWriter::open_with(&path, point_in_time).unwrap();
    assert_eq!(writer.current_lsn(), at);
    drop(writer);
    assert_cut_to(&path, "mid_log_corruption.wal", 64 + LSNS[3] - 4096);
}

/// Frames of an older incarnation of the file (another salt) after the valid records never
/// decode as records of this log: they are a torn tail, cut away.
#[test]
fn frames_of_another_salt_after_the_records_are_a_torn_tail() {
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::PointInTime] {
        let (_, recovery) = scan("other_salt.wal", mode).unwrap();
        assert_eq!((recovery.end_lsn, recovery.records), (END, 8), "{mode:?}");
        let tail = recovery.tail.unwrap();
        assert_eq!((tail.at, tail.bytes), (END, 203), "{mode:?}");
        assert!(matches!(tail.kind, TailKind::Torn(_)), "{mode:?}: {tail:?}");
    }
    assert!(matches!(
        scan("other_salt.wal", RecoveryMode::AbsoluteConsistency),
        Err(RecoveryError::TornTail {
            at: END,
            bytes: 203,
            ..
        })
    ));
    // The tail holds real frames of the older incarnation: whole, and valid under its salt at
    // their own LSNs (its record 7 starts at LSN 4376), yet not records of this log.
    let image = golden("other_salt.wal");
    let old_record_7 = Lsn::new(4376);
    let offset = HEADER_LEN + (old_record_7.get() - BASE.get()) as usize;
    match Codec::new(OTHER_SALT).decode(old_record_7, &image[offset..]) {
        Decoded::Record(record) => assert_eq!(record.payload, b"older incarnation record 07: "),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Codec::new(SALT).decode(old_record_7, &image[offset..]),
        Decoded::Invalid { .. }
    ));

    let (_dir, path) = copy("other_salt.wal");
    let writer = WalWriter::open(&path).unwrap();
    assert_eq!(writer.recovery().records, 8);
    drop(writer);
    assert_cut_to(&path, "other_salt.wal", CLEAN_LEN);
    assert_eq!(records_of(&std::fs::read(&path).unwrap()), clean_records());
}

/// A whole record with a valid checksum over the reader's payload limit: an error that names
/// the limit to reopen with, in every mode, and never a torn tail to cut.
#[test]
fn a_record_over_the_readers_limit_is_refused_not_truncated() {
    let limited = |salt| Codec::new(salt).with_max_payload_len(1024);
    let image = golden("over_limit.wal");
    for mode in MODES {
        assert_eq!(
            scan_file(&image, limited, mode),
            Err(RecoveryError::RecordOverLimit {
                at: Lsn::new(20),
                payload_len: 2000,
                max_payload_len: 1024
            }),
            "{mode:?}"
        );
    }
    let (_, recovery) = scan("over_limit.wal", RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!((recovery.end_lsn, recovery.records), (Lsn::new(2047), 3));

    let (_dir, path) = copy("over_limit.wal");
    let options = WalOptions {
        max_payload_len: 1024,
        ..WalOptions::default()
    };
    let err = WalWriter::open_with(&path, options).unwrap_err();
    assert!(
        matches!(err, Error::Recovery(RecoveryError::RecordOverLimit { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_payload_len >= 2000"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        image,
        "the file was modified"
    );
    let writer = WalWriter::open(&path).unwrap();
    assert_eq!(writer.recovery().records, 3);
}

/// Files whose header is not a readable v1 header: a typed error from the core and from both
/// native APIs, and the file left byte for byte as it was.
#[test]
fn foreign_newer_truncated_and_damaged_headers_are_refused_untouched() {
    // Each file, what its header decodes to, and what the error tells the operator to do.
    type Case = (&'static str, fn(&HeaderError) -> bool, &'static str);
    let cases: [Case; 4] = [
        (
            "newer_version.wal",
            |err| {
                *err == HeaderError::NewerVersion {
                    found: 3,
                    supported: 2,
                }
            },
            "upgrade Walden",
        ),
        (
            "truncated_header.wal",
            |err| *err == HeaderError::Truncated { len: 40 },
            "if it holds nothing you need, delete it",
        ),
        (
            "header_checksum.wal",
            |err| matches!(err, HeaderError::ChecksumMismatch { .. }),
            "the header is damaged",
        ),
        (
            "not_a_wal.wal",
            |err| {
                *err == HeaderError::NotAWalFile {
                    found: *b"SQLite f",
                }
            },
            "check the path",
        ),
    ];
    for (name, expected, advice) in cases {
        for mode in MODES {
            match scan(name, mode) {
                Err(RecoveryError::Header(err)) => assert!(expected(&err), "{name}: {err:?}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        let original = golden(name);
        let (_dir, path) = copy(name);
        match WalWriter::open(&path) {
            Err(err @ Error::Header(_)) => {
                assert!(
                    matches!(&err, Error::Header(e) if expected(e)),
                    "{name}: {err:?}"
                );
                assert!(err.to_string().contains(advice), "{name}: {err}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            original,
            "{name} was modified"
        );

        let (_dir, log, segment) = copy_as_segment(name);
        match Wal::open(&log) {
            Err(Error::Header(err)) => assert!(expected(&err), "{name}: {err:?}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(
            std::fs::read(&segment).unwrap(),
            original,
            "{name} was modified"
        );
    }
}

/// A hole past the header's sync mark before valid frames: the writes of an interrupted batch
/// that landed out of order. Truncated in the default mode, never in the strict one.
#[test]
fn a_hole_past_the_sync_mark_is_an_unsynced_tail() {
    let hole = Lsn::new(LSNS[5]);
    let (header, recovery) = scan("unsynced_hole.wal", RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(header.sync_mark, Some(Lsn::new(LSNS[4])));
    assert_eq!((recovery.end_lsn, recovery.records), (hole, 5));
    assert!(
        matches!(
            recovery.tail.map(|tail| tail.kind),
            Some(TailKind::Unsynced { next_valid, .. }) if next_valid == Lsn::new(LSNS[6])
        ),
        "{recovery:?}"
    );
    assert!(matches!(
        scan("unsynced_hole.wal", RecoveryMode::AbsoluteConsistency),
        Err(RecoveryError::CorruptionMidLog { at, next_valid, .. })
            if at == hole && next_valid == Lsn::new(LSNS[6])
    ));
    let (_, salvaged) = scan("unsynced_hole.wal", RecoveryMode::PointInTime).unwrap();
    assert!(matches!(
        salvaged.tail.map(|tail| tail.kind),
        Some(TailKind::Discarded { .. })
    ));

    let (_dir, path) = copy("unsynced_hole.wal");
    let writer = WalWriter::open(&path).unwrap();
    assert_eq!(writer.recovery().records, 5);
    drop(writer);
    let image = std::fs::read(&path).unwrap();
    assert_eq!(
        image.len() as u64,
        64 + (LSNS[5] - LSNS[0]),
        "cut at the hole"
    );
    assert_eq!(records_of(&image), clean_records()[..5].to_vec());
}

/// Records below the sync mark are gone: lost data, refused in both strict modes and left
/// untouched, never "repaired" by truncation.
#[test]
fn records_missing_below_the_sync_mark_are_refused_untouched() {
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        assert!(
            matches!(
                scan("lost_below_sync_mark.wal", mode),
                Err(RecoveryError::SyncedDataLost { at, sync_mark, damage: Some(_) })
                    if at == Lsn::new(LSNS[6]) && sync_mark == END
            ),
            "{mode:?}"
        );
    }
    let (_, salvaged) = scan("lost_below_sync_mark.wal", RecoveryMode::PointInTime).unwrap();
    assert_eq!((salvaged.end_lsn, salvaged.records), (Lsn::new(LSNS[6]), 6));

    let (_dir, path) = copy("lost_below_sync_mark.wal");
    let err = WalWriter::open(&path).unwrap_err();
    assert!(
        err.to_string().contains("lost records that were durable"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        golden("lost_below_sync_mark.wal")
    );
}

/// A log directory of three segments named by base LSN: every record read back across them,
/// in order, and a new commit after them.
#[test]
fn segmented_log_reads_back_across_its_segments() {
    let bases = [0u64, 0x6b, 0xdb];
    let lsns = [0u64, 34, 42, 107, 179, 196, 219, 239];
    let (_dir, log) = copy_dir("segments");
    let wal = Wal::open(&log).unwrap();
    assert_eq!(
        wal.segments(),
        bases.iter().map(|&b| Lsn::new(b)).collect::<Vec<_>>()
    );
    assert_eq!(wal.current_lsn(), Lsn::new(272));
    let read: Vec<_> = wal
        .read_from(Lsn::ZERO)
        .unwrap()
        .map(|record| record.map(|r| (r.lsn, r.payload)))
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<_> = lsns.iter().map(|&l| Lsn::new(l)).zip(payloads()).collect();
    assert_eq!(read, expected);
    assert_eq!(
        wal.commit(b"after the golden segments").unwrap().lsn(),
        Lsn::new(272)
    );
    drop(wal);
    let wal = Wal::open(&log).unwrap();
    assert_eq!(wal.read_from(Lsn::ZERO).unwrap().count(), 9);

    for (i, base) in bases.iter().enumerate() {
        let name = format!(
            "segments/{}",
            walden::backend::segment_file_name(Lsn::new(*base))
        );
        let (header, recovery) = scan(&name, RecoveryMode::AbsoluteConsistency).unwrap();
        assert_eq!(header.salt, SALT);
        let next = bases.get(i + 1).copied().unwrap_or(272);
        assert_eq!(
            recovery.end_lsn,
            Lsn::new(next),
            "{name} ends where the next starts"
        );
    }
}

/// A segment of another log (another salt) in the directory: the log refuses to open, names
/// the cause, and modifies nothing.
#[test]
fn a_segment_of_another_log_in_the_directory_is_refused_untouched() {
    let (_dir, log) = copy_dir("foreign_segment");
    let before = contents(&log);
    let err = Wal::open(&log).unwrap_err();
    assert!(matches!(err, Error::SegmentMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("another log"), "{err}");
    assert_eq!(contents(&log), before, "the directory was modified");
    let (header, _) = scan(
        "foreign_segment/00000000000000db.wal",
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    assert_eq!(header.salt, OTHER_SALT);
}

/// Every `.wal` file under a directory, by path relative to it, with its bytes.
fn wal_files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("list a directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "wal")
                || path
                    .file_name()
                    .is_some_and(|name| name == walden::backend::META_FILE_NAME)
            {
                let bytes = std::fs::read(&path).expect("read a golden file");
                let relative = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_path_buf();
                out.push((relative, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Prevents the golden files and their generator from drifting apart (so a format change cannot
/// pass by editing one without the other): regenerating gives byte-identical files. Skipped,
/// with a note, where python3 is not installed.
#[test]
fn regenerating_the_golden_files_gives_identical_bytes() {
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|output| output.status.success()) {
        eprintln!("note: python3 not found; not checking tests/golden/generate.py");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(golden_dir().join("generate.py"))
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success(), "generate.py failed");
    let committed = wal_files(&golden_dir());
    let regenerated = wal_files(out.path());
    let names = |files: &[(PathBuf, Vec<u8>)]| -> Vec<PathBuf> {
        files.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(names(&committed), names(&regenerated), "different files");
    for ((name, committed), (_, regenerated)) in committed.iter().zip(&regenerated) {
        assert!(
            committed == regenerated,
            "{} differs from what generate.py writes: run python3 tests/golden/generate.py \
             and review the change",
            name.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Format v2: two header slots, sync marker frames.

/// The LSN of each record of `v2/clean.wal`: the same eight payloads, committed in four batches
/// (record 0; records 1-2; record 3; records 4-7), each batch after the first ending with a
/// 20-byte sync marker.
const V2_LSNS: [u64; 8] = [4096, 4130, 4138, 4223, 4315, 4332, 4355, 4375];
/// Where `v2/clean.wal` ends: after the last batch's marker.
const V2_END: Lsn = Lsn::new(4428);
/// What the last marker (in the fourth batch) vouches for: everything before that batch.
const V2_VOUCHED: Lsn = Lsn::new(4315);

fn v2_records() -> Vec<(Lsn, Vec<u8>)> {
    V2_LSNS
        .iter()
        .map(|&lsn| Lsn::new(lsn))
        .zip(payloads())
        .collect()
}

/// The clean v2 log: both slots valid (the newest is sequence 1), every record in every mode,
/// the last marker's mark reported; a writer that reopens it keeps it v2.
#[test]
fn v2_clean_log_recovers_every_record_and_its_marks() {
    for mode in MODES {
        let (header, recovery) = scan("v2/clean.wal", mode).unwrap();
        assert_eq!(
            header,
            FileHeader {
                sequence: 1,
                ..FileHeader::new(SALT, BASE)
            }
        );
        assert_eq!(
            recovery,
            Recovery {
                base_lsn: BASE,
                end_lsn: V2_END,
                records: 8,
                tail: None,
                sync_mark: Some(V2_VOUCHED),
                body_offset: 128,
            },
            "{mode:?}"
        );
    }
    assert_eq!(records_of(&golden("v2/clean.wal")), v2_records());

    let (_dir, path) = copy("v2/clean.wal");
    let mut writer = WalWriter::open(&path).unwrap();
    assert_eq!(writer.recovery().records, 8);
    let appended = writer.append(b"appended to the golden v2 log").unwrap();
    assert_eq!(appended.lsn(), V2_END);
    writer.close().unwrap();
    let image = std::fs::read(&path).unwrap();
    assert_eq!(FileHeader::read(&image).unwrap().version, 2);
    let mut expected = v2_records();
    expected.push((V2_END, b"appended to the golden v2 log".to_vec()));
    let read = records_of(&image);
    assert_eq!(read[..8], expected[..8]);
    assert_eq!(read.len(), 9);
    assert_eq!(read[8].1, expected[8].1);
}

/// A close moved the header's mark to the end, in slot 0; the same rewrite torn after 30 bytes
/// leaves slot 1 in effect with every record; both slots damaged is a typed error, untouched.
#[test]
fn v2_header_slots_survive_a_torn_rewrite() {
    let (header, recovery) = scan("v2/closed.wal", RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!((header.sequence, header.sync_mark), (2, Some(V2_END)));
    assert_eq!(recovery.sync_mark, Some(V2_END));
    assert_eq!(recovery.records, 8);

    for mode in MODES {
        let (header, recovery) = scan("v2/torn_slot.wal", mode).unwrap();
        assert_eq!(
            (header.sequence, header.sync_mark),
            (1, Some(BASE)),
            "{mode:?}"
        );
        assert_eq!(
            (recovery.records, recovery.end_lsn),
            (8, V2_END),
            "{mode:?}"
        );
    }
    let (_dir, log, _) = copy_as_segment("v2/torn_slot.wal");
    let wal = Wal::open(&log).unwrap();
    let read: Vec<_> = wal
        .read_from(BASE)
        .unwrap()
        .map(|record| record.map(|r| (r.lsn, r.payload)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, v2_records());
    drop(wal);

    for mode in MODES {
        assert!(
            matches!(
                scan("v2/both_slots_damaged.wal", mode),
                Err(RecoveryError::Header(HeaderError::ChecksumMismatch { .. }))
            ),
            "{mode:?}"
        );
    }
    let original = golden("v2/both_slots_damaged.wal");
    let (_dir, path) = copy("v2/both_slots_damaged.wal");
    assert!(matches!(WalWriter::open(&path), Err(Error::Header(_))));
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

/// A bit flipped in record 3, which the last batch's marker vouches for: corruption, refused
/// untouched, in both strict modes (a v1 header mark, 64 KiB behind, read this as an
/// interrupted batch and cut five acknowledged records).
#[test]
fn v2_damage_below_a_marker_is_refused_untouched() {
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        match scan("v2/flip_below_marker.wal", mode) {
            Err(RecoveryError::CorruptionMidLog { at, next_valid, .. }) => {
                assert_eq!(at, Lsn::new(V2_LSNS[3]), "{mode:?}");
                assert_eq!(next_valid, Lsn::new(4295), "{mode:?}: the batch's marker");
            }
            other => panic!("{mode:?}: {other:?}"),
        }
    }
    let (_, salvaged) = scan("v2/flip_below_marker.wal", RecoveryMode::PointInTime).unwrap();
    assert_eq!(
        (salvaged.records, salvaged.end_lsn),
        (3, Lsn::new(V2_LSNS[3]))
    );
    assert!(matches!(
        salvaged.tail.map(|tail| tail.kind),
        Some(TailKind::Discarded { .. })
    ));
    let original = golden("v2/flip_below_marker.wal");
    let (_dir, path) = copy("v2/flip_below_marker.wal");
    assert!(matches!(WalWriter::open(&path), Err(Error::Recovery(_))));
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

/// Record 5's bytes lost in the last batch, which no marker vouches for: an interrupted batch,
/// cut in the default mode and reported; refused in `AbsoluteConsistency`.
#[test]
fn v2_a_hole_in_the_last_batch_is_an_unsynced_tail() {
    let (_, recovery) = scan("v2/unsynced_hole.wal", RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(
        (recovery.records, recovery.end_lsn),
        (5, Lsn::new(V2_LSNS[5]))
    );
    assert_eq!(recovery.sync_mark, Some(V2_VOUCHED));
    assert_eq!(
        recovery.tail,
        Some(Tail {
            at: Lsn::new(V2_LSNS[5]),
            bytes: V2_END.get() - V2_LSNS[5],
            kind: TailKind::Unsynced {
                damage: Damage::Invalid(InvalidFrame::LengthTooSmall { frame_len: 0 }),
                next_valid: Lsn::new(V2_LSNS[6]),
            },
        })
    );
    assert!(matches!(
        scan("v2/unsynced_hole.wal", RecoveryMode::AbsoluteConsistency),
        Err(RecoveryError::CorruptionMidLog { .. })
    ));
    let (_dir, path) = copy("v2/unsynced_hole.wal");
    let writer = WalWriter::open(&path).unwrap();
    assert_eq!(writer.recovery().records, 5);
    drop(writer);
    assert_eq!(
        records_of(&std::fs::read(&path).unwrap()),
        v2_records()[..5]
    );
}

// ---------------------------------------------------------------------------------------------
// The META file: the application's metadata and suffix truncations.

/// The payloads a golden `meta/` directory keeps when its truncation starts at record `from`.
fn kept_before(from: usize) -> Vec<Vec<u8>> {
    payloads().into_iter().take(from).collect()
}

fn read_all(wal: &Wal) -> Vec<Vec<u8>> {
    wal.read_from(Lsn::ZERO)
        .expect("a reader")
        .map(|record| record.expect("a record").payload)
        .collect()
}

#[test]
fn meta_the_newest_copy_names_the_truncation_and_the_metadata() {
    let (_dir, log) = copy_dir("meta/truncated");
    let wal = Wal::open(&log).unwrap();
    assert_eq!(read_all(&wal), kept_before(5));
    assert_eq!(wal.metadata(), b"vote: term 7, node 2");
    let resumed = wal.commit(b"after the truncation").unwrap();
    assert_eq!(
        resumed.lsn().get(),
        400 - 128,
        "appends resume at the segment's end"
    );
}

#[test]
fn meta_a_torn_rewrite_leaves_the_copy_before_it() {
    let (_dir, log) = copy_dir("meta/torn_rewrite");
    let wal = Wal::open(&log).unwrap();
    assert_eq!(read_all(&wal), kept_before(6));
    assert_eq!(wal.metadata(), b"vote: term 6, node 1");
}

#[test]
fn meta_damaged_or_newer_is_refused_untouched() {
    for (name, kind) in [
        ("meta/damaged", ErrorKind::Corrupt),
        ("meta/newer", ErrorKind::Format),
    ] {
        let (_dir, log) = copy_dir(name);
        let before = contents(&log);
        let err = Wal::open(&log).unwrap_err();
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(matches!(err, Error::Meta(_)), "{name}: {err}");
        assert_eq!(contents(&log), before, "{name} was changed");
    }
}
