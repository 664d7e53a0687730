//! A pool's state shared by all threads: the shards and the byte budget
//! (`shard.rs`), the idle clock and `Clock` eviction (`clock.rs`), the
//! registry of statistics, and the pool's lifecycle (trim, close). Only slow
//! paths come here. Fields are private; thread caches reach them through the
//! named operations below.

mod clock;
mod shard;

use crate::alloc::{self, Mem, NOT_POOLED};
use crate::budget::Cap;
use crate::class::{Classes, Fit};
use crate::config::{Config, EvictionPolicy};
use crate::error::AllocError;
use crate::stats::{ClassStats, ClassTally, Gauges, Peak, Registry, Stats, Tally, Totals};
use crate::sync::{global_epoch, Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering, StatAtomicU64};
use crate::track::{OutstandingReport, Tracker};
use clock::IdleClock;
use crossbeam_utils::CachePadded;
pub(crate) use shard::Spot;
use shard::{Budget, Shards, Stop};
use std::time::Instant;

/// The state every handle, thread cache and buffer of one pool shares.
pub(crate) struct Central {
    /// The validated settings; immutable.
    pub(crate) config: Config,
    /// The size classes; immutable.
    pub(crate) classes: Classes,
    align: usize,
    shards: Shards,
    budget: Budget,
    /// `max_outstanding_bytes`: charged by thread caches for the bytes in
    /// their hands (see `local/slow.rs` and `budget.rs`).
    pub(crate) cap: Arc<Cap>,
    /// Bumped when a waiter for `cap` asks every thread cache to give its
    /// idle bytes back; caches compare it at their next operation.
    reclaim_epoch: AtomicU64,
    clock: IdleClock,
    pinned_bytes: AtomicUsize,
    pin_failures: AtomicU64,
    closed: AtomicBool,
    trim_epoch: AtomicU64,
    registry: Registry,
    /// Counts from paths with no thread cache of their own (orphan gets and
    /// returns, closed pools, discards, evictions), from any thread.
    shared: Tally,
    /// Per class, as `shared`: the gets and returns of orphan and
    /// closed-pool paths.
    shared_classes: Box<[ClassTally]>,
    /// Bytes in threads' hands (handed out, or idle in a thread cache or an
    /// inbox), with their peak: `peak_outstanding_bytes` when no
    /// `max_outstanding_bytes` counts the same thing (then not kept).
    /// Padded: every thread's misses and spills write it, and the fields
    /// around it are read on every slow path.
    pub(crate) held: CachePadded<Peak>,
    /// The steps in which thread caches publish their shares of `held`
    /// (bytes: half of `tls_cache_bytes`) and of `class_held` (buffers: half
    /// of `tls_cache_size`), each rounded down to a power of two; see
    /// `Peak::publish`.
    pub(crate) held_step: u64,
    pub(crate) class_step: u64,
    /// Per class, the buffers in threads' hands, with their peak (padded
    /// apart, so classes that different threads use do not share a line).
    pub(crate) class_held: Box<[CachePadded<Peak>]>,
    /// Sampled outstanding buffers (`Builder::track_outstanding`).
    tracker: Option<Tracker>,
    /// The registrations of `BufferPool::register_metrics`, refreshed on
    /// each tick of the idle clock (see `metrics.rs`).
    #[cfg(feature = "metrics")]
    published: crate::sync::Mutex<Vec<crate::metrics::Published>>,
}

/// Where [`Central::obtain`] found a buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The shards: the caller's home shard or the class's overflow, where a
    /// refill may take more (`None`: stolen from another shard). The
    /// buffer's budget reservation comes with it.
    Shard(Option<Spot>),
    /// Freshly allocated for its size class.
    Fresh,
    /// Outside every size class: allocated to the exact size.
    Exact,
}

impl Source {
    /// The counter a get served from here bumps.
    pub(crate) fn counter(self, t: &Tally) -> &AtomicU64 {
        match self {
            Source::Shard(Some(_)) => &t.shard_hits,
            Source::Shard(None) => &t.steals,
            Source::Fresh => &t.fresh_allocations,
            Source::Exact => &t.unpooled,
        }
    }
}

impl Central {
    pub(crate) fn new(config: Config) -> Self {
        let align = config.alignment();
        let classes = Classes::new(config.min_buffer_size(), config.max_buffer_size(), align);
        let n = classes.len();
        Central {
            shards: Shards::new(config.num_shards(), n, config.max_buffers_per_shard()),
            budget: Budget::new(config.max_pooled_bytes()),
            cap: Cap::new(config.max_outstanding_bytes(), None, false),
            reclaim_epoch: AtomicU64::new(0),
            clock: IdleClock::new(n, config.idle_timeout()),
            align,
            pinned_bytes: AtomicUsize::new(0),
            pin_failures: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            trim_epoch: AtomicU64::new(0),
            registry: Registry::default(),
            shared: Tally::default(),
            shared_classes: (0..n).map(|_| ClassTally::default()).collect(),
            held: CachePadded::new(Peak::default()),
            held_step: pow2_floor(config.tls_cache_bytes() / 2),
            class_step: pow2_floor(config.tls_cache_size() / 2),
            class_held: (0..n).map(|_| CachePadded::new(Peak::default())).collect(),
            tracker: config.track_outstanding().map(Tracker::new),
            #[cfg(feature = "metrics")]
            published: crate::sync::Mutex::new(Vec::new()),
            classes,
            config,
        }
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `close`, so a thread that sees
        // the pool closed also sees the shards drained before it looks.
        self.closed.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn trim_epoch(&self) -> u64 {
        // Acquire: pairs with the Release increment in `trim`.
        self.trim_epoch.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn reclaim_epoch(&self) -> u64 {
        // Acquire: pairs with the Release increment in `request_reclaim`.
        self.reclaim_epoch.load(Ordering::Acquire)
    }

    /// Asks every thread cache of this pool to give its idle bytes (and
    /// their charge) back to the shards at its next operation, for a waiter
    /// of the outstanding cap.
    pub(crate) fn request_reclaim(&self) {
        // Release: pairs with the Acquire in `reclaim_epoch()`.
        self.reclaim_epoch.fetch_add(1, Ordering::Release);
        Self::bump_global_epoch();
    }

    /// The bytes a request of `fit` charges: its class's capacity, or the
    /// exact allocation.
    #[inline]
    pub(crate) fn charge_of(&self, fit: Fit) -> usize {
        match fit {
            Fit::Class(c) => self.classes.capacity(c),
            Fit::Exact(cap) => cap,
        }
    }

    /// The error for a request of `size` bytes the cap refused.
    pub(crate) fn over_budget(&self, size: usize) -> AllocError {
        AllocError::OverBudget { size, charged: self.cap.used(), max: self.cap.max(), account: false }
    }

    /// The idle clock's generation (see `clock.rs`).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.clock.generation()
    }

    #[inline]
    pub(crate) fn alignment(&self) -> usize {
        self.align
    }

    // ---- memory --------------------------------------------------------

    /// A new allocation for pooled class `class`: zeroed, and pinned if
    /// configured.
    fn alloc_pooled(&self, class: usize) -> Result<Mem, AllocError> {
        let cap = self.classes.capacity(class);
        let ptr = alloc::allocate(cap, self.align, true)?;
        let mut pinned = false;
        if self.config.pinned_memory() && cap > 0 {
            // Relaxed (both): statistics.
            if alloc::pin(ptr, cap) {
                pinned = true;
                self.pinned_bytes.fetch_add(cap, Ordering::Relaxed);
            } else {
                // Relaxed: a statistic, nothing pairs with it.
                self.pin_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Mem::new(ptr, cap, class as u32, pinned))
    }

    /// Frees memory of this pool.
    #[inline]
    pub(crate) fn free(&self, mem: Mem) {
        if mem.pinned() {
            // Relaxed: statistics.
            self.pinned_bytes.fetch_sub(mem.cap, Ordering::Relaxed);
        }
        // SAFETY: every `Mem` of this pool came from `alloc_pooled` or
        // `obtain`'s exact allocation, i.e. `allocate(mem.cap, self.align, _)`.
        unsafe { alloc::free(mem.ptr, mem.cap, self.align, mem.pinned()) }
    }

    /// Forgets that `mem` is pinned (it leaves the pool as a `Vec`).
    pub(crate) fn unpin_for_detach(&self, mem: &mut Mem) {
        if mem.pinned() {
            alloc::unpin(mem.ptr, mem.cap);
            // Relaxed: statistics.
            self.pinned_bytes.fetch_sub(mem.cap, Ordering::Relaxed);
            mem.set_unpinned();
        }
    }

    /// Frees an idle buffer whose budget reservation the caller holds, and
    /// counts it as evicted (a trim, a tick, or a closed pool's cache).
    pub(crate) fn evict(&self, mem: Mem) {
        self.budget.release(mem.cap);
        self.count(&Totals { evictions: 1, ..Default::default() });
        self.free(mem);
    }

    /// Frees a returned buffer the pool will not keep, and counts a discard.
    fn discard(&self, mem: Mem) {
        self.count(&Totals { discards: 1, ..Default::default() });
        self.free(mem);
    }

    // ---- gets ----------------------------------------------------------

    /// A buffer for a get the caller's cache could not serve: from the
    /// shards (home shard first, then the others, then the overflow), else
    /// fresh. The caller keeps a shard buffer's budget reservation (in a
    /// lease) or gives it back with [`release_budget`](Self::release_budget).
    #[inline]
    pub(crate) fn obtain(&self, fit: Fit) -> Result<(Mem, Source), AllocError> {
        match fit {
            Fit::Class(c) => {
                self.clock.mark_used(c);
                match self.shards.pop_near(c) {
                    Some((mem, home)) => Ok((mem, Source::Shard(home))),
                    None => Ok((self.alloc_pooled(c)?, Source::Fresh)),
                }
            }
            Fit::Exact(cap) => {
                let mem = Mem::new(alloc::allocate(cap, self.align, true)?, cap, NOT_POOLED, false);
                Ok((mem, Source::Exact))
            }
        }
    }

    /// One more buffer of `class` from `spot`, for a thread cache
    /// refilling after a miss there; its reservation passes to the caller.
    #[inline]
    pub(crate) fn pop_from(&self, spot: Spot, class: usize) -> Option<Mem> {
        self.shards.pop(spot, class)
    }

    /// Puts back a buffer [`pop_from`](Self::pop_from) gave and the caller
    /// had no room for, with its reservation (to the overflow if the shard
    /// is full).
    #[inline]
    pub(crate) fn unpop(&self, spot: Spot, class: usize, mem: Mem) {
        self.shards.push_all(spot, class, [mem]);
    }

    // ---- returns -------------------------------------------------------

    /// Offers a returned buffer of `class` to the home shard. `reserved` says
    /// whether the caller hands over budget for it. If the pool is closed or
    /// full, the budget is given back and the buffer freed as a discard.
    #[inline]
    pub(crate) fn offer(&self, class: usize, mem: Mem, reserved: bool) {
        let cap = mem.cap;
        if self.is_closed() {
            if reserved {
                self.budget.release(cap);
            }
            return self.discard(mem);
        }
        self.clock.mark_used(class);
        let admitted = reserved || self.budget.reserve(cap) || (self.evict_for(cap, class) && self.budget.reserve(cap));
        if !admitted {
            return self.discard(mem);
        }
        self.push_home(class, [mem]);
    }

    /// Spills a thread cache's older buffers of `class` to the home shard in
    /// one go: one CPU lookup, one byte-count update and one close check for
    /// the batch. Their budget comes with them (the cache's lease moves with
    /// them); what the shard's queue has no slot for goes to the overflow.
    #[inline]
    pub(crate) fn spill(&self, class: usize, mems: impl Iterator<Item = Mem>) {
        if self.is_closed() {
            for mem in mems {
                self.budget.release(mem.cap);
                self.discard(mem);
            }
            return;
        }
        self.clock.mark_used(class);
        self.push_home(class, mems);
    }

    /// Pushes reserved buffers into the home shard, and what its queue has
    /// no slot for into the class's overflow (their reservations bound both).
    #[inline]
    fn push_home(&self, class: usize, mems: impl IntoIterator<Item = Mem>) {
        self.shards.push_all(Spot::Shard(self.shards.home()), class, mems);
        // SeqCst (with the SeqCst store in `close`): either `close` drains after
        // our push, or we see `closed` here and drain ourselves. Nothing is
        // stranded in a closed pool's shards.
        if self.closed.load(Ordering::SeqCst) {
            self.drain(0..self.classes.len(), false);
        }
    }

    // ---- prefill -------------------------------------------------------

    /// Allocates up to `count` buffers for requests of `size` into the
    /// shards' queues, one shard after another from the caller's home shard,
    /// each with a budget reservation. Stops at `count`, when the budget
    /// has no room for one more, when every shard's queue of the class is
    /// full, or when the allocator refuses. Returns how many it added; 0 for
    /// a size no class serves.
    pub(crate) fn prefill(&self, size: usize, count: usize) -> usize {
        let Fit::Class(c) = self.classes.fit(size) else { return 0 };
        let cap = self.classes.capacity(c);
        let n = self.shards.len();
        let mut shard = self.shards.home();
        let mut added = 0;
        while added < count && !self.is_closed() {
            if !self.budget.reserve(cap) {
                break;
            }
            let Ok(mem) = self.alloc_pooled(c) else {
                self.budget.release(cap);
                break;
            };
            // The next shard with a free slot, at most one lap round.
            let mut left = Some(mem);
            for _ in 0..n {
                let Some(mem) = left.take() else { break };
                let s = shard;
                shard = (shard + 1) % n;
                left = self.shards.push_slot(s, c, mem).err();
            }
            if let Some(mem) = left {
                self.budget.release(cap);
                self.free(mem);
                break;
            }
            added += 1;
        }
        if added > 0 {
            // Counted as shard traffic, so the idle clock keeps them for a
            // whole tick at least.
            self.clock.mark_used(c);
            self.count(&Totals { prefilled: added as u64, ..Default::default() });
            // SeqCst: as in `push_home`, nothing stays in a closed pool.
            if self.closed.load(Ordering::SeqCst) {
                self.drain(0..self.classes.len(), false);
            }
        }
        added
    }

    // ---- the budget, for thread caches' leases --------------------------

    /// Leases budget for a thread cache of class `class` that needs `need`
    /// more bytes and would like `ask >= need`: `ask` if the budget has it,
    /// else `need` (evicting idle buffers under `Clock` if that makes room),
    /// else nothing. Returns the bytes granted.
    #[inline]
    pub(crate) fn lease(&self, need: usize, ask: usize, class: usize) -> usize {
        if self.budget.reserve(ask) {
            ask
        } else if self.budget.reserve(need) || (self.evict_for(need, class) && self.budget.reserve(need)) {
            need
        } else {
            0
        }
    }

    /// Gives back `n` bytes of a thread cache's lease.
    #[inline]
    pub(crate) fn release_budget(&self, n: usize) {
        self.budget.release(n);
    }

    /// `Clock`: makes room for `bytes` more by freeing idle shard buffers of
    /// classes whose second-chance bit is clear, other than `except`, until
    /// the shortfall is covered. `Lifo` never evicts. Returns whether the
    /// shortfall was covered.
    fn evict_for(&self, bytes: usize, except: usize) -> bool {
        if self.config.eviction_policy() != EvictionPolicy::Clock {
            return false;
        }
        // Only the part the budget cannot already cover needs evicting.
        let bytes = self.budget.shortfall(bytes);
        if bytes == 0 {
            return true;
        }
        let mut freed = 0;
        let mut evicted = 0;
        let covered = self.clock.sweep(except, |k| {
            let stop = self.shards.drain(k..k + 1, |mem| {
                freed += mem.cap;
                evicted += 1;
                self.budget.release(mem.cap);
                self.free(mem);
                if freed >= bytes {
                    Stop::Yes
                } else {
                    Stop::No
                }
            });
            stop == Stop::Yes
        });
        self.count(&Totals { evictions: evicted, ..Default::default() });
        covered
    }

    /// Frees every idle buffer of `classes` in the shards; `count` counts
    /// them as evictions.
    fn drain(&self, classes: std::ops::Range<usize>, count: bool) {
        let mut evicted = 0;
        self.shards.drain(classes, |mem| {
            evicted += 1;
            self.budget.release(mem.cap);
            self.free(mem);
            Stop::No
        });
        if count {
            self.count(&Totals { evictions: evicted, ..Default::default() });
        }
    }

    // ---- lifecycle -----------------------------------------------------

    fn bump_global_epoch() {
        // Release: pairs with nothing that needs it strictly (threads re-read
        // the pool's own state with Acquire); Release keeps the bump after the
        // state change it announces, so a thread that notices the bump finds it.
        global_epoch().fetch_add(1, Ordering::Release);
    }

    /// Closes the pool (its last handle dropped): returns go to the OS from now
    /// on, and the shards are emptied.
    pub(crate) fn close(&self) {
        // SeqCst: see `push_home`.
        self.closed.store(true, Ordering::SeqCst);
        self.drain(0..self.classes.len(), false);
        Self::bump_global_epoch();
    }

    /// Frees every idle buffer in the shards now; thread caches follow at
    /// their next operation (they see the new trim epoch).
    pub(crate) fn trim(&self) {
        self.drain(0..self.classes.len(), true);
        // Release: pairs with the Acquire in `trim_epoch()`.
        self.trim_epoch.fetch_add(1, Ordering::Release);
        Self::bump_global_epoch();
    }

    /// Advances the idle clock if `idle_timeout` has passed since the last tick.
    pub(crate) fn maybe_tick(&self, now: Instant) {
        if self.clock.due(now) {
            self.tick();
        }
    }

    /// One tick of the idle clock: free shard buffers of classes with no shard
    /// traffic during the whole last generation, and clear every class's
    /// second-chance bit.
    pub(crate) fn tick(&self) {
        for k in self.clock.advance() {
            self.drain(k..k + 1, true);
        }
        Self::bump_global_epoch();
        #[cfg(feature = "metrics")]
        self.refresh_metrics(false);
    }

    /// Publishes a new registration of this pool's statistics.
    #[cfg(feature = "metrics")]
    pub(crate) fn register_metrics(&self, name: &str) {
        let p = crate::metrics::Published::register(name);
        p.refresh(&self.stats(), &self.class_stats());
        self.published.lock().push(p);
    }

    /// Sets every registration's handles from fresh snapshots. With `wait`
    /// false (the idle clock's tick, on some thread's slow path), skipped
    /// while another refresh runs.
    #[cfg(feature = "metrics")]
    pub(crate) fn refresh_metrics(&self, wait: bool) {
        let published = if wait { Some(self.published.lock()) } else { self.published.try_lock() };
        let Some(published) = published else { return };
        if published.is_empty() {
            return;
        }
        let (s, per_class) = (self.stats(), self.class_stats());
        for p in published.iter() {
            p.refresh(&s, &per_class);
        }
    }

    // ---- statistics ----------------------------------------------------

    /// Counts `t` in the pool's shared counters (any thread may).
    pub(crate) fn count(&self, t: &Totals) {
        self.shared.add_shared(t);
    }

    /// Adds `n` to the shared counter `pick` chooses (any thread may).
    pub(crate) fn count_in(&self, pick: impl FnOnce(&Tally) -> &AtomicU64, n: u64) {
        // Relaxed: statistics; nothing is published through them.
        pick(&self.shared).fetch_add(n, Ordering::Relaxed);
    }

    /// The tracking state, if this pool tracks outstanding buffers.
    #[inline]
    pub(crate) fn tracker(&self) -> Option<&Tracker> {
        self.tracker.as_ref()
    }

    /// The live sampled buffers, and what `Bytes` alone keeps alive.
    pub(crate) fn outstanding_report(&self) -> OutstandingReport {
        let s = self.stats();
        match &self.tracker {
            Some(t) => t.report(s.frozen_buffers, s.frozen_bytes, s.outstanding_buffers),
            None => OutstandingReport::untracked(s.frozen_buffers, s.frozen_bytes, s.outstanding_buffers),
        }
    }

    /// The registry of this pool's thread caches' counters.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut t = self.shared.snapshot();
        let (blocks, shard_bytes, mut all) = self.registry.sum(|| self.shards.bytes() as u64);
        t.add(&blocks);
        self.shared_classes.iter().for_each(|c| all.add(&c.snapshot()));
        let peak_outstanding_bytes = if self.cap.is_limited() { self.cap.peak() as u64 } else { self.held.peak() };
        let g = Gauges {
            shard_bytes,
            // Relaxed: statistics.
            pinned_bytes: self.pinned_bytes.load(Ordering::Relaxed) as u64,
            pin_failures: self.pin_failures.load(Ordering::Relaxed),
            peak_outstanding_bytes,
            peak_pooled_bytes: self.budget.peak() as u64,
        };
        Stats::from_totals(&t, &all, &g)
    }

    /// Per size class in use, its counters (see `ClassStats`).
    pub(crate) fn class_stats(&self) -> Vec<ClassStats> {
        let mut sums = self.registry.class_sums(self.classes.len());
        for (s, c) in sums.iter_mut().zip(self.shared_classes.iter()) {
            s.add(&c.snapshot());
        }
        sums.iter()
            .enumerate()
            .map(|(c, t)| {
                let shard_buffers = self.shards.class_len(c) as u64;
                ClassStats::from_totals(self.classes.capacity(c), t, shard_buffers, self.class_held[c].peak())
            })
            .filter(ClassStats::in_use)
            .collect()
    }

    /// Adds 1 to the shared per-class counter `pick` chooses for class `c`
    /// (any thread may).
    pub(crate) fn count_class(&self, c: usize, pick: impl FnOnce(&ClassTally) -> &StatAtomicU64) {
        // Relaxed: statistics; nothing is published through them.
        pick(&self.shared_classes[c]).fetch_add(1, Ordering::Relaxed);
    }

    /// `mem` came into a thread's hands on a path with no thread cache (an
    /// orphan get): the peaks' gauges rise, exactly. Thread caches publish
    /// theirs in steps instead (`Block::held_in`).
    #[inline]
    pub(crate) fn hold(&self, mem: &Mem) {
        if cfg!(bufpool_no_stats) {
            return;
        }
        if !self.cap.is_limited() {
            self.held.add(mem.cap as u64);
        }
        if mem.class() != NOT_POOLED {
            self.class_held[mem.class() as usize].add(1);
        }
    }

    /// `mem` left a thread's hands on a path with no thread cache (an orphan
    /// or closed-pool return): the undo of [`hold`](Self::hold).
    #[inline]
    pub(crate) fn unhold(&self, mem: &Mem) {
        if cfg!(bufpool_no_stats) {
            return;
        }
        if !self.cap.is_limited() {
            self.held.sub(mem.cap as u64);
        }
        if mem.class() != NOT_POOLED {
            self.class_held[mem.class() as usize].sub(1);
        }
    }

    /// Bytes reserved against `max_pooled_bytes` (shards plus thread-cache
    /// leases).
    #[cfg(feature = "test-util")]
    pub(crate) fn reserved_bytes(&self) -> usize {
        let r = self.budget.reserved();
        debug_assert!(r <= self.budget.max());
        r
    }
}

/// The largest power of two at most `n` (and at most 2^40, so that the
/// steps' arithmetic in `Peak::publish` cannot overflow for any settings),
/// and 1 for 0.
fn pow2_floor(n: usize) -> u64 {
    let n = (n as u64).clamp(1, 1 << 40);
    1 << (u64::BITS - 1 - n.leading_zeros())
}

impl Drop for Central {
    fn drop(&mut self) {
        // No handle and no thread cache remains; free what the shards hold.
        self.drain(0..self.classes.len(), false);
    }
}
