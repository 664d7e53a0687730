//! A block's *inbox*: the list that buffers it issued join when they are
//! dropped on another thread, and that its owner takes whole with one swap on
//! its next miss (mimalloc's thread-free list). Also [`Chain`], the owner's
//! private list of what it took and has not yet put in a bin.
//!
//! Both are intrusive: a buffer's first [`LINK_BYTES`] bytes hold the link
//! (next, capacity, tag) while it is listed, so listing needs no allocation.
//! Under loom a node is a boxed `loom::cell::UnsafeCell` instead, so the
//! models check that the link is written before the push that publishes it
//! and read after the swap that takes it.

use crate::alloc::Mem;
use crate::sync::{AtomicUsize, Ordering};

/// Bytes of a buffer its link takes while listed: next, capacity, tag.
pub(super) const LINK_BYTES: usize = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<u64>();

/// `Inbox::head` once closed (the owner retired): pushes fail.
const CLOSED: usize = 1;

/// The inbox: a lock-free stack that any thread pushes onto and only the
/// owner takes from, all at once.
pub(super) struct Inbox {
    /// 0 (empty), `CLOSED`, or the top node.
    head: AtomicUsize,
    /// Bytes listed (an upper bound while pushes are under way), so the
    /// inbox stays within its owner's `tls_cache_bytes`.
    bytes: AtomicUsize,
}

impl Inbox {
    /// An open inbox, or a closed one (an orphan block's).
    pub(super) fn new(open: bool) -> Self {
        Self { head: AtomicUsize::new(if open { 0 } else { CLOSED }), bytes: AtomicUsize::new(0) }
    }

    /// Whether a buffer can be listed at all: room for the link.
    #[inline]
    pub(super) fn fits(mem: &Mem) -> bool {
        mem.cap >= LINK_BYTES
    }

    /// Lists `mem`; gives it back if the inbox is closed, or if listing it
    /// would take the inbox past `limit` bytes. Its first [`LINK_BYTES`] are
    /// then zero.
    ///
    /// # Safety
    /// The caller owns `mem`'s memory and one reference to the inbox's block
    /// (its buffer's), which a successful push passes to the owner with the
    /// buffer; `Inbox::fits(&mem)`.
    pub(super) unsafe fn push(&self, mem: Mem, limit: usize) -> Result<(), Mem> {
        // Relaxed: only a first guess at the head; the CAS checks it.
        let mut head = self.head.load(Ordering::Relaxed);
        if head == CLOSED {
            return Err(mem);
        }
        let cap = mem.cap;
        // Relaxed: a bound, not a publication. Counted before the CAS, so the
        // owner's subtraction (after its Acquire swap, which the CAS's Release
        // happens before) never comes first.
        if self.bytes.fetch_add(cap, Ordering::Relaxed) + cap > limit {
            self.bytes.fetch_sub(cap, Ordering::Relaxed);
            return Err(mem);
        }
        // SAFETY: the caller owns the memory, which fits a link.
        let node = unsafe { node::write(mem, head) };
        loop {
            // Release: pairs with the Acquire swap in `take`, so the link, and
            // everything this thread did with the buffer, happen before the
            // owner reads the link and reuses the buffer. Relaxed on failure:
            // the value read is only the next guess.
            match self.head.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(CLOSED) => {
                    // Relaxed: see above.
                    self.bytes.fetch_sub(cap, Ordering::Relaxed);
                    // SAFETY: our node, never published.
                    let (mem, _) = unsafe { node::read(node, true) };
                    return Err(mem);
                }
                Err(h) => {
                    head = h;
                    // SAFETY: our node, never published.
                    unsafe { node::set_next(node, head) };
                }
            }
        }
    }

    /// Whether anything may be listed (a hint; the owner's `take` decides).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        // Relaxed: a hint; `take`'s swap is the synchronising read.
        matches!(self.head.load(Ordering::Relaxed), 0 | CLOSED)
    }

    /// Takes everything listed, closing the inbox if `close` (retirement).
    /// Owner only. The caller gives the bytes taken back with [`Inbox::taken`].
    pub(super) fn take(&self, close: bool) -> Chain {
        // Acquire: pairs with the Release CAS in `push` (see there).
        let head = self.head.swap(if close { CLOSED } else { 0 }, Ordering::Acquire);
        Chain { head: if head == CLOSED { 0 } else { head } }
    }

    /// `n` bytes were taken.
    pub(super) fn taken(&self, n: usize) {
        // Relaxed: see `push`.
        self.bytes.fetch_sub(n, Ordering::Relaxed);
    }

    /// Whether the owner closed it.
    #[cfg(debug_assertions)]
    pub(super) fn is_closed(&self) -> bool {
        // Relaxed: a debug check by whoever frees the block, after the
        // refcount's AcqRel.
        self.head.load(Ordering::Relaxed) == CLOSED
    }
}

/// An owner-private list of buffers, linked as in the inbox.
pub(super) struct Chain {
    head: usize,
}

impl Chain {
    pub(super) const fn new() -> Self {
        Self { head: 0 }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.head == 0
    }

    /// Lists `mem` (its first [`LINK_BYTES`] become the link).
    ///
    /// # Safety
    /// The caller owns `mem`'s memory and `Inbox::fits(&mem)`.
    pub(super) unsafe fn push(&mut self, mem: Mem) {
        // SAFETY: forwarded.
        self.head = unsafe { node::write(mem, self.head) };
    }

    /// Unlists the top buffer; its first [`LINK_BYTES`] are zero again.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Mem> {
        if self.head == 0 {
            return None;
        }
        // SAFETY: a node of this chain: written by `push` (here or in the
        // inbox) and, for the inbox, taken with the Acquire swap.
        let (mem, next) = unsafe { node::read(self.head, true) };
        self.head = next;
        Some(mem)
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        debug_assert!(self.head == 0, "a chain dropped with buffers in it");
    }
}

#[cfg(not(loom))]
mod node {
    //! A node is the buffer itself: its first three words hold the link.
    use super::Mem;
    use std::ptr::NonNull;

    /// # Safety
    /// The caller owns `mem`'s memory, at least `LINK_BYTES` long.
    pub(super) unsafe fn write(mem: Mem, next: usize) -> usize {
        let p = mem.ptr.as_ptr().cast::<usize>();
        // SAFETY: `LINK_BYTES` inside the caller's memory; unaligned writes,
        // as the buffer's alignment may be 1.
        unsafe {
            p.write_unaligned(next);
            p.add(1).write_unaligned(mem.cap);
            p.add(2).cast::<u64>().write_unaligned(mem.tag);
        }
        p as usize
    }

    /// # Safety
    /// `node` came from `write`, and its writes happen before this call.
    pub(super) unsafe fn set_next(node: usize, next: usize) {
        // SAFETY: per the contract.
        unsafe { (node as *mut usize).write_unaligned(next) };
    }

    /// The node's buffer and next node; with `clear`, zeroes the link, so a
    /// scrubbed buffer is all zero again.
    ///
    /// # Safety
    /// As `set_next`; the node is not read again.
    pub(super) unsafe fn read(node: usize, clear: bool) -> (Mem, usize) {
        let p = node as *mut usize;
        // SAFETY: per the contract: the three words `write` stored.
        let (next, cap, tag) =
            unsafe { (p.read_unaligned(), p.add(1).read_unaligned(), p.add(2).cast::<u64>().read_unaligned()) };
        if clear {
            // SAFETY: as above; the caller owns the memory again.
            unsafe { p.cast::<u8>().write_bytes(0, super::LINK_BYTES) };
        }
        // SAFETY: `node` is a buffer's non-null address.
        (Mem { ptr: unsafe { NonNull::new_unchecked(p.cast()) }, cap, tag }, next)
    }
}

#[cfg(loom)]
mod node {
    //! A node is a box holding the link in a loom cell, so loom checks
    //! every access to it against the pushes and swaps that order them.
    use super::Mem;
    use loom::cell::UnsafeCell;

    struct Node(UnsafeCell<(Mem, usize)>);

    pub(super) unsafe fn write(mem: Mem, next: usize) -> usize {
        let node = Box::into_raw(Box::new(Node(UnsafeCell::new((mem, 0)))));
        // A tracked write (creating a cell is not one), as the std node's
        // stores into the buffer are.
        // SAFETY: our fresh node.
        unsafe { set_next(node as usize, next) };
        node as usize
    }

    pub(super) unsafe fn set_next(node: usize, next: usize) {
        // SAFETY: our unpublished node.
        unsafe { (*(node as *const Node)).0.with_mut(|p| (*p).1 = next) };
    }

    pub(super) unsafe fn read(node: usize, _clear: bool) -> (Mem, usize) {
        // SAFETY: a node from `write`, read once.
        let n = unsafe { Box::from_raw(node as *mut Node) };
        // SAFETY: the cell holds an initialised pair; `Mem` has no `Drop`,
        // so the copy left in the box is inert.
        n.0.with(|p| unsafe { std::ptr::read(p) })
    }
}
