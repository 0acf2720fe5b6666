//! Drives `BookSet` and an obviously-correct reference model with the same
//! random event streams and checks they agree after every step.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;
use quotewire_book::{BookConfig, BookError, BookSet, Execution, Level};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

const INSTRUMENTS: usize = 3;
const MAX_ORDERS: usize = 24;

#[derive(Clone, Debug)]
enum Op {
    Add {
        inst: u16,
        id: u64,
        side: Side,
        price: i64,
        qty: u64,
    },
    Execute {
        id: u64,
        qty: u64,
    },
    Cancel {
        id: u64,
        qty: u64,
    },
    Delete {
        id: u64,
    },
    Replace {
        old: u64,
        new: u64,
        price: i64,
        qty: u64,
    },
}

type Queue = VecDeque<(u64, u64)>;

/// Per instrument, per side (buy = 0, sell = 1): price -> FIFO of (id, qty).
#[derive(Default)]
struct Model {
    books: BTreeMap<u16, [BTreeMap<i64, Queue>; 2]>,
    orders: BTreeMap<u64, (u16, Side, i64)>,
}

fn sidx(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

fn valid_qty(qty: u64) -> bool {
    qty != 0 && qty <= u64::from(u32::MAX)
}

impl Model {
    fn add(
        &mut self,
        inst: u16,
        id: u64,
        side: Side,
        price: i64,
        qty: u64,
    ) -> Result<(), BookError> {
        if !valid_qty(qty) {
            return Err(BookError::InvalidQty);
        }
        if usize::from(inst) >= INSTRUMENTS {
            return Err(BookError::UnknownInstrument(InstrumentId(inst)));
        }
        if self.orders.contains_key(&id) {
            return Err(BookError::DuplicateOrder(OrderId(id)));
        }
        if self.orders.len() >= MAX_ORDERS {
            return Err(BookError::CapacityExceeded);
        }
        self.insert(inst, id, side, price, qty);
        Ok(())
    }

    fn insert(&mut self, inst: u16, id: u64, side: Side, price: i64, qty: u64) {
        self.orders.insert(id, (inst, side, price));
        self.books.entry(inst).or_default()[sidx(side)]
            .entry(price)
            .or_default()
            .push_back((id, qty));
    }

    /// Removes up to `qty` (None = all); returns (instrument, side, price, removed, remaining).
    fn reduce(&mut self, id: u64, qty: Option<u64>) -> Option<Execution> {
        let &(inst, side, price) = self.orders.get(&id)?;
        let levels = &mut self.books.get_mut(&inst)?[sidx(side)];
        let queue = levels.get_mut(&price)?;
        let pos = queue.iter().position(|&(i, _)| i == id)?;
        let resting = queue[pos].1;
        let take = qty.map_or(resting, |q| q.min(resting));
        let left = resting - take;
        if left == 0 {
            queue.remove(pos);
            if queue.is_empty() {
                levels.remove(&price);
            }
            self.orders.remove(&id);
        } else {
            queue[pos].1 = left;
        }
        Some(Execution {
            instrument: InstrumentId(inst),
            side,
            price: Price(price),
            qty: Qty(take),
            remaining: Qty(left),
        })
    }

    fn execute_or_cancel(&mut self, id: u64, qty: u64) -> Result<Execution, BookError> {
        if qty == 0 {
            return Err(BookError::InvalidQty);
        }
        self.reduce(id, Some(qty))
            .ok_or(BookError::UnknownOrder(OrderId(id)))
    }

    fn delete(&mut self, id: u64) -> Result<Execution, BookError> {
        self.reduce(id, None)
            .ok_or(BookError::UnknownOrder(OrderId(id)))
    }

    fn replace(
        &mut self,
        old: u64,
        new: u64,
        price: i64,
        qty: u64,
    ) -> Result<Execution, BookError> {
        if !valid_qty(qty) {
            return Err(BookError::InvalidQty);
        }
        if !self.orders.contains_key(&old) {
            return Err(BookError::UnknownOrder(OrderId(old)));
        }
        if self.orders.contains_key(&new) {
            return Err(BookError::DuplicateOrder(OrderId(new)));
        }
        let done = self
            .reduce(old, None)
            .ok_or(BookError::UnknownOrder(OrderId(old)))?;
        self.insert(done.instrument.0, new, done.side, price, qty);
        Ok(done)
    }

    fn levels(&self, inst: u16, side: Side) -> Vec<Level> {
        let Some(book) = self.books.get(&inst) else {
            return Vec::new();
        };
        let to_level = |(&p, q): (&i64, &Queue)| Level {
            price: Price(p),
            qty: Qty(q.iter().map(|&(_, x)| x).sum()),
            count: q.len() as u32,
        };
        let side_levels = &book[sidx(side)];
        match side {
            Side::Buy => side_levels.iter().rev().map(to_level).collect(),
            Side::Sell => side_levels.iter().map(to_level).collect(),
        }
    }
}

fn check(set: &BookSet, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(set.live_orders(), model.orders.len());
    for inst in 0..=INSTRUMENTS as u16 {
        let id = InstrumentId(inst);
        let Some(book) = set.book(id) else {
            prop_assert!(model.levels(inst, Side::Buy).is_empty());
            prop_assert!(model.levels(inst, Side::Sell).is_empty());
            continue;
        };
        let mut orders = 0;
        for side in [Side::Buy, Side::Sell] {
            let expected = model.levels(inst, side);
            let got: Vec<Level> = book.levels(side).collect();
            prop_assert_eq!(&got, &expected, "levels {:?} {:?}", inst, side);
            prop_assert_eq!(book.best(side), expected.first().copied());
            prop_assert_eq!(book.level_count(side), expected.len());
            let mut top = [Level {
                price: Price(0),
                qty: Qty(0),
                count: 0,
            }; 3];
            let n = book.depth(side, &mut top);
            prop_assert_eq!(&top[..n], &expected[..expected.len().min(3)]);
            for level in &expected {
                prop_assert_eq!(book.level(side, level.price), Some(*level));
                let queue: Vec<(u64, u64)> = set
                    .queue(id, side, level.price)
                    .map(|(o, q)| (o.0, q.0))
                    .collect();
                let want: Vec<(u64, u64)> = model.books[&inst][sidx(side)][&level.price.0]
                    .iter()
                    .copied()
                    .collect();
                prop_assert_eq!(queue, want);
                orders += level.count as usize;
            }
        }
        let bbo = book.bbo();
        prop_assert_eq!(bbo.bid, book.best(Side::Buy));
        prop_assert_eq!(bbo.ask, book.best(Side::Sell));
        prop_assert_eq!(book.order_count(), orders);
    }
    for (&oid, &(inst, side, price)) in &model.orders {
        let view = set.order(OrderId(oid));
        prop_assert!(view.is_some());
        let view = view.unwrap_or_else(|| unreachable!());
        prop_assert_eq!(
            (view.instrument, view.side, view.price),
            (InstrumentId(inst), side, Price(price))
        );
    }
    Ok(())
}

/// Best level of both sides of every instrument.
fn tops(set: &BookSet) -> Vec<(Option<Level>, Option<Level>)> {
    (0..=INSTRUMENTS as u16)
        .map(|i| {
            set.book(InstrumentId(i))
                .map_or((None, None), |b| (b.best(Side::Buy), b.best(Side::Sell)))
        })
        .collect()
}

/// A successful event must report every touch change it made: a best price
/// change as `price`, a best quantity change at least as `any`.
fn check_touch(
    set: &BookSet,
    before: &[(Option<Level>, Option<Level>)],
) -> Result<(), TestCaseError> {
    let touch = set.last_touch();
    let price = |l: Option<Level>| l.map(|l| l.price);
    for (b, a) in before.iter().zip(tops(set)) {
        for (old, new) in [(b.0, a.0), (b.1, a.1)] {
            if price(old) != price(new) {
                prop_assert!(
                    touch.price(),
                    "best price {:?} -> {:?} not reported",
                    old,
                    new
                );
            }
            if old.map(|l| l.qty) != new.map(|l| l.qty) {
                prop_assert!(touch.any(), "best size {:?} -> {:?} not reported", old, new);
            }
        }
    }
    Ok(())
}

fn qty() -> impl Strategy<Value = u64> {
    prop_oneof![20 => 0_u64..25, 1 => Just(u64::from(u32::MAX) + 1), 1 => Just(u64::from(u32::MAX))]
}

fn op(prices: std::ops::Range<i64>) -> impl Strategy<Value = Op> {
    let ids = 0_u64..40;
    let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
    prop_oneof![
        5 => (0_u16..=INSTRUMENTS as u16, ids.clone(), side, prices.clone(), qty())
            .prop_map(|(inst, id, side, price, qty)| Op::Add { inst, id, side, price, qty }),
        2 => (ids.clone(), qty()).prop_map(|(id, qty)| Op::Execute { id, qty }),
        2 => (ids.clone(), qty()).prop_map(|(id, qty)| Op::Cancel { id, qty }),
        3 => ids.clone().prop_map(|id| Op::Delete { id }),
        2 => (ids.clone(), ids, prices, qty())
            .prop_map(|(old, new, price, qty)| Op::Replace { old, new, price, qty }),
    ]
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut set = BookSet::new(BookConfig {
        max_orders: MAX_ORDERS,
        max_instruments: INSTRUMENTS,
        levels_per_side: 2,
    });
    let mut model = Model::default();
    for op in ops {
        let before = tops(&set);
        let ok = match *op {
            Op::Add {
                inst,
                id,
                side,
                price,
                qty,
            } => {
                let got = set.add(
                    InstrumentId(inst),
                    OrderId(id),
                    side,
                    Price(price),
                    Qty(qty),
                );
                prop_assert_eq!(got, model.add(inst, id, side, price, qty), "{:?}", op);
                got.is_ok()
            }
            Op::Execute { id, qty } => {
                let got = set.execute(OrderId(id), Qty(qty));
                prop_assert_eq!(got, model.execute_or_cancel(id, qty), "{:?}", op);
                got.is_ok()
            }
            Op::Cancel { id, qty } => {
                let got = set.cancel(OrderId(id), Qty(qty));
                prop_assert_eq!(got, model.execute_or_cancel(id, qty), "{:?}", op);
                got.is_ok()
            }
            Op::Delete { id } => {
                let got = set.delete(OrderId(id));
                prop_assert_eq!(got, model.delete(id), "{:?}", op);
                got.is_ok()
            }
            Op::Replace {
                old,
                new,
                price,
                qty,
            } => {
                let got = set.replace(OrderId(old), OrderId(new), Price(price), Qty(qty));
                prop_assert_eq!(got, model.replace(old, new, price, qty), "{:?}", op);
                got.is_ok()
            }
        };
        check(&set, &model)?;
        if ok {
            check_touch(&set, &before)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Narrow price band: deep queues, frequent level creation and removal at the touch.
    #[test]
    fn book_set_matches_reference_model_narrow_prices(ops in prop::collection::vec(op(98..103), 1..300)) {
        run(&ops)?;
    }

    /// Wide band: more than the linearly scanned levels, so binary search paths run too.
    #[test]
    fn book_set_matches_reference_model_wide_prices(ops in prop::collection::vec(op(-30..30), 1..300)) {
        run(&ops)?;
    }
}

#[test]
fn counters_add_up_over_a_random_stream() {
    // Every refused event is counted exactly once.
    let mut set = BookSet::new(BookConfig {
        max_orders: 4,
        max_instruments: 1,
        levels_per_side: 1,
    });
    let i = InstrumentId(0);
    let _ = set.add(i, OrderId(1), Side::Buy, Price(1), Qty(5));
    let _ = set.add(i, OrderId(1), Side::Buy, Price(1), Qty(5));
    let _ = set.add(InstrumentId(1), OrderId(2), Side::Buy, Price(1), Qty(5));
    let _ = set.execute(OrderId(9), Qty(1));
    let _ = set.cancel(OrderId(1), Qty(0));
    let c = set.counters();
    assert_eq!(
        (
            c.adds,
            c.duplicate_order,
            c.unknown_instrument,
            c.unknown_order,
            c.invalid_qty
        ),
        (1, 1, 1, 1, 1)
    );
}
