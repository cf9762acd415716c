//! The control panel: the simulation's knobs (writers, record size, fsync latency and jitter,
//! buffer size, think time, commit delay, seed) and the transport (play/pause, single step,
//! restart, speed). Changing a knob restarts the simulation from its seed; the transport never
//! does.

use leptos::prelude::*;

use crate::format;
use crate::sim::{Params, Sim, WRITERS_MAX};
use crate::slider::ChoiceSlider;

/// Writer counts offered: every count from 1 to `WRITERS_MAX`.
static WRITER_CHOICES: [u64; WRITERS_MAX] = {
    let mut choices = [0; WRITERS_MAX];
    let mut index = 0;
    while index < WRITERS_MAX {
        choices[index] = index as u64 + 1;
        index += 1;
    }
    choices
};
/// Record payload sizes offered, in bytes.
static RECORD_CHOICES: [u64; 13] = [
    16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536,
];
/// Fsync latencies offered, in µs: from a fast NVMe drive to a slow network disk.
static LATENCY_CHOICES: [u64; 11] = [
    0, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000,
];
/// Jitter amounts offered, in µs.
static JITTER_CHOICES: [u64; 9] = [0, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000];
/// Buffer sizes offered, in bytes.
static BUFFER_CHOICES: [u64; 6] = [
    4 * 1024,
    16 * 1024,
    64 * 1024,
    256 * 1024,
    1024 * 1024,
    4 * 1024 * 1024,
];
/// Think times offered, in µs.
static THINK_CHOICES: [u64; 10] = [0, 10, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000];
/// Commit delays offered, in µs.
static DELAY_CHOICES: [u64; 8] = [0, 50, 100, 200, 500, 1_000, 2_000, 5_000];

/// Playback speeds offered: simulated microseconds per real second, and how they read.
pub(crate) static SPEEDS: [(u64, &str); 8] = [
    (100, "0.1 ms of simulated time per second"),
    (250, "0.25 ms per second"),
    (1_000, "1 ms per second"),
    (5_000, "5 ms per second"),
    (20_000, "20 ms per second"),
    (100_000, "100 ms per second"),
    (1_000_000, "1 s per second (real time)"),
    (5_000_000, "5 s per second"),
];

/// The whole panel. Every control has a visible label and works from the keyboard.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn Controls(
    /// The knobs; writing them restarts the simulation.
    params: RwSignal<Params>,
    /// The seed the simulation replays from; writing it restarts the simulation.
    seed: RwSignal<u64>,
    /// Bumped to restart with the same knobs and seed.
    restarts: RwSignal<u64>,
    /// Whether the clock runs.
    playing: RwSignal<bool>,
    /// Simulated microseconds per real second.
    speed: RwSignal<u64>,
    /// The simulation, for single steps.
    sim: RwSignal<Sim>,
) -> impl IntoView {
    let knob = move |get: fn(&Params) -> u64, set: fn(&mut Params, u64)| {
        (
            Signal::derive(move || params.with(get)),
            Callback::new(move |value: u64| params.update(|p| set(p, value))),
        )
    };
    let (writers, set_writers) = knob(|p| p.writers as u64, |p, v| p.writers = v as usize);
    let (record, set_record) = knob(
        |p| p.record_bytes as u64,
        |p, v| p.record_bytes = v as usize,
    );
    let (latency, set_latency) = knob(|p| p.fsync_latency_us, |p, v| p.fsync_latency_us = v);
    let (jitter, set_jitter) = knob(|p| p.fsync_jitter_us, |p, v| p.fsync_jitter_us = v);
    let (buffer, set_buffer) = knob(|p| p.buffer_bytes, |p, v| p.buffer_bytes = v);
    let (think, set_think) = knob(|p| p.think_us, |p, v| p.think_us = v);
    let (delay, set_delay) = knob(|p| p.commit_delay_us, |p, v| p.commit_delay_us = v);

    let toggle = move |_| playing.update(|on| *on = !*on);
    let step = move |_| {
        sim.update(|sim| {
            sim.step();
        })
    };
    let restart = move |_| restarts.update(|n| *n += 1);

    view! {
        <section class="wd-controls" aria-labelledby="wd-controls-title">
            <h2 id="wd-controls-title">"Controls"</h2>
            <div class="wd-transport" role="group" aria-label="Playback">
                <button
                    type="button"
                    on:click=toggle
                    aria-pressed=move || playing.get().to_string()
                    data-testid="play-pause"
                >
                    {move || if playing.get() { "Pause" } else { "Play" }}
                </button>
                <button
                    type="button"
                    class="secondary"
                    on:click=step
                    disabled=move || playing.get()
                    title="Advance to the next instant at which something happens"
                >
                    "Step"
                </button>
                <button
                    type="button"
                    class="secondary"
                    on:click=restart
                    title="Start again from LSN 0 with the same seed"
                >
                    "Restart"
                </button>
            </div>
            <div class="wd-field">
                <label for="wd-speed">"Speed"</label>
                <select
                    id="wd-speed"
                    on:change=move |ev| {
                        if let Ok(value) = event_target_value(&ev).parse::<u64>() {
                            speed.set(value);
                        }
                    }
                >
                    {SPEEDS
                        .iter()
                        .map(|&(value, text)| {
                            view! {
                                <option value=value.to_string() selected=move || speed.get() == value>
                                    {text}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
            <ChoiceSlider
                id="wd-writers"
                label="Writers"
                hint="Threads that each append a record, commit it, and wait."
                choices=&WRITER_CHOICES
                format=|v| v.to_string()
                value=writers
                on_pick=set_writers
            />
            <ChoiceSlider
                id="wd-record"
                label="Record size"
                hint="Payload per record; each frame adds an 8-byte header."
                choices=&RECORD_CHOICES
                format=format::bytes
                value=record
                on_pick=set_record
            />
            <ChoiceSlider
                id="wd-latency"
                label="Fsync latency"
                hint="How long the disk takes to make written bytes durable."
                choices=&LATENCY_CHOICES
                format=format::duration_us
                value=latency
                on_pick=set_latency
            />
            <ChoiceSlider
                id="wd-jitter"
                label="Fsync jitter"
                hint="Each fsync takes up to this much longer, drawn from the seed."
                choices=&JITTER_CHOICES
                format=format::duration_us
                value=jitter
                on_pick=set_jitter
            />
            <ChoiceSlider
                id="wd-buffer"
                label="Buffer size"
                hint="User-space buffer; an append that would overflow it drains it first."
                choices=&BUFFER_CHOICES
                format=format::bytes
                value=buffer
                on_pick=set_buffer
            />
            <ChoiceSlider
                id="wd-think"
                label="Think time"
                hint="Work a writer does between an acknowledgement and its next record."
                choices=&THINK_CHOICES
                format=format::duration_us
                value=think
                on_pick=set_think
            />
            <ChoiceSlider
                id="wd-delay"
                label="Commit delay"
                hint="A new leader waits this long before draining, so more commits join."
                choices=&DELAY_CHOICES
                format=format::duration_us
                value=delay
                on_pick=set_delay
            />
            <div class="wd-field">
                <label for="wd-seed">"Seed"</label>
                <input
                    id="wd-seed"
                    type="number"
                    min="0"
                    step="1"
                    inputmode="numeric"
                    prop:value=move || seed.get().to_string()
                    on:change=move |ev| {
                        if let Ok(value) = event_target_value(&ev).trim().parse::<u64>() {
                            seed.set(value);
                        }
                    }
                />
            </div>
            <p class="muted wd-note">
                "Changing a knob or the seed restarts the simulation; the same seed always replays the same run."
            </p>
        </section>
    }
}
