//! The latency model: how long a request takes to reach the simulated venue
//! and how long a report takes to come back.

use crate::BacktestError;

/// How long messages take between the engine and the simulated venue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Latency {
    /// Fixed one-way delays.
    Constant {
        /// Engine -> venue, for every request.
        order_ns: u64,
        /// Venue -> engine, for every report.
        ack_ns: u64,
    },
    /// Round trips `(value_ns, count)` (e.g. the buckets of an HDR histogram of
    /// live round trips), drawn with a seeded RNG weighted by `count`. A drawn
    /// round trip `v` is split into `v / 2` out and `v - v / 2` back.
    Histogram(Vec<(u64, u64)>),
}

/// A [`Latency`] ready to draw from: validated, cumulative, seeded.
#[derive(Clone, Debug)]
pub(crate) struct LatencySampler {
    kind: Kind,
    rng: SplitMix64,
}

#[derive(Clone, Debug)]
enum Kind {
    Constant {
        order_ns: u64,
        ack_ns: u64,
    },
    /// `(value_ns, cumulative count)`, cumulative strictly increasing.
    Cumulative(Box<[(u64, u64)]>, u64),
}

impl LatencySampler {
    /// Validates the model (a histogram needs a positive total count).
    pub(crate) fn new(latency: &Latency, seed: u64) -> Result<Self, BacktestError> {
        let kind = match latency {
            Latency::Constant { order_ns, ack_ns } => Kind::Constant {
                order_ns: *order_ns,
                ack_ns: *ack_ns,
            },
            Latency::Histogram(buckets) => {
                let mut total = 0_u64;
                let mut cumulative = Vec::with_capacity(buckets.len());
                for &(value, count) in buckets {
                    if count == 0 {
                        continue;
                    }
                    total = total
                        .checked_add(count)
                        .ok_or(BacktestError::EmptyHistogram)?;
                    cumulative.push((value, total));
                }
                if total == 0 {
                    return Err(BacktestError::EmptyHistogram);
                }
                Kind::Cumulative(cumulative.into_boxed_slice(), total)
            }
        };
        Ok(Self {
            kind,
            rng: SplitMix64(seed),
        })
    }

    /// Engine -> venue delay of one request and venue -> engine delay of its answer.
    pub(crate) fn round_trip(&mut self) -> (u64, u64) {
        match &self.kind {
            Kind::Constant { order_ns, ack_ns } => (*order_ns, *ack_ns),
            Kind::Cumulative(..) => {
                let v = self.draw();
                (v / 2, v - v / 2)
            }
        }
    }

    /// Venue -> engine delay of a report not caused by a request (a fill).
    pub(crate) fn ack(&mut self) -> u64 {
        self.round_trip().1
    }

    fn draw(&mut self) -> u64 {
        let Kind::Cumulative(buckets, total) = &self.kind else {
            return 0;
        };
        let u = self.rng.next() % *total;
        // First bucket whose cumulative count exceeds `u`.
        let i = buckets.partition_point(|&(_, cum)| cum <= u);
        buckets.get(i).map_or(0, |&(v, _)| v)
    }
}

/// SplitMix64: tiny, portable and stable across platforms and crate versions,
/// which is what makes two runs with one seed identical.
#[derive(Clone, Copy, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_draws_only_buckets_with_counts() {
        let model = Latency::Histogram(vec![(10, 0), (20, 3), (40, 1)]);
        let mut s = LatencySampler::new(&model, 7).unwrap();
        for _ in 0..200 {
            let (out, back) = s.round_trip();
            assert!(out + back == 20 || out + back == 40);
        }
    }

    #[test]
    fn empty_histogram_is_refused() {
        let model = Latency::Histogram(vec![(10, 0)]);
        assert!(LatencySampler::new(&model, 1).is_err());
    }
}
