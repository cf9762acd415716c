//! Component tests in a real browser (wasm-bindgen-test, headless Chromium): each mounts one
//! view into a fresh element, feeds it data through its signals, and checks the DOM it draws,
//! including after the data changes. The pure logic under the views has native unit tests in
//! its own module; these check what only a DOM shows: that the views wire that logic to
//! elements, attributes and text, and follow their signals.
//!
//! Run by scripts/test (`cargo test -p walden-dashboard --target wasm32-unknown-unknown`, with
//! wasm-bindgen-test-runner and chromedriver).

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement};

use crate::comparison_view::GroupingComparison;
use crate::counters::Counters;
use crate::fsync_flight::FsyncInFlight;
use crate::lanes::Lanes;
use crate::latency_histogram::LatencyHistogram;
use crate::live_log::{payload, sleep_ms};
use crate::live_model::{LiveEvent, LiveModel};
use crate::live_views::LiveFlushChart;
use crate::rate_charts::RateCharts;
use crate::record_browser::{RecordBrowser, RecordRow};
use crate::sim::{Grouping, Params, Sim};
use crate::timeline::Bucket;

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts `view` into a new element appended to the body, and returns the element.
fn mount<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> Element {
    let document = document();
    let host = document
        .create_element("div")
        .expect("a div can be created");
    document
        .body()
        .expect("the test page has a body")
        .append_child(&host)
        .expect("the div can be attached");
    let handle = leptos::mount::mount_to(host.clone().unchecked_into::<HtmlElement>(), view);
    // The view lives as long as the test page.
    handle.forget();
    host
}

/// Lets effects run after a signal changed.
async fn settle() {
    sleep_ms(20).await;
}

fn find(host: &Element, selector: &str) -> Element {
    host.query_selector(selector)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no element matches {selector}"))
}

fn text(host: &Element, selector: &str) -> String {
    find(host, selector).text_content().unwrap_or_default()
}

fn attr(host: &Element, selector: &str, name: &str) -> Option<String> {
    find(host, selector).get_attribute(name)
}

#[wasm_bindgen_test]
async fn latency_histogram_draws_bins_and_quantiles_and_follows_its_samples() {
    let samples = RwSignal::new(vec![1_000u64, 1_100, 1_200, 2_500]);
    let host = mount(move || view! { <LatencyHistogram samples scope="t1" /> });
    let bars = attr(&host, ".wd-hist-bars", "d").unwrap_or_default();
    // 2 500 µs in at most 30 bins: 100 µs bins, so 1 000, 1 100, 1 200 and 2 500 are 4 bars.
    assert_eq!(bars.matches('M').count(), 4, "{bars}");
    assert_eq!(
        host.query_selector_all(".wd-q-line")
            .map(|l| l.length())
            .ok(),
        Some(2)
    );
    assert_eq!(
        text(&host, "p.muted"),
        "Median 1.2 ms, 99th percentile 2.5 ms, over the last 4 commits."
    );
    samples.set(Vec::new());
    settle().await;
    assert_eq!(text(&host, "p.muted"), "No commit acknowledged yet.");
    assert_eq!(attr(&host, ".wd-hist-bars", "d").unwrap_or_default(), "");
    assert_eq!(
        host.query_selector_all(".wd-q-line")
            .map(|l| l.length())
            .ok(),
        Some(0)
    );
}

#[wasm_bindgen_test]
async fn rate_charts_show_the_newest_bucket_and_skip_buckets_without_fsyncs() {
    let bucket = |commits, fsyncs, records| Bucket {
        start_us: 0,
        commits,
        fsyncs,
        records,
    };
    let buckets = RwSignal::new(vec![bucket(20, 2, 20), bucket(30, 3, 30)]);
    let host = mount(move || {
        view! { <RateCharts buckets bucket_us=Signal::derive(|| 10_000u64) slots=10 simulated=true scope="t2" /> }
    });
    let latest = |key: &str| text(&host, &format!("[data-testid=t2-rate-{key}]"));
    // 30 commits in 10 ms: 3 000 a second; 3 fsyncs: 300 a second; 10 records per fsync.
    assert_eq!(latest("commits-per-s"), "3000");
    assert_eq!(latest("fsyncs-per-s"), "300");
    assert_eq!(latest("records-per-fsync"), "10.0");
    let records_bars = attr(&host, ".wd-rate-records-per-fsync", "d").unwrap_or_default();
    assert_eq!(records_bars.matches('M').count(), 2);
    // A bucket without an fsync has no records-per-fsync bar and reads as a dash.
    buckets.update(|b| b.push(bucket(0, 0, 0)));
    settle().await;
    assert_eq!(latest("records-per-fsync"), "–");
    assert_eq!(latest("commits-per-s"), "0.0");
    let records_bars = attr(&host, ".wd-rate-records-per-fsync", "d").unwrap_or_default();
    assert_eq!(records_bars.matches('M').count(), 2);
    assert_eq!(text(&host, "figcaption span"), "Commits/s");
}

#[wasm_bindgen_test]
async fn the_comparison_shows_both_runs_and_follows_them() {
    let params = Params {
        writers: 64,
        ..Params::default()
    };
    let grouped = RwSignal::new(Sim::new(params, 5));
    let baseline = RwSignal::new(Sim::with_grouping(params, 5, Grouping::PerCommit));
    let host = mount(move || view! { <GroupingComparison grouped baseline /> });
    let value = |testid: &str| attr(&host, &format!("[data-testid={testid}]"), "data-value");
    // Nothing has run: no ratio yet, and it reads as a dash.
    assert_eq!(value("comparison-speedup").as_deref(), Some(""));
    assert_eq!(text(&host, "[data-testid=comparison-speedup]"), "–");
    grouped.update(|s| {
        s.advance(100_000);
    });
    baseline.update(|s| {
        s.advance(100_000);
    });
    settle().await;
    let number = |testid: &str| -> f64 {
        value(testid)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    assert_eq!(
        number("comparison-baseline-commits"),
        number("comparison-baseline-fsyncs")
    );
    assert!(number("comparison-grouped-fsyncs") < number("comparison-grouped-commits"));
    assert!(number("comparison-speedup") > 1.0);
    assert!(text(&host, "[data-testid=comparison-speedup]").ends_with('×'));
    // The table is labelled for assistive technology: a caption and header cells.
    assert!(!text(&host, "caption").is_empty());
    assert_eq!(
        host.query_selector_all("th[scope=row]")
            .map(|rows| rows.length())
            .ok(),
        Some(4)
    );
}

#[wasm_bindgen_test]
async fn counters_show_the_simulation_and_expose_raw_values_for_tests() {
    let sim = RwSignal::new(Sim::new(
        Params {
            writers: 64,
            ..Params::default()
        },
        3,
    ));
    let host = mount(move || view! { <Counters sim /> });
    assert_eq!(
        attr(&host, "[data-testid=durable-lsn]", "data-value").as_deref(),
        Some("0")
    );
    assert_eq!(
        attr(&host, "[data-testid=records-per-fsync]", "data-value").as_deref(),
        Some("")
    );
    sim.update(|s| {
        s.advance(50_000);
    });
    settle().await;
    let durable = sim.with_untracked(|s| s.watermarks().durable().get());
    assert!(durable > 0);
    assert_eq!(
        attr(&host, "[data-testid=durable-lsn]", "data-value"),
        Some(durable.to_string())
    );
    let per_fsync: f64 = attr(&host, "[data-testid=records-per-fsync]", "data-value")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(per_fsync > 1.0, "{per_fsync}");
    // The shown figure groups digits with thin spaces.
    assert_eq!(
        text(&host, "[data-testid=durable-lsn]"),
        crate::format::grouped(durable)
    );
}

#[wasm_bindgen_test]
async fn record_browser_lists_rows_and_reads_on_click() {
    let records = RwSignal::new(None::<(usize, u64, Vec<RecordRow>)>);
    let reads = RwSignal::new(0u32);
    let host = mount(move || {
        view! {
            <RecordBrowser
                records
                on_read=Callback::new(move |_: ()| reads.update(|n| *n += 1))
                enabled=Signal::derive(|| true)
            />
        }
    });
    assert_eq!(
        text(&host, "[data-testid=live-record-count]"),
        "Read the log to list its records."
    );
    find(&host, "[data-testid=live-read]")
        .unchecked_into::<HtmlElement>()
        .click();
    assert_eq!(reads.get_untracked(), 1);
    let rows = vec![
        RecordRow::new(walden_core::Lsn::new(264), &payload(1, 1, 256)),
        RecordRow::new(walden_core::Lsn::new(0), &payload(0, 0, 256)),
    ];
    records.set(Some((2, 512, rows)));
    settle().await;
    assert_eq!(
        host.query_selector_all("tbody tr").map(|l| l.length()).ok(),
        Some(2)
    );
    assert_eq!(text(&host, "tbody tr td:nth-child(4)"), "W2 #1");
    assert_eq!(text(&host, "tbody tr td:nth-child(5)"), "CRC32 ok");
    assert_eq!(
        attr(&host, "[data-testid=live-record-count]", "data-value").as_deref(),
        Some("2")
    );
}

#[wasm_bindgen_test]
async fn live_flush_chart_follows_real_flush_events() {
    let model = RwSignal::new(LiveModel::new(4, 0, 0, 0));
    let host = mount(move || view! { <LiveFlushChart model /> });
    assert_eq!(text(&host, "p.muted"), "No flush has completed yet.");
    model.update(|m| {
        for (at, records) in [(1_000, 4), (2_000, 2)] {
            m.apply(
                LiveEvent::FlushFinished {
                    durable: at,
                    commits: records as usize,
                    records,
                    elapsed_us: 800,
                    ok: true,
                },
                at,
            );
        }
    });
    settle().await;
    assert_eq!(
        attr(&host, ".wd-bar", "d")
            .unwrap_or_default()
            .matches('M')
            .count(),
        2
    );
    assert_eq!(
        text(&host, "p.muted"),
        "Mean 3.0 records per flush over the last 2 flushes; the last took 800 µs."
    );
}

#[wasm_bindgen_test]
async fn lanes_and_the_flight_panel_mark_exactly_the_commits_the_fsync_carries() {
    let sim = RwSignal::new(Sim::new(
        Params {
            writers: 64,
            ..Params::default()
        },
        5,
    ));
    // Step until an fsync carrying several commits is in flight.
    sim.update(|s| {
        for _ in 0..100_000 {
            s.step();
            if s.sync_in_flight()
                .is_some_and(|sync| sync.carries.len() > 4)
            {
                break;
            }
        }
    });
    let (leader, carries) = sim.with_untracked(|s| {
        let sync = s.sync_in_flight().expect("an fsync is in flight");
        (sync.leader, sync.carries.clone())
    });
    let host = mount(move || view! { <Lanes sim /> <FsyncInFlight sim /> });
    assert_eq!(
        host.query_selector_all(".wd-lanes-svg g")
            .map(|l| l.length())
            .ok(),
        Some(64)
    );
    let visible_dots = host
        .query_selector_all(".wd-carried[visibility=visible]")
        .map(|l| l.length())
        .ok();
    assert_eq!(visible_dots, Some(carries.len() as u32));
    assert_eq!(
        host.query_selector_all(".wd-chip").map(|l| l.length()).ok(),
        Some(carries.len() as u32)
    );
    assert_eq!(
        text(&host, ".wd-chip-leader"),
        crate::format::writer(leader)
    );
    // Once that fsync has ended, the dots follow the fsync then in flight, if any (with no
    // commit delay the next one usually starts at the same instant, carrying other commits).
    let started_us = sim.with_untracked(|s| s.sync_in_flight().map(|sync| sync.started_us));
    sim.update(|s| {
        for _ in 0..100_000 {
            s.step();
            if s.sync_in_flight().map(|sync| sync.started_us) != started_us {
                break;
            }
        }
    });
    settle().await;
    let still_carried =
        sim.with_untracked(|s| s.sync_in_flight().map_or(0, |sync| sync.carries.len()));
    let visible_dots = host
        .query_selector_all(".wd-carried[visibility=visible]")
        .map(|l| l.length())
        .ok();
    assert_eq!(visible_dots, Some(still_carried as u32));
}
