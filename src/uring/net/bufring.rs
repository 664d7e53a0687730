//! [`BufRing`]: one shard's provided-buffer ring, every slot a pool buffer.
//!
//! The kernel reads the ring's entries (address, length, buffer id) from
//! memory shared with it, and picks the entry at its head for each
//! completion of an operation that selects a buffer. We own the tail: an
//! entry is written, then the tail is advanced with a `Release` store, which
//! pairs with the kernel's `smp_load_acquire` of the tail before it reads the
//! entry. Buffer id `bid` always names slot `bid`, whose `PooledBuffer` owns
//! the memory the entry points to; each id is in the ring at most once, so
//! the ring (of `count` entries) never overflows.

use crate::{BufferPool, PooledBuffer};
use io_uring::types::BufRingEntry;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// The ring's memory and its slots. All of it is touched only under the
/// shard's state lock (by the thread reaping completions, or by a stream's
/// poll retrying a refill the pool refused).
pub(crate) struct BufRing {
    /// `count` entries, page aligned (`mmap`), shared with the kernel.
    entries: NonNull<BufRingEntry>,
    map_len: usize,
    count: u16,
    /// Bytes offered to the kernel per buffer.
    size: usize,
    /// Our copy of the tail (the kernel only reads it).
    tail: u16,
    /// Slot `bid`'s buffer, or `None` while it is with a caller and the pool
    /// refused its refill.
    slots: Vec<Option<PooledBuffer>>,
    /// Ids whose refill the pool refused, to retry.
    empty: Vec<u16>,
    pool: BufferPool,
}

// SAFETY: the ring's memory is owned by this value (an anonymous mapping) and
// only read by the kernel; every access from user space goes through `&mut
// self`, under the shard's state lock.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Maps a ring of `count` entries (a power of two, at most 32768) and
    /// fills every slot with a `size`-byte buffer from `pool`.
    pub(crate) fn new(pool: &BufferPool, count: usize, size: usize) -> io::Result<BufRing> {
        let page = 4096usize;
        let map_len = (count * std::mem::size_of::<BufRingEntry>()).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping; arguments are valid and the
        // result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let entries = NonNull::new(p.cast::<BufRingEntry>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        let mut r = BufRing {
            entries,
            map_len,
            count: count as u16,
            size,
            tail: 0,
            slots: (0..count).map(|_| None).collect(),
            empty: Vec::new(),
            pool: pool.clone(),
        };
        for bid in 0..count as u16 {
            r.empty.push(bid);
        }
        r.refill_empty();
        Ok(r)
    }

    /// The address of entry 0, for `register_buf_ring`.
    pub(crate) fn addr(&self) -> u64 {
        self.entries.as_ptr() as u64
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// Slots without a buffer (the pool refused their refill).
    pub(crate) fn missing(&self) -> usize {
        self.empty.len()
    }

    /// The kernel picked buffer `bid` and wrote `len` bytes into it: hands
    /// it over, and refills the slot at once with one pool get.
    pub(crate) fn take(&mut self, bid: u16, len: usize) -> Option<PooledBuffer> {
        let mut buf = self.slots.get_mut(usize::from(bid))?.take()?;
        buf.set_len(len.min(buf.capacity()));
        self.empty.push(bid);
        self.refill_empty();
        Some(buf)
    }

    /// Retries the refills the pool refused; true if every slot is full.
    pub(crate) fn refill_empty(&mut self) -> bool {
        while let Some(&bid) = self.empty.last() {
            let Ok(buf) = self.pool.try_get(self.size) else {
                return false;
            };
            self.empty.pop();
            self.push(bid, buf);
        }
        true
    }

    /// Puts `buf` in slot `bid` and offers it to the kernel.
    fn push(&mut self, bid: u16, mut buf: PooledBuffer) {
        let mask = self.count - 1;
        let i = usize::from(self.tail & mask);
        // SAFETY: `i < count`, inside the mapping; the kernel does not read
        // entries at or past the tail, so this entry is ours to write.
        let e = unsafe { &mut *self.entries.as_ptr().add(i) };
        e.set_addr(buf.as_mut_ptr() as u64);
        e.set_len(self.size.min(buf.capacity()) as u32);
        e.set_bid(bid);
        self.slots[usize::from(bid)] = Some(buf);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field shares entry 0's `resv` (the kernel ABI);
        // the mapping is live and aligned for a u16.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16) };
        // Release: publishes the entry written above; pairs with the kernel's
        // acquire load of the tail before it reads entries.
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    /// Runs only once the kernel no longer uses the ring (its group
    /// unregistered, or its io_uring instance closed with no request left).
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of `map_len` bytes, unused now.
        unsafe { libc::munmap(self.entries.as_ptr().cast(), self.map_len) };
    }
}
