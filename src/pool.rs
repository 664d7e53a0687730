//! [`BufferPool`], the cheap handle users clone: get / try_get / stats /
//! trim, and [`global`]. The state behind it is `central::Central`; the
//! thread caches are `local/`.

use crate::budget::Ticket;
use crate::buffer::PooledBuffer;
use crate::builder::Builder;
use crate::central::Central;
use crate::config::Config;
use crate::error::AllocError;
use crate::local;
use crate::stats::{ClassStats, Stats};
use crate::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A handle to a buffer pool. Cloning it is cheap (one `Arc` clone); the pool
/// closes when the last handle drops, and its memory comes back then (see
/// [How it works](crate#how-it-works)).
///
/// ```
/// let pool = bufpool::BufferPool::new();
/// let mut buf = pool.get(64 * 1024);
/// buf[..5].copy_from_slice(b"hello");
/// let pool2 = pool.clone();
/// std::thread::spawn(move || drop(buf)).join().unwrap(); // goes back from any thread
/// assert_eq!(pool2.stats().outstanding_buffers, 0);
/// ```
#[derive(Clone)]
pub struct BufferPool {
    closer: Arc<Closer>,
}

/// Shared by every clone of one `BufferPool`; its drop, when the last clone
/// goes, closes the pool. Buffers and thread caches hold the `Central`
/// directly, so they outlive it.
struct Closer {
    central: Arc<Central>,
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.central.close();
        local::housekeeping_now();
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
        Self { closer: Arc::new(Closer { central: Arc::new(Central::new(config)) }) }
    }

    /// The shared state (the name `src/io` uses).
    pub(crate) fn inner(&self) -> &Arc<Central> {
        &self.closer.central
    }

    /// A buffer with `len() == size`. Its bytes are initialised: zero if fresh,
    /// and under [`Zeroing::Never`](crate::Zeroing::Never) whatever the last
    /// user left if recycled.
    ///
    /// # At the outstanding cap
    /// With [`max_outstanding_bytes`](Builder::max_outstanding_bytes) set, a
    /// `get` that would pass it **blocks the calling thread** until other
    /// buffers come back, as a send on a full `std::sync::mpsc::sync_channel`
    /// does, queued in the same FIFO order as [`get_async`]. It never
    /// exceeds the cap. Before blocking it gives this thread's idle cached
    /// bytes back, but it cannot give back buffers the thread itself still
    /// holds: **a thread that holds the bytes it waits for blocks for
    /// ever**, and so does async code blocking its executor thread. Use
    /// [`try_get`] to refuse instead, and [`get_async`] in async code.
    ///
    /// # Panics
    /// If the size cannot be allocated, with the message [`try_get`] returns
    /// as an error (as `Vec::with_capacity` does), including a size larger
    /// than `max_outstanding_bytes` itself, which no wait can serve.
    ///
    /// [`try_get`]: BufferPool::try_get
    /// [`get_async`]: BufferPool::get_async
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
        if let Some(b) = PooledBuffer::take(self.inner(), size) {
            return b;
        }
        self.get_slow(size)
    }

    #[inline(never)]
    fn get_slow(&self, size: usize) -> PooledBuffer {
        match PooledBuffer::acquire_slow(self.inner(), size, false) {
            Ok(b) => b,
            Err(e) => self.block_for_budget(size, false, e),
        }
    }

    /// `get` at the cap: blocks for a grant of the bytes (see `get`'s docs),
    /// or panics with `e` if waiting cannot help.
    #[cold]
    #[cfg(not(loom))]
    fn block_for_budget(&self, size: usize, zero: bool, e: crate::AllocError) -> PooledBuffer {
        let central = self.inner();
        let need = central.charge_of(central.classes.fit(size));
        if !e.is_over_budget() || !central.cap.fits_ever(need) {
            panic!("{e}");
        }
        central.request_reclaim();
        let prepaid = Ticket::new(&central.cap, need).wait(|| local::give_back_idle(central));
        match PooledBuffer::acquire_prepaid(central, size, zero, prepaid) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    #[cold]
    #[cfg(loom)]
    fn block_for_budget(&self, _size: usize, _zero: bool, e: crate::AllocError) -> PooledBuffer {
        panic!("{e} (a blocking get is not modelled under loom; use get_async)")
    }

    /// A buffer with `len() == size`, waiting for bytes to come back if the
    /// pool is at [`max_outstanding_bytes`](Builder::max_outstanding_bytes)
    /// (without a cap it is [`get`](BufferPool::get), ready at once).
    ///
    /// **Fair**: waiters are served first come, first served. A release
    /// hands its bytes to the head of the queue, and nobody behind the head
    /// is served before it fits, so a large request is never starved by a
    /// stream of smaller ones (which queue behind it once anyone waits), as
    /// with tokio's `Semaphore`. While it waits, the future holds its place
    /// in the queue and no buffer; thread caches are asked to give their idle
    /// bytes back at their next operation.
    ///
    /// Dropping the future leaves the queue, and gives back bytes granted
    /// to it but not yet claimed. Leaking it (`mem::forget`) leaks the bytes
    /// it asked for once they are granted, as leaking the buffer it would
    /// have produced would; the waiters behind it are still served.
    ///
    /// # Panics
    /// As [`get`](BufferPool::get): if the size cannot be allocated, or is
    /// larger than the cap itself.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::builder().max_outstanding_bytes(64 << 10).build()?;
    /// let a = pool.get_async(64 << 10).await;
    /// let wait = pool.get_async(64 << 10);
    /// drop(a); // its bytes go to the waiter
    /// assert_eq!(wait.await.len(), 64 << 10);
    /// # Ok::<(), bufpool::BuildError>(()) }).unwrap();
    /// ```
    pub fn get_async(&self, size: usize) -> GetFuture<'_> {
        GetFuture { pool: self, size, ticket: None }
    }

    /// Bytes in this pool's live buffers (and `Bytes` frozen from them):
    /// [`Stats::outstanding_bytes`], summed over threads.
    pub fn outstanding_bytes(&self) -> usize {
        self.stats().outstanding_bytes as usize
    }

    /// Bytes charged against [`max_outstanding_bytes`](Builder::max_outstanding_bytes):
    /// the live buffers plus what thread caches hold ready to hand out, and
    /// grants not yet claimed. One atomic load; always 0 without a cap.
    /// Never above the cap.
    pub fn charged_bytes(&self) -> usize {
        self.inner().cap.used()
    }

    /// Like [`get`](BufferPool::get), but returns an error instead of
    /// panicking, and instead of waiting at
    /// [`max_outstanding_bytes`](Builder::max_outstanding_bytes): then
    /// [`AllocError::is_over_budget`] holds, and the message names the cap.
    /// It also refuses while [`get_async`](BufferPool::get_async) waiters are
    /// queued, rather than overtake them.
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
        PooledBuffer::acquire(self.inner(), size, false)
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
        match PooledBuffer::acquire(self.inner(), size, true) {
            Ok(b) => b,
            Err(e) => self.block_for_budget(size, true, e),
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

    /// Per size class in use (a get or an idle buffer so far), smallest
    /// first: its capacity, idle buffers and bytes, outstanding buffers,
    /// gets, misses and peak. See [`ClassStats`] for how exact each is.
    ///
    /// Reading them walks every thread cache's counters and every shard's
    /// queue of each class, under the lock that `stats` takes; nothing is
    /// counted for it on the get and drop paths beyond what `stats` needs.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let small = pool.get(4 * 1024);
    /// let big = pool.get(256 * 1024);
    /// let per_class: Vec<bufpool::ClassStats> = pool.class_stats();
    /// assert_eq!(per_class.len(), 2);
    /// assert_eq!(per_class[0].capacity, small.capacity());
    /// assert_eq!(per_class[1].capacity, big.capacity());
    /// assert!(per_class.iter().all(|c| c.outstanding_buffers == 1));
    /// ```
    pub fn class_stats(&self) -> Vec<ClassStats> {
        self.inner().class_stats()
    }

    /// Publishes this pool's statistics through the [`metrics`](::metrics)
    /// facade as counters and gauges labelled `pool = name`, pool-wide and
    /// per size class in use (labelled `class` with the class's capacity).
    /// The handles are built now, with the recorder in effect at this call,
    /// and set from `stats()` and `class_stats()` now, at each tick of the
    /// pool's idle clock (every `idle_timeout`), and whenever
    /// [`refresh_metrics`](Self::refresh_metrics) is called; never on a get
    /// or drop. `examples/metrics.rs` prints them through
    /// `metrics-exporter-prometheus`.
    ///
    /// A pool registered twice publishes under both names.
    ///
    /// # Names
    ///
    /// Every series carries the label `pool` (the name given at registration).
    /// Counters (monotonic over the pool's life): `bufpool_gets_total`,
    /// `bufpool_cache_hits_total`, `bufpool_shard_hits_total`, `bufpool_steals_total`,
    /// `bufpool_fresh_allocations_total`, `bufpool_unpooled_total`, `bufpool_returns_total`,
    /// `bufpool_discards_total`, `bufpool_evictions_total`, `bufpool_right_sized_total`,
    /// `bufpool_prefilled_total`, `bufpool_pin_failures_total`. Gauges, in bytes:
    /// `bufpool_pooled_bytes`, `bufpool_listed_bytes`, `bufpool_outstanding_bytes`,
    /// `bufpool_frozen_bytes`, `bufpool_pinned_bytes`,
    /// `bufpool_peak_outstanding_bytes`, `bufpool_peak_pooled_bytes`; in buffers:
    /// `bufpool_outstanding_buffers`, `bufpool_frozen_buffers`.
    ///
    /// Per size class in use, with the label `class` (the class's capacity in
    /// bytes, `class="65536"`): counters `bufpool_class_gets_total`,
    /// `bufpool_class_misses_total`, `bufpool_class_returns_total`; gauges
    /// `bufpool_class_idle_buffers`, `bufpool_class_idle_bytes`,
    /// `bufpool_class_outstanding_buffers`,
    /// `bufpool_class_peak_outstanding_buffers`. A class's series are
    /// registered at the first refresh that finds the class in use, with the
    /// recorder in effect then.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// pool.register_metrics("ingest");
    /// drop(pool.get(64 * 1024));
    /// pool.refresh_metrics(); // e.g. right before a scrape renders
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn register_metrics(&self, name: &str) {
        self.inner().register_metrics(name);
    }

    /// Sets every metric [`register_metrics`](Self::register_metrics)
    /// published for this pool from fresh `stats()` and `class_stats()`
    /// snapshots: for a scraper to call before it renders, so what it shows
    /// is current rather than as of the last idle-clock tick. Costs what
    /// those two calls cost; a no-op for a pool never registered.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// pool.register_metrics("ingest");
    /// let b = pool.get(4096);
    /// pool.refresh_metrics();
    /// # drop(b);
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn refresh_metrics(&self) {
        self.inner().refresh_metrics(true);
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
        local::housekeeping_now();
    }

    /// Advances the idle clock by one tick now, as the automatic clock does
    /// every `idle_timeout`: buffers of size classes unused since the previous
    /// tick are released (the shards' now, thread caches' at their next
    /// operation), and `Clock`'s second-chance bits are cleared. Call it from
    /// your own timer for tighter control; no background thread is needed.
    pub fn release_idle(&self) {
        self.inner().tick();
        local::housekeeping_now();
    }

    /// The oldest live buffers among those sampled by
    /// [`Builder::track_outstanding`], with their age, the thread that took
    /// them and where (a backtrace), and how many buffers of the pool (sampled
    /// or not) live on only inside `Bytes` slices. Empty, apart from those
    /// counts, when the pool does not track.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::builder().track_outstanding(1).build()?;
    /// let old = pool.get(4096);
    /// let young = pool.get(8192);
    /// let r = pool.outstanding_report();
    /// assert_eq!(r.buffers().len(), 2);
    /// assert_eq!(r.buffers()[0].capacity(), 4096, "oldest first");
    /// drop(old);
    /// assert_eq!(pool.outstanding_report().buffers()[0].capacity(), 8192);
    /// # drop(young);
    /// # Ok::<(), bufpool::BuildError>(())
    /// ```
    pub fn outstanding_report(&self) -> crate::OutstandingReport {
        self.inner().outstanding_report()
    }

    /// Warms the pool ahead of a burst: allocates up to `count` buffers for
    /// requests of `size` and puts them in the shards, spread over them
    /// from the calling thread's home shard. Returns how many it added,
    /// which is fewer than `count` when the shards' queues of that class
    /// are full (`num_shards × max_buffers_per_shard`), when
    /// `max_pooled_bytes` has no room for another, or when the allocator
    /// refuses; 0 for a size the pool does not pool (0, below
    /// `min_buffer_size`, above `max_buffer_size`). Prefilled buffers are
    /// idle like any other: the idle clock releases them if no get uses
    /// their size class for a whole `idle_timeout`.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::builder().num_shards(4).max_buffers_per_shard(16).build()?;
    /// assert_eq!(pool.prefill(64 * 1024, 32), 32);
    /// let held: Vec<_> = (0..32).map(|_| pool.get(64 * 1024)).collect();
    /// assert_eq!(pool.stats().fresh_allocations, 0);
    /// assert_eq!(pool.prefill(64 * 1024, 1000), 64, "4 shards × 16 slots");
    /// assert_eq!(pool.prefill(usize::MAX, 1), 0);
    /// # drop(held);
    /// # Ok::<(), bufpool::BuildError>(())
    /// ```
    pub fn prefill(&self, size: usize, count: usize) -> usize {
        self.inner().prefill(size, count)
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

/// The future of [`BufferPool::get_async`]: no buffer and no place in the
/// queue until first polled at the cap; then its place in the FIFO queue.
#[must_use = "futures do nothing unless polled"]
pub struct GetFuture<'a> {
    pool: &'a BufferPool,
    size: usize,
    ticket: Option<Ticket<'a>>,
}

impl Future for GetFuture<'_> {
    type Output = PooledBuffer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PooledBuffer> {
        let this = self.get_mut();
        let central = this.pool.inner();
        if this.ticket.is_none() {
            match PooledBuffer::acquire(central, this.size, false) {
                Ok(b) => return Poll::Ready(b),
                Err(e) => {
                    let need = central.charge_of(central.classes.fit(this.size));
                    if !e.is_over_budget() || !central.cap.fits_ever(need) {
                        panic!("{e}");
                    }
                    central.request_reclaim();
                    this.ticket = Some(Ticket::new(&central.cap, need));
                }
            }
        }
        let ticket = this.ticket.as_mut().expect("queued above");
        let prepaid = match ticket.poll(cx) {
            Poll::Ready(n) => n,
            Poll::Pending => {
                // This thread's own cache may hold what the queue waits for.
                local::give_back_idle(central);
                std::task::ready!(ticket.poll(cx))
            }
        };
        this.ticket = None;
        match PooledBuffer::acquire_prepaid(central, this.size, false, prepaid) {
            Ok(b) => Poll::Ready(b),
            Err(e) => panic!("{e}"),
        }
    }
}

impl fmt::Debug for GetFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetFuture").field("size", &self.size).field("queued", &self.ticket.is_some()).finish()
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

/// Test hooks (feature `test-util`): not part of the stable API.
#[cfg(feature = "test-util")]
impl BufferPool {
    /// Bytes reserved against `max_pooled_bytes` (shards plus thread-cache
    /// leases): always `>= stats().pooled_bytes` and `<= max_pooled_bytes`.
    pub fn reserved_bytes(&self) -> usize {
        self.inner().reserved_bytes()
    }

    /// The highest [`charged_bytes`](BufferPool::charged_bytes) any charge
    /// reached (0 without a cap).
    pub fn peak_charged_bytes(&self) -> usize {
        self.inner().cap.peak()
    }
}
