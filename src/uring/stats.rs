//! [`RingStats`], and the per-shard counters it sums.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`Ring`](crate::uring::Ring), for tests and tuning.
///
/// ```
/// use bufpool::uring::Ring;
/// let pool = bufpool::BufferPool::new();
/// let ring = Ring::new(&pool, 8)?;
/// let s = ring.stats();
/// assert_eq!(s.ops, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingStats {
    /// Operations handed to the kernel (or a worker), retries included.
    pub ops: u64,
    /// `io_uring_enter` calls that submitted (0 for the thread backend).
    pub submit_calls: u64,
    /// `io_uring_enter` calls by the completion thread that only waited.
    pub wait_calls: u64,
    /// Times the completion thread was woken to wait for completions that
    /// did not arrive inline (page-cache misses, `O_DIRECT`, `fsync`).
    pub wakeups: u64,
    /// Resubmissions after `EINTR`, `EAGAIN`, a short write, or a full
    /// chunk of a transfer over 1 GiB (both backends).
    pub retries: u64,
    /// Operations that used a registered buffer (`READ_FIXED`/`WRITE_FIXED`).
    pub fixed_ops: u64,
    /// Operations that named their file through the ring's registered file
    /// table: those of a [`RegisteredFile`](crate::uring::RegisteredFile),
    /// and reads of [`Ring::read_many`](crate::uring::Ring::read_many) (which
    /// registers its file for as long as it borrows it).
    pub registered_file_ops: u64,
    /// The largest batch one `io_uring_enter` submitted.
    pub max_batch: u64,
    /// Operations that had to wait for a free slot (the ring was full).
    pub slot_waits: u64,
    /// Socket receives that yielded a buffer ([`Ring::recv`](crate::uring::Ring::recv):
    /// completions that picked a ring buffer, or fallback `recv` calls that got bytes).
    pub recv: u64,
    /// Multishot `recv`s the kernel ended with `ENOBUFS` (the buffer ring was empty).
    pub enobufs: u64,
    /// Multishot `recv`s submitted again after one ended (`ENOBUFS`, the
    /// stream's queue bound, or the kernel stopping it).
    pub rearms: u64,
    /// Socket sends submitted as `SEND_ZC` / `SENDMSG_ZC` (see
    /// `RingBuilder::send_zerocopy_above`).
    pub send_zc: u64,
    /// Of those, the ones whose notification said the kernel copied the
    /// bytes after all (loopback always does).
    pub send_zc_copied: u64,
}

/// One shard's counters, all `Relaxed`: statistics only, nothing is
/// published through them.
#[derive(Default)]
pub(crate) struct ShardStats {
    pub(crate) ops: AtomicU64,
    pub(crate) submit_calls: AtomicU64,
    pub(crate) wait_calls: AtomicU64,
    pub(crate) wakeups: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) fixed_ops: AtomicU64,
    pub(crate) registered_file_ops: AtomicU64,
    pub(crate) max_batch: AtomicU64,
    pub(crate) slot_waits: AtomicU64,
}

/// Adds `n` to counter `c`.
#[inline]
pub(crate) fn add(c: &AtomicU64, n: u64) {
    // Relaxed: a statistic; pairs with nothing.
    c.fetch_add(n, Ordering::Relaxed);
}

/// Raises counter `c` to `n` if it is lower.
pub(crate) fn raise(c: &AtomicU64, n: u64) {
    // Relaxed: a statistic; pairs with nothing.
    c.fetch_max(n, Ordering::Relaxed);
}

impl ShardStats {
    /// Adds this shard's counters to `s` (`max_batch`: the larger).
    pub(crate) fn add_to(&self, s: &mut RingStats) {
        // Relaxed: statistics; a snapshot may be a few events old.
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.ops += get(&self.ops);
        s.submit_calls += get(&self.submit_calls);
        s.wait_calls += get(&self.wait_calls);
        s.wakeups += get(&self.wakeups);
        s.retries += get(&self.retries);
        s.fixed_ops += get(&self.fixed_ops);
        s.registered_file_ops += get(&self.registered_file_ops);
        s.max_batch = s.max_batch.max(get(&self.max_batch));
        s.slot_waits += get(&self.slot_waits);
    }
}
