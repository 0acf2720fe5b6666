//! Feeds arbitrary datagrams through the MoldUDP64 and ITCH 5.0 decoders.
//!
//! Invariants: no decoder panics; every ITCH message that decodes re-encodes
//! to exactly the bytes it came from; MoldUDP64 iteration yields exactly the
//! header's message count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quotewire_protocol::itch;
use quotewire_protocol::moldudp64::{Packet, Request};

fn check_itch(msg: &[u8]) {
    let Ok(decoded) = itch::decode(msg) else {
        return;
    };
    assert_eq!(Some(msg.len()), itch::message_len(decoded.tag()));
    let mut out = [0u8; 64];
    let n = decoded
        .encode(&mut out)
        .expect("decoded message re-encodes");
    assert_eq!(&out[..n], msg, "round trip changed bytes of {decoded:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::decode(data) {
        let mut count = 0usize;
        for (_, msg) in packet.messages() {
            check_itch(msg);
            count += 1;
        }
        assert_eq!(count, usize::from(packet.header.message_count()));
    }
    let _ = Request::decode(data);
    for msg in itch::length_prefixed(data).flatten() {
        check_itch(msg);
    }
    check_itch(data);
});
