//! One instrument's book: a tick-indexed ladder of price levels per side.
//!
//! Level `i` of a side holds price `low + i * tick`; a bitmap of non-empty
//! levels finds the next best level after the best one empties in a few word
//! scans instead of walking empty ticks.

use quotewire_core::{Price, Side};

/// Marks "no node" / "no level".
pub(crate) const NIL: u32 = u32::MAX;

/// One price level: FIFO ends (slab indices) and the L2 aggregate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LevelSlot {
    pub(crate) qty: u64,
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) count: u32,
}

const _: () = assert!(size_of::<LevelSlot>() == 24);

impl LevelSlot {
    const EMPTY: Self = Self {
        qty: 0,
        head: NIL,
        tail: NIL,
        count: 0,
    };
}

/// The levels of one side plus the occupancy bitmap and the best level.
#[derive(Debug)]
pub(crate) struct Ladder {
    pub(crate) levels: Box<[LevelSlot]>,
    bits: Box<[u64]>,
    /// Index of the best non-empty level, `NIL` when the side is empty.
    pub(crate) best: u32,
    /// Bids: higher index is better. Asks: lower index is better.
    buy: bool,
}

impl Ladder {
    fn new(n: usize, side: Side) -> Self {
        Self {
            levels: vec![LevelSlot::EMPTY; n].into_boxed_slice(),
            bits: vec![0; n.div_ceil(64)].into_boxed_slice(),
            best: NIL,
            buy: side == Side::Buy,
        }
    }

    /// Is level `a` better than level `b` on this side?
    #[inline(always)]
    const fn better(&self, a: u32, b: u32) -> bool {
        if self.buy {
            a > b
        } else {
            a < b
        }
    }

    /// Marks a level that just became non-empty.
    #[inline(always)]
    pub(crate) fn occupy(&mut self, i: u32) {
        self.bits[(i / 64) as usize] |= 1 << (i % 64);
        if self.best == NIL || self.better(i, self.best) {
            self.best = i;
        }
    }

    /// Marks a level that just became empty, moving `best` to the next level if needed.
    #[inline(always)]
    pub(crate) fn vacate(&mut self, i: u32) {
        self.bits[(i / 64) as usize] &= !(1 << (i % 64));
        if i == self.best {
            self.best = self.next_worse(i);
        }
    }

    /// The next non-empty level strictly worse than `i`, or `NIL`.
    #[inline]
    pub(crate) fn next_worse(&self, i: u32) -> u32 {
        if self.buy {
            self.below(i)
        } else {
            self.above(i)
        }
    }

    /// Highest occupied index strictly below `i`.
    fn below(&self, i: u32) -> u32 {
        if i == 0 {
            return NIL;
        }
        let i = i - 1;
        let mut w = (i / 64) as usize;
        let mut word = self.bits[w] & (u64::MAX >> (63 - i % 64));
        loop {
            if word != 0 {
                return (w as u32) * 64 + (63 - word.leading_zeros());
            }
            if w == 0 {
                return NIL;
            }
            w -= 1;
            word = self.bits[w];
        }
    }

    /// Lowest occupied index strictly above `i`.
    fn above(&self, i: u32) -> u32 {
        let i = i + 1;
        let mut w = (i / 64) as usize;
        if w >= self.bits.len() {
            return NIL;
        }
        let mut word = self.bits[w] & (u64::MAX << (i % 64));
        loop {
            if word != 0 {
                return (w as u32) * 64 + word.trailing_zeros();
            }
            w += 1;
            if w >= self.bits.len() {
                return NIL;
            }
            word = self.bits[w];
        }
    }
}

/// One instrument: its rules and both ladders.
#[derive(Debug)]
pub(crate) struct InstrumentBook {
    pub(crate) tick: i64,
    pub(crate) low: i64,
    pub(crate) high: i64,
    pub(crate) max_qty: u64,
    /// Buy = 0, sell = 1.
    pub(crate) sides: [Ladder; 2],
}

impl InstrumentBook {
    pub(crate) fn new(tick: i64, low: i64, high: i64, max_qty: u64) -> Self {
        let n = ((high - low) / tick + 1) as usize;
        Self {
            tick,
            low,
            high,
            max_qty,
            sides: [Ladder::new(n, Side::Buy), Ladder::new(n, Side::Sell)],
        }
    }

    /// Level index of a validated (on-tick, in-band) price.
    #[inline(always)]
    pub(crate) fn index(&self, price: i64) -> u32 {
        ((price - self.low) / self.tick) as u32
    }

    /// Price of a level index.
    #[inline(always)]
    pub(crate) fn price(&self, i: u32) -> Price {
        Price(self.low + i64::from(i) * self.tick)
    }

    /// Does an order of `side` at level `i` cross the best opposite level?
    #[inline(always)]
    pub(crate) fn crosses(&self, side: Side, i: u32) -> bool {
        let best = self.sides[side.opposite().index()].best;
        best != NIL
            && match side {
                Side::Buy => best <= i,
                Side::Sell => best >= i,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_scans_find_neighbours_across_words() {
        for side in [Side::Buy, Side::Sell] {
            let mut l = Ladder::new(300, side);
            for i in [0, 63, 64, 130, 299] {
                l.occupy(i);
            }
            assert_eq!(l.below(0), NIL);
            assert_eq!(l.below(1), 0);
            assert_eq!(l.below(64), 63);
            assert_eq!(l.below(130), 64);
            assert_eq!(l.below(299), 130);
            assert_eq!(l.above(0), 63);
            assert_eq!(l.above(64), 130);
            assert_eq!(l.above(130), 299);
            assert_eq!(l.above(299), NIL);
        }
    }

    #[test]
    fn best_follows_occupancy() {
        let mut bids = Ladder::new(200, Side::Buy);
        let mut asks = Ladder::new(200, Side::Sell);
        for i in [5, 70, 140] {
            bids.occupy(i);
            asks.occupy(i);
        }
        assert_eq!((bids.best, asks.best), (140, 5));
        bids.vacate(140);
        asks.vacate(5);
        assert_eq!((bids.best, asks.best), (70, 70));
        bids.vacate(5);
        assert_eq!(bids.best, 70);
        bids.vacate(70);
        assert_eq!(bids.best, NIL);
    }
}
