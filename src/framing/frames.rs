//! [`FrameReader`]: length-prefixed framing (by default a 4-byte big-endian
//! length, then that many bytes; `LengthDelimitedCodec`'s read options
//! otherwise) into `Bytes` slices of pooled buffers.

use super::family::{Family, Futures, Via};
use super::format::LengthField;
use super::window::Window;
use super::DEFAULT_COPY_BELOW;
use crate::BufferPool;
use bytes::Bytes;
use futures_io::AsyncRead;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Default [`FrameReader::max_len`]: 8 MiB (as `tokio_util`'s
/// `LengthDelimitedCodec`).
pub const DEFAULT_MAX_FRAME_LEN: usize = 8 << 20;

impl BufferPool {
    /// Reads `reader` as frames, each a 4-byte big-endian length followed by
    /// that many bytes; every frame is a [`Bytes`] slice of a buffer from this
    /// pool. See [`FrameReader`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let input = [&[0, 0, 0, 5][..], b"hello", &[0, 0, 0, 0]].concat();
    /// let mut frames = pool.length_delimited(&input[..]);
    /// assert_eq!(frames.next_frame().await?.unwrap(), "hello");
    /// assert_eq!(frames.next_frame().await?.unwrap(), ""); // an empty frame
    /// assert_eq!(frames.next_frame().await?, None);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn length_delimited<R: AsyncRead + Unpin>(&self, reader: R) -> FrameReader<R> {
        FrameReader::new(self, reader)
    }

    /// [`length_delimited`](BufferPool::length_delimited) for a tokio
    /// `AsyncRead`, without `compat` (feature `tokio`).
    ///
    /// ```
    /// use futures::StreamExt;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let (mut a, b) = tokio::io::duplex(64);
    /// tokio::io::AsyncWriteExt::write_all(&mut a, &[0, 0, 0, 2, b'h', b'i']).await?;
    /// drop(a);
    /// let mut frames = pool.length_delimited_tokio(b);
    /// assert_eq!(frames.next().await.unwrap()?, "hi"); // a Stream of io::Result<Bytes>
    /// assert!(frames.next().await.is_none());
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub fn length_delimited_tokio<R: tokio::io::AsyncRead + Unpin>(&self, reader: R) -> FrameReader<R, super::Tokio> {
        FrameReader::new_tokio(self, reader)
    }
}

/// Splits a reader (futures-io or tokio: see [`Family`]; a
/// [`Stream`](futures_core::Stream) either way) into length-prefixed frames
/// without copying them. Each frame is a [`Bytes`] slice of the pooled
/// buffer it was read into.
///
/// By default a frame is a 4-byte big-endian length (not counting itself),
/// then that many bytes of payload, which is the frame handed out. The
/// layout takes `LengthDelimitedCodec`'s read options, with the same
/// meaning: [`length_field_length`](FrameReader::length_field_length) (1 to
/// 8 bytes), [`big_endian`](FrameReader::big_endian) /
/// [`little_endian`](FrameReader::little_endian) /
/// [`native_endian`](FrameReader::native_endian),
/// [`length_field_offset`](FrameReader::length_field_offset),
/// [`length_adjustment`](FrameReader::length_adjustment) and
/// [`num_skip`](FrameReader::num_skip). Set them before the first read.
///
/// * Input that ends between frames gives `None`; input that ends inside a
///   frame (or its length) is an [`UnexpectedEof`](io::ErrorKind::UnexpectedEof)
///   error, after which the reader returns `None`. The end of input is not
///   final: after `None`, the next call reads again, as `FramedRead` does.
/// * A length above [`max_len`](FrameReader::max_len) is an
///   [`InvalidData`](io::ErrorKind::InvalidData) error, returned as soon as
///   the length is in: no buffer is sized for that payload and no read is
///   made for it (payload bytes that came in the same read as the length are
///   dropped). The reader stays usable: later calls skip that payload, then
///   return the frame after it.
/// * The limit applies to a frame when its length is read: a frame whose
///   length passed is delivered even if `max_len` is lowered before it is
///   complete, as `LengthDelimitedCodec` does.
/// * A length field whose value gives no frame (the adjustment makes it
///   negative or overflow, or the frame would end inside its own header) is
///   an [`InvalidData`](io::ErrorKind::InvalidData) error after which the
///   next frame cannot be found: the buffered bytes are dropped and the
///   reader ends (`None` from then on).
/// * A layout whose header no buffer can hold (a huge
///   [`length_field_offset`](FrameReader::length_field_offset) or
///   [`num_skip`](FrameReader::num_skip)) is an error after which the reader
///   ends: [`InvalidInput`](io::ErrorKind::InvalidInput) above `isize::MAX`,
///   [`OutOfMemory`](io::ErrorKind::OutOfMemory) when a header above the
///   pool's `max_buffer_size` cannot be allocated.
/// * A frame above the pool's `max_buffer_size` whose buffer cannot be
///   allocated (a huge `length_adjustment`, or `max_len` lifted) is an
///   [`OutOfMemory`](io::ErrorKind::OutOfMemory) error; that frame is
///   skipped as an over-long one is, so later calls go on with the next.
///   A smaller frame's allocation failure is returned and retried.
/// * An I/O error from the reader is returned as is; calling again retries
///   the read, and bytes already buffered are kept.
///
/// Once a frame's length is known, the buffer its bytes are gathered in is
/// sized for the whole frame, so a frame split across reads is copied at most
/// once, and a large frame is read straight into its final buffer.
///
/// ```
/// # futures::executor::block_on(async {
/// // A 2-byte little-endian length that counts itself, after a 2-byte tag.
/// let pool = bufpool::BufferPool::new();
/// let input = b"T1\x04\x00hiT2\x05\x00you";
/// let frames = pool.length_delimited(&input[..])
///     .length_field_offset(2).length_field_length(2).little_endian().length_adjustment(-2)
///     .max_len(1 << 20);
/// let all: Vec<_> = futures::StreamExt::collect(frames).await;
/// assert_eq!(all.len(), 2);
/// assert_eq!(all[1].as_ref().unwrap(), "you");
/// # });
/// ```
///
/// ```
/// # futures::executor::block_on(async {
/// let pool = bufpool::BufferPool::new();
/// let input = [&[0, 0, 0, 9][..], b"too long!", &[0, 0, 0, 2], b"ok"].concat();
/// let mut frames = pool.length_delimited(&input[..]).max_len(8);
/// let err = frames.next_frame().await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
/// assert_eq!(frames.next_frame().await?.unwrap(), "ok"); // still usable
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
pub struct FrameReader<R, F = Futures> {
    reader: R,
    family: PhantomData<fn() -> F>,
    win: Window,
    max_len: usize,
    /// Payload bytes of an over-long frame still to skip.
    skip: u64,
    /// The length at the front of the buffer passed `max_len`; the frame is
    /// delivered whatever the limit becomes meanwhile.
    accepted: bool,
    /// A read returned 0 bytes, and the `None` (or error) it leads to has not
    /// been returned yet.
    eof: bool,
    /// Where the length field is and what it counts.
    field: LengthField,
    /// Frames shorter than this are copied out instead of sliced.
    copy_below: usize,
    /// A length described no frame: the stream has ended for good.
    lost: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A frame reader over a futures-io `reader` with buffers from `pool`;
    /// the same as [`pool.length_delimited(reader)`](BufferPool::length_delimited).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let frames = bufpool::framing::FrameReader::new(&pool, &b""[..]);
    /// # drop(frames);
    /// ```
    pub fn new(pool: &BufferPool, reader: R) -> Self {
        Self::with_family(pool, reader)
    }
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> FrameReader<R, super::Tokio> {
    /// A frame reader over a tokio `reader`; the same as
    /// [`pool.length_delimited_tokio(reader)`](BufferPool::length_delimited_tokio).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let (_a, b) = tokio::io::duplex(64);
    /// let frames = bufpool::framing::FrameReader::new_tokio(&pool, b);
    /// # drop(frames);
    /// ```
    pub fn new_tokio(pool: &BufferPool, reader: R) -> Self {
        Self::with_family(pool, reader)
    }
}

impl<R, F> FrameReader<R, F> {
    fn with_family(pool: &BufferPool, reader: R) -> Self {
        FrameReader {
            reader,
            family: PhantomData,
            win: Window::new(pool),
            max_len: DEFAULT_MAX_FRAME_LEN,
            skip: 0,
            accepted: false,
            eof: false,
            field: LengthField::default(),
            copy_below: DEFAULT_COPY_BELOW,
            lost: false,
        }
    }

    /// Sets the largest length field value accepted (with the default
    /// layout, the largest payload in bytes), checked before the adjustment
    /// as `LengthDelimitedCodec`'s `max_frame_length` is. Default
    /// [`DEFAULT_MAX_FRAME_LEN`] (8 MiB).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let frames = pool.length_delimited(&b""[..]).max_len(1024);
    /// assert_eq!(frames.get_max_len(), 1024);
    /// ```
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The largest length field value accepted.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let frames = pool.length_delimited(&b""[..]);
    /// assert_eq!(frames.get_max_len(), bufpool::framing::DEFAULT_MAX_FRAME_LEN);
    /// ```
    pub fn get_max_len(&self) -> usize {
        self.max_len
    }

    /// Sets the length under which a frame is copied into its own small
    /// allocation instead of being a zero-copy slice of the pooled buffer it
    /// was read into. A slice keeps that whole buffer (a read's worth,
    /// [`read_size`](crate::Config::read_size)) alive for as long as it
    /// lives, so many small frames kept (a store's values) would pin many
    /// buffers; a copy pins nothing. Default [`DEFAULT_COPY_BELOW`]
    /// (chosen by measurement: `docs/benchmarks.md`, "copy_below"); 0
    /// slices everything.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut frames = pool.length_delimited(&[0, 0, 0, 2, b'h', b'i'][..]).copy_below(0);
    /// let hi = frames.next_frame().await?.unwrap(); // copy_below(0): always a slice
    /// drop(frames);
    /// assert_eq!(pool.stats().outstanding_buffers, 1);
    /// # drop(hi);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn copy_below(mut self, len: usize) -> Self {
        self.copy_below = len;
        self
    }

    /// The length under which a frame is copied out.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert_eq!(pool.length_delimited(&b""[..]).get_copy_below(), bufpool::framing::DEFAULT_COPY_BELOW);
    /// ```
    pub fn get_copy_below(&self) -> usize {
        self.copy_below
    }

    /// Sets the length field's size in bytes, 1 to 8. Default 4.
    ///
    /// # Panics
    /// If `bytes` is 0 or above 8 (as `LengthDelimitedCodec`'s builder).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut frames = pool.length_delimited(&b"\x02hi"[..]).length_field_length(1);
    /// assert_eq!(frames.next_frame().await?.unwrap(), "hi");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn length_field_length(mut self, bytes: usize) -> Self {
        assert!((1..=8).contains(&bytes), "length_field_length must be 1 to 8 bytes, not {bytes}");
        self.field.len = bytes;
        self
    }

    /// Sets the number of bytes before the length field (a type tag, flags,
    /// ...). Default 0. They are skipped with the field unless
    /// [`num_skip`](FrameReader::num_skip) says otherwise.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let input = b"T\x00\x02hi"; // a tag byte, then a 2-byte length
    /// let mut frames = pool.length_delimited(&input[..]).length_field_offset(1).length_field_length(2);
    /// assert_eq!(frames.next_frame().await?.unwrap(), "hi");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn length_field_offset(mut self, bytes: usize) -> Self {
        self.field.offset = bytes;
        self
    }

    /// Sets what to add to the field's value to get the number of bytes
    /// after the skipped ones: negative when the length counts the header
    /// (MQTT-like "length includes itself"), positive when it leaves out a
    /// trailer or the header bytes kept with `num_skip`. Default 0. A value
    /// that this makes negative is a lost framing (see [`FrameReader`]).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let input = b"\x00\x04hi"; // the length counts its own 2 bytes
    /// let mut frames = pool.length_delimited(&input[..]).length_field_length(2).length_adjustment(-2);
    /// assert_eq!(frames.next_frame().await?.unwrap(), "hi");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn length_adjustment(mut self, adjustment: isize) -> Self {
        self.field.adjustment = adjustment;
        self
    }

    /// Sets how many bytes to drop from the front of each frame. Default:
    /// the offset plus the field (the whole header); 0 hands out frames with
    /// their header.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let input = b"\x00\x02hi";
    /// let mut frames = pool.length_delimited(&input[..]).length_field_length(2).num_skip(0).length_adjustment(2);
    /// assert_eq!(frames.next_frame().await?.unwrap(), &b"\x00\x02hi"[..]); // header kept
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn num_skip(mut self, bytes: usize) -> Self {
        self.field.num_skip = Some(bytes);
        self
    }

    /// Reads the length field big-endian (network order; the default).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let frames = pool.length_delimited(&b""[..]).little_endian().big_endian();
    /// # drop(frames);
    /// ```
    pub fn big_endian(mut self) -> Self {
        self.field.big_endian = true;
        self
    }

    /// Reads the length field little-endian.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut frames = pool.length_delimited(&b"\x02\x00hi"[..]).length_field_length(2).little_endian();
    /// assert_eq!(frames.next_frame().await?.unwrap(), "hi");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn little_endian(mut self) -> Self {
        self.field.big_endian = false;
        self
    }

    /// Reads the length field in this machine's byte order.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let frames = pool.length_delimited(&b""[..]).native_endian();
    /// # drop(frames);
    /// ```
    pub fn native_endian(mut self) -> Self {
        self.field.big_endian = cfg!(target_endian = "big");
        self
    }
}

impl<R, F: Family<R>> FrameReader<R, F> {
    /// The next frame's payload; `None` at the end of input.
    ///
    /// Cancel safe: dropping the future loses no data.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut frames = pool.length_delimited(&[0, 0, 0, 3, b'a', b'b'][..]);
    /// let err = frames.next_frame().await.unwrap_err(); // 2 of 3 bytes, then EOF
    /// assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    /// # });
    /// ```
    pub async fn next_frame(&mut self) -> io::Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_next_frame(cx)).await
    }

    /// The polling form of [`next_frame`](FrameReader::next_frame).
    ///
    /// ```
    /// use futures::StreamExt;
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut frames = pool.length_delimited(&[0, 0, 0, 1, b'x'][..]);
    /// let stream = futures::stream::poll_fn(|cx| frames.poll_next_frame(cx).map(Result::transpose));
    /// assert_eq!(stream.collect::<Vec<_>>().await.len(), 1);
    /// # });
    /// ```
    pub fn poll_next_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        let rs = self.win.read_size();
        if self.lost {
            return Poll::Ready(Ok(None));
        }
        loop {
            if self.skip > 0 {
                let k = self.skip.min(self.win.len() as u64);
                self.win.consume(k as usize);
                self.skip -= k;
                if self.skip == 0 {
                    continue;
                }
                if self.eof {
                    self.skip = 0;
                    return Poll::Ready(Err(truncated()));
                }
                if ready!(self.win.poll_fill(cx, &mut Via::<F, R>::new(&mut self.reader), 1, rs, usize::MAX))? == 0 {
                    self.eof = true;
                }
                continue;
            }

            let data = self.win.data();
            let have = data.len();
            let head = self.field.head_len();
            let need = if have >= head {
                let value = self.field.value(data);
                let total = self.field.total(value);
                // A frame whose length passed the limit is delivered even if
                // the limit has been lowered since.
                if !self.accepted && value > self.max_len as u64 {
                    let Some(whole) = total else { return Poll::Ready(Err(self.lose_framing(value))) };
                    let k = whole.min(have);
                    self.win.consume(k);
                    self.skip = (whole - k) as u64;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("frame length {value} exceeds max_len ({} bytes)", self.max_len),
                    )));
                }
                let Some(total) = total else { return Poll::Ready(Err(self.lose_framing(value))) };
                if have >= total {
                    self.accepted = false;
                    let frame = self.win.cut(total, self.field.skip()..total, self.copy_below);
                    return Poll::Ready(Ok(Some(frame)));
                }
                self.accepted = true;
                total
            } else {
                if head > isize::MAX as usize {
                    // No buffer can hold the header (an offset or num_skip
                    // near usize::MAX): no frame can ever be read.
                    return Poll::Ready(Err(self.lose_framing_to(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("a header of {head} bytes cannot be buffered (length_field_offset or num_skip); the framing is lost"),
                    ))));
                }
                head
            };
            if self.eof {
                if have == 0 {
                    // The end of input is reported once: the next call reads
                    // again, as `FramedRead` does.
                    self.eof = false;
                    return Poll::Ready(Ok(None));
                }
                self.win.clear();
                self.accepted = false;
                return Poll::Ready(Err(truncated()));
            }
            // A buffer for the whole frame (once its length is known) plus,
            // for small frames, a full read of those that follow.
            let alloc = need.max(have + rs);
            // A large remainder is read on its own: nothing of the next frame
            // lands behind it, so nothing needs moving afterwards. Small
            // frames read ahead, to batch many into one read.
            let rest = need - have;
            let max_read = if rest >= rs { rest } else { usize::MAX };
            match ready!(self.win.poll_fill(cx, &mut Via::<F, R>::new(&mut self.reader), need, alloc, max_read)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if self.accepted && self.win.alloc_failed() && need > self.win.max_buffer_size() => {
                    // A frame above the pool's largest class (an unpooled,
                    // exact allocation) that cannot be had: retrying would
                    // fail the same way on every call, so skip it as an
                    // over-long one and go on with the next frame.
                    let k = need.min(have);
                    self.win.consume(k);
                    self.skip = (need - k) as u64;
                    self.accepted = false;
                    return Poll::Ready(Err(io::Error::new(
                        e.kind(),
                        format!("no buffer for a frame of {need} bytes ({e}); the frame is skipped"),
                    )));
                }
                Err(e) if !self.accepted && self.win.alloc_failed() && need > self.win.max_buffer_size() => {
                    // The header itself (a huge length_field_offset or
                    // num_skip) cannot be buffered: no frame ever can be.
                    return Poll::Ready(Err(self.lose_framing_to(io::Error::new(
                        e.kind(),
                        format!("no buffer for a header of {need} bytes ({e}); the framing is lost"),
                    ))));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<R, F> FrameReader<R, F> {
    /// Bytes read but not yet returned as frames (length prefixes included).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut frames = pool.length_delimited(&[0, 0, 0, 1, b'x', 0, 0][..]);
    /// frames.next_frame().await?;
    /// assert_eq!(frames.buffer(), &[0, 0]);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn buffer(&self) -> &[u8] {
        self.win.data()
    }

    /// The underlying reader.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let frames = pool.length_delimited(&b"abc"[..]);
    /// assert_eq!(*frames.get_ref(), b"abc");
    /// ```
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably. Reading from it directly skips the
    /// frame reader's buffer.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut frames = pool.length_delimited(&b"abc"[..]);
    /// *frames.get_mut() = &b"xyz"[..];
    /// ```
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Gives the reader back; bytes buffered but not returned are lost
    /// (see [`buffer`](FrameReader::buffer)).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let r: &[u8] = pool.length_delimited(&b"abc"[..]).into_inner();
    /// assert_eq!(r, b"abc");
    /// ```
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Unpin, F: Family<R>> futures_core::Stream for FrameReader<R, F> {
    type Item = io::Result<Bytes>;

    /// [`poll_next_frame`](FrameReader::poll_next_frame) as a stream: `None`
    /// at the end of input. The stream is not fused: polled again after
    /// `None`, it reads again (more input may have come).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        self.get_mut().poll_next_frame(cx).map(Result::transpose)
    }
}

impl<R, F> fmt::Debug for FrameReader<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.win.len())
            .field("max_len", &self.max_len)
            .field("copy_below", &self.copy_below)
            .field("skip", &self.skip)
            .field("accepted", &self.accepted)
            .field("eof", &self.eof)
            .field("length_field", &self.field)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl<R, F> FrameReader<R, F> {
    /// The length field's `value` gives no frame, so where the next frame
    /// starts is unknown: drop what is buffered and end the stream.
    #[cold]
    fn lose_framing(&mut self, value: u64) -> io::Error {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "length field {value} with length_adjustment {} gives no frame (negative, overflowing, or shorter than its header); the framing is lost",
                self.field.adjustment
            ),
        );
        self.lose_framing_to(e)
    }

    /// Drops what is buffered and ends the stream, returning `e`.
    #[cold]
    fn lose_framing_to(&mut self, e: io::Error) -> io::Error {
        self.win.clear();
        self.accepted = false;
        self.lost = true;
        e
    }
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "input ended inside a frame")
}
