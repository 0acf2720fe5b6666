//! Order id -> slab slot: open addressing, linear probing, backward-shift delete.
//!
//! An entry is 8 bytes: the low 32 bits of the id's hash (the tag) and the slab
//! slot. The bucket index is `tag & mask`, so an entry's home bucket is known
//! without touching its node, which lets deletion shift later entries back
//! (no tombstones, so the table never degrades or rehashes over a long day).
//! A tag match is confirmed against the node's id: the node is the line the
//! caller loads next anyway, so a lookup costs one line of this table plus
//! that node. The table holds at least twice `max_orders` buckets, so probe
//! runs are short and almost always stay within the first cache line.

use quotewire_core::mem::{prefetch_read, HugePageAdvice, HugeSlice};

use crate::book::NIL;

#[derive(Clone, Copy)]
struct Entry {
    tag: u32,
    /// `NIL` marks an empty bucket.
    slot: u32,
}

const EMPTY: Entry = Entry { tag: 0, slot: NIL };

/// Most orders the map is built for; keeps every bucket index below `u32::MAX`.
pub(crate) const MAX_ORDERS: usize = 1 << 30;

/// Hash for order ids: one 64x64->128 multiply by the golden-ratio constant,
/// folded, so mostly-increasing ids spread over every bit.
#[inline(always)]
pub(crate) fn hash_id(id: u64) -> u64 {
    let m = u128::from(id) * 0x9E37_79B9_7F4A_7C15_u128;
    (m as u64) ^ ((m >> 64) as u64)
}

/// Where a probe for an id ended.
pub(crate) enum Probe {
    /// The id is live in this bucket.
    Found(usize),
    /// The id is absent; this empty bucket is where it would go.
    Vacant(usize),
}

pub(crate) struct IdMap {
    /// Huge-page backed: probes land anywhere in tens of megabytes.
    entries: HugeSlice<Entry>,
    mask: usize,
}

impl IdMap {
    /// A map for up to `max_orders` (at most [`MAX_ORDERS`]) live ids, with all memory touched now.
    pub(crate) fn new(max_orders: usize) -> Self {
        let buckets = max_orders
            .min(MAX_ORDERS)
            .saturating_mul(2)
            .max(8)
            .next_power_of_two();
        Self {
            entries: HugeSlice::filled(buckets, EMPTY),
            mask: buckets - 1,
        }
    }

    /// Probes for `id`; `id_of(slot)` reads the id stored in a slab node.
    #[inline(always)]
    pub(crate) fn probe(&self, id: u64, id_of: impl Fn(u32) -> u64) -> (Probe, u32) {
        let tag = hash_id(id) as u32;
        let mut i = tag as usize & self.mask;
        loop {
            let e = self.entries[i];
            if e.slot == NIL {
                return (Probe::Vacant(i), tag);
            }
            if e.tag == tag && id_of(e.slot) == id {
                return (Probe::Found(i), tag);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Starts loading the home bucket line of `id` (a hint; no effect on contents).
    #[inline(always)]
    pub(crate) fn prefetch(&self, id: u64) {
        let i = hash_id(id) as u32 as usize & self.mask;
        if let Some(e) = self.entries.get(i) {
            prefetch_read(e);
        }
    }

    /// The slot of the first entry in `id`'s probe run whose tag matches, looking
    /// at most a few buckets ahead. Not confirmed against the node: a hint only.
    #[inline(always)]
    pub(crate) fn peek(&self, id: u64) -> Option<u32> {
        let tag = hash_id(id) as u32;
        let mut i = tag as usize & self.mask;
        for _ in 0..4 {
            let e = self.entries.get(i)?;
            if e.slot == NIL {
                return None;
            }
            if e.tag == tag {
                return Some(e.slot);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// The slot in a bucket returned by [`Self::probe`].
    #[inline(always)]
    pub(crate) fn slot(&self, bucket: usize) -> u32 {
        self.entries[bucket].slot
    }

    /// Fills a vacant bucket returned by [`Self::probe`] (no change since).
    #[inline(always)]
    pub(crate) fn fill(&mut self, bucket: usize, tag: u32, slot: u32) {
        self.entries[bucket] = Entry { tag, slot };
    }

    /// Inserts an id known to be absent.
    #[inline(always)]
    pub(crate) fn insert_absent(&mut self, tag: u32, slot: u32) {
        let mut i = tag as usize & self.mask;
        while self.entries[i].slot != NIL {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = Entry { tag, slot };
    }

    /// Empties a bucket, shifting later entries of the run back so no probe breaks.
    #[inline(always)]
    pub(crate) fn remove(&mut self, bucket: usize) {
        let mask = self.mask;
        let mut hole = bucket;
        let mut j = (bucket + 1) & mask;
        loop {
            let e = self.entries[j];
            if e.slot == NIL {
                break;
            }
            let home = e.tag as usize & mask;
            // `e` may move into the hole when the hole lies between its home and `j`.
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.entries[hole] = EMPTY;
    }

    pub(crate) fn bytes(&self) -> usize {
        self.entries.reserved_bytes()
    }

    pub(crate) fn huge_page_advice(&self) -> HugePageAdvice {
        self.entries.advice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids stand for themselves as slots in these tests.
    fn id_of(slot: u32) -> u64 {
        u64::from(slot)
    }

    fn insert(map: &mut IdMap, id: u32) {
        match map.probe(u64::from(id), id_of) {
            (Probe::Vacant(b), tag) => map.fill(b, tag, id),
            (Probe::Found(_), _) => panic!("duplicate {id}"),
        }
    }

    fn contains(map: &IdMap, id: u32) -> bool {
        matches!(map.probe(u64::from(id), id_of).0, Probe::Found(_))
    }

    #[test]
    fn backward_shift_keeps_every_survivor_reachable() {
        // A tiny table forces long runs and wrap-around.
        let mut map = IdMap::new(4);
        let mut live: Vec<u32> = Vec::new();
        let mut x = 7_u32;
        for step in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let id = (x >> 8) % 64;
            if let Some(pos) = live.iter().position(|&l| l == id) {
                let (Probe::Found(b), _) = map.probe(u64::from(id), id_of) else {
                    panic!("lost {id} at step {step}");
                };
                map.remove(b);
                live.swap_remove(pos);
            } else if live.len() < 4 {
                insert(&mut map, id);
                live.push(id);
            }
            for &l in &live {
                assert!(contains(&map, l), "lost {l} at step {step}");
            }
            assert!(!contains(&map, 1000));
        }
    }

    #[test]
    fn insert_absent_matches_probe_position() {
        let mut map = IdMap::new(16);
        for id in 0..16_u32 {
            map.insert_absent(hash_id(u64::from(id)) as u32, id);
        }
        for id in 0..16_u32 {
            let (Probe::Found(b), _) = map.probe(u64::from(id), id_of) else {
                panic!("{id}")
            };
            assert_eq!(map.slot(b), id);
        }
    }
}
