//! The commit-latency histogram's binning and quantiles: equal-width bins from zero whose width
//! is a "nice" number (1, 2 or 5 times a power of ten microseconds), so the axis labels read
//! cleanly, and nearest-rank quantiles. Pure Rust, tested natively.
//!
//! Invariants: every sample is counted in exactly one bin (the counts sum to the sample count),
//! there are at most `bins_max` bins, and the last bin's upper edge is above the largest sample.

use crate::plot::nice_step;

/// A histogram of latencies in microseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Histogram {
    /// The width of every bin.
    pub(crate) bin_us: u64,
    /// Samples per bin; bin `i` holds `[i * bin_us, (i + 1) * bin_us)`.
    pub(crate) counts: Vec<u64>,
}

impl Histogram {
    /// Bins `samples` into at most `bins_max` (at least one) bins from zero. An empty sample set
    /// gives no bins.
    pub(crate) fn of(samples: &[u64], bins_max: usize) -> Histogram {
        let bins_max = bins_max.max(1);
        let Some(&largest) = samples.iter().max() else {
            return Histogram {
                bin_us: 1,
                counts: Vec::new(),
            };
        };
        // The smallest nice width whose `bins_max` bins reach past the largest sample.
        let bin_us = nice_step(largest / bins_max as u64 + 1);
        let bins = (largest / bin_us + 1) as usize;
        debug_assert!(bins <= bins_max, "{bins} bins for {largest} µs");
        let mut counts = vec![0; bins.min(bins_max)];
        let last = counts.len() - 1;
        for &sample in samples {
            let bin = ((sample / bin_us) as usize).min(last);
            counts[bin] += 1;
        }
        Histogram { bin_us, counts }
    }

    /// The upper edge of the last bin.
    pub(crate) fn end_us(&self) -> u64 {
        self.bin_us * self.counts.len() as u64
    }

    /// The fullest bin's count (zero when empty).
    pub(crate) fn peak(&self) -> u64 {
        self.counts.iter().copied().max().unwrap_or(0)
    }
}

/// The nearest-rank quantile `q` (0.0..=1.0) of `samples`, or `None` if there are none.
pub(crate) fn quantile(samples: &[u64], q: f64) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(rank).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_sample_once_in_nice_bins() {
        let samples = [0, 5, 999, 1_000, 1_001, 1_999, 2_400];
        let histogram = Histogram::of(&samples, 24);
        assert_eq!(histogram.counts.iter().sum::<u64>(), samples.len() as u64);
        assert!(histogram.counts.len() <= 24);
        assert!(histogram.end_us() > 2_400);
        // 2 400 / 24 = 100, so bins are 200 µs wide (the next nice width up from 101).
        assert_eq!(histogram.bin_us, 200);
        assert_eq!(histogram.counts[0], 2);
        assert_eq!(histogram.counts[4], 1); // 999
        assert_eq!(histogram.counts[5], 2); // 1 000 and 1 001
        assert_eq!(histogram.peak(), 2);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7], 0.99), Some(7));
        let samples: Vec<u64> = (1..=101).rev().collect();
        assert_eq!(quantile(&samples, 0.5), Some(51));
        assert_eq!(quantile(&samples, 0.99), Some(100));
        assert_eq!(quantile(&samples, 1.0), Some(101));
        assert_eq!(quantile(&samples, 0.0), Some(1));
    }

    #[test]
    fn empty_and_single_samples() {
        assert!(Histogram::of(&[], 10).counts.is_empty());
        let one = Histogram::of(&[0], 10);
        assert_eq!(one.counts, vec![1]);
        let big = Histogram::of(&[u64::MAX / 4], 10);
        assert_eq!(big.counts.iter().sum::<u64>(), 1);
        assert!(big.counts.len() <= 10);
    }

    #[test]
    fn bins_never_exceed_the_maximum() {
        for largest in [1, 9, 10, 11, 99, 100, 101, 12_345, 1_000_000, 7_777_777] {
            for bins_max in [1, 3, 10, 24, 40] {
                let histogram = Histogram::of(&[0, largest / 2, largest], bins_max);
                assert!(
                    histogram.counts.len() <= bins_max,
                    "{largest} µs in {bins_max} bins"
                );
                assert!(histogram.end_us() > largest);
                assert_eq!(histogram.counts.iter().sum::<u64>(), 3);
            }
        }
    }
}
