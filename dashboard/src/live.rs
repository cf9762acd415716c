//! Live mode: N page-side writers committing real records to an OPFS log through walden-wasm,
//! drawn with the same kinds of views as the simulation from the worker's real events; a record
//! browser; "Crash" (the worker ends itself in the middle of a batch) and "Reopen" (recovery,
//! and what it found). The session's phases:
//!
//! `Closed -> Opening -> Open <-> Running`, `Open | Running -> [Tearing ->] Crashed -> Opening`,
//! and any step can end in `Failed`. Writers stop after their current commit when asked; on a
//! crash they are not stopped but keep committing until the worker dies under them, so it dies
//! mid-batch and their last commits are never answered. Updates from writers and events are
//! queued and applied to the model once per display frame, so thousands of commits a second
//! cost one render a frame. The Recovery panel is `recovery_panel.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use walden_core::Lsn;
use walden_wasm::WaldenLog;

use crate::frame_loop::{now_ms, on_every_frame};
use crate::latency_histogram::LatencyHistogram;
use crate::live_log::{self, Opened};
use crate::live_model::{LiveEvent, LiveModel, LIVE_BUCKET_US, LIVE_TIMELINE_BUCKETS};
use crate::live_views::{LiveCounters, LiveFlush, LiveFlushChart, LiveLanes, LiveLsnBar};
use crate::rate_charts::RateCharts;
use crate::record_browser::{RecordBrowser, RecordRow};
use crate::recovery_panel::{CrashReport, RecoveryPanel};
use crate::slider::ChoiceSlider;
use crate::timeline::Bucket;
use crate::{format, sim::WRITERS_MAX};

/// Writer counts offered.
static WRITER_CHOICES: [u64; 8] = [1, 2, 4, 8, 16, 32, 48, 64];
/// Record payload sizes offered, in bytes.
static RECORD_CHOICES: [u64; 7] = [16, 64, 256, 1024, 4096, 16384, 65536];
/// Pauses between a writer's acknowledgement and its next commit, in milliseconds.
static THINK_CHOICES: [u64; 6] = [0, 1, 5, 20, 100, 500];
/// The most records the browser lists (the newest).
const BROWSER_ROWS_MAX: usize = 200;
/// A bound on the reads one "Read records" makes (each returns at most about 4 MiB): 4 GiB.
const READ_PAGES_MAX: usize = 1_024;

/// Where the session is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No log open.
    Closed,
    /// Opening (and recovering) the log.
    Opening,
    /// Open, writers idle.
    Open,
    /// Writers committing.
    Running,
    /// The worker was crashed; its last write is being torn.
    Tearing,
    /// The worker was crashed; reopen to see what survived.
    Crashed,
    /// Something failed; the message says what.
    Failed(String),
}

impl Phase {
    fn text(&self) -> String {
        match self {
            Phase::Closed => "No log open.".to_owned(),
            Phase::Opening => format!(
                "Opening {} (recovering it if it exists)…",
                live_log::LOG_NAME
            ),
            Phase::Open => format!("{} is open; writers are idle.", live_log::LOG_NAME),
            Phase::Running => "Writers are committing.".to_owned(),
            Phase::Tearing => "The worker crashed mid-batch; tearing its last write…".to_owned(),
            Phase::Crashed => {
                "The worker crashed mid-batch. Reopen to see what recovery keeps.".to_owned()
            }
            Phase::Failed(message) => format!("Failed: {message}"),
        }
    }
}

/// An update to the model, queued until the next frame.
#[derive(Clone, Copy, Debug)]
enum Change {
    Issued(usize),
    Acknowledged(usize),
    Abandoned(usize),
    Event(LiveEvent),
}

fn now_us() -> u64 {
    (now_ms() * 1_000.0).max(0.0) as u64
}

/// The live-mode page.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn LiveMode() -> impl IntoView {
    let writers = RwSignal::new(16u64);
    let record_bytes = RwSignal::new(256u64);
    let think_ms = RwSignal::new(0u64);
    let phase = RwSignal::new(Phase::Closed);
    let model = RwSignal::new(LiveModel::new(0, 0, 0, now_us()));
    let opened = RwSignal::new(None::<Opened>);
    let crash = RwSignal::new(None::<CrashReport>);
    let records = RwSignal::new(None::<(usize, u64, Vec<RecordRow>)>);
    let tear_on_crash = RwSignal::new(true);
    // Commits sent and answered in this page session, and where the last answered record ends,
    // updated by the writers as answers arrive (not once per frame): a crash report needs them
    // exact.
    let issued = StoredValue::new(0u64);
    let answered = StoredValue::new(0u64);
    let acknowledged_end = StoredValue::new(0u64);
    // The open log, and logs whose worker was crashed (kept, never closed: closing would send
    // the dead worker a message that could only confuse it, and a crash closes nothing).
    let log = StoredValue::new_local(None::<Rc<WaldenLog>>);
    let crashed_logs = StoredValue::new_local(Vec::<Rc<WaldenLog>>::new());
    // Bumped to stop every writer of the current run.
    let generation = StoredValue::new(0u64);
    // Bumped whenever the model is replaced (open, start): changes queued for an older model
    // (a stopped run's last answers arriving after a new start) are dropped, not misapplied.
    let epoch = StoredValue::new(0u64);
    let queue: Rc<RefCell<Vec<(Change, u64, u64)>>> = Rc::new(RefCell::new(Vec::new()));
    let push = {
        let queue = Rc::clone(&queue);
        move |update: Change, from_epoch: u64| {
            queue.borrow_mut().push((update, now_us(), from_epoch))
        }
    };

    {
        let queue = Rc::clone(&queue);
        on_every_frame(move |_| {
            let batch = std::mem::take(&mut *queue.borrow_mut());
            // Idle (nothing reported, no writers): nothing to redraw.
            if batch.is_empty() && !phase.with_untracked(|p| *p == Phase::Running) {
                return;
            }
            let now = now_us();
            let current_epoch = epoch.get_value();
            model.update(|model| {
                for (update, at, _) in batch.into_iter().filter(|c| c.2 == current_epoch) {
                    match update {
                        Change::Issued(index) => model.commit_issued(index, at),
                        Change::Acknowledged(index) => model.commit_acknowledged(index, at),
                        Change::Abandoned(index) => model.commit_abandoned(index, at),
                        Change::Event(event) => model.apply(event, at),
                    }
                }
                model.tick(now);
            });
        });
    }

    let do_open = {
        let push = push.clone();
        move || {
            phase.set(Phase::Opening);
            // Writers of a crashed worker wait forever for answers; should one ever come, they
            // stop rather than write to a log that is gone.
            generation.update_value(|run| *run += 1);
            let push = push.clone();
            spawn_local(async move {
                let opened_log = match live_log::open().await {
                    Ok(opened_log) => Rc::new(opened_log),
                    Err(message) => {
                        phase.set(Phase::Failed(message));
                        return;
                    }
                };
                let found = match live_log::opened(&opened_log).await {
                    Ok(found) => found,
                    Err(message) => {
                        phase.set(Phase::Failed(message));
                        return;
                    }
                };
                let events = push.clone();
                opened_log.on_event_fn(move |event| {
                    if let Some(event) = live_log::parse_event(&event) {
                        events(Change::Event(event), epoch.get_value());
                    }
                });
                log.set_value(Some(opened_log));
                opened.set(Some(found));
                crash.update(|report| {
                    if let Some(report) = report.as_mut().filter(|r| r.reopened.is_none()) {
                        report.acknowledged = answered.get_value();
                        report.acknowledged_end = acknowledged_end.get_value();
                        report.unanswered = issued.get_value() - answered.get_value();
                        report.reopened = Some(found);
                    }
                });
                // Reopening starts afresh: what was not answered never will be.
                issued.set_value(answered.get_value());
                acknowledged_end.update_value(|end| *end = (*end).max(found.end));
                epoch.update_value(|e| *e += 1);
                model.set(LiveModel::new(
                    writers.get_untracked() as usize,
                    found.end,
                    found.durable,
                    now_us(),
                ));
                phase.set(Phase::Open);
            });
        }
    };

    let start = {
        let push = push.clone();
        move || {
            let Some(current) = log.get_value() else {
                return;
            };
            let count = (writers.get_untracked() as usize).clamp(1, WRITERS_MAX);
            let size = record_bytes.get_untracked() as usize;
            let pause_ms = think_ms.get_untracked() as i32;
            let run = generation.get_value() + 1;
            generation.set_value(run);
            let (end, _, durable) = model.with_untracked(LiveModel::watermarks);
            epoch.update_value(|e| *e += 1);
            let run_epoch = epoch.get_value();
            model.set(LiveModel::new(count, end, durable, now_us()));
            phase.set(Phase::Running);
            for index in 0..count {
                let push = push.clone();
                let current = Rc::clone(&current);
                spawn_local(async move {
                    let mut seq = 0u64;
                    while generation.get_value() == run {
                        let bytes = live_log::payload(index, seq, size);
                        push(Change::Issued(index), run_epoch);
                        issued.update_value(|n| *n += 1);
                        let result = current.commit_record(&bytes).await;
                        answered.update_value(|n| *n += 1);
                        if let Ok(lsn) = result {
                            let end = live_log::record_end(lsn, bytes.len());
                            acknowledged_end.update_value(|last| *last = (*last).max(end));
                        }
                        if generation.get_value() != run {
                            // Stopped, or crashed while the commit was out and the worker still
                            // answered it before it died: either way it is acknowledged.
                            if result.is_ok() {
                                push(Change::Acknowledged(index), run_epoch);
                            }
                            break;
                        }
                        match result {
                            Ok(_) => push(Change::Acknowledged(index), run_epoch),
                            Err(error) => {
                                push(Change::Abandoned(index), run_epoch);
                                phase.set(Phase::Failed(format!("{}: {error}", error.kind())));
                                generation.set_value(run + 1);
                                break;
                            }
                        }
                        seq += 1;
                        if pause_ms > 0 {
                            live_log::sleep_ms(pause_ms).await;
                        }
                    }
                });
            }
        }
    };

    let stop = move || {
        generation.update_value(|run| *run += 1);
        phase.set(Phase::Open);
    };

    // The writers are not stopped: they keep committing until the worker dies under them, so
    // it dies in the middle of a batch, and their last commits are never answered.
    let do_crash = {
        move || {
            if let Err(message) = live_log::crash_worker() {
                phase.set(Phase::Failed(message));
                return;
            }
            if let Some(dead) = log.try_update_value(Option::take).flatten() {
                crashed_logs.update_value(|logs| logs.push(dead));
            }
            crash.set(Some(CrashReport::default()));
            records.set(None);
            if !tear_on_crash.get_untracked() {
                phase.set(Phase::Crashed);
                return;
            }
            phase.set(Phase::Tearing);
            let size = record_bytes.get_untracked() as usize;
            spawn_local(async move {
                match live_log::tear_tail(size).await {
                    Ok(tear) => {
                        crash.update(|report| {
                            if let Some(report) = report.as_mut() {
                                report.tear = Some(tear);
                            }
                        });
                        phase.set(Phase::Crashed);
                    }
                    Err(message) => {
                        phase.set(Phase::Failed(format!("tearing the last write: {message}")))
                    }
                }
            });
        }
    };

    // Reads every durable record, page by page (each read returns at most about 4 MiB), keeping
    // the count, the payload bytes and the newest rows.
    let read = move || {
        let Some(current) = log.get_value() else {
            return;
        };
        let base = opened.get_untracked().map_or(0, |o| o.base);
        spawn_local(async move {
            let mut from = base;
            let mut total = 0usize;
            let mut bytes = 0u64;
            let mut newest = std::collections::VecDeque::with_capacity(BROWSER_ROWS_MAX);
            for _ in 0..READ_PAGES_MAX {
                let (page, next) = match current.read_records_page(Lsn::new(from)).await {
                    Ok(page) => page,
                    Err(error) => {
                        phase.set(Phase::Failed(format!("{}: {error}", error.kind())));
                        return;
                    }
                };
                if page.is_empty() {
                    break;
                }
                let next = next.get();
                total += page.len();
                for (lsn, payload) in &page {
                    bytes += payload.len() as u64;
                    if newest.len() == BROWSER_ROWS_MAX {
                        newest.pop_front();
                    }
                    newest.push_back(RecordRow::new(*lsn, payload));
                }
                if next <= from {
                    break;
                }
                from = next;
            }
            records.set(Some((total, bytes, newest.into_iter().rev().collect())));
        });
    };

    let buckets = Memo::new(move |_| {
        model.with(|m| {
            m.timeline()
                .completed(m.now_us())
                .copied()
                .collect::<Vec<Bucket>>()
        })
    });
    let latencies =
        Memo::new(move |_| model.with(|m| m.latencies_us().iter().copied().collect::<Vec<u64>>()));
    let is = move |want: fn(&Phase) -> bool| move || phase.with(want);
    let can_open = is(|p| matches!(p, Phase::Closed | Phase::Crashed | Phase::Failed(_)));
    let is_open = is(|p| matches!(p, Phase::Open));
    let is_running = is(|p| matches!(p, Phase::Running));
    let has_log = is(|p| matches!(p, Phase::Open | Phase::Running));
    let knob = |signal: RwSignal<u64>| {
        (
            Signal::derive(move || signal.get()),
            Callback::new(move |value: u64| signal.set(value)),
        )
    };
    let (writers_value, set_writers) = knob(writers);
    let (record_value, set_record) = knob(record_bytes);
    let (think_value, set_think) = knob(think_ms);

    view! {
        <div class="wd-layout">
            <div class="wd-side">
                <section class="wd-controls" aria-labelledby="wd-live-controls-title">
                    <h2 id="wd-live-controls-title">"Live log"</h2>
                    <div class="wd-transport wd-live-buttons" role="group" aria-label="Live log">
                        <button type="button" on:click={
                            let do_open = do_open.clone();
                            move |_| do_open()
                        } disabled=move || !can_open() data-testid="live-open">
                            {move || if crash.with(|c| c.is_some_and(|c| c.reopened.is_none())) { "Reopen" } else { "Open" }}
                        </button>
                        <button type="button" on:click={
                            let start = start.clone();
                            move |_| start()
                        } disabled=move || !is_open() data-testid="live-start">
                            "Start writers"
                        </button>
                        <button type="button" class="secondary" on:click=move |_| stop() disabled=move || !is_running() data-testid="live-stop">
                            "Stop"
                        </button>
                        <button type="button" class="danger" on:click=move |_| do_crash() disabled=move || !has_log() data-testid="live-crash"
                            title="End the log's worker at once, in the middle of its batch">
                            "Crash"
                        </button>
                    </div>
                    <label class="wd-check">
                        <input
                            type="checkbox"
                            prop:checked=move || tear_on_crash.get()
                            on:change=move |ev| tear_on_crash.set(event_target_checked(&ev))
                        />
                        "Crash also tears the last write (only its first half reaches the file, as a power loss can leave it)"
                    </label>
                    <p class="wd-live-phase" aria-live="polite" data-testid="live-phase">{move || phase.with(Phase::text)}</p>
                    <ChoiceSlider id="wd-live-writers" label="Writers" hint="Page-side writers; each commits a record, waits until it is durable, and repeats. Applies at the next start." choices=&WRITER_CHOICES format=|v| v.to_string() value=writers_value on_pick=set_writers />
                    <ChoiceSlider id="wd-live-record" label="Record size" hint="Payload per record: the writer's name and sequence number, padded." choices=&RECORD_CHOICES format=format::bytes value=record_value on_pick=set_record />
                    <ChoiceSlider id="wd-live-think" label="Pause between commits" hint="How long a writer waits after its acknowledgement." choices=&THINK_CHOICES format=|v| format!("{v} ms") value=think_value on_pick=set_think />
                </section>
                <section class="wd-explain" aria-labelledby="wd-live-explain-title">
                    <h2 id="wd-live-explain-title">"What is real here"</h2>
                    <p>
                        "Everything: the log is a file in this browser's Origin Private File System, served by walden-wasm in a dedicated worker. A commit resolves only after the worker's "
                        <code>"flush()"</code>
                        " covered it. Commits that arrive while a flush runs form the next group: the worker's event loop is the group-commit window."
                    </p>
                    <p>
                        "Crash ends the worker at once, between two of its tasks: commits it appended but had not flushed are abandoned and never answered. Reopen runs recovery: every acknowledged record must still be there; a torn final record would be cut off (the count of truncated bytes says so)."
                    </p>
                    <p class="muted">"The records stay across page reloads: open the log again to find them."</p>
                </section>
            </div>
            <div class="wd-main">
                <RecoveryPanel opened crash />
                <LiveCounters model />
                <LiveLsnBar model />
                <LiveFlush model />
                <LiveLanes model />
                <RateCharts buckets bucket_us=Signal::derive(move || LIVE_BUCKET_US) slots=LIVE_TIMELINE_BUCKETS - 1 simulated=false scope="live" />
                <div class="wd-pair">
                    <LatencyHistogram samples=latencies scope="live" />
                    <LiveFlushChart model />
                </div>
                <RecordBrowser records on_read=Callback::new(move |_: ()| read()) enabled=Signal::derive(has_log) />
            </div>
        </div>
    }
}
