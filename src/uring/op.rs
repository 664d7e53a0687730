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
//!   once the kernel has consumed its SQE (see `backend/uring.rs`), so by the time the
//!   drop returns the kernel has taken its own reference to the file;
//! * done, or waiting to be resubmitted: the result and the buffer are
//!   dropped at once.
//!
//! Leaking it (`mem::forget`) loses its slot and buffer until the ring
//! closes, and nothing else: the kernel never sees its descriptor after the
//! poll that submitted it (see "Descriptors" in `backend/uring.rs`; the thread
//! backend's workers use a duplicate).

use crate::uring::fork;
use crate::uring::shard::{RingShard, Shards};
use crate::uring::slots::{Deferred, Kind, OpResult, SlotTable, Spec, Stage};
use crate::uring::stats;
use crate::PooledBuffer;
use parking_lot::MutexGuard;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

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
    /// Borrowed from the caller's `Ring`, which outlives the future.
    shards: &'a Shards,
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
    files: &'a [Option<u32>],
    /// The caller's file is borrowed for as long as the future lives.
    _file: PhantomData<&'a ()>,
}

impl<'a> Op<'a> {
    pub(crate) fn new(
        shards: &'a Shards,
        kind: Kind,
        fd: RawFd,
        offset: u64,
        len: usize,
        buf: Option<PooledBuffer>,
    ) -> Self {
        Op {
            shards,
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

    /// The operation names its file through these registered-file entries
    /// (one per shard; see `RegisteredFile`).
    pub(crate) fn with_files(mut self, files: &'a [Option<u32>]) -> Self {
        self.files = files;
        self
    }

    /// The shard of the slot held (before that: the first shard).
    fn ring_shard(&self) -> &'a RingShard {
        self.shards.get(self.shard as usize)
    }

    /// The operation's parameters for a slot in shard `k`.
    #[inline]
    fn spec(&self, owned: Option<OwnedFd>, k: usize) -> Spec {
        Spec {
            kind: self.kind,
            fd: self.fd,
            owned,
            offset: self.offset,
            len: self.len,
            done: 0,
            fixed: None,
            file: self.files.get(k).copied().flatten(),
        }
    }

    /// The buffer the operation needs before it takes a slot: a new one from
    /// the pool for a read, the caller's for a write.
    fn take_buf(&mut self) -> io::Result<Option<PooledBuffer>> {
        match self.kind {
            Kind::Read => Ok(Some(self.shards.pool.try_get(self.len).map_err(io::Error::from)?)),
            Kind::Write | Kind::Fsync => Ok(self.buf.take()),
        }
    }

    /// Gives back what `take_buf` took, when no slot was free: a write keeps
    /// its (caller's) buffer; a read's goes back to the pool.
    fn put_back(&mut self, buf: Option<PooledBuffer>) {
        if self.kind == Kind::Write {
            self.buf = buf;
        }
    }

    /// Takes a free slot: in the calling thread's shard if it has one, else
    /// in the first other shard that does. Returns the shard's index, its
    /// locked state and the slot.
    fn take_slot(&self) -> Option<(u32, MutexGuard<'a, SlotTable>, u32)> {
        let n = self.shards.len();
        let local = self.shards.local_index();
        (0..n).map(|i| (local + i) % n).find_map(|k| {
            let mut st = self.shards.get(k).core.lock();
            st.take_free().map(|idx| (k as u32, st, idx))
        })
    }

    /// The common case of [`start`](Self::start): not queued for a slot, and
    /// the calling thread's shard has a free slot. Takes the buffer, the slot
    /// and the lock once each, queues the operation and settles it; `None`
    /// (having changed nothing) sends the caller down the general path,
    /// which also reports errors.
    #[inline]
    fn start_fast(&mut self, cx: &mut Context<'_>) -> Option<Poll<OpResult>> {
        let k = self.shards.local_index();
        let shard = self.shards.get(k);
        let buf = self.take_buf().ok()?;
        let Ok(owned) = shard.own_fd(self.fd) else {
            self.put_back(buf);
            return None;
        };
        let mut st = shard.core.lock();
        let Some(idx) = st.take_free() else {
            drop(st);
            self.put_back(buf);
            return None;
        };
        // A live future borrows the `Ring`, so the shard is not closing.
        debug_assert!(!st.closing);
        shard.queue(&mut st, idx, self.spec(owned, k), buf, cx.waker());
        self.shard = k as u32;
        self.phase = Phase::InSlot(idx);
        if self.registered_in(k) {
            drop(st);
            return Some(self.defer(cx));
        }
        Some(self.settle(cx, idx, st))
    }

    /// Whether the operation names its file by an entry of shard `k`'s
    /// registered file table (io_uring only).
    #[inline]
    fn registered_in(&self, k: usize) -> bool {
        matches!(self.files.get(k), Some(Some(_)))
    }

    /// Leaves a queued operation that names a registered-file entry for the
    /// next drive (ours, on the next poll, or anyone's): the executor's other
    /// ready futures queue theirs meanwhile, and one `io_uring_enter` submits
    /// them all. Sound for a registered entry only ("Descriptors" in
    /// `backend/uring.rs`).
    fn defer(&self, cx: &mut Context<'_>) -> Poll<OpResult> {
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Tries to take a slot and queue the operation.
    fn start(&mut self, cx: &mut Context<'_>, ticket: Option<u64>) -> Poll<OpResult> {
        if ticket.is_none() {
            if let Some(p) = self.start_fast(cx) {
                return p;
            }
        }
        self.start_slow(cx, ticket)
    }

    /// [`start`](Self::start) in full: every shard's slots, the wait queue,
    /// errors.
    #[inline(never)]
    fn start_slow(&mut self, cx: &mut Context<'_>, ticket: Option<u64>) -> Poll<OpResult> {
        // Buffer and fd duplicate first, outside the lock (a thread-cache hit
        // for the buffer); if no slot is free they are given back at once,
        // so a waiting future holds no buffer and memory in use stays
        // bounded by `entries`, not by the number of futures.
        let prepared = self.take_buf().and_then(|buf| match self.ring_shard().own_fd(self.fd) {
            Ok(owned) => Ok((owned, buf)),
            Err(e) => {
                self.put_back(buf);
                Err(e)
            }
        });
        let (owned, buf) = match prepared {
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
            stats::add(&self.ring_shard().core.stats.slot_waits, u64::from(ticket.is_none()));
            ticket = Some(self.shards.waiters.register(ticket, cx.waker()));
            taken = self.take_slot();
        }
        let Some((k, mut st, idx)) = taken else {
            self.put_back(buf);
            drop(owned);
            self.phase = Phase::Start { ticket };
            return Poll::Pending;
        };
        self.shard = k;
        self.ring_shard().queue(&mut st, idx, self.spec(owned, k as usize), buf, cx.waker());
        self.phase = Phase::InSlot(idx);
        let p = if self.registered_in(k as usize) {
            drop(st);
            self.defer(cx)
        } else {
            self.settle(cx, idx, st)
        };
        if let Some(t) = ticket {
            self.shards.leave_queue(t);
        }
        p
    }

    /// Leaves the wait queue without taking a slot (an error, or a drop). A
    /// wake-up we got and will not use is passed on.
    fn forget_ticket(&self, ticket: Option<u64>) {
        if let Some(t) = ticket {
            self.shards.waiters.forget(t);
        }
    }

    /// Checks slot `idx` for a result, settling it if it is not done.
    #[inline]
    fn check(&mut self, cx: &mut Context<'_>, idx: u32) -> Poll<OpResult> {
        let mut st = self.ring_shard().core.lock();
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
    /// continues, drives the shard, and takes the result if it is done, else
    /// stores the waker. With io_uring every queued operation of the shard is
    /// this future's (see "Descriptors" in `backend/uring.rs`), so the drive
    /// submits only operations whose owner is polling.
    #[inline(never)]
    fn settle(&mut self, cx: &mut Context<'_>, idx: u32, mut st: MutexGuard<'a, SlotTable>) -> Poll<OpResult> {
        let shard = self.ring_shard();
        let mut d = Deferred::default();
        loop {
            if st.stage(idx) == Stage::Resubmit {
                st.resubmit(idx);
            }
            if st.stage(idx) != Stage::Done {
                shard.drive_locked(&mut st, &mut d);
            }
            // A transfer that continues inline goes round again.
            if st.stage(idx) != Stage::Resubmit {
                break;
            }
        }
        if st.stage(idx) != Stage::Done {
            st.set_waker(idx, cx.waker());
            drop(st);
            d.finish();
            return Poll::Pending;
        }
        let res = match st.take_done(idx) {
            Some(r) => r,
            None => st.take_result(idx, shard.core.arena.as_ref(), &mut d),
        };
        drop(st);
        self.phase = Phase::Finished;
        d.finish();
        Poll::Ready(res)
    }

    #[inline]
    pub(crate) fn poll_op(&mut self, cx: &mut Context<'_>) -> Poll<OpResult> {
        match self.phase {
            _ if self.shards.forked() => Poll::Ready(Err(fork::error())),
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
            _ if self.shards.forked() => {}
            Phase::Start { ticket } => self.forget_ticket(ticket),
            Phase::InSlot(idx) => self.cancel(idx),
        }
    }
}

impl Op<'_> {
    /// The future is dropped holding slot `idx`.
    #[cold]
    fn cancel(&mut self, idx: u32) {
        self.ring_shard().cancel(&[idx]);
    }
}

/// The future of [`Ring::read_at`](crate::uring::Ring::read_at): resolves to a buffer whose `len()` is the
/// number of bytes read (short only at end of file).
#[must_use = "futures do nothing unless polled"]
pub struct ReadAt<'a>(pub(crate) Op<'a>);

/// The future of [`Ring::write_at`](crate::uring::Ring::write_at): resolves to the bytes written (all of
/// them, unless an error stops it) and the buffer, handed back.
#[must_use = "futures do nothing unless polled"]
pub struct WriteAt<'a>(pub(crate) Op<'a>);

/// The future of [`Ring::fsync`](crate::uring::Ring::fsync).
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
