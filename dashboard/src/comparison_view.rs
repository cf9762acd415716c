//! The side-by-side panel: the grouped simulation beside "each commit its own fsync" (the same
//! writers, seed and disk), with commits/s, commits, fsyncs and commits per fsync for both, and
//! the ratios that say what grouping buys. Figures from [`crate::comparison`]; this only places
//! them.

use leptos::prelude::*;

use crate::comparison::{Comparison, RunFigures};
use crate::format;
use crate::sim::Sim;

/// One row of the table: a figure for both runs.
#[derive(Clone, Copy)]
struct Row {
    /// What the figure is.
    label: &'static str,
    /// A stable name for test ids.
    key: &'static str,
    /// The figure of one run, as text and as a plain number (`None` before there is one).
    figure: fn(&RunFigures) -> Option<f64>,
    /// How a figure reads.
    show: fn(f64) -> String,
}

const ROWS: [Row; 4] = [
    Row {
        label: "Commits/s",
        key: "commits-per-s",
        figure: RunFigures::commits_per_s,
        show: format::rate,
    },
    Row {
        label: "Commits acknowledged",
        key: "commits",
        figure: |run| Some(run.commits as f64),
        show: |n| format::grouped(n as u64),
    },
    Row {
        label: "Fsyncs",
        key: "fsyncs",
        figure: |run| Some(run.fsyncs as f64),
        show: |n| format::grouped(n as u64),
    },
    Row {
        label: "Commits per fsync",
        key: "commits-per-fsync",
        figure: RunFigures::commits_per_fsync,
        show: |n| format!("{n:.1}"),
    },
];

/// How a ratio reads: "12.3×", or a dash before there is one.
fn times(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |ratio| format!("{ratio:.1}×"))
}

/// One cell: the figure, formatted, with the plain number in `data-value` for tests.
#[component]
fn Cell(
    /// The two runs' figures.
    figures: Memo<Comparison>,
    /// The row.
    row: Row,
    /// Whether this is the baseline's column.
    baseline: bool,
) -> impl IntoView {
    let value = move || {
        figures.with(|figures| {
            let run = if baseline {
                &figures.baseline
            } else {
                &figures.grouped
            };
            (row.figure)(run)
        })
    };
    let column = if baseline { "baseline" } else { "grouped" };
    view! {
        <td
            data-testid=format!("comparison-{column}-{}", row.key)
            data-value=move || value().map_or_else(String::new, |value| value.to_string())
        >
            {move || value().map_or_else(|| "–".to_owned(), row.show)}
        </td>
    }
}

/// The panel.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn GroupingComparison(
    /// The grouped simulation (the one the rest of the tab draws).
    grouped: RwSignal<Sim>,
    /// The same simulation with every commit leading its own fsync, on the same clock.
    baseline: RwSignal<Sim>,
) -> impl IntoView {
    let figures = Memo::new(move |_| grouped.with(|g| baseline.with(|b| Comparison::of(g, b))));
    let speedup = move || figures.with(Comparison::speedup);
    let saving = move || figures.with(Comparison::fsync_saving);
    view! {
        <section class="wd-comparison" aria-labelledby="wd-comparison-title" data-testid="comparison">
            <h2 id="wd-comparison-title">"What grouping buys"</h2>
            <p class="wd-comparison-headline" aria-live="polite">
                "Group commit: "
                <strong data-testid="comparison-speedup" data-value=move || speedup().map_or_else(String::new, |r| r.to_string())>
                    {move || times(speedup())}
                </strong>
                " the commits per second, each fsync carrying "
                <strong data-testid="comparison-fsync-saving" data-value=move || saving().map_or_else(String::new, |r| r.to_string())>
                    {move || times(saving())}
                </strong>
                " as many commits."
            </p>
            <table class="wd-comparison-table">
                <caption class="wd-caption">
                    "The same writers, seed and disk, on the same simulated clock, averaged over the run so far."
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"Figure"</th>
                        <th scope="col">"Group commit"</th>
                        <th scope="col">"Each commit its own fsync"</th>
                    </tr>
                </thead>
                <tbody>
                    {ROWS
                        .into_iter()
                        .map(|row| {
                            view! {
                                <tr>
                                    <th scope="row">{row.label}</th>
                                    <Cell figures row baseline=false />
                                    <Cell figures row baseline=true />
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <details class="wd-note">
                <summary>"How the baseline runs"</summary>
                <p>
                    "Every commit leads its own fsync, which covers its own record only: no commit rides on another's, so commits queue for the disk one at a time. It ignores the commit delay and does not gather, since nothing could join. Both runs use walden-core's Pipeline; only the grouped one lets a sync acknowledge more than its leader."
                </p>
            </details>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_read_as_times_or_a_dash() {
        assert_eq!(times(Some(12.345)), "12.3×");
        assert_eq!(times(None), "–");
    }

    #[test]
    fn every_row_reads_its_own_figure() {
        let run = RunFigures {
            commits: 3_000,
            fsyncs: 100,
            elapsed_us: 1_000_000,
        };
        let shown: Vec<Option<String>> = ROWS
            .iter()
            .map(|row| (row.figure)(&run).map(row.show))
            .collect();
        assert_eq!(shown[1].as_deref(), Some(format::grouped(3_000).as_str()));
        assert_eq!(shown[2].as_deref(), Some(format::grouped(100).as_str()));
        assert_eq!(shown[3].as_deref(), Some("30.0"));
        assert_eq!(shown[0], Some(format::rate(3_000.0)));
    }
}
