//! Kernel async file I/O on io_uring with pool buffers, and a thread-pool
//! fallback (feature `uring`, Linux).
//!
//! A [`Ring`] reads into and writes from [`PooledBuffer`]s. Its futures run
//! under any executor (tokio, smol, `futures::executor::block_on`): they
//! submit in batches and reap completions themselves, and one completion
//! thread per ring waits for (and wakes them on) completions that arrive
//! later.
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
//! * **Batching.** Operations queue in a shared table; one `io_uring_enter`
//!   submits everything queued (a future queues on its first poll and submits
//!   on its second, so the executor's other ready futures join the batch). [`RingStats`]
//!   counts operations against `io_uring_enter` calls.
//! * **Backpressure.** At most `entries` operations are in flight; more wait
//!   (in FIFO order) for a slot. They never fail or panic for lack of room.
//! * **Cancellation.** Dropping a future never frees memory the kernel may
//!   still write: the buffer lives in the operation's slot until its
//!   completion arrives, then goes back to the pool. Once the drop returns, the
//!   ring no longer uses the caller's file descriptor number, so the file may
//!   be closed.
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
//! Reads served from the page cache complete inside the `io_uring_enter` that
//! submits them, on the executor's thread, so a batch costs one system call and
//! no context switch. On a single-threaded executor (`block_on`, smol, tokio's
//! current-thread runtime) batches are as large as the queue depth; on a
//! multi-threaded runtime the worker threads interleave and batches are
//! smaller. Figures: `docs/benchmarks.md`, "io_uring".

mod error;
mod fallback;
mod fixed;
mod op;
mod ring;
mod state;
mod sys;

pub use op::{Fsync, ReadAt, WriteAt};

use crate::{BufferPool, PooledBuffer};
use op::Op;
use state::{Counters, Kind, Shared};
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
    faults: Vec<Fault>,
}

impl RingBuilder {
    /// Operations in flight at once, 1 to 32768. Default [`DEFAULT_ENTRIES`].
    pub fn entries(mut self, n: usize) -> Self {
        self.entries = n;
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

    /// The registered arena: `count` buffers of `size` bytes, taken from the
    /// pool once and registered with the kernel. Only a pool built with
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
        let shared = if self.force_fallback {
            fallback::start(&self.pool, self.entries, self.threads, self.faults)?
        } else {
            match ring::start(&self.pool, self.entries, fixed, self.faults.clone()) {
                Ok(s) => s,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM | libc::EACCES)) => {
                    fallback::start(&self.pool, self.entries, self.threads, self.faults)?
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Ring { handle: Arc::new(Handle { shared }) })
    }
}

/// Async positional file I/O with pooled buffers, on io_uring or a thread
/// pool. Cheap to clone (one `Arc`); `Send + Sync`. The backend shuts down
/// when the last clone and the last future are gone, after every operation in
/// flight has completed.
///
/// See the [module docs](self) for an example and the guarantees.
#[derive(Clone)]
pub struct Ring {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.closing = true;
        self.shared.kick_locked(&mut st);
        let in_kernel = self.shared.backend == Backend::IoUring && !st.thread_idle;
        drop(st);
        if in_kernel {
            // The completion thread may be blocked in io_uring_enter.
            ring::wake_thread(&self.shared);
        }
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("backend", &self.backend())
            .field("entries", &self.entries())
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
        self.handle.shared.backend
    }

    /// Operations in flight at once, at most.
    pub fn entries(&self) -> usize {
        self.handle.shared.entries
    }

    /// Buffers registered with the kernel (0 without a pinned pool, with the
    /// thread backend, or if the kernel refused).
    pub fn registered_buffers(&self) -> usize {
        self.handle.shared.arena.as_ref().map_or(0, |a| a.len())
    }

    /// The pool buffers come from.
    pub fn pool(&self) -> &BufferPool {
        &self.handle.shared.pool
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RingStats {
        let c = &self.handle.shared.counters;
        RingStats {
            ops: Counters::get(&c.ops),
            submit_calls: Counters::get(&c.submit_calls),
            wait_calls: Counters::get(&c.wait_calls),
            wakeups: Counters::get(&c.wakeups),
            retries: Counters::get(&c.retries),
            fixed_ops: Counters::get(&c.fixed_ops),
            max_batch: Counters::get(&c.max_batch),
            slot_waits: Counters::get(&c.slot_waits),
        }
    }
}
