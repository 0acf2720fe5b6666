//! Replaying a recorded ITCH capture as the venue's background book: the
//! venue ends up holding exactly the capture's book (less what our
//! participants took), paced by the capture's clock, and nothing the venue
//! refuses or our participants fill makes the replay fail.

use std::path::PathBuf;

use hashbrown::{HashMap, HashSet};
use quotewire_book::{BookConfig, BookSet};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side, Timestamp};
use quotewire_feed::file::ItchFile;
use quotewire_protocol::itch::{self, Message};
use quotewire_synth::{write_daily, SynthConfig};
use quotewire_venue::matching::{
    ClientOrderId, Command, Event, FirmId, InstrumentConfig, MatchingEngine, NewOrder, OrderType,
    PriceBand, RejectReason, VenueConfig,
};
use quotewire_venue::replay::{CaptureReplay, ReplayConfig, ReplayError};
use quotewire_venue::runtime::Venue;

const REPLAY_FIRM: FirmId = FirmId(9_000);
const PARTICIPANT: FirmId = FirmId(7);
const CENT: i64 = 100;
const ORIGIN: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const DAY: u64 = 86_400_000_000_000;

/// A synthetic capture on disk and its decoded messages.
struct Capture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    msgs: Vec<Message>,
}

fn capture(file_name: &str) -> Capture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(file_name);
    let cfg = SynthConfig {
        messages: 20_000,
        instruments: 3,
        ..SynthConfig::default()
    };
    write_daily(&path, &cfg).expect("write capture");
    let file = ItchFile::load(&path).expect("load capture");
    let msgs = file
        .messages()
        .map(|m| itch::decode(m).expect("synth messages decode"))
        .collect();
    Capture {
        _dir: dir,
        path,
        msgs,
    }
}

impl Capture {
    /// Locate -> symbol, from the Stock Directory.
    fn symbols(&self) -> Vec<(u16, String)> {
        self.msgs
            .iter()
            .filter_map(|m| match m {
                Message::StockDirectory(d) => Some((
                    d.stock_locate,
                    String::from_utf8_lossy(&d.stock).trim_end().to_owned(),
                )),
                _ => None,
            })
            .collect()
    }

    /// Lowest and highest order price of a locate.
    fn price_range(&self, locate: u16) -> (i64, i64) {
        let prices = self.msgs.iter().filter_map(|m| match m {
            Message::AddOrder(a) if a.stock_locate == locate => Some(a.price),
            Message::AddOrderMpid(a) if a.stock_locate == locate => Some(a.price),
            Message::OrderReplace(u) if u.stock_locate == locate => Some(u.price),
            _ => None,
        });
        let (lo, hi) = prices.fold((u32::MAX, 0), |(lo, hi), p| (lo.min(p), hi.max(p)));
        (i64::from(lo), i64::from(hi))
    }

    /// Timestamp of the first Add Order.
    fn first_add_ns(&self) -> u64 {
        self.msgs
            .iter()
            .find(|m| matches!(m, Message::AddOrder(_) | Message::AddOrderMpid(_)))
            .map(Message::timestamp)
            .expect("an add")
    }
}

/// Venue instrument of a capture locate.
fn venue_id(locate: u16) -> InstrumentId {
    InstrumentId(100 + locate)
}

/// An engine trading `locates` (as [`venue_id`]s) with tick `tick` and a band
/// covering every price the capture uses.
fn engine(cap: &Capture, locates: &[u16], tick: i64) -> MatchingEngine {
    let instruments: Vec<_> = locates
        .iter()
        .map(|&l| {
            let (lo, hi) = cap.price_range(l);
            InstrumentConfig {
                id: venue_id(l),
                tick: Price(tick),
                band: PriceBand::Range {
                    min: Price(lo),
                    max: Price(hi),
                },
                max_order_qty: Qty(1_000_000),
            }
        })
        .collect();
    MatchingEngine::new(&VenueConfig {
        max_orders: 1 << 16,
        max_band_levels: 1 << 20,
        instruments,
        ..VenueConfig::default()
    })
    .expect("venue config")
}

fn config(cap: &Capture, locates: &[u16], speed: f64) -> ReplayConfig {
    let symbols = cap
        .symbols()
        .into_iter()
        .filter(|(l, _)| locates.contains(l))
        .map(|(l, s)| (s, venue_id(l)))
        .collect();
    ReplayConfig {
        speed,
        ..ReplayConfig::new(REPLAY_FIRM, symbols)
    }
}

/// The book the replay should leave, rebuilt from the capture with
/// `quotewire-book`: the capture's orders on `locates`, less what was taken
/// from them on the venue (which never comes back), without the orders the
/// venue refuses (and what they are replaced into).
struct Expected<'a> {
    books: BookSet,
    locates: &'a [u16],
    valid: &'a dyn Fn(u16, u32) -> bool,
    capture: HashMap<u64, u32>,
    dead: HashSet<u64>,
    /// Messages about dead orders (the replay's `skipped_gone`).
    gone: u64,
    /// Order messages for the locates (the replay's commands, when nothing is dead).
    order_messages: u64,
}

impl<'a> Expected<'a> {
    fn new(locates: &'a [u16], valid: &'a dyn Fn(u16, u32) -> bool) -> Self {
        Self {
            books: BookSet::new(BookConfig {
                max_orders: 1 << 16,
                max_instruments: 256,
                levels_per_side: 256,
            }),
            locates,
            valid,
            capture: HashMap::new(),
            dead: HashSet::new(),
            gone: 0,
            order_messages: 0,
        }
    }

    fn open(&self, order_ref: u64) -> u32 {
        self.books
            .order(OrderId(order_ref))
            .map_or(0, |o| u32::try_from(o.qty.0).expect("u32"))
    }

    /// Participants took `qty` of a resting order.
    fn take(&mut self, order_ref: u64, qty: u32) {
        let open = self.open(order_ref);
        assert!(open >= qty, "took more than rests");
        self.books
            .execute(OrderId(order_ref), Qty(u64::from(qty)))
            .expect("live");
        if open == qty {
            self.dead.insert(order_ref);
        }
    }

    fn add(&mut self, locate: u16, order_ref: u64, side: Side, price: u32, shares: u32) {
        self.capture.insert(order_ref, shares);
        if (self.valid)(locate, price) {
            let id = InstrumentId(locate);
            let (p, q) = (Price(i64::from(price)), Qty(u64::from(shares)));
            self.books
                .add(id, OrderId(order_ref), side, p, q)
                .expect("add");
        } else {
            self.dead.insert(order_ref);
        }
    }

    fn reduce(&mut self, order_ref: u64, shares: Option<u32>) {
        let capture = self.capture[&order_ref];
        let after = shares.map_or(0, |n| capture.saturating_sub(n));
        if after == 0 {
            self.capture.remove(&order_ref);
        } else {
            self.capture.insert(order_ref, after);
        }
        if self.dead.contains(&order_ref) {
            self.gone += 1;
            if after == 0 {
                self.dead.remove(&order_ref);
            }
            return;
        }
        let open = self.open(order_ref);
        let left = if after == 0 {
            0
        } else {
            open.saturating_sub(shares.unwrap_or(open))
        };
        if left == 0 {
            self.books.delete(OrderId(order_ref)).expect("live");
            if after > 0 {
                self.dead.insert(order_ref);
            }
        } else {
            let cut = Qty(u64::from(open - left));
            self.books.cancel(OrderId(order_ref), cut).expect("live");
        }
    }

    fn replace(&mut self, u: &itch::OrderReplace) {
        let (old, new) = (u.original_order_ref, u.new_order_ref);
        let capture = self.capture.remove(&old).expect("known");
        self.capture.insert(new, u.shares);
        if self.dead.remove(&old) {
            self.gone += 1;
            self.dead.insert(new);
            return;
        }
        let taken = capture - self.open(old);
        let qty = u.shares.saturating_sub(taken);
        if qty == 0 || !(self.valid)(u.stock_locate, u.price) {
            self.books.delete(OrderId(old)).expect("live");
            self.dead.insert(new);
            return;
        }
        let price = Price(i64::from(u.price));
        let qty = Qty(u64::from(qty));
        self.books
            .replace(OrderId(old), OrderId(new), price, qty)
            .expect("replace");
    }

    fn apply(&mut self, msg: &Message) {
        let locate = msg.stock_locate();
        if !self.locates.contains(&locate) || msg.order_ref().is_none() && !is_add(msg) {
            return;
        }
        self.order_messages += 1;
        match *msg {
            Message::AddOrder(a) => self.add(locate, a.order_ref, a.side, a.price, a.shares),
            Message::AddOrderMpid(a) => self.add(locate, a.order_ref, a.side, a.price, a.shares),
            Message::OrderExecuted(e) => self.reduce(e.order_ref, Some(e.executed_shares)),
            Message::OrderExecutedWithPrice(e) => self.reduce(e.order_ref, Some(e.executed_shares)),
            Message::OrderCancel(x) => self.reduce(x.order_ref, Some(x.cancelled_shares)),
            Message::OrderDelete(d) => self.reduce(d.order_ref, None),
            Message::OrderReplace(u) => self.replace(&u),
            _ => self.order_messages -= 1,
        }
    }

    /// The venue holds exactly this book, level by level, on every locate.
    fn assert_matches(&self, engine: &MatchingEngine) {
        for &locate in self.locates {
            for side in [Side::Buy, Side::Sell] {
                let got: Vec<_> = engine
                    .levels(venue_id(locate), side)
                    .map(|l| (l.price, l.qty, l.count))
                    .collect();
                let want: Vec<_> = self
                    .books
                    .book(InstrumentId(locate))
                    .map(|b| b.levels(side).map(|l| (l.price, l.qty, l.count)).collect())
                    .unwrap_or_default();
                assert!(!want.is_empty(), "locate {locate} {side:?}: empty book");
                assert_eq!(got, want, "locate {locate} {side:?}");
            }
        }
        assert_eq!(engine.live_orders(), self.books.live_orders());
    }
}

fn is_add(msg: &Message) -> bool {
    matches!(msg, Message::AddOrder(_) | Message::AddOrderMpid(_))
}

fn always_valid(_: u16, _: u32) -> bool {
    true
}

#[test]
fn speed_zero_replay_rebuilds_the_capture_book_of_the_mapped_symbols() {
    let cap = capture("capture.itch.gz");
    let mapped = [1, 2];
    let mut venue = Venue::new(engine(&cap, &mapped, CENT));
    let replay = CaptureReplay::load(&cap.path, &config(&cap, &mapped, 0.0), venue.engine())
        .expect("valid replay");
    let handle = replay.handle();
    venue.add_gateway(Box::new(replay));

    let sent = venue.poll_once(ORIGIN);
    assert!(handle.is_finished(), "speed 0 releases the whole capture");
    assert_eq!(venue.poll_once(ORIGIN + MS), 0, "nothing left to correct");

    let mut expected = Expected::new(&mapped, &always_valid);
    for m in &cap.msgs {
        expected.apply(m);
    }
    expected.assert_matches(venue.engine());

    let s = handle.stats();
    let adds = cap
        .msgs
        .iter()
        .filter(|m| is_add(m) && mapped.contains(&m.stock_locate()))
        .count() as u64;
    let other = cap
        .msgs
        .iter()
        .filter(|m| m.stock_locate() == 3 && (m.order_ref().is_some() || is_add(m)))
        .count() as u64;
    assert_eq!(s.messages, cap.msgs.len() as u64);
    assert_eq!(s.commands(), sent as u64);
    assert_eq!(s.commands(), expected.order_messages);
    assert_eq!(s.new_orders, adds);
    assert!(s.cancels > 0 && s.replaces > 0);
    // Symbol 3's directory entry and its order messages.
    assert_eq!(s.skipped_other_symbol, other + 1);
    assert_eq!(
        (
            s.skipped_unknown_ref,
            s.skipped_gone,
            s.corrections,
            s.rejected_total()
        ),
        (0, 0, 0, 0)
    );
    assert_eq!((s.fills, s.undecodable), (0, 0));
    assert!(s.finished);
}

#[test]
fn pacing_releases_only_the_messages_whose_capture_time_has_elapsed() {
    let cap = capture("capture.itch");
    let all = [1, 2, 3];
    let engine = engine(&cap, &all, CENT);
    let start = cap.first_add_ns();
    for speed in [1.0, 4.0] {
        let mut replay = CaptureReplay::load(&cap.path, &config(&cap, &all, speed), &engine)
            .expect("valid replay");
        assert_eq!(replay.start_ns(), start);
        assert_eq!(replay.next_arrival_ns(), None, "clock not started");
        let mut out = Vec::new();
        let released_by = |elapsed: u64| {
            let horizon = start + (elapsed as f64 * speed) as u64;
            cap.msgs
                .iter()
                .take_while(|m| m.timestamp() <= horizon)
                .count() as u64
        };
        // The latest time polled so far: what was released stays released.
        let mut clock = ORIGIN;
        for elapsed in [0, 1, 5_000, 40_000, 300_000, 2 * MS, 17 * MS, 60 * MS] {
            let now = ORIGIN + elapsed;
            clock = clock.max(now);
            let before = out.len();
            replay.due(now, &mut out);
            let want = released_by(clock - ORIGIN);
            assert_eq!(replay.stats().messages, want, "{speed}x at +{elapsed} ns");
            assert!(out[before..].iter().all(|c| c.ts().0 <= now));
            assert!(out.windows(2).all(|w| w[0].ts() <= w[1].ts()));
            // The next message is due exactly at the announced time, not before.
            let next = replay.next_arrival_ns().expect("more to come");
            assert!(next > now);
            let n = replay.stats().messages;
            replay.due(next - 1, &mut out);
            assert_eq!(replay.stats().messages, n, "early by 1 ns");
            replay.due(next, &mut out);
            assert!(replay.stats().messages > n, "due at {next}");
            clock = next;
        }
        assert!(!replay.is_finished());
        replay.due(ORIGIN + DAY, &mut out);
        assert!(replay.is_finished());
        assert_eq!(replay.stats().messages, cap.msgs.len() as u64);
        assert_eq!(replay.next_arrival_ns(), None);
    }
}

#[test]
fn participant_ioc_trades_against_the_replay_and_later_capture_messages_on_filled_orders_are_skipped(
) {
    let cap = capture("capture.itch");
    let all = [1, 2, 3];
    let mut venue = Venue::new(engine(&cap, &all, CENT));
    let replay = CaptureReplay::load(&cap.path, &config(&cap, &all, 1.0), venue.engine())
        .expect("valid replay");
    let handle = replay.handle();
    venue.add_gateway(Box::new(replay));
    venue.poll_once(ORIGIN);
    let pause = ORIGIN + 50 * MS;
    venue.poll_once(pause);
    let released = usize::try_from(handle.stats().messages).expect("usize");
    assert!(released > 1_000 && released < cap.msgs.len() / 2);

    // Sell into the best bid of the busiest book, exactly its size.
    let (locate, bid) = all
        .iter()
        .filter_map(|&l| Some((l, venue.engine().bbo(venue_id(l)).bid?)))
        .max_by_key(|(_, b)| b.count)
        .expect("a bid rests");
    let events = venue
        .submit(
            pause,
            &Command::New(NewOrder {
                ts: Timestamp(pause),
                firm: PARTICIPANT,
                client_id: ClientOrderId(1),
                instrument: venue_id(locate),
                side: Side::Sell,
                price: bid.price,
                qty: bid.qty,
                order_type: OrderType::Ioc,
            }),
        )
        .to_vec();
    let fills: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Executed(x) => Some(*x),
            _ => None,
        })
        .collect();
    assert_eq!(fills.len(), bid.count as usize);
    assert!(fills
        .iter()
        .all(|x| x.resting_firm == REPLAY_FIRM && x.resting_remaining == Qty(0)));
    assert_eq!(fills.iter().map(|x| x.qty.0).sum::<u64>(), bid.qty.0);

    let mut expected = Expected::new(&all, &always_valid);
    for m in &cap.msgs[..released] {
        expected.apply(m);
    }
    for x in &fills {
        let qty = u32::try_from(x.qty.0).expect("u32");
        expected.take(x.resting_client_id.0, qty);
    }
    for m in &cap.msgs[released..] {
        expected.apply(m);
    }

    venue.poll_once(ORIGIN + DAY);
    venue.poll_once(ORIGIN + DAY + MS);
    let s = handle.stats();
    assert!(s.finished);
    assert!(
        expected.gone > 0,
        "the capture touches a filled order later"
    );
    assert_eq!(s.skipped_gone, expected.gone);
    assert_eq!((s.fills, s.filled_qty), (u64::from(bid.count), bid.qty.0));
    assert_eq!((s.rejected_total(), s.corrections), (0, 0));
    expected.assert_matches(venue.engine());
}

#[test]
fn a_fill_racing_a_batch_is_corrected_on_the_next_poll() {
    let cap = capture("capture.itch");
    let all = [1, 2, 3];
    let mut engine = engine(&cap, &all, CENT);
    let mut replay =
        CaptureReplay::load(&cap.path, &config(&cap, &all, 1.0), &engine).expect("valid replay");
    let mut events = Vec::new();
    let mut run = |engine: &mut MatchingEngine, replay: &mut CaptureReplay, cmds: &[Command]| {
        for c in cmds {
            events.clear();
            engine.process(c, &mut events);
            replay.on_events(&events);
        }
    };
    let mut expected = Expected::new(&all, &always_valid);
    let mut cmds = Vec::new();
    let mut applied = 0;
    let mut raced = None;
    let mut now = ORIGIN;
    while raced.is_none() && now < ORIGIN + 200 * MS {
        cmds.clear();
        replay.due(now, &mut cmds);
        // A reduction (leave > 0) of an order at the head of its best level,
        // the batch's only command on it: a participant takes part of it first.
        let target = cmds.iter().find_map(|c| match c {
            Command::Cancel(x) if x.leave_qty.0 > 0 => {
                let o = engine.order_by_client(REPLAY_FIRM, x.client_id)?;
                let head = engine.queue(o.instrument, o.side, o.price).next()?;
                let best = engine.best(o.instrument, o.side)?;
                let mentions = cmds
                    .iter()
                    .filter(|c| match c {
                        Command::Cancel(y) => y.client_id == x.client_id,
                        Command::Replace(y) => y.orig_client_id == x.client_id,
                        Command::New(_) => false,
                    })
                    .count();
                (head.order_ref == o.order_ref && best.price == o.price && mentions == 1)
                    .then_some(o)
            }
            _ => None,
        });
        if let Some(o) = target {
            let take = (o.qty.0 / 2).max(1);
            let ioc = Command::New(NewOrder {
                ts: Timestamp(now),
                firm: PARTICIPANT,
                client_id: ClientOrderId(1),
                instrument: o.instrument,
                side: o.side.opposite(),
                price: o.price,
                qty: Qty(take),
                order_type: OrderType::Ioc,
            });
            run(&mut engine, &mut replay, &[ioc]);
            let take = u32::try_from(take).expect("u32");
            // The fill comes before the batch on the venue: before its messages here.
            expected.take(o.client_id.0, take);
            raced = Some(o.client_id.0);
        }
        let released = usize::try_from(replay.stats().messages).expect("usize");
        for m in &cap.msgs[applied..released] {
            expected.apply(m);
        }
        applied = released;
        run(&mut engine, &mut replay, &cmds);
        now += 100_000;
    }
    assert!(raced.is_some(), "no batch reduced a touch order");
    let before = replay.stats().corrections;
    cmds.clear();
    replay.due(now, &mut cmds);
    assert!(
        replay.stats().corrections > before,
        "the race was corrected"
    );
    run(&mut engine, &mut replay, &cmds);
    cmds.clear();
    replay.due(ORIGIN + DAY, &mut cmds);
    run(&mut engine, &mut replay, &cmds);
    cmds.clear();
    replay.due(ORIGIN + DAY + 1, &mut cmds);
    run(&mut engine, &mut replay, &cmds);
    for m in &cap.msgs[applied..] {
        expected.apply(m);
    }
    let s = replay.stats();
    assert!(s.finished);
    assert_eq!(s.fills, 1);
    // The reduction either went through (leaving too much) or was refused as
    // not reducing; either way it is counted, not fatal.
    assert!(s.rejected_total() <= 1);
    assert_eq!(s.rejected_total(), s.rejected(RejectReason::NotReduced));
    expected.assert_matches(&engine);
}

#[test]
fn refused_orders_are_counted_by_reason_and_their_later_messages_skipped() {
    let cap = capture("capture.itch");
    let all = [1, 2, 3];
    // Two-cent ticks: every odd-cent order is refused off tick (never sent),
    // and a replace to an odd cent cancels the old order.
    let mut venue = Venue::new(engine(&cap, &all, 2 * CENT));
    let rules: Vec<_> = all
        .iter()
        .map(|&l| venue.engine().rules(venue_id(l)).expect("traded"))
        .collect();
    let replay = CaptureReplay::load(&cap.path, &config(&cap, &all, 0.0), venue.engine())
        .expect("valid replay");
    let handle = replay.handle();
    venue.add_gateway(Box::new(replay));
    venue.poll_once(ORIGIN);
    assert_eq!(venue.poll_once(ORIGIN + MS), 0, "nothing to correct");

    let valid = |locate: u16, price: u32| {
        let r = rules[usize::from(locate) - 1];
        let p = i64::from(price);
        p % r.tick.0 == 0 && (r.low.0..=r.high.0).contains(&p)
    };
    let mut expected = Expected::new(&all, &valid);
    for m in &cap.msgs {
        expected.apply(m);
    }
    let s = handle.stats();
    assert!(s.finished);
    assert!(s.rejected(RejectReason::OffTick) > 0);
    assert_eq!(
        s.rejected_total(),
        s.rejected(RejectReason::OffTick) + s.rejected(RejectReason::OutsideBand)
    );
    assert_eq!(
        s.rejected(RejectReason::UnknownOrder),
        0,
        "no follow-up was sent"
    );
    assert_eq!(s.corrections, 0);
    assert!(s.skipped_gone > 0);
    assert_eq!(s.skipped_gone, expected.gone);
    expected.assert_matches(venue.engine());
}

#[test]
fn bad_configurations_are_refused() {
    let cap = capture("capture.itch");
    let engine = engine(&cap, &[1], CENT);
    let load = |cfg: &ReplayConfig| CaptureReplay::load(&cap.path, cfg, &engine).map(|_| ());
    let sym = |s: &str, id| (s.to_owned(), id);
    let base = ReplayConfig::new(REPLAY_FIRM, vec![sym("SYM00001", venue_id(1))]);
    assert!(load(&base).is_ok());
    let with = |symbols| ReplayConfig {
        symbols,
        ..base.clone()
    };
    assert!(matches!(load(&with(vec![])), Err(ReplayError::NoSymbols)));
    assert!(matches!(
        load(&with(vec![sym("TOO LONG SYMBOL", venue_id(1))])),
        Err(ReplayError::InvalidSymbol(_))
    ));
    assert!(matches!(
        load(&with(vec![sym("SYM00002", InstrumentId(1))])),
        Err(ReplayError::UnknownInstrument(InstrumentId(1)))
    ));
    assert!(matches!(
        load(&with(vec![sym("A", venue_id(1)), sym("B", venue_id(1))])),
        Err(ReplayError::DuplicateInstrument(_))
    ));
    let fast = ReplayConfig {
        speed: f64::NAN,
        ..base.clone()
    };
    assert!(matches!(load(&fast), Err(ReplayError::InvalidSpeed(_))));
    let missing = CaptureReplay::load(cap.path.with_extension("none"), &base, &engine);
    assert!(matches!(missing, Err(ReplayError::Load(_))));
}
