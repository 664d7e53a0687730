//! [`PooledFramedRead`]: any `tokio_util::codec::Decoder` over a tokio
//! reader, reading into pooled buffers and holding no memory while no frame
//! is partly read (feature `tokio-util`).

use crate::io::flavor::{Source, Tokio};
use crate::io::lend::{give_back_pending, lend};
use crate::BufferPool;
use bytes::BytesMut;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio_util::codec::Decoder;

impl BufferPool {
    /// Runs `decoder` over the tokio reader `reader`, as
    /// `tokio_util::codec::FramedRead::new(reader, decoder)` does, but with
    /// no buffer held while no frame is partly read. See
    /// [`PooledFramedRead`].
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokio_util::codec::LinesCodec;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let (mut a, b) = tokio::io::duplex(64);
    /// tokio::io::AsyncWriteExt::write_all(&mut a, b"hello\nworld\n").await.unwrap();
    /// drop(a);
    /// let lines: Vec<String> = pool.framed_read(b, LinesCodec::new()).map(Result::unwrap).collect().await;
    /// assert_eq!(lines, ["hello", "world"]);
    /// # });
    /// ```
    pub fn framed_read<R, D>(&self, reader: R, decoder: D) -> PooledFramedRead<R, D>
    where
        R: tokio::io::AsyncRead + Unpin,
        D: Decoder,
    {
        PooledFramedRead {
            reader,
            decoder,
            pool: self.clone(),
            read_size: super::window::read_size(self),
            buf: BytesMut::new(),
            eof: false,
            readable: false,
            errored: false,
        }
    }
}

/// A `Stream` of a `Decoder`'s frames, read from a tokio reader into pooled
/// buffers: `tokio_util::codec::FramedRead`'s behaviour (the same state
/// machine: `decode` while it yields, `decode_eof` at the end of input, an
/// error ends the stream with `None`, and after `None` a later poll reads
/// again), without its per-connection buffer.
///
/// # Memory
/// * Each read lends a pooled buffer of
///   [`read_size`](crate::Config::read_size) bytes for that one
///   `poll_read`; if the reader is `Pending` it goes straight back.
/// * The decoder needs a `&mut BytesMut`, and a `BytesMut` cannot be built
///   over pooled memory (`bytes` has no owner hook for it), so the bytes read
///   are **copied once** into the `BytesMut` handed to the decoder, and the
///   pooled buffer goes home at once. The `BytesMut` lives only while it
///   holds unconsumed bytes (part of a frame): once the decoder has taken
///   everything it is released, so an idle connection between frames holds
///   no memory. (`FramedRead` holds 8 KiB or more per connection forever.)
///   `benches/framing.rs` measures what the copy costs against `FramedRead`.
/// * A reader that claims more bytes than it was lent gets
///   [`InvalidData`](io::ErrorKind::InvalidData) (`FramedRead` panics).
///
/// Frames that are slices of the `BytesMut` (`LengthDelimitedCodec`'s) share
/// its allocation, not pooled memory.
pub struct PooledFramedRead<R, D> {
    reader: R,
    decoder: D,
    pool: BufferPool,
    read_size: usize,
    /// Bytes read and not yet decoded; no allocation when empty.
    buf: BytesMut,
    /// The last read returned 0 bytes.
    eof: bool,
    /// `buf` may hold a frame: decode before reading.
    readable: bool,
    /// The decoder failed: the next poll ends the stream.
    errored: bool,
}

impl<R, D> PooledFramedRead<R, D> {
    /// The decoder.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let f = pool.framed_read(&b""[..], tokio_util::codec::LinesCodec::new_with_max_length(9));
    /// assert_eq!(f.decoder().max_length(), 9);
    /// ```
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// The decoder, mutably (to change its settings between frames).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut f = pool.framed_read(&b""[..], tokio_util::codec::LengthDelimitedCodec::new());
    /// f.decoder_mut().set_max_frame_length(1024);
    /// ```
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.decoder
    }

    /// Bytes read and not yet decoded (empty, with no capacity, between
    /// frames).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let f = pool.framed_read(&b""[..], tokio_util::codec::LinesCodec::new());
    /// assert_eq!(f.read_buffer().capacity(), 0);
    /// ```
    pub fn read_buffer(&self) -> &BytesMut {
        &self.buf
    }

    /// The underlying reader.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let f = pool.framed_read(&b"x"[..], tokio_util::codec::LinesCodec::new());
    /// assert_eq!(*f.get_ref(), b"x");
    /// ```
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably; reading from it directly skips the
    /// buffered bytes.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut f = pool.framed_read(&b"x"[..], tokio_util::codec::LinesCodec::new());
    /// *f.get_mut() = &b"y"[..];
    /// ```
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Gives the reader and the decoder back; undecoded bytes are lost.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let (r, _codec) = pool.framed_read(&b"x"[..], tokio_util::codec::LinesCodec::new()).into_parts();
    /// assert_eq!(r, b"x");
    /// ```
    pub fn into_parts(self) -> (R, D) {
        (self.reader, self.decoder)
    }

    /// Releases the `BytesMut` once the decoder has taken everything in it.
    #[inline]
    fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin, D: Decoder> PooledFramedRead<R, D>
where
    D::Error: From<io::Error>,
{
    /// One read into a lent pooled buffer, appended to `buf`.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut lent = std::task::ready!(lend(&self.pool, self.read_size, cx))?;
        match Tokio(&mut self.reader).poll_read_into(cx, &mut lent) {
            Poll::Pending => {
                give_back_pending(&self.pool, lent, 0..self.read_size);
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => {
                self.buf.extend_from_slice(&lent[..n]);
                Poll::Ready(Ok(n))
            }
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin, D: Decoder + Unpin> futures_core::Stream for PooledFramedRead<R, D>
where
    D::Error: From<io::Error>,
{
    type Item = Result<D::Item, D::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.errored {
                this.errored = false;
                this.readable = false;
                this.release_if_empty();
                return Poll::Ready(None);
            }
            if this.readable {
                if this.eof {
                    let frame = match this.decoder.decode_eof(&mut this.buf) {
                        Ok(frame) => frame,
                        Err(e) => {
                            this.errored = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                    };
                    if frame.is_none() {
                        this.readable = false;
                    }
                    this.release_if_empty();
                    return Poll::Ready(frame.map(Ok));
                }
                match this.decoder.decode(&mut this.buf) {
                    Ok(Some(frame)) => {
                        this.release_if_empty();
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    Ok(None) => this.readable = false,
                    Err(e) => {
                        this.errored = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                this.release_if_empty();
            }
            let n = match this.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => {
                    this.errored = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            };
            if n == 0 {
                if this.eof {
                    return Poll::Ready(None);
                }
                this.eof = true;
            } else {
                this.eof = false;
            }
            this.readable = true;
        }
    }
}

impl<R, D> fmt::Debug for PooledFramedRead<R, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledFramedRead")
            .field("buffered", &self.buf.len())
            .field("eof", &self.eof)
            .field("readable", &self.readable)
            .field("errored", &self.errored)
            .finish_non_exhaustive()
    }
}
