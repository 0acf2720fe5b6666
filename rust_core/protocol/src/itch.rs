//! Nasdaq TotalView-ITCH 5.0: every message of the specification, decoded from
//! and encoded into borrowed byte buffers.
//!
//! Each message is written once, as a table of `field: Kind @ offset` rows in
//! the `itch_messages!` invocation below; the macro derives from that table
//! the `Copy` struct, its decoder, its encoder and its [`MessageSpec`] layout
//! row (which Python uses to build NumPy dtypes straight over wire bytes). A
//! compile-time check proves every layout contiguous and exactly as long as
//! the message, so the fixed-offset reads below can never run out of bounds.
//!
//! All integers are big-endian and unsigned. Alpha fields are kept as raw
//! bytes (left justified, space padded), prices as raw integers with 4
//! (`Price(4)`) or 8 (`Price(8)`) implied decimals, timestamps as nanoseconds
//! since midnight (48 bits on the wire).
//!
//! [`decode`] takes ONE message, type byte first, without any length prefix;
//! MoldUDP64 blocks (see [`crate::moldudp64`]) and the length-prefixed daily
//! files (see [`length_prefixed`]) both yield exactly such slices.

use core::iter::FusedIterator;

use quotewire_core::Side;

use crate::wire::{exact, field_read, field_specs, field_ty, field_write, put, rd};
use crate::{DecodeError, EncodeError};

/// Largest value of a 48-bit timestamp field.
pub const MAX_TIMESTAMP: u64 = (1 << 48) - 1;

/// How a field is laid out on the wire; enough to build a NumPy dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// One ASCII byte (including the message type).
    Char,
    /// Big-endian `u16`.
    U16,
    /// Big-endian `u32`.
    U32,
    /// Big-endian 48-bit unsigned integer (timestamps).
    U48,
    /// Big-endian `u64`.
    U64,
    /// Big-endian `u32` price with 4 implied decimals.
    Price4,
    /// Big-endian `u64` price with 8 implied decimals.
    Price8,
    /// Space-padded ASCII of the field's length.
    Alpha,
    /// One byte, `B` (buy) or `S` (sell); decoding refuses anything else.
    Side,
}

impl FieldKind {
    /// The wire length of the kind, `None` for [`FieldKind::Alpha`] (any length).
    #[must_use]
    pub const fn fixed_len(self) -> Option<usize> {
        match self {
            Self::Char | Self::Side => Some(1),
            Self::U16 => Some(2),
            Self::U32 | Self::Price4 => Some(4),
            Self::U48 => Some(6),
            Self::U64 | Self::Price8 => Some(8),
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
    /// The Rust type (and [`Message`] variant) name, e.g. `"AddOrder"`.
    pub name: &'static str,
    /// Fixed message length including the type byte.
    pub len: usize,
    /// Every field in wire order, starting with `message_type` at offset 0.
    pub fields: &'static [FieldSpec],
}

// Fixed-offset access (`rd`, `put`, `exact`, the `field_*!` macros) lives in
// `crate::wire`; the ITCH-specific pieces follow.

/// The 48-bit timestamp at offset 5: one 8-byte load from offset 3 (every
/// message is at least 12 bytes long), masked, instead of six byte loads.
#[inline(always)]
fn rd_timestamp(b: &[u8]) -> u64 {
    u64::from_be_bytes(rd::<8>(b, 3)) & MAX_TIMESTAMP
}

#[inline(always)]
fn rd_side(b: &[u8], off: usize, field: &'static str) -> Result<Side, DecodeError> {
    let [value] = rd::<1>(b, off);
    match value {
        b'B' => Ok(Side::Buy),
        b'S' => Ok(Side::Sell),
        _ => Err(DecodeError::InvalidField { field, value }),
    }
}

/// Generates, from one layout table per message, the struct, its codec, its
/// [`MessageSpec`], the [`Message`] enum and the tag dispatch.
///
/// Row syntax: `field_name: Kind @ offset` where `Kind` is one of `Char`,
/// `U16`, `U32`, `U64`, `Price4`, `Price8`, `Side` or `Alpha(len)`. The common
/// header (type, locate, tracking number, timestamp) is implied.
macro_rules! itch_messages {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = $tag:literal, len $len:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident : $kind:ident $(($n:literal))? @ $off:literal ),* $(,)?
        }
    )*) => {
        $(
            $(#[doc = $doc])*
            // `repr(C)` puts the common header (and the order reference of the
            // order messages) at the same offset in every variant, so
            // `Message::timestamp()` and friends compile to one load, no branch.
            #[repr(C)]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            pub struct $name {
                /// Locate code of the security for the day (0 when not stock related).
                pub stock_locate: u16,
                /// Nasdaq internal tracking number.
                pub tracking_number: u16,
                /// Nanoseconds since midnight (48 bits on the wire).
                pub timestamp: u64,
                $( $(#[doc = $fdoc])* pub $field: field_ty!($kind $(($n))?), )*
            }

            impl $name {
                /// The message type byte.
                pub const TAG: u8 = $tag;
                /// Fixed length on the wire, including the type byte.
                pub const LEN: usize = $len;
                /// Wire layout of this message.
                pub const SPEC: MessageSpec = MessageSpec {
                    tag: $tag,
                    name: stringify!($name),
                    len: $len,
                    fields: field_specs!(
                        stock_locate: U16 @ 1,
                        tracking_number: U16 @ 3,
                        timestamp: U48 @ 5,
                        $( $field : $kind $(($n))? @ $off, )*
                    ),
                };

                /// Decodes exactly one message of this type (`buf.len()` must be [`Self::LEN`]).
                #[inline]
                pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
                    let b: &[u8; $len] = exact::<$len>(buf, $tag)?;
                    Ok(Self {
                        stock_locate: u16::from_be_bytes(rd(b, 1)),
                        tracking_number: u16::from_be_bytes(rd(b, 3)),
                        timestamp: rd_timestamp(b),
                        $( $field: field_read!(b, $off, $field, $kind $(($n))?), )*
                    })
                }

                /// Encodes into `out[..Self::LEN]`, returning [`Self::LEN`]. On error the
                /// contents of `out` are unspecified.
                #[inline]
                pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                    let have = out.len();
                    let Some(o) = out.first_chunk_mut::<$len>() else {
                        return Err(EncodeError::BufferTooSmall { needed: $len, have });
                    };
                    if self.timestamp > MAX_TIMESTAMP {
                        return Err(EncodeError::Overflow("timestamp"));
                    }
                    let o: &mut [u8] = o;
                    put(o, 0, &[$tag]);
                    put(o, 1, &self.stock_locate.to_be_bytes());
                    put(o, 3, &self.tracking_number.to_be_bytes());
                    put(o, 5, &self.timestamp.to_be_bytes()[2..]);
                    $( field_write!(o, $off, self.$field, $kind $(($n))?); )*
                    Ok($len)
                }

                #[cfg(test)]
                fn seeded(next: &mut dyn FnMut() -> u64) -> Self {
                    Self {
                        stock_locate: tests::Seeded::from_seed(next()),
                        tracking_number: tests::Seeded::from_seed(next()),
                        timestamp: next() & MAX_TIMESTAMP,
                        $( $field: tests::Seeded::from_seed(next()), )*
                    }
                }
            }

            impl From<$name> for Message {
                #[inline]
                fn from(m: $name) -> Self {
                    Self::$name(m)
                }
            }
        )*

        /// Any TotalView-ITCH 5.0 message. `Copy`, no heap.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Message {
            $( $(#[doc = $doc])* $name($name), )*
        }

        impl StockDirectory {
    /// A directory entry for an ordinary listed common stock (Nasdaq Global Select, normal
    /// status, 100-share round lots, production, not an ETP, LULD tier 2); override
    /// fields with struct update syntax.
    #[must_use]
    pub const fn common_stock(timestamp: u64, stock_locate: u16, stock: [u8; 8]) -> Self {
        Self {
            stock_locate,
            tracking_number: 0,
            timestamp,
            stock,
            market_category: b'Q',
            financial_status_indicator: b'N',
            round_lot_size: 100,
            round_lots_only: b'N',
            issue_classification: b'C',
            issue_sub_type: *b"Z ",
            authenticity: b'P',
            short_sale_threshold_indicator: b'N',
            ipo_flag: b'N',
            luld_reference_price_tier: b'2',
            etp_flag: b'N',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
        }
    }
}

impl Message {
            /// The message type byte.
            #[inline]
            #[must_use]
            pub const fn tag(&self) -> u8 {
                match self { $( Self::$name(_) => $tag, )* }
            }

            /// Fixed length on the wire, including the type byte.
            #[inline]
            #[must_use]
            pub const fn encoded_len(&self) -> usize {
                match self { $( Self::$name(_) => $len, )* }
            }

            /// Encodes into `out`, returning the bytes written. Never allocates.
            #[inline]
            pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                match self { $( Self::$name(m) => m.encode(out), )* }
            }

            /// Locate code of the security (0 for messages that are not stock related).
            #[inline]
            #[must_use]
            pub const fn stock_locate(&self) -> u16 {
                match self { $( Self::$name(m) => m.stock_locate, )* }
            }

            /// Nasdaq internal tracking number.
            #[inline]
            #[must_use]
            pub const fn tracking_number(&self) -> u16 {
                match self { $( Self::$name(m) => m.tracking_number, )* }
            }

            /// Nanoseconds since midnight.
            #[inline]
            #[must_use]
            pub const fn timestamp(&self) -> u64 {
                match self { $( Self::$name(m) => m.timestamp, )* }
            }

            /// The layout of this message's type.
            #[inline]
            #[must_use]
            pub const fn spec(&self) -> &'static MessageSpec {
                match self { $( Self::$name(_) => &$name::SPEC, )* }
            }

            #[cfg(test)]
            fn seeded(tag: u8, next: &mut dyn FnMut() -> u64) -> Option<Self> {
                match tag {
                    $( $tag => Some(Self::$name($name::seeded(next))), )*
                    _ => None,
                }
            }
        }

        /// Decodes one message: type byte first, no length prefix, exactly the
        /// type's fixed length. Never panics.
        ///
        /// Errors: empty or short buffer -> [`DecodeError::Truncated`]; unknown
        /// type byte -> [`DecodeError::UnknownType`]; longer than the type's
        /// length -> [`DecodeError::BadLength`]; a side byte other than `B`/`S` ->
        /// [`DecodeError::InvalidField`].
        #[inline]
        pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
            let Some(&tag) = buf.first() else {
                return Err(DecodeError::Truncated { needed: 1, have: 0 });
            };
            match tag {
                $( $tag => $name::decode(buf).map(Message::$name), )*
                _ => Err(DecodeError::UnknownType(tag)),
            }
        }

        /// Fixed length of a message type including the type byte, `None` if unknown.
        #[inline]
        #[must_use]
        pub const fn message_len(tag: u8) -> Option<usize> {
            match tag {
                $( $tag => Some($len), )*
                _ => None,
            }
        }

        /// The layout of every message type, in specification order.
        pub const MESSAGE_SPECS: &[MessageSpec] = &[ $( $name::SPEC, )* ];

        /// The layout of one message type, `None` if unknown.
        #[must_use]
        pub const fn spec(tag: u8) -> Option<&'static MessageSpec> {
            match tag {
                $( $tag => Some(&$name::SPEC), )*
                _ => None,
            }
        }
    };
}

itch_messages! {
    /// `S` (1.1): a market or data-feed event (start/end of messages, system or market hours).
    SystemEvent = b'S', len 12 {
        /// `O` start of messages, `S` start of system hours, `Q` start of market hours,
        /// `M` end of market hours, `E` end of system hours, `C` end of messages.
        event_code: Char @ 11,
    }

    /// `R` (1.2.1): directory entry for one security, sent at the start of day.
    StockDirectory = b'R', len 39 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// Listing market or tier (`Q`, `G`, `S`, `N`, `A`, `P`, `Z`, `V`, space).
        market_category: Char @ 19,
        /// Listing-compliance status (`D`, `E`, `Q`, `S`, `G`, `H`, `J`, `K`, `C`, `N`, space).
        financial_status_indicator: Char @ 20,
        /// Shares in a round lot.
        round_lot_size: U32 @ 21,
        /// `Y` only round lots accepted, `N` no size restriction.
        round_lots_only: Char @ 25,
        /// Security class (see spec appendix).
        issue_classification: Char @ 26,
        /// Security sub-type (see spec appendix).
        issue_sub_type: Alpha(2) @ 27,
        /// `P` live/production, `T` test.
        authenticity: Char @ 29,
        /// `Y` restricted under SEC Rule 203(b)(3), `N` not, space unavailable.
        short_sale_threshold_indicator: Char @ 30,
        /// `Y` new IPO security, `N` not, space unavailable.
        ipo_flag: Char @ 31,
        /// `1` Tier 1, `2` Tier 2, space unavailable.
        luld_reference_price_tier: Char @ 32,
        /// `Y` exchange traded product, `N` not, space unavailable.
        etp_flag: Char @ 33,
        /// Integral leverage of the ETP relative to its index.
        etp_leverage_factor: U32 @ 34,
        /// `Y` inverse ETP, `N` not.
        inverse_indicator: Char @ 38,
    }

    /// `H` (1.2.2): trading state of a security changed (halt, pause, quotation, trading).
    StockTradingAction = b'H', len 25 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// `H` halted, `P` paused, `Q` quotation only, `T` trading.
        trading_state: Char @ 19,
        /// Reserved.
        reserved: Char @ 20,
        /// Trading action reason code.
        reason: Alpha(4) @ 21,
    }

    /// `Y` (1.2.3): Reg SHO short sale price test restriction status.
    RegShoRestriction = b'Y', len 20 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// `0` no test, `1` restriction in effect (intraday drop), `2` restriction remains.
        reg_sho_action: Char @ 19,
    }

    /// `L` (1.2.4): a market participant's status in one security.
    MarketParticipantPosition = b'L', len 26 {
        /// Market participant identifier.
        mpid: Alpha(4) @ 11,
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 15,
        /// `Y` primary market maker, `N` not.
        primary_market_maker: Char @ 23,
        /// `N` normal, `P` passive, `S` syndicate, `R` pre-syndicate, `L` penalty.
        market_maker_mode: Char @ 24,
        /// `A` active, `E` excused, `W` withdrawn, `S` suspended, `D` deleted.
        market_participant_state: Char @ 25,
    }

    /// `V` (1.2.5.1): the day's market-wide circuit breaker levels.
    MwcbDeclineLevel = b'V', len 35 {
        /// Level 1 value, `Price(8)`.
        level_1: Price8 @ 11,
        /// Level 2 value, `Price(8)`.
        level_2: Price8 @ 19,
        /// Level 3 value, `Price(8)`.
        level_3: Price8 @ 27,
    }

    /// `W` (1.2.5.2): a market-wide circuit breaker level was breached.
    MwcbStatus = b'W', len 12 {
        /// `1`, `2` or `3`.
        breached_level: Char @ 11,
    }

    /// `K` (1.2.6): anticipated IPO quotation release time.
    IpoQuotingPeriodUpdate = b'K', len 28 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// Release time in seconds since midnight (0 when cancelled).
        ipo_quotation_release_time: U32 @ 19,
        /// `A` anticipated, `C` cancelled/postponed.
        ipo_quotation_release_qualifier: Char @ 23,
        /// IPO price, `Price(4)` (0 when cancelled).
        ipo_price: Price4 @ 24,
    }

    /// `J` (1.2.7): LULD auction collar thresholds for a paused security.
    LuldAuctionCollar = b'J', len 35 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// Reference price used to set the collars, `Price(4)`.
        auction_collar_reference_price: Price4 @ 19,
        /// Upper collar threshold, `Price(4)`.
        upper_auction_collar_price: Price4 @ 23,
        /// Lower collar threshold, `Price(4)`.
        lower_auction_collar_price: Price4 @ 27,
        /// Number of extensions to the reopening auction.
        auction_collar_extension: U32 @ 31,
    }

    /// `h` (1.2.8): operational halt of a security on one Nasdaq market center.
    OperationalHalt = b'h', len 21 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// `Q` Nasdaq, `B` BX, `X` PSX.
        market_code: Char @ 19,
        /// `H` halted, `T` halt lifted.
        operational_halt_action: Char @ 20,
    }

    /// `A` (1.3.1): a displayed order was added to the book, without attribution.
    AddOrder = b'A', len 36 {
        /// Day-unique order reference number.
        order_ref: U64 @ 11,
        /// Buy or sell.
        side: Side @ 19,
        /// Displayed shares.
        shares: U32 @ 20,
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 24,
        /// Display price, `Price(4)`.
        price: Price4 @ 32,
    }

    /// `F` (1.3.2): a displayed order was added to the book, with MPID attribution.
    AddOrderMpid = b'F', len 40 {
        /// Day-unique order reference number.
        order_ref: U64 @ 11,
        /// Buy or sell.
        side: Side @ 19,
        /// Displayed shares.
        shares: U32 @ 20,
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 24,
        /// Display price, `Price(4)`.
        price: Price4 @ 32,
        /// Market participant identifier of the order.
        attribution: Alpha(4) @ 36,
    }

    /// `E` (1.4.1): a resting order executed at its display price.
    OrderExecuted = b'E', len 31 {
        /// Reference of the executed order.
        order_ref: U64 @ 11,
        /// Shares executed.
        executed_shares: U32 @ 19,
        /// Day-unique match number.
        match_number: U64 @ 23,
    }

    /// `C` (1.4.2): a resting order executed at a price other than its display price.
    OrderExecutedWithPrice = b'C', len 36 {
        /// Reference of the executed order.
        order_ref: U64 @ 11,
        /// Shares executed.
        executed_shares: U32 @ 19,
        /// Day-unique match number.
        match_number: U64 @ 23,
        /// `Y` printable, `N` non-printable.
        printable: Char @ 31,
        /// Execution price, `Price(4)`.
        execution_price: Price4 @ 32,
    }

    /// `X` (1.4.3): part of a resting order was cancelled.
    OrderCancel = b'X', len 23 {
        /// Reference of the order.
        order_ref: U64 @ 11,
        /// Shares removed from the display size.
        cancelled_shares: U32 @ 19,
    }

    /// `D` (1.4.4): a resting order was removed from the book.
    OrderDelete = b'D', len 19 {
        /// Reference of the order.
        order_ref: U64 @ 11,
    }

    /// `U` (1.4.5): a resting order was cancel-replaced; side and stock carry over.
    OrderReplace = b'U', len 35 {
        /// Reference of the order being replaced.
        original_order_ref: U64 @ 11,
        /// Reference used from now on.
        new_order_ref: U64 @ 19,
        /// New displayed shares.
        shares: U32 @ 27,
        /// New display price, `Price(4)`.
        price: Price4 @ 31,
    }

    /// `P` (1.5.1): a non-displayed order executed (no book effect).
    Trade = b'P', len 44 {
        /// Order reference (zero-filled by Nasdaq since 2010).
        order_ref: U64 @ 11,
        /// Side of the resting non-displayed order (always `B` since 2014).
        side: Side @ 19,
        /// Shares matched.
        shares: U32 @ 20,
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 24,
        /// Match price, `Price(4)`.
        price: Price4 @ 32,
        /// Day-unique match number.
        match_number: U64 @ 36,
    }

    /// `Q` (1.5.2): bulk print of a completed cross.
    CrossTrade = b'Q', len 40 {
        /// Shares matched in the cross.
        shares: U64 @ 11,
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 19,
        /// Cross price, `Price(4)`.
        cross_price: Price4 @ 27,
        /// Day-unique match number.
        match_number: U64 @ 31,
        /// `O` opening, `C` closing, `H` IPO/halted cross.
        cross_type: Char @ 39,
    }

    /// `B` (1.5.3): a previously reported execution was broken.
    BrokenTrade = b'B', len 19 {
        /// Match number of the broken execution.
        match_number: U64 @ 11,
    }

    /// `I` (1.6): net order imbalance indicator ahead of a cross.
    Noii = b'I', len 50 {
        /// Shares matchable at the current reference price.
        paired_shares: U64 @ 11,
        /// Shares not paired at the current reference price.
        imbalance_shares: U64 @ 19,
        /// `B` buy, `S` sell, `N` none, `O` insufficient orders, `P` paused.
        imbalance_direction: Char @ 27,
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 28,
        /// Hypothetical clearing price of cross orders only, `Price(4)`.
        far_price: Price4 @ 36,
        /// Hypothetical clearing price of cross and continuous orders, `Price(4)`.
        near_price: Price4 @ 40,
        /// Price at which the NOII shares are calculated, `Price(4)`.
        current_reference_price: Price4 @ 44,
        /// `O` opening, `C` closing, `H` IPO/halted, `A` extended trading close.
        cross_type: Char @ 48,
        /// Deviation bucket of near price vs reference (`L`, `1`..`9`, `A`, `B`, `C`, space).
        price_variation_indicator: Char @ 49,
    }

    /// `N` (1.7): retail price improvement interest.
    Rpii = b'N', len 20 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// `B` buy side, `S` sell side, `A` both, `N` none.
        interest_flag: Char @ 19,
    }

    /// `O` (1.8): Direct Listing with Capital Raise price discovery.
    DirectListingPriceDiscovery = b'O', len 48 {
        /// Symbol, right padded with spaces.
        stock: Alpha(8) @ 11,
        /// `Y` eligible to be released for trading, `N` not.
        open_eligibility_status: Char @ 19,
        /// 20% below the registration lower price, `Price(4)`.
        minimum_allowable_price: Price4 @ 20,
        /// 80% above the registration highest price, `Price(4)`.
        maximum_allowable_price: Price4 @ 24,
        /// Reference price when the volatility test passed, `Price(4)`.
        near_execution_price: Price4 @ 28,
        /// Time the near execution price was set.
        near_execution_time: U64 @ 32,
        /// Lower auction collar threshold, `Price(4)`.
        lower_price_range_collar: Price4 @ 40,
        /// Upper auction collar threshold, `Price(4)`.
        upper_price_range_collar: Price4 @ 44,
    }
}

/// Proves at compile time that every layout is contiguous from offset 0, covers
/// exactly its length (rows take their kind's width, see
/// [`crate::wire::fields_tile`]), agrees with [`message_len`] and has a unique
/// tag. The panic-free accessors rely on this.
const fn layouts_are_consistent(specs: &[MessageSpec]) -> bool {
    let mut i = 0;
    while i < specs.len() {
        let s = &specs[i];
        match message_len(s.tag) {
            Some(len) if len == s.len => {}
            _ => return false,
        }
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
        i += 1;
    }
    true
}

const _: () = assert!(
    layouts_are_consistent(MESSAGE_SPECS),
    "ITCH layout table is inconsistent"
);
const _: () = assert!(MESSAGE_SPECS.len() == 23);

impl Message {
    /// The resting book order this message adds or modifies: `A`, `F`, `E`, `C`,
    /// `X`, `D`, and for `U` the original (replaced) order. `None` otherwise,
    /// including `P` trades, whose reference is zero-filled by Nasdaq.
    #[inline]
    #[must_use]
    pub const fn order_ref(&self) -> Option<u64> {
        match self {
            Self::AddOrder(m) => Some(m.order_ref),
            Self::AddOrderMpid(m) => Some(m.order_ref),
            Self::OrderExecuted(m) => Some(m.order_ref),
            Self::OrderExecutedWithPrice(m) => Some(m.order_ref),
            Self::OrderCancel(m) => Some(m.order_ref),
            Self::OrderDelete(m) => Some(m.order_ref),
            Self::OrderReplace(m) => Some(m.original_order_ref),
            _ => None,
        }
    }
}

/// Iterator over the messages of a Nasdaq daily ITCH file image: each message
/// is preceded by a 2-byte big-endian length. Yields borrowed message slices;
/// a truncated tail yields one `Err` and then the iterator ends.
#[derive(Clone, Debug)]
pub struct LengthPrefixed<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

/// Iterates over the length-prefixed messages in `buf` (no I/O, no copy).
#[inline]
#[must_use]
pub fn length_prefixed(buf: &[u8]) -> LengthPrefixed<'_> {
    LengthPrefixed {
        buf,
        pos: 0,
        done: false,
    }
}

impl<'a> LengthPrefixed<'a> {
    /// Bytes consumed by the messages yielded so far. When reading a file in
    /// chunks, `&chunk[offset()..]` after a truncation error is the partial
    /// message to carry into the next chunk.
    #[inline]
    #[must_use]
    pub const fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for LengthPrefixed<'a> {
    type Item = Result<&'a [u8], DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let Some((len, body)) = rest.split_first_chunk::<2>() else {
            self.done = true;
            return Some(Err(DecodeError::Truncated {
                needed: 2,
                have: rest.len(),
            }));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        let Some(msg) = body.get(..len) else {
            self.done = true;
            return Some(Err(DecodeError::Truncated {
                needed: len,
                have: body.len(),
            }));
        };
        self.pos += 2 + len;
        Some(Ok(msg))
    }
}

impl FusedIterator for LengthPrefixed<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moldudp64::{Packet, PacketBuilder, Session};
    use proptest::prelude::*;

    pub(super) use crate::wire::Seeded;

    impl Seeded for Side {
        fn from_seed(seed: u64) -> Self {
            if seed & 1 == 0 {
                Side::Buy
            } else {
                Side::Sell
            }
        }
    }

    fn seeded(tag: u8, seeds: &[u64]) -> Message {
        let mut it = seeds.iter().copied();
        let mut next = move || it.next().unwrap_or(u64::MAX);
        Message::seeded(tag, &mut next).unwrap()
    }

    fn encoded(msg: &Message) -> Vec<u8> {
        let mut buf = vec![0u8; msg.encoded_len()];
        assert_eq!(msg.encode(&mut buf), Ok(msg.encoded_len()));
        buf
    }

    fn tags() -> impl Iterator<Item = u8> {
        MESSAGE_SPECS.iter().map(|s| s.tag)
    }

    #[test]
    fn spec_lengths_match_the_itch_50_document() {
        let expected: [(u8, usize); 23] = [
            (b'S', 12),
            (b'R', 39),
            (b'H', 25),
            (b'Y', 20),
            (b'L', 26),
            (b'V', 35),
            (b'W', 12),
            (b'K', 28),
            (b'J', 35),
            (b'h', 21),
            (b'A', 36),
            (b'F', 40),
            (b'E', 31),
            (b'C', 36),
            (b'X', 23),
            (b'D', 19),
            (b'U', 35),
            (b'P', 44),
            (b'Q', 40),
            (b'B', 19),
            (b'I', 50),
            (b'N', 20),
            (b'O', 48),
        ];
        assert_eq!(MESSAGE_SPECS.len(), expected.len());
        for (tag, len) in expected {
            assert_eq!(message_len(tag), Some(len), "tag {}", tag as char);
            assert_eq!(spec(tag).map(|s| s.len), Some(len));
        }
        assert_eq!(message_len(b'Z'), None);
        assert!(spec(b'a').is_none());
    }

    #[test]
    fn message_specs_are_contiguous_and_cover_exactly_the_message() {
        assert!(layouts_are_consistent(MESSAGE_SPECS));
        for s in MESSAGE_SPECS {
            assert_eq!(s.fields[0].name, "message_type");
            assert_eq!((s.fields[0].offset, s.fields[0].len), (0, 1));
            let mut at = 0;
            for f in s.fields {
                assert_eq!(f.offset, at, "{}.{}", s.name, f.name);
                at += f.len;
            }
            assert_eq!(at, s.len, "{}", s.name);
            assert_eq!(message_len(s.tag), Some(s.len));
            let mut names: Vec<_> = s.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                s.fields.len(),
                "{} has duplicate field names",
                s.name
            );
        }
    }

    #[test]
    fn message_spec_field_names_are_the_struct_field_names() {
        // Debug output lists struct fields in declaration order; compare names.
        for tag in tags() {
            let msg = seeded(tag, &[7; 24]);
            let debug = format!("{msg:?}");
            for f in &msg.spec().fields[1..] {
                assert!(
                    debug.contains(&format!("{}: ", f.name)),
                    "{debug} lacks {}",
                    f.name
                );
            }
            assert!(debug.contains(msg.spec().name));
        }
    }

    #[test]
    fn add_order_decodes_field_by_field_at_spec_offsets() {
        let mut b = Vec::new();
        b.push(b'A'); // 0 message type
        b.extend_from_slice(&[0x01, 0x02]); // 1 stock locate
        b.extend_from_slice(&[0x03, 0x04]); // 3 tracking number
        b.extend_from_slice(&[0x00, 0x00, 0x1F, 0x1A, 0x8B, 0x3C]); // 5 timestamp
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0x12, 0xD6, 0x87]); // 11 order ref
        b.push(b'S'); // 19 side
        b.extend_from_slice(&[0, 0, 0x01, 0xF4]); // 20 shares
        b.extend_from_slice(b"AAPL    "); // 24 stock
        b.extend_from_slice(&[0x00, 0x1B, 0x7F, 0x00]); // 32 price
        assert_eq!(b.len(), 36);
        let Ok(Message::AddOrder(m)) = decode(&b) else {
            panic!("not an add order")
        };
        assert_eq!(m.stock_locate, 0x0102);
        assert_eq!(m.tracking_number, 0x0304);
        assert_eq!(m.timestamp, 0x1F1A_8B3C);
        assert_eq!(m.order_ref, 1_234_567);
        assert_eq!(m.side, Side::Sell);
        assert_eq!(m.shares, 500);
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.price, 0x001B_7F00); // 180.1984
        assert_eq!(encoded(&Message::AddOrder(m)), b);
        assert_eq!(Message::AddOrder(m).order_ref(), Some(1_234_567));
    }

    #[test]
    fn order_replace_decodes_field_by_field_at_spec_offsets() {
        let mut b = vec![b'U', 0, 7, 0, 9];
        b.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]); // 5 max timestamp
        b.extend_from_slice(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]); // 11 original
        b.extend_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]); // 19 new
        b.extend_from_slice(&[0, 0, 0x27, 0x10]); // 27 shares
        b.extend_from_slice(&[0x77, 0x35, 0x94, 0x00]); // 31 price: spec max 200000.0000
        assert_eq!(b.len(), 35);
        let Ok(Message::OrderReplace(m)) = decode(&b) else {
            panic!("not a replace")
        };
        assert_eq!(m.stock_locate, 7);
        assert_eq!(m.tracking_number, 9);
        assert_eq!(m.timestamp, MAX_TIMESTAMP);
        assert_eq!(m.original_order_ref, 0x0102_0304_0506_0708);
        assert_eq!(m.new_order_ref, 0x1112_1314_1516_1718);
        assert_eq!(m.shares, 10_000);
        assert_eq!(m.price, 2_000_000_000);
        assert_eq!(encoded(&Message::OrderReplace(m)), b);
        assert_eq!(
            Message::OrderReplace(m).order_ref(),
            Some(0x0102_0304_0506_0708)
        );
    }

    #[test]
    fn every_truncated_prefix_is_an_error_not_a_panic() {
        for tag in tags() {
            let bytes = encoded(&seeded(tag, &[0x4242_4242_4242_4242; 24]));
            for cut in 0..bytes.len() {
                let err = decode(&bytes[..cut]).unwrap_err();
                assert!(
                    matches!(err, DecodeError::Truncated { .. }),
                    "{tag} cut {cut}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn trailing_byte_is_bad_length() {
        for tag in tags() {
            let mut bytes = encoded(&seeded(tag, &[0; 24]));
            bytes.push(0);
            let len = bytes.len();
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::BadLength {
                    tag,
                    len,
                    expected: len - 1
                })
            );
        }
    }

    #[test]
    fn unknown_type_byte_is_reported_with_the_byte() {
        assert_eq!(decode(&[b'Z'; 40]), Err(DecodeError::UnknownType(b'Z')));
        assert_eq!(decode(&[0x00]), Err(DecodeError::UnknownType(0)));
        assert_eq!(
            decode(&[]),
            Err(DecodeError::Truncated { needed: 1, have: 0 })
        );
        let known = (0..=255u8).filter(|t| message_len(*t).is_some()).count();
        assert_eq!(known, 23);
    }

    #[test]
    fn side_other_than_b_or_s_is_an_invalid_field() {
        let mut bytes = encoded(&seeded(b'A', &[1; 24]));
        bytes[19] = b'X';
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::InvalidField {
                field: "side",
                value: b'X'
            })
        );
        let mut bytes = encoded(&seeded(b'P', &[1; 24]));
        bytes[19] = 0;
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::InvalidField {
                field: "side",
                value: 0
            })
        );
    }

    #[test]
    fn struct_decode_refuses_another_types_bytes() {
        let mut bytes = encoded(&seeded(b'A', &[1; 24]));
        bytes.extend_from_slice(b"NSDQ"); // 40 bytes, the length of an `F`
        assert_eq!(
            AddOrderMpid::decode(&bytes),
            Err(DecodeError::InvalidField {
                field: "message_type",
                value: b'A'
            })
        );
        bytes[0] = b'F';
        assert_eq!(
            AddOrderMpid::decode(&bytes).map(|m| m.attribution),
            Ok(*b"NSDQ")
        );
    }

    #[test]
    fn encode_refuses_small_buffer_and_wide_timestamp() {
        let msg = seeded(b'D', &[3; 24]);
        let mut small = [0u8; 18];
        assert_eq!(
            msg.encode(&mut small),
            Err(EncodeError::BufferTooSmall {
                needed: 19,
                have: 18
            })
        );
        let Message::OrderDelete(mut d) = msg else {
            panic!()
        };
        d.timestamp = MAX_TIMESTAMP + 1;
        let mut buf = [0u8; 64];
        assert_eq!(d.encode(&mut buf), Err(EncodeError::Overflow("timestamp")));
        d.timestamp = MAX_TIMESTAMP;
        assert_eq!(d.encode(&mut buf), Ok(19));
    }

    #[test]
    fn header_accessors_and_tag_agree_with_the_variant() {
        for tag in tags() {
            let msg = seeded(tag, &[0x0123_4567_89AB_CDEF; 24]);
            assert_eq!(msg.tag(), tag);
            assert_eq!(msg.spec().tag, tag);
            assert_eq!(msg.stock_locate(), 0xCDEF);
            assert_eq!(msg.tracking_number(), 0xCDEF);
            assert_eq!(msg.timestamp(), 0x4567_89AB_CDEF);
        }
    }

    fn prefixed(msgs: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            out.extend_from_slice(&u16::try_from(m.len()).unwrap().to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn length_prefixed_yields_each_message_then_ends() {
        let a = encoded(&seeded(b'A', &[5; 24]));
        let d = encoded(&seeded(b'D', &[6; 24]));
        let file = prefixed(&[&a, &d, b""]);
        let got: Vec<_> = length_prefixed(&file).collect();
        assert_eq!(got, vec![Ok(&a[..]), Ok(&d[..]), Ok(&b""[..])]);
        assert_eq!(length_prefixed(&[]).count(), 0);
        let decoded: Vec<_> = length_prefixed(&file[..file.len() - 2])
            .map(|m| decode(m.unwrap()))
            .collect();
        assert!(matches!(
            decoded[..],
            [Ok(Message::AddOrder(_)), Ok(Message::OrderDelete(_))]
        ));
    }

    #[test]
    fn length_prefixed_truncated_tail_is_one_error_then_none() {
        let a = encoded(&seeded(b'A', &[5; 24]));
        let file = prefixed(&[&a, &a]);
        // Cut inside the second body.
        let mut it = length_prefixed(&file[..file.len() - 3]);
        assert_eq!(it.next(), Some(Ok(&a[..])));
        assert_eq!(it.offset(), 38);
        assert_eq!(
            it.next(),
            Some(Err(DecodeError::Truncated {
                needed: 36,
                have: 33
            }))
        );
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        assert_eq!(it.offset(), 38);
        // Cut inside the second length prefix.
        let mut it = length_prefixed(&file[..39]);
        assert_eq!(it.next(), Some(Ok(&a[..])));
        assert_eq!(
            it.next(),
            Some(Err(DecodeError::Truncated { needed: 2, have: 1 }))
        );
        assert_eq!(it.next(), None);
    }

    #[test]
    fn moldudp64_packet_of_itch_messages_decodes_in_order() {
        let msgs: Vec<Vec<u8>> = tags().map(|t| encoded(&seeded(t, &[9; 24]))).collect();
        let mut buf = [0u8; 2048];
        let mut b = PacketBuilder::new(&mut buf, Session::from_str_padded("ITCH50"), 100).unwrap();
        for m in &msgs {
            b.push(m).unwrap();
        }
        let n = b.finish();
        let p = Packet::decode(&buf[..n]).unwrap();
        let got: Vec<_> = p
            .messages()
            .map(|(seq, m)| (seq, decode(m).unwrap().tag()))
            .collect();
        let want: Vec<_> = (100..).zip(tags()).collect();
        assert_eq!(got, want);
    }

    /// Regenerates the committed fuzz seeds:
    /// `cargo test -p quotewire-protocol write_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when layouts change"]
    fn write_fuzz_seeds() {
        use crate::moldudp64::{encode_end_of_session, encode_heartbeat, MAX_PAYLOAD};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/moldudp64_itch");
        std::fs::create_dir_all(&dir).unwrap();
        let session = Session::from_str_padded("ITCH50");
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();

        // One packet carrying one message of every type.
        let mut buf = [0u8; MAX_PAYLOAD];
        let mut b = PacketBuilder::new(&mut buf, session, 1).unwrap();
        for (i, tag) in tags().enumerate() {
            b.push(&encoded(&seeded(
                tag,
                &[0x2020_2020_4142_0100 + i as u64; 24],
            )))
            .unwrap();
        }
        let n = b.finish();
        write("every_type.bin", &buf[..n]);

        // An order's life: add, partial execution, replace, delete.
        let flow: Vec<Vec<u8>> = [b'A', b'E', b'U', b'D']
            .iter()
            .map(|t| {
                encoded(&seeded(
                    *t,
                    &[
                        42,
                        7,
                        34_200_000_000_000,
                        1_234,
                        0x5353,
                        100,
                        0x2020_2020_4C50_4141,
                        1_800_000,
                    ],
                ))
            })
            .collect();
        let mut b = PacketBuilder::new(&mut buf, session, 1000).unwrap();
        for m in &flow {
            b.push(m).unwrap();
        }
        let n = b.finish();
        write("order_flow.bin", &buf[..n]);

        let n = encode_heartbeat(session, 1004, &mut buf).unwrap();
        write("heartbeat.bin", &buf[..n]);
        let n = encode_end_of_session(session, 1004, &mut buf).unwrap();
        write("end_of_session.bin", &buf[..n]);

        // The same flow as a length-prefixed daily file image.
        let refs: Vec<&[u8]> = flow.iter().map(Vec::as_slice).collect();
        write("daily_file.bin", &prefixed(&refs));
    }

    proptest! {
        #[test]
        fn every_message_type_round_trips_through_encode_and_decode(seeds in any::<[u64; 20]>()) {
            for tag in tags() {
                let msg = seeded(tag, &seeds);
                let mut buf = [0u8; 64];
                let n = msg.encode(&mut buf).unwrap();
                prop_assert_eq!(Some(n), message_len(tag));
                prop_assert_eq!(n, msg.encoded_len());
                prop_assert_eq!(buf[0], tag);
                prop_assert_eq!(decode(&buf[..n]), Ok(msg));
            }
        }

        #[test]
        fn one_random_type_round_trips(tag in prop::sample::select(
            MESSAGE_SPECS.iter().map(|s| s.tag).collect::<Vec<_>>()), seeds in any::<[u64; 20]>()) {
            let msg = seeded(tag, &seeds);
            let bytes = encoded(&msg);
            prop_assert_eq!(decode(&bytes), Ok(msg));
        }

        #[test]
        fn decoded_arbitrary_bytes_reencode_to_the_same_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(msg) = decode(&bytes) {
                prop_assert_eq!(&encoded(&msg)[..], &bytes[..]);
            }
            for m in length_prefixed(&bytes).flatten() {
                let _ = decode(m);
            }
        }

        #[test]
        fn valid_header_with_random_body_never_panics(tag in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..60)) {
            let mut bytes = vec![tag];
            bytes.extend_from_slice(&body);
            if let Some(len) = message_len(tag) {
                bytes.truncate(len);
            }
            match decode(&bytes) {
                Ok(msg) => prop_assert_eq!(encoded(&msg), bytes),
                Err(e) => prop_assert!(!matches!(e, DecodeError::UnknownType(_)) || message_len(tag).is_none()),
            }
        }
    }
}
