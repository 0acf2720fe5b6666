//! The background book from a recorded market: a TotalView-ITCH 5.0 daily
//! capture replayed as other participants' orders on the venue.
//!
//! [`CaptureReplay`] reads a capture loaded with
//! [`ItchFile`] and turns its order messages
//! into [`Command`]s of one replay firm, paced by the capture's timestamps:
//!
//! | Capture | Command |
//! |---|---|
//! | `R` Stock Directory | maps the locate to the configured instrument (other symbols are skipped and counted) |
//! | `A`/`F` Add Order | [`NewOrder`] limit at the capture's price and size, client id = order reference |
//! | `E`/`C` Order Executed, `X` Order Cancel | [`CancelOrder`] leaving what remains after it |
//! | `D` Order Delete | [`CancelOrder`] leaving 0 |
//! | `U` Order Replace | [`ReplaceOrder`], new client id = new reference |
//! | anything else | nothing (counted as ignored) |
//!
//! The capture's executions only remove liquidity: who trades with whom on
//! the venue is decided by the venue's own matching, against our participants.
//!
//! # Remaining quantities
//!
//! Each replayed order is tracked by capture reference in a `hashbrown` map
//! with three quantities: what the capture says is open (`capture`), what
//! should be open on the venue (`desired`: the capture's size less every
//! capture reduction *and* every fill on the venue), and what the venue
//! reported last (`venue`). Liquidity our participants took never comes
//! back: a later capture reduction of `n` leaves `desired - n`, and a replace
//! to `s` shares asks for `s` less the shares already taken. An order whose
//! `desired` reached zero (filled by participants, or refused, see below)
//! is never cancelled again: later capture messages about it, and about the
//! references it is replaced into, are skipped and counted.
//!
//! Commands carry absolute quantities (the venue's cancel names the quantity
//! to *leave*) and a whole batch is built before the venue runs any of it, so
//! a participant's fill processed between the two can leave an order larger
//! than `desired` (or make a reduction a `NotReduced` reject). The venue's
//! events say so; the next [`due`](CaptureReplay::due) first sends a
//! correcting cancel for every such order.
//!
//! # Refusals
//!
//! Prices and sizes are checked against the instruments' rules (tick, band,
//! maximum quantity: static, read from the engine at construction) before a
//! command is built, exactly as the engine would: a refused add is never
//! sent, a refused replace cancels the old order, and both are counted by
//! [`RejectReason`] with whatever the venue itself refuses (capacity, or a
//! command overtaken by a participant's fill). Refusing locally keeps a
//! speed-0 batch from sending follow-ups about orders that never rested.
//!
//! # Pacing
//!
//! The first [`due`](CaptureReplay::due) (or `poll`) call's `now_ns` is the
//! venue time of the capture's start (`start_ns`, by default the first Add
//! Order's timestamp, so a day's pre-open directory does not hold the book
//! back); a message stamped `t` is due once `(t - start) <= (now - first) *
//! speed`. A speed of 0 releases the whole capture at once. Messages stamped
//! before the start are due immediately.
//!
//! Must never: fail on a message (malformed, unknown or refused input is
//! counted), send a command for an order the venue no longer holds on the
//! capture's say-so alone, or depend on `quotewire-engine`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use hashbrown::HashMap;
use quotewire_core::{InstrumentId, Price, Qty, Side, Timestamp};
use quotewire_feed::file::ItchFile;
use quotewire_feed::FeedError;
use quotewire_protocol::itch::{self, length_prefixed, Message};

use crate::matching::{
    CancelOrder, ClientOrderId, Command, Event, FirmId, InstrumentRules, MatchingEngine, NewOrder,
    OrderType, RejectReason, ReplaceOrder, RequestKind,
};
use crate::runtime::OrderEntry;

/// Slots of the per-reason reject counters: [`RejectReason`] codes are 1..=10.
pub const REJECT_SLOTS: usize = 11;

/// Configuration of a [`CaptureReplay`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayConfig {
    /// The firm every replayed order belongs to; reserved for the replay (its
    /// orders meet self-match prevention against each other, never trade).
    pub firm: FirmId,
    /// Capture symbol (as in the Stock Directory, without padding) -> venue
    /// instrument. Messages for other symbols are skipped.
    pub symbols: Vec<(String, InstrumentId)>,
    /// Capture nanoseconds per venue nanosecond: 1.0 is real time, 10.0 ten
    /// times faster, 0.0 everything at once.
    pub speed: f64,
    /// Capture time (ns since midnight) that coincides with the first poll;
    /// `None`: the first Add Order's timestamp.
    pub start_ns: Option<u64>,
    /// Orders the tracking map reserves up front (it grows past this if needed).
    pub order_capacity: usize,
}

impl ReplayConfig {
    /// Real-time replay of `symbols` under `firm`, starting at the first Add Order.
    #[must_use]
    pub const fn new(firm: FirmId, symbols: Vec<(String, InstrumentId)>) -> Self {
        Self {
            firm,
            symbols,
            speed: 1.0,
            start_ns: None,
            order_capacity: 1 << 16,
        }
    }
}

/// Why a replay could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No symbol configured.
    #[error("capture replay: no symbols configured")]
    NoSymbols,
    /// A symbol is empty, longer than 8 bytes or not printable ASCII.
    #[error("capture replay: invalid symbol {0:?}")]
    InvalidSymbol(String),
    /// A symbol is configured twice.
    #[error("capture replay: symbol {0:?} is configured twice")]
    DuplicateSymbol(String),
    /// Two symbols map to one instrument (their books could cross).
    #[error("capture replay: instrument {0:?} is configured twice")]
    DuplicateInstrument(InstrumentId),
    /// The engine does not trade the instrument.
    #[error("capture replay: instrument {0:?} is not traded by the engine")]
    UnknownInstrument(InstrumentId),
    /// The speed is negative, NaN or infinite.
    #[error("capture replay: speed must be finite and non-negative, got {0}")]
    InvalidSpeed(f64),
    /// The capture could not be read.
    #[error("capture replay: {0}")]
    Load(#[from] FeedError),
}

macro_rules! replay_stats {
    ($( $(#[doc = $doc:literal])* $name:ident ),* $(,)?) => {
        /// Counters of a replay. Plain integers, copied out for reporting.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct ReplayStats {
            $( $(#[doc = $doc])* pub $name: u64, )*
            /// Capture orders refused by the instrument rules (not sent) or
            /// commands the venue refused, indexed by [`RejectReason`] code (see
            /// [`ReplayStats::rejected`]).
            pub rejected_by_reason: [u64; REJECT_SLOTS],
            /// The whole capture was read (the end, or a truncated tail).
            pub finished: bool,
        }

        /// The counters as atomics, written by the replay's thread only.
        #[derive(Debug, Default)]
        struct SharedStats {
            $( $name: AtomicU64, )*
            rejected_by_reason: [AtomicU64; REJECT_SLOTS],
            finished: AtomicBool,
        }

        impl SharedStats {
            fn store(&self, s: &ReplayStats) {
                $( self.$name.store(s.$name, Relaxed); )*
                for (a, &v) in self.rejected_by_reason.iter().zip(&s.rejected_by_reason) {
                    a.store(v, Relaxed);
                }
                self.finished.store(s.finished, Relaxed);
            }

            fn load(&self) -> ReplayStats {
                ReplayStats {
                    $( $name: self.$name.load(Relaxed), )*
                    rejected_by_reason: std::array::from_fn(|i| {
                        self.rejected_by_reason[i].load(Relaxed)
                    }),
                    finished: self.finished.load(Relaxed),
                }
            }
        }
    };
}

replay_stats! {
    /// Capture messages read and acted on (or skipped), undecodable ones included.
    messages,
    /// [`NewOrder`]s sent (Add Order).
    new_orders,
    /// [`CancelOrder`]s sent for capture executions, cancels and deletes.
    cancels,
    /// [`ReplaceOrder`]s sent (Order Replace).
    replaces,
    /// Correcting cancels: orders left larger than wanted by a race with a
    /// participant's fill, and old orders of refused replaces.
    corrections,
    /// Messages about symbols not configured (directory and order messages).
    skipped_other_symbol,
    /// Order messages naming a reference never added (or added twice).
    skipped_unknown_ref,
    /// Order messages about a replayed order no longer on the venue (filled
    /// by participants, or refused); never sent as commands.
    skipped_gone,
    /// Messages without a book effect (system events, trades, imbalances...).
    ignored,
    /// Messages that did not decode (and a truncated tail, which ends the capture).
    undecodable,
    /// Executions of replayed orders on the venue (against participants).
    fills,
    /// Shares of replayed orders executed on the venue.
    filled_qty,
}

impl ReplayStats {
    /// Commands sent, all kinds.
    #[must_use]
    pub const fn commands(&self) -> u64 {
        self.new_orders + self.cancels + self.replaces + self.corrections
    }

    /// Commands refused for `reason`.
    #[must_use]
    pub const fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected_by_reason[reason as usize]
    }

    /// Commands refused, all reasons.
    #[must_use]
    pub fn rejected_total(&self) -> u64 {
        self.rejected_by_reason.iter().sum()
    }
}

/// A cloneable, thread-safe view of a replay owned elsewhere (by a
/// [`crate::runtime::Venue`]).
#[derive(Clone, Debug)]
pub struct ReplayHandle {
    shared: Arc<SharedStats>,
}

impl ReplayHandle {
    /// The counters as of the replay's last call.
    #[must_use]
    pub fn stats(&self) -> ReplayStats {
        self.shared.load()
    }

    /// True once the whole capture was read.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.shared.finished.load(Relaxed)
    }
}

/// Where a stock locate's messages go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// No directory (nor add) seen for the locate yet.
    Unseen,
    /// A symbol not configured.
    Skip,
    /// A configured symbol: index into the lanes.
    To(u16),
}

/// One replayed order, keyed by its current capture reference (= client id).
#[derive(Clone, Copy, Debug)]
struct Tracked {
    /// Index of the instrument's lane.
    lane: u16,
    /// Open shares according to the capture.
    capture: u32,
    /// Open shares wanted on the venue: the capture's, less what traded on the venue.
    desired: u32,
    /// Open shares on the venue: projected when a command is sent, exact once
    /// its events arrived.
    venue: u32,
    /// Queued for a correcting cancel.
    dirty: bool,
}

/// Replays a recorded ITCH capture as a background book; see the module docs.
pub struct CaptureReplay {
    file: ItchFile,
    /// Byte offset of the next message to read in the (inflated) image.
    pos: usize,
    /// The next message, read but not yet due, and the offset after it.
    peeked: Option<(Message, usize)>,
    firm: FirmId,
    speed: f64,
    /// Capture time that maps to `origin`.
    start: u64,
    /// Venue time of the first poll; `None` before it.
    origin: Option<u64>,
    /// Configured instruments and their (static) rules.
    lanes: Vec<(InstrumentId, InstrumentRules)>,
    /// Padded symbol -> lane.
    symbols: HashMap<[u8; 8], u16>,
    routes: Box<[Route]>,
    orders: HashMap<u64, Tracked>,
    /// Old reference -> new reference of the replaces sent since the last
    /// poll: events about the old order may still arrive in this pass.
    renamed: HashMap<u64, u64>,
    /// References whose venue quantity exceeds the desired one.
    dirty: Vec<u64>,
    /// Old orders of refused replaces, to cancel.
    orphans: Vec<u64>,
    stats: ReplayStats,
    shared: Arc<SharedStats>,
}

impl std::fmt::Debug for CaptureReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReplay")
            .field("firm", &self.firm)
            .field("speed", &self.speed)
            .field("start", &self.start)
            .field("origin", &self.origin)
            .field("pos", &self.pos)
            .field("tracked", &self.orders.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Pads a symbol to the 8-byte ITCH field, refusing what cannot be one.
fn pad_symbol(symbol: &str) -> Option<[u8; 8]> {
    let bytes = symbol.as_bytes();
    if bytes.is_empty() || bytes.len() > 8 || !bytes.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    let mut out = [b' '; 8];
    out[..bytes.len()].copy_from_slice(bytes);
    Some(out)
}

#[inline]
fn qty_u32(q: Qty) -> u32 {
    u32::try_from(q.0).unwrap_or(u32::MAX)
}

impl CaptureReplay {
    /// Loads the capture at `path` (plain or gzip) and sets up the replay.
    pub fn load(
        path: impl AsRef<std::path::Path>,
        cfg: &ReplayConfig,
        engine: &MatchingEngine,
    ) -> Result<Self, ReplayError> {
        Self::new(ItchFile::load(path)?, cfg, engine)
    }

    /// Validates `cfg` against the engine's instruments and sets up the replay
    /// of `file` (nothing is sent before the first poll).
    pub fn new(
        file: ItchFile,
        cfg: &ReplayConfig,
        engine: &MatchingEngine,
    ) -> Result<Self, ReplayError> {
        if cfg.symbols.is_empty() {
            return Err(ReplayError::NoSymbols);
        }
        if !cfg.speed.is_finite() || cfg.speed < 0.0 {
            return Err(ReplayError::InvalidSpeed(cfg.speed));
        }
        let mut symbols = HashMap::with_capacity(cfg.symbols.len());
        let mut lanes: Vec<(InstrumentId, InstrumentRules)> = Vec::with_capacity(cfg.symbols.len());
        for (symbol, id) in &cfg.symbols {
            let key =
                pad_symbol(symbol).ok_or_else(|| ReplayError::InvalidSymbol(symbol.clone()))?;
            let rules = engine
                .rules(*id)
                .ok_or(ReplayError::UnknownInstrument(*id))?;
            if lanes.iter().any(|(known, _)| known == id) {
                return Err(ReplayError::DuplicateInstrument(*id));
            }
            // At most one lane per instrument, and instrument ids are u16.
            let lane = lanes.len() as u16;
            if symbols.insert(key, lane).is_some() {
                return Err(ReplayError::DuplicateSymbol(symbol.clone()));
            }
            lanes.push((*id, rules));
        }
        let start = cfg.start_ns.unwrap_or_else(|| first_add_ns(&file));
        let shared = Arc::new(SharedStats::default());
        Ok(Self {
            file,
            pos: 0,
            peeked: None,
            firm: cfg.firm,
            speed: cfg.speed,
            start,
            origin: None,
            lanes,
            symbols,
            routes: vec![Route::Unseen; usize::from(u16::MAX) + 1].into_boxed_slice(),
            orders: HashMap::with_capacity(cfg.order_capacity),
            renamed: HashMap::with_capacity(1024),
            dirty: Vec::with_capacity(1024),
            orphans: Vec::with_capacity(64),
            stats: ReplayStats::default(),
            shared,
        })
    }

    /// A view of the counters that stays valid once the replay is boxed into a venue.
    #[must_use]
    pub fn handle(&self) -> ReplayHandle {
        ReplayHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Counters of what the replay has done.
    #[must_use]
    pub const fn stats(&self) -> ReplayStats {
        self.stats
    }

    /// True once the whole capture was read.
    #[must_use]
    pub const fn is_finished(&self) -> bool {
        self.stats.finished
    }

    /// Capture time (ns since midnight) that maps to the first poll.
    #[must_use]
    pub const fn start_ns(&self) -> u64 {
        self.start
    }

    /// Replayed orders believed open on the venue.
    #[must_use]
    pub fn live_orders(&self) -> usize {
        self.orders.values().filter(|o| o.venue > 0).count()
    }

    /// Venue time at which the next capture message becomes due; `None` before
    /// the first poll (the clock is not started) and at the end of the capture.
    #[must_use]
    pub fn next_arrival_ns(&self) -> Option<u64> {
        let origin = self.origin?;
        let (msg, _) = self.peeked?;
        let ahead = msg.timestamp().saturating_sub(self.start);
        if self.speed == 0.0 || ahead == 0 {
            return Some(origin);
        }
        let wait = (ahead as f64 / self.speed).ceil();
        Some(origin.saturating_add(if wait >= u64::MAX as f64 {
            u64::MAX
        } else {
            wait as u64
        }))
    }

    /// Appends the commands due at `now_ns`: first the corrections the venue's
    /// events called for, then, in capture order, every message whose capture
    /// time has elapsed. The first call starts the clock.
    pub fn due(&mut self, now_ns: u64, out: &mut Vec<Command>) {
        let origin = *self.origin.get_or_insert(now_ns);
        self.renamed.clear();
        self.correct(now_ns, out);
        let elapsed = now_ns.saturating_sub(origin) as f64 * self.speed;
        while let Some(msg) = self.peek() {
            let ahead = msg.timestamp().saturating_sub(self.start);
            if self.speed != 0.0 && ahead as f64 > elapsed {
                break;
            }
            if let Some((_, next)) = self.peeked.take() {
                self.pos = next;
            }
            self.stats.messages += 1;
            let ts = if self.speed == 0.0 {
                now_ns
            } else {
                origin
                    .saturating_add((ahead as f64 / self.speed) as u64)
                    .min(now_ns)
            };
            self.apply(&msg, Timestamp(ts), out);
        }
        self.shared.store(&self.stats);
    }

    /// The next message, decoding past undecodable ones; `None` at the end.
    fn peek(&mut self) -> Option<Message> {
        loop {
            if let Some((msg, _)) = self.peeked {
                return Some(msg);
            }
            if self.stats.finished {
                return None;
            }
            let rest = self.file.bytes().get(self.pos..).unwrap_or_default();
            let mut it = length_prefixed(rest);
            let read = it.next().map(|r| r.map(itch::decode));
            let next = self.pos + it.offset();
            match read {
                None => self.stats.finished = true,
                Some(Err(_)) => {
                    // A truncated tail: nothing after it can be framed.
                    self.stats.undecodable += 1;
                    self.stats.finished = true;
                }
                Some(Ok(Ok(msg))) => self.peeked = Some((msg, next)),
                Some(Ok(Err(_))) => {
                    self.stats.messages += 1;
                    self.stats.undecodable += 1;
                    self.pos = next;
                }
            }
        }
    }

    /// Correcting cancels: orders the venue holds more of than wanted, and
    /// old orders of refused replaces. Runs when no command is in flight, so
    /// the venue quantities are exact.
    fn correct(&mut self, now_ns: u64, out: &mut Vec<Command>) {
        let firm = self.firm;
        let cancel = |client_id, leave| {
            Command::Cancel(CancelOrder {
                ts: Timestamp(now_ns),
                firm,
                client_id: ClientOrderId(client_id),
                leave_qty: Qty(u64::from(leave)),
            })
        };
        for client_id in self.orphans.drain(..) {
            out.push(cancel(client_id, 0));
            self.stats.corrections += 1;
        }
        for client_id in self.dirty.drain(..) {
            let Some(o) = self.orders.get_mut(&client_id) else {
                continue;
            };
            o.dirty = false;
            if o.venue > o.desired {
                out.push(cancel(client_id, o.desired));
                o.venue = o.desired;
                self.stats.corrections += 1;
            }
        }
    }

    /// Where a locate's order messages go, learning it from `stock` when no
    /// directory named it.
    #[inline]
    fn route(&mut self, locate: u16, stock: Option<[u8; 8]>) -> Option<u16> {
        let slot = &mut self.routes[usize::from(locate)];
        if *slot == Route::Unseen {
            if let Some(stock) = stock {
                *slot = self
                    .symbols
                    .get(&stock)
                    .map_or(Route::Skip, |&lane| Route::To(lane));
            }
        }
        match *slot {
            Route::To(lane) => Some(lane),
            Route::Skip | Route::Unseen => {
                self.stats.skipped_other_symbol += 1;
                None
            }
        }
    }

    fn apply(&mut self, msg: &Message, ts: Timestamp, out: &mut Vec<Command>) {
        match *msg {
            Message::StockDirectory(d) => {
                let route = self
                    .symbols
                    .get(&d.stock)
                    .map_or(Route::Skip, |&lane| Route::To(lane));
                if route == Route::Skip {
                    self.stats.skipped_other_symbol += 1;
                }
                self.routes[usize::from(d.stock_locate)] = route;
            }
            Message::AddOrder(a) => {
                let add = (
                    a.stock_locate,
                    a.stock,
                    a.order_ref,
                    a.side,
                    a.price,
                    a.shares,
                );
                self.add_message(add, ts, out);
            }
            Message::AddOrderMpid(a) => {
                let add = (
                    a.stock_locate,
                    a.stock,
                    a.order_ref,
                    a.side,
                    a.price,
                    a.shares,
                );
                self.add_message(add, ts, out);
            }
            Message::OrderExecuted(e) => {
                self.reduce(
                    e.stock_locate,
                    e.order_ref,
                    Some(e.executed_shares),
                    ts,
                    out,
                );
            }
            Message::OrderExecutedWithPrice(e) => {
                self.reduce(
                    e.stock_locate,
                    e.order_ref,
                    Some(e.executed_shares),
                    ts,
                    out,
                );
            }
            Message::OrderCancel(x) => {
                self.reduce(
                    x.stock_locate,
                    x.order_ref,
                    Some(x.cancelled_shares),
                    ts,
                    out,
                );
            }
            Message::OrderDelete(d) => self.reduce(d.stock_locate, d.order_ref, None, ts, out),
            Message::OrderReplace(u) => self.replace(&u, ts, out),
            _ => self.stats.ignored += 1,
        }
    }

    /// `A`/`F` fields: locate, stock, reference, side, price, shares.
    fn add_message(
        &mut self,
        (locate, stock, order_ref, side, price, shares): (u16, [u8; 8], u64, Side, u32, u32),
        ts: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let Some(lane) = self.route(locate, Some(stock)) else {
            return;
        };
        let new = NewOrder {
            ts,
            firm: self.firm,
            client_id: ClientOrderId(order_ref),
            instrument: self.lanes[usize::from(lane)].0,
            side,
            price: Price(i64::from(price)),
            qty: Qty(u64::from(shares)),
            order_type: OrderType::Limit,
        };
        self.add(lane, new, out);
    }

    /// `A`/`F`: a new limit order of the replay firm.
    fn add(&mut self, lane: u16, new: NewOrder, out: &mut Vec<Command>) {
        let order_ref = new.client_id.0;
        if self.orders.contains_key(&order_ref) {
            self.stats.skipped_unknown_ref += 1;
            return;
        }
        let shares = qty_u32(new.qty);
        let refused = self.refuse(lane, new.price, new.qty);
        let open = if refused { 0 } else { shares };
        self.orders.insert(
            order_ref,
            Tracked {
                lane,
                capture: shares,
                desired: open,
                venue: open,
                dirty: false,
            },
        );
        if !refused {
            out.push(Command::New(new));
            self.stats.new_orders += 1;
        }
    }

    /// Checks an order against the instrument's rules as the engine would
    /// (they never change), counting a refusal: a command the venue would
    /// refuse is never sent, so the order is known gone before the batch runs.
    #[inline]
    fn refuse(&mut self, lane: u16, price: Price, qty: Qty) -> bool {
        let r = self.lanes[usize::from(lane)].1;
        let reason = if qty.0 == 0 {
            RejectReason::ZeroQty
        } else if qty.0 > r.max_order_qty.0 {
            RejectReason::QtyAboveMax
        } else if price.0 % r.tick.0 != 0 {
            RejectReason::OffTick
        } else if price.0 < r.low.0 || price.0 > r.high.0 {
            RejectReason::OutsideBand
        } else {
            return false;
        };
        self.stats.rejected_by_reason[reason as usize] += 1;
        true
    }

    /// The tracked order a capture message names, if it is one of ours on
    /// the message's instrument.
    #[inline]
    fn lookup(&mut self, locate: u16, order_ref: u64) -> Option<Tracked> {
        let lane = self.route(locate, None)?;
        match self.orders.get(&order_ref) {
            Some(&o) if o.lane == lane => Some(o),
            _ => {
                self.stats.skipped_unknown_ref += 1;
                None
            }
        }
    }

    /// `E`, `C`, `X` (`Some(shares)`) and `D` (`None`).
    fn reduce(
        &mut self,
        locate: u16,
        order_ref: u64,
        shares: Option<u32>,
        ts: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let Some(mut o) = self.lookup(locate, order_ref) else {
            return;
        };
        let n = shares.unwrap_or(o.capture);
        o.capture = o.capture.saturating_sub(n);
        if o.capture == 0 {
            self.orders.remove(&order_ref);
            if o.venue == 0 && o.desired == 0 {
                self.stats.skipped_gone += 1;
                return;
            }
            o.desired = 0;
        } else {
            if o.desired == 0 {
                self.stats.skipped_gone += 1;
                self.orders.insert(order_ref, o);
                return;
            }
            o.desired = o.desired.saturating_sub(n);
            let send = o.desired < o.venue;
            o.venue = o.venue.min(o.desired);
            self.orders.insert(order_ref, o);
            if !send {
                return;
            }
        }
        out.push(Command::Cancel(CancelOrder {
            ts,
            firm: self.firm,
            client_id: ClientOrderId(order_ref),
            leave_qty: Qty(u64::from(o.desired)),
        }));
        self.stats.cancels += 1;
    }

    fn replace(&mut self, u: &itch::OrderReplace, ts: Timestamp, out: &mut Vec<Command>) {
        let Some(o) = self.lookup(u.stock_locate, u.original_order_ref) else {
            return;
        };
        let (old, new) = (u.original_order_ref, u.new_order_ref);
        if self.orders.contains_key(&new) {
            self.stats.skipped_unknown_ref += 1;
            return;
        }
        self.orders.remove(&old);
        // Shares participants took from the order never come back.
        let taken = o.capture - o.desired.min(o.capture);
        let price = Price(i64::from(u.price));
        let mut desired = if o.desired == 0 {
            0
        } else {
            u.shares.saturating_sub(taken)
        };
        if desired > 0 && self.refuse(o.lane, price, Qty(u64::from(desired))) {
            // The old order leaves; the new one never comes to be.
            desired = 0;
        }
        let gone = desired == 0 && o.venue == 0;
        self.orders.insert(
            new,
            Tracked {
                lane: o.lane,
                capture: u.shares,
                desired,
                venue: desired,
                dirty: false,
            },
        );
        if gone {
            self.stats.skipped_gone += 1;
            return;
        }
        self.renamed.insert(old, new);
        if desired == 0 {
            out.push(Command::Cancel(CancelOrder {
                ts,
                firm: self.firm,
                client_id: ClientOrderId(old),
                leave_qty: Qty(0),
            }));
            self.stats.cancels += 1;
            return;
        }
        out.push(Command::Replace(ReplaceOrder {
            ts,
            firm: self.firm,
            orig_client_id: ClientOrderId(old),
            client_id: ClientOrderId(new),
            price,
            qty: Qty(u64::from(desired)),
        }));
        self.stats.replaces += 1;
    }

    /// The tracked reference an event's client id stands for, and whether it
    /// is that order itself (not an older order since replaced into it).
    #[inline]
    fn resolve(&self, client_id: ClientOrderId) -> Option<(u64, bool)> {
        let mut id = client_id.0;
        if self.orders.contains_key(&id) {
            return Some((id, true));
        }
        while let Some(&next) = self.renamed.get(&id) {
            if self.orders.contains_key(&next) {
                return Some((next, false));
            }
            id = next;
        }
        None
    }

    /// Applies what the venue reports about one replayed order: `taken`
    /// shares traded, `open` shares left on it (only for the order itself).
    fn update(&mut self, client_id: ClientOrderId, taken: u64, open: Option<Qty>) {
        let Some((key, direct)) = self.resolve(client_id) else {
            return;
        };
        let Some(o) = self.orders.get_mut(&key) else {
            return;
        };
        o.desired = o
            .desired
            .saturating_sub(u32::try_from(taken).unwrap_or(u32::MAX));
        if direct {
            if let Some(open) = open {
                o.venue = qty_u32(open);
            }
            // Liquidity the venue lost some other way does not come back either.
            o.desired = o.desired.min(o.venue);
        }
        if o.venue > o.desired && !o.dirty {
            o.dirty = true;
            self.dirty.push(key);
        }
    }

    /// The order is not (or no longer) on the venue.
    fn forget(&mut self, client_id: ClientOrderId) {
        if let Some(o) = self.orders.get_mut(&client_id.0) {
            o.venue = 0;
            o.desired = 0;
        }
    }

    /// Tracks the replayed orders from the engine's events (every event of the
    /// venue may be passed; other firms' are ignored).
    pub fn on_events(&mut self, events: &[Event]) {
        let firm = self.firm;
        let mut touched = false;
        for event in events {
            match *event {
                Event::Accepted(a) if a.firm == firm => {
                    self.update(a.client_id, 0, Some(a.qty));
                    touched = true;
                }
                Event::Executed(x) if x.resting_firm == firm || x.aggressor_firm == firm => {
                    self.stats.fills += 1;
                    self.stats.filled_qty += x.qty.0;
                    if x.resting_firm == firm {
                        self.update(x.resting_client_id, x.qty.0, Some(x.resting_remaining));
                    }
                    if x.aggressor_firm == firm {
                        self.update(x.aggressor_client_id, x.qty.0, Some(x.aggressor_remaining));
                    }
                    touched = true;
                }
                Event::Canceled(c) if c.firm == firm => {
                    self.update(c.client_id, 0, Some(c.remaining));
                    touched = true;
                }
                Event::Replaced(r) if r.firm == firm => {
                    self.update(r.client_id, 0, Some(r.qty));
                    touched = true;
                }
                Event::Rejected(r) if r.firm == firm => {
                    if let Some(slot) = self.stats.rejected_by_reason.get_mut(r.reason as usize) {
                        *slot += 1;
                    }
                    match r.request {
                        RequestKind::New => self.forget(r.client_id),
                        RequestKind::Cancel if r.reason == RejectReason::UnknownOrder => {
                            self.forget(r.client_id);
                        }
                        RequestKind::Cancel => {}
                        RequestKind::Replace => {
                            // The new reference never came to be; unless the old
                            // order is gone too, it still rests at its old price.
                            if let Some((key, _)) = self.resolve(r.client_id) {
                                self.forget(ClientOrderId(key));
                            }
                            if r.reason != RejectReason::UnknownOrder {
                                self.orphans.push(r.orig_client_id.0);
                            }
                        }
                    }
                    touched = true;
                }
                _ => {}
            }
        }
        if touched {
            self.shared.store(&self.stats);
        }
    }
}

/// Timestamp of the capture's first Add Order, else of its first message, else 0.
fn first_add_ns(file: &ItchFile) -> u64 {
    let mut first = None;
    for raw in file.messages() {
        let Ok(msg) = itch::decode(raw) else {
            continue;
        };
        first.get_or_insert(msg.timestamp());
        if matches!(msg, Message::AddOrder(_) | Message::AddOrderMpid(_)) {
            return msg.timestamp();
        }
    }
    first.unwrap_or(0)
}

/// Plugs the replay into [`Venue::add_gateway`](crate::runtime::Venue::add_gateway):
/// `poll` is [`CaptureReplay::due`], `on_events` is [`CaptureReplay::on_events`].
impl OrderEntry for CaptureReplay {
    fn poll(&mut self, now_ns: u64, commands: &mut Vec<Command>) {
        self.due(now_ns, commands);
    }

    fn on_events(&mut self, _now_ns: u64, events: &[Event]) {
        Self::on_events(self, events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_padded_to_the_itch_field() {
        assert_eq!(pad_symbol("AAPL"), Some(*b"AAPL    "));
        assert_eq!(pad_symbol("SYM00001"), Some(*b"SYM00001"));
        assert_eq!(pad_symbol(""), None);
        assert_eq!(pad_symbol("TOOLONGSYM"), None);
        assert_eq!(pad_symbol("A B"), None);
    }

    #[test]
    fn stats_sum_commands_and_rejects() {
        let mut s = ReplayStats {
            new_orders: 3,
            cancels: 2,
            replaces: 1,
            corrections: 4,
            ..ReplayStats::default()
        };
        s.rejected_by_reason[RejectReason::OffTick as usize] = 5;
        s.rejected_by_reason[RejectReason::OutsideBand as usize] = 2;
        assert_eq!(s.commands(), 10);
        assert_eq!(s.rejected(RejectReason::OffTick), 5);
        assert_eq!(s.rejected_total(), 7);
        let shared = SharedStats::default();
        shared.store(&s);
        assert_eq!(shared.load(), s);
    }
}
