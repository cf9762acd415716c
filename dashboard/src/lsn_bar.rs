//! The LSN bar: a window onto the log's byte stream ending just past the reserved LSN, showing
//! what is durable, what was handed to the kernel but is not durable yet, what sits in the
//! user-space buffer, what is reserved by copies still under way, and the range the fsync in
//! flight will make durable. Below it, the buffer's fill as a meter.

use leptos::prelude::*;

use crate::format;
use crate::sim::{Params, Sim};

/// The SVG's user-space width, about its width on screen at 1280 px so text keeps its size.
const WIDTH: f64 = 760.0;
/// Horizontal margin inside the SVG.
const MARGIN: f64 = 8.0;

/// The bytes the bar spans for a simulation: room for about three rounds of every writer's
/// record (one being synced, one waiting, and slack), rounded up to a power of two so the scale
/// stays put for the whole run.
pub(crate) fn span_bytes(params: &Params) -> u64 {
    (3 * params.writers as u64 * params.frame_bytes())
        .max(1024)
        .next_power_of_two()
}

/// Maps LSNs to x positions: the window ends a tenth of a span past `current`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scale {
    left: u64,
    span: u64,
}

impl Scale {
    /// The window for a log whose current LSN is `current`.
    pub(crate) fn new(current: u64, span: u64) -> Scale {
        let span = span.max(1);
        Scale {
            left: (current + span / 10).saturating_sub(span),
            span,
        }
    }

    /// The first LSN the window shows.
    pub(crate) fn left(&self) -> u64 {
        self.left
    }

    /// The x position of `lsn`, clamped to the window.
    pub(crate) fn x(&self, lsn: u64) -> f64 {
        let offset = lsn.saturating_sub(self.left).min(self.span);
        MARGIN + offset as f64 / self.span as f64 * (WIDTH - 2.0 * MARGIN)
    }
}

/// The bar, its legend and the buffer meter.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LsnBar(
    /// The simulation to read.
    sim: RwSignal<Sim>,
) -> impl IntoView {
    let span = move || sim.with(|s| span_bytes(&s.params()));
    let scale = move || sim.with(|s| Scale::new(s.reserved().get(), span()));
    let at = move |pick: fn(&Sim) -> u64| move || scale().x(sim.with(pick));
    let durable_x = at(|s| s.watermarks().durable().get());
    let written_x = at(|s| s.watermarks().written().get());
    let current_x = at(|s| s.watermarks().current().get());
    let reserved_x = at(|s| s.reserved().get());
    let sync_to_x = move || sim.with(|s| s.sync_in_flight().map(|sync| scale().x(sync.upto.get())));
    let width_between = move |a: f64, b: f64| (b - a).max(0.0);

    let hidden_back = move || sim.with(|s| s.watermarks().durable().get() < scale().left());

    view! {
        <section class="wd-lsn" aria-labelledby="wd-lsn-title">
            <h2 id="wd-lsn-title">"The log's byte stream"</h2>
            <svg
                class="wd-lsn-svg"
                viewBox=format!("0 0 {WIDTH} 62")
                role="img"
                aria-label="LSN bar: durable, written, appended and reserved positions"
            >
                <rect class="wd-lsn-track" x=MARGIN y="18" width=WIDTH - 2.0 * MARGIN height="26" rx="3"></rect>
                <rect class="wd-fill-durable" x=MARGIN y="18" width=move || width_between(MARGIN, durable_x()) height="26"></rect>
                <rect
                    class="wd-fill-written"
                    x=durable_x
                    y="18"
                    width=move || width_between(durable_x(), written_x())
                    height="26"
                ></rect>
                <rect
                    class="wd-fill-current"
                    x=written_x
                    y="18"
                    width=move || width_between(written_x(), current_x())
                    height="26"
                ></rect>
                <rect
                    class="wd-fill-reserved"
                    x=current_x
                    y="18"
                    width=move || width_between(current_x(), reserved_x())
                    height="26"
                ></rect>
                <rect
                    class="wd-fill-sync"
                    x=durable_x
                    y="6"
                    width=move || sync_to_x().map_or(0.0, |to| width_between(durable_x(), to))
                    height="8"
                    rx="2"
                ></rect>
                <line class="wd-mark-durable" x1=durable_x x2=durable_x y1="14" y2="48"></line>
                <line class="wd-mark-written" x1=written_x x2=written_x y1="14" y2="48"></line>
                <line class="wd-mark-current" x1=current_x x2=current_x y1="14" y2="48"></line>
                <line class="wd-mark-reserved" x1=reserved_x x2=reserved_x y1="14" y2="48"></line>
                <text class="wd-axis" x=MARGIN y="58">
                    {move || format!("LSN {}", format::grouped(scale().left()))}
                </text>
                <text class="wd-axis" x=WIDTH - MARGIN y="58" text-anchor="end">
                    {move || format!("{} shown", format::bytes(span()))}
                </text>
            </svg>
            <ul class="wd-legend">
                <li>
                    <span class="wd-swatch wd-fill-durable"></span>
                    "durable: survives a power loss"
                    {move || if hidden_back() { " (further back than shown)" } else { "" }}
                </li>
                <li>
                    <span class="wd-swatch wd-fill-written"></span>
                    "written: in the kernel, not yet durable"
                </li>
                <li>
                    <span class="wd-swatch wd-fill-current"></span>
                    "appended: still in the user-space buffer"
                </li>
                <li>
                    <span class="wd-swatch wd-fill-reserved"></span>
                    "reserved: copies under way (about a µs for small records, so rarely seen)"
                </li>
                <li>
                    <span class="wd-swatch wd-fill-sync"></span>
                    "range the fsync in flight will make durable"
                </li>
            </ul>
            <div class="wd-field wd-buffer">
                <label for="wd-buffer-meter">"Buffer fill"</label>
                <meter
                    id="wd-buffer-meter"
                    min="0"
                    max=move || sim.with(|s| s.params().buffer_bytes as f64)
                    value=move || sim.with(|s| s.buffered_bytes() as f64)
                ></meter>
                <span class="muted">
                    {move || {
                        sim.with(|s| {
                            format!(
                                "{} of {}",
                                format::bytes(s.buffered_bytes()),
                                format::bytes(s.params().buffer_bytes),
                            )
                        })
                    }}
                </span>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_keeps_current_near_the_right_and_clamps() {
        let scale = Scale::new(10_000, 1_000);
        assert_eq!(scale.left(), 9_100);
        assert!(scale.x(10_000) > scale.x(9_500));
        assert_eq!(scale.x(0), MARGIN);
        assert_eq!(scale.x(u64::MAX), WIDTH - MARGIN);
        // Early in a log the window starts at LSN 0.
        assert_eq!(Scale::new(10, 1_000).left(), 0);
    }

    #[test]
    fn span_is_a_power_of_two_covering_three_rounds() {
        let params = Params {
            writers: 16,
            record_bytes: 256,
            ..Params::default()
        };
        let span = span_bytes(&params);
        assert!(span.is_power_of_two());
        assert!(span >= 3 * 16 * params.frame_bytes());
    }
}
