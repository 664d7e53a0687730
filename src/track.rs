//! Leak and retention tracking (`Builder::track_outstanding`): for one get
//! in `sample_every`, where the buffer was taken (a [`Backtrace`]) and when,
//! kept until the buffer comes back; [`OutstandingReport`] lists the oldest.
//!
//! A tracking pool sends every get and every return through the slow path
//! (its blocks' fast view says so, as for `Zeroing::OnGet` / `OnReturn`), so
//! a pool without tracking runs exactly the same hot path as before. A
//! sampled buffer carries [`TRACKED`] in its tag while it is out; only
//! returns of tagged buffers touch the table, so an unsampled buffer's round
//! trip pays the slow path and one random draw, nothing shared.
//!
//! The table is a fixed array of mutex-guarded maps keyed by the buffer's
//! address (unique among a pool's live buffers of non-zero capacity), so
//! threads returning different buffers rarely meet on one lock.

use crate::stats::human;
use crate::sync::Mutex;
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tag bit of a buffer whose get was sampled: its record is in the table
/// until the return clears the bit and removes it.
pub(crate) const TRACKED: u64 = 1 << 40;

/// Maps in the table (a power of two).
const TABLE_SHARDS: usize = 16;

/// Entries [`OutstandingReport`]'s `Display` prints with their backtraces.
const SHOWN: usize = 10;

struct Record {
    taken: Instant,
    capacity: usize,
    thread: String,
    taken_at: Arc<Backtrace>,
    /// Set while the buffer lives on only inside `Bytes`: where it was frozen.
    frozen_at: Option<Arc<Backtrace>>,
}

/// A pool's tracking state.
pub(crate) struct Tracker {
    sample_every: u64,
    table: Box<[Mutex<HashMap<usize, Record>>]>,
}

std::thread_local! {
    /// This thread's sampling generator (xorshift64*); 0 until seeded.
    static DRAW: Cell<u64> = const { Cell::new(0) };
}

/// A pseudo-random draw for sampling: independent per thread, so threads
/// never contend on it, and not periodic, so a get that alternates with
/// another (a leak every second request) is sampled as often as any.
fn draw() -> u64 {
    DRAW.try_with(|d| {
        let mut x = d.get();
        if x == 0 {
            // Seeded from the thread id and this stack's address: distinct
            // per thread, never 0 after the mix.
            let seed = crate::sync::thread_id() ^ (&x as *const u64 as u64).rotate_left(32);
            x = splitmix(seed) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        d.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
    // During thread exit: a fixed draw, sampled when sampling everything.
    .unwrap_or(0)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Tracker {
    pub(crate) fn new(sample_every: usize) -> Self {
        debug_assert!(sample_every > 0);
        Self {
            sample_every: sample_every as u64,
            table: (0..TABLE_SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn map(&self, addr: usize) -> &Mutex<HashMap<usize, Record>> {
        // Buffers are at least 4 KiB apart in most pools: mix the bits above.
        let h = (addr >> 12) ^ (addr >> 20) ^ (addr >> 28);
        &self.table[h & (TABLE_SHARDS - 1)]
    }

    /// A get handed out `cap` bytes at `addr`: decides whether to sample it
    /// and, if so, records it. Returns the tag bit to add to the buffer's tag.
    #[inline]
    pub(crate) fn on_get(&self, addr: usize, cap: usize) -> u64 {
        if cap == 0 || (self.sample_every > 1 && draw() % self.sample_every != 0) {
            return 0;
        }
        self.record(addr, cap);
        TRACKED
    }

    #[cold]
    fn record(&self, addr: usize, capacity: usize) {
        let taken_at = Arc::new(Backtrace::force_capture());
        let t = std::thread::current();
        let thread = match t.name() {
            Some(n) => n.to_owned(),
            None => format!("{:?}", t.id()),
        };
        let r = Record { taken: Instant::now(), capacity, thread, taken_at, frozen_at: None };
        self.map(addr).lock().insert(addr, r);
    }

    /// A tagged buffer at `addr` came back: forgets its record.
    #[cold]
    pub(crate) fn on_return(&self, addr: usize) {
        let gone = self.map(addr).lock().remove(&addr);
        debug_assert!(gone.is_some(), "a tracked buffer without a record");
        // The record's backtraces drop here, outside the lock.
        drop(gone);
    }

    /// A tagged buffer was frozen into `Bytes` (`frozen`) or its last `Bytes`
    /// dropped: notes where, for the report.
    #[cold]
    #[cfg_attr(not(feature = "bytes"), allow(dead_code))]
    pub(crate) fn on_freeze(&self, addr: usize, frozen: bool) {
        let at = frozen.then(|| Arc::new(Backtrace::force_capture()));
        let old = match self.map(addr).lock().get_mut(&addr) {
            Some(r) => std::mem::replace(&mut r.frozen_at, at),
            None => None,
        };
        drop(old);
    }

    /// Every live sampled buffer, oldest first.
    pub(crate) fn report(&self, frozen_buffers: u64, frozen_bytes: u64, outstanding_buffers: u64) -> OutstandingReport {
        let now = Instant::now();
        let mut live = Vec::new();
        for m in self.table.iter() {
            let m = m.lock();
            live.extend(m.values().map(|r| OutstandingBuffer {
                age: now.saturating_duration_since(r.taken),
                capacity: r.capacity,
                thread: r.thread.clone(),
                taken_at: r.taken_at.clone(),
                frozen_at: r.frozen_at.clone(),
            }));
        }
        live.sort_by_key(|b| std::cmp::Reverse(b.age));
        OutstandingReport {
            sample_every: self.sample_every as usize,
            live,
            frozen_buffers,
            frozen_bytes,
            outstanding_buffers,
        }
    }
}

/// What [`BufferPool::outstanding_report`](crate::BufferPool::outstanding_report)
/// found: the live sampled buffers, oldest first, with where and when each
/// was taken, and how many buffers only `Bytes` slices keep alive.
///
/// Its `Display` prints a summary and the oldest few with their backtraces.
#[derive(Clone, Debug)]
pub struct OutstandingReport {
    sample_every: usize,
    live: Vec<OutstandingBuffer>,
    frozen_buffers: u64,
    frozen_bytes: u64,
    outstanding_buffers: u64,
}

impl OutstandingReport {
    pub(crate) fn untracked(frozen_buffers: u64, frozen_bytes: u64, outstanding_buffers: u64) -> Self {
        Self { sample_every: 0, live: Vec::new(), frozen_buffers, frozen_bytes, outstanding_buffers }
    }

    /// The live sampled buffers, oldest first.
    pub fn buffers(&self) -> &[OutstandingBuffer] {
        &self.live
    }

    /// The sampling interval: one get in this many is recorded (0 when the
    /// pool does not track, and the report is empty).
    pub fn sample_every(&self) -> usize {
        self.sample_every
    }

    /// Every outstanding buffer of the pool, sampled or not (as
    /// [`Stats::outstanding_buffers`](crate::Stats::outstanding_buffers)).
    pub fn outstanding_buffers(&self) -> u64 {
        self.outstanding_buffers
    }

    /// Buffers, sampled or not, that live on only inside `Bytes` (frozen
    /// with `PooledBuffer::freeze`, feature `bytes`): however small the
    /// slices still held, each pins its whole buffer.
    pub fn frozen_buffers(&self) -> u64 {
        self.frozen_buffers
    }

    /// The capacity of those buffers (as [`Stats::frozen_bytes`](crate::Stats::frozen_bytes)).
    pub fn frozen_bytes(&self) -> u64 {
        self.frozen_bytes
    }
}

impl fmt::Display for OutstandingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sample_every == 0 {
            return f.write_str("outstanding buffers are not tracked (Builder::track_outstanding)");
        }
        writeln!(
            f,
            "{} buffers outstanding, {} of them sampled (1 in {}); {} kept alive only by Bytes ({})",
            self.outstanding_buffers,
            self.live.len(),
            self.sample_every,
            self.frozen_buffers,
            human(self.frozen_bytes),
        )?;
        for b in self.live.iter().take(SHOWN) {
            writeln!(f, "\n{b}")?;
        }
        if self.live.len() > SHOWN {
            writeln!(f, "\n... and {} younger", self.live.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// One live sampled buffer of an [`OutstandingReport`].
#[derive(Clone, Debug)]
pub struct OutstandingBuffer {
    age: Duration,
    capacity: usize,
    thread: String,
    taken_at: Arc<Backtrace>,
    frozen_at: Option<Arc<Backtrace>>,
}

impl OutstandingBuffer {
    /// How long ago it was taken (at the report).
    pub fn age(&self) -> Duration {
        self.age
    }

    /// Its capacity when taken (a buffer that grows comes back and is taken
    /// again, sampled anew).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The name (or id) of the thread that took it.
    pub fn thread(&self) -> &str {
        &self.thread
    }

    /// Where it was taken.
    pub fn backtrace(&self) -> &Backtrace {
        &self.taken_at
    }

    /// Where it was frozen into `Bytes`, if it now lives on only inside them.
    pub fn frozen_at(&self) -> Option<&Backtrace> {
        self.frozen_at.as_deref()
    }
}

impl fmt::Display for OutstandingBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} taken {:.3} s ago on thread {}, at:\n{}",
            human(self.capacity as u64),
            self.age.as_secs_f64(),
            self.thread,
            self.taken_at
        )?;
        if let Some(z) = &self.frozen_at {
            writeln!(f, "kept alive only by Bytes, frozen at:\n{z}")?;
        }
        Ok(())
    }
}
