//! Integer token bucket for the order-rate throttle.

/// Credit units per token: one token refills in `NANOS_PER_SEC / rate` ns, so
/// counting credit in token x 1e9 units makes the refill `elapsed_ns * rate`,
/// exact in integers with no drift.
const UNIT: u64 = 1_000_000_000;

/// A token bucket over a caller-supplied nanosecond clock; starts full.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    /// Current credit, `0..=capacity`, in token x 1e9 units.
    credit: u64,
    /// `burst * UNIT` (at most `u32::MAX * 1e9` < `u64::MAX`).
    capacity: u64,
    /// Refill per nanosecond, in credit units: `orders_per_sec`.
    rate: u64,
    /// The latest `now_ns` seen; time never moves backwards.
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilling at `per_sec` tokens per second.
    pub(crate) fn new(per_sec: u32, burst: u32) -> Self {
        let capacity = u64::from(burst) * UNIT;
        Self {
            credit: capacity,
            capacity,
            rate: u64::from(per_sec),
            last_ns: 0,
        }
    }

    /// Changes rate and capacity; credit is kept, clamped to the new capacity.
    pub(crate) fn reconfigure(&mut self, per_sec: u32, burst: u32) {
        self.capacity = u64::from(burst) * UNIT;
        self.rate = u64::from(per_sec);
        self.credit = self.credit.min(self.capacity);
    }

    /// Refills up to `now_ns`, then takes one token if there is one.
    #[inline]
    pub(crate) fn try_take(&mut self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        self.credit = self
            .credit
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.capacity);
        if self.credit >= UNIT {
            self.credit -= UNIT;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at the last seen time.
    pub(crate) fn tokens(&self) -> u64 {
        self.credit / UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_bucket_allows_burst_then_refuses() {
        let mut b = TokenBucket::new(10, 3);
        assert!(b.try_take(1));
        assert!(b.try_take(1));
        assert!(b.try_take(1));
        assert!(!b.try_take(1));
    }

    #[test]
    fn one_token_refills_after_exactly_one_over_rate_seconds() {
        // 3 per second: a token every 333_333_333.33 ns.
        let mut b = TokenBucket::new(3, 1);
        assert!(b.try_take(1_000));
        assert!(!b.try_take(1_000 + 333_333_333));
        assert!(b.try_take(1_000 + 333_333_334));
    }

    #[test]
    fn fractional_credit_accumulates_across_checks_without_drift() {
        // 3 per second for 10 seconds in steps of 1 ms: exactly 30 tokens refill.
        let mut b = TokenBucket::new(3, 1_000);
        while b.try_take(0) {}
        let mut taken = 0;
        for ms in 1..=10_000_u64 {
            if b.try_take(ms * 1_000_000) {
                taken += 1;
            }
        }
        assert_eq!(taken, 30);
    }

    #[test]
    fn clock_going_backwards_adds_no_credit() {
        let mut b = TokenBucket::new(1, 1);
        assert!(b.try_take(5_000_000_000));
        assert!(!b.try_take(1));
        assert!(!b.try_take(5_999_999_999));
        assert!(b.try_take(6_000_000_000));
    }

    #[test]
    fn shrinking_burst_clamps_credit() {
        let mut b = TokenBucket::new(1, 10);
        b.reconfigure(1, 2);
        assert_eq!(b.tokens(), 2);
    }
}
