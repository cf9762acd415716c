//! Records per fsync: one bar per completed fsync (the last `FSYNC_HISTORY_LEN`), against a
//! dashed line at the writer count, the most one fsync can carry when every writer has one
//! record outstanding. Bars near the line mean group commit is doing its job.

use leptos::prelude::*;

use crate::sim::{Sim, FSYNC_HISTORY_LEN};

/// The SVG's user-space size, about its size on screen at 1280 px so text keeps its size.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 150.0;
/// Room for the axis labels.
const LEFT: f64 = 24.0;
const BOTTOM: f64 = 16.0;
const TOP: f64 = 8.0;

/// The chart.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn FsyncChart(
    /// The simulation to read.
    sim: RwSignal<Sim>,
) -> impl IntoView {
    // The vertical scale tops out at the writer count: each writer has at most one record
    // outstanding, so no fsync can carry more. The largest bar is included anyway, so a change
    // to the model can never draw outside the chart.
    let top_value = move || {
        sim.with(|s| {
            let tallest = s
                .fsync_history()
                .iter()
                .map(|sample| sample.records)
                .max()
                .unwrap_or(0);
            tallest.max(s.writers().len() as u64).max(1)
        })
    };
    let y = move |value: u64| {
        let plot = HEIGHT - BOTTOM - TOP;
        HEIGHT - BOTTOM - value as f64 / top_value() as f64 * plot
    };
    let slot = (WIDTH - LEFT) / FSYNC_HISTORY_LEN as f64;
    let bars = move || {
        sim.with(|s| {
            let history = s.fsync_history();
            // Newest on the right: pad the left when fewer fsyncs have completed.
            let offset = FSYNC_HISTORY_LEN - history.len();
            history
                .iter()
                .enumerate()
                .map(|(index, sample)| {
                    let x = LEFT + (offset + index) as f64 * slot + 1.0;
                    let top = y(sample.records);
                    view! {
                        <rect
                            class="wd-bar"
                            x=x
                            y=top
                            width=slot - 2.0
                            height=(HEIGHT - BOTTOM - top).max(0.0)
                        >
                            <title>
                                {format!(
                                    "{} records, {} commits, {} bytes",
                                    sample.records,
                                    sample.commits,
                                    sample.bytes,
                                )}
                            </title>
                        </rect>
                    }
                })
                .collect_view()
        })
    };
    let writers_y = move || sim.with(|s| y(s.writers().len() as u64));
    let summary = move || {
        sim.with(|s| match s.records_per_fsync() {
            Some(mean) => format!(
                "Mean {mean:.1} records per fsync over the last {} fsyncs, with {} writers.",
                s.fsync_history().len(),
                s.writers().len()
            ),
            None => "No fsync has completed yet.".to_owned(),
        })
    };

    view! {
        <section class="wd-chart" aria-labelledby="wd-chart-title">
            <h2 id="wd-chart-title">"Records per fsync"</h2>
            <svg class="wd-chart-svg" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=summary>
                <line class="wd-axis-line" x1=LEFT x2=WIDTH y1=HEIGHT - BOTTOM y2=HEIGHT - BOTTOM></line>
                <line class="wd-writers-line" x1=LEFT x2=WIDTH y1=writers_y y2=writers_y></line>
                <text class="wd-axis" x=LEFT - 4.0 y=move || writers_y() + 4.0 text-anchor="end">
                    {move || sim.with(|s| s.writers().len().to_string())}
                </text>
                <text class="wd-axis" x=LEFT - 4.0 y=HEIGHT - BOTTOM + 4.0 text-anchor="end">
                    "0"
                </text>
                {bars}
                <text class="wd-axis" x=WIDTH y=HEIGHT - 2.0 text-anchor="end">
                    "newest"
                </text>
            </svg>
            <p class="muted">{summary}</p>
        </section>
    }
}
