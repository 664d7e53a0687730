//! [`Waiters`]: the futures and streams waiting for a free slot in any shard
//! of one ring, first come first served. Only slow paths lock it.
//!
//! A freed slot wakes the first waiter and takes it off the queue. A waiter
//! that was woken claims its wake-up when it next comes back with its ticket
//! (it took a slot and `leave`s, lost the race and `register`s again, or gave
//! up and `forget`s). A future leaked with `mem::forget` never comes back, so
//! its wake-up would be lost to the waiters behind it, which could then wait
//! for ever beside a free slot. So a wake-up left unclaimed for
//! [`CLAIM_TIMEOUT`] while others wait is passed on to the next waiter by a
//! short-lived reaper thread: spawned only then, gone once no unclaimed
//! wake-up is left. Passing on is harmless for a waiter that was merely slow
//! to run: whoever loses the slot registers again at its old place.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

/// How long a woken waiter may leave its wake-up unclaimed while others
/// wait before the wake-up is passed on (see the module docs).
pub(crate) const CLAIM_TIMEOUT: Duration = Duration::from_millis(250);

/// The ring-wide queue of waiting owners.
pub(crate) struct Waiters {
    /// How many owners are in `queue`. Changed only under `queue`'s lock;
    /// read without it by every slot release (under its shard's state lock).
    waiting: AtomicUsize,
    queue: Mutex<Queue>,
    /// This queue's own `Arc`, for the reaper thread.
    me: Weak<Waiters>,
}

/// (ticket, waker) pairs in ticket order.
#[derive(Default)]
struct Queue {
    entries: VecDeque<(u64, Waker)>,
    next_ticket: u64,
    /// Tickets woken for a slot and not yet back, with when they were woken.
    woken: Vec<(u64, Instant)>,
    /// A reaper thread is watching `woken`.
    reaper: bool,
}

impl Queue {
    /// `ticket` came back: its wake-up (if any) is claimed.
    fn claim(&mut self, ticket: u64) {
        if let Some(i) = self.woken.iter().position(|(t, _)| *t == ticket) {
            self.woken.swap_remove(i);
        }
    }
}

impl Waiters {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| Waiters { waiting: AtomicUsize::new(0), queue: Mutex::default(), me: me.clone() })
    }

    /// Queues the caller (or refreshes its waker if `ticket` is still
    /// queued) and returns its ticket. The caller then looks for a free slot
    /// once more: a slot freed after that look sees `waiting() > 0`.
    pub(crate) fn register(&self, ticket: Option<u64>, waker: &Waker) -> u64 {
        let mut q = self.queue.lock();
        if let Some(t) = ticket {
            q.claim(t);
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
        q.claim(ticket);
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
        let (ticket, waker) = q.entries.pop_front()?;
        // Relaxed: under the `queue` lock; see `register`.
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let now = Instant::now();
        // Wake-ups nobody waited behind are of no use to pass on.
        if q.entries.is_empty() {
            q.woken.retain(|(_, at)| now.duration_since(*at) < CLAIM_TIMEOUT);
        }
        q.woken.push((ticket, now));
        if !q.entries.is_empty() && !q.reaper {
            self.start_reaper(q);
        }
        Some(waker)
    }

    /// Starts the thread that passes on unclaimed wake-ups. Called under the
    /// queue's lock.
    fn start_reaper(&self, q: &mut Queue) {
        let Some(me) = self.me.upgrade() else { return };
        q.reaper = crate::sync::spawn_reaper("bufpool-slot-reaper", CLAIM_TIMEOUT / 2, move || me.reap());
    }

    /// Passes on each wake-up unclaimed for [`CLAIM_TIMEOUT`]; false (and
    /// the reaper stops) once none is left while others wait.
    fn reap(&self) -> bool {
        let mut wake = Vec::new();
        let more = {
            let mut q = self.queue.lock();
            let now = Instant::now();
            let stale = q.woken.iter().filter(|(_, at)| now.duration_since(*at) >= CLAIM_TIMEOUT).count();
            q.woken.retain(|(_, at)| now.duration_since(*at) < CLAIM_TIMEOUT);
            for _ in 0..stale {
                match q.entries.pop_front() {
                    Some((t, w)) => {
                        // Relaxed: under the `queue` lock; see `register`.
                        self.waiting.fetch_sub(1, Ordering::Relaxed);
                        q.woken.push((t, now));
                        wake.push(w);
                    }
                    None => break,
                }
            }
            let more = !q.woken.is_empty() && !q.entries.is_empty();
            q.reaper = more;
            more
        };
        for w in wake {
            w.wake();
        }
        more
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
