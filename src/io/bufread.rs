//! [`BufReader`]: an `AsyncBufRead` that holds a pooled buffer only while it
//! has unconsumed bytes.

use super::flavor::{FuturesIo, Source};
use super::lend::{give_back_pending, lend, read_limit};
use crate::buffer::PooledBuffer;
use crate::BufferPool;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// A buffered reader whose buffer comes from a pool and goes back to it as
/// soon as everything in it has been consumed: an idle or drained
/// connection holds **no** buffer, where `tokio::io::BufReader` and
/// `futures::io::BufReader` hold theirs (8 KiB by default) for as long as
/// they live.
///
/// It is an `AsyncBufRead` and `AsyncRead` of futures-io over a futures-io
/// reader, and of tokio (feature `tokio`) over a tokio reader, so the usual
/// extension traits work on it: `read_line`, `read_until`, `lines()`,
/// `tokio_util::codec::FramedRead`, `tokio_util::io::ReaderStream`, parsers
/// that take an `AsyncBufRead`.
///
/// * `poll_fill_buf` with nothing buffered lends a pooled buffer of
///   [`read_size`](crate::Config::read_size) bytes to one read. If the reader
///   is `Pending`, the buffer goes straight back (scrubbed where it was lent
///   under `Zeroing::OnReturn`, since a reader may write scratch bytes and
///   still pend); at the end of input (a 0-byte read) too.
/// * `consume` that reaches the end of the buffered bytes gives the buffer
///   back at once.
/// * A plain read into a slice of at least `read_size` bytes with nothing
///   buffered goes straight to the reader, as std's `BufReader` does.
/// * A reader that claims more bytes than it was lent gets
///   [`InvalidData`](io::ErrorKind::InvalidData).
///
/// ```
/// use futures::io::AsyncBufReadExt;
/// # futures::executor::block_on(async {
/// let pool = bufpool::BufferPool::new();
/// let mut r = bufpool::BufReader::new(&pool, &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
/// let mut line = String::new();
/// r.read_line(&mut line).await?;
/// assert_eq!(line, "GET / HTTP/1.1\r\n");
/// assert_eq!(pool.stats().outstanding_buffers, 1); // the rest is buffered
/// let rest: Vec<String> = futures::TryStreamExt::try_collect(r.lines()).await?;
/// assert_eq!(rest, ["Host: x", ""]);
/// assert_eq!(pool.stats().outstanding_buffers, 0); // drained: nothing held
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
pub struct BufReader<R> {
    inner: R,
    state: Buffered,
}

/// The buffer half of a [`BufReader`], apart from the reader so that both
/// can be borrowed at once.
struct Buffered {
    pool: BufferPool,
    /// Bytes read and not yet consumed are `buf[pos..]`; `None` when there
    /// are none.
    buf: Option<PooledBuffer>,
    pos: usize,
    read_size: usize,
}

impl<R> BufReader<R> {
    /// A buffered reader over `inner` with buffers of the pool's
    /// [`read_size`](crate::Config::read_size) (16 KiB by default).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let r = bufpool::BufReader::new(&pool, &b"data"[..]);
    /// assert!(r.buffer().is_empty()); // nothing read, nothing held
    /// ```
    pub fn new(pool: &BufferPool, inner: R) -> Self {
        Self::with_read_size(pool, pool.config().read_size(), inner)
    }

    /// A buffered reader that reads up to `read_size` bytes at a time
    /// (clamped to `1..=max_buffer_size`).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let r = bufpool::BufReader::with_read_size(&pool, 4096, &b"data"[..]);
    /// # drop(r);
    /// ```
    pub fn with_read_size(pool: &BufferPool, read_size: usize, inner: R) -> Self {
        let read_size = read_limit(pool, read_size.max(1)).unwrap_or(1);
        BufReader { inner, state: Buffered { pool: pool.clone(), buf: None, pos: 0, read_size } }
    }

    /// The bytes read and not yet consumed.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert_eq!(bufpool::BufReader::new(&pool, &b""[..]).buffer(), b"");
    /// ```
    pub fn buffer(&self) -> &[u8] {
        self.state.buffer()
    }

    /// The underlying reader.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert_eq!(*bufpool::BufReader::new(&pool, &b"x"[..]).get_ref(), b"x");
    /// ```
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader, mutably; reading from it directly skips the
    /// buffered bytes.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut r = bufpool::BufReader::new(&pool, &b"x"[..]);
    /// *r.get_mut() = &b"y"[..];
    /// ```
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Gives the reader back; buffered bytes are lost (see
    /// [`buffer`](BufReader::buffer)).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let r: &[u8] = bufpool::BufReader::new(&pool, &b"x"[..]).into_inner();
    /// assert_eq!(r, b"x");
    /// ```
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl Buffered {
    fn buffer(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.pos..],
            None => &[],
        }
    }

    /// Fills the buffer if it is empty and returns the unconsumed bytes;
    /// empty at the end of input.
    fn poll_fill<S: Source>(&mut self, cx: &mut Context<'_>, src: &mut S) -> Poll<io::Result<&[u8]>> {
        if self.buf.is_none() {
            let mut b = std::task::ready!(lend(&self.pool, self.read_size, cx))?;
            let n = match src.poll_read_into(cx, &mut b) {
                Poll::Pending => {
                    give_back_pending(&self.pool, b, 0..self.read_size);
                    return Poll::Pending;
                }
                Poll::Ready(r) => r?,
            };
            if n == 0 {
                return Poll::Ready(Ok(&[]));
            }
            b.truncate(n);
            self.buf = Some(b);
            self.pos = 0;
        }
        Poll::Ready(Ok(self.buffer()))
    }

    fn consume_bytes(&mut self, amt: usize) {
        if let Some(b) = &self.buf {
            self.pos = (self.pos + amt).min(b.len());
            if self.pos == b.len() {
                // Drained: the buffer goes home now, not at the next read.
                self.buf = None;
                self.pos = 0;
            }
        }
    }

    /// Whether a read of `want` bytes should go around the buffer: nothing
    /// is buffered and the caller's slice holds a whole read.
    #[inline]
    fn bypass(&self, want: usize) -> bool {
        self.buf.is_none() && want >= self.read_size
    }
}

impl<R: futures_io::AsyncRead + Unpin> futures_io::AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        this.state.poll_fill(cx, &mut FuturesIo(&mut this.inner))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().state.consume_bytes(amt);
    }
}

impl<R: futures_io::AsyncRead + Unpin> futures_io::AsyncRead for BufReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.state.bypass(out.len()) {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let data = ready!(this.state.poll_fill(cx, &mut FuturesIo(&mut this.inner)))?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        this.state.consume_bytes(n);
        Poll::Ready(Ok(n))
    }
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        this.state.poll_fill(cx, &mut super::flavor::Tokio(&mut this.inner))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().state.consume_bytes(amt);
    }
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for BufReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.state.bypass(out.remaining()) {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let data = ready!(this.state.poll_fill(cx, &mut super::flavor::Tokio(&mut this.inner)))?;
        let n = data.len().min(out.remaining());
        out.put_slice(&data[..n]);
        this.state.consume_bytes(n);
        Poll::Ready(Ok(()))
    }
}

impl<R> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("buffered", &self.buffer().len())
            .field("read_size", &self.state.read_size)
            .finish_non_exhaustive()
    }
}
