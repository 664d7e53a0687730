//! The thread-local layer: how a `get` or a drop finds this thread's cache
//! block, the call-free fast path in front of it, and the slow paths behind.
//!
//! Two thread-locals split the work:
//!
//! * `HOT` (a `const`-initialised thread-local without `Drop`) holds what
//!   the fast path reads: the re-entrancy/exit state, the thread's id, the
//!   last epoch it saw, the countdown to the next look at the clock, and an
//!   entry for each of the first [`FAST_POOLS`] pools (`FastEntry`: the
//!   block, its slot array, the last size asked and its class, the zeroing
//!   flags). Such a thread-local is a plain `fs`-relative address: no
//!   lazy-init or destroyed-state check.
//! * `THREAD` (with `Drop`) owns the full list of this thread's blocks, and
//!   retires them when the thread exits. Only slow paths touch it.
//!
//! The fast path makes no call at all: it checks `HOT`, finds the block, and
//! pops or pushes the slot (see `cache::take` and `cache::give_back`). It
//! never sets the busy flag, because nothing it does can re-enter the pool;
//! it only refuses to run while a slow path on this thread has it set (the
//! allocator, called from a slow path, may itself use a pool). Anything else
//! (a miss, a full slot, a foreign or retired home, a new epoch, the clock
//! countdown, zeroing on get or return) goes to the slow path, which sets the
//! flag.

use crate::alloc::{Mem, NOT_POOLED};
use crate::buffer::PooledBuffer;
use crate::cache::{self, remote_release, retire, Block, Return, Slot};
use crate::class::Fit;
use crate::config::Zeroing;
use crate::error::AllocError;
use crate::pool::PoolInner;
use crate::stats::Counters;
use crate::sync::{global_epoch, thread_local, Arc, Ordering};
use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::time::Instant;

/// Pool operations between two looks at the clock (for the idle clock).
const CLOCK_EVERY: u32 = 256;
/// Pools whose blocks the fast path can find; a thread's further pools are
/// served through the slow path.
pub(crate) const FAST_POOLS: usize = 4;

/// `Hot::state` values.
const IDLE: u8 = 0;
const BUSY: u8 = 1;
/// The thread is exiting: its blocks are (being) retired; every operation
/// takes the orphan path from now on.
const EXITED: u8 = 2;

/// The fast path's view of this thread. No `Drop`, `const`-initialised.
pub(crate) struct Hot {
    /// `IDLE`, `BUSY` (a slow path is running on this thread) or `EXITED`.
    state: Cell<u8>,
    /// This thread's id, 0 until its first block is created; ids are never
    /// reused, and an orphan block's owner is 0, which never matches a block
    /// the slow path lets through (orphans are born retired).
    id: Cell<u64>,
    seen_epoch: Cell<u64>,
    countdown: Cell<u32>,
    /// The first `FAST_POOLS` entries of `ThreadCaches::entries`, with what
    /// the fast paths need of each block; unused ones have a null pool.
    fast: [FastEntry; FAST_POOLS],
}

/// One of this thread's blocks, and the pool it caches for.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pool: *const PoolInner,
    block: *mut Block,
}

/// A block as the fast paths see it: everything they need on the way to a
/// slot is here, one thread-local load away, rather than behind the block.
pub(crate) struct FastEntry {
    pool: Cell<*const PoolInner>,
    block: Cell<*mut Block>,
    /// The block's slot array.
    slots: Cell<*mut Slot>,
    /// The last request size and its class (`NO_CLASS` if not pooled, or if
    /// the pool zeroes on get): asking for the same size again skips the
    /// class arithmetic. A true pair from the start (`0` is never pooled).
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
            pool: Cell::new(std::ptr::null()),
            block: Cell::new(std::ptr::null_mut()),
            slots: Cell::new(std::ptr::null_mut()),
            last_len: Cell::new(0),
            last_class: Cell::new(NO_CLASS),
            zero_on_get: Cell::new(true),
            scrub: Cell::new(true),
        }
    }

    fn set(&self, e: Option<&Entry>) {
        let Some(e) = e else {
            self.pool.set(std::ptr::null());
            self.block.set(std::ptr::null_mut());
            self.slots.set(std::ptr::null_mut());
            self.last_len.set(0);
            self.last_class.set(NO_CLASS);
            return;
        };
        // SAFETY: entries hold this thread's live, unretired blocks, and the
        // caller is inside a cache operation (or the thread is exiting).
        let v = unsafe { (*e.block).fast_view() };
        self.pool.set(e.pool);
        self.block.set(e.block);
        self.slots.set(v.slots.as_ptr());
        self.last_len.set(0);
        self.last_class.set(NO_CLASS);
        self.zero_on_get.set(v.zero_on_get);
        self.scrub.set(v.scrub);
    }
}

impl Hot {
    const fn new() -> Self {
        Self {
            state: Cell::new(IDLE),
            id: Cell::new(0),
            seen_epoch: Cell::new(0),
            countdown: Cell::new(CLOCK_EVERY),
            fast: [const { FastEntry::empty() }; FAST_POOLS],
        }
    }

    fn id(&self) -> u64 {
        let id = self.id.get();
        if id != 0 {
            return id;
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        // Relaxed: ids only need to be unique; nothing is published with them.
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.id.set(id);
        id
    }

    /// The fast path's admission check: idle, and no epoch change since this
    /// thread last looked (a trim, close or clock tick somewhere).
    #[inline(always)]
    fn may_run(&self) -> bool {
        // Relaxed: the epoch is only a hint that some pool changed state; the
        // state itself (`closed`, `trim_epoch`, `generation`) is read with
        // Acquire in `housekeeping_slow`, pairing with its Release stores.
        self.state.get() == IDLE && global_epoch().load(Ordering::Relaxed) == self.seen_epoch.get()
    }

    /// The fast entry for `pool`, if there is one.
    #[inline(always)]
    fn find_pool(&self, pool: *const PoolInner) -> Option<&FastEntry> {
        self.fast.iter().find(|e| e.pool.get() == pool)
    }

    /// The fast entry whose block is `block`, if there is one: then `block`
    /// is this thread's own, unretired block.
    #[inline(always)]
    fn find_block(&self, block: *mut Block) -> Option<&FastEntry> {
        self.fast.iter().find(|e| e.block.get() == block)
    }

    /// Rebuilds the fast entries from `entries`. Called after every change to
    /// them (a block created or retired), inside the slow path, so no fast
    /// path ever sees a retired block; every field is rewritten, so a new
    /// block at a freed one's address cannot inherit stale state.
    fn sync_fast(&self, entries: &[Entry]) {
        for (i, f) in self.fast.iter().enumerate() {
            f.set(entries.get(i));
        }
    }
}

/// The slow path's view: every block of this thread. Retires them at exit.
pub(crate) struct ThreadCaches {
    /// Only touched while `HOT.state` is `BUSY` (or at exit).
    entries: UnsafeCell<Vec<Entry>>,
}

#[cfg(not(loom))]
thread_local! {
    static HOT: Hot = const { Hot::new() };
    static THREAD: ThreadCaches = const { ThreadCaches { entries: UnsafeCell::new(Vec::new()) } };
}
#[cfg(loom)]
thread_local! {
    static HOT: Hot = Hot::new();
    static THREAD: ThreadCaches = ThreadCaches { entries: UnsafeCell::new(Vec::new()) };
}

impl Drop for ThreadCaches {
    fn drop(&mut self) {
        // Thread exit: from now on every operation on this thread takes the
        // orphan path; then hand every cached buffer back to its pool's shards
        // (or free it if they are full) and merge each block's count.
        let _ = HOT.try_with(|h| {
            h.state.set(EXITED);
            h.sync_fast(&[]);
        });
        for e in std::mem::take(self.entries.get_mut()) {
            // SAFETY: this thread's live, unretired block, now unreachable
            // from `HOT` and `entries`.
            unsafe { retire(NonNull::new_unchecked(e.block)) };
        }
    }
}

/// Runs `f` with exclusive access to this thread's entries, or returns `None`
/// if this thread is already inside a cache operation or exiting.
///
/// If `f` unwinds, the busy state is reset on the way out (by `Busy`'s
/// drop), so a panic in a slow path never leaves the thread's caches
/// disabled; the entries stay valid, because every slow path keeps them
/// consistent between its steps.
#[inline]
fn enter<R>(f: impl FnOnce(&Hot, &mut Vec<Entry>) -> R) -> Option<R> {
    HOT.try_with(|h| {
        if h.state.get() != IDLE {
            return None;
        }
        let _busy = Busy::set(h);
        // SAFETY: the state was IDLE and is now BUSY, so no other borrow of
        // `entries` exists on this thread, and no other thread ever reads it.
        // `THREAD` cannot be destroyed while `f` runs (destructors run at
        // thread exit, not inside a call); if it already was, its `Drop` set
        // `EXITED` before this call could see `IDLE`.
        THREAD.try_with(|tc| f(h, unsafe { &mut *tc.entries.get() })).ok()
    })
    .ok()
    .flatten()
}

/// The busy state of one `enter`: set on creation, back to `IDLE` on drop,
/// including a drop during unwinding.
struct Busy<'a>(&'a Hot);

impl<'a> Busy<'a> {
    fn set(h: &'a Hot) -> Self {
        h.state.set(BUSY);
        Busy(h)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.state.set(IDLE);
    }
}

/// The full check every slow operation makes: closed pools, trims and clock
/// ticks, for every block of this thread. `clock` also looks at the time.
#[cold]
#[inline(never)]
fn housekeeping_slow(h: &Hot, entries: &mut Vec<Entry>, epoch: u64, clock: bool) {
    h.seen_epoch.set(epoch);
    h.countdown.set(CLOCK_EVERY);
    let now = if clock { Some(Instant::now()) } else { None };
    let mut i = 0;
    let mut removed = false;
    while i < entries.len() {
        // SAFETY: blocks in `entries` are live (retirement removes them).
        let b = unsafe { &*entries[i].block };
        if let Some(now) = now {
            b.pool.maybe_tick(now);
        }
        if b.pool.is_closed() {
            let e = entries.swap_remove(i);
            removed = true;
            // SAFETY: this thread's unretired block, just removed from
            // `entries` (and from `HOT` below, before any fast path runs).
            unsafe { retire(NonNull::new_unchecked(e.block)) };
            continue;
        }
        cache::housekeep(b);
        i += 1;
    }
    if removed {
        h.sync_fast(entries);
    }
}

/// The slow path's per-operation check: the epoch, and (for gets) the clock
/// countdown.
#[inline]
fn housekeeping(h: &Hot, entries: &mut Vec<Entry>, is_get: bool) {
    // Relaxed: see `Hot::may_run`.
    let e = global_epoch().load(Ordering::Relaxed);
    let cd = h.countdown.get();
    let clock = is_get && cd == 0;
    if e != h.seen_epoch.get() || clock {
        housekeeping_slow(h, entries, e, clock);
    } else if is_get {
        h.countdown.set(cd - 1);
    }
}

/// This thread's block for `pool`, created on first use.
fn block_for(h: &Hot, entries: &mut Vec<Entry>, pool: &Arc<PoolInner>) -> NonNull<Block> {
    let key = Arc::as_ptr(pool);
    for e in entries.iter() {
        if e.pool == key {
            // SAFETY: entries hold non-null leaked blocks.
            return unsafe { NonNull::new_unchecked(e.block) };
        }
    }
    new_block(h, entries, pool)
}

#[cold]
#[inline(never)]
fn new_block(h: &Hot, entries: &mut Vec<Entry>, pool: &Arc<PoolInner>) -> NonNull<Block> {
    let block = Block::create(pool, h.id());
    pool.register(block);
    entries.push(Entry { pool: Arc::as_ptr(pool), block: block.as_ptr() });
    h.sync_fast(entries);
    if pool.is_closed() {
        // Make the next operation retire it.
        h.seen_epoch.set(0);
    }
    block
}

/// Serves a request: this thread's cache first, then the shards, then fresh.
#[inline(always)]
pub(crate) fn acquire(pool: &Arc<PoolInner>, len: usize, zero: bool) -> Result<PooledBuffer, AllocError> {
    if !zero {
        if let Some(b) = take_fast(pool, len) {
            return Ok(b);
        }
    }
    acquire_slow(pool, len, zero)
}

/// The get fast path: a buffer from this thread's cache, built in place, or
/// `None` (nothing taken) for the slow path to handle. Makes no call.
#[inline(always)]
pub(crate) fn take_fast(pool: &Arc<PoolInner>, len: usize) -> Option<PooledBuffer> {
    let h = hot()?;
    // SAFETY: `HOT` lives as long as this thread; the reference does not
    // outlive this call.
    let h = unsafe { h.as_ref() };
    let cd = h.countdown.get();
    if !h.may_run() || cd == 0 {
        return None;
    }
    h.countdown.set(cd - 1);
    let e = h.find_pool(Arc::as_ptr(pool))?;
    let c = if len == e.last_len.get() {
        e.last_class.get()
    } else {
        if e.zero_on_get.get() {
            return None;
        }
        let c = match pool.classes.fit(len) {
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
    debug_assert!(c < pool.classes.len());
    // SAFETY: `c` is a class of `pool`, and the block has one slot per class.
    let slot = unsafe { NonNull::new_unchecked(e.slots.get().add(c)) };
    // SAFETY: a fast entry's block is non-null.
    let block = unsafe { NonNull::new_unchecked(e.block.get()) };
    // SAFETY: a block in `HOT` is this thread's live, unretired block, and the
    // state is IDLE, so no other access to its private state is live.
    let mem = unsafe { cache::take(block, slot) }?;
    // SAFETY: `mem` is ours and fully initialised (recycled; pools that zero
    // on get never get here), and `block` counted a reference for this buffer.
    Some(unsafe { PooledBuffer::from_parts(mem, len, Some(block)) })
}

/// This thread's `HOT`. A pointer rather than a closure (`with`), so that the
/// fast paths inline whole into their callers.
#[inline(always)]
fn hot() -> Option<NonNull<Hot>> {
    HOT.try_with(|h| NonNull::from(h)).ok()
}

/// Everything but the fast path (which it retries under the busy flag).
#[inline(never)]
pub(crate) fn acquire_slow(pool: &Arc<PoolInner>, len: usize, zero: bool) -> Result<PooledBuffer, AllocError> {
    let got = enter(|h, entries| {
        housekeeping(h, entries, true);
        let block = block_for(h, entries, pool);
        // SAFETY: this thread's live block, and we are inside `enter`.
        unsafe { cache::acquire_from(block, len) }.map(|(m, r)| (m, block, r))
    });
    let (mem, home, recycled) = match got {
        Some(r) => r?,
        None => acquire_orphan(pool, pool.classes.fit(len))?,
    };
    if recycled && (zero || pool.config.zeroing() == Zeroing::OnGet) {
        // SAFETY: `mem` is a live block of `mem.cap >= len` bytes we own.
        unsafe { mem.ptr.as_ptr().write_bytes(0, len) };
    }
    debug_assert!(mem.cap >= len);
    // SAFETY: `mem` is ours, fully initialised (fresh blocks are zeroed and
    // recycled ones were initialised before), and `home` holds a reference
    // counted for this buffer.
    Ok(unsafe { PooledBuffer::from_parts(mem, len, Some(home)) })
}

/// A get on a thread with no usable cache (inside a TLS destructor, or
/// re-entered): served from the shards or fresh, homed to an orphan block that
/// the buffer's drop frees.
#[cold]
#[inline(never)]
fn acquire_orphan(pool: &Arc<PoolInner>, fit: Fit) -> Result<(Mem, NonNull<Block>, bool), AllocError> {
    let mut t = crate::stats::Totals::default();
    let (mem, recycled) = match fit {
        Fit::Class(c) => match pool.take(c) {
            Some((mem, stolen)) => {
                pool.budget.release(mem.cap);
                if stolen {
                    t.steals = 1;
                } else {
                    t.shard_hits = 1;
                }
                (mem, true)
            }
            None => {
                t.fresh_allocations = 1;
                (pool.alloc_pooled(c)?, false)
            }
        },
        Fit::Exact(cap) => {
            t.unpooled = 1;
            (pool.alloc_exact(cap)?, false)
        }
    };
    t.held_bytes = mem.cap as u64;
    pool.shared.add_shared(&t);
    Ok((mem, Block::create_orphan(pool), recycled))
}

/// A buffer issued by `home` comes back (dropped or detached).
///
/// # Safety
/// `home` must be the block that issued the buffer owning `mem`, and the
/// buffer's reference to it is consumed. With `Return::Detach` the caller keeps
/// `mem`, which must already be unpinned.
#[inline(always)]
pub(crate) unsafe fn release(home: NonNull<Block>, mem: Mem, how: Return) {
    // The memory travels as its three words (all `Copy`) rather than as a
    // `Mem` whose address escapes: that kept it in a stack slot, written word
    // by word and copied with 16-byte loads the CPU cannot store-forward.
    let Mem { ptr, cap, tag } = mem;
    if how != Return::Detach && give_back_fast(home, ptr, cap, tag) {
        return;
    }
    // SAFETY: forwarded contract.
    unsafe { release_cold(home, ptr, cap, tag, how) }
}

/// The return fast path: `home` is this thread's own block, known to `HOT`.
/// Makes no call; `false` (nothing done) for the slow path.
#[inline(always)]
fn give_back_fast(home: NonNull<Block>, ptr: NonNull<u8>, cap: usize, tag: u64) -> bool {
    let Some(h) = hot() else { return false };
    // SAFETY: `HOT` lives as long as this thread; the reference does not
    // outlive this call.
    let h = unsafe { h.as_ref() };
    if !h.may_run() {
        return false;
    }
    let Some(e) = h.find_block(home.as_ptr()) else { return false };
    let class = tag as u32;
    if e.scrub.get() || class == NOT_POOLED {
        return false;
    }
    // SAFETY: a pooled buffer's class is one of its pool's classes, and the
    // block has one slot per class.
    let slot = unsafe { NonNull::new_unchecked(e.slots.get().add(class as usize)) };
    // SAFETY: `home` is in `HOT`, so it is this thread's live, unretired
    // block; the buffer it issued hands its reference over on success; the
    // state is IDLE.
    unsafe { cache::give_back(home, slot, ptr, cap, tag) }
}

/// # Safety
/// As [`release`].
#[inline(never)]
unsafe fn release_cold(home: NonNull<Block>, ptr: NonNull<u8>, cap: usize, tag: u64, how: Return) {
    let done = enter(move |h, entries| {
        // SAFETY: forwarded contract.
        unsafe { release_in(h, entries, home, ptr, cap, tag, how) }
    });
    if done.is_none() {
        // The closure did not run: the memory is still ours to return.
        // SAFETY: forwarded contract.
        unsafe { release_orphan(home, Mem { ptr, cap, tag }, how) };
    }
}

/// # Safety
/// As [`release`], inside `enter`.
unsafe fn release_in(
    h: &Hot,
    entries: &mut Vec<Entry>,
    home: NonNull<Block>,
    ptr: NonNull<u8>,
    cap: usize,
    tag: u64,
    how: Return,
) {
    housekeeping(h, entries, false);
    // SAFETY: this thread is inside `enter`; forwarded contract.
    if unsafe { cache::return_owned(home, h.id.get(), ptr, cap, tag, how) } {
        return;
    }
    // Foreign (or retired) home: file the buffer in this thread's own block,
    // then drop the reference to the home block.
    // SAFETY: the buffer's reference keeps `home` live.
    let pool = unsafe { &home.as_ref().pool };
    if pool.is_closed() {
        let t = crate::stats::Totals { returns: 1, held_bytes: (cap as u64).wrapping_neg(), ..Default::default() };
        pool.shared.add_shared(&t);
        if how != Return::Detach {
            pool.free(Mem { ptr, cap, tag });
        }
    } else {
        let mine = block_for(h, entries, pool);
        // SAFETY: this thread's live block (just found or created), inside `enter`.
        unsafe { cache::file_in(mine, ptr, cap, tag, how) };
    }
    // SAFETY: consumes the buffer's reference; `pool` is dead now.
    unsafe { remote_release(home) };
}

/// A return that cannot use this thread's cache (TLS gone or re-entered).
///
/// # Safety
/// As [`release`].
#[cold]
#[inline(never)]
unsafe fn release_orphan(home: NonNull<Block>, mem: Mem, how: Return) {
    // SAFETY: the buffer's reference keeps `home` live.
    let pool = unsafe { &home.as_ref().pool };
    let t = crate::stats::Totals { returns: 1, held_bytes: (mem.cap as u64).wrapping_neg(), ..Default::default() };
    pool.shared.add_shared(&t);
    if how != Return::Detach {
        match (mem.class() != NOT_POOLED).then_some(mem.class() as usize) {
            Some(c) => {
                if how == Return::Recycle && pool.config.zeroing() == Zeroing::OnReturn {
                    // SAFETY: we own all `cap` bytes of `mem`.
                    unsafe { mem.ptr.as_ptr().write_bytes(0, mem.cap) };
                }
                if let Err(mem) = pool.put(c, mem, false) {
                    pool.shared.add_shared(&crate::stats::Totals { discards: 1, ..Default::default() });
                    pool.free(mem);
                }
            }
            None => pool.free(mem),
        }
    }
    // A foreign-style decrement is valid for any block, merged or not.
    // SAFETY: consumes the buffer's reference; `pool` is dead after this.
    unsafe { remote_release(home) };
}

/// Runs this thread's housekeeping now (after `trim` or `close` on this thread).
pub(crate) fn housekeeping_now() {
    enter(|h, entries| {
        // Relaxed: see `Hot::may_run`.
        let e = global_epoch().load(Ordering::Relaxed);
        housekeeping_slow(h, entries, e, false);
    });
}

/// Counts a right-sizing copy (async layer) on this thread's block.
pub(crate) fn count_right_sized(pool: &Arc<PoolInner>) {
    let done = enter(|h, entries| {
        let block = block_for(h, entries, pool);
        // SAFETY: this thread's live block.
        Counters::bump(unsafe { &block.as_ref().counters.right_sized }, 1);
    });
    if done.is_none() {
        pool.shared.add_shared(&crate::stats::Totals { right_sized: 1, ..Default::default() });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_enter_leaves_the_thread_usable() {
        let r = std::panic::catch_unwind(|| enter(|_, _| panic!("a slow path panics")));
        assert!(r.is_err());
        assert_eq!(enter(|_, _| 7), Some(7), "the busy state outlived the panic");
    }
}
