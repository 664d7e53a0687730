//! Zero-copy hand-off to `bytes::Bytes` and zero-copy framing (feature `bytes`).
//!
//! * [`PooledBuffer::freeze`](crate::PooledBuffer::freeze) turns a pooled
//!   buffer into a [`Bytes`](bytes::Bytes) without copying; the memory goes
//!   back to its pool when the last clone or slice drops, on any thread, even
//!   after every [`BufferPool`](crate::BufferPool) handle is gone.
//!   `PooledBuffer` also implements [`bytes::BufMut`].
//! * [`BufferPool::lines`](crate::BufferPool::lines) gives a [`LineReader`]
//!   and [`BufferPool::length_delimited`](crate::BufferPool::length_delimited)
//!   a [`FrameReader`] over any `futures_io::AsyncRead`; `lines_tokio` and
//!   `length_delimited_tokio` take a tokio `AsyncRead` (feature `tokio`, no
//!   `compat`; why twins: [`family`]). Both readers are
//!   [`Stream`](futures_core::Stream)s of `io::Result<Bytes>`, and each line
//!   or frame is a [`Bytes`](bytes::Bytes) slice of the pooled buffer it was
//!   read into.
//! * [`BufferPool::frame_writer`](crate::BufferPool::frame_writer) and
//!   [`BufferPool::line_writer`](crate::BufferPool::line_writer) (and
//!   `*_tokio` twins) give a [`FrameWriter`]: items encoded into pooled
//!   buffers, large payloads queued by reference, one vectored write for as
//!   many as are queued.
//! * [`BufferPool::framed_read`](crate::BufferPool::framed_read) (feature
//!   `tokio-util`) runs any `tokio_util::codec::Decoder` over a tokio reader
//!   as a [`PooledFramedRead`], holding no memory between frames.
//!
//! ```
//! # futures::executor::block_on(async {
//! let pool = bufpool::BufferPool::new();
//! let mut lines = pool.lines(&b"SET a 1\r\nGET a\n"[..]);
//! assert_eq!(lines.next_line().await?.as_deref(), Some(&b"SET a 1"[..]));
//! assert_eq!(lines.next_line().await?.as_deref(), Some(&b"GET a"[..]));
//! assert_eq!(lines.next_line().await?, None);
//! # Ok::<(), std::io::Error>(()) }).unwrap();
//! ```
//!
//! # How the readers use buffers
//!
//! A reader borrows a pooled buffer of at least the pool's
//! [`read_size`](crate::Config::read_size) for one `poll_read` only. If the
//! read is `Pending` the buffer goes straight back to the pool, so an idle
//! connection holds no buffer unless it has received part of a line or frame.
//! When data arrives, complete lines or frames are cut from the buffer as
//! `Bytes` slices, with no copy. A line or frame split across reads costs one
//! copy of the partial tail, into the front of the next buffer, which is sized
//! to hold the tail plus a full read (or, for a frame, the whole frame).
//!
//! Only a line longer than a read, which must grow in place, is copied more
//! than once (amortised by doubling, and bounded by `max_len`).
//!
//! A slice keeps its whole buffer alive, so a line or frame shorter than
//! [`copy_below`](LineReader::copy_below) (default [`DEFAULT_COPY_BELOW`],
//! 256 bytes) is copied into its own small allocation instead: storing
//! 10,000 short lines that each came in their own read then keeps 1.5× their
//! bytes, not 10,000 read buffers (366×; `docs/benchmarks.md`).
//! [`Stats::frozen_bytes`](crate::Stats::frozen_bytes) shows what kept
//! slices pin: the capacity of every pooled buffer that lives on only inside
//! `Bytes`.

#[cfg(feature = "tokio-util")]
mod codec;
pub mod family;
mod format;
mod frames;
mod freeze;
mod lines;
mod window;
mod writer;

#[cfg(feature = "tokio-util")]
pub use codec::PooledFramedRead;
#[cfg(feature = "tokio")]
pub use family::Tokio;
pub use family::{Family, Futures, WriteFamily};
pub use frames::{FrameReader, DEFAULT_MAX_FRAME_LEN};
pub use lines::{LineReader, DEFAULT_MAX_LINE_LEN};
pub use writer::{FrameWriter, DEFAULT_SPLICE_FROM, IOV_MAX};

/// Default [`LineReader::copy_below`] and [`FrameReader::copy_below`]: a
/// line or frame shorter than this is copied out rather than pinning the
/// pooled buffer it was read into. Chosen by measurement
/// (`docs/benchmarks.md`, "copy_below").
pub const DEFAULT_COPY_BELOW: usize = 256;
