//! Kernel async file I/O on io_uring with pool buffers, and a thread-pool
//! fallback (feature `uring`, Linux).
//!
//! A [`Ring`] reads into and writes from [`PooledBuffer`](crate::PooledBuffer)s. Its futures run
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
//!   future on a plain descriptor submits its operation in its first poll,
//!   with an `io_uring_enter` of its own, and a page-cache read usually
//!   completes in that poll. A [`RegisteredFile`]'s futures queue on their
//!   first poll and submit on their second, so the executor's other ready
//!   futures join the batch; a [`Ring::read_many`] stream submits all the
//!   reads it has room for with one call. [`RingStats`] counts operations
//!   against `io_uring_enter` calls.
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
//! * **Sockets.** [`Ring::recv`] is a [`Stream`](futures_core::Stream) of
//!   pool buffers from a connected socket, [`Ring::send`] sends a whole
//!   buffer and hands it back ([`Ring::send_vectored`] a `Vec` of them, up
//!   to `IOV_MAX` in each `SENDMSG`), [`Ring::accept`] accepts a connection. On
//!   io_uring (Linux 6.0+) each shard registers a provided-buffer ring of
//!   [`RingBuilder::recv_buffers`] pool buffers and one multishot `recv` per
//!   stream lets the kernel pick a buffer only when bytes arrive: an idle
//!   connection holds no buffer. Each picked buffer becomes an ordinary
//!   [`PooledBuffer`](crate::PooledBuffer) (home to the pool when dropped)
//!   and its slot is refilled from the pool at once. `ENOBUFS` re-arms when
//!   buffers are back ([`RingStats`] counts both); a stream queues at most
//!   [`RingBuilder::recv_queue_limit`] bytes it has not yielded; dropping it
//!   cancels its `recv` and returns once every buffer the kernel picked for
//!   it is back in the pool. Elsewhere (the thread backend, older kernels)
//!   the same API runs on `epoll` readiness, taking a buffer only for a
//!   `recv` call that gets bytes.
//! * **Results.** A short read at end of file returns the bytes read; writes
//!   write everything; `EINTR` and `EAGAIN` are retried; errors keep their
//!   `io::ErrorKind`.
//!
//! # Layout
//!
//! Front ends (`op.rs`: the futures; `many.rs`: `read_many`; `registered.rs`)
//! never ask which backend runs; `slots.rs` owns the slot table and every
//! change of a slot's stage; `waiters.rs` the FIFO of owners waiting for a
//! slot; `shard.rs` holds the only `match` on the backend, which lives in
//! `backend/uring.rs` (with the submission and descriptor rules) and
//! `backend/threads.rs`. `docs/DESIGN.md` has the picture.
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
//! operations to its own shard, so the workers do not contend. A future on a
//! plain descriptor pays one `io_uring_enter` per operation, so that no
//! operation naming a descriptor number waits in a queue after its future's
//! poll returns (a leaked future's would act on a reused descriptor); a
//! [`RegisteredFile`]'s futures and a `read_many` stream pay one per batch.
//! Figures: `docs/benchmarks.md`, "io_uring".

mod backend;
mod builder;
mod error;
mod faults;
mod fixed;
mod fork;
mod many;
mod net;
mod op;
mod registered;
mod ring;
mod shard;
mod slots;
mod stats;
mod sys;
mod waiters;

pub use builder::{
    RingBuilder, DEFAULT_ENTRIES, DEFAULT_FALLBACK_THREADS, DEFAULT_FIXED_COUNT, DEFAULT_FIXED_SIZE, MAX_DEFAULT_SHARDS,
};
#[cfg(feature = "test-util")]
pub use faults::Fault;
pub use many::ReadMany;
#[cfg(feature = "bytes")]
pub use net::SendBytes;
pub use net::{
    Accept, Incoming, RecvStream, SendAll, SendVectored, DEFAULT_RECV_COUNT, DEFAULT_RECV_QUEUE_LIMIT,
    DEFAULT_RECV_SIZE, DEFAULT_SEND_ZEROCOPY_ABOVE,
};
pub use op::{Fsync, ReadAt, WriteAt};
pub use registered::RegisteredFile;
pub use ring::Ring;
pub use shard::Backend;
pub use stats::RingStats;
