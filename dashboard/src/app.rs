//! The root component: the two modes (simulation, live) as tabs, the simulation and its knobs,
//! its baseline (the same simulation with every commit leading its own fsync, advanced on the
//! same clock), the clock (once per display frame while playing and shown), and the
//! simulation's layout.
//! Both modes stay mounted; the hidden one is only hidden, so a live log keeps its writers and
//! a simulation its state while the other is viewed.

use std::cell::Cell;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::comparison_view::GroupingComparison;
use crate::controls::Controls;
use crate::counters::Counters;
use crate::event_log::EventLog;
use crate::explain::Explanation;
use crate::frame_loop::on_every_frame;
use crate::fsync_chart::FsyncChart;
use crate::fsync_flight::FsyncInFlight;
use crate::lanes::Lanes;
use crate::latency_histogram::LatencyHistogram;
use crate::live::LiveMode;
use crate::lsn_bar::LsnBar;
use crate::playback::Playback;
use crate::rate_charts::RateCharts;
use crate::sim::{Grouping, Params, Sim, TIMELINE_BUCKETS};
use crate::timeline::Bucket;

/// The seed a fresh page starts from.
const DEFAULT_SEED: u64 = 1;
/// The default playback speed: 1 ms of simulated time per real second, slow enough to follow
/// single fsyncs at the default latency.
const DEFAULT_SPEED_US_PER_S: u64 = 1_000;

/// Which mode is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The core's state machine on a simulated clock and disk.
    Simulation,
    /// A real OPFS log in this browser.
    Live,
}

impl Mode {
    /// The tabs, in order.
    pub(crate) const ALL: [Mode; 2] = [Mode::Simulation, Mode::Live];

    /// The tab's label.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Mode::Simulation => "Simulation",
            Mode::Live => "Live (OPFS)",
        }
    }

    /// The tab's element id (and test id).
    pub(crate) const fn tab_id(self) -> &'static str {
        match self {
            Mode::Simulation => "tab-simulation",
            Mode::Live => "tab-live",
        }
    }

    /// The id of the panel the tab shows.
    pub(crate) const fn panel_id(self) -> &'static str {
        match self {
            Mode::Simulation => "panel-simulation",
            Mode::Live => "panel-live",
        }
    }

    /// The tab a key moves to from this one (the ARIA tabs pattern: arrows wrap, Home and End
    /// go to the ends), or `None` for other keys.
    pub(crate) fn after_key(self, key: &str) -> Option<Mode> {
        let at = Mode::ALL.iter().position(|&m| m == self).unwrap_or(0);
        let last = Mode::ALL.len() - 1;
        let to = match key {
            "ArrowRight" => (at + 1) % Mode::ALL.len(),
            "ArrowLeft" => (at + last) % Mode::ALL.len(),
            "Home" => 0,
            "End" => last,
            _ => return None,
        };
        Some(Mode::ALL[to])
    }
}

/// The dashboard.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn App() -> impl IntoView {
    let params = RwSignal::new(Params::default());
    let seed = RwSignal::new(DEFAULT_SEED);
    let restarts = RwSignal::new(0u64);
    let playing = RwSignal::new(true);
    let speed = RwSignal::new(DEFAULT_SPEED_US_PER_S);
    let sim = RwSignal::new(Sim::new(Params::default(), DEFAULT_SEED));
    let baseline = RwSignal::new(Sim::with_grouping(
        Params::default(),
        DEFAULT_SEED,
        Grouping::PerCommit,
    ));
    let mode = RwSignal::new(Mode::Simulation);
    // Arrow keys, Home and End move between the tabs and focus the one they select.
    let on_tab_key = move |ev: leptos::ev::KeyboardEvent| {
        if let Some(next) = mode.get_untracked().after_key(&ev.key()) {
            ev.prevent_default();
            mode.set(next);
            if let Some(tab) = document()
                .get_element_by_id(next.tab_id())
                .and_then(|tab| tab.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = tab.focus();
            }
        }
    };

    // Any change to the knobs, the seed or a restart request starts a new simulation, and its
    // baseline beside it. The first run of the effect rebuilds the same initial ones, which is
    // harmless.
    Effect::new(move |_| {
        restarts.track();
        let (params, seed) = (params.get(), seed.get());
        sim.set(Sim::new(params, seed));
        baseline.set(Sim::with_grouping(params, seed, Grouping::PerCommit));
    });

    // The clock: each display frame advances the simulation by the real time since the last
    // frame at the chosen speed. It reads the signals without tracking: it runs outside any
    // reactive scope.
    let playback = Cell::new(Playback::default());
    on_every_frame(move |now_ms| {
        let mut state = playback.get();
        if !playing.get_untracked() || mode.get_untracked() != Mode::Simulation {
            state.pause();
            playback.set(state);
            return;
        }
        let us = state.frame(now_ms, speed.get_untracked());
        playback.set(state);
        if us > 0 {
            sim.update(|sim| {
                sim.advance(us);
            });
            baseline.update(|baseline| {
                baseline.advance(us);
            });
        }
    });

    let buckets = Memo::new(move |_| {
        sim.with(|s| {
            s.timeline()
                .completed(s.now_us())
                .copied()
                .collect::<Vec<Bucket>>()
        })
    });
    let bucket_us = Memo::new(move |_| sim.with(|s| s.timeline().bucket_us()));
    let latencies =
        Memo::new(move |_| sim.with(|s| s.latencies_us().iter().copied().collect::<Vec<u64>>()));

    view! {
        <main class="wd" data-testid="walden-dashboard">
            <header class="wd-header">
                <div>
                    <h1>"Walden: group commit, step by step"</h1>
                    <p class="muted wd-subtitle">
                        {move || match mode.get() {
                            Mode::Simulation => "A simulated clock and disk driving walden-core's real group-commit state machine.",
                            Mode::Live => "A real write-ahead log in this browser's private file system, through walden-wasm.",
                        }}
                    </p>
                </div>
                <div class="wd-tabs" role="tablist" aria-label="Mode" on:keydown=on_tab_key>
                    {Mode::ALL
                        .into_iter()
                        .map(|this| {
                            view! {
                                <button
                                    type="button"
                                    role="tab"
                                    class="wd-tab"
                                    id=this.tab_id()
                                    aria-controls=this.panel_id()
                                    aria-selected=move || (mode.get() == this).to_string()
                                    tabindex=move || if mode.get() == this { "0" } else { "-1" }
                                    data-testid=this.tab_id()
                                    on:click=move |_| mode.set(this)
                                >
                                    {this.name()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
                <p class="muted wd-status" aria-live="polite" hidden=move || mode.get() != Mode::Simulation>
                    {move || {
                        let state = if playing.get() { "Playing" } else { "Paused" };
                        format!("{state} · seed {}", sim.with(Sim::seed))
                    }}
                </p>
            </header>
            <div
                hidden=move || mode.get() != Mode::Live
                role="tabpanel"
                id=Mode::Live.panel_id()
                aria-labelledby=Mode::Live.tab_id()
            >
                <LiveMode />
            </div>
            <div
                class="wd-layout"
                hidden=move || mode.get() != Mode::Simulation
                role="tabpanel"
                id=Mode::Simulation.panel_id()
                aria-labelledby=Mode::Simulation.tab_id()
            >
                <div class="wd-side">
                    <Controls params seed restarts playing speed sim />
                    <Explanation />
                </div>
                <div class="wd-main">
                    <Counters sim />
                    <GroupingComparison grouped=sim baseline />
                    <LsnBar sim />
                    <FsyncInFlight sim />
                    <Lanes sim />
                    <RateCharts buckets bucket_us slots=TIMELINE_BUCKETS - 1 simulated=true scope="sim" />
                    <div class="wd-pair">
                        <LatencyHistogram samples=latencies scope="sim" />
                        <FsyncChart sim />
                    </div>
                    <EventLog sim />
                </div>
            </div>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_keys_wrap_and_jump_to_the_ends() {
        assert_eq!(Mode::Simulation.after_key("ArrowRight"), Some(Mode::Live));
        assert_eq!(Mode::Live.after_key("ArrowRight"), Some(Mode::Simulation));
        assert_eq!(Mode::Simulation.after_key("ArrowLeft"), Some(Mode::Live));
        assert_eq!(Mode::Live.after_key("Home"), Some(Mode::Simulation));
        assert_eq!(Mode::Simulation.after_key("End"), Some(Mode::Live));
        assert_eq!(Mode::Simulation.after_key("Enter"), None);
    }
}
