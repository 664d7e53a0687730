//! The io_uring backend: the futures drive the ring themselves, and a
//! completion thread waits only for completions that arrive later.
//!
//! # Shards
//!
//! A `Ring` is a few shards, each one io_uring instance with its own slot
//! table, queue, lock and completion thread (`RingBuilder::shards`; by
//! default one per CPU). A future takes its slot in its thread's shard (the
//! threads are numbered in the order they first use a ring), or in another
//! one only when that is full; when every shard is full, futures wait for a
//! slot in one queue for the whole ring (`state::Group`). So the workers of a
//! multi-threaded executor each queue, submit and reap on their own shard,
//! without moving its lock and slots between CPUs, and one worker's batch
//! never waits on futures parked in another worker's run queue.
//!
//! # Driving
//!
//! Everything about a shard's ring (its SQ, its CQ, the right to submit) is
//! guarded by the shard's one state lock. Whoever drives holds it: it takes
//! every queued slot, builds their SQEs, hands them all to the kernel with one
//! `io_uring_enter`, then drains the CQ, finishing (or requeueing, for
//! `EINTR`, `EAGAIN` and short writes) each slot, and goes round again while
//! anything is requeued. Wakers run after the lock is released. A slot
//! becomes `Submitted` only under the lock, and the lock is released only once
//! the kernel has consumed every SQE, so whoever sees a slot `Submitted` knows
//! the kernel holds its own reference to the file: a dropped future returns at
//! once, and its caller may close the file.
//!
//! A future queues its operation on its first poll and drives at once, under
//! the same lock: one `io_uring_enter` submits it (a `ReadMany` stream queues
//! all the reads it has room for first, so one call submits them all). Reads
//! served from the page cache complete inside that call, so the first poll
//! usually returns the result, on the executor's own thread: no context
//! switch, no wake-up. This is executor-agnostic: it needs only `Waker`s.
//!
//! # Descriptors
//!
//! The kernel resolves an SQE's file (a descriptor number, or an index in the
//! registered file table) when `io_uring_enter` submits it, and from then on
//! holds its own reference to the file (the ring never sets `IOSQE_ASYNC`,
//! which would resolve it later, on an io-wq worker). So the one hazard is an
//! SQE that waits in the queue while its owner may be gone: a future can be
//! leaked (`mem::forget`) without its `Drop` running, its borrow of the file
//! ends, the file closes and another one gets its number. Hence the rule every
//! operation kind follows, with no per-operation cost but its own
//! `io_uring_enter`: **a slot is queued and submitted inside one poll of its
//! owner, under one hold of the state lock**, so the queue is empty whenever
//! the lock is free and no driver ever submits another owner's operation. A
//! transfer that must continue (`EINTR`, `EAGAIN`, a short write, the next
//! chunk) waits in `Stage::Resubmit` for its owner's next poll, and a leaked
//! owner's never continues. A registered file's entry is cleared only after
//! its owner is gone, so it too is never resolved after that.
//!
//! # The completion thread
//!
//! Operations that do not complete inline (a page-cache miss, `O_DIRECT`,
//! `fsync`) stay in flight. While any are, the shard's completion thread
//! blocks in `io_uring_enter(GETEVENTS)` (without the lock), then drives to
//! reap them and wakes their futures from its thread. With nothing in flight
//! it sleeps on a condvar, woken by the driver that leaves operations in
//! flight.
//!
//! # Closing
//!
//! When the last `Ring` handle goes, no future or stream is alive (each
//! borrows a handle), but some may have been leaked. [`close`] frees the
//! slots the kernel no longer holds, and asks the kernel to cancel the ones
//! it does (`IORING_OP_ASYNC_CANCEL`). The completion thread reaps until
//! none is left, then exits; the io_uring instance, its registered arena and
//! the slots' buffers are freed with the shard's last reference, which the
//! thread holds: so nothing the kernel may still write to is freed before
//! the kernel is done with it.

use crate::uring::error::op_error;
use crate::uring::fixed::Arena;
use crate::uring::state::{on_result, Counters, Group, Kick, Kind, Next, Shared, Stage, State, MAX_CHUNK};
use crate::uring::Backend;
use crate::{BufferPool, PooledBuffer};
use io_uring::{opcode, squeue, types, IoUring, Probe};
use parking_lot::Condvar;
use std::io;
use std::sync::Arc;
use std::task::Waker;

/// `user_data` of the no-op that wakes the completion thread at close, and
/// of the cancellations sent then. Slot indexes are below 2^32.
const WAKE: u64 = u64::MAX;
const CANCEL: u64 = u64::MAX - 1;

/// `IORING_ENTER_GETEVENTS` from `<linux/io_uring.h>`.
const ENTER_GETEVENTS: u32 = 1;

/// Entries in each shard's registered file table: how many files it holds at
/// once (each `RegisteredFile` takes one in every shard, each `ReadMany`
/// stream one in each shard it queues in; more use plain descriptors).
const FILES: u32 = 64;

/// The io_uring parts of `Shared`.
pub(crate) struct Uring {
    /// Its SQ and CQ are only touched under the shard's state lock, whose
    /// holder also owns the right to submit. A submission runs under that
    /// lock from taking an operation off the queue until the kernel has
    /// consumed its SQE, so anyone who sees a slot `Submitted` (under the
    /// lock) knows the kernel holds its own reference to the file: a dropped
    /// future's caller may close it at once.
    ring: IoUring,
    /// The completion thread sleeps here while nothing is in flight.
    pub(crate) cv: Condvar,
}

/// Opens a ring of `entries`, registers `fixed` arena buffers if given, and
/// starts the completion thread. Errors from `io_uring_setup` come back
/// unchanged so the caller can decide to fall back.
pub(crate) fn start(
    pool: &BufferPool,
    entries: usize,
    fixed: Option<(usize, usize)>,
    group: Arc<Group>,
) -> io::Result<Arc<Shared>> {
    let ring: IoUring = IoUring::builder().setup_cqsize(2 * entries as u32).build(entries as u32)?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for code in [opcode::Read::CODE, opcode::Write::CODE, opcode::Fsync::CODE] {
        if !probe.is_supported(code) {
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
    }
    let mut arena = None;
    if let Some((count, size)) = fixed {
        let fixed_ok = probe.is_supported(opcode::ReadFixed::CODE) && probe.is_supported(opcode::WriteFixed::CODE);
        if count > 0 && size > 0 && fixed_ok {
            let a = Arena::new(pool, count.min(u16::MAX as usize), size);
            let iov = a.iovecs();
            // SAFETY: every iovec covers a live arena buffer that the arena
            // keeps allocated and never hands out; the arena lives in
            // `Shared`, after the ring in drop order (and the kernel holds
            // its own page references to registered memory anyway).
            if a.all_pinned() && unsafe { ring.submitter().register_buffers(&iov) }.is_ok() {
                arena = Some(a);
            }
        }
    }
    // A sparse table of registered files (Linux 5.19+; none before), which
    // `ReadMany` fills for the files it borrows.
    let files = if ring.submitter().register_files_sparse(FILES).is_ok() { FILES } else { 0 };
    let uring = Uring { ring, cv: Condvar::new() };
    let shared = Arc::new(Shared::new(entries, Backend::IoUring, Kick::Uring(Box::new(uring)), arena, files, group));
    let s = shared.clone();
    std::thread::Builder::new().name("bufpool-uring".into()).spawn(move || completion_thread(&s))?;
    Ok(shared)
}

fn uring(shared: &Shared) -> &Uring {
    match &shared.kick {
        Kick::Uring(u) => u,
        Kick::Condvar(_) => unreachable!("only the io_uring backend drives a ring"),
    }
}

/// Drives the ring; the caller holds the state lock. Submits every queued
/// operation with one `io_uring_enter` (more only if the SQ fills up), and
/// reaps the CQ. Only an owner's poll queues, so only the owners of what is
/// queued call this with a non-empty queue (see "Descriptors" above); anyone
/// may call it to reap. Buffers to drop and wakers to run go to `trash` and
/// `wake`, for after the lock is released.
pub(crate) fn drive_locked(shared: &Shared, st: &mut State, trash: &mut Vec<PooledBuffer>, wake: &mut Vec<Waker>) {
    let u = uring(shared);
    submit_queued(shared, u, st, trash, wake);
    debug_assert!(st.pending.is_empty());
    reap(shared, u, st, trash, wake);
    if st.in_flight > 0 && st.thread_idle {
        Counters::add(&shared.counters.wakeups, 1);
        u.cv.notify_one();
    }
}

/// Registers `fd` in a free entry of the shard's file table (the caller
/// holds the state lock `st`), so the kernel finds the file without taking a
/// reference to it for every operation (`fget`/`fput`, which bounce between
/// CPUs when several read one file). `None` if the table is full or the
/// kernel refuses.
///
/// The entry holds the kernel's own reference to the file, so closing `fd`
/// does not invalidate it; the hazard is the index: once the entry is
/// cleared and handed to another file, an operation still naming it would
/// reach that file. So the caller clears it ([`unregister_file`]) only when
/// every operation naming it is done or cancelled; a cancelled one is either
/// freed unsubmitted or already issued, and an operation resolves its file
/// when it is issued, never later (no `IOSQE_ASYNC`, see `submit_queued`).
pub(crate) fn register_file(shared: &Shared, st: &mut State, fd: std::os::fd::RawFd) -> Option<u32> {
    let i = st.files_free.pop()?;
    match uring(shared).ring.submitter().register_files_update(i, &[fd]) {
        Ok(1) => Some(i),
        _ => {
            st.files_free.push(i);
            None
        }
    }
}

/// Clears entry `i` of the shard's file table and frees it; every operation
/// that named it has been issued or cancelled (see `register_file`).
pub(crate) fn unregister_file(shared: &Shared, i: u32) {
    let mut st = shared.state.lock();
    // -1 clears the entry. If even that fails the entry stays taken (its
    // file stays open in the kernel until the ring closes): it is never
    // handed out again.
    if uring(shared).ring.submitter().register_files_update(i, &[-1]).is_ok() {
        st.files_free.push(i);
    }
}

/// Closes the shard (see "Closing" above): frees what the kernel does not
/// hold, asks the kernel to cancel what it does, and wakes the completion
/// thread, which reaps the rest and exits.
pub(crate) fn close(shared: &Shared) {
    let u = uring(shared);
    let mut trash = Vec::new();
    let mut wake = Vec::new();
    let mut st = shared.state.lock();
    if st.close(&mut trash, &mut wake) {
        for idx in 0..st.slots.len() as u64 {
            if st.slots[idx as usize].stage == Stage::Submitted {
                push_locked(shared, u, &opcode::AsyncCancel::new(idx).build().user_data(CANCEL));
            }
        }
    }
    if st.thread_idle {
        u.cv.notify_one();
    } else {
        // It may be blocked in `io_uring_enter`, waiting for completions
        // that were reaped meanwhile: a no-op's completion wakes it.
        push_locked(shared, u, &opcode::Nop::new().build().user_data(WAKE));
    }
    flush(shared, u);
    drop(st);
    wake.into_iter().for_each(Waker::wake);
    drop(trash);
}

/// Pushes `e` (which names no memory) to the SQ, submitting to make room if
/// it is full. Caller holds the state lock.
fn push_locked(shared: &Shared, u: &Uring, e: &squeue::Entry) {
    loop {
        // SAFETY: the SQ is only touched under the state lock, which the
        // caller holds; `e` is a no-op or a cancellation, naming no memory
        // (a cancellation names its target by `user_data`).
        if unsafe { u.ring.submission_shared().push(e) }.is_ok() {
            return;
        }
        flush(shared, u);
    }
}

/// Hands every queued operation to the kernel. Caller holds the state lock.
fn submit_queued(shared: &Shared, u: &Uring, st: &mut State, trash: &mut Vec<PooledBuffer>, wake: &mut Vec<Waker>) {
    if st.pending.is_empty() {
        return;
    }
    // The queue is taken out of the state for the loop (`release` needs the
    // state) and put back empty, keeping its allocation.
    let mut queue = std::mem::take(&mut st.pending);
    // One view of the SQ for the whole batch: it reads the kernel's head once
    // and publishes the new tail once (on `sync`, or when dropped), not once
    // per entry.
    // SAFETY: the SQ is only touched under the state lock, which we hold, and
    // this is the only view of it until it is dropped below (`flush` makes
    // its own only after that).
    let mut sq = unsafe { u.ring.submission_shared() };
    let mut n = 0u64;
    for idx in queue.drain(..) {
        debug_assert!((idx as usize) < st.slots.len());
        let slot = &mut st.slots[idx as usize];
        if slot.cancelled {
            st.release(idx, trash, wake);
            continue;
        }
        slot.stage = Stage::Submitted;
        let sp = &slot.spec;
        // A registered file is named by its table index, with
        // IOSQE_FIXED_FILE (added below).
        let fd = types::Fd(sp.file.map_or(sp.fd, |i| i as i32));
        let chunk = (sp.len - sp.done).min(MAX_CHUNK) as u32;
        let off = sp.offset + sp.done as u64;
        let base = match (sp.fixed, &shared.arena, slot.buf.as_mut()) {
            (Some(i), Some(a), _) => a.ptr(i),
            (_, _, Some(b)) => b.as_mut_ptr(),
            _ => std::ptr::null_mut(),
        };
        // `done <= len <= capacity` of the buffer (or arena buffer)
        // `base` points into, so this stays in bounds.
        let ptr = base.wrapping_add(sp.done);
        let e = match (sp.kind, sp.fixed) {
            (Kind::Read, None) => opcode::Read::new(fd, ptr, chunk).offset(off).build(),
            (Kind::Read, Some(i)) => opcode::ReadFixed::new(fd, ptr, chunk, i).offset(off).build(),
            (Kind::Write, None) => opcode::Write::new(fd, ptr, chunk).offset(off).build(),
            (Kind::Write, Some(i)) => opcode::WriteFixed::new(fd, ptr, chunk, i).offset(off).build(),
            (Kind::Fsync, _) => opcode::Fsync::new(fd).build(),
        };
        if sp.fixed.is_some() {
            Counters::add(&shared.counters.fixed_ops, 1);
        }
        let e = if sp.file.is_some() {
            Counters::add(&shared.counters.file_ops, 1);
            e.flags(squeue::Flags::FIXED_FILE)
        } else {
            e
        };
        // No IOSQE_ASYNC, even for large transfers (which would then copy
        // in parallel on io-wq workers): a forced-async request resolves
        // its file descriptor later, on the worker, after a cancelled
        // caller may have closed it and reused the number.
        let e = e.user_data(u64::from(idx));
        // SAFETY: the SQ is only touched under the state lock, which we
        // hold. The SQE names the buffer owned by its slot (or the slot's
        // arena buffer), freed only after its CQE is reaped (a dropped future
        // only marks it cancelled, under this lock, so after the kernel has
        // consumed the SQE: the final `flush` below runs before the lock is
        // released). It names its file by a descriptor (or table entry) that
        // the owner's borrow keeps open: the owner queued it in the poll we
        // run in, under this hold of the lock ("Descriptors" above).
        while unsafe { sq.push(&e) }.is_err() {
            // The SQ is full: publish it, hand it to the kernel, and look at
            // its head again.
            sq.sync();
            enter(shared, u);
            sq.sync();
        }
        n += 1;
    }
    drop(sq);
    st.pending = queue;
    if n == 0 {
        return;
    }
    st.in_flight += n as usize;
    Counters::add(&shared.counters.ops, n);
    Counters::max(&shared.counters.max_batch, n);
    flush(shared, u);
}

/// Submits the SQ until the kernel has consumed all of it. Caller holds the
/// state lock.
fn flush(shared: &Shared, u: &Uring) {
    loop {
        // SAFETY: the SQ is only touched under the state lock.
        if unsafe { u.ring.submission_shared() }.is_empty() {
            return;
        }
        enter(shared, u);
    }
}

/// One submitting `io_uring_enter` for whatever the SQ holds. Caller holds
/// the state lock.
fn enter(shared: &Shared, u: &Uring) {
    Counters::add(&shared.counters.submit_calls, 1);
    match u.ring.submit() {
        Ok(_) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {
            std::thread::yield_now()
        }
        Err(e) => panic!("bufpool-uring: io_uring_enter failed: {e}"),
    }
}

/// Drains the CQ. Caller holds the state lock.
fn reap(shared: &Shared, u: &Uring, st: &mut State, trash: &mut Vec<PooledBuffer>, wake: &mut Vec<Waker>) {
    // SAFETY: the CQ is only touched under the state lock, which we hold.
    let cq = unsafe { u.ring.completion_shared() };
    // What the kernel had posted when `cq` was made; dropping `cq` hands the
    // entries back.
    for c in cq {
        let (ud, res) = (c.user_data(), c.result());
        if ud == WAKE || ud == CANCEL {
            continue;
        }
        st.in_flight -= 1;
        let idx = ud as u32;
        debug_assert!((idx as usize) < st.slots.len());
        let slot = &mut st.slots[idx as usize];
        debug_assert_eq!(slot.stage, Stage::Submitted);
        let sp = &mut slot.spec;
        // The chunk this CQE answers, as `submit_queued` computed it.
        let chunk = (sp.len - sp.done).min(MAX_CHUNK);
        let result = match on_result(sp.kind, sp.len, chunk, &mut sp.done, shared.fault(i64::from(res))) {
            Next::Retry if !slot.cancelled => {
                // The owner queues it again (`State::resubmit`) on its next
                // poll: it may be leaked, and its descriptor number reused.
                Counters::add(&shared.counters.retries, 1);
                slot.stage = Stage::Resubmit;
                if let Some(w) = slot.waker.take() {
                    wake.push(w);
                }
                continue;
            }
            // Cancelled: the slot is freed; no one sees the result.
            Next::Retry => Err(io::ErrorKind::Interrupted.into()),
            Next::Done(n) => Ok(n),
            Next::Errno(e) if slot.cancelled => Err(io::Error::from_raw_os_error(e)),
            Next::Errno(e) => {
                let addr = slot.buf.as_ref().map_or(0, |b| b.as_ptr() as usize);
                Err(op_error(e, sp.fd, sp.offset, sp.len, addr))
            }
            Next::WriteZero => Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0 bytes")),
        };
        st.finish(idx, result, trash, wake);
    }
}

fn completion_thread(shared: &Shared) {
    let u = uring(shared);
    let mut trash: Vec<PooledBuffer> = Vec::new();
    let mut wake: Vec<Waker> = Vec::new();
    loop {
        let mut st = shared.state.lock();
        loop {
            if st.closing && st.in_use() == 0 {
                return;
            }
            if st.in_flight > 0 {
                break;
            }
            st.thread_idle = true;
            u.cv.wait(&mut st);
            st.thread_idle = false;
        }
        if st.in_flight > 0 {
            drop(st);
            Counters::add(&shared.counters.wait_calls, 1);
            // SAFETY: `enter` with no submissions and GETEVENTS only waits for
            // a completion; it touches neither the SQ nor the CQ memory, so it
            // needs no lock (a driver may be submitting or reaping meanwhile).
            let r = unsafe { u.ring.submitter().enter::<libc::sigset_t>(0, 1, ENTER_GETEVENTS, None) };
            if let Err(e) = r {
                if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) {
                    panic!("bufpool-uring: io_uring_enter failed: {e}");
                }
            }
            st = shared.state.lock();
        }
        drive_locked(shared, &mut st, &mut trash, &mut wake);
        drop(st);
        wake.drain(..).for_each(Waker::wake);
        trash.clear();
    }
}
