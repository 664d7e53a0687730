//! [`Waiters`]: the futures and streams waiting for a free slot in any shard
//! of one ring, first come first served. Only slow paths lock it.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;

/// The ring-wide queue of waiting owners.
#[derive(Default)]
pub(crate) struct Waiters {
    /// How many owners are in `queue`. Changed only under `queue`'s lock;
    /// read without it by every slot release (under its shard's state lock).
    waiting: AtomicUsize,
    queue: Mutex<Queue>,
}

/// (ticket, waker) pairs in ticket order.
#[derive(Default)]
struct Queue {
    entries: VecDeque<(u64, Waker)>,
    next_ticket: u64,
}

impl Waiters {
    /// Queues the caller (or refreshes its waker if `ticket` is still
    /// queued) and returns its ticket. The caller then looks for a free slot
    /// once more: a slot freed after that look sees `waiting() > 0`.
    pub(crate) fn register(&self, ticket: Option<u64>, waker: &Waker) -> u64 {
        let mut q = self.queue.lock();
        if let Some(t) = ticket {
            if let Some((_, old)) = q.entries.iter_mut().find(|(id, _)| *id == t) {
                old.clone_from(waker);
                return t;
            }
        }
        let t = ticket.unwrap_or_else(|| {
            let t = q.next_ticket;
            q.next_ticket += 1;
            t
        });
        // An owner woken for a slot that someone else took comes back to its
        // old place: tickets are handed out in order.
        let at = q.entries.iter().position(|(id, _)| *id > t).unwrap_or(q.entries.len());
        q.entries.insert(at, (t, waker.clone()));
        // Relaxed: written under the `queue` lock. A releaser reads it under
        // a shard's state lock (`slot_freed`), and our caller takes every
        // shard's state lock after this, looking for a slot: that lock orders
        // the two, so the releaser either sees this count or frees its slot
        // before our caller looks.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        t
    }

    /// Leaves the queue. False if `ticket` was no longer queued: a releaser
    /// already woke us for a slot, and the caller decides whether to pass that
    /// wake-up on (`wake_next`).
    pub(crate) fn leave(&self, ticket: u64) -> bool {
        let mut q = self.queue.lock();
        let Some(i) = q.entries.iter().position(|(id, _)| *id == ticket) else { return false };
        q.entries.remove(i);
        // Relaxed: under the `queue` lock; see `register`.
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Gives up `ticket` without taking a slot (an error, or a drop): a
    /// wake-up for a slot it got and will not use is passed on.
    pub(crate) fn forget(&self, ticket: u64) {
        if !self.leave(ticket) {
            self.wake_next();
        }
    }

    /// Wakes the first waiter, if any.
    pub(crate) fn wake_next(&self) {
        let next = self.pop(&mut self.queue.lock());
        if let Some(waker) = next {
            waker.wake();
        }
    }

    fn pop(&self, q: &mut Queue) -> Option<Waker> {
        let (_, waker) = q.entries.pop_front()?;
        // Relaxed: under the `queue` lock; see `register`.
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Some(waker)
    }

    /// Whether anyone waits. The caller holds a shard's state lock, which
    /// orders this load against `register` (see there).
    #[inline]
    pub(crate) fn any(&self) -> bool {
        // Relaxed: ordered by the shard's state lock; see `register`.
        self.waiting.load(Ordering::Relaxed) != 0
    }

    /// A slot was just freed (the caller holds its shard's state lock): the
    /// first waiter, if any, to wake once the lock is released. The common
    /// case, nobody waiting, costs one load of a line that is rarely written.
    pub(crate) fn slot_freed(&self) -> Option<Waker> {
        if !self.any() {
            return None;
        }
        self.pop(&mut self.queue.lock())
    }
}
