//! The commit-latency histogram: how long commits waited from asking for durability to being
//! acknowledged, over the last few hundred commits, with the median and 99th percentile marked.
//! With group commit most latencies sit between one and two fsync latencies: a commit that just
//! missed an fsync waits for the rest of it and then for the next one. Fed by a plain signal,
//! so it draws simulated and real logs alike.

use leptos::prelude::*;

use crate::format;
use crate::histogram::{quantile, Histogram};
use crate::plot::BarArea;

/// The SVG's user-space size.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 150.0;
/// Room for the axis labels.
const LEFT: f64 = 8.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 16.0;
/// The most bins drawn.
pub(crate) const BINS_MAX: usize = 30;

/// The marked quantiles of the samples shown, and how many there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Quantiles {
    p50: Option<u64>,
    p99: Option<u64>,
    count: usize,
}

/// The chart.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LatencyHistogram(
    /// Latencies in microseconds, any order.
    #[prop(into)]
    samples: Signal<Vec<u64>>,
    /// Prefixes the element id and test id, unique per mode (`sim`, `live`).
    scope: &'static str,
) -> impl IntoView {
    let histogram = Memo::new(move |_| samples.with(|samples| Histogram::of(samples, BINS_MAX)));
    let quantiles = Memo::new(move |_| {
        samples.with(|samples| Quantiles {
            p50: quantile(samples, 0.5),
            p99: quantile(samples, 0.99),
            count: samples.len(),
        })
    });
    let area = move || BarArea {
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom: HEIGHT - BOTTOM,
        slots: histogram.with(|h| h.counts.len()),
    };
    let path = move || {
        histogram.with(|h| {
            let values: Vec<Option<f64>> = h.counts.iter().map(|&c| Some(c as f64)).collect();
            area().bars_path(&values, h.peak() as f64, 1.0)
        })
    };
    // The x position of a latency: bins fill the plot, so the scale ends at the last bin's edge.
    let x_of = move |us: u64| {
        let end = histogram.with(Histogram::end_us).max(1);
        LEFT + (us.min(end) as f64 / end as f64) * (WIDTH - LEFT - RIGHT)
    };
    let marker = move |pick: fn(&Quantiles) -> Option<u64>, name: &'static str| {
        move || {
            quantiles.with(pick).map(|us| {
                let x = x_of(us);
                // The median's label sits left of its line and the p99's right of it, so close
                // quantiles do not overlap; a label that would leave the chart flips side.
                let left = name == "p50" || x > WIDTH - 40.0;
                let left = left && x > LEFT + 30.0;
                let (label_x, anchor) = if left { (x - 3.0, "end") } else { (x + 3.0, "start") };
                view! {
                    <line class=format!("wd-q-line wd-q-{name}") x1=x x2=x y1=TOP - 4.0 y2=HEIGHT - BOTTOM></line>
                    <text class=format!("wd-axis wd-q-{name}") x=label_x y=TOP - 4.0 text-anchor=anchor>
                        {name}
                    </text>
                }
            })
        }
    };
    let summary = move || {
        quantiles.with(|&Quantiles { p50, p99, count }| match (p50, p99) {
            (Some(p50), Some(p99)) => format!(
                "Median {}, 99th percentile {}, over the last {count} commits.",
                format::duration_us(p50),
                format::duration_us(p99)
            ),
            _ => "No commit acknowledged yet.".to_owned(),
        })
    };

    view! {
        <section class="wd-chart" aria-labelledby=format!("{scope}-latency-title")>
            <h2 id=format!("{scope}-latency-title")>"Commit latency"</h2>
            <svg
                class="wd-chart-svg"
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=summary
                data-testid=format!("{scope}-latency-histogram")
            >
                <line class="wd-axis-line" x1=LEFT x2=WIDTH - RIGHT y1=HEIGHT - BOTTOM y2=HEIGHT - BOTTOM></line>
                <path class="wd-hist-bars" d=path></path>
                {marker(|q| q.p50, "p50")}
                {marker(|q| q.p99, "p99")}
                <text class="wd-axis" x=LEFT y=HEIGHT - 2.0>
                    "0"
                </text>
                <text class="wd-axis" x=WIDTH - RIGHT y=HEIGHT - 2.0 text-anchor="end">
                    {move || format::duration_us(histogram.with(Histogram::end_us))}
                </text>
            </svg>
            <p class="muted">{summary}</p>
        </section>
    }
}
