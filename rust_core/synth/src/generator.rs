//! The session model: instruments, their moving touch, the live order
//! population and the choice of the next order message.

use core::iter::FusedIterator;

use quotewire_core::Side;
use quotewire_protocol::itch::{
    AddOrder, Message, OrderCancel, OrderDelete, OrderExecuted, OrderReplace, StockDirectory,
    SystemEvent,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::book::{Ladder, Orders};
use crate::config::{SynthConfig, SynthError};

const NS_PER_MINUTE: u64 = 60_000_000_000;
/// Last nanosecond of the day: ITCH timestamps are nanoseconds since midnight.
const LAST_NS_OF_DAY: u64 = 24 * 60 * NS_PER_MINUTE - 1;
/// `O` comes this long before the market opens (03:05 for a 09:30 open).
const START_OF_MESSAGES_LEAD: u64 = (6 * 60 + 25) * NS_PER_MINUTE;
/// `S` comes this long before the market opens (04:00 for a 09:30 open).
const START_OF_SYSTEM_LEAD: u64 = (5 * 60 + 30) * NS_PER_MINUTE;
/// `M` follows the last order message by 1 ms, `E` comes 4 h later (16:00 ->
/// 20:00 on a real day) and `C` 5 min after that; all capped at midnight.
const END_OF_MARKET_GAP: u64 = 1_000_000;
const END_OF_SYSTEM_GAP: u64 = 4 * 60 * NS_PER_MINUTE;
const END_OF_MESSAGES_GAP: u64 = 5 * NS_PER_MINUTE;
/// Spacing of the Stock Directory messages after `O`.
const DIRECTORY_GAP_NS: u64 = 1_000;

/// Raw `Price(4)` units of one cent, the Reg NMS tick for stocks at or above $1.
const CENT: u32 = 100;
/// Reference prices are log-uniform over $1..$500, in ticks of one cent.
const MIN_REF_TICKS: f64 = 100.0;
const MAX_REF_TICKS: f64 = 50_000.0;
/// The model touch never walks below 20 cents or above $40,000 (keeps prices
/// positive and inside `u32`).
const MIN_BID_TICKS: u32 = 20;
const MAX_BID_TICKS: u32 = 4_000_000;
/// Instruments ranked below this (by activity) quote a one-tick spread.
const TIGHT_SPREAD_RANKS: usize = 500;

/// Probability that an event on an instrument moves its touch by one tick.
const WALK_PROBABILITY: f64 = 1.0 / 24.0;
/// Distance of a new order from the touch, in ticks: geometric with this
/// success probability (mean (1-p)/p = 1.5 ticks) ...
const NEAR_TOUCH_P: f64 = 0.4;
/// ... except for this share of orders, placed uniformly deep in the book.
const DEEP_PROBABILITY: f64 = 0.06;
const DEEP_TICKS: core::ops::RangeInclusive<u32> = 10..=300;

/// Share of deletes/cancels/replaces aimed at the most recent live orders
/// (short-lived churn at the touch); the rest pick uniformly among all.
const RECENT_BIAS: f64 = 0.6;
const RECENT_WINDOW: usize = 256;

/// Proportional gain of the population controller, per order of error.
const POPULATION_GAIN: f64 = 1.0 / 512.0;

/// Per-instrument model state.
#[derive(Debug)]
struct Instrument {
    stock: [u8; 8],
    /// Raw price units of one tick.
    tick: u32,
    /// The model best bid, in ticks; the model ask is `bid + spread`.
    bid: u32,
    spread: u32,
    directory: DirectoryTraits,
    ladder: Ladder,
}

/// The Stock Directory fields that vary between instruments.
#[derive(Clone, Copy, Debug)]
struct DirectoryTraits {
    market_category: u8,
    luld_tier: u8,
    etp: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Add,
    Delete,
    Execute,
    Cancel,
    Replace,
}

/// A deterministic synthetic TotalView-ITCH 5.0 session, one message per
/// [`Iterator::next`] call.
///
/// Yields, in order: System Event `O`, one Stock Directory per instrument,
/// System Events `S` and `Q`, the order flow, then `M`, `E`, `C`;
/// exactly [`SynthConfig::messages`] messages in all. Same config and seed give
/// the same messages.
#[derive(Debug)]
pub struct Generator {
    cfg: SynthConfig,
    rng: SmallRng,
    instruments: Vec<Instrument>,
    /// Cumulative Zipf weights by activity rank.
    zipf_cumulative: Vec<u64>,
    /// Instrument index of each activity rank.
    rank_to_instrument: Vec<u16>,
    orders: Orders,
    /// Messages emitted so far.
    emitted: u64,
    /// Order messages emitted so far.
    body_done: u64,
    body_len: u64,
    /// Timestamp of the last message emitted.
    ts: u64,
    directory_ts: u64,
    open_ts: u64,
    next_ref: u64,
    next_match: u64,
    /// Category thresholds over `mix.total()`: add-or-delete, execute, cancel.
    cut_add_delete: u64,
    cut_execute: u64,
    cut_cancel: u64,
    mix_total: u64,
    /// Steady-state probability that an add-or-delete decision is an add.
    base_add: f64,
    /// Extra add probability while the book builds up.
    ramp_add: f64,
    ramp_events: u64,
    peak: usize,
    max_live: usize,
}

impl Generator {
    /// Builds the instruments and the empty book for `cfg`.
    pub fn new(cfg: SynthConfig) -> Result<Self, SynthError> {
        cfg.validate()?;
        let mut rng = SmallRng::seed_from_u64(cfg.seed);
        let n = usize::from(cfg.instruments);

        // Activity rank -> instrument: shuffled so the busiest symbol is not SYM00001.
        let mut rank_to_instrument: Vec<u16> = (0..cfg.instruments).collect();
        for i in (1..n).rev() {
            rank_to_instrument.swap(i, rng.random_range(0..=i));
        }
        let mut instrument_rank = vec![0usize; n];
        for (rank, &i) in rank_to_instrument.iter().enumerate() {
            instrument_rank[usize::from(i)] = rank;
        }
        let mut zipf_cumulative = Vec::with_capacity(n);
        let mut sum = 0u64;
        for rank in 0..n {
            // Fixed-point weights so sampling is an integer search; `max(1)` keeps
            // every instrument reachable whatever the exponent.
            let w = ((1u64 << 40) as f64 / ((rank + 1) as f64).powf(cfg.zipf_exponent)) as u64;
            sum += w.max(1);
            zipf_cumulative.push(sum);
        }

        let (ln_lo, ln_hi) = (MIN_REF_TICKS.ln(), MAX_REF_TICKS.ln());
        let instruments = (0..n)
            .map(|i| {
                let rank = instrument_rank[i];
                let bid = rng.random_range(ln_lo..ln_hi).exp() as u32;
                let spread = if rank < TIGHT_SPREAD_RANKS {
                    1
                } else {
                    rng.random_range(1..=5)
                };
                let market_category = match rng.random_range(0..20u32) {
                    0..=7 => b'Q',
                    8..=10 => b'G',
                    11..=13 => b'S',
                    14..=17 => b'N',
                    _ => b'P',
                };
                Instrument {
                    stock: symbol(i + 1),
                    tick: CENT,
                    bid: bid.clamp(MIN_BID_TICKS, MAX_BID_TICKS),
                    spread,
                    directory: DirectoryTraits {
                        market_category,
                        luld_tier: if rank < 1000 { b'1' } else { b'2' },
                        etp: market_category == b'P',
                    },
                    ladder: Ladder::default(),
                }
            })
            .collect();

        let mix = cfg.mix;
        let mix_total = mix.total();
        let add_delete = u64::from(mix.add) + u64::from(mix.delete);
        let cut_add_delete = add_delete;
        let cut_execute = cut_add_delete + u64::from(mix.execute);
        let cut_cancel = cut_execute + u64::from(mix.cancel);

        // Removals per order message in steady state besides deletes: full executions.
        let full_exec = f64::from(mix.execute) * mix.execute_full_probability;
        let ad = add_delete.max(1) as f64;
        let base_add = ((ad + full_exec) / (2.0 * ad)).clamp(0.0, 1.0);
        let body_len = cfg.order_messages();
        let peak = cfg.peak_live_orders();
        let ramp_events = ((body_len as f64 * cfg.ramp_fraction) as u64).max(1);
        // Net adds per order message needed to follow the ramp, fed forward.
        let ramp_rate = peak as f64 / ramp_events as f64;
        let ramp_add = ramp_rate * mix_total as f64 / (2.0 * ad);

        let open_ts = cfg.start_ns.min(LAST_NS_OF_DAY);
        let directory_ts = open_ts.saturating_sub(START_OF_MESSAGES_LEAD);
        let capacity = cfg.max_live_orders.min(peak + peak / 8 + 1024);
        Ok(Self {
            rng,
            instruments,
            zipf_cumulative,
            rank_to_instrument,
            orders: Orders::with_capacity(capacity),
            emitted: 0,
            body_done: 0,
            body_len,
            ts: directory_ts,
            directory_ts,
            open_ts,
            next_ref: 1,
            next_match: 1,
            cut_add_delete,
            cut_execute,
            cut_cancel,
            mix_total,
            base_add,
            ramp_add,
            ramp_events,
            peak,
            max_live: cfg.max_live_orders,
            cfg,
        })
    }

    /// The configuration this session was built from.
    #[must_use]
    pub const fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    /// Orders live right now.
    #[must_use]
    pub fn live_orders(&self) -> usize {
        self.orders.len()
    }

    /// The live population the session builds up to (see [`SynthConfig::peak_live_orders`]).
    #[must_use]
    pub const fn peak_live_orders(&self) -> usize {
        self.peak
    }

    /// Messages still to come.
    #[must_use]
    pub const fn remaining(&self) -> u64 {
        self.cfg.messages - self.emitted
    }

    /// The next message, `None` after the closing `C` event.
    pub fn next_message(&mut self) -> Option<Message> {
        let n = u64::from(self.cfg.instruments);
        let k = self.emitted;
        let msg = if k == 0 {
            self.system_event(b'O')
        } else if k <= n {
            self.directory(k)
        } else if k == n + 1 {
            let at = self
                .open_ts
                .saturating_sub(START_OF_SYSTEM_LEAD)
                .max(self.ts);
            self.ts = at;
            self.system_event(b'S')
        } else if k == n + 2 {
            self.ts = self.open_ts.max(self.ts);
            self.system_event(b'Q')
        } else if k < n + 3 + self.body_len {
            self.order_message()
        } else if k < self.cfg.messages {
            let (gap, code) = match k - (n + 3 + self.body_len) {
                0 => (END_OF_MARKET_GAP, b'M'),
                1 => (END_OF_SYSTEM_GAP, b'E'),
                _ => (END_OF_MESSAGES_GAP, b'C'),
            };
            self.ts = self.ts.saturating_add(gap);
            self.ts = self.ts.min(LAST_NS_OF_DAY);
            self.system_event(code)
        } else {
            return None;
        };
        self.emitted += 1;
        Some(msg)
    }

    fn system_event(&self, event_code: u8) -> Message {
        Message::SystemEvent(SystemEvent {
            stock_locate: 0,
            tracking_number: 0,
            timestamp: self.ts,
            event_code,
        })
    }

    /// Stock Directory of locate `locate` (1-based).
    fn directory(&mut self, locate: u64) -> Message {
        self.ts = self
            .directory_ts
            .saturating_add(locate * DIRECTORY_GAP_NS)
            .min(LAST_NS_OF_DAY);
        let ins = &self.instruments[(locate - 1) as usize];
        let d = ins.directory;
        let nasdaq_listed = matches!(d.market_category, b'Q' | b'G' | b'S');
        let yes_no = |b| if b { b'Y' } else { b'N' };
        Message::StockDirectory(StockDirectory {
            stock_locate: locate as u16,
            tracking_number: 0,
            timestamp: self.ts,
            stock: ins.stock,
            market_category: d.market_category,
            financial_status_indicator: if nasdaq_listed { b'N' } else { b' ' },
            round_lot_size: 100,
            round_lots_only: b'N',
            issue_classification: if d.etp { b'Q' } else { b'C' },
            issue_sub_type: if d.etp { *b"I " } else { *b"Z " },
            authenticity: b'P',
            short_sale_threshold_indicator: b'N',
            ipo_flag: if nasdaq_listed { b'N' } else { b' ' },
            luld_reference_price_tier: d.luld_tier,
            etp_flag: yes_no(d.etp),
            etp_leverage_factor: u32::from(d.etp),
            inverse_indicator: b'N',
        })
    }

    /// One order message: advance the clock, pick the kind, apply it to the book.
    fn order_message(&mut self) -> Message {
        let u: f64 = self.rng.random();
        let gap = -(1.0 - u).ln() * self.cfg.mean_gap_ns as f64;
        self.ts = self.ts.saturating_add(gap as u64).min(LAST_NS_OF_DAY);

        let kind = self.pick_kind();
        self.body_done += 1;
        match kind {
            Kind::Add => self.add(),
            Kind::Delete => self.delete(),
            Kind::Execute => self.execute(),
            Kind::Cancel => self.cancel(),
            Kind::Replace => self.replace(),
        }
    }

    fn pick_kind(&mut self) -> Kind {
        let live = self.orders.len();
        if live == 0 {
            return Kind::Add;
        }
        let r = self.rng.random_range(0..self.mix_total);
        if r >= self.cut_add_delete {
            return if r < self.cut_execute {
                Kind::Execute
            } else if r < self.cut_cancel {
                Kind::Cancel
            } else {
                Kind::Replace
            };
        }
        if live >= self.max_live {
            return Kind::Delete;
        }
        // Follow the build-up curve: a linear ramp to `peak`, then flat.
        let (desired, feed_forward) = if self.body_done < self.ramp_events {
            let frac = self.body_done as f64 / self.ramp_events as f64;
            (self.peak as f64 * frac, self.ramp_add)
        } else {
            (self.peak as f64, 0.0)
        };
        let p = self.base_add + feed_forward + POPULATION_GAIN * (desired - live as f64);
        if self.rng.random::<f64>() < p.clamp(0.02, 0.98) {
            Kind::Add
        } else {
            Kind::Delete
        }
    }

    fn add(&mut self) -> Message {
        let rank = self.pick_rank();
        let i = self.rank_to_instrument[rank];
        let side = if self.rng.random::<bool>() {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = self.new_price(i, side);
        let shares = self.new_shares();
        let order_ref = self.take_ref();
        let ins = &mut self.instruments[usize::from(i)];
        self.orders
            .insert(&mut ins.ladder, order_ref, i, side, price, shares);
        let stock = ins.stock;
        self.walk(i);
        Message::AddOrder(AddOrder {
            stock_locate: i + 1,
            tracking_number: 0,
            timestamp: self.ts,
            order_ref,
            side,
            shares,
            stock,
            price,
        })
    }

    fn delete(&mut self) -> Message {
        let slot = self.pick_live();
        let slot = self.stale_touch(slot).unwrap_or(slot);
        let o = *self.orders.get(slot);
        self.orders.remove(
            &mut self.instruments[usize::from(o.instrument)].ladder,
            slot,
        );
        self.walk(o.instrument);
        self.delete_message(o.instrument, o.order_ref)
    }

    fn delete_message(&self, instrument: u16, order_ref: u64) -> Message {
        Message::OrderDelete(OrderDelete {
            stock_locate: instrument + 1,
            tracking_number: 0,
            timestamp: self.ts,
            order_ref,
        })
    }

    /// Executes the oldest order at the best price on the side of a randomly
    /// picked live order (so busy books trade more).
    fn execute(&mut self) -> Message {
        let picked = self.pick_live();
        let (i, side) = {
            let o = self.orders.get(picked);
            (o.instrument, o.side)
        };
        let ladder = &mut self.instruments[usize::from(i)].ladder;
        // The picked order is live on `side`, so that side always has a best level.
        let slot = self.orders.best(ladder, side).unwrap_or(picked);
        let o = *self.orders.get(slot);
        let full = o.shares < 2 || self.rng.random::<f64>() < self.cfg.mix.execute_full_probability;
        let executed_shares = if full {
            o.shares
        } else {
            partial(&mut self.rng, o.shares)
        };
        if full {
            self.orders.remove(ladder, slot);
            let best = match side {
                Side::Buy => ladder.best_bid(),
                Side::Sell => ladder.best_ask(),
            };
            if best != Some(o.price) {
                // The touch level traded away: the model touch follows the trade.
                let ins = &mut self.instruments[usize::from(i)];
                ins.bid = match side {
                    Side::Buy => ins.bid.saturating_sub(1),
                    Side::Sell => ins.bid + 1,
                }
                .clamp(MIN_BID_TICKS, MAX_BID_TICKS);
            }
        } else {
            self.orders.get_mut(slot).shares -= executed_shares;
        }
        let match_number = self.next_match;
        self.next_match += 1;
        Message::OrderExecuted(OrderExecuted {
            stock_locate: i + 1,
            tracking_number: 0,
            timestamp: self.ts,
            order_ref: o.order_ref,
            executed_shares,
            match_number,
        })
    }

    /// Partial cancel; an order with a single share left is deleted instead.
    fn cancel(&mut self) -> Message {
        let slot = self.pick_live();
        let o = *self.orders.get(slot);
        if o.shares < 2 {
            self.orders.remove(
                &mut self.instruments[usize::from(o.instrument)].ladder,
                slot,
            );
            return self.delete_message(o.instrument, o.order_ref);
        }
        let cancelled_shares = partial(&mut self.rng, o.shares);
        self.orders.get_mut(slot).shares -= cancelled_shares;
        self.walk(o.instrument);
        Message::OrderCancel(OrderCancel {
            stock_locate: o.instrument + 1,
            tracking_number: 0,
            timestamp: self.ts,
            order_ref: o.order_ref,
            cancelled_shares,
        })
    }

    /// Cancel-replace to a fresh reference near the current touch, same side.
    fn replace(&mut self) -> Message {
        let slot = self.pick_live();
        let slot = self.stale_touch(slot).unwrap_or(slot);
        let o = *self.orders.get(slot);
        let price = self.new_price(o.instrument, o.side);
        let shares = if self.rng.random::<f64>() < 0.6 {
            o.shares
        } else {
            self.new_shares()
        };
        let new_order_ref = self.take_ref();
        let ladder = &mut self.instruments[usize::from(o.instrument)].ladder;
        self.orders
            .reprice(ladder, slot, new_order_ref, price, shares);
        self.walk(o.instrument);
        Message::OrderReplace(OrderReplace {
            stock_locate: o.instrument + 1,
            tracking_number: 0,
            timestamp: self.ts,
            original_order_ref: o.order_ref,
            new_order_ref,
            shares,
            price,
        })
    }

    fn take_ref(&mut self) -> u64 {
        let r = self.next_ref;
        self.next_ref += 1;
        r
    }

    fn pick_rank(&mut self) -> usize {
        let total = self.zipf_cumulative.last().copied().unwrap_or(1);
        let u = self.rng.random_range(0..total);
        self.zipf_cumulative.partition_point(|&c| c <= u)
    }

    /// A live slot: mostly recent orders, otherwise uniform. Requires a live order.
    fn pick_live(&mut self) -> u32 {
        let n = self.orders.len();
        let pos = if self.rng.random::<f64>() < RECENT_BIAS {
            n - 1 - self.rng.random_range(0..n.min(RECENT_WINDOW))
        } else {
            self.rng.random_range(0..n)
        };
        self.orders.live_at(pos)
    }

    /// When the book's touch on the side of `slot` is through the model touch
    /// (the price moved away from it), the oldest order there: quotes left
    /// behind by the move are the ones pulled or repriced first.
    fn stale_touch(&self, slot: u32) -> Option<u32> {
        let o = self.orders.get(slot);
        let ins = &self.instruments[usize::from(o.instrument)];
        let stale = match o.side {
            Side::Buy => ins
                .ladder
                .best_bid()
                .is_some_and(|p| p > ins.bid * ins.tick),
            Side::Sell => ins
                .ladder
                .best_ask()
                .is_some_and(|p| p < (ins.bid + ins.spread) * ins.tick),
        };
        if stale {
            self.orders.best(&ins.ladder, o.side)
        } else {
            None
        }
    }

    /// A price near the model touch (geometric distance in ticks), sometimes
    /// deep, never crossing the opposite side of the book.
    fn new_price(&mut self, instrument: u16, side: Side) -> u32 {
        let distance = if self.rng.random::<f64>() < DEEP_PROBABILITY {
            self.rng.random_range(DEEP_TICKS)
        } else {
            let u: f64 = self.rng.random();
            ((1.0 - u).ln() / (1.0 - NEAR_TOUCH_P).ln()).min(50.0) as u32
        };
        let ins = &self.instruments[usize::from(instrument)];
        let tick = ins.tick;
        match side {
            Side::Buy => {
                let mut price = ins.bid.saturating_sub(distance).max(1) * tick;
                if let Some(ask) = ins.ladder.best_ask() {
                    price = price.min(ask.saturating_sub(tick));
                }
                price.max(tick)
            }
            Side::Sell => {
                let mut price = (ins.bid + ins.spread + distance) * tick;
                if let Some(bid) = ins.ladder.best_bid() {
                    price = price.max(bid + tick);
                }
                price
            }
        }
    }

    /// Order sizes: mostly one round lot, some multiples, odd lots, a few blocks.
    fn new_shares(&mut self) -> u32 {
        match self.rng.random_range(0..100u32) {
            0..=59 => 100,
            60..=79 => 100 * self.rng.random_range(2..=10),
            80..=91 => self.rng.random_range(1..100),
            _ => 100 * self.rng.random_range(10..=100),
        }
    }

    /// Random walk of the model touch.
    fn walk(&mut self, instrument: u16) {
        if self.rng.random::<f64>() < WALK_PROBABILITY {
            let ins = &mut self.instruments[usize::from(instrument)];
            ins.bid = if self.rng.random::<bool>() {
                ins.bid + 1
            } else {
                ins.bid.saturating_sub(1)
            }
            .clamp(MIN_BID_TICKS, MAX_BID_TICKS);
        }
    }
}

/// A strictly partial quantity of `shares` (>= 2): whole round lots when the
/// order has more than one, otherwise any smaller size.
fn partial(rng: &mut SmallRng, shares: u32) -> u32 {
    let lots = (shares - 1) / 100;
    if lots >= 1 {
        100 * rng.random_range(1..=lots)
    } else {
        rng.random_range(1..shares)
    }
}

/// `SYM00001`-style symbol of a 1-based locate.
fn symbol(locate: usize) -> [u8; 8] {
    let mut s = *b"SYM00000";
    let mut n = locate;
    for b in s[3..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    s
}

impl Iterator for Generator {
    type Item = Message;

    #[inline]
    fn next(&mut self) -> Option<Message> {
        self.next_message()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl FusedIterator for Generator {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_zero_padded_locates() {
        assert_eq!(&symbol(1), b"SYM00001");
        assert_eq!(&symbol(8000), b"SYM08000");
        assert_eq!(&symbol(65535), b"SYM65535");
    }

    #[test]
    fn partial_quantities_are_strictly_inside_the_order() {
        let mut rng = SmallRng::seed_from_u64(1);
        for shares in 2..2_500 {
            for _ in 0..8 {
                let q = partial(&mut rng, shares);
                assert!(q >= 1 && q < shares, "{q} of {shares}");
                if shares > 100 {
                    assert_eq!(q % 100, 0, "round lots when the order has more than one");
                }
            }
        }
    }
}
