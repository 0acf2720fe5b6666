//! Feeds arbitrary bytes through the SoupBinTCP framers and the OUCH 5.0
//! decoders, as a TCP stream of either direction.
//!
//! Invariants: nothing panics; every OUCH message that decodes re-encodes to
//! exactly its bytes; every SoupBinTCP packet that decodes re-encodes to a
//! packet that decodes equal; the streaming framer yields the same packets as
//! the slice iterator whatever the segmentation.
//!
//! Input: byte 0 picks the TCP segment size (1..=64), the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quotewire_protocol::ouch::{self, Appendage};
use quotewire_protocol::soupbintcp::{frames, Packet, StreamFramer};

const MAX: usize = 4096;

fn check_ouch(msg: &[u8]) {
    let mut out = [0u8; 70_000];
    if let Ok(m) = ouch::decode_inbound(msg) {
        let n = m.encode(&mut out).expect("decoded inbound re-encodes");
        assert_eq!(&out[..n], msg, "inbound round trip changed bytes of {m:?}");
    }
    if let Ok(m) = ouch::decode_outbound(msg) {
        let n = m.encode(&mut out).expect("decoded outbound re-encodes");
        assert_eq!(&out[..n], msg, "outbound round trip changed bytes of {m:?}");
    }
}

fn check_packet(p: &Packet<'_>) {
    let mut out = vec![0u8; p.encoded_len()];
    let n = p.encode(&mut out).expect("decoded packet re-encodes");
    assert_eq!(Packet::decode(&out[..n]).as_ref(), Ok(p));
    if let Some(data) = p.data() {
        check_ouch(data);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 64) + 1;

    let mut whole = Vec::new();
    for p in frames(stream, MAX) {
        match p {
            Ok(p) => {
                check_packet(&p);
                let mut out = vec![0u8; p.encoded_len()];
                p.encode(&mut out).unwrap();
                whole.push(Ok(out));
            }
            Err(e) => whole.push(Err(e)),
        }
    }

    let mut framer = StreamFramer::new(MAX);
    let mut streamed = Vec::new();
    'outer: for seg in stream.chunks(chunk) {
        let mut seg = seg;
        while !seg.is_empty() {
            let n = framer.push(seg);
            seg = &seg[n..];
            loop {
                match framer.next_packet() {
                    Ok(Some(p)) => {
                        let mut out = vec![0u8; p.encoded_len()];
                        p.encode(&mut out).unwrap();
                        streamed.push(Ok(out));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        streamed.push(Err(e));
                        if framer.failed().is_some() {
                            break 'outer; // sticky framing error
                        }
                    }
                }
            }
        }
    }
    assert_eq!(whole.len(), streamed.len(), "framers disagree on packet count");
    for (a, b) in whole.iter().zip(&streamed) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => panic!("framers disagree: {a:?} vs {b:?}"),
        }
    }

    let _ = Packet::decode(stream);
    check_ouch(stream);
    let _ = Appendage::parse(stream);
});
