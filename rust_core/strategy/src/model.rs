//! The closed-form quoting models, in ticks and seconds, before any floor,
//! rounding or sizing.
//!
//! Notation: `s` mid (ticks), `q` inventory in lots (position / size),
//! `q_max` = max_position / size, `gamma` risk aversion, `sigma` volatility
//! (ticks per sqrt(second)), fills at distance `delta` arrive at rate
//! `A * exp(-k * delta)`.

/// A model's raw answer: level-0 prices in ticks, unrounded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Raw {
    /// Reservation (indifference) price: midway between the two prices for
    /// models with one, see each model.
    pub(crate) reservation: f64,
    /// Level-0 bid price.
    pub(crate) bid: f64,
    /// Level-0 ask price.
    pub(crate) ask: f64,
    /// The model allows a bid.
    pub(crate) bid_ok: bool,
    /// The model allows an ask.
    pub(crate) ask_ok: bool,
}

/// Skew model: `r = s - q * skew`, `bid = r - half`, `ask = r + half`.
pub(crate) fn skew(s: f64, q: f64, half: f64, skew: f64) -> Raw {
    let r = s - q * skew;
    Raw {
        reservation: r,
        bid: r - half,
        ask: r + half,
        bid_ok: true,
        ask_ok: true,
    }
}

/// `(1/gamma) * ln(1 + gamma/k)`: the intensity part of the half spread.
#[inline]
fn c1(gamma: f64, k: f64) -> f64 {
    (gamma / k).ln_1p() / gamma
}

/// Avellaneda and Stoikov (2008), "High-frequency trading in a limit order
/// book", Quantitative Finance 8(3), finite horizon with `tau = T - t` seconds:
///
/// `r = s - q * gamma * sigma^2 * tau`,
/// `spread = gamma * sigma^2 * tau + (2/gamma) * ln(1 + gamma/k)`,
/// `bid = r - spread/2`, `ask = r + spread/2`.
pub(crate) fn avellaneda_stoikov(s: f64, q: f64, gamma: f64, sigma: f64, k: f64, tau: f64) -> Raw {
    let risk = gamma * sigma * sigma * tau.max(0.0);
    let r = s - q * risk;
    let half = 0.5 * risk + c1(gamma, k);
    Raw {
        reservation: r,
        bid: r - half,
        ask: r + half,
        bid_ok: true,
        ask_ok: true,
    }
}

/// Smallest argument given to `ln` by the infinite-horizon model.
const LN_FLOOR: f64 = 1e-12;

/// Avellaneda and Stoikov (2008), section 2.3, the infinite-horizon
/// (stationary) reservation prices with
/// `omega = 0.5 * gamma^2 * sigma^2 * (q_max + 1)^2`:
///
/// `r_a = s + (1/gamma) * ln(1 + (1 - 2q) * gamma^2 sigma^2 / (2 omega - gamma^2 q^2 sigma^2))`,
/// `r_b = s + (1/gamma) * ln(1 + (-1 - 2q) * gamma^2 sigma^2 / (2 omega - gamma^2 q^2 sigma^2))`,
/// `ask = r_a + (1/gamma) ln(1 + gamma/k)`, `bid = r_b - (1/gamma) ln(1 + gamma/k)`.
///
/// As implemented, `gamma^2 sigma^2` cancels in both fractions:
/// `r_a = s + (1/gamma) * ln(1 + (1 - 2q) / ((q_max + 1)^2 - q^2))` and
/// `r_b = s + (1/gamma) * ln(1 + (-1 - 2q) / ((q_max + 1)^2 - q^2))`, so the
/// prices do not depend on `sigma` (and stay defined at `sigma = 0`).
/// Domain guard: with `D = (q_max + 1)^2 - q^2`, the `ln` arguments are
/// `((q_max + 1)^2 - (q - 1)^2) / D` (ask) and `((q_max + 1)^2 - (q + 1)^2) / D`
/// (bid): both `> 0` exactly when `|q| < q_max`. At `q = q_max` the bid
/// argument reaches 0 (the bid goes to minus infinity) and at `q = -q_max`
/// the ask one does. So `q` is clamped to `[-q_max, q_max]` (an
/// overshooting position is priced as the limit, keeping `D >= 2 q_max + 1`),
/// the arguments are floored at `1e-12`, and the model allows no bid when
/// `q >= q_max` and no ask when `q <= -q_max` (the inventory limit, as in the
/// paper). The reported reservation is `(r_a + r_b) / 2`.
pub(crate) fn avellaneda_stoikov_infinite(s: f64, q: f64, q_max: f64, gamma: f64, k: f64) -> Raw {
    let bid_ok = q < q_max;
    let ask_ok = q > -q_max;
    let q = q.clamp(-q_max, q_max);
    let denom = (q_max + 1.0) * (q_max + 1.0) - q * q;
    let r_a = s + (1.0 + (1.0 - 2.0 * q) / denom).max(LN_FLOOR).ln() / gamma;
    let r_b = s + (1.0 + (-1.0 - 2.0 * q) / denom).max(LN_FLOOR).ln() / gamma;
    let c = c1(gamma, k);
    Raw {
        reservation: 0.5 * (r_a + r_b),
        bid: r_b - c,
        ask: r_a + c,
        bid_ok,
        ask_ok,
    }
}

/// Gueant, Lehalle and Fernandez-Tapia (2013), "Dealing with the inventory
/// risk: a solution to the market making problem", Mathematics and Financial
/// Economics 7(4); closed-form approximation as in Gueant (2017), "Optimal
/// market making", Applied Mathematical Finance 24(2):
///
/// `c1 = (1/gamma) * ln(1 + gamma/k)`,
/// `c2 = sqrt( gamma / (2*A*k) * (1 + gamma/k)^(1 + k/gamma) )`,
/// `delta_bid = c1 + (2q + 1)/2 * sigma * c2`,
/// `delta_ask = c1 - (2q - 1)/2 * sigma * c2`,
/// `bid = s - delta_bid`, `ask = s + delta_ask`; no bid when `q >= q_max`,
/// no ask when `q <= -q_max`. The reported reservation is the midpoint
/// `s - q * sigma * c2`.
pub(crate) fn glft(s: f64, q: f64, q_max: f64, gamma: f64, sigma: f64, a: f64, k: f64) -> Raw {
    let c1 = c1(gamma, k);
    let ratio = gamma / k;
    let c2 = (gamma / (2.0 * a * k) * (1.0 + ratio).powf(1.0 + 1.0 / ratio)).sqrt();
    let delta_bid = c1 + (2.0 * q + 1.0) / 2.0 * sigma * c2;
    let delta_ask = c1 - (2.0 * q - 1.0) / 2.0 * sigma * c2;
    Raw {
        reservation: s - q * sigma * c2,
        bid: s - delta_bid,
        ask: s + delta_ask,
        bid_ok: q < q_max,
        ask_ok: q > -q_max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn skew_moves_both_sides_against_inventory() {
        let raw = skew(100.0, 2.0, 3.0, 0.5);
        assert!(close(raw.reservation, 99.0));
        assert!(close(raw.bid, 96.0));
        assert!(close(raw.ask, 102.0));
    }

    #[test]
    fn finite_horizon_with_no_time_left_is_symmetric_whatever_the_inventory() {
        // tau = 0: r = s, half spread = (1/gamma) ln(1 + gamma/k) = 10 ln(1 + 0.1/1.5) = 0.6453852
        let raw = avellaneda_stoikov(50.0, 3.0, 0.1, 2.0, 1.5, 0.0);
        assert!(close(raw.reservation, 50.0));
        assert!(close(raw.ask - 50.0, 0.645_385_2));
        assert!(close(50.0 - raw.bid, 0.645_385_2));
    }

    #[test]
    fn infinite_horizon_prices_an_overshooting_inventory_as_the_limit_without_a_bid() {
        let at = avellaneda_stoikov_infinite(0.0, 5.0, 5.0, 0.1, 1.5);
        let over = avellaneda_stoikov_infinite(0.0, 9.0, 5.0, 0.1, 1.5);
        assert_eq!(at, over);
        assert!(!at.bid_ok && at.ask_ok);
        // q = q_max = 5: r_a = 10 ln(1 + (1 - 10) / (36 - 25)) = 10 ln(2/11) = -17.0474809
        assert!(close(at.ask, -17.047_480_9 + 0.645_385_2), "{at:?}");
        assert!(at.bid.is_finite() && at.ask.is_finite());
    }

    #[test]
    fn glft_bid_and_ask_distances_sum_to_two_c1_plus_sigma_c2() {
        let raw = glft(0.0, 1.7, 10.0, 0.1, 2.0, 140.0, 1.5);
        // 2 c1 + sigma c2 = 2 * 0.6453852 + 2 * 0.0258586 = 1.3424876
        assert!(close(raw.ask - raw.bid, 1.342_487_6), "{raw:?}");
    }
}
