//! A FIX 4.4 acceptor in front of the venue's matching engine, for trying
//! FIX initiators (QuickFIX, ...) against the simulator.
//!
//! ```text
//! cargo run --release -p quotewire-venue --example fix_acceptor -- \
//!     --port 9878 --sender CLIENT --target VENUE --symbol AAPL [--symbol MSFT] \
//!     [--reference 100] [--cancel-on-disconnect]
//! ```
//!
//! Prints the port it listens on (one line on stdout, useful with `--port 0`),
//! then runs until stdin closes or the process is killed. Prices: tick 0.01,
//! band `reference` ± 99% (default reference 100).

use std::io::{self, BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quotewire_core::{InstrumentId, Price, Qty};
use quotewire_venue::fix_gateway::{FixGateway, FixGatewayConfig, FixInstrument, FixSessionConfig};
use quotewire_venue::matching::{FirmId, InstrumentConfig, MatchingEngine, PriceBand, VenueConfig};
use quotewire_venue::runtime::Venue;

struct Args {
    port: u16,
    sender: String,
    target: String,
    symbols: Vec<String>,
    reference: f64,
    cancel_on_disconnect: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        sender: "CLIENT".into(),
        target: "VENUE".into(),
        symbols: Vec::new(),
        reference: 100.0,
        cancel_on_disconnect: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--cancel-on-disconnect" {
            args.cancel_on_disconnect = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => args.port = value.parse().map_err(|e| format!("--port: {e}"))?,
            "--sender" => args.sender = value,
            "--target" => args.target = value,
            "--symbol" => args.symbols.push(value),
            "--reference" => {
                args.reference = value.parse().map_err(|e| format!("--reference: {e}"))?;
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.symbols.is_empty() {
        args.symbols.push("AAPL".into());
    }
    Ok(args)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn run(args: &Args) -> Result<(), String> {
    let reference = Price::from_f64(args.reference).map_err(|e| e.to_string())?;
    let width = Price(reference.0 / 100 * 99);
    let mut venue_config = VenueConfig {
        max_orders: 1 << 16,
        ..VenueConfig::default()
    };
    let mut config = FixGatewayConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)));
    for (i, symbol) in args.symbols.iter().enumerate() {
        let id = InstrumentId(u16::try_from(i + 1).map_err(|_| "too many symbols")?);
        venue_config.instruments.push(InstrumentConfig {
            id,
            tick: Price(100),
            band: PriceBand::Around { reference, width },
            max_order_qty: Qty(1_000_000),
        });
        config.instruments.push(FixInstrument {
            symbol: symbol.clone(),
            instrument: id,
        });
    }
    config.sessions.push(FixSessionConfig {
        sender_comp_id: args.sender.clone(),
        target_comp_id: args.target.clone(),
        firm: FirmId(1),
        cancel_on_disconnect: args.cancel_on_disconnect,
    });
    let engine = MatchingEngine::new(&venue_config).map_err(|e| e.to_string())?;
    let gateway = FixGateway::bind(&config).map_err(|e| e.to_string())?;
    let port = gateway.local_addr().port();
    let mut venue = Venue::new(engine);
    venue.add_gateway(Box::new(gateway));

    let mut out = io::stdout().lock();
    writeln!(out, "{port}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    drop(out);

    // The venue loop has no threads of its own; this one only watches stdin.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = Arc::clone(&stop);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        watcher.store(true, Ordering::Relaxed);
    });
    while !stop.load(Ordering::Relaxed) {
        if venue.poll_once(now_ns()) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| run(&args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fix_acceptor: {e}");
            ExitCode::FAILURE
        }
    }
}
