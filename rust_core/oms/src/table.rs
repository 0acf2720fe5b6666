//! Key -> slab slot: open addressing over 4-byte entries, linear probing,
//! backward-shift delete.
//!
//! The key lives in the order itself, so a probe confirms a candidate by
//! reading the order (the line the caller needs next anyway). An entry is a
//! `u32` split in three fields, widths fixed at construction from how many
//! bits the caller's values need (`value_bits`: the slot number, plus one
//! bit in the `ClOrdId` table):
//!
//! ```text
//!   31                                                   0
//!   [ tag: hash bits 32.. | distance | caller's value    ]
//!             tag_bits      dist_bits     value_bits
//! ```
//!
//! * **distance**: how far the entry sits from its home bucket, saturating at
//!   `sat` ("this far or more"). Deleting shifts later entries of the run back
//!   using the stored distance, so it reads no order; only an entry at
//!   `sat` or more is rehashed from its order. `find` only confirms an entry
//!   whose stored distance equals the current probe distance (same home
//!   bucket as the key).
//! * **tag**: high hash bits of the key; `find` only confirms an entry whose
//!   tag matches. With both filters, a lookup reads about one order: its own.
//!
//! `dist_bits` is 4 when the entry has room (`sat` = 14), fewer only for
//! slabs above 2^27 (`ClOrdId` table) or 2^28 (venue table) slots; with one
//! bit left (`ClOrdId` table, above 2^29 slots) `sat` is 0 and every shifted
//! entry is rehashed from its order. The tag takes what is left (7 bits in the
//! `ClOrdId` table and 8 in the venue table for a 1,000,000-slot slab, none
//! above 2^26 and 2^27 slots).
//! The distance field never holds all ones, so no entry equals [`NIL`] (the
//! empty bucket).
//!
//! The table holds at least twice as many buckets as it can ever hold
//! entries, so it is never more than half full, probe runs stay short, and
//! probing always ends. Deletion shifts later entries of the run back (no
//! tombstones), so the table never degrades over a long day.

use quotewire_core::mem::{prefetch_write, HugePageAdvice, HugeSlice};

use crate::order::NIL;

/// Widest distance field: 14 exact distances, then "14 or more".
const MAX_DIST_BITS: u32 = 4;

pub(crate) struct SlotTable {
    /// Huge-page backed: probes land anywhere in megabytes.
    buckets: HugeSlice<u32>,
    mask: usize,
    /// The caller's value: the low `value_bits` bits of an entry.
    value_mask: u32,
    /// Position of the distance field (`value_bits`).
    dist_shift: u32,
    /// The distance field, in place.
    dist_mask: u32,
    /// Largest stored distance, meaning "this far or more".
    sat: u32,
    /// Position of the tag (`value_bits + dist_bits`, at most 32).
    tag_shift: u32,
}

impl SlotTable {
    /// A table for at most `max_entries` entries at once whose values fit in
    /// `value_bits` bits (at most 31); all memory is touched now.
    pub(crate) fn new(max_entries: usize, value_bits: u32) -> Self {
        assert!(
            value_bits <= 31,
            "table values need {value_bits} bits (at most 31)"
        );
        let n = max_entries.saturating_mul(2).max(8).next_power_of_two();
        let dist_bits = (32 - value_bits).min(MAX_DIST_BITS);
        Self {
            buckets: HugeSlice::filled(n, NIL),
            mask: n - 1,
            value_mask: ((1_u64 << value_bits) - 1) as u32,
            dist_shift: value_bits,
            dist_mask: (((1_u64 << dist_bits) - 1) << value_bits) as u32,
            sat: (1 << dist_bits) - 2,
            tag_shift: value_bits + dist_bits,
        }
    }

    /// The tag bits of a key hashing to `hash`, in place.
    #[inline(always)]
    fn tag(&self, hash: u64) -> u32 {
        // `tag_shift` <= 32 and `hash >> 32` < 2^32: no overflow; bits pushed
        // past bit 31 are dropped by the cast (all of them when there is no tag).
        ((hash >> 32) << self.tag_shift) as u32
    }

    /// The distance field for an entry `dist` buckets from home, in place.
    #[inline(always)]
    fn dist_field(&self, dist: usize) -> u32 {
        (dist.min(self.sat as usize) as u32) << self.dist_shift
    }

    /// Bucket of the first entry accepted by `is_key` (given the entry's
    /// value), probing from `hash`'s home. Only entries with the key's tag and
    /// home bucket are offered to `is_key`.
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<usize> {
        let meta = !self.value_mask;
        let tag = self.tag(hash);
        let mut i = hash as usize & self.mask;
        let mut dist = 0;
        loop {
            let e = self.buckets[i];
            if e == NIL {
                return None;
            }
            if e & meta == tag | self.dist_field(dist) && is_key(e & self.value_mask) {
                return Some(i);
            }
            i = (i + 1) & self.mask;
            dist += 1;
        }
    }

    /// Starts loading the home bucket of `hash` (for an insert, find or remove
    /// coming shortly), so its cache miss overlaps with other work.
    #[inline(always)]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch_write(&self.buckets[hash as usize & self.mask]);
    }

    /// The value in a bucket returned by [`Self::find`].
    #[inline(always)]
    pub(crate) fn entry(&self, bucket: usize) -> u32 {
        self.buckets[bucket] & self.value_mask
    }

    /// Overwrites the value of an occupied bucket with one of the same key.
    #[inline(always)]
    pub(crate) fn set(&mut self, bucket: usize, value: u32) {
        debug_assert!(value & !self.value_mask == 0, "value {value:#x} too wide");
        let b = &mut self.buckets[bucket];
        *b = (*b & !self.value_mask) | value;
    }

    /// Inserts a value whose key hashes to `hash` (the key must be absent).
    #[inline(always)]
    pub(crate) fn insert(&mut self, hash: u64, value: u32) {
        debug_assert!(value & !self.value_mask == 0, "value {value:#x} too wide");
        let mut i = hash as usize & self.mask;
        let mut dist = 0;
        while self.buckets[i] != NIL {
            i = (i + 1) & self.mask;
            dist += 1;
        }
        self.buckets[i] = self.tag(hash) | self.dist_field(dist) | value;
    }

    /// Empties `bucket`, shifting later entries of its run back so no probe
    /// breaks. `hash_of(value)` recomputes the key hash of an entry, and is
    /// only called for an entry whose distance saturated (with 1,000,000
    /// entries in 2^21 buckets: 0.08% of entries, one call per 180 removes).
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
            let stored = (e & self.dist_mask) >> self.dist_shift;
            let dist = if stored < self.sat {
                stored as usize
            } else {
                j.wrapping_sub(hash_of(e & self.value_mask) as usize) & mask
            };
            // `e` may move into the hole when the hole lies between its home and `j`.
            let gap = j.wrapping_sub(hole) & mask;
            if dist >= gap {
                self.buckets[hole] = (e & !self.dist_mask) | self.dist_field(dist - gap);
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
/// every bit (the low bits pick the home bucket, bits 32 and up the tag).
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

/// Bits needed for slot numbers `0..capacity`.
pub(crate) const fn slot_bits(capacity: usize) -> u32 {
    usize::BITS - capacity.saturating_sub(1).leading_zeros()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeMap;

    use super::*;

    impl SlotTable {
        fn buckets(&self) -> usize {
            self.mask + 1
        }

        /// Checks every structural invariant against `hash_of` (the test's hash
        /// of a value) and returns the live values with their buckets.
        fn check(&self, hash_of: impl Fn(u32) -> u64) -> BTreeMap<u32, usize> {
            let mut seen = BTreeMap::new();
            for (i, &e) in self.buckets.iter().enumerate() {
                if e == NIL {
                    continue;
                }
                let value = e & self.value_mask;
                let hash = hash_of(value);
                let home = hash as usize & self.mask;
                let dist = i.wrapping_sub(home) & self.mask;
                // Linear probing: every bucket from home up to the entry is occupied.
                for k in 0..dist {
                    assert_ne!(
                        self.buckets[(home + k) & self.mask],
                        NIL,
                        "gap before {value}"
                    );
                }
                assert_eq!(
                    e & self.dist_mask,
                    self.dist_field(dist),
                    "distance of {value}"
                );
                assert_ne!(
                    e & self.dist_mask,
                    self.dist_mask,
                    "all-ones distance field"
                );
                assert_eq!(
                    e & !(self.value_mask | self.dist_mask),
                    self.tag(hash),
                    "tag"
                );
                assert!(seen.insert(value, i).is_none(), "{value} stored twice");
            }
            seen
        }
    }

    /// Deterministic pseudo-random numbers (no dependency needed).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// Runs `steps` random inserts and removes of keys below `keys` (at most
    /// `cap` live) against a `BTreeMap`, the values being the keys, checking
    /// lookups and invariants after every step. Returns how often the table
    /// asked for a hash while removing.
    fn against_model(
        value_bits: u32,
        cap: usize,
        keys: u32,
        steps: usize,
        seed: u64,
        hash: impl Fn(u32) -> u64 + Copy,
    ) -> usize {
        let mut t = SlotTable::new(cap, value_bits);
        let mut model: BTreeMap<u32, ()> = BTreeMap::new();
        let mut rng = Lcg(seed);
        let rehashes = Cell::new(0);
        let counted = |v: u32| {
            rehashes.set(rehashes.get() + 1);
            hash(v)
        };
        for step in 0..steps {
            let key = rng.below(u64::from(keys)) as u32;
            let bucket = t.find(hash(key), |v| v == key);
            assert_eq!(
                bucket.is_some(),
                model.contains_key(&key),
                "find {key} at {step}"
            );
            if let Some(b) = bucket {
                assert_eq!(t.entry(b), key);
                t.remove(b, counted);
                model.remove(&key);
            } else if model.len() < cap {
                t.insert(hash(key), key);
                model.insert(key, ());
            }
            let stored = t.check(hash);
            assert!(
                stored.keys().eq(model.keys()),
                "table and model differ at {step}"
            );
            for (&k, &b) in &stored {
                assert_eq!(t.find(hash(k), |v| v == k), Some(b), "lost {k} at {step}");
            }
        }
        rehashes.get()
    }

    /// Well-spread hash (the OMS's own).
    fn spread(key: u32) -> u64 {
        hash_cl(key)
    }

    #[test]
    fn random_inserts_and_removes_match_a_btreemap() {
        let rehashes = against_model(12, 600, 2_000, 20_000, 1, spread);
        assert_eq!(rehashes, 0, "distances at load 1/2 never saturate here");
    }

    #[test]
    fn a_full_half_loaded_table_matches_a_btreemap() {
        // Keys outnumber the capacity: the table stays at its limit most of the time.
        against_model(10, 512, 700, 10_000, 2, spread);
    }

    #[test]
    fn long_colliding_runs_wrap_past_the_end_and_rehash_saturated_entries() {
        // 40 keys on 3 home buckets at the very end of a 128-bucket array: runs
        // of up to 40 entries wrap to the start, distances pass the 14 cap.
        let t = SlotTable::new(64, 8);
        assert_eq!(t.buckets(), 128);
        let crowded = |k: u32| 125 + u64::from(k % 3) + (u64::from(k) << 32);
        let rehashes = against_model(8, 40, 60, 20_000, 3, crowded);
        assert!(rehashes > 0, "saturated distances were recomputed");
    }

    #[test]
    fn identical_tags_leave_the_key_check_to_the_caller() {
        // Every key has the same home and tag: only `is_key` tells them apart.
        let same = |_: u32| 7;
        against_model(8, 20, 30, 5_000, 4, same);
    }

    #[test]
    fn one_bit_distance_fields_always_rehash_and_stay_correct() {
        // 31-bit values (a 2^30 slot slab's `ClOrdId` table): no tag, sat = 0.
        let t = SlotTable::new(8, 31);
        assert_eq!((t.sat, t.tag_shift), (0, 32));
        let crowded = |k: u32| u64::from(k % 5) | (u64::from(k) << 32);
        let rehashes = against_model(31, 8, 12, 5_000, 5, crowded);
        assert!(rehashes > 0);
        // 30-bit values: distances 0 and 1 exact, 2 means "2 or more", no tag.
        let t = SlotTable::new(8, 30);
        assert_eq!((t.sat, t.tag_shift), (2, 32));
        against_model(30, 8, 12, 5_000, 6, crowded);
    }

    #[test]
    fn values_using_every_free_bit_never_look_empty() {
        // All-ones values with all-ones tags: the distance field keeps them off NIL.
        for value_bits in [0, 1, 20, 27, 28, 29, 30, 31] {
            let mut t = SlotTable::new(8, value_bits);
            let v = t.value_mask;
            // One home (the last bucket): distances 0 to 7, past every `sat`.
            for _ in 0..8 {
                t.insert(u64::MAX, v);
            }
            let stored = t.buckets.iter().filter(|&&e| e != NIL).count();
            assert_eq!(stored, 8, "{value_bits} bits");
            assert_eq!(t.find(u64::MAX, |e| e == v), Some(t.mask));
        }
    }

    #[test]
    fn removing_from_short_runs_reads_no_key() {
        let mut t = SlotTable::new(1_000, 12);
        for k in 0..1_000 {
            t.insert(spread(k), k);
        }
        for k in (0..1_000).step_by(2) {
            let b = t.find(spread(k), |v| v == k).expect("present");
            t.remove(b, |_| panic!("a stored distance was enough"));
        }
        let stored = t.check(spread);
        assert!(stored.keys().copied().eq((1..1_000).step_by(2)));
    }

    #[test]
    fn find_offers_only_entries_with_the_keys_home_and_tag() {
        let mut t = SlotTable::new(1_000, 12);
        for k in 0..1_000 {
            t.insert(spread(k), k);
        }
        for k in 0..1_000 {
            let mut offered = 0;
            let found = t.find(spread(k), |v| {
                offered += 1;
                v == k
            });
            assert!(found.is_some());
            // 20 tag bits: a stray candidate is a one-in-a-million event.
            assert_eq!(offered, 1, "key {k}");
        }
        let mut offered = 0;
        assert!(t
            .find(spread(5_000), |_| {
                offered += 1;
                false
            })
            .is_none());
        assert_eq!(offered, 0);
    }

    #[test]
    fn set_keeps_tag_and_distance() {
        // The key is the value's low 7 bits; bit 7 is free to change.
        let crowded = |v: u32| 3 + (u64::from(v & 0x7f) << 40);
        let mut t = SlotTable::new(8, 8);
        for k in 1..6 {
            t.insert(crowded(k), k);
        }
        let b = t.find(crowded(4), |v| v == 4).expect("present");
        t.set(b, 0x84);
        t.check(crowded);
        assert_eq!(t.find(crowded(4), |v| v & 0x7f == 4), Some(b));
        assert_eq!(t.entry(b), 0x84);
    }

    #[test]
    fn slot_bits_cover_every_slot() {
        assert_eq!(slot_bits(1), 0);
        assert_eq!(slot_bits(2), 1);
        assert_eq!(slot_bits(1_000_000), 20);
        assert_eq!(slot_bits(1 << 20), 20);
        assert_eq!(slot_bits((1 << 20) + 1), 21);
        assert_eq!(slot_bits(1 << 30), 30);
    }

    #[test]
    fn spare_bits_go_to_distance_first_then_tag() {
        // (slab slots, value bits) -> (tag bits, sat), as the OMS builds its tables.
        let layout = |value_bits: u32| {
            let t = SlotTable::new(8, value_bits);
            (32 - t.tag_shift, t.sat)
        };
        let cl = |cap: usize| layout(slot_bits(cap) + 1);
        let venue = |cap: usize| layout(slot_bits(cap));
        assert_eq!((cl(1_000_000), venue(1_000_000)), ((7, 14), (8, 14)));
        assert_eq!((cl(1 << 26), venue(1 << 26)), ((1, 14), (2, 14)));
        assert_eq!(
            (cl((1 << 26) + 1), venue((1 << 27) + 1)),
            ((0, 14), (0, 14))
        );
        assert_eq!((cl((1 << 27) + 1), venue((1 << 28) + 1)), ((0, 6), (0, 6)));
        assert_eq!((cl(1 << 29), cl((1 << 29) + 1)), ((0, 2), (0, 0)));
        assert_eq!(
            (cl(crate::MAX_CAPACITY), venue(crate::MAX_CAPACITY)),
            ((0, 0), (0, 2))
        );
    }

    #[test]
    fn tables_have_at_least_twice_the_buckets_of_their_entries() {
        let t = SlotTable::new(1_000, 10);
        assert_eq!(t.bytes(), 2_048 * 4);
    }
}
