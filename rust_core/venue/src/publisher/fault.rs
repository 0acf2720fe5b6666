//! The fault switch: deterministic drop / duplicate / reorder decisions for
//! outgoing data datagrams, from a seeded xorshift generator.

/// Parts per million: the unit of every fault share.
pub(super) const PPM: u32 = 1_000_000;

/// Which share of outgoing data datagrams to damage, and the seed that makes
/// the damage reproducible. Shares are in parts per million; their sum must
/// not exceed 1,000,000. Retransmissions, heartbeats and end-of-session
/// packets are never faulted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FaultConfig {
    /// Datagrams not sent at all.
    pub drop_ppm: u32,
    /// Datagrams sent twice.
    pub duplicate_ppm: u32,
    /// Datagrams held back and sent after the next one (or after the hold time).
    pub reorder_ppm: u32,
    /// Seed of the generator (0 is replaced by a fixed non-zero constant).
    pub seed: u64,
}

impl FaultConfig {
    /// No faults.
    pub const NONE: Self = Self {
        drop_ppm: 0,
        duplicate_ppm: 0,
        reorder_ppm: 0,
        seed: 0,
    };

    /// True when no datagram is ever faulted.
    #[must_use]
    pub const fn is_none(&self) -> bool {
        self.drop_ppm == 0 && self.duplicate_ppm == 0 && self.reorder_ppm == 0
    }

    pub(super) const fn total_ppm(&self) -> u64 {
        self.drop_ppm as u64 + self.duplicate_ppm as u64 + self.reorder_ppm as u64
    }
}

/// What to do with one data datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Send,
    Drop,
    Duplicate,
    Reorder,
}

/// xorshift64 over a [`FaultConfig`]; one draw per data datagram.
#[derive(Clone, Copy, Debug)]
pub(super) struct Faults {
    state: u64,
    drop: u64,
    duplicate: u64,
    reorder: u64,
}

impl Faults {
    pub(super) const fn new(cfg: &FaultConfig) -> Self {
        let drop = cfg.drop_ppm as u64;
        let duplicate = drop + cfg.duplicate_ppm as u64;
        Self {
            state: if cfg.seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                cfg.seed
            },
            drop,
            duplicate,
            reorder: duplicate + cfg.reorder_ppm as u64,
        }
    }

    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    #[inline]
    pub(super) fn next_action(&mut self) -> Action {
        if self.reorder == 0 {
            return Action::Send;
        }
        let r = self.next_u64() % u64::from(PPM);
        if r < self.drop {
            Action::Drop
        } else if r < self.duplicate {
            Action::Duplicate
        } else if r < self.reorder {
            Action::Reorder
        } else {
            Action::Send
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_faults_and_shares_are_roughly_honoured() {
        let cfg = FaultConfig {
            drop_ppm: 50_000,
            duplicate_ppm: 50_000,
            reorder_ppm: 50_000,
            seed: 42,
        };
        let (mut a, mut b) = (Faults::new(&cfg), Faults::new(&cfg));
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            let x = a.next_action();
            assert_eq!(x, b.next_action());
            counts[x as usize] += 1;
        }
        for &n in &counts[1..] {
            assert!((4_000..6_000).contains(&n), "{counts:?}");
        }
    }

    #[test]
    fn no_faults_never_draws_anything_but_send() {
        let mut f = Faults::new(&FaultConfig::NONE);
        assert!((0..1000).all(|_| f.next_action() == Action::Send));
    }
}
