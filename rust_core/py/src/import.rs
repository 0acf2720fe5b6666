//! `itch_write_daily`: normalised market-by-order rows into a TotalView-ITCH 5.0 daily file.
//!
//! Owns: the row layout Python hands over (a packed NumPy structured array, see
//! [`ROW_FIELDS`]), the consistency checks on it (a map of live orders) and the
//! encoding into the length-prefixed daily framing the capture tools read.
//! Never panics on bad data: every inconsistent row is refused with its index and
//! a reason, and the rows around it still go through.
//!
//! ITCH order references on the wire are assigned here, 1, 2, 3... in order of
//! adds and replaces, so they are day-unique whatever the source's ids were; the
//! rows' `order_ref` is only the source's name for the order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use quotewire_core::Side;
use quotewire_protocol::itch::{
    AddOrder, Message, OrderCancel, OrderDelete, OrderExecuted, OrderReplace, StockDirectory,
    SystemEvent, MAX_TIMESTAMP,
};

use crate::{ConfigError, DataError};

/// The row dtype, packed little-endian, in order: (name, NumPy type string).
pub(crate) const ROW_FIELDS: [(&str, &str); 8] = [
    ("ts_ns", "<u8"),
    ("locate", "<u2"),
    ("order_ref", "<u8"),
    ("side", "S1"),
    ("price", "<i8"),
    ("shares", "<u4"),
    ("action", "S1"),
    ("new_order_ref", "<u8"),
];

/// Bytes per packed row.
const ROW_LEN: usize = 40;

/// One decoded row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Row {
    ts_ns: u64,
    locate: u16,
    order_ref: u64,
    side: u8,
    price: i64,
    shares: u32,
    action: u8,
    new_order_ref: u64,
}

impl Row {
    fn from_bytes(b: &[u8; ROW_LEN]) -> Self {
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        Self {
            ts_ns: u64_at(0),
            locate: u16::from_le_bytes([b[8], b[9]]),
            order_ref: u64_at(10),
            side: b[18],
            price: u64_at(19) as i64,
            shares: u32::from_le_bytes([b[27], b[28], b[29], b[30]]),
            action: b[31],
            new_order_ref: u64_at(32),
        }
    }
}

/// Why a row was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reject {
    UnknownLocate,
    TimestampRange,
    TimestampBackwards,
    BadAction,
    BadSide,
    PriceNotPositive,
    PriceTooHigh,
    ZeroShares,
    DuplicateAdd,
    UnknownOrder,
    OtherInstrument,
    SharesExceedOpen,
    NewRefLive,
}

impl Reject {
    const fn text(self) -> &'static str {
        match self {
            Self::UnknownLocate => "locate not in the symbol map",
            Self::TimestampRange => "timestamp past the 48-bit ITCH range",
            Self::TimestampBackwards => "timestamp before the previous row's",
            Self::BadAction => "action is not one of A, C, D, F, M",
            Self::BadSide => "side is not B or S",
            Self::PriceNotPositive => "price is not positive",
            Self::PriceTooHigh => "price above the 32-bit ITCH Price(4) range",
            Self::ZeroShares => "shares must be positive",
            Self::DuplicateAdd => "duplicate add: order already live",
            Self::UnknownOrder => "unknown order (not live)",
            Self::OtherInstrument => "order belongs to another instrument",
            Self::SharesExceedOpen => "shares exceed the order's open quantity",
            Self::NewRefLive => "modify: new order reference already live",
        }
    }
}

/// A resting order as the file has published it.
#[derive(Clone, Copy, Debug)]
struct Live {
    wire_ref: u64,
    locate: u16,
    open: u32,
}

/// Turns rows into ITCH messages, keeping the live orders.
struct Encoder<'a> {
    stocks: &'a BTreeMap<u16, [u8; 8]>,
    live: BTreeMap<u64, Live>,
    next_ref: u64,
    next_match: u64,
    last_ts: u64,
}

fn price4(raw: i64) -> Result<u32, Reject> {
    if raw <= 0 {
        return Err(Reject::PriceNotPositive);
    }
    u32::try_from(raw).map_err(|_| Reject::PriceTooHigh)
}

impl Encoder<'_> {
    fn take_ref(&mut self) -> u64 {
        self.next_ref += 1;
        self.next_ref
    }

    fn open(&self, r: &Row) -> Result<Live, Reject> {
        let live = *self.live.get(&r.order_ref).ok_or(Reject::UnknownOrder)?;
        if live.locate != r.locate {
            return Err(Reject::OtherInstrument);
        }
        Ok(live)
    }

    /// Shares taken off an order: positive, at most the open quantity.
    fn reduce(&self, r: &Row) -> Result<Live, Reject> {
        let live = self.open(r)?;
        if r.shares == 0 {
            return Err(Reject::ZeroShares);
        }
        if r.shares > live.open {
            return Err(Reject::SharesExceedOpen);
        }
        Ok(live)
    }

    fn apply(&mut self, r: &Row) -> Result<Message, Reject> {
        let stock = *self.stocks.get(&r.locate).ok_or(Reject::UnknownLocate)?;
        if r.ts_ns > MAX_TIMESTAMP {
            return Err(Reject::TimestampRange);
        }
        if r.ts_ns < self.last_ts {
            return Err(Reject::TimestampBackwards);
        }
        let (locate, timestamp) = (r.locate, r.ts_ns);
        let msg = match r.action {
            b'A' => {
                let side = match r.side {
                    b'B' => Side::Buy,
                    b'S' => Side::Sell,
                    _ => return Err(Reject::BadSide),
                };
                let price = price4(r.price)?;
                if r.shares == 0 {
                    return Err(Reject::ZeroShares);
                }
                if self.live.contains_key(&r.order_ref) {
                    return Err(Reject::DuplicateAdd);
                }
                let wire_ref = self.take_ref();
                let open = r.shares;
                self.live.insert(
                    r.order_ref,
                    Live {
                        wire_ref,
                        locate,
                        open,
                    },
                );
                Message::AddOrder(AddOrder {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp,
                    order_ref: wire_ref,
                    side,
                    shares: open,
                    stock,
                    price,
                })
            }
            b'C' | b'F' => {
                let live = self.reduce(r)?;
                let left = live.open - r.shares;
                if left == 0 {
                    self.live.remove(&r.order_ref);
                } else if let Some(l) = self.live.get_mut(&r.order_ref) {
                    l.open = left;
                }
                if r.action == b'F' {
                    self.next_match += 1;
                    Message::OrderExecuted(OrderExecuted {
                        stock_locate: locate,
                        tracking_number: 0,
                        timestamp,
                        order_ref: live.wire_ref,
                        executed_shares: r.shares,
                        match_number: self.next_match,
                    })
                } else if left == 0 {
                    Message::OrderDelete(OrderDelete {
                        stock_locate: locate,
                        tracking_number: 0,
                        timestamp,
                        order_ref: live.wire_ref,
                    })
                } else {
                    Message::OrderCancel(OrderCancel {
                        stock_locate: locate,
                        tracking_number: 0,
                        timestamp,
                        order_ref: live.wire_ref,
                        cancelled_shares: r.shares,
                    })
                }
            }
            b'D' => {
                let live = self.open(r)?;
                self.live.remove(&r.order_ref);
                Message::OrderDelete(OrderDelete {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp,
                    order_ref: live.wire_ref,
                })
            }
            b'M' => {
                let live = self.open(r)?;
                let price = price4(r.price)?;
                if r.shares == 0 {
                    return Err(Reject::ZeroShares);
                }
                // 0 (or the same reference) keeps the source's name for the order.
                let new_key = if r.new_order_ref == 0 {
                    r.order_ref
                } else {
                    r.new_order_ref
                };
                if new_key != r.order_ref && self.live.contains_key(&new_key) {
                    return Err(Reject::NewRefLive);
                }
                let wire_ref = self.take_ref();
                self.live.remove(&r.order_ref);
                self.live.insert(
                    new_key,
                    Live {
                        wire_ref,
                        open: r.shares,
                        ..live
                    },
                );
                Message::OrderReplace(OrderReplace {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp,
                    original_order_ref: live.wire_ref,
                    new_order_ref: wire_ref,
                    shares: r.shares,
                    price,
                })
            }
            _ => return Err(Reject::BadAction),
        };
        self.last_ts = r.ts_ns;
        Ok(msg)
    }
}

/// Encodes `msg` as `len(u16 BE) | message` at the end of `out`.
fn push(out: &mut Vec<u8>, msg: &Message) {
    let len = msg.encoded_len();
    let start = out.len();
    out.resize(start + 2 + len, 0);
    out[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
    // Every field was range-checked and the buffer is sized from `encoded_len`.
    if msg.encode(&mut out[start + 2..]).is_err() {
        out.truncate(start);
    }
}

fn system_event(timestamp: u64, event_code: u8) -> Message {
    Message::SystemEvent(SystemEvent {
        stock_locate: 0,
        tracking_number: 0,
        timestamp,
        event_code,
    })
}

fn directory(timestamp: u64, locate: u16, stock: [u8; 8]) -> Message {
    Message::StockDirectory(StockDirectory::common_stock(timestamp, locate, stock))
}

/// What [`encode_rows`] produced.
#[derive(Debug, Default)]
struct Encoded {
    image: Vec<u8>,
    messages: u64,
    rejected: Vec<(usize, &'static str)>,
    open_orders: usize,
}

/// The whole daily-file image for `rows` (packed [`ROW_LEN`]-byte records).
fn encode_rows(raw: &[u8], stocks: &BTreeMap<u16, [u8; 8]>) -> Encoded {
    let rows = raw.chunks_exact(ROW_LEN).filter_map(|c| c.try_into().ok());
    // The day opens at the earliest representable row time (a bogus first row must
    // not push every later row "back in time").
    let first_ts = rows
        .clone()
        .map(|b| Row::from_bytes(b).ts_ns)
        .filter(|&ts| ts <= MAX_TIMESTAMP)
        .min()
        .unwrap_or(0);
    let mut out = Encoded {
        image: Vec::with_capacity(64 + stocks.len() * 41 + raw.len()),
        ..Encoded::default()
    };
    let emit = |out: &mut Encoded, msg: &Message| {
        push(&mut out.image, msg);
        out.messages += 1;
    };
    emit(&mut out, &system_event(first_ts, b'O'));
    for (&locate, &stock) in stocks {
        emit(&mut out, &directory(first_ts, locate, stock));
    }
    let mut enc = Encoder {
        stocks,
        live: BTreeMap::new(),
        next_ref: 0,
        next_match: 0,
        last_ts: 0,
    };
    for (i, b) in rows.enumerate() {
        match enc.apply(&Row::from_bytes(b)) {
            Ok(msg) => emit(&mut out, &msg),
            Err(reason) => out.rejected.push((i, reason.text())),
        }
    }
    emit(&mut out, &system_event(enc.last_ts.max(first_ts), b'C'));
    out.open_orders = enc.live.len();
    out
}

fn stock_field(locate: u16, symbol: &str) -> PyResult<[u8; 8]> {
    let ok =
        !symbol.is_empty() && symbol.len() <= 8 && symbol.bytes().all(|c| c.is_ascii_graphic());
    if locate == 0 || !ok {
        return Err(ConfigError::new_err(format!(
            "symbol map entry {locate}: {symbol:?} needs a locate >= 1 and 1-8 printable \
             ASCII characters"
        )));
    }
    let mut stock = [b' '; 8];
    stock[..symbol.len()].copy_from_slice(symbol.as_bytes());
    Ok(stock)
}

fn write_file(path: &Path, image: &[u8]) -> std::io::Result<()> {
    let file = File::create(path)?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        let mut gz = GzEncoder::new(file, Compression::fast());
        gz.write_all(image)?;
        gz.finish()?.sync_all()
    } else {
        let mut file = file;
        file.write_all(image)?;
        file.sync_all()
    }
}

/// Encodes normalised market-by-order rows into a TotalView-ITCH 5.0 daily file.
///
/// `rows` is a 1-D NumPy structured array of the packed dtype [`ROW_FIELDS`];
/// `symbols` maps each locate to its symbol. Returns `{"messages": n,
/// "rejected": [(row_index, reason), ...], "open_orders": n}`.
#[pyfunction]
pub(crate) fn itch_write_daily<'py>(
    py: Python<'py>,
    path: PathBuf,
    rows: &Bound<'py, PyAny>,
    symbols: BTreeMap<u16, String>,
) -> PyResult<Bound<'py, PyDict>> {
    let np = py.import("numpy")?;
    let expected = np
        .getattr("dtype")?
        .call1((PyList::new(py, ROW_FIELDS)?,))?;
    let ndim: usize = rows.getattr("ndim")?.extract()?;
    if ndim != 1 || !rows.getattr("dtype")?.eq(&expected)? {
        return Err(ConfigError::new_err(format!(
            "rows must be a 1-D array of dtype {}",
            expected.repr()?
        )));
    }
    let bytes = rows.call_method0("tobytes")?;
    let raw = bytes.cast::<PyBytes>()?.as_bytes();
    let stocks = symbols
        .iter()
        .map(|(&locate, sym)| Ok((locate, stock_field(locate, sym)?)))
        .collect::<PyResult<BTreeMap<_, _>>>()?;
    let enc = encode_rows(raw, &stocks);
    py.detach(|| write_file(&path, &enc.image))
        .map_err(|e| DataError::new_err(format!("{}: {e}", path.display())))?;
    let out = PyDict::new(py);
    out.set_item("messages", enc.messages)?;
    out.set_item("rejected", PyList::new(py, enc.rejected)?)?;
    out.set_item("open_orders", enc.open_orders)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_protocol::itch::{decode, length_prefixed};

    fn row(ts_ns: u64, order_ref: u64, side: u8, price: i64, shares: u32, action: u8) -> Vec<u8> {
        let mut b = Vec::with_capacity(ROW_LEN);
        b.extend_from_slice(&ts_ns.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&order_ref.to_le_bytes());
        b.push(side);
        b.extend_from_slice(&price.to_le_bytes());
        b.extend_from_slice(&shares.to_le_bytes());
        b.push(action);
        b.extend_from_slice(&0u64.to_le_bytes());
        b
    }

    fn run(rows: &[Vec<u8>]) -> (Vec<Message>, Vec<(usize, &'static str)>) {
        let stocks = BTreeMap::from([(1u16, *b"AAPL    ")]);
        let enc = encode_rows(&rows.concat(), &stocks);
        let msgs = length_prefixed(&enc.image)
            .map(|m| decode(m.unwrap()).unwrap())
            .collect();
        (msgs, enc.rejected)
    }

    #[test]
    fn full_cancel_becomes_delete_and_partial_becomes_cancel() {
        let (msgs, rejected) = run(&[
            row(10, 7, b'B', 1_000_000, 300, b'A'),
            row(11, 7, b'B', 0, 100, b'C'),
            row(12, 7, b'B', 0, 200, b'C'),
        ]);
        assert!(rejected.is_empty());
        let tags: Vec<u8> = msgs.iter().map(Message::tag).collect();
        assert_eq!(tags, b"SRAXDS");
    }

    #[test]
    fn inconsistent_rows_are_refused_and_the_rest_goes_through() {
        let (msgs, rejected) = run(&[
            row(10, 7, b'B', 1_000_000, 300, b'A'),
            row(11, 7, b'B', 1_000_000, 300, b'A'),
            row(12, 8, b'B', 0, 1, b'C'),
            row(13, 7, b'B', 0, 301, b'F'),
            row(14, 9, b'X', 1_000_000, 1, b'A'),
            row(15, 9, b'S', i64::from(u32::MAX) + 1, 1, b'A'),
            row(16, 9, b'S', 0, 1, b'A'),
            row(5, 9, b'S', 1, 1, b'A'),
            row(17, 7, b'B', 0, 300, b'F'),
        ]);
        let reasons: Vec<(usize, Reject)> = vec![
            (1, Reject::DuplicateAdd),
            (2, Reject::UnknownOrder),
            (3, Reject::SharesExceedOpen),
            (4, Reject::BadSide),
            (5, Reject::PriceTooHigh),
            (6, Reject::PriceNotPositive),
            (7, Reject::TimestampBackwards),
        ];
        let want: Vec<(usize, &str)> = reasons.iter().map(|&(i, r)| (i, r.text())).collect();
        assert_eq!(rejected, want);
        assert_eq!(msgs.len(), 2 + 2 + 1);
    }

    #[test]
    fn modify_assigns_a_fresh_wire_reference() {
        let (msgs, rejected) = run(&[
            row(10, 7, b'S', 1_000_000, 300, b'A'),
            row(11, 7, b'S', 1_010_000, 200, b'M'),
            row(12, 7, b'S', 0, 200, b'D'),
        ]);
        assert!(rejected.is_empty());
        let Message::OrderReplace(u) = msgs[3] else {
            panic!("expected a replace, got {:?}", msgs[3]);
        };
        assert_eq!((u.original_order_ref, u.new_order_ref), (1, 2));
        let Message::OrderDelete(d) = msgs[4] else {
            panic!("expected a delete, got {:?}", msgs[4]);
        };
        assert_eq!(d.order_ref, 2);
    }

    #[test]
    fn an_out_of_range_first_timestamp_does_not_refuse_the_rows_after_it() {
        let (msgs, rejected) = run(&[
            row(MAX_TIMESTAMP + 1, 7, b'B', 1_000_000, 300, b'A'),
            row(10, 8, b'B', 1_000_000, 300, b'A'),
        ]);
        assert_eq!(rejected, vec![(0, Reject::TimestampRange.text())]);
        assert_eq!(msgs.len(), 4);
        assert_eq!(msgs[0].timestamp(), 10);
    }

    #[test]
    fn truncated_row_bytes_never_panic() {
        let stocks = BTreeMap::new();
        let enc = encode_rows(&[1, 2, 3], &stocks);
        assert_eq!(enc.messages, 2);
    }
}
