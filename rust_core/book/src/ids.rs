//! Order id -> slab slot: open addressing, linear probing, backward-shift delete.
//!
//! An entry is 8 bytes: the low 32 bits of the id's [tag](IdMap::tag) and the
//! slab slot. The bucket index is `tag & mask`, so an entry's home bucket is
//! known without touching its node, which lets deletion shift later entries back
//! (no tombstones, so the table never degrades or rehashes over a long day).
//! A tag match is confirmed against the node's id: the node is the line the
//! caller loads next anyway, so a lookup costs one line of this table plus
//! that node. The table holds at least four times `max_orders` buckets, so probe
//! runs are short and almost always stay within the first cache line.
//!
//! # Why the tag keeps the id's low bits
//!
//! Venues number orders in increasing order over the day (ITCH's order reference
//! numbers), and most events touch orders added a few thousand messages earlier.
//! The tag is `(id << 1) ^ mix(id >> (table_bits - 1))`: the id's low bits (its
//! place in the table) pass through, xored with a strong hash of the bits above
//! them. Ids added close together in time therefore share a few adjacent cache
//! lines of the table (four per line) instead of one random line each, and an
//! event on a recent order finds its bucket in cache. The shift by one leaves an
//! empty bucket between consecutive ids: packed densely, the recent orders
//! formed one long run of occupied buckets, and every delete's backward-shift
//! scan walked to its end. The hashed high part spreads everything else: ids
//! that differ only above the table's bits (strides of the table size, a
//! partition number in the high bits) land on unrelated rows; several
//! independent sequences told apart only by their high bits can overlap, and
//! deletes there scan longer (ITCH order references are one sequence for the
//! whole feed, so that case is tested for correctness, not speed). Measured on the
//! `bench feed` day (1.5 M live orders): see the crate's `PERFORMANCE.md`. The
//! tests below check short probes and short delete scans for sequential,
//! gapped, strided, partitioned and random ids, and a day's steady state.
//!
//! Four buckets per order rather than two (8 bytes more per order of capacity):
//! over a long day the ids wrap around the table onto the buckets of older
//! orders still resting, and at half the load those collisions, and the delete
//! scans they lengthen, are rarer; measured +10% messages/s on `bench feed`.

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

/// Strong 64-bit mix: one 64x64->128 multiply by the golden-ratio constant, folded.
#[inline(always)]
fn mix(x: u64) -> u64 {
    let m = u128::from(x) * 0x9E37_79B9_7F4A_7C15_u128;
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
    /// log2 of the bucket count: the id bits that pick a bucket directly.
    bits: u32,
}

impl IdMap {
    /// A map for up to `max_orders` (at most [`MAX_ORDERS`]) live ids, with all memory touched now.
    pub(crate) fn new(max_orders: usize) -> Self {
        let buckets = max_orders
            .min(MAX_ORDERS)
            .saturating_mul(4)
            .max(8)
            .next_power_of_two();
        Self {
            entries: HugeSlice::filled(buckets, EMPTY),
            mask: buckets - 1,
            bits: buckets.trailing_zeros(),
        }
    }

    /// The tag of `id` (its home bucket is `tag & mask`): the id's low bits
    /// xored with a hash of the bits above the table's (see the module docs).
    #[inline(always)]
    pub(crate) fn tag(&self, id: u64) -> u32 {
        ((id << 1) ^ mix(id >> (self.bits - 1))) as u32
    }

    /// Probes for `id`; `id_of(slot)` reads the id stored in a slab node.
    #[inline(always)]
    pub(crate) fn probe(&self, id: u64, id_of: impl Fn(u32) -> u64) -> (Probe, u32) {
        let tag = self.tag(id);
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
        let i = self.tag(id) as usize & self.mask;
        if let Some(e) = self.entries.get(i) {
            prefetch_read(e);
        }
    }

    /// The slot of the first entry in `id`'s probe run whose tag matches, looking
    /// at most a few buckets ahead. Not confirmed against the node: a hint only.
    #[inline(always)]
    pub(crate) fn peek(&self, id: u64) -> Option<u32> {
        let tag = self.tag(id);
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

    /// Probe figures of a map's live entries.
    struct Shape {
        /// Mean distance from the home bucket (a lookup's extra probes).
        mean: f64,
        /// Longest distance from the home bucket.
        max: usize,
        /// Mean number of buckets from an entry to the end of its run (what a
        /// delete's backward-shift scan walks).
        scan: f64,
    }

    fn shape(map: &IdMap) -> Shape {
        let (mut sum, mut max, mut n) = (0usize, 0usize, 0usize);
        for (j, e) in map.entries.iter().enumerate() {
            if e.slot != NIL {
                let d = j.wrapping_sub(e.tag as usize & map.mask) & map.mask;
                sum += d;
                max = max.max(d);
                n += 1;
            }
        }
        // Walk backwards from an empty bucket: `to_end` counts the buckets up
        // to the next empty one.
        let len = map.entries.len();
        let empty = map.entries.iter().position(|e| e.slot == NIL).unwrap_or(0);
        let (mut to_end, mut scan) = (0usize, 0usize);
        for k in 1..=len {
            let j = (empty + len - k) % len;
            if map.entries[j].slot == NIL {
                to_end = 0;
            } else {
                to_end += 1;
                scan += to_end;
            }
        }
        let n = n.max(1) as f64;
        Shape {
            mean: sum as f64 / n,
            max,
            scan: scan as f64 / n,
        }
    }

    /// Fills a map built for `live` orders with `live` ids of a pattern, as a
    /// day would (each id added once), and reports its shape.
    fn fill_with(live: usize, ids: impl Iterator<Item = u64>) -> Shape {
        let mut map = IdMap::new(live);
        let mut stored: Vec<u64> = Vec::new();
        for id in ids.take(live) {
            let slot = stored.len() as u32;
            match map.probe(id, |s| stored[s as usize]) {
                (Probe::Vacant(b), tag) => map.fill(b, tag, slot),
                (Probe::Found(_), _) => panic!("pattern repeats id {id}"),
            }
            stored.push(id);
        }
        for (slot, &id) in stored.iter().enumerate() {
            let (Probe::Found(b), _) = map.probe(id, |s| stored[s as usize]) else {
                panic!("lost {id}");
            };
            assert_eq!(map.slot(b), slot as u32);
        }
        shape(&map)
    }

    #[test]
    fn probe_runs_stay_short_for_every_id_pattern() {
        let live = 1 << 16;
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let mut random = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let gaps: Vec<u64> = (0..live as u64)
            .scan(0, |id, _| {
                *id += 1 + random() % 5;
                Some(*id)
            })
            .collect();
        let mut patterns: Vec<(String, Vec<u64>)> = vec![
            ("sequential".into(), (1..).take(live).collect()),
            (
                "sequential from 2^40".into(),
                (1 << 40..).take(live).collect(),
            ),
            ("gapped".into(), gaps),
            ("random".into(), (0..live).map(|_| random()).collect()),
            (
                "16 interleaved partitions in the high bits".into(),
                (0..live as u64)
                    .map(|i| ((i % 16) << 48) | (i / 16))
                    .collect(),
            ),
            (
                "16 partitions in the low bits".into(),
                (0..live as u64).map(|i| i << 4 | (i % 16)).collect(),
            ),
        ];
        for k in [1, 4, 12, 16, 17, 18, 24, 32, 40] {
            let ids = (1..=live as u64).map(|i| i << k).collect();
            patterns.push((format!("stride 2^{k}"), ids));
        }
        for (name, ids) in patterns {
            let Shape { mean, max, scan } = fill_with(live, ids.into_iter());
            // Linear probing at this load (live / buckets = 1/2) averages 0.5
            // extra probes and a delete scan of about 2.5 for random ids, with
            // a longest displacement of some tens; sequential ids sit at home,
            // one bucket apart. A pattern the tag failed to spread would pile
            // up thousands deep.
            assert!(mean < 1.0, "{name}: mean displacement {mean}");
            assert!(max < 256, "{name}: longest displacement {max}");
            if name.contains("interleaved") {
                // The known cost of keeping recent ids together: independent
                // sequences told apart only by their high bits can overlap
                // with the same parity, and a delete then scans the dense run
                // (still correct; lookups stay short, as asserted above).
                // ITCH order references are one sequence for the whole feed.
                assert!(scan < 4096.0, "{name}: mean delete scan {scan}");
            } else {
                assert!(scan < 4.0, "{name}: mean delete scan {scan}");
            }
        }
    }

    #[test]
    fn a_days_steady_state_keeps_probes_and_delete_scans_short() {
        // A day in miniature: increasing ids, most deletes among recent orders,
        // some among any live order, many times more ids than buckets so the
        // sequence wraps around the table onto older orders still resting.
        let target = 1 << 14;
        let mut map = IdMap::new(target);
        let mut stored: Vec<u64> = Vec::new();
        let mut free: Vec<u32> = Vec::new();
        let mut live: Vec<u32> = Vec::new();
        let mut x = 0x9E37_79B9_u64;
        let mut next_id = 1_u64;
        for _ in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if live.len() < target {
                let slot = free.pop().unwrap_or_else(|| {
                    stored.push(0);
                    (stored.len() - 1) as u32
                });
                stored[slot as usize] = next_id;
                let (Probe::Vacant(b), tag) = map.probe(next_id, |s| stored[s as usize]) else {
                    panic!("id {next_id} already live");
                };
                map.fill(b, tag, slot);
                live.push(slot);
                next_id += 1;
            } else {
                let n = live.len();
                let pick = if x % 10 < 7 {
                    n - 1 - (x as usize >> 8) % 512
                } else {
                    (x as usize >> 8) % n
                };
                let slot = live.swap_remove(pick);
                let id = stored[slot as usize];
                let (Probe::Found(b), _) = map.probe(id, |s| stored[s as usize]) else {
                    panic!("lost {id}");
                };
                map.remove(b);
                free.push(slot);
            }
        }
        // Consecutive ids sit two buckets apart: they wrap every `len / 2` ids.
        assert!(
            next_id > 2 * map.entries.len() as u64,
            "the ids wrapped four times"
        );
        let Shape { mean, max, scan } = shape(&map);
        assert!(mean < 1.0, "mean displacement {mean}");
        assert!(max < 256, "longest displacement {max}");
        assert!(scan < 4.0, "mean delete scan {scan}");
    }
}
