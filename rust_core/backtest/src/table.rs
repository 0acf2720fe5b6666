//! [`Table`]: the venue's hash table of `u64`-keyed entries stored inline
//! (public orders by ITCH reference, price levels by price).
//!
//! Open addressing, linear probing, backward-shift deletion (no tombstones,
//! so a long session never degrades it), at most half full (it doubles when
//! an insert would pass that; the only allocation after construction). The
//! home bucket is the top bits of a Fibonacci hash, so dense, increasing ITCH
//! references spread over the whole table; a price level table is instead
//! [`Table::local`]: prices a tick apart sit in neighbouring buckets, and the
//! levels near the touch, which nearly every market event updates, share a
//! few cache lines (measured +1.2% on the backtest benchmark).

use quotewire_core::mem::prefetch_write;

/// An entry of a [`Table`]: a key and whether the bucket holding it is empty.
pub(crate) trait Entry: Copy {
    /// An empty bucket.
    const VACANT: Self;
    /// The entry's key.
    fn key(&self) -> u64;
    /// This bucket is empty.
    fn is_vacant(&self) -> bool;
}

/// Open-addressing hash table of [`Entry`]s.
#[derive(Clone, Debug)]
pub(crate) struct Table<T> {
    buckets: Vec<T>,
    /// `64 - log2(buckets.len())`.
    shift: u32,
    /// Keys are placed by `key >> local` (see [`Self::local`]), not hashed.
    local: Option<u32>,
    len: usize,
}

impl<T: Entry> Table<T> {
    /// A table for `entries` entries before it first grows.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        let n = entries.saturating_mul(2).max(16).next_power_of_two();
        Self {
            buckets: vec![T::VACANT; n],
            shift: 64 - n.trailing_zeros(),
            local: None,
            len: 0,
        }
    }

    /// A table whose keys are placed in order, `key >> shift` modulo the table
    /// size, instead of hashed: keys close together share cache lines. Keys
    /// closer than `1 << shift` (prices finer than the tick the shift was
    /// taken from) share a home bucket: still correct, with longer probes.
    pub(crate) fn local(entries: usize, shift: u32) -> Self {
        Self {
            local: Some(shift.min(63)),
            ..Self::with_capacity(entries)
        }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        match self.local {
            Some(s) => (key >> s) as usize & self.mask(),
            None => (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// Starts loading the home bucket of `key` (a hint: never changes contents).
    #[inline]
    pub(crate) fn prefetch(&self, key: u64) {
        if let Some(b) = self.buckets.get(self.home(key)) {
            prefetch_write(b);
        }
    }

    /// The bucket holding `key`.
    #[inline(always)]
    pub(crate) fn find(&self, key: u64) -> Option<usize> {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let b = &self.buckets[i];
            if b.is_vacant() {
                return None;
            }
            if b.key() == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The bucket holding `entry`'s key, or an empty one filled with `entry`
    /// (`Err`, after which the bucket holds it).
    #[inline(always)]
    pub(crate) fn find_or_insert(&mut self, entry: T) -> Result<usize, usize> {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        let (mask, key) = (self.mask(), entry.key());
        let mut i = self.home(key);
        loop {
            let b = &mut self.buckets[i];
            if b.is_vacant() {
                *b = entry;
                self.len += 1;
                return Err(i);
            }
            if b.key() == key {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts `entry`, replacing the entry with its key if there is one.
    #[inline]
    pub(crate) fn insert(&mut self, entry: T) {
        if let Ok(i) = self.find_or_insert(entry) {
            self.buckets[i] = entry;
        }
    }

    /// The entry in bucket `i` (from [`Self::find`] or [`Self::find_or_insert`]).
    #[inline]
    pub(crate) fn at(&mut self, i: usize) -> &mut T {
        &mut self.buckets[i]
    }

    /// The entry in bucket `i`, read only.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> &T {
        &self.buckets[i]
    }

    /// Empties bucket `i`, shifting later entries of its run back.
    #[inline(always)]
    pub(crate) fn remove_at(&mut self, i: usize) {
        let mask = self.mask();
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let e = self.buckets[j];
            if e.is_vacant() {
                break;
            }
            let home = self.home(e.key());
            // `e` may move into the hole when the hole lies between its home and `j`.
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.buckets[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.buckets[hole] = T::VACANT;
        self.len -= 1;
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.buckets.iter().filter(|e| !e.is_vacant())
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// No entry held.
    pub(crate) const fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cold]
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        *self = Self {
            local: self.local,
            ..Self::with_capacity(old.len())
        };
        for e in old {
            if !e.is_vacant() {
                let _ = self.find_or_insert(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct E(u64, u64);

    impl Entry for E {
        const VACANT: Self = Self(0, 0);
        fn key(&self) -> u64 {
            self.0
        }
        fn is_vacant(&self) -> bool {
            self.1 == 0
        }
    }

    #[test]
    fn random_inserts_and_removes_match_a_reference_map() {
        // A small start forces growth, long runs and wrap-around.
        check_against_reference(Table::with_capacity(1), 1);
    }

    #[test]
    fn local_placement_matches_a_reference_map() {
        // Keys placed in order: clustered keys (the multiplier 100 is a tick,
        // the shift its log2) make long runs, across growth and wrap-around.
        check_against_reference(Table::local(1, 6), 100);
        check_against_reference(Table::local(1, 0), 1);
        check_against_reference(Table::local(1, 6), 1);
    }

    fn check_against_reference(mut t: Table<E>, spacing: u64) {
        let mut reference = std::collections::BTreeMap::new();
        let mut x = 7_u64;
        for step in 0..50_000_u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = (x >> 33) % 300 * spacing;
            if reference.remove(&key).is_some() {
                let i = t
                    .find(key)
                    .unwrap_or_else(|| panic!("lost {key} at {step}"));
                t.remove_at(i);
            } else {
                t.insert(E(key, step + 1));
                reference.insert(key, step + 1);
            }
            assert_eq!(t.len(), reference.len());
        }
        for (&k, &v) in &reference {
            let i = t.find(k).expect("present");
            assert_eq!(*t.get(i), E(k, v));
        }
        assert_eq!(t.iter().count(), reference.len());
    }

    #[test]
    fn insert_replaces_the_entry_with_the_same_key() {
        let mut t: Table<E> = Table::with_capacity(4);
        t.insert(E(5, 1));
        t.insert(E(5, 2));
        assert_eq!(t.len(), 1);
        assert_eq!(*t.get(t.find(5).unwrap()), E(5, 2));
    }
}
