//! `read`, `read_up_to`, `read_exact` and `pooled_read` on futures-io readers.

use super::flavor::FuturesIo;
use super::lend::{poll_once, Exact};
use crate::buffer::PooledBuffer;
use crate::BufferPool;
use futures_io::AsyncRead;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future of [`BufferPool::read`], [`BufferPool::read_up_to`] and
/// [`pooled_read`]: one read, into a buffer lent only while data is ready.
///
/// It holds two references and the limit, never a buffer: `size_of` is 24
/// bytes on 64-bit targets for a sized reader (32 for `dyn AsyncRead`),
/// checked by a test.
///
/// **Cancel-safe**: it either resolves with the bytes the reader produced or
/// the reader has produced none (a `Pending` reader keeps its data), so
/// dropping it loses nothing and leaks nothing.
#[must_use = "futures do nothing unless polled"]
pub struct ReadFuture<'a, R: ?Sized> {
    pool: &'a BufferPool,
    reader: &'a mut R,
    limit: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadFuture<'_, R> {
    type Output = io::Result<Option<PooledBuffer>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_once(this.pool, this.limit, cx, &mut FuturesIo(&mut *this.reader))
    }
}

/// The future of [`BufferPool::read_exact`].
///
/// Before the first byte arrives it holds no buffer; once some bytes are in,
/// it holds the partly filled one (they cannot be put back into the reader).
/// `size_of` is 72 bytes on 64-bit targets for a sized reader (a test bounds
/// it).
///
/// **Not cancel-safe**, like `tokio::io::AsyncReadExt::read_exact`: dropping
/// it after some bytes were read loses those bytes (the buffer goes back to
/// the pool; nothing leaks), and the stream is then mid-frame.
#[must_use = "futures do nothing unless polled"]
pub struct ReadExactFuture<'a, R: ?Sized> {
    pool: &'a BufferPool,
    reader: &'a mut R,
    len: usize,
    state: Exact,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadExactFuture<'_, R> {
    type Output = io::Result<PooledBuffer>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.state.poll(this.pool, this.len, cx, &mut FuturesIo(&mut *this.reader))
    }
}

impl BufferPool {
    /// Reads once from `reader` (a futures-io [`AsyncRead`]) into a pooled
    /// buffer of up to [`Config::read_size`](crate::Config::read_size) bytes
    /// (default [`DEFAULT_READ_SIZE`](crate::DEFAULT_READ_SIZE), 16 KiB, set
    /// with [`Builder::read_size`](crate::Builder::read_size)). `Ok(None)`
    /// means EOF.
    ///
    /// * **Zero idle memory**: the buffer is taken from the pool inside
    ///   `poll`, lent to the reader for that one `poll_read`, and given back
    ///   if the reader is `Pending`. A million idle connections waiting in
    ///   `read` hold no read buffers. (Each wake-up costs one thread-cache
    ///   get and put, about as much as a few atomic increments.)
    /// * **Zero copies**: the bytes land in the buffer you get, except
    ///   **right-sizing**: when the result would fit a size class at most
    ///   half the buffer's capacity (e.g. at most 8 KiB read with the default
    ///   16 KiB), it is copied into a buffer of that class (at least
    ///   `min_buffer_size`) so a small message does not pin a large buffer.
    ///   On by default; off with
    ///   [`Builder::right_size(false)`](crate::Builder::right_size); counted
    ///   in [`Stats::right_sized`](crate::Stats::right_sized).
    /// * A reader claiming to have read more bytes than it was given gets an
    ///   [`InvalidData`](io::ErrorKind::InvalidData) error; reader errors are
    ///   returned as they are.
    /// * The reader may use the same pool inside its own `poll_read`.
    ///
    /// The future is small and cancel-safe: see [`ReadFuture`]. For tokio
    /// readers, see `read_tokio` (feature `tokio`).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut reader: &[u8] = b"hello";
    /// let data = pool.read(&mut reader).await?.expect("not EOF");
    /// assert_eq!(&data[..], b"hello");
    /// assert!(pool.read(&mut reader).await?.is_none()); // EOF
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn read<'a, R>(&'a self, reader: &'a mut R) -> ReadFuture<'a, R>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        ReadFuture { pool: self, reader, limit: self.config().read_size() }
    }

    /// As [`read`](BufferPool::read), reading up to `limit` bytes. `Ok(None)`
    /// means EOF.
    ///
    /// * `limit == 0` is an [`InvalidInput`](io::ErrorKind::InvalidInput)
    ///   error, never `None` (which would look like EOF).
    /// * A `limit` above `max_buffer_size` is **clamped** to it: the "up to"
    ///   contract allows any short read, and a larger buffer would be an
    ///   unpooled allocation on every read.
    /// * A `limit` below `min_buffer_size` reads at most `limit` bytes into a
    ///   buffer of the smallest class (so it is pooled).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut reader: &[u8] = b"hello world";
    /// assert_eq!(&pool.read_up_to(&mut reader, 5).await?.unwrap()[..], b"hello");
    /// let zero = pool.read_up_to(&mut reader, 0).await.unwrap_err();
    /// assert_eq!(zero.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn read_up_to<'a, R>(&'a self, reader: &'a mut R, limit: usize) -> ReadFuture<'a, R>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        ReadFuture { pool: self, reader, limit }
    }

    /// Reads exactly `len` bytes into one pooled buffer, or fails with
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) if the reader ends
    /// first.
    ///
    /// * No buffer is held until the first byte arrives; then the partly
    ///   filled buffer is held until the rest comes (see [`ReadExactFuture`],
    ///   including what a drop loses).
    /// * `len == 0` resolves at once to an empty buffer without touching the
    ///   reader, as `std::io::Read::read_exact(&mut [])` does.
    /// * `len` above `max_buffer_size` is an
    ///   [`InvalidInput`](io::ErrorKind::InvalidInput) error (it cannot be
    ///   clamped), so a length prefix from the wire cannot make it allocate
    ///   more than the pool's largest class.
    /// * A reader error mid-way is returned as it is, and the buffer goes
    ///   back to the pool.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut reader: &[u8] = b"\x00\x05hello";
    /// let header = pool.read_exact(&mut reader, 2).await?;
    /// let n = u16::from_be_bytes([header[0], header[1]]) as usize;
    /// assert_eq!(&pool.read_exact(&mut reader, n).await?[..], b"hello");
    /// let eof = pool.read_exact(&mut reader, 1).await.unwrap_err();
    /// assert_eq!(eof.kind(), std::io::ErrorKind::UnexpectedEof);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn read_exact<'a, R>(&'a self, reader: &'a mut R, len: usize) -> ReadExactFuture<'a, R>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        ReadExactFuture { pool: self, reader, len, state: Exact::default() }
    }
}

/// [`BufferPool::read_up_to`] on [`global()`](crate::global): a drop-in for
/// `async_io_bufpool::pooled_read`, returning a [`PooledBuffer`] instead of
/// a freshly allocated `Bytes` (no malloc, no copy), with `limit == 0` an
/// error instead of EOF, limits up to `max_buffer_size` instead of 64 KiB,
/// and no thread-local scratch buffer (so no "already borrowed" panic when
/// nested).
///
/// ```
/// # futures::executor::block_on(async {
/// let mut reader: &[u8] = b"ping";
/// let data = bufpool::pooled_read(&mut reader, 8192).await?;
/// assert_eq!(data.as_deref(), Some(&b"ping"[..]));
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
#[inline]
pub fn pooled_read<R>(reader: &mut R, limit: usize) -> ReadFuture<'_, R>
where
    R: AsyncRead + Unpin + ?Sized,
{
    crate::global().read_up_to(reader, limit)
}
