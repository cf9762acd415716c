//! Live mode's views of a [`LiveModel`]: counters, the LSN bar (durable, written into OPFS,
//! appended), the flush in flight, records per flush, and a lane per page-side writer
//! (waiting for its commit, or acknowledged). They mirror the simulation's views; what the
//! page cannot see (which writer leads inside the worker, reserved-but-not-appended bytes) is
//! not drawn rather than guessed.

use leptos::prelude::*;

use crate::format;
use crate::lanes::{lane_height, lane_path, TimeScale, LABEL_WIDTH, WIDTH};
use crate::live_model::{LiveModel, FLUSH_HISTORY_LEN};
use crate::lsn_bar::Scale;
use crate::plot::{nice_top, BarArea};
use crate::sim::WriterState;

/// The real time the lanes show.
const LANES_WINDOW_US: u64 = 200_000;
/// The LSN bar's width in bytes.
const LSN_SPAN_BYTES: u64 = 64 * 1024;
/// The LSN bar's SVG width and margin (as the simulation's).
const BAR_WIDTH: f64 = 760.0;
const BAR_MARGIN: f64 = 8.0;

/// The counters strip.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LiveCounters(
    /// The model to read.
    model: RwSignal<LiveModel>,
) -> impl IntoView {
    let figure = move |label: &'static str,
                       testid: &'static str,
                       value: fn(&LiveModel) -> (String, String)| {
        view! {
            <div class="wd-counter">
                <dt>{label}</dt>
                <dd class="wd-counter-value" data-testid=testid data-value=move || model.with(|m| value(m).1)>
                    {move || model.with(|m| value(m).0)}
                </dd>
            </div>
        }
    };
    view! {
        <section class="wd-counters" aria-label="Live counters">
            <dl class="wd-counter-grid">
                {figure("Durable LSN", "live-durable-lsn", |m| {
                    let durable = m.watermarks().2;
                    (format::grouped(durable), durable.to_string())
                })}
                {figure("Written LSN (in OPFS)", "live-written-lsn", |m| {
                    let written = m.watermarks().1;
                    (format::grouped(written), written.to_string())
                })}
                {figure("Commits acknowledged", "live-commits", |m| (format::grouped(m.commits()), m.commits().to_string()))}
                {figure("Flushes", "live-flushes", |m| (format::grouped(m.flushes_total()), m.flushes_total().to_string()))}
                {figure("Records per flush", "live-records-per-flush", |m| match m.records_per_flush() {
                    Some(mean) => (format!("{mean:.1}"), mean.to_string()),
                    None => ("no flush yet".to_owned(), String::new()),
                })}
                {figure("Commits waiting", "live-waiting", |m| (m.outstanding().to_string(), m.outstanding().to_string()))}
            </dl>
        </section>
    }
}

/// The LSN bar: the last 64 KiB of the log's stream.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LiveLsnBar(
    /// The model to read.
    model: RwSignal<LiveModel>,
) -> impl IntoView {
    let marks = move || model.with(LiveModel::watermarks);
    // The shared scale maps LSNs into the simulation bar's width; this bar has the same width.
    let scale = move || Scale::new(marks().0, LSN_SPAN_BYTES);
    let x = move |lsn: u64| scale().x(lsn);
    let durable_x = move || x(marks().2);
    let written_x = move || x(marks().1);
    let current_x = move || x(marks().0);
    let flush_x = move || model.with(|m| m.flush_in_flight().map(|flush| x(flush.upto)));
    view! {
        <section class="wd-lsn" aria-labelledby="wd-live-lsn-title">
            <h2 id="wd-live-lsn-title">"The log's byte stream (real)"</h2>
            <svg class="wd-lsn-svg" viewBox=format!("0 0 {BAR_WIDTH} 62") role="img" aria-label="LSN bar: durable, written and appended positions of the real log">
                <rect class="wd-lsn-track" x=BAR_MARGIN y="18" width=BAR_WIDTH - 2.0 * BAR_MARGIN height="26" rx="3"></rect>
                <rect class="wd-fill-durable" x=BAR_MARGIN y="18" width=move || (durable_x() - BAR_MARGIN).max(0.0) height="26"></rect>
                <rect class="wd-fill-written" x=durable_x y="18" width=move || (written_x() - durable_x()).max(0.0) height="26"></rect>
                <rect class="wd-fill-current" x=written_x y="18" width=move || (current_x() - written_x()).max(0.0) height="26"></rect>
                <rect class="wd-fill-sync" x=durable_x y="6" width=move || flush_x().map_or(0.0, |to| (to - durable_x()).max(0.0)) height="8" rx="2"></rect>
                <line class="wd-mark-durable" x1=durable_x x2=durable_x y1="14" y2="48"></line>
                <line class="wd-mark-current" x1=current_x x2=current_x y1="14" y2="48"></line>
                <text class="wd-axis" x=BAR_MARGIN y="58">{move || format!("LSN {}", format::grouped(scale().left()))}</text>
                <text class="wd-axis" x=BAR_WIDTH - BAR_MARGIN y="58" text-anchor="end">{format!("{} shown", format::bytes(LSN_SPAN_BYTES))}</text>
            </svg>
            <ul class="wd-legend">
                <li><span class="wd-swatch wd-fill-durable"></span>"durable: flushed by the worker"</li>
                <li><span class="wd-swatch wd-fill-written"></span>"written into the OPFS file, not flushed"</li>
                <li><span class="wd-swatch wd-fill-current"></span>"appended: in the worker's buffer"</li>
                <li><span class="wd-swatch wd-fill-sync"></span>"range the flush in flight makes durable"</li>
            </ul>
        </section>
    }
}

/// The flush in flight and the last flushes.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LiveFlush(
    /// The model to read.
    model: RwSignal<LiveModel>,
) -> impl IntoView {
    let text = move || {
        model.with(|m| {
            let now = match m.flush_in_flight() {
                Some(flush) => format!(
                    "A flush to LSN {} carrying {} is in flight.",
                    format::grouped(flush.upto),
                    format::count(flush.commits as u64, "commit")
                ),
                None => "No flush in flight seen. The worker reports each flush's start and end in the message that carries its answers, so a flush is rarely seen while it runs."
                    .to_owned(),
            };
            let last = m.flushes().back().map_or_else(String::new, |flush| {
                format!(
                    " The last one made {} durable for {} in {}.",
                    format::count(flush.records, "record"),
                    format::count(flush.commits as u64, "commit"),
                    format::duration_us(flush.elapsed_us)
                )
            });
            format!("{now}{last}")
        })
    };
    view! {
        <section class="wd-flight" aria-labelledby="wd-live-flight-title">
            <h2 id="wd-live-flight-title">"The flush in flight"</h2>
            <p class="wd-sync-status" data-testid="live-flush">{text}</p>
        </section>
    }
}

/// One lane per page-side writer over the last 200 ms.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LiveLanes(
    /// The model to read.
    model: RwSignal<LiveModel>,
) -> impl IntoView {
    let count = Memo::new(move |_| model.with(|m| m.writers().len()));
    let lane_h = move || lane_height(count.get());
    let height = move || lane_h() * count.get() as f64 + 18.0;
    let scale = move || model.with(|m| TimeScale::new(m.now_us(), LANES_WINDOW_US));
    let lanes = move || {
        let h = lane_h();
        let n = count.get();
        (0..n)
            .map(|index| {
                let y = index as f64 * h;
                let inner = (h - 1.0).max(1.0);
                let path = move |state: WriterState| {
                    move || {
                        let scale = scale();
                        model.with(|m| {
                            m.writers().get(index).map_or_else(String::new, |w| {
                                lane_path(w.history(), state, m.now_us(), scale, y, inner)
                            })
                        })
                    }
                };
                let label = (h >= 12.0 || index % 8 == 0).then(|| {
                    view! { <text class="wd-lane-label" x="0" y=(y + h / 2.0).max(5.5) dominant-baseline="middle">{format::writer(index)}</text> }
                });
                let title = move || {
                    model.with(|m| {
                        m.writers().get(index).map_or_else(String::new, |w| {
                            format!(
                                "{}: {}; {} commits acknowledged",
                                format::writer(index),
                                w.state().name(),
                                w.acknowledged()
                            )
                        })
                    })
                };
                view! {
                    <g>
                        <title>{title}</title>
                        <rect class="wd-lane-bg" x=LABEL_WIDTH y=y width=WIDTH - LABEL_WIDTH height=inner></rect>
                        <path class="wd-state-waiting" d=path(WriterState::Waiting)></path>
                        <path class="wd-state-acknowledged" d=path(WriterState::Acknowledged)></path>
                        {label}
                    </g>
                }
            })
            .collect_view()
    };
    view! {
        <section class="wd-lanes" aria-labelledby="wd-live-lanes-title">
            <h2 id="wd-live-lanes-title">"Writers (real time)"</h2>
            <ul class="wd-legend">
                <li><span class="wd-swatch wd-state-waiting"></span>"waiting: commit sent, not yet durable"</li>
                <li><span class="wd-swatch wd-state-acknowledged"></span>"acknowledged: durable, about to commit again"</li>
            </ul>
            <p class="muted wd-caption">
                "Appending and leading happen inside the worker, out of the page's sight (its events arrive with the answers), so these lanes show only what the page knows."
            </p>
            <svg class="wd-lanes-svg" viewBox=move || format!("0 0 {WIDTH} {}", height()) role="img" aria-label="Live writer lanes">
                {lanes}
                <text class="wd-axis" x=LABEL_WIDTH y=move || height() - 4.0>{format!("{} ago", format::duration_us(LANES_WINDOW_US))}</text>
                <text class="wd-axis" x=WIDTH y=move || height() - 4.0 text-anchor="end">"now"</text>
            </svg>
        </section>
    }
}

/// Records per flush, one bar per flush (the last `FLUSH_HISTORY_LEN`), newest on the right.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LiveFlushChart(
    /// The model to read.
    model: RwSignal<LiveModel>,
) -> impl IntoView {
    const W: f64 = 360.0;
    const H: f64 = 150.0;
    let area = BarArea {
        left: 30.0,
        right: W,
        top: 8.0,
        bottom: H - 16.0,
        slots: FLUSH_HISTORY_LEN,
    };
    let values = Memo::new(move |_| {
        model.with(|m| {
            m.flushes()
                .iter()
                .map(|flush| Some(flush.records as f64))
                .collect::<Vec<_>>()
        })
    });
    let top = move || {
        let largest = values.with(|v| v.iter().flatten().copied().fold(0.0, f64::max));
        nice_top(largest, 1.0)
    };
    let summary = move || {
        model.with(|m| match m.records_per_flush() {
            Some(mean) => format!(
                "Mean {mean:.1} records per flush over the last {} flushes; the last took {}.",
                m.flushes().len(),
                m.flushes()
                    .back()
                    .map_or_else(String::new, |f| format::duration_us(f.elapsed_us)),
            ),
            None => "No flush has completed yet.".to_owned(),
        })
    };
    view! {
        <section class="wd-chart" aria-labelledby="wd-live-flushes-title">
            <h2 id="wd-live-flushes-title">"Records per flush"</h2>
            <svg class="wd-chart-svg" viewBox=format!("0 0 {W} {H}") role="img" aria-label=summary>
                <line class="wd-axis-line" x1=area.left x2=W y1=area.bottom y2=area.bottom></line>
                <text class="wd-axis" x=area.left - 4.0 y=area.top + 8.0 text-anchor="end">{move || top().to_string()}</text>
                <text class="wd-axis" x=area.left - 4.0 y=area.bottom text-anchor="end">"0"</text>
                <path class="wd-bar" d=move || values.with(|v| area.bars_path(v, top(), 2.0))></path>
                <text class="wd-axis" x=W y=H - 2.0 text-anchor="end">"newest"</text>
            </svg>
            <p class="muted">{summary}</p>
        </section>
    }
}
