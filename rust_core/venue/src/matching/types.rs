//! Configuration, commands, events and reason codes of the matching engine.

use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side, Timestamp};

/// A firm (account, MPID) that owns orders; self-match prevention compares these.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FirmId(pub u32);

/// The client's own id for an order, unique among the firm's live orders
/// (an OUCH `UserRefNum` or a FIX `ClOrdID` mapped to an integer by the session).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientOrderId(pub u64);

/// Day-unique, strictly increasing match number (ITCH `Match Number`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MatchNumber(pub u64);

/// How an order may interact with the book.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OrderType {
    /// Day limit order: matches what it can, the rest is displayed until cancelled.
    #[default]
    Limit = b'L',
    /// Immediate-or-cancel: matches what it can, the rest is cancelled, never rests.
    Ioc = b'I',
    /// Post-only: rests in full or is rejected if it would take liquidity on entry
    /// (or on a replace).
    PostOnly = b'P',
}

/// What happens when an incoming order would trade against an order of its own firm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SelfMatchMode {
    /// Cancel the resting (older) order and keep matching.
    #[default]
    CancelOldest,
    /// Cancel the rest of the incoming (newer) order; the resting order stays.
    CancelNewest,
    /// Cancel both the resting order and the rest of the incoming order.
    CancelBoth,
    /// Reduce both by the smaller of the two quantities without a trade; an order
    /// reduced to zero is gone, the incoming order keeps matching if shares remain.
    Decrement,
}

/// The allowed price range of an instrument. Both forms are resolved at
/// construction to the tick-aligned range `[low, high]` (rounded inwards, and
/// never below one tick).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PriceBand {
    /// `reference ± width`, a static band around a reference price.
    Around {
        /// Reference price (previous close, opening price).
        reference: Price,
        /// Largest allowed distance from the reference, in price units.
        width: Price,
    },
    /// Explicit inclusive bounds.
    Range {
        /// Lowest allowed price.
        min: Price,
        /// Highest allowed price.
        max: Price,
    },
}

/// One tradable instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InstrumentConfig {
    /// Instrument id (the ITCH stock locate).
    pub id: InstrumentId,
    /// Tick size; every price must be a multiple of it.
    pub tick: Price,
    /// Allowed price range.
    pub band: PriceBand,
    /// Largest order quantity accepted (at most `u32::MAX`, the ITCH share field).
    pub max_order_qty: Qty,
}

/// Sizes and rules of a matching engine; everything is allocated from it up front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueConfig {
    /// Most orders that may rest at once across all instruments.
    pub max_orders: usize,
    /// Largest number of ticks one instrument's band may span (each tick costs
    /// a 24-byte level per side).
    pub max_band_levels: usize,
    /// Self-match prevention rule for every firm.
    pub self_match: SelfMatchMode,
    /// The instruments traded.
    pub instruments: Vec<InstrumentConfig>,
}

impl Default for VenueConfig {
    fn default() -> Self {
        Self {
            max_orders: 1 << 20,
            max_band_levels: 1 << 16,
            self_match: SelfMatchMode::default(),
            instruments: Vec::new(),
        }
    }
}

/// Enter a new order (OUCH `Enter Order`, FIX `NewOrderSingle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewOrder {
    /// When the venue received it; copied onto every event it causes.
    pub ts: Timestamp,
    /// Owning firm.
    pub firm: FirmId,
    /// Client id, unique among the firm's live orders.
    pub client_id: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Limit, IOC or post-only.
    pub order_type: OrderType,
}

/// Cancel an order or reduce it (OUCH `Cancel Order`, FIX `OrderCancelRequest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CancelOrder {
    /// When the venue received it.
    pub ts: Timestamp,
    /// Owning firm.
    pub firm: FirmId,
    /// Client id of the live order.
    pub client_id: ClientOrderId,
    /// Quantity to leave open: zero cancels the order, anything below its open
    /// quantity reduces it in place (keeping priority), as OUCH's `Quantity`.
    pub leave_qty: Qty,
}

/// Cancel/replace a resting order (OUCH `Replace Order`, FIX `OrderCancelReplaceRequest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplaceOrder {
    /// When the venue received it.
    pub ts: Timestamp,
    /// Owning firm.
    pub firm: FirmId,
    /// Client id of the live order to replace.
    pub orig_client_id: ClientOrderId,
    /// Client id of the order from now on (may equal `orig_client_id`).
    pub client_id: ClientOrderId,
    /// New limit price.
    pub price: Price,
    /// New open quantity (shares already executed are not included, as in
    /// OUCH; a FIX session converts from `OrderQty` by subtracting `CumQty`).
    pub qty: Qty,
}

/// Anything the matching engine is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Enter an order.
    New(NewOrder),
    /// Cancel or reduce an order.
    Cancel(CancelOrder),
    /// Cancel/replace an order.
    Replace(ReplaceOrder),
}

impl Command {
    /// The timestamp the command carries.
    #[must_use]
    pub const fn ts(&self) -> Timestamp {
        match self {
            Self::New(c) => c.ts,
            Self::Cancel(c) => c.ts,
            Self::Replace(c) => c.ts,
        }
    }
}

/// Why a command was refused; the books are unchanged when one is reported.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RejectReason {
    /// The instrument is not traded here.
    #[error("unknown instrument")]
    UnknownInstrument = 1,
    /// Zero quantity.
    #[error("zero quantity")]
    ZeroQty = 2,
    /// Quantity above the instrument's `max_order_qty`.
    #[error("quantity above the maximum")]
    QtyAboveMax = 3,
    /// Price not a multiple of the tick.
    #[error("price not on a tick")]
    OffTick = 4,
    /// Price outside the instrument's band.
    #[error("price outside the band")]
    OutsideBand = 5,
    /// The firm already has a live order with this client id.
    #[error("duplicate client order id")]
    DuplicateClientId = 6,
    /// No live order of the firm has this client id (too late to cancel, or never existed).
    #[error("unknown order")]
    UnknownOrder = 7,
    /// A post-only order (new or replaced) would have taken liquidity.
    #[error("post-only order would take liquidity")]
    PostOnlyWouldTake = 8,
    /// The order storage is full (`max_orders` resting orders).
    #[error("order capacity exceeded")]
    CapacityExceeded = 9,
    /// A cancel whose `leave_qty` is not below the open quantity.
    #[error("cancel does not reduce the order")]
    NotReduced = 10,
}

/// Which request a [`Rejected`] answers (FIX picks `ExecutionReport` or `OrderCancelReject`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A [`NewOrder`].
    New = b'O',
    /// A [`CancelOrder`].
    Cancel = b'X',
    /// A [`ReplaceOrder`].
    Replace = b'U',
}

/// Why shares left the book (or never reached it) without trading.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// The owner asked (cancel or reduce).
    User = b'U',
    /// The unfilled rest of an IOC order.
    ImmediateOrCancel = b'I',
    /// Self-match prevention.
    SelfMatch = b'Q',
}

/// What a replace did to the order's place in the book.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplaceEffect {
    /// Same price, quantity not increased: the order kept its place and its
    /// reference; on the feed this is a partial cancel.
    InPlace = b'K',
    /// Price changed or quantity increased without crossing: the order moved to
    /// the tail of its (new) level under a new reference.
    Requeued = b'R',
    /// The new price crossed the book: the old order left the book and the new
    /// one (new reference) matches as an aggressive order; any rest is reported
    /// by a following [`Booked`].
    Reentered = b'E',
}

/// An order was accepted (OUCH `Accepted`, FIX `ExecutionReport` `150=0`).
/// Comes before any execution of that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accepted {
    /// Command timestamp.
    pub ts: Timestamp,
    /// Venue order reference assigned to it.
    pub order_ref: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Owning firm.
    pub firm: FirmId,
    /// Client id.
    pub client_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Order quantity.
    pub qty: Qty,
    /// Order type.
    pub order_type: OrderType,
}

/// The unfilled rest of an order was displayed on the book (ITCH `A`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Booked {
    /// Command timestamp.
    pub ts: Timestamp,
    /// Order reference.
    pub order_ref: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Owning firm (for an attributed ITCH `F`).
    pub firm: FirmId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Displayed quantity.
    pub qty: Qty,
}

/// A command was refused (OUCH `Rejected`/`Cancel Reject`, FIX `150=8` or `35=9`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rejected {
    /// Command timestamp.
    pub ts: Timestamp,
    /// Firm that sent the command.
    pub firm: FirmId,
    /// Client id of the request (the new id of a replace, the target of a cancel).
    pub client_id: ClientOrderId,
    /// The order a cancel or replace targeted (equals `client_id` for new orders and cancels).
    pub orig_client_id: ClientOrderId,
    /// Which request was refused.
    pub request: RequestKind,
    /// Why.
    pub reason: RejectReason,
}

/// One fill between a resting order and an incoming one, at the resting
/// order's price. One event serves both parties (each session picks its own side)
/// and the feed (ITCH `E` on the resting order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Executed {
    /// Command timestamp.
    pub ts: Timestamp,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Match number.
    pub match_number: MatchNumber,
    /// Execution price (the resting order's price).
    pub price: Price,
    /// Shares executed.
    pub qty: Qty,
    /// Side of the incoming (liquidity-taking) order.
    pub aggressor_side: Side,
    /// Resting order reference.
    pub resting_ref: OrderId,
    /// Resting order's firm.
    pub resting_firm: FirmId,
    /// Resting order's client id.
    pub resting_client_id: ClientOrderId,
    /// Resting order's open quantity after the fill (zero: it left the book).
    pub resting_remaining: Qty,
    /// Incoming order reference.
    pub aggressor_ref: OrderId,
    /// Incoming order's firm.
    pub aggressor_firm: FirmId,
    /// Incoming order's client id.
    pub aggressor_client_id: ClientOrderId,
    /// Incoming order's unfilled quantity after the fill.
    pub aggressor_remaining: Qty,
}

/// Shares were cancelled (OUCH `Canceled`, FIX `150=4`, or `150=5` for a reduction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Canceled {
    /// Command timestamp.
    pub ts: Timestamp,
    /// Order reference.
    pub order_ref: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Owning firm.
    pub firm: FirmId,
    /// Client id.
    pub client_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Shares cancelled by this event.
    pub qty: Qty,
    /// Open quantity left (zero: the order is gone).
    pub remaining: Qty,
    /// Why.
    pub reason: CancelReason,
    /// The order was resting on the book (so the feed must show the cancel);
    /// false for the rest of an incoming order that never rested.
    pub on_book: bool,
}

/// A replace was applied (OUCH `Replaced`, FIX `150=5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Replaced {
    /// Command timestamp.
    pub ts: Timestamp,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Reference before the replace.
    pub old_ref: OrderId,
    /// Reference from now on (equal to `old_ref` for [`ReplaceEffect::InPlace`]).
    pub new_ref: OrderId,
    /// Owning firm.
    pub firm: FirmId,
    /// Client id before the replace.
    pub orig_client_id: ClientOrderId,
    /// Client id from now on.
    pub client_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Price before.
    pub old_price: Price,
    /// Open quantity before.
    pub old_qty: Qty,
    /// New price.
    pub price: Price,
    /// New open quantity (before any matching of a re-entered order).
    pub qty: Qty,
    /// What happened to the order's place in the book.
    pub effect: ReplaceEffect,
}

/// Everything the matching engine reports. See the module docs for the order
/// of events and their ITCH, OUCH and FIX mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// An order was accepted.
    Accepted(Accepted),
    /// An order's rest was displayed on the book.
    Booked(Booked),
    /// A command was refused.
    Rejected(Rejected),
    /// A fill.
    Executed(Executed),
    /// Shares were cancelled.
    Canceled(Canceled),
    /// A replace was applied.
    Replaced(Replaced),
}

/// Receives the events of each command, in order.
///
/// `Vec<Event>` is a sink: reserve it once and `clear()` it between batches,
/// and pushing never allocates after warm-up.
pub trait EventSink {
    /// Takes one event.
    fn emit(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    #[inline(always)]
    fn emit(&mut self, event: Event) {
        self.push(event);
    }
}

impl<S: EventSink + ?Sized> EventSink for &mut S {
    #[inline(always)]
    fn emit(&mut self, event: Event) {
        (**self).emit(event);
    }
}

/// An aggregated price level (L2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Level {
    /// Level price.
    pub price: Price,
    /// Total open quantity.
    pub qty: Qty,
    /// Number of orders.
    pub count: u32,
}

/// Best bid and offer; `None` for an empty side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bbo {
    /// Best (highest) bid.
    pub bid: Option<Level>,
    /// Best (lowest) ask.
    pub ask: Option<Level>,
}

/// A resting order as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RestingOrder {
    /// Order reference.
    pub order_ref: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Owning firm.
    pub firm: FirmId,
    /// Client id.
    pub client_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Open quantity.
    pub qty: Qty,
    /// Limit or post-only (IOC orders never rest).
    pub order_type: OrderType,
}
