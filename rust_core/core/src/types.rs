use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// Number of decimal places carried by [`Price`] (ITCH `Price(4)`).
pub const PRICE_DECIMALS: u32 = 4;
/// Raw units per whole currency unit.
pub const PRICE_SCALE: i64 = 10_i64.pow(PRICE_DECIMALS);

/// A price as a signed fixed-point integer with four decimals (1.0 == 10_000).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

impl Price {
    /// The zero price.
    pub const ZERO: Self = Self(0);
    /// Largest representable price.
    pub const MAX: Self = Self(i64::MAX);
    /// Smallest representable price.
    pub const MIN: Self = Self(i64::MIN);

    /// Builds a price from its raw fixed-point value.
    #[inline(always)]
    #[must_use]
    pub const fn from_raw(raw: i64) -> Self {
        Self(raw)
    }

    /// Returns the raw fixed-point value.
    #[inline(always)]
    #[must_use]
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// Converts from `f64` once, at the configuration boundary, rounding to the nearest unit.
    pub fn from_f64(value: f64) -> Result<Self, CoreError> {
        let scaled = (value * PRICE_SCALE as f64).round();
        if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
            return Err(CoreError::OutOfRange {
                value,
                what: "price",
            });
        }
        Ok(Self(scaled as i64))
    }

    /// Converts to `f64` for models and display.
    #[inline]
    #[must_use]
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / PRICE_SCALE as f64
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let scale = PRICE_SCALE.unsigned_abs();
        write!(f, "{sign}{}.{:04}", abs / scale, abs % scale)
    }
}

impl FromStr for Price {
    type Err = CoreError;

    /// Parses a decimal string exactly: `"12.3400"`, `"-0.5"`, `"7"`. More than four
    /// decimals are refused rather than rounded.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason| CoreError::InvalidPrice {
            text: text.to_owned(),
            reason,
        };
        let (neg, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad("empty"));
        }
        if frac_part.len() > PRICE_DECIMALS as usize {
            return Err(bad("more than four decimals"));
        }
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !digits_ok(int_part) || !digits_ok(frac_part) {
            return Err(bad("not a decimal number"));
        }
        let whole: i64 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| bad("integer part out of range"))?
        };
        let mut frac: i64 = 0;
        for (i, b) in frac_part.bytes().enumerate() {
            frac += i64::from(b - b'0') * 10_i64.pow(PRICE_DECIMALS - 1 - i as u32);
        }
        let raw = whole
            .checked_mul(PRICE_SCALE)
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(|| bad("out of range"))?;
        Ok(Self(if neg { -raw } else { raw }))
    }
}

/// A quantity in shares (or contracts) as an unsigned integer.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub u64);

impl Qty {
    /// Zero shares.
    pub const ZERO: Self = Self(0);

    /// Returns the raw share count.
    #[inline(always)]
    #[must_use]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Subtracts, stopping at zero.
    #[inline(always)]
    #[must_use]
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// True when no shares are left.
    #[inline(always)]
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Side of an order or quote.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid / buy (`B` on the wire).
    Buy = b'B',
    /// Offer / sell (`S` on the wire).
    Sell = b'S',
}

impl Side {
    /// Decodes the ITCH/OUCH side byte.
    #[inline(always)]
    pub const fn from_byte(b: u8) -> Result<Self, CoreError> {
        match b {
            b'B' => Ok(Self::Buy),
            b'S' => Ok(Self::Sell),
            other => Err(CoreError::InvalidSide(other)),
        }
    }

    /// The wire byte.
    #[inline(always)]
    #[must_use]
    pub const fn as_byte(self) -> u8 {
        self as u8
    }

    /// The other side.
    #[inline(always)]
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// Index for two-element per-side arrays: buy = 0, sell = 1.
    #[inline(always)]
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::Buy => 0,
            Self::Sell => 1,
        }
    }
}

/// Instrument identifier; for ITCH feeds this is the stock locate code.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstrumentId(pub u16);

/// Venue order reference number (ITCH order reference, OUCH order token).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub u64);

/// Nanoseconds, either since midnight (ITCH) or since an arbitrary monotonic epoch (clock).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Formats a since-midnight timestamp as `HH:MM:SS.nnnnnnnnn`.
    #[must_use]
    pub fn hms(self) -> String {
        let ns = self.0 % 1_000_000_000;
        let secs = self.0 / 1_000_000_000;
        format!(
            "{:02}:{:02}:{:02}.{ns:09}",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }

    /// Parses `HH:MM:SS[.fraction]` into nanoseconds since midnight.
    pub fn parse_hms(text: &str) -> Option<Self> {
        let (hms, frac) = text.split_once('.').unwrap_or((text, ""));
        let mut parts = hms.split(':');
        let h: u64 = parts.next()?.parse().ok()?;
        let m: u64 = parts.next()?.parse().ok()?;
        let s: u64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || m > 59 || s > 60 || frac.len() > 9 {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut ns: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            ns += u64::from(b - b'0') * 10_u64.pow(8 - i as u32);
        }
        Some(Self(((h * 60 + m) * 60 + s) * 1_000_000_000 + ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn price_parses_exact_decimals() {
        assert_eq!("12.34".parse::<Price>().unwrap(), Price(123_400));
        assert_eq!("-0.0001".parse::<Price>().unwrap(), Price(-1));
        assert_eq!("7".parse::<Price>().unwrap(), Price(70_000));
        assert!("1.23456".parse::<Price>().is_err());
        assert!("1.2a".parse::<Price>().is_err());
        assert!("".parse::<Price>().is_err());
    }

    #[test]
    fn price_from_f64_refuses_non_finite() {
        assert!(Price::from_f64(f64::NAN).is_err());
        assert!(Price::from_f64(1e30).is_err());
        assert_eq!(Price::from_f64(101.25).unwrap(), Price(1_012_500));
    }

    #[test]
    fn side_bytes_round_trip_and_reject_garbage() {
        assert_eq!(Side::from_byte(b'B').unwrap(), Side::Buy);
        assert_eq!(Side::from_byte(Side::Sell.as_byte()).unwrap(), Side::Sell);
        assert_eq!(Side::from_byte(b'x'), Err(CoreError::InvalidSide(b'x')));
    }

    #[test]
    fn timestamp_hms_round_trip() {
        let t = Timestamp::parse_hms("09:30:00.000000123").unwrap();
        assert_eq!(t.0, 34_200_000_000_123);
        assert_eq!(t.hms(), "09:30:00.000000123");
        assert_eq!(
            Timestamp::parse_hms("09:30:01.5").unwrap().0,
            34_201_500_000_000
        );
        assert!(Timestamp::parse_hms("9:61:00").is_none());
    }

    proptest! {
        #[test]
        fn price_display_parse_round_trip(raw in -1_000_000_000_000_i64..1_000_000_000_000) {
            let p = Price(raw);
            prop_assert_eq!(p.to_string().parse::<Price>().unwrap(), p);
        }
    }
}
