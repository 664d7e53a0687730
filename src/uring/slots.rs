//! The slot table of one shard, and every change of a slot's stage.
//!
//! A slot owns everything the kernel (or a worker) may touch while its
//! operation is in flight: the buffer, and for the thread backend a duplicate
//! of the file descriptor. A future or stream holds only the slot's index;
//! dropping it marks the slot cancelled, and whoever completes the operation
//! frees it. So the memory the kernel writes to always outlives the write.
//!
//! ```text
//! Free --fill--> Queued --next_to_submit--> Submitted --finish--> Done --take_*--> Free
//!                  ^                            |
//!                  +--resubmit-- Resubmit <-----+ continue_later (io_uring)
//! ```
//! `release` frees a slot from any stage the backend no longer touches.

use crate::uring::faults::Faults;
use crate::uring::fixed::Arena;
use crate::uring::stats::ShardStats;
use crate::uring::sys;
use crate::uring::waiters::Waiters;
use crate::PooledBuffer;
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
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
    /// the file, before that poll returns (see "Descriptors" in
    /// `backend/uring.rs`): so the number names the caller's file whenever
    /// the kernel reads it, even if the owner is later leaked.
    pub(crate) fd: RawFd,
    /// The thread backend's own duplicate of the descriptor: a worker may run
    /// the call after the caller's future (and its borrow of the file) is gone.
    pub(crate) owned: Option<OwnedFd>,
    pub(crate) offset: u64,
    /// Bytes to transfer in total.
    pub(crate) len: usize,
    /// Bytes already transferred (writes resubmit the rest after a short write).
    pub(crate) done: usize,
    /// Index of the registered arena buffer the kernel uses, if any (chosen
    /// by [`SlotTable::fill`]).
    pub(crate) fixed: Option<u16>,
    /// io_uring: the index of `fd` in the shard's registered file table, if
    /// the owner registered it (a `RegisteredFile`, or a `ReadMany` for as
    /// long as it borrows the file).
    pub(crate) file: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Free,
    /// In `SlotTable::pending`, not yet seen by the backend. With io_uring a
    /// slot that names its file by descriptor number is queued only inside
    /// its owner's poll, which submits it before it releases the state lock;
    /// one that names a registered-file entry may wait for a later drive (the
    /// entry stays set while it waits: see `file_pins`). With the thread
    /// backend it waits for a worker (holding its own duplicate of the
    /// descriptor).
    Queued,
    /// Handed to the kernel (io_uring) or to a worker thread.
    Submitted,
    /// io_uring: the transfer continues (`EINTR`, `EAGAIN`, a short write, a
    /// full chunk of a long one). Its owner's next poll queues it again; no
    /// other driver does, as the owner may be gone (leaked) and the number
    /// reused.
    Resubmit,
    /// The result is in the slot, waiting for its owner.
    Done,
}

/// One entry of the table: an operation and what it owns.
pub(crate) struct OpSlot {
    pub(crate) stage: Stage,
    pub(crate) spec: Spec,
    /// The buffer the kernel reads into or writes from. Owned here, never by
    /// the future, until the operation is `Done`.
    buf: Option<PooledBuffer>,
    result: Option<io::Result<usize>>,
    waker: Option<Waker>,
    /// The owner was dropped; the completer frees the slot.
    pub(crate) cancelled: bool,
}

impl OpSlot {
    fn empty() -> Self {
        OpSlot {
            stage: Stage::Free,
            spec: Spec { kind: Kind::Fsync, fd: -1, owned: None, offset: 0, len: 0, done: 0, fixed: None, file: None },
            buf: None,
            result: None,
            waker: None,
            cancelled: false,
        }
    }

    /// The buffer's address (0 without one), for error messages.
    pub(crate) fn buf_addr(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.as_ptr() as usize)
    }
}

/// What to do once the state lock is released: wakers to run and buffers to
/// drop (a buffer's drop may take the pool's locks, and a waker may poll).
/// Like tokio's `WakeList`, one value is threaded through a critical section.
#[derive(Default)]
pub(crate) struct Deferred {
    wake: Vec<Waker>,
    trash: Vec<PooledBuffer>,
}

impl Deferred {
    pub(crate) fn wake(&mut self, w: Waker) {
        self.wake.push(w);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.wake.is_empty() && self.trash.is_empty()
    }

    /// Runs the wakers and drops the buffers. Call with no lock held.
    #[inline]
    pub(crate) fn run(&mut self) {
        if !self.is_empty() {
            self.run_slow();
        }
    }

    #[cold]
    fn run_slow(&mut self) {
        self.wake.drain(..).for_each(Waker::wake);
        self.trash.clear();
    }

    /// [`run`](Self::run), then drops `self`: the common case, nothing to
    /// run and nothing allocated, costs two loads.
    #[inline(always)]
    pub(crate) fn finish(mut self) {
        self.run();
        if self.wake.capacity() == 0 && self.trash.capacity() == 0 {
            // Two empty, unallocated vectors: dropping them frees nothing.
            std::mem::forget(self);
        }
    }
}

/// An operation's outcome: the bytes transferred and the buffer, if any.
pub(crate) type OpResult = io::Result<(usize, Option<PooledBuffer>)>;

/// Everything behind a shard's state lock.
pub(crate) struct SlotTable {
    slots: Vec<OpSlot>,
    free: Vec<u32>,
    pending: VecDeque<u32>,
    /// The ring's waiters, woken as slots are freed.
    waiters: Arc<Waiters>,
    /// Free registered arena buffers.
    arena_free: Vec<u16>,
    /// Free entries of the shard's registered file table (io_uring; empty if
    /// the kernel has no sparse file tables).
    pub(crate) files_free: Vec<u32>,
    /// Per registered-file entry: how many queued slots name it. An entry
    /// is cleared only at zero, so an operation submitted later (by another
    /// driver: its owner may be leaked) still reaches the same file.
    file_pins: Vec<u32>,
    /// Entries whose owner is gone, to clear once no queued slot names them.
    files_orphaned: Vec<u32>,
    /// Orphaned entries no queued slot names any more: the backend clears
    /// them (`take_clearable`).
    files_clearable: Vec<u32>,
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

impl SlotTable {
    fn new(entries: usize, arena: Option<&Arena>, files: u32, waiters: Arc<Waiters>) -> Self {
        SlotTable {
            slots: (0..entries).map(|_| OpSlot::empty()).collect(),
            free: (0..entries as u32).rev().collect(),
            pending: VecDeque::with_capacity(entries),
            waiters,
            arena_free: arena.map_or(Vec::new(), |a| (0..a.len() as u16).rev().collect()),
            files_free: (0..files).rev().collect(),
            file_pins: vec![0; files as usize],
            files_orphaned: Vec::new(),
            files_clearable: Vec::new(),
            in_flight: 0,
            thread_idle: false,
            idle_workers: 0,
            closing: false,
        }
    }

    /// Slot `idx`, read-only.
    #[inline]
    pub(crate) fn slot(&self, idx: u32) -> &OpSlot {
        debug_assert!((idx as usize) < self.slots.len());
        &self.slots[idx as usize]
    }

    pub(crate) fn stage(&self, idx: u32) -> Stage {
        self.slot(idx).stage
    }

    /// Slots not free (queued, submitted, waiting or done).
    pub(crate) fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub(crate) fn has_free(&self) -> bool {
        !self.free.is_empty()
    }

    pub(crate) fn pending_is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub(crate) fn len(&self) -> u32 {
        self.slots.len() as u32
    }

    /// Takes a free slot, if any, for the caller to [`fill`](Self::fill).
    #[inline]
    pub(crate) fn take_free(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// Stores `waker` for slot `idx`'s completion (reusing the old one's
    /// allocation if it has one).
    pub(crate) fn set_waker(&mut self, idx: u32, waker: &Waker) {
        debug_assert!((idx as usize) < self.slots.len());
        let w = &mut self.slots[idx as usize].waker;
        match w {
            Some(w) => w.clone_from(waker),
            None => *w = Some(waker.clone()),
        }
    }

    /// Free → Queued: fills slot `idx` (just taken) with `spec` and `buf`
    /// and queues it for the backend, storing `waker` if given (the thread
    /// backend's worker wakes it; io_uring's owner drives itself and stores
    /// one only if its operation is not done then). `spec.fixed` is chosen
    /// here: a buffer of `arena`, if one fits and is free (a write's bytes are
    /// copied into it now).
    #[inline(always)]
    pub(crate) fn fill(
        &mut self,
        idx: u32,
        mut spec: Spec,
        buf: Option<PooledBuffer>,
        waker: Option<&Waker>,
        arena: Option<&Arena>,
    ) {
        if let Some(a) = arena {
            spec.fixed = self.take_arena_buffer(a, &spec, buf.as_ref());
        }
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        debug_assert!(slot.stage == Stage::Free && slot.buf.is_none() && slot.waker.is_none() && !slot.cancelled);
        if let Some(i) = spec.file {
            self.file_pins[i as usize] += 1;
        }
        slot.spec = spec;
        slot.buf = buf;
        if let Some(w) = waker {
            slot.waker = Some(w.clone());
        }
        slot.stage = Stage::Queued;
        self.pending.push_back(idx);
    }

    /// An arena buffer for an operation of `spec` if one fits and is free,
    /// with a write's bytes (`buf`) copied into it.
    #[cold]
    fn take_arena_buffer(&mut self, a: &Arena, spec: &Spec, buf: Option<&PooledBuffer>) -> Option<u16> {
        let i = match spec.kind {
            Kind::Read | Kind::Write if spec.len <= a.size() && spec.len > 0 => self.arena_free.pop()?,
            _ => return None,
        };
        if let (Kind::Write, Some(b)) = (spec.kind, buf) {
            // SAFETY: arena buffer `i` was just taken from the free list under
            // the state lock, so no operation uses it; it is `a.size() >=
            // spec.len == b.len()` bytes long; `b` is a distinct allocation.
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), a.ptr(i), spec.len) };
        }
        Some(i)
    }

    /// Slot `idx` leaves `Queued`: its registered-file entry, if any, loses
    /// a pin (see `file_pins`).
    #[inline]
    fn unpin(&mut self, idx: u32) {
        let Some(i) = self.slots[idx as usize].spec.file else { return };
        let pins = &mut self.file_pins[i as usize];
        debug_assert!(*pins > 0);
        *pins -= 1;
        if *pins == 0 {
            if let Some(k) = self.files_orphaned.iter().position(|&e| e == i) {
                self.files_orphaned.swap_remove(k);
                self.files_clearable.push(i);
            }
        }
    }

    /// The owner of registered-file entry `i` is gone: true if the caller may
    /// clear it now; else it is cleared once no queued slot names it (the
    /// backend finds it in `take_clearable`).
    pub(crate) fn orphan_file(&mut self, i: u32) -> bool {
        if self.file_pins[i as usize] == 0 {
            return true;
        }
        self.files_orphaned.push(i);
        false
    }

    /// An orphaned registered-file entry that no queued slot names any more,
    /// for the backend to clear.
    pub(crate) fn take_clearable(&mut self) -> Option<u32> {
        self.files_clearable.pop()
    }

    /// Resubmit → Queued: slot `idx`'s transfer continues. Only its owner's
    /// poll calls this, and then drives the ring.
    pub(crate) fn resubmit(&mut self, idx: u32) {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        debug_assert_eq!(slot.stage, Stage::Resubmit);
        slot.stage = Stage::Queued;
        self.pending.push_back(idx);
        if let Some(i) = slot.spec.file {
            self.file_pins[i as usize] += 1;
        }
    }

    /// Queued → Submitted: the next queued slot for the backend to run, with
    /// the address its transfer continues at (in its buffer, or its arena
    /// buffer; null for none). Cancelled ones are freed on the way.
    #[inline]
    pub(crate) fn next_to_submit(&mut self, arena: Option<&Arena>, d: &mut Deferred) -> Option<(u32, *mut u8)> {
        loop {
            let idx = self.pending.pop_front()?;
            debug_assert!((idx as usize) < self.slots.len());
            let slot = &mut self.slots[idx as usize];
            debug_assert_eq!(slot.stage, Stage::Queued);
            let cancelled = slot.cancelled;
            self.unpin(idx);
            if cancelled {
                self.release(idx, d);
                continue;
            }
            let slot = &mut self.slots[idx as usize];
            slot.stage = Stage::Submitted;
            let base = match (slot.spec.fixed, arena, slot.buf.as_mut()) {
                (Some(i), Some(a), _) => a.ptr(i),
                (_, _, Some(b)) => b.as_mut_ptr(),
                _ => std::ptr::null_mut(),
            };
            // `done <= len <=` the capacity of the buffer (or arena buffer)
            // `base` points into, so this stays in bounds.
            return Some((idx, base.wrapping_add(slot.spec.done)));
        }
    }

    /// Records that slot `idx` (submitted) has transferred `done` bytes so far.
    pub(crate) fn set_done(&mut self, idx: u32, done: usize) {
        debug_assert!((idx as usize) < self.slots.len());
        self.slots[idx as usize].spec.done = done;
    }

    /// Submitted → Resubmit (io_uring): slot `idx`'s transfer continues from
    /// its new `done`; its owner is woken to queue it again. A cancelled
    /// slot is finished instead (nobody sees the result).
    pub(crate) fn continue_later(&mut self, idx: u32, d: &mut Deferred) {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        debug_assert_eq!(slot.stage, Stage::Submitted);
        if slot.cancelled {
            self.release(idx, d);
            return;
        }
        slot.stage = Stage::Resubmit;
        if let Some(w) = slot.waker.take() {
            d.wake(w);
        }
    }

    /// Submitted → Done: records the final result of slot `idx` and wakes its
    /// owner, or frees the slot if the owner is gone.
    #[inline]
    pub(crate) fn finish(&mut self, idx: u32, res: io::Result<usize>, d: &mut Deferred) {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        if slot.cancelled {
            self.release(idx, d);
            return;
        }
        slot.stage = Stage::Done;
        slot.result = Some(res);
        // The fd duplicate is not needed any more; close it now, not when the
        // owner gets round to polling.
        slot.spec.owned = None;
        if let Some(w) = slot.waker.take() {
            d.wake(w);
        }
    }

    /// Any stage → Free: its buffer goes to `d` (dropped by the caller
    /// outside the lock), its arena buffer back to the arena, and one waiting
    /// owner is woken (through `d`).
    pub(crate) fn release(&mut self, idx: u32, d: &mut Deferred) {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        if let Some(b) = slot.buf.take() {
            d.trash.push(b);
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
        if let Some(w) = self.waiters.slot_freed() {
            d.wake(w);
        }
    }

    /// Done → Free, in the common case only: no registered arena buffer to
    /// copy back, nobody waiting for a slot. Else (or if not done) `None`,
    /// and the caller takes the general path, [`take_result`](Self::take_result).
    #[inline]
    pub(crate) fn take_done(&mut self, idx: u32) -> Option<OpResult> {
        debug_assert!((idx as usize) < self.slots.len());
        let slot = &mut self.slots[idx as usize];
        if slot.stage != Stage::Done || slot.spec.fixed.is_some() || self.waiters.any() {
            return None;
        }
        // `finish` took the waker and closed the fd duplicate; a live owner's
        // slot is never cancelled.
        debug_assert!(slot.waker.is_none() && slot.spec.owned.is_none() && !slot.cancelled);
        let res = slot.result.take().expect("a done slot holds its result");
        let buf = slot.buf.take();
        slot.stage = Stage::Free;
        self.free.push(idx);
        Some(res.map(|n| (n, buf)))
    }

    /// Done → Free: the result of slot `idx`, with its buffer (copied back
    /// from the slot's arena buffer, for a read that used one).
    pub(crate) fn take_result(&mut self, idx: u32, arena: Option<&Arena>, d: &mut Deferred) -> OpResult {
        debug_assert!((idx as usize) < self.slots.len());
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
        self.release(idx, d);
        res.map(|n| (n, buf))
    }

    /// The owner of slots `idxs` is gone (a dropped future or stream): each
    /// slot is freed now if the backend no longer touches it, else marked
    /// cancelled and freed when its operation completes. Never frees memory
    /// the kernel may still write to.
    pub(crate) fn cancel(&mut self, idxs: &[u32], d: &mut Deferred) {
        for &idx in idxs {
            debug_assert!((idx as usize) < self.slots.len());
            let slot = &mut self.slots[idx as usize];
            match slot.stage {
                // Nobody has seen it: out of the queue, and freed.
                Stage::Queued => self.dequeue(idx, d),
                // A submission holds the state lock from taking the SQE off
                // the queue until the kernel has consumed it, so the kernel
                // already holds its own reference to the file.
                Stage::Submitted => slot.cancelled = true,
                Stage::Done | Stage::Resubmit => self.release(idx, d),
                Stage::Free => debug_assert!(false, "an owner's slot is never free while it holds it"),
            }
        }
    }

    /// Queued → Free: slot `idx` leaves the queue unseen by the backend.
    fn dequeue(&mut self, idx: u32, d: &mut Deferred) {
        if let Some(k) = self.pending.iter().position(|&e| e == idx) {
            self.pending.remove(k);
        }
        self.unpin(idx);
        self.release(idx, d);
    }

    /// Every `Ring` handle is gone (so no future or stream is alive: they
    /// borrow one; any left were leaked). Marks the table closing and every
    /// slot in use cancelled, and frees those the backend no longer touches
    /// (queued, done, or waiting for a resubmission that will not come).
    /// Slots the kernel or a worker holds are freed when the backend is done
    /// with them. Returns the slots in the kernel (io_uring: the caller asks
    /// the kernel to cancel them).
    pub(crate) fn close(&mut self, d: &mut Deferred) -> Vec<u32> {
        self.closing = true;
        let mut in_kernel = Vec::new();
        for idx in 0..self.slots.len() as u32 {
            let slot = &mut self.slots[idx as usize];
            match slot.stage {
                Stage::Free => {}
                Stage::Done | Stage::Resubmit => self.release(idx, d),
                Stage::Queued => self.dequeue(idx, d),
                Stage::Submitted => {
                    slot.cancelled = true;
                    in_kernel.push(idx);
                }
            }
        }
        in_kernel
    }
}

/// What a shard's front ends and its backend share, whatever the backend.
pub(crate) struct Core {
    /// On cache lines of its own: it is written on every operation, by the
    /// shard's thread, and nothing else should share its lines.
    table: CachePadded<Mutex<SlotTable>>,
    pub(crate) arena: Option<Arena>,
    pub(crate) stats: ShardStats,
    pub(crate) faults: Arc<Faults>,
}

impl Core {
    pub(crate) fn new(
        entries: usize,
        arena: Option<Arena>,
        files: u32,
        waiters: Arc<Waiters>,
        faults: Arc<Faults>,
    ) -> Self {
        let table = SlotTable::new(entries, arena.as_ref(), files, waiters);
        Core { table: CachePadded::new(Mutex::new(table)), arena, stats: ShardStats::default(), faults }
    }

    /// The state lock.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, SlotTable> {
        self.table.lock()
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
