//! Capture replay: the same session read from a Nasdaq daily file and from a pcap
//! of MoldUDP64 datagrams builds the same books; damage is counted, not fatal.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use quotewire_engine::capture::{self, CaptureFormat};
use quotewire_protocol::moldudp64::{Session, MAX_PAYLOAD};
use quotewire_synth::{packetize, write_daily, Generator, SynthConfig};
use quotewire_transport::PcapWriter;

fn small_session() -> SynthConfig {
    SynthConfig {
        messages: 40_000,
        instruments: 50,
        max_live_orders: 5_000,
        seed: 7,
        ..SynthConfig::default()
    }
}

fn write_pcap(path: &Path, cfg: &SynthConfig, keep: impl Fn(usize) -> bool) -> usize {
    let datagrams = packetize(
        Generator::new(cfg.clone()).unwrap(),
        Session::from_str_padded("TEST"),
        1,
        MAX_PAYLOAD,
    )
    .unwrap();
    let mut w = PcapWriter::create(path).unwrap();
    let ep = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 26477);
    for (i, d) in datagrams.iter().enumerate() {
        if keep(i) {
            w.write_datagram(i as u64 * 1000, ep, ep, d).unwrap();
        }
    }
    w.into_inner().unwrap();
    datagrams.len()
}

#[test]
fn daily_and_pcap_captures_of_one_session_build_identical_books() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_session();
    let daily = dir.path().join("day.itch");
    let pcap = dir.path().join("day.pcap");
    write_daily(&daily, &cfg).unwrap();
    write_pcap(&pcap, &cfg, |_| true);

    let a = capture::summarize(&daily).unwrap();
    let b = capture::summarize(&pcap).unwrap();
    assert_eq!(a.stats.format, CaptureFormat::Daily);
    assert_eq!(b.stats.format, CaptureFormat::Pcap);
    assert_eq!(a.stats.messages, cfg.messages);
    assert_eq!(a.by_type, b.by_type);
    assert_eq!(a.counters, b.counters);
    assert_eq!(a.counters.unknown_order, 0);
    assert_eq!(b.stats.feed.unwrap().gaps, 0);

    let bbo_a = capture::replay_bbo(&daily, None).unwrap();
    let bbo_b = capture::replay_bbo(&pcap, None).unwrap();
    assert!(!bbo_a.timestamp_ns.is_empty());
    assert_eq!(bbo_a.bid_px, bbo_b.bid_px);
    assert_eq!(bbo_a.ask_qty, bbo_b.ask_qty);

    let mut two_sided = 0;
    for (_, symbol) in a.symbols.iter().take(8) {
        let book_a = capture::book_at(&daily, symbol, None, 10).unwrap();
        let book_b = capture::book_at(&pcap, symbol, None, 10).unwrap();
        assert_eq!(book_a.bids, book_b.bids, "{symbol}");
        assert_eq!(book_a.asks, book_b.asks, "{symbol}");
        if let (Some(bid), Some(ask)) = (book_a.bids.first(), book_a.asks.first()) {
            assert!(bid.price < ask.price, "{symbol} crossed");
            two_sided += 1;
        }
    }
    assert!(two_sided > 0);
}

#[test]
fn pcap_with_a_missing_datagram_reports_the_lost_messages_and_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_session();
    let pcap = dir.path().join("gap.pcap");
    let total = write_pcap(&pcap, &cfg, |i| i != 100);
    assert!(total > 200);
    let s = capture::summarize(&pcap).unwrap();
    let feed = s.stats.feed.unwrap();
    assert_eq!(feed.gaps, 1);
    assert_eq!(feed.lost, 1);
    assert!(feed.lost_messages > 0);
    assert_eq!(s.stats.messages + feed.lost_messages, cfg.messages);
    // Messages after the gap still reach the books: the session's end is there.
    assert_eq!(s.by_type[usize::from(b'S')], 6);
}

#[test]
fn damaged_daily_file_counts_a_truncated_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_session();
    let daily = dir.path().join("cut.itch");
    write_daily(&daily, &cfg).unwrap();
    let clean = std::fs::read(&daily).unwrap();
    // An unknown message type and a System Event of the wrong length up front...
    let mut bytes = vec![0, 3, b'~', 1, 2, 0, 4, b'S', 0, 0, 0];
    bytes.extend_from_slice(&clean);
    // ...and the last message cut short.
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&daily, &bytes).unwrap();
    let s = capture::summarize(&daily).unwrap();
    assert_eq!(s.stats.framing_errors, 1);
    assert_eq!(s.stats.messages, cfg.messages - 1 + 2);
    assert_eq!(s.counters.unknown_type, 1);
    assert_eq!(s.counters.truncated + s.counters.bad_length, 1);
    assert_eq!(s.counters.unknown_order, 0);
}

#[test]
fn unknown_symbol_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let daily = dir.path().join("day.itch");
    write_daily(&daily, &small_session()).unwrap();
    let err = capture::book_at(&daily, "NOPE", None, 5).unwrap_err();
    assert!(err.to_string().contains("NOPE"), "{err}");
}
