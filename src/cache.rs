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
use crate::class::Fit;
use crate::config::Zeroing;
use crate::error::AllocError;
use crate::pool::PoolInner;
use crate::stats::Counters;
use crate::sync::{Arc, AtomicUsize, Ordering, OwnerCell};
use std::ptr::NonNull;

/// Flag added to `Block::remote` when the owner merges its count.
const MERGED: usize = 1 << (usize::BITS - 2);

/// One thread's cache for one pool. Shared with other threads only through
/// `pool` (read-only), `owner` (immutable), `remote` and `counters`.
pub(crate) struct Block {
    pub(crate) pool: Arc<PoolInner>,
    /// Id of the owning thread (`thread::Hot::id`); ids are never reused, and
    /// 0 (no thread) marks an orphan block.
    owner: u64,
    /// Biased refcount, shared half: foreign drops subtract 1; the owner's
    /// merge adds `out + MERGED`. Wrapping arithmetic throughout.
    remote: AtomicUsize,
    /// Statistics, written by the owner only.
    pub(crate) counters: Counters,
    /// Owner-only state. Invariant: only the thread whose id is `owner`
    /// touches it: inside a cache operation (`thread::enter`), or on the
    /// call-free fast path, which runs only while no such operation is running on
    /// this thread (see `thread`).
    local: OwnerCell<Local>,
}

// SAFETY: `local` is only accessed by the owner thread (see its invariant);
// every other field is immutable after construction or atomic.
unsafe impl Send for Block {}
// SAFETY: as for `Send`.
unsafe impl Sync for Block {}

struct Local {
    /// Biased refcount, owner half, in three parts: this field counts buffers
    /// issued by the slow path other than cache hits (+1) and own buffers
    /// returned through the slow path (−1); the counters `cache_hits` (+1 per
    /// hit, fast or slow) and `fast_returns` (−1 per fast-path return) count
    /// the rest. So the hot path's statistics *are* its refcount updates: it
    /// writes nothing for the one that it would not write for the other.
    /// `retire` sums the three.
    out: isize,
    /// Budget bytes reserved by this cache; `cached() <= lease <= tls_cache_bytes`.
    /// Buffers taken from the shards keep their reservation here while out,
    /// so the lease may exceed what is cached until the idle clock's next
    /// tick (or a trim, or thread exit) gives the difference back.
    lease: usize,
    /// Set once the block is merged; the owner then treats it as foreign.
    retired: bool,
    seen_trim: u64,
    seen_gen: u64,
    slots: Slots,
}

/// A block's slots, one per class. Owned through a raw pointer rather than a
/// `Box`, because the fast paths keep a pointer to the array in the thread's
/// `HOT` entry while the slow paths borrow it through `Local` (never at the
/// same time): a `Box` would assert uniqueness on every move of `Local`.
struct Slots {
    ptr: NonNull<Slot>,
    len: usize,
}

impl Slots {
    fn new(v: Vec<Slot>) -> Self {
        let b = v.into_boxed_slice();
        let len = b.len();
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(Box::into_raw(b).cast::<Slot>()) };
        Self { ptr, len }
    }

    fn as_mut(&mut self) -> &mut [Slot] {
        // SAFETY: `ptr` and `len` come from a boxed slice this value owns, and
        // `&mut self` excludes other borrows through `Local`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: the boxed slice `new` leaked, freed once.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len)) });
    }
}

pub(crate) struct Slot {
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
        let slots = Slots::new(if owner == 0 {
            Vec::new()
        } else {
            (0..pool.classes.len()).map(|_| Slot { stack: Vec::new(), depth, last_gen: gen, missed: false }).collect()
        });
        Block {
            pool: pool.clone(),
            owner,
            remote: AtomicUsize::new(remote),
            counters: Counters::default(),
            local: OwnerCell::new(Local {
                out: 0,
                lease: 0,
                retired: owner == 0,
                seen_trim: pool.trim_epoch(),
                seen_gen: gen,
                slots,
            }),
        }
    }
}

impl Block {
    /// A new block owned by the thread with id `owner` (never 0), leaked: its
    /// biased refcount frees it.
    pub(crate) fn create(pool: &Arc<PoolInner>, owner: u64) -> NonNull<Block> {
        debug_assert_ne!(owner, 0);
        NonNull::from(Box::leak(Box::new(Block::new(pool, owner, 0))))
    }

    /// An orphan block for one buffer served without a thread cache: merged
    /// from birth with one reference, the buffer's, so its drop frees it.
    pub(crate) fn create_orphan(pool: &Arc<PoolInner>) -> NonNull<Block> {
        NonNull::from(Box::leak(Box::new(Block::new(pool, 0, MERGED + 1))))
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
pub(crate) unsafe fn remote_release(home: NonNull<Block>) {
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
    for (c, slot) in local.slots.as_mut().iter_mut().enumerate() {
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
    for slot in local.slots.as_mut().iter_mut() {
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
pub(crate) unsafe fn retire(block: NonNull<Block>) {
    // SAFETY: live, per the contract.
    let b = unsafe { block.as_ref() };
    // SAFETY: owner-only state, and the caller is the owner.
    let local = unsafe { b.local.get_mut() };
    flush(b, local, Flush::ToShards);
    local.slots = Slots::new(Vec::new());
    b.pool.unregister(block);
    local.retired = true;
    // The owner half of the refcount: see `Local::out`. Relaxed: this
    // thread wrote these counters.
    let hits = b.counters.cache_hits.load(Ordering::Relaxed);
    let fast_returns = b.counters.fast_returns.load(Ordering::Relaxed);
    let out = (local.out as usize).wrapping_add(hits.wrapping_sub(fast_returns) as usize);
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

/// A trim or clock tick of `b`'s pool since this thread last looked: flush or
/// decay. Called by the owner thread, inside a cache operation.
pub(crate) fn housekeep(b: &Block) {
    // SAFETY: owner-only state of this thread's block, inside a cache operation.
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
}

/// What the fast paths need of a block, cached in the thread's `HOT` entry.
pub(crate) struct FastView {
    /// The slot array (one slot per class).
    pub(crate) slots: NonNull<Slot>,
    /// `Zeroing::OnGet`: gets go to the slow path.
    pub(crate) zero_on_get: bool,
    /// `Zeroing::OnReturn`: returns go to the slow path.
    pub(crate) scrub: bool,
}

impl Block {
    /// # Safety
    /// The caller is the block's owner thread, inside a cache operation, and
    /// the block is unretired.
    pub(crate) unsafe fn fast_view(&self) -> FastView {
        // SAFETY: owner-only state, per the contract.
        let local = unsafe { self.local.get_mut() };
        debug_assert!(!local.retired);
        let zeroing = self.pool.config.zeroing();
        FastView { slots: local.slots.ptr, zero_on_get: zeroing == Zeroing::OnGet, scrub: zeroing == Zeroing::OnReturn }
    }
}

/// The get fast path: pops the most recently returned buffer of `slot`. Makes
/// no call; `None` (the slot is empty) sends the caller to the slow path.
///
/// # Safety
/// `block` is the calling thread's live, unretired block, `slot` one of its
/// slots (from its [`FastView`]), and no other access to its private state is
/// live (no cache operation is running on this thread).
#[inline(always)]
pub(crate) unsafe fn take(block: NonNull<Block>, slot: NonNull<Slot>) -> Option<Mem> {
    // SAFETY: a slot of a live block, exclusive per the contract.
    let slot = unsafe { &mut *slot.as_ptr() };
    let n = slot.stack.len().checked_sub(1)?;
    // SAFETY: `n < len`: the entry is initialised, and after `set_len` it is
    // ours (moved out).
    let mem = unsafe {
        let e = slot.stack.as_ptr().add(n);
        slot.stack.set_len(n);
        // One 8-byte load per word, as `give_back` stored them: LLVM would
        // otherwise fetch `cap` and `tag` with one 16-byte load, which the CPU
        // cannot store-forward from the two stores of the last return (a stall
        // of ~8 ns per get + drop, measured).
        Mem {
            ptr: std::ptr::addr_of!((*e).ptr).read_volatile(),
            cap: std::ptr::addr_of!((*e).cap).read_volatile(),
            tag: std::ptr::addr_of!((*e).tag).read_volatile(),
        }
    };
    // SAFETY: live, per the contract.
    let b = unsafe { block.as_ref() };
    b.sub_cached(mem.cap);
    // The hit counter is also the refcount's +1 for this buffer (see `Local::out`).
    Counters::add_owned(&b.counters.cache_hits, 1);
    Some(mem)
}

/// The get slow path on this thread's block: cache, shards, then fresh.
///
/// # Safety
/// As [`take`], with the thread inside a cache operation (`enter`).
pub(crate) unsafe fn acquire_from(block: NonNull<Block>, len: usize) -> Result<(Mem, bool), AllocError> {
    // SAFETY: live, per the contract.
    let b = unsafe { block.as_ref() };
    // SAFETY: owner-only state, exclusive per the contract.
    let local = unsafe { b.local.get_mut() };
    let fit = b.pool.classes.fit(len);
    if let Fit::Class(c) = fit {
        let slot = &mut local.slots.as_mut()[c];
        if let Some(mem) = slot.stack.pop() {
            b.sub_cached(mem.cap);
            // Also the refcount's +1 (see `Local::out`).
            Counters::add_owned(&b.counters.cache_hits, 1);
            return Ok((mem, true));
        }
        slot.missed = true;
    }
    acquire_slow(b, local, fit)
}

/// The return fast path: a buffer comes home to the thread that issued it and
/// fits in its slot and lease. Makes no call; `false` (nothing done) sends the
/// caller to the slow path.
///
/// # Safety
/// `home` is the calling thread's live, unretired block and issued the buffer
/// owning this memory, whose class `slot` is (from `home`'s [`FastView`]); no
/// cache operation is running on this thread. On `true` the buffer's
/// reference to `home` is consumed.
#[inline(always)]
pub(crate) unsafe fn give_back(
    home: NonNull<Block>,
    slot: NonNull<Slot>,
    ptr: NonNull<u8>,
    cap: usize,
    tag: u64,
) -> bool {
    // SAFETY: live, per the contract.
    let b = unsafe { home.as_ref() };
    // SAFETY: owner-only state, exclusive per the contract.
    let local = unsafe { b.local.get_mut() };
    // SAFETY: a slot of `home`, exclusive per the contract; it is not part of
    // `Local`'s own memory (the array is behind a raw pointer).
    let slot = unsafe { &mut *slot.as_ptr() };
    let n = slot.stack.len();
    if n >= slot.depth || b.cached() + cap > local.lease {
        return false;
    }
    slot.last_gen = local.seen_gen;
    b.add_cached(cap);
    debug_assert!(n < slot.stack.capacity());
    // SAFETY: `n < depth <= capacity`: a slot's depth is 0 until `file_slow`
    // reserves `tls_cache_size` entries, and never exceeds that.
    unsafe {
        slot.stack.as_mut_ptr().add(n).write(Mem { ptr, cap, tag });
        slot.stack.set_len(n + 1);
    }
    // Also the refcount's −1 for this buffer (see `Local::out`).
    Counters::add_owned(&b.counters.fast_returns, 1);
    true
}

/// The return slow path for a buffer whose home is this thread's own,
/// unretired block; `false` if it is not (foreign or retired home).
///
/// # Safety
/// As [`give_back`], with the thread inside a cache operation (`enter`).
pub(crate) unsafe fn return_owned(
    home: NonNull<Block>,
    id: u64,
    ptr: NonNull<u8>,
    cap: usize,
    tag: u64,
    how: Return,
) -> bool {
    // SAFETY: the buffer's reference keeps `home` live.
    let b = unsafe { home.as_ref() };
    // `id` is never 0 once this thread has a block, so an orphan block (owner
    // 0, born retired) always takes the foreign path.
    if b.owner != id {
        return false;
    }
    // SAFETY: this thread owns `home`, and is inside `enter`.
    let local = unsafe { b.local.get_mut() };
    if local.retired {
        return false;
    }
    local.out -= 1;
    file(b, local, ptr, cap, tag, how);
    true
}

/// Files a buffer from a foreign home in this thread's block `mine`.
///
/// # Safety
/// `mine` is the calling thread's live, unretired block, and the thread is
/// inside a cache operation (`enter`).
pub(crate) unsafe fn file_in(mine: NonNull<Block>, ptr: NonNull<u8>, cap: usize, tag: u64, how: Return) {
    // SAFETY: live, per the contract.
    let m = unsafe { mine.as_ref() };
    // SAFETY: owner-only state of our own block.
    let local = unsafe { m.local.get_mut() };
    file(m, local, ptr, cap, tag, how);
}

#[cold]
#[inline(never)]
fn acquire_slow(b: &Block, local: &mut Local, fit: Fit) -> Result<(Mem, bool), AllocError> {
    let pool = &b.pool;
    let (mem, recycled) = match fit {
        Fit::Class(c) => match pool.take_from(c) {
            Some((mem, home)) => {
                Counters::bump(if home.is_none() { &b.counters.steals } else { &b.counters.shard_hits }, 1);
                // The buffer's reservation passes from the shard to this
                // cache's lease, so its return needs no new one: a burst's
                // round trip through the shards costs no budget atomics. The
                // lease stays within `tls_cache_bytes`, what a full cache may
                // hold anyway (and the idle clock gives back what no cached
                // buffer uses); past that, the reservation goes back.
                if mem.cap <= pool.config.tls_cache_bytes().saturating_sub(local.lease) {
                    local.lease += mem.cap;
                } else {
                    pool.budget.release(mem.cap);
                }
                if let Some(shard) = home {
                    refill(b, local, c, shard);
                }
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

/// After a miss served by the home shard: moves up to half the slot's depth
/// more buffers of the class from that shard into the slot, so the next gets
/// are fast-path hits (the mirror of a spill, which moves the older half the
/// other way). Their reservations move from the shard into the lease, within
/// `tls_cache_bytes`.
fn refill(b: &Block, local: &mut Local, c: usize, shard: usize) {
    let pool = &b.pool;
    let max_bytes = pool.config.tls_cache_bytes();
    let Local { lease, seen_gen, slots, .. } = local;
    let slot = &mut slots.as_mut()[c];
    // A slot not yet used has no stack (depth 0): nothing to fill.
    let room = slot.depth.saturating_sub(slot.stack.len());
    let n = (slot.depth / 2).min(room);
    if n == 0 {
        return;
    }
    slot.last_gen = *seen_gen;
    pool.refill(c, shard, n, |mem| {
        // The buffer's reservation moves with it, from the shard's share of
        // the budget into the lease.
        if mem.cap > max_bytes.saturating_sub(*lease) {
            return Err(mem);
        }
        *lease += mem.cap;
        b.held_in(mem.cap);
        b.add_cached(mem.cap);
        debug_assert!(slot.stack.len() < slot.stack.capacity());
        slot.stack.push(mem);
        Ok(())
    });
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

/// Files a returned buffer in this thread's block `b`: cache, shard or free.
/// The slow path's counterpart of `give_back`.
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
    debug_assert!(c < local.slots.len);
    let slot = &mut local.slots.as_mut()[c];
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
    let slot = &mut local.slots.as_mut()[c];
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
            let lease = &mut local.lease;
            let spilled = slot.stack.drain(..n).inspect(|old| {
                b.sub_cached(old.cap);
                b.held_out(old.cap);
                *lease -= old.cap;
            });
            pool.spill(c, spilled, |old| {
                Counters::bump(&b.counters.discards, 1);
                pool.free(old);
            });
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
    let slot = &mut local.slots.as_mut()[c];
    slot.last_gen = local.seen_gen;
    b.add_cached(mem.cap);
    slot.stack.push(mem);
}

/// The pool a home block belongs to.
///
/// # Safety
/// `home` must be live for `'a` (a buffer's reference to it is held).
pub(crate) unsafe fn pool_of<'a>(home: NonNull<Block>) -> &'a Arc<PoolInner> {
    // SAFETY: per the contract.
    unsafe { &home.as_ref().pool }
}
