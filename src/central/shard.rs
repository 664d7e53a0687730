//! The shards: per-shard, per-size-class lock-free bounded queues of idle
//! buffers, an unbounded overflow queue per size class for what the shard
//! queues have no slot for, the home shard (by the CPU a thread runs on), and
//! the pool-wide byte budget that caps what the shards, the overflow and the
//! thread caches' leases retain.
//!
//! Capacity follows demand: a shard queue holds `max_buffers_per_shard`
//! buffers of a class, and a return that finds it full goes to the class's
//! overflow instead of being freed. Every buffer in either holds its budget
//! reservation, so the byte budget, not a count, bounds them together.
//!
//! Queues are created lazily, on the first buffer a class puts in a shard (or
//! in the overflow), so an unused class costs one null pointer per shard.

use crate::alloc::Mem;
use crate::sync::{current_cpu, AtomicUsize, BoundedQueue, Ordering, StatAtomicUsize, UnboundedQueue};
use crossbeam_utils::CachePadded;
use std::sync::OnceLock;

// The docs' count of a queue slot's bytes: a `Mem` and crossbeam's stamp.
#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<Mem>() + std::mem::size_of::<usize>() == crate::config::SHARD_SLOT_BYTES);

/// One shard: a queue per size class.
struct Shard {
    classes: Box<[OnceLock<BoundedQueue<Mem>>]>,
    per_class: usize,
}

impl Shard {
    fn new(classes: usize, per_class: usize) -> Self {
        Self { classes: (0..classes).map(|_| OnceLock::new()).collect(), per_class }
    }

    #[inline]
    fn pop(&self, class: usize) -> Option<Mem> {
        debug_assert!(class < self.classes.len());
        self.classes[class].get()?.pop()
    }

    /// Pushes `mem`; gives it back if the class queue is full.
    #[inline]
    fn push(&self, class: usize, mem: Mem) -> Result<(), Mem> {
        debug_assert!(class < self.classes.len());
        self.classes[class].get_or_init(|| BoundedQueue::new(self.per_class)).push(mem)
    }
}

/// Where in the shards a buffer was found, when a thread cache may refill
/// from the same place: its home shard, or the class's overflow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Spot {
    /// The caller's home shard.
    Shard(usize),
    /// The class's overflow queue.
    Overflow,
}

/// Every shard of a pool, the overflow, and the bytes they hold.
pub(super) struct Shards {
    shards: Box<[CachePadded<Shard>]>,
    /// Per class: returns its shard queues had no slot for.
    overflow: Box<[OnceLock<UnboundedQueue<Mem>>]>,
    /// `shards.len() - 1` (a power of two minus one).
    mask: usize,
    /// Bytes in the shard queues and the overflow (a statistic).
    bytes: AtomicUsize,
}

impl Shards {
    pub(super) fn new(count: usize, classes: usize, per_class: usize) -> Self {
        debug_assert!(count.is_power_of_two());
        Self {
            shards: (0..count).map(|_| CachePadded::new(Shard::new(classes, per_class))).collect(),
            overflow: (0..classes).map(|_| OnceLock::new()).collect(),
            mask: count - 1,
            bytes: AtomicUsize::new(0),
        }
    }

    /// The calling thread's home shard: the one of the CPU it runs on.
    #[inline]
    pub(super) fn home(&self) -> usize {
        current_cpu() & self.mask
    }

    /// Pops a buffer of `class` from `spot`.
    #[inline]
    pub(super) fn pop(&self, spot: Spot, class: usize) -> Option<Mem> {
        let mem = match spot {
            Spot::Shard(s) => self.shards[s].pop(class)?,
            Spot::Overflow => self.overflow[class].get()?.pop()?,
        };
        // Relaxed: a statistic. Before the caller counts the buffer elsewhere,
        // so `pooled_bytes` never counts it twice (and never exceeds the cap,
        // which tests check live).
        self.bytes.fetch_sub(mem.cap, Ordering::Relaxed);
        Some(mem)
    }

    /// Pops a buffer of `class` from the home shard, else from the other
    /// shards in turn, else from the class's overflow. Also says where it came
    /// from when that was the home shard or the overflow (`None` when it was
    /// stolen from another shard).
    #[inline]
    pub(super) fn pop_near(&self, class: usize) -> Option<(Mem, Option<Spot>)> {
        let home = self.home();
        (0..self.shards.len())
            .find_map(|i| {
                let s = (home + i) & self.mask;
                self.pop(Spot::Shard(s), class).map(|mem| (mem, (i == 0).then_some(Spot::Shard(s))))
            })
            .or_else(|| self.pop(Spot::Overflow, class).map(|mem| (mem, Some(Spot::Overflow))))
    }

    /// Pushes `mems` of `class` into `spot`, counting their bytes once for
    /// the batch. Once the shard's queue is full, the rest go to the class's
    /// overflow: the caller holds a budget reservation for each buffer, which
    /// is what bounds the two together.
    #[inline]
    pub(super) fn push_all(&self, spot: Spot, class: usize, mems: impl IntoIterator<Item = Mem>) {
        let mut bytes = 0;
        let mut mems = mems.into_iter();
        if let Spot::Shard(shard) = spot {
            for mem in mems.by_ref() {
                bytes += mem.cap;
                if let Err(mem) = self.shards[shard].push(class, mem) {
                    self.overflow(class).push(mem);
                    break;
                }
            }
        }
        let overflow = self.overflow(class);
        for mem in mems {
            bytes += mem.cap;
            overflow.push(mem);
        }
        // Relaxed: a statistic. After the pushes, so `pooled_bytes` may lag
        // (never count a buffer twice).
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Pushes `mem` of `class` into shard `shard`'s queue only, never the
    /// overflow; gives it back if that queue is full. For `prefill`, which
    /// fills the shards' slots and no further.
    pub(super) fn push_slot(&self, shard: usize, class: usize, mem: Mem) -> Result<(), Mem> {
        let cap = mem.cap;
        self.shards[shard & self.mask].push(class, mem)?;
        // Relaxed: a statistic, after the push (see `push_all`).
        self.bytes.fetch_add(cap, Ordering::Relaxed);
        Ok(())
    }

    /// Buffers of `class` in the shard queues and the overflow (a racy sum
    /// of each queue's length, for statistics).
    pub(super) fn class_len(&self, class: usize) -> usize {
        let queued: usize = self.shards.iter().map(|s| s.classes[class].get().map_or(0, |q| q.len())).sum();
        queued + self.overflow[class].get().map_or(0, |q| q.len())
    }

    /// Number of shards.
    pub(super) fn len(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    fn overflow(&self, class: usize) -> &UnboundedQueue<Mem> {
        self.overflow[class].get_or_init(UnboundedQueue::new)
    }

    /// Pops every buffer of the classes in `classes`, from every shard and the
    /// overflow, into `f`, until `f` says stop.
    pub(super) fn drain(&self, classes: std::ops::Range<usize>, mut f: impl FnMut(Mem) -> Stop) -> Stop {
        let spots = (0..self.shards.len()).map(Spot::Shard).chain([Spot::Overflow]);
        for spot in spots {
            for k in classes.clone() {
                while let Some(mem) = self.pop(spot, k) {
                    if f(mem) == Stop::Yes {
                        return Stop::Yes;
                    }
                }
            }
        }
        Stop::No
    }

    /// Bytes in the shard queues and the overflow.
    pub(super) fn bytes(&self) -> usize {
        // Relaxed: a statistic.
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Whether a drain stops early.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Yes,
    No,
}

/// The byte budget: bytes in shards plus bytes leased to thread caches never
/// exceed `max`. Only slow paths touch it: thread caches reserve in leases.
pub(super) struct Budget {
    reserved: CachePadded<AtomicUsize>,
    /// The highest `reserved` has been (a statistic: `peak_pooled_bytes`).
    peak: StatAtomicUsize,
    max: usize,
}

impl Budget {
    pub(super) fn new(max: usize) -> Self {
        Self { reserved: CachePadded::new(AtomicUsize::new(0)), peak: StatAtomicUsize::new(0), max }
    }

    /// Reserves `n` bytes if that keeps the total within the cap.
    #[inline]
    pub(super) fn reserve(&self, n: usize) -> bool {
        // Relaxed: the budget is a counter, not a publication. No memory is read
        // or written on the strength of its value; the buffers themselves travel
        // through the queues, which synchronise on their own.
        let r = self
            .reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_add(n).filter(|&t| t <= self.max));
        match r {
            Ok(prev) => {
                // Relaxed (both): a statistic. `prev + n` is a value the
                // count really held, and only `reserve` raises it, so the
                // peak is the exact maximum of `reserved`.
                if prev + n > self.peak.load(Ordering::Relaxed) {
                    self.peak.fetch_max(prev + n, Ordering::Relaxed);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// The highest count of reserved bytes so far.
    pub(super) fn peak(&self) -> usize {
        // Relaxed: a statistic.
        self.peak.load(Ordering::Relaxed)
    }

    /// Gives back `n` reserved bytes.
    #[inline]
    pub(super) fn release(&self, n: usize) {
        if n > 0 {
            // Relaxed: see `reserve`.
            let prev = self.reserved.fetch_sub(n, Ordering::Relaxed);
            debug_assert!(prev >= n, "budget underflow");
        }
    }

    /// Bytes reserved now.
    pub(super) fn reserved(&self) -> usize {
        // Relaxed: a statistic.
        self.reserved.load(Ordering::Relaxed)
    }

    /// Bytes reserved beyond what is free: how much of `n` more bytes does not fit.
    pub(super) fn shortfall(&self, n: usize) -> usize {
        n.saturating_sub(self.max.saturating_sub(self.reserved()))
    }

    #[cfg(feature = "test-util")]
    pub(super) fn max(&self) -> usize {
        self.max
    }
}
