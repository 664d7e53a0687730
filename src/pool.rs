//! The pool: [`BufferPool`], the cheap handle users clone, and `PoolInner`, the
//! shared state behind it (shards, byte budget, idle clock, registry of thread
//! caches). Everything here except the handle's getters is a slow path.

use crate::alloc::{self, Mem, NOT_POOLED};
use crate::buffer::PooledBuffer;
use crate::builder::Builder;
use crate::cache::Block;
use crate::class::Classes;
use crate::config::{Config, EvictionPolicy};
use crate::error::AllocError;
use crate::shard::{Budget, Shard};
use crate::stats::{Counters, Stats, Totals};
use crate::sync::{current_cpu, global_epoch, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::thread;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::ptr::NonNull;
use std::time::Instant;

/// A handle to a buffer pool. Cloning it is cheap (one `Arc` clone); the pool
/// closes when the last handle drops, and its memory comes back then (see
/// [How it works](crate#how-it-works)).
///
/// ```
/// let pool = bufpool::BufferPool::new();
/// let mut buf = pool.get(64 * 1024);
/// buf[..5].copy_from_slice(b"hello");
/// let pool2 = pool.clone();
/// std::thread::spawn(move || drop(buf)).join().unwrap(); // goes home from any thread
/// assert_eq!(pool2.stats().outstanding_buffers, 0);
/// ```
#[derive(Clone)]
pub struct BufferPool {
    handle: Arc<Handle>,
}

struct Handle {
    inner: Arc<PoolInner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.close();
        thread::housekeeping_now();
    }
}

impl Default for BufferPool {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool").field("config", self.config()).finish_non_exhaustive()
    }
}

impl BufferPool {
    /// A pool with system-aware defaults (see [`Builder`]).
    pub fn new() -> Self {
        Builder::new().build().expect("the default configuration is valid")
    }

    /// A [`Builder`] for a configured pool.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        Self { handle: Arc::new(Handle { inner: Arc::new(PoolInner::new(config)) }) }
    }

    pub(crate) fn inner(&self) -> &Arc<PoolInner> {
        &self.handle.inner
    }

    /// A buffer with `len() == size`. Its bytes are initialised: zero if fresh,
    /// and under [`Zeroing::Never`](crate::Zeroing::Never) whatever the last
    /// user left if recycled.
    ///
    /// # Panics
    /// If the size cannot be allocated, with the message [`try_get`] returns
    /// as an error (as `Vec::with_capacity` does).
    ///
    /// [`try_get`]: BufferPool::try_get
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let buf = pool.get(1 << 20);
    /// assert_eq!(buf.len(), 1 << 20);
    /// assert!(buf.capacity() >= 1 << 20);
    /// ```
    #[inline]
    pub fn get(&self, size: usize) -> PooledBuffer {
        // The fast path builds the buffer in the return slot; everything
        // else is one call away.
        if let Some(b) = thread::take_fast(self.inner(), size) {
            return b;
        }
        self.get_slow(size)
    }

    #[inline(never)]
    fn get_slow(&self, size: usize) -> PooledBuffer {
        match thread::acquire_slow(self.inner(), size, false) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`get`](BufferPool::get), but returns an error instead of panicking.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert!(pool.try_get(usize::MAX).is_err());
    /// assert!(pool.try_get(isize::MAX as usize + 1).is_err());
    /// assert_eq!(pool.try_get(100)?.len(), 100);
    /// # Ok::<(), bufpool::AllocError>(())
    /// ```
    #[inline]
    pub fn try_get(&self, size: usize) -> Result<PooledBuffer, AllocError> {
        thread::acquire(self.inner(), size, false)
    }

    /// A buffer with `len() == size` whose visible bytes are all zero.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut b = pool.get(4096);
    /// b.fill(0xAA);
    /// drop(b);
    /// assert!(pool.get_zeroed(4096).iter().all(|&x| x == 0));
    /// ```
    #[inline]
    pub fn get_zeroed(&self, size: usize) -> PooledBuffer {
        match thread::acquire(self.inner(), size, true) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    /// An empty buffer (`len() == 0`) with room for at least `capacity` bytes,
    /// for appending with [`std::io::Write`] or `extend_from_slice`.
    ///
    /// ```
    /// use std::io::Write;
    /// let pool = bufpool::BufferPool::new();
    /// let mut b = pool.with_capacity(8192);
    /// write!(b, "GET / HTTP/1.1\r\n").unwrap();
    /// assert_eq!(&b[..], b"GET / HTTP/1.1\r\n");
    /// ```
    #[inline]
    pub fn with_capacity(&self, capacity: usize) -> PooledBuffer {
        let mut b = self.get(capacity);
        b.clear();
        b
    }

    /// A snapshot of the pool's counters, summed over every thread.
    pub fn stats(&self) -> Stats {
        self.inner().stats()
    }

    /// Gives idle memory back to the OS: every buffer in the shards and in the
    /// calling thread's cache is freed now; other threads' caches are freed at
    /// their next operation on any pool.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// drop(pool.get(1 << 20));
    /// assert!(pool.stats().pooled_bytes > 0);
    /// pool.trim();
    /// assert_eq!(pool.stats().pooled_bytes, 0);
    /// ```
    pub fn trim(&self) {
        self.inner().trim();
        thread::housekeeping_now();
    }

    /// Advances the idle clock by one tick now, as the automatic clock does
    /// every `idle_timeout`: buffers of size classes unused since the previous
    /// tick are released (the shards' now, thread caches' at their next
    /// operation), and `Clock`'s second-chance bits are cleared. Call it from
    /// your own timer for tighter control; no background thread is needed.
    pub fn release_idle(&self) {
        self.inner().tick();
        thread::housekeeping_now();
    }

    /// The pool's effective settings.
    pub fn config(&self) -> &Config {
        &self.inner().config
    }

    /// True if both handles point to the same pool.
    pub fn same_pool(&self, other: &BufferPool) -> bool {
        Arc::ptr_eq(self.inner(), other.inner())
    }
}

/// The process-wide pool with default settings, built on first use.
///
/// ```
/// let buf = bufpool::global().get(4096);
/// assert_eq!(buf.len(), 4096);
/// ```
pub fn global() -> &'static BufferPool {
    static GLOBAL: std::sync::OnceLock<BufferPool> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(BufferPool::new)
}

/// A block pointer in the registry.
struct BlockPtr(NonNull<Block>);
// SAFETY: the registry only reads a registered block's atomic counters, which
// is sound from any thread; blocks are `Sync`.
unsafe impl Send for BlockPtr {}

struct Registry {
    blocks: Vec<BlockPtr>,
    /// Counts of retired blocks.
    retired: Totals,
}

pub(crate) struct PoolInner {
    pub(crate) config: Config,
    pub(crate) classes: Classes,
    align: usize,
    mask: usize,
    shards: Box<[CachePadded<Shard>]>,
    pub(crate) budget: CachePadded<Budget>,
    shard_bytes: AtomicUsize,
    pinned_bytes: AtomicUsize,
    pin_failures: AtomicU64,
    closed: AtomicBool,
    trim_epoch: AtomicU64,
    generation: AtomicU64,
    born: Instant,
    next_tick_ns: AtomicU64,
    /// Clock's second-chance bits, one per class.
    referenced: Box<[AtomicBool]>,
    /// Generation of each class's last shard traffic.
    class_gen: Box<[AtomicU64]>,
    sweep: Mutex<usize>,
    registry: Mutex<Registry>,
    /// Counts from paths with no thread cache (orphans, closed pools, sweeps).
    pub(crate) shared: Counters,
}

impl PoolInner {
    fn new(config: Config) -> Self {
        let align = config.alignment();
        let classes = Classes::new(config.min_buffer_size(), config.max_buffer_size(), align);
        let n = classes.len();
        let shards =
            (0..config.num_shards()).map(|_| CachePadded::new(Shard::new(n, config.max_buffers_per_shard()))).collect();
        let timeout = config.idle_timeout().as_nanos().min(u64::MAX as u128) as u64;
        PoolInner {
            budget: CachePadded::new(Budget::new(config.max_pooled_bytes())),
            mask: config.num_shards() - 1,
            align,
            shards,
            shard_bytes: AtomicUsize::new(0),
            pinned_bytes: AtomicUsize::new(0),
            pin_failures: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            trim_epoch: AtomicU64::new(0),
            generation: AtomicU64::new(2),
            born: Instant::now(),
            next_tick_ns: AtomicU64::new(timeout),
            referenced: (0..n).map(|_| AtomicBool::new(false)).collect(),
            class_gen: (0..n).map(|_| AtomicU64::new(2)).collect(),
            sweep: Mutex::new(0),
            registry: Mutex::new(Registry { blocks: Vec::new(), retired: Totals::default() }),
            shared: Counters::default(),
            classes,
            config,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `close`, so a thread that sees
        // the pool closed also sees the shards drained before it looks.
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn trim_epoch(&self) -> u64 {
        // Acquire: pairs with the Release increment in `trim`.
        self.trim_epoch.load(Ordering::Acquire)
    }

    pub(crate) fn generation(&self) -> u64 {
        // Acquire: pairs with the Release increment in `tick`.
        self.generation.load(Ordering::Acquire)
    }

    /// A new block for pooled class `class`: zeroed, and pinned if configured.
    pub(crate) fn alloc_pooled(&self, class: usize) -> Result<Mem, AllocError> {
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

    /// A zeroed block of exactly `cap` bytes, never pinned.
    pub(crate) fn alloc_exact(&self, cap: usize) -> Result<Mem, AllocError> {
        Ok(Mem::new(alloc::allocate(cap, self.align, true)?, cap, NOT_POOLED, false))
    }

    /// Frees a block of this pool.
    pub(crate) fn free(&self, mem: Mem) {
        if mem.pinned() {
            // Relaxed: statistics.
            self.pinned_bytes.fetch_sub(mem.cap, Ordering::Relaxed);
        }
        // SAFETY: every `Mem` of this pool came from `alloc_pooled` or
        // `alloc_exact`, i.e. `allocate(mem.cap, self.align, _)`.
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

    pub(crate) fn alignment(&self) -> usize {
        self.align
    }

    fn mark_used(&self, class: usize) {
        // Relaxed load-then-store (no RMW) on these read-mostly flags: they are
        // heuristics for eviction and decay; a lost or late mark only changes
        // which idle buffer is freed, never correctness.
        let g = self.generation.load(Ordering::Relaxed);
        if self.class_gen[class].load(Ordering::Relaxed) != g {
            // Relaxed: heuristic mark (see above); pairs with nothing.
            self.class_gen[class].store(g, Ordering::Relaxed);
        }
        // Relaxed: heuristic bit for Clock; pairs with nothing.
        if !self.referenced[class].load(Ordering::Relaxed) {
            self.referenced[class].store(true, Ordering::Relaxed);
        }
    }

    /// Takes an idle buffer of `class`: home shard (by current CPU) first, then
    /// the others. Returns whether it was stolen. The buffer's budget
    /// reservation passes to the caller, who keeps it (in a lease) or
    /// releases it.
    pub(crate) fn take(&self, class: usize) -> Option<(Mem, bool)> {
        self.take_from(class).map(|(mem, shard)| (mem, shard.is_some()))
    }

    /// As [`take`](Self::take); also returns the home shard's index when
    /// the buffer came from it (`None` when stolen), for a refill.
    pub(crate) fn take_from(&self, class: usize) -> Option<(Mem, Option<usize>)> {
        self.mark_used(class);
        let home = current_cpu() & self.mask;
        for i in 0..self.shards.len() {
            let s = (home + i) & self.mask;
            if let Some(mem) = self.shards[s].pop(class) {
                // Relaxed: statistics.
                self.shard_bytes.fetch_sub(mem.cap, Ordering::Relaxed);
                return Some((mem, (i == 0).then_some(s)));
            }
        }
        None
    }

    /// Pops up to `n` more buffers of `class` from shard `shard` into `sink`
    /// (a thread cache refilling after a miss), which takes over their budget
    /// reservations. Stops early when the shard runs dry or `sink` returns
    /// the buffer (no room); that one goes back to the shard, or is freed.
    pub(crate) fn refill(&self, class: usize, shard: usize, n: usize, mut sink: impl FnMut(Mem) -> Result<(), Mem>) {
        for _ in 0..n {
            let Some(mem) = self.shards[shard].pop(class) else { break };
            // Relaxed: statistics. Before `sink` counts the buffer as cached,
            // so `pooled_bytes` never counts it twice (and never exceeds the
            // cap, which tests check live).
            self.shard_bytes.fetch_sub(mem.cap, Ordering::Relaxed);
            if let Err(mem) = sink(mem) {
                let cap = mem.cap;
                if let Err(mem) = self.shards[shard].push(class, mem) {
                    self.budget.release(mem.cap);
                    self.free(mem);
                } else {
                    // Relaxed: statistics.
                    self.shard_bytes.fetch_add(cap, Ordering::Relaxed);
                }
                break;
            }
        }
    }

    /// Offers `mem` to the home shard. `reserved` says whether the caller
    /// already holds budget for it; on failure that budget is given back and the
    /// buffer is returned for the caller to free.
    pub(crate) fn put(&self, class: usize, mem: Mem, reserved: bool) -> Result<(), Mem> {
        let cap = mem.cap;
        if self.is_closed() {
            if reserved {
                self.budget.release(cap);
            }
            return Err(mem);
        }
        self.mark_used(class);
        let admitted = reserved || self.budget.reserve(cap) || (self.evict_for(cap, class) && self.budget.reserve(cap));
        if !admitted {
            return Err(mem);
        }
        let home = current_cpu() & self.mask;
        if let Err(mem) = self.shards[home].push(class, mem) {
            self.budget.release(cap);
            return Err(mem);
        }
        // Relaxed: statistics.
        self.shard_bytes.fetch_add(cap, Ordering::Relaxed);
        // SeqCst (with the SeqCst store in `close`): either `close` drains after
        // our push, or we see `closed` here and drain ourselves. Nothing is
        // stranded in a closed pool's shards.
        if self.closed.load(Ordering::SeqCst) {
            self.drain_shards(false);
        }
        Ok(())
    }

    /// Spills a thread cache's older buffers of `class` to the home shard, in
    /// one go: one CPU lookup, one `shard_bytes` update and one close check
    /// for the whole batch. Their budget is reserved already (the cache's
    /// lease moves with them). What the shard cannot take goes to `reject`
    /// (to be freed), its budget given back.
    pub(crate) fn spill(&self, class: usize, mems: impl Iterator<Item = Mem>, mut reject: impl FnMut(Mem)) {
        if self.is_closed() {
            for mem in mems {
                self.budget.release(mem.cap);
                reject(mem);
            }
            return;
        }
        self.mark_used(class);
        let shard = &self.shards[current_cpu() & self.mask];
        let mut bytes = 0;
        for mem in mems {
            let cap = mem.cap;
            match shard.push(class, mem) {
                Ok(()) => bytes += cap,
                Err(mem) => {
                    self.budget.release(cap);
                    reject(mem);
                }
            }
        }
        // Relaxed: statistics. After the pushes, so `pooled_bytes` may lag
        // (never count a buffer twice).
        self.shard_bytes.fetch_add(bytes, Ordering::Relaxed);
        // SeqCst: as in `put`.
        if self.closed.load(Ordering::SeqCst) {
            self.drain_shards(false);
        }
    }

    /// `Clock`: makes room for `bytes` more by freeing idle shard buffers of
    /// classes whose second-chance bit is clear (unused since the last tick),
    /// other than `except`, until the shortfall is covered. `Lifo` never
    /// evicts. Returns whether the shortfall was covered.
    pub(crate) fn evict_for(&self, bytes: usize, except: usize) -> bool {
        if self.config.eviction_policy() != EvictionPolicy::Clock {
            return false;
        }
        // Only the part the budget cannot already cover needs evicting.
        let bytes = bytes.saturating_sub(self.budget.max().saturating_sub(self.budget.reserved()));
        if bytes == 0 {
            return true;
        }
        let Some(mut hand) = self.sweep.try_lock() else { return false };
        let n = self.classes.len();
        let mut freed = 0;
        let mut evicted = 0;
        for step in 0..n {
            let k = (*hand + step) % n;
            // Relaxed: heuristic bit, see `mark_used`.
            if k == except || self.referenced[k].load(Ordering::Relaxed) {
                continue;
            }
            for shard in self.shards.iter() {
                while let Some(mem) = shard.pop(k) {
                    freed += mem.cap;
                    evicted += 1;
                    self.budget.release(mem.cap);
                    // Relaxed: statistics.
                    self.shard_bytes.fetch_sub(mem.cap, Ordering::Relaxed);
                    self.free(mem);
                    if freed >= bytes {
                        break;
                    }
                }
                if freed >= bytes {
                    break;
                }
            }
            if freed >= bytes {
                *hand = k;
                break;
            }
        }
        self.shared.add_shared(&Totals { evictions: evicted, ..Default::default() });
        freed >= bytes
    }

    /// Frees every idle buffer in the shards (of one class, or all).
    fn drain(&self, only: Option<usize>, count: bool) {
        let mut evicted = 0;
        let classes = match only {
            Some(k) => k..k + 1,
            None => 0..self.classes.len(),
        };
        for shard in self.shards.iter() {
            for k in classes.clone() {
                while let Some(mem) = shard.pop(k) {
                    evicted += 1;
                    self.budget.release(mem.cap);
                    // Relaxed: statistics.
                    self.shard_bytes.fetch_sub(mem.cap, Ordering::Relaxed);
                    self.free(mem);
                }
            }
        }
        if count {
            self.shared.add_shared(&Totals { evictions: evicted, ..Default::default() });
        }
    }

    fn drain_shards(&self, count: bool) {
        self.drain(None, count)
    }

    fn bump_global_epoch() {
        // Release: pairs with nothing that needs it strictly (threads re-read
        // the pool's own state with Acquire); Release keeps the bump after the
        // state change it announces, so a thread that notices the bump finds it.
        global_epoch().fetch_add(1, Ordering::Release);
    }

    /// Closes the pool (its last handle dropped): returns go to the OS from now
    /// on, and the shards are emptied.
    fn close(&self) {
        // SeqCst: see `put`.
        self.closed.store(true, Ordering::SeqCst);
        self.drain_shards(false);
        Self::bump_global_epoch();
    }

    fn trim(&self) {
        self.drain_shards(true);
        // Release: pairs with the Acquire in `trim_epoch()`.
        self.trim_epoch.fetch_add(1, Ordering::Release);
        Self::bump_global_epoch();
    }

    /// Advances the idle clock if `idle_timeout` has passed since the last tick.
    pub(crate) fn maybe_tick(&self, now: Instant) {
        let ns = now.saturating_duration_since(self.born).as_nanos().min(u64::MAX as u128) as u64;
        // Relaxed: the deadline guards nothing but itself; the CAS below makes
        // exactly one thread do the tick.
        let due = self.next_tick_ns.load(Ordering::Relaxed);
        if ns < due {
            return;
        }
        let period = self.config.idle_timeout().as_nanos().min(u64::MAX as u128) as u64;
        if self
            .next_tick_ns
            // Relaxed CAS: only elects the one ticker; `tick` publishes via `generation` (Release).
            .compare_exchange(due, ns.saturating_add(period), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.tick();
        }
    }

    /// One tick of the idle clock: free shard buffers of classes with no shard
    /// traffic during the whole last generation, and clear every class's
    /// second-chance bit.
    pub(crate) fn tick(&self) {
        // Release: pairs with the Acquire in `generation()`: a thread cache that
        // sees the new generation decays its own idle slots.
        let gen = self.generation.fetch_add(1, Ordering::Release) + 1;
        for k in 0..self.classes.len() {
            // Relaxed: heuristic marks, see `mark_used`.
            if self.class_gen[k].load(Ordering::Relaxed) + 1 < gen {
                self.drain(Some(k), true);
            }
            self.referenced[k].store(false, Ordering::Relaxed);
        }
        Self::bump_global_epoch();
    }

    pub(crate) fn register(&self, block: NonNull<Block>) {
        self.registry.lock().blocks.push(BlockPtr(block));
    }

    /// Removes a retiring block and folds its counts into the totals, in one
    /// critical section so `stats()` never sees it twice or not at all.
    pub(crate) fn unregister(&self, block: NonNull<Block>) {
        let mut r = self.registry.lock();
        if let Some(i) = r.blocks.iter().position(|p| p.0 == block) {
            r.blocks.swap_remove(i);
            // SAFETY: the block is live (its owner is retiring it now).
            let t = unsafe { block.as_ref() }.counters.snapshot();
            r.retired.add(&t);
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut t = self.shared.snapshot();
        {
            let r = self.registry.lock();
            t.add(&r.retired);
            for p in &r.blocks {
                // SAFETY: registered blocks are live: a block is unregistered
                // (under this lock) before it can be freed.
                t.add(&unsafe { p.0.as_ref() }.counters.snapshot());
            }
        }
        // Relaxed: statistics.
        Stats::from_totals(
            &t,
            self.shard_bytes.load(Ordering::Relaxed) as u64,
            self.pinned_bytes.load(Ordering::Relaxed) as u64,
            // Relaxed: a statistic.
            self.pin_failures.load(Ordering::Relaxed),
        )
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // No handle and no thread cache remains; free what the shards hold.
        self.drain_shards(false);
    }
}

/// Test hooks (feature `test-util`): not part of the stable API.
#[cfg(feature = "test-util")]
impl BufferPool {
    /// Bytes reserved against `max_pooled_bytes` (shards plus thread-cache
    /// leases): always `>= stats().pooled_bytes` and `<= max_pooled_bytes`.
    pub fn reserved_bytes(&self) -> usize {
        let r = self.inner().budget.reserved();
        debug_assert!(r <= self.inner().budget.max());
        r
    }
}
