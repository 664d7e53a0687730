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

use crate::sync::{AtomicU64, Mutex, Ordering};
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
    cache_hits,
    shard_hits,
    steals,
    fresh_allocations,
    unpooled,
    returns,
    fast_returns,
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

/// A registered tally: a pointer into a live block.
struct TallyPtr(NonNull<Tally>);
// SAFETY: the registry only reads a registered tally's atomics, which is
// sound from any thread; `Tally` is `Sync`.
unsafe impl Send for TallyPtr {}

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
    live: Vec<TallyPtr>,
    retired: Totals,
}

impl Registry {
    /// Registers `t` for [`sum`](Self::sum).
    ///
    /// # Safety
    /// `t` stays valid until [`unregister`](Self::unregister) is called with it.
    pub(crate) unsafe fn register(&self, t: &Tally) {
        self.inner.lock().live.push(TallyPtr(NonNull::from(t)));
    }

    /// Removes `t` and folds its counts into the totals, in one critical
    /// section, so `sum` never sees it twice or not at all.
    pub(crate) fn unregister(&self, t: &Tally) {
        let mut r = self.inner.lock();
        if let Some(i) = r.live.iter().position(|p| p.0 == NonNull::from(t)) {
            r.live.swap_remove(i);
            r.retired.add(&t.snapshot());
        }
    }

    /// Every registered tally summed, with what retired ones counted.
    pub(crate) fn sum(&self) -> Totals {
        let r = self.inner.lock();
        let mut t = r.retired;
        for p in &r.live {
            // SAFETY: registered tallies are live: `register`'s contract.
            t.add(&unsafe { p.0.as_ref() }.snapshot());
        }
        t
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
}

impl Stats {
    pub(crate) fn from_totals(t: &Totals, shard_bytes: u64, pinned_bytes: u64, pin_failures: u64) -> Self {
        let gets = t.cache_hits + t.shard_hits + t.steals + t.fresh_allocations + t.unpooled;
        // Fast-path returns count apart: that counter is part of a block's
        // refcount (see `local/block.rs`).
        let returns = t.returns.wrapping_add(t.fast_returns);
        Stats {
            gets,
            cache_hits: t.cache_hits,
            shard_hits: t.shard_hits,
            steals: t.steals,
            fresh_allocations: t.fresh_allocations,
            unpooled: t.unpooled,
            returns,
            discards: t.discards,
            evictions: t.evictions,
            right_sized: t.right_sized,
            pooled_bytes: shard_bytes.wrapping_add(t.cached_bytes),
            // Buffers in blocks' inboxes and chains, idle but not yet back in
            // a bin (see `local/inbox.rs`).
            listed_bytes: t.listed_bytes,
            outstanding_buffers: gets.saturating_sub(returns),
            // `held_bytes` is bytes handed out minus bytes returned plus bytes
            // cached (see `local/block.rs`): it moves only on slow paths.
            outstanding_bytes: (t.held_bytes.wrapping_sub(t.cached_bytes).wrapping_sub(t.listed_bytes) as i64).max(0)
                as u64,
            // Added by the freezing thread, taken off by the one that drops
            // the last `Bytes`: only the sum over all tallies is meaningful.
            frozen_bytes: (t.frozen_bytes as i64).max(0) as u64,
            frozen_buffers: (t.frozen_buffers as i64).max(0) as u64,
            pinned_bytes,
            pin_failures,
            prefilled: t.prefilled,
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
