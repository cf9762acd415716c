//! The recent-events list: the core's own [`walden_core::Event`]s, newest first, in plain
//! words, with the simulated time each happened. Runs of "waits" and "acknowledged" arrive
//! folded into one line each (see [`crate::sim::LogEntry::folded`]).

use leptos::prelude::*;

use crate::format;
use crate::sim::{LogEntry, Sim};

/// The list.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn EventLog(
    /// The simulation to read.
    sim: RwSignal<Sim>,
) -> impl IntoView {
    let entries = move || sim.with(|s| s.log().iter().rev().copied().collect::<Vec<LogEntry>>());
    view! {
        <section class="wd-events" aria-labelledby="wd-events-title">
            <h2 id="wd-events-title">"Recent events from the core"</h2>
            <ol class="wd-event-list" reversed>
                <For
                    each=entries
                    key=|entry| (entry.seq, entry.folded)
                    children=move |entry| {
                        view! {
                            <li>
                                <span class="wd-event-time">{format::duration_us(entry.at_us)}</span>
                                <span class="wd-event-text">{format::log_entry(&entry)}</span>
                            </li>
                        }
                    }
                />
            </ol>
        </section>
    }
}
