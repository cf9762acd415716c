//! Charts over time: commits per second, fsyncs per second and records per fsync, one bar per
//! bucket of a sliding window (see [`crate::timeline`]), newest on the right. Group commit shows
//! as commits/s far above fsyncs/s, and records per fsync well above one. Fed by plain signals,
//! so it draws simulated and real logs alike.

use leptos::prelude::*;

use crate::format;
use crate::plot::{nice_top, BarArea};
use crate::timeline::{per_s, Bucket};

/// One chart's SVG user-space size; three sit side by side in the main column.
const WIDTH: f64 = 250.0;
const HEIGHT: f64 = 96.0;
/// Room for the top value's label on the left and the axis text below.
const LEFT: f64 = 46.0;
const TOP: f64 = 6.0;
const BOTTOM: f64 = 14.0;

/// Which figure a chart plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rate {
    /// Commits acknowledged per second.
    CommitsPerS,
    /// Fsyncs completed per second.
    FsyncsPerS,
    /// Records made durable per fsync (no bar for a bucket without an fsync).
    RecordsPerFsync,
}

impl Rate {
    /// The chart's title: a simulated disk fsyncs, the browser's OPFS handle flushes.
    pub(crate) const fn title(self, simulated: bool) -> &'static str {
        match (self, simulated) {
            (Rate::CommitsPerS, _) => "Commits/s",
            (Rate::FsyncsPerS, true) => "Fsyncs/s",
            (Rate::FsyncsPerS, false) => "Flushes/s",
            (Rate::RecordsPerFsync, true) => "Records per fsync",
            (Rate::RecordsPerFsync, false) => "Records per flush",
        }
    }

    /// A stable name for classes and test ids.
    pub(crate) const fn key(self) -> &'static str {
        match self {
            Rate::CommitsPerS => "commits-per-s",
            Rate::FsyncsPerS => "fsyncs-per-s",
            Rate::RecordsPerFsync => "records-per-fsync",
        }
    }

    /// The figure for one bucket `bucket_us` wide.
    pub(crate) fn value(self, bucket: &Bucket, bucket_us: u64) -> Option<f64> {
        let per_s = |count| per_s(count, bucket_us);
        match self {
            Rate::CommitsPerS => Some(per_s(bucket.commits)),
            Rate::FsyncsPerS => Some(per_s(bucket.fsyncs)),
            Rate::RecordsPerFsync => bucket.records_per_fsync(),
        }
    }

    /// How a figure reads.
    pub(crate) fn show(self, value: f64) -> String {
        match self {
            Rate::RecordsPerFsync => format!("{value:.1}"),
            _ => format::rate(value),
        }
    }
}

/// The three charts.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn RateCharts(
    /// The completed buckets, oldest first.
    #[prop(into)]
    buckets: Signal<Vec<Bucket>>,
    /// The width of one bucket, in microseconds.
    #[prop(into)]
    bucket_us: Signal<u64>,
    /// How many buckets the window holds.
    slots: usize,
    /// Whether the time is simulated (for the caption).
    simulated: bool,
    /// Prefixes the element ids and test ids, unique per mode (`sim`, `live`).
    scope: &'static str,
) -> impl IntoView {
    let caption = move || {
        let clock = if simulated { "simulated" } else { "real" };
        format!(
            "One bar per {} of {clock} time, over the last {}; newest on the right.",
            format::duration_us(bucket_us.get()),
            format::duration_us(bucket_us.get() * slots as u64),
        )
    };
    view! {
        <section class="wd-rates" aria-labelledby=format!("{scope}-rates-title")>
            <h2 id=format!("{scope}-rates-title")>"Over time"</h2>
            <div class="wd-rate-row">
                {[Rate::CommitsPerS, Rate::FsyncsPerS, Rate::RecordsPerFsync]
                    .into_iter()
                    .map(|rate| view! { <RateChart rate buckets bucket_us slots scope simulated /> })
                    .collect_view()}
            </div>
            <p class="muted wd-caption">{caption}</p>
        </section>
    }
}

/// One chart of the three.
#[component]
fn RateChart(
    rate: Rate,
    buckets: Signal<Vec<Bucket>>,
    bucket_us: Signal<u64>,
    slots: usize,
    scope: &'static str,
    simulated: bool,
) -> impl IntoView {
    let title = rate.title(simulated);
    let values = Memo::new(move |_| {
        let width = bucket_us.get();
        buckets.with(|buckets| {
            buckets
                .iter()
                .map(|bucket| rate.value(bucket, width))
                .collect::<Vec<Option<f64>>>()
        })
    });
    let top_value = move || {
        let largest = values.with(|values| values.iter().flatten().copied().fold(0.0, f64::max));
        nice_top(largest, 1.0)
    };
    let area = BarArea {
        left: LEFT,
        right: WIDTH,
        top: TOP,
        bottom: HEIGHT - BOTTOM,
        slots,
    };
    let path = move || values.with(|values| area.bars_path(values, top_value(), 1.0));
    let latest = move || values.with(|values| values.last().copied().flatten());
    let latest_text = move || latest().map_or_else(|| "–".to_owned(), |value| rate.show(value));
    let label = move || {
        format!(
            "{}: latest {}, scale up to {}",
            title,
            latest_text(),
            rate.show(top_value())
        )
    };
    view! {
        <figure class="wd-rate">
            <figcaption>
                <span>{title}</span>
                <span
                    class="wd-rate-latest"
                    data-testid=format!("{scope}-rate-{}", rate.key())
                    data-value=move || latest().map_or_else(String::new, |value| format!("{value}"))
                >
                    {latest_text}
                </span>
            </figcaption>
            <svg class="wd-rate-svg" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=label>
                <line class="wd-axis-line" x1=LEFT x2=WIDTH y1=TOP y2=TOP></line>
                <line class="wd-axis-line" x1=LEFT x2=WIDTH y1=HEIGHT - BOTTOM y2=HEIGHT - BOTTOM></line>
                <text class="wd-axis" x=LEFT - 4.0 y=TOP + 8.0 text-anchor="end">
                    {move || rate.show(top_value())}
                </text>
                <text class="wd-axis" x=LEFT - 4.0 y=HEIGHT - BOTTOM text-anchor="end">
                    "0"
                </text>
                <path class=format!("wd-rate-bars wd-rate-{}", rate.key()) d=path></path>
                <text class="wd-axis" x=WIDTH y=HEIGHT - 2.0 text-anchor="end">
                    "now"
                </text>
            </svg>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_from_a_bucket() {
        let bucket = Bucket {
            start_us: 0,
            commits: 30,
            fsyncs: 3,
            records: 30,
        };
        assert_eq!(Rate::CommitsPerS.value(&bucket, 10_000), Some(3_000.0));
        assert_eq!(Rate::FsyncsPerS.value(&bucket, 10_000), Some(300.0));
        assert_eq!(Rate::RecordsPerFsync.value(&bucket, 10_000), Some(10.0));
        let quiet = Bucket::default();
        assert_eq!(Rate::RecordsPerFsync.value(&quiet, 10_000), None);
        assert_eq!(Rate::CommitsPerS.value(&quiet, 10_000), Some(0.0));
        assert_eq!(Rate::RecordsPerFsync.show(2.26), "2.3");
    }
}
