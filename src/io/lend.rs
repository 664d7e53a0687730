//! Lending a pooled buffer for one `poll_read`: the state machines behind
//! `read`, `read_up_to` and `read_exact`, shared by both reader flavours.
//!
//! The rule: a buffer is taken from the pool *inside* `poll`, handed to the
//! reader for one call, and dropped (back to this thread's cache, no atomics)
//! if the reader says `Pending`. A pending read therefore holds no buffer, and
//! the bytes land directly in the buffer the caller gets.

use super::flavor::Source;
use crate::buffer::PooledBuffer;
use crate::class::Fit;
use crate::error::AllocError;
use crate::{BufferPool, Zeroing};
use std::io;
use std::ops::Range;
use std::task::{Context, Poll};

/// The limit `read_up_to` really uses: 0 is refused (it would be
/// indistinguishable from EOF), anything above `max_buffer_size` is clamped to
/// it (a short read is always allowed by the "up to" contract, and a larger
/// buffer would be an unpooled allocation on every read).
#[inline]
pub(crate) fn read_limit(pool: &BufferPool, limit: usize) -> io::Result<usize> {
    if limit == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "read limit of 0 bytes (it would look like EOF)"));
    }
    Ok(limit.min(pool.config().max_buffer_size()))
}

/// `read_exact` cannot clamp, so a length above `max_buffer_size` is refused:
/// a length prefix taken from the wire can never make it allocate more than
/// the pool's largest class.
#[inline]
pub(crate) fn exact_len(pool: &BufferPool, len: usize) -> io::Result<usize> {
    let max = pool.config().max_buffer_size();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("read_exact of {len} bytes is above the pool's max_buffer_size ({max})"),
        ));
    }
    Ok(len)
}

/// Where the read layer takes its buffers: the pool, or an
/// [`Account`](crate::Account) (which charges them and pauses its reads).
pub(crate) trait Lender {
    /// The pool the buffers come from.
    fn pool(&self) -> &BufferPool;
    /// A buffer of `size` bytes now, or an error (over budget included).
    fn try_lend(&self, size: usize) -> Result<PooledBuffer, AllocError>;
    /// A buffer of `size` bytes, or `Pending` with `cx`'s waker registered to
    /// be woken when bytes come back (at a byte budget) or the lender
    /// resumes. Nothing is held while pending.
    fn poll_lend(&self, size: usize, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuffer>>;
}

impl Lender for BufferPool {
    #[inline]
    fn pool(&self) -> &BufferPool {
        self
    }

    #[inline]
    fn try_lend(&self, size: usize) -> Result<PooledBuffer, AllocError> {
        self.try_get(size)
    }

    #[inline]
    fn poll_lend(&self, size: usize, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuffer>> {
        match self.try_get(size) {
            Ok(b) => Poll::Ready(Ok(b)),
            Err(e) => wait_for_budget(self, &self.inner().cap, e, cx, |_| self.try_get(size)),
        }
    }
}

/// At a byte budget `cap` (the pool's or an account's): registers `cx` to be
/// woken by the next release and retries once with `retry` (see
/// `Cap::register_notify`); any other error, or a request the budget can
/// never hold, is returned.
#[cold]
pub(crate) fn wait_for_budget(
    pool: &BufferPool,
    cap: &crate::budget::Cap,
    e: AllocError,
    cx: &mut Context<'_>,
    retry: impl FnOnce(&mut Context<'_>) -> Result<PooledBuffer, AllocError>,
) -> Poll<io::Result<PooledBuffer>> {
    let need = match e {
        AllocError::OverBudget { size, max, .. } if size <= max => size,
        _ => return Poll::Ready(Err(e.into())),
    };
    debug_assert!(cap.fits_ever(need));
    if cap.register_notify(cx) {
        // The first to wait asks thread caches for their idle bytes.
        pool.inner().request_reclaim();
    }
    match retry(cx) {
        Ok(b) => Poll::Ready(Ok(b)),
        Err(e) if e.is_over_budget() => Poll::Pending,
        Err(e) => Poll::Ready(Err(e.into())),
    }
}

/// A pooled buffer with `len() == limit` (`limit <= max_buffer_size`), or
/// `Pending` while the lender is at its budget (see [`Lender::poll_lend`]).
/// Limits below `min_buffer_size` get the smallest class, so every buffer the
/// read layer hands out is pooled (no malloc per small read).
#[inline]
pub(crate) fn lend<L: Lender + ?Sized>(
    lender: &L,
    limit: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<PooledBuffer>> {
    let size = limit.max(lender.pool().config().min_buffer_size());
    let mut buf = std::task::ready!(lender.poll_lend(size, cx))?;
    buf.truncate(limit);
    Poll::Ready(Ok(buf))
}

/// Gives back `buf` after the reader it was lent to (bytes `lent` of it,
/// which may reach past `len()`, up to the capacity) answered `Pending`.
///
/// A `Pending` reader may still have written into the slice (TLS decrypts
/// in place, using it as scratch space), so under `Zeroing::OnReturn` the
/// lent bytes are scrubbed here. That restores the whole buffer to zero:
/// under `OnReturn` every pooled buffer leaves the pool zeroed (fresh ones
/// are; returned ones are scrubbed, whole or, here, where they were lent),
/// and nothing of `buf` outside `lent` was written since. So the buffer goes
/// home without a second, whole-capacity scrub.
#[inline]
pub(crate) fn give_back_pending(pool: &BufferPool, mut buf: PooledBuffer, lent: Range<usize>) {
    if pool.config().zeroing() == Zeroing::OnReturn {
        let cap = buf.capacity();
        buf.set_len(cap);
        buf[lent].fill(0);
    }
    buf.recycle_unwritten();
}

/// Moves a small result out of a much larger buffer: when the class that
/// holds `buf.len()` (at least `min_buffer_size`) is at most half of
/// `buf.capacity()`, the bytes are copied into a buffer of that class and the
/// big one goes home. Off with `Builder::right_size(false)`.
#[inline]
pub(crate) fn right_size<L: Lender + ?Sized>(lender: &L, buf: PooledBuffer) -> PooledBuffer {
    let pool = lender.pool();
    let config = pool.config();
    if !config.right_size() {
        return buf;
    }
    let n = buf.len();
    let want = n.max(config.min_buffer_size());
    let classes = &pool.inner().classes;
    match classes.fit(want) {
        Fit::Class(c) if classes.capacity(c) <= buf.capacity() / 2 => move_into_class(lender, buf, want),
        _ => buf,
    }
}

#[cold]
fn move_into_class<L: Lender + ?Sized>(lender: &L, buf: PooledBuffer, want: usize) -> PooledBuffer {
    let pool = lender.pool();
    let Ok(mut small) = lender.try_lend(want) else { return buf };
    let n = buf.len();
    small[..n].copy_from_slice(&buf);
    small.truncate(n);
    crate::local::count(pool.inner(), |t| &t.right_sized, 1);
    small
}

/// One attempt of `read_up_to(limit)`: lend, poll once, keep or give back.
#[inline]
pub(crate) fn poll_once<L: Lender + ?Sized, S: Source>(
    lender: &L,
    limit: usize,
    cx: &mut Context<'_>,
    src: &mut S,
) -> Poll<io::Result<Option<PooledBuffer>>> {
    let pool = lender.pool();
    let limit = read_limit(pool, limit)?;
    let mut buf = std::task::ready!(lend(lender, limit, cx))?;
    let n = match src.poll_read_into(cx, &mut buf) {
        // `buf` goes home here: nothing is held while the reader waits.
        Poll::Pending => {
            give_back_pending(pool, buf, 0..limit);
            return Poll::Pending;
        }
        Poll::Ready(r) => r?,
    };
    if n == 0 {
        return Poll::Ready(Ok(None));
    }
    debug_assert!(n <= limit, "Source::poll_read_into checks the count");
    buf.truncate(n);
    Poll::Ready(Ok(Some(right_size(lender, buf))))
}

/// The state of `read_exact`: no buffer until the first byte arrives, then the
/// partly filled buffer.
#[derive(Default)]
pub(crate) struct Exact {
    buf: Option<PooledBuffer>,
    filled: usize,
}

impl Exact {
    fn reset(&mut self) {
        self.buf = None;
        self.filled = 0;
    }

    pub(crate) fn poll<L: Lender + ?Sized, S: Source>(
        &mut self,
        lender: &L,
        len: usize,
        cx: &mut Context<'_>,
        src: &mut S,
    ) -> Poll<io::Result<PooledBuffer>> {
        if len == 0 {
            // As `std::io::Read::read_exact(&mut [])`: nothing to read.
            return Poll::Ready(Ok(PooledBuffer::from(Vec::new())));
        }
        let pool = lender.pool();
        let len = exact_len(pool, len)?;
        loop {
            let filled = self.filled;
            let buf = match self.buf.take() {
                Some(b) => self.buf.insert(b),
                None => self.buf.insert(std::task::ready!(lend(lender, len, cx))?),
            };
            debug_assert!(filled < len && buf.len() == len);
            match src.poll_read_into(cx, &mut buf[filled..]) {
                Poll::Pending => {
                    if filled == 0 {
                        // Nothing arrived yet: hold nothing while waiting.
                        if let Some(b) = self.buf.take() {
                            give_back_pending(pool, b, 0..len);
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    self.reset();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(0)) => {
                    self.reset();
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("EOF after {filled} of {len} bytes"),
                    )));
                }
                Poll::Ready(Ok(k)) => {
                    debug_assert!(k <= len - filled, "Source::poll_read_into checks the count");
                    self.filled += k;
                    if self.filled == len {
                        self.filled = 0;
                        if let Some(b) = self.buf.take() {
                            return Poll::Ready(Ok(b));
                        }
                    }
                }
            }
        }
    }
}
