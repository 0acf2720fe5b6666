//! The order-entry vocabulary shared by the OMS, the gateways and the engine:
//! what we ask a venue to do ([`OrderRequest`]) and what it answers
//! ([`ExecReport`]), independent of the wire protocol (OUCH, FIX, backtest).
//!
//! Everything here is small and `Copy`: requests and reports cross the hot
//! path by value, never allocated.

use crate::{InstrumentId, OrderId, Price, Qty, Side};

/// Our identifier for an order: an OUCH `UserRefNum` (and the integer behind a
/// FIX `ClOrdID`). Strictly increasing over a trading day, across restarts; a
/// replace gives the order a new one.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClOrdId(pub u32);

/// How long an order may rest.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Rests until cancelled or the end of the day.
    #[default]
    Day = b'0',
    /// Immediate or cancel: never rests.
    Ioc = b'3',
}

/// A new limit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewOrder {
    /// Our id for the order.
    pub cl: ClOrdId,
    /// What to trade.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Shares.
    pub qty: Qty,
    /// Day or IOC.
    pub tif: TimeInForce,
    /// Refuse to take liquidity on entry.
    pub post_only: bool,
}

/// Cancel/replace: the order `orig` becomes `cl` at a new price and open quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplaceOrder {
    /// The live order being replaced.
    pub orig: ClOrdId,
    /// The replacement's id.
    pub cl: ClOrdId,
    /// Instrument of the order (unchanged).
    pub instrument: InstrumentId,
    /// Side of the order (unchanged).
    pub side: Side,
    /// New limit price.
    pub price: Price,
    /// New open quantity (shares already executed are not counted).
    pub qty: Qty,
    /// Keep the post-only instruction on the replacement.
    pub post_only: bool,
}

/// Cancel the open quantity of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CancelOrder {
    /// The order to cancel.
    pub cl: ClOrdId,
    /// Instrument of the order.
    pub instrument: InstrumentId,
    /// Side of the order.
    pub side: Side,
}

/// One instruction to a venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderRequest {
    /// Enter a new order.
    New(NewOrder),
    /// Cancel/replace a live order.
    Replace(ReplaceOrder),
    /// Cancel a live order.
    Cancel(CancelOrder),
}

impl OrderRequest {
    /// The id the venue will answer about (the replacement's id for a replace).
    #[must_use]
    pub const fn cl(&self) -> ClOrdId {
        match self {
            Self::New(o) => o.cl,
            Self::Replace(o) => o.cl,
            Self::Cancel(o) => o.cl,
        }
    }

    /// The instrument concerned.
    #[must_use]
    pub const fn instrument(&self) -> InstrumentId {
        match self {
            Self::New(o) => o.instrument,
            Self::Replace(o) => o.instrument,
            Self::Cancel(o) => o.instrument,
        }
    }
}

/// Why the venue took shares off an order without a trade.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// We asked for it.
    User = b'U',
    /// The unfilled rest of an IOC order.
    Ioc = b'I',
    /// Self-match prevention.
    SelfMatch = b'Q',
    /// Cancel on disconnect, supervisory or any other venue reason.
    Venue = b'X',
}

impl CancelReason {
    /// Maps an OUCH cancel reason byte (`U`, `I`, `Q`; anything else is [`Self::Venue`]).
    #[must_use]
    pub const fn from_byte(b: u8) -> Self {
        match b {
            b'U' => Self::User,
            b'I' => Self::Ioc,
            b'Q' => Self::SelfMatch,
            _ => Self::Venue,
        }
    }
}

/// What a venue said about one of our orders.
///
/// `ts_ns` is the venue's timestamp. `cl` always names the order as the venue
/// knows it at that moment (after a replace: the replacement's id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecReport {
    /// A new order is live (or, for IOC, was processed).
    Accepted {
        /// Our id.
        cl: ClOrdId,
        /// The venue's order reference number.
        venue_id: OrderId,
        /// Accepted limit price.
        price: Price,
        /// Open quantity after acceptance.
        qty: Qty,
        /// Venue timestamp.
        ts_ns: u64,
    },
    /// A replace took effect: `orig` is gone, `cl` is live.
    Replaced {
        /// The order that was replaced.
        orig: ClOrdId,
        /// The replacement.
        cl: ClOrdId,
        /// The replacement's venue reference number.
        venue_id: OrderId,
        /// New limit price.
        price: Price,
        /// New open quantity.
        qty: Qty,
        /// Venue timestamp.
        ts_ns: u64,
    },
    /// Shares were taken off the order without a trade.
    Canceled {
        /// Our id.
        cl: ClOrdId,
        /// Shares decremented.
        qty: Qty,
        /// Why.
        reason: CancelReason,
        /// Venue timestamp.
        ts_ns: u64,
    },
    /// A trade.
    Executed {
        /// Our id.
        cl: ClOrdId,
        /// Shares traded.
        qty: Qty,
        /// Trade price.
        price: Price,
        /// Venue-unique, increasing trade number (deduplicates replays).
        match_number: u64,
        /// `A` added liquidity, `R` removed.
        liquidity: u8,
        /// Venue timestamp.
        ts_ns: u64,
    },
    /// A New (or the replacement `cl` of a Replace) was refused.
    Rejected {
        /// The refused id.
        cl: ClOrdId,
        /// The venue's reason code (OUCH reject reason).
        reason: u16,
        /// Venue timestamp.
        ts_ns: u64,
    },
    /// A Cancel (or a Replace, on venues that answer so) was refused; the order is unchanged.
    CancelRejected {
        /// Our id.
        cl: ClOrdId,
        /// Venue timestamp.
        ts_ns: u64,
    },
    /// The venue broke (reversed) an earlier trade.
    BrokenTrade {
        /// Our id.
        cl: ClOrdId,
        /// The trade broken.
        match_number: u64,
        /// Venue reason byte.
        reason: u8,
        /// Venue timestamp.
        ts_ns: u64,
    },
}

impl ExecReport {
    /// The order the report is about (the replacement for [`Self::Replaced`]).
    #[must_use]
    pub const fn cl(&self) -> ClOrdId {
        match self {
            Self::Accepted { cl, .. }
            | Self::Replaced { cl, .. }
            | Self::Canceled { cl, .. }
            | Self::Executed { cl, .. }
            | Self::Rejected { cl, .. }
            | Self::CancelRejected { cl, .. }
            | Self::BrokenTrade { cl, .. } => *cl,
        }
    }
}
