//! The wire format: one JSON object per NATS message, readable by any NATS tool
//! (`nats sub 'qw.>'`) and by the Python control plane.
//!
//! Money is raw integers: prices with four implied decimals (`2300100` = 230.01),
//! notional = raw price x shares. Every outbound object carries `instance`.
//!
//! | subject / key | object |
//! |---|---|
//! | `qw.fill.<i>` | `{"instance","session","seq","ts_ns","cl","instrument","side":"buy"/"sell","price","qty","position"}` |
//! | `qw.position.<i>.<id>` | `{"instance","ts_ns","instrument","position","open_buy","open_sell","mark","realised","unrealised"}` |
//! | `qw.exposure.<i>` | `{"instance","ts_ns","gross","net","worst_gross","worst_net","open_orders","budget_revision","killed"}` |
//! | `qw.heartbeat.<i>` | `{"instance","session","ts_ns","seq"}` |
//! | `qw.kill`, KV `kill` | `{"active":true/false,"reason":"..."}` (an empty `qw.kill` payload engages) |
//! | KV `budget.<i>` | `{"max_gross_exposure","max_net_exposure","max_open_orders"}` |
//!
//! `session` is the publishing bus's start time (ns since the Unix epoch): with `seq` it
//! names a fill uniquely, and the JetStream `Nats-Msg-Id` of every stored message is
//! `<instance>.<session>.<n>` (`n` counts the bus's outbound messages).

use quotewire_core::order::ClOrdId;
use quotewire_core::{InstrumentId, Price, Qty, Side};
use serde::{Deserialize, Serialize};

use crate::{Budget, BusError, Exposure, Fill, Heartbeat, InstanceName, Position};

const fn side_text(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

#[derive(Serialize, Deserialize)]
struct FillWire<'a> {
    instance: &'a str,
    session: u64,
    seq: u64,
    ts_ns: u64,
    cl: u32,
    instrument: u16,
    side: &'a str,
    price: i64,
    qty: u64,
    position: i64,
}

#[derive(Serialize)]
struct PositionWire<'a> {
    instance: &'a str,
    ts_ns: u64,
    instrument: u16,
    position: i64,
    open_buy: u64,
    open_sell: u64,
    mark: i64,
    realised: i64,
    unrealised: i64,
}

#[derive(Serialize, Deserialize)]
struct ExposureWire<'a> {
    instance: &'a str,
    ts_ns: u64,
    gross: i64,
    net: i64,
    worst_gross: i64,
    worst_net: i64,
    open_orders: u32,
    budget_revision: u64,
    killed: bool,
}

#[derive(Serialize)]
struct HeartbeatWire<'a> {
    instance: &'a str,
    session: u64,
    ts_ns: u64,
    seq: u64,
}

#[derive(Serialize, Deserialize)]
struct KillWire<'a> {
    active: bool,
    #[serde(default)]
    reason: &'a str,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetWire {
    max_gross_exposure: i64,
    max_net_exposure: i64,
    max_open_orders: u32,
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of numbers, bools and strings always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

fn bad(what: &'static str, e: impl std::fmt::Display) -> BusError {
    BusError::Decode {
        what,
        reason: e.to_string(),
    }
}

/// A fill's JSON.
#[must_use]
pub fn encode_fill(instance: InstanceName, session: u64, f: &Fill) -> Vec<u8> {
    to_vec(&FillWire {
        instance: instance.as_str(),
        session,
        seq: f.seq,
        ts_ns: f.ts_ns,
        cl: f.cl.0,
        instrument: f.instrument.0,
        side: side_text(f.side),
        price: f.price.0,
        qty: f.qty.0,
        position: f.position,
    })
}

/// A fill read back from the drop copy, with its publisher's instance and session.
pub fn decode_fill(bytes: &[u8]) -> Result<(InstanceName, u64, Fill), BusError> {
    let w: FillWire<'_> = serde_json::from_slice(bytes).map_err(|e| bad("fill", e))?;
    let side = match w.side {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => return Err(bad("fill", format!("side {other:?}"))),
    };
    let fill = Fill {
        seq: w.seq,
        ts_ns: w.ts_ns,
        cl: ClOrdId(w.cl),
        instrument: InstrumentId(w.instrument),
        side,
        price: Price(w.price),
        qty: Qty(w.qty),
        position: w.position,
    };
    Ok((InstanceName::new(w.instance)?, w.session, fill))
}

/// A position's JSON.
#[must_use]
pub fn encode_position(instance: InstanceName, p: &Position) -> Vec<u8> {
    to_vec(&PositionWire {
        instance: instance.as_str(),
        ts_ns: p.ts_ns,
        instrument: p.instrument.0,
        position: p.position,
        open_buy: p.open_buy,
        open_sell: p.open_sell,
        mark: p.mark.0,
        realised: p.realised,
        unrealised: p.unrealised,
    })
}

/// An exposure's JSON.
#[must_use]
pub fn encode_exposure(instance: InstanceName, e: &Exposure) -> Vec<u8> {
    to_vec(&ExposureWire {
        instance: instance.as_str(),
        ts_ns: e.ts_ns,
        gross: e.gross,
        net: e.net,
        worst_gross: e.worst_gross,
        worst_net: e.worst_net,
        open_orders: e.open_orders,
        budget_revision: e.budget_revision,
        killed: e.killed,
    })
}

/// An exposure read back, with its publisher.
pub fn decode_exposure(bytes: &[u8]) -> Result<(InstanceName, Exposure), BusError> {
    let w: ExposureWire<'_> = serde_json::from_slice(bytes).map_err(|e| bad("exposure", e))?;
    let e = Exposure {
        ts_ns: w.ts_ns,
        gross: w.gross,
        net: w.net,
        worst_gross: w.worst_gross,
        worst_net: w.worst_net,
        open_orders: w.open_orders,
        budget_revision: w.budget_revision,
        killed: w.killed,
    };
    Ok((InstanceName::new(w.instance)?, e))
}

/// A heartbeat's JSON.
#[must_use]
pub fn encode_heartbeat(instance: InstanceName, session: u64, h: &Heartbeat) -> Vec<u8> {
    to_vec(&HeartbeatWire {
        instance: instance.as_str(),
        session,
        ts_ns: h.ts_ns,
        seq: h.seq,
    })
}

/// The kill message / KV value.
#[must_use]
pub fn encode_kill(active: bool, reason: &str) -> Vec<u8> {
    to_vec(&KillWire { active, reason })
}

/// Whether a kill message engages the kill switch (an empty payload does).
pub fn decode_kill(bytes: &[u8]) -> Result<bool, BusError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    let w: KillWire<'_> = serde_json::from_slice(bytes).map_err(|e| bad("kill", e))?;
    Ok(w.active)
}

/// A budget's KV value.
#[must_use]
pub fn encode_budget(b: &Budget) -> Vec<u8> {
    to_vec(&BudgetWire {
        max_gross_exposure: b.max_gross_exposure,
        max_net_exposure: b.max_net_exposure,
        max_open_orders: b.max_open_orders,
    })
}

/// A budget read from KV; every limit must be positive.
pub fn decode_budget(bytes: &[u8]) -> Result<Budget, BusError> {
    let w: BudgetWire = serde_json::from_slice(bytes).map_err(|e| bad("budget", e))?;
    if w.max_gross_exposure <= 0 || w.max_net_exposure <= 0 || w.max_open_orders == 0 {
        return Err(bad("budget", "every limit must be > 0"));
    }
    Ok(Budget {
        max_gross_exposure: w.max_gross_exposure,
        max_net_exposure: w.max_net_exposure,
        max_open_orders: w.max_open_orders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> InstanceName {
        InstanceName::new("mm1").unwrap()
    }

    #[test]
    fn fill_round_trips_with_instance_and_session() {
        let fill = Fill {
            seq: 7,
            ts_ns: 123,
            cl: ClOrdId(42),
            instrument: InstrumentId(3),
            side: Side::Sell,
            price: Price(2_300_100),
            qty: Qty(100),
            position: -100,
        };
        let bytes = encode_fill(name(), 99, &fill);
        assert_eq!(decode_fill(&bytes).unwrap(), (name(), 99, fill));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""side":"sell""#), "{text}");
        assert!(text.contains(r#""price":2300100"#), "{text}");
    }

    #[test]
    fn exposure_round_trips() {
        let e = Exposure {
            ts_ns: 5,
            gross: 10,
            net: -4,
            worst_gross: 12,
            worst_net: 6,
            open_orders: 2,
            budget_revision: 9,
            killed: true,
        };
        assert_eq!(
            decode_exposure(&encode_exposure(name(), &e)).unwrap(),
            (name(), e)
        );
    }

    #[test]
    fn kill_decodes_empty_payload_as_engage_and_reads_clear() {
        assert!(decode_kill(b"").unwrap());
        assert!(decode_kill(&encode_kill(true, "operator")).unwrap());
        assert!(!decode_kill(&encode_kill(false, "")).unwrap());
        assert!(decode_kill(b"{").is_err());
    }

    #[test]
    fn budget_round_trips_and_refuses_zero_or_unknown_fields() {
        let b = Budget {
            max_gross_exposure: 1_000,
            max_net_exposure: 500,
            max_open_orders: 3,
        };
        assert_eq!(decode_budget(&encode_budget(&b)).unwrap(), b);
        let zero = Budget {
            max_open_orders: 0,
            ..b
        };
        assert!(decode_budget(&encode_budget(&zero)).is_err());
        assert!(decode_budget(
            br#"{"max_gross_exposure":1,"max_net_exposure":1,"max_open_orders":1,"x":1}"#
        )
        .is_err());
    }
}
