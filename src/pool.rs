//! [`BufferPool`], the cheap handle users clone: get / try_get / stats /
//! trim, and [`global`]. The state behind it is `central::Central`; the
//! thread caches are `local/`.

use crate::buffer::PooledBuffer;
use crate::builder::Builder;
use crate::central::Central;
use crate::config::Config;
use crate::error::AllocError;
use crate::local;
use crate::stats::Stats;
use crate::sync::Arc;
use std::fmt;

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
        if let Some(b) = PooledBuffer::take(self.inner(), size) {
            return b;
        }
        self.get_slow(size)
    }

    #[inline(never)]
    fn get_slow(&self, size: usize) -> PooledBuffer {
        match PooledBuffer::acquire_slow(self.inner(), size, false) {
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
}
