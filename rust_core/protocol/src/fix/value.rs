//! FIX 4.4 data types: exact parsing of field values and their formatting,
//! with no allocation and no floating point.

use core::fmt;

use quotewire_core::{Price, Qty, Side, PRICE_DECIMALS, PRICE_SCALE};

use super::error::{FieldError, InlineStrError};

/// The FIX field delimiter.
pub const SOH: u8 = 0x01;

const NS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

// ---------------------------------------------------------------------------
// Integers

/// Parses an unsigned FIX int (`SEQNUM`, `LENGTH`, `NUMINGROUP`, non-negative
/// `INT`). Leading zeros are allowed (FIX 4.4 Vol. 1 "int"); a sign is not.
#[inline]
pub(crate) fn parse_u64(tag: u32, v: &[u8]) -> Result<u64, FieldError> {
    if v.is_empty() {
        return Err(FieldError::format(tag, "empty integer"));
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(FieldError::format(tag, "not an unsigned integer"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(FieldError::value(tag, "integer out of range"))?;
    }
    Ok(n)
}

/// Parses an unsigned FIX int that must fit `u32`.
#[inline]
pub(crate) fn parse_u32(tag: u32, v: &[u8]) -> Result<u32, FieldError> {
    u32::try_from(parse_u64(tag, v)?).map_err(|_| FieldError::value(tag, "integer out of range"))
}

/// Writes `v` in decimal into the tail of `out` and returns the digits.
#[inline]
pub(crate) fn fmt_u64(v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    let mut v = v;
    loop {
        i -= 1;
        if let Some(d) = out.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    out.get(i..).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Prices and quantities

/// Why a decimal value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecimalError {
    Format(&'static str),
    Precision,
    Range,
}

/// Parses `[-]digits[.digits]` exactly into an integer scaled by
/// `10^decimals`. Trailing zeros beyond `decimals` are accepted (the value is
/// still exact); any other extra digit is refused rather than rounded.
fn parse_decimal(v: &[u8], decimals: u32) -> Result<i128, DecimalError> {
    let (neg, body) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    let mut int_digits = 0usize;
    let mut frac_digits = 0u32;
    let mut seen_dot = false;
    let mut acc: i128 = 0;
    for &b in body {
        match b {
            b'0'..=b'9' => {
                let d = i128::from(b - b'0');
                if seen_dot {
                    if frac_digits >= decimals {
                        if d != 0 {
                            return Err(DecimalError::Precision);
                        }
                        continue;
                    }
                    frac_digits += 1;
                } else {
                    int_digits += 1;
                }
                acc = acc * 10 + d;
                // 19 integer digits + 4 decimals stay far inside i128.
                if acc > i128::from(i64::MAX) * 10 {
                    return Err(DecimalError::Range);
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'.' => return Err(DecimalError::Format("more than one decimal point")),
            _ => return Err(DecimalError::Format("not a decimal number")),
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return Err(DecimalError::Format("no digits"));
    }
    // Trailing zeros beyond `decimals` were skipped, so count every digit seen.
    let scale = 10_i128.pow(decimals.saturating_sub(frac_digits));
    let raw = acc * scale;
    Ok(if neg { -raw } else { raw })
}

/// Parses a FIX `PRICE`/`PRICEOFFSET`/`AMT` value exactly into a [`Price`]
/// (four decimals). `"1e5"`, `"+1"`, `"1.23456"` and out-of-range values are
/// refused; `"1.23450"` is exact and accepted.
#[inline]
pub fn parse_price(tag: u32, v: &[u8]) -> Result<Price, FieldError> {
    match parse_decimal(v, PRICE_DECIMALS) {
        Ok(raw) => i64::try_from(raw)
            .map(Price)
            .map_err(|_| FieldError::value(tag, "price out of range")),
        Err(DecimalError::Format(d)) => Err(FieldError::format(tag, d)),
        Err(DecimalError::Precision) => Err(FieldError::value(
            tag,
            "price has more than 4 significant decimals",
        )),
        Err(DecimalError::Range) => Err(FieldError::value(tag, "price out of range")),
    }
}

/// Parses a FIX `QTY` value into a whole [`Qty`]: `"100"` and `"100.00"` are
/// accepted, `"100.5"` and negatives are refused.
#[inline]
pub fn parse_qty(tag: u32, v: &[u8]) -> Result<Qty, FieldError> {
    match parse_decimal(v, 0) {
        Ok(raw) if raw < 0 => Err(FieldError::value(tag, "negative quantity")),
        Ok(raw) => u64::try_from(raw)
            .map(Qty)
            .map_err(|_| FieldError::value(tag, "quantity out of range")),
        Err(DecimalError::Format(d)) => Err(FieldError::format(tag, d)),
        Err(DecimalError::Precision) => {
            Err(FieldError::value(tag, "fractional quantity not supported"))
        }
        Err(DecimalError::Range) => Err(FieldError::value(tag, "quantity out of range")),
    }
}

/// Formats a price in its shortest exact decimal form (`100`, `100.5`,
/// `-0.0001`) into `out` and returns the bytes.
pub fn fmt_price(p: Price, out: &mut [u8; 32]) -> &[u8] {
    let abs = p.0.unsigned_abs();
    let scale = PRICE_SCALE.unsigned_abs();
    let (whole, mut frac) = (abs / scale, abs % scale);
    let mut len = 0usize;
    let mut push = |b: u8, len: &mut usize| {
        if let Some(slot) = out.get_mut(*len) {
            *slot = b;
            *len += 1;
        }
    };
    if p.0 < 0 {
        push(b'-', &mut len);
    }
    let mut digits = [0u8; 20];
    for &d in fmt_u64(whole, &mut digits) {
        push(d, &mut len);
    }
    if frac != 0 {
        push(b'.', &mut len);
        let mut div = scale / 10;
        while frac != 0 && div != 0 {
            push(b'0' + (frac / div) as u8, &mut len);
            frac %= div;
            div /= 10;
        }
    }
    out.get(..len).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Chars, booleans, sides

/// Parses a FIX `CHAR` value: exactly one byte.
#[inline]
pub(crate) fn parse_char(tag: u32, v: &[u8]) -> Result<u8, FieldError> {
    match v {
        [c] => Ok(*c),
        _ => Err(FieldError::format(tag, "expected a single character")),
    }
}

/// Parses a FIX `BOOLEAN`: `Y` or `N`.
#[inline]
pub(crate) fn parse_bool(tag: u32, v: &[u8]) -> Result<bool, FieldError> {
    match v {
        b"Y" => Ok(true),
        b"N" => Ok(false),
        _ => Err(FieldError::format(tag, "boolean must be Y or N")),
    }
}

/// Parses `Side(54)`: `1` buy, `2` sell. Other FIX sides (sell short, cross,
/// ...) are valid FIX but unsupported by quotewire and refused as incorrect.
#[inline]
pub(crate) fn parse_side(tag: u32, v: &[u8]) -> Result<Side, FieldError> {
    match parse_char(tag, v)? {
        b'1' => Ok(Side::Buy),
        b'2' => Ok(Side::Sell),
        _ => Err(FieldError::value(tag, "side must be 1 (buy) or 2 (sell)")),
    }
}

/// The FIX `Side(54)` byte of a side.
#[inline]
#[must_use]
pub const fn side_byte(side: Side) -> u8 {
    match side {
        Side::Buy => b'1',
        Side::Sell => b'2',
    }
}

macro_rules! char_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $var:ident = $b:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vm])* $var = $b),+
        }

        impl $name {
            /// Decodes the wire byte, `None` if FIX 4.4 does not define it.
            #[inline]
            #[must_use]
            pub const fn from_byte(b: u8) -> Option<Self> {
                match b {
                    $($b => Some(Self::$var),)+
                    _ => None,
                }
            }

            /// The wire byte.
            #[inline]
            #[must_use]
            pub const fn as_byte(self) -> u8 {
                self as u8
            }

            #[inline]
            pub(crate) fn parse(tag: u32, v: &[u8]) -> Result<Self, FieldError> {
                Self::from_byte(parse_char(tag, v)?)
                    .ok_or(FieldError::value(tag, concat!("unknown ", $what)))
            }
        }
    };
}

char_enum!(
    /// `OrdType(40)`.
    OrdType, "OrdType" {
        /// `1`
        Market = b'1',
        /// `2`
        Limit = b'2',
        /// `3`
        Stop = b'3',
        /// `4`
        StopLimit = b'4',
        /// `6`
        WithOrWithout = b'6',
        /// `7`
        LimitOrBetter = b'7',
        /// `8`
        LimitWithOrWithout = b'8',
        /// `9`
        OnBasis = b'9',
        /// `D`
        PreviouslyQuoted = b'D',
        /// `E`
        PreviouslyIndicated = b'E',
        /// `G`
        ForexSwap = b'G',
        /// `I`
        Funari = b'I',
        /// `J`
        MarketIfTouched = b'J',
        /// `K`
        MarketWithLeftOverAsLimit = b'K',
        /// `L`
        PreviousFundValuationPoint = b'L',
        /// `M`
        NextFundValuationPoint = b'M',
        /// `P`
        Pegged = b'P',
    }
);

impl OrdType {
    /// True for the types whose `Price(44)` FIX 4.4 requires.
    #[inline]
    #[must_use]
    pub const fn requires_price(self) -> bool {
        matches!(
            self,
            Self::Limit | Self::StopLimit | Self::LimitOrBetter | Self::LimitWithOrWithout
        )
    }
}

char_enum!(
    /// `TimeInForce(59)`; absent means `Day`.
    TimeInForce, "TimeInForce" {
        /// `0`
        Day = b'0',
        /// `1`
        GoodTillCancel = b'1',
        /// `2`
        AtTheOpening = b'2',
        /// `3`
        ImmediateOrCancel = b'3',
        /// `4`
        FillOrKill = b'4',
        /// `5`
        GoodTillCrossing = b'5',
        /// `6`
        GoodTillDate = b'6',
        /// `7`
        AtTheClose = b'7',
    }
);

char_enum!(
    /// `ExecType(150)`.
    ExecType, "ExecType" {
        /// `0`
        New = b'0',
        /// `3`
        DoneForDay = b'3',
        /// `4`
        Canceled = b'4',
        /// `5`
        Replaced = b'5',
        /// `6`
        PendingCancel = b'6',
        /// `7`
        Stopped = b'7',
        /// `8`
        Rejected = b'8',
        /// `9`
        Suspended = b'9',
        /// `A`
        PendingNew = b'A',
        /// `B`
        Calculated = b'B',
        /// `C`
        Expired = b'C',
        /// `D`
        Restated = b'D',
        /// `E`
        PendingReplace = b'E',
        /// `F`
        Trade = b'F',
        /// `G`
        TradeCorrect = b'G',
        /// `H`
        TradeCancel = b'H',
        /// `I`
        OrderStatus = b'I',
    }
);

char_enum!(
    /// `OrdStatus(39)`.
    OrdStatus, "OrdStatus" {
        /// `0`
        New = b'0',
        /// `1`
        PartiallyFilled = b'1',
        /// `2`
        Filled = b'2',
        /// `3`
        DoneForDay = b'3',
        /// `4`
        Canceled = b'4',
        /// `6`
        PendingCancel = b'6',
        /// `7`
        Stopped = b'7',
        /// `8`
        Rejected = b'8',
        /// `9`
        Suspended = b'9',
        /// `A`
        PendingNew = b'A',
        /// `B`
        Calculated = b'B',
        /// `C`
        Expired = b'C',
        /// `D`
        AcceptedForBidding = b'D',
        /// `E`
        PendingReplace = b'E',
    }
);

char_enum!(
    /// `CxlRejResponseTo(434)`: which request an `OrderCancelReject` answers.
    CxlRejResponseTo, "CxlRejResponseTo" {
        /// `1`: an `OrderCancelRequest(F)`.
        OrderCancelRequest = b'1',
        /// `2`: an `OrderCancelReplaceRequest(G)`.
        OrderCancelReplaceRequest = b'2',
    }
);

// ---------------------------------------------------------------------------
// ExecInst

/// `ExecInst(18)`, a `MULTIPLEVALUESTRING` of one-character instructions, as
/// a set. Any alphanumeric instruction is kept; it encodes in a canonical
/// order (digits, upper case, lower case), space separated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExecInst(u64);

impl ExecInst {
    /// No instruction (the field is omitted).
    pub const EMPTY: Self = Self(0);
    /// `6` Participate don't initiate: quotewire's post-only.
    pub const PARTICIPATE_DONT_INITIATE: u8 = b'6';

    const fn bit(c: u8) -> Option<u32> {
        match c {
            b'0'..=b'9' => Some((c - b'0') as u32),
            b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
            b'a'..=b'z' => Some((c - b'a') as u32 + 36),
            _ => None,
        }
    }

    const fn char_of(bit: u32) -> u8 {
        match bit {
            0..=9 => b'0' + bit as u8,
            10..=35 => b'A' + (bit - 10) as u8,
            _ => b'a' + (bit.saturating_sub(36)) as u8,
        }
    }

    /// The set holding only post-only (`6`).
    #[must_use]
    pub const fn post_only() -> Self {
        Self(1 << 6)
    }

    /// Adds an instruction; `None` if `c` is not alphanumeric.
    #[must_use]
    pub const fn with(self, c: u8) -> Option<Self> {
        match Self::bit(c) {
            Some(b) => Some(Self(self.0 | (1 << b))),
            None => None,
        }
    }

    /// True if the instruction is present.
    #[inline]
    #[must_use]
    pub const fn contains(self, c: u8) -> bool {
        match Self::bit(c) {
            Some(b) => self.0 & (1 << b) != 0,
            None => false,
        }
    }

    /// True if `6` (participate don't initiate) is present.
    #[inline]
    #[must_use]
    pub const fn is_post_only(self) -> bool {
        self.contains(Self::PARTICIPATE_DONT_INITIATE)
    }

    /// True if no instruction is present.
    #[inline]
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses the space-separated wire value.
    pub(crate) fn parse(tag: u32, v: &[u8]) -> Result<Self, FieldError> {
        let mut set = Self::EMPTY;
        let mut any = false;
        for word in v.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
            let [c] = word else {
                return Err(FieldError::format(
                    tag,
                    "ExecInst values are single characters",
                ));
            };
            set = set
                .with(*c)
                .ok_or(FieldError::value(tag, "unknown ExecInst value"))?;
            any = true;
        }
        if any {
            Ok(set)
        } else {
            Err(FieldError::format(tag, "empty ExecInst"))
        }
    }

    /// Writes the wire value into `out` and returns it.
    pub(crate) fn fmt(self, out: &mut [u8; 128]) -> &[u8] {
        let mut len = 0usize;
        for bit in 0..62 {
            if self.0 & (1 << bit) != 0 {
                if len > 0 {
                    if let Some(s) = out.get_mut(len) {
                        *s = b' ';
                    }
                    len += 1;
                }
                if let Some(s) = out.get_mut(len) {
                    *s = Self::char_of(bit);
                }
                len += 1;
            }
        }
        out.get(..len).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// UTC timestamps

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`, restricted to years >= 1970).
const fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01 (`civil_from_days`).
const fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

const fn is_leap(y: u64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

const fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Length of `YYYYMMDD-HH:MM:SS.sss`.
pub const TIMESTAMP_LEN: usize = 21;

/// Formats nanoseconds since the Unix epoch as a FIX `UTCTIMESTAMP` with
/// milliseconds, `YYYYMMDD-HH:MM:SS.sss` (sub-millisecond digits truncated).
#[must_use]
pub fn fmt_timestamp(ns_since_epoch: u64) -> [u8; TIMESTAMP_LEN] {
    let secs = ns_since_epoch / NS_PER_SEC;
    let millis = (ns_since_epoch % NS_PER_SEC) / 1_000_000;
    let (y, mo, d) = civil_from_days(secs / SECS_PER_DAY);
    let sod = secs % SECS_PER_DAY;
    let (h, mi, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
    let digit = |v: u64, div: u64| b'0' + ((v / div) % 10) as u8;
    [
        digit(y, 1000),
        digit(y, 100),
        digit(y, 10),
        digit(y, 1),
        digit(mo, 10),
        digit(mo, 1),
        digit(d, 10),
        digit(d, 1),
        b'-',
        digit(h, 10),
        digit(h, 1),
        b':',
        digit(mi, 10),
        digit(mi, 1),
        b':',
        digit(s, 10),
        digit(s, 1),
        b'.',
        digit(millis, 100),
        digit(millis, 10),
        digit(millis, 1),
    ]
}

fn digits(tag: u32, v: &[u8]) -> Result<u64, FieldError> {
    let mut n = 0u64;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(FieldError::format(
                tag,
                "timestamp is not YYYYMMDD-HH:MM:SS[.sss]",
            ));
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Ok(n)
}

/// Parses a FIX `UTCTIMESTAMP`, `YYYYMMDD-HH:MM:SS` with an optional `.sss`
/// fraction (6 and 9 fraction digits, which later FIX versions and QuickFIX's
/// `TimestampPrecision` produce, are accepted too), into nanoseconds since the
/// Unix epoch. Leap second `60` is accepted; dates before 1970 are refused.
pub fn parse_timestamp(tag: u32, v: &[u8]) -> Result<u64, FieldError> {
    let bad = FieldError::format(tag, "timestamp is not YYYYMMDD-HH:MM:SS[.sss]");
    let (Some(date), Some(b'-'), Some(time)) = (v.get(..8), v.get(8), v.get(9..)) else {
        return Err(bad);
    };
    let (hms, frac) = match time.get(8) {
        None => (time, &[][..]),
        Some(b'.') if time.len() > 9 => (
            time.get(..8).unwrap_or_default(),
            time.get(9..).unwrap_or_default(),
        ),
        Some(_) => return Err(bad),
    };
    let [h1, h2, b':', m1, m2, b':', s1, s2] = hms else {
        return Err(bad);
    };
    if !matches!(frac.len(), 0 | 3 | 6 | 9) {
        return Err(bad);
    }
    let year = digits(tag, date.get(..4).unwrap_or_default())?;
    let month = digits(tag, date.get(4..6).unwrap_or_default())?;
    let day = digits(tag, date.get(6..8).unwrap_or_default())?;
    let hour = digits(tag, &[*h1, *h2])?;
    let min = digits(tag, &[*m1, *m2])?;
    let sec = digits(tag, &[*s1, *s2])?;
    let frac_ns = digits(tag, frac)? * 10_u64.pow(9 - frac.len() as u32);
    if year < 1970 || !(1..=12).contains(&month) {
        return Err(FieldError::value(tag, "timestamp date out of range"));
    }
    if day == 0 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60 {
        return Err(FieldError::value(
            tag,
            "timestamp date or time out of range",
        ));
    }
    let secs = days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + min * 60 + sec;
    secs.checked_mul(NS_PER_SEC)
        .and_then(|ns| ns.checked_add(frac_ns))
        .ok_or(FieldError::value(tag, "timestamp out of range"))
}

// ---------------------------------------------------------------------------
// Owned identifiers

/// A fixed-capacity inline string for owned FIX identifiers (ClOrdID, ...):
/// `Copy`, no heap, refused with [`InlineStrError`] when too long.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InlineStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

/// The owned identifier type used for ClOrdID, OrderID, ExecID: 32 bytes.
pub type FixId = InlineStr<32>;

impl<const N: usize> InlineStr<N> {
    const CAP_OK: () = assert!(N <= 255, "InlineStr capacity must fit u8");

    /// Copies `s`; refused when longer than `N` or containing SOH.
    pub const fn new(s: &[u8]) -> Result<Self, InlineStrError> {
        let () = Self::CAP_OK;
        if s.len() > N {
            return Err(InlineStrError::TooLong {
                len: s.len(),
                cap: N,
            });
        }
        let mut bytes = [0u8; N];
        let mut i = 0;
        while i < s.len() {
            if s[i] == SOH {
                return Err(InlineStrError::ContainsSoh);
            }
            bytes[i] = s[i];
            i += 1;
        }
        Ok(Self {
            len: s.len() as u8,
            bytes,
        })
    }

    /// Copies a `str`; see [`InlineStr::new`].
    pub const fn from_str(s: &str) -> Result<Self, InlineStrError> {
        Self::new(s.as_bytes())
    }

    /// The bytes.
    #[inline]
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The text, if it is UTF-8 (FIX strings are ASCII in practice).
    #[inline]
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }

    /// Length in bytes.
    #[inline]
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True when empty.
    #[inline]
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The capacity `N`.
    pub const CAPACITY: usize = N;
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0; N],
        }
    }
}

impl<const N: usize> TryFrom<&[u8]> for InlineStr<N> {
    type Error = InlineStrError;

    fn try_from(s: &[u8]) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl<const N: usize> TryFrom<&str> for InlineStr<N> {
    type Error = InlineStrError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s.as_bytes())
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_bytes().escape_ascii().to_string())
    }
}

impl<const N: usize> fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::error::SessionRejectReason;
    use proptest::prelude::*;

    fn price(s: &str) -> Result<Price, FieldError> {
        parse_price(44, s.as_bytes())
    }

    #[test]
    fn price_parses_exact_decimals() {
        assert_eq!(price("100"), Ok(Price(1_000_000)));
        assert_eq!(price("100.5"), Ok(Price(1_005_000)));
        assert_eq!(price("0.0001"), Ok(Price(1)));
        assert_eq!(price("-1.25"), Ok(Price(-12_500)));
        assert_eq!(price("007.10"), Ok(Price(71_000)));
        assert_eq!(price(".5"), Ok(Price(5_000)));
        assert_eq!(price("5."), Ok(Price(50_000)));
        assert_eq!(
            price("1.23450"),
            Ok(Price(12_345)),
            "trailing zero is exact"
        );
        assert_eq!(price("-0"), Ok(Price(0)));
        assert_eq!(price("922337203685477.5807"), Ok(Price(i64::MAX)));
        assert_eq!(price("-922337203685477.5808"), Ok(Price(i64::MIN)));
    }

    #[test]
    fn price_refuses_exponent_excess_precision_and_junk() {
        let reason = |s: &str| price(s).map_err(|e| (e.tag, e.reason));
        assert_eq!(
            reason("1e5"),
            Err((44, SessionRejectReason::IncorrectDataFormat))
        );
        assert_eq!(
            reason("1.23456"),
            Err((44, SessionRejectReason::ValueIsIncorrect))
        );
        assert_eq!(
            price("1.23456").unwrap_err().detail,
            "price has more than 4 significant decimals"
        );
        for bad in [
            "", "-", ".", "+1", "1.2.3", " 1", "1 ", "0x10", "1,5", "--1", "NaN",
        ] {
            assert_eq!(
                reason(bad),
                Err((44, SessionRejectReason::IncorrectDataFormat)),
                "{bad:?}"
            );
        }
        assert_eq!(
            reason("922337203685477.5808"),
            Err((44, SessionRejectReason::ValueIsIncorrect))
        );
        assert_eq!(
            reason("99999999999999999999999999999999"),
            Err((44, SessionRejectReason::ValueIsIncorrect))
        );
    }

    #[test]
    fn price_formats_shortest_exact_form() {
        let f = |raw| {
            let mut out = [0u8; 32];
            String::from_utf8(fmt_price(Price(raw), &mut out).to_vec()).unwrap()
        };
        assert_eq!(f(1_000_000), "100");
        assert_eq!(f(1_005_000), "100.5");
        assert_eq!(f(1), "0.0001");
        assert_eq!(f(-12_500), "-1.25");
        assert_eq!(f(0), "0");
        assert_eq!(f(i64::MIN), "-922337203685477.5808");
        assert_eq!(f(i64::MAX), "922337203685477.5807");
    }

    #[test]
    fn qty_accepts_whole_numbers_only() {
        assert_eq!(parse_qty(38, b"100"), Ok(Qty(100)));
        assert_eq!(parse_qty(38, b"100.000"), Ok(Qty(100)));
        assert_eq!(parse_qty(38, b"0"), Ok(Qty(0)));
        assert_eq!(
            parse_qty(38, b"100.5").unwrap_err().detail,
            "fractional quantity not supported"
        );
        assert_eq!(
            parse_qty(38, b"-1").unwrap_err().detail,
            "negative quantity"
        );
        assert_eq!(
            parse_qty(38, b"1e5").unwrap_err().reason,
            SessionRejectReason::IncorrectDataFormat
        );
        assert_eq!(parse_qty(38, b"18446744073709551615"), Ok(Qty(u64::MAX)));
        assert!(parse_qty(38, b"18446744073709551616").is_err());
    }

    #[test]
    fn integers_allow_leading_zeros_and_refuse_signs() {
        assert_eq!(parse_u64(34, b"00023"), Ok(23));
        assert_eq!(parse_u64(34, b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(34, b"18446744073709551616").unwrap_err().reason,
            SessionRejectReason::ValueIsIncorrect
        );
        assert_eq!(
            parse_u64(34, b"-1").unwrap_err().reason,
            SessionRejectReason::IncorrectDataFormat
        );
        assert!(parse_u64(34, b"").is_err());
        assert_eq!(parse_u32(108, b"4294967296").unwrap_err().tag, 108);
        let mut out = [0u8; 20];
        assert_eq!(fmt_u64(0, &mut out), b"0");
        assert_eq!(fmt_u64(u64::MAX, &mut out), b"18446744073709551615");
    }

    #[test]
    fn timestamp_formats_known_instants() {
        assert_eq!(&fmt_timestamp(0), b"19700101-00:00:00.000");
        // 2024-02-29 (leap day) 13:45:06.789999999 -> truncated to .789
        let ns = 1_709_214_306_789_999_999;
        assert_eq!(&fmt_timestamp(ns), b"20240229-13:45:06.789");
        assert_eq!(&fmt_timestamp(u64::MAX), b"25540721-23:34:33.709");
        // 2000-03-01: first day after a 400-year leap February.
        assert_eq!(
            &fmt_timestamp(951_868_800 * NS_PER_SEC),
            b"20000301-00:00:00.000"
        );
    }

    #[test]
    fn timestamp_parses_fractions_and_refuses_bad_dates() {
        let p = |s: &str| parse_timestamp(52, s.as_bytes());
        assert_eq!(p("20240229-13:45:06.789"), Ok(1_709_214_306_789_000_000));
        assert_eq!(p("20240229-13:45:06"), Ok(1_709_214_306_000_000_000));
        assert_eq!(p("20240229-13:45:06.789123"), Ok(1_709_214_306_789_123_000));
        assert_eq!(
            p("20240229-13:45:06.789123456"),
            Ok(1_709_214_306_789_123_456)
        );
        assert_eq!(p("19700101-00:00:00.000"), Ok(0));
        assert_eq!(p("20161231-23:59:60.000"), Ok(1_483_228_800 * NS_PER_SEC));
        for bad in [
            "20230229-00:00:00",
            "20240230-00:00:00",
            "20241301-00:00:00",
            "20240100-00:00:00",
            "20240101-24:00:00",
            "20240101-00:60:00",
            "19691231-23:59:59",
        ] {
            assert_eq!(
                p(bad).unwrap_err().reason,
                SessionRejectReason::ValueIsIncorrect,
                "{bad}"
            );
        }
        for bad in [
            "",
            "20240101",
            "20240101-00:00",
            "20240101 00:00:00",
            "20240101-00:00:00.",
            "20240101-00:00:00.1",
            "20240101-00:00:00.1234",
            "2024010a-00:00:00",
            "20240101-00:00:00Z",
            "+0240101-00:00:00",
        ] {
            assert_eq!(
                p(bad).unwrap_err().reason,
                SessionRejectReason::IncorrectDataFormat,
                "{bad}"
            );
        }
    }

    #[test]
    fn exec_inst_is_a_set_with_canonical_encoding() {
        let e = ExecInst::parse(18, b"6").unwrap();
        assert!(e.is_post_only());
        let e = ExecInst::parse(18, b"G 6 a").unwrap();
        assert!(e.contains(b'G') && e.contains(b'a') && e.is_post_only());
        let mut out = [0u8; 128];
        assert_eq!(e.fmt(&mut out), b"6 G a");
        assert!(ExecInst::parse(18, b"66").is_err());
        assert!(ExecInst::parse(18, b"!").is_err());
        assert!(ExecInst::parse(18, b" ").is_err());
        assert_eq!(ExecInst::post_only(), ExecInst::EMPTY.with(b'6').unwrap());
    }

    #[test]
    fn inline_str_refuses_long_and_soh() {
        let id = FixId::from_str("ORD-0001").unwrap();
        assert_eq!(id.as_bytes(), b"ORD-0001");
        assert_eq!(id.as_str(), Some("ORD-0001"));
        assert_eq!(id.len(), 8);
        let long = [b'x'; 33];
        assert_eq!(
            FixId::new(&long),
            Err(InlineStrError::TooLong { len: 33, cap: 32 })
        );
        assert!(FixId::new(&long[..32]).is_ok());
        assert_eq!(FixId::new(b"a\x01b"), Err(InlineStrError::ContainsSoh));
        assert_eq!(format!("{id:?}"), "\"ORD-0001\"");
    }

    proptest! {
        #[test]
        fn price_format_parse_round_trip(raw in any::<i64>()) {
            let mut out = [0u8; 32];
            let text = fmt_price(Price(raw), &mut out);
            prop_assert_eq!(parse_price(44, text), Ok(Price(raw)));
        }

        #[test]
        fn timestamp_format_parse_round_trip(ns in any::<u64>()) {
            let text = fmt_timestamp(ns);
            prop_assert_eq!(parse_timestamp(52, &text), Ok(ns - ns % 1_000_000));
        }

        #[test]
        fn civil_date_conversion_round_trips(days in 0u64..2_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn value_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_price(44, &bytes);
            let _ = parse_qty(38, &bytes);
            let _ = parse_u64(34, &bytes);
            let _ = parse_timestamp(52, &bytes);
            let _ = ExecInst::parse(18, &bytes);
        }
    }
}
