//! Wire codecs for the protocols quotewire speaks.
//!
//! Owns: the byte layouts of Nasdaq TotalView-ITCH 5.0 ([`itch`]), MoldUDP64
//! ([`moldudp64`]), SoupBinTCP 4.0 ([`soupbintcp`]), OUCH 5.0 ([`ouch`]) and
//! FIX 4.4 tag=value ([`fix`]): decoding from borrowed `&[u8]`, encoding into
//! caller-provided buffers, and stream framers for the TCP protocols.
//! Must never: perform I/O, allocate while decoding or encoding, or panic on
//! any input: malformed bytes are reported as a [`DecodeError`].

mod error;
pub mod fix;
pub mod itch;
pub mod moldudp64;
pub mod ouch;
pub mod soupbintcp;
mod wire;

pub use error::{DecodeError, EncodeError};
