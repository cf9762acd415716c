//! How the store lays its data into Walden records: one record per Raft entry, and small
//! "committed" records, each a tag byte followed by JSON (serde).
//!
//! Invariants:
//! - Every record the store appends starts with a known tag; opening a log with any other
//!   record is an error (the directory holds something other than a `walden-raft` log), never a
//!   skipped record.
//! - A committed record is a hint: it may be lost (not waited on, or dropped by a truncation)
//!   and the store then reports an older committed id, which openraft allows.

use crate::error::Error;
use openraft::{LogId, RaftTypeConfig};
use walden::Lsn;

/// A record holding one `C::Entry`.
const TAG_ENTRY: u8 = 1;
/// A record holding the committed log id (`Option<LogId>`) as of when it was appended.
const TAG_COMMITTED: u8 = 2;

/// A record, decoded.
pub(crate) enum Record<C: RaftTypeConfig> {
    Entry(C::Entry),
    Committed(Option<LogId<C::NodeId>>),
}

/// The record for `entry`.
pub(crate) fn encode_entry<C: RaftTypeConfig>(entry: &C::Entry) -> Result<Vec<u8>, Error> {
    encode(TAG_ENTRY, entry)
}

/// The record for a committed log id.
pub(crate) fn encode_committed<C: RaftTypeConfig>(
    committed: &Option<LogId<C::NodeId>>,
) -> Result<Vec<u8>, Error> {
    encode(TAG_COMMITTED, committed)
}

fn encode<T: serde::Serialize>(tag: u8, value: &T) -> Result<Vec<u8>, Error> {
    let mut out = vec![tag];
    serde_json::to_writer(&mut out, value).map_err(|err| Error::Encode {
        reason: err.to_string(),
    })?;
    Ok(out)
}

/// Decodes the record at `lsn`.
pub(crate) fn decode<C: RaftTypeConfig>(lsn: Lsn, payload: &[u8]) -> Result<Record<C>, Error> {
    let bad = |reason: String| Error::Decode { lsn, reason };
    match payload.split_first() {
        Some((&TAG_ENTRY, json)) => serde_json::from_slice(json)
            .map(Record::Entry)
            .map_err(|err| bad(err.to_string())),
        Some((&TAG_COMMITTED, json)) => serde_json::from_slice(json)
            .map(Record::Committed)
            .map_err(|err| bad(err.to_string())),
        Some((tag, _)) => Err(bad(format!("unknown record tag {tag}"))),
        None => Err(bad(String::from("an empty record"))),
    }
}
