//! The two `poll_read` flavours (futures-io's `&mut [u8]` and tokio's
//! `ReadBuf`) behind one private pair of traits, so every state machine in
//! the read layer is written once. The wrappers hold a `&mut` to the caller's
//! reader or writer for the duration of one `poll`: they cost nothing and are
//! never seen by users.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Something to read from, polled into an initialised slice.
pub(crate) trait Source {
    /// Reads into `buf`, returning the count the reader reported, unchecked
    /// (a buggy reader may claim more than `buf.len()`). Only
    /// [`poll_read_into`](Source::poll_read_into) calls it.
    fn poll_read_unchecked(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Reads into `buf`; a count above `buf.len()` is an
    /// [`InvalidData`](io::ErrorKind::InvalidData) error. Every path that
    /// lends a slice reads through here, so none trusts a reader's count.
    #[inline]
    fn poll_read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let room = buf.len();
        match self.poll_read_unchecked(cx, buf) {
            Poll::Ready(Ok(n)) if n > room => Poll::Ready(Err(overclaim("reader", n, room))),
            other => other,
        }
    }
}

/// Something to write to.
pub(crate) trait Sink {
    /// Writes from `buf`, returning the count the writer reported, unchecked.
    /// Only [`poll_write_from`](Sink::poll_write_from) calls it.
    fn poll_write_unchecked(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// Writes from `buf`; a count above `buf.len()` is an
    /// [`InvalidData`](io::ErrorKind::InvalidData) error, as for [`Source`].
    #[inline]
    fn poll_write_from(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let room = buf.len();
        match self.poll_write_unchecked(cx, buf) {
            Poll::Ready(Ok(n)) if n > room => Poll::Ready(Err(overclaim("writer", n, room))),
            other => other,
        }
    }

    /// Flushes everything written so far.
    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// The error for a reader or writer that claims more bytes than it was given.
#[cold]
fn overclaim(who: &str, claimed: usize, room: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{who} claimed {claimed} bytes in a buffer of {room} bytes"))
}

/// A futures-io reader or writer.
pub(crate) struct FuturesIo<'a, T: ?Sized>(pub(crate) &'a mut T);

impl<R: futures_io::AsyncRead + Unpin + ?Sized> Source for FuturesIo<'_, R> {
    #[inline]
    fn poll_read_unchecked(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<W: futures_io::AsyncWrite + Unpin + ?Sized> Sink for FuturesIo<'_, W> {
    #[inline]
    fn poll_write_unchecked(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    #[inline]
    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
}

/// A tokio reader or writer.
#[cfg(feature = "tokio")]
pub(crate) struct Tokio<'a, T: ?Sized>(pub(crate) &'a mut T);

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin + ?Sized> Source for Tokio<'_, R> {
    #[inline]
    fn poll_read_unchecked(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // `ReadBuf::new` marks the whole slice initialised (it is: a pooled
        // buffer's capacity always is), so the reader never zeroes it.
        let mut rb = tokio::io::ReadBuf::new(buf);
        let start = rb.filled().as_ptr();
        match Pin::new(&mut *self.0).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                // A reader may replace the whole `ReadBuf` with one over its
                // own memory; then the bytes are not in our buffer.
                if rb.filled().as_ptr() != start {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the tokio reader replaced the ReadBuf it was given",
                    )));
                }
                Poll::Ready(Ok(rb.filled().len()))
            }
        }
    }
}

#[cfg(feature = "tokio")]
impl<W: tokio::io::AsyncWrite + Unpin + ?Sized> Sink for Tokio<'_, W> {
    #[inline]
    fn poll_write_unchecked(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    #[inline]
    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
}
