//! The writer lanes: one horizontal strip per writer showing, over a sliding window of simulated
//! time that ends now, what it was doing (appending, waiting, leading, acknowledged), with a
//! vertical line at each completed fsync, a band over the fsync in flight, and a dot by each
//! writer whose commit that fsync carries. Group commit shows as many lanes turning
//! "acknowledged" on the same line.

use std::collections::VecDeque;
use std::fmt::Write as _;

use leptos::prelude::*;

use crate::format;
use crate::sim::{Params, Segment, Sim, WriterState};

/// The SVG's user-space width, about its width on screen at 1280 px so text keeps its size.
pub(crate) const WIDTH: f64 = 760.0;
/// Room for the writer names on the left.
pub(crate) const LABEL_WIDTH: f64 = 32.0;
/// Height the lanes aim to fill, whatever the writer count.
const LANES_HEIGHT: f64 = 320.0;
/// The lane labels' font size (set in the stylesheet), so the first label is not clipped.
const LABEL_FONT_PX: f64 = 11.0;
/// Segments are drawn at least this wide, so a 1 µs append still shows as a tick; the states
/// drawn later ([`WriterState::ALL`]) sit on top of the ones before.
const SEGMENT_WIDTH_MIN: f64 = 2.0;
/// Height of the time axis under the lanes.
const AXIS_HEIGHT: f64 = 18.0;

/// The simulated time the lanes show: about four full commit cycles.
pub(crate) fn window_us(params: &Params) -> u64 {
    (4 * params.cycle_us()).clamp(200, 10_000_000)
}

/// The height of one lane for `writers` lanes.
pub(crate) fn lane_height(writers: usize) -> f64 {
    (LANES_HEIGHT / writers.max(1) as f64)
        .clamp(5.0, 22.0)
        .floor()
}

/// Maps simulated times to x positions in the window `[now - window, now]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TimeScale {
    start_us: u64,
    window_us: u64,
}

impl TimeScale {
    /// The window of `window_us` that ends at `now_us`.
    pub(crate) fn new(now_us: u64, window_us: u64) -> TimeScale {
        TimeScale {
            start_us: now_us.saturating_sub(window_us),
            window_us: window_us.max(1),
        }
    }

    /// The x position of `us`, clamped to the window.
    pub(crate) fn x(&self, us: u64) -> f64 {
        let offset = us.saturating_sub(self.start_us).min(self.window_us);
        LABEL_WIDTH + offset as f64 / self.window_us as f64 * (WIDTH - LABEL_WIDTH)
    }
}

/// An SVG path of rectangles, one per segment of `history` in `state` that overlaps the window,
/// in the lane whose top is `y` and whose height is `h`.
pub(crate) fn lane_path(
    history: &VecDeque<Segment>,
    state: WriterState,
    now_us: u64,
    scale: TimeScale,
    y: f64,
    h: f64,
) -> String {
    let mut d = String::new();
    for segment in history.iter().filter(|segment| segment.state == state) {
        let end_us = segment.end_us.unwrap_or(now_us);
        if end_us <= scale.start_us {
            continue;
        }
        let x0 = scale.x(segment.start_us);
        let x1 = scale.x(end_us).max(x0 + SEGMENT_WIDTH_MIN);
        // Writing to a String cannot fail.
        let _ = write!(d, "M{x0:.1} {y:.1}H{x1:.1}V{:.1}H{x0:.1}Z", y + h);
    }
    d
}

/// The lanes, their legend and time axis.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn Lanes(
    /// The simulation to read.
    sim: RwSignal<Sim>,
) -> impl IntoView {
    let writers = Memo::new(move |_| sim.with(|s| s.writers().len()));
    let window = Memo::new(move |_| sim.with(|s| window_us(&s.params())));
    let lane_h = move || lane_height(writers.get());
    let height = move || lane_h() * writers.get() as f64 + AXIS_HEIGHT;
    let scale = move || sim.with(|s| TimeScale::new(s.now_us(), window.get()));

    let fsync_lines = move || {
        let scale = scale();
        let bottom = lane_h() * writers.get() as f64;
        sim.with(|s| {
            s.fsync_history()
                .iter()
                .filter(|sample| sample.done_us >= scale.start_us)
                .map(|sample| {
                    let x = scale.x(sample.done_us);
                    view! { <line class="wd-fsync-line" x1=x x2=x y1="0" y2=bottom></line> }
                })
                .collect_view()
        })
    };
    let sync_band = move || {
        let scale = scale();
        sim.with(|s| {
            s.sync_in_flight().map(|sync| {
                let x0 = scale.x(sync.started_us);
                let x1 = scale.x(s.now_us());
                view! {
                    <rect
                        class="wd-sync-band"
                        x=x0
                        y="0"
                        width=(x1 - x0).max(0.0)
                        height=lane_h() * writers.get() as f64
                    ></rect>
                }
            })
        })
    };
    let lanes = move || {
        let count = writers.get();
        let h = lane_h();
        let label_every = if h >= 12.0 { 1 } else { 8 };
        (0..count)
            .map(|index| {
                let y = index as f64 * h;
                let inner_h = (h - 1.0).max(1.0);
                let path = move |state: WriterState| {
                    move || {
                        let scale = scale();
                        sim.with(|s| {
                            s.writers().get(index).map_or_else(String::new, |writer| {
                                lane_path(writer.history(), state, s.now_us(), scale, y, inner_h)
                            })
                        })
                    }
                };
                // A dot left of the lane while the fsync in flight carries this writer's commit.
                let carried = move || {
                    sim.with(|s| {
                        s.sync_in_flight()
                            .is_some_and(|sync| sync.carries.contains(&index))
                    })
                };
                let dot_r = (h / 2.0 - 0.5).clamp(1.5, 3.5);
                let label = (index.is_multiple_of(label_every) || index + 1 == count).then(|| {
                    view! {
                        <text class="wd-lane-label" x="0" y=(y + h / 2.0).max(LABEL_FONT_PX / 2.0) dominant-baseline="middle">
                            {format::writer(index)}
                        </text>
                    }
                });
                let title = move || {
                    sim.with(|s| {
                        s.writers().get(index).map_or_else(String::new, |writer| {
                            let doing = match writer.target() {
                                Some(target) => format!(
                                    "{} (needs LSN {} durable)",
                                    writer.state().name(),
                                    format::grouped(target.get())
                                ),
                                None => writer.state().name().to_owned(),
                            };
                            format!(
                                "{}: {doing}; {} commits acknowledged",
                                format::writer(index),
                                writer.acknowledged()
                            )
                        })
                    })
                };
                view! {
                    <g>
                        <title>{title}</title>
                        <rect class="wd-lane-bg" x=LABEL_WIDTH y=y width=WIDTH - LABEL_WIDTH height=inner_h></rect>
                        {WriterState::ALL
                            .iter()
                            .map(|&state| {
                                view! { <path class=format!("wd-state-{}", state.name()) d=path(state)></path> }
                            })
                            .collect_view()}
                        {label}
                        <circle
                            class="wd-carried"
                            cx=LABEL_WIDTH - dot_r - 1.0
                            cy=y + inner_h / 2.0
                            r=dot_r
                            visibility=move || if carried() { "visible" } else { "hidden" }
                        ></circle>
                    </g>
                }
            })
            .collect_view()
    };
    let summary = move || {
        sim.with(|s| {
            let mut counts = [0usize; 4];
            for writer in s.writers() {
                if let Some(slot) = WriterState::ALL.iter().position(|&st| st == writer.state()) {
                    counts[slot] += 1;
                }
            }
            WriterState::ALL
                .iter()
                .zip(counts)
                .map(|(state, count)| format!("{count} {}", state.name()))
                .collect::<Vec<_>>()
                .join(", ")
        })
    };

    view! {
        <section class="wd-lanes" aria-labelledby="wd-lanes-title">
            <h2 id="wd-lanes-title">"Writers"</h2>
            <ul class="wd-legend">
                {WriterState::ALL
                    .iter()
                    .map(|state| {
                        view! {
                            <li>
                                <span class=format!("wd-swatch wd-state-{}", state.name())></span>
                                {state.name()}
                            </li>
                        }
                    })
                    .collect_view()}
                <li>
                    <span class="wd-swatch wd-swatch-line"></span>
                    "an fsync completed"
                </li>
                <li>
                    <span class="wd-swatch wd-swatch-dot"></span>
                    "carried by the fsync in flight"
                </li>
            </ul>
            <svg
                class="wd-lanes-svg"
                viewBox=move || format!("0 0 {WIDTH} {}", height())
                role="img"
                aria-label=move || format!("Writer lanes over the last {}: {}", format::duration_us(window.get()), summary())
            >
                {sync_band}
                {lanes}
                {fsync_lines}
                <text class="wd-axis" x=LABEL_WIDTH y=move || height() - 4.0>
                    {move || format!("{} ago", format::duration_us(window.get()))}
                </text>
                <text class="wd-axis" x=WIDTH y=move || height() - 4.0 text-anchor="end">
                    "now"
                </text>
            </svg>
            <p class="muted wd-lanes-summary">{summary}</p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_path_draws_only_segments_of_its_state_inside_the_window() {
        let history: VecDeque<Segment> = [
            Segment {
                state: WriterState::Waiting,
                start_us: 0,
                end_us: Some(50),
            },
            Segment {
                state: WriterState::Acknowledged,
                start_us: 50,
                end_us: Some(150),
            },
            Segment {
                state: WriterState::Waiting,
                start_us: 150,
                end_us: None,
            },
        ]
        .into_iter()
        .collect();
        let scale = TimeScale::new(200, 100);
        let waiting = lane_path(&history, WriterState::Waiting, 200, scale, 0.0, 10.0);
        // The first waiting segment ended before the window: only one rectangle.
        assert_eq!(waiting.matches('M').count(), 1);
        let acked = lane_path(&history, WriterState::Acknowledged, 200, scale, 0.0, 10.0);
        assert_eq!(acked.matches('M').count(), 1);
        assert!(lane_path(&history, WriterState::Leading, 200, scale, 0.0, 10.0).is_empty());
    }

    #[test]
    fn lanes_fit_and_window_is_bounded() {
        assert_eq!(lane_height(1), 22.0);
        assert!(lane_height(64) * 64.0 <= LANES_HEIGHT);
        assert!(window_us(&Params::default()) >= 200);
    }
}
