//! [`LineReader`]: newline-delimited framing into `Bytes` slices of pooled
//! buffers.

use super::family::{Family, Futures, Via};
use super::window::{find_byte, Window};
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

/// Default [`LineReader::max_len`]: 64 KiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 << 10;

impl BufferPool {
    /// Reads `reader` as lines, each a [`Bytes`] slice of a buffer from this
    /// pool. See [`LineReader`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut lines = pool.lines(&b"one\r\n\ntwo"[..]);
    /// let mut all = Vec::new();
    /// while let Some(line) = lines.next_line().await? {
    ///     all.push(line);
    /// }
    /// assert_eq!(all, ["one", "", "two"]);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn lines<R: AsyncRead + Unpin>(&self, reader: R) -> LineReader<R> {
        LineReader::new(self, reader)
    }

    /// [`lines`](BufferPool::lines) for a tokio `AsyncRead` (`TcpStream`,
    /// `UnixStream`, ...), without `compat` (feature `tokio`). Why a twin
    /// and not one generic method: [`framing::family`](super::family).
    ///
    /// ```
    /// use futures::StreamExt;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let (mut a, b) = tokio::io::duplex(64);
    /// tokio::io::AsyncWriteExt::write_all(&mut a, b"PING\r\nQUIT\n").await?;
    /// drop(a);
    /// let lines: Vec<_> = pool.lines_tokio(b).collect().await; // a Stream of io::Result<Bytes>
    /// assert_eq!(lines.len(), 2);
    /// assert_eq!(lines[1].as_ref().unwrap(), "QUIT");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub fn lines_tokio<R: tokio::io::AsyncRead + Unpin>(&self, reader: R) -> LineReader<R, super::Tokio> {
        LineReader::new_tokio(self, reader)
    }
}

/// Splits a reader into lines without copying them: each line is a
/// [`Bytes`] slice of the pooled buffer it was read into, and the buffer goes
/// home when the reader and every line cut from it are gone.
///
/// `R` is read through the [`Family`] `F`: a `futures_io::AsyncRead`
/// ([`Futures`], from [`BufferPool::lines`]) or a `tokio::io::AsyncRead`
/// ([`Tokio`](super::Tokio), from [`BufferPool::lines_tokio`]). Either way
/// the reader is a [`Stream`](futures_core::Stream) of `io::Result<Bytes>`
/// as well as having [`next_line`](LineReader::next_line).
///
/// * A line ends at `\n` or `\r\n`; the ending is not part of the line.
/// * An empty line is a line (an empty `Bytes`).
/// * Input that ends without a newline gives a last line (a single trailing
///   `\r` there is taken as part of the line ending, and a lone `\r` is no
///   line, as `tokio_util::codec::LinesCodec` has it); then `None`.
/// * The end of input is not final: after `None`, the next call reads again
///   (a file that grows, a terminal after Ctrl-D), as `FramedRead` does.
/// * A line longer than [`max_len`](LineReader::max_len) bytes (without its
///   ending) is an [`InvalidData`](io::ErrorKind::InvalidData) error. The
///   reader stays usable: the rest of that line is skipped, and the next
///   call returns the line after it. Buffering is bounded by about
///   `max_len` plus one read. Two differences from `LinesCodec`: `max_len`
///   counts the line without its ending (`LinesCodec` counts a `\r`), and
///   the end of input also ends a line being skipped.
/// * An I/O error from the reader is returned as is; calling again retries
///   the read, and bytes already buffered are kept.
///
/// Reads use the pool's [`read_size`](crate::Config::read_size). While a read
/// is pending the reader holds no buffer, unless it has part of a line; see
/// [the module docs](crate::framing#how-the-readers-use-buffers).
///
/// ```
/// # futures::executor::block_on(async {
/// let pool = bufpool::BufferPool::new();
/// let input = b"GET key\r\nSET key a-rather-long-value\nGET key\n";
/// let mut lines = pool.lines(&input[..]).max_len(16);
/// assert_eq!(lines.next_line().await?.unwrap(), "GET key");
/// let err = lines.next_line().await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
/// assert_eq!(lines.next_line().await?.unwrap(), "GET key"); // still usable
/// assert_eq!(lines.next_line().await?, None);
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
pub struct LineReader<R, F = Futures> {
    reader: R,
    family: PhantomData<fn() -> F>,
    win: Window,
    max_len: usize,
    /// Leading unconsumed bytes already searched for `\n` without success.
    scanned: usize,
    /// Skipping the rest of an over-long line.
    discarding: bool,
    /// Lines shorter than this are copied out instead of sliced.
    copy_below: usize,
    /// A read returned 0 bytes, and the `None` it leads to has not been
    /// returned yet.
    eof: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A line reader over a futures-io `reader` with buffers from `pool`; the
    /// same as [`pool.lines(reader)`](BufferPool::lines).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let lines = bufpool::framing::LineReader::new(&pool, &b""[..]);
    /// # drop(lines);
    /// ```
    pub fn new(pool: &BufferPool, reader: R) -> Self {
        Self::with_family(pool, reader)
    }
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> LineReader<R, super::Tokio> {
    /// A line reader over a tokio `reader`; the same as
    /// [`pool.lines_tokio(reader)`](BufferPool::lines_tokio).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let (_a, b) = tokio::io::duplex(64);
    /// let lines = bufpool::framing::LineReader::new_tokio(&pool, b);
    /// # drop(lines);
    /// ```
    pub fn new_tokio(pool: &BufferPool, reader: R) -> Self {
        Self::with_family(pool, reader)
    }
}

impl<R, F> LineReader<R, F> {
    fn with_family(pool: &BufferPool, reader: R) -> Self {
        LineReader {
            reader,
            family: PhantomData,
            win: Window::new(pool),
            max_len: DEFAULT_MAX_LINE_LEN,
            scanned: 0,
            discarding: false,
            copy_below: DEFAULT_COPY_BELOW,
            eof: false,
        }
    }

    /// Sets the longest line accepted, in bytes without the line ending.
    /// Default [`DEFAULT_MAX_LINE_LEN`] (64 KiB).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let lines = pool.lines(&b""[..]).max_len(1 << 20);
    /// assert_eq!(lines.get_max_len(), 1 << 20);
    /// ```
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The longest line accepted.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert_eq!(pool.lines(&b""[..]).get_max_len(), bufpool::framing::DEFAULT_MAX_LINE_LEN);
    /// ```
    pub fn get_max_len(&self) -> usize {
        self.max_len
    }

    /// Sets the length under which a line is copied into its own small
    /// allocation instead of being a zero-copy slice of the pooled buffer it
    /// was read into. A slice keeps that whole buffer (a read's worth,
    /// [`read_size`](crate::Config::read_size)) alive for as long as it
    /// lives, so many small lines kept (a store's values) would pin many
    /// buffers; a copy pins nothing. Default [`DEFAULT_COPY_BELOW`]
    /// (chosen by measurement: `docs/benchmarks.md`, "copy_below"); 0
    /// slices everything.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut lines = pool.lines(&b"short\nlonger line\n"[..]).copy_below(8);
    /// let short = lines.next_line().await?.unwrap(); // copied: holds no pooled buffer
    /// let long = lines.next_line().await?.unwrap();  // a slice of the pooled buffer
    /// drop(lines);
    /// assert_eq!(pool.stats().outstanding_buffers, 1); // only `long` keeps one alive
    /// drop(long);
    /// assert_eq!(pool.stats().outstanding_buffers, 0);
    /// # assert_eq!(short, "short");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn copy_below(mut self, len: usize) -> Self {
        self.copy_below = len;
        self
    }

    /// The length under which a line is copied out.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert_eq!(pool.lines(&b""[..]).get_copy_below(), bufpool::framing::DEFAULT_COPY_BELOW);
    /// ```
    pub fn get_copy_below(&self) -> usize {
        self.copy_below
    }
}

impl<R, F: Family<R>> LineReader<R, F> {
    /// The next line, without its ending; `None` at the end of input.
    ///
    /// Cancel safe: dropping the future loses no data.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut lines = pool.lines(&b"a\nb"[..]);
    /// assert_eq!(lines.next_line().await?.unwrap(), "a");
    /// assert_eq!(lines.next_line().await?.unwrap(), "b");
    /// assert!(lines.next_line().await?.is_none());
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn next_line(&mut self) -> io::Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// The polling form of [`next_line`](LineReader::next_line), for
    /// hand-written futures and streams.
    ///
    /// ```
    /// use futures::StreamExt;
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut lines = pool.lines(&b"x\ny\n"[..]);
    /// let stream = futures::stream::poll_fn(|cx| lines.poll_next_line(cx).map(Result::transpose));
    /// let all: Vec<_> = stream.collect().await;
    /// assert_eq!(all.len(), 2);
    /// # });
    /// ```
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<bytes::Bytes>>> {
        loop {
            if self.discarding {
                match find_byte(b'\n', self.win.data()) {
                    Some(i) => {
                        self.win.consume(i + 1);
                        self.discarding = false;
                        continue;
                    }
                    None => self.win.clear(),
                }
                if self.eof {
                    // The end of input ends the skipped line too.
                    self.discarding = false;
                    self.eof = false;
                    return Poll::Ready(Ok(None));
                }
                let rs = self.win.read_size();
                if ready!(self.win.poll_fill(cx, &mut Via::<F, R>::new(&mut self.reader), 1, rs, usize::MAX))? == 0 {
                    self.eof = true;
                }
                continue;
            }

            let data = self.win.data();
            let len = data.len();
            if let Some(i) = find_byte(b'\n', &data[self.scanned..]) {
                let end = self.scanned + i;
                self.scanned = 0;
                let content = if end > 0 && data[end - 1] == b'\r' { end - 1 } else { end };
                if content > self.max_len {
                    self.win.consume(end + 1);
                    return Poll::Ready(Err(too_long(self.max_len)));
                }
                return Poll::Ready(Ok(Some(self.cut(end + 1, content))));
            }
            self.scanned = len;
            if len > 0 && (len - 1 > self.max_len || (len - 1 == self.max_len && data[len - 1] != b'\r')) {
                // Without its ending this line already exceeds the limit.
                self.win.clear();
                self.scanned = 0;
                self.discarding = true;
                return Poll::Ready(Err(too_long(self.max_len)));
            }
            if self.eof {
                if len == 0 || data == b"\r" {
                    // Nothing left, or only a lone `\r`, which
                    // `LinesCodec::decode_eof` also takes for no line (and
                    // keeps). The end of input is reported once: the next
                    // call reads again, as `FramedRead` does.
                    self.eof = false;
                    return Poll::Ready(Ok(None));
                }
                self.scanned = 0;
                let content = if data[len - 1] == b'\r' { len - 1 } else { len };
                return Poll::Ready(Ok(Some(self.cut(len, content))));
            }
            let rs = self.win.read_size();
            let min_total = len + (rs / 2).max(1);
            let alloc_total = (len + rs).max(len.saturating_mul(2));
            if ready!(self.win.poll_fill(
                cx,
                &mut Via::<F, R>::new(&mut self.reader),
                min_total,
                alloc_total,
                usize::MAX
            ))? == 0
            {
                self.eof = true;
            }
        }
    }

    /// Cuts `n` bytes off the front and returns the first `content` of them.
    #[inline]
    fn cut(&mut self, n: usize, content: usize) -> Bytes {
        self.win.cut(n, 0..content, self.copy_below)
    }
}

impl<R, F> LineReader<R, F> {
    /// Bytes read but not yet returned as lines (complete lines first, then
    /// any unfinished one).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut lines = pool.lines(&b"a\nb\n"[..]);
    /// lines.next_line().await?;
    /// assert_eq!(lines.buffer(), b"b\n");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn buffer(&self) -> &[u8] {
        if self.discarding {
            &[]
        } else {
            self.win.data()
        }
    }

    /// The underlying reader.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let lines = pool.lines(&b"abc"[..]);
    /// assert_eq!(*lines.get_ref(), b"abc");
    /// ```
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably. Reading from it directly skips the
    /// line reader's buffer.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut lines = pool.lines(&b"abc"[..]);
    /// *lines.get_mut() = &b"xyz"[..];
    /// ```
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Gives the reader back; bytes buffered but not returned are lost
    /// (see [`buffer`](LineReader::buffer)).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let r: &[u8] = pool.lines(&b"abc"[..]).into_inner();
    /// assert_eq!(r, b"abc");
    /// ```
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Unpin, F: Family<R>> futures_core::Stream for LineReader<R, F> {
    type Item = io::Result<Bytes>;

    /// [`poll_next_line`](LineReader::poll_next_line) as a stream: `None`
    /// at the end of input. The stream is not fused: polled again after
    /// `None`, it reads again (more input may have come).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}

impl<R, F> fmt::Debug for LineReader<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineReader")
            .field("buffered", &self.win.len())
            .field("max_len", &self.max_len)
            .field("copy_below", &self.copy_below)
            .field("discarding", &self.discarding)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

fn too_long(max: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("line longer than max_len ({max} bytes)"))
}
