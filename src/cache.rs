//! Per-thread, per-pool caches, and the lifetime protocol that lets a buffer
//! find its way home from any thread without an atomic read-modify-write on the
//! hot path.
//!
//! Each thread keeps one [`Block`] per pool it touches. A buffer records the
//! block that issued it (its *home*). The home keeps the pool alive, and the
//! home itself is kept alive by **biased reference counting**: the owning thread
//! counts its outstanding buffers in a plain field (`Local::out`), other threads
//! decrement a shared atomic (`Block::remote`) when they drop one. When the
//! owner retires the block (thread exit, or its pool closed) it merges its count
//! into `remote` together with the `MERGED` flag; whoever brings the merged
//! count to zero frees the block. See `docs/DESIGN.md` for the picture.

use crate::alloc::{Mem, NOT_POOLED};
use crate::buffer::PooledBuffer;
use crate::builder::Zeroing;
use crate::class::Fit;
use crate::error::AllocError;
use crate::pool::PoolInner;
use crate::stats::Counters;
use crate::sync::{global_epoch, thread_local, Arc, AtomicUsize, Ordering, OwnerCell};
use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::time::Instant;

/// Flag added to `Block::remote` when the owner merges its count.
const MERGED: usize = 1 << (usize::BITS - 2);
/// Pool operations between two looks at the clock (for the idle clock).
const CLOCK_EVERY: u32 = 256;

/// One thread's cache for one pool. Shared with other threads only through
/// `pool` (read-only), `owner` (immutable), `remote` and `counters`.
pub(crate) struct Block {
    pub(crate) pool: Arc<PoolInner>,
    /// Id of the owning thread (`ThreadCaches::id`); ids are never reused, and
    /// 0 (no thread) marks an orphan block.
    owner: u64,
    /// Biased refcount, shared half: foreign drops subtract 1; the owner's
    /// merge adds `out + MERGED`. Wrapping arithmetic throughout.
    remote: AtomicUsize,
    /// Statistics, written by the owner only.
    pub(crate) counters: Counters,
    /// Owner-only state. Invariant: only the thread whose id is `owner`
    /// touches it, and only while its `ThreadCaches::busy` flag is set.
    local: OwnerCell<Local>,
}

// SAFETY: `local` is only accessed by the owner thread (see its invariant);
// every other field is immutable after construction or atomic.
unsafe impl Send for Block {}
// SAFETY: as for `Send`.
unsafe impl Sync for Block {}

struct Local {
    /// Biased refcount, owner half: buffers issued by this block minus those
    /// the owner took back through the fast path.
    out: isize,
    /// Budget bytes reserved by this cache; `cached() <= lease <= tls_cache_bytes`.
    lease: usize,
    /// The last request size and its fit: a thread asking for the same size
    /// again skips the class arithmetic.
    last_len: usize,
    last_fit: Fit,
    /// Set once the block is merged; the owner then treats it as foreign.
    retired: bool,
    seen_trim: u64,
    seen_gen: u64,
    slots: Box<[Slot]>,
}

struct Slot {
    /// LIFO stack of idle buffers; the top is the most recently returned.
    stack: Vec<Mem>,
    /// Current depth limit: 0 until first used, then adapting between
    /// `min(2, tls_cache_size)` and `tls_cache_size`.
    depth: usize,
    /// Pool generation at the last use of this slot.
    last_gen: u64,
    /// A get found this slot empty since the last spill or decay.
    missed: bool,
}

impl Block {
    fn new(pool: &Arc<PoolInner>, owner: u64, remote: usize) -> Self {
        let gen = pool.generation();
        // Depth 0 until a slot's first push reserves its stack (in `file_slow`),
        // so the fast-path push never allocates.
        let depth = 0;
        let slots = if owner == 0 {
            Box::default()
        } else {
            (0..pool.classes.len()).map(|_| Slot { stack: Vec::new(), depth, last_gen: gen, missed: false }).collect()
        };
        Block {
            pool: pool.clone(),
            owner,
            remote: AtomicUsize::new(remote),
            counters: Counters::default(),
            local: OwnerCell::new(Local {
                out: 0,
                lease: 0,
                // A true pair (a sentinel could alias a real request).
                last_len: 0,
                last_fit: pool.classes.fit(0),
                retired: owner == 0,
                seen_trim: pool.trim_epoch(),
                seen_gen: gen,
                slots,
            }),
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // Whoever frees the block must happen-after the owner's last access to
        // its private state; this access lets loom check exactly that.
        // SAFETY: `&mut self`: nobody else can reach the block.
        let local = unsafe { self.local.get_mut() };
        debug_assert!(local.retired && self.cached() == 0);
    }
}

/// Byte accounting. Two single-writer gauges per block: `cached_bytes` (what
/// sits in the slots) and `held_bytes` = bytes handed out − bytes returned +
/// bytes cached. A cache hit moves bytes from cached to handed out, and a
/// return into the cache moves them back, so on the hot path only
/// `cached_bytes` changes; `held_bytes` moves only when bytes enter or leave
/// the thread (fresh, shard, spill, free). `Stats::outstanding_bytes` is
/// Σ held − Σ cached.
impl Block {
    #[inline(always)]
    fn cached(&self) -> usize {
        // Relaxed: written only by this (the owner) thread.
        self.counters.cached_bytes.load(Ordering::Relaxed) as usize
    }
    #[inline(always)]
    fn add_cached(&self, n: usize) {
        Counters::add_owned(&self.counters.cached_bytes, n as u64);
    }
    #[inline(always)]
    fn sub_cached(&self, n: usize) {
        Counters::sub_owned(&self.counters.cached_bytes, n as u64);
    }
    /// Bytes came into this thread's hands (a get not served by the cache).
    #[inline(always)]
    fn held_in(&self, n: usize) {
        Counters::bump(&self.counters.held_bytes, n as u64);
    }
    /// Bytes left this thread's hands (to a shard, freed, detached).
    #[inline(always)]
    fn held_out(&self, n: usize) {
        Counters::drop_by(&self.counters.held_bytes, n as u64);
    }
}

/// Drops one reference to `home` from a thread that is not (or no longer) its
/// fast-path owner, freeing the block if that was the last.
///
/// # Safety
/// `home` must be a live block and the caller must own one of its references
/// (a buffer it issued), which this call consumes.
unsafe fn remote_release(home: NonNull<Block>) {
    // SAFETY: the caller owns a reference, so the block is live.
    let b = unsafe { home.as_ref() };
    // AcqRel, as `Arc::drop`: Release orders everything this thread did with
    // the buffer and the block before the decrement; Acquire (needed only by
    // the thread that frees) makes every other thread's decrement, and the
    // owner's merge (Release in `retire`), visible before the block is freed.
    let prev = b.remote.fetch_sub(1, Ordering::AcqRel);
    if prev == MERGED + 1 {
        // SAFETY: the count is merged and this was the last reference: no
        // thread can reach the block any more. It was created by `Box::leak`.
        drop(unsafe { Box::from_raw(home.as_ptr()) });
    }
}

/// Per-thread state: the list of this thread's blocks.
pub(crate) struct ThreadCaches {
    id: Cell<u64>,
    /// Re-entrancy guard: set while this thread is inside a cache operation.
    busy: Cell<bool>,
    /// Only touched while `busy` is set.
    entries: UnsafeCell<Vec<Entry>>,
    seen_epoch: Cell<u64>,
    countdown: Cell<u32>,
}

struct Entry {
    pool: *const PoolInner,
    block: NonNull<Block>,
}

impl ThreadCaches {
    const fn new() -> Self {
        Self {
            id: Cell::new(0),
            busy: Cell::new(false),
            entries: UnsafeCell::new(Vec::new()),
            seen_epoch: Cell::new(0),
            countdown: Cell::new(CLOCK_EVERY),
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

    /// Runs `f` with exclusive access to this thread's entries, or returns
    /// `None` if this thread is already inside a cache operation.
    #[inline(always)]
    fn enter<R>(&self, f: impl FnOnce(&Self, &mut Vec<Entry>) -> R) -> Option<R> {
        if self.busy.replace(true) {
            return None;
        }
        // SAFETY: `busy` was false and is now true, so no other borrow of
        // `entries` exists on this thread, and no other thread ever reads it.
        let r = f(self, unsafe { &mut *self.entries.get() });
        self.busy.set(false);
        Some(r)
    }

    /// The cheap check every operation makes: one `Relaxed` load of the
    /// global epoch and a countdown to the next look at the clock.
    /// Gets also count down to the next look at the clock; returns do not.
    #[inline(always)]
    fn housekeeping(&self, entries: &mut Vec<Entry>, is_get: bool) {
        // Relaxed: the epoch is only a hint that some pool changed state; the
        // state itself (`closed`, `trim_epoch`, `generation`) is read with
        // Acquire in `housekeeping_slow`, pairing with its Release stores.
        let e = global_epoch().load(Ordering::Relaxed);
        let cd = self.countdown.get();
        let clock = is_get && cd == 0;
        if e != self.seen_epoch.get() || clock {
            self.housekeeping_slow(entries, e, clock);
        } else if is_get {
            self.countdown.set(cd - 1);
        }
    }

    #[cold]
    #[inline(never)]
    fn housekeeping_slow(&self, entries: &mut Vec<Entry>, epoch: u64, clock: bool) {
        self.seen_epoch.set(epoch);
        self.countdown.set(CLOCK_EVERY);
        let now = if clock { Some(Instant::now()) } else { None };
        let mut i = 0;
        while i < entries.len() {
            let block = entries[i].block;
            // SAFETY: blocks in `entries` are live (retirement removes them).
            let b = unsafe { block.as_ref() };
            if let Some(now) = now {
                b.pool.maybe_tick(now);
            }
            if b.pool.is_closed() {
                entries.swap_remove(i);
                // SAFETY: `block` is this thread's unretired block, just removed
                // from `entries`; `b` is not used again.
                unsafe { retire(block) };
                continue;
            }
            // SAFETY: owner-only state of this thread's block, under `busy`.
            let local = unsafe { b.local.get_mut() };
            let t = b.pool.trim_epoch();
            if t != local.seen_trim {
                local.seen_trim = t;
                flush(b, local, Flush::Free);
            }
            let g = b.pool.generation();
            if g != local.seen_gen {
                decay(b, local, g);
            }
            i += 1;
        }
    }

    /// This thread's block for `pool`, created on first use.
    #[inline(always)]
    fn block_for(&self, entries: &mut Vec<Entry>, pool: &Arc<PoolInner>) -> NonNull<Block> {
        let key = Arc::as_ptr(pool);
        for e in entries.iter() {
            if e.pool == key {
                return e.block;
            }
        }
        self.new_block(entries, pool)
    }

    #[cold]
    #[inline(never)]
    fn new_block(&self, entries: &mut Vec<Entry>, pool: &Arc<PoolInner>) -> NonNull<Block> {
        let block = NonNull::from(Box::leak(Box::new(Block::new(pool, self.id(), 0))));
        pool.register(block);
        entries.push(Entry { pool: Arc::as_ptr(pool), block });
        if pool.is_closed() {
            // Make the next operation retire it.
            self.seen_epoch.set(0);
        }
        block
    }
}

impl Drop for ThreadCaches {
    fn drop(&mut self) {
        // Thread exit: hand every cached buffer back to its pool's shards (or
        // free it if they are full) and merge each block's count.
        self.busy.set(true);
        for e in std::mem::take(self.entries.get_mut()) {
            // SAFETY: this thread's live, unretired block.
            unsafe { retire(e.block) };
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    static THREAD: ThreadCaches = const { ThreadCaches::new() };
}
#[cfg(loom)]
thread_local! {
    static THREAD: ThreadCaches = ThreadCaches::new();
}

enum Flush {
    /// Offer cached buffers to the shards (thread exit).
    ToShards,
    /// Free them (trim, pool closed).
    Free,
}

/// Empties a block's cache and gives back its lease.
fn flush(b: &Block, local: &mut Local, how: Flush) {
    let pool = &b.pool;
    let how = if pool.is_closed() { Flush::Free } else { how };
    for (c, slot) in local.slots.iter_mut().enumerate() {
        for mem in slot.stack.drain(..) {
            b.sub_cached(mem.cap);
            b.held_out(mem.cap);
            local.lease -= mem.cap;
            match how {
                // The lease covers it: transfer the reservation to the shard.
                Flush::ToShards => {
                    if let Err(mem) = pool.put(c, mem, true) {
                        pool.free(mem);
                    }
                }
                Flush::Free => {
                    pool.budget.release(mem.cap);
                    Counters::bump(&b.counters.evictions, 1);
                    pool.free(mem);
                }
            }
        }
        // The stack keeps its capacity (at most `tls_cache_size` pointers), so
        // a later fast-path push never allocates.
        slot.depth = slot.depth.min(2);
    }
    pool.budget.release(local.lease);
    local.lease = 0;
}

/// The idle clock ticked: release slots unused for a whole generation, and let
/// depths shrink where nothing missed.
fn decay(b: &Block, local: &mut Local, gen: u64) {
    let pool = &b.pool;
    let min_depth = pool.config.tls_cache_size().min(2);
    for slot in local.slots.iter_mut() {
        if slot.last_gen + 1 < gen {
            for mem in slot.stack.drain(..) {
                b.sub_cached(mem.cap);
                b.held_out(mem.cap);
                local.lease -= mem.cap;
                pool.budget.release(mem.cap);
                Counters::bump(&b.counters.evictions, 1);
                pool.free(mem);
            }
        }
        if !slot.missed && slot.depth > min_depth {
            slot.depth -= 1;
        }
        slot.missed = false;
    }
    // Give back lease that no cached buffer uses.
    pool.budget.release(local.lease - b.cached());
    local.lease = b.cached();
    local.seen_gen = gen;
}

/// Retires this thread's block: flush, unregister, merge the count.
///
/// # Safety
/// `block` must be the calling thread's live, unretired block, already removed
/// from its `entries`, and the thread must be inside `enter` (or exiting).
unsafe fn retire(block: NonNull<Block>) {
    // SAFETY: live, per the contract.
    let b = unsafe { block.as_ref() };
    // SAFETY: owner-only state, and the caller is the owner.
    let local = unsafe { b.local.get_mut() };
    flush(b, local, Flush::ToShards);
    local.slots = Box::default();
    b.pool.unregister(block);
    local.retired = true;
    let out = local.out as usize;
    // AcqRel: Release publishes this thread's last writes to the block (and the
    // buffers it returned) to whichever thread frees it; Acquire pairs with the
    // Release half of earlier `remote_release` calls in case we free it here.
    let prev = b.remote.fetch_add(out.wrapping_add(MERGED), Ordering::AcqRel);
    if prev.wrapping_add(out).wrapping_add(MERGED) == MERGED {
        // SAFETY: merged and nothing outstanding: no buffer or thread can reach
        // the block. It came from `Box::leak`.
        drop(unsafe { Box::from_raw(block.as_ptr()) });
    }
}

/// Serves a request: this thread's cache first, then the shards, then fresh.
#[inline]
pub(crate) fn acquire(pool: &Arc<PoolInner>, len: usize, zero: bool) -> Result<PooledBuffer, AllocError> {
    let got = THREAD.try_with(|tc| tc.enter(|tc, entries| acquire_in(tc, entries, pool, len)));
    let (mem, home, recycled) = match got {
        Ok(Some(r)) => r?,
        _ => acquire_orphan(pool, pool.classes.fit(len))?,
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

#[inline(always)]
fn acquire_in(
    tc: &ThreadCaches,
    entries: &mut Vec<Entry>,
    pool: &Arc<PoolInner>,
    len: usize,
) -> Result<(Mem, NonNull<Block>, bool), AllocError> {
    tc.housekeeping(entries, true);
    let block = tc.block_for(entries, pool);
    // SAFETY: this thread's live block.
    let b = unsafe { block.as_ref() };
    // SAFETY: owner-only state, under `busy`.
    let local = unsafe { b.local.get_mut() };
    let fit = if len == local.last_len {
        local.last_fit
    } else {
        let fit = pool.classes.fit(len);
        local.last_len = len;
        local.last_fit = fit;
        fit
    };
    if let Fit::Class(c) = fit {
        debug_assert!(c < local.slots.len());
        let slot = &mut local.slots[c];
        if let Some(mem) = slot.stack.pop() {
            local.out += 1;
            b.sub_cached(mem.cap);
            Counters::bump(&b.counters.cache_hits, 1);
            return Ok((mem, block, true));
        }
        slot.missed = true;
    }
    acquire_slow(b, local, fit).map(|(m, r)| (m, block, r))
}

#[cold]
#[inline(never)]
fn acquire_slow(b: &Block, local: &mut Local, fit: Fit) -> Result<(Mem, bool), AllocError> {
    let pool = &b.pool;
    // A miss: give back lease that the (partly empty) cache is not using.
    let cached = b.cached();
    if local.lease > cached {
        pool.budget.release(local.lease - cached);
        local.lease = cached;
    }
    let (mem, recycled) = match fit {
        Fit::Class(c) => match pool.take(c) {
            Some((mem, stolen)) => {
                Counters::bump(if stolen { &b.counters.steals } else { &b.counters.shard_hits }, 1);
                (mem, true)
            }
            None => {
                let mem = pool.alloc_pooled(c)?;
                Counters::bump(&b.counters.fresh_allocations, 1);
                (mem, false)
            }
        },
        Fit::Exact(cap) => {
            let mem = pool.alloc_exact(cap)?;
            Counters::bump(&b.counters.unpooled, 1);
            (mem, false)
        }
    };
    local.out += 1;
    b.held_in(mem.cap);
    Ok((mem, recycled))
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
    // Merged from birth with one reference: the buffer's.
    let home = NonNull::from(Box::leak(Box::new(Block::new(pool, 0, MERGED + 1))));
    Ok((mem, home, recycled))
}

/// What happens to a buffer's memory when it comes home.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Return {
    /// Back to the pool (or freed if the pool will not keep it).
    Recycle,
    /// As `Recycle`, for a buffer nothing was written into since it was
    /// handed out (lent to a reader that answered `Pending`): no
    /// `Zeroing::OnReturn` scrub is needed.
    Unwritten,
    /// The caller keeps the memory (`into_vec`, freeze): only bookkeeping.
    Detach,
}

/// A buffer issued by `home` comes back (dropped or detached).
///
/// # Safety
/// `home` must be the block that issued the buffer owning `mem`, and the
/// buffer's reference to it is consumed. With `Return::Detach` the caller keeps
/// `mem`, which must already be unpinned.
#[inline]
pub(crate) unsafe fn release(home: NonNull<Block>, mem: Mem, how: Return) {
    // The block travels as its three words (all `Copy`) rather than as an
    // `Option<Mem>` the closure `take()`s: that kept `Mem` in a stack slot,
    // written word by word and copied into the cache with 16-byte loads the
    // CPU cannot store-forward (a stall on every drop).
    let Mem { ptr, cap, tag } = mem;
    let done = THREAD.try_with(move |tc| {
        tc.enter(move |tc, entries| {
            // SAFETY: forwarded contract.
            unsafe { release_in(tc, entries, home, ptr, cap, tag, how) }
        })
    });
    if !matches!(done, Ok(Some(()))) {
        // The closure did not run: the memory is still ours to return.
        // SAFETY: forwarded contract.
        unsafe { release_orphan(home, Mem { ptr, cap, tag }, how) };
    }
}

/// # Safety
/// As [`release`], with `tc` entered.
#[inline(always)]
unsafe fn release_in(
    tc: &ThreadCaches,
    entries: &mut Vec<Entry>,
    home: NonNull<Block>,
    ptr: NonNull<u8>,
    cap: usize,
    tag: u64,
    how: Return,
) {
    tc.housekeeping(entries, false);
    // SAFETY: the buffer's reference keeps `home` live.
    let b = unsafe { home.as_ref() };
    // `id()` is never 0, so an orphan block (owner 0) always takes the foreign path.
    if b.owner == tc.id() {
        // SAFETY: this thread owns `home`, and is inside `enter`.
        let local = unsafe { b.local.get_mut() };
        if !local.retired {
            local.out -= 1;
            file(b, local, ptr, cap, tag, how);
            return;
        }
    }
    // SAFETY: forwarded contract.
    unsafe { release_foreign(tc, entries, home, Mem { ptr, cap, tag }, how) }
}

/// Foreign (or retired) home: file the buffer in this thread's own block,
/// then drop the reference to the home block. Out of line, so that the fast
/// path keeps the block in registers.
///
/// # Safety
/// As [`release`], with `tc` entered.
#[cold]
#[inline(never)]
unsafe fn release_foreign(tc: &ThreadCaches, entries: &mut Vec<Entry>, home: NonNull<Block>, mem: Mem, how: Return) {
    // SAFETY: the buffer's reference keeps `home` live.
    let b = unsafe { home.as_ref() };
    let pool = &b.pool;
    if pool.is_closed() {
        let t = crate::stats::Totals { returns: 1, held_bytes: (mem.cap as u64).wrapping_neg(), ..Default::default() };
        pool.shared.add_shared(&t);
        if how != Return::Detach {
            pool.free(mem);
        }
    } else {
        let mine = tc.block_for(entries, pool);
        // SAFETY: this thread's live block (just found or created).
        let m = unsafe { mine.as_ref() };
        // SAFETY: owner-only state of our own block.
        let local = unsafe { m.local.get_mut() };
        file(m, local, mem.ptr, mem.cap, mem.tag, how);
    }
    // SAFETY: consumes the buffer's reference; `b` and `pool` are dead now.
    unsafe { remote_release(home) };
}

/// Files a returned buffer in this thread's block `b`: cache, shard or free.
#[inline(always)]
fn file(b: &Block, local: &mut Local, ptr: NonNull<u8>, cap: usize, tag: u64, how: Return) {
    // `Mem` is rebuilt from its words wherever it is handed on, never kept as
    // one value whose address escapes to the slow paths: the push then stores
    // registers instead of copying a stack slot.
    let pool = &b.pool;
    Counters::bump(&b.counters.returns, 1);
    if how == Return::Detach {
        b.held_out(cap);
        return;
    }
    let class = Mem { ptr, cap, tag }.class();
    if class == NOT_POOLED {
        b.held_out(cap);
        free_cold(pool, ptr, cap, tag);
        return;
    }
    let c = class as usize;
    debug_assert_eq!(pool.classes.file(cap), Some(c));
    if how == Return::Recycle && pool.config.zeroing() == Zeroing::OnReturn {
        // SAFETY: we own all `cap` bytes of `mem`.
        unsafe { ptr.as_ptr().write_bytes(0, cap) };
    }
    debug_assert!(c < local.slots.len());
    let slot = &mut local.slots[c];
    if slot.stack.len() < slot.depth && b.cached() + cap <= local.lease {
        // A slot counts as used when something is returned to it: a slot
        // that is only ever popped empties itself anyway.
        slot.last_gen = local.seen_gen;
        b.add_cached(cap);
        slot.stack.push(Mem { ptr, cap, tag });
        return;
    }
    file_slow(b, local, c, ptr, cap, tag);
}

/// `pool.free`, out of line (see `file`).
#[cold]
#[inline(never)]
fn free_cold(pool: &PoolInner, ptr: NonNull<u8>, cap: usize, tag: u64) {
    pool.free(Mem { ptr, cap, tag });
}

#[cold]
#[inline(never)]
fn file_slow(b: &Block, local: &mut Local, c: usize, ptr: NonNull<u8>, cap: usize, tag: u64) {
    let mem = Mem { ptr, cap, tag };
    let pool = &b.pool;
    let max_bytes = pool.config.tls_cache_bytes();
    if mem.cap > max_bytes {
        // Too big for any thread cache: straight to the shards.
        b.held_out(mem.cap);
        if let Err(mem) = pool.put(c, mem, false) {
            Counters::bump(&b.counters.discards, 1);
            pool.free(mem);
        }
        return;
    }
    let max_depth = pool.config.tls_cache_size();
    let slot = &mut local.slots[c];
    if slot.stack.capacity() == 0 {
        slot.stack.reserve_exact(max_depth);
        slot.depth = slot.depth.max(max_depth.min(2));
    }
    if slot.stack.len() >= slot.depth {
        if slot.missed && slot.depth < max_depth {
            // Gets found this slot empty and returns find it full: deepen.
            slot.depth += 1;
            slot.missed = false;
        }
        if slot.stack.len() >= slot.depth {
            // Spill the older half to the shards; the lease moves with them.
            let n = (slot.stack.len() / 2).max(1);
            for old in slot.stack.drain(..n) {
                b.sub_cached(old.cap);
                b.held_out(old.cap);
                local.lease -= old.cap;
                if let Err(old) = pool.put(c, old, true) {
                    Counters::bump(&b.counters.discards, 1);
                    pool.free(old);
                }
            }
        }
    }
    if b.cached() + mem.cap > local.lease {
        let need = b.cached() + mem.cap - local.lease;
        let room = max_bytes.saturating_sub(local.lease);
        // Lease a little ahead (up to one more buffer) so steady state needs no
        // further reservations.
        let ask = need.saturating_add(mem.cap).min(room);
        let granted = if need > room {
            0
        } else if pool.budget.reserve(ask) {
            ask
        } else if pool.budget.reserve(need) || (pool.evict_for(need, c) && pool.budget.reserve(need)) {
            need
        } else {
            0
        };
        if granted == 0 {
            // No room in this cache or in the budget: try the shards (which
            // apply the eviction policy), else free.
            b.held_out(mem.cap);
            if let Err(mem) = pool.put(c, mem, false) {
                Counters::bump(&b.counters.discards, 1);
                pool.free(mem);
            }
            return;
        }
        local.lease += granted;
    }
    let slot = &mut local.slots[c];
    slot.last_gen = local.seen_gen;
    b.add_cached(mem.cap);
    slot.stack.push(mem);
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
    let _ = THREAD.try_with(|tc| {
        tc.enter(|tc, entries| {
            // Relaxed: see `housekeeping`.
            let e = global_epoch().load(Ordering::Relaxed);
            tc.housekeeping_slow(entries, e, false);
        })
    });
}

/// Counts a right-sizing copy (async layer) on this thread's block.
pub(crate) fn count_right_sized(pool: &Arc<PoolInner>) {
    let done = THREAD.try_with(|tc| {
        tc.enter(|tc, entries| {
            let block = tc.block_for(entries, pool);
            // SAFETY: this thread's live block.
            Counters::bump(unsafe { &block.as_ref().counters.right_sized }, 1);
        })
    });
    if !matches!(done, Ok(Some(()))) {
        pool.shared.add_shared(&crate::stats::Totals { right_sized: 1, ..Default::default() });
    }
}

/// The pool a home block belongs to.
///
/// # Safety
/// `home` must be live for `'a` (a buffer's reference to it is held).
pub(crate) unsafe fn pool_of<'a>(home: NonNull<Block>) -> &'a Arc<PoolInner> {
    // SAFETY: per the contract.
    unsafe { &home.as_ref().pool }
}
