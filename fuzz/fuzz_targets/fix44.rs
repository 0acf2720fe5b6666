//! Feeds arbitrary bytes through the FIX 4.4 framer, view and typed decoders.
//!
//! Invariants: nothing panics; framing the same bytes as one slice and as a
//! stream of odd-sized reads yields the same messages; every framed message
//! that decodes re-encodes to bytes that frame and decode to the same header
//! and message (timestamps are already at millisecond precision after the
//! first encode, so the second encode is byte-identical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use quotewire_protocol::fix::{self, Frames, MessageView, StreamBuffer};

const MAX_BODY: usize = 4096;

fn check(frame: &[u8]) {
    let Ok(view) = MessageView::parse(frame) else {
        return;
    };
    for field in view.fields() {
        let _ = field;
    }
    let _ = view.price();
    let _ = view.exec_inst();
    let Ok((header, msg)) = fix::decode(frame) else {
        return;
    };
    let mut first = [0u8; 2 * MAX_BODY];
    let n = msg.encode(&header, &mut first).expect("decoded message re-encodes");
    let (h2, m2) = fix::decode(&first[..n]).expect("re-encoded message decodes");
    assert_eq!(m2.msg_type(), msg.msg_type());
    let mut second = [0u8; 2 * MAX_BODY];
    let n2 = m2.encode(&h2, &mut second).expect("second encode");
    assert_eq!(&first[..n], &second[..n2], "encode is not idempotent");
}

fuzz_target!(|data: &[u8]| {
    let whole: Vec<Result<&[u8], _>> = Frames::new(data, MAX_BODY).collect();
    for frame in whole.iter().flatten() {
        check(frame);
    }
    let mut stream = StreamBuffer::new(MAX_BODY, 64);
    let mut streamed = Vec::new();
    let step = 1 + usize::from(data.first().copied().unwrap_or(0) % 17);
    for chunk in data.chunks(step) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = stream.push(rest);
            rest = &rest[n..];
            while let Some(m) = stream.next_message() {
                streamed.push(m.map(<[u8]>::to_vec));
            }
        }
    }
    let whole_owned: Vec<_> = whole.iter().map(|r| r.map(<[u8]>::to_vec)).collect();
    assert_eq!(streamed, whole_owned, "stream framing differs from slice framing");
    check(data);
});
