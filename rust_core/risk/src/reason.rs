//! Hot-path reason codes: why an order was rejected, why trading was killed.

use std::fmt;

/// Why [`Risk::check`](crate::Risk::check) refused an order. Variants are listed in
/// the order the checks run; the first failing check wins.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    /// The kill switch is engaged.
    KillSwitch = 0,
    /// The instrument id is beyond the configured instruments.
    UnknownInstrument = 1,
    /// Zero quantity, non-positive price, or a replace releasing more than is working.
    InvalidOrder = 2,
    /// Reduce-only mode and the order could grow |position| or flip it.
    ReduceOnly = 3,
    /// Quantity above `max_order_qty`.
    MaxOrderQty = 4,
    /// Price x quantity above `max_order_notional`.
    MaxOrderNotional = 5,
    /// No reference price has been set for the instrument.
    NoReference = 6,
    /// Price further from the reference than `price_band_bps`.
    PriceBand = 7,
    /// Worst-case |position| above `max_position`.
    PositionLimit = 8,
    /// Worst-case firm gross exposure above `max_gross_exposure`.
    GrossExposure = 9,
    /// Worst-case |firm net exposure| above `max_net_exposure`.
    NetExposure = 10,
    /// A new order would exceed `max_open_orders`.
    MaxOpenOrders = 11,
    /// The order would trade against one of our own resting orders.
    SelfCross = 12,
    /// The order-rate token bucket is empty.
    Throttle = 13,
}

impl Reject {
    /// Number of reasons.
    pub const COUNT: usize = 14;

    /// Every reason, in check order (index = `reason as usize`).
    pub const ALL: [Self; Self::COUNT] = [
        Self::KillSwitch,
        Self::UnknownInstrument,
        Self::InvalidOrder,
        Self::ReduceOnly,
        Self::MaxOrderQty,
        Self::MaxOrderNotional,
        Self::NoReference,
        Self::PriceBand,
        Self::PositionLimit,
        Self::GrossExposure,
        Self::NetExposure,
        Self::MaxOpenOrders,
        Self::SelfCross,
        Self::Throttle,
    ];

    /// Stable snake-case name, for logs and metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KillSwitch => "kill_switch",
            Self::UnknownInstrument => "unknown_instrument",
            Self::InvalidOrder => "invalid_order",
            Self::ReduceOnly => "reduce_only",
            Self::MaxOrderQty => "max_order_qty",
            Self::MaxOrderNotional => "max_order_notional",
            Self::NoReference => "no_reference",
            Self::PriceBand => "price_band",
            Self::PositionLimit => "position_limit",
            Self::GrossExposure => "gross_exposure",
            Self::NetExposure => "net_exposure",
            Self::MaxOpenOrders => "max_open_orders",
            Self::SelfCross => "self_cross",
            Self::Throttle => "throttle",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the kill switch was engaged.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KillReason {
    /// An operator pulled it.
    Manual = 0,
    /// Total PnL fell to `-max_drawdown` or below (engaged by the risk engine itself).
    Drawdown = 1,
    /// Market data stopped arriving.
    StaleFeed = 2,
    /// The order-entry session was lost.
    SessionLost = 3,
    /// The feed lost messages it could not recover.
    FeedGap = 4,
    /// A remote supervisor asked for it.
    Remote = 5,
}

impl KillReason {
    /// Number of reasons.
    pub const COUNT: usize = 6;

    /// Every reason (index = `reason as usize`).
    pub const ALL: [Self; Self::COUNT] = [
        Self::Manual,
        Self::Drawdown,
        Self::StaleFeed,
        Self::SessionLost,
        Self::FeedGap,
        Self::Remote,
    ];

    /// Stable snake-case name, for logs and metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Drawdown => "drawdown",
            Self::StaleFeed => "stale_feed",
            Self::SessionLost => "session_lost",
            Self::FeedGap => "feed_gap",
            Self::Remote => "remote",
        }
    }
}

impl fmt::Display for KillReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`Risk::rearm`](crate::Risk::rearm) refused to clear the kill switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RearmRefused {
    /// Total PnL is still at or below `-max_drawdown`.
    #[error("drawdown still breached: total PnL {total} <= -{max_drawdown} (raw notional)")]
    Drawdown {
        /// Current total PnL, raw notional.
        total: i64,
        /// The configured `max_drawdown`.
        max_drawdown: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reject_at_its_discriminant_with_unique_names() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            for other in &Reject::ALL[i + 1..] {
                assert_ne!(r.as_str(), other.as_str());
            }
        }
    }

    #[test]
    fn all_lists_every_kill_reason_at_its_discriminant_with_unique_names() {
        for (i, r) in KillReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            for other in &KillReason::ALL[i + 1..] {
                assert_ne!(r.as_str(), other.as_str());
            }
        }
    }
}
