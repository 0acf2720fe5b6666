//! One TCP connection: non-blocking socket, inbound framer, outbound buffer
//! and the SoupBinTCP phase (awaiting login, logged in, closing).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use quotewire_protocol::soupbintcp::Packet;

use super::account::{Account, SeqLog};
use super::{Core, DisconnectReason, OuchGatewayStats};
use crate::matching::Command;

/// Bytes of unsent output above which no more sequenced data is queued (the
/// rest stays in the account log until the socket drains).
const OUT_WATERMARK: usize = 64 * 1024;
/// Reads per connection per poll, so one busy client cannot starve the others.
const MAX_READS_PER_POLL: usize = 16;
/// How long a closing connection may take to drain before it is dropped.
const CLOSE_LINGER_NS: u64 = 1_000_000_000;

/// Where a connection is in the SoupBinTCP session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Connected; only a Login Request (or Debug) is acceptable.
    AwaitingLogin,
    /// Logged into the account with this index.
    Active { account: usize },
    /// Sending what is queued, then shutting down and dropping.
    Closing { deadline_ns: u64, shut: bool },
}

/// Session state of a connection, apart from the socket and the framer (so
/// that it can be updated while a packet borrowed from the framer is handled).
#[derive(Debug)]
pub(super) struct ConnState {
    pub(super) phase: Phase,
    /// Next sequence number to send (logged in only).
    pub(super) next_seq: u64,
    out: Vec<u8>,
    out_pos: usize,
    last_rx_ns: u64,
    last_tx_ns: u64,
    finished: bool,
}

/// One client connection.
#[derive(Debug)]
pub(super) struct Conn {
    stream: TcpStream,
    framer: quotewire_protocol::soupbintcp::StreamFramer,
    pub(super) st: ConnState,
}

impl ConnState {
    /// Appends one packet to the output.
    pub(super) fn queue(&mut self, p: &Packet<'_>, now_ns: u64) {
        let start = self.out.len();
        self.out.resize(start + p.encoded_len(), 0);
        let dst = self.out.get_mut(start..).unwrap_or_default();
        match p.encode(dst) {
            Ok(n) => self.out.truncate(start + n),
            Err(_) => self.out.truncate(start),
        }
        self.last_tx_ns = now_ns;
    }

    fn pending_out(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Queues sequenced messages from the log, up to the watermark (or all of them).
    pub(super) fn queue_sequenced(
        &mut self,
        log: &SeqLog,
        stats: &mut OuchGatewayStats,
        now_ns: u64,
        all: bool,
    ) {
        while self.next_seq <= log.len() && (all || self.pending_out() < OUT_WATERMARK) {
            let Some(m) = log.get(self.next_seq) else {
                break;
            };
            self.queue(&Packet::SequencedData(m), now_ns);
            self.next_seq += 1;
            stats.sequenced_out += 1;
        }
    }

    /// Starts closing: stops taking input; tells the client why when the
    /// reason is its fault (a Debug packet), unless it cannot be reached.
    pub(super) fn start_closing(&mut self, reason: DisconnectReason, now_ns: u64) {
        match reason {
            DisconnectReason::PeerClosed | DisconnectReason::IoError => {
                // Nothing more can be delivered.
                self.out.clear();
                self.out_pos = 0;
                self.finished = true;
            }
            DisconnectReason::Logout
            | DisconnectReason::LoginRejected
            | DisconnectReason::EndOfSession
            | DisconnectReason::TooManyConnections => {}
            DisconnectReason::ClientTimeout
            | DisconnectReason::BadFraming
            | DisconnectReason::BadPacket
            | DisconnectReason::NotLoggedIn
            | DisconnectReason::UnexpectedPacket
            | DisconnectReason::BadOuch => {
                self.queue(&Packet::Debug(reason.as_str().as_bytes()), now_ns);
            }
        }
        self.phase = Phase::Closing {
            deadline_ns: now_ns.saturating_add(CLOSE_LINGER_NS),
            shut: false,
        };
    }
}

impl Conn {
    pub(super) fn new(
        stream: TcpStream,
        framer: quotewire_protocol::soupbintcp::StreamFramer,
        now_ns: u64,
    ) -> Self {
        Self {
            stream,
            framer,
            st: ConnState {
                phase: Phase::AwaitingLogin,
                next_seq: 1,
                out: Vec::with_capacity(4096),
                out_pos: 0,
                last_rx_ns: now_ns,
                last_tx_ns: now_ns,
                finished: false,
            },
        }
    }

    /// Reads what the client sent and handles every complete packet; `Err`
    /// means the connection must close for that reason.
    pub(super) fn service(
        &mut self,
        slot: usize,
        core: &mut Core,
        now_ns: u64,
        commands: &mut Vec<Command>,
    ) -> Result<(), DisconnectReason> {
        if let Phase::Closing { .. } = self.st.phase {
            self.discard_input();
            return Ok(());
        }
        for _ in 0..MAX_READS_PER_POLL {
            let spare = self.framer.spare();
            if spare.is_empty() {
                break;
            }
            match self.stream.read(spare) {
                Ok(0) => return Err(DisconnectReason::PeerClosed),
                Ok(n) => {
                    self.framer.commit(n);
                    self.st.last_rx_ns = now_ns;
                    self.handle_packets(slot, core, now_ns, commands)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(DisconnectReason::IoError),
            }
        }
        if now_ns.saturating_sub(self.st.last_rx_ns) >= core.timeout_ns {
            return Err(DisconnectReason::ClientTimeout);
        }
        Ok(())
    }

    fn handle_packets(
        &mut self,
        slot: usize,
        core: &mut Core,
        now_ns: u64,
        commands: &mut Vec<Command>,
    ) -> Result<(), DisconnectReason> {
        loop {
            let packet = match self.framer.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(_) => {
                    return Err(if self.framer.failed().is_some() {
                        DisconnectReason::BadFraming
                    } else {
                        DisconnectReason::BadPacket
                    })
                }
            };
            core.on_packet(slot, &mut self.st, &packet, now_ns, commands)?;
        }
    }

    /// Reads and drops input of a closing connection (so that closing does
    /// not reset the connection and lose what is still queued for the client).
    fn discard_input(&mut self) {
        self.framer.reset();
        for _ in 0..MAX_READS_PER_POLL {
            let spare = self.framer.spare();
            match self.stream.read(spare) {
                Ok(0) => {
                    self.st.finished = true;
                    return;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.st.finished = true;
                    return;
                }
            }
        }
    }

    /// Queues due sequenced data and heartbeats and writes what the socket
    /// takes; `Err` means the connection must close.
    pub(super) fn pump(
        &mut self,
        accounts: &[Account],
        stats: &mut OuchGatewayStats,
        heartbeat_ns: u64,
        now_ns: u64,
    ) -> Result<(), DisconnectReason> {
        if let Phase::Active { account } = self.st.phase {
            if let Some(a) = accounts.get(account) {
                self.st.queue_sequenced(&a.log, stats, now_ns, false);
            }
            if now_ns.saturating_sub(self.st.last_tx_ns) >= heartbeat_ns {
                self.st.queue(&Packet::ServerHeartbeat, now_ns);
                stats.heartbeats_out += 1;
            }
        }
        let flushed = self.flush();
        if let Phase::Closing { deadline_ns, shut } = self.st.phase {
            if flushed.is_err() {
                self.st.finished = true;
            } else if !shut && self.st.pending_out() == 0 {
                // FIN after the last byte; the client sees EOF once it has read everything.
                let _ = self.stream.shutdown(Shutdown::Write);
                self.st.phase = Phase::Closing {
                    deadline_ns,
                    shut: true,
                };
            }
            return Ok(());
        }
        flushed
    }

    /// Writes queued output until the socket would block.
    pub(super) fn flush(&mut self) -> Result<(), DisconnectReason> {
        let st = &mut self.st;
        while st.out_pos < st.out.len() {
            let pending = st.out.get(st.out_pos..).unwrap_or_default();
            match self.stream.write(pending) {
                Ok(0) => return Err(DisconnectReason::IoError),
                Ok(n) => st.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(DisconnectReason::IoError),
            }
        }
        if st.out_pos == st.out.len() {
            st.out.clear();
            st.out_pos = 0;
        } else if st.out_pos >= OUT_WATERMARK {
            st.out.drain(..st.out_pos);
            st.out_pos = 0;
        }
        Ok(())
    }

    /// A closing connection that is drained, failed or past its linger time.
    pub(super) fn is_finished(&self, now_ns: u64) -> bool {
        match self.st.phase {
            Phase::Closing { deadline_ns, .. } => self.st.finished || now_ns >= deadline_ns,
            _ => false,
        }
    }
}
