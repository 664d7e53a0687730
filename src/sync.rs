//! The std / loom switch. Core code never names `std::sync` or `loom` directly.
//!
//! Under `--cfg loom` the atomics, `Arc`, the mutex, `thread_local!` and the
//! crossbeam queue are replaced with loom's (or a loom-modelled stand-in), so the
//! models in `loom-tests/` explore every interleaving of the real protocol code.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::thread_local;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::thread_local;

/// Atomics that count for statistics alone: they publish nothing and order
/// nothing, so they stay std's under loom too. Each loom atomic access is a
/// point where a model may switch threads, and a gauge that no model checks
/// would only multiply the interleavings loom explores.
pub(crate) use std::sync::atomic::{AtomicU64 as StatAtomicU64, AtomicUsize as StatAtomicUsize};

/// A mutex for slow paths only (registration, retirement, clock sweeps).
#[cfg(not(loom))]
pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);
#[cfg(not(loom))]
impl<T> Mutex<T> {
    pub(crate) fn new(t: T) -> Self {
        Self(parking_lot::Mutex::new(t))
    }
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.0.lock()
    }
    pub(crate) fn try_lock(&self) -> Option<parking_lot::MutexGuard<'_, T>> {
        self.0.try_lock()
    }
}

#[cfg(loom)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(t: T) -> Self {
        Self(loom::sync::Mutex::new(t))
    }
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
    pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
        self.0.try_lock().ok()
    }
}

/// A bounded MPMC queue: crossbeam's lock-free `ArrayQueue`, or under loom a
/// mutex-protected deque with the same contract (linearizable FIFO push/pop,
/// fails when full), so loom treats the queue as the atomic black box it is.
#[cfg(not(loom))]
pub(crate) use crossbeam_queue::ArrayQueue as BoundedQueue;

#[cfg(loom)]
pub(crate) struct BoundedQueue<T> {
    cap: usize,
    q: loom::sync::Mutex<std::collections::VecDeque<T>>,
}
#[cfg(loom)]
impl<T> BoundedQueue<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap, q: loom::sync::Mutex::new(Default::default()) }
    }
    pub(crate) fn push(&self, t: T) -> Result<(), T> {
        let mut q = self.q.lock().unwrap();
        if q.len() == self.cap {
            return Err(t);
        }
        q.push_back(t);
        Ok(())
    }
    pub(crate) fn pop(&self) -> Option<T> {
        self.q.lock().unwrap().pop_front()
    }
    pub(crate) fn len(&self) -> usize {
        self.q.lock().unwrap().len()
    }
}

/// An unbounded MPMC queue for slow paths: crossbeam's lock-free `SegQueue`
/// (it allocates a block of slots per 31 entries, never under a lock, so a
/// push from inside the global allocator cannot deadlock), or under loom a
/// mutex-protected deque with the same contract.
#[cfg(not(loom))]
pub(crate) use crossbeam_queue::SegQueue as UnboundedQueue;

#[cfg(loom)]
pub(crate) struct UnboundedQueue<T> {
    q: loom::sync::Mutex<std::collections::VecDeque<T>>,
}
#[cfg(loom)]
impl<T> UnboundedQueue<T> {
    pub(crate) fn new() -> Self {
        Self { q: loom::sync::Mutex::new(Default::default()) }
    }
    pub(crate) fn push(&self, t: T) {
        self.q.lock().unwrap().push_back(t);
    }
    pub(crate) fn pop(&self) -> Option<T> {
        self.q.lock().unwrap().pop_front()
    }
    pub(crate) fn len(&self) -> usize {
        self.q.lock().unwrap().len()
    }
}

/// The process-wide epoch: bumped whenever any pool closes, trims or advances its
/// idle clock, so each thread notices with one `Relaxed` load per operation that
/// it has housekeeping to do for its caches.
#[cfg(not(loom))]
pub(crate) fn global_epoch() -> &'static AtomicU64 {
    static EPOCH: AtomicU64 = AtomicU64::new(1);
    &EPOCH
}

#[cfg(loom)]
pub(crate) fn global_epoch() -> &'static AtomicU64 {
    loom::lazy_static! {
        static ref EPOCH: AtomicU64 = AtomicU64::new(1);
    }
    &EPOCH
}

/// The CPU this thread runs on, used only to pick a home shard on slow paths.
/// `sched_getcpu` is a vDSO/rseq read on Linux (~3 ns); elsewhere the
/// thread's id stands in. Under loom, 0 for every thread: a model's
/// schedule must not depend on ids that differ between its runs.
#[inline]
pub(crate) fn current_cpu() -> usize {
    #[cfg(loom)]
    return 0;
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        // SAFETY: sched_getcpu has no preconditions; it returns -1 on error.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu >= 0 {
            return cpu as usize;
        }
    }
    #[cfg(not(loom))]
    return thread_id() as usize;
}

/// A number unique to the calling thread: never 0, never reused while the
/// process lives (0 only once the thread's locals are gone). A thread cache
/// block records its owner's id; an orphan block's owner is 0.
#[inline]
pub(crate) fn thread_id() -> u64 {
    use std::cell::Cell;
    // Not a modelled atomic under loom: only uniqueness matters.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    #[cfg(not(loom))]
    thread_local! {
        static ID: Cell<u64> = const { Cell::new(0) };
    }
    #[cfg(loom)]
    thread_local! {
        static ID: Cell<u64> = Cell::new(0);
    }
    ID.try_with(|id| {
        if id.get() == 0 {
            // Relaxed: only uniqueness matters, nothing is published through it.
            id.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
        id.get()
    })
    .unwrap_or(0)
}

/// A cell only its owner thread touches (a cache block's private state).
///
/// Under loom it is loom's `UnsafeCell`, so every access is recorded and loom
/// reports any two accesses from different threads that are not ordered by
/// happens-before: that is how the models check that a block is never touched
/// by its owner and freed by another thread without synchronisation.
pub(crate) struct OwnerCell<T> {
    #[cfg(not(loom))]
    cell: std::cell::UnsafeCell<T>,
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<T>,
}

impl<T> OwnerCell<T> {
    pub(crate) fn new(t: T) -> Self {
        Self { cell: t.into() }
    }

    /// # Safety
    /// The caller has exclusive access to the contents for the life of the
    /// returned reference (it is the owner thread, inside a slow operation,
    /// or the last holder of the block).
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(crate) unsafe fn get_mut(&self) -> &mut T {
        #[cfg(not(loom))]
        {
            // SAFETY: exclusive access, per the contract.
            unsafe { &mut *self.cell.get() }
        }
        #[cfg(loom)]
        {
            // loom records a write access here, with this thread's clock.
            let p = self.cell.get_mut();
            // SAFETY: exclusive access, per the contract.
            unsafe { &mut *(p.deref() as *mut T) }
        }
    }
}

/// Starts a short-lived thread that calls `round` every `period` until it
/// returns false (the budget's and the ring waiters' reapers of unclaimed
/// grants). False if the thread could not be started.
#[cfg(not(loom))]
pub(crate) fn spawn_reaper(
    name: &str,
    period: std::time::Duration,
    mut round: impl FnMut() -> bool + Send + 'static,
) -> bool {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while round() {
                std::thread::sleep(period);
            }
        })
        .is_ok()
}
