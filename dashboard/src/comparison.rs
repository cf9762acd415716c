//! What grouping buys, as figures: the grouped simulation beside its baseline, where every
//! commit leads its own fsync ([`Grouping::PerCommit`]), run with the same writers, seed and
//! disk on the same clock. Pure (tested natively); `comparison_view` only places these figures.
//!
//! Every figure is a mean over the whole run so far (simulated time), read from the two
//! simulations as they stand: nothing is smoothed or estimated. Ratios are `None` until both
//! runs have something to divide by, so the view never shows a division by zero.

use crate::sim::{Grouping, Sim};

/// One run's totals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RunFigures {
    /// Commits acknowledged.
    pub(crate) commits: u64,
    /// Fsyncs completed.
    pub(crate) fsyncs: u64,
    /// Simulated time run, in microseconds.
    pub(crate) elapsed_us: u64,
}

impl RunFigures {
    /// The totals of `sim` now.
    pub(crate) fn of(sim: &Sim) -> RunFigures {
        RunFigures {
            commits: sim.commits(),
            fsyncs: sim.fsyncs(),
            elapsed_us: sim.now_us(),
        }
    }

    /// Commits acknowledged per simulated second, once any time has passed.
    pub(crate) fn commits_per_s(&self) -> Option<f64> {
        (self.elapsed_us > 0).then(|| self.commits as f64 * 1e6 / self.elapsed_us as f64)
    }

    /// Commits per fsync, once an fsync completed.
    pub(crate) fn commits_per_fsync(&self) -> Option<f64> {
        (self.fsyncs > 0).then(|| self.commits as f64 / self.fsyncs as f64)
    }
}

/// The two runs side by side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Comparison {
    /// Group commit.
    pub(crate) grouped: RunFigures,
    /// Each commit its own fsync.
    pub(crate) baseline: RunFigures,
}

impl Comparison {
    /// The figures of `grouped` and `baseline`, which must be the same simulation (writers,
    /// seed, disk) with and without grouping.
    pub(crate) fn of(grouped: &Sim, baseline: &Sim) -> Comparison {
        debug_assert_eq!(grouped.grouping(), Grouping::Grouped);
        debug_assert_eq!(baseline.grouping(), Grouping::PerCommit);
        debug_assert_eq!(grouped.seed(), baseline.seed());
        Comparison {
            grouped: RunFigures::of(grouped),
            baseline: RunFigures::of(baseline),
        }
    }

    /// How many times the baseline's commits per second group commit achieves.
    pub(crate) fn speedup(&self) -> Option<f64> {
        let grouped = self.grouped.commits_per_s()?;
        let baseline = self.baseline.commits_per_s()?;
        (baseline > 0.0).then(|| grouped / baseline)
    }

    /// How many commits one grouped fsync carries for each one a baseline fsync carries (one):
    /// the fsyncs per commit grouping saves.
    pub(crate) fn fsync_saving(&self) -> Option<f64> {
        let grouped = self.grouped.commits_per_fsync()?;
        let baseline = self.baseline.commits_per_fsync()?;
        (baseline > 0.0).then(|| grouped / baseline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Params;

    fn pair(params: Params, seed: u64, us: u64) -> (Sim, Sim) {
        let mut grouped = Sim::with_grouping(params, seed, Grouping::Grouped);
        let mut baseline = Sim::with_grouping(params, seed, Grouping::PerCommit);
        grouped.advance(us);
        baseline.advance(us);
        (grouped, baseline)
    }

    fn writers(writers: usize) -> Params {
        Params {
            writers,
            ..Params::default()
        }
    }

    #[test]
    fn at_64_writers_grouping_needs_fewer_fsyncs_and_commits_faster() {
        // Guards the comparison's point: the grouped run carries many commits per fsync, the
        // baseline exactly one, and so the grouped run commits many times faster on one disk.
        for seed in 0..4 {
            let (grouped, baseline) = pair(writers(64), seed, 200_000);
            let figures = Comparison::of(&grouped, &baseline);
            assert!(
                figures.grouped.fsyncs < figures.grouped.commits,
                "seed {seed}: {figures:?}"
            );
            assert_eq!(
                figures.baseline.fsyncs, figures.baseline.commits,
                "seed {seed}: the baseline fsyncs once per commit"
            );
            let speedup = figures.speedup().unwrap_or(0.0);
            assert!(speedup > 10.0, "seed {seed}: speedup {speedup}");
            let saving = figures.fsync_saving().unwrap_or(0.0);
            assert!(saving > 10.0, "seed {seed}: saving {saving}");
        }
    }

    #[test]
    fn one_writer_gains_nothing_from_grouping() {
        // With nobody to share with, both runs do one fsync per commit; grouping costs the
        // leader only its gather (a microsecond when nobody else appends).
        let (grouped, baseline) = pair(writers(1), 3, 100_000);
        let figures = Comparison::of(&grouped, &baseline);
        assert_eq!(figures.grouped.commits, figures.grouped.fsyncs);
        assert_eq!(figures.baseline.commits, figures.baseline.fsyncs);
        let speedup = figures.speedup().unwrap_or(0.0);
        assert!((0.9..=1.1).contains(&speedup), "speedup {speedup}");
    }

    #[test]
    fn ratios_wait_for_something_to_divide_by() {
        let (grouped, baseline) = pair(writers(8), 1, 0);
        let figures = Comparison::of(&grouped, &baseline);
        assert_eq!(figures.grouped.commits_per_s(), None);
        assert_eq!(figures.speedup(), None);
        assert_eq!(figures.fsync_saving(), None);
    }

    #[test]
    fn the_same_seed_replays_both_runs_exactly() {
        let a = pair(writers(40), 9, 50_000);
        let b = pair(writers(40), 9, 50_000);
        assert_eq!(Comparison::of(&a.0, &a.1), Comparison::of(&b.0, &b.1));
        assert_eq!(a.1.fsync_history(), b.1.fsync_history());
        assert_eq!(a.1.log(), b.1.log());
    }
}
