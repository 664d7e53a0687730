//! The futures: [`ReadAt`], [`WriteAt`] and [`Fsync`], all thin wrappers over
//! one state machine, `Op`.
//!
//! An `Op` first takes a free slot, in its thread's shard if it can, else in
//! any shard (backpressure: at most `entries` operations are in flight, and
//! the rest wait in FIFO order, never failing), then moves its buffer into
//! the slot and queues it for that shard's backend, then waits for the
//! result. Dropping it at any point is safe:
//!
//! * waiting for a slot: it leaves the queue and passes any wake-up it got on;
//! * queued (thread backend only: io_uring submits in the poll that queues):
//!   the slot is marked cancelled; the worker frees it without running it;
//! * submitted: marked cancelled; the buffer stays in the slot until the
//!   kernel (or worker) is done with it, then goes back to the pool. For
//!   io_uring, a slot is only ever seen `Submitted` under the shard's lock
//!   once the kernel has consumed its SQE (see `ring.rs`), so by the time the
//!   drop returns the kernel has taken its own reference to the file;
//! * done, or waiting to be resubmitted: the result and the buffer are
//!   dropped at once.
//!
//! Leaking it (`mem::forget`) loses its slot and buffer until the ring
//! closes, and nothing else: the kernel never sees its descriptor after the
//! poll that submitted it (see "Descriptors" in `ring.rs`; the thread
//! backend's workers use a duplicate).

use crate::uring::state::{Counters, Group, Kind, Shared, Slot, Spec, Stage, State};
use crate::uring::{fork, ring, sys, Backend, Ring};
use crate::PooledBuffer;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// An operation's outcome: the bytes transferred and the buffer, if any.
type OpResult = io::Result<(usize, Option<PooledBuffer>)>;

/// Where an `Op` is in its life.
enum Phase {
    /// Not yet holding a slot; `ticket` is its place in the wait queue, if any.
    Start { ticket: Option<u64> },
    /// Holding slot `idx`.
    InSlot(u32),
    /// Returned `Ready`.
    Finished,
}

pub(crate) struct Op<'a> {
    /// Borrowed: the caller's `Ring` (and so the backend) outlives the future.
    ring: &'a Ring,
    kind: Kind,
    fd: RawFd,
    offset: u64,
    len: usize,
    buf: Option<PooledBuffer>,
    phase: Phase,
    /// The shard whose slot the operation holds (`Phase::InSlot`).
    shard: u32,
    /// Per shard, the file's entry in its registered file table, if the
    /// caller registered it (`RegisteredFile`, which outlives the future).
    pub(crate) files: &'a [Option<u32>],
    /// The caller's file is borrowed for as long as the future lives.
    _file: PhantomData<&'a ()>,
}

impl<'a> Op<'a> {
    pub(crate) fn new(
        ring: &'a Ring,
        kind: Kind,
        fd: RawFd,
        offset: u64,
        len: usize,
        buf: Option<PooledBuffer>,
    ) -> Self {
        Op {
            ring,
            kind,
            fd,
            offset,
            len,
            buf,
            phase: Phase::Start { ticket: None },
            shard: 0,
            files: &[],
            _file: PhantomData,
        }
    }

    /// The shard of the slot held (before that: the first shard, which has
    /// the backend and pool every shard has).
    fn shared(&self) -> &'a Shared {
        &self.ring.handle.shards[self.shard as usize]
    }

    fn group(&self) -> &'a Group {
        &self.ring.handle.group
    }

    /// Takes a free slot: in the calling thread's shard if it has one, else
    /// in the first other shard that does. Returns the shard's index, its
    /// locked state and the slot.
    fn take_slot(&self) -> Option<(u32, parking_lot::MutexGuard<'a, State>, u32)> {
        let shards = &self.ring.handle.shards;
        let home = self.ring.handle.home();
        (0..shards.len()).map(|i| (home + i) % shards.len()).find_map(|k| {
            let mut st = shards[k].state.lock();
            st.free.pop().map(|idx| (k as u32, st, idx))
        })
    }

    /// The common case of [`start`](Self::start), for io_uring: not queued for
    /// a slot, no registered arena, and the home shard has a free slot. Takes
    /// the buffer, the slot and the lock once each, queues the operation and
    /// drives the ring (see `settle`); `None` (having changed nothing) sends
    /// the caller down the general path.
    #[inline]
    fn start_fast(&mut self, cx: &mut Context<'_>) -> Option<Poll<OpResult>> {
        let h = &*self.ring.handle;
        let k = h.home();
        let shared: &'a Shared = &h.shards[k];
        if shared.arena.is_some() {
            return None;
        }
        let buf = match self.kind {
            Kind::Read => match h.pool.try_get(self.len) {
                Ok(b) => Some(b),
                // The general path reports the error.
                Err(_) => return None,
            },
            Kind::Write | Kind::Fsync => self.buf.take(),
        };
        let mut st = shared.state.lock();
        let Some(idx) = st.free.pop() else {
            drop(st);
            if self.kind == Kind::Write {
                self.buf = buf;
            }
            return None;
        };
        debug_assert!((idx as usize) < st.slots.len());
        // A live future borrows the `Ring`, so the shard is not closing and
        // its completion thread needs no kick (`Shared::kick_locked`).
        debug_assert!(!st.closing);
        let slot: &mut Slot = &mut st.slots[idx as usize];
        debug_assert!(slot.stage == Stage::Free && slot.waker.is_none() && slot.buf.is_none());
        debug_assert!(slot.spec.owned.is_none() && slot.spec.fixed.is_none() && !slot.cancelled);
        slot.spec.kind = self.kind;
        slot.spec.fd = self.fd;
        slot.spec.offset = self.offset;
        slot.spec.len = self.len;
        slot.spec.done = 0;
        slot.spec.file = self.files.get(k).copied().flatten();
        slot.buf = buf;
        // No waker: see `Shared::queue`.
        slot.stage = Stage::Queued;
        st.pending.push_back(idx);
        self.shard = k as u32;
        self.phase = Phase::InSlot(idx);
        Some(self.settle(cx, idx, st))
    }

    /// Tries to take a slot and queue the operation.
    fn start(&mut self, cx: &mut Context<'_>, ticket: Option<u64>) -> Poll<OpResult> {
        if ticket.is_none() && self.ring.handle.backend == Backend::IoUring {
            if let Some(p) = self.start_fast(cx) {
                return p;
            }
        }
        self.start_slow(cx, ticket)
    }

    /// [`start`](Self::start) in full: the thread backend, a full home shard,
    /// the wait queue, a registered arena, errors.
    #[inline(never)]
    fn start_slow(&mut self, cx: &mut Context<'_>, ticket: Option<u64>) -> Poll<OpResult> {
        // Buffer and fd duplicate first, outside the lock (a thread-cache hit
        // for the buffer); if no slot is free they are given back at once,
        // so a waiting future holds no buffer and memory in use stays
        // bounded by `entries`, not by the number of futures.
        let (owned, buf) = match self.prepare() {
            Ok(x) => x,
            Err(e) => {
                self.forget_ticket(ticket);
                self.phase = Phase::Finished;
                return Poll::Ready(Err(e));
            }
        };
        let mut ticket = ticket;
        let mut taken = self.take_slot();
        if taken.is_none() {
            // Every shard is full: queue up, then look once more (a slot
            // freed after that look finds us queued and wakes us).
            let shared = self.shared();
            Counters::add(&shared.counters.slot_waits, u64::from(ticket.is_none()));
            ticket = Some(self.group().register(ticket, cx.waker()));
            taken = self.take_slot();
        }
        let Some((shard, mut st, idx)) = taken else {
            // A write keeps its (caller's) buffer; a read's goes back.
            if self.kind == Kind::Write {
                self.buf = buf;
            }
            drop(owned);
            self.phase = Phase::Start { ticket };
            return Poll::Pending;
        };
        self.shard = shard;
        self.enqueue(&mut st, cx, idx, owned, buf);
        self.phase = Phase::InSlot(idx);
        let p = self.settle(cx, idx, st);
        if let Some(t) = ticket {
            self.ring.handle.leave_queue(t);
        }
        p
    }

    /// Leaves the wait queue without taking a slot (an error, or a drop). A
    /// wake-up we got and will not use is passed on.
    fn forget_ticket(&self, ticket: Option<u64>) {
        if let Some(t) = ticket {
            self.group().forget(t);
        }
    }

    /// The read buffer, and the thread backend's duplicate of the fd (made
    /// now, while the caller's borrow keeps the file open).
    fn prepare(&mut self) -> io::Result<(Option<OwnedFd>, Option<PooledBuffer>)> {
        let owned = match self.ring.handle.backend {
            Backend::Threads => Some(sys::dup(self.fd)?),
            Backend::IoUring => None,
        };
        let buf = match self.kind {
            Kind::Read => Some(self.ring.handle.pool.try_get(self.len).map_err(io::Error::from)?),
            Kind::Write | Kind::Fsync => self.buf.take(),
        };
        Ok((owned, buf))
    }

    /// Fills free slot `idx` (just taken) and queues it for the backend.
    fn enqueue(
        &mut self,
        st: &mut State,
        cx: &mut Context<'_>,
        idx: u32,
        owned: Option<OwnedFd>,
        buf: Option<PooledBuffer>,
    ) {
        let spec = Spec {
            kind: self.kind,
            fd: self.fd,
            owned,
            offset: self.offset,
            len: self.len,
            done: 0,
            fixed: None,
            file: self.files.get(self.shard as usize).copied().flatten(),
        };
        self.shared().queue(st, idx, spec, buf, cx.waker());
    }

    /// Checks slot `idx` for a result; with io_uring, drives the ring first if
    /// the operation is not done.
    #[inline]
    fn check(&mut self, cx: &mut Context<'_>, idx: u32) -> Poll<OpResult> {
        let shared = self.shared();
        let mut st = shared.state.lock();
        debug_assert!((idx as usize) < st.slots.len());
        // The common case: done, no arena buffer to copy from, nobody waiting
        // for a slot. Take the result and free the slot in place.
        if let Some(res) = st.take_done(idx) {
            drop(st);
            self.phase = Phase::Finished;
            return Poll::Ready(res);
        }
        self.settle(cx, idx, st)
    }

    /// Under the shard's state lock `st`: resubmits slot `idx` if its transfer
    /// continues, drives the ring (io_uring), and takes the result if it is
    /// done, else stores the waker. Every queued operation of the shard is
    /// this future's (see "Descriptors" in `ring.rs`), so the drive submits
    /// only operations whose owner is polling.
    #[inline(never)]
    fn settle(&mut self, cx: &mut Context<'_>, idx: u32, mut st: parking_lot::MutexGuard<'a, State>) -> Poll<OpResult> {
        let shared = self.shared();
        let mut trash = Vec::new();
        let mut wake: Vec<Waker> = Vec::new();
        if shared.backend == Backend::IoUring {
            loop {
                if st.slots[idx as usize].stage == Stage::Resubmit {
                    st.resubmit(idx);
                }
                if st.slots[idx as usize].stage != Stage::Done {
                    ring::drive_locked(shared, &mut st, &mut trash, &mut wake);
                }
                // A transfer that continues (inline) goes round again.
                if st.slots[idx as usize].stage != Stage::Resubmit {
                    break;
                }
            }
        }
        if st.slots[idx as usize].stage != Stage::Done {
            st.slots[idx as usize].set_waker(cx.waker());
            drop(st);
            wake.into_iter().for_each(Waker::wake);
            drop(trash);
            return Poll::Pending;
        }
        let res = match st.take_done(idx) {
            Some(r) => r,
            None => st.take_result(idx, shared.arena.as_ref(), &mut trash, &mut wake),
        };
        drop(st);
        self.phase = Phase::Finished;
        wake.into_iter().for_each(Waker::wake);
        drop(trash);
        Poll::Ready(res)
    }

    #[inline]
    pub(crate) fn poll_op(&mut self, cx: &mut Context<'_>) -> Poll<OpResult> {
        match self.phase {
            _ if fork::forked(self.ring.handle.fork_gen) => Poll::Ready(Err(fork::error())),
            Phase::Start { ticket } => self.start(cx, ticket),
            Phase::InSlot(idx) => self.check(cx, idx),
            Phase::Finished => panic!("bufpool::uring future polled after completion"),
        }
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        match self.phase {
            Phase::Finished | Phase::Start { ticket: None } => {}
            // In a child after fork() the ring is the parent's: touch nothing.
            _ if fork::forked(self.ring.handle.fork_gen) => {}
            Phase::Start { ticket } => self.forget_ticket(ticket),
            Phase::InSlot(idx) => self.cancel(idx),
        }
    }
}

impl Op<'_> {
    /// The future is dropped holding slot `idx`.
    #[cold]
    fn cancel(&mut self, idx: u32) {
        self.shared().cancel(&[idx]);
    }
}

/// The future of [`Ring::read_at`]: resolves to a buffer whose `len()` is the
/// number of bytes read (short only at end of file).
#[must_use = "futures do nothing unless polled"]
pub struct ReadAt<'a>(pub(crate) Op<'a>);

/// The future of [`Ring::write_at`]: resolves to the bytes written (all of
/// them, unless an error stops it) and the buffer, handed back.
#[must_use = "futures do nothing unless polled"]
pub struct WriteAt<'a>(pub(crate) Op<'a>);

/// The future of [`Ring::fsync`].
#[must_use = "futures do nothing unless polled"]
pub struct Fsync<'a>(pub(crate) Op<'a>);

impl Future for ReadAt<'_> {
    type Output = io::Result<PooledBuffer>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.poll_op(cx).map(|r| r.map(|(n, buf)| read_buffer(buf, n)))
    }
}

/// A finished read's buffer, its length set to the `n` bytes read.
pub(crate) fn read_buffer(buf: Option<PooledBuffer>, n: usize) -> PooledBuffer {
    let mut b = buf.expect("a read carries its buffer");
    b.set_len(n);
    b
}

impl Future for WriteAt<'_> {
    type Output = io::Result<(usize, PooledBuffer)>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.poll_op(cx).map(|r| r.map(|(n, buf)| (n, buf.expect("a write carries its buffer"))))
    }
}

impl Future for Fsync<'_> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.poll_op(cx).map(|r| r.map(drop))
    }
}

macro_rules! debug_future {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for $t<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).field("offset", &self.0.offset).field("len", &self.0.len).finish()
            }
        }
    )*};
}
debug_future!(ReadAt, WriteAt, Fsync);
