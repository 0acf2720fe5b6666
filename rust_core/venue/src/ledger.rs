//! What the venue knows about each firm: its fills, per instrument, and its
//! resting orders.
//!
//! [`FirmLedger`] is fed the [`Event`]s of every command (the simulator's
//! [`Venue`](crate::runtime::Venue) does it when one is attached) and answers
//! per firm: shares bought and sold, their notional, the signed position per
//! instrument, the number of fills and the number of orders resting on the
//! book. End-to-end tests compare it with what a trading engine believes.
//!
//! It is a test and reporting aid, not part of matching: it allocates as new
//! firms, instruments and orders appear and is not meant for the benchmark path.
//!
//! Open orders are tracked by venue reference with set semantics, so the
//! count is exact and a repeated event cannot double count. Each one keeps
//! where it rests ([`OpenOrder`]: instrument, side, price, open quantity):
//!
//! * [`Booked`](crate::matching::Booked) inserts the order with its price and
//!   displayed quantity (a replayed `Booked` leaves a known order as it is);
//! * [`Replaced`](crate::matching::Replaced) removes `old_ref` and, unless the
//!   replacement re-entered as an aggressive order (whose rest, if any, is
//!   reported by a later `Booked`), inserts `new_ref` at the new price and
//!   quantity;
//! * [`Executed`](crate::matching::Executed) sets the open quantity of the
//!   resting (or incoming) order to its remaining quantity, removing it at zero;
//!   an incoming order not yet booked is not inserted;
//! * [`Canceled`](crate::matching::Canceled) sets the open quantity to the
//!   remaining one, removing the order when nothing remains.

use hashbrown::HashMap;
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

use crate::matching::{Event, FirmId, ReplaceEffect};

/// One firm's fills in one instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InstrumentTotals {
    /// Shares bought.
    pub bought: u64,
    /// Shares sold.
    pub sold: u64,
    /// Sum of raw price (4 implied decimals) x shares over the buys.
    pub buy_notional: i128,
    /// Sum of raw price (4 implied decimals) x shares over the sells.
    pub sell_notional: i128,
    /// Fills the firm took part in.
    pub executions: u64,
}

impl InstrumentTotals {
    /// Signed position: shares bought minus shares sold (clamped to `i64`).
    #[must_use]
    pub fn position(&self) -> i64 {
        let net = i128::from(self.bought) - i128::from(self.sold);
        i64::try_from(net).unwrap_or(if net < 0 { i64::MIN } else { i64::MAX })
    }

    fn fill(&mut self, side: Side, price: Price, qty: Qty) {
        let notional = i128::from(price.0).saturating_mul(i128::from(qty.0));
        match side {
            Side::Buy => {
                self.bought = self.bought.saturating_add(qty.0);
                self.buy_notional = self.buy_notional.saturating_add(notional);
            }
            Side::Sell => {
                self.sold = self.sold.saturating_add(qty.0);
                self.sell_notional = self.sell_notional.saturating_add(notional);
            }
        }
        self.executions += 1;
    }
}

/// One resting order of a firm: where it rests and how much is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpenOrder {
    /// Venue order reference.
    pub order_ref: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Limit price (4 implied decimals).
    pub price: Price,
    /// Open quantity.
    pub qty: Qty,
}

impl OpenOrder {
    /// The order of [`FirmLedger::open_orders_detail`]: instrument, side (buys
    /// first), price ascending, then reference.
    const fn sort_key(&self) -> (u16, u8, i64, u64) {
        (
            self.instrument.0,
            self.side.as_byte(),
            self.price.0,
            self.order_ref.0,
        )
    }
}

/// A snapshot of one firm as the venue knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirmState {
    /// Orders of the firm resting on the book.
    pub open_orders: usize,
    /// Those orders, as [`FirmLedger::open_orders_detail`] lists them.
    pub orders: Vec<OpenOrder>,
    /// `(instrument, bought - sold)` for every instrument the firm traded
    /// (flat ones included), in instrument order.
    pub positions: Vec<(InstrumentId, i64)>,
    /// Shares bought, all instruments.
    pub bought: u64,
    /// Shares sold, all instruments.
    pub sold: u64,
    /// Fills the firm took part in, all instruments.
    pub executions: u64,
    /// Sum of raw price x shares over the buys, all instruments.
    pub buy_notional: i128,
    /// Sum of raw price x shares over the sells, all instruments.
    pub sell_notional: i128,
}

/// Everything the ledger keeps for one firm.
#[derive(Clone, Debug, Default)]
struct FirmEntry {
    instruments: HashMap<InstrumentId, InstrumentTotals>,
    open: HashMap<OrderId, OpenOrder>,
}

impl FirmEntry {
    /// Sets the open quantity of a known order to `remaining`, removing it at zero.
    fn leave(&mut self, order_ref: OrderId, remaining: Qty) {
        if remaining == Qty::ZERO {
            self.open.remove(&order_ref);
        } else if let Some(order) = self.open.get_mut(&order_ref) {
            order.qty = remaining;
        }
    }

    fn orders(&self) -> Vec<OpenOrder> {
        let mut orders: Vec<OpenOrder> = self.open.values().copied().collect();
        orders.sort_unstable_by_key(OpenOrder::sort_key);
        orders
    }
}

/// Per-firm fills and resting orders, built from the matching engine's events.
#[derive(Clone, Debug, Default)]
pub struct FirmLedger {
    firms: HashMap<FirmId, FirmEntry>,
}

impl FirmLedger {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the events of one or more commands, in order.
    pub fn on_events(&mut self, events: &[Event]) {
        for event in events {
            self.on_event(event);
        }
    }

    /// Applies one event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Accepted(a) => {
                self.firms.entry(a.firm).or_default();
            }
            Event::Rejected(_) => {}
            Event::Booked(b) => {
                self.firms
                    .entry(b.firm)
                    .or_default()
                    .open
                    .entry(b.order_ref)
                    .or_insert(OpenOrder {
                        order_ref: b.order_ref,
                        instrument: b.instrument,
                        side: b.side,
                        price: b.price,
                        qty: b.qty,
                    });
            }
            Event::Executed(e) => {
                let sides = [
                    (
                        e.resting_firm,
                        e.resting_ref,
                        e.resting_remaining,
                        e.aggressor_side.opposite(),
                    ),
                    (
                        e.aggressor_firm,
                        e.aggressor_ref,
                        e.aggressor_remaining,
                        e.aggressor_side,
                    ),
                ];
                for (firm, order_ref, remaining, side) in sides {
                    let entry = self.firms.entry(firm).or_default();
                    entry
                        .instruments
                        .entry(e.instrument)
                        .or_default()
                        .fill(side, e.price, e.qty);
                    entry.leave(order_ref, remaining);
                }
            }
            Event::Canceled(c) => {
                if let Some(entry) = self.firms.get_mut(&c.firm) {
                    entry.leave(c.order_ref, c.remaining);
                }
            }
            Event::Replaced(r) => {
                let entry = self.firms.entry(r.firm).or_default();
                entry.open.remove(&r.old_ref);
                if r.effect != ReplaceEffect::Reentered {
                    entry.open.insert(
                        r.new_ref,
                        OpenOrder {
                            order_ref: r.new_ref,
                            instrument: r.instrument,
                            side: r.side,
                            price: r.price,
                            qty: r.qty,
                        },
                    );
                }
            }
        }
    }

    /// A snapshot of `firm`; all zero for a firm the venue has not seen.
    #[must_use]
    pub fn firm(&self, firm: FirmId) -> FirmState {
        let Some(entry) = self.firms.get(&firm) else {
            return FirmState::default();
        };
        let mut state = FirmState {
            open_orders: entry.open.len(),
            orders: entry.orders(),
            positions: Vec::with_capacity(entry.instruments.len()),
            ..FirmState::default()
        };
        for (&instrument, t) in &entry.instruments {
            state.positions.push((instrument, t.position()));
            state.bought = state.bought.saturating_add(t.bought);
            state.sold = state.sold.saturating_add(t.sold);
            state.executions = state.executions.saturating_add(t.executions);
            state.buy_notional = state.buy_notional.saturating_add(t.buy_notional);
            state.sell_notional = state.sell_notional.saturating_add(t.sell_notional);
        }
        state
            .positions
            .sort_unstable_by_key(|&(instrument, _)| instrument.0);
        state
    }

    /// Orders of `firm` resting on the book.
    #[must_use]
    pub fn open_orders(&self, firm: FirmId) -> usize {
        self.firms.get(&firm).map_or(0, |e| e.open.len())
    }

    /// True if the ledger holds `order_ref` as a resting order of `firm`.
    #[must_use]
    pub fn is_open(&self, firm: FirmId, order_ref: OrderId) -> bool {
        self.firms
            .get(&firm)
            .is_some_and(|e| e.open.contains_key(&order_ref))
    }

    /// References of `firm`'s resting orders, ascending.
    #[must_use]
    pub fn open_order_refs(&self, firm: FirmId) -> Vec<OrderId> {
        let mut refs: Vec<OrderId> = self
            .firms
            .get(&firm)
            .map(|e| e.open.keys().copied().collect())
            .unwrap_or_default();
        refs.sort_unstable();
        refs
    }

    /// `firm`'s resting orders with where they rest, sorted by instrument, side
    /// (buys first), price ascending, then reference; empty for an unseen firm.
    #[must_use]
    pub fn open_orders_detail(&self, firm: FirmId) -> Vec<OpenOrder> {
        self.firms
            .get(&firm)
            .map(FirmEntry::orders)
            .unwrap_or_default()
    }

    /// `firm`'s fills in `instrument`; all zero if it has none.
    #[must_use]
    pub fn instrument(&self, firm: FirmId, instrument: InstrumentId) -> InstrumentTotals {
        self.firms
            .get(&firm)
            .and_then(|e| e.instruments.get(&instrument))
            .copied()
            .unwrap_or_default()
    }

    /// Every firm seen (an order accepted, booked, replaced or filled), ascending.
    #[must_use]
    pub fn firms(&self) -> Vec<FirmId> {
        let mut firms: Vec<FirmId> = self.firms.keys().copied().collect();
        firms.sort_unstable();
        firms
    }

    /// Snapshots of every firm seen, ascending by firm.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(FirmId, FirmState)> {
        self.firms()
            .into_iter()
            .map(|firm| (firm, self.firm(firm)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use quotewire_core::Timestamp;

    use super::*;
    use crate::matching::{
        CancelOrder, ClientOrderId, Command, InstrumentConfig, MatchingEngine, NewOrder, OrderType,
        PriceBand, ReplaceOrder, SelfMatchMode, VenueConfig,
    };

    const TICK: i64 = 100;
    const PX: i64 = 1_000_000;
    const INSTRUMENTS: [InstrumentId; 2] = [InstrumentId(1), InstrumentId(2)];

    fn engine(mode: SelfMatchMode) -> MatchingEngine {
        let config = VenueConfig {
            max_orders: 256,
            max_band_levels: 1024,
            self_match: mode,
            instruments: INSTRUMENTS
                .iter()
                .map(|&id| InstrumentConfig {
                    id,
                    tick: Price(TICK),
                    band: PriceBand::Around {
                        reference: Price(PX),
                        width: Price(20 * TICK),
                    },
                    max_order_qty: Qty(1_000),
                })
                .collect(),
        };
        MatchingEngine::new(&config).expect("valid config")
    }

    fn new_order(firm: u32, id: u64, side: Side, ticks: i64, qty: u64, t: OrderType) -> Command {
        Command::New(NewOrder {
            ts: Timestamp(1),
            firm: FirmId(firm),
            client_id: ClientOrderId(id),
            instrument: INSTRUMENTS[0],
            side,
            price: Price(PX + ticks * TICK),
            qty: Qty(qty),
            order_type: t,
        })
    }

    /// Runs `commands` through a fresh engine and a ledger fed every event.
    fn run(commands: &[Command]) -> (MatchingEngine, FirmLedger, Vec<Event>) {
        let mut engine = engine(SelfMatchMode::CancelOldest);
        let mut ledger = FirmLedger::new();
        let mut all = Vec::new();
        let mut events = Vec::new();
        for c in commands {
            events.clear();
            engine.process(c, &mut events);
            ledger.on_events(&events);
            all.extend_from_slice(&events);
        }
        (engine, ledger, all)
    }

    #[test]
    fn a_partial_fill_moves_both_positions_and_keeps_the_rest_open() {
        let (_, ledger, _) = run(&[
            new_order(1, 1, Side::Sell, 0, 100, OrderType::Limit),
            new_order(2, 1, Side::Buy, 1, 30, OrderType::Limit),
        ]);
        let seller = ledger.firm(FirmId(1));
        let buyer = ledger.firm(FirmId(2));
        assert_eq!(seller.open_orders, 1, "70 shares still rest");
        assert_eq!(buyer.open_orders, 0, "the buy filled in full");
        assert_eq!(seller.orders.len(), 1);
        let rest = seller.orders[0];
        assert_eq!(
            (rest.instrument, rest.side, rest.price, rest.qty),
            (INSTRUMENTS[0], Side::Sell, Price(PX), Qty(70)),
            "the rest keeps its price with the remaining quantity"
        );
        assert!(buyer.orders.is_empty());
        assert_eq!(seller.positions, [(INSTRUMENTS[0], -30)]);
        assert_eq!(buyer.positions, [(INSTRUMENTS[0], 30)]);
        assert_eq!((seller.sold, seller.bought, seller.executions), (30, 0, 1));
        assert_eq!((buyer.bought, buyer.sold, buyer.executions), (30, 0, 1));
        let notional = i128::from(PX) * 30;
        assert_eq!(
            seller.sell_notional, notional,
            "trades print at the resting price"
        );
        assert_eq!(buyer.buy_notional, notional);
    }

    #[test]
    fn replays_of_the_same_events_do_not_double_count_open_orders() {
        let (engine, mut ledger, events) = run(&[
            new_order(1, 1, Side::Buy, -1, 10, OrderType::Limit),
            new_order(1, 2, Side::Buy, -2, 10, OrderType::Limit),
        ]);
        let booked: Vec<Event> = events
            .iter()
            .filter(|e| matches!(e, Event::Booked(_)))
            .copied()
            .collect();
        let detail = ledger.open_orders_detail(FirmId(1));
        ledger.on_events(&booked);
        ledger.on_events(&booked);
        assert_eq!(ledger.open_orders_detail(FirmId(1)), detail);
        assert_eq!(ledger.open_orders(FirmId(1)), engine.live_orders());
        assert_eq!(ledger.open_orders(FirmId(1)), 2);
    }

    #[test]
    fn a_requeued_replace_swaps_the_reference_and_a_crossing_one_rests_only_its_rest() {
        let (engine, ledger, _) = run(&[
            new_order(1, 1, Side::Buy, -1, 10, OrderType::Limit),
            // Requeued: price changes without crossing, new reference.
            Command::Replace(ReplaceOrder {
                ts: Timestamp(2),
                firm: FirmId(1),
                orig_client_id: ClientOrderId(1),
                client_id: ClientOrderId(2),
                price: Price(PX - 2 * TICK),
                qty: Qty(10),
            }),
            new_order(2, 1, Side::Sell, 1, 5, OrderType::Limit),
            // Reentered: crosses the 5-share offer, rests 15.
            Command::Replace(ReplaceOrder {
                ts: Timestamp(3),
                firm: FirmId(1),
                orig_client_id: ClientOrderId(2),
                client_id: ClientOrderId(3),
                price: Price(PX + TICK),
                qty: Qty(20),
            }),
        ]);
        let refs = ledger.open_order_refs(FirmId(1));
        assert_eq!(refs.len(), 1);
        let resting = engine.order(refs[0]).expect("the engine holds it");
        assert_eq!(
            (resting.client_id, resting.qty),
            (ClientOrderId(3), Qty(15))
        );
        assert_eq!(
            ledger.open_orders_detail(FirmId(1)),
            [OpenOrder {
                order_ref: refs[0],
                instrument: INSTRUMENTS[0],
                side: Side::Buy,
                price: Price(PX + TICK),
                qty: Qty(15),
            }],
            "the re-entered order rests its 15 unfilled shares at the new price"
        );
        assert_eq!(ledger.open_orders(FirmId(2)), 0);
        assert_eq!(ledger.instrument(FirmId(1), INSTRUMENTS[0]).position(), 5);
    }

    #[test]
    fn a_reduction_keeps_the_order_open_and_a_full_cancel_closes_it() {
        let cancel = |leave| {
            Command::Cancel(CancelOrder {
                ts: Timestamp(2),
                firm: FirmId(1),
                client_id: ClientOrderId(1),
                leave_qty: Qty(leave),
            })
        };
        let (_, ledger, _) = run(&[
            new_order(1, 1, Side::Sell, 3, 10, OrderType::Limit),
            cancel(4),
        ]);
        assert_eq!(ledger.open_orders(FirmId(1)), 1);
        let reduced = ledger.open_orders_detail(FirmId(1));
        assert_eq!(
            (reduced[0].price, reduced[0].qty),
            (Price(PX + 3 * TICK), Qty(4))
        );
        let (_, ledger, _) = run(&[
            new_order(1, 1, Side::Sell, 3, 10, OrderType::Limit),
            cancel(4),
            cancel(0),
        ]);
        assert_eq!(ledger.open_orders(FirmId(1)), 0);
        assert_eq!(ledger.firms(), [FirmId(1)]);
    }

    #[test]
    fn a_requeued_replace_moves_the_order_to_its_new_price_and_quantity() {
        let (_, ledger, _) = run(&[
            new_order(1, 1, Side::Sell, 4, 10, OrderType::Limit),
            Command::Replace(ReplaceOrder {
                ts: Timestamp(2),
                firm: FirmId(1),
                orig_client_id: ClientOrderId(1),
                client_id: ClientOrderId(2),
                price: Price(PX + 2 * TICK),
                qty: Qty(25),
            }),
        ]);
        let orders = ledger.open_orders_detail(FirmId(1));
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].order_ref, ledger.open_order_refs(FirmId(1))[0]);
        assert_eq!(
            (orders[0].side, orders[0].price, orders[0].qty),
            (Side::Sell, Price(PX + 2 * TICK), Qty(25))
        );
    }

    #[test]
    fn open_order_detail_is_sorted_by_instrument_side_then_price() {
        let on = |instrument, id, side, ticks| {
            Command::New(NewOrder {
                ts: Timestamp(1),
                firm: FirmId(1),
                client_id: ClientOrderId(id),
                instrument,
                side,
                price: Price(PX + ticks * TICK),
                qty: Qty(id),
                order_type: OrderType::Limit,
            })
        };
        let (_, ledger, _) = run(&[
            on(INSTRUMENTS[1], 1, Side::Buy, -1),
            on(INSTRUMENTS[0], 2, Side::Sell, 3),
            on(INSTRUMENTS[0], 3, Side::Buy, -2),
            on(INSTRUMENTS[0], 4, Side::Sell, 1),
            on(INSTRUMENTS[0], 5, Side::Buy, -1),
        ]);
        let got: Vec<(InstrumentId, Side, i64, u64)> = ledger
            .open_orders_detail(FirmId(1))
            .iter()
            .map(|o| (o.instrument, o.side, (o.price.0 - PX) / TICK, o.qty.0))
            .collect();
        assert_eq!(
            got,
            [
                (INSTRUMENTS[0], Side::Buy, -2, 3),
                (INSTRUMENTS[0], Side::Buy, -1, 5),
                (INSTRUMENTS[0], Side::Sell, 1, 4),
                (INSTRUMENTS[0], Side::Sell, 3, 2),
                (INSTRUMENTS[1], Side::Buy, -1, 1),
            ]
        );
        assert_eq!(
            ledger.firm(FirmId(1)).orders,
            ledger.open_orders_detail(FirmId(1))
        );
    }

    #[test]
    fn an_unknown_firm_is_all_zero() {
        let ledger = FirmLedger::new();
        assert_eq!(ledger.firm(FirmId(9)), FirmState::default());
        assert_eq!(ledger.open_orders(FirmId(9)), 0);
        assert!(ledger.open_orders_detail(FirmId(9)).is_empty());
        assert!(ledger.firms().is_empty());
    }

    fn command(clients: u64) -> impl Strategy<Value = Command> {
        let firm = (1_u32..=3).prop_map(FirmId);
        let client = (0..clients).prop_map(ClientOrderId);
        let price = (-6_i64..=6).prop_map(|t| Price(PX + t * TICK));
        let qty = 1_u64..=40;
        let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
        let order_type = prop_oneof![
            5 => Just(OrderType::Limit),
            2 => Just(OrderType::Ioc),
            2 => Just(OrderType::PostOnly),
        ];
        let instrument = prop_oneof![3 => Just(INSTRUMENTS[0]), 1 => Just(INSTRUMENTS[1])];
        prop_oneof![
            5 => (firm.clone(), client.clone(), instrument, side, price.clone(), qty.clone(), order_type)
                .prop_map(|(firm, client_id, instrument, side, price, qty, order_type)| {
                    Command::New(NewOrder {
                        ts: Timestamp(0), firm, client_id, instrument, side,
                        price, qty: Qty(qty), order_type,
                    })
                }),
            2 => (firm.clone(), client.clone(), 0_u64..20).prop_map(|(firm, client_id, leave)| {
                Command::Cancel(CancelOrder {
                    ts: Timestamp(0), firm, client_id, leave_qty: Qty(leave),
                })
            }),
            3 => (firm, client.clone(), client, price, qty).prop_map(
                |(firm, orig_client_id, client_id, price, qty)| {
                    Command::Replace(ReplaceOrder {
                        ts: Timestamp(0), firm, orig_client_id, client_id, price, qty: Qty(qty),
                    })
                },
            ),
        ]
    }

    fn mode() -> impl Strategy<Value = SelfMatchMode> {
        prop_oneof![
            Just(SelfMatchMode::CancelOldest),
            Just(SelfMatchMode::CancelNewest),
            Just(SelfMatchMode::CancelBoth),
            Just(SelfMatchMode::Decrement),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// After every command the ledger's open orders are exactly the orders the
        /// engine holds for each firm, at the engine's instrument, side, price and
        /// open quantity, and its fills are the sum of the executions.
        #[test]
        fn the_ledger_agrees_with_the_engine_on_random_streams(
            mode in mode(),
            commands in prop::collection::vec(command(10), 1..300),
        ) {
            let mut engine = engine(mode);
            let mut ledger = FirmLedger::new();
            let mut events = Vec::with_capacity(64);
            // Every reference ever assigned, and the fills per (firm, instrument, side).
            let mut refs: Vec<OrderId> = Vec::new();
            let mut fills: HashMap<(FirmId, InstrumentId, Side), (u64, i128, u64)> = HashMap::new();
            for (step, c) in commands.iter().enumerate() {
                events.clear();
                engine.process(c, &mut events);
                ledger.on_events(&events);
                for e in &events {
                    match e {
                        Event::Accepted(a) => refs.push(a.order_ref),
                        Event::Replaced(r) => refs.push(r.new_ref),
                        Event::Executed(x) => {
                            let notional = i128::from(x.price.0) * i128::from(x.qty.0);
                            for (firm, side) in [
                                (x.resting_firm, x.aggressor_side.opposite()),
                                (x.aggressor_firm, x.aggressor_side),
                            ] {
                                let f = fills.entry((firm, x.instrument, side)).or_default();
                                f.0 += x.qty.0;
                                f.1 += notional;
                                f.2 += 1;
                            }
                        }
                        _ => {}
                    }
                }
                let mut live: HashMap<FirmId, Vec<OpenOrder>> = HashMap::new();
                for &r in &refs {
                    if let Some(o) = engine.order(r) {
                        prop_assert_eq!(o.order_ref, r);
                        live.entry(o.firm).or_default().push(OpenOrder {
                            order_ref: o.order_ref,
                            instrument: o.instrument,
                            side: o.side,
                            price: o.price,
                            qty: o.qty,
                        });
                    }
                }
                let mut counted = 0;
                for firm in (1..=3).map(FirmId) {
                    let mut want = live.remove(&firm).unwrap_or_default();
                    want.sort_unstable_by_key(OpenOrder::sort_key);
                    want.dedup();
                    counted += want.len();
                    let mut want_refs: Vec<OrderId> = want.iter().map(|o| o.order_ref).collect();
                    want_refs.sort_unstable();
                    prop_assert_eq!(ledger.open_orders(firm), want.len(), "step {} {:?}", step, c);
                    prop_assert_eq!(ledger.open_order_refs(firm), want_refs, "step {} {:?}", step, c);
                    prop_assert_eq!(ledger.open_orders_detail(firm), want, "step {} {:?}", step, c);
                }
                prop_assert_eq!(counted, engine.live_orders(), "every live order was seen");
            }
            for firm in (1..=3).map(FirmId) {
                let state = ledger.firm(firm);
                let mut want = FirmState {
                    open_orders: state.open_orders,
                    orders: ledger.open_orders_detail(firm),
                    ..FirmState::default()
                };
                for &instrument in &INSTRUMENTS {
                    let (b, bn, be) = fills.get(&(firm, instrument, Side::Buy)).copied().unwrap_or_default();
                    let (s, sn, se) = fills.get(&(firm, instrument, Side::Sell)).copied().unwrap_or_default();
                    if be + se > 0 {
                        want.positions.push((instrument, b as i64 - s as i64));
                    }
                    want.bought += b;
                    want.sold += s;
                    want.buy_notional += bn;
                    want.sell_notional += sn;
                    want.executions += be + se;
                }
                prop_assert_eq!(state, want, "firm {:?}", firm);
            }
            for &instrument in &INSTRUMENTS {
                let net: i64 = (1..=3)
                    .map(|f| ledger.instrument(FirmId(f), instrument).position())
                    .sum();
                prop_assert_eq!(net, 0, "every fill has two sides");
            }
        }
    }
}
