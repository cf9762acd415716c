//! The Recovery panel of live mode: what opening the log found (records, end, torn tail cut
//! off) and, after a crash, the crash report in plain words: how many commits the interrupted
//! batch left unanswered, where the last acknowledged record ends, the torn write if any, and
//! the verdict: whether every acknowledged record survived recovery.

use leptos::prelude::*;

use crate::format;
use crate::live_log::{Opened, Tear};

/// What the last crash left behind, and what reopening found. The counts are taken when the
/// log is reopened: by then the dead worker can answer nothing more, so they are final.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CrashReport {
    /// Commits acknowledged (durable) in this page session.
    pub(crate) acknowledged: u64,
    /// Where the last acknowledged record ends: everything below it was durable.
    pub(crate) acknowledged_end: u64,
    /// Commits sent and never answered: the batch the crash interrupted.
    pub(crate) unanswered: u64,
    /// The torn last write, if the crash tore one.
    pub(crate) tear: Option<Tear>,
    /// What reopening found, once it did.
    pub(crate) reopened: Option<Opened>,
}

impl CrashReport {
    /// Whether recovery kept every acknowledged record (records form a prefix, so the log's
    /// recovered end reaching the last acknowledged record's end means all of them).
    pub(crate) fn durable_survived(&self) -> Option<bool> {
        self.reopened
            .map(|opened| opened.end >= self.acknowledged_end)
    }
}

/// What opening found, and after a crash whether every acknowledged record survived and what
/// recovery cut off.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn RecoveryPanel(
    /// What the last open found.
    opened: RwSignal<Option<Opened>>,
    /// The last crash, if any.
    crash: RwSignal<Option<CrashReport>>,
) -> impl IntoView {
    let found = move || {
        opened.get().map_or_else(
            || "Open the log to recover it (or create it).".to_owned(),
            |o| {
                format!(
                    "Opening found {} records ending at LSN {}, and cut off {} of torn tail.",
                    format::grouped(o.recovered_records),
                    format::grouped(o.end),
                    format::bytes(o.truncated_bytes),
                )
            },
        )
    };
    let truncated = move || opened.get().map(|o| o.truncated_bytes.to_string());
    let crashed = move || {
        crash.get().map(|report| {
            let (text, survived) = crash_text(&report);
            view! { <p data-testid="live-survived" data-value=survived>{text}</p> }
        })
    };
    view! {
        <section class="wd-recovery" aria-labelledby="wd-recovery-title" aria-live="polite">
            <h2 id="wd-recovery-title">"Recovery"</h2>
            <p data-testid="live-opened" data-value=truncated>{found}</p>
            {crashed}
        </section>
    }
}

/// The crash report in plain words, and whether every acknowledged record survived (once the
/// log was reopened).
fn crash_text(report: &CrashReport) -> (String, Option<String>) {
    let tear = report.tear.map_or_else(
        || "It tore no write.".to_owned(),
        |tear| {
            format!(
                "It tore the last write: only the first {} of a record at LSN {} reached the file.",
                format::bytes(tear.bytes as u64),
                format::grouped(tear.at)
            )
        },
    );
    let (Some(o), Some(survived)) = (report.reopened, report.durable_survived()) else {
        return (
            format!("The worker crashed mid-batch. {tear} Reopen to run recovery."),
            None,
        );
    };
    let before = format!(
        "When the worker died, {} commits of its batch were never answered; {} commits had been acknowledged in this session, the last ending at LSN {}.",
        report.unanswered,
        format::grouped(report.acknowledged),
        format::grouped(report.acknowledged_end),
    );
    let verdict = if !survived {
        format!(
            "Acknowledged records were lost: the recovered log ends at LSN {}, before {}.",
            format::grouped(o.end),
            format::grouped(report.acknowledged_end),
        )
    } else if o.end > report.acknowledged_end {
        format!(
            "Every acknowledged record survived: the recovered log ends at LSN {}, {} past the last acknowledged one (unanswered records the worker had written before it died).",
            format::grouped(o.end),
            format::bytes(o.end - report.acknowledged_end),
        )
    } else {
        format!(
            "Every acknowledged record survived: the recovered log ends at LSN {}.",
            format::grouped(o.end)
        )
    };
    let cut = if o.truncated_bytes > 0 {
        let what = match report.tear {
            Some(tear) if o.truncated_bytes > tear.bytes as u64 => format!(
                " (the {} torn record and the zero-filled space preallocated after it)",
                format::bytes(tear.bytes as u64)
            ),
            _ => String::new(),
        };
        format!(
            "Recovery cut off the torn tail: {}{what}.",
            format::bytes(o.truncated_bytes)
        )
    } else {
        "There was no torn tail to cut off.".to_owned()
    };
    (
        format!("{before} {tear} {verdict} {cut}"),
        Some(survived.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survival_compares_the_recovered_end_with_the_last_acknowledged_record() {
        let mut report = CrashReport {
            acknowledged: 10,
            acknowledged_end: 2_640,
            unanswered: 4,
            tear: None,
            reopened: None,
        };
        assert_eq!(report.durable_survived(), None);
        report.reopened = Some(Opened {
            end: 2_640,
            ..Opened::default()
        });
        assert_eq!(report.durable_survived(), Some(true));
        report.reopened = Some(Opened {
            end: 2_000,
            ..Opened::default()
        });
        assert_eq!(report.durable_survived(), Some(false));
        let (text, survived) = crash_text(&report);
        assert_eq!(survived.as_deref(), Some("false"));
        assert!(text.contains("were lost"), "{text}");
        report.reopened = Some(Opened {
            end: 2_904,
            truncated_bytes: 132,
            ..Opened::default()
        });
        report.tear = Some(Tear {
            at: 2_904,
            bytes: 132,
        });
        let (text, survived) = crash_text(&report);
        assert_eq!(survived.as_deref(), Some("true"));
        assert!(
            text.contains("264 B past the last acknowledged one"),
            "{text}"
        );
        assert!(text.contains("cut off the torn tail: 132 B"), "{text}");
    }
}
