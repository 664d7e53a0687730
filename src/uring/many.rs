//! [`ReadMany`]: one task keeps many reads of one file in flight and takes
//! their results as a stream.
//!
//! With [`Ring::read_at`](crate::uring::Ring::read_at) each read is a future, and every read costs a poll,
//! a trip through its slot's lock and an `io_uring_enter` of its own (it
//! submits in its first poll: see "Descriptors" in `backend/uring.rs`); at 4 KiB
//! page-cache reads that costs as much as the ring's own work. `ReadMany`
//! holds the slots itself:
//!
//! * a `poll_next` that has no result left to hand out queues one read for
//!   each result handed out since, under one lock, and submits them with one
//!   `io_uring_enter` before the lock is released (the stream may be leaked
//!   after any poll: see "Descriptors" in `backend/uring.rs`);
//! * when it has no result left to hand out, it reaps the ring, takes every
//!   finished result under the same lock, and hands them out one per
//!   `poll_next`, with no lock and no wake-up;
//! * it yields to the executor once every `depth` results, so a task reading
//!   from the page cache does not starve its neighbours.
//!
//! Each read is an ordinary operation in a slot of the ring: the same
//! backpressure (at most `entries` in flight; a stream that finds no free
//! slot and has nothing in flight waits in the ring's FIFO queue), batching,
//! retries and cancellation (`SlotTable::cancel`) as the futures.

use crate::uring::fork;
use crate::uring::op::read_buffer;
use crate::uring::shard::Shards;
use crate::uring::slots::{Deferred, Kind, Spec, Stage};
use crate::uring::stats;
use crate::PooledBuffer;
use futures_core::Stream;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::iter::Fuse;
use std::marker::PhantomData;
use std::os::fd::{OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A read this stream holds a slot for.
struct Held {
    shard: u32,
    idx: u32,
    offset: u64,
}

/// Whether this stream's file is in a shard's registered file table.
#[derive(Clone, Copy)]
enum Reg {
    /// Not asked yet.
    Untried,
    /// At this index, until the stream is dropped.
    Fixed(u32),
    /// No room, or no kernel support: plain descriptors.
    Plain,
}

/// A read taken from the caller's iterator, on its way into a slot.
struct Start {
    offset: u64,
    len: usize,
    buf: Option<PooledBuffer>,
    owned: Option<OwnedFd>,
}

/// The stream of [`Ring::read_many`](crate::uring::Ring::read_many).
///
/// One item per requested read: its offset, and its buffer (whose `len()` is
/// the bytes read, short only at end of file) or its error. Items come in
/// the order the reads complete; reads that complete together (a page-cache
/// batch) come in the order they were asked for (per shard, when the ring's
/// home shard was full and some went to another). At most `depth` reads are
/// queued, in flight or finished and not yet handed out. Dropping the stream
/// cancels the reads still in flight, as dropping their futures would: their
/// buffers come back to the pool when the kernel is done with them.
#[must_use = "streams do nothing unless polled"]
pub struct ReadMany<'a, I> {
    /// Borrowed from the caller's `Ring`, which outlives the stream.
    shards: &'a Shards,
    fd: RawFd,
    /// Fused: once it ends, the stream ends (after its reads in flight).
    reads: Fuse<I>,
    depth: usize,
    /// Reads in slots (queued, in flight or done), oldest first.
    held: VecDeque<Held>,
    /// Results taken from their slots, not yet handed out.
    ready: VecDeque<(u64, io::Result<PooledBuffer>)>,
    /// Reads taken from `reads` that have not found a slot yet (they hold no
    /// buffer while they wait).
    waiting: VecDeque<(u64, usize)>,
    /// Reads being queued in this poll (kept to reuse its allocation).
    starts: Vec<Start>,
    /// Our place in the ring's queue for a free slot.
    ticket: Option<u64>,
    /// Per shard: our file's entry in its registered file table. The stream
    /// borrows the file for its whole life, so the entry cannot outlive the
    /// descriptor (`uring::register_file`); it is cleared on drop.
    files: Vec<Reg>,
    /// The entries in `files` are ours to clear (not a `RegisteredFile`'s).
    own_files: bool,
    /// Results handed out since the stream last yielded (every `depth`).
    handed: usize,
    /// The last `fill` found no free slot for some reads: take one read at a
    /// time until one fits again, rather than a buffer for each of them.
    starved: bool,
    /// Polled in a forked child, and the error for it handed out.
    fork_reported: bool,
    /// The caller's file is borrowed for as long as the stream lives.
    _file: PhantomData<&'a ()>,
}

impl<'a, I: Iterator> ReadMany<'a, I> {
    pub(crate) fn new(shards: &'a Shards, fd: RawFd, reads: I, depth: usize) -> Self {
        debug_assert!(depth > 0);
        let cap = depth.min(1024);
        ReadMany {
            shards,
            fd,
            reads: reads.fuse(),
            depth,
            held: VecDeque::with_capacity(cap),
            ready: VecDeque::with_capacity(cap),
            waiting: VecDeque::new(),
            starts: Vec::with_capacity(cap),
            ticket: None,
            files: Vec::new(),
            own_files: true,
            handed: 0,
            starved: false,
            fork_reported: false,
            _file: PhantomData,
        }
    }

    /// Uses a `RegisteredFile`'s table entries (one per shard), which it
    /// clears itself, after this stream is gone.
    pub(crate) fn with_files(mut self, files: &[Option<u32>]) -> Self {
        self.files = files.iter().map(|f| f.map_or(Reg::Plain, Reg::Fixed)).collect();
        self.own_files = false;
        self
    }

    /// Reads holding a slot of the ring: queued, in flight, or finished and
    /// not yet taken from the slot.
    pub fn in_flight(&self) -> usize {
        self.held.len()
    }
}

impl<I: Iterator<Item = (u64, usize)>> ReadMany<'_, I> {
    /// Queues reads until `depth` are held or ready (or the reads run out, or
    /// no slot is free).
    fn fill(&mut self, cx: &mut Context<'_>) {
        let shards = self.shards;
        // Room: `depth` counts reads in slots and results not handed out;
        // never more than the ring could take; one at a time while starved.
        let mut room = self.depth.saturating_sub(self.held.len() + self.ready.len());
        room = room.min(shards.entries.saturating_sub(self.held.len()));
        if self.starved {
            room = room.min(1);
        }
        // The reads and their buffers, taken outside any lock. A read that
        // fails here (no memory, no descriptor) is a result: it counts.
        let mut failed = 0;
        while self.starts.len() + failed < room {
            let Some((offset, len)) = self.waiting.pop_front().or_else(|| self.reads.next()) else { break };
            let buf = match shards.pool.try_get(len) {
                Ok(b) => b,
                Err(e) => {
                    self.ready.push_back((offset, Err(e.into())));
                    failed += 1;
                    continue;
                }
            };
            // The thread backend's worker may run the call after we are gone:
            // it gets its own descriptor.
            let owned = match shards.get(0).own_fd(self.fd) {
                Ok(fd) => fd,
                Err(e) => {
                    self.ready.push_back((offset, Err(e)));
                    failed += 1;
                    continue;
                }
            };
            self.starts.push(Start { offset, len, buf: Some(buf), owned });
        }
        if self.starts.is_empty() {
            return;
        }
        let mut queued = self.queue_from(0, cx.waker());
        if queued < self.starts.len() && self.held.is_empty() {
            // No free slot anywhere and nothing of ours in flight to free
            // one: wait in the ring's queue. Register first, then look once
            // more: a slot freed after that look finds us registered.
            stats::add(&shards.get(0).core.stats.slot_waits, u64::from(self.ticket.is_none()));
            self.ticket = Some(shards.waiters.register(self.ticket, cx.waker()));
            queued += self.queue_from(queued, cx.waker());
        }
        if queued > 0 {
            if let Some(t) = self.ticket.take() {
                shards.leave_queue(t);
            }
        }
        self.starved = queued < self.starts.len();
        // The rest wait, without their buffers, oldest first.
        for s in self.starts.drain(queued..).rev() {
            self.waiting.push_front((s.offset, s.len));
        }
        self.starts.clear();
    }

    /// Queues `starts[from..]` into free slots, the calling thread's shard's
    /// first, and submits them: how many it queued.
    fn queue_from(&mut self, from: usize, waker: &Waker) -> usize {
        let shards = self.shards;
        let n = shards.len();
        let local = shards.local_index();
        let mut next = from;
        for i in 0..n {
            if next == self.starts.len() {
                break;
            }
            let k = (local + i) % n;
            let shard = shards.get(k);
            let mut st = shard.core.lock();
            if !st.has_free() {
                continue;
            }
            if self.files.len() < n {
                self.files.resize(n, Reg::Untried);
            }
            if let Reg::Untried = self.files[k] {
                self.files[k] = shard.register_file(&mut st, self.fd).map_or(Reg::Plain, Reg::Fixed);
            }
            let file = match self.files[k] {
                Reg::Fixed(i) => Some(i),
                Reg::Untried | Reg::Plain => None,
            };
            while next < self.starts.len() {
                let Some(idx) = st.take_free() else { break };
                let s = &mut self.starts[next];
                let spec = Spec {
                    kind: Kind::Read,
                    fd: self.fd,
                    owned: s.owned.take(),
                    offset: s.offset,
                    len: s.len,
                    done: 0,
                    fixed: None,
                    file,
                };
                shard.queue(&mut st, idx, spec, s.buf.take(), waker);
                self.held.push_back(Held { shard: k as u32, idx, offset: s.offset });
                next += 1;
            }
            // Submit before the lock is released: the stream may be leaked
            // after this poll ("Descriptors" in `backend/uring.rs`).
            let mut d = Deferred::default();
            shard.drive_locked(&mut st, &mut d);
            drop(st);
            d.run();
        }
        next - from
    }

    /// Drives the ring for the reads we hold (io_uring) and moves every
    /// finished one's result to `ready`, oldest first; the others keep our
    /// waker, so their completion wakes us.
    fn harvest(&mut self, cx: &mut Context<'_>) {
        let Some(first) = self.held.front().map(|x| x.shard) else { return };
        if self.held.iter().all(|x| x.shard == first) {
            // The common case: every read in our home shard.
            self.harvest_shard(first, cx);
        } else {
            let mut shards: Vec<u32> = self.held.iter().map(|x| x.shard).collect();
            shards.sort_unstable();
            shards.dedup();
            for k in shards {
                self.harvest_shard(k, cx);
            }
        }
    }

    /// `harvest` for the reads we hold in shard `k`, under its lock.
    fn harvest_shard(&mut self, k: u32, cx: &mut Context<'_>) {
        let shard = self.shards.get(k as usize);
        let mut d = Deferred::default();
        let mut st = shard.core.lock();
        loop {
            let mut undone = false;
            for x in self.held.iter().filter(|x| x.shard == k) {
                match st.stage(x.idx) {
                    Stage::Done => {}
                    Stage::Resubmit => {
                        st.resubmit(x.idx);
                        undone = true;
                    }
                    _ => undone = true,
                }
            }
            if !undone {
                break;
            }
            shard.drive_locked(&mut st, &mut d);
            // Transfers that continued inline go round again.
            if !self.held.iter().any(|x| x.shard == k && st.stage(x.idx) == Stage::Resubmit) {
                break;
            }
        }
        let ready = &mut self.ready;
        self.held.retain(|x| {
            if x.shard != k {
                return true;
            }
            if st.stage(x.idx) != Stage::Done {
                st.set_waker(x.idx, cx.waker());
                return true;
            }
            let r = match st.take_done(x.idx) {
                Some(r) => r,
                None => st.take_result(x.idx, shard.core.arena.as_ref(), &mut d),
            };
            ready.push_back((x.offset, r.map(|(n, buf)| read_buffer(buf, n))));
            false
        });
        drop(st);
        d.run();
    }
}

impl<I: Iterator<Item = (u64, usize)> + Unpin> Stream for ReadMany<'_, I> {
    type Item = (u64, io::Result<PooledBuffer>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.shards.forked() {
            // One error, then the end: the reads are the parent's.
            let first = !std::mem::replace(&mut this.fork_reported, true);
            return Poll::Ready(first.then(|| (0, Err(fork::error()))));
        }
        if this.handed >= this.depth {
            // Page-cache reads never make us wait: yield to the executor once
            // every `depth` results, as a task awaiting futures would.
            this.handed = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.ready.is_empty() {
            // Queue (and submit) reads only when nothing is left to hand
            // out: one `io_uring_enter` for up to `depth` of them.
            this.fill(cx);
            if this.ready.is_empty() && !this.held.is_empty() {
                this.harvest(cx);
            }
        }
        match this.ready.pop_front() {
            Some(item) => {
                this.handed += 1;
                Poll::Ready(Some(item))
            }
            None if this.held.is_empty() && this.waiting.is_empty() && this.ticket.is_none() => Poll::Ready(None),
            // Our reads' slots hold our waker, or the ring's queue does.
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.reads.size_hint();
        let n = self.held.len() + self.ready.len() + self.waiting.len();
        (lo.saturating_add(n), hi.and_then(|h| h.checked_add(n)))
    }
}

impl<I> Drop for ReadMany<'_, I> {
    fn drop(&mut self) {
        let shards = self.shards;
        if shards.forked() {
            // The parent's ring: leave it alone (see `fork.rs`).
            return;
        }
        // Per shard, every slot at once, under one lock.
        while let Some(k) = self.held.front().map(|x| x.shard) {
            let idxs: Vec<u32> = self.held.iter().filter(|x| x.shard == k).map(|x| x.idx).collect();
            self.held.retain(|x| x.shard != k);
            shards.get(k as usize).cancel(&idxs);
        }
        // Every read of ours is now cancelled or done (and never resubmitted):
        // the file table entries can go.
        if self.own_files {
            for (k, r) in self.files.iter().enumerate() {
                if let Reg::Fixed(i) = *r {
                    shards.get(k).unregister_file(i);
                }
            }
        }
        if let Some(t) = self.ticket.take() {
            shards.waiters.forget(t);
        }
    }
}

impl<I> fmt::Debug for ReadMany<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadMany")
            .field("depth", &self.depth)
            .field("in_flight", &self.held.len())
            .field("ready", &self.ready.len())
            .finish()
    }
}
