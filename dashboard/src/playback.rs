//! Playback: how much simulated time each animation frame advances, from the real time since
//! the previous frame and the chosen speed. Pure arithmetic, tested natively; `frame_loop` feeds
//! it real frame timestamps.
//!
//! Invariants: the simulated time handed out never exceeds what the real time at that speed
//! allows (fractions of a microsecond are carried to the next frame, not lost or rounded up),
//! and a long pause between frames (a hidden tab, a debugger) counts as at most
//! `FRAME_GAP_MAX_MS`, so coming back never means a huge catch-up step.

/// The longest real gap between two frames that counts in full.
pub(crate) const FRAME_GAP_MAX_MS: f64 = 100.0;

/// Converts real frame gaps to whole simulated microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Playback {
    last_frame_ms: Option<f64>,
    carry_us: f64,
}

impl Playback {
    /// Forgets the last frame, so the next one advances nothing (after a pause, the time spent
    /// paused must not count).
    pub(crate) fn pause(&mut self) {
        self.last_frame_ms = None;
        self.carry_us = 0.0;
    }

    /// The simulated microseconds to advance for a frame at `now_ms` (a monotonic real clock in
    /// milliseconds) at `speed_us_per_s` simulated microseconds per real second.
    pub(crate) fn frame(&mut self, now_ms: f64, speed_us_per_s: u64) -> u64 {
        let gap_ms = match self.last_frame_ms.replace(now_ms) {
            Some(last) if now_ms.is_finite() => (now_ms - last).clamp(0.0, FRAME_GAP_MAX_MS),
            _ => 0.0,
        };
        let due_us = self.carry_us + gap_ms * speed_us_per_s as f64 / 1_000.0;
        let whole = due_us.floor();
        self.carry_us = due_us - whole;
        whole as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_advance_by_speed_and_carry_fractions() {
        let mut playback = Playback::default();
        // The first frame only starts the clock.
        assert_eq!(playback.frame(1_000.0, 1_000), 0);
        // 1 ms of simulated time per second: a 60 fps frame is 16.7 µs.
        let mut total = 0;
        for frame in 1..=60 {
            total += playback.frame(1_000.0 + f64::from(frame) * 1_000.0 / 60.0, 1_000);
        }
        // One real second: one simulated millisecond, give or take float rounding.
        assert!((999..=1_000).contains(&total), "{total}");
    }

    #[test]
    fn slow_speeds_still_move_and_long_gaps_are_capped() {
        let mut playback = Playback::default();
        playback.frame(0.0, 100);
        // 0.1 ms per second: 1.67 µs per frame, so some frames give 1 and some 2.
        let steps: Vec<u64> = (1..=6)
            .map(|f| playback.frame(f64::from(f) * 16.67, 100))
            .collect();
        assert!(steps.iter().all(|&s| s <= 2) && steps.iter().sum::<u64>() >= 9);
        // A minute in a hidden tab counts as `FRAME_GAP_MAX_MS`.
        let after = playback.frame(60_000.0, 1_000_000);
        assert_eq!(after, 100_000);
        // Time never runs backwards.
        assert_eq!(playback.frame(10.0, 1_000_000), 0);
    }

    #[test]
    fn pause_drops_the_gap() {
        let mut playback = Playback::default();
        playback.frame(0.0, 1_000);
        playback.pause();
        assert_eq!(playback.frame(5_000.0, 1_000), 0);
        assert_eq!(playback.frame(5_100.0, 1_000), 100);
    }
}
