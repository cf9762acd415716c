//! The Walden dashboard: watch group commit happen, driven by walden-core's real state machine
//! with a simulated clock and disk (simulation mode), or by a real OPFS log through walden-wasm
//! (live mode). A Leptos client-side app; `trunk` builds it from `dashboard/index.html`.
//!
//! | concept | module |
//! |---|---|
//! | the simulation (pure, no web APIs) | `sim`, `prng` |
//! | how numbers and events read | `format` |
//! | root component, clock, layout | `app` |
//! | knobs and transport | `controls`, `slider` |
//! | counters | `counters` |
//! | group commit beside each commit its own fsync | `comparison`, `comparison_view` |
//! | durable / written / current positions | `lsn_bar` |
//! | one lane per writer | `lanes` |
//! | the fsync in flight and the commits it carries | `fsync_flight` |
//! | records per fsync, fsync by fsync | `fsync_chart` |
//! | commits/s, fsyncs/s, records per fsync over time | `rate_charts`, `timeline`, `plot` |
//! | commit latency histogram | `latency_histogram`, `histogram` |
//! | the animation clock | `frame_loop`, `playback` |
//! | live mode: session, writers, crash and reopen | `live` |
//! | live mode: the real log (open, events, payloads, crash signal) | `live_log`, `live-worker.js` |
//! | live mode: what the views draw, from real events | `live_model`, `live_views` |
//! | live mode: the durable records | `record_browser` |
//! | live mode: what recovery found after a crash | `recovery_panel` |
//! | the core's events | `event_log` |
//! | plain-words explanation | `explain` |

mod app;
#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
mod comparison;
mod comparison_view;
mod controls;
mod counters;
mod event_log;
mod explain;
mod format;
mod frame_loop;
mod fsync_chart;
mod fsync_flight;
mod histogram;
mod lanes;
mod latency_histogram;
mod live;
mod live_log;
mod live_model;
mod live_views;
mod lsn_bar;
mod playback;
mod plot;
mod prng;
mod rate_charts;
mod record_browser;
mod recovery_panel;
mod sim;
mod slider;
mod timeline;

fn main() {
    console_error_panic_hook::set_once();
    // Live mode's worker (dashboard/live-worker.js) runs this same wasm to serve the OPFS log;
    // there is no page to mount in a worker.
    if web_sys::window().is_none() {
        return;
    }
    leptos::mount::mount_to_body(app::App);
}
