//! The simulation's only source of randomness: a small seeded generator (SplitMix64), so every
//! run replays exactly from its seed. Not for anything that needs unpredictability.

/// SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit state word, good statistical quality for
/// jitter and think times, and trivially reproducible from a seed.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is fixed by `seed`.
    pub(crate) const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`, by multiply-and-shift (Lemire): no division, and a bias of at most
    /// `max / 2^64`, far below anything a simulated microsecond can show.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        let span = u128::from(max) + 1;
        // The product is below 2^64 * span, so shifting out 64 bits leaves a value below `span`,
        // which fits in u64 because `span - 1 == max`.
        ((u128::from(self.next_u64()) * span) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_bounds_hold() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut rng = SplitMix64::new(1);
        let mut seen_max = false;
        for _ in 0..10_000 {
            let v = rng.up_to(3);
            assert!(v <= 3);
            seen_max |= v == 3;
        }
        assert!(seen_max, "up_to(3) never produced 3 in 10 000 draws");
        assert_eq!(SplitMix64::new(0).up_to(0), 0);
        // The full range does not overflow.
        let _ = SplitMix64::new(0).up_to(u64::MAX);
    }

    #[test]
    fn different_seeds_differ() {
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }
}
