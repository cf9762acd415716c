//! The counters strip: simulated time, fsyncs, commits, records per fsync, the reserved LSN and
//! the three watermarks, the buffer's fill and commit latency. Every figure is read from the simulation as
//! it stands; nothing is smoothed or estimated.

use leptos::prelude::*;

use crate::format;
use crate::sim::Sim;

/// One labelled figure.
#[component]
fn Counter(
    /// What the figure is.
    label: &'static str,
    /// The figure, formatted.
    #[prop(into)]
    value: Signal<String>,
    /// A `data-testid` for tests that read it.
    #[prop(optional)]
    testid: Option<&'static str>,
    /// Extra class for the value (colour).
    #[prop(optional)]
    tone: &'static str,
    /// The figure as a plain number, in a `data-value` attribute for tests to read.
    #[prop(optional, into)]
    raw: Option<Signal<String>>,
) -> impl IntoView {
    view! {
        <div class="wd-counter">
            <dt>{label}</dt>
            <dd
                class=format!("wd-counter-value {tone}")
                data-testid=testid
                data-value=move || raw.map(|raw| raw.get())
            >
                {value}
            </dd>
        </div>
    }
}

/// The strip of counters.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn Counters(
    /// The simulation to read.
    sim: RwSignal<Sim>,
) -> impl IntoView {
    let read = move |f: fn(&Sim) -> String| Signal::derive(move || sim.with(f));
    view! {
        <section class="wd-counters" aria-label="Counters">
            <dl class="wd-counter-grid">
                <Counter
                    label="Durable LSN"
                    value=read(|s| format::grouped(s.watermarks().durable().get()))
                    testid="durable-lsn"
                    raw=read(|s| s.watermarks().durable().get().to_string())
                    tone="wd-tone-durable"
                />
                <Counter
                    label="Written LSN"
                    value=read(|s| format::grouped(s.watermarks().written().get()))
                    tone="wd-tone-written"
                />
                <Counter
                    label="Current LSN"
                    value=read(|s| format::grouped(s.watermarks().current().get()))
                    tone="wd-tone-current"
                />
                <Counter
                    label="Reserved LSN"
                    value=read(|s| format::grouped(s.reserved().get()))
                    tone="wd-tone-reserved"
                />
                <Counter
                    label="Fsyncs"
                    value=read(|s| format::grouped(s.fsyncs()))
                    testid="fsyncs"
                    raw=read(|s| s.fsyncs().to_string())
                />
                <Counter
                    label="Commits acknowledged"
                    value=read(|s| format::grouped(s.commits()))
                    testid="commits"
                    raw=read(|s| s.commits().to_string())
                />
                <Counter
                    label="Commits waiting"
                    value=read(|s| s.waiting().to_string())
                />
                <Counter
                    label="Records per fsync"
                    value=read(|s| {
                        match (s.records_per_fsync(), s.fsync_history().back()) {
                            (Some(mean), Some(last)) => {
                                format!("{mean:.1} (last {})", last.records)
                            }
                            _ => "no fsync yet".to_owned(),
                        }
                    })
                    testid="records-per-fsync"
                    raw=read(|s| s.records_per_fsync().map_or_else(String::new, |mean| mean.to_string()))
                />
                <Counter
                    label="Records durable / appended"
                    value=read(|s| {
                        format!(
                            "{} / {}",
                            format::grouped(s.records_durable()),
                            format::grouped(s.records_appended()),
                        )
                    })
                />
                <Counter
                    label="Commit latency p50 / p99"
                    value=read(|s| {
                        match (s.latency_quantile_us(0.5), s.latency_quantile_us(0.99)) {
                            (Some(p50), Some(p99)) => {
                                format!(
                                    "{} / {}",
                                    format::duration_us(p50),
                                    format::duration_us(p99),
                                )
                            }
                            _ => "none yet".to_owned(),
                        }
                    })
                />
                <Counter label="Simulated time" value=read(|s| format::duration_us(s.now_us())) />
                <Counter
                    label="Buffer-full drains"
                    value=read(|s| format::grouped(s.buffer_full_drains()))
                />
            </dl>
        </section>
    }
}
