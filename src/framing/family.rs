//! Which `AsyncRead` trait a framing reader reads through: futures-io's
//! ([`Futures`]) or tokio's ([`Tokio`], feature `tokio`).
//!
//! The readers take the family as a type parameter rather than one
//! constructor generic over "either trait": a type such as `&[u8]` or
//! `Cursor` implements both, so the family could not be inferred from the
//! reader. [`BufferPool::lines`](crate::BufferPool::lines) and
//! [`BufferPool::lines_tokio`](crate::BufferPool::lines_tokio) (and the
//! frame twins) name it, the type is one [`LineReader`](super::LineReader)
//! either way, and neither needs a `compat` wrapper.

use crate::io::flavor::{FuturesIo, Source};
use std::io;
use std::marker::PhantomData;
use std::task::{Context, Poll};

/// Reads through `futures_io::AsyncRead` (the default family).
#[derive(Debug)]
pub enum Futures {}

/// Reads through `tokio::io::AsyncRead` (feature `tokio`).
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub enum Tokio {}

mod sealed {
    pub trait Sealed {}
    /// Unnameable outside the crate, so only the crate calls [`super::Family`]'s
    /// method.
    pub struct Token;
}

impl sealed::Sealed for Futures {}
#[cfg(feature = "tokio")]
impl sealed::Sealed for Tokio {}

/// A reader family that `R` belongs to: [`Futures`] for every
/// `futures_io::AsyncRead + Unpin`, [`Tokio`] for every
/// `tokio::io::AsyncRead + Unpin`. Sealed.
pub trait Family<R>: sealed::Sealed {
    #[doc(hidden)]
    fn poll_read_unchecked(
        reader: &mut R,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        _: sealed::Token,
    ) -> Poll<io::Result<usize>>;
}

impl<R: futures_io::AsyncRead + Unpin> Family<R> for Futures {
    #[inline]
    fn poll_read_unchecked(
        reader: &mut R,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        _: sealed::Token,
    ) -> Poll<io::Result<usize>> {
        FuturesIo(reader).poll_read_unchecked(cx, buf)
    }
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> Family<R> for Tokio {
    #[inline]
    fn poll_read_unchecked(
        reader: &mut R,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        _: sealed::Token,
    ) -> Poll<io::Result<usize>> {
        crate::io::flavor::Tokio(reader).poll_read_unchecked(cx, buf)
    }
}

/// `R` read through family `F`, as the read layer's [`Source`] (whose
/// `poll_read_into` checks the count).
pub(super) struct Via<'a, F, R>(&'a mut R, PhantomData<fn() -> F>);

impl<'a, F, R> Via<'a, F, R> {
    #[inline]
    pub(super) fn new(reader: &'a mut R) -> Self {
        Via(reader, PhantomData)
    }
}

impl<F: Family<R>, R> Source for Via<'_, F, R> {
    #[inline]
    fn poll_read_unchecked(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        F::poll_read_unchecked(self.0, cx, buf, sealed::Token)
    }
}

/// A writer family that `W` belongs to: [`Futures`] for every
/// `futures_io::AsyncWrite + Unpin`, [`Tokio`] for every
/// `tokio::io::AsyncWrite + Unpin`. Sealed; used by
/// [`FrameWriter`](super::FrameWriter).
pub trait WriteFamily<W>: sealed::Sealed {
    #[doc(hidden)]
    fn poll_write_vectored_unchecked(
        writer: &mut W,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
        _: sealed::Token,
    ) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn poll_flush(writer: &mut W, cx: &mut Context<'_>, _: sealed::Token) -> Poll<io::Result<()>>;
}

impl<W: futures_io::AsyncWrite + Unpin> WriteFamily<W> for Futures {
    #[inline]
    fn poll_write_vectored_unchecked(
        writer: &mut W,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
        _: sealed::Token,
    ) -> Poll<io::Result<usize>> {
        std::pin::Pin::new(writer).poll_write_vectored(cx, bufs)
    }

    #[inline]
    fn poll_flush(writer: &mut W, cx: &mut Context<'_>, _: sealed::Token) -> Poll<io::Result<()>> {
        std::pin::Pin::new(writer).poll_flush(cx)
    }
}

#[cfg(feature = "tokio")]
impl<W: tokio::io::AsyncWrite + Unpin> WriteFamily<W> for Tokio {
    #[inline]
    fn poll_write_vectored_unchecked(
        writer: &mut W,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
        _: sealed::Token,
    ) -> Poll<io::Result<usize>> {
        std::pin::Pin::new(writer).poll_write_vectored(cx, bufs)
    }

    #[inline]
    fn poll_flush(writer: &mut W, cx: &mut Context<'_>, _: sealed::Token) -> Poll<io::Result<()>> {
        std::pin::Pin::new(writer).poll_flush(cx)
    }
}

/// One vectored write through family `F`; a count above the slices' total is
/// an [`InvalidData`](io::ErrorKind::InvalidData) error, 0 is
/// [`WriteZero`](io::ErrorKind::WriteZero).
pub(super) fn poll_write_vectored<F: WriteFamily<W>, W>(
    writer: &mut W,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let room: usize = bufs.iter().map(|b| b.len()).sum();
    match F::poll_write_vectored_unchecked(writer, cx, bufs, sealed::Token) {
        Poll::Ready(Ok(0)) if room > 0 => {
            Poll::Ready(Err(io::Error::new(io::ErrorKind::WriteZero, "the writer accepted 0 bytes")))
        }
        Poll::Ready(Ok(n)) if n > room => Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("writer claimed {n} bytes in buffers of {room} bytes"),
        ))),
        other => other,
    }
}

/// Flushes through family `F`.
pub(super) fn poll_flush<F: WriteFamily<W>, W>(writer: &mut W, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    F::poll_flush(writer, cx, sealed::Token)
}
