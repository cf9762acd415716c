//! The fsync in flight: who leads it, the LSN range it will make durable, how far along it is,
//! and which writers' commits it carries (one chip per writer, the leader marked). When it ends,
//! exactly those writers are acknowledged; the simulation asserts so.

use leptos::prelude::*;

use crate::format;
use crate::sim::Sim;

/// The share of an fsync from `started_us` to `done_us` that has passed at `now_us`, 0.0..=1.0.
pub(crate) fn progress(started_us: u64, done_us: u64, now_us: u64) -> f64 {
    if done_us <= started_us {
        return 1.0;
    }
    (now_us.saturating_sub(started_us) as f64 / (done_us - started_us) as f64).clamp(0.0, 1.0)
}

/// The panel.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn FsyncInFlight(
    /// The simulation to read.
    sim: RwSignal<Sim>,
) -> impl IntoView {
    let headline = move || {
        sim.with(|s| match (s.sync_in_flight(), s.leader()) {
            (Some(sync), _) => format!(
                "{} leads an fsync from LSN {} to {}: {}, {}, done in {}.",
                format::writer(sync.leader),
                format::grouped(s.watermarks().durable().get()),
                format::grouped(sync.upto.get()),
                format::count(sync.records, "record"),
                format::count(sync.carries.len() as u64, "commit"),
                format::duration_us(sync.done_us.saturating_sub(s.now_us())),
            ),
            (None, Some((leader, _))) => format!(
                "{} leads and lets more commits join before draining: it waits out the commit \
                 delay, then gathers while appends are under way.",
                format::writer(leader)
            ),
            (None, None) => "No fsync in flight.".to_owned(),
        })
    };
    let share = move || {
        sim.with(|s| {
            s.sync_in_flight().map_or(0.0, |sync| {
                progress(sync.started_us, sync.done_us, s.now_us())
            })
        })
    };
    let carried = Memo::new(move |_| {
        sim.with(|s| {
            s.sync_in_flight()
                .map(|sync| (sync.leader, sync.carries.clone()))
        })
    });
    let chips = move || {
        carried.get().map(|(leader, carries)| {
            carries
                .into_iter()
                .map(|writer| {
                    let class = if writer == leader {
                        "wd-chip wd-chip-leader"
                    } else {
                        "wd-chip"
                    };
                    view! { <li class=class>{format::writer(writer)}</li> }
                })
                .collect_view()
        })
    };
    view! {
        <section class="wd-flight" aria-labelledby="wd-flight-title">
            <h2 id="wd-flight-title">"The fsync in flight"</h2>
            <p class="wd-sync-status" data-testid="fsync-in-flight">
                {headline}
            </p>
            <div class="wd-field">
                <label for="wd-flight-progress">"Progress"</label>
                <progress id="wd-flight-progress" max="1" value=share></progress>
            </div>
            <p class="muted wd-caption">
                "It carries the commits of (leader outlined; each is acknowledged when it ends):"
            </p>
            <ul class="wd-chips" aria-label="Commits the fsync in flight carries" data-testid="fsync-carries">
                {chips}
            </ul>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_a_share_of_the_fsync() {
        assert_eq!(progress(100, 200, 100), 0.0);
        assert_eq!(progress(100, 200, 150), 0.5);
        assert_eq!(progress(100, 200, 900), 1.0);
        assert_eq!(progress(100, 100, 100), 1.0);
        assert_eq!(progress(100, 200, 50), 0.0);
    }
}
