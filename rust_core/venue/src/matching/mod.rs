//! Deterministic price-time matching for every instrument of the venue.
//!
//! [`MatchingEngine`] takes [`Command`]s (new order, cancel/reduce,
//! cancel/replace), each carrying its own timestamp, and reports everything it
//! does as [`Event`]s into a caller-provided [`EventSink`]. It holds no clock,
//! no randomness, no I/O and no threads: the same commands always produce the
//! same events, byte for byte. Venue order references and match numbers start
//! at 1 and strictly increase.
//!
//! # Rules
//!
//! * **Price-time priority** per instrument; trades print at the resting
//!   order's price.
//! * **Order types**: [`OrderType::Limit`] (day; the rest is displayed),
//!   [`OrderType::Ioc`] (the rest is cancelled with
//!   [`CancelReason::ImmediateOrCancel`]), [`OrderType::PostOnly`] (rejected
//!   with [`RejectReason::PostOnlyWouldTake`] if it would take on entry).
//! * **Cancel** ([`CancelOrder`]) names the quantity to *leave*: zero removes
//!   the order, less than the open quantity reduces it in place (priority
//!   kept), anything else is [`RejectReason::NotReduced`].
//! * **Cancel/replace** ([`ReplaceOrder`], new open quantity and price):
//!   same price and quantity not increased keeps priority and the order
//!   reference ([`ReplaceEffect::InPlace`]); a price change or a quantity
//!   increase gets a new reference at the tail of the (new) level
//!   ([`ReplaceEffect::Requeued`]); a new price that crosses the book removes
//!   the old order and matches the new one as an aggressive order
//!   ([`ReplaceEffect::Reentered`]), except that a post-only order is rejected
//!   and left untouched.
//! * **Self-match prevention** by [`FirmId`], one [`SelfMatchMode`] for the
//!   venue: cancel the resting order (default), the incoming order, both, or
//!   decrement both by the smaller quantity. Self-match cancels carry
//!   [`CancelReason::SelfMatch`].
//! * **Validation**, in this order, each failure a single [`Rejected`] event
//!   with the books untouched. New order: unknown instrument, zero quantity,
//!   quantity above the instrument maximum, off tick, outside the band,
//!   duplicate client id (among the firm's *live* orders: the venue keeps no
//!   day-long id history; OUCH sessions also enforce increasing `UserRefNum`s),
//!   post-only would take, order storage full (day and post-only orders only).
//!   Replace: unknown order, duplicate new client id, then the same quantity,
//!   tick and band checks, then post-only would take. Cancel: unknown order,
//!   not reduced.
//!
//! # Events of one command, in order
//!
//! * New order: `Accepted`; then per resting order met, in priority order,
//!   `Executed` or (same firm) self-match `Canceled`s; then `Booked` if a day
//!   or post-only rest is displayed, or `Canceled` (IOC rest, or an incoming
//!   order cancelled by self-match prevention), or nothing if fully filled.
//! * Cancel: one `Canceled` (reason `User`).
//! * Replace: `Replaced`; when `Reentered`, followed by the same sequence as a
//!   new order after its `Accepted`, under the new reference.
//! * Any refusal: one `Rejected` and nothing else.
//!
//! # Mapping to TotalView-ITCH 5.0
//!
//! Every ITCH message carries stock locate = `instrument`, timestamp = `ts`.
//! The aggressor of a trade never appears on ITCH; only displayed orders do.
//!
//! | Event | Condition | ITCH |
//! |---|---|---|
//! | [`Accepted`] | always | none (an order is shown only once it rests) |
//! | [`Booked`] | always | `A` Add Order: `order_ref`, `side`, `qty`, `price` (or `F` with the firm's MPID) |
//! | [`Executed`] | always | `E` Order Executed: `resting_ref`, `qty`, `match_number` (price is the resting price, so never `C`) |
//! | [`Canceled`] | `on_book` and `remaining > 0` | `X` Order Cancel: `order_ref`, `qty` |
//! | [`Canceled`] | `on_book` and `remaining == 0` | `D` Order Delete: `order_ref` |
//! | [`Canceled`] | `!on_book` (IOC rest, incoming order's self-match cancel) | none |
//! | [`Replaced`] | `InPlace`, `qty < old_qty` | `X` Order Cancel: `old_ref`, `old_qty - qty` |
//! | [`Replaced`] | `InPlace`, `qty == old_qty` (client id change only) | none |
//! | [`Replaced`] | `Requeued` | `U` Order Replace: `old_ref`, `new_ref`, `qty`, `price` |
//! | [`Replaced`] | `Reentered` | `D` Order Delete: `old_ref` (then `E`s on the orders it takes, and `A` for `new_ref` if it rests) |
//! | [`Rejected`] | always | none |
//!
//! # Mapping to OUCH 5.0 and FIX 4.4
//!
//! | Event | OUCH 5.0 | FIX 4.4 |
//! |---|---|---|
//! | [`Accepted`] | `A` Order Accepted (to `firm`) | `35=8 150=0 39=0` |
//! | [`Booked`] | none | none |
//! | [`Executed`] | `E` Order Executed to `resting_firm` (liquidity added) and to `aggressor_firm` (removed) | `35=8 150=F` to each party (`39=1/2` from its remaining) |
//! | [`Canceled`] | `C` Order Canceled (reason from [`CancelReason`]); a partial is `C` with the decrement | `35=8 150=4 39=4`, or `150=5` for a reduction (`remaining > 0`) |
//! | [`Replaced`] | `U` Order Replaced | `35=8 150=5 39=0/1` (`41` = `orig_client_id`) |
//! | [`Rejected`] | `J` Rejected (new), `I` Cancel Reject (cancel/replace) | `35=8 150=8` (new) or `35=9` with `434=1/2` from `request` |
//!
//! # Layout
//!
//! * **Order slab**: a `Vec` of 56-byte nodes sized to `max_orders` at
//!   construction, free slots chained through `next`; orders at one level form
//!   an intrusive doubly linked FIFO (`u32` slab links), so a cancel is O(1).
//!   Two `hashbrown` tables, both reserved for `max_orders` up front, map venue
//!   reference -> slot and (firm, client id) -> slot. Their hashes are
//!   randomly seeded but never iterated, so they cannot affect the output.
//! * **Ladders**: each instrument has one level array per side indexed by
//!   `(price - band low) / tick` (the band bounds every price, so the ladder
//!   is finite and allocated up front), each level 24 bytes (FIFO ends, total
//!   quantity, order count), plus a bitmap of non-empty levels and the index
//!   of the best level. Finding a level is one subtraction and division at
//!   entry (nodes keep their level index); the best level is O(1); when it
//!   empties, the next one is found by scanning bitmap words.
//! * **Events** are `Copy` values; a pre-reserved `Vec<Event>` sink never
//!   allocates after warm-up, and the engine itself allocates nothing after
//!   construction.
//!
//! # Example
//!
//! ```
//! use quotewire_core::{InstrumentId, Price, Qty, Side, Timestamp};
//! use quotewire_venue::matching::{
//!     ClientOrderId, Command, Event, FirmId, InstrumentConfig, MatchingEngine, NewOrder,
//!     OrderType, PriceBand, VenueConfig,
//! };
//!
//! let aapl = InstrumentId(1);
//! let config = VenueConfig {
//!     max_orders: 1024,
//!     instruments: vec![InstrumentConfig {
//!         id: aapl,
//!         tick: Price(100),
//!         band: PriceBand::Around { reference: Price(1_000_000), width: Price(100_000) },
//!         max_order_qty: Qty(1_000_000),
//!     }],
//!     ..VenueConfig::default()
//! };
//! let mut venue = MatchingEngine::new(&config)?;
//! let mut events = Vec::with_capacity(64);
//! let order = |firm, id, side, qty| Command::New(NewOrder {
//!     ts: Timestamp(1), firm: FirmId(firm), client_id: ClientOrderId(id), instrument: aapl,
//!     side, price: Price(1_000_000), qty: Qty(qty), order_type: OrderType::Limit,
//! });
//! venue.process(&order(1, 1, Side::Sell, 100), &mut events);
//! venue.process(&order(2, 1, Side::Buy, 30), &mut events);
//! let Event::Executed(fill) = events[3] else { panic!("expected a fill") };
//! assert_eq!((fill.qty, fill.resting_remaining), (Qty(30), Qty(70)));
//! assert_eq!(venue.bbo(aapl).ask.map(|l| l.qty), Some(Qty(70)));
//! # Ok::<(), quotewire_venue::VenueError>(())
//! ```

mod engine;
mod ladder;
mod types;

#[cfg(test)]
mod tests;

pub use engine::{InstrumentRules, MatchingEngine};
pub use types::{
    Accepted, Bbo, Booked, CancelOrder, CancelReason, Canceled, ClientOrderId, Command, Event,
    EventSink, Executed, FirmId, InstrumentConfig, Level, MatchNumber, NewOrder, OrderType,
    PriceBand, RejectReason, Rejected, ReplaceEffect, ReplaceOrder, Replaced, RequestKind,
    RestingOrder, SelfMatchMode, VenueConfig,
};
