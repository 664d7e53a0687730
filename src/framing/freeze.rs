//! `PooledBuffer` -> `Bytes` without a copy, and `BufMut` for `PooledBuffer`.

use crate::PooledBuffer;
use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes};

/// Room `chunk_mut` makes when the buffer is full, as `Vec`'s `BufMut` does.
const MIN_GROWTH: usize = 64;

impl PooledBuffer {
    /// Turns the buffer into a [`Bytes`] without copying.
    ///
    /// The `Bytes` (and every clone and slice of it) shares the pooled
    /// allocation; when the last of them drops, on whichever thread, the buffer
    /// goes back to its pool, even if every [`BufferPool`](crate::BufferPool)
    /// handle is gone by then (the buffer keeps the pool's internals alive;
    /// a closed pool frees it instead of pooling it).
    ///
    /// Freezing a pooled buffer costs one small allocation for the shared
    /// reference count (`Bytes::from_owner`), and a slow-path count of its
    /// capacity into [`Stats::frozen_bytes`](crate::Stats::frozen_bytes) (and
    /// back out when the last `Bytes` drops). An empty buffer goes home at
    /// once and gives `Bytes::new()`. A buffer made from a `Vec` becomes
    /// `Bytes::from(Vec)`, also without a copy.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut buf = pool.with_capacity(4096);
    /// buf.extend_from_slice(b"hello world");
    /// let bytes = buf.freeze();
    /// let hello = bytes.slice(..5);
    /// drop(bytes);
    /// assert_eq!(pool.stats().outstanding_buffers, 1); // `hello` still shares it
    /// std::thread::spawn(move || assert_eq!(&hello[..], b"hello")).join().unwrap();
    /// assert_eq!(pool.stats().outstanding_buffers, 0); // home, from another thread
    /// ```
    pub fn freeze(self) -> Bytes {
        if self.is_empty() {
            return Bytes::new();
        }
        if !self.is_pooled() {
            // Adopted from a `Vec`: give it back as one, which `Bytes` adopts
            // without a copy (and can later turn into a `BytesMut` for free).
            return Bytes::from(self.into_vec());
        }
        // `Frozen` is `AsRef<[u8]> + Send + 'static`, and the buffer's heap
        // memory does not move when the owner moves into the `Bytes`.
        self.count_frozen(true);
        Bytes::from_owner(Frozen(self))
    }
}

/// A pooled buffer owned by `Bytes`: counted in `Stats::frozen_bytes` from
/// its freezing until the last `Bytes` sharing it drops, then home.
struct Frozen(PooledBuffer);

impl AsRef<[u8]> for Frozen {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.0.count_frozen(false);
    }
}

impl From<PooledBuffer> for Bytes {
    /// The same as [`PooledBuffer::freeze`].
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut buf = pool.with_capacity(16);
    /// buf.extend_from_slice(b"abc");
    /// let b: bytes::Bytes = buf.into();
    /// assert_eq!(b, "abc");
    /// ```
    fn from(buf: PooledBuffer) -> Bytes {
        buf.freeze()
    }
}

// SAFETY: `BufMut` requires that `chunk_mut` hands out memory that is valid to
// write for its length, that `advance_mut(cnt)` is only trusted for `cnt` bytes
// the caller initialised in that chunk, and that `remaining_mut` is honest.
// `chunk_mut` hands out `spare_mut()`, which is owned, writable and (an
// invariant of `PooledBuffer`) already initialised; `advance_mut` panics past
// the capacity, so `len <= capacity` always holds; `remaining_mut` only bounds
// growth, which `reserve` performs (or panics on) when asked.
unsafe impl BufMut for PooledBuffer {
    /// What can still be appended: growth moves the contents to a larger
    /// pooled buffer, as [`reserve`](PooledBuffer::reserve) does.
    #[inline]
    fn remaining_mut(&self) -> usize {
        isize::MAX as usize - self.len()
    }

    /// # Panics
    /// If `cnt` exceeds the spare capacity (`chunk_mut().len()`).
    #[inline]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        let spare = self.capacity() - self.len();
        assert!(cnt <= spare, "advance_mut({cnt}) beyond the spare capacity {spare}");
        self.set_len(self.len() + cnt);
    }

    /// The spare capacity (initialised memory); when there is none, the buffer
    /// first moves to a larger pooled buffer.
    ///
    /// ```
    /// use bytes::BufMut;
    /// let pool = bufpool::BufferPool::new();
    /// let mut buf = pool.with_capacity(4096);
    /// buf.put_u32(0xdead_beef);
    /// buf.put_slice(b"payload");
    /// assert_eq!(&buf[..4], &[0xde, 0xad, 0xbe, 0xef]);
    /// assert_eq!(&buf[4..], b"payload");
    /// ```
    #[inline]
    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.len() == self.capacity() {
            self.reserve(MIN_GROWTH);
        }
        UninitSlice::new(self.spare_mut())
    }

    #[inline]
    fn put_slice(&mut self, src: &[u8]) {
        self.extend_from_slice(src);
    }

    fn put_bytes(&mut self, val: u8, cnt: usize) {
        let len = self.len().checked_add(cnt).expect("capacity overflow");
        self.resize(len, val);
    }

    fn put<T: Buf>(&mut self, mut src: T) {
        // One growth up front instead of one per chunk.
        self.reserve(src.remaining());
        while src.has_remaining() {
            let n = {
                let chunk = src.chunk();
                self.extend_from_slice(chunk);
                chunk.len()
            };
            src.advance(n);
        }
    }
}
