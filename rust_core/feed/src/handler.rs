//! The busy-poll step tying transports to a [`Sequencer`].

use quotewire_protocol::moldudp64::REQUEST_LEN;
use quotewire_transport::{Transport, MAX_UDP_PAYLOAD};

use crate::{FeedEvent, FeedSink, FeedStats, Line, Sequencer};

/// One MoldUDP64 feed: line A, an optional redundant line B, and an optional
/// retransmission transport that both sends re-requests and receives the
/// replies, all feeding one [`Sequencer`].
///
/// Call [`FeedHandler::poll`] in the busy loop. Each call takes at most
/// `burst` datagrams from each transport (so one busy line cannot starve the
/// others), runs the sequencer's timers and sends a due re-request.
#[derive(Debug)]
pub struct FeedHandler<T: Transport, R: Transport = T> {
    line_a: T,
    line_b: Option<T>,
    retransmit: Option<R>,
    sequencer: Sequencer,
    scratch: Box<[u8]>,
    request: [u8; REQUEST_LEN],
    burst: usize,
}

impl<T: Transport, R: Transport> FeedHandler<T, R> {
    /// Builds a handler; allocates its receive buffer once.
    pub fn new(sequencer: Sequencer, line_a: T, line_b: Option<T>, retransmit: Option<R>) -> Self {
        Self {
            line_a,
            line_b,
            retransmit,
            sequencer,
            scratch: vec![0u8; MAX_UDP_PAYLOAD].into_boxed_slice(),
            request: [0u8; REQUEST_LEN],
            burst: 32,
        }
    }

    /// Sets the most datagrams taken from each transport per poll (at least 1).
    #[must_use]
    pub fn with_burst(mut self, burst: usize) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// One busy-poll step at `now_ns`; returns the work done (datagrams
    /// processed plus re-requests sent), 0 when idle.
    pub fn poll<S: FeedSink>(&mut self, now_ns: u64, sink: &mut S) -> usize {
        let Self {
            line_a,
            line_b,
            retransmit,
            sequencer,
            scratch,
            request,
            burst,
        } = self;
        let mut work = recv_line(line_a, Line::A, sequencer, scratch, *burst, now_ns, sink);
        if let Some(b) = line_b {
            work += recv_line(b, Line::B, sequencer, scratch, *burst, now_ns, sink);
        }
        if let Some(r) = retransmit.as_mut() {
            work += recv_line(
                r,
                Line::Retransmit,
                sequencer,
                scratch,
                *burst,
                now_ns,
                sink,
            );
        }
        if let Some(req) = sequencer.poll(now_ns, sink) {
            if let Some(r) = retransmit.as_mut() {
                let sent = req.encode(request).is_ok() && r.send(&request[..]).is_ok();
                let stats = sequencer.stats_mut();
                if sent {
                    stats.requests_sent += 1;
                } else {
                    stats.send_errors += 1;
                    sink.event(FeedEvent::TransportFault {
                        line: Line::Retransmit,
                    });
                }
                work += 1;
            }
        }
        work
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> &FeedStats {
        self.sequencer.stats()
    }

    /// The sequencer.
    #[must_use]
    pub const fn sequencer(&self) -> &Sequencer {
        &self.sequencer
    }

    /// The sequencer, to reset it for a new session.
    pub fn sequencer_mut(&mut self) -> &mut Sequencer {
        &mut self.sequencer
    }

    /// Gives the parts back.
    pub fn into_parts(self) -> (Sequencer, T, Option<T>, Option<R>) {
        (self.sequencer, self.line_a, self.line_b, self.retransmit)
    }
}

fn recv_line<X: Transport, S: FeedSink>(
    t: &mut X,
    line: Line,
    sequencer: &mut Sequencer,
    scratch: &mut [u8],
    burst: usize,
    now_ns: u64,
    sink: &mut S,
) -> usize {
    match t.recv_burst(scratch, burst, |payload, _ts| {
        sequencer.on_packet(now_ns, line, payload, sink);
    }) {
        Ok(n) => n,
        Err(_) => {
            sequencer.stats_mut().lines[line.index()].recv_errors += 1;
            sink.event(FeedEvent::TransportFault { line });
            1
        }
    }
}
