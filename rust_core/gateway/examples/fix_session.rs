//! Drives a [`FixClient`] from stdin commands and prints what it reports as
//! JSON lines: for trying the FIX gateway against any FIX 4.4 acceptor
//! (QuickFIX in `tests/test_fix_initiator_quickfix.py`, the venue's
//! `fix_acceptor` example).
//!
//! ```text
//! cargo run --release -p quotewire-gateway --example fix_session -- \
//!     --port 9878 [--host 127.0.0.1] --sender CLIENT --target VENUE --symbol AAPL \
//!     [--account ACC] [--state PATH] [--heartbeat 30] [--reset]
//! ```
//!
//! Commands, one per line (prices in decimal, sides `buy`/`sell`):
//! `new <cl> <side> <price> <qty> [ioc] [post]`, `replace <orig> <cl> <side> <price> <qty>`,
//! `cancel <cl> <side>`, `skip <n>` (jump the outgoing MsgSeqNum ahead by n,
//! so the acceptor must ask for a resend), `drop` (drop the connection),
//! `state`, `logout` (graceful; prints the final counters and exits).
//! End of input closes the session at once and exits.
//!
//! Output lines: `{"event": ...}` for session events, `{"report": ...}` for
//! execution reports, `{"error": ...}` for a refused command, `{"state": ...}`
//! and finally `{"done": true, "stats": ..., "fix_stats": ...}`.

use std::io::{self, BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use quotewire_core::order::{
    CancelOrder, ClOrdId, ExecReport, NewOrder, OrderRequest, ReplaceOrder, TimeInForce,
};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_gateway::{
    FixClient, FixClientConfig, GatewaySink, OrderGateway, SessionEvent, SessionStatus,
};
use quotewire_protocol::fix::{fmt_price, parse_price};
use serde_json::{json, Value};

const INSTRUMENT: InstrumentId = InstrumentId(1);
/// Longest wait for the acceptor's Logout after ours.
const LOGOUT_WAIT: Duration = Duration::from_secs(10);

fn parse_args() -> Result<FixClientConfig, String> {
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port = None;
    let mut sender = "CLIENT".to_owned();
    let mut target = "VENUE".to_owned();
    let mut symbol = "AAPL".to_owned();
    let mut account = None;
    let mut state = None;
    let mut heartbeat = 30;
    let mut reset = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--reset" {
            reset = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value.parse().map_err(|e| format!("--host: {e}"))?,
            "--port" => port = Some(value.parse().map_err(|e| format!("--port: {e}"))?),
            "--sender" => sender = value,
            "--target" => target = value,
            "--symbol" => symbol = value,
            "--account" => account = Some(value),
            "--state" => state = Some(value.into()),
            "--heartbeat" => heartbeat = value.parse().map_err(|e| format!("--heartbeat: {e}"))?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let port = port.ok_or("--port is required")?;
    let mut c = FixClientConfig::new(SocketAddr::new(host, port), &sender, &target);
    c.symbols = vec![(INSTRUMENT, symbol)];
    c.account = account;
    c.state_file = state;
    c.heartbeat_interval_secs = heartbeat;
    c.reset_seq_num_on_logon = reset;
    c.reconnect_backoff_ns = 200_000_000;
    Ok(c)
}

fn price_text(p: Price) -> String {
    let mut out = [0u8; 32];
    String::from_utf8_lossy(fmt_price(p, &mut out)).into_owned()
}

/// Prints every report and event as one JSON line.
struct Printer {
    out: io::Stdout,
}

impl Printer {
    fn line(&mut self, v: &Value) {
        let mut out = self.out.lock();
        // A closed stdout only loses the log; the session goes on.
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }
}

impl GatewaySink for Printer {
    fn report(&mut self, r: &ExecReport) {
        let v = match *r {
            ExecReport::Accepted {
                cl,
                venue_id,
                price,
                qty,
                ts_ns,
            } => json!({"report": "accepted", "cl": cl.0, "venue_id": venue_id.0,
                        "price": price_text(price), "qty": qty.0, "ts_ns": ts_ns}),
            ExecReport::Replaced {
                orig,
                cl,
                venue_id,
                price,
                qty,
                ts_ns,
            } => json!({"report": "replaced", "orig": orig.0, "cl": cl.0, "venue_id": venue_id.0,
                        "price": price_text(price), "qty": qty.0, "ts_ns": ts_ns}),
            ExecReport::Canceled {
                cl,
                qty,
                reason,
                ts_ns,
            } => json!({"report": "canceled", "cl": cl.0, "qty": qty.0,
                        "reason": format!("{reason:?}"), "ts_ns": ts_ns}),
            ExecReport::Executed {
                cl,
                qty,
                price,
                match_number,
                liquidity,
                ts_ns,
            } => json!({"report": "executed", "cl": cl.0, "qty": qty.0, "price": price_text(price),
                        "match_number": match_number, "liquidity": liquidity, "ts_ns": ts_ns}),
            ExecReport::Rejected { cl, reason, ts_ns } => {
                json!({"report": "rejected", "cl": cl.0, "reason": reason, "ts_ns": ts_ns})
            }
            ExecReport::CancelRejected { cl, ts_ns } => {
                json!({"report": "cancel_rejected", "cl": cl.0, "ts_ns": ts_ns})
            }
            ExecReport::BrokenTrade {
                cl,
                match_number,
                reason,
                ts_ns,
            } => json!({"report": "broken_trade", "cl": cl.0, "match_number": match_number,
                        "reason": reason, "ts_ns": ts_ns}),
        };
        self.line(&v);
    }

    fn session(&mut self, e: SessionEvent) {
        let v = match e {
            SessionEvent::LoggedIn { next_seq } => {
                json!({"event": "logged_in", "next_seq": next_seq})
            }
            SessionEvent::Ready { next_cl } => json!({"event": "ready", "next_cl": next_cl.0}),
            SessionEvent::Lost { reason } => {
                json!({"event": "lost", "reason": format!("{reason:?}")})
            }
            SessionEvent::LoginRejected { reason } => {
                json!({"event": "login_rejected", "reason": char::from(reason).to_string()})
            }
            SessionEvent::EndOfSession => json!({"event": "end_of_session"}),
            SessionEvent::Debug { text } => json!({"event": "debug",
                "text": String::from_utf8_lossy(text.as_bytes())}),
            SessionEvent::StateReset => json!({"event": "state_reset"}),
        };
        self.line(&v);
    }
}

fn side(s: &str) -> Result<Side, String> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        _ => Err(format!("side must be buy or sell, not {s:?}")),
    }
}

fn num<T: std::str::FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
    s.ok_or(format!("{what} missing"))?
        .parse()
        .map_err(|_| format!("bad {what}"))
}

fn price(s: Option<&str>) -> Result<Price, String> {
    let s = s.ok_or("price missing")?;
    parse_price(0, s.as_bytes()).map_err(|e| e.to_string())
}

/// One order command as a request.
fn request(words: &[&str]) -> Result<OrderRequest, String> {
    let w = |i: usize| words.get(i).copied();
    Ok(match w(0) {
        Some("new") => OrderRequest::New(NewOrder {
            cl: ClOrdId(num(w(1), "cl")?),
            instrument: INSTRUMENT,
            side: side(w(2).unwrap_or_default())?,
            price: price(w(3))?,
            qty: Qty(num(w(4), "qty")?),
            tif: if words.contains(&"ioc") {
                TimeInForce::Ioc
            } else {
                TimeInForce::Day
            },
            post_only: words.contains(&"post"),
        }),
        Some("replace") => OrderRequest::Replace(ReplaceOrder {
            orig: ClOrdId(num(w(1), "orig")?),
            cl: ClOrdId(num(w(2), "cl")?),
            instrument: INSTRUMENT,
            side: side(w(3).unwrap_or_default())?,
            price: price(w(4))?,
            qty: Qty(num(w(5), "qty")?),
            post_only: false,
        }),
        Some("cancel") => OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(num(w(1), "cl")?),
            instrument: INSTRUMENT,
            side: side(w(2).unwrap_or_default())?,
        }),
        other => return Err(format!("unknown command {other:?}")),
    })
}

fn state_json(client: &FixClient) -> Value {
    let s = client.state();
    json!({"state": {"next_out": s.next_out, "next_in": s.next_in, "highest_cl": s.highest_cl,
                     "status": format!("{:?}", client.status())}})
}

fn run(config: FixClientConfig) -> Result<(), String> {
    let mut client = FixClient::new(config).map_err(|e| e.to_string())?;
    let mut printer = Printer { out: io::stdout() };
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let now = || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut logout_deadline: Option<Instant> = None;
    loop {
        let t = now();
        let _ = client.flush(t);
        let reports = client.poll(t, &mut printer);
        if let Some(deadline) = logout_deadline {
            if !client.is_connected() || Instant::now() >= deadline {
                break;
            }
        }
        match rx.try_recv() {
            Ok(line) => {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.first().copied() {
                    None => {}
                    Some("logout") => {
                        client.logout(now());
                        logout_deadline = Some(Instant::now() + LOGOUT_WAIT);
                    }
                    Some("drop") => client.drop_session(),
                    Some("state") => printer.line(&state_json(&client)),
                    Some("skip") => {
                        let n: u64 = num(words.get(1).copied(), "n").unwrap_or(1);
                        let s = client.state();
                        client.set_sequence_numbers(s.next_out + n, s.next_in);
                    }
                    Some(_) => {
                        let sent = request(&words).and_then(|req| {
                            client.send(now(), &req).map_err(|e| e.to_string())?;
                            client.flush(now()).map_err(|e| e.to_string())
                        });
                        if let Err(e) = sent {
                            printer.line(&json!({"error": e, "command": line}));
                        }
                    }
                }
                continue;
            }
            Err(TryRecvError::Disconnected) if logout_deadline.is_none() => {
                client.close(now()).map_err(|e| e.to_string())?;
                break;
            }
            Err(_) => {}
        }
        if reports == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let _ = client.sync_state();
    let st = client.stats();
    let fs = client.fix_stats();
    printer.line(&json!({
        "done": true,
        "status": format!("{:?}", client.status()),
        "connected": client.is_connected(),
        "stats": {"connects": st.connects, "logins": st.logins, "lost": st.lost,
                  "reports": st.reports, "requests": st.requests,
                  "decode_errors": st.decode_errors},
        "fix_stats": {"garbled_frames": fs.garbled_frames, "malformed": fs.malformed,
                      "rejects_sent": fs.rejects_sent, "rejects_received": fs.rejects_received,
                      "resend_requests_sent": fs.resend_requests_sent,
                      "resend_requests_received": fs.resend_requests_received,
                      "messages_resent": fs.messages_resent, "gap_fills_sent": fs.gap_fills_sent,
                      "gap_fills_received": fs.gap_fills_received,
                      "duplicates_ignored": fs.duplicates_ignored,
                      "out_of_sequence": fs.out_of_sequence,
                      "logouts_received": fs.logouts_received},
    }));
    let ended = client.status() == SessionStatus::Ended;
    if ended {
        Ok(())
    } else {
        Err(format!("ended in status {:?}", client.status()))
    }
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fix_session: {e}");
            ExitCode::FAILURE
        }
    }
}
