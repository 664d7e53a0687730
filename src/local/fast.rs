//! The call-free fast path, both halves: [`take`] (a get that hits this
//! thread's cache) and [`give_back`] (a drop on the thread that issued the
//! buffer, with room in its bin). Neither makes a call, takes a lock, or does
//! an atomic read-modify-write; anything else returns `None` / `false` for
//! the slow path (`slow.rs`).
//!
//! They read [`Hot`], defined here: the value of the `const`-initialised
//! thread-local `HOT` without `Drop`, which `local/mod.rs` declares and hands
//! in by reference. It holds a state byte, the last epoch seen, the gate
//! (that epoch while the state is idle, else a value the epoch never takes,
//! so one comparison admits the fast path), the clock countdown, and for each
//! of the first [`FAST_POOLS`] pools an entry with everything on the way to a
//! bin, one thread-local load away rather than behind the block.
//!
//! Two details are there for measured reasons (`perf annotate` on the
//! `hot_path` bench, `benches/pool.rs`): the pop reads each word of a stored
//! entry with its own 8-byte load, as the push wrote them (see
//! `buffer.rs`, "Layout"), and both halves are `#[inline(always)]` so they
//! inline whole into `get` and `drop`.

use super::block::{slot_parts, Block, Slot};
use crate::alloc::{is_pooled_class, Mem};
use crate::central::Central;
use crate::class::Fit;
use crate::sync::{global_epoch, Ordering};
use std::cell::Cell;
use std::ptr::NonNull;

/// Pool operations between two looks at the clock (for the idle clock).
pub(super) const CLOCK_EVERY: i32 = 256;
/// Pools whose blocks the fast path can find; a thread's further pools are
/// served through the slow path.
pub(super) const FAST_POOLS: usize = 4;

/// `Hot::state` values.
pub(super) const IDLE: u8 = 0;
pub(super) const BUSY: u8 = 1;
/// The thread is exiting: its blocks are (being) retired; every operation
/// takes the orphan path from now on.
pub(super) const EXITED: u8 = 2;

/// `Hot::gate` while the fast path may not run: the global epoch starts at 1
/// and only grows, so it is never this.
pub(super) const GATE_SHUT: u64 = 0;

/// The fast path's view of this thread. No `Drop`, `const`-initialised.
pub(super) struct Hot {
    /// `IDLE`, `BUSY` (a slow path is running on this thread) or `EXITED`.
    /// Only the slow paths read it; they keep `gate` in step (`set_state`).
    state: Cell<u8>,
    pub(super) seen_epoch: Cell<u64>,
    /// `seen_epoch` while the state is `IDLE`, else [`GATE_SHUT`]: the fast
    /// paths' whole admission check is `gate == global epoch`. Read when the
    /// state changes back to `IDLE` (`set_state`), so a slow path that moves
    /// `seen_epoch` needs nothing more.
    gate: Cell<u64>,
    /// Gets until the next look at the clock; a fast get that takes it to 0
    /// or below hands over to the slow path, which looks and resets it.
    pub(super) countdown: Cell<i32>,
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

/// A block as the fast paths see it. A pool whose gets or returns must take
/// the slow path (it zeroes on get, scrubs on return, or tracks) has a null
/// `get_central` or `drop_block`, so the lookup itself sends them there.
struct FastEntry {
    /// The pool, for a get's lookup; null if its gets take the slow path.
    get_central: Cell<*const Central>,
    /// The pool, always (for `foreign::list_foreign`'s lookup).
    central: Cell<*const Central>,
    block: Cell<*mut Block>,
    /// `block`, for a drop's lookup; null if its returns take the slow path.
    drop_block: Cell<*mut Block>,
    /// The block's slot array (bins and their counters): the only pointer
    /// into a block's bins outside the block, private to this file.
    bins: Cell<*mut Slot>,
    /// The last pooled request size and its class's slot: asking for the
    /// same size again skips the class arithmetic. Always a true pair: `set`
    /// starts it at the smallest pooled request, and a size outside every
    /// class is never recorded.
    last_len: Cell<usize>,
    last_slot: Cell<*mut Slot>,
}

impl FastEntry {
    const fn empty() -> Self {
        Self {
            get_central: Cell::new(std::ptr::null()),
            central: Cell::new(std::ptr::null()),
            block: Cell::new(std::ptr::null_mut()),
            drop_block: Cell::new(std::ptr::null_mut()),
            bins: Cell::new(std::ptr::null_mut()),
            last_len: Cell::new(0),
            last_slot: Cell::new(std::ptr::null_mut()),
        }
    }

    /// # Safety
    /// `e`, if any, holds this thread's live, unretired block, and the caller
    /// is inside a slow operation (or the thread is exiting).
    unsafe fn set(&self, e: Option<&BlockRef>) {
        let Some(e) = e else {
            self.get_central.set(std::ptr::null());
            self.central.set(std::ptr::null());
            self.block.set(std::ptr::null_mut());
            self.drop_block.set(std::ptr::null_mut());
            self.bins.set(std::ptr::null_mut());
            self.last_len.set(0);
            self.last_slot.set(std::ptr::null_mut());
            return;
        };
        // SAFETY: per the contract.
        let v = unsafe { (*e.block).fast_view() };
        // SAFETY: the block is live (the contract), so its pool is.
        let classes = unsafe { &(*e.central).classes };
        let bins = v.bins.as_ptr();
        // A true starting pair: the smallest pooled request and the slot of
        // the class that fits it.
        let first = (classes.len() > 0).then(|| classes.min_pooled()).and_then(|n| match classes.fit(n) {
            // SAFETY: `c` is a class of the pool; the block has one slot per
            // class.
            Fit::Class(c) => Some((n, unsafe { bins.add(c) })),
            Fit::Exact(_) => None,
        });
        let gets_fast = !v.zero_on_get && first.is_some();
        let (len, slot) = first.unwrap_or((0, bins));
        self.get_central.set(if gets_fast { e.central } else { std::ptr::null() });
        self.central.set(e.central);
        self.block.set(e.block);
        self.drop_block.set(if v.scrub { std::ptr::null_mut() } else { e.block });
        self.bins.set(bins);
        self.last_len.set(len);
        self.last_slot.set(slot);
    }
}

impl Hot {
    pub(super) const fn new() -> Self {
        Self {
            state: Cell::new(IDLE),
            seen_epoch: Cell::new(0),
            gate: Cell::new(GATE_SHUT),
            countdown: Cell::new(CLOCK_EVERY),
            fast: [const { FastEntry::empty() }; FAST_POOLS],
        }
    }

    pub(super) fn state(&self) -> u8 {
        self.state.get()
    }

    /// Sets the state, and the gate with it: open (`seen_epoch`) only when
    /// `IDLE`.
    pub(super) fn set_state(&self, s: u8) {
        self.state.set(s);
        self.gate.set(if s == IDLE { self.seen_epoch.get() } else { GATE_SHUT });
    }

    /// The fast path's admission check: idle, and no epoch change since this
    /// thread last looked (a trim, close or clock tick somewhere). One
    /// comparison, because the gate is shut whenever the state is not idle.
    #[inline(always)]
    fn may_run(&self) -> bool {
        // Relaxed: the epoch is only a hint that some pool changed state; the
        // state itself (`closed`, `trim_epoch`, `generation`) is read with
        // Acquire in `slow::housekeeping_full`, pairing with its Release stores.
        global_epoch().load(Ordering::Relaxed) == self.gate.get()
    }

    /// The fast entry for `central`'s gets, if there is one.
    #[inline(always)]
    fn find_pool(&self, central: *const Central) -> Option<&FastEntry> {
        self.fast.iter().find(|e| e.get_central.get() == central)
    }

    /// This thread's block for `central`, if the gate is open (no slow
    /// operation runs on this thread, no housekeeping is due) and the pool
    /// takes fast returns (it neither scrubs nor tracks): the block a
    /// foreign drop counts its return on (`foreign::list_foreign`).
    #[inline]
    pub(super) fn return_block_of(&self, central: *const Central) -> Option<NonNull<Block>> {
        if !self.may_run() {
            return None;
        }
        let e = self.fast.iter().find(|e| e.central.get() == central)?;
        NonNull::new(e.drop_block.get())
    }

    /// The fast entry for returns to `block`, if there is one: then `block`
    /// is this thread's own, unretired block, and its pool does not scrub
    /// returns.
    #[inline(always)]
    fn find_block(&self, block: *mut Block) -> Option<&FastEntry> {
        self.fast.iter().find(|e| e.drop_block.get() == block)
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
    if !h.may_run() {
        return None;
    }
    let cd = h.countdown.get() - 1;
    h.countdown.set(cd);
    if cd <= 0 {
        return None;
    }
    let e = h.find_pool(central)?;
    let slot = if len == e.last_len.get() {
        e.last_slot.get()
    } else {
        let Fit::Class(c) = central.classes.fit(len) else { return None };
        debug_assert!(c < central.classes.len());
        // SAFETY: `c` is a class of `central`, and the block has one slot
        // per class.
        let slot = unsafe { e.bins.get().add(c) };
        e.last_len.set(len);
        e.last_slot.set(slot);
        slot
    };
    // SAFETY: `slot` is one of the block's slots (a true pair with
    // `last_len`); the block is this thread's, live and unretired (it is in
    // `h`), and the gate is open, so the state is IDLE and no other
    // reference to the bin is live.
    let (bin, count) = unsafe { slot_parts(slot) };
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
    if !is_pooled_class(class) {
        return false;
    }
    let class = class as usize;
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
    let (bin, count) = unsafe { slot_parts(e.bins.get().add(class)) };
    let n = bin.stack.len();
    if n >= bin.depth || !b.add_cached_within(cap, p.lease) {
        return false;
    }
    // (The bin's use in this generation shows in `count_fast_return`'s
    // counter, which the idle clock's `decay` reads: no `last_gen` store.)
    debug_assert!(n < bin.stack.capacity());
    // SAFETY: `n < depth <= capacity`: a bin's depth is 0 until first
    // used, and only `slow::set_depth` raises it, reserving the capacity
    // first (lowering it keeps the capacity). The words are stored as `take`
    // loads them.
    unsafe {
        bin.stack.as_mut_ptr().add(n).write(Mem { ptr, cap, tag });
        bin.stack.set_len(n + 1);
    }
    Block::count_fast_return(count);
    true
}
