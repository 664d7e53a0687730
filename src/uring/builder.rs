//! [`RingBuilder`]: a ring's settings, and the start of its shards.

#[cfg(feature = "test-util")]
use crate::uring::faults::Fault;
use crate::uring::faults::Faults;
use crate::uring::fork;
use crate::uring::net::config::NetConfig;
use crate::uring::net::engine::Net;
use crate::uring::ring::Ring;
use crate::uring::shard::{RingShard, Shards};
use crate::uring::waiters::Waiters;
use crate::BufferPool;
use std::io;
use std::sync::Arc;

/// Default number of entries: operations in flight at once.
pub const DEFAULT_ENTRIES: usize = 256;
/// Most shards (io_uring rings) a [`Ring`] gets by default, whatever the
/// number of CPUs.
pub const MAX_DEFAULT_SHARDS: usize = 8;
/// Default worker threads of the thread backend.
pub const DEFAULT_FALLBACK_THREADS: usize = 4;
/// Default registered arena with a pinned pool: this many buffers...
pub const DEFAULT_FIXED_COUNT: usize = 32;
/// ...of this many bytes each.
pub const DEFAULT_FIXED_SIZE: usize = 64 << 10;

/// Configures a [`Ring`].
///
/// ```
/// use bufpool::uring::Ring;
/// let pool = bufpool::BufferPool::new();
/// let ring = Ring::builder(&pool).entries(64).fallback_threads(2).build()?;
/// assert_eq!(ring.entries(), 64);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a RingBuilder does nothing until .build() is called"]
pub struct RingBuilder {
    pool: BufferPool,
    entries: usize,
    force_fallback: bool,
    threads: usize,
    fixed: Option<(usize, usize)>,
    shards: Option<usize>,
    /// Socket settings (`net/mod.rs` has their setters).
    pub(crate) net: NetConfig,
    #[cfg(feature = "test-util")]
    faults: Vec<Fault>,
}

impl RingBuilder {
    /// Operations in flight at once, 1 to 32768. Default [`DEFAULT_ENTRIES`].
    pub fn entries(mut self, n: usize) -> Self {
        self.entries = n;
        self
    }

    /// How many io_uring instances (shards) share the work. Each thread
    /// submits through one shard, picked by the thread (so the threads of a
    /// multi-threaded executor do not contend for one queue), and takes a
    /// slot in another shard only when its own is full. The `entries` are
    /// split between the shards: the ring as a whole still runs at most
    /// `entries` operations at once. Each shard has its own completion
    /// thread (asleep unless operations are in flight that did not complete
    /// inline). Clamped to 1..=`entries`; the thread backend always has one.
    /// Default: the number of CPUs, at most [`MAX_DEFAULT_SHARDS`]. One shard
    /// is the whole ring behind one lock, which a multi-threaded executor's
    /// workers then share (see `docs/benchmarks.md`, "io_uring").
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::builder(&pool).entries(64).shards(1).build()?;
    /// assert_eq!(ring.shards(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }

    /// Use the thread backend even where io_uring works. Default false.
    pub fn force_fallback(mut self, on: bool) -> Self {
        self.force_fallback = on;
        self
    }

    /// Worker threads of the thread backend. Default [`DEFAULT_FALLBACK_THREADS`].
    pub fn fallback_threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// The registered arena: `count` buffers of `size` bytes (split between
    /// the shards), taken from the pool once and registered with the kernel. Only a pool built with
    /// `pinned_memory(true)` gets one (registration pins pages, and the arena
    /// must hold mlocked memory); operations of at most `size` bytes then use
    /// `READ_FIXED`/`WRITE_FIXED` through it, copying between the arena buffer
    /// and the caller's buffer. `count == 0` turns it off. Default
    /// [`DEFAULT_FIXED_COUNT`] × [`DEFAULT_FIXED_SIZE`] for pinned pools.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// let pool = bufpool::BufferPool::builder().pinned_memory(true).build().unwrap();
    /// let ring = Ring::builder(&pool).registered_buffers(8, 4096).build()?;
    /// assert!(ring.registered_buffers() <= 8); // 0 if registration is refused
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn registered_buffers(mut self, count: usize, size: usize) -> Self {
        self.fixed = Some((count, size));
        self
    }

    /// Test support (feature `test-util`), not part of the stable API: the
    /// next results the backend gets from the kernel (CQEs, or the thread
    /// backend's `pread`/`pwrite`/`fsync` returns, retries included) are
    /// altered, one [`Fault`] each, in order, so tests can drive the
    /// `EINTR`/`EAGAIN`/short-count paths through the public API.
    #[cfg(feature = "test-util")]
    pub fn inject_faults(mut self, faults: impl IntoIterator<Item = Fault>) -> Self {
        self.faults.extend(faults);
        self
    }

    /// Builds the ring: io_uring if available, else the thread backend.
    ///
    /// # Errors
    /// `InvalidInput` for `entries` outside 1..=32768; any io_uring setup error
    /// other than "unavailable" (`ENOSYS`, `EPERM`, `EACCES`, which fall back);
    /// thread spawn errors.
    pub fn build(self) -> io::Result<Ring> {
        if self.entries == 0 || self.entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Ring entries must be in 1..=32768, got {}", self.entries),
            ));
        }
        self.net.check()?;
        let fixed = if self.pool.config().pinned_memory() {
            Some(self.fixed.unwrap_or((DEFAULT_FIXED_COUNT.min(self.entries), DEFAULT_FIXED_SIZE)))
        } else {
            None
        };
        let waiters = Waiters::new();
        let faults = Arc::new(self.faults());
        let fork_gen = fork::generation();
        let shards = || Shards::new(self.entries, self.pool.clone(), waiters.clone(), fork_gen);
        let fallback = || -> io::Result<Ring> {
            let mut s = shards();
            s.push(RingShard::start_threads(self.entries, self.threads, waiters.clone(), faults.clone())?);
            Ok(self.ring(s))
        };
        if self.force_fallback {
            return fallback();
        }
        let n = self
            .shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_DEFAULT_SHARDS))
            .clamp(1, self.entries);
        // Dropping a partly built `Shards` closes the shards started so far.
        let mut s = shards();
        for i in 0..n {
            // Shard `i`'s share: the first `entries % n` get one more.
            let share = |total: usize| total / n + usize::from(i < total % n);
            let fixed = fixed.map(|(count, size)| (share(count), size));
            match RingShard::start_uring(&self.pool, share(self.entries), fixed, waiters.clone(), faults.clone()) {
                Ok(shard) => s.push(shard),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM | libc::EACCES)) => {
                    drop(s);
                    return fallback();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.ring(s))
    }

    /// The ring on shards `s`, with its (not yet started) socket engine.
    fn ring(&self, s: Shards) -> Ring {
        let net = Net::new(self.net, &self.pool, s.len(), s.backend(), s.fork_gen);
        Ring { shards: Arc::new(s), net: Arc::new(net) }
    }

    #[cfg(feature = "test-util")]
    fn faults(&self) -> Faults {
        Faults::new(self.faults.clone())
    }

    #[cfg(not(feature = "test-util"))]
    fn faults(&self) -> Faults {
        Faults::default()
    }
}
impl Ring {
    /// A ring of `entries` on `pool` with default settings: io_uring if the
    /// kernel allows it, else the thread backend.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let ring = bufpool::uring::Ring::new(&pool, 256)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`RingBuilder::build`].
    pub fn new(pool: &BufferPool, entries: usize) -> io::Result<Ring> {
        Ring::builder(pool).entries(entries).build()
    }

    /// A [`RingBuilder`] on `pool`.
    pub fn builder(pool: &BufferPool) -> RingBuilder {
        RingBuilder {
            pool: pool.clone(),
            entries: DEFAULT_ENTRIES,
            force_fallback: false,
            threads: DEFAULT_FALLBACK_THREADS,
            fixed: None,
            shards: None,
            net: NetConfig::default(),
            #[cfg(feature = "test-util")]
            faults: Vec::new(),
        }
    }
}
