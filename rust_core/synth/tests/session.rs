//! Scenario tests of the synthetic session: determinism, mix, book consistency,
//! framing and the encoded outputs.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Instant;

use hashbrown::HashMap;
use proptest::prelude::*;
use quotewire_core::Side;
use quotewire_protocol::itch::{self, Message};
use quotewire_protocol::moldudp64::{self, Packet, PacketKind, Session};
use quotewire_synth::{
    generate_daily, packetize, write_daily, Generator, SynthConfig, SynthError, SYSTEM_EVENTS,
};

fn cfg(messages: u64, seed: u64) -> SynthConfig {
    SynthConfig {
        messages,
        seed,
        ..SynthConfig::default()
    }
}

fn collect(cfg: &SynthConfig) -> Vec<Message> {
    Generator::new(cfg.clone()).unwrap().collect()
}

/// A reference book rebuilt from the messages alone, checking every rule a
/// correct book builder relies on.
#[derive(Default)]
struct Model {
    /// order ref -> (locate, side, price, remaining shares)
    live: HashMap<u64, (u16, Side, u32, u32)>,
    /// (locate, side index) -> price -> orders at that price
    levels: HashMap<(u16, usize), BTreeMap<u32, u32>>,
    last_ref: u64,
    last_match: u64,
    max_live: usize,
}

impl Model {
    fn level(&mut self, locate: u16, side: Side) -> &mut BTreeMap<u32, u32> {
        self.levels.entry((locate, side.index())).or_default()
    }

    fn best(&mut self, locate: u16, side: Side) -> Option<u32> {
        let l = self.level(locate, side);
        match side {
            Side::Buy => l.last_key_value().map(|(p, _)| *p),
            Side::Sell => l.first_key_value().map(|(p, _)| *p),
        }
    }

    fn rest(&mut self, order_ref: u64, locate: u16, side: Side, price: u32, shares: u32) {
        assert!(
            order_ref > self.last_ref,
            "order refs must strictly increase"
        );
        self.last_ref = order_ref;
        assert!(shares > 0 && price > 0);
        assert!(self
            .live
            .insert(order_ref, (locate, side, price, shares))
            .is_none());
        *self.level(locate, side).entry(price).or_default() += 1;
        let (bid, ask) = (self.best(locate, Side::Buy), self.best(locate, Side::Sell));
        if let (Some(bid), Some(ask)) = (bid, ask) {
            assert!(bid < ask, "book of locate {locate} crossed: {bid} >= {ask}");
        }
        self.max_live = self.max_live.max(self.live.len());
    }

    fn take(&mut self, order_ref: u64, locate: u16) -> (u16, Side, u32, u32) {
        let o = self
            .live
            .remove(&order_ref)
            .unwrap_or_else(|| panic!("unknown order {order_ref}"));
        assert_eq!(o.0, locate, "locate of order {order_ref}");
        let level = self.level(o.0, o.1);
        let n = level.get_mut(&o.2).unwrap();
        *n -= 1;
        if *n == 0 {
            level.remove(&o.2);
        }
        o
    }

    fn apply(&mut self, msg: &Message) {
        match *msg {
            Message::AddOrder(m) => {
                self.rest(m.order_ref, m.stock_locate, m.side, m.price, m.shares);
            }
            Message::OrderDelete(m) => {
                self.take(m.order_ref, m.stock_locate);
            }
            Message::OrderExecuted(m) => {
                assert!(
                    m.match_number > self.last_match,
                    "match numbers must increase"
                );
                self.last_match = m.match_number;
                let o = *self
                    .live
                    .get(&m.order_ref)
                    .expect("execute of unknown order");
                assert_eq!(
                    Some(o.2),
                    self.best(o.0, o.1),
                    "execution away from the best price"
                );
                assert!(
                    m.executed_shares > 0 && m.executed_shares <= o.3,
                    "over-execution"
                );
                if m.executed_shares == o.3 {
                    self.take(m.order_ref, m.stock_locate);
                } else {
                    self.live.get_mut(&m.order_ref).unwrap().3 -= m.executed_shares;
                }
            }
            Message::OrderCancel(m) => {
                let o = self
                    .live
                    .get_mut(&m.order_ref)
                    .expect("cancel of unknown order");
                assert_eq!(o.0, m.stock_locate);
                assert!(
                    m.cancelled_shares > 0 && m.cancelled_shares < o.3,
                    "cancel must be partial"
                );
                o.3 -= m.cancelled_shares;
            }
            Message::OrderReplace(m) => {
                let o = self.take(m.original_order_ref, m.stock_locate);
                self.rest(m.new_order_ref, o.0, o.1, m.price, m.shares);
            }
            _ => {}
        }
    }
}

#[derive(Default, Debug)]
struct Mix {
    add: u64,
    delete: u64,
    execute: u64,
    execute_full: u64,
    cancel: u64,
    replace: u64,
}

impl Mix {
    fn total(&self) -> u64 {
        self.add + self.delete + self.execute + self.cancel + self.replace
    }

    fn pct(&self, n: u64) -> f64 {
        100.0 * n as f64 / self.total() as f64
    }
}

fn mix_of(msgs: &[Message]) -> Mix {
    let mut mix = Mix::default();
    let mut model = Model::default();
    for m in msgs {
        match m {
            Message::AddOrder(_) => mix.add += 1,
            Message::OrderDelete(_) => mix.delete += 1,
            Message::OrderExecuted(e) => {
                mix.execute += 1;
                if model
                    .live
                    .get(&e.order_ref)
                    .is_some_and(|o| o.3 == e.executed_shares)
                {
                    mix.execute_full += 1;
                }
            }
            Message::OrderCancel(_) => mix.cancel += 1,
            Message::OrderReplace(_) => mix.replace += 1,
            _ => {}
        }
        model.apply(m);
    }
    mix
}

#[test]
fn same_seed_and_config_give_identical_bytes() {
    let c = cfg(60_000, 7);
    let a = generate_daily(&c).unwrap();
    let b = generate_daily(&c).unwrap();
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn different_seeds_give_different_sessions() {
    let a = generate_daily(&cfg(60_000, 1)).unwrap();
    let b = generate_daily(&cfg(60_000, 2)).unwrap();
    assert_ne!(a, b);
}

#[test]
fn message_mix_is_within_a_few_points_of_targets_over_200k_messages() {
    let c = cfg(200_000, 42);
    let msgs = collect(&c);
    let mix = mix_of(&msgs);
    assert_eq!(mix.total(), c.order_messages());
    let (add, del) = (mix.pct(mix.add), mix.pct(mix.delete));
    let (exe, can, rep) = (
        mix.pct(mix.execute),
        mix.pct(mix.cancel),
        mix.pct(mix.replace),
    );
    eprintln!("mix: A {add:.2}% D {del:.2}% E {exe:.2}% X {can:.2}% U {rep:.2}% {mix:?}");
    assert!((add - 44.0).abs() < 2.5, "add {add}");
    assert!((del - 43.0).abs() < 2.5, "delete {del}");
    assert!((rep - 8.0).abs() < 1.0, "replace {rep}");
    assert!((exe - 2.5).abs() < 0.75, "execute {exe}");
    assert!((can - 2.5).abs() < 0.75, "cancel {can}");
    // Both partial and full executions occur.
    assert!(mix.execute_full > 0 && mix.execute_full < mix.execute);
}

#[test]
fn every_delete_execute_cancel_and_replace_refers_to_a_live_order() {
    let msgs = collect(&cfg(200_000, 3));
    let mut model = Model::default();
    for m in &msgs {
        model.apply(m);
    }
    assert!(model.max_live > 1000);
}

#[test]
fn live_orders_never_exceed_max_live_orders() {
    let c = SynthConfig {
        messages: 100_000,
        instruments: 50,
        max_live_orders: 777,
        growth_fraction: 0.5,
        seed: 9,
        ..SynthConfig::default()
    };
    let mut g = Generator::new(c).unwrap();
    let mut model = Model::default();
    let mut gen_max = 0;
    while let Some(m) = g.next_message() {
        model.apply(&m);
        assert_eq!(model.live.len(), g.live_orders());
        gen_max = gen_max.max(g.live_orders());
    }
    assert!(model.max_live <= 777, "live peaked at {}", model.max_live);
    assert!(
        gen_max >= 770,
        "population should reach the cap, peaked at {gen_max}"
    );
}

#[test]
fn live_population_builds_up_to_the_peak_then_stays_balanced() {
    let c = SynthConfig {
        messages: 300_000,
        instruments: 500,
        seed: 5,
        ..SynthConfig::default()
    };
    let peak = c.peak_live_orders() as f64;
    let ramp_end = (c.order_messages() as f64 * c.ramp_fraction) as u64 + c.framing_messages();
    let mut g = Generator::new(c).unwrap();
    let mut at_ramp_end = 0;
    let mut k = 0u64;
    while g.next_message().is_some() {
        k += 1;
        if k == ramp_end {
            at_ramp_end = g.live_orders();
        }
    }
    let at_close = g.live_orders() as f64;
    assert!(
        (at_ramp_end as f64 - peak).abs() < 0.1 * peak,
        "{at_ramp_end} vs peak {peak}"
    );
    assert!(
        (at_close - peak).abs() < 0.1 * peak,
        "{at_close} vs peak {peak}"
    );
}

#[test]
fn session_is_framed_by_system_events_and_a_directory_and_timestamps_never_decrease() {
    let c = SynthConfig {
        messages: 20_000,
        instruments: 300,
        seed: 11,
        ..SynthConfig::default()
    };
    let msgs = collect(&c);
    assert_eq!(msgs.len() as u64, c.messages);
    let events: Vec<u8> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::SystemEvent(e) => Some(e.event_code),
            _ => None,
        })
        .collect();
    assert_eq!(events, b"OSQMEC");
    assert_eq!(SYSTEM_EVENTS, 6);
    assert!(matches!(msgs[0], Message::SystemEvent(e) if e.event_code == b'O'));
    for (i, m) in msgs[1..=300].iter().enumerate() {
        let Message::StockDirectory(d) = m else {
            panic!("directory expected at {i}")
        };
        assert_eq!(usize::from(d.stock_locate), i + 1);
        assert_eq!(&d.stock, format!("SYM{:05}", i + 1).as_bytes());
    }
    assert!(
        matches!(msgs[302], Message::SystemEvent(e) if e.event_code == b'Q' && e.timestamp == c.start_ns)
    );
    assert!(matches!(msgs.last(), Some(Message::SystemEvent(e)) if e.event_code == b'C'));
    for w in msgs.windows(2) {
        assert!(
            w[0].timestamp() <= w[1].timestamp(),
            "{:?} then {:?}",
            w[0],
            w[1]
        );
    }
    for m in &msgs[303..msgs.len() - 3] {
        let locate = m.stock_locate();
        assert!((1..=300).contains(&locate));
    }
}

#[test]
fn activity_is_skewed_towards_a_few_instruments() {
    let msgs = collect(&SynthConfig {
        messages: 200_000,
        seed: 8,
        ..SynthConfig::default()
    });
    let mut adds = vec![0u64; 8001];
    for m in &msgs {
        if let Message::AddOrder(a) = m {
            adds[usize::from(a.stock_locate)] += 1;
        }
    }
    adds.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = adds.iter().sum();
    let top10: u64 = adds[..10].iter().sum();
    assert!(
        top10 * 5 > total,
        "top 10 of 8000 carry {top10} of {total} adds"
    );
    assert!(adds[0] > 50 * adds[4000].max(1));
}

#[test]
fn new_orders_cluster_near_the_touch_with_some_deep() {
    let msgs = collect(&SynthConfig {
        messages: 200_000,
        instruments: 200,
        seed: 4,
        ..SynthConfig::default()
    });
    let mut model = Model::default();
    let (mut near, mut deep, mut adds) = (0u64, 0u64, 0u64);
    for m in &msgs {
        if let Message::AddOrder(a) = m {
            let touch = model.best(a.stock_locate, a.side);
            if let Some(touch) = touch {
                let ticks = touch.abs_diff(a.price) / 100;
                adds += 1;
                near += u64::from(ticks <= 3);
                deep += u64::from(ticks >= 10);
            }
        }
        model.apply(m);
    }
    eprintln!("near touch (<= 3 ticks): {near} of {adds}, deep (>= 10 ticks): {deep}");
    assert!(near * 10 > adds * 7, "near {near} of {adds}");
    assert!(
        deep * 100 > adds && deep * 5 < adds,
        "deep {deep} of {adds}"
    );
}

#[test]
fn daily_image_decodes_back_to_the_generated_messages() {
    let c = cfg(30_000, 13);
    let bytes = generate_daily(&c).unwrap();
    let decoded: Vec<Message> = itch::length_prefixed(&bytes)
        .map(|m| itch::decode(m.unwrap()).unwrap())
        .collect();
    assert_eq!(decoded, collect(&c));
}

#[test]
fn packetize_round_trips_with_consecutive_sequences_within_max_payload() {
    let c = cfg(40_000, 21);
    let msgs = collect(&c);
    let session = Session::from_str_padded("SYNTH01");
    for max_payload in [moldudp64::MAX_PAYLOAD, 120, 9000] {
        let packets = packetize(msgs.iter().copied(), session, 1000, max_payload).unwrap();
        let mut next = 1000u64;
        let mut decoded = Vec::with_capacity(msgs.len());
        for (i, dgram) in packets.iter().enumerate() {
            assert!(dgram.len() <= max_payload);
            let p = Packet::decode(dgram).unwrap();
            assert_eq!(p.header.session, session);
            assert_eq!(p.header.sequence, next, "packet {i}");
            if i + 1 == packets.len() {
                assert_eq!(p.header.kind(), PacketKind::EndOfSession);
            } else {
                assert_eq!(p.header.kind(), PacketKind::Data);
            }
            for (seq, body) in p.messages() {
                assert_eq!(seq, next);
                next += 1;
                decoded.push(itch::decode(body).unwrap());
            }
        }
        assert_eq!(next, 1000 + msgs.len() as u64);
        assert_eq!(decoded, msgs);
    }
}

#[test]
fn packetize_refuses_a_payload_too_small_for_one_message() {
    let msgs = collect(&SynthConfig {
        messages: 10,
        instruments: 1,
        ..SynthConfig::default()
    });
    let err = packetize(msgs, Session::from_str_padded("X"), 1, 40).unwrap_err();
    assert!(matches!(err, SynthError::Encode(_)));
}

#[test]
fn write_daily_gz_decompresses_to_the_daily_image() {
    let c = cfg(20_000, 17);
    let dir = std::env::temp_dir().join(format!("quotewire-synth-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("session.itch");
    let gz = dir.join("session.itch.gz");
    let expected = generate_daily(&c).unwrap();
    assert_eq!(write_daily(&plain, &c).unwrap(), expected.len() as u64);
    assert_eq!(write_daily(&gz, &c).unwrap(), expected.len() as u64);
    assert_eq!(std::fs::read(&plain).unwrap(), expected);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_that_cannot_hold_the_framing_is_refused() {
    let too_short = SynthConfig {
        messages: 8005,
        ..SynthConfig::default()
    };
    assert!(matches!(
        Generator::new(too_short),
        Err(SynthError::InvalidConfig(_))
    ));
    let no_instruments = SynthConfig {
        instruments: 0,
        ..SynthConfig::default()
    };
    assert!(Generator::new(no_instruments).is_err());
    let exact = SynthConfig {
        messages: 8006,
        ..SynthConfig::default()
    };
    assert_eq!(Generator::new(exact).unwrap().count(), 8006);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any small configuration yields a consistent book, exactly `messages`
    /// messages, timestamps that never decrease (even when gaps run past
    /// midnight and saturate) and live counts within the cap.
    #[test]
    fn any_config_gives_a_consistent_session(
        seed in any::<u64>(),
        instruments in 1u16..40,
        order_messages in 0u64..6000,
        max_live_orders in 1usize..400,
        growth_fraction in 0.0f64..1.0,
        ramp_fraction in 0.01f64..1.0,
        mean_gap_ns in prop_oneof![Just(0u64), 1u64..100_000, Just(50_000_000_000u64)],
        zipf_exponent in 0.0f64..2.5,
    ) {
        let c = SynthConfig {
            messages: u64::from(instruments) + SYSTEM_EVENTS + order_messages,
            instruments,
            max_live_orders,
            seed,
            mean_gap_ns,
            growth_fraction,
            ramp_fraction,
            zipf_exponent,
            ..SynthConfig::default()
        };
        let mut g = Generator::new(c.clone()).unwrap();
        let mut model = Model::default();
        let mut last_ts = 0;
        let mut n = 0u64;
        let mut buf = [0u8; 64];
        while let Some(m) = g.next_message() {
            prop_assert!(m.timestamp() >= last_ts);
            last_ts = m.timestamp();
            prop_assert!(m.encode(&mut buf).is_ok());
            model.apply(&m);
            prop_assert!(g.live_orders() <= max_live_orders);
            prop_assert_eq!(model.live.len(), g.live_orders());
            n += 1;
        }
        prop_assert_eq!(n, c.messages);
    }
}

fn time_session(label: &str, c: &SynthConfig) {
    let millions = c.messages as f64 / 1e6;
    let t = Instant::now();
    let mut g = Generator::new(c.clone()).unwrap();
    let mut peak = 0;
    while g.next_message().is_some() {
        peak = peak.max(g.live_orders());
    }
    let iter_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let bytes = generate_daily(c).unwrap();
    let daily_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let session = Session::from_str_padded("BENCH");
    let packets = packetize(
        Generator::new(c.clone()).unwrap(),
        session,
        1,
        moldudp64::MAX_PAYLOAD,
    )
    .unwrap();
    let pkt_s = t.elapsed().as_secs_f64();
    let mix = mix_of(&collect(c));
    eprintln!(
        "{label}: {millions}M messages, peak live {peak}\n  iterate       {iter_s:.3}s = {:.2} M msg/s\n  generate_daily {daily_s:.3}s = {:.2} M msg/s ({} bytes)\n  packetize     {pkt_s:.3}s = {:.2} M msg/s ({} datagrams)",
        millions / iter_s,
        millions / daily_s,
        bytes.len(),
        millions / pkt_s,
        packets.len()
    );
    eprintln!(
        "  mix: A {:.2}% D {:.2}% E {:.2}% ({:.1}% of E full) X {:.2}% U {:.2}%",
        mix.pct(mix.add),
        mix.pct(mix.delete),
        mix.pct(mix.execute),
        100.0 * mix.execute_full as f64 / mix.execute as f64,
        mix.pct(mix.cancel),
        mix.pct(mix.replace)
    );
}

/// `cargo test --release -p quotewire-synth -- --ignored --nocapture generation_speed`
#[test]
#[ignore = "timing; run in release"]
fn generation_speed_for_five_million_messages() {
    time_session("default config", &cfg(5_000_000, 1));
    // What a book benchmark wants: the book built up to 1.5M live orders.
    let big_book = SynthConfig {
        growth_fraction: 0.3,
        ..cfg(5_000_000, 1)
    };
    time_session("growth_fraction 0.3", &big_book);
}
