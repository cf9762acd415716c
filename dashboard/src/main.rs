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
//! | records per fsync | `fsync_chart` |
//! | the core's events | `event_log` |
//! | plain-words explanation | `explain` |

mod app;
mod controls;
mod counters;
mod event_log;
mod explain;
mod format;
mod fsync_chart;
mod lanes;
mod lsn_bar;
mod prng;
mod sim;
mod slider;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
