//! The bus against a real `nats-server -js` (Debian's `nats-server`, installed by
//! scripts/setup.sh). Without the binary on PATH these tests say so and pass.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use quotewire_bus::{
    wire, Budget, Bus, BusConfig, BusError, Exposure, Fill, Heartbeat, Inbound, InstanceName,
    Outbound,
};
use quotewire_core::order::ClOrdId;
use quotewire_core::{InstrumentId, Price, Qty, Side};

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path, port: Option<u16>) -> Option<Self> {
        let port = port.unwrap_or_else(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        });
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("nats-server is not installed: skipping");
            return None;
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn name(s: &str) -> InstanceName {
    InstanceName::new(s).unwrap()
}

fn fill(seq: u64) -> Fill {
    Fill {
        seq,
        ts_ns: seq * 10,
        cl: ClOrdId(seq as u32),
        instrument: InstrumentId(1),
        side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
        price: Price(2_300_000 + seq as i64),
        qty: Qty(100),
        position: 0,
    }
}

fn wait_for(mut f: impl FnMut() -> bool, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

fn fills_stored(bus: &Bus, instance: &str) -> Vec<u64> {
    bus.read_stream("QW_DROPCOPY", &format!("qw.fill.{instance}"))
        .unwrap()
        .iter()
        .map(|m| wire::decode_fill(&m.payload).unwrap().2.seq)
        .collect()
}

#[test]
fn connecting_to_a_port_nobody_listens_on_is_an_unreachable_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = BusConfig::new(&format!("nats://127.0.0.1:{port}"), name("mm1"));
    config.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let err = Bus::connect(config).unwrap_err();
    assert!(matches!(err, BusError::Unreachable { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn every_fill_lands_in_the_drop_copy_once_and_snapshots_in_the_state_stream() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(dir.path(), None) else {
        return;
    };
    let mut bus = Bus::connect(BusConfig::new(&server.url(), name("mm1"))).unwrap();
    for seq in 1..=500 {
        assert!(bus.publish(Outbound::Fill(fill(seq))));
    }
    let exposure = Exposure {
        ts_ns: 1,
        gross: 10,
        net: 5,
        worst_gross: 20,
        worst_net: 15,
        open_orders: 2,
        budget_revision: 0,
        killed: false,
    };
    assert!(bus.publish(Outbound::Exposure(exposure)));
    assert!(bus.publish(Outbound::Heartbeat(Heartbeat { ts_ns: 1, seq: 1 })));
    bus.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(fills_stored(&bus, "mm1"), (1..=500).collect::<Vec<_>>());
    let state = bus.read_stream("QW_STATE", "qw.exposure.mm1").unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(
        wire::decode_exposure(&state[0].payload).unwrap(),
        (name("mm1"), exposure)
    );
    let c = bus.counters();
    assert_eq!((c.published, c.dropped, c.duplicates), (502, 0, 0));
    assert!(c.connected);
}

#[test]
fn budgets_are_compare_and_set_and_reach_only_their_instance() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(dir.path(), None) else {
        return;
    };
    let mut allocator = {
        let mut c = BusConfig::new(&server.url(), name("alloc"));
        c.watch_peers = true;
        Bus::connect(c).unwrap()
    };
    let mut mm1 = Bus::connect(BusConfig::new(&server.url(), name("mm1"))).unwrap();
    let mut mm2 = Bus::connect(BusConfig::new(&server.url(), name("mm2"))).unwrap();
    let budget = Budget {
        max_gross_exposure: 1_000,
        max_net_exposure: 500,
        max_open_orders: 4,
    };
    let r1 = allocator.put_budget(name("mm1"), budget, Some(0)).unwrap();
    let again = allocator.put_budget(name("mm1"), budget, Some(0));
    assert!(matches!(again, Err(BusError::Conflict { .. })), "{again:?}");
    let smaller = Budget {
        max_gross_exposure: 600,
        ..budget
    };
    let r2 = allocator
        .put_budget(name("mm1"), smaller, Some(r1))
        .unwrap();
    let stale = allocator.put_budget(name("mm1"), budget, Some(r1));
    assert!(matches!(stale, Err(BusError::Conflict { .. })), "{stale:?}");
    assert_eq!(allocator.budget(name("mm1")).unwrap(), Some((r2, smaller)));
    assert_eq!(allocator.budget(name("mm2")).unwrap(), None);

    let mut seen = Vec::new();
    assert!(wait_for(
        || {
            while let Some(m) = mm1.poll() {
                seen.push(m);
            }
            seen.contains(&Inbound::Budget {
                revision: r2,
                budget: smaller,
            })
        },
        10
    ));
    // mm2 has no budget: nothing but the (absent) kill state reaches it.
    std::thread::sleep(Duration::from_millis(200));
    while let Some(m) = mm2.poll() {
        assert!(!matches!(m, Inbound::Budget { .. }), "{m:?}");
    }

    // Exposures of instances reach the allocator as peers.
    let e = Exposure {
        ts_ns: 3,
        gross: 7,
        net: 7,
        worst_gross: 9,
        worst_net: 9,
        open_orders: 1,
        budget_revision: r2,
        killed: false,
    };
    assert!(mm2.publish(Outbound::Exposure(e)));
    assert!(wait_for(
        || {
            matches!(allocator.poll(), Some(Inbound::Peer { instance, exposure })
                if instance == name("mm2") && exposure == e)
        },
        10
    ));
}

#[test]
fn a_firm_kill_reaches_every_instance_and_one_connecting_later() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(dir.path(), None) else {
        return;
    };
    let mut buses: Vec<Bus> = ["mm1", "mm2", "mm3"]
        .iter()
        .map(|n| Bus::connect(BusConfig::new(&server.url(), name(n))).unwrap())
        .collect();
    let operator = Bus::connect(BusConfig::new(&server.url(), name("operator"))).unwrap();
    operator.firm_kill(true, "test").unwrap();
    for bus in &mut buses {
        assert!(wait_for(
            || matches!(bus.poll(), Some(Inbound::Kill { active: true, .. })),
            10
        ));
    }
    let mut late = Bus::connect(BusConfig::new(&server.url(), name("mm4"))).unwrap();
    assert!(wait_for(
        || matches!(late.poll(), Some(Inbound::Kill { active: true, .. })),
        10
    ));
    operator.firm_kill(false, "clear").unwrap();
    assert!(wait_for(
        || matches!(late.poll(), Some(Inbound::Kill { active: false, .. })),
        10
    ));
}

#[test]
fn fills_queued_while_the_server_is_down_are_stored_once_after_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(dir.path(), None) else {
        return;
    };
    let port = server.port;
    let mut config = BusConfig::new(&server.url(), name("mm1"));
    config.ack_timeout = Duration::from_millis(300);
    let mut bus = Bus::connect(config).unwrap();
    for seq in 1..=100 {
        assert!(bus.publish(Outbound::Fill(fill(seq))));
    }
    bus.flush(Duration::from_secs(10)).unwrap();
    drop(server);
    assert!(wait_for(|| !bus.counters().connected, 10));
    for seq in 101..=200 {
        assert!(bus.publish(Outbound::Fill(fill(seq))));
    }
    let server = Server::start(dir.path(), Some(port)).unwrap();
    assert!(wait_for(|| bus.counters().connected, 15));
    bus.flush(Duration::from_secs(15)).unwrap();
    assert_eq!(fills_stored(&bus, "mm1"), (1..=200).collect::<Vec<_>>());
    let c = bus.counters();
    assert!(c.reconnects >= 1 && c.disconnects >= 1, "{c:?}");
    assert_eq!(c.dropped, 0);
    drop(server);
}
