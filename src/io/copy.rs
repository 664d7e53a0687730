//! `copy`: reader to writer through pooled buffers, holding none while the
//! reader waits. The state machine here serves both reader flavours; the
//! futures-io surface ([`BufferPool::copy`], [`pooled_copy`]) is below it.

use super::flavor::{FuturesIo, Sink, Source};
use super::lend::{give_back_pending, lend, read_limit};
use crate::buffer::PooledBuffer;
use crate::BufferPool;
use futures_io::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Where a copy is.
#[derive(Default)]
pub(crate) struct CopyState {
    /// The chunk being written (`pos..len()` still to go). `None` whenever the
    /// future is waiting for the reader.
    buf: Option<PooledBuffer>,
    pos: usize,
    total: u64,
    /// The reader hit EOF; only the flush is left.
    flushing: bool,
}

impl CopyState {
    pub(crate) fn poll<S: Source, K: Sink>(
        &mut self,
        pool: &BufferPool,
        cx: &mut Context<'_>,
        src: &mut S,
        sink: &mut K,
    ) -> Poll<io::Result<u64>> {
        loop {
            if self.flushing {
                return match sink.poll_flush_all(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(r) => {
                        self.flushing = false;
                        Poll::Ready(r.map(|()| self.total))
                    }
                };
            }
            // Write out the chunk we hold. Waiting for the writer keeps it: its
            // bytes have left the reader and must not be lost.
            let mut spare = None;
            if let Some(buf) = self.buf.take() {
                while self.pos < buf.len() {
                    let rest = buf.len() - self.pos;
                    match sink.poll_write_from(cx, &buf[self.pos..]) {
                        Poll::Pending => {
                            self.buf = Some(buf);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                "the writer accepted 0 bytes",
                            )));
                        }
                        Poll::Ready(Ok(k)) => {
                            debug_assert!(k <= rest, "Sink::poll_write_from checks the count");
                            self.pos += k;
                            self.total += k as u64;
                        }
                    }
                }
                spare = Some(buf);
            }
            // Read the next chunk, into the buffer we already hold if any (a
            // ready reader costs no pool round trip per chunk).
            let chunk = read_limit(pool, pool.config().read_size())?;
            let reused = spare.is_some();
            let mut buf = match spare {
                Some(mut b) => {
                    b.set_len(chunk);
                    b
                }
                None => std::task::ready!(lend(pool, chunk, cx))?,
            };
            match src.poll_read_into(cx, &mut buf) {
                // `buf` goes home: nothing is held while the reader waits. A
                // reused one still holds the last chunk, so it is scrubbed
                // under `OnReturn`; a fresh loan is checked first.
                Poll::Pending => {
                    if reused {
                        drop(buf);
                    } else {
                        give_back_pending(pool, buf, 0..chunk);
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => self.flushing = true,
                Poll::Ready(Ok(n)) => {
                    debug_assert!(n <= chunk, "Source::poll_read_into checks the count");
                    buf.truncate(n);
                    self.pos = 0;
                    self.buf = Some(buf);
                }
            }
        }
    }
}

/// The future of [`BufferPool::copy`] and [`pooled_copy`]: resolves to the
/// number of bytes copied.
///
/// It owns `R` and `W` (pass `&mut reader` to keep yours) and a
/// [`PooledBuffer`] slot: `size_of` is `size_of::<R>() + size_of::<W>() + 72`
/// on 64-bit targets (88 bytes for two `&mut` references; a test bounds it).
///
/// **Cancellation**: dropping it leaks nothing (the chunk in flight goes back
/// to the pool), but a chunk that was read and not yet fully written is lost,
/// as with `futures::io::copy` and `tokio::io::copy`. The bytes already
/// written stay written.
#[must_use = "futures do nothing unless polled"]
pub struct CopyFuture<'a, R, W> {
    pool: &'a BufferPool,
    reader: R,
    writer: W,
    state: CopyState,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Future for CopyFuture<'_, R, W> {
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        this.state.poll(this.pool, cx, &mut FuturesIo(&mut this.reader), &mut FuturesIo(&mut this.writer))
    }
}

impl BufferPool {
    /// Copies everything from `reader` to `writer` (futures-io traits), then
    /// flushes `writer`; returns the number of bytes copied.
    ///
    /// Each chunk (up to [`Config::read_size`](crate::Config::read_size)
    /// bytes) is read straight into a pooled buffer and written from it: no
    /// intermediate copy. While the reader is `Pending` the copy holds **no**
    /// buffer; while the writer is `Pending` it holds the one chunk in flight.
    /// Errors from the reader or the writer are returned as they are; a writer
    /// that accepts 0 bytes gives [`WriteZero`](io::ErrorKind::WriteZero), and
    /// a reader or writer that claims more bytes than it was given gives
    /// [`InvalidData`](io::ErrorKind::InvalidData).
    ///
    /// See [`CopyFuture`] for its size and what a drop loses.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut reader: &[u8] = &[7u8; 100_000];
    /// let mut writer = Vec::new();
    /// let n = pool.copy(&mut reader, &mut writer).await?;
    /// assert_eq!(n, 100_000);
    /// assert_eq!(writer, vec![7u8; 100_000]);
    /// assert_eq!(pool.stats().outstanding_buffers, 0);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn copy<R, W>(&self, reader: R, writer: W) -> CopyFuture<'_, R, W>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        CopyFuture { pool: self, reader, writer, state: CopyState::default() }
    }
}

/// [`BufferPool::copy`] on [`global()`](crate::global): a drop-in for
/// `async_io_bufpool::pooled_copy`, without its fresh allocation per chunk.
///
/// ```
/// # futures::executor::block_on(async {
/// let mut out = Vec::new();
/// let n = bufpool::pooled_copy(&b"hello"[..], &mut out).await?;
/// assert_eq!((n, &out[..]), (5, &b"hello"[..]));
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
pub fn pooled_copy<R, W>(reader: R, writer: W) -> CopyFuture<'static, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    crate::global().copy(reader, writer)
}
