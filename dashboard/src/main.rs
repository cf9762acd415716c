//! The Walden dashboard: watch group commit happen, driven by walden-core's real state machine
//! with a simulated clock and disk. A Leptos client-side app; `trunk` builds it from
//! `dashboard/index.html`.
//!
//! | concept | module |
//! |---|---|
//! | the simulation (pure, no web APIs) | `sim`, `prng` |
//! | how numbers and events read | `format` |
//! | root component, clock, layout | `app` |
//! | knobs and transport | `controls`, `slider` |
//! | counters | `counters` |
//! | durable / written / current positions | `lsn_bar` |
//! | one lane per writer | `lanes` |
//! | the fsync in flight and the commits it carries | `fsync_flight` |
//! | records per fsync, fsync by fsync | `fsync_chart` |
//! | commits/s, fsyncs/s, records per fsync over time | `rate_charts`, `timeline`, `plot` |
//! | commit latency histogram | `latency_histogram`, `histogram` |
//! | the animation clock | `frame_loop`, `playback` |
//! | the core's events | `event_log` |
//! | plain-words explanation | `explain` |

mod app;
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
mod lsn_bar;
mod playback;
mod plot;
mod prng;
mod rate_charts;
mod sim;
mod slider;
mod timeline;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
