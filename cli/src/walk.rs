//! Walking every frame of one segment, past damage: what `dump` prints and `stat` counts.
//!
//! Recovery stops at the first damage; a person inspecting a damaged log wants to see past it.
//! The walk yields the valid records, then each damaged stretch as one [`Item::Damage`], then
//! the records from the next valid frame on (found with the core's own search, through
//! [`scan_body`] in [`RecoveryMode::PointInTime`]), and so on to the end of the file.
//!
//! Invariants: items come in increasing LSN order and cover the body without overlap; a
//! [`Item::Record`] is a frame whose checksum matches for this log's salt at that LSN; every
//! step advances by at least one byte, so the walk ends.

use walden::walden_core::{
    scan_body, Codec, Damage, InvalidFrame, Lsn, Record, Records, RecoveryError, RecoveryMode,
    TailKind, FRAME_HEADER_LEN,
};

/// What the walk found at one LSN.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Item<'a> {
    /// A frame whose checksum matches.
    Record(Record<'a>),
    /// Bytes that are not valid frames, up to the next valid frame or the end of the file.
    Damage {
        /// Where the damage starts.
        at: Lsn,
        /// Its length in bytes.
        bytes: u64,
        /// What kind of damage.
        kind: DamageKind,
    },
}

/// The kinds of damage, as `dump` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DamageKind {
    /// Only zero bytes to the end of the file: preallocated or never-written space.
    ZeroFill,
    /// A complete frame with a valid checksum whose payload is over the reader's limit.
    OverLimit {
        /// Its payload length.
        payload_len: u32,
    },
    /// Bytes that do not decode as a frame: what the decoder found.
    Invalid(Damage),
}

impl DamageKind {
    /// The short status word `dump` prints.
    pub(crate) fn status(self) -> &'static str {
        match self {
            DamageKind::ZeroFill => "zero-fill",
            DamageKind::OverLimit { .. } => "over-limit",
            DamageKind::Invalid(Damage::Incomplete { .. }) => "torn",
            DamageKind::Invalid(Damage::Invalid(InvalidFrame::ChecksumMismatch { .. })) => {
                "bad-crc"
            }
            DamageKind::Invalid(Damage::Invalid(_)) => "bad-length",
        }
    }

    /// A sentence on what it is.
    pub(crate) fn describe(self, max_payload_len: u32) -> String {
        match self {
            DamageKind::ZeroFill => String::from("zero bytes: preallocated or never-written space"),
            DamageKind::OverLimit { payload_len } => format!(
                "a whole record with a valid checksum and a {payload_len}-byte payload, over the \
                 {max_payload_len}-byte limit: rerun with --max-payload-len {payload_len}"
            ),
            DamageKind::Invalid(damage) => damage.to_string(),
        }
    }
}

/// Walks the body of a segment (the bytes after its header, the first at `base`), calling
/// `visit` for each item in LSN order. Stops early when `visit` returns `false`.
pub(crate) fn walk<'a>(
    codec: &Codec,
    base: Lsn,
    body: &'a [u8],
    mut visit: impl FnMut(Item<'a>) -> bool,
) {
    let mut offset = 0usize;
    while offset < body.len() {
        let lsn = Lsn::new(base.get() + offset as u64);
        let mut records = Records::new(*codec, lsn, &body[offset..]);
        for record in records.by_ref() {
            if !visit(Item::Record(record)) {
                return;
            }
        }
        offset += records.offset();
        let Some(damage) = records.damage() else {
            return;
        };
        let at = Lsn::new(base.get() + offset as u64);
        let rest = &body[offset..];
        let bytes = rest.len() as u64;
        // The rest starts with the damage, so this scan keeps no record: it only classifies
        // the rest and finds the next valid frame, with recovery's own search.
        let (kind, skip) = match scan_body(codec, at, rest, RecoveryMode::PointInTime, None) {
            Ok(recovery) => match recovery.tail.map(|tail| tail.kind) {
                Some(TailKind::Zeroed) => (DamageKind::ZeroFill, bytes),
                Some(TailKind::Discarded { next_valid, .. }) => (
                    DamageKind::Invalid(damage),
                    next_valid.get().saturating_sub(at.get()),
                ),
                _ => (DamageKind::Invalid(damage), bytes),
            },
            // A whole frame with a valid checksum, over the limit: step over it.
            Err(RecoveryError::RecordOverLimit { payload_len, .. }) => (
                DamageKind::OverLimit { payload_len },
                (FRAME_HEADER_LEN as u64 + u64::from(payload_len)).min(bytes),
            ),
            Err(_) => (DamageKind::Invalid(damage), bytes),
        };
        let skip = skip.max(1);
        if !visit(Item::Damage {
            at,
            bytes: skip,
            kind,
        }) {
            return;
        }
        offset = offset.saturating_add(usize::try_from(skip).unwrap_or(usize::MAX));
    }
}
