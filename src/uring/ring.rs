//! [`Ring`]: the user's handle, and its operations on borrowed files.

use crate::uring::fork;
use crate::uring::many::ReadMany;
use crate::uring::net::engine::Net;
use crate::uring::op::{Fsync, Op, ReadAt, WriteAt};
use crate::uring::shard::{Backend, Shards};
use crate::uring::slots::Kind;
use crate::uring::stats::RingStats;
use crate::{BufferPool, PooledBuffer};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

/// Async positional file I/O with pooled buffers, on io_uring or a thread
/// pool. Cheap to clone (one `Arc`); `Send + Sync`. The backend shuts down
/// when the last clone is gone (futures borrow one), after every operation
/// the kernel or a worker still holds has completed or been cancelled.
///
/// See the [module docs](crate::uring) for an example and the guarantees.
#[derive(Clone)]
pub struct Ring {
    pub(crate) shards: Arc<Shards>,
    /// Sockets (`net/`): started on the first socket operation.
    pub(crate) net: Arc<Net>,
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

impl Ring {
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
        ReadAt(Op::new(&self.shards, Kind::Read, file.as_fd().as_raw_fd(), offset, len, None))
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
        if self.shards.forked() {
            return Err(fork::error());
        }
        Ok(ReadMany::new(&self.shards, file.as_fd().as_raw_fd(), reads.into_iter(), depth))
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
        WriteAt(Op::new(&self.shards, Kind::Write, file.as_fd().as_raw_fd(), offset, len, Some(buf)))
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
        Fsync(Op::new(&self.shards, Kind::Fsync, file.as_fd().as_raw_fd(), 0, 0, None))
    }

    /// Which backend runs the operations.
    pub fn backend(&self) -> Backend {
        self.shards.backend()
    }

    /// Operations in flight at once, at most.
    pub fn entries(&self) -> usize {
        self.shards.entries
    }

    /// io_uring instances sharing the work (1 for the thread backend); see
    /// [`RingBuilder::shards`](crate::uring::RingBuilder::shards).
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Buffers registered with the kernel (0 without a pinned pool, with the
    /// thread backend, or if the kernel refused).
    pub fn registered_buffers(&self) -> usize {
        self.shards.iter().map(|s| s.core.arena.as_ref().map_or(0, |a| a.len())).sum()
    }

    /// The pool buffers come from.
    pub fn pool(&self) -> &BufferPool {
        &self.shards.pool
    }

    /// A snapshot of the counters, summed over the shards (`max_batch`: the
    /// largest).
    pub fn stats(&self) -> RingStats {
        let mut s = RingStats::default();
        for shard in self.shards.iter() {
            shard.core.stats.add_to(&mut s);
        }
        self.net.add_stats(&mut s);
        s
    }
}
