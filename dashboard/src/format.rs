//! How numbers read on the page: durations, byte counts and LSNs, with their units. Pure
//! functions, tested natively.

use walden_core::Event;

use crate::sim::LogEntry;

/// A simulated duration: `850 µs`, `1.25 ms`, `3.40 s`.
pub(crate) fn duration_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{} ms", decimal(us, 1_000))
    } else {
        format!("{} s", decimal(us, 1_000_000))
    }
}

/// A byte count in binary units: `300 B`, `4 KiB`, `1.5 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if n < KIB {
        format!("{n} B")
    } else if n < MIB {
        format!("{} KiB", decimal(n, KIB))
    } else {
        format!("{} MiB", decimal(n, MIB))
    }
}

/// An integer with thin-space thousands separators, as LSNs and counters print: `1 234 567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(digit);
    }
    out
}

/// A rate per second, short enough for a chart label: `3.5`, `850`, `12.3 k`, `250 k`, `1.2 M`.
pub(crate) fn rate(per_s: f64) -> String {
    let per_s = if per_s.is_finite() {
        per_s.max(0.0)
    } else {
        0.0
    };
    if per_s < 10.0 {
        format!("{per_s:.1}")
    } else if per_s < 10_000.0 {
        format!("{per_s:.0}")
    } else if per_s < 100_000.0 {
        format!("{:.1} k", per_s / 1_000.0)
    } else if per_s < 1_000_000.0 {
        format!("{:.0} k", per_s / 1_000.0)
    } else {
        format!("{:.1} M", per_s / 1_000_000.0)
    }
}

/// `count noun`, with an `s` unless the count is one: `1 record`, `3 records`.
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", grouped(n))
    }
}

/// `value / unit` with up to two decimals and no trailing zeros: `1.25`, `1.5`, `2`.
fn decimal(value: u64, unit: u64) -> String {
    let hundredths = (u128::from(value) * 100 + u128::from(unit) / 2) / u128::from(unit);
    let whole = hundredths / 100;
    let fraction = hundredths % 100;
    if fraction == 0 {
        format!("{whole}")
    } else if fraction.is_multiple_of(10) {
        format!("{whole}.{}", fraction / 10)
    } else {
        format!("{whole}.{fraction:02}")
    }
}

/// A writer's short name: `W7` (1-based, as people count).
pub(crate) fn writer(index: usize) -> String {
    format!("W{}", index + 1)
}

/// One line of the recent-events log, in plain words, from the core's [`Event`].
pub(crate) fn log_entry(entry: &LogEntry) -> String {
    let who = entry.writer.map_or_else(|| "a writer".to_owned(), writer);
    let more = |what: &str| {
        if entry.folded == 0 {
            String::new()
        } else {
            format!(" (and {} more {what})", entry.folded)
        }
    };
    match entry.event {
        Event::AlreadyDurable { target } => format!(
            "{who} asked for LSN {}: already durable, returns at once",
            grouped(target.get())
        ),
        Event::Led { lead } => format!(
            "{who} finds no sync in flight and leads (its record ends at LSN {})",
            grouped(lead.target.get())
        ),
        Event::Waiting { target, .. } => format!(
            "{who} waits for LSN {}{}",
            grouped(target.get()),
            more("waiters")
        ),
        Event::Refused { target } => format!(
            "{who} is refused LSN {}: the log is poisoned",
            grouped(target.get())
        ),
        Event::SyncStarted { upto, waiting, .. } => format!(
            "{who} drained the buffer and started an fsync up to LSN {} ({waiting} waiting)",
            grouped(upto.get())
        ),
        Event::SyncSucceeded {
            durable, covered, ..
        } => format!(
            "fsync by {who} done: durable LSN is now {}, covering {covered} commit{}",
            grouped(durable.get()),
            if covered == 1 { "" } else { "s" }
        ),
        Event::Acknowledged { target, .. } => format!(
            "{who} acknowledged: LSN {} is durable{}",
            grouped(target.get()),
            more("acknowledged")
        ),
        Event::LeaderElected { lead } => format!(
            "{who} was not covered and is elected to lead the next fsync (needs LSN {})",
            grouped(lead.target.get())
        ),
        Event::SyncFailed { .. } => format!("fsync by {who} failed: the log is poisoned"),
        Event::WaiterFailed { .. } => format!("{who} is told the log is poisoned"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use walden_core::{Lead, Lsn, WaiterId};

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration_us(0), "0 µs");
        assert_eq!(duration_us(999), "999 µs");
        assert_eq!(duration_us(1_000), "1 ms");
        assert_eq!(duration_us(1_250), "1.25 ms");
        assert_eq!(duration_us(1_500), "1.5 ms");
        assert_eq!(duration_us(2_500_000), "2.5 s");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(300), "300 B");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 * 1024), "64 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "record"), "1 record");
        assert_eq!(count(0, "commit"), "0 commits");
        assert_eq!(count(1_200, "commit"), "1\u{2009}200 commits");
    }

    #[test]
    fn rates_stay_short() {
        assert_eq!(rate(3.46), "3.5");
        assert_eq!(rate(850.2), "850");
        assert_eq!(rate(12_345.0), "12.3 k");
        assert_eq!(rate(100_000.0), "100 k");
        assert_eq!(rate(1_260_000.0), "1.3 M");
        assert_eq!(rate(f64::NAN), "0.0");
    }

    #[test]
    fn grouping_puts_a_separator_every_three_digits() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1\u{2009}000");
        assert_eq!(grouped(1_234_567), "1\u{2009}234\u{2009}567");
    }

    #[test]
    fn log_lines_name_the_writer_and_the_fold() {
        let entry = LogEntry {
            seq: 1,
            at_us: 5,
            event: Event::Acknowledged {
                waiter: WaiterId(3),
                target: Lsn::new(264),
            },
            writer: Some(2),
            folded: 4,
        };
        assert_eq!(
            log_entry(&entry),
            "W3 acknowledged: LSN 264 is durable (and 4 more acknowledged)"
        );
        let led = LogEntry {
            event: Event::Led {
                lead: Lead {
                    leader: WaiterId(0),
                    target: Lsn::new(10),
                },
            },
            writer: None,
            folded: 0,
            ..entry
        };
        assert!(log_entry(&led).starts_with("a writer finds no sync in flight"));
    }
}
