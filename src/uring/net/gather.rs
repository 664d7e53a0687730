//! [`Gather`]: the buffers of one send, the position reached, and the
//! `msghdr` and iovecs a gathering send of the rest uses.

use crate::PooledBuffer;

/// What one send owns until the kernel is done with it: pooled buffers
/// (handed back to the caller), or `Bytes` (dropped once sent).
pub(crate) enum Bufs {
    Pooled(Vec<PooledBuffer>),
    #[cfg(feature = "bytes")]
    Bytes(Vec<bytes::Bytes>),
}

impl Bufs {
    fn len(&self) -> usize {
        match self {
            Bufs::Pooled(v) => v.len(),
            #[cfg(feature = "bytes")]
            Bufs::Bytes(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            Bufs::Pooled(v) => v.get(i).map(|b| &b[..]),
            #[cfg(feature = "bytes")]
            Bufs::Bytes(v) => v.get(i).map(|b| &b[..]),
        }
    }
}

/// Most iovecs one `sendmsg` takes (`IOV_MAX` on Linux).
const IOV_MAX: usize = 1024;

pub(crate) struct Gather {
    bufs: Bufs,
    /// The first buffer not wholly sent, and the bytes of it that are.
    idx: usize,
    off: usize,
    /// Heap-allocated, so their addresses stay put while the kernel may read
    /// them (the owning table may move this value).
    iov: Vec<libc::iovec>,
    hdr: Box<libc::msghdr>,
}

// SAFETY: the raw pointers in `iov` and `hdr` point into `bufs` and `iov`,
// which this value owns; nothing is shared with another thread.
unsafe impl Send for Gather {}

impl Gather {
    pub(crate) fn new(bufs: Bufs) -> Gather {
        // SAFETY: an all-zero msghdr is a valid empty one.
        let hdr = Box::new(unsafe { std::mem::zeroed::<libc::msghdr>() });
        let mut g = Gather { bufs, idx: 0, off: 0, iov: Vec::new(), hdr };
        g.advance(0);
        g
    }

    pub(crate) fn done(&self) -> bool {
        self.idx >= self.bufs.len()
    }

    /// `n` more bytes were sent.
    pub(crate) fn advance(&mut self, mut n: usize) {
        while let Some(b) = self.bufs.get(self.idx) {
            let left = b.len() - self.off;
            if n < left {
                self.off += n;
                return;
            }
            n -= left;
            self.idx += 1;
            self.off = 0;
        }
    }

    /// Whether at least `n` bytes are not yet sent; stops counting once
    /// they are, and never counts for `usize::MAX` (zero-copy off).
    pub(crate) fn rest_at_least(&self, n: usize) -> bool {
        if n == usize::MAX {
            return false;
        }
        let mut rest = 0usize;
        for i in self.idx..self.bufs.len() {
            let len = self.bufs.get(i).map_or(0, <[u8]>::len);
            rest += if i == self.idx { len - self.off } else { len };
            if rest >= n {
                return true;
            }
        }
        false
    }

    /// The rest, if it is within one buffer: its address and length.
    pub(crate) fn single(&self) -> Option<(*const u8, usize)> {
        (self.idx + 1 == self.bufs.len()).then(|| {
            let b = self.bufs.get(self.idx).expect("idx < len");
            // SAFETY: `off < len`, inside the buffer.
            (unsafe { b.as_ptr().add(self.off) }, b.len() - self.off)
        })
    }

    /// A `msghdr` naming the rest (up to `IOV_MAX` buffers), valid until
    /// the next call on `self`.
    pub(crate) fn msg(&mut self) -> *const libc::msghdr {
        self.iov.clear();
        let end = self.bufs.len().min(self.idx + IOV_MAX);
        for (k, i) in (self.idx..end).enumerate() {
            let b = self.bufs.get(i).expect("i < len");
            let skip = if k == 0 { self.off } else { 0 };
            // SAFETY: `skip <= len`, inside the buffer.
            let base = unsafe { b.as_ptr().add(skip) };
            self.iov.push(libc::iovec { iov_base: base as *mut libc::c_void, iov_len: b.len() - skip });
        }
        self.hdr.msg_iov = self.iov.as_mut_ptr();
        self.hdr.msg_iovlen = self.iov.len() as _;
        &*self.hdr
    }

    pub(crate) fn into_bufs(self) -> Bufs {
        self.bufs
    }
}
