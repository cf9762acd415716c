//! The root component: the two modes (simulation, live) as tabs, the simulation and its knobs,
//! its clock (once per display frame while playing and shown), and the simulation's layout.
//! Both modes stay mounted; the hidden one is only hidden, so a live log keeps its writers and
//! a simulation its state while the other is viewed.

use std::cell::Cell;

use leptos::prelude::*;

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
use crate::sim::{Params, Sim, TIMELINE_BUCKETS};
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
    let mode = RwSignal::new(Mode::Simulation);

    // Any change to the knobs, the seed or a restart request starts a new simulation. The first
    // run of the effect rebuilds the same initial one, which is harmless.
    Effect::new(move |_| {
        restarts.track();
        let fresh = Sim::new(params.get(), seed.get());
        sim.set(fresh);
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
                <div class="wd-tabs" role="tablist" aria-label="Mode">
                    {[(Mode::Simulation, "Simulation", "tab-simulation"), (Mode::Live, "Live (OPFS)", "tab-live")]
                        .into_iter()
                        .map(|(this, name, testid)| {
                            view! {
                                <button
                                    type="button"
                                    role="tab"
                                    class="wd-tab"
                                    aria-selected=move || (mode.get() == this).to_string()
                                    data-testid=testid
                                    on:click=move |_| mode.set(this)
                                >
                                    {name}
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
            <div hidden=move || mode.get() != Mode::Live role="tabpanel" aria-label="Live (OPFS)">
                <LiveMode />
            </div>
            <div class="wd-layout" hidden=move || mode.get() != Mode::Simulation role="tabpanel" aria-label="Simulation">
                <div class="wd-side">
                    <Controls params seed restarts playing speed sim />
                    <Explanation />
                </div>
                <div class="wd-main">
                    <Counters sim />
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
