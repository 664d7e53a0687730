//! [`Builder`]: defaults per CPU count, and validation into a [`Config`].

use crate::error::BuildError;
use crate::pool::BufferPool;
use std::time::Duration;

/// Which buffers give way when a return would take the pool past
/// `max_pooled_bytes`.
///
/// ```
/// use bufpool::{BufferPool, EvictionPolicy};
/// let pool = BufferPool::builder().eviction_policy(EvictionPolicy::Clock).build().unwrap();
/// assert_eq!(pool.config().eviction_policy(), EvictionPolicy::Clock);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Reuse the most recently returned buffer first; when the pool is full, free
    /// the buffer being returned. Nothing already pooled is ever evicted.
    ///
    /// Reuse is last-in-first-out in each thread cache, where a warm thread
    /// finds nearly every buffer. Buffers that overflow to the shards sit in
    /// crossbeam's lock-free `ArrayQueue`s, which are first-in-first-out: a
    /// shard hands out its oldest buffer first.
    #[default]
    Lifo,
    /// A second-chance bit per size class, set when the class is used and cleared
    /// at every tick of the idle clock. When the byte cap is reached, idle
    /// buffers of classes whose bit is clear (unused since the last sweep) are
    /// evicted to make room; classes in use are never flushed by a burst of
    /// another size.
    Clock,
}

/// What the pool zeroes, and when.
///
/// ```
/// use bufpool::{BufferPool, Zeroing};
/// let pool = BufferPool::builder().zeroing(Zeroing::OnGet).build().unwrap();
/// let mut b = pool.get(4096);
/// b[0] = 7;
/// drop(b);
/// assert_eq!(pool.get(4096)[0], 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Zeroing {
    /// Recycled buffers keep the bytes their last user wrote (still initialised
    /// memory, never undefined behaviour). Fresh buffers are zero. Fastest.
    #[default]
    Never,
    /// `get(n)` zeroes the `n` visible bytes of a recycled buffer.
    OnGet,
    /// A returned buffer's whole capacity is scrubbed before it re-enters the
    /// pool, so no data outlives its user in pooled memory.
    OnReturn,
}

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
    pinned_memory: bool,
    alignment: Option<usize>,
    zeroing: Zeroing,
    eviction_policy: EvictionPolicy,
    cpus: Option<usize>,
    idle_timeout: Option<Duration>,
    read_size: Option<usize>,
    right_size: Option<bool>,
}

/// The defaults' shape, as a function of the CPU count. This is the one
/// definition; the table in the docs is checked against it by a test.
///
/// | cpus | TLS cache | shards | buffers per shard |
/// |---|---|---|---|
/// | 1–4 | 4 | 4 | 16 |
/// | 8 | 6 | 8 | 16 |
/// | 16 | 6 | 8 | 32 |
/// | 32 | 8 | 16 | 64 |
/// | 64 | 8 | 32 | 64 |
/// | 128 | 8 | 64 | 64 |
/// | 256+ | 8 | 128 | 64 |
///
/// Between rows, round the CPU count up to a power of two `p`: shards are `p`
/// up to 8 and `p / 2` above, clamped to `[4, 128]`; the TLS depth is 4 up to
/// 4 CPUs, 6 up to 16, 8 above; buffers per shard are 16 up to 8 CPUs, 32 up
/// to 16, 64 above.
pub(crate) fn defaults_for(cpus: usize) -> (usize, usize, usize) {
    let p = cpus.max(1).checked_next_power_of_two().unwrap_or(1 << 63);
    let shards = if p <= 8 { p } else { p / 2 }.clamp(4, 128);
    let tls = match p {
        0..=4 => 4,
        5..=16 => 6,
        _ => 8,
    };
    let per_shard = match p {
        0..=8 => 16,
        9..=16 => 32,
        _ => 64,
    };
    (tls, shards, per_shard)
}

/// The default byte cap: a quarter of physical memory, but at least
/// `min(1 GiB, half of physical memory)`, so a machine with a few GiB can keep a
/// 500 MB buffer (a 512 MiB class) for reuse. 1 GiB where memory is unknown.
pub(crate) fn default_max_pooled_bytes(phys: Option<u64>) -> usize {
    const GIB: u64 = 1 << 30;
    let bytes = match phys {
        Some(p) => (p / 4).max(GIB.min(p / 2)),
        None => GIB,
    };
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// Default `max_buffer_size`: 1 GiB.
pub const DEFAULT_MAX_BUFFER_SIZE: usize = 1 << 30;
/// Default `min_buffer_size`: 4 KiB.
pub const DEFAULT_MIN_BUFFER_SIZE: usize = 4 << 10;
/// Default `read_size` for [`BufferPool::read`]: 16 KiB.
pub const DEFAULT_READ_SIZE: usize = 16 << 10;
/// Default `idle_timeout`: 10 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest `max_buffers_per_shard`: 65,536. Each (shard, size class)
/// queue is allocated on the class's first spill to that shard and holds
/// this many slots of [`SHARD_SLOT_BYTES`] each, so one queue at the limit
/// takes 2 MiB.
pub const MAX_BUFFERS_PER_SHARD: usize = 1 << 16;
/// Bytes one slot of a shard queue takes: a buffer's pointer, capacity and
/// tag, and the queue's sequence stamp. A pool's queues take
/// `num_shards × (size classes used) × max_buffers_per_shard × SHARD_SLOT_BYTES`
/// at most, on top of the buffers; with the defaults on 4 CPUs, 2 KiB per
/// size class in use.
pub const SHARD_SLOT_BYTES: usize = 32;
/// Default per-thread cache bound: 32 MiB per pool (and never more than an
/// eighth of `max_pooled_bytes`).
pub const DEFAULT_TLS_CACHE_BYTES: usize = 32 << 20;

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
        /// Per-thread cache depth per size class, at most. The depth adapts
        /// between 2 (or this, if smaller) and this. Default from [`Builder::cpus`].
        tls_cache_size: usize;
        /// Bytes one thread may keep cached per pool. Buffers larger than this
        /// bypass the thread cache and go straight to the shards. Default
        /// `min(32 MiB, max_pooled_bytes / 8)`.
        tls_cache_bytes: usize;
        /// Idle buffers kept per size class per shard: 1 to
        /// [`MAX_BUFFERS_PER_SHARD`]. Default from [`Builder::cpus`]. The
        /// queues themselves take [`SHARD_SLOT_BYTES`] per slot, allocated per
        /// (shard, class) on first use.
        max_buffers_per_shard: usize;
        /// Number of shards: a power of two, at most 1024. Default from [`Builder::cpus`].
        num_shards: usize;
        /// Cap on bytes the pool retains while idle, in thread caches and shards
        /// together. Default: a quarter of physical memory, at least
        /// `min(1 GiB, half of it)`.
        max_pooled_bytes: usize;
        /// Address alignment of every buffer: a power of two (4096 for
        /// `O_DIRECT`). Pooled capacities are rounded to a multiple of it. Default 1.
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
        if tls_cache_size > 64 {
            return Err(BuildError::CacheDepthTooLarge(tls_cache_size));
        }
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
        if alignment > 1 << 30 {
            return Err(BuildError::AlignmentTooLarge(alignment));
        }
        if self.pinned_memory {
            alignment = alignment.max(crate::alloc::page_size());
        }
        let max_pooled_bytes =
            self.max_pooled_bytes.unwrap_or_else(|| default_max_pooled_bytes(crate::alloc::physical_memory()));
        let tls_cache_bytes = self.tls_cache_bytes.unwrap_or(DEFAULT_TLS_CACHE_BYTES.min(max_pooled_bytes / 8));
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
        Ok(Config {
            min_buffer_size: min,
            max_buffer_size: max,
            tls_cache_size,
            tls_cache_bytes,
            max_buffers_per_shard,
            num_shards,
            max_pooled_bytes,
            pinned_memory: self.pinned_memory,
            alignment,
            zeroing: self.zeroing,
            eviction_policy: self.eviction_policy,
            cpus,
            idle_timeout,
            read_size,
            right_size: self.right_size.unwrap_or(true),
        })
    }

    /// Validates the settings and builds the pool.
    pub fn build(&self) -> Result<BufferPool, BuildError> {
        Ok(BufferPool::from_config(self.config()?))
    }
}

/// The effective, validated settings of a pool: one getter per builder setter.
///
/// ```
/// let pool = bufpool::BufferPool::builder().cpus(32).build().unwrap();
/// let c = pool.config();
/// assert_eq!((c.tls_cache_size(), c.num_shards(), c.max_buffers_per_shard()), (8, 16, 64));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    min_buffer_size: usize,
    max_buffer_size: usize,
    tls_cache_size: usize,
    tls_cache_bytes: usize,
    max_buffers_per_shard: usize,
    num_shards: usize,
    max_pooled_bytes: usize,
    pinned_memory: bool,
    alignment: usize,
    zeroing: Zeroing,
    eviction_policy: EvictionPolicy,
    cpus: usize,
    idle_timeout: Duration,
    read_size: usize,
    right_size: bool,
}

macro_rules! getters {
    ($($name:ident: $ty:ty, $doc:literal;)*) => {$(
        #[doc = $doc]
        pub fn $name(&self) -> $ty {
            self.$name
        }
    )*};
}

impl Config {
    getters! {
        min_buffer_size: usize, "Smallest pooled request size.";
        max_buffer_size: usize, "Largest pooled request size.";
        tls_cache_size: usize, "Maximum per-thread cache depth per size class.";
        tls_cache_bytes: usize, "Bytes one thread may keep cached per pool.";
        max_buffers_per_shard: usize, "Idle buffers kept per size class per shard.";
        num_shards: usize, "Number of shards (a power of two).";
        max_pooled_bytes: usize, "Cap on idle bytes retained in caches and shards together.";
        pinned_memory: bool, "Whether pooled buffers are mlocked.";
        alignment: usize, "Buffer address alignment (at least the page size when pinned).";
        zeroing: Zeroing, "What is zeroed, and when.";
        eviction_policy: EvictionPolicy, "Which buffers give way at the byte cap.";
        cpus: usize, "The CPU count the defaults were derived from.";
        idle_timeout: std::time::Duration, "The idle clock's period.";
        read_size: usize, "Bytes `BufferPool::read` asks for.";
        right_size: bool, "Whether async reads right-size small results.";
    }
}
