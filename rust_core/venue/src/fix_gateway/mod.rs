//! The venue's FIX 4.4 acceptor: an [`OrderEntry`] gateway over
//! non-blocking `std::net` TCP, serviced entirely from [`OrderEntry::poll`]
//! (no threads, nothing blocks).
//!
//! # Session layer
//!
//! * **Logon(A)**: the first message of a connection. Its
//!   (SenderCompID, TargetCompID) must name a configured [`FixSessionConfig`],
//!   else the connection gets a Logout with a Text and is closed. The reply
//!   echoes HeartBtInt (a request for 0 gets `heartbeat_secs`) and
//!   ResetSeqNumFlag; `141=Y` (with `34=1`) resets both sequence numbers and
//!   the resend store. Without it, sequence numbers carry on from the
//!   session's previous connection: state is kept per session for the life
//!   of the gateway.
//! * **MsgSeqNum**: the expected number is processed; a higher one is queued
//!   and a `ResendRequest(7=expected, 16=0)` sent once per gap, the queue
//!   being replayed as the gap fills; a lower one is ignored with
//!   PossDupFlag=Y and otherwise answered with Logout
//!   `MsgSeqNum too low, expecting N but received M` and a disconnect. A
//!   Logout, a ResendRequest and a SequenceReset in reset mode act whatever
//!   their number.
//! * **ResendRequest(2)** from the client: stored application messages go out
//!   again with `43=Y` and `122=` their first SendingTime; runs of session
//!   messages become `SequenceReset-GapFill` (`123=Y`, `43=Y`).
//! * **Heartbeats**: a Heartbeat after HeartBtInt without output; a
//!   TestRequest after 1.2 x HeartBtInt without input; Logout and disconnect
//!   if nothing arrives within another 1.2 x HeartBtInt.
//! * **Malformed messages** (structure or a field, once framed): `Reject(3)`
//!   from [`Reject::for_error`](quotewire_protocol::fix::Reject::for_error),
//!   consuming the sequence number; a MsgSeqNum that cannot be read is
//!   ignored (Logout if it is missing). Bytes that do not frame (bad
//!   BodyLength or CheckSum) are dropped silently, as FIX asks.
//! * **Logout(5)**: answered with a Logout, then the connection closes.
//!
//! # Orders
//!
//! | FIX in | Command | Notes |
//! |---|---|---|
//! | NewOrderSingle(D) | [`Command::New`] | `40=2` and `44` required; `59` absent/`0` day, `3` IOC; `18` containing `6` post-only |
//! | OrderCancelRequest(F) | [`Command::Cancel`] (leave 0) | `41` names the order |
//! | OrderCancelReplaceRequest(G) | [`Command::Replace`] | new open qty = `38` - CumQty |
//!
//! ClOrdIDs map to the engine's [`ClientOrderId`](crate::matching::ClientOrderId)
//! through a per-session table (ClOrdIDs are unique per session for the life
//! of the gateway; the integers are unique across the gateway). Reports:
//! ExecutionReport(8) `150=0` New, `F` Trade (LastQty, LastPx, LeavesQty,
//! CumQty, AvgPx), `4` Canceled, `5` Replaced, `8` Rejected (OrdRejReason);
//! OrderCancelReject(9) with `434=1/2` for refused cancels and replaces.
//! OrderID is the venue order reference the order has now (a requeueing
//! replace changes it, as on the ITCH feed); ExecIDs are unique across the
//! gateway. Reports to a session that is not connected are stored and can be
//! fetched with a ResendRequest after the next Logon.
//!
//! **Cancel-on-disconnect**, per session: when the connection drops, the
//! gateway emits a Cancel for each of the session's open orders.
//!
//! # Time
//!
//! `now_ns` (both [`OrderEntry`] calls) is read as nanoseconds since the Unix
//! epoch: it becomes SendingTime and TransactTime, and the timestamp of the
//! commands.
//!
//! Must never: block, spawn threads, or panic on anything a peer sends.

mod config;
mod core;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};

use quotewire_protocol::fix::StreamBuffer;

pub use self::config::{FixGatewayConfig, FixGatewayError, FixInstrument, FixSessionConfig};
use self::core::{Core, Flow, Link};
use crate::matching::{Command, Event};
use crate::runtime::OrderEntry;

/// Most `read` calls per connection per poll, so one busy peer cannot starve the rest.
const READS_PER_POLL: usize = 8;
/// Bytes waiting for a peer that does not read, beyond which it is disconnected.
const MAX_PENDING_OUT: usize = 8 << 20;
/// How long a closing connection may take to drain before it is dropped.
const CLOSE_LINGER_NS: u64 = 2_000_000_000;

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    rx: StreamBuffer,
    link: Link,
    opened_ns: u64,
    /// Set once the connection is closing: drop it at this time at the latest.
    closing_until: Option<u64>,
    /// Our side was shut down for writing (FIN sent).
    shut: bool,
    /// A write failed; close on the next poll.
    broken: bool,
}

/// The FIX 4.4 acceptor gateway; see the module docs.
#[derive(Debug)]
pub struct FixGateway {
    listener: TcpListener,
    local_addr: SocketAddr,
    conns: Vec<Option<Conn>>,
    core: Core,
    max_body: usize,
    logon_timeout_ns: u64,
    dirty: Vec<usize>,
}

/// Writes as much of `buf` as the socket takes; `Ok(true)` once it is empty.
fn write_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut written = 0;
    let result = loop {
        let Some(rest) = buf.get(written..).filter(|r| !r.is_empty()) else {
            break Ok(true);
        };
        match stream.write(rest) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.drain(..written);
    result
}

impl FixGateway {
    /// Binds the listening socket and prepares the sessions.
    pub fn bind(config: &FixGatewayConfig) -> Result<Self, FixGatewayError> {
        let core = Core::new(config)?;
        let listen_err = |source| FixGatewayError::Listen {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).map_err(listen_err)?;
        listener.set_nonblocking(true).map_err(listen_err)?;
        let local_addr = listener.local_addr().map_err(listen_err)?;
        let mut conns = Vec::with_capacity(config.max_connections);
        conns.resize_with(config.max_connections.max(1), || None);
        Ok(Self {
            listener,
            local_addr,
            conns,
            core,
            max_body: config.max_body,
            logon_timeout_ns: config.logon_timeout_ns,
            dirty: Vec::with_capacity(config.sessions.len()),
        })
    }

    /// The address the gateway listens on (with the actual port).
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Open TCP connections, logged on or not.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    fn accept(&mut self, now: u64) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let Some(slot) = self.conns.iter().position(Option::is_none) else {
                drop(stream); // full: the peer sees the connection close
                continue;
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            // Latency matters more than segment count; failure only costs latency.
            let _ = stream.set_nodelay(true);
            self.conns[slot] = Some(Conn {
                stream,
                rx: StreamBuffer::new(self.max_body, 64 * 1024),
                link: Link {
                    id: slot,
                    session: None,
                    tx: Vec::with_capacity(1024),
                },
                opened_ns: now,
                closing_until: None,
                shut: false,
                broken: false,
            });
        }
    }

    /// Reads, runs timers, writes, and closes one connection.
    fn service(&mut self, slot: usize, now: u64, commands: &mut Vec<Command>) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut close = conn.broken;
        let mut gone = conn.broken;
        if conn.closing_until.is_none() && !close {
            'read: for _ in 0..READS_PER_POLL {
                match conn.stream.read(conn.rx.spare()) {
                    Ok(0) => {
                        gone = true;
                        break;
                    }
                    Ok(n) => {
                        conn.rx.commit(n);
                        while let Some(frame) = conn.rx.next_message() {
                            // Frames that fail BodyLength/CheckSum are dropped, as FIX says.
                            let Ok(frame) = frame else { continue };
                            if self.core.on_frame(&mut conn.link, frame, now, commands)
                                == Flow::Close
                            {
                                close = true;
                                break 'read;
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
            if !close && !gone {
                close = match conn.link.session {
                    Some(s) => self.core.on_timer(s, now) == Flow::Close,
                    None => now.saturating_sub(conn.opened_ns) > self.logon_timeout_ns,
                };
            }
        }
        if close || gone {
            if let Some(s) = conn.link.session.take() {
                // What the session still had to say (a Logout) leaves on this connection.
                if let Some(tx) = self.core.tx_mut(s) {
                    conn.link.tx.append(tx);
                }
                self.core.on_disconnect(s, commands, now);
            }
            if conn.closing_until.is_none() {
                conn.closing_until = Some(now + CLOSE_LINGER_NS);
            }
        }
        if !gone {
            gone = self.flush(slot, now).is_err();
        }
        if gone {
            self.drop_conn(slot);
        }
    }

    /// Writes what is pending for a connection; for a closing one, sends FIN
    /// once everything is out and waits for the peer's close.
    fn flush(&mut self, slot: usize, now: u64) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return Ok(());
        };
        let mut empty = write_some(&mut conn.stream, &mut conn.link.tx)?;
        if empty {
            if let Some(tx) = conn.link.session.and_then(|s| self.core.tx_mut(s)) {
                empty = write_some(&mut conn.stream, tx)?;
                if tx.len() > MAX_PENDING_OUT {
                    return Err(io::ErrorKind::OutOfMemory.into());
                }
            }
        }
        let Some(until) = conn.closing_until else {
            return Ok(());
        };
        if empty && !conn.shut {
            conn.shut = true;
            let _ = conn.stream.shutdown(Shutdown::Write);
        }
        // Read and discard until the peer closes, so our last bytes are not
        // lost to a reset.
        let mut sink = [0u8; 4096];
        loop {
            match conn.stream.read(&mut sink) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if now >= until {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(())
    }

    fn drop_conn(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::take) {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }
}

impl OrderEntry for FixGateway {
    fn poll(&mut self, now_ns: u64, commands: &mut Vec<Command>) {
        self.accept(now_ns);
        for slot in 0..self.conns.len() {
            if self.conns.get(slot).is_some_and(Option::is_some) {
                self.service(slot, now_ns, commands);
            }
        }
    }

    fn on_events(&mut self, now_ns: u64, events: &[Event]) {
        self.core.on_events(now_ns, events);
        self.core.take_dirty(&mut self.dirty);
        for i in 0..self.dirty.len() {
            let Some(slot) = self.dirty.get(i).and_then(|&s| self.core.session_conn(s)) else {
                continue;
            };
            if self.flush(slot, now_ns).is_err() {
                if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                    conn.broken = true; // closed (and cancel-on-disconnect) on the next poll
                }
            }
        }
    }
}
