//! A monotonic nanosecond clock calibrated once.
//!
//! On x86_64 with an invariant TSC (`constant_tsc` and `nonstop_tsc` in
//! `/proc/cpuinfo`) reading the time is one `rdtsc` and a multiply; elsewhere it
//! falls back to `CLOCK_MONOTONIC` through [`std::time::Instant`]. Calibration
//! runs once, off the hot path, when the clock is built.

use std::time::{Duration, Instant};

/// Which source backs a [`Clock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The invariant time-stamp counter, scaled to nanoseconds.
    Tsc,
    /// The operating system's monotonic clock.
    Monotonic,
}

/// A calibrated monotonic clock returning nanoseconds since it was built.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    source: ClockSource,
    epoch: Instant,
    tsc_epoch: u64,
    /// Nanoseconds per tick as a 32.32 fixed-point multiplier.
    mult: u64,
}

const SHIFT: u32 = 32;

impl Clock {
    /// Builds a clock, preferring the TSC when it is invariant. Calibration takes `calibrate`.
    #[must_use]
    pub fn new(calibrate: Duration) -> Self {
        if tsc_is_invariant() {
            if let Some(clock) = Self::calibrate_tsc(calibrate) {
                return clock;
            }
        }
        Self::monotonic()
    }

    /// A clock backed only by the OS monotonic clock.
    #[must_use]
    pub fn monotonic() -> Self {
        Self {
            source: ClockSource::Monotonic,
            epoch: Instant::now(),
            tsc_epoch: 0,
            mult: 0,
        }
    }

    fn calibrate_tsc(calibrate: Duration) -> Option<Self> {
        let t0 = Instant::now();
        let c0 = rdtsc()?;
        while t0.elapsed() < calibrate {
            std::hint::spin_loop();
        }
        let c1 = rdtsc()?;
        let ns = t0.elapsed().as_nanos();
        let ticks = u128::from(c1.checked_sub(c0)?);
        if ticks == 0 || ns == 0 {
            return None;
        }
        let mult = u64::try_from((ns << SHIFT) / ticks).ok()?;
        Some(Self {
            source: ClockSource::Tsc,
            epoch: t0,
            tsc_epoch: c0,
            mult,
        })
    }

    /// The source this clock reads.
    #[must_use]
    pub const fn source(&self) -> ClockSource {
        self.source
    }

    /// Nanoseconds since the clock was built.
    #[inline(always)]
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        match self.source {
            ClockSource::Tsc => {
                let ticks = rdtsc()
                    .unwrap_or(self.tsc_epoch)
                    .wrapping_sub(self.tsc_epoch);
                ((u128::from(ticks) * u128::from(self.mult)) >> SHIFT) as u64
            }
            ClockSource::Monotonic => self.epoch.elapsed().as_nanos() as u64,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(Duration::from_millis(20))
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc() -> Option<u64> {
    // SAFETY: `rdtsc` exists on every x86_64 processor and has no memory effects;
    // it only reads the time-stamp counter.
    #[allow(unused_unsafe)]
    Some(unsafe { core::arch::x86_64::_rdtsc() })
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn rdtsc() -> Option<u64> {
    None
}

fn tsc_is_invariant() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|flags| {
                flags.split_whitespace().any(|f| f == "constant_tsc")
                    && flags.split_whitespace().any(|f| f == "nonstop_tsc")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_tracks_wall_time() {
        let clock = Clock::new(Duration::from_millis(5));
        let a = clock.now_ns();
        std::thread::sleep(Duration::from_millis(20));
        let b = clock.now_ns();
        assert!(b > a);
        // Generous bounds: this only checks the scale is nanoseconds, not speed.
        let elapsed = b - a;
        assert!(elapsed >= 15_000_000, "elapsed {elapsed}");
        assert!(elapsed < 2_000_000_000, "elapsed {elapsed}");
    }
}
