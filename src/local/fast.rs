//! The call-free fast path, both halves: [`take`] (a get that hits this
//! thread's cache) and [`give_back`] (a drop on the thread that issued the
//! buffer, with room in its bin). Neither makes a call, takes a lock, or does
//! an atomic read-modify-write; anything else returns `None` / `false` for
//! the slow path (`slow.rs`).
//!
//! They read [`Hot`], defined here: the value of the `const`-initialised
//! thread-local `HOT` without `Drop`, which `local/mod.rs` declares and hands
//! in by reference. It holds a state byte, the last epoch seen, the clock
//! countdown, and for each of the first [`FAST_POOLS`] pools an entry with
//! everything on the way to a bin, one thread-local load away rather than
//! behind the block.
//!
//! Two details are there for measured reasons (`perf annotate` on the
//! `hot_path` bench, `benches/pool.rs`): the pop reads each word of a stored
//! entry with its own 8-byte load, as the push wrote them (see
//! `buffer.rs`, "Layout"), and both halves are `#[inline(always)]` so they
//! inline whole into `get` and `drop`.

use super::block::{fast_slot, Block, Slot};
use crate::alloc::{Mem, NOT_POOLED};
use crate::central::Central;
use crate::class::Fit;
use crate::sync::{global_epoch, Ordering};
use std::cell::Cell;
use std::ptr::NonNull;

/// Pool operations between two looks at the clock (for the idle clock).
pub(super) const CLOCK_EVERY: u32 = 256;
/// Pools whose blocks the fast path can find; a thread's further pools are
/// served through the slow path.
pub(super) const FAST_POOLS: usize = 4;

/// `Hot::state` values.
pub(super) const IDLE: u8 = 0;
pub(super) const BUSY: u8 = 1;
/// The thread is exiting: its blocks are (being) retired; every operation
/// takes the orphan path from now on.
pub(super) const EXITED: u8 = 2;

/// The fast path's view of this thread. No `Drop`, `const`-initialised.
pub(super) struct Hot {
    /// `IDLE`, `BUSY` (a slow path is running on this thread) or `EXITED`.
    pub(super) state: Cell<u8>,
    pub(super) seen_epoch: Cell<u64>,
    pub(super) countdown: Cell<u32>,
    /// The first `FAST_POOLS` of this thread's blocks, with what the fast
    /// paths need of each; unused ones have a null pool.
    fast: [FastEntry; FAST_POOLS],
}

/// One of this thread's blocks, and the pool it caches for.
#[derive(Clone, Copy)]
pub(super) struct BlockRef {
    pub(super) central: *const Central,
    pub(super) block: *mut Block,
}

/// A block as the fast paths see it.
struct FastEntry {
    central: Cell<*const Central>,
    block: Cell<*mut Block>,
    /// The block's slot array (bins and their counters): the only pointer
    /// into a block's bins outside the block, private to this file.
    bins: Cell<*mut Slot>,
    /// The last request size and its class (`NO_CLASS` if not pooled): asking
    /// for the same size again skips the class arithmetic. A true pair from
    /// the start (`0` is never pooled).
    last_len: Cell<usize>,
    last_class: Cell<usize>,
    zero_on_get: Cell<bool>,
    /// Returns to this block take the slow path (`Zeroing::OnReturn`).
    scrub: Cell<bool>,
}

const NO_CLASS: usize = usize::MAX;

impl FastEntry {
    const fn empty() -> Self {
        Self {
            central: Cell::new(std::ptr::null()),
            block: Cell::new(std::ptr::null_mut()),
            bins: Cell::new(std::ptr::null_mut()),
            last_len: Cell::new(0),
            last_class: Cell::new(NO_CLASS),
            zero_on_get: Cell::new(true),
            scrub: Cell::new(true),
        }
    }

    /// # Safety
    /// `e`, if any, holds this thread's live, unretired block, and the caller
    /// is inside a slow operation (or the thread is exiting).
    unsafe fn set(&self, e: Option<&BlockRef>) {
        let Some(e) = e else {
            self.central.set(std::ptr::null());
            self.block.set(std::ptr::null_mut());
            self.bins.set(std::ptr::null_mut());
            self.last_len.set(0);
            self.last_class.set(NO_CLASS);
            return;
        };
        // SAFETY: per the contract.
        let v = unsafe { (*e.block).fast_view() };
        self.central.set(e.central);
        self.block.set(e.block);
        self.bins.set(v.bins.as_ptr());
        self.last_len.set(0);
        self.last_class.set(NO_CLASS);
        self.zero_on_get.set(v.zero_on_get);
        self.scrub.set(v.scrub);
    }
}

impl Hot {
    pub(super) const fn new() -> Self {
        Self {
            state: Cell::new(IDLE),
            seen_epoch: Cell::new(0),
            countdown: Cell::new(CLOCK_EVERY),
            fast: [const { FastEntry::empty() }; FAST_POOLS],
        }
    }

    /// The fast path's admission check: idle, and no epoch change since this
    /// thread last looked (a trim, close or clock tick somewhere).
    #[inline(always)]
    fn may_run(&self) -> bool {
        // Relaxed: the epoch is only a hint that some pool changed state; the
        // state itself (`closed`, `trim_epoch`, `generation`) is read with
        // Acquire in `slow::housekeeping_full`, pairing with its Release stores.
        self.state.get() == IDLE && global_epoch().load(Ordering::Relaxed) == self.seen_epoch.get()
    }

    /// The fast entry for `central`, if there is one.
    #[inline(always)]
    fn find_pool(&self, central: *const Central) -> Option<&FastEntry> {
        self.fast.iter().find(|e| e.central.get() == central)
    }

    /// The fast entry whose block is `block`, if there is one: then `block`
    /// is this thread's own, unretired block.
    #[inline(always)]
    fn find_block(&self, block: *mut Block) -> Option<&FastEntry> {
        self.fast.iter().find(|e| e.block.get() == block)
    }

    /// Rebuilds the fast entries from `blocks`. Called after every change to
    /// them (a block created or retired), inside the slow path, so no fast
    /// path ever sees a retired block; every field is rewritten, so a new
    /// block at a freed one's address cannot inherit stale state.
    ///
    /// # Safety
    /// `blocks` holds this thread's live, unretired blocks, and the caller is
    /// inside a slow operation (or the thread is exiting).
    pub(super) unsafe fn refresh(&self, blocks: &[BlockRef]) {
        for (i, f) in self.fast.iter().enumerate() {
            // SAFETY: forwarded contract.
            unsafe { f.set(blocks.get(i)) };
        }
    }
}

/// The get half: a buffer from this thread's cache for `central`, with the
/// block that issued it (which counted a reference for it), or `None`
/// (nothing taken) for the slow path. Makes no call.
#[inline(always)]
pub(super) fn take(h: &Hot, central: &Central, len: usize) -> Option<(Mem, NonNull<Block>)> {
    let cd = h.countdown.get();
    if !h.may_run() || cd == 0 {
        return None;
    }
    h.countdown.set(cd - 1);
    let e = h.find_pool(central)?;
    let c = if len == e.last_len.get() {
        e.last_class.get()
    } else {
        if e.zero_on_get.get() {
            return None;
        }
        let c = match central.classes.fit(len) {
            Fit::Class(c) => c,
            Fit::Exact(_) => NO_CLASS,
        };
        e.last_len.set(len);
        e.last_class.set(c);
        c
    };
    if c == NO_CLASS {
        return None;
    }
    debug_assert!(c < central.classes.len());
    // SAFETY: `c` is a class of `central`, and the block has one slot per
    // class; the block is this thread's, live and unretired (it is in `h`),
    // and the state is IDLE, so no other reference to the bin is live.
    let (bin, count) = unsafe { fast_slot(e.bins.get(), c) };
    // SAFETY: a fast entry's block is non-null.
    let block = unsafe { NonNull::new_unchecked(e.block.get()) };
    // The bin is this thread's live, unretired block's, and the state is
    // IDLE, so no other access to its private state is live.
    let n = bin.stack.len().checked_sub(1)?;
    // SAFETY: `n < len`: the entry is initialised, and after `set_len` it is
    // ours (moved out).
    let mem = unsafe {
        let s = bin.stack.as_ptr().add(n);
        bin.stack.set_len(n);
        // One 8-byte load per word, as `give_back` stored them: LLVM would
        // otherwise fetch `cap` and `tag` with one 16-byte load, which the CPU
        // cannot store-forward from the two stores of the last return (a stall
        // of ~8 ns per get + drop on the `hot_path` bench).
        Mem {
            ptr: std::ptr::addr_of!((*s).ptr).read_volatile(),
            cap: std::ptr::addr_of!((*s).cap).read_volatile(),
            tag: std::ptr::addr_of!((*s).tag).read_volatile(),
        }
    };
    // SAFETY: live, per the above.
    let b = unsafe { block.as_ref() };
    b.sub_cached(mem.cap);
    Block::count_hit(count);
    Some((mem, block))
}

/// The drop half: a buffer comes back to the thread that issued it, whose
/// block is in `h`, and fits in its bin and lease. Makes no call; `false`
/// (nothing done) for the slow path. On `true` the buffer's reference to
/// `issuer` is consumed.
#[inline(always)]
pub(super) fn give_back(h: &Hot, issuer: NonNull<Block>, ptr: NonNull<u8>, cap: usize, tag: u64) -> bool {
    if !h.may_run() {
        return false;
    }
    let Some(e) = h.find_block(issuer.as_ptr()) else { return false };
    let class = tag as u32;
    if e.scrub.get() || class == NOT_POOLED {
        return false;
    }
    // `issuer` is in `h`, so it is this thread's live, unretired block; the
    // state is IDLE, so no other access to its private state is live.
    // SAFETY: live, per the above.
    let b = unsafe { issuer.as_ref() };
    // SAFETY: owner-only state, exclusive per the above.
    let p = unsafe { b.private() };
    // SAFETY: a pooled buffer's class is one of its pool's classes, and the
    // block has one slot per class; the array is not part of `Private`'s own
    // memory (it is behind a raw pointer), so `p` does not alias it; the
    // block is live and the state IDLE, per the above.
    let (bin, count) = unsafe { fast_slot(e.bins.get(), class as usize) };
    let n = bin.stack.len();
    if n >= bin.depth || b.cached() + cap > p.lease {
        return false;
    }
    bin.last_gen = p.seen_gen;
    b.add_cached(cap);
    debug_assert!(n < bin.stack.capacity());
    // SAFETY: `n < depth <= capacity`: a bin's depth is 0 until
    // `slow::accept_slow` reserves `tls_cache_size` entries, and never
    // exceeds that. The words are stored as `take` loads them.
    unsafe {
        bin.stack.as_mut_ptr().add(n).write(Mem { ptr, cap, tag });
        bin.stack.set_len(n + 1);
    }
    Block::count_fast_return(count);
    true
}
