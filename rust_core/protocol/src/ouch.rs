//! Nasdaq OUCH 5.0 (US equities order entry): every inbound and outbound
//! message, decoded from and encoded into borrowed byte buffers.
//!
//! Followed: Nasdaq "OUCH 5.0" specification (nasdaqtrader.com, `OUCH5.0.pdf`),
//! field by field against the Open Markets Initiative sources
//! (`c-structs/nasdaq/Nasdaq.Equities.Orders.Ouch.v5.0.h` and
//! `wireshark-lua/Nasdaq/Nasdaq.Equities.Orders.Ouch.v5.0.Script.Dissector.lua`,
//! spec dated 2021-07-01), with two corrections from the later revision that
//! independent implementations follow (see the module tests and the report):
//! AIQ Canceled is type `D` (the OMI header repeats `C`) and ends with a
//! 1-byte AIQ Strategy (32 bytes, not 31).
//!
//! Each message is written once, as a `field: Kind @ offset` table in the
//! `fixed_messages!` / `appendage_messages!` invocations below; the macros
//! derive the struct, its decoder, its encoder and its [`MessageSpec`], and a
//! compile-time check proves every layout contiguous. Offsets count from the
//! message type byte, as in the specification.
//!
//! Wire types: integers are big-endian and unsigned; `Price` is 8 bytes with
//! 4 implied decimals (kept raw, `u64`); timestamps are nanoseconds since
//! midnight (8 bytes); alpha fields are left justified and space padded.
//!
//! Identifiers: `UserRefNum` (4 bytes) is the client's day-unique, strictly
//! increasing order identifier per OUCH account; every later message about the
//! order carries it. A Replace names the live order by `OrigUserRefNum` and
//! gives the replacement a fresh `UserRefNum`. `ClOrdID` (14 alpha) is free
//! text echoed back and never used by the venue to identify the order.
//!
//! Optional Appendage: Enter Order, Replace Order, Order Accepted, Order
//! Replaced, Order Executed and Order Restated end with `Appendage Length (2)`
//! then that many bytes of TagValue elements, each `Length (1, counts the
//! option tag and the value, not itself) | Option Tag (1) | Value`. The
//! appendage is decoded into [`Appendage`], a fixed-capacity index over the
//! borrowed bytes: unknown tags are kept raw and re-encoded unchanged.
//!
//! Direction matters: `U`, `M` and `Q` mean different messages inbound
//! (client to venue, [`Inbound`], [`decode_inbound`]) and outbound (venue to
//! client, [`Outbound`], [`decode_outbound`]).
//!
//! The decoders take ONE message (the payload of a SoupBinTCP Sequenced or
//! Unsequenced Data packet, see [`crate::soupbintcp`]) and never panic.

use core::fmt;
use core::hash::{Hash, Hasher};

use crate::wire::{field_read, field_specs, field_ty, field_write, prefix, prefix_exact, put, rd};
use crate::{DecodeError, EncodeError};

/// Most TagValue elements an [`Appendage`] indexes (the spec defines fewer
/// than 30 option tags and each may appear once per message).
pub const MAX_OPTIONS: usize = 32;

/// Largest appendage (the Appendage Length field is 16 bits).
pub const MAX_APPENDAGE_LEN: usize = u16::MAX as usize;

/// How a fixed field is laid out on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// One ASCII byte (including the message type).
    Char,
    /// One side byte: `B`, `S`, `T` or `E`; decoding refuses anything else.
    Side,
    /// Big-endian `u16`.
    U16,
    /// Big-endian `u32`.
    U32,
    /// Big-endian `u64` (timestamps, order reference and match numbers).
    U64,
    /// Big-endian 8-byte price with 4 implied decimals.
    Price,
    /// Space-padded ASCII of the field's length.
    Alpha,
}

impl FieldKind {
    /// The wire length of the kind, `None` for [`FieldKind::Alpha`] (any length).
    #[must_use]
    pub const fn fixed_len(self) -> Option<usize> {
        match self {
            Self::Char | Self::Side => Some(1),
            Self::U16 => Some(2),
            Self::U32 => Some(4),
            Self::U64 | Self::Price => Some(8),
            Self::Alpha => None,
        }
    }
}

/// One field of a message layout.
pub type FieldSpec = crate::wire::FieldSpec<FieldKind>;

/// The layout of one message type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageSpec {
    /// The message type byte.
    pub tag: u8,
    /// The Rust type name, e.g. `"EnterOrder"`.
    pub name: &'static str,
    /// Length of the fixed part including the type byte (and, for messages
    /// with an appendage, the Appendage Length field).
    pub len: usize,
    /// Whether `len` is followed by a variable Optional Appendage.
    pub appendage: bool,
    /// Every fixed field in wire order, from `message_type` at offset 0.
    pub fields: &'static [FieldSpec],
}

/// Side of an order (`Side` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// `B` buy.
    Buy = b'B',
    /// `S` sell.
    Sell = b'S',
    /// `T` sell short.
    SellShort = b'T',
    /// `E` sell short exempt.
    SellShortExempt = b'E',
}

impl Side {
    /// Decodes the side byte.
    pub const fn from_byte(b: u8, field: &'static str) -> Result<Self, DecodeError> {
        match b {
            b'B' => Ok(Self::Buy),
            b'S' => Ok(Self::Sell),
            b'T' => Ok(Self::SellShort),
            b'E' => Ok(Self::SellShortExempt),
            value => Err(DecodeError::InvalidField { field, value }),
        }
    }

    /// The wire byte.
    #[must_use]
    pub const fn as_byte(self) -> u8 {
        self as u8
    }

    /// The book side (all sells, short or not, are on the offer).
    #[must_use]
    pub const fn book_side(self) -> quotewire_core::Side {
        match self {
            Self::Buy => quotewire_core::Side::Buy,
            _ => quotewire_core::Side::Sell,
        }
    }
}

// Fixed-offset access (`rd`, `put`, `prefix`, the `field_*!` macros) lives in
// `crate::wire`.

#[inline(always)]
fn rd_side(b: &[u8], off: usize, field: &'static str) -> Result<Side, DecodeError> {
    Side::from_byte(rd::<1>(b, off)[0], field)
}

/// Generates fixed-length messages: struct, `decode`, `encode`, `SPEC`.
macro_rules! fixed_messages {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = $tag:literal, len $len:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident : $kind:ident $(($n:literal))? @ $off:literal ),* $(,)?
        }
    )*) => {$(
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            $( $(#[doc = $fdoc])* pub $field: field_ty!($kind $(($n))?), )*
        }

        impl $name {
            /// The message type byte.
            pub const TAG: u8 = $tag;
            /// Length on the wire, including the type byte.
            pub const LEN: usize = $len;
            /// Wire layout of this message.
            pub const SPEC: MessageSpec = MessageSpec {
                tag: $tag,
                name: stringify!($name),
                len: $len,
                appendage: false,
                fields: field_specs!($( $field : $kind $(($n))? @ $off ),*),
            };

            /// Length on the wire, including the type byte.
            #[inline]
            #[must_use]
            pub const fn encoded_len(&self) -> usize {
                $len
            }

            /// Decodes exactly one message of this type (`buf.len()` must be [`Self::LEN`]).
            #[inline]
            pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
                let b: &[u8; $len] = prefix_exact::<$len>(buf, $tag)?;
                let _ = b;
                Ok(Self { $( $field: field_read!(b, $off, $field, $kind $(($n))?), )* })
            }

            /// Encodes into `out[..Self::LEN]`, returning [`Self::LEN`].
            #[inline]
            pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                let have = out.len();
                let Some(o) = out.first_chunk_mut::<$len>() else {
                    return Err(EncodeError::BufferTooSmall { needed: $len, have });
                };
                let o: &mut [u8] = o;
                put(o, 0, &[$tag]);
                $( field_write!(o, $off, self.$field, $kind $(($n))?); )*
                Ok($len)
            }

            #[cfg(test)]
            fn seeded(next: &mut dyn FnMut() -> u64) -> Self {
                let _ = &next;
                Self { $( $field: tests::Seeded::from_seed(next()), )* }
            }
        }
    )*};
}

/// Generates messages ending with `Appendage Length` and an Optional Appendage.
/// `len` is the fixed part including the 2-byte Appendage Length, which is
/// implied as the last field (it is derived from `appendage` when encoding).
macro_rules! appendage_messages {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = $tag:literal, len $len:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident : $kind:ident $(($n:literal))? @ $off:literal ),* $(,)?
        }
    )*) => {$(
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name<'a> {
            $( $(#[doc = $fdoc])* pub $field: field_ty!($kind $(($n))?), )*
            /// Optional Appendage (TagValue elements), borrowed from the input.
            pub appendage: Appendage<'a>,
        }

        impl<'a> $name<'a> {
            /// The message type byte.
            pub const TAG: u8 = $tag;
            /// Length of the fixed part (type byte through Appendage Length).
            pub const LEN: usize = $len;
            /// Wire layout of the fixed part; the appendage follows it.
            pub const SPEC: MessageSpec = MessageSpec {
                tag: $tag,
                name: stringify!($name),
                len: $len,
                appendage: true,
                fields: field_specs!($( $field : $kind $(($n))? @ $off, )* appendage_length : U16 @ $len - 2),
            };

            /// Length on the wire: fixed part plus appendage.
            #[inline]
            #[must_use]
            pub const fn encoded_len(&self) -> usize {
                $len + self.appendage.byte_len()
            }

            /// Decodes exactly one message of this type: the fixed part, then
            /// exactly Appendage Length bytes of TagValue elements.
            #[inline]
            pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
                let (b, rest) = prefix::<$len>(buf, $tag)?;
                let app_len = usize::from(u16::from_be_bytes(rd(b, $len - 2)));
                if rest.len() != app_len {
                    return Err(if rest.len() < app_len {
                        DecodeError::Truncated { needed: $len + app_len, have: buf.len() }
                    } else {
                        DecodeError::BadLength { tag: $tag, len: buf.len(), expected: $len + app_len }
                    });
                }
                Ok(Self {
                    $( $field: field_read!(b, $off, $field, $kind $(($n))?), )*
                    appendage: Appendage::parse(rest)?,
                })
            }

            /// Encodes into `out[..self.encoded_len()]`, returning that length.
            #[inline]
            pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                let raw = self.appendage.raw();
                let Ok(app_len) = u16::try_from(raw.len()) else {
                    return Err(EncodeError::Overflow("appendage_length"));
                };
                let n = $len + raw.len();
                let have = out.len();
                let Some(o) = out.get_mut(..n) else {
                    return Err(EncodeError::BufferTooSmall { needed: n, have });
                };
                put(o, 0, &[$tag]);
                $( field_write!(o, $off, self.$field, $kind $(($n))?); )*
                put(o, $len - 2, &app_len.to_be_bytes());
                put(o, $len, raw);
                Ok(n)
            }

            #[cfg(test)]
            fn seeded(next: &mut dyn FnMut() -> u64, appendage: Appendage<'a>) -> Self {
                Self { $( $field: tests::Seeded::from_seed(next()), )* appendage }
            }
        }
    )*};
}

/// Generates a direction's message enum, its dispatch and its spec list.
macro_rules! direction {
    (
        $(#[doc = $doc:literal])*
        $enum:ident, $decode:ident, $specs:ident, $spec_fn:ident {
            $( $variant:ident $(<$lt:lifetime>)? ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $enum<'a> {
            $( #[doc = concat!("See [`", stringify!($variant), "`].")] $variant($variant $(<$lt>)?), )*
        }

        impl<'a> $enum<'a> {
            /// The message type byte.
            #[inline]
            #[must_use]
            pub const fn tag(&self) -> u8 {
                match self { $( Self::$variant(_) => $variant::TAG, )* }
            }

            /// Length on the wire including any appendage.
            #[inline]
            #[must_use]
            pub const fn encoded_len(&self) -> usize {
                match self { $( Self::$variant(m) => m.encoded_len(), )* }
            }

            /// Encodes into `out`, returning the bytes written. Never allocates.
            #[inline]
            pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                match self { $( Self::$variant(m) => m.encode(out), )* }
            }

            /// The layout of this message's type.
            #[inline]
            #[must_use]
            pub const fn spec(&self) -> &'static MessageSpec {
                match self { $( Self::$variant(_) => &$variant::SPEC, )* }
            }

            /// The Optional Appendage, `None` for types without one.
            #[inline]
            #[must_use]
            pub fn appendage(&self) -> Option<&Appendage<'a>> {
                match self {
                    $( $( Self::$variant(m) => { let _: &$variant<$lt> = m; Some(&m.appendage) } )? )*
                    _ => None,
                }
            }
        }

        $( impl<'a> From<$variant $(<$lt>)?> for $enum<'a> {
            #[inline]
            fn from(m: $variant $(<$lt>)?) -> Self {
                Self::$variant(m)
            }
        } )*

        /// Decodes one message of this direction: type byte first, no length
        /// prefix, exactly the message's length. Never panics.
        #[inline]
        pub fn $decode(buf: &[u8]) -> Result<$enum<'_>, DecodeError> {
            let Some(&tag) = buf.first() else {
                return Err(DecodeError::Truncated { needed: 1, have: 0 });
            };
            match tag {
                $( $variant::TAG => $variant::decode(buf).map($enum::$variant), )*
                _ => Err(DecodeError::UnknownType(tag)),
            }
        }

        /// The layout of every message type of this direction, in specification order.
        pub const $specs: &[MessageSpec] = &[ $( $variant::SPEC, )* ];

        /// The layout of one message type of this direction, `None` if unknown.
        #[must_use]
        pub const fn $spec_fn(tag: u8) -> Option<&'static MessageSpec> {
            match tag {
                $( $variant::TAG => Some(&$variant::SPEC), )*
                _ => None,
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Inbound (client to venue).

appendage_messages! {
    /// `O` Enter Order: a new order.
    EnterOrder = b'O', len 47 {
        /// Day-unique, strictly increasing order identifier chosen by the client.
        user_ref_num: U32 @ 1,
        /// Side of the order.
        side: Side @ 5,
        /// Total shares, at most 1,000,000.
        quantity: U32 @ 6,
        /// Symbol, right padded with spaces.
        symbol: Alpha(8) @ 10,
        /// Limit price, 4 implied decimals.
        price: Price @ 18,
        /// `0` day, `3` IOC, `5` GTX, `6` GTT, `E` after hours.
        time_in_force: Char @ 26,
        /// `Y` visible, `N` hidden, `A` attributable, ...
        display: Char @ 27,
        /// `A` agency, `P` principal, `R` riskless, `O` other.
        capacity: Char @ 28,
        /// `Y` eligible, `N` not eligible.
        intermarket_sweep_eligibility: Char @ 29,
        /// `N` continuous, `O` opening, `C` closing, `H` halt/IPO, `S` supplemental, `R` retail, `E` extended, `A` after-hours close.
        cross_type: Char @ 30,
        /// Free-form client text, echoed back; not used to identify the order.
        cl_ord_id: Alpha(14) @ 31,
    }

    /// `U` Replace Order: cancel-replace a live order under a new UserRefNum.
    ReplaceOrder = b'U', len 40 {
        /// UserRefNum of the order being replaced.
        orig_user_ref_num: U32 @ 1,
        /// New, day-unique UserRefNum of the replacement.
        user_ref_num: U32 @ 5,
        /// New total shares.
        quantity: U32 @ 9,
        /// New limit price, 4 implied decimals.
        price: Price @ 13,
        /// Time in force (see [`EnterOrder::time_in_force`]).
        time_in_force: Char @ 21,
        /// Display (see [`EnterOrder::display`]).
        display: Char @ 22,
        /// `Y` eligible, `N` not eligible.
        intermarket_sweep_eligibility: Char @ 23,
        /// Free-form client text.
        cl_ord_id: Alpha(14) @ 24,
    }
}

fixed_messages! {
    /// `X` Cancel Order: reduce an order to `quantity` shares (0 cancels it).
    CancelOrder = b'X', len 9 {
        /// UserRefNum of the order.
        user_ref_num: U32 @ 1,
        /// Shares that may remain open after the cancel.
        quantity: U32 @ 5,
    }

    /// `M` Modify Order: change side (e.g. sell to sell short) or reduce quantity.
    ModifyOrder = b'M', len 10 {
        /// UserRefNum of the order.
        user_ref_num: U32 @ 1,
        /// New side.
        side: Side @ 5,
        /// New total shares.
        quantity: U32 @ 6,
    }

    /// `Q` Account Query: asks for the next expected UserRefNum.
    AccountQuery = b'Q', len 1 {}
}

direction! {
    /// A message from the client to the venue.
    Inbound, decode_inbound, INBOUND_SPECS, inbound_spec {
        EnterOrder<'a>,
        ReplaceOrder<'a>,
        CancelOrder,
        ModifyOrder,
        AccountQuery,
    }
}

// ---------------------------------------------------------------------------
// Outbound (venue to client).

fixed_messages! {
    /// `S` System Event.
    SystemEvent = b'S', len 10 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// `S` start of day, `E` end of day.
        event_code: Char @ 9,
    }
}

appendage_messages! {
    /// `A` Order Accepted.
    OrderAccepted = b'A', len 64 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the accepted order.
        user_ref_num: U32 @ 9,
        /// Side.
        side: Side @ 13,
        /// Total shares accepted.
        quantity: U32 @ 14,
        /// Symbol, right padded with spaces.
        symbol: Alpha(8) @ 18,
        /// Accepted price, 4 implied decimals (may differ from the entered one).
        price: Price @ 26,
        /// Time in force.
        time_in_force: Char @ 34,
        /// Display.
        display: Char @ 35,
        /// Day-unique order reference number as published on the market data feeds.
        order_reference_number: U64 @ 36,
        /// Capacity.
        capacity: Char @ 44,
        /// Intermarket sweep eligibility.
        intermarket_sweep_eligibility: Char @ 45,
        /// Cross type.
        cross_type: Char @ 46,
        /// `L` live, `D` dead.
        order_state: Char @ 47,
        /// The client's ClOrdID, echoed.
        cl_ord_id: Alpha(14) @ 48,
    }

    /// `U` Order Replaced.
    OrderReplaced = b'U', len 68 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the replaced (now dead) order.
        orig_user_ref_num: U32 @ 9,
        /// UserRefNum of the replacement.
        user_ref_num: U32 @ 13,
        /// Side.
        side: Side @ 17,
        /// Total shares of the replacement.
        quantity: U32 @ 18,
        /// Symbol, right padded with spaces.
        symbol: Alpha(8) @ 22,
        /// Price, 4 implied decimals.
        price: Price @ 30,
        /// Time in force.
        time_in_force: Char @ 38,
        /// Display.
        display: Char @ 39,
        /// Order reference number of the replacement.
        order_reference_number: U64 @ 40,
        /// Capacity.
        capacity: Char @ 48,
        /// Intermarket sweep eligibility.
        intermarket_sweep_eligibility: Char @ 49,
        /// Cross type.
        cross_type: Char @ 50,
        /// `L` live, `D` dead.
        order_state: Char @ 51,
        /// ClOrdID of the replacement.
        cl_ord_id: Alpha(14) @ 52,
    }
}

fixed_messages! {
    /// `C` Order Canceled: shares were removed from an order.
    OrderCanceled = b'C', len 18 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
        /// Shares just decremented (not the remaining quantity).
        quantity: U32 @ 13,
        /// Cancel reason code (`U` user requested, `I` immediate or cancel, `T` timeout, `S` supervisory, `D` regulatory, `Q` self-match prevention, `Z` system, `C` cross canceled, `K` market collars, `H` halted, ...).
        reason: Char @ 17,
    }

    /// `D` AIQ Canceled: shares canceled by anti-internalization (self-match prevention).
    AiqCanceled = b'D', len 32 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
        /// Shares decremented from the order.
        decrement_shares: U32 @ 13,
        /// Cancel reason code (`Q` self-match prevention).
        reason: Char @ 17,
        /// Shares that would have executed.
        quantity_prevented_from_trading: U32 @ 18,
        /// Price at which they would have executed, 4 implied decimals.
        execution_price: Price @ 22,
        /// Liquidity flag the execution would have had.
        liquidity_flag: Char @ 30,
        /// AIQ strategy applied (`O` cancel oldest, `N` cancel newest, `B` both, ...).
        aiq_strategy: Char @ 31,
    }
}

appendage_messages! {
    /// `E` Order Executed.
    OrderExecuted = b'E', len 36 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
        /// Shares executed.
        quantity: U32 @ 13,
        /// Execution price, 4 implied decimals.
        price: Price @ 17,
        /// Liquidity flag (`A` added, `R` removed, ...).
        liquidity_flag: Char @ 25,
        /// Day-unique match number (also on ITCH and in a Broken Trade).
        match_number: U64 @ 26,
    }
}

fixed_messages! {
    /// `B` Broken Trade: an execution was broken and will not clear.
    BrokenTrade = b'B', len 36 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
        /// Match number of the broken execution.
        match_number: U64 @ 13,
        /// `E` erroneous, `C` consent, `S` supervisory, `X` external.
        reason: Char @ 21,
        /// ClOrdID of the order.
        cl_ord_id: Alpha(14) @ 22,
    }

    /// `J` Rejected: an Enter or Replace Order was rejected.
    Rejected = b'J', len 29 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the rejected order.
        user_ref_num: U32 @ 9,
        /// Reject reason code (1 quote unavailable, 2 destination closed, ... see spec).
        reason: U16 @ 13,
        /// ClOrdID of the rejected order.
        cl_ord_id: Alpha(14) @ 15,
    }

    /// `P` Cancel Pending: a cross order cannot be canceled until the cross completes.
    CancelPending = b'P', len 13 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
    }

    /// `I` Cancel Reject: a partial cancel of a cross order was refused.
    CancelReject = b'I', len 13 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
    }

    /// `T` Order Priority Update: price or display changed, priority reset.
    OrderPriorityUpdate = b'T', len 30 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
        /// New price, 4 implied decimals.
        price: Price @ 13,
        /// New display.
        display: Char @ 21,
        /// New order reference number.
        order_reference_number: U64 @ 22,
    }

    /// `M` Order Modified: response to a Modify Order.
    OrderModified = b'M', len 18 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
        /// Side now in effect.
        side: Side @ 13,
        /// Shares now open.
        quantity: U32 @ 14,
    }
}

appendage_messages! {
    /// `R` Order Restated: the venue changed an order (reserve refresh, price update).
    OrderRestated = b'R', len 16 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// UserRefNum of the order.
        user_ref_num: U32 @ 9,
        /// `R` refresh of display (reserve), `P` update of displayed price.
        reason: Char @ 13,
    }
}

fixed_messages! {
    /// `Q` Account Query Response.
    AccountQueryResponse = b'Q', len 13 {
        /// Nanoseconds since midnight.
        timestamp: U64 @ 1,
        /// Next UserRefNum the venue expects on this account.
        next_user_ref_num: U32 @ 9,
    }
}

direction! {
    /// A message from the venue to the client.
    Outbound, decode_outbound, OUTBOUND_SPECS, outbound_spec {
        SystemEvent,
        OrderAccepted<'a>,
        OrderReplaced<'a>,
        OrderCanceled,
        AiqCanceled,
        OrderExecuted<'a>,
        BrokenTrade,
        Rejected,
        CancelPending,
        CancelReject,
        OrderPriorityUpdate,
        OrderModified,
        OrderRestated<'a>,
        AccountQueryResponse,
    }
}

impl Inbound<'_> {
    /// The UserRefNum the message is about (the new one for a Replace), `None` for Account Query.
    #[must_use]
    pub const fn user_ref_num(&self) -> Option<u32> {
        match self {
            Self::EnterOrder(m) => Some(m.user_ref_num),
            Self::ReplaceOrder(m) => Some(m.user_ref_num),
            Self::CancelOrder(m) => Some(m.user_ref_num),
            Self::ModifyOrder(m) => Some(m.user_ref_num),
            Self::AccountQuery(_) => None,
        }
    }
}

impl Outbound<'_> {
    /// Nanoseconds since midnight (every outbound message carries one).
    #[must_use]
    pub const fn timestamp(&self) -> u64 {
        match self {
            Self::SystemEvent(m) => m.timestamp,
            Self::OrderAccepted(m) => m.timestamp,
            Self::OrderReplaced(m) => m.timestamp,
            Self::OrderCanceled(m) => m.timestamp,
            Self::AiqCanceled(m) => m.timestamp,
            Self::OrderExecuted(m) => m.timestamp,
            Self::BrokenTrade(m) => m.timestamp,
            Self::Rejected(m) => m.timestamp,
            Self::CancelPending(m) => m.timestamp,
            Self::CancelReject(m) => m.timestamp,
            Self::OrderPriorityUpdate(m) => m.timestamp,
            Self::OrderModified(m) => m.timestamp,
            Self::OrderRestated(m) => m.timestamp,
            Self::AccountQueryResponse(m) => m.timestamp,
        }
    }

    /// The UserRefNum the message is about (the new one for Order Replaced),
    /// `None` for System Event and Account Query Response.
    #[must_use]
    pub const fn user_ref_num(&self) -> Option<u32> {
        match self {
            Self::SystemEvent(_) | Self::AccountQueryResponse(_) => None,
            Self::OrderAccepted(m) => Some(m.user_ref_num),
            Self::OrderReplaced(m) => Some(m.user_ref_num),
            Self::OrderCanceled(m) => Some(m.user_ref_num),
            Self::AiqCanceled(m) => Some(m.user_ref_num),
            Self::OrderExecuted(m) => Some(m.user_ref_num),
            Self::BrokenTrade(m) => Some(m.user_ref_num),
            Self::Rejected(m) => Some(m.user_ref_num),
            Self::CancelPending(m) => Some(m.user_ref_num),
            Self::CancelReject(m) => Some(m.user_ref_num),
            Self::OrderPriorityUpdate(m) => Some(m.user_ref_num),
            Self::OrderModified(m) => Some(m.user_ref_num),
            Self::OrderRestated(m) => Some(m.user_ref_num),
        }
    }
}

/// Proves every layout contiguous from offset 0, covering exactly its fixed
/// length (rows take their kind's width, see [`crate::wire::fields_tile`]),
/// with unique tags within a direction, and the Appendage Length as the last
/// two bytes of appendage messages.
const fn layouts_are_consistent(specs: &[MessageSpec]) -> bool {
    let mut i = 0;
    while i < specs.len() {
        let s = &specs[i];
        let mut k = 0;
        while k < i {
            if specs[k].tag == s.tag {
                return false;
            }
            k += 1;
        }
        if !crate::wire::fields_tile(s.fields, s.len) {
            return false;
        }
        if s.appendage {
            let last = &s.fields[s.fields.len() - 1];
            if last.offset != s.len - 2 || last.len != 2 {
                return false;
            }
        }
        i += 1;
    }
    true
}

const _: () = assert!(
    layouts_are_consistent(INBOUND_SPECS),
    "OUCH inbound layout table is inconsistent"
);
const _: () = assert!(
    layouts_are_consistent(OUTBOUND_SPECS),
    "OUCH outbound layout table is inconsistent"
);
const _: () = assert!(INBOUND_SPECS.len() == 5 && OUTBOUND_SPECS.len() == 14);

// ---------------------------------------------------------------------------
// Optional Appendage.

/// The option tags of OUCH 5.0 TagValue elements.
pub mod tag {
    /// Secondary order reference number (u64), e.g. the displayed part of a reserve.
    pub const SECONDARY_ORD_REF_NUM: u8 = 1;
    /// Firm / MPID (alpha 4).
    pub const FIRM: u8 = 2;
    /// Minimum quantity (u32).
    pub const MIN_QTY: u8 = 3;
    /// Customer type (char).
    pub const CUSTOMER_TYPE: u8 = 4;
    /// Max floor, displayed shares of a reserve order (u32).
    pub const MAX_FLOOR: u8 = 5;
    /// Price type (char: `L` limit, `P` market peg, `M` midpoint peg, `R` primary peg, `Q` market maker peg).
    pub const PRICE_TYPE: u8 = 6;
    /// Peg offset (signed price, i32, 4 implied decimals).
    pub const PEG_OFFSET: u8 = 7;
    /// Discretion (char); listed by the OMI 2021 source only.
    pub const DISCRETION: u8 = 8;
    /// Discretion price (price, 8 bytes).
    pub const DISCRETION_PRICE: u8 = 9;
    /// Discretion price type (char).
    pub const DISCRETION_PRICE_TYPE: u8 = 10;
    /// Discretion peg offset (signed price, i32).
    pub const DISCRETION_PEG_OFFSET: u8 = 11;
    /// Post only (char: `P` yes, `N` no).
    pub const POST_ONLY: u8 = 12;
    /// Random reserves (u32).
    pub const RANDOM_RESERVES: u8 = 13;
    /// Route (alpha 4).
    pub const ROUTE: u8 = 14;
    /// Expire time, seconds (u32).
    pub const EXPIRE_TIME: u8 = 15;
    /// Trade now (char).
    pub const TRADE_NOW: u8 = 16;
    /// Handling instruction (char).
    pub const HANDLE_INST: u8 = 17;
    /// BBO weight indicator (char).
    pub const BBO_WEIGHT_INDICATOR: u8 = 18;
    /// Reference price (price, 8 bytes); OMI 2021 source, Order Executed.
    pub const REFERENCE_PRICE: u8 = 19;
    /// Reference price type (char); OMI 2021 source, Order Executed.
    pub const REFERENCE_PRICE_TYPE: u8 = 20;
    /// Display quantity (u32), Order Restated.
    pub const DISPLAY_QUANTITY: u8 = 22;
    /// Display price (price, 8 bytes), Order Restated.
    pub const DISPLAY_PRICE: u8 = 23;
    /// Group ID (u16).
    pub const GROUP_ID: u8 = 24;
    /// Shares located (char `Y`/`N`).
    pub const SHARES_LOCATED: u8 = 25;
    /// Locate broker (alpha 4).
    pub const LOCATE_BROKER: u8 = 26;
    /// Side (char).
    pub const SIDE: u8 = 27;
    /// User reference index (u8).
    pub const USER_REF_INDEX: u8 = 28;
}

/// Value encoding of a known option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptionKind {
    /// One ASCII byte.
    Char,
    /// Space-padded ASCII.
    Alpha,
    /// One unsigned byte.
    U8,
    /// Big-endian `u16`.
    U16,
    /// Big-endian `u32`.
    U32,
    /// Big-endian `i32` (signed price offsets, 4 implied decimals).
    I32,
    /// Big-endian `u64`.
    U64,
    /// 8-byte price with 4 implied decimals.
    Price,
}

/// A known option tag and its value layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OptionSpec {
    /// The option tag.
    pub tag: u8,
    /// Name in the specification's spelling, snake case.
    pub name: &'static str,
    /// Value length in bytes (the TagValue Length byte is this plus one).
    pub len: usize,
    /// Value encoding.
    pub kind: OptionKind,
}

macro_rules! options {
    ($( $tag:ident $len:literal $kind:ident ),* $(,)?) => {
        /// Every known option tag, by tag.
        pub const OPTION_SPECS: &[OptionSpec] = &[ $( OptionSpec {
            tag: tag::$tag,
            name: stringify!($tag),
            len: $len,
            kind: OptionKind::$kind,
        }, )* ];

        /// The layout of a known option tag, `None` if unknown.
        #[must_use]
        pub const fn option_spec(t: u8) -> Option<&'static OptionSpec> {
            let mut i = 0;
            while i < OPTION_SPECS.len() {
                if OPTION_SPECS[i].tag == t {
                    return Some(&OPTION_SPECS[i]);
                }
                i += 1;
            }
            None
        }
    };
}

options! {
    SECONDARY_ORD_REF_NUM 8 U64,
    FIRM 4 Alpha,
    MIN_QTY 4 U32,
    CUSTOMER_TYPE 1 Char,
    MAX_FLOOR 4 U32,
    PRICE_TYPE 1 Char,
    PEG_OFFSET 4 I32,
    DISCRETION 1 Char,
    DISCRETION_PRICE 8 Price,
    DISCRETION_PRICE_TYPE 1 Char,
    DISCRETION_PEG_OFFSET 4 I32,
    POST_ONLY 1 Char,
    RANDOM_RESERVES 4 U32,
    ROUTE 4 Alpha,
    EXPIRE_TIME 4 U32,
    TRADE_NOW 1 Char,
    HANDLE_INST 1 Char,
    BBO_WEIGHT_INDICATOR 1 Char,
    REFERENCE_PRICE 8 Price,
    REFERENCE_PRICE_TYPE 1 Char,
    DISPLAY_QUANTITY 4 U32,
    DISPLAY_PRICE 8 Price,
    GROUP_ID 2 U16,
    SHARES_LOCATED 1 Char,
    LOCATE_BROKER 4 Alpha,
    SIDE 1 Char,
    USER_REF_INDEX 1 U8,
}

/// One TagValue element, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TagValue<'a> {
    /// The option tag.
    pub tag: u8,
    /// The value bytes (the Length byte on the wire is `value.len() + 1`).
    pub value: &'a [u8],
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    tag: u8,
    len: u8,
    start: u16,
}

/// A validated Optional Appendage: the raw bytes plus a fixed-capacity index
/// of its TagValue elements. `Copy`, no heap; decoding does not allocate.
///
/// Known tags whose value has an unexpected length are kept (the typed getters
/// then return `None`) rather than failing the message: an execution report
/// must never be dropped for an appendage detail.
#[derive(Clone, Copy)]
pub struct Appendage<'a> {
    raw: &'a [u8],
    count: u8,
    slots: [Slot; MAX_OPTIONS],
}

impl<'a> Appendage<'a> {
    /// No options (Appendage Length 0).
    pub const EMPTY: Appendage<'static> = Appendage {
        raw: &[],
        count: 0,
        slots: [Slot {
            tag: 0,
            len: 0,
            start: 0,
        }; MAX_OPTIONS],
    };

    /// Validates and indexes the TagValue elements in `raw` (the bytes after
    /// Appendage Length).
    ///
    /// Errors: a Length byte of 0 -> [`DecodeError::InvalidField`] on
    /// `tag_value_length`; an element running past the end ->
    /// [`DecodeError::Truncated`] (offsets relative to the appendage); more
    /// than [`MAX_OPTIONS`] elements -> [`DecodeError::InvalidField`] on
    /// `option_count`; more than [`MAX_APPENDAGE_LEN`] bytes ->
    /// [`DecodeError::BadLength`].
    pub fn parse(raw: &'a [u8]) -> Result<Self, DecodeError> {
        if raw.len() > MAX_APPENDAGE_LEN {
            return Err(DecodeError::BadLength {
                tag: 0,
                len: raw.len(),
                expected: MAX_APPENDAGE_LEN,
            });
        }
        let mut out = Appendage {
            raw,
            count: 0,
            slots: [Slot::default(); MAX_OPTIONS],
        };
        let mut pos = 0usize;
        let mut count = 0usize;
        while let Some(&len) = raw.get(pos) {
            if len == 0 {
                return Err(DecodeError::InvalidField {
                    field: "tag_value_length",
                    value: 0,
                });
            }
            let end = pos + 1 + usize::from(len);
            if end > raw.len() {
                return Err(DecodeError::Truncated {
                    needed: end,
                    have: raw.len(),
                });
            }
            let Some(slot) = out.slots.get_mut(count) else {
                return Err(DecodeError::InvalidField {
                    field: "option_count",
                    value: u8::try_from(count + 1).unwrap_or(u8::MAX),
                });
            };
            *slot = Slot {
                tag: raw.get(pos + 1).copied().unwrap_or(0),
                len: len - 1,
                // `pos + 2 <= raw.len() <= u16::MAX`.
                start: u16::try_from(pos + 2).unwrap_or(u16::MAX),
            };
            count += 1;
            pos = end;
        }
        // `count <= MAX_OPTIONS < 256`.
        out.count = u8::try_from(count).unwrap_or(u8::MAX);
        Ok(out)
    }

    /// The raw bytes (what follows Appendage Length on the wire).
    #[must_use]
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The Appendage Length value.
    #[must_use]
    pub const fn byte_len(&self) -> usize {
        self.raw.len()
    }

    /// Number of TagValue elements.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are no TagValue elements.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`-th element in wire order.
    #[must_use]
    pub fn nth(&self, i: usize) -> Option<TagValue<'a>> {
        if i >= self.len() {
            return None;
        }
        let s = self.slots.get(i)?;
        let start = usize::from(s.start);
        Some(TagValue {
            tag: s.tag,
            value: self.raw.get(start..start + usize::from(s.len))?,
        })
    }

    /// The elements in wire order.
    pub fn iter(&self) -> impl Iterator<Item = TagValue<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.nth(i))
    }

    /// The value of the first element with option tag `t`.
    #[must_use]
    pub fn get(&self, t: u8) -> Option<&'a [u8]> {
        self.iter().find(|tv| tv.tag == t).map(|tv| tv.value)
    }

    fn get_n<const N: usize>(&self, t: u8) -> Option<[u8; N]> {
        self.get(t).and_then(|v| <[u8; N]>::try_from(v).ok())
    }

    /// A one-byte value (char or u8 options).
    #[must_use]
    pub fn get_u8(&self, t: u8) -> Option<u8> {
        self.get_n::<1>(t).map(|[b]| b)
    }

    /// A `u16` value.
    #[must_use]
    pub fn get_u16(&self, t: u8) -> Option<u16> {
        self.get_n(t).map(u16::from_be_bytes)
    }

    /// A `u32` value.
    #[must_use]
    pub fn get_u32(&self, t: u8) -> Option<u32> {
        self.get_n(t).map(u32::from_be_bytes)
    }

    /// An `i32` value (signed price offsets).
    #[must_use]
    pub fn get_i32(&self, t: u8) -> Option<i32> {
        self.get_n(t).map(i32::from_be_bytes)
    }

    /// A `u64` value (also prices).
    #[must_use]
    pub fn get_u64(&self, t: u8) -> Option<u64> {
        self.get_n(t).map(u64::from_be_bytes)
    }

    /// A 4-byte alpha value (firm, route, locate broker).
    #[must_use]
    pub fn get_alpha4(&self, t: u8) -> Option<[u8; 4]> {
        self.get_n(t)
    }
}

impl Default for Appendage<'_> {
    fn default() -> Self {
        Appendage::EMPTY
    }
}

// The index is a function of the raw bytes, so they alone define identity.
impl PartialEq for Appendage<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Appendage<'_> {}

impl Hash for Appendage<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl fmt::Debug for Appendage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Builds an Optional Appendage into a caller buffer, without allocating.
#[derive(Debug)]
pub struct AppendageWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    count: usize,
}

impl<'b> AppendageWriter<'b> {
    /// Writes into `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            count: 0,
        }
    }

    /// Appends one TagValue element.
    ///
    /// Errors: value longer than 254 bytes -> `Overflow("tag_value_length")`;
    /// more than [`MAX_OPTIONS`] elements -> `Overflow("option_count")`;
    /// appendage beyond [`MAX_APPENDAGE_LEN`] -> `Overflow("appendage_length")`;
    /// buffer full -> [`EncodeError::BufferTooSmall`].
    pub fn push(&mut self, t: u8, value: &[u8]) -> Result<&mut Self, EncodeError> {
        let Ok(len) = u8::try_from(value.len() + 1) else {
            return Err(EncodeError::Overflow("tag_value_length"));
        };
        if self.count >= MAX_OPTIONS {
            return Err(EncodeError::Overflow("option_count"));
        }
        let end = self.len + 2 + value.len();
        if end > MAX_APPENDAGE_LEN {
            return Err(EncodeError::Overflow("appendage_length"));
        }
        let have = self.buf.len();
        let Some(dst) = self.buf.get_mut(self.len..end) else {
            return Err(EncodeError::BufferTooSmall { needed: end, have });
        };
        put(dst, 0, &[len, t]);
        put(dst, 2, value);
        self.len = end;
        self.count += 1;
        Ok(self)
    }

    /// Appends a one-byte (char or u8) option.
    pub fn push_u8(&mut self, t: u8, v: u8) -> Result<&mut Self, EncodeError> {
        self.push(t, &[v])
    }

    /// Appends a `u16` option.
    pub fn push_u16(&mut self, t: u8, v: u16) -> Result<&mut Self, EncodeError> {
        self.push(t, &v.to_be_bytes())
    }

    /// Appends a `u32` option.
    pub fn push_u32(&mut self, t: u8, v: u32) -> Result<&mut Self, EncodeError> {
        self.push(t, &v.to_be_bytes())
    }

    /// Appends an `i32` option (signed price offsets).
    pub fn push_i32(&mut self, t: u8, v: i32) -> Result<&mut Self, EncodeError> {
        self.push(t, &v.to_be_bytes())
    }

    /// Appends a `u64` or price option.
    pub fn push_u64(&mut self, t: u8, v: u64) -> Result<&mut Self, EncodeError> {
        self.push(t, &v.to_be_bytes())
    }

    /// The finished appendage, borrowing the buffer.
    pub fn finish(self) -> Result<Appendage<'b>, EncodeError> {
        let buf: &'b [u8] = self.buf;
        let raw = buf.get(..self.len).unwrap_or_default();
        Appendage::parse(raw).map_err(|_| EncodeError::Overflow("appendage"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soupbintcp::{self, Packet};
    use proptest::prelude::*;

    pub(super) use crate::wire::Seeded;

    impl Seeded for Side {
        fn from_seed(seed: u64) -> Self {
            [
                Side::Buy,
                Side::Sell,
                Side::SellShort,
                Side::SellShortExempt,
            ][(seed % 4) as usize]
        }
    }

    fn inbound_seeded<'a>(t: u8, seeds: &[u64], app: Appendage<'a>) -> Inbound<'a> {
        let mut it = seeds.iter().copied();
        let mut next = move || it.next().unwrap_or(u64::MAX);
        let next: &mut dyn FnMut() -> u64 = &mut next;
        match t {
            b'O' => EnterOrder::seeded(next, app).into(),
            b'U' => ReplaceOrder::seeded(next, app).into(),
            b'X' => CancelOrder::seeded(next).into(),
            b'M' => ModifyOrder::seeded(next).into(),
            b'Q' => AccountQuery::seeded(next).into(),
            _ => unreachable!("unknown inbound tag"),
        }
    }

    fn outbound_seeded<'a>(t: u8, seeds: &[u64], app: Appendage<'a>) -> Outbound<'a> {
        let mut it = seeds.iter().copied();
        let mut next = move || it.next().unwrap_or(u64::MAX);
        let next: &mut dyn FnMut() -> u64 = &mut next;
        match t {
            b'S' => SystemEvent::seeded(next).into(),
            b'A' => OrderAccepted::seeded(next, app).into(),
            b'U' => OrderReplaced::seeded(next, app).into(),
            b'C' => OrderCanceled::seeded(next).into(),
            b'D' => AiqCanceled::seeded(next).into(),
            b'E' => OrderExecuted::seeded(next, app).into(),
            b'B' => BrokenTrade::seeded(next).into(),
            b'J' => Rejected::seeded(next).into(),
            b'P' => CancelPending::seeded(next).into(),
            b'I' => CancelReject::seeded(next).into(),
            b'T' => OrderPriorityUpdate::seeded(next).into(),
            b'M' => OrderModified::seeded(next).into(),
            b'R' => OrderRestated::seeded(next, app).into(),
            b'Q' => AccountQueryResponse::seeded(next).into(),
            _ => unreachable!("unknown outbound tag"),
        }
    }

    fn enc_in(m: &Inbound<'_>) -> Vec<u8> {
        let mut out = vec![0u8; m.encoded_len()];
        assert_eq!(m.encode(&mut out), Ok(m.encoded_len()));
        out
    }

    fn enc_out(m: &Outbound<'_>) -> Vec<u8> {
        let mut out = vec![0u8; m.encoded_len()];
        assert_eq!(m.encode(&mut out), Ok(m.encoded_len()));
        out
    }

    fn sample_appendage(buf: &mut [u8]) -> Appendage<'_> {
        let mut w = AppendageWriter::new(buf);
        w.push(tag::FIRM, b"QWIR")
            .unwrap()
            .push_u32(tag::MIN_QTY, 100)
            .unwrap()
            .push_i32(tag::PEG_OFFSET, -500)
            .unwrap()
            .push(99, b"unknown tag, kept raw")
            .unwrap();
        w.finish().unwrap()
    }

    fn in_tags() -> impl Iterator<Item = u8> {
        INBOUND_SPECS.iter().map(|s| s.tag)
    }

    fn out_tags() -> impl Iterator<Item = u8> {
        OUTBOUND_SPECS.iter().map(|s| s.tag)
    }

    #[test]
    fn fixed_lengths_match_the_ouch_50_document() {
        let inbound = [
            (b'O', 47, true),
            (b'U', 40, true),
            (b'X', 9, false),
            (b'M', 10, false),
            (b'Q', 1, false),
        ];
        for (t, len, app) in inbound {
            let s = inbound_spec(t).unwrap();
            assert_eq!((s.len, s.appendage), (len, app), "inbound {}", t as char);
        }
        let outbound = [
            (b'S', 10, false),
            (b'A', 64, true),
            (b'U', 68, true),
            (b'C', 18, false),
            (b'D', 32, false),
            (b'E', 36, true),
            (b'B', 36, false),
            (b'J', 29, false),
            (b'P', 13, false),
            (b'I', 13, false),
            (b'T', 30, false),
            (b'M', 18, false),
            (b'R', 16, true),
            (b'Q', 13, false),
        ];
        for (t, len, app) in outbound {
            let s = outbound_spec(t).unwrap();
            assert_eq!((s.len, s.appendage), (len, app), "outbound {}", t as char);
        }
        assert_eq!(OUTBOUND_SPECS.len(), outbound.len());
        assert!(inbound_spec(b'A').is_none());
        assert!(outbound_spec(b'O').is_none());
        for s in INBOUND_SPECS.iter().chain(OUTBOUND_SPECS) {
            let mut at = 0;
            for f in s.fields {
                assert_eq!(f.offset, at, "{}.{}", s.name, f.name);
                at += f.len;
            }
            assert_eq!(at, s.len, "{}", s.name);
        }
        for o in OPTION_SPECS {
            assert_eq!(option_spec(o.tag), Some(o));
        }
    }

    #[test]
    fn enter_order_decodes_field_by_field_at_spec_offsets() {
        let mut b = vec![b'O']; // 0 type
        b.extend_from_slice(&[0, 0, 0x30, 0x39]); // 1 UserRefNum 12345
        b.push(b'T'); // 5 side: sell short
        b.extend_from_slice(&[0, 0, 0x01, 0xF4]); // 6 quantity 500
        b.extend_from_slice(b"AAPL    "); // 10 symbol
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0x1B, 0x77, 0x40]); // 18 price 180.0000
        b.push(b'0'); // 26 TIF day
        b.push(b'Y'); // 27 display
        b.push(b'P'); // 28 capacity principal
        b.push(b'N'); // 29 ISO eligibility
        b.push(b'N'); // 30 cross type continuous
        b.extend_from_slice(b"CLORD-0001    "); // 31 ClOrdID
        b.extend_from_slice(&[0, 8]); // 45 appendage length
        b.extend_from_slice(&[5, tag::MAX_FLOOR, 0, 0, 0, 100]); // 47 TagValue max floor 100
        b.extend_from_slice(&[1, 77]); // 53 unknown tag 77, empty value
        assert_eq!(b.len(), 55);
        let Ok(Inbound::EnterOrder(m)) = decode_inbound(&b) else {
            panic!("not an enter order")
        };
        assert_eq!(m.user_ref_num, 12_345);
        assert_eq!(m.side, Side::SellShort);
        assert_eq!(m.side.book_side(), quotewire_core::Side::Sell);
        assert_eq!(m.quantity, 500);
        assert_eq!(&m.symbol, b"AAPL    ");
        assert_eq!(m.price, 1_800_000);
        assert_eq!(m.time_in_force, b'0');
        assert_eq!(m.display, b'Y');
        assert_eq!(m.capacity, b'P');
        assert_eq!(m.intermarket_sweep_eligibility, b'N');
        assert_eq!(m.cross_type, b'N');
        assert_eq!(&m.cl_ord_id, b"CLORD-0001    ");
        assert_eq!(m.appendage.len(), 2);
        assert_eq!(m.appendage.get_u32(tag::MAX_FLOOR), Some(100));
        assert_eq!(
            m.appendage.nth(1),
            Some(TagValue {
                tag: 77,
                value: &[]
            })
        );
        assert_eq!(enc_in(&Inbound::EnterOrder(m)), b);
    }

    #[test]
    fn order_executed_decodes_field_by_field_at_spec_offsets() {
        let mut b = vec![b'E']; // 0 type
        b.extend_from_slice(&0x0000_1F1A_8B3C_0000u64.to_be_bytes()); // 1 timestamp
        b.extend_from_slice(&7u32.to_be_bytes()); // 9 UserRefNum
        b.extend_from_slice(&300u32.to_be_bytes()); // 13 quantity
        b.extend_from_slice(&1_234_500u64.to_be_bytes()); // 17 price 123.4500
        b.push(b'R'); // 25 liquidity flag
        b.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes()); // 26 match number
        b.extend_from_slice(&[0, 0]); // 34 appendage length
        assert_eq!(b.len(), 36);
        let Ok(Outbound::OrderExecuted(m)) = decode_outbound(&b) else {
            panic!("not an execution")
        };
        assert_eq!(m.timestamp, 0x0000_1F1A_8B3C_0000);
        assert_eq!(m.user_ref_num, 7);
        assert_eq!(m.quantity, 300);
        assert_eq!(m.price, 1_234_500);
        assert_eq!(m.liquidity_flag, b'R');
        assert_eq!(m.match_number, 0x0102_0304_0506_0708);
        assert!(m.appendage.is_empty());
        assert_eq!(enc_out(&Outbound::OrderExecuted(m)), b);
        // With a reference price option.
        let mut with = b.clone();
        with[34..36].copy_from_slice(&[0, 10]);
        with.extend_from_slice(&[9, tag::REFERENCE_PRICE]);
        with.extend_from_slice(&1_000_000u64.to_be_bytes());
        let Ok(Outbound::OrderExecuted(m)) = decode_outbound(&with) else {
            panic!("not an execution")
        };
        assert_eq!(m.appendage.get_u64(tag::REFERENCE_PRICE), Some(1_000_000));
        assert_eq!(enc_out(&Outbound::OrderExecuted(m)), with);
    }

    #[test]
    fn same_letter_means_different_messages_by_direction() {
        let mut buf = [0u8; 128];
        let u_in = enc_in(&inbound_seeded(b'U', &[1; 16], Appendage::EMPTY));
        assert!(matches!(
            decode_inbound(&u_in),
            Ok(Inbound::ReplaceOrder(_))
        ));
        assert!(matches!(
            decode_outbound(&u_in),
            Err(DecodeError::Truncated { .. })
        ));
        let n = Outbound::from(AccountQueryResponse {
            timestamp: 1,
            next_user_ref_num: 2,
        })
        .encode(&mut buf)
        .unwrap();
        assert_eq!(n, 13);
        assert!(matches!(
            decode_outbound(&buf[..n]),
            Ok(Outbound::AccountQueryResponse(_))
        ));
        assert_eq!(
            decode_inbound(&buf[..n]),
            Err(DecodeError::BadLength {
                tag: b'Q',
                len: 13,
                expected: 1
            })
        );
        assert_eq!(
            decode_inbound(b"Q"),
            Ok(Inbound::AccountQuery(AccountQuery {}))
        );
        assert_eq!(decode_outbound(b"O"), Err(DecodeError::UnknownType(b'O')));
        assert_eq!(decode_inbound(b"A"), Err(DecodeError::UnknownType(b'A')));
    }

    #[test]
    fn appendage_length_must_match_the_bytes_that_follow() {
        let mut app_buf = [0u8; 64];
        let app = sample_appendage(&mut app_buf);
        let bytes = enc_out(&outbound_seeded(b'A', &[3; 20], app));
        assert_eq!(bytes.len(), 64 + app.byte_len());
        let mut short = bytes.clone();
        short.pop();
        assert_eq!(
            decode_outbound(&short),
            Err(DecodeError::Truncated {
                needed: bytes.len(),
                have: bytes.len() - 1
            })
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            decode_outbound(&long),
            Err(DecodeError::BadLength {
                tag: b'A',
                len: bytes.len() + 1,
                expected: bytes.len()
            })
        );
    }

    #[test]
    fn malformed_tag_values_are_errors() {
        assert_eq!(
            Appendage::parse(&[0]),
            Err(DecodeError::InvalidField {
                field: "tag_value_length",
                value: 0
            })
        );
        assert_eq!(
            Appendage::parse(&[5, tag::MIN_QTY, 0, 0]),
            Err(DecodeError::Truncated { needed: 6, have: 4 })
        );
        let many: Vec<u8> = (0..=MAX_OPTIONS).flat_map(|i| [1u8, i as u8]).collect();
        assert_eq!(
            Appendage::parse(&many),
            Err(DecodeError::InvalidField {
                field: "option_count",
                value: 33
            })
        );
        assert_eq!(
            Appendage::parse(&many[..2 * MAX_OPTIONS]).map(|a| a.len()),
            Ok(MAX_OPTIONS)
        );
    }

    #[test]
    fn known_tag_with_unexpected_size_is_kept_but_not_typed() {
        let a = Appendage::parse(&[3, tag::MIN_QTY, 0, 7]).unwrap();
        assert_eq!(a.get(tag::MIN_QTY), Some(&[0u8, 7][..]));
        assert_eq!(a.get_u32(tag::MIN_QTY), None);
        assert_eq!(a.get_u16(tag::MIN_QTY), Some(7));
    }

    #[test]
    fn appendage_writer_reports_limits() {
        let mut small = [0u8; 4];
        let mut w = AppendageWriter::new(&mut small);
        assert_eq!(
            w.push_u32(tag::MIN_QTY, 1).map(|_| ()),
            Err(EncodeError::BufferTooSmall { needed: 6, have: 4 })
        );
        let mut big = [0u8; 1024];
        let mut w = AppendageWriter::new(&mut big);
        assert_eq!(
            w.push(1, &[0; 255]).map(|_| ()),
            Err(EncodeError::Overflow("tag_value_length"))
        );
        for i in 0..MAX_OPTIONS {
            w.push_u8(i as u8, 0).unwrap();
        }
        assert_eq!(
            w.push_u8(1, 0).map(|_| ()),
            Err(EncodeError::Overflow("option_count"))
        );
        assert_eq!(w.finish().map(|a| a.len()), Ok(MAX_OPTIONS));
    }

    #[test]
    fn invalid_side_and_wrong_type_byte_are_invalid_fields() {
        let mut bytes = enc_in(&inbound_seeded(b'M', &[0; 8], Appendage::EMPTY));
        bytes[5] = b'X';
        assert_eq!(
            decode_inbound(&bytes),
            Err(DecodeError::InvalidField {
                field: "side",
                value: b'X'
            })
        );
        assert_eq!(
            CancelOrder::decode(&[b'M', 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::InvalidField {
                field: "message_type",
                value: b'M'
            })
        );
    }

    #[test]
    fn every_truncated_prefix_is_an_error_not_a_panic() {
        let mut app_buf = [0u8; 64];
        let app = sample_appendage(&mut app_buf);
        for t in in_tags() {
            let bytes = enc_in(&inbound_seeded(t, &[0x4141_4141_4141_4141; 20], app));
            for cut in 0..bytes.len() {
                assert!(
                    matches!(
                        decode_inbound(&bytes[..cut]),
                        Err(DecodeError::Truncated { .. })
                    ),
                    "{t} {cut}"
                );
            }
        }
        for t in out_tags() {
            let bytes = enc_out(&outbound_seeded(t, &[0x4141_4141_4141_4141; 20], app));
            for cut in 0..bytes.len() {
                assert!(
                    matches!(
                        decode_outbound(&bytes[..cut]),
                        Err(DecodeError::Truncated { .. })
                    ),
                    "{t} {cut}"
                );
            }
        }
    }

    #[test]
    fn ouch_rides_in_soupbintcp_data_packets() {
        let mut app_buf = [0u8; 64];
        let app = sample_appendage(&mut app_buf);
        let order = enc_in(&inbound_seeded(b'O', &[5; 20], app));
        let mut wire = vec![0u8; 256];
        let n = Packet::UnsequencedData(&order).encode(&mut wire).unwrap();
        let fill = enc_out(&outbound_seeded(b'E', &[6; 20], Appendage::EMPTY));
        let m = Packet::SequencedData(&fill).encode(&mut wire[n..]).unwrap();
        let pkts: Vec<_> = soupbintcp::frames(&wire[..n + m], 1024).collect();
        assert_eq!(pkts.len(), 2);
        let first = pkts[0].unwrap().data().unwrap();
        assert_eq!(
            decode_inbound(first)
                .unwrap()
                .appendage()
                .map(Appendage::len),
            Some(4)
        );
        let second = pkts[1].unwrap().data().unwrap();
        assert!(matches!(
            decode_outbound(second),
            Ok(Outbound::OrderExecuted(_))
        ));
    }

    /// Regenerates the committed fuzz seeds:
    /// `cargo test -p quotewire-protocol write_soupbintcp_ouch_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when layouts change"]
    fn write_soupbintcp_ouch_fuzz_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/soupbintcp_ouch");
        std::fs::create_dir_all(&dir).unwrap();
        // Byte 0 is the fuzz target's TCP segment size; the session follows.
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), [&[7u8][..], bytes].concat()).unwrap();
        };
        let mut app_buf = [0u8; 64];
        let app = sample_appendage(&mut app_buf);
        let wrap = |data: &[u8], sequenced: bool| {
            let p = if sequenced {
                Packet::SequencedData(data)
            } else {
                Packet::UnsequencedData(data)
            };
            let mut out = vec![0u8; p.encoded_len()];
            p.encode(&mut out).unwrap();
            out
        };
        let mut client = soupbintcp::tests::session_bytes();
        for t in in_tags() {
            client.extend(wrap(
                &enc_in(&inbound_seeded(t, &[0x2020_2020_4142_0101; 20], app)),
                false,
            ));
        }
        write("client_session.bin", &client);
        let mut server = Vec::new();
        for t in out_tags() {
            server.extend(wrap(
                &enc_out(&outbound_seeded(t, &[0x2020_2020_4142_0101; 20], app)),
                true,
            ));
        }
        write("server_session.bin", &server);
        write(
            "enter_order.bin",
            &wrap(&enc_in(&inbound_seeded(b'O', &[1; 20], app)), false),
        );
        write(
            "order_executed.bin",
            &wrap(&enc_out(&outbound_seeded(b'E', &[2; 20], app)), true),
        );
    }

    fn arb_appendage() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..12)),
            0..6,
        )
    }

    fn write_app<'b>(buf: &'b mut [u8], items: &[(u8, Vec<u8>)]) -> Appendage<'b> {
        let mut w = AppendageWriter::new(buf);
        for (t, v) in items {
            w.push(*t, v).unwrap();
        }
        w.finish().unwrap()
    }

    proptest! {
        #[test]
        fn every_inbound_type_round_trips(seeds in any::<[u64; 16]>(), items in arb_appendage()) {
            let mut buf = [0u8; 128];
            let app = write_app(&mut buf, &items);
            prop_assert_eq!(app.len(), items.len());
            for (i, tv) in app.iter().enumerate() {
                prop_assert_eq!(tv.tag, items[i].0);
                prop_assert_eq!(tv.value, &items[i].1[..]);
            }
            for t in in_tags() {
                let m = inbound_seeded(t, &seeds, app);
                let bytes = enc_in(&m);
                prop_assert_eq!(bytes[0], t);
                prop_assert_eq!(decode_inbound(&bytes), Ok(m));
            }
        }

        #[test]
        fn every_outbound_type_round_trips(seeds in any::<[u64; 16]>(), items in arb_appendage()) {
            let mut buf = [0u8; 128];
            let app = write_app(&mut buf, &items);
            for t in out_tags() {
                let m = outbound_seeded(t, &seeds, app);
                let bytes = enc_out(&m);
                prop_assert_eq!(bytes[0], t);
                let got = decode_outbound(&bytes);
                prop_assert_eq!(got, Ok(m));
                let has_app = m.spec().appendage;
                prop_assert_eq!(got.unwrap().appendage().is_some(), has_app);
                if has_app {
                    prop_assert_eq!(bytes.len(), m.spec().len + app.byte_len());
                }
            }
        }

        #[test]
        fn decoded_arbitrary_bytes_reencode_to_the_same_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(m) = decode_inbound(&bytes) {
                prop_assert_eq!(enc_in(&m), bytes.clone());
            }
            if let Ok(m) = decode_outbound(&bytes) {
                prop_assert_eq!(enc_out(&m), bytes.clone());
            }
            let _ = Appendage::parse(&bytes);
        }

        #[test]
        fn valid_fixed_part_with_random_tail_never_panics(dir in any::<bool>(),
            idx in any::<prop::sample::Index>(),
            body in proptest::collection::vec(any::<u8>(), 0..120)) {
            let specs = if dir { INBOUND_SPECS } else { OUTBOUND_SPECS };
            let s = specs[idx.index(specs.len())];
            let mut bytes = vec![s.tag];
            bytes.extend_from_slice(&body);
            if s.appendage && bytes.len() >= s.len {
                // Make Appendage Length agree with the tail half the time.
                let tail = bytes.len() - s.len;
                if body.first().copied().unwrap_or(0) & 1 == 0 {
                    let l = u16::try_from(tail).unwrap().to_be_bytes();
                    bytes[s.len - 2..s.len].copy_from_slice(&l);
                }
            } else {
                bytes.truncate(s.len);
            }
            if dir {
                if let Ok(m) = decode_inbound(&bytes) { prop_assert_eq!(enc_in(&m), bytes); }
            } else if let Ok(m) = decode_outbound(&bytes) {
                prop_assert_eq!(enc_out(&m), bytes);
            }
        }
    }
}
