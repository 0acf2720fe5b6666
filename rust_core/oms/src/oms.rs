//! The [`Oms`]: slab, indexes, state machine, positions.

use std::cell::Cell;
use std::fmt;

use quotewire_core::mem::HugeSlice;
use quotewire_core::order::{
    CancelOrder, CancelReason, ClOrdId, ExecReport, NewOrder, OrderRequest, ReplaceOrder,
    TimeInForce,
};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

use crate::order::{
    more_aggressive, Order, OrderState, F_CANCEL_PENDING, F_IOC, F_NEW_PENDING, F_OPEN,
    F_POST_ONLY, F_REPLACE_PENDING, F_SELL, NIL,
};
use crate::table::{hash_cl, hash_venue_id, slot_bits, SlotTable};
use crate::{
    Applied, Fill, OmsConfig, OmsCounters, OmsError, OmsReject, Reconciled, ReportKind, Working,
    MAX_CAPACITY, MAX_INSTRUMENTS,
};

/// `ClOrdId` table values are `slot << 1 | PENDING_BIT`; the bit is set when
/// the value stands for the slot's pending replacement id.
const PENDING_BIT: u32 = 1;

/// Largest venue timestamp a mark keeps exactly (three bits go to the code).
const MAX_MARK_TS: u64 = (1 << 61) - 1;
/// Mark code: nothing but non-decrement reports at the mark's timestamp.
const CODE_PLAIN: u64 = 1;

/// The id a `ClOrdId` table entry stands for.
#[inline(always)]
fn cl_key(slab: &[Order], entry: u32) -> u32 {
    let o = &slab[(entry >> 1) as usize];
    if entry & PENDING_BIT != 0 {
        o.pending_cl
    } else {
        o.cl
    }
}

/// Mark code of a decrement with `reason` (2 to 5).
#[inline(always)]
const fn decrement_code(reason: CancelReason) -> u64 {
    2 + match reason {
        CancelReason::User => 0,
        CancelReason::Ioc => 1,
        CancelReason::SelfMatch => 2,
        CancelReason::Venue => 3,
    }
}

/// An order's replay watermark: the venue timestamp of the last report
/// applied to it, and (in a 3-bit code) whether a decrement, and with which
/// reason, was applied at exactly that timestamp. 0: no report yet.
#[derive(Clone, Copy)]
struct Mark(u64);

impl Mark {
    #[inline(always)]
    const fn ts(self) -> u64 {
        self.0 >> 3
    }

    #[inline(always)]
    const fn code(self) -> u64 {
        self.0 & 7
    }

    /// The mark after applying a report at `ts_ns` (a decrement with `reason`, or not).
    #[inline(always)]
    fn advance(self, ts_ns: u64, decrement: Option<CancelReason>) -> Self {
        let ts = ts_ns.min(MAX_MARK_TS);
        if self.0 != 0 && ts < self.ts() {
            return self;
        }
        let code = match decrement {
            Some(reason) => decrement_code(reason),
            // A later non-decrement report at the same timestamp keeps the decrement on record.
            None if self.0 != 0 && ts == self.ts() => self.code(),
            None => CODE_PLAIN,
        };
        Self((ts << 3) | code)
    }

    /// A `Canceled` at (`ts_ns`, `reason`) that must be a replay: older than the
    /// last report applied, or the same decrement at the same timestamp.
    #[inline(always)]
    fn stale_cancel(self, ts_ns: u64, reason: CancelReason) -> bool {
        let ts = ts_ns.min(MAX_MARK_TS);
        self.0 != 0
            && (ts < self.ts() || (ts == self.ts() && self.code() == decrement_code(reason)))
    }

    /// A refusal of a cancel or replace that must be a replay: not after the
    /// last report applied (a refusal answers a later command).
    #[inline(always)]
    fn stale_refusal(self, ts_ns: u64) -> bool {
        self.0 != 0 && ts_ns.min(MAX_MARK_TS) <= self.ts()
    }
}

#[inline(always)]
fn qty_u32(qty: u64) -> u32 {
    u32::try_from(qty).unwrap_or(u32::MAX)
}

/// A `ClOrdId` found in the table.
#[derive(Clone, Copy)]
struct ClHit {
    slot: usize,
    /// The id is the slot's pending replacement id.
    pending: bool,
}

/// Exposure and best-price contribution of an order before a mutation.
#[derive(Clone, Copy)]
struct Before {
    exposure: u64,
    price: i64,
}

/// Open orders of one (instrument, side) and our cached best price among them.
struct SideList {
    head: u32,
    count: u32,
    /// Valid when `best_valid` (and `count > 0`); recomputed lazily on query.
    best: Cell<i64>,
    best_valid: Cell<bool>,
}

impl SideList {
    const fn new() -> Self {
        Self {
            head: NIL,
            count: 0,
            best: Cell::new(0),
            best_valid: Cell::new(true),
        }
    }

    fn on_insert(&mut self, side: Side, price: i64) {
        if self.count == 0 {
            self.best.set(price);
            self.best_valid.set(true);
        } else if self.best_valid.get() {
            self.best.set(more_aggressive(side, self.best.get(), price));
        }
        self.count += 1;
    }

    fn on_remove(&mut self, price: i64) {
        self.count -= 1;
        if self.count == 0 {
            self.best_valid.set(true);
        } else if self.best_valid.get() && price == self.best.get() {
            self.best_valid.set(false);
        }
    }

    fn on_change(&mut self, side: Side, old: i64, new: i64) {
        if !self.best_valid.get() {
            return;
        }
        let best = self.best.get();
        if more_aggressive(side, new, best) == new {
            self.best.set(new);
        } else if old == best {
            self.best_valid.set(false);
        }
    }
}

/// Position, working quantities and open-order lists of one instrument.
struct InstrumentBook {
    position: i64,
    open_qty: [u64; 2],
    open_orders: u32,
    sides: [SideList; 2],
}

impl InstrumentBook {
    const fn new() -> Self {
        Self {
            position: 0,
            open_qty: [0; 2],
            open_orders: 0,
            sides: [SideList::new(), SideList::new()],
        }
    }
}

/// The order management system of one trading session: see the crate docs.
pub struct Oms {
    slab: HugeSlice<Order>,
    /// Per slot: the order's replay watermark (see [`Mark`]).
    marks: HugeSlice<u64>,
    by_cl: SlotTable,
    by_venue: SlotTable,
    books: Vec<InstrumentBook>,
    free_head: u32,
    live: usize,
    in_flight: usize,
    max_in_flight: usize,
    next_cl: u32,
    counters: OmsCounters,
    last_request_ns: u64,
    last_reconcile_ns: u64,
}

// The engine builds the OMS and moves it to its pinned thread.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Oms>();
};

impl fmt::Debug for Oms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oms")
            .field("live_orders", &self.live)
            .field("capacity", &self.slab.len())
            .field("in_flight", &self.in_flight)
            .field("max_in_flight", &self.max_in_flight)
            .field("next_cl", &self.next_cl)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Oms {
    /// Builds the slab, the replay watermarks and both indexes, touching all of
    /// their memory now (huge pages where the kernel allows).
    pub fn new(config: &OmsConfig) -> Result<Self, OmsError> {
        let cap = config.capacity;
        if cap == 0 {
            return Err(OmsError::ZeroCapacity);
        }
        if cap > MAX_CAPACITY {
            return Err(OmsError::CapacityTooLarge(cap));
        }
        if config.max_instruments == 0 {
            return Err(OmsError::ZeroInstruments);
        }
        if config.max_instruments > MAX_INSTRUMENTS {
            return Err(OmsError::TooManyInstruments(config.max_instruments));
        }
        if config.max_in_flight == 0 {
            return Err(OmsError::ZeroInFlight);
        }
        if config.max_in_flight > cap.saturating_mul(2) {
            return Err(OmsError::InFlightTooLarge {
                max_in_flight: config.max_in_flight,
                capacity: cap,
            });
        }
        let slab = HugeSlice::from_fn(cap, |i| {
            Order::free(if i + 1 < cap { (i + 1) as u32 } else { NIL })
        });
        Ok(Self {
            slab,
            marks: HugeSlice::filled(cap, 0),
            // Every open order's id, plus one replacement id per pending replace.
            by_cl: SlotTable::new(cap + config.max_in_flight.min(cap), slot_bits(cap) + 1),
            by_venue: SlotTable::new(cap, slot_bits(cap)),
            books: (0..config.max_instruments)
                .map(|_| InstrumentBook::new())
                .collect(),
            free_head: 0,
            live: 0,
            in_flight: 0,
            max_in_flight: config.max_in_flight,
            next_cl: 1,
            counters: OmsCounters::default(),
            last_request_ns: 0,
            last_reconcile_ns: 0,
        })
    }

    // ---- requests -------------------------------------------------------------------------

    /// Registers a new order and returns the request to send (`PendingNew`).
    // The request's own fields by value, as the engine has them: no struct to fill first.
    #[allow(clippy::too_many_arguments)]
    pub fn place(
        &mut self,
        instrument: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        tif: TimeInForce,
        post_only: bool,
        now_ns: u64,
    ) -> Result<NewOrder, OmsReject> {
        let r = self.try_place(instrument, side, price, qty, tif, post_only, None);
        self.note_request(r.is_ok(), now_ns);
        r
    }

    /// `restored`: the id a journaled request already used (no in-flight limit:
    /// the request was sent).
    #[allow(clippy::too_many_arguments)]
    fn try_place(
        &mut self,
        instrument: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        tif: TimeInForce,
        post_only: bool,
        restored: Option<ClOrdId>,
    ) -> Result<NewOrder, OmsReject> {
        let leaves = check_qty(qty)?;
        if usize::from(instrument.0) >= self.books.len() {
            return Err(OmsReject::UnknownInstrument);
        }
        if restored.is_none() {
            self.check_in_flight()?;
        }
        if self.free_head == NIL {
            return Err(OmsReject::Full);
        }
        let cl = match restored {
            Some(cl) => self.use_cl(cl)?,
            None => self.alloc_cl()?,
        };
        let slot = self.free_head;
        self.free_head = self.slab[slot as usize].next;
        let mut flags = F_OPEN | F_NEW_PENDING;
        if side == Side::Sell {
            flags |= F_SELL;
        }
        if tif == TimeInForce::Ioc {
            flags |= F_IOC;
        }
        if post_only {
            flags |= F_POST_ONLY;
        }
        self.slab[slot as usize] = Order {
            price: price.0,
            cl,
            leaves,
            instrument: instrument.0,
            flags,
            ..Order::free(NIL)
        };
        self.marks[slot as usize] = 0;
        self.by_cl.insert(hash_cl(cl), slot << 1);
        self.link(slot);
        self.live += 1;
        self.in_flight += 1;
        self.counters.placed += 1;
        Ok(NewOrder {
            cl: ClOrdId(cl),
            instrument,
            side,
            price,
            qty,
            tif,
            post_only,
        })
    }

    /// Asks to replace an open, accepted order with `qty` open shares at
    /// `price` (`PendingReplace`). The returned request carries a new
    /// `ClOrdId` that answers to the same order until the venue resolves it.
    pub fn replace(
        &mut self,
        cl: ClOrdId,
        price: Price,
        qty: Qty,
        now_ns: u64,
    ) -> Result<ReplaceOrder, OmsReject> {
        let r = self.try_replace(cl, price, qty, None);
        self.note_request(r.is_ok(), now_ns);
        r
    }

    /// `restored`: the replacement id a journaled replace already used (no
    /// in-flight limit, and allowed before the acceptance: a replace sent
    /// after an acceptance the journal lost).
    fn try_replace(
        &mut self,
        cl: ClOrdId,
        price: Price,
        qty: Qty,
        restored: Option<ClOrdId>,
    ) -> Result<ReplaceOrder, OmsReject> {
        let hit = self.lookup_cl(cl.0).ok_or(OmsReject::UnknownOrder)?;
        if hit.pending {
            return Err(OmsReject::AlreadyPending);
        }
        let slot = hit.slot;
        let o = self.slab[slot];
        if o.has(F_NEW_PENDING) && restored.is_none() {
            return Err(OmsReject::NotAcked);
        }
        if o.has(F_REPLACE_PENDING | F_CANCEL_PENDING) {
            return Err(OmsReject::AlreadyPending);
        }
        let pending_qty = check_qty(qty)?;
        let new_cl = match restored {
            Some(id) => self.use_cl(id)?,
            None => {
                self.check_in_flight()?;
                self.alloc_cl()?
            }
        };
        let before = self.before(slot);
        let m = &mut self.slab[slot];
        m.pending_cl = new_cl;
        m.pending_price = price.0;
        m.pending_qty = pending_qty;
        m.flags |= F_REPLACE_PENDING;
        self.by_cl
            .insert(hash_cl(new_cl), (slot as u32) << 1 | PENDING_BIT);
        self.settle(slot, before);
        self.in_flight += 1;
        self.counters.replaces_sent += 1;
        Ok(ReplaceOrder {
            orig: cl,
            cl: ClOrdId(new_cl),
            instrument: o.instrument(),
            side: o.side(),
            price,
            qty,
            post_only: o.post_only(),
        })
    }

    /// Asks to cancel an open order (`PendingCancel`). Allowed from
    /// `PendingNew` and `PendingReplace`; while a replace is in flight the
    /// request names the replacement id (see the crate docs).
    pub fn cancel(&mut self, cl: ClOrdId, now_ns: u64) -> Result<CancelOrder, OmsReject> {
        let r = self.try_cancel(cl);
        self.note_request(r.is_ok(), now_ns);
        r
    }

    /// Re-applies a request that was sent in an earlier life of the process
    /// (read back from the journal on restart), exactly as [`Self::place`],
    /// [`Self::replace`] or [`Self::cancel`] applied it then, keeping its ids:
    /// the order is pending until the venue's (replayed) answer arrives.
    /// Differences from the live calls: the in-flight limit is not enforced
    /// (the request did go out), a replace is accepted before the order's
    /// acceptance (a journal that lost the acceptance), and the next
    /// `ClOrdId` is raised above every id restored. A new order or
    /// replacement id not above every id used is refused with
    /// [`OmsReject::IdUsed`]; nothing changes on a refusal.
    pub fn restore(&mut self, request: &OrderRequest, now_ns: u64) -> Result<(), OmsReject> {
        let r = match *request {
            OrderRequest::New(o) => self
                .try_place(
                    o.instrument,
                    o.side,
                    o.price,
                    o.qty,
                    o.tif,
                    o.post_only,
                    Some(o.cl),
                )
                .map(|_| ()),
            OrderRequest::Replace(o) => self
                .try_replace(o.orig, o.price, o.qty, Some(o.cl))
                .map(|_| ()),
            OrderRequest::Cancel(o) => {
                let hit = self.lookup_cl(o.cl.0).ok_or(OmsReject::UnknownOrder)?;
                if self.slab[hit.slot].has(F_CANCEL_PENDING) {
                    Err(OmsReject::AlreadyPending)
                } else {
                    self.mark_cancel(hit.slot);
                    Ok(())
                }
            }
        };
        self.note_request(r.is_ok(), now_ns);
        r
    }

    fn try_cancel(&mut self, cl: ClOrdId) -> Result<CancelOrder, OmsReject> {
        let hit = self.lookup_cl(cl.0).ok_or(OmsReject::UnknownOrder)?;
        if self.slab[hit.slot].has(F_CANCEL_PENDING) {
            return Err(OmsReject::AlreadyPending);
        }
        self.check_in_flight()?;
        Ok(self.mark_cancel(hit.slot))
    }

    /// Cancels every open order not already pending cancel, handing each
    /// request to `out`; returns how many. Stops early when the in-flight
    /// limit is reached (call again as answers arrive: orders already pending
    /// cancel are skipped). Cost: O(`max_instruments` + open orders).
    pub fn cancel_all(&mut self, now_ns: u64, out: &mut impl FnMut(CancelOrder)) -> usize {
        let mut sent = 0;
        for inst in 0..self.books.len() {
            if self.cancel_book(inst, out, &mut sent) {
                break;
            }
        }
        self.note_cancels(sent, now_ns);
        sent
    }

    /// [`Self::cancel_all`] for one instrument (0 for an unknown instrument).
    pub fn cancel_instrument(
        &mut self,
        instrument: InstrumentId,
        now_ns: u64,
        out: &mut impl FnMut(CancelOrder),
    ) -> usize {
        let mut sent = 0;
        let inst = usize::from(instrument.0);
        if inst < self.books.len() {
            self.cancel_book(inst, out, &mut sent);
        }
        self.note_cancels(sent, now_ns);
        sent
    }

    /// Returns true when the in-flight limit stopped it.
    fn cancel_book(
        &mut self,
        inst: usize,
        out: &mut impl FnMut(CancelOrder),
        sent: &mut usize,
    ) -> bool {
        if self.books[inst].open_orders == 0 {
            return false;
        }
        for s in 0..2 {
            let mut slot = self.books[inst].sides[s].head;
            while slot != NIL {
                let o = &self.slab[slot as usize];
                let next = o.next;
                if !o.has(F_CANCEL_PENDING) {
                    if self.in_flight >= self.max_in_flight {
                        return true;
                    }
                    out(self.mark_cancel(slot as usize));
                    *sent += 1;
                }
                slot = next;
            }
        }
        false
    }

    fn note_cancels(&mut self, sent: usize, now_ns: u64) {
        if sent > 0 {
            self.last_request_ns = now_ns;
        }
    }

    fn mark_cancel(&mut self, slot: usize) -> CancelOrder {
        let o = &mut self.slab[slot];
        o.flags |= F_CANCEL_PENDING;
        let target = if o.has(F_REPLACE_PENDING) {
            o.pending_cl
        } else {
            o.cl
        };
        let req = CancelOrder {
            cl: ClOrdId(target),
            instrument: o.instrument(),
            side: o.side(),
        };
        self.in_flight += 1;
        self.counters.cancels_sent += 1;
        req
    }

    fn note_request(&mut self, ok: bool, now_ns: u64) {
        if ok {
            self.last_request_ns = now_ns;
        } else {
            self.counters.refused += 1;
        }
    }

    fn check_in_flight(&self) -> Result<(), OmsReject> {
        if self.in_flight >= self.max_in_flight {
            Err(OmsReject::InFlightLimit)
        } else {
            Ok(())
        }
    }

    fn alloc_cl(&mut self) -> Result<u32, OmsReject> {
        if self.next_cl == u32::MAX {
            return Err(OmsReject::IdsExhausted);
        }
        let cl = self.next_cl;
        self.next_cl += 1;
        Ok(cl)
    }

    /// Takes `cl` as the next id (restore): refused unless it is not below the next one.
    fn use_cl(&mut self, cl: ClOrdId) -> Result<u32, OmsReject> {
        if cl.0 < self.next_cl || cl.0 == 0 {
            return Err(OmsReject::IdUsed);
        }
        self.next_cl = cl.0.saturating_add(1);
        Ok(cl.0)
    }

    /// Raises the next `ClOrdId` to `next` (never lowers it): after a restart
    /// the gateway passes the venue's next expected `UserRefNum`.
    pub fn set_next_cl_id(&mut self, next: ClOrdId) {
        self.next_cl = self.next_cl.max(next.0);
    }

    /// The `ClOrdId` the next request will get.
    #[must_use]
    pub const fn next_cl_id(&self) -> ClOrdId {
        ClOrdId(self.next_cl)
    }

    // ---- reports --------------------------------------------------------------------------

    /// Applies one venue report and says what it did. Never panics, whatever the report.
    pub fn on_report(&mut self, r: &ExecReport) -> Applied {
        match *r {
            ExecReport::Accepted {
                cl,
                venue_id,
                price,
                qty,
                ts_ns,
            } => self.on_accepted(cl, venue_id, price, qty, ts_ns),
            ExecReport::Executed {
                cl,
                qty,
                price,
                match_number,
                liquidity,
                ts_ns,
            } => self.on_executed(cl, qty, price, match_number, liquidity, ts_ns),
            ExecReport::Canceled {
                cl,
                qty,
                reason,
                ts_ns,
            } => self.on_canceled(cl, qty, reason, ts_ns),
            ExecReport::Replaced {
                cl,
                venue_id,
                price,
                qty,
                ts_ns,
                ..
            } => self.on_replaced(cl, venue_id, price, qty, ts_ns),
            ExecReport::Rejected { cl, reason, ts_ns } => self.on_rejected(cl, reason, ts_ns),
            ExecReport::CancelRejected { cl, ts_ns } => self.on_cancel_rejected(cl, ts_ns),
            ExecReport::BrokenTrade {
                cl, match_number, ..
            } => {
                self.counters.broken_trades += 1;
                let instrument = self.lookup_cl(cl.0).map(|h| self.slab[h.slot].instrument());
                Applied::BrokenTrade {
                    cl,
                    match_number,
                    instrument,
                }
            }
        }
    }

    fn unknown(&mut self, cl: ClOrdId, kind: ReportKind) -> Applied {
        self.counters.unknown_reports += 1;
        Applied::Unknown { cl, kind }
    }

    fn duplicate(&mut self, cl: ClOrdId, kind: ReportKind) -> Applied {
        self.counters.duplicates += 1;
        Applied::Duplicate { cl, kind }
    }

    fn on_accepted(
        &mut self,
        cl: ClOrdId,
        venue_id: OrderId,
        price: Price,
        qty: Qty,
        ts_ns: u64,
    ) -> Applied {
        let kind = ReportKind::Accepted;
        // The venue bucket's miss overlaps with the id lookup.
        self.by_venue.prefetch(hash_venue_id(venue_id.0));
        let Some(hit) = self.lookup_cl(cl.0) else {
            return self.unknown(cl, kind);
        };
        if hit.pending {
            // Venues answer a replace with `Replaced`, never `Accepted`.
            return self.unknown(cl, kind);
        }
        let slot = hit.slot;
        if !self.slab[slot].has(F_NEW_PENDING) {
            return self.duplicate(cl, kind);
        }
        let before = self.before(slot);
        let o = &mut self.slab[slot];
        o.flags &= !F_NEW_PENDING;
        o.venue_id = venue_id.0;
        o.price = price.0;
        // The venue may accept fewer shares than asked, never more.
        let accepted = qty_u32(qty.0);
        if accepted > 0 && accepted < o.leaves {
            o.leaves = accepted;
        }
        let o = *o;
        self.advance_mark(slot, ts_ns, None);
        self.by_venue.insert(hash_venue_id(venue_id.0), slot as u32);
        self.in_flight -= 1;
        self.settle(slot, before);
        self.counters.accepted += 1;
        Applied::Accepted {
            cl,
            instrument: o.instrument(),
            side: o.side(),
            price,
            leaves: o.leaves(),
        }
    }

    fn on_executed(
        &mut self,
        cl: ClOrdId,
        qty: Qty,
        price: Price,
        match_number: u64,
        liquidity: u8,
        ts_ns: u64,
    ) -> Applied {
        let Some(hit) = self.lookup_cl(cl.0) else {
            self.counters.unknown_fills += 1;
            self.counters.unknown_fill_qty += qty.0;
            return Applied::Unknown {
                cl,
                kind: ReportKind::Executed,
            };
        };
        let slot = hit.slot;
        let last = self.slab[slot].last_match;
        if match_number == 0 {
            self.counters.unnumbered_fills += 1;
        } else if match_number <= last {
            return self.duplicate(cl, ReportKind::Executed);
        }
        let before = self.before(slot);
        let traded = qty_u32(qty.0);
        let o = &mut self.slab[slot];
        if qty.0 > u64::from(o.leaves) {
            self.counters.overfills += 1;
        }
        o.leaves = o.leaves.saturating_sub(traded);
        o.filled = o.filled.saturating_add(traded);
        o.last_match = last.max(match_number);
        let o = *o;
        self.advance_mark(slot, ts_ns, None);
        let signed = i64::try_from(qty.0).unwrap_or(i64::MAX);
        let book = &mut self.books[usize::from(o.instrument)];
        book.position = match o.side() {
            Side::Buy => book.position.saturating_add(signed),
            Side::Sell => book.position.saturating_sub(signed),
        };
        self.counters.fills += 1;
        self.counters.filled_qty += qty.0;
        self.settle(slot, before);
        let done = o.leaves == 0;
        if done {
            self.retire(slot);
            self.counters.filled_orders += 1;
        }
        Applied::Fill(Fill {
            cl: o.cl(),
            instrument: o.instrument(),
            side: o.side(),
            price,
            qty,
            leaves: o.leaves(),
            match_number,
            liquidity,
            ts_ns,
            done,
        })
    }

    fn on_canceled(&mut self, cl: ClOrdId, qty: Qty, reason: CancelReason, ts_ns: u64) -> Applied {
        let kind = ReportKind::Canceled;
        let Some(hit) = self.lookup_cl(cl.0) else {
            return self.unknown(cl, kind);
        };
        let slot = hit.slot;
        if self.mark(slot).stale_cancel(ts_ns, reason) {
            return self.duplicate(cl, kind);
        }
        let o = self.slab[slot];
        if qty.0 >= u64::from(o.leaves) {
            self.retire(slot);
            self.counters.cancelled_orders += 1;
            return Applied::Cancelled {
                cl: o.cl(),
                instrument: o.instrument(),
                side: o.side(),
                qty: o.leaves(),
                leaves: Qty::ZERO,
                reason,
                done: true,
            };
        }
        let before = self.before(slot);
        // `qty < leaves <= u32::MAX` here.
        let leaves = o.leaves - qty.0 as u32;
        self.slab[slot].leaves = leaves;
        self.advance_mark(slot, ts_ns, Some(reason));
        self.settle(slot, before);
        self.counters.decrements += 1;
        Applied::Cancelled {
            cl: o.cl(),
            instrument: o.instrument(),
            side: o.side(),
            qty,
            leaves: Qty(u64::from(leaves)),
            reason,
            done: false,
        }
    }

    fn on_replaced(
        &mut self,
        cl: ClOrdId,
        venue_id: OrderId,
        price: Price,
        qty: Qty,
        ts_ns: u64,
    ) -> Applied {
        let kind = ReportKind::Replaced;
        // The venue bucket's miss overlaps with the id lookup.
        self.by_venue.prefetch(hash_venue_id(venue_id.0));
        let Some(hit) = self.lookup_cl(cl.0) else {
            return self.unknown(cl, kind);
        };
        if !hit.pending {
            // `cl` is already the order's own id: this replace was applied.
            return self.duplicate(cl, kind);
        }
        let slot = hit.slot;
        let before = self.before(slot);
        let o = self.slab[slot];
        self.by_venue.prefetch(hash_venue_id(o.venue_id));
        // Table updates in an order that keeps every entry's key readable from the slab.
        self.unindex_cl(o.cl);
        let slab = &self.slab[..];
        let bucket = self.by_cl.find(hash_cl(cl.0), |e| cl_key(slab, e) == cl.0);
        let acked = !o.has(F_NEW_PENDING);
        if acked && o.venue_id != venue_id.0 {
            self.unindex_venue(o.venue_id);
        }
        let m = &mut self.slab[slot];
        m.cl = cl.0;
        m.pending_cl = 0;
        m.pending_price = 0;
        m.pending_qty = 0;
        m.flags &= !(F_REPLACE_PENDING | F_NEW_PENDING);
        m.price = price.0;
        m.leaves = qty_u32(qty.0);
        m.venue_id = venue_id.0;
        let m = *m;
        if let Some(b) = bucket {
            self.by_cl.set(b, (slot as u32) << 1);
        }
        if !acked || o.venue_id != venue_id.0 {
            self.by_venue.insert(hash_venue_id(venue_id.0), slot as u32);
        }
        self.in_flight -= o.requests_in_flight() - m.requests_in_flight();
        self.advance_mark(slot, ts_ns, None);
        self.settle(slot, before);
        self.counters.replaced += 1;
        let done = m.leaves == 0;
        if done {
            self.retire(slot);
            self.counters.cancelled_orders += 1;
        }
        Applied::Replaced {
            orig: o.cl(),
            cl,
            instrument: m.instrument(),
            side: m.side(),
            price,
            leaves: m.leaves(),
            done,
        }
    }

    fn on_rejected(&mut self, cl: ClOrdId, reason: u16, ts_ns: u64) -> Applied {
        let kind = ReportKind::Rejected;
        let Some(hit) = self.lookup_cl(cl.0) else {
            return self.unknown(cl, kind);
        };
        if hit.pending {
            return self.replace_rejected(hit.slot, ts_ns);
        }
        let o = self.slab[hit.slot];
        if o.has(F_NEW_PENDING) {
            self.retire(hit.slot);
            self.counters.rejects += 1;
            return Applied::Rejected {
                cl,
                instrument: o.instrument(),
                side: o.side(),
                reason,
            };
        }
        self.request_rejected(hit.slot, cl, kind, ts_ns)
    }

    fn on_cancel_rejected(&mut self, cl: ClOrdId, ts_ns: u64) -> Applied {
        let kind = ReportKind::CancelRejected;
        let Some(hit) = self.lookup_cl(cl.0) else {
            return self.unknown(cl, kind);
        };
        if hit.pending {
            return self.replace_rejected(hit.slot, ts_ns);
        }
        self.request_rejected(hit.slot, cl, kind, ts_ns)
    }

    /// A refusal naming the order's own id: of the replace if one is in flight
    /// (a cancel sent meanwhile named the replacement id), else of the cancel.
    fn request_rejected(
        &mut self,
        slot: usize,
        cl: ClOrdId,
        kind: ReportKind,
        ts_ns: u64,
    ) -> Applied {
        let o = self.slab[slot];
        if self.mark(slot).stale_refusal(ts_ns) {
            // A replayed answer to an earlier request, not to the one in flight.
            return self.duplicate(cl, kind);
        }
        if o.has(F_REPLACE_PENDING) {
            return self.replace_rejected(slot, ts_ns);
        }
        if !o.has(F_CANCEL_PENDING) {
            return self.duplicate(cl, kind);
        }
        self.advance_mark(slot, ts_ns, None);
        self.slab[slot].flags &= !F_CANCEL_PENDING;
        self.in_flight -= 1;
        self.counters.cancel_rejects += 1;
        Applied::CancelRejected {
            cl: o.cl(),
            instrument: o.instrument(),
            side: o.side(),
            state: self.slab[slot].state(),
        }
    }

    fn replace_rejected(&mut self, slot: usize, ts_ns: u64) -> Applied {
        let before = self.before(slot);
        self.advance_mark(slot, ts_ns, None);
        let o = self.slab[slot];
        self.unindex_cl(o.pending_cl);
        let cancel_lost = o.has(F_CANCEL_PENDING);
        let m = &mut self.slab[slot];
        m.flags &= !(F_REPLACE_PENDING | F_CANCEL_PENDING);
        m.pending_cl = 0;
        m.pending_price = 0;
        m.pending_qty = 0;
        self.in_flight -= 1 + usize::from(cancel_lost);
        self.settle(slot, before);
        self.counters.replace_rejects += 1;
        if cancel_lost {
            self.counters.cancels_lost += 1;
        }
        Applied::ReplaceRejected {
            cl: o.cl(),
            rejected: ClOrdId(o.pending_cl),
            instrument: o.instrument(),
            side: o.side(),
            price: o.price(),
            leaves: o.leaves(),
            cancel_lost,
        }
    }

    // ---- reconciliation -------------------------------------------------------------------

    /// After the gateway reports the SoupBinTCP replay complete (and before any
    /// new request): every request still unanswered was lost. `PendingNew`
    /// orders never reached the venue and expire (slot freed); a lost cancel
    /// or replace is dropped (the replacement id unindexed) and the order is
    /// back in its open state, for the engine to re-issue. Hands every order
    /// touched to `out`; returns how many.
    pub fn reconcile(&mut self, now_ns: u64, out: &mut impl FnMut(Reconciled)) -> usize {
        self.last_reconcile_ns = now_ns;
        let mut n = 0;
        for inst in 0..self.books.len() {
            if self.books[inst].open_orders == 0 {
                continue;
            }
            for s in 0..2 {
                let mut slot = self.books[inst].sides[s].head;
                while slot != NIL {
                    let next = self.slab[slot as usize].next;
                    if self.slab[slot as usize].requests_in_flight() > 0 {
                        out(self.reconcile_one(slot as usize));
                        n += 1;
                    }
                    slot = next;
                }
            }
        }
        n
    }

    fn reconcile_one(&mut self, slot: usize) -> Reconciled {
        let o = self.slab[slot];
        if o.has(F_NEW_PENDING) {
            self.retire(slot);
            self.counters.expired += 1;
            return Reconciled {
                cl: o.cl(),
                instrument: o.instrument(),
                side: o.side(),
                state: OrderState::Expired,
                leaves: o.leaves(),
                cancel_lost: o.has(F_CANCEL_PENDING),
                replace_lost: None,
            };
        }
        let before = self.before(slot);
        let replace_lost = o.pending_replace().map(|p| p.cl);
        if replace_lost.is_some() {
            self.unindex_cl(o.pending_cl);
        }
        let m = &mut self.slab[slot];
        m.flags &= !(F_REPLACE_PENDING | F_CANCEL_PENDING);
        m.pending_cl = 0;
        m.pending_price = 0;
        m.pending_qty = 0;
        let lost = o.requests_in_flight();
        self.in_flight -= lost;
        self.counters.lost_requests += lost as u64;
        self.settle(slot, before);
        Reconciled {
            cl: o.cl(),
            instrument: o.instrument(),
            side: o.side(),
            state: o.open_state(),
            leaves: o.leaves(),
            cancel_lost: o.has(F_CANCEL_PENDING),
            replace_lost,
        }
    }

    /// End of session: every open order becomes `Expired` and its slot is
    /// freed (requests in flight are dropped). Returns how many.
    pub fn expire_all(&mut self, out: &mut impl FnMut(Reconciled)) -> usize {
        let mut n = 0;
        for inst in 0..self.books.len() {
            for s in 0..2 {
                while self.books[inst].sides[s].head != NIL {
                    let slot = self.books[inst].sides[s].head as usize;
                    let o = self.retire(slot);
                    self.counters.expired += 1;
                    out(Reconciled {
                        cl: o.cl(),
                        instrument: o.instrument(),
                        side: o.side(),
                        state: OrderState::Expired,
                        leaves: o.leaves(),
                        cancel_lost: o.has(F_CANCEL_PENDING),
                        replace_lost: o.pending_replace().map(|p| p.cl),
                    });
                    n += 1;
                }
            }
        }
        n
    }

    // ---- queries --------------------------------------------------------------------------

    /// The open order with this id (its own or its pending replacement id).
    #[must_use]
    pub fn order(&self, cl: ClOrdId) -> Option<&Order> {
        self.lookup_cl(cl.0).map(|h| &self.slab[h.slot])
    }

    /// The open order the venue knows by this reference.
    #[must_use]
    pub fn by_venue_id(&self, venue_id: OrderId) -> Option<&Order> {
        let slab = &self.slab[..];
        let b = self.by_venue.find(hash_venue_id(venue_id.0), |e| {
            slab[e as usize].venue_id == venue_id.0
        })?;
        Some(&slab[self.by_venue.entry(b) as usize])
    }

    /// Net position from applied fills (buys positive); 0 for an unknown instrument.
    #[must_use]
    pub fn position(&self, instrument: InstrumentId) -> i64 {
        self.books
            .get(usize::from(instrument.0))
            .map_or(0, |b| b.position)
    }

    /// Worst-case open quantities of an instrument (see [`Working`]).
    #[must_use]
    pub fn working(&self, instrument: InstrumentId) -> Working {
        self.books
            .get(usize::from(instrument.0))
            .map_or(Working::default(), |b| Working {
                open_buy_qty: b.open_qty[0],
                open_sell_qty: b.open_qty[1],
                open_orders: b.open_orders,
            })
    }

    /// Our most aggressive open price on one side of an instrument (highest
    /// bid, lowest ask; pending new orders included, a pending replace at the
    /// better of its two prices). O(1) unless the cached best left since the
    /// last call, then O(open orders on that side) once.
    #[must_use]
    pub fn best_working(&self, instrument: InstrumentId, side: Side) -> Option<Price> {
        let list = &self.books.get(usize::from(instrument.0))?.sides[side.index()];
        if list.count == 0 {
            return None;
        }
        if !list.best_valid.get() {
            let mut slot = list.head;
            let mut best = self.slab[slot as usize].effective_price();
            while slot != NIL {
                let o = &self.slab[slot as usize];
                best = more_aggressive(side, best, o.effective_price());
                slot = o.next;
            }
            list.best.set(best);
            list.best_valid.set(true);
        }
        Some(Price(list.best.get()))
    }

    /// Calls `f` on every open order (by instrument, then side).
    pub fn for_each_open(&self, mut f: impl FnMut(&Order)) {
        for book in &self.books {
            if book.open_orders == 0 {
                continue;
            }
            for list in &book.sides {
                let mut slot = list.head;
                while slot != NIL {
                    let o = &self.slab[slot as usize];
                    f(o);
                    slot = o.next;
                }
            }
        }
    }

    /// Open (non-terminal) orders.
    #[must_use]
    pub const fn live_orders(&self) -> usize {
        self.live
    }

    /// Requests sent and not yet answered.
    #[must_use]
    pub const fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Slab slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.slab.len()
    }

    /// Counters since construction.
    #[must_use]
    pub const fn counters(&self) -> OmsCounters {
        self.counters
    }

    /// `now_ns` of the last request returned (per-order send times are not
    /// kept: the order record is one cache line).
    #[must_use]
    pub const fn last_request_ns(&self) -> u64 {
        self.last_request_ns
    }

    /// `now_ns` of the last [`Self::reconcile`] (0: never).
    #[must_use]
    pub const fn last_reconcile_ns(&self) -> u64 {
        self.last_reconcile_ns
    }

    /// Bytes allocated for the slab, the replay watermarks, both indexes and the
    /// per-instrument state (as reserved, including huge-page padding).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.slab.reserved_bytes()
            + self.marks.reserved_bytes()
            + self.by_cl.bytes()
            + self.by_venue.bytes()
            + self.books.capacity() * size_of::<InstrumentBook>()
    }

    /// [`Self::memory_bytes`] per slab slot.
    #[must_use]
    pub fn bytes_per_order(&self) -> f64 {
        self.memory_bytes() as f64 / self.capacity() as f64
    }

    /// Bytes the kernel was asked to back with transparent huge pages.
    #[must_use]
    pub fn huge_page_bytes(&self) -> usize {
        self.slab.advice().advised_bytes
            + self.marks.advice().advised_bytes
            + self.by_cl.advice().advised_bytes
            + self.by_venue.advice().advised_bytes
    }

    // ---- internals ------------------------------------------------------------------------

    #[inline(always)]
    fn lookup_cl(&self, cl: u32) -> Option<ClHit> {
        let slab = &self.slab[..];
        let b = self.by_cl.find(hash_cl(cl), |e| cl_key(slab, e) == cl)?;
        let e = self.by_cl.entry(b);
        Some(ClHit {
            slot: (e >> 1) as usize,
            pending: e & PENDING_BIT != 0,
        })
    }

    /// Removes `cl` from the id table; the slab must still hold it.
    fn unindex_cl(&mut self, cl: u32) {
        let slab = &self.slab[..];
        if let Some(b) = self.by_cl.find(hash_cl(cl), |e| cl_key(slab, e) == cl) {
            self.by_cl.remove(b, |e| hash_cl(cl_key(slab, e)));
        }
    }

    /// Removes `venue_id` from the venue table; the slab must still hold it.
    fn unindex_venue(&mut self, venue_id: u64) {
        let slab = &self.slab[..];
        if let Some(b) = self.by_venue.find(hash_venue_id(venue_id), |e| {
            slab[e as usize].venue_id == venue_id
        }) {
            self.by_venue
                .remove(b, |e| hash_venue_id(slab[e as usize].venue_id));
        }
    }

    #[inline(always)]
    fn mark(&self, slot: usize) -> Mark {
        Mark(self.marks[slot])
    }

    #[inline(always)]
    fn advance_mark(&mut self, slot: usize, ts_ns: u64, decrement: Option<CancelReason>) {
        self.marks[slot] = self.mark(slot).advance(ts_ns, decrement).0;
    }

    #[inline(always)]
    fn before(&self, slot: usize) -> Before {
        let o = &self.slab[slot];
        Before {
            exposure: o.exposure(),
            price: o.effective_price(),
        }
    }

    /// Carries an order's change of exposure and price into its instrument's aggregates.
    #[inline(always)]
    fn settle(&mut self, slot: usize, before: Before) {
        let o = &self.slab[slot];
        let side = o.side();
        let book = &mut self.books[usize::from(o.instrument)];
        let s = side.index();
        book.open_qty[s] = book.open_qty[s] - before.exposure + o.exposure();
        let price = o.effective_price();
        if price != before.price {
            book.sides[s].on_change(side, before.price, price);
        }
    }

    /// Puts an order at the head of its (instrument, side) list and counts it in.
    fn link(&mut self, slot: u32) {
        let o = self.slab[slot as usize];
        let side = o.side();
        let book = &mut self.books[usize::from(o.instrument)];
        let list = &mut book.sides[side.index()];
        let head = list.head;
        list.on_insert(side, o.effective_price());
        list.head = slot;
        book.open_qty[side.index()] += o.exposure();
        book.open_orders += 1;
        let m = &mut self.slab[slot as usize];
        m.prev = NIL;
        m.next = head;
        if head != NIL {
            self.slab[head as usize].prev = slot;
        }
    }

    /// Takes an order out of its list and its instrument's aggregates.
    fn unlink(&mut self, slot: u32) {
        let o = self.slab[slot as usize];
        let side = o.side();
        let book = &mut self.books[usize::from(o.instrument)];
        let list = &mut book.sides[side.index()];
        list.on_remove(o.effective_price());
        if o.prev == NIL {
            list.head = o.next;
        } else {
            self.slab[o.prev as usize].next = o.next;
        }
        if o.next != NIL {
            self.slab[o.next as usize].prev = o.prev;
        }
        book.open_qty[side.index()] -= o.exposure();
        book.open_orders -= 1;
    }

    /// A terminal order: unindexed, unlinked, its requests no longer in flight,
    /// its slot back on the free list. Returns the order as it was.
    fn retire(&mut self, slot: usize) -> Order {
        let o = self.slab[slot];
        self.unlink(slot as u32);
        self.unindex_cl(o.cl);
        if o.has(F_REPLACE_PENDING) {
            self.unindex_cl(o.pending_cl);
        }
        if !o.has(F_NEW_PENDING) {
            self.unindex_venue(o.venue_id);
        }
        self.in_flight -= o.requests_in_flight();
        self.slab[slot] = Order::free(self.free_head);
        self.free_head = slot as u32;
        self.live -= 1;
        o
    }
}

fn check_qty(qty: Qty) -> Result<u32, OmsReject> {
    if qty.is_zero() {
        return Err(OmsReject::ZeroQty);
    }
    u32::try_from(qty.0).map_err(|_| OmsReject::QtyTooLarge)
}
