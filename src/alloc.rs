//! The one place that allocates, frees, aligns and pins memory.
//!
//! Every byte the pool hands out comes from [`allocate`] and goes back through
//! [`free`]; nothing else in the crate calls `std::alloc` or `mlock`.

use crate::error::AllocError;
use std::alloc::Layout;
use std::ptr::NonNull;

/// An allocation the pool owns while it sits in a cache or shard. It has
/// no `Drop`: whoever holds one must hand it on or pass it to [`free`].
#[derive(Debug)]
pub(crate) struct Mem {
    pub(crate) ptr: NonNull<u8>,
    pub(crate) cap: usize,
    /// The size class (low 32 bits, [`NOT_POOLED`] if none) and the pinned
    /// flag (bit 32), in one full word. A `u32` + `bool` pair is written with
    /// two narrow stores and read back by struct copies as one 8-byte load,
    /// which the CPU cannot store-forward: a stall of ~10 ns per get + drop on
    /// the `hot_path` bench (`benches/pool.rs`). See `buffer.rs`, "Layout".
    pub(crate) tag: u64,
}

impl Mem {
    #[inline(always)]
    pub(crate) fn new(ptr: NonNull<u8>, cap: usize, class: u32, pinned: bool) -> Self {
        Mem { ptr, cap, tag: class as u64 | if pinned { PINNED } else { 0 } }
    }

    /// The size class this allocation serves ([`NOT_POOLED`] if none). Its
    /// capacity never changes, so its class is fixed when it is allocated and
    /// the drop path never has to recompute it.
    #[inline(always)]
    pub(crate) fn class(&self) -> u32 {
        self.tag as u32
    }

    /// mlock succeeded on this allocation; it must be munlocked before it is freed.
    #[inline(always)]
    pub(crate) fn pinned(&self) -> bool {
        self.tag & PINNED != 0
    }

    pub(crate) fn set_unpinned(&mut self) {
        self.tag &= !PINNED;
    }
}

/// `Mem::tag`'s pinned flag. (Bit 40 is `track::TRACKED`, set only while a
/// sampled buffer is out.)
pub(crate) const PINNED: u64 = 1 << 32;

/// `Mem::class` of an allocation outside every size class (freed on return).
pub(crate) const NOT_POOLED: u32 = u32::MAX;

/// `class` is a size class, not [`NOT_POOLED`]: a sign test, since no pool
/// has 2^31 classes (one `test`, where comparing with `u32::MAX` takes a
/// constant load too).
#[inline(always)]
pub(crate) fn is_pooled_class(class: u32) -> bool {
    (class as i32) >= 0
}

const _: () = assert!((NOT_POOLED as i32) < 0);

// SAFETY: `Mem` is a unique owner of its heap allocation (like `Box<[u8]>`); nothing
// about it is tied to the thread that allocated it.
unsafe impl Send for Mem {}

fn layout(cap: usize, align: usize) -> Result<Layout, AllocError> {
    Layout::from_size_align(cap, align).map_err(|_| AllocError::CapacityOverflow { size: cap })
}

/// Allocates `cap` bytes aligned to `align` (a power of two). Zeroed memory is
/// requested from the allocator (`calloc`, free of cost for fresh large allocations),
/// so no caller ever sees uninitialised bytes. `cap == 0` allocates nothing.
pub(crate) fn allocate(cap: usize, align: usize, zeroed: bool) -> Result<NonNull<u8>, AllocError> {
    let layout = layout(cap, align)?;
    if cap == 0 {
        // A dangling, aligned pointer, as `Vec` uses for empty buffers.
        return Ok(NonNull::new(align as *mut u8).expect("align is non-zero"));
    }
    // SAFETY: `layout` has a non-zero size, checked just above.
    let p = unsafe {
        if zeroed {
            std::alloc::alloc_zeroed(layout)
        } else {
            std::alloc::alloc(layout)
        }
    };
    NonNull::new(p).ok_or(AllocError::OutOfMemory { size: cap })
}

/// Frees memory from [`allocate`], unlocking it first if it was pinned.
///
/// # Safety
/// `ptr` must come from `allocate(cap, align, _)` with the same `cap` and
/// `align`, and must not be used afterwards.
pub(crate) unsafe fn free(ptr: NonNull<u8>, cap: usize, align: usize, pinned: bool) {
    if cap == 0 {
        return;
    }
    if pinned {
        unpin(ptr, cap);
    }
    // SAFETY: the caller guarantees `ptr` came from `allocate` with this exact
    // layout (which was valid then, so it is valid now).
    unsafe { std::alloc::dealloc(ptr.as_ptr(), Layout::from_size_align_unchecked(cap, align)) }
}

/// mlocks `cap` bytes at `ptr`. Returns false if the kernel refused
/// (`RLIMIT_MEMLOCK`, `EPERM`, `ENOMEM`); the memory is still usable.
pub(crate) fn pin(ptr: NonNull<u8>, cap: usize) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: the range is one live allocation we own; mlock only changes
        // paging attributes and faults the pages in.
        unsafe { libc::mlock(ptr.as_ptr().cast(), cap) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = (ptr, cap);
        false
    }
}

/// munlocks memory that [`pin`] locked (before freeing it, or when it leaves
/// the pool as a `Vec`).
pub(crate) fn unpin(ptr: NonNull<u8>, cap: usize) {
    #[cfg(unix)]
    // SAFETY: the range is one live allocation we own that was mlocked by `pin`.
    // Pinned allocations are page-aligned with page-multiple capacity, so no other
    // allocation shares these pages and loses its lock.
    unsafe {
        libc::munlock(ptr.as_ptr().cast(), cap);
    }
    #[cfg(not(unix))]
    let _ = (ptr, cap);
}

/// The system page size (4096 where it cannot be read).
pub(crate) fn page_size() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 && (p as usize).is_power_of_two() {
            return p as usize;
        }
    }
    4096
}

/// Physical memory in bytes, if the platform says.
pub(crate) fn physical_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
        if pages > 0 && size > 0 {
            return Some(pages as u64 * size as u64);
        }
    }
    None
}
