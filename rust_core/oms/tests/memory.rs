//! A million live orders fit in well under 100 MB, and stay findable.

use quotewire_core::order::{ExecReport, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_oms::{Oms, OmsConfig, OmsReject, OrderState};

const ORDERS: usize = 1_000_000;

fn venue_ref(i: usize) -> OrderId {
    OrderId(5_000_000_000 + 7 * i as u64)
}

#[test]
fn a_million_live_orders_fit_in_well_under_100_mb() {
    let mut oms = Oms::new(&OmsConfig {
        capacity: ORDERS,
        max_instruments: 8_192,
        max_in_flight: 4_096,
    })
    .expect("valid config");
    for i in 0..ORDERS {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let inst = InstrumentId((i % 8_000) as u16);
        let price = Price(1_000_000 + (i % 50) as i64 * 100);
        let n = oms
            .place(
                inst,
                side,
                price,
                Qty(100),
                TimeInForce::Day,
                true,
                i as u64,
            )
            .expect("room");
        oms.on_report(&ExecReport::Accepted {
            cl: n.cl,
            venue_id: venue_ref(i),
            price,
            qty: n.qty,
            ts_ns: i as u64,
        });
    }
    assert_eq!(oms.live_orders(), ORDERS);
    assert_eq!(oms.in_flight(), 0);
    assert_eq!(
        oms.place(
            InstrumentId(0),
            Side::Buy,
            Price(1),
            Qty(1),
            TimeInForce::Day,
            false,
            0
        ),
        Err(OmsReject::Full)
    );
    for i in (0..ORDERS).step_by(9_973) {
        let o = oms.by_venue_id(venue_ref(i)).expect("indexed by venue id");
        assert_eq!(o.cl().0 as usize, i + 1);
        assert_eq!(
            oms.order(o.cl()).map(|o| o.venue_id()),
            Some(Some(venue_ref(i)))
        );
        assert_eq!(o.state(), OrderState::Live);
    }
    let bytes = oms.memory_bytes();
    assert!(bytes < 100_000_000, "{bytes} bytes for {ORDERS} orders");
    assert!(oms.bytes_per_order() < 100.0);
    assert!(oms.bytes_per_order() >= 88.0, "every table is counted");
}
