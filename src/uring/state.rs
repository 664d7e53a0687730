//! The state both backends share: per shard, a fixed table of operation
//! slots and the queue of slots waiting to be handed to the kernel (or a
//! worker); per ring, the futures waiting for a free slot in any shard.
//!
//! A slot owns everything the kernel may touch while the operation is in
//! flight: the buffer, and (for the thread backend) a duplicate of the file
//! descriptor. A future only holds the slot's index; dropping the future marks
//! the slot cancelled, and whoever completes the operation frees it. So the
//! memory the kernel writes to always outlives the write.

use crate::uring::fixed::Arena;
use crate::uring::{sys, Backend, Fault};
use crate::PooledBuffer;
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
    Fsync,
}

/// Largest single transfer handed to the kernel (its limit is `u32`, and
/// Linux caps a read or write at 2 GiB anyway). Longer operations continue.
pub(crate) const MAX_CHUNK: usize = 1 << 30;

/// What one raw result means for an operation: see [`on_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Submit again from `done` (`EINTR`, `EAGAIN`, a short write, or a full
    /// chunk of a transfer longer than [`MAX_CHUNK`]).
    Retry,
    /// Finished: this many bytes transferred in total.
    Done(usize),
    /// Failed with this errno.
    Errno(i32),
    /// A write made no progress (the kernel returned 0).
    WriteZero,
}

/// The one place both backends decide what a result means. `res` is what
/// the kernel reported for the last submission (a count, or minus an errno,
/// as in a CQE or a raw `pread`), which asked for `chunk` bytes at `done`
/// of the `len` in total. Advances `done` on progress.
///
/// * `EINTR`, `EAGAIN`: retried, nothing transferred.
/// * Other errors: final, whatever was transferred before.
/// * Reads: fewer bytes than asked means end of file, so the read is done
///   with what it has; a full chunk short of `len` continues.
/// * Writes: continue until `len` bytes are written; 0 bytes is `WriteZero`.
/// * Fsync: any count is success.
pub(crate) fn on_result(kind: Kind, len: usize, chunk: usize, done: &mut usize, res: i64) -> Next {
    if res < 0 {
        let errno = i32::try_from(-res).unwrap_or(libc::EIO);
        return if sys::is_transient(errno) { Next::Retry } else { Next::Errno(errno) };
    }
    let n = (res as u64).min(chunk as u64) as usize;
    match kind {
        Kind::Fsync => Next::Done(0),
        Kind::Read => {
            *done += n;
            if n == chunk && n > 0 && *done < len {
                Next::Retry
            } else {
                Next::Done(*done)
            }
        }
        Kind::Write => {
            if n == 0 && *done < len {
                return Next::WriteZero;
            }
            *done += n;
            if *done < len {
                Next::Retry
            } else {
                Next::Done(*done)
            }
        }
    }
}

/// An operation's parameters, as submitted.
pub(crate) struct Spec {
    pub(crate) kind: Kind,
    /// The caller's descriptor. Only the io_uring backend hands it to the
    /// kernel, and only inside a poll of the future or stream that borrows
    /// the file, before that poll returns (see "Descriptors" in `ring.rs`):
    /// so the number names the caller's file whenever the kernel reads it,
    /// even if the owner is later leaked.
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
    /// io_uring: the index of `fd` in the shard's registered file table, if
    /// the owner registered it (a `RegisteredFile`, or a `ReadMany` for as
    /// long as it borrows the file; see `ring::register_file`).
    pub(crate) file: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Free,
    /// In `State::pending`, not yet seen by the backend. With io_uring a slot
    /// is queued only inside its owner's poll, which submits it before it
    /// releases the state lock; with the thread backend it waits for a
    /// worker (holding its own duplicate of the descriptor).
    Queued,
    /// Handed to the kernel (io_uring) or to a worker thread.
    Submitted,
    /// io_uring: the transfer continues (`EINTR`, `EAGAIN`, a short write, a
    /// full chunk of a long one). Its owner's next poll queues it again; no
    /// other driver does, as the owner may be gone (leaked) and the number
    /// reused.
    Resubmit,
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
    /// Stores `waker` for the slot's completion (reusing the old one's
    /// allocation if it has one).
    pub(crate) fn set_waker(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(w) => w.clone_from(waker),
            None => self.waker = Some(waker.clone()),
        }
    }

    fn empty() -> Self {
        Slot {
            stage: Stage::Free,
            spec: Spec { kind: Kind::Fsync, fd: -1, owned: None, offset: 0, len: 0, done: 0, fixed: None, file: None },
            buf: None,
            result: None,
            waker: None,
            cancelled: false,
        }
    }
}

/// What every shard of one `Ring` shares: the futures waiting for a slot,
/// and the test-only fault queue. Only the slow paths lock anything here.
pub(crate) struct Group {
    /// How many futures are in `waiters`. Changed only under `waiters`' lock;
    /// read without it by every slot release (under its shard's state lock).
    pub(crate) waiting: AtomicUsize,
    pub(crate) waiters: Mutex<Waiters>,
    /// Test-only fault injection (`RingBuilder::inject_faults`): each raw
    /// result consumes one entry. `None` unless asked for, so the hot path
    /// pays one branch.
    pub(crate) faults: Option<Mutex<VecDeque<Fault>>>,
}

/// Futures waiting for a free slot: (ticket, waker), first come first served.
#[derive(Default)]
pub(crate) struct Waiters {
    queue: VecDeque<(u64, Waker)>,
    next_ticket: u64,
}

impl Group {
    pub(crate) fn new(faults: Vec<Fault>) -> Self {
        Group {
            waiting: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
            faults: if faults.is_empty() { None } else { Some(Mutex::new(faults.into())) },
        }
    }

    /// Queues the caller (or refreshes its waker if `ticket` is still
    /// queued) and returns its ticket. The caller then looks for a free slot
    /// once more: a slot freed after that look sees `waiting > 0`.
    pub(crate) fn register(&self, ticket: Option<u64>, waker: &Waker) -> u64 {
        let mut w = self.waiters.lock();
        if let Some(t) = ticket {
            if let Some((_, old)) = w.queue.iter_mut().find(|(id, _)| *id == t) {
                old.clone_from(waker);
                return t;
            }
        }
        let t = ticket.unwrap_or_else(|| {
            let t = w.next_ticket;
            w.next_ticket += 1;
            t
        });
        // A future woken for a slot that someone else took comes back to its
        // old place: tickets are handed out in order.
        let at = w.queue.iter().position(|(id, _)| *id > t).unwrap_or(w.queue.len());
        w.queue.insert(at, (t, waker.clone()));
        // Relaxed: written under the `waiters` lock. A releaser reads it under
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
        let mut w = self.waiters.lock();
        let Some(i) = w.queue.iter().position(|(id, _)| *id == ticket) else { return false };
        w.queue.remove(i);
        // Relaxed: under the `waiters` lock; see `register`.
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
        let next = self.pop(&mut self.waiters.lock());
        if let Some(waker) = next {
            waker.wake();
        }
    }

    fn pop(&self, w: &mut Waiters) -> Option<Waker> {
        let (_, waker) = w.queue.pop_front()?;
        // Relaxed: under the `waiters` lock; see `register`.
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Some(waker)
    }

    /// A slot was just freed (the caller holds its shard's state lock):
    /// wakes the first waiter, if any.
    fn slot_freed(&self, wake: &mut Vec<Waker>) {
        // Relaxed: pairs with `register` through the shard's state lock,
        // which the caller holds (see there). The common case, nobody
        // waiting, costs this one load of a line that is rarely written.
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut w = self.waiters.lock();
        if let Some(waker) = self.pop(&mut w) {
            wake.push(waker);
        }
    }

    /// The raw result `res` as the backend should see it: changed by the
    /// next injected fault, if any is left.
    pub(crate) fn fault(&self, res: i64) -> i64 {
        let Some(q) = &self.faults else { return res };
        match q.lock().pop_front() {
            None => res,
            Some(Fault::Errno(e)) => -i64::from(e),
            Some(Fault::Short(k)) if res >= 0 => res.min(i64::try_from(k).unwrap_or(i64::MAX)),
            Some(Fault::Short(_)) => res,
        }
    }
}

/// Everything behind a shard's state lock.
pub(crate) struct State {
    pub(crate) slots: Vec<Slot>,
    pub(crate) free: Vec<u32>,
    pub(crate) pending: VecDeque<u32>,
    /// The ring's waiters, woken as slots are freed.
    group: Arc<Group>,
    /// Free registered arena buffers.
    pub(crate) arena_free: Vec<u16>,
    /// Free entries of the shard's registered file table (io_uring; empty if
    /// the kernel has no sparse file tables).
    pub(crate) files_free: Vec<u32>,
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
        self.group.slot_freed(wake);
    }

    /// Queues slot `idx` (stage `Resubmit`) again for its next chunk or retry.
    /// Its owner's poll calls this, and then drives the ring.
    pub(crate) fn resubmit(&mut self, idx: u32) {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        debug_assert_eq!(slot.stage, Stage::Resubmit);
        slot.stage = Stage::Queued;
        self.pending.push_back(idx);
    }

    /// Every `Ring` handle is gone (so no future or stream is alive: they
    /// borrow one; any left were leaked). Marks the shard closing and every
    /// slot in use cancelled, and frees those the backend no longer touches
    /// (done, or waiting for a resubmission that will not come). Slots the
    /// kernel or a worker holds, or queued for a worker, are freed when the
    /// backend is done with them; the backend threads exit once none is left.
    /// True if some slot is in the kernel (io_uring: the caller cancels them).
    pub(crate) fn close(&mut self, trash: &mut Vec<PooledBuffer>, wake: &mut Vec<Waker>) -> bool {
        self.closing = true;
        let mut in_kernel = false;
        for idx in 0..self.slots.len() as u32 {
            let slot = &mut self.slots[idx as usize];
            match slot.stage {
                Stage::Free => {}
                Stage::Done | Stage::Resubmit => self.release(idx, trash, wake),
                Stage::Queued => slot.cancelled = true,
                Stage::Submitted => {
                    slot.cancelled = true;
                    in_kernel = true;
                }
            }
        }
        in_kernel
    }

    /// If slot `idx` is done, its result (with its buffer) and the slot
    /// freed, in the common case only: no registered arena buffer to copy
    /// back, nobody waiting for a slot (else `None`, as when not done: the
    /// caller takes the general path, `release`).
    #[inline]
    pub(crate) fn take_done(&mut self, idx: u32) -> Option<io::Result<(usize, Option<PooledBuffer>)>> {
        let slot = &mut self.slots[idx as usize];
        // Relaxed: as in `Group::slot_freed`, ordered by the state lock the
        // caller holds.
        if slot.stage != Stage::Done || slot.spec.fixed.is_some() || self.group.waiting.load(Ordering::Relaxed) != 0 {
            return None;
        }
        // `finish` took the waker and closed the fd duplicate; a live future's
        // slot is never cancelled.
        debug_assert!(slot.waker.is_none() && slot.spec.owned.is_none() && !slot.cancelled);
        let res = slot.result.take().expect("a done slot holds its result");
        let buf = slot.buf.take();
        slot.stage = Stage::Free;
        self.free.push(idx);
        Some(res.map(|n| (n, buf)))
    }

    /// The result of done slot `idx`, with its buffer (copied back from the
    /// slot's registered arena buffer, for a read that used one), and the
    /// slot freed (see `release`).
    pub(crate) fn take_result(
        &mut self,
        idx: u32,
        arena: Option<&Arena>,
        trash: &mut Vec<PooledBuffer>,
        wake: &mut Vec<Waker>,
    ) -> io::Result<(usize, Option<PooledBuffer>)> {
        let slot = &mut self.slots[idx as usize];
        debug_assert_eq!(slot.stage, Stage::Done);
        let res = slot.result.take().expect("a done slot holds its result");
        let mut buf = slot.buf.take();
        if let (Ok(n), Some(i), Kind::Read, Some(b)) = (&res, slot.spec.fixed, slot.spec.kind, buf.as_mut()) {
            let a = arena.expect("fixed implies an arena");
            debug_assert!(*n <= b.capacity() && *n <= a.size());
            // SAFETY: the kernel finished writing arena buffer `i` (the slot
            // is Done) and it is still reserved for this slot; `n` bytes were
            // read into it, `n <= len <= b.capacity()`; distinct allocations.
            unsafe { std::ptr::copy_nonoverlapping(a.ptr(i), b.as_mut_ptr(), *n) };
        }
        self.release(idx, trash, wake);
        res.map(|n| (n, buf))
    }

    /// Records the final result of slot `idx`: wakes its future, or frees the
    /// slot if the future is gone.
    #[inline]
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
    pub(crate) file_ops: AtomicU64,
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

/// One shard of a `Ring`: what its futures and its backend threads share.
pub(crate) struct Shared {
    /// On cache lines of its own: it is written on every operation, by the
    /// shard's thread, and nothing else should share its lines.
    pub(crate) state: CachePadded<Mutex<State>>,
    pub(crate) kick: Kick,
    pub(crate) backend: Backend,
    pub(crate) arena: Option<Arena>,
    pub(crate) counters: Counters,
    pub(crate) group: Arc<Group>,
}

impl Shared {
    pub(crate) fn new(
        entries: usize,
        backend: Backend,
        kick: Kick,
        arena: Option<Arena>,
        files: u32,
        group: Arc<Group>,
    ) -> Self {
        let arena_free = arena.as_ref().map_or(Vec::new(), |a| (0..a.len() as u16).rev().collect());
        Shared {
            state: CachePadded::new(Mutex::new(State {
                slots: (0..entries).map(|_| Slot::empty()).collect(),
                free: (0..entries as u32).rev().collect(),
                pending: VecDeque::with_capacity(entries),
                group: group.clone(),
                arena_free,
                files_free: (0..files).rev().collect(),
                in_flight: 0,
                thread_idle: false,
                idle_workers: 0,
                closing: false,
            })),
            kick,
            backend,
            arena,
            counters: Counters::default(),
            group,
        }
    }

    /// Fills free slot `idx` (just taken, under the state lock `st`) with
    /// `spec` and `buf`, and queues it for the backend. `spec.fixed` is chosen
    /// here: a registered arena buffer, if one fits and is free (a write's
    /// bytes are copied into it now). The thread backend stores `waker` (its
    /// worker wakes it); io_uring does not: the queuing task drives the ring
    /// itself, and stores a waker only if its operation is not done then, so
    /// an operation completed in its batch costs no wake-up.
    pub(crate) fn queue(&self, st: &mut State, idx: u32, mut spec: Spec, buf: Option<PooledBuffer>, waker: &Waker) {
        spec.fixed = match (&self.arena, spec.kind) {
            (Some(a), Kind::Read | Kind::Write) if spec.len <= a.size() && spec.len > 0 => st.arena_free.pop(),
            _ => None,
        };
        if let (Some(i), Kind::Write, Some(b)) = (spec.fixed, spec.kind, buf.as_ref()) {
            let a = self.arena.as_ref().expect("fixed implies an arena");
            // SAFETY: arena buffer `i` was just taken from the free list under
            // the state lock, so no operation uses it; it is `a.size() >=
            // spec.len == b.len()` bytes long; `b` is a distinct allocation.
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), a.ptr(i), spec.len) };
        }
        debug_assert!((idx as usize) < st.slots.len());
        let slot: &mut Slot = &mut st.slots[idx as usize];
        debug_assert_eq!(slot.stage, Stage::Free);
        slot.spec = spec;
        slot.buf = buf;
        slot.waker = match self.backend {
            Backend::Threads => Some(waker.clone()),
            Backend::IoUring => None,
        };
        slot.cancelled = false;
        slot.stage = Stage::Queued;
        st.pending.push_back(idx);
        self.kick_locked(st);
    }

    /// The owner of slots `idxs` is gone (a dropped future or stream): each
    /// slot is freed now if it can be, else when its operation completes.
    /// Never frees memory the kernel may still write to.
    pub(crate) fn cancel(&self, idxs: &[u32]) {
        let mut trash = Vec::new();
        let mut wake = Vec::new();
        let mut st = self.state.lock();
        for &idx in idxs {
            debug_assert!((idx as usize) < st.slots.len());
            let slot = &mut st.slots[idx as usize];
            match slot.stage {
                // The thread backend's worker frees it without running it
                // (io_uring never leaves a slot queued past its owner's poll,
                // but if a panic in a submission did, the next submission
                // would free it unsubmitted).
                Stage::Queued => slot.cancelled = true,
                // A submission holds this lock from taking the SQE off the
                // queue until the kernel has consumed it, so the kernel
                // already holds its own reference to the file.
                Stage::Submitted => slot.cancelled = true,
                Stage::Done | Stage::Resubmit => st.release(idx, &mut trash, &mut wake),
                Stage::Free => debug_assert!(false, "an owner's slot is never free while it holds it"),
            }
        }
        drop(st);
        wake.into_iter().for_each(Waker::wake);
        drop(trash);
    }

    /// The raw result `res` as the backend should see it (see `Group::fault`).
    pub(crate) fn fault(&self, res: i64) -> i64 {
        self.group.fault(res)
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

#[cfg(test)]
mod tests {
    use super::{on_result, Kind, Next, MAX_CHUNK};

    /// Runs `on_result` on a fresh operation of `len` bytes with results
    /// `rs`, one per submission, returning each decision and the final `done`.
    fn run(kind: Kind, len: usize, rs: &[i64]) -> (Vec<Next>, usize) {
        let mut done = 0;
        let v = rs.iter().map(|&r| on_result(kind, len, (len - done).min(MAX_CHUNK), &mut done, r)).collect();
        (v, done)
    }

    #[test]
    fn eintr_and_eagain_retry_without_progress() {
        for kind in [Kind::Read, Kind::Write, Kind::Fsync] {
            for e in [libc::EINTR, libc::EAGAIN] {
                let mut done = 0;
                assert_eq!(on_result(kind, 4096, 4096, &mut done, -i64::from(e)), Next::Retry, "{kind:?} {e}");
                assert_eq!(done, 0);
            }
        }
        let (v, done) = run(Kind::Read, 4096, &[-i64::from(libc::EINTR), -i64::from(libc::EAGAIN), 4096]);
        assert_eq!(v, [Next::Retry, Next::Retry, Next::Done(4096)]);
        assert_eq!(done, 4096);
        let (v, _) = run(Kind::Fsync, 0, &[-i64::from(libc::EINTR), 0]);
        assert_eq!(v, [Next::Retry, Next::Done(0)]);
    }

    #[test]
    fn other_errors_are_final() {
        for e in [libc::EIO, libc::EBADF, libc::EINVAL, libc::ENOSPC, libc::EISDIR] {
            for kind in [Kind::Read, Kind::Write, Kind::Fsync] {
                let mut done = 0;
                assert_eq!(on_result(kind, 10, 10, &mut done, -i64::from(e)), Next::Errno(e));
            }
        }
        // After partial progress too.
        let (v, done) = run(Kind::Write, 100, &[40, -i64::from(libc::ENOSPC)]);
        assert_eq!(v, [Next::Retry, Next::Errno(libc::ENOSPC)]);
        assert_eq!(done, 40);
    }

    #[test]
    fn short_reads_are_end_of_file() {
        assert_eq!(run(Kind::Read, 4096, &[1000]), (vec![Next::Done(1000)], 1000));
        assert_eq!(run(Kind::Read, 4096, &[0]), (vec![Next::Done(0)], 0));
        assert_eq!(run(Kind::Read, 0, &[0]), (vec![Next::Done(0)], 0));
        // A retry after EINTR still ends at the short count.
        let (v, done) = run(Kind::Read, 4096, &[-i64::from(libc::EINTR), 7]);
        assert_eq!((v, done), (vec![Next::Retry, Next::Done(7)], 7));
    }

    #[test]
    fn long_reads_continue_chunk_by_chunk() {
        let len = MAX_CHUNK + 100;
        let (v, done) = run(Kind::Read, len, &[MAX_CHUNK as i64, 100]);
        assert_eq!((v, done), (vec![Next::Retry, Next::Done(len)], len));
        // End of file inside the second chunk.
        let (v, done) = run(Kind::Read, len, &[MAX_CHUNK as i64, 3]);
        assert_eq!((v, done), (vec![Next::Retry, Next::Done(MAX_CHUNK + 3)], MAX_CHUNK + 3));
    }

    #[test]
    fn short_writes_continue_and_zero_is_write_zero() {
        let (v, done) = run(Kind::Write, 100, &[30, -i64::from(libc::EINTR), 50, 20]);
        assert_eq!(v, [Next::Retry, Next::Retry, Next::Retry, Next::Done(100)]);
        assert_eq!(done, 100);
        let (v, done) = run(Kind::Write, 100, &[30, 0]);
        assert_eq!((v, done), (vec![Next::Retry, Next::WriteZero], 30));
        // An empty write is done at once.
        assert_eq!(run(Kind::Write, 0, &[0]), (vec![Next::Done(0)], 0));
    }

    #[test]
    fn a_count_beyond_the_request_is_clamped() {
        let (v, done) = run(Kind::Read, 10, &[1 << 20]);
        assert_eq!((v, done), (vec![Next::Done(10)], 10));
    }
}
