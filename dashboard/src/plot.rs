//! Chart geometry shared by the SVG charts: "nice" axis steps and tops (1, 2 or 5 times a power
//! of ten) and the path of a bar series. Pure functions, tested natively; the components only
//! place what these compute.

use std::fmt::Write as _;

/// The smallest of 1, 2, 5, 10, 20, 50, … that is at least `at_least` (at least 1; saturates at
/// the largest such value a `u64` holds).
pub(crate) fn nice_step(at_least: u64) -> u64 {
    let mut decade: u64 = 1;
    loop {
        for factor in [1, 2, 5] {
            match decade.checked_mul(factor) {
                Some(step) if step >= at_least => return step,
                Some(_) => {}
                None => return decade,
            }
        }
        match decade.checked_mul(10) {
            Some(next) => decade = next,
            None => return decade.saturating_mul(5),
        }
    }
}

/// A chart top at or above `value`: 1, 2 or 5 times a power of ten, at least `floor`. Keeps a
/// chart's scale steady while values wander below it.
pub(crate) fn nice_top(value: f64, floor: f64) -> f64 {
    let value = if value.is_finite() { value } else { floor };
    let target = value.max(floor).max(f64::MIN_POSITIVE);
    let mut decade = 10f64.powi(target.log10().floor() as i32);
    // The loop ends within two decades; the bound is a guard against float surprises.
    for _ in 0..8 {
        for factor in [1.0, 2.0, 5.0] {
            if decade * factor >= target {
                return decade * factor;
            }
        }
        decade *= 10.0;
    }
    target
}

/// Where a bar series is drawn: a plot area and the number of equal slots across it, the newest
/// value in the rightmost slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BarArea {
    /// Left edge of the plot.
    pub(crate) left: f64,
    /// Right edge of the plot.
    pub(crate) right: f64,
    /// Top edge of the plot (where `top_value` is drawn).
    pub(crate) top: f64,
    /// Bottom edge of the plot (zero).
    pub(crate) bottom: f64,
    /// Slots across the plot; a series shorter than this is aligned right.
    pub(crate) slots: usize,
}

impl BarArea {
    /// The y position of `value` on a scale from zero to `top_value`, clamped to the plot.
    pub(crate) fn y(&self, value: f64, top_value: f64) -> f64 {
        let share = if top_value > 0.0 {
            (value / top_value).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.bottom - share * (self.bottom - self.top)
    }

    /// One SVG path of rectangles, one per value (`None` draws nothing in its slot), with a gap of
    /// `gap` between neighbours. Only the last `slots` values are drawn.
    pub(crate) fn bars_path(&self, values: &[Option<f64>], top_value: f64, gap: f64) -> String {
        let slots = self.slots.max(1);
        let slot_w = (self.right - self.left) / slots as f64;
        let shown = &values[values.len().saturating_sub(slots)..];
        let offset = slots - shown.len();
        let mut d = String::new();
        for (index, value) in shown.iter().enumerate() {
            let Some(value) = *value else { continue };
            let y = self.y(value, top_value);
            if y >= self.bottom {
                continue;
            }
            let x0 = self.left + (offset + index) as f64 * slot_w + gap / 2.0;
            let x1 = x0 + (slot_w - gap).max(0.5);
            // Writing to a String cannot fail.
            let _ = write!(d, "M{x0:.1} {:.1}H{x1:.1}V{y:.1}H{x0:.1}Z", self.bottom);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_five() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(6), 10);
        assert_eq!(nice_step(101), 200);
        assert_eq!(nice_step(2_001), 5_000);
        assert!(nice_step(u64::MAX) >= 10_000_000_000_000_000_000);
    }

    #[test]
    fn nice_tops_cover_the_value() {
        assert_eq!(nice_top(0.0, 1.0), 1.0);
        assert_eq!(nice_top(3.2, 1.0), 5.0);
        assert_eq!(nice_top(64.0, 1.0), 100.0);
        assert_eq!(nice_top(12_345.0, 1.0), 20_000.0);
        assert_eq!(nice_top(0.3, 10.0), 10.0);
        assert_eq!(nice_top(f64::NAN, 2.0), 2.0);
    }

    #[test]
    fn bars_align_right_skip_gaps_and_stay_in_the_plot() {
        let area = BarArea {
            left: 0.0,
            right: 100.0,
            top: 0.0,
            bottom: 50.0,
            slots: 10,
        };
        let d = area.bars_path(&[Some(1.0), None, Some(4.0), Some(0.0)], 2.0, 2.0);
        // Zero and missing values draw nothing; 4 is clamped to the top.
        assert_eq!(d.matches('M').count(), 2);
        assert!(d.starts_with("M61.0 50.0")); // slot 6 of 10: three empty slots pad the left
        assert!(d.contains("V0.0"));
        assert_eq!(area.y(1.0, 2.0), 25.0);
        // More values than slots: only the newest are drawn.
        let many: Vec<Option<f64>> = (0..30).map(|v| Some(f64::from(v) + 1.0)).collect();
        assert_eq!(area.bars_path(&many, 30.0, 0.0).matches('M').count(), 10);
    }
}
