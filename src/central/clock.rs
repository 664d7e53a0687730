//! The idle clock and `Clock` eviction's state: the pool's generation, when
//! it next advances, and per size class the generation of its last shard
//! traffic and its second-chance bit. There is no background thread: slow
//! paths ask [`IdleClock::due`] now and then, and one of them advances it.

use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering};
use std::time::{Duration, Instant};

pub(super) struct IdleClock {
    /// Advanced once per tick; thread caches compare it with the generation
    /// they last saw to decay their idle bins.
    generation: AtomicU64,
    born: Instant,
    period_ns: u64,
    /// When the next tick is due, in nanoseconds since `born`.
    next_tick_ns: AtomicU64,
    /// `Clock`'s second-chance bits, one per class.
    referenced: Box<[AtomicBool]>,
    /// Generation of each class's last shard traffic.
    class_gen: Box<[AtomicU64]>,
    /// `Clock`'s hand: the class its last sweep stopped at.
    hand: Mutex<usize>,
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl IdleClock {
    pub(super) fn new(classes: usize, period: Duration) -> Self {
        let period_ns = nanos(period);
        IdleClock {
            generation: AtomicU64::new(2),
            born: Instant::now(),
            period_ns,
            next_tick_ns: AtomicU64::new(period_ns),
            referenced: (0..classes).map(|_| AtomicBool::new(false)).collect(),
            class_gen: (0..classes).map(|_| AtomicU64::new(2)).collect(),
            hand: Mutex::new(0),
        }
    }

    #[inline]
    pub(super) fn generation(&self) -> u64 {
        // Acquire: pairs with the Release increment in `advance`.
        self.generation.load(Ordering::Acquire)
    }

    /// Class `class` moved buffers between a thread and the shards.
    #[inline]
    pub(super) fn mark_used(&self, class: usize) {
        // Relaxed load-then-store (no RMW) on these read-mostly flags: they are
        // heuristics for eviction and decay; a lost or late mark only changes
        // which idle buffer is freed, never correctness.
        let g = self.generation.load(Ordering::Relaxed);
        if self.class_gen[class].load(Ordering::Relaxed) != g {
            // Relaxed: heuristic mark (see above); pairs with nothing.
            self.class_gen[class].store(g, Ordering::Relaxed);
        }
        // Relaxed: heuristic bit for Clock; pairs with nothing.
        if !self.referenced[class].load(Ordering::Relaxed) {
            self.referenced[class].store(true, Ordering::Relaxed);
        }
    }

    /// Whether a tick is due at `now`; true for exactly one caller per tick.
    pub(super) fn due(&self, now: Instant) -> bool {
        let ns = nanos(now.saturating_duration_since(self.born));
        // Relaxed: the deadline guards nothing but itself; the CAS below makes
        // exactly one thread do the tick.
        let due = self.next_tick_ns.load(Ordering::Relaxed);
        // Relaxed CAS: only elects the one ticker; the tick publishes through
        // `generation` (Release).
        ns >= due
            && self
                .next_tick_ns
                .compare_exchange(due, ns.saturating_add(self.period_ns), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Starts a new generation: returns the classes with no shard traffic
    /// during the whole last one, and clears every second-chance bit.
    pub(super) fn advance(&self) -> impl Iterator<Item = usize> + '_ {
        // Release: pairs with the Acquire in `generation()`: a thread cache that
        // sees the new generation decays its own idle bins.
        let gen = self.generation.fetch_add(1, Ordering::Release) + 1;
        (0..self.class_gen.len()).filter(move |&k| {
            // Relaxed: heuristic marks and bits, see `mark_used`.
            let idle = self.class_gen[k].load(Ordering::Relaxed) + 1 < gen;
            self.referenced[k].store(false, Ordering::Relaxed);
            idle
        })
    }

    /// `Clock`'s sweep: offers `evict` the classes whose second-chance bit is
    /// clear (unused since the last tick), other than `except`, starting where
    /// the last sweep stopped, until `evict` says it has freed enough. Returns
    /// false at once if another thread is sweeping.
    pub(super) fn sweep(&self, except: usize, mut evict: impl FnMut(usize) -> bool) -> bool {
        let Some(mut hand) = self.hand.try_lock() else { return false };
        let n = self.referenced.len();
        for step in 0..n {
            let k = (*hand + step) % n;
            // Relaxed: heuristic bit, see `mark_used`.
            if k == except || self.referenced[k].load(Ordering::Relaxed) {
                continue;
            }
            if evict(k) {
                *hand = k;
                return true;
            }
        }
        false
    }
}
