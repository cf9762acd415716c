//! Live mode's model of a real OPFS log at work: what each page-side writer is doing, the log's
//! watermarks and flush in flight as the worker's events report them, completed flushes, commit
//! latencies and rates over real time. Pure Rust, fed by `live.rs` with parsed events and real
//! timestamps (microseconds of `performance.now()`), tested natively.
//!
//! Invariants: `durable <= written <= current` as last reported (an event never moves a
//! watermark back: reports can only race ahead of one another, and the largest wins); each
//! writer has at most one commit outstanding; every bounded list stays within its bound.

use std::collections::VecDeque;

use crate::sim::{Segment, WriterState, LANE_HISTORY_LEN};
use crate::timeline::Timeline;

/// Completed flushes kept for the per-flush chart.
pub(crate) const FLUSH_HISTORY_LEN: usize = 32;
/// Commit latencies kept for the histogram.
pub(crate) const LIVE_LATENCY_SAMPLES_LEN: usize = 512;
/// Buckets of the live rate charts, and their width: a 10-second window of quarter seconds.
pub(crate) const LIVE_TIMELINE_BUCKETS: usize = 40;
/// The width of one live rate-chart bucket.
pub(crate) const LIVE_BUCKET_US: u64 = 250_000;

/// One event of the worker log, as the dashboard uses it (parsed from walden-wasm's
/// `onEvent` objects; the group-commit steps the worker also reports are not drawn here).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LiveEvent {
    /// A record was appended; `current` is the end of what is appended.
    Appended {
        /// The end of what is appended.
        current: u64,
    },
    /// The buffer was written into the OPFS file.
    Drained {
        /// The end of what OPFS holds.
        written: u64,
    },
    /// A flush started.
    FlushStarted {
        /// The LSN it makes durable.
        upto: u64,
        /// Commits it carries.
        commits: usize,
    },
    /// A flush ended.
    FlushFinished {
        /// The durable LSN after it.
        durable: u64,
        /// Commits it acknowledged.
        commits: usize,
        /// Records it made durable.
        records: u64,
        /// How long the drain and flush took.
        elapsed_us: u64,
        /// Whether it succeeded.
        ok: bool,
    },
}

/// The flush in flight, as the worker announced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlushInFlight {
    /// The LSN it makes durable.
    pub(crate) upto: u64,
    /// Commits it carries.
    pub(crate) commits: usize,
    /// When the page heard of it.
    pub(crate) started_us: u64,
}

/// One completed flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlushSample {
    /// Records it made durable.
    pub(crate) records: u64,
    /// Commits it acknowledged.
    pub(crate) commits: usize,
    /// How long it took in the worker.
    pub(crate) elapsed_us: u64,
}

/// One page-side writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LiveWriter {
    state: WriterState,
    issued_us: Option<u64>,
    acknowledged: u64,
    history: VecDeque<Segment>,
}

impl LiveWriter {
    /// What it is doing now.
    pub(crate) fn state(&self) -> WriterState {
        self.state
    }

    /// Its commits acknowledged so far.
    pub(crate) fn acknowledged(&self) -> u64 {
        self.acknowledged
    }

    /// Its recent states, oldest first; the last one is still open.
    pub(crate) fn history(&self) -> &VecDeque<Segment> {
        &self.history
    }

    fn set_state(&mut self, state: WriterState, now_us: u64) {
        self.state = state;
        if let Some(last) = self.history.back_mut() {
            if last.end_us.is_none() && last.state == state {
                return;
            }
            last.end_us = Some(now_us);
        }
        while self.history.len() >= LANE_HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(Segment {
            state,
            start_us: now_us,
            end_us: None,
        });
    }
}

/// The model. See the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LiveModel {
    writers: Vec<LiveWriter>,
    current: u64,
    written: u64,
    durable: u64,
    flush: Option<FlushInFlight>,
    flushes: VecDeque<FlushSample>,
    flushes_total: u64,
    commits: u64,
    latencies_us: VecDeque<u64>,
    timeline: Timeline,
    now_us: u64,
}

impl LiveModel {
    /// A model of `writers` idle writers over a log whose records end at `end` and which is
    /// durable up to `durable` (right after opening, only up to its base: nothing counts as
    /// durable until this process has flushed it).
    pub(crate) fn new(writers: usize, end: u64, durable: u64, now_us: u64) -> LiveModel {
        let durable = durable.min(end);
        let mut model = LiveModel {
            writers: (0..writers)
                .map(|_| LiveWriter {
                    state: WriterState::Acknowledged,
                    issued_us: None,
                    acknowledged: 0,
                    history: VecDeque::new(),
                })
                .collect(),
            current: end,
            written: end,
            durable,
            flush: None,
            flushes: VecDeque::with_capacity(FLUSH_HISTORY_LEN),
            flushes_total: 0,
            commits: 0,
            latencies_us: VecDeque::with_capacity(LIVE_LATENCY_SAMPLES_LEN),
            timeline: Timeline::new(LIVE_BUCKET_US, LIVE_TIMELINE_BUCKETS),
            now_us,
        };
        for writer in &mut model.writers {
            writer.set_state(WriterState::Acknowledged, now_us);
        }
        model.timeline.roll_to(now_us);
        model
    }

    /// Writer `index` sent a commit.
    pub(crate) fn commit_issued(&mut self, index: usize, now_us: u64) {
        self.tick(now_us);
        if let Some(writer) = self.writers.get_mut(index) {
            debug_assert!(
                writer.issued_us.is_none(),
                "one commit per writer at a time"
            );
            writer.issued_us = Some(now_us);
            writer.set_state(WriterState::Waiting, now_us);
        }
    }

    /// Writer `index`'s commit is durable (its promise resolved).
    pub(crate) fn commit_acknowledged(&mut self, index: usize, now_us: u64) {
        self.tick(now_us);
        let Some(writer) = self.writers.get_mut(index) else {
            return;
        };
        if let Some(issued_us) = writer.issued_us.take() {
            while self.latencies_us.len() >= LIVE_LATENCY_SAMPLES_LEN {
                self.latencies_us.pop_front();
            }
            self.latencies_us
                .push_back(now_us.saturating_sub(issued_us));
        }
        writer.acknowledged += 1;
        writer.set_state(WriterState::Acknowledged, now_us);
        self.commits += 1;
        self.timeline.record_commit(now_us);
    }

    /// Writer `index` stopped with its commit never answered (the worker crashed or failed).
    pub(crate) fn commit_abandoned(&mut self, index: usize, now_us: u64) {
        self.tick(now_us);
        if let Some(writer) = self.writers.get_mut(index) {
            writer.issued_us = None;
            writer.set_state(WriterState::Acknowledged, now_us);
        }
    }

    /// Applies one event of the worker log.
    pub(crate) fn apply(&mut self, event: LiveEvent, now_us: u64) {
        self.tick(now_us);
        match event {
            LiveEvent::Appended { current } => self.current = self.current.max(current),
            LiveEvent::Drained { written } => {
                self.written = self.written.max(written);
                self.current = self.current.max(self.written);
            }
            LiveEvent::FlushStarted { upto, commits } => {
                self.written = self.written.max(upto);
                self.current = self.current.max(self.written);
                self.flush = Some(FlushInFlight {
                    upto,
                    commits,
                    started_us: now_us,
                });
            }
            LiveEvent::FlushFinished {
                durable,
                commits,
                records,
                elapsed_us,
                ok,
            } => {
                self.flush = None;
                if ok {
                    self.durable = self.durable.max(durable);
                    self.written = self.written.max(self.durable);
                    self.current = self.current.max(self.written);
                    self.flushes_total += 1;
                    self.timeline.record_fsync(now_us, records);
                    while self.flushes.len() >= FLUSH_HISTORY_LEN {
                        self.flushes.pop_front();
                    }
                    self.flushes.push_back(FlushSample {
                        records,
                        commits,
                        elapsed_us,
                    });
                }
            }
        }
    }

    /// Moves the clock on without an event (so the rate charts slide while nothing happens).
    pub(crate) fn tick(&mut self, now_us: u64) {
        self.now_us = self.now_us.max(now_us);
        self.timeline.roll_to(self.now_us);
    }

    /// The page's clock as last told.
    pub(crate) fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The writers, by index.
    pub(crate) fn writers(&self) -> &[LiveWriter] {
        &self.writers
    }

    /// Current (appended), written (in OPFS) and durable LSNs, as last reported.
    pub(crate) fn watermarks(&self) -> (u64, u64, u64) {
        (self.current, self.written, self.durable)
    }

    /// The flush in flight, if the worker announced one that has not finished.
    pub(crate) fn flush_in_flight(&self) -> Option<FlushInFlight> {
        self.flush
    }

    /// The last `FLUSH_HISTORY_LEN` flushes, oldest first.
    pub(crate) fn flushes(&self) -> &VecDeque<FlushSample> {
        &self.flushes
    }

    /// Successful flushes seen.
    pub(crate) fn flushes_total(&self) -> u64 {
        self.flushes_total
    }

    /// Commits acknowledged.
    pub(crate) fn commits(&self) -> u64 {
        self.commits
    }

    /// Commits sent and not answered.
    pub(crate) fn outstanding(&self) -> usize {
        self.writers
            .iter()
            .filter(|writer| writer.issued_us.is_some())
            .count()
    }

    /// Mean records per flush over the kept flushes.
    pub(crate) fn records_per_flush(&self) -> Option<f64> {
        if self.flushes.is_empty() {
            return None;
        }
        let records: u64 = self.flushes.iter().map(|flush| flush.records).sum();
        Some(records as f64 / self.flushes.len() as f64)
    }

    /// The kept commit latencies, oldest first.
    pub(crate) fn latencies_us(&self) -> &VecDeque<u64> {
        &self.latencies_us
    }

    /// Commits and flushes per bucket of real time.
    pub(crate) fn timeline(&self) -> &Timeline {
        &self.timeline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_acknowledges_and_moves_the_watermarks() {
        let mut model = LiveModel::new(3, 0, 0, 1_000);
        for writer in 0..3 {
            model.commit_issued(writer, 1_000);
        }
        assert_eq!(model.outstanding(), 3);
        model.apply(LiveEvent::Appended { current: 300 }, 1_100);
        model.apply(
            LiveEvent::FlushStarted {
                upto: 300,
                commits: 3,
            },
            1_200,
        );
        assert_eq!(model.watermarks(), (300, 300, 0));
        assert_eq!(model.flush_in_flight().map(|f| f.commits), Some(3));
        model.apply(
            LiveEvent::FlushFinished {
                durable: 300,
                commits: 3,
                records: 3,
                elapsed_us: 900,
                ok: true,
            },
            2_100,
        );
        for writer in 0..3 {
            model.commit_acknowledged(writer, 2_200);
        }
        assert_eq!(model.watermarks(), (300, 300, 300));
        assert_eq!(model.flush_in_flight(), None);
        assert_eq!(model.records_per_flush(), Some(3.0));
        assert_eq!(model.commits(), 3);
        assert_eq!(model.outstanding(), 0);
        assert_eq!(
            model.latencies_us().iter().copied().collect::<Vec<_>>(),
            [1_200; 3]
        );
        assert!(model
            .writers()
            .iter()
            .all(|w| w.state() == WriterState::Acknowledged && w.acknowledged() == 1));
    }

    #[test]
    fn late_reports_never_move_a_watermark_back_and_failed_flushes_count_nothing() {
        let mut model = LiveModel::new(1, 500, 500, 0);
        model.apply(LiveEvent::Drained { written: 700 }, 10);
        model.apply(LiveEvent::Appended { current: 600 }, 20);
        assert_eq!(model.watermarks(), (700, 700, 500));
        model.apply(
            LiveEvent::FlushFinished {
                durable: 0,
                commits: 0,
                records: 0,
                elapsed_us: 5,
                ok: false,
            },
            30,
        );
        assert_eq!(model.watermarks(), (700, 700, 500));
        assert_eq!(model.flushes_total(), 0);
        assert_eq!(model.records_per_flush(), None);
        // A reopened log: its records are in OPFS, but not durable until this page flushes.
        let reopened = LiveModel::new(2, 900, 0, 0);
        assert_eq!(reopened.watermarks(), (900, 900, 0));
        assert_eq!(
            LiveModel::new(2, 900, 1_000, 0).watermarks(),
            (900, 900, 900)
        );
    }

    #[test]
    fn lanes_record_waiting_and_acknowledged_spans_within_their_bound() {
        let mut model = LiveModel::new(1, 0, 0, 0);
        for round in 0..(2 * LANE_HISTORY_LEN as u64) {
            model.commit_issued(0, round * 10);
            model.commit_acknowledged(0, round * 10 + 5);
        }
        let history = model.writers()[0].history();
        assert!(history.len() <= LANE_HISTORY_LEN);
        assert_eq!(
            history.back().map(|s| (s.state, s.end_us)),
            Some((WriterState::Acknowledged, None))
        );
        // An abandoned commit (a crash) leaves the writer idle, with nothing outstanding.
        model.commit_issued(0, 10_000);
        model.commit_abandoned(0, 10_001);
        assert_eq!(model.outstanding(), 0);
        assert_eq!(model.commits(), 2 * LANE_HISTORY_LEN as u64);
    }
}
