//! The FIX 4.4 session layer and order book-keeping, without sockets: frames
//! in, bytes to write out (per session), matching commands out, events in.

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};
use quotewire_core::{OrderId, Price, Qty, Side};
use quotewire_protocol::fix::{
    self, tag, ExecInst, ExecType, ExecutionReport, FieldError, FieldIter, FixId, Header,
    Heartbeat, Logon, Logout, Message, MessageBuilder, MessageView, NewOrderSingle, OrdStatus,
    OrdType, OrderCancelReject, OrderCancelReplaceRequest, OrderCancelRequest, Reject,
    ResendRequest, SequenceReset, SessionRejectReason, TestRequest, TimeInForce,
};
use quotewire_protocol::EncodeError;

use super::config::{FixGatewayConfig, FixGatewayError};
use crate::matching::{
    CancelOrder, CancelReason, Canceled, ClientOrderId, Command, Event, Executed, FirmId, NewOrder,
    OrderType, RejectReason, Rejected, ReplaceOrder, Replaced, RequestKind,
};

/// Most out-of-order messages held per session while a gap is being filled.
const MAX_QUEUED: usize = 10_000;
/// `OrderID(37)` when the venue has none.
const NONE_ID: &[u8] = b"NONE";

/// What the connection should do after a message or timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// Flush what is queued, then disconnect.
    Close,
}

/// The per-connection part of the session layer the core needs.
#[derive(Debug)]
pub(crate) struct Link {
    /// Slot of the connection in the gateway.
    pub(crate) id: usize,
    /// The session logged on over this connection.
    pub(crate) session: Option<usize>,
    /// Bytes for the connection before (or instead of) a session: the
    /// Logout refusing a Logon.
    pub(crate) tx: Vec<u8>,
}

/// Application messages sent, kept for ResendRequests (session messages are
/// gap-filled instead).
#[derive(Debug, Default)]
struct Store {
    arena: Vec<u8>,
    /// (MsgSeqNum, offset, length), increasing MsgSeqNum.
    index: Vec<(u64, usize, usize)>,
}

impl Store {
    fn push(&mut self, seq: u64, msg: &[u8]) {
        self.index.push((seq, self.arena.len(), msg.len()));
        self.arena.extend_from_slice(msg);
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.index.clear();
    }
}

/// A request of the client waiting for the engine's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    /// OrderCancelRequest with this ClOrdID.
    Cancel(FixId),
    /// OrderCancelReplaceRequest: its ClOrdID, the new total OrderQty and
    /// the engine client id the order takes if the replace succeeds.
    Replace {
        cl: FixId,
        order_qty: Qty,
        new_id: u64,
    },
    /// A cancel-on-disconnect.
    Disconnect,
}

/// One order of a FIX session, from NewOrderSingle until it is done.
#[derive(Clone, Copy, Debug)]
struct OrderRec {
    session: usize,
    firm: FirmId,
    /// The engine's client id now (changes on replace).
    client_id: u64,
    /// ClOrdID(11) now.
    cl: FixId,
    order_ref: OrderId,
    symbol: usize,
    side: Side,
    price: Price,
    /// FIX OrderQty: total, executed shares included.
    order_qty: Qty,
    cum: Qty,
    leaves: Qty,
    /// Sum of price * qty over fills, raw price units.
    notional: i128,
    tif: TimeInForce,
    post_only: bool,
    status: OrdStatus,
    pending: Pending,
}

/// A configured session and the state FIX keeps for it across connections.
#[derive(Debug)]
struct Session {
    /// The client's CompID (their 49, our 56).
    client: FixId,
    /// Our CompID (their 56, our 49).
    us: FixId,
    firm: FirmId,
    cancel_on_disconnect: bool,
    next_in: u64,
    next_out: u64,
    /// Connection slot while logged on.
    conn: Option<usize>,
    /// Bytes not yet written to the connection.
    tx: Vec<u8>,
    store: Store,
    /// Too-high messages waiting for the gap before them to be filled.
    queue: BTreeMap<u64, Vec<u8>>,
    /// We sent a ResendRequest; the gap is closed once `next_in` passes this.
    resend_until: Option<u64>,
    heartbeat_ns: u64,
    last_recv: u64,
    last_sent: u64,
    /// When our unanswered TestRequest went out.
    test_request_at: Option<u64>,
    test_requests: u64,
    /// ClOrdID -> order key, every ClOrdID the session used (they are unique per day).
    ids: HashMap<FixId, u64>,
    /// Keys of the session's orders still open, for cancel-on-disconnect.
    live: HashSet<u64>,
}

/// The gateway minus its sockets.
#[derive(Debug)]
pub(crate) struct Core {
    sessions: Vec<Session>,
    by_comp: HashMap<(FixId, FixId), usize>,
    symbols: Vec<FixId>,
    instruments: Vec<quotewire_core::InstrumentId>,
    by_symbol: HashMap<FixId, usize>,
    default_heartbeat_secs: u32,
    /// Order key (the first engine client id) -> order.
    orders: HashMap<u64, OrderRec>,
    /// Engine client id -> order key.
    engine_ids: HashMap<u64, u64>,
    /// Final status of orders that are done.
    finished: HashMap<u64, OrdStatus>,
    next_client_id: u64,
    next_exec_id: u64,
    /// Encoding scratch: one maximal message.
    buf: Vec<u8>,
    /// Sessions with bytes to write since the last `take_dirty`.
    dirty: Vec<usize>,
}

/// Writes `n` in decimal into `out`; returns the digits.
fn decimal(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

fn comp_id(s: &str) -> Result<FixId, FixGatewayError> {
    match FixId::from_str(s) {
        Ok(id) if !id.is_empty() => Ok(id),
        _ => Err(FixGatewayError::InvalidCompId(s.to_owned())),
    }
}

/// FIX 4.4 OrdRejReason(103) for an engine refusal of a new order.
const fn ord_rej_reason(reason: RejectReason) -> u32 {
    match reason {
        RejectReason::UnknownInstrument => 1,
        RejectReason::QtyAboveMax => 3,
        RejectReason::UnknownOrder => 5,
        RejectReason::DuplicateClientId => 6,
        RejectReason::ZeroQty => 13,
        _ => 99,
    }
}

/// FIX 4.4 CxlRejReason(102) for an engine refusal of a cancel or replace.
const fn cxl_rej_reason(reason: RejectReason) -> u32 {
    match reason {
        RejectReason::UnknownOrder => 1,
        RejectReason::DuplicateClientId => 6,
        _ => 99,
    }
}

/// The MsgSeqNum and MsgType of a message, as far as its fields can be read.
fn salvage_header(frame: &[u8]) -> (Option<u64>, Option<&[u8]>) {
    let (mut seq, mut msg_type) = (None, None);
    for (t, v) in FieldIter::new(frame).map_while(Result::ok) {
        match t {
            tag::MSG_SEQ_NUM
                if !v.is_empty() && v.len() < 20 && v.iter().all(u8::is_ascii_digit) =>
            {
                seq = Some(v.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')));
            }
            tag::MSG_TYPE => msg_type = Some(v),
            _ => {}
        }
    }
    (seq, msg_type)
}

impl Core {
    pub(crate) fn new(config: &FixGatewayConfig) -> Result<Self, FixGatewayError> {
        let mut sessions = Vec::with_capacity(config.sessions.len());
        let mut by_comp = HashMap::with_capacity(config.sessions.len());
        for c in &config.sessions {
            let (client, us) = (comp_id(&c.sender_comp_id)?, comp_id(&c.target_comp_id)?);
            if by_comp.insert((client, us), sessions.len()).is_some() {
                return Err(FixGatewayError::DuplicateSession {
                    sender: c.sender_comp_id.clone(),
                    target: c.target_comp_id.clone(),
                });
            }
            sessions.push(Session {
                client,
                us,
                firm: c.firm,
                cancel_on_disconnect: c.cancel_on_disconnect,
                next_in: 1,
                next_out: 1,
                conn: None,
                tx: Vec::with_capacity(64 * 1024),
                store: Store::default(),
                queue: BTreeMap::new(),
                resend_until: None,
                heartbeat_ns: 0,
                last_recv: 0,
                last_sent: 0,
                test_request_at: None,
                test_requests: 0,
                ids: HashMap::with_capacity(1024),
                live: HashSet::with_capacity(1024),
            });
        }
        let mut symbols = Vec::with_capacity(config.instruments.len());
        let mut instruments = Vec::with_capacity(config.instruments.len());
        let mut by_symbol = HashMap::with_capacity(config.instruments.len());
        for i in &config.instruments {
            let bad = || FixGatewayError::InvalidSymbol(i.symbol.clone());
            let symbol = FixId::from_str(&i.symbol).map_err(|_| bad())?;
            if symbol.is_empty() || by_symbol.insert(symbol, symbols.len()).is_some() {
                return Err(bad());
            }
            symbols.push(symbol);
            instruments.push(i.instrument);
        }
        Ok(Self {
            sessions,
            by_comp,
            symbols,
            instruments,
            by_symbol,
            default_heartbeat_secs: config.heartbeat_secs,
            orders: HashMap::with_capacity(4096),
            engine_ids: HashMap::with_capacity(4096),
            finished: HashMap::with_capacity(4096),
            next_client_id: 1,
            next_exec_id: 1,
            buf: vec![0; fix::max_frame_len(config.max_body.max(fix::DEFAULT_MAX_BODY))],
            dirty: Vec::with_capacity(config.sessions.len()),
        })
    }

    /// The connection slot of a session, if it is logged on.
    pub(crate) fn session_conn(&self, s: usize) -> Option<usize> {
        self.sessions.get(s).and_then(|x| x.conn)
    }

    /// The bytes waiting to be written for a session.
    pub(crate) fn tx_mut(&mut self, s: usize) -> Option<&mut Vec<u8>> {
        self.sessions.get_mut(s).map(|x| &mut x.tx)
    }

    /// Sessions that got bytes to write since the last call.
    pub(crate) fn take_dirty(&mut self, out: &mut Vec<usize>) {
        out.clear();
        out.append(&mut self.dirty);
    }

    // ---------------------------------------------------------------------
    // Writing

    /// Encodes one message with the session's next MsgSeqNum, stores it if it
    /// is an application message, and queues it for the connection if any.
    fn send<F>(&mut self, s: usize, now: u64, app: bool, encode: F)
    where
        F: FnOnce(&Header<'_>, &mut [u8]) -> Result<usize, EncodeError>,
    {
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        let (us, client) = (sess.us, sess.client);
        let header = Header {
            sender_comp_id: us.as_bytes(),
            target_comp_id: client.as_bytes(),
            msg_seq_num: sess.next_out,
            sending_time: now,
            poss_dup: false,
            orig_sending_time: None,
        };
        let Ok(n) = encode(&header, &mut self.buf) else {
            // Only a value FIX cannot carry gets here; the codec is sized for the rest.
            return;
        };
        let msg = self.buf.get(..n).unwrap_or_default();
        if app {
            sess.store.push(sess.next_out, msg);
        }
        sess.next_out += 1;
        if sess.conn.is_some() {
            sess.tx.extend_from_slice(msg);
            sess.last_sent = now;
            if !self.dirty.contains(&s) {
                self.dirty.push(s);
            }
        }
    }

    fn send_logout(&mut self, s: usize, now: u64, text: &[u8]) {
        self.send(s, now, false, |h, b| {
            Logout { text: Some(text) }.encode(h, b)
        });
    }

    fn send_reject(
        &mut self,
        s: usize,
        now: u64,
        seq: u64,
        msg_type: Option<&[u8]>,
        e: &FieldError,
    ) {
        let reject = Reject::for_error(seq, msg_type, e);
        self.send(s, now, false, |h, b| reject.encode(h, b));
    }

    /// A Logout to a connection that has no session (unknown CompIDs, bad
    /// Logon), addressed back to whoever it claimed to be.
    fn refuse(&mut self, link: &mut Link, header: &Header<'_>, now: u64, text: &[u8]) {
        let reply = Header {
            sender_comp_id: header.target_comp_id,
            target_comp_id: header.sender_comp_id,
            msg_seq_num: 1,
            sending_time: now,
            poss_dup: false,
            orig_sending_time: None,
        };
        if let Ok(n) = (Logout { text: Some(text) }).encode(&reply, &mut self.buf) {
            link.tx
                .extend_from_slice(self.buf.get(..n).unwrap_or_default());
        }
    }

    /// Answers a ResendRequest: stored application messages again with
    /// PossDupFlag=Y and OrigSendingTime, session messages as GapFills.
    fn resend(&mut self, s: usize, begin: u64, end: u64, now: u64) {
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        let last = sess.next_out - 1;
        let end = if end == 0 || end > last { last } else { end };
        let begin = begin.max(1);
        if begin > end {
            return;
        }
        let (us, client) = (sess.us, sess.client);
        let Session { store, tx, .. } = sess;
        let buf = &mut self.buf;
        let header = |seq, orig| Header {
            sender_comp_id: us.as_bytes(),
            target_comp_id: client.as_bytes(),
            msg_seq_num: seq,
            sending_time: now,
            poss_dup: true,
            orig_sending_time: Some(orig),
        };
        let gap_fill = |tx: &mut Vec<u8>, buf: &mut Vec<u8>, from: u64, to: u64| {
            let reset = SequenceReset {
                gap_fill: true,
                new_seq_no: to,
            };
            if let Ok(n) = reset.encode(&header(from, now), buf) {
                tx.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
        };
        let mut next = begin;
        let first = store.index.partition_point(|e| e.0 < begin);
        for &(seq, off, len) in store.index.get(first..).unwrap_or_default() {
            if seq > end {
                break;
            }
            if seq > next {
                gap_fill(tx, buf, next, seq);
            }
            next = seq + 1;
            let stored = store.arena.get(off..off + len).unwrap_or_default();
            let Ok(view) = MessageView::parse(stored) else {
                continue;
            };
            let orig = view.sending_time().ok().flatten().unwrap_or(now);
            let mut b = MessageBuilder::new(buf, view.msg_type(), &header(seq, orig));
            for (t, v) in view.fields().map_while(Result::ok) {
                if !tag::is_header(t) {
                    b.str(t, v);
                }
            }
            if let Ok(n) = b.finish() {
                tx.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
        }
        if next <= end {
            gap_fill(tx, buf, next, end + 1);
        }
        sess.last_sent = now;
        if !self.dirty.contains(&s) {
            self.dirty.push(s);
        }
    }

    // ---------------------------------------------------------------------
    // Reading

    /// One framed message from a connection.
    pub(crate) fn on_frame(
        &mut self,
        link: &mut Link,
        frame: &[u8],
        now: u64,
        commands: &mut Vec<Command>,
    ) -> Flow {
        let parsed = MessageView::parse(frame).and_then(|v| Ok((v, v.header()?)));
        let Some(s) = link.session else {
            return match parsed {
                Ok((view, header)) => self.on_logon(link, &view, &header, now),
                // Nothing may come before a Logon; a garbled one gets no answer.
                Err(_) => Flow::Close,
            };
        };
        if let Some(sess) = self.sessions.get_mut(s) {
            sess.last_recv = now;
            sess.test_request_at = None;
        }
        let flow = match parsed {
            Ok((view, header)) => self.on_message(s, &view, &header, frame, now, commands),
            Err(e) => self.on_malformed(s, frame, &e, now),
        };
        if flow == Flow::Close {
            return flow;
        }
        self.drain_queue(s, now, commands)
    }

    /// Processes queued messages whose turn has come.
    fn drain_queue(&mut self, s: usize, now: u64, commands: &mut Vec<Command>) -> Flow {
        loop {
            let Some(sess) = self.sessions.get_mut(s) else {
                return Flow::Continue;
            };
            if sess.resend_until.is_some_and(|u| sess.next_in > u) {
                sess.resend_until = None;
            }
            let Some(entry) = sess.queue.first_entry() else {
                return Flow::Continue;
            };
            if *entry.key() > sess.next_in {
                return Flow::Continue;
            }
            let stale = *entry.key() < sess.next_in;
            let frame = entry.remove();
            if stale {
                continue;
            }
            let parsed = MessageView::parse(&frame).and_then(|v| Ok((v, v.header()?)));
            let flow = match parsed {
                Ok((view, header)) => self.on_message(s, &view, &header, &frame, now, commands),
                Err(e) => self.on_malformed(s, &frame, &e, now),
            };
            if flow == Flow::Close {
                return flow;
            }
        }
    }

    /// A message whose structure or header is broken: Reject(3) it if its
    /// MsgSeqNum can be read (it still uses up that number), else ignore it.
    fn on_malformed(&mut self, s: usize, frame: &[u8], e: &FieldError, now: u64) -> Flow {
        let (seq, msg_type) = salvage_header(frame);
        let Some(seq) = seq else {
            if e.tag == tag::MSG_SEQ_NUM {
                self.send_logout(s, now, b"MsgSeqNum(34) missing");
                return Flow::Close;
            }
            return Flow::Continue;
        };
        match self.gate(s, seq, true, frame, now) {
            Gate::Process => {
                self.send_reject(s, now, seq, msg_type, e);
                self.advance(s, seq);
                Flow::Continue
            }
            Gate::Skip => Flow::Continue,
            Gate::Close => Flow::Close,
        }
    }

    /// The first message of a connection: it must be a Logon for a configured session.
    fn on_logon(
        &mut self,
        link: &mut Link,
        view: &MessageView<'_>,
        header: &Header<'_>,
        now: u64,
    ) -> Flow {
        if view.msg_type() != Logon::MSG_TYPE {
            return Flow::Close;
        }
        let logon = match Logon::decode(view) {
            Ok(l) => l,
            Err(e) => {
                self.refuse(link, header, now, e.detail.as_bytes());
                return Flow::Close;
            }
        };
        let key = (
            FixId::new(header.sender_comp_id).unwrap_or_default(),
            FixId::new(header.target_comp_id).unwrap_or_default(),
        );
        let Some(&s) = self.by_comp.get(&key) else {
            self.refuse(link, header, now, b"unknown CompID: no such session");
            return Flow::Close;
        };
        let default_hb = self.default_heartbeat_secs;
        let Some(sess) = self.sessions.get_mut(s) else {
            return Flow::Close;
        };
        if sess.conn.is_some() {
            self.refuse(link, header, now, b"session already logged on");
            return Flow::Close;
        }
        if logon.encrypt_method != 0 {
            self.refuse(link, header, now, b"EncryptMethod(98) must be 0");
            return Flow::Close;
        }
        let seq = header.msg_seq_num;
        if logon.reset_seq_num_flag {
            if seq != 1 {
                self.refuse(link, header, now, b"ResetSeqNumFlag=Y needs MsgSeqNum 1");
                return Flow::Close;
            }
            sess.next_in = 1;
            sess.next_out = 1;
            sess.store.clear();
        }
        let hb_secs = if logon.heart_bt_int == 0 {
            default_hb
        } else {
            logon.heart_bt_int
        };
        link.session = Some(s);
        sess.conn = Some(link.id);
        sess.tx.clear();
        sess.queue.clear();
        sess.resend_until = None;
        sess.heartbeat_ns = u64::from(hb_secs) * 1_000_000_000;
        sess.last_recv = now;
        sess.last_sent = now;
        sess.test_request_at = None;
        if seq < sess.next_in {
            let text = format!(
                "MsgSeqNum too low, expecting {} but received {seq}",
                sess.next_in
            );
            self.send_logout(s, now, text.as_bytes());
            return Flow::Close;
        }
        let reply = Logon {
            encrypt_method: 0,
            heart_bt_int: hb_secs,
            reset_seq_num_flag: logon.reset_seq_num_flag,
        };
        self.send(s, now, false, |h, b| reply.encode(h, b));
        let Some(sess) = self.sessions.get_mut(s) else {
            return Flow::Close;
        };
        if seq == sess.next_in {
            sess.next_in += 1;
        } else {
            let request = ResendRequest {
                begin_seq_no: sess.next_in,
                end_seq_no: 0,
            };
            sess.resend_until = Some(seq);
            self.send(s, now, false, |h, b| request.encode(h, b));
        }
        Flow::Continue
    }

    /// Marks `seq` as processed.
    fn advance(&mut self, s: usize, seq: u64) {
        if let Some(sess) = self.sessions.get_mut(s) {
            sess.next_in = sess.next_in.max(seq + 1);
        }
    }

    /// The MsgSeqNum check for a message of a logged-on session.
    fn gate(&mut self, s: usize, seq: u64, poss_dup: bool, frame: &[u8], now: u64) -> Gate {
        let Some(sess) = self.sessions.get_mut(s) else {
            return Gate::Close;
        };
        let expected = sess.next_in;
        if seq == expected {
            return Gate::Process;
        }
        if seq < expected {
            if poss_dup {
                return Gate::Skip;
            }
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            self.send_logout(s, now, text.as_bytes());
            return Gate::Close;
        }
        if sess.queue.len() >= MAX_QUEUED {
            self.send_logout(s, now, b"too many messages out of sequence");
            return Gate::Close;
        }
        sess.queue.entry(seq).or_insert_with(|| frame.to_vec());
        self.request_gap(s, seq, now);
        Gate::Skip
    }

    /// Asks for the messages before `seq`, unless a request is outstanding.
    fn request_gap(&mut self, s: usize, seq: u64, now: u64) {
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        if let Some(until) = sess.resend_until {
            // EndSeqNo=0 asked for everything: one request covers later gaps too.
            sess.resend_until = Some(until.max(seq));
            return;
        }
        sess.resend_until = Some(seq);
        let request = ResendRequest {
            begin_seq_no: sess.next_in,
            end_seq_no: 0,
        };
        self.send(s, now, false, |h, b| request.encode(h, b));
    }

    /// A well-formed message of a logged-on session.
    fn on_message(
        &mut self,
        s: usize,
        view: &MessageView<'_>,
        header: &Header<'_>,
        frame: &[u8],
        now: u64,
        commands: &mut Vec<Command>,
    ) -> Flow {
        let (client, us) = match self.sessions.get(s) {
            Some(sess) => (sess.client, sess.us),
            None => return Flow::Close,
        };
        let seq = header.msg_seq_num;
        let msg_type = view.msg_type();
        if header.sender_comp_id != client.as_bytes() || header.target_comp_id != us.as_bytes() {
            let e = FieldError::new(
                if header.sender_comp_id == client.as_bytes() {
                    tag::TARGET_COMP_ID
                } else {
                    tag::SENDER_COMP_ID
                },
                SessionRejectReason::CompIdProblem,
                "CompID does not match the session",
            );
            self.send_reject(s, now, seq, Some(msg_type), &e);
            self.send_logout(s, now, b"CompID problem");
            return Flow::Close;
        }
        // Messages that act whatever their sequence number.
        match msg_type {
            b"4" => {
                if let Ok(reset) = SequenceReset::decode(view) {
                    if !reset.gap_fill {
                        return self.on_sequence_reset(s, seq, reset.new_seq_no, now);
                    }
                }
            }
            b"5" => {
                if let Some(sess) = self.sessions.get(s) {
                    if seq == sess.next_in {
                        self.advance(s, seq);
                    }
                }
                self.send_logout(s, now, b"logout acknowledged");
                return Flow::Close;
            }
            b"2" => {
                if let Ok(r) = ResendRequest::decode(view) {
                    let next_in = self.sessions.get(s).map_or(0, |x| x.next_in);
                    if seq < next_in && !header.poss_dup {
                        let text =
                            format!("MsgSeqNum too low, expecting {next_in} but received {seq}");
                        self.send_logout(s, now, text.as_bytes());
                        return Flow::Close;
                    }
                    if seq >= next_in || !header.poss_dup {
                        self.resend(s, r.begin_seq_no, r.end_seq_no, now);
                    }
                    if seq == next_in {
                        self.advance(s, seq);
                    } else if seq > next_in {
                        self.request_gap(s, seq, now);
                    }
                    return Flow::Continue;
                }
            }
            b"A" => {
                self.send_logout(s, now, b"Logon received while logged on");
                return Flow::Close;
            }
            _ => {}
        }
        match self.gate(s, seq, header.poss_dup, frame, now) {
            Gate::Process => {}
            Gate::Skip => return Flow::Continue,
            Gate::Close => return Flow::Close,
        }
        let msg = match Message::decode(view) {
            Ok(m) => m,
            Err(e) => {
                self.send_reject(s, now, seq, Some(msg_type), &e);
                self.advance(s, seq);
                return Flow::Continue;
            }
        };
        self.advance(s, seq);
        match msg {
            Message::Heartbeat(_) | Message::Reject(_) => {}
            Message::TestRequest(t) => {
                let hb = Heartbeat {
                    test_req_id: Some(t.test_req_id),
                };
                self.send(s, now, false, |h, b| hb.encode(h, b));
            }
            Message::SequenceReset(r) => {
                if r.new_seq_no > seq {
                    if let Some(sess) = self.sessions.get_mut(s) {
                        sess.next_in = sess.next_in.max(r.new_seq_no);
                    }
                } else {
                    let e = FieldError::value(tag::NEW_SEQ_NO, "NewSeqNo does not move forward");
                    self.send_reject(s, now, seq, Some(msg_type), &e);
                }
            }
            Message::NewOrderSingle(m) => self.on_new_order(s, &m, header.poss_dup, now, commands),
            Message::OrderCancelRequest(m) => self.on_cancel(s, &m, header.poss_dup, now, commands),
            Message::OrderCancelReplaceRequest(m) => {
                self.on_replace(s, &m, header.poss_dup, now, commands);
            }
            Message::Logon(_)
            | Message::Logout(_)
            | Message::ResendRequest(_)
            | Message::ExecutionReport(_)
            | Message::OrderCancelReject(_) => {
                let e = FieldError::new(
                    tag::MSG_TYPE,
                    SessionRejectReason::InvalidMsgType,
                    "MsgType not accepted from the initiator",
                );
                self.send_reject(s, now, seq, Some(msg_type), &e);
            }
        }
        Flow::Continue
    }

    /// SequenceReset in reset mode: NewSeqNo is the next number, whatever this one's.
    fn on_sequence_reset(&mut self, s: usize, seq: u64, new_seq_no: u64, now: u64) -> Flow {
        let Some(sess) = self.sessions.get_mut(s) else {
            return Flow::Close;
        };
        if new_seq_no < sess.next_in {
            let e = FieldError::value(tag::NEW_SEQ_NO, "NewSeqNo below the expected MsgSeqNum");
            self.send_reject(s, now, seq, Some(SequenceReset::MSG_TYPE), &e);
        } else {
            sess.next_in = new_seq_no;
        }
        Flow::Continue
    }

    /// Heartbeats, TestRequests and the unanswered-TestRequest disconnect.
    pub(crate) fn on_timer(&mut self, s: usize, now: u64) -> Flow {
        let Some(sess) = self.sessions.get_mut(s) else {
            return Flow::Close;
        };
        let hb = sess.heartbeat_ns;
        if hb == 0 {
            return Flow::Continue;
        }
        let grace = hb / 5;
        match sess.test_request_at {
            Some(at) if now.saturating_sub(at) >= hb + grace => {
                self.send_logout(s, now, b"TestRequest not answered");
                return Flow::Close;
            }
            None if now.saturating_sub(sess.last_recv) >= hb + grace => {
                sess.test_requests += 1;
                sess.test_request_at = Some(now);
                let mut digits = [0u8; 20];
                let mut id = *b"TEST00000000000000000000";
                let d = decimal(sess.test_requests, &mut digits);
                let len = 4 + d.len();
                id[4..len].copy_from_slice(d);
                self.send(s, now, false, |h, b| {
                    TestRequest {
                        test_req_id: &id[..len],
                    }
                    .encode(h, b)
                });
                return Flow::Continue;
            }
            _ => {}
        }
        if now.saturating_sub(sess.last_sent) >= hb {
            self.send(s, now, false, |h, b| Heartbeat::default().encode(h, b));
        }
        Flow::Continue
    }

    /// The session's connection is gone: forget the connection, keep the
    /// sequence numbers, and cancel its orders if configured.
    pub(crate) fn on_disconnect(&mut self, s: usize, commands: &mut Vec<Command>, now: u64) {
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        sess.conn = None;
        sess.tx.clear();
        sess.queue.clear();
        sess.resend_until = None;
        sess.test_request_at = None;
        if !sess.cancel_on_disconnect {
            return;
        }
        let ts = quotewire_core::Timestamp(now);
        for key in &sess.live {
            let Some(o) = self.orders.get_mut(key) else {
                continue;
            };
            let firm = o.firm;
            let cancel = |client_id| {
                Command::Cancel(CancelOrder {
                    ts,
                    firm,
                    client_id: ClientOrderId(client_id),
                    leave_qty: Qty(0),
                })
            };
            match o.pending {
                Pending::Cancel(_) | Pending::Disconnect => {}
                Pending::Replace { new_id, .. } => {
                    // The replace runs first: cancel whichever id survives it
                    // (the other cancel is refused as unknown and ignored).
                    commands.push(cancel(new_id));
                    commands.push(cancel(o.client_id));
                }
                Pending::None => {
                    o.pending = Pending::Disconnect;
                    commands.push(cancel(o.client_id));
                }
            }
        }
    }

    // ---------------------------------------------------------------------
    // Application messages

    fn new_exec_id(&mut self) -> FixId {
        let mut d = [0u8; 20];
        let id = FixId::new(decimal(self.next_exec_id, &mut d)).unwrap_or_default();
        self.next_exec_id += 1;
        id
    }

    /// An ExecutionReport rejecting a NewOrderSingle before it reaches the engine.
    fn reject_new(&mut self, s: usize, m: &NewOrderSingle<'_>, reason: u32, text: &[u8], now: u64) {
        let exec_id = self.new_exec_id();
        let report = ExecutionReport {
            order_id: NONE_ID,
            cl_ord_id: Some(m.cl_ord_id),
            orig_cl_ord_id: None,
            exec_id: exec_id.as_bytes(),
            exec_type: ExecType::Rejected,
            ord_status: OrdStatus::Rejected,
            ord_rej_reason: Some(reason),
            account: m.account,
            symbol: m.symbol,
            side: m.side,
            order_qty: Some(m.order_qty),
            ord_type: Some(m.ord_type),
            price: m.price,
            time_in_force: m.time_in_force,
            exec_inst: m.exec_inst,
            last_qty: None,
            last_px: None,
            leaves_qty: Qty(0),
            cum_qty: Qty(0),
            avg_px: Price(0),
            transact_time: Some(now),
            text: Some(text),
        };
        self.send(s, now, true, |h, b| report.encode(h, b));
    }

    fn on_new_order(
        &mut self,
        s: usize,
        m: &NewOrderSingle<'_>,
        poss_dup: bool,
        now: u64,
        commands: &mut Vec<Command>,
    ) {
        let Ok(cl) = FixId::new(m.cl_ord_id) else {
            return self.reject_new(s, m, 99, b"ClOrdID longer than 32 bytes", now);
        };
        let Some(sess) = self.sessions.get(s) else {
            return;
        };
        let firm = sess.firm;
        if sess.ids.contains_key(&cl) {
            if poss_dup {
                return; // already seen: a resend of what we processed
            }
            return self.reject_new(s, m, 6, b"duplicate ClOrdID", now);
        }
        let symbol = FixId::new(m.symbol)
            .ok()
            .and_then(|x| self.by_symbol.get(&x).copied());
        let Some(symbol) = symbol else {
            return self.reject_new(s, m, 1, b"unknown symbol", now);
        };
        if m.ord_type != OrdType::Limit {
            return self.reject_new(s, m, 11, b"only limit orders (OrdType=2)", now);
        }
        let Some(price) = m.price else {
            return self.reject_new(s, m, 99, b"Price required", now);
        };
        let tif = m.time_in_force.unwrap_or(TimeInForce::Day);
        let post_only = m.exec_inst.is_post_only();
        let order_type = match (tif, post_only) {
            (TimeInForce::Day, false) => OrderType::Limit,
            (TimeInForce::Day, true) => OrderType::PostOnly,
            (TimeInForce::ImmediateOrCancel, false) => OrderType::Ioc,
            (TimeInForce::ImmediateOrCancel, true) => {
                return self.reject_new(s, m, 11, b"post-only orders cannot be IOC", now);
            }
            _ => return self.reject_new(s, m, 11, b"TimeInForce must be 0 (Day) or 3 (IOC)", now),
        };
        let client_id = self.next_client_id;
        self.next_client_id += 1;
        let key = client_id;
        self.orders.insert(
            key,
            OrderRec {
                session: s,
                firm,
                client_id,
                cl,
                order_ref: OrderId(0),
                symbol,
                side: m.side,
                price,
                order_qty: m.order_qty,
                cum: Qty(0),
                leaves: m.order_qty,
                notional: 0,
                tif,
                post_only,
                status: OrdStatus::PendingNew,
                pending: Pending::None,
            },
        );
        self.engine_ids.insert(client_id, key);
        if let Some(sess) = self.sessions.get_mut(s) {
            sess.ids.insert(cl, key);
            sess.live.insert(key);
        }
        commands.push(Command::New(NewOrder {
            ts: quotewire_core::Timestamp(now),
            firm,
            client_id: ClientOrderId(client_id),
            instrument: self.instruments.get(symbol).copied().unwrap_or_default(),
            side: m.side,
            price,
            qty: m.order_qty,
            order_type,
        }));
    }

    /// An OrderCancelReject built from the request's own fields.
    #[allow(clippy::too_many_arguments)]
    fn cancel_reject(
        &mut self,
        s: usize,
        order_id: &[u8],
        cl: &[u8],
        orig: &[u8],
        status: OrdStatus,
        response_to: fix::CxlRejResponseTo,
        reason: u32,
        text: &[u8],
        now: u64,
    ) {
        let reject = OrderCancelReject {
            order_id,
            cl_ord_id: cl,
            orig_cl_ord_id: orig,
            ord_status: status,
            account: None,
            transact_time: Some(now),
            cxl_rej_response_to: response_to,
            cxl_rej_reason: Some(reason),
            text: Some(text),
        };
        self.send(s, now, true, |h, b| reject.encode(h, b));
    }

    /// Finds the open order a cancel or replace names, or answers with an
    /// OrderCancelReject and returns `None`.
    #[allow(clippy::too_many_arguments)]
    fn target(
        &mut self,
        s: usize,
        cl_ord_id: &[u8],
        orig_cl_ord_id: &[u8],
        poss_dup: bool,
        response_to: fix::CxlRejResponseTo,
        now: u64,
    ) -> Option<(u64, FixId)> {
        let reject = |core: &mut Self, order_id: &[u8], status, reason, text: &[u8]| {
            core.cancel_reject(
                s,
                order_id,
                cl_ord_id,
                orig_cl_ord_id,
                status,
                response_to,
                reason,
                text,
                now,
            );
        };
        let Ok(cl) = FixId::new(cl_ord_id) else {
            reject(
                self,
                NONE_ID,
                OrdStatus::Rejected,
                99,
                b"ClOrdID longer than 32 bytes",
            );
            return None;
        };
        let sess = self.sessions.get(s)?;
        if sess.ids.contains_key(&cl) {
            if !poss_dup {
                reject(self, NONE_ID, OrdStatus::Rejected, 6, b"duplicate ClOrdID");
            }
            return None;
        }
        let key = FixId::new(orig_cl_ord_id)
            .ok()
            .and_then(|o| sess.ids.get(&o).copied());
        let Some(key) = key else {
            reject(self, NONE_ID, OrdStatus::Rejected, 1, b"unknown order");
            return None;
        };
        let Some(o) = self.orders.get(&key).copied() else {
            let status = self
                .finished
                .get(&key)
                .copied()
                .unwrap_or(OrdStatus::Rejected);
            reject(
                self,
                NONE_ID,
                status,
                0,
                b"too late to cancel: the order is done",
            );
            return None;
        };
        let mut d = [0u8; 20];
        let order_id = decimal(o.order_ref.0, &mut d);
        let order_id = if o.order_ref.0 == 0 {
            NONE_ID
        } else {
            order_id
        };
        if o.pending != Pending::None {
            reject(
                self,
                order_id,
                o.status,
                3,
                b"a request for the order is pending",
            );
            return None;
        }
        Some((key, cl))
    }

    fn on_cancel(
        &mut self,
        s: usize,
        m: &OrderCancelRequest<'_>,
        poss_dup: bool,
        now: u64,
        commands: &mut Vec<Command>,
    ) {
        let to = fix::CxlRejResponseTo::OrderCancelRequest;
        let Some((key, cl)) = self.target(s, m.cl_ord_id, m.orig_cl_ord_id, poss_dup, to, now)
        else {
            return;
        };
        let Some(o) = self.orders.get_mut(&key) else {
            return;
        };
        o.pending = Pending::Cancel(cl);
        let (firm, client_id) = (o.firm, o.client_id);
        if let Some(sess) = self.sessions.get_mut(s) {
            sess.ids.insert(cl, key);
        }
        commands.push(Command::Cancel(CancelOrder {
            ts: quotewire_core::Timestamp(now),
            firm,
            client_id: ClientOrderId(client_id),
            leave_qty: Qty(0),
        }));
    }

    fn on_replace(
        &mut self,
        s: usize,
        m: &OrderCancelReplaceRequest<'_>,
        poss_dup: bool,
        now: u64,
        commands: &mut Vec<Command>,
    ) {
        let to = fix::CxlRejResponseTo::OrderCancelReplaceRequest;
        let Some((key, cl)) = self.target(s, m.cl_ord_id, m.orig_cl_ord_id, poss_dup, to, now)
        else {
            return;
        };
        let Some(o) = self.orders.get(&key).copied() else {
            return;
        };
        let mut d = [0u8; 20];
        let order_id = decimal(o.order_ref.0, &mut d);
        let refuse = |core: &mut Self, text: &[u8]| {
            let orig = o.cl;
            core.cancel_reject(
                s,
                order_id,
                m.cl_ord_id,
                orig.as_bytes(),
                o.status,
                to,
                99,
                text,
                now,
            );
        };
        let (OrdType::Limit, Some(price)) = (m.ord_type, m.price) else {
            return refuse(self, b"only limit orders with a Price");
        };
        if m.order_qty <= o.cum {
            return refuse(self, b"OrderQty must exceed CumQty");
        }
        let client_id = self.next_client_id;
        self.next_client_id += 1;
        if let Some(rec) = self.orders.get_mut(&key) {
            rec.pending = Pending::Replace {
                cl,
                order_qty: m.order_qty,
                new_id: client_id,
            };
        }
        if let Some(sess) = self.sessions.get_mut(s) {
            sess.ids.insert(cl, key);
        }
        commands.push(Command::Replace(ReplaceOrder {
            ts: quotewire_core::Timestamp(now),
            firm: o.firm,
            orig_client_id: ClientOrderId(o.client_id),
            client_id: ClientOrderId(client_id),
            price,
            qty: Qty(m.order_qty.0 - o.cum.0),
        }));
    }

    // ---------------------------------------------------------------------
    // Events

    /// The key of our order with this engine id, if the firm matches.
    fn find(&self, firm: FirmId, client_id: ClientOrderId) -> Option<u64> {
        let key = *self.engine_ids.get(&client_id.0)?;
        (self.orders.get(&key)?.firm == firm).then_some(key)
    }

    pub(crate) fn on_events(&mut self, now: u64, events: &[Event]) {
        for event in events {
            match event {
                Event::Accepted(a) => {
                    let Some(key) = self.find(a.firm, a.client_id) else {
                        continue;
                    };
                    let Some(o) = self.orders.get_mut(&key) else {
                        continue;
                    };
                    o.order_ref = a.order_ref;
                    o.status = OrdStatus::New;
                    let cl = o.cl;
                    self.report(key, ExecType::New, cl, None, None, None, None, now);
                }
                Event::Executed(e) => {
                    if let Some(key) = self.find(e.resting_firm, e.resting_client_id) {
                        self.on_fill(key, e, e.resting_remaining, now);
                    }
                    if let Some(key) = self.find(e.aggressor_firm, e.aggressor_client_id) {
                        self.on_fill(key, e, e.aggressor_remaining, now);
                    }
                }
                Event::Canceled(c) => {
                    if let Some(key) = self.find(c.firm, c.client_id) {
                        self.on_canceled(key, c, now);
                    }
                }
                Event::Replaced(r) => {
                    if let Some(key) = self.find(r.firm, r.orig_client_id) {
                        self.on_replaced(key, r, now);
                    }
                }
                Event::Rejected(r) => {
                    let target = match r.request {
                        RequestKind::Replace => r.orig_client_id,
                        RequestKind::New | RequestKind::Cancel => r.client_id,
                    };
                    if let Some(key) = self.find(r.firm, target) {
                        self.on_rejected(key, r, now);
                    }
                }
                Event::Booked(_) => {}
            }
        }
    }

    fn on_fill(&mut self, key: u64, e: &Executed, remaining: Qty, now: u64) {
        let Some(o) = self.orders.get_mut(&key) else {
            return;
        };
        o.cum = Qty(o.cum.0 + e.qty.0);
        o.leaves = remaining;
        o.notional += i128::from(e.price.0) * i128::from(e.qty.0);
        o.status = if remaining.0 == 0 {
            OrdStatus::Filled
        } else {
            OrdStatus::PartiallyFilled
        };
        let cl = o.cl;
        self.report(
            key,
            ExecType::Trade,
            cl,
            None,
            Some((e.qty, e.price)),
            None,
            None,
            now,
        );
        if remaining.0 == 0 {
            self.finish(key, now);
        }
    }

    fn on_canceled(&mut self, key: u64, c: &Canceled, now: u64) {
        let Some(o) = self.orders.get_mut(&key) else {
            return;
        };
        o.leaves = c.remaining;
        let done = c.remaining.0 == 0;
        let (cl, orig, exec_type) = match (o.pending, c.reason, done) {
            (Pending::Cancel(req), CancelReason::User, true) => {
                o.pending = Pending::None;
                (req, Some(o.cl), ExecType::Canceled)
            }
            (_, _, true) => {
                if o.pending == Pending::Disconnect {
                    o.pending = Pending::None;
                }
                (o.cl, None, ExecType::Canceled)
            }
            (_, _, false) => (o.cl, None, ExecType::Replaced),
        };
        if done {
            o.status = OrdStatus::Canceled;
            o.cl = cl;
        } else {
            o.order_qty = Qty(o.cum.0 + c.remaining.0);
        }
        let text: Option<&'static [u8]> = match c.reason {
            CancelReason::User => None,
            CancelReason::ImmediateOrCancel => Some(b"IOC remainder canceled"),
            CancelReason::SelfMatch => Some(b"self-match prevention"),
        };
        self.report(key, exec_type, cl, orig, None, None, text, now);
        if done {
            self.finish(key, now);
        }
    }

    fn on_replaced(&mut self, key: u64, r: &Replaced, now: u64) {
        let Some(o) = self.orders.get_mut(&key) else {
            return;
        };
        let orig = o.cl;
        if let Pending::Replace { cl, order_qty, .. } = o.pending {
            o.cl = cl;
            o.order_qty = order_qty;
        } else {
            o.order_qty = Qty(o.cum.0 + r.qty.0);
        }
        o.pending = Pending::None;
        o.order_ref = r.new_ref;
        o.price = r.price;
        o.leaves = r.qty;
        o.client_id = r.client_id.0;
        o.status = if o.cum.0 > 0 {
            OrdStatus::PartiallyFilled
        } else {
            OrdStatus::New
        };
        let cl = o.cl;
        self.engine_ids.remove(&r.orig_client_id.0);
        self.engine_ids.insert(r.client_id.0, key);
        self.report(
            key,
            ExecType::Replaced,
            cl,
            Some(orig),
            None,
            None,
            None,
            now,
        );
    }

    fn on_rejected(&mut self, key: u64, r: &Rejected, now: u64) {
        let Some(o) = self.orders.get_mut(&key) else {
            return;
        };
        let text = r.reason.to_string();
        match r.request {
            RequestKind::New => {
                o.status = OrdStatus::Rejected;
                o.leaves = Qty(0);
                let cl = o.cl;
                let reason = Some(ord_rej_reason(r.reason));
                self.report(
                    key,
                    ExecType::Rejected,
                    cl,
                    None,
                    None,
                    reason,
                    Some(text.as_bytes()),
                    now,
                );
                self.finish(key, now);
            }
            RequestKind::Cancel | RequestKind::Replace => {
                let (req, to) = match (o.pending, r.request) {
                    (Pending::Cancel(req), RequestKind::Cancel) => {
                        (req, fix::CxlRejResponseTo::OrderCancelRequest)
                    }
                    (Pending::Replace { cl, .. }, RequestKind::Replace) => {
                        (cl, fix::CxlRejResponseTo::OrderCancelReplaceRequest)
                    }
                    // A cancel-on-disconnect that found nothing: nobody asked.
                    _ => return,
                };
                o.pending = Pending::None;
                let o = *o;
                let mut d = [0u8; 20];
                let order_id = decimal(o.order_ref.0, &mut d);
                let reason = cxl_rej_reason(r.reason);
                self.cancel_reject(
                    o.session,
                    order_id,
                    req.as_bytes(),
                    o.cl.as_bytes(),
                    o.status,
                    to,
                    reason,
                    text.as_bytes(),
                    now,
                );
            }
        }
    }

    /// Forgets a done order, keeping its final status. A cancel or replace
    /// still pending for it (the order filled or was refused first) is
    /// answered here: the engine's refusal of it no longer finds the order.
    fn finish(&mut self, key: u64, now: u64) {
        let Some(o) = self.orders.remove(&key) else {
            return;
        };
        self.engine_ids.remove(&o.client_id);
        self.finished.insert(key, o.status);
        if let Some(sess) = self.sessions.get_mut(o.session) {
            sess.live.remove(&key);
        }
        let (req, to) = match o.pending {
            Pending::Cancel(req) => (req, fix::CxlRejResponseTo::OrderCancelRequest),
            Pending::Replace { cl, .. } => (cl, fix::CxlRejResponseTo::OrderCancelReplaceRequest),
            Pending::None | Pending::Disconnect => return,
        };
        let mut d = [0u8; 20];
        let order_id = if o.order_ref.0 == 0 {
            NONE_ID
        } else {
            decimal(o.order_ref.0, &mut d)
        };
        self.cancel_reject(
            o.session,
            order_id,
            req.as_bytes(),
            o.cl.as_bytes(),
            o.status,
            to,
            0,
            b"too late to cancel: the order is done",
            now,
        );
    }

    /// An ExecutionReport about one of our orders, from its current state.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        key: u64,
        exec_type: ExecType,
        cl: FixId,
        orig: Option<FixId>,
        last: Option<(Qty, Price)>,
        ord_rej_reason: Option<u32>,
        text: Option<&[u8]>,
        now: u64,
    ) {
        let Some(o) = self.orders.get(&key).copied() else {
            return;
        };
        let exec_id = self.new_exec_id();
        let mut d = [0u8; 20];
        let order_id = if o.order_ref.0 == 0 {
            NONE_ID
        } else {
            decimal(o.order_ref.0, &mut d)
        };
        let avg_px = if o.cum.0 == 0 {
            Price(0)
        } else {
            Price((o.notional / i128::from(o.cum.0)) as i64)
        };
        let symbol = self.symbols.get(o.symbol).copied().unwrap_or_default();
        let report = ExecutionReport {
            order_id,
            cl_ord_id: Some(cl.as_bytes()),
            orig_cl_ord_id: orig.as_ref().map(FixId::as_bytes),
            exec_id: exec_id.as_bytes(),
            exec_type,
            ord_status: o.status,
            ord_rej_reason,
            account: None,
            symbol: symbol.as_bytes(),
            side: o.side,
            order_qty: Some(o.order_qty),
            ord_type: Some(OrdType::Limit),
            price: Some(o.price),
            time_in_force: Some(o.tif),
            exec_inst: if o.post_only {
                ExecInst::post_only()
            } else {
                ExecInst::EMPTY
            },
            last_qty: last.map(|l| l.0),
            last_px: last.map(|l| l.1),
            leaves_qty: o.leaves,
            cum_qty: o.cum,
            avg_px,
            transact_time: Some(now),
            text,
        };
        self.send(o.session, now, true, |h, b| report.encode(h, b));
    }
}

/// Outcome of the MsgSeqNum check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// The expected number: process it.
    Process,
    /// Queued (too high) or ignored (a possible duplicate already seen).
    Skip,
    /// Too low without PossDupFlag: logged out.
    Close,
}
