//! Replaying capture files through the market-data pipeline.
//!
//! Two formats, told apart by their first bytes, not their names: Nasdaq's
//! TotalView-ITCH 5.0 daily files (each message behind a 2-byte big-endian
//! length, plain or gzip) and pcap/pcapng captures of MoldUDP64 datagrams,
//! which go through the same [`Sequencer`] as live traffic (duplicates dropped,
//! gaps counted; a capture cannot be re-requested, so a gap still open at the
//! end of the file is given up and reported).

use std::path::Path;

use quotewire_book::{BookConfig, Level};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_feed::file::ItchFile;
use quotewire_feed::{FeedSink, FeedStats, Line, Sequencer, SequencerConfig};
use quotewire_protocol::itch;
use quotewire_transport::{PcapFilter, PcapReplay, Transport, MAX_UDP_PAYLOAD};

use crate::{Applied, EngineError, MarketData, MarketDataCounters};

/// The two capture formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Nasdaq daily file: 2-byte length-prefixed ITCH messages (plain or gzip).
    Daily,
    /// pcap or pcapng of UDP datagrams carrying MoldUDP64.
    Pcap,
}

impl CaptureFormat {
    /// The format's name as the CLI prints it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Pcap => "pcap",
        }
    }
}

/// Tells the format from the file's magic number.
#[must_use]
pub fn detect(head: &[u8]) -> CaptureFormat {
    const PCAP_MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    match head.first_chunk::<4>() {
        Some(magic) if PCAP_MAGICS.contains(magic) => CaptureFormat::Pcap,
        _ => CaptureFormat::Daily,
    }
}

/// What reading a capture found, besides the messages themselves.
#[derive(Clone, Copy, Debug)]
pub struct CaptureStats {
    /// The file's format.
    pub format: CaptureFormat,
    /// Bytes of the file as stored.
    pub bytes: u64,
    /// ITCH messages handed on.
    pub messages: u64,
    /// Daily files: a length prefix running past the end of the file.
    pub framing_errors: u64,
    /// pcap files: the sequencer's counters (datagrams, duplicates, gaps, malformed...).
    pub feed: Option<FeedStats>,
}

/// Calls `on_message` with every ITCH message of the capture, in sequence order.
pub fn replay(
    path: &Path,
    mut on_message: impl FnMut(&[u8]) -> bool,
) -> Result<CaptureStats, EngineError> {
    let raw = std::fs::read(path).map_err(|source| EngineError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let bytes = raw.len() as u64;
    match detect(&raw) {
        CaptureFormat::Daily => {
            let file = ItchFile::from_bytes(raw)?;
            let mut messages = 0;
            let mut iter = file.messages();
            for msg in iter.by_ref() {
                messages += 1;
                if !on_message(msg) {
                    break;
                }
            }
            let framing_errors = u64::from(iter.truncated().is_some());
            Ok(CaptureStats {
                format: CaptureFormat::Daily,
                bytes,
                messages,
                framing_errors,
                feed: None,
            })
        }
        CaptureFormat::Pcap => {
            let mut replay = PcapReplay::from_bytes(raw, PcapFilter::ALL)?;
            let mut sequencer = Sequencer::new(SequencerConfig::default())?;
            let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
            let mut sink = StopSink {
                on_message,
                messages: 0,
                stop: false,
            };
            let mut last_ts = 0;
            while let Some(received) = replay.recv(&mut buf)? {
                last_ts = received.ts_ns;
                sequencer.on_packet(received.ts_ns, Line::A, &buf[..received.len], &mut sink);
                if sink.stop {
                    break;
                }
            }
            // Nothing more can arrive: let the recovery timeout expire on any gap still
            // open, so that what was buffered behind it is delivered and the loss counted.
            let timeout = SequencerConfig::default().recovery_timeout_ns;
            let mut now = last_ts;
            for _ in 0..1_000_000 {
                if sink.stop || sequencer.current_gap().is_none() {
                    break;
                }
                now = now.saturating_add(timeout + 1);
                sequencer.poll(now, &mut sink);
            }
            Ok(CaptureStats {
                format: CaptureFormat::Pcap,
                bytes,
                messages: sink.messages,
                framing_errors: 0,
                feed: Some(*sequencer.stats()),
            })
        }
    }
}

/// Hands sequenced messages on until the callback says stop.
struct StopSink<F> {
    on_message: F,
    messages: u64,
    stop: bool,
}

impl<F: FnMut(&[u8]) -> bool> FeedSink for StopSink<F> {
    fn message(&mut self, _seq: u64, payload: &[u8]) {
        if !self.stop {
            self.messages += 1;
            self.stop = !(self.on_message)(payload);
        }
    }
}

/// Book sizing for offline replays of a file of `file_bytes`: room for every
/// order the file could add (the smallest framed Add Order takes 38 bytes; a
/// gzip file may inflate about tenfold), capped at 8 million live orders.
#[must_use]
pub fn replay_book_config(file_bytes: u64) -> BookConfig {
    let bound = file_bytes.saturating_mul(10) / 38 + 1024;
    BookConfig {
        max_orders: usize::try_from(bound.min(8_000_000)).unwrap_or(8_000_000),
        max_instruments: 1 << 16,
        levels_per_side: 32,
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The summary printed by `quotewire itch summary`.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Read statistics.
    pub stats: CaptureStats,
    /// Messages per type byte.
    pub by_type: [u64; 256],
    /// Pipeline counters (decode errors, unknown orders...).
    pub counters: MarketDataCounters,
    /// `(locate, symbol)` of every Stock Directory message.
    pub symbols: Vec<(u16, String)>,
    /// Distinct locates that carried a book update.
    pub instruments_traded: usize,
    /// Timestamp of the first and last decodable message (ns since midnight).
    pub first_ns: Option<u64>,
    /// See `first_ns`.
    pub last_ns: Option<u64>,
}

/// Reads the whole capture through the pipeline and summarises it.
pub fn summarize(path: &Path) -> Result<Summary, EngineError> {
    let mut md = MarketData::new(replay_book_config(file_len(path)));
    let mut by_type = [0u64; 256];
    let mut traded = vec![false; 1 << 16];
    let mut first_ns = None;
    let mut last_ns = None;
    let stats = replay(path, |bytes| {
        if let Some(&tag) = bytes.first() {
            by_type[usize::from(tag)] += 1;
        }
        if let Ok(msg) = itch::decode(bytes) {
            first_ns.get_or_insert(msg.timestamp());
            last_ns = Some(msg.timestamp());
        }
        if let Applied::Book(instrument) = md.on_message(bytes) {
            traded[usize::from(instrument.0)] = true;
        }
        true
    })?;
    let symbols = (0..=u16::MAX)
        .filter_map(|l| md.symbol(InstrumentId(l)).map(|s| (l, s.to_owned())))
        .collect();
    Ok(Summary {
        stats,
        by_type,
        counters: md.counters(),
        symbols,
        instruments_traded: traded.iter().filter(|t| **t).count(),
        first_ns,
        last_ns,
    })
}

/// One instrument's book at a moment of the capture.
#[derive(Clone, Debug)]
pub struct BookAt {
    /// The instrument's locate.
    pub locate: u16,
    /// Timestamp of the last message applied (ns since midnight), if any.
    pub timestamp_ns: Option<u64>,
    /// Messages applied before stopping.
    pub messages_applied: u64,
    /// Bid levels, best first.
    pub bids: Vec<Level>,
    /// Ask levels, best first.
    pub asks: Vec<Level>,
}

/// Replays until the first message later than `at_ns` (or the end) and returns
/// `symbol`'s book to `depth` levels.
pub fn book_at(
    path: &Path,
    symbol: &str,
    at_ns: Option<u64>,
    depth: usize,
) -> Result<BookAt, EngineError> {
    let mut md = MarketData::new(replay_book_config(file_len(path)));
    let mut timestamp_ns = None;
    let mut applied = 0u64;
    replay(path, |bytes| {
        if let (Some(at), Ok(msg)) = (at_ns, itch::decode(bytes)) {
            if msg.timestamp() > at {
                return false;
            }
        }
        if let Ok(msg) = itch::decode(bytes) {
            timestamp_ns = Some(msg.timestamp());
        }
        md.on_message(bytes);
        applied += 1;
        true
    })?;
    let locate = md
        .locate_of(symbol)
        .ok_or_else(|| EngineError::UnknownSymbol(symbol.into()))?;
    let levels = |side| {
        md.books()
            .book(locate)
            .map(|b| b.levels(side).take(depth).collect())
            .unwrap_or_default()
    };
    Ok(BookAt {
        locate: locate.0,
        timestamp_ns,
        messages_applied: applied,
        bids: levels(Side::Buy),
        asks: levels(Side::Sell),
    })
}

/// Every decodable message, grouped by type: `raw[tag]` is the concatenation of
/// that type's wire bytes (fixed length each).
pub fn read_raw(path: &Path) -> Result<(Vec<Vec<u8>>, CaptureStats), EngineError> {
    let mut raw = vec![Vec::new(); 256];
    let stats = replay(path, |bytes| {
        if itch::decode(bytes).is_ok() {
            raw[usize::from(bytes[0])].extend_from_slice(bytes);
        }
        true
    })?;
    Ok((raw, stats))
}

/// Top-of-book rows: one per change of an instrument's BBO.
#[derive(Clone, Debug, Default)]
pub struct BboSeries {
    /// Message timestamp (ns since midnight).
    pub timestamp_ns: Vec<u64>,
    /// Instrument locate.
    pub locate: Vec<u16>,
    /// Best bid price (raw, 4 decimals), 0 when empty.
    pub bid_px: Vec<i64>,
    /// Best bid quantity, 0 when empty.
    pub bid_qty: Vec<u64>,
    /// Best ask price (raw, 4 decimals), 0 when empty.
    pub ask_px: Vec<i64>,
    /// Best ask quantity, 0 when empty.
    pub ask_qty: Vec<u64>,
}

fn level_or_zero(level: Option<Level>) -> (i64, u64) {
    level.map_or((0, 0), |l| (l.price.0, l.qty.0))
}

/// Replays the capture, recording every BBO change (of `symbol` only, when given).
pub fn replay_bbo(path: &Path, symbol: Option<&str>) -> Result<BboSeries, EngineError> {
    let mut md = MarketData::new(replay_book_config(file_len(path)));
    let mut last = vec![(0i64, 0u64, 0i64, 0u64); 1 << 16];
    let mut out = BboSeries::default();
    replay(path, |bytes| {
        let Ok(msg) = itch::decode(bytes) else {
            md.on_message(bytes);
            return true;
        };
        if let Applied::Book(instrument) = md.apply(&msg) {
            if symbol.is_some_and(|sym| md.locate_of(sym) != Some(instrument)) {
                return true;
            }
            let bbo = md.bbo(instrument);
            let (bp, bq) = level_or_zero(bbo.bid);
            let (ap, aq) = level_or_zero(bbo.ask);
            let row = (bp, bq, ap, aq);
            let slot = &mut last[usize::from(instrument.0)];
            if *slot != row {
                *slot = row;
                out.timestamp_ns.push(msg.timestamp());
                out.locate.push(instrument.0);
                out.bid_px.push(bp);
                out.bid_qty.push(bq);
                out.ask_px.push(ap);
                out.ask_qty.push(aq);
            }
        }
        true
    })?;
    if let Some(sym) = symbol {
        if md.locate_of(sym).is_none() {
            return Err(EngineError::UnknownSymbol(sym.into()));
        }
    }
    Ok(out)
}

/// L2 snapshots of one instrument: a row per change of its book, `depth` levels per side.
#[derive(Clone, Debug, Default)]
pub struct L2Series {
    /// Levels per side in each row.
    pub depth: usize,
    /// Message timestamp of each row.
    pub timestamp_ns: Vec<u64>,
    /// Row-major `rows x depth` prices / quantities / order counts, zero past the book's depth.
    pub bid_px: Vec<i64>,
    /// See `bid_px`.
    pub bid_qty: Vec<u64>,
    /// See `bid_px`.
    pub bid_count: Vec<u32>,
    /// See `bid_px`.
    pub ask_px: Vec<i64>,
    /// See `bid_px`.
    pub ask_qty: Vec<u64>,
    /// See `bid_px`.
    pub ask_count: Vec<u32>,
}

/// Replays the capture, recording `symbol`'s top `depth` levels after each change of its book.
pub fn replay_l2(path: &Path, symbol: &str, depth: usize) -> Result<L2Series, EngineError> {
    if depth == 0 || depth > 1000 {
        return Err(EngineError::InvalidArgument(format!(
            "depth {depth} not in 1..=1000"
        )));
    }
    let mut md = MarketData::new(replay_book_config(file_len(path)));
    let mut out = L2Series {
        depth,
        ..L2Series::default()
    };
    let mut levels = vec![
        Level {
            price: Price(0),
            qty: Qty(0),
            count: 0
        };
        depth
    ];
    replay(path, |bytes| {
        let Ok(msg) = itch::decode(bytes) else {
            md.on_message(bytes);
            return true;
        };
        if let Applied::Book(instrument) = md.apply(&msg) {
            if md.locate_of(symbol) != Some(instrument) {
                return true;
            }
            let Some(book) = md.books().book(instrument) else {
                return true;
            };
            out.timestamp_ns.push(msg.timestamp());
            for (side, px, qty, count) in [
                (
                    Side::Buy,
                    &mut out.bid_px,
                    &mut out.bid_qty,
                    &mut out.bid_count,
                ),
                (
                    Side::Sell,
                    &mut out.ask_px,
                    &mut out.ask_qty,
                    &mut out.ask_count,
                ),
            ] {
                let n = book.depth(side, &mut levels);
                for (i, level) in levels.iter().enumerate() {
                    let live = i < n;
                    px.push(if live { level.price.0 } else { 0 });
                    qty.push(if live { level.qty.0 } else { 0 });
                    count.push(if live { level.count } else { 0 });
                }
            }
        }
        true
    })?;
    if md.locate_of(symbol).is_none() {
        return Err(EngineError::UnknownSymbol(symbol.into()));
    }
    Ok(out)
}
