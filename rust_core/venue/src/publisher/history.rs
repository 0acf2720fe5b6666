//! The retransmission history: the last N published messages by sequence
//! number, in one pre-allocated ring of fixed-size slots.

use quotewire_protocol::itch::{
    AddOrder, OrderCancel, OrderDelete, OrderExecuted, OrderReplace, StockDirectory, SystemEvent,
};

/// Bytes per history slot: the longest message the publisher emits.
pub(super) const SLOT: usize = 40;

const _: () = assert!(
    SystemEvent::LEN <= SLOT
        && StockDirectory::LEN <= SLOT
        && AddOrder::LEN <= SLOT
        && OrderExecuted::LEN <= SLOT
        && OrderCancel::LEN <= SLOT
        && OrderDelete::LEN <= SLOT
        && OrderReplace::LEN <= SLOT,
    "a published ITCH message does not fit a history slot"
);

/// Marks a slot that holds no message (sequence numbers start at 1 and never
/// reach this).
const EMPTY: u64 = u64::MAX;

/// Ring of `capacity` (a power of two) messages; slot `seq & mask` holds
/// message `seq` until `seq + capacity` overwrites it.
pub(super) struct History {
    mask: u64,
    seqs: Box<[u64]>,
    lens: Box<[u8]>,
    data: Box<[[u8; SLOT]]>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl History {
    /// A ring holding at least `capacity` messages (rounded up to a power of
    /// two). Every byte is written here so page faults happen at start-up.
    pub(super) fn new(capacity: usize) -> Self {
        let cap = capacity.max(1).next_power_of_two();
        Self {
            mask: cap as u64 - 1,
            seqs: vec![EMPTY; cap].into_boxed_slice(),
            lens: vec![u8::MAX; cap].into_boxed_slice(),
            data: vec![[b' '; SLOT]; cap].into_boxed_slice(),
        }
    }

    /// Messages kept.
    pub(super) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The oldest sequence number still held when `next` is the next one to publish.
    pub(super) fn oldest(&self, next: u64) -> u64 {
        next.saturating_sub(self.capacity()).max(1)
    }

    /// Stores message `seq` (at most [`SLOT`] bytes; longer input is refused).
    #[inline]
    pub(super) fn put(&mut self, seq: u64, msg: &[u8]) {
        let i = (seq & self.mask) as usize;
        let (Some(slot), Ok(len)) = (self.data.get_mut(i), u8::try_from(msg.len())) else {
            return;
        };
        let Some(dst) = slot.get_mut(..msg.len()) else {
            return;
        };
        dst.copy_from_slice(msg);
        self.lens[i] = len;
        self.seqs[i] = seq;
    }

    /// Message `seq`, if still held.
    #[inline]
    pub(super) fn get(&self, seq: u64) -> Option<&[u8]> {
        let i = (seq & self.mask) as usize;
        if *self.seqs.get(i)? != seq {
            return None;
        }
        self.data[i].get(..usize::from(self.lens[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_capacity_messages_and_forgets_older_ones() {
        let mut h = History::new(3);
        assert_eq!(h.capacity(), 4);
        for seq in 1..=10u64 {
            h.put(seq, &seq.to_be_bytes());
        }
        assert_eq!(h.oldest(11), 7);
        for seq in 7..=10u64 {
            assert_eq!(h.get(seq), Some(&seq.to_be_bytes()[..]));
        }
        assert_eq!(h.get(6), None);
        assert_eq!(h.get(11), None);
        assert_eq!(h.get(0), None);
    }

    #[test]
    fn oversize_message_is_refused_without_panic() {
        let mut h = History::new(2);
        h.put(1, &[0u8; SLOT + 1]);
        assert_eq!(h.get(1), None);
    }
}
