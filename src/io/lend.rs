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

/// A pooled buffer with `len() == limit` (`limit <= max_buffer_size`).
/// Limits below `min_buffer_size` get the smallest class, so every buffer the
/// read layer hands out is pooled (no malloc per small read).
#[inline]
pub(crate) fn lend(pool: &BufferPool, limit: usize) -> io::Result<PooledBuffer> {
    let mut buf = pool.try_get(limit.max(pool.config().min_buffer_size()))?;
    buf.truncate(limit);
    Ok(buf)
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
pub(crate) fn right_size(pool: &BufferPool, buf: PooledBuffer) -> PooledBuffer {
    let config = pool.config();
    if !config.right_size() {
        return buf;
    }
    let n = buf.len();
    let want = n.max(config.min_buffer_size());
    let classes = &pool.inner().classes;
    match classes.fit(want) {
        Fit::Class(c) if classes.capacity(c) <= buf.capacity() / 2 => move_into_class(pool, buf, want),
        _ => buf,
    }
}

#[cold]
fn move_into_class(pool: &BufferPool, buf: PooledBuffer, want: usize) -> PooledBuffer {
    let Ok(mut small) = pool.try_get(want) else { return buf };
    let n = buf.len();
    small[..n].copy_from_slice(&buf);
    small.truncate(n);
    crate::local::count(pool.inner(), |t| &t.right_sized, 1);
    small
}

/// One attempt of `read_up_to(limit)`: lend, poll once, keep or give back.
#[inline]
pub(crate) fn poll_once<S: Source>(
    pool: &BufferPool,
    limit: usize,
    cx: &mut Context<'_>,
    src: &mut S,
) -> Poll<io::Result<Option<PooledBuffer>>> {
    let limit = read_limit(pool, limit)?;
    let mut buf = lend(pool, limit)?;
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
    Poll::Ready(Ok(Some(right_size(pool, buf))))
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

    pub(crate) fn poll<S: Source>(
        &mut self,
        pool: &BufferPool,
        len: usize,
        cx: &mut Context<'_>,
        src: &mut S,
    ) -> Poll<io::Result<PooledBuffer>> {
        if len == 0 {
            // As `std::io::Read::read_exact(&mut [])`: nothing to read.
            return Poll::Ready(Ok(PooledBuffer::from(Vec::new())));
        }
        let len = exact_len(pool, len)?;
        loop {
            let filled = self.filled;
            let buf = match self.buf.take() {
                Some(b) => self.buf.insert(b),
                None => self.buf.insert(lend(pool, len)?),
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
