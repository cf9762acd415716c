//! The process exit codes of `walden`, and the verdict a check reaches about a log.
//!
//! Invariants: every code is distinct and documented in `walden --help` and the README; a
//! verdict maps to exactly one code, and the worst finding decides it: `Clean` < `TornTail` <
//! `Corrupt` < `Unjudgeable` (when part of the log cannot be judged, say a record over the
//! payload limit, the tool claims no verdict on the whole and exits 1).

/// The log is clean (or the command did what it was asked).
pub(crate) const EXIT_OK: u8 = 0;
/// A usage error, an I/O error, or input the tool cannot judge (not a Walden log, a newer
/// format version, a record over the payload limit).
pub(crate) const EXIT_ERROR: u8 = 1;
/// The log ends in a torn tail (an interrupted last write): `walden repair` cuts it.
pub(crate) const EXIT_TORN_TAIL: u8 = 2;
/// Damage that is not a torn tail: corruption in the middle of the log, records lost below a
/// sync mark, a damaged header, a sealed segment that is damaged, missing or from another log.
pub(crate) const EXIT_CORRUPT: u8 = 3;
/// The log is open elsewhere (its writer's lock is held): nothing was changed.
pub(crate) const EXIT_LOCKED: u8 = 4;
/// A panic: a bug in `walden` (the message says so).
pub(crate) const EXIT_BUG: u8 = 101;

/// The top-level help's section on exit codes: every code, once, kept beside the constants it
/// describes. Each subcommand's help lists only the codes it can return.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  clean (verify), or the command did what it was asked
  1  usage or I/O error, or input it cannot judge (not a Walden log, newer format, over limit)
  2  torn tail: the last write was interrupted; `walden repair` cuts it (backup kept)
  3  corruption: damage in the middle, lost synced records, a damaged header or segment
  4  locked: the log is open elsewhere; nothing was changed
  101  a bug in walden (a panic, reported in one line)";

/// `walden dump`'s exit codes.
pub(crate) const DUMP_EXIT_CODES: &str = "\
Exit codes:
  0  every segment was dumped
  1  usage or I/O error, or input it cannot judge (not a Walden log, newer format)
  3  a segment's header, or the directory's META file, is damaged (the rest is still dumped)
  101  a bug in walden";

/// `walden verify`'s exit codes.
pub(crate) const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  clean
  1  usage or I/O error, or input it cannot judge (not a Walden log, newer format, over limit)
  2  torn tail: the last write was interrupted; `walden repair` cuts it (backup kept)
  3  corruption: damage in the middle, lost synced records, a damaged header, segment or META
  101  a bug in walden";

/// `walden repair`'s exit codes.
pub(crate) const REPAIR_EXIT_CODES: &str = "\
Exit codes:
  0  repaired, or nothing to repair
  1  usage or I/O error, or input it cannot judge (not a Walden log, newer format, over limit)
  3  corruption it does not repair without --point-in-time (nothing was changed)
  4  locked: the log is open elsewhere; nothing was changed
  101  a bug in walden";

/// `walden stat`'s exit codes.
pub(crate) const STAT_EXIT_CODES: &str = "\
Exit codes:
  0  the statistics were printed (their status line says whether the log is clean)
  1  usage or I/O error, or input it cannot judge (not a Walden log, newer format, over limit)
  3  a segment too damaged to count (its header)
  101  a bug in walden";

/// `walden bench`'s exit codes.
pub(crate) const BENCH_EXIT_CODES: &str = "\
Exit codes:
  0  the bench ran
  1  usage or I/O error (the directory, a full disk, a failed sync)
  101  a bug in walden";

/// How healthy a log is, from the worst of its findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// Every header and record checks out (a zero-filled tail is preallocated space).
    Clean,
    /// Only a torn tail in the last segment: what recovery would cut on open.
    TornTail,
    /// Damage that recovery refuses.
    Corrupt,
    /// The tool cannot judge the input (not a log, newer format, record over the limit).
    Unjudgeable,
}

impl Verdict {
    /// The verdict in a word or two, as `stat` and `verify --json` print it.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::TornTail => "torn tail",
            Verdict::Corrupt => "corrupt",
            Verdict::Unjudgeable => "cannot check",
        }
    }

    /// The exit code that reports this verdict.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Verdict::Clean => EXIT_OK,
            Verdict::TornTail => EXIT_TORN_TAIL,
            Verdict::Corrupt => EXIT_CORRUPT,
            Verdict::Unjudgeable => EXIT_ERROR,
        }
    }
}
