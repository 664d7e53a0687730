//! Kernel async file I/O on io_uring with pool buffers, and a thread-pool
//! fallback (feature `uring`, Linux).
//!
//! A [`Ring`] reads into and writes from [`PooledBuffer`]s. Its futures run
//! under any executor (tokio, smol, `futures::executor::block_on`): they
//! submit and reap completions themselves, and one completion thread per
//! shard waits for (and wakes them on) completions that arrive later.
//!
//! ```
//! use bufpool::uring::{Backend, Ring};
//! use bufpool::BufferPool;
//! use std::io::Write;
//!
//! let dir = std::env::temp_dir().join(format!("bufpool-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("hello");
//! let pool = BufferPool::new();
//! let ring = Ring::new(&pool, 256)?;
//! let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
//! futures::executor::block_on(async {
//!     let mut buf = pool.with_capacity(16);
//!     buf.write_all(b"hello, ring")?;
//!     let (n, _buf) = ring.write_at(&file, 0, buf).await?;   // the buffer comes back
//!     assert_eq!(n, 11);
//!     ring.fsync(&file).await?;
//!     let got = ring.read_at(&file, 7, 100).await?;          // short at end of file
//!     assert_eq!(&got[..], b"ring");
//!     assert!(matches!(ring.backend(), Backend::IoUring | Backend::Threads));
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Guarantees
//!
//! * **Submission.** Operations take a slot in a table per thread's shard
//!   (one io_uring instance per CPU by default, [`RingBuilder::shards`]). A
//!   future submits its operation in its first poll, with an
//!   `io_uring_enter` of its own, and a page-cache read usually completes in
//!   that poll; a [`Ring::read_many`] stream submits all the reads it has
//!   room for with one call. [`RingStats`] counts operations against
//!   `io_uring_enter` calls.
//! * **Backpressure.** At most `entries` operations are in flight (the shards
//!   split them, and a full shard borrows another's free slots); more wait (in
//!   FIFO order) for a slot. They never fail or panic for lack of room.
//! * **Cancellation.** Dropping a future never frees memory the kernel may
//!   still write: the buffer lives in the operation's slot until its
//!   completion arrives, then goes back to the pool. Once the drop returns, the
//!   ring no longer uses the caller's file descriptor number, so the file may
//!   be closed.
//! * **Leaks.** A future or stream leaked with `mem::forget` loses its slot
//!   and buffer until the ring closes, and nothing else: the kernel never
//!   resolves its descriptor (or registered file) after the poll that
//!   submitted it, so a closed descriptor's number, reused by another file,
//!   is never acted on (the thread backend's workers use a duplicate). When
//!   the last `Ring` handle is gone, the ring cancels what the kernel still
//!   holds, waits for those completions, and then its threads exit and its
//!   io_uring instances and registered arena are freed, leaked futures or
//!   not.
//! * **`fork()`.** A child process must use none of its parent's rings (they
//!   share the parent's kernel queues, and a lock a parent thread held at the
//!   fork stays held). In the child every operation on one is an error
//!   ([`Other`](std::io::ErrorKind::Other), saying so) and dropping it (or its
//!   futures) touches nothing; the child may build rings of its own.
//! * **`O_DIRECT`.** Use a pool built with `.alignment(4096)`; a misaligned
//!   offset or length fails with [`InvalidInput`](std::io::ErrorKind::InvalidInput)
//!   naming the alignment required, not a bare `EINVAL`.
//! * **Registered buffers.** With a `pinned_memory` pool the ring registers an
//!   arena of pinned pool buffers that it owns for its whole life, and
//!   operations that fit use `READ_FIXED`/`WRITE_FIXED` on it, copying to or
//!   from the caller's buffer (registering the caller's buffers themselves
//!   would be unsound: the pool may free one while it is registered). Measured
//!   (`docs/benchmarks.md`), it does not pay for 4 KiB reads, buffered or
//!   `O_DIRECT`; turn it off with [`RingBuilder::registered_buffers`]`(0, 0)`.
//! * **Fallback.** Where io_uring is missing (`ENOSYS`, `EPERM`, `EACCES`) or
//!   [forced off](RingBuilder::force_fallback), the same API runs on a few
//!   threads calling `pread`/`pwrite`; [`Ring::backend`] says which.
//! * **Results.** A short read at end of file returns the bytes read; writes
//!   write everything; `EINTR` and `EAGAIN` are retried; errors keep their
//!   `io::ErrorKind`.
//!
//! # Performance
//!
//! * [`Ring::read_many`] is the cheapest way for one task to keep many reads in
//!   flight: a [`Stream`](futures_core::Stream) of results, no wake-up per
//!   read, about one lock round trip per read.
//! * [`Ring::register`] gives a [`RegisteredFile`]: the kernel then finds the
//!   file by index instead of taking a reference per operation, which matters
//!   when several threads work on one file.
//!
//! Reads served from the page cache complete inside the `io_uring_enter` that
//! submits them, on the executor's thread: no context switch, no wake-up. On a
//! multi-threaded runtime each worker thread submits its own tasks'
//! operations to its own shard, so the workers do not contend. A future pays
//! one `io_uring_enter` per operation, so that no operation waits in a queue
//! after its future's poll returns (a leaked future's would act on a reused
//! descriptor); a `read_many` stream pays one per batch. Figures:
//! `docs/benchmarks.md`, "io_uring".

mod error;
mod fallback;
mod fixed;
mod fork;
mod many;
mod op;
mod registered;
mod ring;
mod state;
mod sys;

pub use many::ReadMany;
pub use op::{Fsync, ReadAt, WriteAt};
pub use registered::RegisteredFile;

use crate::{BufferPool, PooledBuffer};
use op::Op;
use state::{Counters, Group, Kind, Shared};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

/// Which engine runs a [`Ring`]'s operations.
///
/// ```
/// use bufpool::uring::{Backend, Ring};
/// let pool = bufpool::BufferPool::new();
/// let ring = Ring::builder(&pool).force_fallback(true).build()?;
/// assert_eq!(ring.backend(), Backend::Threads);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The kernel's io_uring interface.
    IoUring,
    /// A small thread pool calling `pread`/`pwrite`/`fsync`.
    Threads,
}

/// A fault for [`RingBuilder::inject_faults`]: test support, not part of
/// the stable API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Report this errno instead of the real result (which is discarded: the
    /// transfer happened, and a retry repeats it).
    Errno(i32),
    /// Report at most this many bytes transferred (a short count).
    Short(usize),
}

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

    /// Test support, not part of the stable API: the next results the backend
    /// gets from the kernel (CQEs, or the thread backend's `pread`/`pwrite`/
    /// `fsync` returns, retries included) are altered, one [`Fault`] each, in
    /// order, so tests can drive the `EINTR`/`EAGAIN`/short-count paths
    /// through the public API.
    #[doc(hidden)]
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
        let fixed = if self.pool.config().pinned_memory() {
            Some(self.fixed.unwrap_or((DEFAULT_FIXED_COUNT.min(self.entries), DEFAULT_FIXED_SIZE)))
        } else {
            None
        };
        let group = Arc::new(Group::new(self.faults));
        let fork_gen = fork::generation();
        let fallback = |group: Arc<Group>| -> io::Result<Ring> {
            let mut handle = Handle {
                shards: Vec::with_capacity(1),
                entries: self.entries,
                group: group.clone(),
                backend: Backend::Threads,
                pool: self.pool.clone(),
                fork_gen,
            };
            handle.shards.push(fallback::start(self.entries, self.threads, group)?);
            Ok(Ring { handle: Arc::new(handle) })
        };
        if self.force_fallback {
            return fallback(group);
        }
        let n = self
            .shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_DEFAULT_SHARDS))
            .clamp(1, self.entries);
        // Dropping a partly built handle closes the shards started so far.
        let mut handle = Handle {
            shards: Vec::with_capacity(n),
            entries: self.entries,
            group: group.clone(),
            backend: Backend::IoUring,
            pool: self.pool.clone(),
            fork_gen,
        };
        for i in 0..n {
            // Shard `i`'s share: the first `entries % n` get one more.
            let share = |total: usize| total / n + usize::from(i < total % n);
            let fixed = fixed.map(|(count, size)| (share(count), size));
            match ring::start(&self.pool, share(self.entries), fixed, group.clone()) {
                Ok(s) => handle.shards.push(s),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM | libc::EACCES)) => {
                    drop(handle);
                    return fallback(group);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Ring { handle: Arc::new(handle) })
    }
}

/// Async positional file I/O with pooled buffers, on io_uring or a thread
/// pool. Cheap to clone (one `Arc`); `Send + Sync`. The backend shuts down
/// when the last clone is gone (futures borrow one), after every operation
/// the kernel or a worker still holds has completed or been cancelled.
///
/// See the [module docs](self) for an example and the guarantees.
#[derive(Clone)]
pub struct Ring {
    handle: Arc<Handle>,
}

struct Handle {
    /// One for the thread backend; see [`RingBuilder::shards`].
    shards: Vec<Arc<Shared>>,
    entries: usize,
    group: Arc<Group>,
    /// Copies of what every shard has, read by futures before they pick a
    /// shard (so they do not touch another thread's shard for them).
    backend: Backend,
    pool: BufferPool,
    /// The fork generation the ring was built in (see `fork.rs`).
    fork_gen: u64,
}

impl Handle {
    /// Leaves the ring's wait queue (`ticket`) after taking a slot. If a
    /// releaser already woke us (took us off the queue) for a slot we did not
    /// use, the wake-up is passed on while free slots remain.
    fn leave_queue(&self, ticket: u64) {
        if !self.group.leave(ticket) && self.shards.iter().any(|s| !s.state.lock().free.is_empty()) {
            self.group.wake_next();
        }
    }

    /// The calling thread's shard: threads are numbered in the order they
    /// first ask, so a runtime's workers spread over the shards.
    fn home(&self) -> usize {
        use std::cell::Cell;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static THREAD: Cell<usize> = const { Cell::new(usize::MAX) };
            /// The last (shard count, shard) this thread computed: a division
            /// costs more than the rest of this function, and a thread almost
            /// always uses rings of one size.
            static LAST: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
        }
        match self.shards.len() {
            1 => 0,
            n => {
                let (last_n, last) = LAST.get();
                if last_n == n {
                    return last;
                }
                let k = THREAD.with(|t| {
                    if t.get() == usize::MAX {
                        // Relaxed: only hands out distinct numbers; publishes
                        // nothing, pairs with nothing. (Kept below the sentinel.)
                        t.set(NEXT.fetch_add(1, Ordering::Relaxed) % (usize::MAX / 2));
                    }
                    t.get() % n
                });
                LAST.set((n, k));
                k
            }
        }
    }
}

impl Drop for Handle {
    /// No future or stream is alive (each borrows a handle); leaked ones give
    /// up their slots here, and the backend threads exit once the kernel (or
    /// a worker) is done with every slot (see "Closing" in `ring.rs`).
    fn drop(&mut self) {
        if fork::forked(self.fork_gen) {
            // The parent's ring: leave it alone (see `fork.rs`).
            return;
        }
        for shared in &self.shards {
            match shared.backend {
                Backend::IoUring => ring::close(shared),
                Backend::Threads => {
                    let mut trash = Vec::new();
                    let mut wake = Vec::new();
                    let mut st = shared.state.lock();
                    st.close(&mut trash, &mut wake);
                    shared.kick_locked(&mut st);
                    drop(st);
                    wake.into_iter().for_each(std::task::Waker::wake);
                    drop(trash);
                }
            }
        }
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("backend", &self.backend())
            .field("entries", &self.entries())
            .field("shards", &self.shards())
            .field("registered_buffers", &self.registered_buffers())
            .finish()
    }
}

/// Counters of a [`Ring`], for tests and tuning.
///
/// ```
/// use bufpool::uring::Ring;
/// let pool = bufpool::BufferPool::new();
/// let ring = Ring::new(&pool, 8)?;
/// let s = ring.stats();
/// assert_eq!(s.ops, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingStats {
    /// Operations handed to the kernel (or a worker), retries included.
    pub ops: u64,
    /// `io_uring_enter` calls that submitted (0 for the thread backend).
    pub submit_calls: u64,
    /// `io_uring_enter` calls by the completion thread that only waited.
    pub wait_calls: u64,
    /// Times the completion thread was woken to wait for completions that
    /// did not arrive inline (page-cache misses, `O_DIRECT`, `fsync`).
    pub wakeups: u64,
    /// Resubmissions after `EINTR`, `EAGAIN`, a short write, or a full
    /// chunk of a transfer over 1 GiB (both backends).
    pub retries: u64,
    /// Operations that used a registered buffer (`READ_FIXED`/`WRITE_FIXED`).
    pub fixed_ops: u64,
    /// Operations that named their file through the ring's registered file
    /// table: those of a [`RegisteredFile`], and reads of
    /// [`Ring::read_many`] (which registers its file for as long as it
    /// borrows it).
    pub registered_file_ops: u64,
    /// The largest batch one `io_uring_enter` submitted.
    pub max_batch: u64,
    /// Operations that had to wait for a free slot (the ring was full).
    pub slot_waits: u64,
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
            faults: Vec::new(),
        }
    }

    /// Reads up to `len` bytes at `offset` into a new buffer from the pool.
    /// The buffer's `len()` is the number of bytes read: less than `len` only
    /// at end of file (0 at or past it).
    ///
    /// ```
    /// # use bufpool::uring::Ring;
    /// # let pool = bufpool::BufferPool::new();
    /// # let ring = Ring::new(&pool, 8)?;
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let buf = futures::executor::block_on(ring.read_at(&file, 0, 9))?;
    /// assert_eq!(&buf[..], b"[package]");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_at<'a, F: AsFd>(&'a self, file: &'a F, offset: u64, len: usize) -> ReadAt<'a> {
        // The buffer is taken from the pool when the operation gets a slot.
        ReadAt(Op::new(self, Kind::Read, file.as_fd().as_raw_fd(), offset, len, None))
    }

    /// Reads many ranges of one file, keeping up to `depth` in flight from one
    /// task, and yields each read's offset with its buffer (or error) as it
    /// completes (a
    /// [`Stream`](futures_core::Stream)). Each read is an ordinary operation
    /// (the ring's backpressure, batching and cancellation apply), but the
    /// task is woken once per batch, not once per read: at 4 KiB page-cache
    /// reads this costs less CPU than `depth` [`read_at`](Self::read_at)
    /// futures (figures in `docs/benchmarks.md`, "io_uring").
    ///
    /// `reads` yields `(offset, len)` pairs. A `depth` of 0 is an
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) error.
    ///
    /// ```
    /// # use bufpool::uring::Ring;
    /// use futures::StreamExt;
    /// # let pool = bufpool::BufferPool::new();
    /// # let ring = Ring::new(&pool, 64)?;
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let reads = (0..4).map(|i| (i * 8, 8));
    /// let mut total = 0;
    /// futures::executor::block_on(async {
    ///     let mut stream = ring.read_many(&file, reads, 32)?;
    ///     while let Some((offset, r)) = stream.next().await {
    ///         let buf = r?;
    ///         assert_eq!(buf.len(), 8, "read at {offset}");
    ///         total += buf.len();
    ///     }
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// assert_eq!(total, 32);
    /// assert!(ring.read_many(&file, [(0, 1)], 0).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_many<'a, F: AsFd, I>(
        &'a self,
        file: &'a F,
        reads: I,
        depth: usize,
    ) -> io::Result<ReadMany<'a, I::IntoIter>>
    where
        I: IntoIterator<Item = (u64, usize)>,
    {
        if depth == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "Ring::read_many: depth must be at least 1"));
        }
        if fork::forked(self.handle.fork_gen) {
            return Err(fork::error());
        }
        Ok(ReadMany::new(self, file.as_fd().as_raw_fd(), reads.into_iter(), depth))
    }

    /// Writes all of `buf` at `offset`, returning the bytes written
    /// (`buf.len()`) and the buffer.
    ///
    /// ```
    /// # use bufpool::uring::Ring;
    /// # let pool = bufpool::BufferPool::new();
    /// # let ring = Ring::new(&pool, 8)?;
    /// # let path = std::env::temp_dir().join(format!("bufpool-wdoc-{}", std::process::id()));
    /// let file = std::fs::File::create(&path)?;
    /// let mut buf = pool.get(3);
    /// buf.copy_from_slice(b"abc");
    /// let (n, buf) = futures::executor::block_on(ring.write_at(&file, 10, buf))?;
    /// assert_eq!((n, &buf[..]), (3, &b"abc"[..]));
    /// assert_eq!(std::fs::read(&path)?.len(), 13);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_at<'a, F: AsFd>(&'a self, file: &'a F, offset: u64, buf: PooledBuffer) -> WriteAt<'a> {
        let len = buf.len();
        WriteAt(Op::new(self, Kind::Write, file.as_fd().as_raw_fd(), offset, len, Some(buf)))
    }

    /// Flushes the file's data and metadata to the device (`fsync`).
    ///
    /// ```
    /// # use bufpool::uring::Ring;
    /// # let pool = bufpool::BufferPool::new();
    /// # let ring = Ring::new(&pool, 8)?;
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// futures::executor::block_on(ring.fsync(&file))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fsync<'a, F: AsFd>(&'a self, file: &'a F) -> Fsync<'a> {
        Fsync(Op::new(self, Kind::Fsync, file.as_fd().as_raw_fd(), 0, 0, None))
    }

    /// Which backend runs the operations.
    pub fn backend(&self) -> Backend {
        self.handle.backend
    }

    /// Operations in flight at once, at most.
    pub fn entries(&self) -> usize {
        self.handle.entries
    }

    /// io_uring instances sharing the work (1 for the thread backend); see
    /// [`RingBuilder::shards`].
    pub fn shards(&self) -> usize {
        self.handle.shards.len()
    }

    /// Buffers registered with the kernel (0 without a pinned pool, with the
    /// thread backend, or if the kernel refused).
    pub fn registered_buffers(&self) -> usize {
        self.handle.shards.iter().map(|s| s.arena.as_ref().map_or(0, |a| a.len())).sum()
    }

    /// The pool buffers come from.
    pub fn pool(&self) -> &BufferPool {
        &self.handle.pool
    }

    /// A snapshot of the counters, summed over the shards (`max_batch`: the
    /// largest).
    pub fn stats(&self) -> RingStats {
        let mut s = RingStats::default();
        for shard in &self.handle.shards {
            let c = &shard.counters;
            s.ops += Counters::get(&c.ops);
            s.submit_calls += Counters::get(&c.submit_calls);
            s.wait_calls += Counters::get(&c.wait_calls);
            s.wakeups += Counters::get(&c.wakeups);
            s.retries += Counters::get(&c.retries);
            s.fixed_ops += Counters::get(&c.fixed_ops);
            s.registered_file_ops += Counters::get(&c.file_ops);
            s.max_batch = s.max_batch.max(Counters::get(&c.max_batch));
            s.slot_waits += Counters::get(&c.slot_waits);
        }
        s
    }
}
