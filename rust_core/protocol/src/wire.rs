//! Fixed-offset wire access shared by the table-driven codecs ([`crate::itch`],
//! [`crate::ouch`]) and [`crate::soupbintcp`]: panic-free reads and writes at
//! constant offsets, the type-byte and length checks, the generic layout row
//! ([`FieldSpec`]), the check that a layout tiles its message, and the
//! `field_*!` macros that turn one `field: Kind @ offset` row into a struct
//! field type, a read, a write and a layout row.
//!
//! The macros name the calling module's `FieldKind` (for widths), `Side` (the
//! type of `Side` fields) and `rd_side(b, off, field)` (the decoder of `Side`
//! fields), which differ per protocol; everything else is reached through
//! `$crate::wire`.

use crate::DecodeError;

/// One field of a message layout, over the protocol's own kind enum. Each
/// codec re-exports it as `FieldSpec` with its `FieldKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldSpec<K> {
    /// Field name, identical to the Rust struct field (`message_type` for byte 0).
    pub name: &'static str,
    /// Byte offset from the message type byte.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// Wire encoding.
    pub kind: K,
}

/// Whether `fields` tile `0..len` exactly: each starts where the previous one
/// ended, none is empty, and they end at `len`. Rows built by [`field_specs!`]
/// take their width from their kind, so this also proves the widths right; the
/// panic-free accessors rely on it.
pub(crate) const fn fields_tile<K>(fields: &[FieldSpec<K>], len: usize) -> bool {
    let mut at = 0;
    let mut j = 0;
    while j < fields.len() {
        let f = &fields[j];
        if f.offset != at || f.len == 0 {
            return false;
        }
        at += f.len;
        j += 1;
    }
    at == len
}

// ---------------------------------------------------------------------------
// Panic-free fixed-offset access. Callers pass `&[u8; LEN]` with constant
// offsets that the compile-time layout checks keep in range, so after
// inlining the `get` branches fold away; they exist so that no input, and no
// future layout typo, can turn into a panic.

/// The `N` bytes at `off`, zeros if they run past the end of `b`.
#[inline(always)]
pub(crate) fn rd<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    match b.get(off..).and_then(<[u8]>::first_chunk::<N>) {
        Some(chunk) => *chunk,
        None => [0; N],
    }
}

/// Copies `src` to `out[off..]`, nothing if it does not fit.
#[inline(always)]
pub(crate) fn put(out: &mut [u8], off: usize, src: &[u8]) {
    if let Some(dst) = out.get_mut(off..off + src.len()) {
        dst.copy_from_slice(src);
    }
}

/// Checks the type byte and that `buf` holds at least the fixed part; returns
/// the fixed view and the rest.
#[inline(always)]
pub(crate) fn prefix<const LEN: usize>(
    buf: &[u8],
    tag: u8,
) -> Result<(&[u8; LEN], &[u8]), DecodeError> {
    let Some((b, rest)) = buf.split_first_chunk::<LEN>() else {
        return Err(DecodeError::Truncated {
            needed: LEN,
            have: buf.len(),
        });
    };
    if b[0] != tag {
        return Err(wrong_tag(b[0]));
    }
    Ok((b, rest))
}

/// Like [`prefix`] for fixed-length messages: trailing bytes are an error,
/// reported only once the type byte has matched (OUCH precedence).
#[inline(always)]
pub(crate) fn prefix_exact<const LEN: usize>(
    buf: &[u8],
    tag: u8,
) -> Result<&[u8; LEN], DecodeError> {
    let (b, rest) = prefix::<LEN>(buf, tag)?;
    if !rest.is_empty() {
        return Err(DecodeError::BadLength {
            tag,
            len: buf.len(),
            expected: LEN,
        });
    }
    Ok(b)
}

/// Checks the length, then the type byte, and hands back the fixed-size view
/// (ITCH precedence: a wrong length is reported before a wrong type byte).
#[inline(always)]
pub(crate) fn exact<const LEN: usize>(buf: &[u8], tag: u8) -> Result<&[u8; LEN], DecodeError> {
    let Ok(b) = <&[u8; LEN]>::try_from(buf) else {
        return Err(if buf.len() < LEN {
            DecodeError::Truncated {
                needed: LEN,
                have: buf.len(),
            }
        } else {
            DecodeError::BadLength {
                tag,
                len: buf.len(),
                expected: LEN,
            }
        });
    };
    if b[0] != tag {
        return Err(wrong_tag(b[0]));
    }
    Ok(b)
}

#[inline(always)]
const fn wrong_tag(value: u8) -> DecodeError {
    DecodeError::InvalidField {
        field: "message_type",
        value,
    }
}

// ---------------------------------------------------------------------------
// One layout row, `field: Kind @ offset` (or `field: Alpha(len) @ offset`),
// expanded four ways. The kinds are the union of the protocols' `FieldKind`
// variants; a kind the calling protocol lacks fails to compile in
// `field_len!`.

/// The Rust type of a field of the given kind.
macro_rules! field_ty {
    (Char) => {
        u8
    };
    (Side) => {
        Side
    };
    (U16) => {
        u16
    };
    (U32) => {
        u32
    };
    (U64) => {
        u64
    };
    (Price) => {
        u64
    };
    (Price4) => {
        u32
    };
    (Price8) => {
        u64
    };
    (Alpha($n:literal)) => {
        [u8; $n]
    };
}

/// The wire width of a field of the given kind (0, which the layout check
/// refuses, for an `Alpha` without a length).
macro_rules! field_len {
    (Alpha($n:literal)) => {
        $n
    };
    ($kind:ident) => {
        match FieldKind::$kind.fixed_len() {
            Some(n) => n,
            None => 0,
        }
    };
}

/// Reads a field of the given kind at a constant offset of `$b`; `Side`
/// fields return early (`?`) through the calling module's `rd_side`.
macro_rules! field_read {
    ($b:ident, $off:literal, $name:ident, Char) => {
        $crate::wire::rd::<1>($b, $off)[0]
    };
    ($b:ident, $off:literal, $name:ident, Side) => {
        rd_side($b, $off, stringify!($name))?
    };
    ($b:ident, $off:literal, $name:ident, U16) => {
        u16::from_be_bytes($crate::wire::rd($b, $off))
    };
    ($b:ident, $off:literal, $name:ident, U32) => {
        u32::from_be_bytes($crate::wire::rd($b, $off))
    };
    ($b:ident, $off:literal, $name:ident, U64) => {
        u64::from_be_bytes($crate::wire::rd($b, $off))
    };
    ($b:ident, $off:literal, $name:ident, Price) => {
        u64::from_be_bytes($crate::wire::rd($b, $off))
    };
    ($b:ident, $off:literal, $name:ident, Price4) => {
        u32::from_be_bytes($crate::wire::rd($b, $off))
    };
    ($b:ident, $off:literal, $name:ident, Price8) => {
        u64::from_be_bytes($crate::wire::rd($b, $off))
    };
    ($b:ident, $off:literal, $name:ident, Alpha($n:literal)) => {
        $crate::wire::rd::<$n>($b, $off)
    };
}

/// Writes a field of the given kind at a constant offset of `$o`.
macro_rules! field_write {
    ($o:ident, $off:literal, $v:expr, Char) => {
        $crate::wire::put($o, $off, &[$v])
    };
    ($o:ident, $off:literal, $v:expr, Side) => {
        $crate::wire::put($o, $off, &[$v.as_byte()])
    };
    ($o:ident, $off:literal, $v:expr, Alpha($n:literal)) => {
        $crate::wire::put($o, $off, &$v)
    };
    ($o:ident, $off:literal, $v:expr, $kind:ident) => {
        $crate::wire::put($o, $off, &$v.to_be_bytes())
    };
}

/// The layout rows of a message: `message_type` at offset 0, then the given
/// rows, each as wide as its kind.
macro_rules! field_specs {
    ($( $field:ident : $kind:ident $(($n:literal))? @ $off:expr ),* $(,)?) => {
        &[
            $crate::wire::FieldSpec { name: "message_type", offset: 0, len: 1, kind: FieldKind::Char },
            $( $crate::wire::FieldSpec {
                name: stringify!($field),
                offset: $off,
                len: $crate::wire::field_len!($kind $(($n))?),
                kind: FieldKind::$kind,
            }, )*
        ]
    };
}

pub(crate) use {field_len, field_read, field_specs, field_ty, field_write};

/// Test generator shared by the codecs' round-trip tests: an arbitrary field
/// value from 64 random bits. Each codec adds its own `Side`.
#[cfg(test)]
pub(crate) trait Seeded {
    fn from_seed(seed: u64) -> Self;
}

#[cfg(test)]
impl Seeded for u8 {
    fn from_seed(seed: u64) -> Self {
        seed.to_le_bytes()[0]
    }
}

#[cfg(test)]
impl Seeded for u16 {
    fn from_seed(seed: u64) -> Self {
        let [a, b, ..] = seed.to_le_bytes();
        u16::from_le_bytes([a, b])
    }
}

#[cfg(test)]
impl Seeded for u32 {
    fn from_seed(seed: u64) -> Self {
        let [a, b, c, d, ..] = seed.to_le_bytes();
        u32::from_le_bytes([a, b, c, d])
    }
}

#[cfg(test)]
impl Seeded for u64 {
    fn from_seed(seed: u64) -> Self {
        seed
    }
}

#[cfg(test)]
impl<const N: usize> Seeded for [u8; N] {
    fn from_seed(seed: u64) -> Self {
        let bytes = seed.to_le_bytes();
        core::array::from_fn(|i| bytes[i % 8])
    }
}
