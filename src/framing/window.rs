//! The buffering both framing readers share: unconsumed bytes live either in
//! a frozen `Bytes` (cut into items without copying) or in one unfrozen
//! `PooledBuffer` holding an unfinished item, which later reads append to.

use crate::io::flavor::Source;
use crate::io::lend::{give_back_pending, Lender};
use crate::{BufferPool, PooledBuffer};
use bytes::{Buf, Bytes};
use std::io;
use std::ops::Range;
use std::task::{ready, Context, Poll};

pub(super) struct Window {
    pool: BufferPool,
    read_size: usize,
    /// Unconsumed bytes of the last frozen buffer. Never an empty slice of a
    /// buffer (that would keep the buffer from going home): empty means
    /// `Bytes::new()`.
    frozen: Bytes,
    /// An unfinished item, not yet frozen so that reads can append to it.
    /// Invariant: when `Some`, `frozen` is empty.
    partial: Option<PooledBuffer>,
    /// The last `poll_fill` failed because its buffer could not be had (not
    /// because the reader failed).
    alloc_failed: bool,
}

impl Window {
    pub(super) fn new(pool: &BufferPool) -> Self {
        Window {
            // `build` lets `read_size` exceed `max_buffer_size`; a read is
            // never larger than the pool's largest class (as `read_limit`
            // has it for the plain read layer).
            read_size: read_size(pool),
            pool: pool.clone(),
            frozen: Bytes::new(),
            partial: None,
            alloc_failed: false,
        }
    }

    pub(super) fn read_size(&self) -> usize {
        self.read_size
    }

    /// The pool's largest class: requests above it are exact, unpooled
    /// allocations.
    pub(super) fn max_buffer_size(&self) -> usize {
        self.pool.config().max_buffer_size()
    }

    /// Whether the last [`poll_fill`](Window::poll_fill) error was the
    /// pool's (no buffer of the size asked for), not the reader's.
    pub(super) fn alloc_failed(&self) -> bool {
        self.alloc_failed
    }

    /// The unconsumed bytes.
    #[inline]
    pub(super) fn data(&self) -> &[u8] {
        match &self.partial {
            Some(p) => p,
            None => &self.frozen,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.data().len()
    }

    /// Consumes the first `n` unconsumed bytes and returns bytes `item` of
    /// them: copied into their own allocation when shorter than
    /// `copy_below` (so they do not keep the pooled buffer alive), else a
    /// zero-copy slice, freezing the partial buffer first if the bytes are
    /// there. An empty item is `Bytes::new()` and keeps nothing alive.
    #[inline]
    pub(super) fn cut(&mut self, n: usize, item: Range<usize>, copy_below: usize) -> Bytes {
        debug_assert!(item.start <= item.end && item.end <= n && n <= self.len());
        let len = item.end - item.start;
        if len == 0 || len < copy_below {
            let out = if len == 0 { Bytes::new() } else { Bytes::copy_from_slice(&self.data()[item]) };
            self.consume(n);
            return out;
        }
        if let Some(p) = self.partial.take() {
            self.frozen = p.freeze();
        }
        let mut whole = if n == self.frozen.len() { std::mem::take(&mut self.frozen) } else { self.frozen.split_to(n) };
        whole.truncate(item.end);
        whole.advance(item.start);
        whole
    }

    /// Drops the first `n` unconsumed bytes.
    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        if n == 0 {
            return;
        }
        if n == self.len() {
            self.clear();
            return;
        }
        if let Some(p) = self.partial.take() {
            self.frozen = p.freeze();
        }
        self.frozen.advance(n);
    }

    /// Drops everything buffered; the buffers go home (unless items cut from
    /// them are still alive).
    pub(super) fn clear(&mut self) {
        self.frozen = Bytes::new();
        self.partial = None;
    }

    /// Reads once more, appending to the unconsumed bytes. Afterwards the
    /// buffer holding them has room for at least `min_total` bytes; a new
    /// buffer is sized for `alloc_total` (at least `min_total`).
    ///
    /// At most `max_read` bytes are read (a large frame's remainder is read
    /// alone, so none of the next frame lands behind it and needs moving).
    ///
    /// Returns the number of bytes read; 0 means end of input. While the
    /// read is pending no buffer is held beyond the unconsumed bytes: a
    /// buffer lent to `poll_read` goes back to the pool.
    pub(super) fn poll_fill<S: Source>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut S,
        min_total: usize,
        alloc_total: usize,
        max_read: usize,
    ) -> Poll<io::Result<usize>> {
        let alloc_total = alloc_total.max(min_total);
        let max_read = max_read.max(1);
        self.alloc_failed = false;
        if let Some(p) = &mut self.partial {
            if p.capacity() < min_total || p.capacity() == p.len() {
                // The unfinished item outgrew its buffer: move it (one copy)
                // to one sized for what is still expected.
                let mut next = match ready!(get(&self.pool, alloc_total.max(p.len() + 1), cx)) {
                    Ok(b) => b,
                    Err(e) => {
                        self.alloc_failed = true;
                        return Poll::Ready(Err(e));
                    }
                };
                next.extend_from_slice(p);
                *p = next;
            }
            let spare = p.spare_mut();
            let limit = spare.len().min(max_read);
            let n = ready!(poll_read(cx, reader, &mut spare[..limit]))?;
            p.set_len(p.len() + n);
            return Poll::Ready(Ok(n));
        }
        // Lend a fresh buffer to one read, leaving room in front for the
        // unconsumed tail, which is copied there only once data has come.
        let tail = self.frozen.len();
        let mut b = match ready!(get(&self.pool, alloc_total.max(tail + 1), cx)) {
            Ok(b) => b,
            Err(e) => {
                self.alloc_failed = true;
                return Poll::Ready(Err(e));
            }
        };
        b.set_len(tail);
        let spare = b.spare_mut();
        let limit = spare.len().min(max_read);
        let n = match poll_read(cx, reader, &mut spare[..limit]) {
            Poll::Pending => {
                give_back_pending(&self.pool, b, tail..tail + limit);
                return Poll::Pending;
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
            Poll::Ready(Ok(n)) => n,
        };
        b[..tail].copy_from_slice(&self.frozen);
        self.frozen = Bytes::new();
        b.set_len(tail + n);
        self.partial = Some(b);
        Poll::Ready(Ok(n))
    }
}

/// The pool's `read_size`, at most its `max_buffer_size`: the size of one
/// read of the framing layer.
pub(super) fn read_size(pool: &BufferPool) -> usize {
    crate::io::lend::read_limit(pool, pool.config().read_size().max(1)).unwrap_or(1)
}

/// An empty pooled buffer with room for `cap` bytes, `Pending` while the
/// pool is at its outstanding cap (woken when bytes come back), or
/// `OutOfMemory`.
fn get(pool: &BufferPool, cap: usize, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuffer>> {
    let r = match pool.poll_lend(cap, cx) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(r) => r,
    };
    let mut b = r.map_err(|e| match e.into_inner() {
        Some(inner) => io::Error::new(io::ErrorKind::OutOfMemory, inner),
        None => io::Error::from(io::ErrorKind::OutOfMemory),
    })?;
    b.clear();
    Poll::Ready(Ok(b))
}

/// `poll_read`, retrying on `Interrupted`; a count above `buf.len()` is an
/// `InvalidData` error ([`Source::poll_read_into`]).
fn poll_read<S: Source>(cx: &mut Context<'_>, reader: &mut S, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    debug_assert!(!buf.is_empty());
    loop {
        match reader.poll_read_into(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The index of the first `needle` in `hay`, 16 bytes a step with the
/// SWAR zero-byte test, in safe code.
///
/// `x ^ pattern` has a zero byte where `hay` has `needle`; `(v - 0x01..) &
/// !v & 0x80..` flags every zero byte of `v`, and can also flag a byte just
/// above a true zero (a borrow), never below one. Read little-endian, the
/// lowest flag is therefore the first match.
#[inline]
pub(super) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    #[inline(always)]
    fn zeros(v: u64) -> u64 {
        v.wrapping_sub(LO) & !v & HI
    }
    let pattern = LO * needle as u64;
    let mut blocks = hay.chunks_exact(16);
    let mut base = 0;
    for block in &mut blocks {
        let (a, b) = block.split_at(8);
        let za = zeros(u64::from_le_bytes(a.try_into().expect("8 bytes")) ^ pattern);
        let zb = zeros(u64::from_le_bytes(b.try_into().expect("8 bytes")) ^ pattern);
        if za != 0 {
            return Some(base + za.trailing_zeros() as usize / 8);
        }
        if zb != 0 {
            return Some(base + 8 + zb.trailing_zeros() as usize / 8);
        }
        base += 16;
    }
    blocks.remainder().iter().position(|&x| x == needle).map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use super::find_byte;

    #[test]
    fn find_byte_matches_position() {
        let mut hay = vec![b'a'; 100];
        assert_eq!(find_byte(b'\n', &hay), None);
        for i in 0..hay.len() {
            hay[i] = b'\n';
            assert_eq!(find_byte(b'\n', &hay), Some(i));
            if i > 0 {
                hay[i - 1] = 0x8a; // high bit set, one bit away from '\n'
                assert_eq!(find_byte(b'\n', &hay), Some(i));
                hay[i - 1] = b'a';
            }
            hay[i] = b'a';
        }
        for n in 0..40 {
            let v: Vec<u8> = (0..n as u8).collect();
            for (i, &x) in v.iter().enumerate() {
                assert_eq!(find_byte(x, &v), Some(i));
            }
        }
        assert_eq!(find_byte(0, &[]), None);
        // Bytes that differ from the needle in one bit, around it and alone
        // (0x0b = '\n' ^ 1 is where a SWAR borrow can flag a false match).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 70) as usize;
            let hay: Vec<u8> = (0..len)
                .map(|i| [b'\n', 0x0b, 0x8a, 0x0a ^ 0x80, 0x00, 0xff, b'a'][((x >> (i % 60)) % 7) as usize])
                .collect();
            assert_eq!(find_byte(b'\n', &hay), hay.iter().position(|&b| b == b'\n'), "{hay:?}");
            assert_eq!(find_byte(0, &hay), hay.iter().position(|&b| b == 0), "{hay:?}");
        }
    }
}
