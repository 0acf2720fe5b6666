//! The event -> ITCH mapping of the matching module's table: each matching
//! event becomes at most one TotalView-ITCH 5.0 message.

use quotewire_core::{InstrumentId, Price, Qty};
use quotewire_protocol::itch::{
    AddOrder, Message, OrderCancel, OrderDelete, OrderExecuted, OrderReplace,
};

use crate::matching::{Event, ReplaceEffect};

/// A price or quantity outside the ITCH field range (`u32`); the engine's
/// configuration checks make this unreachable for its own events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct OutOfRange;

#[inline(always)]
fn price4(p: Price) -> Result<u32, OutOfRange> {
    u32::try_from(p.0).map_err(|_| OutOfRange)
}

#[inline(always)]
fn shares(q: Qty) -> Result<u32, OutOfRange> {
    u32::try_from(q.0).map_err(|_| OutOfRange)
}

/// The ITCH message one event publishes, if any. `ts` is nanoseconds since
/// midnight; `symbol` gives the 8-byte stock field of an instrument.
#[inline]
pub(super) fn itch_for(
    event: &Event,
    ts: u64,
    symbol: impl Fn(InstrumentId) -> [u8; 8],
) -> Result<Option<Message>, OutOfRange> {
    let msg = match event {
        // Only displayed orders appear on the feed.
        Event::Accepted(_) | Event::Rejected(_) => return Ok(None),
        Event::Booked(b) => Message::AddOrder(AddOrder {
            stock_locate: b.instrument.0,
            tracking_number: 0,
            timestamp: ts,
            order_ref: b.order_ref.0,
            side: b.side,
            shares: shares(b.qty)?,
            stock: symbol(b.instrument),
            price: price4(b.price)?,
        }),
        // Trades print at the resting price, so never `C`.
        Event::Executed(e) => Message::OrderExecuted(OrderExecuted {
            stock_locate: e.instrument.0,
            tracking_number: 0,
            timestamp: ts,
            order_ref: e.resting_ref.0,
            executed_shares: shares(e.qty)?,
            match_number: e.match_number.0,
        }),
        Event::Canceled(c) if !c.on_book => return Ok(None),
        Event::Canceled(c) if c.remaining.0 > 0 => Message::OrderCancel(OrderCancel {
            stock_locate: c.instrument.0,
            tracking_number: 0,
            timestamp: ts,
            order_ref: c.order_ref.0,
            cancelled_shares: shares(c.qty)?,
        }),
        Event::Canceled(c) => Message::OrderDelete(OrderDelete {
            stock_locate: c.instrument.0,
            tracking_number: 0,
            timestamp: ts,
            order_ref: c.order_ref.0,
        }),
        Event::Replaced(r) => match r.effect {
            ReplaceEffect::InPlace if r.qty < r.old_qty => Message::OrderCancel(OrderCancel {
                stock_locate: r.instrument.0,
                tracking_number: 0,
                timestamp: ts,
                order_ref: r.old_ref.0,
                cancelled_shares: shares(r.old_qty.saturating_sub(r.qty))?,
            }),
            // A client id change only: nothing public changed.
            ReplaceEffect::InPlace => return Ok(None),
            ReplaceEffect::Requeued => Message::OrderReplace(OrderReplace {
                stock_locate: r.instrument.0,
                tracking_number: 0,
                timestamp: ts,
                original_order_ref: r.old_ref.0,
                new_order_ref: r.new_ref.0,
                shares: shares(r.qty)?,
                price: price4(r.price)?,
            }),
            // The `E`s and the `A` of the re-entered order follow as their own events.
            ReplaceEffect::Reentered => Message::OrderDelete(OrderDelete {
                stock_locate: r.instrument.0,
                tracking_number: 0,
                timestamp: ts,
                order_ref: r.old_ref.0,
            }),
        },
    };
    Ok(Some(msg))
}
