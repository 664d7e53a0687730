//! The same operations on tokio's `AsyncRead` / `AsyncWrite` (feature
//! `tokio`), as separate `*_tokio` methods.
//!
//! Why separate methods rather than one generic `read`: a type such as
//! `&[u8]` implements both crates' `AsyncRead`, so one method generic over
//! "either trait" would be ambiguous at the call site. The `_tokio` methods
//! call tokio's `poll_read` with a `ReadBuf` over the lent pooled buffer
//! directly (no `Compat` wrapper, no runtime needed) and share every state
//! machine with the futures-io methods. Types wrapped in
//! `tokio_util::compat` work with the plain methods too.

use super::copy::CopyState;
use super::flavor::Tokio;
use super::lend::{poll_once, Exact};
use crate::buffer::PooledBuffer;
use crate::BufferPool;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};

/// [`ReadFuture`](crate::ReadFuture) for tokio readers: the future of
/// [`BufferPool::read_tokio`], [`BufferPool::read_up_to_tokio`] and
/// [`pooled_read_tokio`]. Same size (24 bytes for a sized reader), same
/// guarantees: no buffer held while pending, cancel-safe.
#[must_use = "futures do nothing unless polled"]
pub struct TokioReadFuture<'a, R: ?Sized> {
    pool: &'a BufferPool,
    reader: &'a mut R,
    limit: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for TokioReadFuture<'_, R> {
    type Output = io::Result<Option<PooledBuffer>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_once(this.pool, this.limit, cx, &mut Tokio(&mut *this.reader))
    }
}

/// [`ReadExactFuture`](crate::ReadExactFuture) for tokio readers (72 bytes
/// for a sized reader; not cancel-safe: a drop loses the bytes read so far).
#[must_use = "futures do nothing unless polled"]
pub struct TokioReadExactFuture<'a, R: ?Sized> {
    pool: &'a BufferPool,
    reader: &'a mut R,
    len: usize,
    state: Exact,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for TokioReadExactFuture<'_, R> {
    type Output = io::Result<PooledBuffer>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.state.poll(this.pool, this.len, cx, &mut Tokio(&mut *this.reader))
    }
}

/// [`CopyFuture`](crate::CopyFuture) for tokio readers and writers (same size
/// and drop semantics).
#[must_use = "futures do nothing unless polled"]
pub struct TokioCopyFuture<'a, R, W> {
    pool: &'a BufferPool,
    reader: R,
    writer: W,
    state: CopyState,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Future for TokioCopyFuture<'_, R, W> {
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        this.state.poll(this.pool, cx, &mut Tokio(&mut this.reader), &mut Tokio(&mut this.writer))
    }
}

impl BufferPool {
    /// [`read`](BufferPool::read) for a tokio [`AsyncRead`] (`TcpStream`,
    /// `UnixStream`, `DuplexStream`, ...).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let (mut a, mut b) = tokio::io::duplex(64);
    /// tokio::io::AsyncWriteExt::write_all(&mut a, b"hi").await?;
    /// assert_eq!(&pool.read_tokio(&mut b).await?.unwrap()[..], b"hi");
    /// drop(a);
    /// assert!(pool.read_tokio(&mut b).await?.is_none());
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn read_tokio<'a, R>(&'a self, reader: &'a mut R) -> TokioReadFuture<'a, R>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        TokioReadFuture { pool: self, reader, limit: self.config().read_size() }
    }

    /// [`read_up_to`](BufferPool::read_up_to) for a tokio [`AsyncRead`].
    #[inline]
    pub fn read_up_to_tokio<'a, R>(&'a self, reader: &'a mut R, limit: usize) -> TokioReadFuture<'a, R>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        TokioReadFuture { pool: self, reader, limit }
    }

    /// [`read_exact`](BufferPool::read_exact) for a tokio [`AsyncRead`].
    #[inline]
    pub fn read_exact_tokio<'a, R>(&'a self, reader: &'a mut R, len: usize) -> TokioReadExactFuture<'a, R>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        TokioReadExactFuture { pool: self, reader, len, state: Exact::default() }
    }

    /// [`copy`](BufferPool::copy) for a tokio [`AsyncRead`] and
    /// [`AsyncWrite`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut out = Vec::new();
    /// assert_eq!(pool.copy_tokio(&b"abc"[..], &mut out).await?, 3);
    /// assert_eq!(out, b"abc");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn copy_tokio<R, W>(&self, reader: R, writer: W) -> TokioCopyFuture<'_, R, W>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        TokioCopyFuture { pool: self, reader, writer, state: CopyState::default() }
    }
}

/// [`pooled_read`](crate::pooled_read) for a tokio [`AsyncRead`].
#[inline]
pub fn pooled_read_tokio<R>(reader: &mut R, limit: usize) -> TokioReadFuture<'_, R>
where
    R: AsyncRead + Unpin + ?Sized,
{
    crate::global().read_up_to_tokio(reader, limit)
}

/// [`pooled_copy`](crate::pooled_copy) for a tokio [`AsyncRead`] and
/// [`AsyncWrite`].
pub fn pooled_copy_tokio<R, W>(reader: R, writer: W) -> TokioCopyFuture<'static, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    crate::global().copy_tokio(reader, writer)
}
