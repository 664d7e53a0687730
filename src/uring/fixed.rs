//! Registered ("fixed") buffers: an arena of pinned pool buffers that the
//! `Ring` owns for its whole life and registers with the kernel once.
//!
//! Why an arena, and not the caller's buffers: a registration pins the pages
//! behind a virtual address range. If a registered buffer went back to the
//! pool and the pool freed it, a later allocation at the same address would
//! get different pages, and a `READ_FIXED` "into" it would land in the old,
//! still-pinned pages: silently lost data. The pool has no hook to tell us
//! when it frees memory, so the only sound registration is of memory the Ring
//! itself keeps alive. Operations that get an arena buffer use
//! `READ_FIXED`/`WRITE_FIXED` on it and copy between it and the caller's
//! pooled buffer (a 4 KiB copy costs about what the per-op page pinning of a
//! plain `O_DIRECT` read does; `docs/benchmarks.md` measures whether it pays).

use crate::PooledBuffer;

/// The arena: `len()` buffers of `size()` bytes each, registered as
/// indexes `0..len()`.
pub(crate) struct Arena {
    /// Keeps the memory alive; never dereferenced while the kernel may use it
    /// (all access goes through `ptrs`).
    _owners: Vec<PooledBuffer>,
    /// Start address of each buffer (stored as integers: the arena is shared
    /// between threads, and each buffer is used by one operation at a time,
    /// as handed out by `State::arena_free`).
    ptrs: Vec<usize>,
    size: usize,
}

impl Arena {
    /// Takes `count` buffers of `size` bytes from `pool`.
    pub(crate) fn new(pool: &crate::BufferPool, count: usize, size: usize) -> Self {
        let mut owners: Vec<PooledBuffer> = (0..count).map(|_| pool.get(size)).collect();
        let ptrs = owners.iter_mut().map(|b| b.as_mut_ptr() as usize).collect();
        Arena { _owners: owners, ptrs, size }
    }

    pub(crate) fn len(&self) -> usize {
        self.ptrs.len()
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Whether every buffer is mlocked (the pool is pinned and mlock worked).
    pub(crate) fn all_pinned(&self) -> bool {
        self._owners.iter().all(|b| b.is_pinned())
    }

    pub(crate) fn ptr(&self, i: u16) -> *mut u8 {
        debug_assert!((i as usize) < self.ptrs.len());
        self.ptrs[i as usize] as *mut u8
    }

    /// The iovecs to register, index `i` for buffer `i`.
    pub(crate) fn iovecs(&self) -> Vec<libc::iovec> {
        self.ptrs.iter().map(|&p| libc::iovec { iov_base: p as *mut libc::c_void, iov_len: self.size }).collect()
    }
}
