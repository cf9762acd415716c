//! The root component: owns the simulation and its knobs, runs the clock while playing, and lays
//! out the panels.

use std::time::Duration;

use leptos::prelude::*;

use crate::controls::Controls;
use crate::counters::Counters;
use crate::event_log::EventLog;
use crate::explain::Explanation;
use crate::fsync_chart::FsyncChart;
use crate::lanes::Lanes;
use crate::lsn_bar::LsnBar;
use crate::sim::{Params, Sim};

/// How often the clock ticks while playing, in real milliseconds (25 frames a second).
const TICK_MS: u64 = 40;
/// The seed a fresh page starts from.
const DEFAULT_SEED: u64 = 1;
/// The default playback speed: 1 ms of simulated time per real second, slow enough to follow
/// single fsyncs at the default latency.
const DEFAULT_SPEED_US_PER_S: u64 = 1_000;

/// The simulated microseconds one tick advances at `speed_us_per_s`; at least one, so the
/// slowest speed still moves.
pub(crate) fn tick_us(speed_us_per_s: u64) -> u64 {
    (speed_us_per_s * TICK_MS / 1_000).max(1)
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

    // Any change to the knobs, the seed or a restart request starts a new simulation. The first
    // run of the effect rebuilds the same initial one, which is harmless.
    Effect::new(move |_| {
        restarts.track();
        let fresh = Sim::new(params.get(), seed.get());
        sim.set(fresh);
    });

    // The clock. It only reads the signals it needs without tracking: it runs outside any
    // reactive scope.
    let tick = move || {
        if playing.get_untracked() {
            let us = tick_us(speed.get_untracked());
            sim.update(|sim| {
                sim.advance(us);
            });
        }
    };
    if let Ok(handle) = set_interval_with_handle(tick, Duration::from_millis(TICK_MS)) {
        on_cleanup(move || handle.clear());
    }

    view! {
        <main class="wd" data-testid="walden-dashboard">
            <header class="wd-header">
                <div>
                    <h1>"Walden: group commit, step by step"</h1>
                    <p class="muted wd-subtitle">
                        "A simulated clock and disk driving walden-core's real group-commit state machine."
                    </p>
                </div>
                <p class="muted wd-status" aria-live="polite">
                    {move || {
                        let state = if playing.get() { "Playing" } else { "Paused" };
                        format!("{state} · seed {}", sim.with(Sim::seed))
                    }}
                </p>
            </header>
            <div class="wd-layout">
                <div class="wd-side">
                    <Controls params seed restarts playing speed sim />
                    <Explanation />
                </div>
                <div class="wd-main">
                    <Counters sim />
                    <LsnBar sim />
                    <Lanes sim />
                    <div class="wd-pair">
                        <FsyncChart sim />
                        <EventLog sim />
                    </div>
                </div>
            </div>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_speed_moves_the_clock() {
        for &(speed, _) in &crate::controls::SPEEDS {
            assert!(tick_us(speed) >= 1);
        }
        assert_eq!(tick_us(1_000), 40);
    }
}
