//! [`WalStats`]: what the shared log's syncs have done, counted with relaxed atomics (no lock
//! on the group-commit path), and [`StatsSnapshot`], a consistent-enough copy to print or export.
//!
//! Records per fsync is the number that shows group commit working: with N threads committing
//! concurrently it should approach N, where one fsync per commit would keep it at 1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets of the records-per-fsync histogram: bucket `i` counts fsyncs that made between
/// `2^i` and `2^(i+1) - 1` records durable; the last bucket is open-ended.
pub const RECORDS_PER_FSYNC_BUCKETS: usize = 8;

/// Live counters of a [`crate::Wal`].
#[derive(Debug, Default)]
pub(crate) struct WalStats {
    fsyncs: AtomicU64,
    fsync_nanos_total: AtomicU64,
    fsync_nanos_max: AtomicU64,
    records_durable: AtomicU64,
    records_per_fsync: [AtomicU64; RECORDS_PER_FSYNC_BUCKETS],
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Records appended since the log was opened.
    pub appends: u64,
    /// Payload bytes of those records.
    pub append_bytes: u64,
    /// Successful fsyncs by group-commit leaders.
    pub fsyncs: u64,
    /// Records those fsyncs made durable.
    pub records_durable: u64,
    /// Total time spent in those fsyncs.
    pub fsync_time_total: Duration,
    /// The slowest of them.
    pub fsync_time_max: Duration,
    /// Histogram of records per fsync; see [`RECORDS_PER_FSYNC_BUCKETS`].
    pub records_per_fsync: [u64; RECORDS_PER_FSYNC_BUCKETS],
}

impl StatsSnapshot {
    /// Mean records made durable per fsync (0 before the first).
    pub fn mean_records_per_fsync(&self) -> f64 {
        if self.fsyncs == 0 {
            0.0
        } else {
            self.records_durable as f64 / self.fsyncs as f64
        }
    }

    /// Mean fsync latency (zero before the first).
    pub fn fsync_time_mean(&self) -> Duration {
        match u32::try_from(self.fsyncs) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.fsync_time_total / n,
            Err(_) => Duration::from_nanos(
                u64::try_from(self.fsync_time_total.as_nanos()).unwrap_or(u64::MAX) / self.fsyncs,
            ),
        }
    }
}

impl WalStats {
    pub(crate) fn synced(&self, records: u64, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos_total.fetch_add(nanos, Ordering::Relaxed);
        self.fsync_nanos_max.fetch_max(nanos, Ordering::Relaxed);
        self.records_durable.fetch_add(records, Ordering::Relaxed);
        let bucket = (u64::BITS - records.max(1).leading_zeros() - 1) as usize;
        self.records_per_fsync[bucket.min(RECORDS_PER_FSYNC_BUCKETS - 1)]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the counters, with the writer's own counts of records and payload bytes
    /// appended (kept under the writer lock, so the append path touches no shared counter).
    pub(crate) fn snapshot(&self, appends: u64, append_bytes: u64) -> StatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            appends,
            append_bytes,
            fsyncs: load(&self.fsyncs),
            records_durable: load(&self.records_durable),
            fsync_time_total: Duration::from_nanos(load(&self.fsync_nanos_total)),
            fsync_time_max: Duration::from_nanos(load(&self.fsync_nanos_max)),
            records_per_fsync: self.records_per_fsync.each_ref().map(load),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_fsync_land_in_power_of_two_buckets() {
        let stats = WalStats::default();
        for records in [1, 2, 3, 4, 64, 127, 128, 10_000] {
            stats.synced(records, Duration::from_micros(100));
        }
        let snapshot = stats.snapshot(0, 0);
        assert_eq!(snapshot.records_per_fsync, [1, 2, 1, 0, 0, 0, 2, 2]);
        assert_eq!(snapshot.fsyncs, 8);
        assert_eq!(snapshot.fsync_time_mean(), Duration::from_micros(100));
        assert_eq!(snapshot.fsync_time_max, Duration::from_micros(100));
    }
}
