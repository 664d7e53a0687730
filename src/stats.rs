//! Counters, their registry, and the [`Stats`] snapshot.
//!
//! Every thread counts into its own cache block's [`Tally`] with single-writer
//! counters: the owner does a `Relaxed` load and a `Relaxed` store (a plain
//! `add` to memory on x86-64, never a locked read-modify-write), and
//! [`BufferPool::stats`] sums the registered tallies on read. The tally of a
//! retiring block is folded into the registry's totals under the registry
//! lock, so a snapshot never counts a thread twice or not at all.
//!
//! [`BufferPool::stats`]: crate::BufferPool::stats

use crate::sync::{AtomicU64, Mutex, Ordering, StatAtomicU64};
use std::fmt;
use std::ptr::NonNull;

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// One set of counters: a block's (single writer, its owner thread,
        /// through `bump` and friends), or a pool's shared ones (any thread,
        /// through `add_shared`). Many readers.
        #[derive(Default)]
        pub(crate) struct Tally {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A plain copy of a [`Tally`], for folding and summing.
        #[derive(Default, Clone, Copy, Debug)]
        pub(crate) struct Totals {
            $(pub(crate) $name: u64,)*
        }

        impl Tally {
            /// A racy but per-counter-consistent copy.
            pub(crate) fn snapshot(&self) -> Totals {
                // Relaxed: each counter is read on its own; a snapshot taken
                // while the owner counts may be a few events old, never torn.
                Totals { $($name: self.$name.load(Ordering::Relaxed),)* }
            }

            /// Adds `t` with atomic read-modify-writes: for counters that
            /// several threads write (the pool's own, on slow paths).
            pub(crate) fn add_shared(&self, t: &Totals) {
                // Relaxed: statistics; nothing is published through them.
                $(if t.$name != 0 { self.$name.fetch_add(t.$name, Ordering::Relaxed); })*
            }
        }

        impl Totals {
            pub(crate) fn add(&mut self, o: &Totals) {
                $(self.$name = self.$name.wrapping_add(o.$name);)*
            }
        }
    };
}

counters!(
    shard_hits,
    steals,
    fresh_allocations,
    unpooled,
    returns,
    discards,
    evictions,
    held_bytes,
    cached_bytes,
    listed_bytes,
    right_sized,
    frozen_bytes,
    prefilled,
    frozen_buffers,
);

impl Tally {
    /// Adds `n` to a counter that only the calling thread writes.
    #[inline(always)]
    pub(crate) fn bump(c: &AtomicU64, n: u64) {
        // `--cfg bufpool_no_stats` exists only so the `stats_overhead` bench can
        // measure what counting costs; never use it in production.
        if cfg!(bufpool_no_stats) {
            return;
        }
        // Relaxed load + Relaxed store: this thread is the only writer, so no
        // update can be lost; readers (stats) only need an untorn value. Pairs
        // with nothing: no other memory is published through a counter.
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Adds `n` to a single-writer gauge the pool itself relies on (the bytes
    /// a thread cache holds): unlike `bump`, never compiled out.
    #[inline(always)]
    pub(crate) fn add_owned(c: &AtomicU64, n: u64) {
        // Relaxed load + store, single writer: see `bump`.
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Subtracts `n` from a single-writer gauge; see `add_owned`.
    #[inline(always)]
    pub(crate) fn sub_owned(c: &AtomicU64, n: u64) {
        c.store(c.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }

    /// Subtracts `n` from a single-writer counter (wrapping; summed totals are
    /// exact even if one block's share is "negative").
    #[inline(always)]
    pub(crate) fn drop_by(c: &AtomicU64, n: u64) {
        if cfg!(bufpool_no_stats) {
            return;
        }
        // Relaxed load + store, single writer: see `bump` (pairs with nothing).
        c.store(c.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }
}

/// One size class's counters in one block, kept beside the class's bin (see
/// `local/block.rs`, `Slot`) so the fast paths count with the pointer they
/// already hold; in `Central` for the paths with no block. Single writer in
/// a block (the owner, load + store as in [`Tally::bump`]), `fetch_add` in
/// `Central`. Statistics atomics (std's under loom too): the owner reads
/// `hits` and `fast_returns` for its refcount on its own thread, and the
/// total reaches other threads through `Block::merge`'s RMW, never through
/// these.
///
/// How each per-class figure derives from them, summed over blocks:
/// gets = `hits + misses`; returns = `fast_returns + returns`; buffers idle
/// in thread caches = `stacked + fast_returns - hits`.
#[derive(Default)]
pub(crate) struct ClassTally {
    /// Gets served from a block's bin of this class, on the fast path or the
    /// slow one. With `fast_returns`, part of the block's refcount.
    pub(crate) hits: StatAtomicU64,
    /// Returns into the bin on the fast path.
    pub(crate) fast_returns: StatAtomicU64,
    /// Gets of this class not served by the calling thread's cache: from the
    /// shards (home, stolen, overflow) or freshly allocated.
    pub(crate) misses: StatAtomicU64,
    /// Returns of this class through a slow path (into a bin, the shards, an
    /// inbox, or freed).
    pub(crate) returns: StatAtomicU64,
    /// The slow paths' moves in and out of the bin's stack that `hits` and
    /// `fast_returns` do not count: +1 per slow push, -1 per buffer drained
    /// (spill, decay, empty), +1 per hit served from the chain without
    /// passing through the stack.
    pub(crate) stacked: StatAtomicU64,
    /// Buffers of this class that came into this thread's hands minus those
    /// that left them (a share of `Central::class_held`; may be "negative"),
    /// and the part of it published there (see [`Peak::publish`]). Neither
    /// is summed by the registry.
    pub(crate) held: StatAtomicU64,
    pub(crate) published: StatAtomicU64,
}

/// A plain copy of a [`ClassTally`], or a sum of them.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct ClassTotals {
    pub(crate) hits: u64,
    pub(crate) fast_returns: u64,
    pub(crate) misses: u64,
    pub(crate) returns: u64,
    pub(crate) stacked: u64,
}

impl ClassTally {
    /// Adds `n` to a counter that only the calling thread writes: as
    /// [`Tally::bump`], compiled out under `--cfg bufpool_no_stats`.
    #[inline(always)]
    pub(crate) fn bump(c: &StatAtomicU64, n: u64) {
        if cfg!(bufpool_no_stats) {
            return;
        }
        // Relaxed load + store, single writer: see `Tally::bump`.
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Subtracts `n` from a single-writer counter; see `bump`.
    #[inline(always)]
    pub(crate) fn drop_by(c: &StatAtomicU64, n: u64) {
        if cfg!(bufpool_no_stats) {
            return;
        }
        // Relaxed load + store, single writer: see `Tally::bump`.
        c.store(c.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }

    /// Adds `n` to `hits` or `fast_returns`, which the refcount relies on:
    /// as [`Tally::add_owned`], never compiled out.
    #[inline(always)]
    pub(crate) fn add_owned(c: &StatAtomicU64, n: u64) {
        // Relaxed load + store, single writer: see `Tally::bump`.
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// A racy but per-counter-consistent copy.
    pub(crate) fn snapshot(&self) -> ClassTotals {
        // Relaxed: as `Tally::snapshot`.
        ClassTotals {
            hits: self.hits.load(Ordering::Relaxed),
            fast_returns: self.fast_returns.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            returns: self.returns.load(Ordering::Relaxed),
            stacked: self.stacked.load(Ordering::Relaxed),
        }
    }
}

impl ClassTotals {
    pub(crate) fn add(&mut self, o: &ClassTotals) {
        self.hits = self.hits.wrapping_add(o.hits);
        self.fast_returns = self.fast_returns.wrapping_add(o.fast_returns);
        self.misses = self.misses.wrapping_add(o.misses);
        self.returns = self.returns.wrapping_add(o.returns);
        self.stacked = self.stacked.wrapping_add(o.stacked);
    }
}

/// A gauge that remembers its highest value: `now` moves by `fetch_add` /
/// `fetch_sub` (slow paths only), and every add that takes it past `peak`
/// raises `peak`. Since `now` only rises through `add`, `peak` is the exact
/// maximum of `now` over its history.
#[derive(Default)]
pub(crate) struct Peak {
    now: StatAtomicU64,
    peak: StatAtomicU64,
}

impl Peak {
    pub(crate) fn add(&self, n: u64) {
        // Relaxed (all three): a statistic; nothing is published through it.
        // The RMW returns the value this add moved from, so `v` is a value
        // `now` really held.
        let v = self.now.fetch_add(n, Ordering::Relaxed).wrapping_add(n);
        if v > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(v, Ordering::Relaxed);
        }
    }

    pub(crate) fn sub(&self, n: u64) {
        // Relaxed: see `add`.
        self.now.fetch_sub(n, Ordering::Relaxed);
    }

    /// Publishes one writer's share `share` of this gauge in steps of
    /// `step` (a power of two), so the shared RMWs come once per step of
    /// movement rather than once per buffer. `published` (single writer,
    /// the share's owner) is what this writer has added so far; afterwards
    /// `share <= published < share + 2 * step`: moving up, it is `share`
    /// rounded up to a multiple of `step`; moving down, only once `share` is
    /// `2 * step` below it, to that rounding plus one step (so a share
    /// hovering at a multiple of `step` does not publish every time). `step`
    /// 0 publishes exactly.
    ///
    /// So `now` is never below the sum of the shares, and above it by less
    /// than `2 * step` per writer.
    #[inline(always)]
    pub(crate) fn publish(&self, share: i64, published: &StatAtomicU64, step: u64) {
        debug_assert!(step == 0 || step.is_power_of_two());
        // Relaxed: single writer (see `Tally::bump`).
        let have = published.load(Ordering::Relaxed) as i64;
        let step = step as i64;
        // Inline, the test whether anything is to be published; out of
        // line, the publishing.
        if share > have || share.saturating_add(2 * step) <= have || step == 0 {
            self.publish_now(share, published, have, step);
        }
    }

    #[cold]
    #[inline(never)]
    fn publish_now(&self, share: i64, published: &StatAtomicU64, have: i64, step: i64) {
        // Rounded up to a multiple of the step (a power of two), in two's
        // complement, so a "negative" share rounds towards zero.
        let up = |v: i64| v.wrapping_add(step - 1) & !(step - 1);
        let want = if step == 0 {
            share
        } else if share > have {
            up(share)
        } else {
            up(share).wrapping_add(step)
        };
        if want > have {
            self.add((want - have) as u64);
        } else if want < have {
            self.sub((have - want) as u64);
        }
        // Relaxed: single writer.
        published.store(want as u64, Ordering::Relaxed);
    }

    /// The highest value `now` has held.
    pub(crate) fn peak(&self) -> u64 {
        // Relaxed: a statistic.
        self.peak.load(Ordering::Relaxed)
    }
}

/// Where a block's per-class counters are: `len` of them, `stride` bytes
/// apart from `first` (each beside its class's bin).
#[derive(Clone, Copy)]
pub(crate) struct ClassCounts {
    first: NonNull<ClassTally>,
    stride: usize,
    len: usize,
}

impl ClassCounts {
    /// How many classes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// # Safety
    /// `first` and the `len - 1` `ClassTally`s at multiples of `stride`
    /// bytes after it are valid for as long as the registration that
    /// holds this value (see [`Registry::register`]).
    pub(crate) unsafe fn new(first: NonNull<ClassTally>, stride: usize, len: usize) -> Self {
        Self { first, stride, len }
    }

    /// The counters of class `c`.
    ///
    /// # Safety
    /// `c < len`, and the counters are still valid (see [`new`](Self::new)).
    pub(crate) unsafe fn get(&self, c: usize) -> &ClassTally {
        debug_assert!(c < self.len);
        // SAFETY: per the contract, within the array `new` describes.
        unsafe { &*self.first.as_ptr().byte_add(c * self.stride) }
    }
}

/// A registered block: pointers into it.
struct Registered {
    tally: NonNull<Tally>,
    classes: ClassCounts,
}
// SAFETY: the registry only reads a registered block's atomics, which is
// sound from any thread; `Tally` and `ClassTally` are `Sync`.
unsafe impl Send for Registered {}

/// The tallies of a pool's thread caches, and what retired ones counted.
pub(crate) struct Registry {
    inner: Mutex<Listed>,
}

impl Default for Registry {
    fn default() -> Self {
        Self { inner: Mutex::new(Listed::default()) }
    }
}

#[derive(Default)]
struct Listed {
    live: Vec<Registered>,
    retired: Totals,
    /// Per class, what retired blocks counted.
    retired_classes: Vec<ClassTotals>,
}

impl Registry {
    /// Registers a block's counters for [`sum`](Self::sum).
    ///
    /// # Safety
    /// `t` and the counters `classes` points to stay valid until
    /// [`unregister`](Self::unregister) is called with `t`.
    pub(crate) unsafe fn register(&self, t: &Tally, classes: ClassCounts) {
        self.inner.lock().live.push(Registered { tally: NonNull::from(t), classes });
    }

    /// Removes `t` and folds its counts into the totals, in one critical
    /// section, so `sum` never sees it twice or not at all.
    pub(crate) fn unregister(&self, t: &Tally) {
        let mut r = self.inner.lock();
        if let Some(i) = r.live.iter().position(|p| p.tally == NonNull::from(t)) {
            let gone = r.live.swap_remove(i);
            r.retired.add(&t.snapshot());
            let n = gone.classes.len;
            if r.retired_classes.len() < n {
                r.retired_classes.resize(n, ClassTotals::default());
            }
            for c in 0..n {
                // SAFETY: registered until now: `register`'s contract.
                let s = unsafe { gone.classes.get(c) }.snapshot();
                r.retired_classes[c].add(&s);
            }
        }
    }

    /// Every registered tally summed, with what retired ones counted; then
    /// `between()`; then the per-class counters summed over classes too.
    /// Allocates nothing. `between` reads the shards' bytes: the byte
    /// gauges (`cached_bytes` here, the shards' there) are read as close
    /// together as possible, since a buffer moving between a cache and a
    /// shard in the gap is counted twice or not at all.
    pub(crate) fn sum<R>(&self, between: impl FnOnce() -> R) -> (Totals, R, ClassTotals) {
        let r = self.inner.lock();
        let mut t = r.retired;
        for p in &r.live {
            // SAFETY: registered tallies are live: `register`'s contract.
            t.add(&unsafe { p.tally.as_ref() }.snapshot());
        }
        let read = between();
        let mut all = ClassTotals::default();
        r.retired_classes.iter().for_each(|c| all.add(c));
        for p in &r.live {
            for c in 0..p.classes.len {
                // SAFETY: registered counters are live, and `c < len`.
                all.add(&unsafe { p.classes.get(c) }.snapshot());
            }
        }
        (t, read, all)
    }

    /// The per-class counters of every block, live and retired, for the
    /// first `n` classes (the pool's).
    pub(crate) fn class_sums(&self, n: usize) -> Vec<ClassTotals> {
        let mut out = vec![ClassTotals::default(); n];
        let r = self.inner.lock();
        for (o, c) in out.iter_mut().zip(&r.retired_classes) {
            o.add(c);
        }
        for p in &r.live {
            for (c, o) in out.iter_mut().enumerate().take(p.classes.len) {
                // SAFETY: registered counters are live, and `c < len`.
                o.add(&unsafe { p.classes.get(c) }.snapshot());
            }
        }
        out
    }
}

/// A snapshot of a pool's counters. Monotonic counts cover the pool's life;
/// the byte and buffer gauges are as of the snapshot.
///
/// ```
/// let pool = bufpool::BufferPool::new();
/// drop(pool.get(64 * 1024));
/// drop(pool.get(64 * 1024));
/// let s = pool.stats();
/// assert_eq!(s.gets, 2);
/// assert_eq!(s.fresh_allocations, 1);
/// assert_eq!(s.cache_hits, 1);
/// assert_eq!(s.outstanding_buffers, 0);
/// println!("{s}");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Buffers handed out (every kind below summed).
    pub gets: u64,
    /// Gets served from the calling thread's cache.
    pub cache_hits: u64,
    /// Gets served from the calling thread's home shard or the class's
    /// overflow (the shards' store past their queues).
    pub shard_hits: u64,
    /// Gets served from another shard.
    pub steals: u64,
    /// Gets that allocated a new pooled buffer.
    pub fresh_allocations: u64,
    /// Gets outside `[min_buffer_size, max_buffer_size]`, served exactly and
    /// freed on drop.
    pub unpooled: u64,
    /// Buffers that came back (dropped, detached with `into_vec`, or frozen
    /// `Bytes` whose last clone dropped).
    pub returns: u64,
    /// Returned poolable buffers freed because the pool was full or closed.
    pub discards: u64,
    /// Idle buffers freed to make room (`Clock`), by the idle clock, or by `trim`.
    pub evictions: u64,
    /// Reads whose small result was moved into a right-sized buffer.
    pub right_sized: u64,
    /// Bytes retained idle in thread caches and shards (what
    /// `max_pooled_bytes` bounds).
    pub pooled_bytes: u64,
    /// Bytes of buffers dropped on another thread than the one that got
    /// them, listed for that thread to take back at its next miss (or idle
    /// tick, trim, exit): idle, outside the budget, at most
    /// `tls_cache_bytes` per thread and pool. Neither pooled nor outstanding.
    pub listed_bytes: u64,
    /// Buffers handed out and not yet returned.
    pub outstanding_buffers: u64,
    /// Capacity of the buffers handed out and not yet returned.
    pub outstanding_bytes: u64,
    /// Of `outstanding_bytes`, the capacity of buffers that live on only
    /// inside `Bytes` (frozen with `PooledBuffer::freeze`, feature `bytes`):
    /// what slices kept by the application pin, however small the slices.
    pub frozen_bytes: u64,
    /// How many buffers live on only inside `Bytes` (those whose capacity
    /// `frozen_bytes` sums).
    pub frozen_buffers: u64,
    /// Bytes currently mlocked by this pool.
    pub pinned_bytes: u64,
    /// Buffers [`BufferPool::prefill`](crate::BufferPool::prefill) put in
    /// the shards (they count as no get and no fresh allocation).
    pub prefilled: u64,
    /// Buffers that could not be mlocked and were served unpinned.
    pub pin_failures: u64,
    /// The most bytes the pool's users and thread caches have held at once:
    /// the highest value of `outstanding_bytes` plus the bytes idle in
    /// thread caches and inboxes, kept by the slow paths (where that sum
    /// moves; a cache hit or a return into the cache does not change it),
    /// each thread cache publishing its share rounded up, in steps of half
    /// its `tls_cache_bytes`. So it is never below the true peak of
    /// `outstanding_bytes`, and above it by less than what was idle in
    /// threads' hands at that moment (at most `tls_cache_bytes` per thread
    /// cache in the bins, plus the `listed_bytes` of that moment) plus one
    /// `tls_cache_bytes` per thread cache for the steps. Exact for a thread
    /// that has exited. Under `max_outstanding_bytes` it is the
    /// cap's own peak charge (which also counts bytes granted to waiters
    /// not yet woken). At least `outstanding_bytes` in every snapshot.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let held: Vec<_> = (0..3).map(|_| pool.get(64 * 1024)).collect();
    /// drop(held);
    /// let s = pool.stats();
    /// assert_eq!(s.outstanding_bytes, 0);
    /// assert!(s.peak_outstanding_bytes >= 3 * 64 * 1024);
    /// ```
    pub peak_outstanding_bytes: u64,
    /// The most bytes the pool has reserved for idle buffers at once: the
    /// highest value of its `max_pooled_bytes` budget's count (bytes in the
    /// shards plus the thread caches' leases), kept by the slow paths that
    /// reserve. A lease covers a cache's idle bytes, so this is never below
    /// the true peak of `pooled_bytes`, and above it by at most the unused
    /// part of each thread cache's lease (at most `tls_cache_bytes` per
    /// thread cache). At least `pooled_bytes` in every snapshot.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// pool.prefill(64 * 1024, 4);
    /// pool.trim();
    /// let s = pool.stats();
    /// assert_eq!(s.pooled_bytes, 0);
    /// assert!(s.peak_pooled_bytes >= 4 * 64 * 1024);
    /// ```
    pub peak_pooled_bytes: u64,
}

/// What [`Stats::from_totals`] takes from outside the counters.
pub(crate) struct Gauges {
    pub(crate) shard_bytes: u64,
    pub(crate) pinned_bytes: u64,
    pub(crate) pin_failures: u64,
    pub(crate) peak_outstanding_bytes: u64,
    pub(crate) peak_pooled_bytes: u64,
}

impl Stats {
    pub(crate) fn from_totals(t: &Totals, all: &ClassTotals, g: &Gauges) -> Self {
        let gets = all.hits + t.shard_hits + t.steals + t.fresh_allocations + t.unpooled;
        // Cache hits and fast-path returns are counted per class, beside
        // each bin: those counters are part of a block's refcount (see
        // `local/block.rs`).
        let returns = t.returns.wrapping_add(all.fast_returns);
        let pooled_bytes = g.shard_bytes.wrapping_add(t.cached_bytes);
        // `held_bytes` is bytes handed out minus bytes returned plus bytes
        // cached (see `local/block.rs`): it moves only on slow paths.
        let outstanding_bytes =
            (t.held_bytes.wrapping_sub(t.cached_bytes).wrapping_sub(t.listed_bytes) as i64).max(0) as u64;
        Stats {
            gets,
            cache_hits: all.hits,
            shard_hits: t.shard_hits,
            steals: t.steals,
            fresh_allocations: t.fresh_allocations,
            unpooled: t.unpooled,
            returns,
            discards: t.discards,
            evictions: t.evictions,
            right_sized: t.right_sized,
            pooled_bytes,
            // Buffers in blocks' inboxes and chains, idle but not yet back in
            // a bin (see `local/inbox.rs`).
            listed_bytes: t.listed_bytes,
            outstanding_buffers: gets.saturating_sub(returns),
            outstanding_bytes,
            // Added by the freezing thread, taken off by the one that drops
            // the last `Bytes`: only the sum over all tallies is meaningful.
            frozen_bytes: (t.frozen_bytes as i64).max(0) as u64,
            frozen_buffers: (t.frozen_buffers as i64).max(0) as u64,
            pinned_bytes: g.pinned_bytes,
            pin_failures: g.pin_failures,
            prefilled: t.prefilled,
            // The peaks are read apart from the counters, so a snapshot taken
            // while threads run could see a gauge above the peak it has not
            // yet raised; the max keeps "peak >= now" true in every snapshot.
            peak_outstanding_bytes: g.peak_outstanding_bytes.max(outstanding_bytes),
            peak_pooled_bytes: g.peak_pooled_bytes.max(pooled_bytes),
        }
    }

    /// Fraction of gets served without allocating (0.0 to 1.0).
    pub fn hit_rate(&self) -> f64 {
        if self.gets == 0 {
            return 0.0;
        }
        1.0 - (self.fresh_allocations + self.unpooled) as f64 / self.gets as f64
    }
}

/// One size class's counters, from [`BufferPool::class_stats`]: one entry
/// per class in use (with a get or an idle buffer so far), smallest first.
///
/// Every field is a sum over the pool's thread caches, as [`Stats`] is, and
/// as exact: the counts are racy while other threads run (each counter is
/// read on its own) and exact once they are quiet.
///
/// ```
/// let pool = bufpool::BufferPool::new();
/// let a = pool.get(64 * 1024);
/// drop(pool.get(64 * 1024));
/// let per_class = pool.class_stats();
/// let c = per_class.iter().find(|c| c.capacity == a.capacity()).unwrap();
/// assert_eq!((c.gets, c.misses, c.outstanding_buffers), (2, 2, 1));
/// assert_eq!(c.idle_buffers, 1);
/// assert!(c.peak_outstanding_buffers >= 2);
/// ```
///
/// [`BufferPool::class_stats`]: crate::BufferPool::class_stats
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassStats {
    /// The capacity of every buffer of this class.
    pub capacity: usize,
    /// Buffers of this class handed out: cache hits plus `misses`.
    pub gets: u64,
    /// Gets not served by the calling thread's cache: from the shards
    /// (home, another, overflow) or freshly allocated.
    pub misses: u64,
    /// Buffers of this class that came back.
    pub returns: u64,
    /// Buffers handed out and not yet returned (`gets - returns`).
    pub outstanding_buffers: u64,
    /// Buffers idle in thread caches' bins and in the shards (not those
    /// listed in an inbox: see [`Stats::listed_bytes`]).
    pub idle_buffers: u64,
    /// `idle_buffers * capacity`.
    pub idle_bytes: u64,
    /// The most buffers of this class the pool's users and thread caches
    /// held at once: outstanding plus idle in thread caches' bins and
    /// inboxes, kept by the slow paths where that sum moves (a cache hit or
    /// a return into the cache does not change it), each thread cache
    /// publishing its share rounded up, in steps of half its
    /// `tls_cache_size`. Never below the true peak of
    /// `outstanding_buffers`; above it by less than what was idle in
    /// threads' hands at that moment (at most `tls_cache_size` buffers of
    /// the class per thread cache in the bin, plus those listed for a
    /// thread: see [`Stats::listed_bytes`]) plus one `tls_cache_size` per
    /// thread cache for the steps. At least `outstanding_buffers` in every
    /// snapshot.
    pub peak_outstanding_buffers: u64,
}

impl ClassStats {
    /// From a class's counters summed over blocks, the buffers of the class
    /// in the shards, and the peak of the buffers in threads' hands.
    pub(crate) fn from_totals(capacity: usize, t: &ClassTotals, shard_buffers: u64, peak_held: u64) -> Self {
        let gets = t.hits.wrapping_add(t.misses);
        let returns = t.fast_returns.wrapping_add(t.returns);
        let outstanding_buffers = (gets.wrapping_sub(returns) as i64).max(0) as u64;
        // Counted apart and read apart while owners count: the difference
        // can be briefly "negative".
        let cached = (t.stacked.wrapping_add(t.fast_returns).wrapping_sub(t.hits) as i64).max(0) as u64;
        let idle_buffers = cached + shard_buffers;
        ClassStats {
            capacity,
            gets,
            misses: t.misses,
            returns,
            outstanding_buffers,
            idle_buffers,
            idle_bytes: idle_buffers * capacity as u64,
            peak_outstanding_buffers: peak_held.max(outstanding_buffers),
        }
    }

    /// Whether this class has been used: a get or an idle buffer so far.
    pub(crate) fn in_use(&self) -> bool {
        self.gets > 0 || self.idle_buffers > 0 || self.peak_outstanding_buffers > 0
    }
}

/// Formats a byte count compactly (`512 B`, `64.0 KiB`, `1.5 GiB`).
pub(crate) fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gets {} (hit {:.1}%: cache {}, shard {}, steal {}; fresh {}, unpooled {}), \
             returns {} (discarded {}, evicted {}), pooled {}, listed {}, out {} in {} buffers, pinned {}",
            self.gets,
            self.hit_rate() * 100.0,
            self.cache_hits,
            self.shard_hits,
            self.steals,
            self.fresh_allocations,
            self.unpooled,
            self.returns,
            self.discards,
            self.evictions,
            human(self.pooled_bytes),
            human(self.listed_bytes),
            human(self.outstanding_bytes),
            self.outstanding_buffers,
            human(self.pinned_bytes),
        )?;
        if self.frozen_bytes > 0 {
            write!(f, ", frozen in Bytes {}", human(self.frozen_bytes))?;
        }
        if self.pin_failures > 0 {
            write!(f, " ({} pin failures)", self.pin_failures)?;
        }
        Ok(())
    }
}
