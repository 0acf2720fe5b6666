//! Key -> slab slot: open addressing over 4-byte entries, linear probing,
//! backward-shift delete.
//!
//! An entry is only a slot number (plus, for the `ClOrdId` table, one bit
//! saying which of the slot's two ids it stands for); the key lives in the
//! order itself, so a probe confirms a candidate by reading the order, which
//! is the line the caller needs next anyway. The table holds at least twice
//! as many buckets as it can ever hold entries, so it is never more than half
//! full, probe runs stay short, and probing always ends. Deletion shifts later
//! entries of the run back (no tombstones), so the table never degrades over a
//! long day. Same shape as `quotewire_book`'s id map, with the hash tag
//! dropped to keep entries at 4 bytes.

use quotewire_core::mem::{HugePageAdvice, HugeSlice};

use crate::order::NIL;

pub(crate) struct SlotTable {
    /// Huge-page backed: probes land anywhere in megabytes.
    buckets: HugeSlice<u32>,
    mask: usize,
}

impl SlotTable {
    /// A table for at most `max_entries` entries at once (all memory touched now).
    pub(crate) fn new(max_entries: usize) -> Self {
        let n = max_entries.saturating_mul(2).max(8).next_power_of_two();
        Self {
            buckets: HugeSlice::filled(n, NIL),
            mask: n - 1,
        }
    }

    /// Bucket of the first entry accepted by `is_key`, probing from `hash`'s home.
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<usize> {
        let mut i = hash as usize & self.mask;
        loop {
            let e = self.buckets[i];
            if e == NIL {
                return None;
            }
            if is_key(e) {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The entry in a bucket returned by [`Self::find`].
    #[inline(always)]
    pub(crate) fn entry(&self, bucket: usize) -> u32 {
        self.buckets[bucket]
    }

    /// Overwrites an occupied bucket with an entry of the same key.
    #[inline(always)]
    pub(crate) fn set(&mut self, bucket: usize, entry: u32) {
        self.buckets[bucket] = entry;
    }

    /// Inserts an entry whose key hashes to `hash` (the key must be absent).
    #[inline(always)]
    pub(crate) fn insert(&mut self, hash: u64, entry: u32) {
        let mut i = hash as usize & self.mask;
        while self.buckets[i] != NIL {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = entry;
    }

    /// Empties `bucket`, shifting later entries of its run back so no probe
    /// breaks; `hash_of(entry)` recomputes an entry's key hash.
    #[inline(always)]
    pub(crate) fn remove(&mut self, bucket: usize, hash_of: impl Fn(u32) -> u64) {
        let mask = self.mask;
        let mut hole = bucket;
        let mut j = (bucket + 1) & mask;
        loop {
            let e = self.buckets[j];
            if e == NIL {
                break;
            }
            let home = hash_of(e) as usize & mask;
            // `e` may move into the hole when the hole lies between its home and `j`.
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.buckets[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.buckets[hole] = NIL;
    }

    pub(crate) fn bytes(&self) -> usize {
        self.buckets.reserved_bytes()
    }

    pub(crate) fn advice(&self) -> HugePageAdvice {
        self.buckets.advice()
    }
}

/// Hash for venue order references: one 64x64->128 multiply by the
/// golden-ratio constant, folded, so mostly-increasing references spread over
/// every bit.
#[inline(always)]
pub(crate) fn hash_venue_id(id: u64) -> u64 {
    let m = u128::from(id) * 0x9E37_79B9_7F4A_7C15_u128;
    (m as u64) ^ ((m >> 64) as u64)
}

/// Hash for our ids: the same folded multiply. (The identity would place
/// consecutive ids in consecutive buckets, but then live ids form one long
/// occupied run, and a backward-shift delete scans to the end of its run.)
#[inline(always)]
pub(crate) fn hash_cl(cl: u32) -> u64 {
    hash_venue_id(u64::from(cl))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys stand for themselves as entries here; all hash to a few buckets.
    fn crowded(key: u32) -> u64 {
        u64::from(key % 3)
    }

    #[test]
    fn backward_shift_keeps_every_survivor_reachable() {
        let mut t = SlotTable::new(4);
        let mut live: Vec<u32> = Vec::new();
        let mut x = 11_u32;
        for step in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 8) % 40;
            if let Some(pos) = live.iter().position(|&k| k == key) {
                let b = t.find(crowded(key), |e| e == key).expect("live key");
                t.remove(b, crowded);
                live.swap_remove(pos);
            } else if live.len() < 4 {
                t.insert(crowded(key), key);
                live.push(key);
            }
            for &k in &live {
                assert!(
                    t.find(crowded(k), |e| e == k).is_some(),
                    "lost {k} at {step}"
                );
            }
            assert!(t.find(crowded(1_000), |e| e == 1_000).is_none());
        }
    }

    #[test]
    fn tables_have_at_least_twice_the_buckets_of_their_entries() {
        let t = SlotTable::new(1_000);
        assert_eq!(t.bytes(), 2_048 * 4);
    }
}
