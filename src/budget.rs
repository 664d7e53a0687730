//! [`Cap`]: a byte budget with a FIFO queue of waiters, used twice: as the
//! pool's `max_outstanding_bytes` (charged by thread caches on their slow
//! paths, see `local/slow.rs`) and as an [`Account`](crate::Account)'s
//! `limit` and watermarks.
//!
//! # The word
//!
//! All state a charge or a release needs is one `AtomicU64`, [`Cap::word`]:
//! the bytes charged in the low bits and three flags above them.
//!
//! * `QUEUED`: the FIFO queue is not empty. A fair charge fails while it is
//!   set, so a small request never overtakes a queued larger one.
//! * `NOTIFY`: wakers wait for any release (the read layer, paused readers).
//! * `PAUSED`: above the high watermark, until a release brings the count to
//!   the low one (hysteresis).
//!
//! Every change is a read-modify-write of this one word, so all of them are
//! totally ordered: a waiter that sets `QUEUED` or `NOTIFY` and then looks at
//! the count either sees a concurrent release or that release sees its flag.
//! No flag lives in a second atomic, which would need a store-load (Dekker)
//! pairing across two locations.
//!
//! # Fairness
//!
//! As in tokio's `batch_semaphore`, a release hands bytes to the waiters at
//! the head of the queue itself, under the queue's lock, in order: the head
//! is charged when enough bytes are free, and nobody behind it is served
//! before it. So a large request at the head blocks the smaller ones queued
//! after it until it fits, and is never starved by them; a new request that
//! finds the queue non-empty queues too.
//!
//! A waiter that was granted its bytes holds them until it claims them (its
//! future resolves) or is dropped (they are released). Granting never
//! depends on a waiter running, so a waiter leaked with `mem::forget` cannot
//! hold the queue up by not running; but the bytes granted to it would be
//! lost to the waiters behind it. So a grant left unclaimed for
//! [`CLAIM_TIMEOUT`] while others wait is revoked by a short-lived reaper
//! thread (spawned only then, gone once no such grant remains): its bytes go
//! to the next waiters, and a live waiter whose grant was revoked goes back
//! to the front of the queue when it is next polled.

use crate::sync::{Arc, AtomicU64, Mutex, Ordering};
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long a granted waiter may leave its grant unclaimed while others
/// wait before the grant is revoked (see the module docs).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const CLAIM_TIMEOUT: Duration = Duration::from_millis(500);

/// The largest count the word holds; a cap at or above it is unlimited.
pub(crate) const VALUE: u64 = (1 << 60) - 1;
const QUEUED: u64 = 1 << 63;
const NOTIFY: u64 = 1 << 62;
const PAUSED: u64 = 1 << 61;
const FLAGS: u64 = QUEUED | NOTIFY | PAUSED;

/// A byte budget with waiters.
pub(crate) struct Cap {
    /// The cap; `u64::MAX` when unlimited (nothing is counted then).
    max: u64,
    /// The high and low watermarks (`u64::MAX` for none).
    high: u64,
    low: u64,
    /// Charged bytes and the flags (see the module docs).
    word: AtomicU64,
    /// The highest count a charge reached (a statistic).
    peak: AtomicU64,
    q: Mutex<Queue>,
    /// This cap's own `Arc`, for the reaper thread.
    #[cfg(not(loom))]
    me: std::sync::Weak<Cap>,
}

#[derive(Default)]
struct Queue {
    fifo: VecDeque<Arc<Waiter>>,
    notify: Vec<Waker>,
    /// Granted and maybe not yet claimed, with the time of the grant.
    granted: Vec<(Arc<Waiter>, Instant)>,
    /// A reaper thread is watching `granted`.
    reaper: bool,
}

/// One queued request, shared by its future (or blocked thread) and the
/// queue. `slot` is locked after `Cap::q` when both are needed.
pub(crate) struct Waiter {
    need: u64,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    granted: bool,
    /// The grant was revoked, unclaimed; the waiter requeues when polled.
    revoked: bool,
    /// The grant was claimed, or the waiter cancelled.
    done: bool,
    waker: Option<Waker>,
}

impl Cap {
    /// A cap of `max` bytes (unlimited at or above [`VALUE`]), with optional
    /// `(high, low)` watermarks. With `counted`, an unlimited `max` is
    /// clamped to [`VALUE`] instead, so the count is kept (an account's).
    pub(crate) fn new(max: usize, watermarks: Option<(usize, usize)>, counted: bool) -> Arc<Self> {
        let max = if max as u64 >= VALUE {
            if counted {
                VALUE
            } else {
                u64::MAX
            }
        } else {
            max as u64
        };
        let (high, low) = watermarks.map_or((u64::MAX, u64::MAX), |(h, l)| (h as u64, l as u64));
        let make = |_me| Self {
            max,
            high,
            low,
            word: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            q: Mutex::new(Queue::default()),
            #[cfg(not(loom))]
            me: _me,
        };
        #[cfg(not(loom))]
        return Arc::new_cyclic(|me| make(me.clone()));
        #[cfg(loom)]
        Arc::new(make(()))
    }

    /// Whether anything is counted.
    #[inline(always)]
    pub(crate) fn is_limited(&self) -> bool {
        self.max != u64::MAX
    }

    /// The cap (`usize::MAX` when unlimited).
    pub(crate) fn max(&self) -> usize {
        if self.max < VALUE {
            self.max as usize
        } else {
            usize::MAX
        }
    }

    /// Bytes charged now (0 when unlimited).
    pub(crate) fn used(&self) -> usize {
        // Relaxed: a reading for statistics and error messages.
        (self.word.load(Ordering::Relaxed) & !FLAGS) as usize
    }

    /// The highest count any charge reached.
    #[cfg_attr(any(loom, not(feature = "test-util")), allow(dead_code))]
    pub(crate) fn peak(&self) -> usize {
        // Relaxed: a statistic.
        self.peak.load(Ordering::Relaxed) as usize
    }

    /// Above the high watermark and not yet back to the low one.
    pub(crate) fn is_paused(&self) -> bool {
        // Relaxed: a hint; `poll_notify` re-reads it through its RMW.
        self.word.load(Ordering::Relaxed) & PAUSED != 0
    }

    /// Whether `n` bytes could ever be charged.
    pub(crate) fn fits_ever(&self, n: usize) -> bool {
        n as u64 <= self.max
    }

    /// Charges `n` bytes unless that passes the cap or a waiter is queued.
    /// Always true when unlimited.
    #[inline]
    pub(crate) fn try_charge(&self, n: usize) -> bool {
        !self.is_limited() || self.charge(n as u64, true)
    }

    /// Charges `n` bytes whatever the cap and the queue: for a buffer of an
    /// account that grew (the pool's own cap still bound the new buffer).
    /// The count saturates at [`VALUE`].
    pub(crate) fn charge_unchecked(&self, n: usize) {
        if !self.is_limited() {
            return;
        }
        let (high, n) = (self.high, n as u64);
        // AcqRel, Relaxed on failure: as in `charge`.
        let r = self.word.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            let v = ((w & !FLAGS) + n).min(VALUE);
            Some(v | (w & FLAGS) | if v >= high { PAUSED } else { 0 })
        });
        let v = ((r.unwrap_or_else(|w| w) & !FLAGS) + n).min(VALUE);
        // Relaxed: a statistic.
        self.peak.fetch_max(v, Ordering::Relaxed);
    }

    fn charge(&self, n: u64, fair: bool) -> bool {
        let (high, max) = (self.high, self.max);
        // AcqRel: a charge that succeeds after a release must see what the
        // releasing thread did with the bytes (Acquire pairs with the
        // Release half of `release`'s RMW); Release publishes this charge to
        // the next RMW. Relaxed on failure: nothing was changed.
        let r = self.word.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            if fair && w & QUEUED != 0 {
                return None;
            }
            let v = (w & !FLAGS) + n;
            if v > max {
                return None;
            }
            Some(v | (w & FLAGS) | if v >= high { PAUSED } else { 0 })
        });
        match r {
            Ok(w) => {
                let v = (w & !FLAGS) + n;
                // Relaxed (both): a statistic.
                if v > self.peak.load(Ordering::Relaxed) {
                    self.peak.fetch_max(v, Ordering::Relaxed);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Gives back `n` charged bytes, serving waiters if any are queued or
    /// waiting to be told.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if !self.is_limited() || n == 0 {
            return;
        }
        let (n, low) = (n as u64, self.low);
        // AcqRel: Release pairs with the Acquire of later charges (see
        // `charge`); Acquire pairs with the Release of the RMWs that set
        // `QUEUED` or `NOTIFY`, so the queue they filled is seen under the lock.
        let prev = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                // Never below zero (every release follows its charge); saturating
                // so a broken invariant cannot panic inside a buffer's drop.
                debug_assert!(w & !FLAGS >= n, "a budget released more bytes than were charged");
                let v = (w & !FLAGS).saturating_sub(n);
                let paused = if v <= low { 0 } else { w & PAUSED };
                Some(v | (w & (QUEUED | NOTIFY)) | paused)
            })
            .unwrap_or_else(|w| w);
        if prev & (QUEUED | NOTIFY) != 0 {
            self.serve();
        }
    }

    /// Grants the head of the queue while its bytes fit, then wakes those
    /// and every notified waker.
    #[cold]
    fn serve(&self) {
        let mut wake = Vec::new();
        {
            let mut q = self.q.lock();
            self.serve_locked(&mut q, &mut wake);
        }
        for w in wake {
            w.wake();
        }
    }

    fn serve_locked(&self, q: &mut Queue, wake: &mut Vec<Waker>) {
        while let Some(head) = q.fifo.front() {
            if !self.charge(head.need, false) {
                break;
            }
            let head = q.fifo.pop_front().expect("the front exists");
            let mut s = head.slot.lock();
            s.granted = true;
            wake.extend(s.waker.take());
            drop(s);
            q.granted.push((head, Instant::now()));
        }
        q.granted.retain(|(w, _)| !w.slot.lock().done);
        if !q.granted.is_empty() && !q.fifo.is_empty() && !q.reaper {
            self.start_reaper(q);
        }
        let mut clear = NOTIFY;
        if q.fifo.is_empty() {
            clear |= QUEUED;
        }
        wake.append(&mut q.notify);
        // AcqRel: ordered with every other RMW of the word; under the lock,
        // so no waiter sets a flag between our look at the queue and this.
        self.word.fetch_and(!clear, Ordering::AcqRel);
    }

    /// Queues a request of `n` bytes (`fits_ever(n)`), granting it at once
    /// if it is first and fits.
    pub(crate) fn enqueue(&self, n: usize) -> Arc<Waiter> {
        debug_assert!(self.is_limited() && self.fits_ever(n));
        let w = Arc::new(Waiter { need: n as u64, slot: Mutex::new(Slot::default()) });
        let mut wake = Vec::new();
        {
            let mut q = self.q.lock();
            q.fifo.push_back(w.clone());
            // AcqRel: see `serve_locked`; a release after this sees the flag.
            self.word.fetch_or(QUEUED, Ordering::AcqRel);
            // A release that came before the flag left bytes we can use now.
            self.serve_locked(&mut q, &mut wake);
        }
        for k in wake {
            k.wake();
        }
        w
    }

    /// Ready once `w` was granted (its bytes are then charged to the caller).
    pub(crate) fn poll_grant(&self, w: &Arc<Waiter>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = w.slot.lock();
        if s.revoked {
            // Back to the front of the queue (it was first before).
            drop(s);
            let mut wake = Vec::new();
            {
                let mut q = self.q.lock();
                let mut s = w.slot.lock();
                if s.revoked {
                    s.revoked = false;
                    drop(s);
                    q.fifo.push_front(w.clone());
                    // AcqRel: see `serve_locked`.
                    self.word.fetch_or(QUEUED, Ordering::AcqRel);
                    self.serve_locked(&mut q, &mut wake);
                }
            }
            for k in wake {
                k.wake();
            }
            s = w.slot.lock();
        }
        if s.granted {
            s.done = true;
            return Poll::Ready(());
        }
        if !s.waker.as_ref().is_some_and(|k| k.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Starts the reaper thread that revokes grants left unclaimed (see the
    /// module docs). Called under the queue's lock.
    #[cfg(not(loom))]
    fn start_reaper(&self, q: &mut Queue) {
        let Some(me) = self.me.upgrade() else { return };
        q.reaper = crate::sync::spawn_reaper("bufpool-reaper", CLAIM_TIMEOUT / 2, move || me.reap());
    }

    #[cfg(loom)]
    fn start_reaper(&self, _q: &mut Queue) {}

    /// Revokes grants unclaimed for [`CLAIM_TIMEOUT`]; false (and the reaper
    /// stops) once no grant is left to watch.
    #[cfg(not(loom))]
    fn reap(&self) -> bool {
        let (mut bytes, mut wake) = (0u64, Vec::new());
        let more = {
            let mut q = self.q.lock();
            let now = Instant::now();
            q.granted.retain(|(w, at)| {
                let mut s = w.slot.lock();
                if s.done {
                    return false;
                }
                if now.duration_since(*at) < CLAIM_TIMEOUT {
                    return true;
                }
                s.granted = false;
                s.revoked = true;
                wake.extend(s.waker.take());
                bytes += w.need;
                false
            });
            let more = !q.granted.is_empty() && !q.fifo.is_empty();
            q.reaper = more;
            more
        };
        self.release(bytes as usize);
        for k in wake {
            k.wake();
        }
        more
    }

    /// Withdraws `w` (its future was dropped): out of the queue, or its
    /// unclaimed grant released. Serves the queue again, since `w` may have
    /// been the head holding others back.
    pub(crate) fn cancel(&self, w: &Arc<Waiter>) {
        let release = {
            let mut q = self.q.lock();
            let mut s = w.slot.lock();
            if s.done {
                return;
            }
            s.done = true;
            if !s.granted {
                q.fifo.retain(|x| !Arc::ptr_eq(x, w));
            }
            q.granted.retain(|(x, _)| !Arc::ptr_eq(x, w));
            s.granted
        };
        if release {
            self.release(w.need as usize);
        } else {
            self.serve();
        }
    }

    /// Registers `cx`'s waker to be woken by the next release (or resume),
    /// for a caller that found no room (or the cap paused). It then retries
    /// its charge (or looks at `is_paused`) once: the RMW here orders it
    /// against every release, so either that retry sees the release or the
    /// release sees this registration. True if no other waker was waiting.
    pub(crate) fn register_notify(&self, cx: &mut Context<'_>) -> bool {
        let mut q = self.q.lock();
        let first = q.notify.is_empty();
        if !q.notify.iter().any(|k| k.will_wake(cx.waker())) {
            q.notify.push(cx.waker().clone());
        }
        // AcqRel: see `serve_locked`.
        self.word.fetch_or(NOTIFY, Ordering::AcqRel);
        first
    }

    /// Whether the word says paused, read through an RMW after
    /// `register_notify` (see there).
    pub(crate) fn paused_after_register(&self) -> bool {
        // AcqRel: an RMW, so it reads the latest value in the word's
        // modification order, after our `NOTIFY` registration.
        self.word.fetch_or(0, Ordering::AcqRel) & PAUSED != 0
    }
}

impl Waiter {
    /// The bytes this waiter asked for.
    pub(crate) fn need(&self) -> usize {
        self.need as usize
    }
}

/// A queued request as a future-friendly handle: cancels on drop unless
/// claimed.
pub(crate) struct Ticket<'a> {
    cap: &'a Cap,
    w: Option<Arc<Waiter>>,
}

impl<'a> Ticket<'a> {
    pub(crate) fn new(cap: &'a Cap, n: usize) -> Self {
        Self { cap, w: Some(cap.enqueue(n)) }
    }

    /// Ready with the granted bytes (now the caller's to use or release).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<usize> {
        let w = self.w.as_ref().expect("polled after it resolved");
        match self.cap.poll_grant(w, cx) {
            Poll::Ready(()) => {
                let n = w.need();
                self.w = None;
                Poll::Ready(n)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Blocks this thread until granted; `idle` runs before each park (the
    /// caller gives its thread's idle cached bytes back there).
    #[cfg(not(loom))]
    pub(crate) fn wait(mut self, idle: impl Fn()) -> usize {
        let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(n) = self.poll(&mut cx) {
                return n;
            }
            idle();
            if let Poll::Ready(n) = self.poll(&mut cx) {
                return n;
            }
            std::thread::park();
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.w.take() {
            self.cap.cancel(&w);
        }
    }
}

/// A waker that unparks a blocked thread.
#[cfg(not(loom))]
struct Unpark(std::thread::Thread);

#[cfg(not(loom))]
impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn a_large_head_is_served_before_later_small_ones() {
        let cap = Cap::new(100, None, false);
        assert!(cap.try_charge(90));
        let mut big = Ticket::new(&cap, 60);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(big.poll(&mut cx).is_pending());
        assert!(!cap.try_charge(5), "a fair charge overtook the queue");
        let mut small = Ticket::new(&cap, 5);
        assert!(small.poll(&mut cx).is_pending());
        cap.release(50);
        assert_eq!(big.poll(&mut cx), Poll::Ready(60));
        assert!(small.poll(&mut cx).is_pending(), "40 + 60 + 5 passes the cap");
        cap.release(5);
        assert_eq!(small.poll(&mut cx), Poll::Ready(5));
        assert_eq!(cap.used(), 35 + 60 + 5);
    }

    #[test]
    fn a_cancelled_grant_is_released() {
        let cap = Cap::new(10, None, false);
        assert!(cap.try_charge(10));
        let t = Ticket::new(&cap, 10);
        cap.release(10);
        assert_eq!(cap.used(), 10, "granted to the ticket");
        drop(t);
        assert_eq!(cap.used(), 0);
    }

    #[test]
    fn watermarks_pause_and_resume() {
        let cap = Cap::new(100, Some((80, 20)), false);
        assert!(cap.try_charge(79));
        assert!(!cap.is_paused());
        assert!(cap.try_charge(1));
        assert!(cap.is_paused());
        cap.release(50);
        assert!(cap.is_paused(), "30 is above the low watermark");
        cap.release(10);
        assert!(!cap.is_paused());
    }
}
