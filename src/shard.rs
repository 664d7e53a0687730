//! Shards: per-shard, per-size-class lock-free bounded queues of idle buffers,
//! and the pool-wide byte budget that caps what they (and thread caches) retain.
//!
//! Queues are created lazily, on the first buffer a class files in a shard, so
//! an unused class costs one null pointer per shard.

use crate::alloc::Mem;
use crate::sync::{AtomicUsize, BoundedQueue, Ordering};
use std::sync::OnceLock;

// The docs' count of a queue slot's bytes: a `Mem` and crossbeam's stamp.
#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<Mem>() + std::mem::size_of::<usize>() == crate::config::SHARD_SLOT_BYTES);

/// One shard: a queue per size class.
pub(crate) struct Shard {
    classes: Box<[OnceLock<BoundedQueue<Mem>>]>,
    per_class: usize,
}

impl Shard {
    pub(crate) fn new(classes: usize, per_class: usize) -> Self {
        Self { classes: (0..classes).map(|_| OnceLock::new()).collect(), per_class }
    }

    #[inline]
    pub(crate) fn pop(&self, class: usize) -> Option<Mem> {
        debug_assert!(class < self.classes.len());
        self.classes[class].get()?.pop()
    }

    /// Pushes `mem`; gives it back if the class queue is full.
    pub(crate) fn push(&self, class: usize, mem: Mem) -> Result<(), Mem> {
        debug_assert!(class < self.classes.len());
        self.classes[class].get_or_init(|| BoundedQueue::new(self.per_class)).push(mem)
    }
}

/// The byte budget: bytes in shards plus bytes leased to thread caches never
/// exceed `max`. Only slow paths touch it: thread caches reserve in leases.
pub(crate) struct Budget {
    reserved: AtomicUsize,
    max: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Self {
        Self { reserved: AtomicUsize::new(0), max }
    }

    /// Reserves `n` bytes if that keeps the total within the cap.
    pub(crate) fn reserve(&self, n: usize) -> bool {
        // Relaxed: the budget is a counter, not a publication. No memory is read
        // or written on the strength of its value; the buffers themselves travel
        // through the queues, which synchronise on their own.
        self.reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_add(n).filter(|&t| t <= self.max))
            .is_ok()
    }

    /// Gives back `n` reserved bytes.
    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            // Relaxed: see `reserve`.
            let prev = self.reserved.fetch_sub(n, Ordering::Relaxed);
            debug_assert!(prev >= n, "budget underflow");
        }
    }

    pub(crate) fn reserved(&self) -> usize {
        // Relaxed: a statistic.
        self.reserved.load(Ordering::Relaxed)
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }
}
