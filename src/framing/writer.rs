//! [`FrameWriter`]: the write side. Frames (or lines) are encoded into
//! pooled buffers; large payloads are queued by reference; a flush sends as
//! many as are queued in vectored writes of up to [`IOV_MAX`] slices.

use super::family::{poll_flush, poll_write_vectored, Futures, WriteFamily};
use crate::{BufferPool, PooledBuffer};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::task::{Context, Poll};

/// Slices per vectored write: Linux's `UIO_MAXIOV` (POSIX `IOV_MAX`), the
/// most one `writev` takes.
pub const IOV_MAX: usize = 1024;

/// Default [`FrameWriter::splice_from`]: payloads of at least 4 KiB are
/// written from the caller's `Bytes` instead of being copied.
pub const DEFAULT_SPLICE_FROM: usize = 4096;

/// What one item is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    /// A 4-byte big-endian length, then the payload (what
    /// [`FrameReader`](super::FrameReader) reads by default).
    Frames,
    /// The payload, then `\n`.
    Lines,
}

/// Queued bytes, in order.
enum Segment {
    /// Bytes `start..end` of gathering buffer number `id`.
    Pooled { id: u64, start: usize, end: usize },
    /// A large payload, by reference.
    Shared(Bytes),
}

impl BufferPool {
    /// A writer of length-prefixed frames (a 4-byte big-endian length, then
    /// the payload) over a futures-io writer. See [`FrameWriter`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.frame_writer(Vec::new());
    /// w.send(bytes::Bytes::from_static(b"hi")).await?;
    /// assert_eq!(w.get_ref(), &[0, 0, 0, 2, b'h', b'i']);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn frame_writer<W: futures_io::AsyncWrite + Unpin>(&self, writer: W) -> FrameWriter<W> {
        FrameWriter::with(self, writer, Encoding::Frames)
    }

    /// A writer of `\n`-terminated lines over a futures-io writer. See
    /// [`FrameWriter`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.line_writer(Vec::new());
    /// w.feed(bytes::Bytes::from_static(b"PING"))?;
    /// w.feed(bytes::Bytes::from_static(b"QUIT"))?;
    /// w.flush().await?; // one write for both
    /// assert_eq!(w.get_ref(), b"PING\nQUIT\n");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn line_writer<W: futures_io::AsyncWrite + Unpin>(&self, writer: W) -> FrameWriter<W> {
        FrameWriter::with(self, writer, Encoding::Lines)
    }

    /// [`frame_writer`](BufferPool::frame_writer) over a tokio writer
    /// (feature `tokio`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.frame_writer_tokio(Vec::new());
    /// w.send(bytes::Bytes::from_static(b"x")).await?;
    /// assert_eq!(w.get_ref(), &[0, 0, 0, 1, b'x']);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub fn frame_writer_tokio<W: tokio::io::AsyncWrite + Unpin>(&self, writer: W) -> FrameWriter<W, super::Tokio> {
        FrameWriter::with(self, writer, Encoding::Frames)
    }

    /// [`line_writer`](BufferPool::line_writer) over a tokio writer
    /// (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub fn line_writer_tokio<W: tokio::io::AsyncWrite + Unpin>(&self, writer: W) -> FrameWriter<W, super::Tokio> {
        FrameWriter::with(self, writer, Encoding::Lines)
    }
}

/// Writes frames or lines, gathering them in pooled buffers and sending
/// everything queued in as few vectored writes as possible.
///
/// * [`feed`](FrameWriter::feed) encodes an item into the pooled buffer
///   being filled (a new one, of the pool's
///   [`read_size`](crate::Config::read_size), when it is full). A payload of
///   at least [`splice_from`](FrameWriter::splice_from) bytes is not copied:
///   the `Bytes` itself is queued, its header or line ending around it in
///   the pooled buffers.
/// * [`flush`](FrameWriter::flush) writes everything queued with
///   `poll_write_vectored`, up to [`IOV_MAX`] slices a call, then flushes
///   the writer. Written buffers go home at once.
/// * [`send`](FrameWriter::send) is `feed` then `flush`.
/// * Nothing is written until a flush, and `feed` does not bound what it
///   queues: flush often enough (after each batch of requests).
/// * A writer that accepts 0 bytes gives
///   [`WriteZero`](io::ErrorKind::WriteZero); one that claims more than it
///   was given gives [`InvalidData`](io::ErrorKind::InvalidData); other
///   errors are returned as they are, and what was not written stays queued.
/// * Dropping the writer drops what is queued and not yet written.
pub struct FrameWriter<W, F = Futures> {
    writer: W,
    family: PhantomData<fn() -> F>,
    pool: BufferPool,
    encoding: Encoding,
    buf_size: usize,
    splice_from: usize,
    /// What to write, in order.
    queue: VecDeque<Segment>,
    /// Bytes of the front segment already written.
    front_written: usize,
    /// The pooled buffers items are gathered in, oldest first; the last one
    /// is being filled. Each goes home once every segment in it is written.
    bufs: VecDeque<PooledBuffer>,
    /// The number of `bufs[0]`.
    first_id: u64,
}

impl<W, F> FrameWriter<W, F> {
    fn with(pool: &BufferPool, writer: W, encoding: Encoding) -> Self {
        FrameWriter {
            writer,
            family: PhantomData,
            pool: pool.clone(),
            encoding,
            buf_size: super::window::read_size(pool).max(64),
            splice_from: DEFAULT_SPLICE_FROM,
            queue: VecDeque::new(),
            front_written: 0,
            bufs: VecDeque::new(),
            first_id: 0,
        }
    }

    /// Sets the payload size from which a payload is queued by reference
    /// instead of copied. Default [`DEFAULT_SPLICE_FROM`] (4 KiB);
    /// `usize::MAX` copies everything, 0 splices everything.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let w = pool.frame_writer(Vec::new()).splice_from(1 << 20);
    /// assert_eq!(w.get_splice_from(), 1 << 20);
    /// ```
    pub fn splice_from(mut self, len: usize) -> Self {
        self.splice_from = len;
        self
    }

    /// The payload size from which a payload is queued by reference.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert_eq!(pool.frame_writer(Vec::new()).get_splice_from(), bufpool::framing::DEFAULT_SPLICE_FROM);
    /// ```
    pub fn get_splice_from(&self) -> usize {
        self.splice_from
    }

    /// Bytes queued and not yet written.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.line_writer(Vec::new());
    /// w.feed(bytes::Bytes::from_static(b"abc")).unwrap();
    /// assert_eq!(w.queued(), 4);
    /// ```
    pub fn queued(&self) -> usize {
        self.queue.iter().map(|seg| self.bytes(seg).len()).sum::<usize>() - self.front_written
    }

    /// The bytes of a queued segment.
    fn bytes<'a>(&'a self, seg: &'a Segment) -> &'a [u8] {
        segment_bytes(&self.bufs, self.first_id, seg)
    }

    /// Queues one item: encodes it into pooled buffers, or queues a large
    /// payload by reference. Writes nothing.
    ///
    /// # Errors
    /// A frame longer than its 4-byte length field can say
    /// ([`InvalidInput`](io::ErrorKind::InvalidInput)), or a pooled buffer
    /// the pool refuses (`max_outstanding_bytes`, an allocation failure:
    /// the pool's error as `io::Error`); either way nothing is queued.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.frame_writer(Vec::new());
    /// w.feed(bytes::Bytes::from_static(b"queued, not written")).unwrap();
    /// assert!(w.get_ref().is_empty());
    /// ```
    pub fn feed(&mut self, item: Bytes) -> io::Result<()> {
        let header = match self.encoding {
            Encoding::Frames => {
                let len = u32::try_from(item.len()).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("a frame of {} bytes does not fit a 4-byte length", item.len()),
                    )
                })?;
                Some(len.to_be_bytes())
            }
            Encoding::Lines => None,
        };
        let spliced = item.len() >= self.splice_from && !item.is_empty();
        let inline = header.map_or(0, |h| h.len())
            + if spliced { 0 } else { item.len() }
            + usize::from(self.encoding == Encoding::Lines);
        // Every buffer the item needs is taken before anything is queued, so
        // a failed get (the pool's `max_outstanding_bytes`, say) leaves the
        // queue as it was: never a header without its payload.
        let mut spare = self.take_room(inline)?;
        if let Some(h) = header {
            self.put(&h, &mut spare);
        }
        if spliced {
            self.queue.push_back(Segment::Shared(item));
        } else {
            self.put(&item, &mut spare);
        }
        if self.encoding == Encoding::Lines {
            self.put(b"\n", &mut spare);
        }
        Ok(())
    }

    /// Empty pooled buffers enough, with the room left in the buffer being
    /// filled, for `n` more bytes; an error (and none taken) if the pool
    /// refuses one.
    fn take_room(&self, n: usize) -> io::Result<Vec<PooledBuffer>> {
        let mut room = self.bufs.back().map_or(0, |b| b.capacity() - b.len());
        let mut spare = Vec::new();
        while room < n {
            let mut b = self.pool.try_get(self.buf_size)?;
            b.clear();
            room += b.capacity();
            spare.push(b);
        }
        Ok(spare)
    }

    /// Appends `bytes` to the gathering buffer being filled, starting the
    /// buffers of `spare` (from `take_room`) as they fill, and queues them.
    fn put(&mut self, mut bytes: &[u8], spare: &mut Vec<PooledBuffer>) {
        while !bytes.is_empty() {
            if self.bufs.back().is_none_or(|b| b.len() == b.capacity()) {
                self.bufs.push_back(spare.pop().expect("take_room took room for every byte"));
            }
            let id = self.first_id + self.bufs.len() as u64 - 1;
            let open = self.bufs.back_mut().expect("just ensured");
            let start = open.len();
            let n = (open.capacity() - start).min(bytes.len());
            open.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            match self.queue.back_mut() {
                // Contiguous with the last queued bytes: one slice.
                Some(Segment::Pooled { id: last, end, .. }) if *last == id && *end == start => *end += n,
                _ => self.queue.push_back(Segment::Pooled { id, start, end: start + n }),
            }
        }
    }

    /// Marks `n` queued bytes written; written segments leave the queue and
    /// gathering buffers nothing refers to any more go home.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queue.front() else { break };
            let rest = self.bytes(front).len() - self.front_written;
            if n < rest {
                self.front_written += n;
                break;
            }
            n -= rest;
            self.front_written = 0;
            self.queue.pop_front();
        }
        let keep_from = self.queue.iter().find_map(|seg| match seg {
            Segment::Pooled { id, .. } => Some(*id),
            Segment::Shared(_) => None,
        });
        let keep_from = keep_from.unwrap_or(self.first_id + self.bufs.len() as u64);
        while self.first_id < keep_from {
            self.bufs.pop_front();
            self.first_id += 1;
        }
    }

    /// The underlying writer.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// assert!(pool.frame_writer(Vec::<u8>::new()).get_ref().is_empty());
    /// ```
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// The underlying writer, mutably; writing to it directly goes before
    /// anything queued.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.frame_writer(Vec::<u8>::new());
    /// w.get_mut().push(1);
    /// ```
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// Gives the writer back; anything queued and not written is dropped
    /// (see [`queued`](FrameWriter::queued)).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let v: Vec<u8> = pool.frame_writer(Vec::new()).into_inner();
    /// assert!(v.is_empty());
    /// ```
    pub fn into_inner(self) -> W {
        self.writer
    }
}

impl<W, F: WriteFamily<W>> FrameWriter<W, F> {
    /// Writes everything queued, then flushes the writer.
    ///
    /// Cancel safe: what was not written stays queued for the next flush.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.frame_writer(Vec::new());
    /// for _ in 0..3 {
    ///     w.feed(bytes::Bytes::from_static(b"ab"))?;
    /// }
    /// w.flush().await?;
    /// assert_eq!(w.get_ref().len(), 3 * 6);
    /// assert_eq!(pool.stats().outstanding_buffers, 0); // written buffers went home
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Queues `item` and flushes: [`feed`](FrameWriter::feed) then
    /// [`flush`](FrameWriter::flush).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = bufpool::BufferPool::new();
    /// let mut w = pool.line_writer(Vec::new());
    /// w.send(bytes::Bytes::from_static(b"OK")).await?;
    /// assert_eq!(w.get_ref(), b"OK\n");
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn send(&mut self, item: Bytes) -> io::Result<()> {
        self.feed(item)?;
        self.flush().await
    }

    /// The polling form of [`flush`](FrameWriter::flush).
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.queue.is_empty() {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(self.queue.len().min(IOV_MAX));
            for (i, seg) in self.queue.iter().take(IOV_MAX).enumerate() {
                let bytes = segment_bytes(&self.bufs, self.first_id, seg);
                slices.push(IoSlice::new(if i == 0 { &bytes[self.front_written..] } else { bytes }));
            }
            let n = match poll_write_vectored::<F, W>(&mut self.writer, cx, &slices) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(n)) => n,
            };
            drop(slices);
            self.advance(n);
        }
        poll_flush::<F, W>(&mut self.writer, cx)
    }
}

/// The bytes of `seg`, given the gathering buffers and the number of the
/// first.
fn segment_bytes<'a>(bufs: &'a VecDeque<PooledBuffer>, first_id: u64, seg: &'a Segment) -> &'a [u8] {
    match seg {
        Segment::Pooled { id, start, end } => &bufs[(id - first_id) as usize][*start..*end],
        Segment::Shared(b) => b,
    }
}

impl<W, F> fmt::Debug for FrameWriter<W, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameWriter")
            .field("encoding", &self.encoding)
            .field("queued", &self.queued())
            .field("segments", &self.queue.len())
            .field("buffers", &self.bufs.len())
            .field("splice_from", &self.splice_from)
            .finish_non_exhaustive()
    }
}
