//! [`SessionGateway`]: the engine's order session, OUCH or FIX, chosen by
//! configuration and dispatched by a `match` (no trait objects, no
//! allocation), with the few session-level operations the engine needs
//! beyond [`OrderGateway`] (highest id sent, replay from the start, close).

use std::io;

use quotewire_core::order::OrderRequest;

use crate::event::{GatewaySink, OrderGateway, SessionStatus};
use crate::{FixClient, GatewayError, GatewayStats, OuchClient};

/// An order session over either protocol; implements [`OrderGateway`] by delegation.
// One per engine, held inline by the trader: boxing the larger variant would
// add a pointer chase to every send and poll to save ~300 bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SessionGateway {
    /// OUCH 5.0 over SoupBinTCP 4.0.
    Ouch(OuchClient),
    /// FIX 4.4 initiator.
    Fix(FixClient),
}

impl SessionGateway {
    /// The protocol's name: `"ouch"` or `"fix"`.
    #[must_use]
    pub const fn protocol(&self) -> &'static str {
        match self {
            Self::Ouch(_) => "ouch",
            Self::Fix(_) => "fix",
        }
    }

    /// Common counters.
    #[must_use]
    pub const fn stats(&self) -> &GatewayStats {
        match self {
            Self::Ouch(c) => c.stats(),
            Self::Fix(c) => c.stats(),
        }
    }

    /// Highest order id ever sent, from the persisted state (0: none).
    #[must_use]
    pub const fn highest_cl(&self) -> u32 {
        match self {
            Self::Ouch(c) => c.state().highest_cl,
            Self::Fix(c) => c.state().highest_cl,
        }
    }

    /// Makes the next login ask the venue for every report of the session
    /// again: OUCH logs in at sequence 1 ([`OuchClient::replay_from_start`]);
    /// FIX expects incoming MsgSeqNum 1, so the Logon's higher number makes
    /// the client send a ResendRequest for everything (the OMS drops what it
    /// has already applied).
    pub fn replay_from_start(&mut self) {
        match self {
            Self::Ouch(c) => c.replay_from_start(),
            Self::Fix(c) => {
                let next_out = c.state().next_out;
                c.set_sequence_numbers(next_out, 1);
            }
        }
    }

    /// Drops the connection at once, without a logout (tests, operator tooling).
    pub fn disconnect(&mut self) {
        match self {
            Self::Ouch(c) => c.disconnect(),
            Self::Fix(c) => c.disconnect(),
        }
    }

    /// Logs out best effort, closes the connection and msyncs the state file.
    pub fn close(&mut self, now_ns: u64) -> io::Result<()> {
        match self {
            Self::Ouch(c) => c.close(now_ns),
            Self::Fix(c) => c.close(now_ns),
        }
    }
}

impl From<OuchClient> for SessionGateway {
    fn from(c: OuchClient) -> Self {
        Self::Ouch(c)
    }
}

impl From<FixClient> for SessionGateway {
    fn from(c: FixClient) -> Self {
        Self::Fix(c)
    }
}

impl OrderGateway for SessionGateway {
    #[inline]
    fn send(&mut self, now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        match self {
            Self::Ouch(c) => c.send(now_ns, req),
            Self::Fix(c) => c.send(now_ns, req),
        }
    }

    #[inline]
    fn flush(&mut self, now_ns: u64) -> Result<(), GatewayError> {
        match self {
            Self::Ouch(c) => c.flush(now_ns),
            Self::Fix(c) => c.flush(now_ns),
        }
    }

    #[inline]
    fn poll<S: GatewaySink>(&mut self, now_ns: u64, sink: &mut S) -> usize {
        match self {
            Self::Ouch(c) => c.poll(now_ns, sink),
            Self::Fix(c) => c.poll(now_ns, sink),
        }
    }

    #[inline]
    fn status(&self) -> SessionStatus {
        match self {
            Self::Ouch(c) => c.status(),
            Self::Fix(c) => c.status(),
        }
    }

    fn drop_session(&mut self) {
        self.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::*;
    use crate::{FixClientConfig, NullSink, OuchClientConfig};

    fn unreachable_addr() -> SocketAddr {
        // Bind then drop: nothing listens there.
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap()
    }

    #[test]
    fn fix_replay_from_start_rewinds_only_the_incoming_sequence() {
        let mut c =
            FixClient::new(FixClientConfig::new(unreachable_addr(), "QW", "VENUE")).unwrap();
        c.set_sequence_numbers(7, 9);
        let mut g = SessionGateway::from(c);
        assert_eq!(g.protocol(), "fix");
        g.replay_from_start();
        match &g {
            SessionGateway::Fix(c) => {
                assert_eq!(c.state().next_out, 7);
                assert_eq!(c.state().next_in, 1);
            }
            SessionGateway::Ouch(_) => unreachable!(),
        }
    }

    #[test]
    fn both_protocols_start_connecting_and_refuse_orders_before_login() {
        let addr = unreachable_addr();
        let ouch = OuchClient::new(OuchClientConfig::new(addr, "QW", "")).unwrap();
        let fix = FixClient::new(FixClientConfig::new(addr, "QW", "VENUE")).unwrap();
        for mut g in [SessionGateway::from(ouch), SessionGateway::from(fix)] {
            assert_eq!(g.highest_cl(), 0);
            let _ = g.poll(1, &mut NullSink);
            assert!(matches!(
                g.status(),
                SessionStatus::Connecting | SessionStatus::Down
            ));
            g.close(2).unwrap();
            assert_eq!(g.status(), SessionStatus::Ended);
        }
    }
}
