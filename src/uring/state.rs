//! The state both backends share: a fixed table of operation slots, the queue
//! of slots waiting to be handed to the kernel (or a worker), and the futures
//! waiting for a free slot.
//!
//! A slot owns everything the kernel may touch while the operation is in
//! flight: the buffer, and (for the thread backend) a duplicate of the file
//! descriptor. A future only holds the slot's index; dropping the future marks
//! the slot cancelled, and whoever completes the operation frees it. So the
//! memory the kernel writes to always outlives the write.

use crate::uring::fixed::Arena;
use crate::uring::Backend;
use crate::{BufferPool, PooledBuffer};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
    Fsync,
}

/// An operation's parameters, as submitted.
pub(crate) struct Spec {
    pub(crate) kind: Kind,
    /// The caller's descriptor. Only the io_uring backend uses it, and only
    /// while the caller's future is alive or before `Shared::gate` is released
    /// (see `op.rs`), so the number always names the caller's file.
    pub(crate) fd: RawFd,
    /// The thread backend's own duplicate of the descriptor: a worker may run
    /// the call after the caller's future (and its borrow of the file) is gone.
    pub(crate) owned: Option<OwnedFd>,
    pub(crate) offset: u64,
    /// Bytes to transfer in total.
    pub(crate) len: usize,
    /// Bytes already transferred (writes resubmit the rest after a short write).
    pub(crate) done: usize,
    /// Index of the registered arena buffer the kernel uses, if any.
    pub(crate) fixed: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Free,
    /// In `State::pending`, not yet seen by the backend.
    Queued,
    /// Handed to the kernel (io_uring) or to a worker thread.
    Submitted,
    /// The result is in the slot, waiting for its future.
    Done,
}

pub(crate) struct Slot {
    pub(crate) stage: Stage,
    pub(crate) spec: Spec,
    /// The buffer the kernel reads into or writes from. Owned here, never by
    /// the future, until the operation is `Done`.
    pub(crate) buf: Option<PooledBuffer>,
    pub(crate) result: Option<io::Result<usize>>,
    pub(crate) waker: Option<Waker>,
    /// The future was dropped; the completer frees the slot.
    pub(crate) cancelled: bool,
}

impl Slot {
    fn empty() -> Self {
        Slot {
            stage: Stage::Free,
            spec: Spec { kind: Kind::Fsync, fd: -1, owned: None, offset: 0, len: 0, done: 0, fixed: None },
            buf: None,
            result: None,
            waker: None,
            cancelled: false,
        }
    }
}

/// Everything behind the state lock.
pub(crate) struct State {
    pub(crate) slots: Vec<Slot>,
    pub(crate) free: Vec<u32>,
    pub(crate) pending: VecDeque<u32>,
    /// Futures waiting for a free slot: (ticket, waker), first come first served.
    pub(crate) waiters: VecDeque<(u64, Waker)>,
    pub(crate) next_ticket: u64,
    /// Free registered arena buffers.
    pub(crate) arena_free: Vec<u16>,
    /// io_uring: operations handed to the kernel whose completions have not
    /// been reaped yet.
    pub(crate) in_flight: usize,
    /// io_uring: the completion thread is parked on the condvar (not waiting
    /// in the kernel); a driver that leaves operations in flight wakes it.
    pub(crate) thread_idle: bool,
    /// Threads: workers blocked on the condvar.
    pub(crate) idle_workers: usize,
    /// Every `Ring` handle is gone: backend threads exit once idle.
    pub(crate) closing: bool,
}

impl State {
    /// Slots not free (queued, submitted or done).
    pub(crate) fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Frees slot `idx`: its buffer goes to `trash` (dropped by the caller
    /// outside the lock), its arena buffer back to the arena, and one waiting
    /// future is woken (pushed to `wake`).
    pub(crate) fn release(&mut self, idx: u32, trash: &mut Vec<PooledBuffer>, wake: &mut Vec<Waker>) {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        if let Some(b) = slot.buf.take() {
            trash.push(b);
        }
        if let Some(f) = slot.spec.fixed.take() {
            self.arena_free.push(f);
        }
        slot.spec.owned = None;
        slot.stage = Stage::Free;
        slot.cancelled = false;
        slot.result = None;
        slot.waker = None;
        self.free.push(idx);
        if let Some((_, w)) = self.waiters.pop_front() {
            wake.push(w);
        }
    }

    /// Records the final result of slot `idx`: wakes its future, or frees the
    /// slot if the future is gone.
    pub(crate) fn finish(
        &mut self,
        idx: u32,
        res: io::Result<usize>,
        trash: &mut Vec<PooledBuffer>,
        wake: &mut Vec<Waker>,
    ) {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        if slot.cancelled {
            self.release(idx, trash, wake);
            return;
        }
        slot.stage = Stage::Done;
        slot.result = Some(res);
        // The fd duplicate is not needed any more; close it now, not when the
        // future gets round to polling.
        slot.spec.owned = None;
        if let Some(w) = slot.waker.take() {
            wake.push(w);
        }
    }
}

/// The backend's own machinery.
pub(crate) enum Kick {
    /// The ring, the lock whose holder drives it, and the completion
    /// thread's condvar (see `ring.rs`).
    Uring(Box<crate::uring::ring::Uring>),
    /// Idle worker threads wait here.
    Condvar(Condvar),
}

/// Counters, all `Relaxed`: statistics only, nothing is published through them.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) ops: AtomicU64,
    pub(crate) submit_calls: AtomicU64,
    pub(crate) wait_calls: AtomicU64,
    pub(crate) wakeups: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) fixed_ops: AtomicU64,
    pub(crate) max_batch: AtomicU64,
    pub(crate) slot_waits: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        // Relaxed: a statistic; pairs with nothing.
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn max(c: &AtomicU64, n: u64) {
        // Relaxed: a statistic; pairs with nothing.
        c.fetch_max(n, Ordering::Relaxed);
    }

    pub(crate) fn get(c: &AtomicU64) -> u64 {
        // Relaxed: a statistic; a snapshot may be a few events old.
        c.load(Ordering::Relaxed)
    }
}

/// What a `Ring`, its futures and its backend threads share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) kick: Kick,
    pub(crate) backend: Backend,
    pub(crate) pool: BufferPool,
    pub(crate) arena: Option<Arena>,
    pub(crate) counters: Counters,
    pub(crate) entries: usize,
}

impl Shared {
    pub(crate) fn new(pool: BufferPool, entries: usize, backend: Backend, kick: Kick, arena: Option<Arena>) -> Self {
        let arena_free = arena.as_ref().map_or(Vec::new(), |a| (0..a.len() as u16).rev().collect());
        Shared {
            state: Mutex::new(State {
                slots: (0..entries).map(|_| Slot::empty()).collect(),
                free: (0..entries as u32).rev().collect(),
                pending: VecDeque::with_capacity(entries),
                waiters: VecDeque::new(),
                next_ticket: 0,
                arena_free,
                in_flight: 0,
                thread_idle: false,
                idle_workers: 0,
                closing: false,
            }),
            kick,
            backend,
            pool,
            arena,
            counters: Counters::default(),
            entries,
        }
    }

    /// Wakes a worker after work was queued (or the ring closed). Call with
    /// the state lock held. The io_uring backend needs no wake-up here: the
    /// enqueuing future drives the ring itself (see `op.rs`).
    pub(crate) fn kick_locked(&self, st: &mut State) {
        match &self.kick {
            Kick::Uring(u) => {
                if st.closing && st.thread_idle {
                    u.cv.notify_one();
                }
            }
            Kick::Condvar(cv) => {
                if st.idle_workers > 0 {
                    if st.closing {
                        cv.notify_all();
                    } else {
                        cv.notify_one();
                    }
                }
            }
        }
    }
}
