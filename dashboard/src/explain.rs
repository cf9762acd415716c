//! The explanation panel: what the simulation's pictures mean, in plain words (buffer,
//! reservation, drain, leader, fsync, commit delay, durable watermark), and how it is made.

use leptos::prelude::*;

/// The panel. Static text.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn Explanation() -> impl IntoView {
    view! {
        <section class="wd-explain" aria-labelledby="wd-explain-title">
            <h2 id="wd-explain-title">"What you are watching"</h2>
            <dl>
                <dt>"Append and the buffer"</dt>
                <dd>
                    "A writer first reserves its record's LSN range (its byte position in the log), then copies the record into a user-space buffer. Records join the buffer in LSN order, so the appended (current) LSN trails the reserved one while copies are under way. Nothing in the buffer survives a crash."
                </dd>
                <dt>"Drain"</dt>
                <dd>
                    "Draining hands the buffer's bytes to the kernel: the written LSN catches up with the current LSN. They survive the program crashing, but not a power loss."
                </dd>
                <dt>"Leader"</dt>
                <dd>
                    "A writer that commits when no fsync is in flight becomes the leader: it drains the buffer and fsyncs for everyone. Before draining it gathers, as the native leader does: it yields (a microsecond here) while other writers keep starting appends, at most 64 times, so appends already under way join its fsync; it never waits for appends that are not happening. Writers that commit meanwhile wait. When the fsync ends, the waiters it covered are acknowledged, and the first one it did not cover is elected to lead the next fsync."
                </dd>
                <dt>"Fsync"</dt>
                <dd>
                    "The slow part: the disk makes the written bytes durable. One fsync costs about the same whether it carries one record or sixty, which is why group commit pays off."
                </dd>
                <dt>"Commit delay"</dt>
                <dd>
                    "With no delay, the leader elected as an fsync ends starts the next one at once, nearly alone: the writers just acknowledged are still preparing their next record. The records-per-fsync bars then alternate between small and full. A delay a little longer than the think time lets them join, and can cut latency too."
                </dd>
                <dt>"Each commit its own fsync"</dt>
                <dd>
                    "Beside the run, the same writers, seed and disk run without grouping: every commit leads its own fsync, so commits queue for the disk one at a time. The ratio of the two runs' commits per second is what group commit buys."
                </dd>
                <dt>"Durable watermark"</dt>
                <dd>
                    "The durable LSN: everything before it survives a power loss. It only moves forward, only after a successful fsync, and never past the written LSN."
                </dd>
            </dl>
            <h3>"How this is made"</h3>
            <p>
                "Every decision (who leads, who waits, who is acknowledged, what is durable, how long a leader gathers) comes from walden-core: its "
                <code>"Pipeline"</code>
                " (the group-commit state machine and the durable LSN, which only a started sync's ticket can publish), its "
                <code>"Gather"</code>
                " policy and its "
                <code>"Watermarks"</code>
                ", the same code the browser log drives. Only the clock and the disk are simulated: appends cost 1 µs plus 1 µs per KiB, a drain costs nothing, an fsync takes the set latency plus seeded jitter, and no fsync fails."
            </p>
            <p class="muted">
                "Everything on this tab is simulated. The Live (OPFS) tab runs a real log in this browser's private file system."
            </p>
        </section>
    }
}
