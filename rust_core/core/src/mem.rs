//! Large, pre-sized buffers backed by transparent huge pages where the OS allows.
//!
//! A hot-path table of tens of megabytes (an order slab, an id map) touched at
//! random costs a TLB miss per access on 4 KiB pages: 4 KiB pages map 6 MiB with
//! a few thousand TLB entries, 2 MiB pages map gigabytes. Linux in
//! `transparent_hugepage=madvise` mode (the common default) only backs a region
//! with huge pages when it was marked `MADV_HUGEPAGE` *before* its pages were
//! first faulted in, and only the 2 MiB-aligned part of it.
//!
//! [`HugeSlice`] does both: it allocates 2 MiB-aligned, rounds the size up to
//! whole huge pages, marks the region with [`advise_huge_pages`] and only then
//! writes (and so faults in) every element. Huge pages are best effort: when the
//! advice fails, or off Linux, the buffer works the same on normal pages and
//! [`HugePageAdvice`] says what happened.
//!
//! [`prefetch_read`], [`prefetch_write`] and [`prefetch_bytes`] are the software-prefetch hints the
//! hot path uses to overlap the misses of upcoming events.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Size of an x86-64 / aarch64 (4 KiB granule) transparent huge page.
pub const HUGE_PAGE: usize = 2 << 20;

/// What [`advise_huge_pages`] achieved. Never an error to the caller: huge pages
/// are an optimisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HugePageAdvice {
    /// Bytes (whole, aligned huge pages) marked `MADV_HUGEPAGE`.
    pub advised_bytes: usize,
    /// `errno` of a failed `madvise` (e.g. `EINVAL` where THP is compiled out); 0 when none.
    pub errno: i32,
}

/// Marks the 2 MiB-aligned interior of `region` for transparent huge pages.
///
/// Call it before the memory is first touched: the kernel picks the page size
/// at fault time. Regions without one whole aligned huge page, non-Linux
/// targets and Miri are left alone (`advised_bytes == 0`). Failure is reported,
/// never raised.
pub fn advise_huge_pages<T>(region: &mut [T]) -> HugePageAdvice {
    let start = region.as_mut_ptr() as usize;
    let end = start + size_of_val(region);
    let first = start.next_multiple_of(HUGE_PAGE);
    let last = end - end % HUGE_PAGE;
    if last <= first {
        return HugePageAdvice::default();
    }
    madvise_hugepage(first, last - first)
}

#[cfg(all(target_os = "linux", not(miri)))]
fn madvise_hugepage(addr: usize, len: usize) -> HugePageAdvice {
    // SAFETY: `[addr, addr + len)` lies inside a live `&mut` slice (the caller's
    // `region`), so it is mapped memory this process owns. `MADV_HUGEPAGE` only
    // changes the page size the kernel may use for it; it never changes contents,
    // protection or mapping, so no Rust reference into it is invalidated.
    let rc = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
    if rc == 0 {
        HugePageAdvice {
            advised_bytes: len,
            errno: 0,
        }
    } else {
        HugePageAdvice {
            advised_bytes: 0,
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(-1),
        }
    }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn madvise_hugepage(_addr: usize, _len: usize) -> HugePageAdvice {
    HugePageAdvice::default()
}

/// Hints the CPU to start loading the cache line holding `value` into all cache
/// levels, without waiting for it. A no-op off x86-64.
///
/// Used to overlap the cache misses of upcoming events with the work on the
/// current one; never changes results, only timing.
#[inline(always)]
pub fn prefetch_read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has (it is in the
    // target's baseline feature set). PREFETCHT0 is a hint: it never faults,
    // never reads architecturally and never writes, whatever the address; here
    // the address is even that of a live reference.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Like [`prefetch_read`], for a line about to be written: PREFETCHW (fetch
/// exclusive, saving the later ownership request) when the build enables the
/// `prfchw` target feature, PREFETCHT0 otherwise.
#[inline(always)]
pub fn prefetch_write<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as for `prefetch_read`: a non-faulting hint on a live reference.
    // `_MM_HINT_ET0` only selects the flavour of the hint, and SSE is baseline.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        _mm_prefetch::<_MM_HINT_ET0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// [`prefetch_read`] of every cache line of `bytes` (e.g. the next datagram of
/// a receive ring while the current one is processed).
#[inline]
pub fn prefetch_bytes(bytes: &[u8]) {
    for line in bytes.iter().step_by(64) {
        prefetch_read(line);
    }
    if let Some(last) = bytes.last() {
        prefetch_read(last);
    }
}

/// A fixed-length, heap-allocated `[T]` laid out for huge pages.
///
/// Buffers of at least one huge page are 2 MiB-aligned, padded to whole huge
/// pages and advised before initialisation, so every page is faulted in as a
/// huge page at construction when the kernel can supply one. Smaller buffers are
/// plain allocations. Dereferences to `[T]`; never grows.
pub struct HugeSlice<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    /// `None` when nothing was allocated (`len == 0` or zero-sized `T`).
    layout: Option<Layout>,
    advice: HugePageAdvice,
}

// SAFETY: `HugeSlice<T>` owns its elements exactly like `Box<[T]>` (no shared
// state, no interior mutability of its own), so it may move to another thread
// whenever `T` may.
unsafe impl<T: Copy + Send> Send for HugeSlice<T> {}
// SAFETY: as for `Box<[T]>`: `&HugeSlice<T>` only hands out `&[T]`.
unsafe impl<T: Copy + Sync> Sync for HugeSlice<T> {}

impl<T: Copy> HugeSlice<T> {
    /// `len` elements, element `i` being `init(i)`, written in index order.
    ///
    /// # Panics
    /// When `len * size_of::<T>()` overflows `isize` (like `vec!`); aborts through
    /// [`alloc::handle_alloc_error`] when memory is exhausted.
    pub fn from_fn(len: usize, mut init: impl FnMut(usize) -> T) -> Self {
        let bytes = len
            .checked_mul(size_of::<T>())
            .expect("HugeSlice size overflows usize");
        if bytes == 0 {
            return Self {
                ptr: NonNull::dangling(),
                len,
                layout: None,
                advice: HugePageAdvice::default(),
            };
        }
        let layout = if bytes >= HUGE_PAGE {
            Layout::from_size_align(
                bytes.next_multiple_of(HUGE_PAGE),
                HUGE_PAGE.max(align_of::<T>()),
            )
        } else {
            Layout::array::<T>(len)
        }
        .expect("HugeSlice size overflows isize");
        // SAFETY: `layout` has a non-zero size (`bytes > 0`, and both branches
        // reserve at least `bytes`) and an alignment of at least `align_of::<T>()`.
        let raw = unsafe { alloc::alloc(layout) };
        let Some(base) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        let advice = if bytes >= HUGE_PAGE {
            // SAFETY: `base` is a fresh allocation of `layout.size() >= bytes`
            // bytes, exclusively ours; viewing it as bytes is valid for any
            // contents (uninitialised bytes are never read, only their address
            // is used by `advise_huge_pages`).
            let region = unsafe {
                std::slice::from_raw_parts_mut(
                    base.as_ptr().cast::<std::mem::MaybeUninit<u8>>(),
                    layout.size(),
                )
            };
            advise_huge_pages(region)
        } else {
            HugePageAdvice::default()
        };
        let ptr = base.cast::<T>();
        for i in 0..len {
            // SAFETY: `i < len` and the allocation holds `len` `T`s at
            // `T`-compatible alignment, so `ptr + i` is in bounds and aligned.
            // `write` does not read or drop the uninitialised old value. Should
            // `init` panic, the buffer leaks, which is sound (`T: Copy` has no
            // destructor to skip).
            unsafe { ptr.as_ptr().add(i).write(init(i)) };
        }
        Self {
            ptr,
            len,
            layout: Some(layout),
            advice,
        }
    }

    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        Self::from_fn(len, |_| value)
    }

    /// What the huge-page advice achieved for this buffer.
    #[must_use]
    pub const fn advice(&self) -> HugePageAdvice {
        self.advice
    }

    /// Bytes reserved (the padded allocation).
    #[must_use]
    pub fn reserved_bytes(&self) -> usize {
        self.layout.map_or(0, |l| l.size())
    }
}

impl<T: Copy> Deref for HugeSlice<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialised `T`s (all written in
        // `from_fn`) owned by `self`, or is dangling with a zero-byte extent;
        // the shared borrow of `self` keeps them alive and unaliased by `&mut`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> DerefMut for HugeSlice<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and the exclusive borrow of `self` makes this
        // the only live reference to the elements.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: `ptr` came from `alloc::alloc(layout)` in `from_fn` with this
            // very `layout` and is freed only here, once. `T: Copy` needs no drop.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast::<u8>(), layout) };
        }
    }
}

impl<T: Copy> Clone for HugeSlice<T> {
    fn clone(&self) -> Self {
        Self::from_fn(self.len, |i| self[i])
    }
}

impl<T: Copy + fmt::Debug> fmt::Debug for HugeSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HugeSlice")
            .field("len", &self.len)
            .field("advice", &self.advice)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_plain_and_initialised_in_order() {
        let s = HugeSlice::from_fn(1000, |i| i as u32 * 3);
        assert_eq!(s.len(), 1000);
        assert!(s.iter().enumerate().all(|(i, &v)| v == i as u32 * 3));
        assert_eq!(s.advice(), HugePageAdvice::default());
        let e = HugeSlice::<u64>::filled(0, 7);
        assert!(e.is_empty());
        assert_eq!(e.reserved_bytes(), 0);
        let z = HugeSlice::filled(5, ());
        assert_eq!(z.len(), 5);
    }

    #[test]
    #[cfg_attr(miri, ignore = "allocates megabytes")]
    fn large_buffers_are_huge_page_aligned_padded_and_writable() {
        let mut s = HugeSlice::filled(HUGE_PAGE / 8 + 3, 1_u64);
        assert_eq!(s.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(s.reserved_bytes(), 2 * HUGE_PAGE);
        let a = s.advice();
        if cfg!(target_os = "linux") && a.errno == 0 {
            assert_eq!(a.advised_bytes, 2 * HUGE_PAGE);
        }
        let n = s.len();
        s[n - 1] = 9;
        assert_eq!(s.iter().sum::<u64>(), (n as u64 - 1) + 9);
        let c = s.clone();
        assert_eq!(&c[..], &s[..]);
    }

    #[test]
    fn advice_skips_regions_without_a_whole_aligned_huge_page() {
        let mut small = vec![0_u8; 4096];
        assert_eq!(advise_huge_pages(&mut small).advised_bytes, 0);
        let mut empty: [u64; 0] = [];
        assert_eq!(advise_huge_pages(&mut empty), HugePageAdvice::default());
    }
}
