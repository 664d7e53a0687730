//! [`Builder`]: the setters, and validation into a [`Config`] (whose
//! defaults per CPU count live in `config.rs`).

use crate::config::{
    default_max_pooled_bytes, defaults_for, Config, EvictionPolicy, Zeroing, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BUFFER_SIZE, DEFAULT_MIN_BUFFER_SIZE, DEFAULT_READ_SIZE, DEFAULT_TLS_CACHE_BYTES, MAX_ALIGNMENT,
    MAX_BUFFERS_PER_SHARD,
};
use crate::error::BuildError;
use crate::pool::BufferPool;
use std::time::Duration;

/// Builds a [`BufferPool`]. Every setting left alone is derived from the CPU
/// count (see [`Builder::cpus`]) and physical memory.
///
/// ```
/// use bufpool::{BufferPool, EvictionPolicy, Zeroing};
/// let pool = BufferPool::builder()
///     .min_buffer_size(4 * 1024)
///     .max_buffer_size(1 << 30)
///     .tls_cache_size(8)
///     .max_buffers_per_shard(32)
///     .num_shards(16)
///     .max_pooled_bytes(256 << 20)
///     .alignment(4096)
///     .zeroing(Zeroing::OnReturn)
///     .eviction_policy(EvictionPolicy::Lifo)
///     .build()?;
/// assert_eq!(pool.config().num_shards(), 16);
/// # Ok::<(), bufpool::BuildError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until .build() is called"]
pub struct Builder {
    min_buffer_size: Option<usize>,
    max_buffer_size: Option<usize>,
    tls_cache_size: Option<usize>,
    tls_cache_bytes: Option<usize>,
    max_buffers_per_shard: Option<usize>,
    num_shards: Option<usize>,
    max_pooled_bytes: Option<usize>,
    max_outstanding_bytes: Option<usize>,
    pinned_memory: bool,
    alignment: Option<usize>,
    zeroing: Zeroing,
    eviction_policy: EvictionPolicy,
    cpus: Option<usize>,
    idle_timeout: Option<Duration>,
    read_size: Option<usize>,
    right_size: Option<bool>,
    track_outstanding: Option<usize>,
}

macro_rules! setters {
    ($($(#[$m:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$m])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.$name = Some(v);
            self
        }
    )*};
}

impl Builder {
    /// A builder with every setting at its default.
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Requests smaller than this are served exactly and freed on drop, not
        /// pooled. Default 4 KiB.
        min_buffer_size: usize;
        /// Requests larger than this are served exactly and freed on drop, not
        /// pooled. Default 1 GiB.
        max_buffer_size: usize;
        /// Per-thread cache depth per size class, at most: 1 to 64. The depth adapts
        /// between 2 (or this, if smaller) and this. Left unset, it starts from
        /// [`Builder::cpus`] (the defaults table) and follows demand: a bin that
        /// both finds itself empty on a get and full on a return deepens by one
        /// up to that value, then doubles up to [`MAX_CACHE_DEPTH`](crate::MAX_CACHE_DEPTH), and halves
        /// back per idle-clock tick without such a miss; its bytes stay within
        /// [`tls_cache_bytes`](Builder::tls_cache_bytes) either way. So a
        /// thread whose bursts outgrow the table keeps them in its cache, and
        /// setting this is the way to a hard per-class bound.
        tls_cache_size: usize;
        /// Bytes one thread may keep cached per pool. Buffers larger than this
        /// bypass the thread cache and go straight to the shards. Default
        /// `min(32 MiB, max_pooled_bytes / 8)`, and with
        /// [`max_outstanding_bytes`](Builder::max_outstanding_bytes) set at most
        /// `max_outstanding_bytes / (4 × cpus)`, since a cache's bytes count
        /// against that cap.
        tls_cache_bytes: usize;
        /// Slots per size class in each shard's lock-free queue: 1 to
        /// [`MAX_BUFFERS_PER_SHARD`]. Default from [`Builder::cpus`]. The
        /// queues themselves take [`SHARD_SLOT_BYTES`](crate::SHARD_SLOT_BYTES) per slot, allocated per
        /// (shard, class) on first use. Not a limit on what the pool keeps:
        /// returns that find the queue full go to the class's overflow, and
        /// `max_pooled_bytes` bounds both together.
        max_buffers_per_shard: usize;
        /// Number of shards: a power of two, at most 1024. Default from [`Builder::cpus`].
        num_shards: usize;
        /// Cap on bytes the pool retains while idle, in thread caches and shards
        /// together. Default: a quarter of physical memory, at least
        /// `min(1 GiB, half of it)`.
        max_pooled_bytes: usize;
        /// Cap on bytes handed out and not yet back: every live
        /// [`PooledBuffer`](crate::PooledBuffer) (and `Bytes` frozen from one)
        /// of this pool, plus what thread caches hold ready to hand out (at
        /// most `tls_cache_bytes` each), counted in capacity. Default:
        /// unlimited (`usize::MAX`; nothing is counted, and no path pays for it).
        /// `0` is a [`BuildError`](crate::BuildError).
        ///
        /// At the cap, [`BufferPool::try_get`] fails with an error for which
        /// [`AllocError::is_over_budget`](crate::AllocError::is_over_budget)
        /// holds, [`BufferPool::get_async`] waits in FIFO order,
        /// [`BufferPool::get`] blocks the calling thread, and the async read
        /// layer waits. See "Bounding memory in a server" in the crate docs.
        max_outstanding_bytes: usize;
        /// Address alignment of every buffer: a power of two up to
        /// [`MAX_ALIGNMENT`](crate::MAX_ALIGNMENT) (4096 for `O_DIRECT`).
        /// Pooled capacities are rounded to a multiple of it. Default 1.
        alignment: usize;
        /// Derive the defaults as if the machine had this many CPUs. Default:
        /// [`std::thread::available_parallelism`].
        cpus: usize;
        /// How long an unused buffer may sit in the pool: the idle clock ticks
        /// every `idle_timeout`, and buffers of classes unused for a whole tick
        /// are released. Default 10 s.
        idle_timeout: Duration;
        /// Bytes [`BufferPool::read`] asks for: at least 1, at most
        /// `isize::MAX / 2`. Default 16 KiB.
        read_size: usize;
        /// Whether the async reads move a small result out of a much larger
        /// buffer into a right-sized one. Default true.
        right_size: bool;
    }

    /// mlock every pooled buffer once, when it is allocated; it stays locked
    /// until freed. Pinned buffers are page-aligned with page-multiple
    /// capacities. Default false.
    pub fn pinned_memory(mut self, on: bool) -> Self {
        self.pinned_memory = on;
        self
    }

    /// What is zeroed, and when. Default [`Zeroing::Never`].
    pub fn zeroing(mut self, z: Zeroing) -> Self {
        self.zeroing = z;
        self
    }

    /// Which buffers give way at the byte cap. Default [`EvictionPolicy::Lifo`].
    pub fn eviction_policy(mut self, p: EvictionPolicy) -> Self {
        self.eviction_policy = p;
        self
    }

    /// Records, for one get in `sample_every` (chosen at random, per
    /// thread), where the buffer was taken (a [`std::backtrace::Backtrace`],
    /// captured whatever `RUST_BACKTRACE` says) and when, until it comes
    /// back; [`BufferPool::outstanding_report`] lists the oldest. `1`
    /// records every get. Off by default, and then free: a pool that tracks
    /// sends every get and return through the slow path, a pool that does
    /// not runs the same hot path as without the setting. Measured at 1 in
    /// 128: 685 instructions per get + drop against 102 untracked, about
    /// 60–80 ns more (`docs/benchmarks.md`, "Memory controls"). Netty's
    /// `ResourceLeakDetector` samples 1 in 128 too, but reports a leak only
    /// once the GC collects an unreleased buffer; this lists what is still
    /// out, oldest first, without waiting for anything. `0` is a
    /// [`BuildError`].
    ///
    /// ```
    /// let pool = bufpool::BufferPool::builder().track_outstanding(1).build()?;
    /// let leaked = pool.get(4096);
    /// let report = pool.outstanding_report();
    /// assert_eq!(report.buffers().len(), 1);
    /// println!("{report}"); // age, thread and backtrace of each
    /// # drop(leaked);
    /// # Ok::<(), bufpool::BuildError>(())
    /// ```
    pub fn track_outstanding(mut self, sample_every: usize) -> Self {
        self.track_outstanding = Some(sample_every);
        self
    }

    /// Validates the settings into a [`Config`].
    pub fn config(&self) -> Result<Config, BuildError> {
        let cpus = match self.cpus {
            Some(0) => return Err(BuildError::ZeroCpus),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let (tls, shards, per_shard) = defaults_for(cpus);
        let num_shards = self.num_shards.unwrap_or(shards);
        if num_shards == 0 {
            return Err(BuildError::ZeroShards);
        }
        if !num_shards.is_power_of_two() {
            return Err(BuildError::ShardsNotPowerOfTwo(num_shards));
        }
        if num_shards > 1024 {
            return Err(BuildError::TooManyShards(num_shards));
        }
        let tls_cache_size = self.tls_cache_size.unwrap_or(tls);
        if tls_cache_size == 0 {
            return Err(BuildError::ZeroCacheDepth);
        }
        if tls_cache_size > crate::config::MAX_SET_CACHE_DEPTH {
            return Err(BuildError::CacheDepthTooLarge(tls_cache_size));
        }
        // Set: a hard bound. Left to the defaults: a starting ceiling.
        let max_cache_depth =
            if self.tls_cache_size.is_some() { tls_cache_size } else { crate::MAX_CACHE_DEPTH.max(tls_cache_size) };
        let max_buffers_per_shard = self.max_buffers_per_shard.unwrap_or(per_shard);
        if max_buffers_per_shard == 0 {
            return Err(BuildError::ZeroBuffersPerShard);
        }
        if max_buffers_per_shard > MAX_BUFFERS_PER_SHARD {
            return Err(BuildError::TooManyBuffersPerShard(max_buffers_per_shard));
        }
        let min = self.min_buffer_size.unwrap_or(DEFAULT_MIN_BUFFER_SIZE);
        if min == 0 {
            return Err(BuildError::ZeroMinSize);
        }
        let max = self.max_buffer_size.unwrap_or(DEFAULT_MAX_BUFFER_SIZE.max(min));
        if max > (isize::MAX as usize) / 2 {
            return Err(BuildError::MaxTooLarge(max));
        }
        if min > max {
            return Err(BuildError::MinAboveMax { min, max });
        }
        let mut alignment = self.alignment.unwrap_or(1);
        if !alignment.is_power_of_two() {
            return Err(BuildError::AlignmentNotPowerOfTwo(alignment));
        }
        if alignment > MAX_ALIGNMENT {
            return Err(BuildError::AlignmentTooLarge(alignment));
        }
        if self.pinned_memory {
            alignment = alignment.max(crate::alloc::page_size());
        }
        let max_pooled_bytes =
            self.max_pooled_bytes.unwrap_or_else(|| default_max_pooled_bytes(crate::alloc::physical_memory()));
        let max_outstanding_bytes = self.max_outstanding_bytes.unwrap_or(usize::MAX);
        if max_outstanding_bytes == 0 {
            return Err(BuildError::ZeroOutstandingCap);
        }
        let max_outstanding_bytes =
            if max_outstanding_bytes as u64 >= crate::budget::VALUE { usize::MAX } else { max_outstanding_bytes };
        let tls_default = DEFAULT_TLS_CACHE_BYTES.min(max_pooled_bytes / 8);
        // Under a cap a cache's bytes are charged; a thread that stops
        // using the pool keeps them until its next operation, so the
        // default keeps all caches together well inside the cap.
        let tls_default = if max_outstanding_bytes == usize::MAX {
            tls_default
        } else {
            tls_default.min(max_outstanding_bytes / (4 * cpus))
        };
        let tls_cache_bytes = self.tls_cache_bytes.unwrap_or(tls_default);
        let idle_timeout = self.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT);
        if idle_timeout.is_zero() {
            return Err(BuildError::ZeroIdleTimeout);
        }
        let read_size = self.read_size.unwrap_or(DEFAULT_READ_SIZE);
        if read_size == 0 {
            return Err(BuildError::ZeroReadSize);
        }
        if read_size > (isize::MAX as usize) / 2 {
            return Err(BuildError::ReadSizeTooLarge(read_size));
        }
        if self.track_outstanding == Some(0) {
            return Err(BuildError::ZeroSampleInterval);
        }
        Ok(Config {
            min_buffer_size: min,
            max_buffer_size: max,
            tls_cache_size,
            max_cache_depth,
            tls_cache_bytes,
            max_buffers_per_shard,
            num_shards,
            max_pooled_bytes,
            max_outstanding_bytes,
            pinned_memory: self.pinned_memory,
            alignment,
            zeroing: self.zeroing,
            eviction_policy: self.eviction_policy,
            cpus,
            idle_timeout,
            read_size,
            right_size: self.right_size.unwrap_or(true),
            track_outstanding: self.track_outstanding,
        })
    }

    /// Validates the settings and builds the pool.
    pub fn build(&self) -> Result<BufferPool, BuildError> {
        Ok(BufferPool::from_config(self.config()?))
    }
}
