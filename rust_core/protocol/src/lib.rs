//! Wire codecs for the protocols quotewire speaks.
//!
//! Owns: byte layouts of Nasdaq TotalView-ITCH 5.0 and MoldUDP64 (later OUCH
//! 5.0, SoupBinTCP 4.0 and FIX 4.4), decoding from borrowed `&[u8]` and encoding
//! into caller-provided buffers.
//! Must never: perform I/O, allocate while decoding or encoding, or panic on
//! any input: malformed bytes are reported as a [`DecodeError`].

mod error;
pub mod fix;
pub mod itch;
pub mod moldudp64;
pub mod ouch;
pub mod soupbintcp;

pub use error::{DecodeError, EncodeError};
