//! [`Config`], a pool's validated settings, the enums they name
//! ([`Zeroing`], [`EvictionPolicy`]), and the defaults per CPU count. A leaf:
//! [`Builder`](crate::Builder) validates into a `Config`; everything else
//! reads one.

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
    /// evicted to make room; classes in use are never emptied by a burst of
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

/// The deepest a thread cache's bin left to the defaults may grow, per size
/// class, following bursts (see
/// [`Builder::tls_cache_size`](crate::Builder::tls_cache_size)); its bytes
/// stay within `tls_cache_bytes`. Netty's thread caches keep 256 entries per
/// small size by default.
pub const MAX_CACHE_DEPTH: usize = 256;

/// The most [`Builder::tls_cache_size`](crate::Builder::tls_cache_size)
/// accepts: a depth set by hand is a hard bound, one of these per class.
pub(crate) const MAX_SET_CACHE_DEPTH: usize = 64;

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
/// Default `read_size` for [`BufferPool::read`](crate::BufferPool::read), the framing readers,
/// `framed_read` and `BufReader`: 16 KiB. Each clamps it to `max_buffer_size`.
pub const DEFAULT_READ_SIZE: usize = 16 << 10;
/// Default `idle_timeout`: 10 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest `max_buffers_per_shard`: 65,536. Each (shard, size class)
/// queue is allocated on the class's first spill to that shard and holds
/// this many slots of [`SHARD_SLOT_BYTES`] each, so one queue at the limit
/// takes 2 MiB.
pub const MAX_BUFFERS_PER_SHARD: usize = 1 << 16;
/// The largest `alignment`: 2 MiB, a huge page. Every buffer is a whole
/// number of alignment units, so the unit is also the smallest buffer the
/// pool hands out: a larger one would make `get(1)` hold more memory than any
/// I/O alignment needs.
pub const MAX_ALIGNMENT: usize = 2 << 20;
/// Bytes one slot of a shard queue takes: a buffer's pointer, capacity and
/// tag, and the queue's sequence stamp. A pool's queues take
/// `num_shards × (size classes used) × max_buffers_per_shard × SHARD_SLOT_BYTES`
/// at most, on top of the buffers; with the defaults on 4 CPUs, 2 KiB per
/// size class in use.
pub const SHARD_SLOT_BYTES: usize = 32;
/// Default per-thread cache bound: 32 MiB per pool (and never more than an
/// eighth of `max_pooled_bytes`).
pub const DEFAULT_TLS_CACHE_BYTES: usize = 32 << 20;

/// The effective, validated settings of a pool: one getter per builder setter.
///
/// ```
/// let pool = bufpool::BufferPool::builder().cpus(32).build().unwrap();
/// let c = pool.config();
/// assert_eq!((c.tls_cache_size(), c.num_shards(), c.max_buffers_per_shard()), (8, 16, 64));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) min_buffer_size: usize,
    pub(crate) max_buffer_size: usize,
    pub(crate) tls_cache_size: usize,
    pub(crate) max_cache_depth: usize,
    pub(crate) tls_cache_bytes: usize,
    pub(crate) max_buffers_per_shard: usize,
    pub(crate) num_shards: usize,
    pub(crate) max_pooled_bytes: usize,
    pub(crate) max_outstanding_bytes: usize,
    pub(crate) pinned_memory: bool,
    pub(crate) alignment: usize,
    pub(crate) zeroing: Zeroing,
    pub(crate) eviction_policy: EvictionPolicy,
    pub(crate) cpus: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) read_size: usize,
    pub(crate) right_size: bool,
    pub(crate) track_outstanding: Option<usize>,
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
        tls_cache_size: usize, "Per-thread cache depth per size class: the ceiling if set with `Builder::tls_cache_size`, else where the ceiling starts (see `max_cache_depth`).";
        max_cache_depth: usize, "The deepest one class's thread cache may grow: `tls_cache_size` if that was set, else [`MAX_CACHE_DEPTH`](crate::MAX_CACHE_DEPTH), reached only by bursts and always within `tls_cache_bytes`.";
        tls_cache_bytes: usize, "Bytes one thread may keep cached per pool.";
        max_buffers_per_shard: usize, "Slots per size class in each shard's queue (the overflow takes the rest, within `max_pooled_bytes`).";
        num_shards: usize, "Number of shards (a power of two).";
        max_pooled_bytes: usize, "Cap on idle bytes retained in caches and shards together.";
        max_outstanding_bytes: usize, "Cap on bytes handed out and not yet back, with what thread caches hold ready (`usize::MAX`: unlimited).";
        pinned_memory: bool, "Whether pooled buffers are mlocked.";
        alignment: usize, "Buffer address alignment (at least the page size when pinned).";
        zeroing: Zeroing, "What is zeroed, and when.";
        eviction_policy: EvictionPolicy, "Which buffers give way at the byte cap.";
        cpus: usize, "The CPU count the defaults were derived from.";
        idle_timeout: std::time::Duration, "The idle clock's period.";
        read_size: usize, "Bytes `BufferPool::read` asks for.";
        right_size: bool, "Whether async reads right-size small results.";
        track_outstanding: Option<usize>, "One get in this many is tracked (`Builder::track_outstanding`); `None`: off.";
    }
}
