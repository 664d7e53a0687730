//! Every slow path of a thread's caches, run with the thread marked busy
//! (`local::run_busy`): housekeeping (trim, tick, close), the get miss with
//! its refill, the return of an own, a foreign or an orphan buffer, spill,
//! lease, decay, and retirement. Everything central to the pool goes through
//! [`Central`]'s named operations.

use super::block::{Bin, Block, Private};
use super::fast::{BlockRef, Hot, CLOCK_EVERY};
use super::inbox::Inbox;
use crate::alloc::{Mem, NOT_POOLED};
use crate::central::{Central, Source, Spot};
use crate::class::Fit;
use crate::config::Zeroing;
use crate::error::AllocError;
use crate::stats::{ClassTally, Tally, Totals};
use crate::sync::{global_epoch, thread_id, Arc, AtomicU64, Ordering};
use std::ptr::NonNull;
use std::time::Instant;

/// What happens to a buffer's memory when it comes back.
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

// ---- housekeeping ---------------------------------------------------------

/// The slow path's per-operation check: the epoch, and (for gets) the clock
/// countdown.
#[inline]
pub(super) fn housekeeping(h: &Hot, blocks: &mut Vec<BlockRef>, is_get: bool) {
    // Relaxed: see `Hot::may_run`.
    let e = global_epoch().load(Ordering::Relaxed);
    let cd = h.countdown.get();
    let clock = is_get && cd <= 0;
    if e != h.seen_epoch.get() || clock {
        housekeeping_full(h, blocks, e, clock);
    } else if is_get {
        h.countdown.set(cd - 1);
    }
}

/// The full check: closed pools, trims and clock ticks, for every block of
/// this thread. `clock` also looks at the time.
#[cold]
#[inline(never)]
pub(super) fn housekeeping_full(h: &Hot, blocks: &mut Vec<BlockRef>, epoch: u64, clock: bool) {
    h.seen_epoch.set(epoch);
    h.countdown.set(CLOCK_EVERY);
    let now = if clock { Some(Instant::now()) } else { None };
    let mut i = 0;
    let mut removed = false;
    while i < blocks.len() {
        // SAFETY: blocks in `blocks` are live (retirement removes them).
        let b = unsafe { &*blocks[i].block };
        if let Some(now) = now {
            b.central.maybe_tick(now);
        }
        if b.central.is_closed() {
            let e = blocks.swap_remove(i);
            removed = true;
            // SAFETY: this thread's unretired block, just removed from
            // `blocks` (and from `HOT` below, before any fast path runs).
            unsafe { retire(NonNull::new_unchecked(e.block)) };
            continue;
        }
        catch_up(b);
        i += 1;
    }
    if removed {
        // SAFETY: `blocks` holds this thread's live, unretired blocks, and
        // we are inside a slow operation.
        unsafe { h.refresh(blocks) };
    }
}

/// A trim or clock tick of `b`'s pool since this thread last looked: empty
/// or decay. Called by the owner thread, inside a slow operation.
fn catch_up(b: &Block) {
    // SAFETY: owner-only state of this thread's block, inside a slow operation.
    let p = unsafe { b.private() };
    take_inbox(b, p, false);
    let t = b.central.trim_epoch();
    if t != p.seen_trim {
        p.seen_trim = t;
        empty(b, p, Empty::Free);
    }
    let r = b.central.reclaim_epoch();
    if r != p.seen_reclaim {
        // A waiter of the outstanding cap asked for idle bytes back.
        p.seen_reclaim = r;
        empty(b, p, Empty::ToShards);
    }
    let g = b.central.generation();
    if g != p.seen_gen {
        decay(b, p, g);
    }
}

enum Empty {
    /// Offer cached buffers to the shards (thread exit).
    ToShards,
    /// Free them (trim, pool closed).
    Free,
}

/// Empties a block's cache and gives back its lease.
fn empty(b: &Block, p: &mut Private, how: Empty) {
    let central = &b.central;
    let how = if central.is_closed() { Empty::Free } else { how };
    let mut listed = 0;
    for (c, bin, count) in p.bins.iter_mut() {
        listed += flush_chain(b, bin, c, matches!(how, Empty::Free));
        for mem in bin.stack.drain(..) {
            ClassTally::drop_by(&count.stacked, 1);
            b.sub_cached(mem.cap);
            b.held_out(&mem);
            p.lease -= mem.cap;
            match how {
                // The lease covers it: the reservation passes to the shard.
                Empty::ToShards => central.offer(c, mem, true),
                Empty::Free => central.evict(mem),
            }
        }
        // The stack keeps its capacity (at least its depth), so a later
        // fast-path push never allocates.
        bin.depth = bin.depth.min(2);
    }
    Block::count_returned(p, listed);
    central.release_budget(p.lease);
    p.lease = 0;
}

/// Empties this thread's block for `central`, if it has one, to the shards
/// (see `local::give_back_idle`).
pub(super) fn give_back_idle(blocks: &mut [BlockRef], central: &Arc<Central>) {
    let key = Arc::as_ptr(central);
    if let Some(e) = blocks.iter().find(|e| e.central == key) {
        // SAFETY: this thread's live, unretired block.
        let b = unsafe { &*e.block };
        // SAFETY: owner-only state, inside a slow operation.
        let p = unsafe { b.private() };
        take_inbox(b, p, false);
        empty(b, p, Empty::ToShards);
    }
}

/// The idle clock ticked: release bins unused for a whole generation, and let
/// depths shrink where nothing missed.
fn decay(b: &Block, p: &mut Private, gen: u64) {
    let central = &b.central;
    let start = central.config.tls_cache_size();
    let min_depth = start.min(2);
    let mut listed = 0;
    for (c, bin, count) in p.bins.iter_mut() {
        // What the inbox brought and no get took within a tick goes to the
        // shards (where the budget counts it).
        listed += flush_chain(b, bin, c, false);
        // The fast paths do not store `last_gen`; their counters moved if
        // they used the bin during the generation now ending. Relaxed: this
        // thread is their only writer.
        let fast = count.hits.load(Ordering::Relaxed).wrapping_add(count.fast_returns.load(Ordering::Relaxed));
        if fast != bin.fast_seen {
            bin.fast_seen = fast;
            bin.last_gen = p.seen_gen;
        }
        if bin.last_gen + 1 < gen {
            for mem in bin.stack.drain(..) {
                ClassTally::drop_by(&count.stacked, 1);
                b.sub_cached(mem.cap);
                b.held_out(&mem);
                p.lease -= mem.cap;
                central.evict(mem);
            }
        }
        if !bin.missed && bin.depth > min_depth {
            // Back down as it went up: halving from past the starting
            // ceiling (a burst that is over), then one at a time.
            bin.depth = if bin.depth > start { (bin.depth / 2).max(start) } else { bin.depth - 1 };
        }
        bin.missed = false;
    }
    Block::count_returned(p, listed);
    // Give back lease that no cached buffer uses.
    central.release_budget(p.lease - b.cached());
    p.lease = b.cached();
    p.seen_gen = gen;
}

/// Retires this thread's block: empty, unregister, merge the count.
///
/// # Safety
/// `block` must be the calling thread's live, unretired block, already removed
/// from its `blocks`, and the thread must be inside a slow operation (or
/// exiting).
pub(super) unsafe fn retire(block: NonNull<Block>) {
    // SAFETY: live, per the contract.
    let b = unsafe { block.as_ref() };
    // SAFETY: owner-only state, and the caller is the owner.
    let p = unsafe { b.private() };
    // Close the inbox first: later remote drops take the refcount path.
    take_inbox(b, p, true);
    empty(b, p, Empty::ToShards);
    b.settle_held();
    b.central.registry().unregister(&b.tally);
    // SAFETY: forwarded contract; no reference into the block outlives this.
    unsafe { Block::merge(block) };
}

// ---- this thread's blocks -------------------------------------------------

/// This thread's block for `central`, created on first use.
#[inline]
pub(super) fn block_for(h: &Hot, blocks: &mut Vec<BlockRef>, central: &Arc<Central>) -> NonNull<Block> {
    let key = Arc::as_ptr(central);
    for e in blocks.iter() {
        if e.central == key {
            // SAFETY: `blocks` holds non-null leaked blocks.
            return unsafe { NonNull::new_unchecked(e.block) };
        }
    }
    new_block(h, blocks, central)
}

#[cold]
#[inline(never)]
fn new_block(h: &Hot, blocks: &mut Vec<BlockRef>, central: &Arc<Central>) -> NonNull<Block> {
    let block = Block::create(central, thread_id());
    // SAFETY: the block unregisters its tally in `retire`, before it can be
    // freed (a block is freed only after its merge, which follows), and
    // before `merge` replaces its bins (and the counters beside them).
    unsafe {
        let b = block.as_ref();
        let counts = b.private().bins.class_counts();
        central.registry().register(&b.tally, counts);
    }
    blocks.push(BlockRef { central: Arc::as_ptr(central), block: block.as_ptr() });
    // SAFETY: `blocks` holds this thread's live, unretired blocks, inside a
    // slow operation.
    unsafe { h.refresh(blocks) };
    if central.is_closed() {
        // Make the next operation retire it.
        h.seen_epoch.set(0);
    }
    block
}

// ---- gets -----------------------------------------------------------------

/// A get the fast path did not serve, on this thread's block for `central`:
/// its bin, else the shards (with a refill from the home shard or the
/// overflow), else fresh.
/// Also says whether the memory is recycled (not freshly zeroed).
#[inline]
pub(super) fn acquire(
    h: &Hot,
    blocks: &mut Vec<BlockRef>,
    central: &Arc<Central>,
    len: usize,
    prepaid: usize,
) -> Result<(Mem, NonNull<Block>, bool), AllocError> {
    housekeeping(h, blocks, true);
    let block = block_for(h, blocks, central);
    // SAFETY: this thread's live block, found or created just now.
    let b = unsafe { block.as_ref() };
    // SAFETY: owner-only state, inside a slow operation.
    let p = unsafe { b.private() };
    let fit = central.classes.fit(len);
    if let Fit::Class(c) = fit {
        if !b.inbox.is_empty() {
            take_inbox(b, p, false);
        }
        if !p.bins[c].chain.is_empty() {
            if let Some(mem) = refill_from_chain(b, p, c) {
                // Cached bytes are charged already.
                central.cap.release(prepaid);
                return Ok((mem, block, true));
            }
        }
        let (bin, count) = p.bins.slot(c);
        if let Some(mem) = bin.stack.pop() {
            b.sub_cached(mem.cap);
            Block::count_hit(count);
            central.cap.release(prepaid);
            return Ok((mem, block, true));
        }
        bin.missed = true;
    }
    let (mem, recycled) = miss(b, p, fit, len, prepaid)?;
    Ok((mem, block, recycled))
}

/// Charges `need` bytes against `max_outstanding_bytes` (a no-op without
/// one), less what a granted waiter `prepaid`. At the cap, this thread's own
/// idle bytes go back to the shards first, in case they are what is missing.
fn charge(b: &Block, p: &mut Private, need: usize, len: usize, prepaid: usize) -> Result<(), AllocError> {
    let cap = &b.central.cap;
    debug_assert!(prepaid == 0 || prepaid == need);
    if prepaid >= need {
        cap.release(prepaid - need);
        return Ok(());
    }
    if cap.try_charge(need) {
        return Ok(());
    }
    if b.cached() > 0 || !p.bins.all(|bin| bin.chain.is_empty()) {
        empty(b, p, Empty::ToShards);
        if cap.try_charge(need) {
            return Ok(());
        }
    }
    Err(b.central.over_budget(need.max(len)))
}

#[cold]
#[inline(never)]
fn miss(b: &Block, p: &mut Private, fit: Fit, len: usize, prepaid: usize) -> Result<(Mem, bool), AllocError> {
    let central = &b.central;
    let need = central.charge_of(fit);
    charge(b, p, need, len, prepaid)?;
    let (mem, source) = match central.obtain(fit) {
        Ok(r) => r,
        Err(e) => {
            central.cap.release(need);
            return Err(e);
        }
    };
    debug_assert_eq!(mem.cap, need);
    Tally::bump(source.counter(&b.tally), 1);
    if let Fit::Class(c) = fit {
        ClassTally::bump(&p.bins.count(c).misses, 1);
    }
    if let Source::Shard(home) = source {
        // The buffer's reservation passes from the shard to this cache's
        // lease, so its return needs no new one: a burst's round trip
        // through the shards costs no budget atomics. The lease stays within
        // `tls_cache_bytes`, what a full cache may hold anyway (and the idle
        // clock gives back what no cached buffer uses); past that, the
        // reservation goes back.
        if mem.cap <= central.config.tls_cache_bytes().saturating_sub(p.lease) {
            p.lease += mem.cap;
        } else {
            central.release_budget(mem.cap);
        }
        if let (Some(spot), Fit::Class(c)) = (home, fit) {
            refill(b, p, c, spot);
        }
    }
    Block::count_issued(p);
    b.held_in(&mem);
    Ok((mem, matches!(source, Source::Shard(_))))
}

/// After a miss served by the home shard or the overflow: moves up to half the
/// bin's depth more buffers of the class from there into the bin, so the next gets
/// are fast-path hits (the mirror of a spill, which moves the older half the
/// other way). Their reservations move from the shard into the lease, within
/// `tls_cache_bytes`.
fn refill(b: &Block, p: &mut Private, c: usize, spot: Spot) {
    let central = &b.central;
    let max_bytes = central.config.tls_cache_bytes();
    let (bin, count) = p.bins.slot(c);
    // A bin not yet used has no stack (depth 0): nothing to fill.
    let room = bin.depth.saturating_sub(bin.stack.len());
    let n = (bin.depth / 2).min(room);
    if n == 0 {
        return;
    }
    bin.last_gen = p.seen_gen;
    let need = central.classes.capacity(c);
    for _ in 0..n {
        if !central.cap.try_charge(need) {
            break;
        }
        let Some(mem) = central.pop_from(spot, c) else {
            central.cap.release(need);
            break;
        };
        if mem.cap > max_bytes.saturating_sub(p.lease) {
            central.cap.release(need);
            central.unpop(spot, c, mem);
            break;
        }
        // The buffer's reservation moves with it, from the shard's share of
        // the budget into the lease.
        p.lease += mem.cap;
        b.held_in(&mem);
        b.add_cached(mem.cap);
        debug_assert!(bin.stack.len() < bin.stack.capacity());
        bin.stack.push(mem);
        ClassTally::bump(&count.stacked, 1);
    }
}

/// Takes everything in `b`'s inbox into the bins' chains (closing the
/// inbox if `close`). Owner only, inside a slow operation.
fn take_inbox(b: &Block, p: &mut Private, close: bool) {
    let mut taken = b.inbox.take(close);
    let bins = &mut p.bins;
    let mut bytes = 0;
    while let Some(mem) = taken.pop() {
        let c = mem.class() as usize;
        debug_assert!(c < bins.len());
        bytes += mem.cap;
        // SAFETY: ours again (taken); it fit a link when it was listed.
        unsafe { bins[c].chain.push(mem) };
    }
    b.inbox.taken(bytes);
}

/// A get of class `c` whose chain has buffers: moves up to the bin's room
/// from the chain into the stack (within the lease, which grows as a
/// return's would), and deepens the bin, since gets found it empty with
/// supply at hand: to `tls_cache_size`, and past it by doubling up to
/// `max_cache_depth` (the buffers a consumer thread hands back in batches
/// then come in batches, one miss per depth of gets rather than per
/// `tls_cache_size`). If the lease has room for none, serves the get
/// straight from the chain (returned as `Some`).
fn refill_from_chain(b: &Block, p: &mut Private, c: usize) -> Option<Mem> {
    let central = &b.central;
    let max_depth = central.config.tls_cache_size();
    let max_bytes = central.config.tls_cache_bytes();
    let ceiling = central.config.max_cache_depth();
    let bin = &mut p.bins[c];
    let d = if bin.depth < max_depth { max_depth } else { (bin.depth * 2).min(ceiling) };
    set_depth(bin, d);
    bin.last_gen = p.seen_gen;
    let mut moved = 0;
    loop {
        let bin = &mut p.bins[c];
        if bin.stack.len() >= bin.depth {
            break;
        }
        let Some(mem) = bin.chain.pop() else { break };
        if b.cached() + mem.cap > p.lease {
            let need = b.cached() + mem.cap - p.lease;
            let room = max_bytes.saturating_sub(p.lease);
            let ask = need.saturating_add(mem.cap.saturating_mul(max_depth)).min(room);
            let granted = if need > room { 0 } else { central.lease(need, ask, c) };
            if granted == 0 {
                if moved == 0 {
                    // Straight to the caller, counted as a hit: the refcount
                    // takes the listed return and the new issue. It never
                    // entered the stack, which a hit's count assumes it left.
                    Block::count_returned(p, 1);
                    let count = p.bins.count(c);
                    Block::count_hit(count);
                    ClassTally::bump(&count.stacked, 1);
                    b.listed_out(mem.cap);
                    return Some(mem);
                }
                // SAFETY: ours, and it fit a link before.
                unsafe { p.bins[c].chain.push(mem) };
                break;
            }
            p.lease += granted;
        }
        // Its dropper counted the return, and its bytes as listed.
        Block::count_returned(p, 1);
        b.listed_out(mem.cap);
        b.add_cached(mem.cap);
        let (bin, count) = p.bins.slot(c);
        bin.stack.push(mem);
        ClassTally::bump(&count.stacked, 1);
        moved += 1;
    }
    None
}

/// Empties a bin's chain: to the shards (or freed, as evictions, with
/// `free`). Returns how many, for the caller's `Block::count_returned` (their
/// droppers counted the returns and the bytes in the statistics).
fn flush_chain(b: &Block, bin: &mut Bin, c: usize, free: bool) -> usize {
    let central = &b.central;
    let mut n = 0;
    while let Some(mem) = bin.chain.pop() {
        n += 1;
        b.listed_out(mem.cap);
        b.held_out(&mem);
        if free {
            central.count(&Totals { evictions: 1, ..Default::default() });
            central.free(mem);
        } else {
            central.offer(c, mem, false);
        }
    }
    n
}

/// A get on a thread with no usable cache (inside a TLS destructor, or
/// re-entered): served from the shards or fresh, issued by an orphan block
/// that the buffer's drop frees.
#[cold]
#[inline(never)]
pub(super) fn acquire_orphan(
    central: &Arc<Central>,
    len: usize,
    prepaid: usize,
) -> Result<(Mem, NonNull<Block>, bool), AllocError> {
    let fit = central.classes.fit(len);
    let need = central.charge_of(fit);
    if prepaid >= need {
        central.cap.release(prepaid - need);
    } else if !central.cap.try_charge(need) {
        return Err(central.over_budget(need.max(len)));
    }
    let (mem, source) = match central.obtain(fit) {
        Ok(r) => r,
        Err(e) => {
            central.cap.release(need);
            return Err(e);
        }
    };
    let recycled = matches!(source, Source::Shard(_));
    if recycled {
        // No lease to keep the reservation in.
        central.release_budget(mem.cap);
    }
    central.count_in(|t| source.counter(t), 1);
    if let Fit::Class(c) = fit {
        central.count_class(c, |t| &t.misses);
    }
    central.count_in(|t| &t.held_bytes, mem.cap as u64);
    central.hold(&mem);
    Ok((mem, Block::create_orphan(central), recycled))
}

// ---- returns --------------------------------------------------------------

/// A buffer issued by `issuer` comes back through the slow path: to its own
/// block if that is this thread's and unretired, else into this thread's
/// block for the same pool, whose issuer is then told with one atomic
/// decrement.
///
/// # Safety
/// `issuer` issued the buffer owning this memory, and the buffer's reference
/// to it is consumed. With `Return::Detach` the caller keeps the memory,
/// which must already be unpinned.
#[inline]
pub(super) unsafe fn release(
    h: &Hot,
    blocks: &mut Vec<BlockRef>,
    issuer: NonNull<Block>,
    ptr: NonNull<u8>,
    cap: usize,
    tag: u64,
    how: Return,
) {
    housekeeping(h, blocks, false);
    // SAFETY: the buffer's reference keeps `issuer` live.
    let b = unsafe { issuer.as_ref() };
    // `thread_id()` is never 0, so an orphan block (owner 0) never matches.
    if b.owner == thread_id() {
        // SAFETY: this thread owns `issuer`, inside a slow operation.
        let p = unsafe { b.private() };
        if !p.retired {
            Block::count_returned(p, 1);
            accept(b, p, ptr, cap, tag, how);
            return;
        }
    }
    // An account's buffer gives its charge back to the account (the
    // account's block issues no memory; the buffer goes on as a foreign one).
    if let Some(meter) = &b.meter {
        meter.release(cap);
    }
    // Foreign (or retired) issuer: list the buffer in the issuer's inbox,
    // which passes it (and its reference) to the owner's next miss...
    // Not under an outstanding cap: an inbox's bytes stay charged until its
    // owner's next miss, and an owner that has gone quiet would strand them.
    let central = &b.central;
    let mut how = how;
    let mem = Mem { ptr, cap, tag };
    if how != Return::Detach
        && mem.class() != NOT_POOLED
        && Inbox::fits(&mem)
        && b.owner != 0
        && !central.cap.is_limited()
        && !central.is_closed()
    {
        scrub(central, &mem, how);
        // Found before the push: once listed, the buffer no longer keeps
        // `issuer` (nor `central` through it) alive.
        let mine = block_for(h, blocks, central);
        let class = mem.class();
        // SAFETY: the buffer's memory and its reference to `issuer` are ours
        // to hand over, and it fits a link.
        match unsafe { b.inbox.push(mem, central.config.tls_cache_bytes()) } {
            Ok(()) => {
                // The statistics count the return here, on this thread's own
                // block (single-writer counters); the owner's refcount counts
                // it when it takes the buffer.
                // SAFETY: this thread's live block (it holds its own `Arc`).
                let m = unsafe { mine.as_ref() };
                // SAFETY: owner-only state of our own block, inside a slow
                // operation.
                m.tally_return(unsafe { m.private() }, class);
                m.listed_in(cap);
                return;
            }
            // Closed (the owner retired) or full: scrubbed already.
            Err(_) => how = Return::Unwritten,
        }
    }
    // ... or, if it cannot be listed, take it into this thread's own block,
    // then drop the reference to the issuer.
    if central.is_closed() {
        central.count(&Totals { returns: 1, held_bytes: (cap as u64).wrapping_neg(), ..Default::default() });
        let mem = Mem { ptr, cap, tag };
        if mem.class() != NOT_POOLED {
            central.count_class(mem.class() as usize, |t| &t.returns);
        }
        central.unhold(&mem);
        central.cap.release(cap);
        if how != Return::Detach {
            central.free(Mem { ptr, cap, tag });
        }
    } else {
        let mine = block_for(h, blocks, central);
        // SAFETY: this thread's live block (just found or created).
        let m = unsafe { mine.as_ref() };
        if central.cap.is_limited() {
            // Under an outstanding cap, another thread's buffer goes to the
            // shards rather than into this cache, so its charge comes back
            // now instead of when this thread next touches the pool.
            // SAFETY: owner-only state of our own block, inside a slow operation.
            pass_on(m, unsafe { m.private() }, ptr, cap, tag, how);
        } else {
            // SAFETY: owner-only state of our own block, inside a slow operation.
            let p = unsafe { m.private() };
            accept(m, p, ptr, cap, tag, how);
        }
    }
    // SAFETY: consumes the buffer's reference; `b` and `central` are not
    // used after this.
    unsafe { Block::unref_remote(issuer) };
}

/// A return that cannot use this thread's cache (TLS gone or re-entered).
///
/// # Safety
/// As [`release`].
#[cold]
#[inline(never)]
pub(super) unsafe fn release_orphan(issuer: NonNull<Block>, mem: Mem, how: Return) {
    // SAFETY: the buffer's reference keeps `issuer` live.
    let b = unsafe { issuer.as_ref() };
    let central = &b.central;
    if let Some(meter) = &b.meter {
        meter.release(mem.cap);
    }
    central.count(&Totals { returns: 1, held_bytes: (mem.cap as u64).wrapping_neg(), ..Default::default() });
    if mem.class() != NOT_POOLED {
        central.count_class(mem.class() as usize, |t| &t.returns);
    }
    central.unhold(&mem);
    central.cap.release(mem.cap);
    if how != Return::Detach {
        match mem.class() {
            NOT_POOLED => central.free(mem),
            c => {
                scrub(central, &mem, how);
                central.offer(c as usize, mem, false);
            }
        }
    }
    // A foreign-style decrement is valid for any block, merged or not.
    // SAFETY: consumes the buffer's reference; `central` is not used after this.
    unsafe { Block::unref_remote(issuer) };
}

/// `Zeroing::OnReturn`: scrubs a recycled buffer's whole capacity before it
/// re-enters the pool.
fn scrub(central: &Central, mem: &Mem, how: Return) {
    if how == Return::Recycle && central.config.zeroing() == Zeroing::OnReturn {
        // SAFETY: the caller owns all `cap` bytes of `mem`.
        unsafe { mem.ptr.as_ptr().write_bytes(0, mem.cap) };
    }
}

/// Takes a returned buffer into this thread's block `b`: its bin, the
/// shards, or free. The slow path's counterpart of `fast::give_back`.
fn accept(b: &Block, p: &mut Private, ptr: NonNull<u8>, cap: usize, tag: u64, how: Return) {
    // `Mem` is rebuilt from its words wherever it is handed on, never kept as
    // one value whose address escapes to the slow paths: the push then stores
    // registers instead of copying a stack slot.
    let central = &b.central;
    let class = Mem { ptr, cap, tag }.class();
    b.tally_return(p, class);
    if how == Return::Detach {
        b.held_out(&Mem { ptr, cap, tag });
        return;
    }
    if class == NOT_POOLED {
        b.held_out(&Mem { ptr, cap, tag });
        free_cold(central, ptr, cap, tag);
        return;
    }
    let c = class as usize;
    debug_assert_eq!(central.classes.class_of_capacity(cap), Some(c));
    scrub(central, &Mem { ptr, cap, tag }, how);
    debug_assert!(c < p.bins.len());
    let (bin, count) = p.bins.slot(c);
    if bin.stack.len() < bin.depth && b.cached() + cap <= p.lease {
        // A bin counts as used when something is returned to it: a bin
        // that is only ever popped empties itself anyway.
        bin.last_gen = p.seen_gen;
        b.add_cached(cap);
        bin.stack.push(Mem { ptr, cap, tag });
        ClassTally::bump(&count.stacked, 1);
        return;
    }
    accept_slow(b, p, c, ptr, cap, tag);
}

/// A returned buffer passes through this thread's block `b` to the shards
/// (or is freed), without entering its cache.
fn pass_on(b: &Block, p: &Private, ptr: NonNull<u8>, cap: usize, tag: u64, how: Return) {
    let central = &b.central;
    let mem = Mem { ptr, cap, tag };
    b.tally_return(p, mem.class());
    b.held_out(&mem);
    match (how, mem.class()) {
        (Return::Detach, _) => {}
        (_, NOT_POOLED) => central.free(mem),
        (_, c) => {
            scrub(central, &mem, how);
            central.offer(c as usize, mem, false);
        }
    }
}

/// `central.free`, out of line (see `accept`).
#[cold]
#[inline(never)]
fn free_cold(central: &Central, ptr: NonNull<u8>, cap: usize, tag: u64) {
    central.free(Mem { ptr, cap, tag });
}

/// Sets a bin's depth to `d`, first making its stack's capacity at least `d`:
/// the fast-path push writes below the depth without a capacity check.
fn set_depth(bin: &mut Bin, d: usize) {
    bin.stack.reserve_exact(d.saturating_sub(bin.stack.len()));
    bin.depth = d;
}

/// A return that does not fit its bin as it is: the bin deepens or spills,
/// the lease grows, or the buffer goes to the shards.
#[cold]
#[inline(never)]
fn accept_slow(b: &Block, p: &mut Private, c: usize, ptr: NonNull<u8>, cap: usize, tag: u64) {
    let mem = Mem { ptr, cap, tag };
    let central = &b.central;
    let max_bytes = central.config.tls_cache_bytes();
    if mem.cap > max_bytes {
        // Too big for any thread cache: straight to the shards.
        b.held_out(&mem);
        return central.offer(c, mem, false);
    }
    let start = central.config.tls_cache_size();
    let ceiling = central.config.max_cache_depth();
    let (bin, count) = p.bins.slot(c);
    if bin.stack.capacity() == 0 {
        set_depth(bin, bin.depth.max(start.min(2)));
    }
    if bin.stack.len() >= bin.depth {
        if bin.missed && bin.depth < ceiling {
            // Gets found this bin empty and returns find it full: deepen, by
            // one up to the starting ceiling, then doubling (a burst larger
            // than the defaults' cache).
            let d = if bin.depth < start { bin.depth + 1 } else { (bin.depth * 2).min(ceiling) };
            set_depth(bin, d);
            bin.missed = false;
        }
        if bin.stack.len() >= bin.depth {
            // Spill the older half to the shards; the lease moves with them.
            let n = (bin.stack.len() / 2).max(1);
            let lease = &mut p.lease;
            ClassTally::drop_by(&count.stacked, n as u64);
            let spilled = bin.stack.drain(..n).inspect(|old| {
                b.sub_cached(old.cap);
                b.held_out(old);
                *lease -= old.cap;
            });
            central.spill(c, spilled);
        }
    }
    if b.cached() + mem.cap > p.lease {
        let need = b.cached() + mem.cap - p.lease;
        let room = max_bytes.saturating_sub(p.lease);
        // Lease a little ahead (up to one more buffer) so steady state needs no
        // further reservations.
        let ask = need.saturating_add(mem.cap).min(room);
        let granted = if need > room { 0 } else { central.lease(need, ask, c) };
        if granted == 0 {
            // No room in this cache or in the budget: try the shards (which
            // apply the eviction policy), else free.
            b.held_out(&mem);
            return central.offer(c, mem, false);
        }
        p.lease += granted;
    }
    let (bin, count) = p.bins.slot(c);
    bin.last_gen = p.seen_gen;
    b.add_cached(mem.cap);
    bin.stack.push(mem);
    ClassTally::bump(&count.stacked, 1);
}

/// Adds `n` to the counter `field` picks on this thread's block.
pub(super) fn count(
    h: &Hot,
    blocks: &mut Vec<BlockRef>,
    central: &Arc<Central>,
    field: fn(&Tally) -> &AtomicU64,
    n: u64,
) {
    let block = block_for(h, blocks, central);
    // SAFETY: this thread's live block.
    Tally::bump(field(unsafe { &block.as_ref().tally }), n);
}
