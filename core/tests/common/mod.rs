//! Builders shared by the core's integration tests.

#![allow(dead_code, unreachable_pub)]

use walden_core::{Codec, FileHeader, Lsn};

/// A log image: the header followed by one frame per payload.
pub struct Log {
    pub image: Vec<u8>,
    /// The LSN where each record starts.
    pub starts: Vec<Lsn>,
    /// The LSN where the log ends.
    pub end: Lsn,
}

/// A log image whose header carries no sync mark (the first v1 layout): damage followed by a
/// valid frame is corruption wherever it lies.
pub fn build_log(salt: u64, base: Lsn, payloads: &[Vec<u8>]) -> Log {
    build_log_marked(salt, base, payloads, None)
}

/// A v1 log image (one header slot, no sync markers) whose header carries `sync_mark`.
pub fn build_log_marked(salt: u64, base: Lsn, payloads: &[Vec<u8>], sync_mark: Option<Lsn>) -> Log {
    let header = FileHeader {
        sync_mark,
        ..FileHeader::v1(salt, base)
    };
    let codec = Codec::new(salt);
    let mut image = header.encode().to_vec();
    let mut starts = Vec::with_capacity(payloads.len());
    let mut lsn = base;
    for payload in payloads {
        starts.push(lsn);
        let len = codec
            .encode_append(lsn, payload, &mut image)
            .expect("test payloads fit the default limit");
        lsn = lsn
            .checked_add(len as u64)
            .expect("test LSNs do not overflow");
    }
    Log {
        image,
        starts,
        end: lsn,
    }
}
