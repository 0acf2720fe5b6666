//! Crash recovery: what a restarted engine reads back from its journal (and
//! its intent log) before it connects, and what it makes of it.
//!
//! [`Trader::recover`](super::trader::Trader::recover) walks the journal in
//! order and re-applies every order request to the OMS as it was sent
//! ([`Oms::restore`](quotewire_oms::Oms::restore)), every execution report
//! through the path live reports take (OMS, positions, PnL, per-instrument
//! fill counts), every reconciliation point (`ready` notes) and the kill
//! switch and reduce-only changes (notes); then the requests of the intent
//! log that the journal's ring lost. What this module owns is the reading:
//! decoding records into [`Replayed`] items, parsing the notes that carry
//! state ([`NoteFact`]), choosing the intent log's tail ([`intent_tail`]) and
//! the [`Recovered`] summary. See `docs/recovery.md`.
//!
//! Must never: run on the fast path (it allocates and reads files; it runs
//! once, before the fast-path thread starts), or treat damage as fatal (a
//! corrupt record or torn tail is counted and skipped: the venue's replay
//! fills in what the journal lost).

use std::path::Path;

use quotewire_core::order::{ClOrdId, ExecReport, OrderRequest};
use quotewire_journal::{
    decode_report, decode_request, encode_request, Intent, JournalReader, ReadEvent, RecordKind,
};
use quotewire_risk::KillReason;

use crate::EngineError;

/// One journal record that matters for recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replayed<'a> {
    /// An order request that was sent.
    Request(OrderRequest),
    /// A venue report that was received.
    Report(ExecReport),
    /// A note (audit text; some carry state, see [`NoteFact`]).
    Note(&'a str),
}

/// Counts of a journal walk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalWalk {
    /// Segment files read.
    pub segments: usize,
    /// Intact records.
    pub records: u64,
    /// Damaged records skipped.
    pub corrupt: u64,
    /// Segments that ended in a torn record (the process died mid-write).
    pub torn_tails: u64,
    /// Request or report payloads that did not decode (skipped).
    pub undecodable: u64,
    /// Unix time and payload of the last order request read, if any.
    pub last_request: Option<(u64, [u8; 32])>,
}

/// Walks the journal at `dir` in order, handing each request, report and
/// note to `visit` with its Unix time. Inbound packets are skipped.
pub fn walk_journal(
    dir: &Path,
    mut visit: impl FnMut(u64, Replayed<'_>),
) -> Result<JournalWalk, EngineError> {
    let journal_error =
        |e: quotewire_journal::JournalError| EngineError::InvalidArgument(format!("journal: {e}"));
    let mut reader = JournalReader::open(dir).map_err(journal_error)?;
    let mut walk = JournalWalk {
        segments: reader.segments().len(),
        ..JournalWalk::default()
    };
    while let Some(event) = reader.next_event().map_err(journal_error)? {
        let r = match event {
            ReadEvent::Record(r) => r,
            ReadEvent::Corrupt(_) => {
                walk.corrupt += 1;
                continue;
            }
            ReadEvent::TornTail(_) => {
                walk.torn_tails += 1;
                continue;
            }
        };
        walk.records += 1;
        let at = r.unix_ns();
        match r.kind {
            RecordKind::OrderRequest => match decode_request(r.payload) {
                Ok(req) => {
                    walk.last_request = Some((at, encode_request(&req)));
                    visit(at, Replayed::Request(req));
                }
                Err(_) => walk.undecodable += 1,
            },
            RecordKind::ExecReport => match decode_report(r.payload) {
                Ok(rep) => visit(at, Replayed::Report(rep)),
                Err(_) => walk.undecodable += 1,
            },
            RecordKind::Note => {
                if let Ok(text) = std::str::from_utf8(r.payload) {
                    visit(at, Replayed::Note(text));
                }
            }
            RecordKind::InboundPacket => {}
        }
    }
    Ok(walk)
}

/// State a note carries, as the trader writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteFact {
    /// `ready next_cl=N`: the order session was reconciled here (the OMS
    /// expired what the venue never saw and dropped lost requests).
    Ready {
        /// The venue's next expected id.
        next_cl: ClOrdId,
    },
    /// `kill reason=R`: the kill switch fired.
    Kill(KillReason),
    /// `rearm`: the kill switch was re-armed.
    Rearm,
    /// A control that set reduce-only mode on or off and took effect.
    ReduceOnly(bool),
}

/// The state a note carries, if any.
#[must_use]
pub fn parse_note(text: &str) -> Option<NoteFact> {
    if let Some(rest) = text.strip_prefix("ready next_cl=") {
        return rest.trim().parse().ok().map(|n| NoteFact::Ready {
            next_cl: ClOrdId(n),
        });
    }
    if let Some(rest) = text.strip_prefix("kill reason=") {
        let name = rest.split_whitespace().next().unwrap_or("");
        return KillReason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .map(NoteFact::Kill);
    }
    if text == "rearm" {
        return Some(NoteFact::Rearm);
    }
    if text.starts_with("control ") && text.contains(" ok=true ") {
        if text.ends_with(" ReduceOnly(true)") {
            return Some(NoteFact::ReduceOnly(true));
        }
        if text.ends_with(" ReduceOnly(false)") {
            return Some(NoteFact::ReduceOnly(false));
        }
    }
    None
}

/// Whether a kill switch fired for `reason` stays engaged across a restart:
/// an operator's or a risk decision does; a lost session, a stale feed or a
/// feed gap belong to the process that saw them.
#[must_use]
pub const fn survives_restart(reason: KillReason) -> bool {
    matches!(
        reason,
        KillReason::Manual | KillReason::Drawdown | KillReason::Remote
    )
}

/// The requests of `intents` (oldest first) that the journal does not hold:
/// those after the journal's last request (`last_request`: its Unix time and
/// payload). When that request is not in the log (it wrapped, or the log is
/// newer than the journal), those sent later than it; without a journaled
/// request, all of them.
#[must_use]
pub fn intent_tail(intents: &[Intent], last_request: Option<(u64, [u8; 32])>) -> &[Intent] {
    let Some((at, payload)) = last_request else {
        return intents;
    };
    match intents
        .iter()
        .rposition(|i| i.unix_ns == at && encode_request(&i.request) == payload)
    {
        Some(k) => &intents[k + 1..],
        None => {
            let first_later = intents.partition_point(|i| i.unix_ns <= at);
            &intents[first_later..]
        }
    }
}

/// What a recovery rebuilt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Segment files read.
    pub segments: usize,
    /// Intact journal records read.
    pub records: u64,
    /// Damaged records skipped, torn tails included.
    pub damaged: u64,
    /// Order requests re-applied to the OMS.
    pub requests: u64,
    /// Requests the OMS refused to re-apply (an id used twice: a copy).
    pub refused: u64,
    /// Execution reports re-applied.
    pub reports: u64,
    /// Of those, fills counted (each once).
    pub fills: u64,
    /// Reports the OMS recognised as duplicates (replays already journaled).
    pub duplicates: u64,
    /// Reconciliation points re-run (`ready` notes).
    pub reconciles: u64,
    /// Requests taken from the intent log (lost by the journal's ring).
    pub intents: u64,
    /// The kill switch as restored (only reasons that survive a restart).
    pub killed: Option<KillReason>,
    /// Reduce-only mode as restored.
    pub reduce_only: bool,
    /// Open orders in the OMS afterwards (cancelled once the session is ready).
    pub open_orders: usize,
    /// The next client order id afterwards.
    pub next_cl: ClOrdId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_core::order::CancelOrder;
    use quotewire_core::{InstrumentId, Side};

    fn cancel(cl: u32) -> OrderRequest {
        OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(cl),
            instrument: InstrumentId(1),
            side: Side::Sell,
        })
    }

    fn intents(n: u32) -> Vec<Intent> {
        (1..=n)
            .map(|cl| Intent {
                seq: u64::from(cl),
                unix_ns: 100 * u64::from(cl),
                request: cancel(cl),
            })
            .collect()
    }

    #[test]
    fn notes_that_carry_state_are_parsed_and_others_ignored() {
        assert_eq!(
            parse_note("ready next_cl=42"),
            Some(NoteFact::Ready {
                next_cl: ClOrdId(42)
            })
        );
        assert_eq!(
            parse_note("kill reason=manual"),
            Some(NoteFact::Kill(KillReason::Manual))
        );
        assert_eq!(parse_note("rearm"), Some(NoteFact::Rearm));
        assert_eq!(
            parse_note("control seq=3 source=user ok=true ReduceOnly(true)"),
            Some(NoteFact::ReduceOnly(true))
        );
        assert_eq!(
            parse_note("control seq=3 source=user ok=false ReduceOnly(true)"),
            None
        );
        assert_eq!(parse_note("instruments 1=AAPL"), None);
        assert_eq!(parse_note("kill reason=bogus"), None);
    }

    #[test]
    fn intent_tail_starts_after_the_last_journaled_request() {
        let all = intents(5);
        let last = Some((300, encode_request(&cancel(3))));
        let tail: Vec<u32> = intent_tail(&all, last)
            .iter()
            .map(|i| i.request.cl().0)
            .collect();
        assert_eq!(tail, vec![4, 5]);
        // Not found (the log wrapped past it): by time.
        let gone = Some((250, encode_request(&cancel(99))));
        assert_eq!(intent_tail(&all, gone).len(), 3);
        assert_eq!(intent_tail(&all, None).len(), 5);
        let everything = Some((500, encode_request(&cancel(5))));
        assert!(intent_tail(&all, everything).is_empty());
    }

    #[test]
    fn only_deliberate_kills_survive_a_restart() {
        assert!(survives_restart(KillReason::Manual));
        assert!(survives_restart(KillReason::Drawdown));
        assert!(!survives_restart(KillReason::SessionLost));
        assert!(!survives_restart(KillReason::FeedGap));
    }
}
