//! Rates over a sliding window of time: commits and fsyncs counted into fixed-width buckets, from
//! which the charts read commits/s, fsyncs/s and records per fsync. Pure Rust, no clock of its
//! own: callers say what time it is (simulated or real microseconds).
//!
//! Invariants: buckets are contiguous and ascending (each starts where the previous one ends),
//! aligned to multiples of the bucket width, at most `len_max` of them are kept, and time never
//! goes back (an event older than the newest bucket is counted in the newest bucket).

use std::collections::VecDeque;

/// Microseconds in a second, for rates.
const US_PER_S: f64 = 1_000_000.0;

/// `count` events in one bucket `bucket_us` wide, as a rate per second.
pub(crate) fn per_s(count: u64, bucket_us: u64) -> f64 {
    count as f64 * US_PER_S / bucket_us.max(1) as f64
}

/// What happened during one bucket of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// When it starts (a multiple of the bucket width).
    pub(crate) start_us: u64,
    /// Commits acknowledged in it.
    pub(crate) commits: u64,
    /// Fsyncs (or flushes) completed in it.
    pub(crate) fsyncs: u64,
    /// Records those fsyncs made durable.
    pub(crate) records: u64,
}

impl Bucket {
    /// Records per fsync in this bucket, or `None` if no fsync completed in it.
    pub(crate) fn records_per_fsync(&self) -> Option<f64> {
        (self.fsyncs > 0).then(|| self.records as f64 / self.fsyncs as f64)
    }
}

/// The buckets of a sliding window. See the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Timeline {
    bucket_us: u64,
    len_max: usize,
    buckets: VecDeque<Bucket>,
}

impl Timeline {
    /// An empty timeline of at most `len_max` buckets `bucket_us` wide (both at least one).
    pub(crate) fn new(bucket_us: u64, len_max: usize) -> Timeline {
        let len_max = len_max.max(1);
        Timeline {
            bucket_us: bucket_us.max(1),
            len_max,
            buckets: VecDeque::with_capacity(len_max),
        }
    }

    /// The width of one bucket.
    pub(crate) fn bucket_us(&self) -> u64 {
        self.bucket_us
    }

    /// Counts one acknowledged commit at `at_us`.
    pub(crate) fn record_commit(&mut self, at_us: u64) {
        self.bucket_at(at_us).commits += 1;
    }

    /// Counts one completed fsync at `at_us` that made `records` records durable.
    pub(crate) fn record_fsync(&mut self, at_us: u64, records: u64) {
        let bucket = self.bucket_at(at_us);
        bucket.fsyncs += 1;
        bucket.records += records;
    }

    /// Moves the window on to `now_us` with nothing happening, so quiet time shows as empty
    /// buckets rather than a gap.
    pub(crate) fn roll_to(&mut self, now_us: u64) {
        self.bucket_at(now_us);
    }

    /// The buckets that have ended by `now_us`, oldest first. The bucket still running is left
    /// out: its rates would read low only because it is not over.
    pub(crate) fn completed(&self, now_us: u64) -> impl Iterator<Item = &Bucket> + '_ {
        let bucket_us = self.bucket_us;
        self.buckets
            .iter()
            .filter(move |bucket| bucket.start_us.saturating_add(bucket_us) <= now_us)
    }

    /// The bucket that holds `at_us`, creating it and any empty buckets before it.
    fn bucket_at(&mut self, at_us: u64) -> &mut Bucket {
        let start_us = at_us - at_us % self.bucket_us;
        let newest_start = self.buckets.back().map(|bucket| bucket.start_us);
        match newest_start {
            Some(newest) if start_us <= newest => {}
            Some(newest) if (start_us - newest) / self.bucket_us < self.len_max as u64 => {
                // Fill the gap with empty buckets: at most `len_max` of them, by the guard.
                let mut next = newest + self.bucket_us;
                while next <= start_us {
                    self.push(Bucket {
                        start_us: next,
                        ..Bucket::default()
                    });
                    next += self.bucket_us;
                }
            }
            None => self.push(Bucket {
                start_us,
                ..Bucket::default()
            }),
            Some(_) => {
                // So far ahead that every kept bucket would fall out of the window:
                // start again with the empty buckets that end at `start_us`.
                self.buckets.clear();
                let first = start_us.saturating_sub((self.len_max as u64 - 1) * self.bucket_us);
                let first = first - first % self.bucket_us;
                let mut next = first;
                while next <= start_us {
                    self.push(Bucket {
                        start_us: next,
                        ..Bucket::default()
                    });
                    next += self.bucket_us;
                }
            }
        }
        self.buckets
            .back_mut()
            .expect("the bucket holding `at_us` was just ensured")
    }

    fn push(&mut self, bucket: Bucket) {
        while self.buckets.len() >= self.len_max {
            self.buckets.pop_front();
        }
        self.buckets.push_back(bucket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(timeline: &Timeline, now_us: u64) -> Vec<u64> {
        timeline.completed(now_us).map(|b| b.start_us).collect()
    }

    #[test]
    fn events_land_in_their_bucket_and_rates_scale_to_seconds() {
        let mut timeline = Timeline::new(1_000, 10);
        timeline.record_commit(10);
        timeline.record_commit(999);
        timeline.record_fsync(500, 2);
        timeline.record_commit(1_000);
        timeline.record_fsync(1_500, 6);
        timeline.record_fsync(1_600, 2);
        let buckets: Vec<Bucket> = timeline.completed(2_000).copied().collect();
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[0].commits, 2);
        assert_eq!(buckets[0].records_per_fsync(), Some(2.0));
        assert_eq!(buckets[1].commits, 1);
        assert_eq!(buckets[1].records_per_fsync(), Some(4.0));
        // Two commits in a millisecond are 2 000 commits a second.
        assert_eq!(per_s(buckets[0].commits, timeline.bucket_us()), 2_000.0);
    }

    #[test]
    fn the_running_bucket_is_not_completed() {
        let mut timeline = Timeline::new(100, 10);
        timeline.record_commit(250);
        assert_eq!(starts(&timeline, 250), Vec::<u64>::new());
        assert_eq!(starts(&timeline, 300), vec![200]);
    }

    #[test]
    fn quiet_time_shows_as_empty_buckets_and_the_window_slides() {
        let mut timeline = Timeline::new(100, 4);
        timeline.record_commit(0);
        timeline.roll_to(350);
        assert_eq!(starts(&timeline, 400), vec![0, 100, 200, 300]);
        timeline.roll_to(420);
        // Bounded: the oldest bucket fell out.
        assert_eq!(starts(&timeline, 500), vec![100, 200, 300, 400]);
        assert!(timeline
            .completed(500)
            .skip(1)
            .all(|bucket| bucket.commits == 0 && bucket.records_per_fsync().is_none()));
    }

    #[test]
    fn a_long_jump_restarts_the_window_without_unbounded_work() {
        let mut timeline = Timeline::new(100, 4);
        timeline.record_commit(0);
        timeline.record_commit(u64::MAX / 2);
        let kept: Vec<Bucket> = timeline.completed(u64::MAX).copied().collect();
        assert_eq!(kept.len(), 4);
        assert_eq!(kept.iter().map(|b| b.commits).sum::<u64>(), 1);
        for pair in kept.windows(2) {
            assert_eq!(pair[1].start_us, pair[0].start_us + 100);
        }
    }

    #[test]
    fn an_event_from_the_past_counts_in_the_newest_bucket() {
        let mut timeline = Timeline::new(100, 4);
        timeline.roll_to(350);
        timeline.record_commit(120);
        let newest = timeline.completed(400).last().copied();
        assert_eq!(newest.map(|b| (b.start_us, b.commits)), Some((300, 1)));
    }
}
