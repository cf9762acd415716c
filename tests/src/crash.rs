//! The process crash loop's shared parts: the records `crash_child` commits, the lines it prints,
//! and the checker the `crash_loop` test runs on the log after each SIGKILL.
//!
//! The property checked: a process killed at any moment loses no acknowledged record, and its
//! log reopens as a gap-free prefix of what it appended. Precisely, after each kill:
//! - every acknowledged record still in the log (not checkpointed away) is at its LSN with
//!   exactly its payload;
//! - the records form one chain from the first LSN to the end (each starts where the previous
//!   ended, or exactly one sync marker frame later: in format v2 a drain after a sync ends its
//!   batch with a marker, which takes LSN space but is no record; the end may likewise lie one
//!   marker past the last record) and the log holds exactly what it held after the previous check, followed by records
//!   of the cycle just killed;
//! - nothing appears that was never written: every record is a payload some child thread built,
//!   byte for byte; per thread, the seqs of the last cycle are `0..k` in LSN order (a thread
//!   commits one record at a time) and include every acknowledged one; and at most one record per
//!   thread is durable without its acknowledgement (a thread prints each ack before it appends
//!   its next record).
//!
//! The checker is pure (records in, verdict out), so it is tested on hand-made violations too.

use crate::Rng;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use walden::{LogRecord, WalOptions};
use walden_core::{Lsn, FRAME_HEADER_LEN, MARKER_FRAME_LEN};

/// Threads that commit records in each child.
pub const CHILD_THREADS: u32 = 4;

/// How long a child runs before it concludes its parent is gone and exits (the parent kills it
/// within milliseconds; this only stops an orphan).
pub const CHILD_LIFETIME_MAX: Duration = Duration::from_secs(10);

/// Segment size for the crash loop: small, so segments rotate every few cycles and kills land
/// during rotations too.
pub const SEGMENT_BYTES: u64 = 256 * 1024;

/// Preallocation step: smaller than a segment, so kills land both behind zero fill and while a
/// file grows.
pub const PREALLOCATE_BYTES: u64 = 64 * 1024;

/// Bytes before a payload's body: cycle (u64), thread (u32), seq (u64), body length (u32), all
/// little-endian.
const PAYLOAD_HEADER_LEN: usize = 24;

/// The shortest and longest body.
const BODY_LEN_MIN: u64 = 16;
const BODY_LEN_MAX: u64 = 600;

/// The options both the child and the checking parent open the log with.
pub fn wal_options() -> WalOptions {
    WalOptions {
        segment_bytes: SEGMENT_BYTES,
        preallocate_bytes: PREALLOCATE_BYTES,
        ..WalOptions::default()
    }
}

/// Which record: the `seq`-th record thread `thread` committed in child run `cycle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordId {
    /// The child run (the crash loop's cycle) that wrote it.
    pub cycle: u64,
    /// The child's thread.
    pub thread: u32,
    /// The thread's record number, from 0.
    pub seq: u64,
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(cycle {}, thread {}, seq {})",
            self.cycle, self.thread, self.seq
        )
    }
}

impl RecordId {
    /// The record's payload: its id, then a body whose length (16..=600 bytes) and bytes derive
    /// from the id alone, so the checker can rebuild it exactly.
    pub fn payload(self) -> Vec<u8> {
        let mut rng = Rng::new(self.body_seed());
        let body_len = rng.in_range(BODY_LEN_MIN..BODY_LEN_MAX + 1);
        let body_len = usize::try_from(body_len).expect("a body length fits usize");
        let mut payload = Vec::with_capacity(PAYLOAD_HEADER_LEN + body_len);
        payload.extend_from_slice(&self.cycle.to_le_bytes());
        payload.extend_from_slice(&self.thread.to_le_bytes());
        payload.extend_from_slice(&self.seq.to_le_bytes());
        payload.extend_from_slice(&(body_len as u32).to_le_bytes());
        payload.resize(PAYLOAD_HEADER_LEN + body_len, 0);
        rng.fill(&mut payload[PAYLOAD_HEADER_LEN..]);
        payload
    }

    /// Identifies a payload: `Ok` only if it is byte for byte the payload of the id it names.
    pub fn parse(payload: &[u8]) -> Result<RecordId, String> {
        let field = |at: usize, len: usize| -> u64 {
            let mut bytes = [0u8; 8];
            bytes[..len].copy_from_slice(&payload[at..at + len]);
            u64::from_le_bytes(bytes)
        };
        if payload.len() < PAYLOAD_HEADER_LEN {
            return Err(format!(
                "{} bytes, shorter than the {PAYLOAD_HEADER_LEN}-byte payload header",
                payload.len()
            ));
        }
        let id = RecordId {
            cycle: field(0, 8),
            thread: u32::try_from(field(8, 4)).expect("four bytes fit u32"),
            seq: field(12, 8),
        };
        let expected = id.payload();
        if payload != expected.as_slice() {
            let differs_at = payload
                .iter()
                .zip(&expected)
                .position(|(got, want)| got != want)
                .unwrap_or(payload.len().min(expected.len()));
            return Err(format!(
                "names {id} but is not its payload: {} bytes, expected {}, first difference at \
                 byte {differs_at}",
                payload.len(),
                expected.len()
            ));
        }
        Ok(id)
    }

    /// A seed for the body, mixing all three numbers through SplitMix64 so that neighbouring ids
    /// get unrelated bodies.
    fn body_seed(self) -> u64 {
        let cycle = Rng::new(self.cycle).next_u64();
        let thread = Rng::new(cycle ^ u64::from(self.thread)).next_u64();
        Rng::new(thread ^ self.seq).next_u64()
    }
}

/// A record the child saw `commit` return for (durable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The LSN `commit` returned.
    pub lsn: Lsn,
    /// The thread that committed it.
    pub thread: u32,
    /// The thread's record number.
    pub seq: u64,
}

/// One line of the child's stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildLine {
    /// The log is open and recovered: its first LSN and end.
    Ready {
        /// `Wal::first_lsn` after opening.
        first: Lsn,
        /// `Wal::current_lsn` after opening.
        current: Lsn,
    },
    /// A record is durable.
    Ack(Ack),
}

impl fmt::Display for ChildLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildLine::Ready { first, current } => write!(f, "ready {first} {current}"),
            ChildLine::Ack(ack) => write!(f, "ack {} {} {}", ack.lsn, ack.thread, ack.seq),
        }
    }
}

impl ChildLine {
    /// Parses a line as printed by `Display` (without its newline).
    pub fn parse(line: &str) -> Result<ChildLine, String> {
        let bad = || format!("the child printed an unexpected line: {line:?}");
        let words: Vec<&str> = line.split(' ').collect();
        let number = |i: usize| -> Result<u64, String> {
            words.get(i).and_then(|w| w.parse().ok()).ok_or_else(bad)
        };
        match (words.first().copied(), words.len()) {
            (Some("ready"), 3) => Ok(ChildLine::Ready {
                first: Lsn::new(number(1)?),
                current: Lsn::new(number(2)?),
            }),
            (Some("ack"), 4) => Ok(ChildLine::Ack(Ack {
                lsn: Lsn::new(number(1)?),
                thread: u32::try_from(number(2)?).map_err(|_| bad())?,
                seq: number(3)?,
            })),
            _ => Err(bad()),
        }
    }
}

/// A record the log holds, identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where it starts.
    pub lsn: Lsn,
    /// Which record it is.
    pub id: RecordId,
}

/// What the log held after the last check: every record from `first` up to `end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogModel {
    first: Lsn,
    end: Lsn,
    entries: Vec<Entry>,
}

impl Default for LogModel {
    fn default() -> LogModel {
        LogModel::new()
    }
}

impl LogModel {
    /// A log that has never been written.
    pub fn new() -> LogModel {
        LogModel {
            first: Lsn::ZERO,
            end: Lsn::ZERO,
            entries: Vec::new(),
        }
    }

    /// The first LSN the log holds.
    pub fn first(&self) -> Lsn {
        self.first
    }

    /// The end of the log.
    pub fn end(&self) -> Lsn {
        self.end
    }

    /// The records, in LSN order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Forgets the records below `first` after a checkpoint moved the log's first LSN there,
    /// which must be a record boundary at or after the previous first LSN.
    pub fn checkpointed(&mut self, first: Lsn) -> Result<(), String> {
        let boundary = first == self.end || self.entries.iter().any(|entry| entry.lsn == first);
        if first < self.first || first > self.end || !boundary {
            return Err(format!(
                "the checkpoint moved the first LSN to {first}, which is not a record boundary \
                 in [{}, {}]",
                self.first, self.end
            ));
        }
        self.entries.retain(|entry| entry.lsn >= first);
        self.first = first;
        Ok(())
    }
}

/// What the parent read back after a kill.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// `Wal::first_lsn` after reopening.
    pub first_lsn: Lsn,
    /// `Wal::current_lsn` after reopening.
    pub end_lsn: Lsn,
    /// Every record read from `first_lsn`.
    pub records: &'a [LogRecord],
}

/// What one cycle's check found.
#[derive(Clone, Debug)]
pub struct CycleReport {
    /// The log as it is now: the next check's `before`.
    pub model: LogModel,
    /// Records of the killed child found in the log.
    pub found: usize,
    /// Records the killed child acknowledged.
    pub acked: usize,
    /// Records of the killed child found but never acknowledged: durable, killed before the ack
    /// was printed.
    pub unacked_found: usize,
}

/// The LSN just past a sync marker frame at `lsn`.
fn after_marker(lsn: Lsn) -> Lsn {
    Lsn::new(lsn.get().saturating_add(MARKER_FRAME_LEN as u64))
}

/// Checks the log after the child of `cycle` was killed, against the log as it was before that
/// child started (`before`) and the acknowledgements the child printed. On failure, says exactly
/// what differs.
pub fn check_cycle(
    before: &LogModel,
    cycle: u64,
    observed: &Observed<'_>,
    acks: &[Ack],
) -> Result<CycleReport, String> {
    let Observed {
        first_lsn,
        end_lsn,
        records,
    } = *observed;
    if first_lsn != before.first {
        return Err(format!(
            "the log starts at LSN {first_lsn}, but started at {} before the child ran (only the \
             parent checkpoints)",
            before.first
        ));
    }
    if end_lsn < before.end {
        return Err(format!(
            "the log ends at LSN {end_lsn}, before where it ended when the child started ({}): \
             records the parent had read were lost",
            before.end
        ));
    }

    // One chain of records from the first LSN to the end, each a payload some thread built.
    let mut entries = Vec::with_capacity(records.len());
    let mut next = first_lsn;
    for record in records {
        if record.lsn != next && record.lsn != after_marker(next) {
            return Err(format!(
                "gap: a record starts at LSN {} but the previous one ends at {next} (only one \
                 {MARKER_FRAME_LEN}-byte sync marker may lie between them)",
                record.lsn
            ));
        }
        let id = RecordId::parse(&record.payload).map_err(|why| {
            format!(
                "the record at LSN {} was never written by any child: {why}",
                record.lsn
            )
        })?;
        entries.push(Entry {
            lsn: record.lsn,
            id,
        });
        next = Lsn::new(record.lsn.get() + (FRAME_HEADER_LEN + record.payload.len()) as u64);
    }
    if next != end_lsn && after_marker(next) != end_lsn {
        return Err(format!(
            "the records read from LSN {first_lsn} end at {next}, but the log's current LSN is \
             {end_lsn}"
        ));
    }

    // What was there before the child started is still there, unchanged.
    let old = entries.partition_point(|entry| entry.lsn < before.end);
    if let Some(index) =
        (0..old.max(before.entries.len())).find(|&i| entries[..old].get(i) != before.entries.get(i))
    {
        let show = |entry: Option<&Entry>| {
            entry.map_or(String::from("nothing"), |entry| {
                format!("{} at LSN {}", entry.id, entry.lsn)
            })
        };
        return Err(format!(
            "the log changed below LSN {} (where it ended before the child ran): record {index} \
             was {}, is now {}",
            before.end,
            show(before.entries.get(index)),
            show(entries[..old].get(index)),
        ));
    }

    // What follows was written by this cycle's child, each thread's records in order.
    let new = &entries[old..];
    let mut by_lsn = HashMap::with_capacity(new.len());
    let mut present = vec![0u64; CHILD_THREADS as usize];
    for entry in new {
        let id = entry.id;
        if id.cycle != cycle || id.thread >= CHILD_THREADS {
            return Err(format!(
                "the record at LSN {} is {id}, but everything past LSN {} was written by cycle \
                 {cycle}'s threads 0..{CHILD_THREADS}",
                entry.lsn, before.end
            ));
        }
        let expected_seq = &mut present[id.thread as usize];
        if id.seq != *expected_seq {
            return Err(format!(
                "thread {} of cycle {cycle}: the record at LSN {} has seq {}, expected {} (a \
                 thread commits one record at a time, so its seqs must be 0..k in LSN order)",
                id.thread, entry.lsn, id.seq, *expected_seq
            ));
        }
        *expected_seq += 1;
        by_lsn.insert(entry.lsn, id);
    }

    // Every acknowledged record is there, at its LSN.
    let mut acked = vec![0u64; CHILD_THREADS as usize];
    for ack in acks {
        let id = RecordId {
            cycle,
            thread: ack.thread,
            seq: ack.seq,
        };
        let Some(count) = acked.get_mut(ack.thread as usize) else {
            return Err(format!(
                "the child acknowledged {id}, but it has only threads 0..{CHILD_THREADS}"
            ));
        };
        if *count != ack.seq {
            return Err(format!(
                "the child acknowledged {id} out of order (after {} acks from thread {})",
                *count, ack.thread
            ));
        }
        *count += 1;
        match by_lsn.get(&ack.lsn) {
            Some(found) if *found == id => {}
            Some(found) => {
                return Err(format!(
                    "acknowledged record {id} at LSN {} is not there: that LSN holds {found}",
                    ack.lsn
                ))
            }
            None => {
                return Err(format!(
                    "acknowledged record {id} at LSN {} is missing: no record of this cycle \
                     starts there (the log ends at {end_lsn})",
                    ack.lsn
                ))
            }
        }
    }
    for (thread, (&found, &acked)) in present.iter().zip(&acked).enumerate() {
        if found > acked + 1 {
            return Err(format!(
                "thread {thread} of cycle {cycle}: {found} records in the log but only {acked} \
                 acknowledged (a thread prints each ack before it commits its next record, so \
                 at most one can be durable without its ack)"
            ));
        }
    }

    let acked = acks.len();
    Ok(CycleReport {
        found: new.len(),
        acked,
        unacked_found: new.len() - acked,
        model: LogModel {
            first: first_lsn,
            end: end_lsn,
            entries,
        },
    })
}
