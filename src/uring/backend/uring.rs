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
//! slot in one queue for the whole ring (`waiters.rs`). So the workers of a
//! multi-threaded executor each queue, submit and reap on their own shard,
//! without moving its lock and slots between CPUs, and one worker's batch
//! never waits on futures parked in another worker's run queue.
//!
//! # Driving
//!
//! Everything about a shard's ring (its SQ, its CQ, the right to submit) is
//! guarded by the shard's one state lock. Whoever drives holds it: it takes
//! every queued slot, builds their SQEs, hands them all to the kernel with one
//! `io_uring_enter`, then drains the CQ, finishing each slot (or leaving it
//! for its owner to resubmit, for `EINTR`, `EAGAIN` and short writes).
//! Wakers run after the lock is released. A slot
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
//! ends, the file closes and another one gets its number. Hence the rules
//! every operation kind follows:
//!
//! * **An operation that names its file by descriptor number is queued and
//!   submitted inside one poll of its owner, under one hold of the state
//!   lock**, so no driver ever submits another owner's descriptor number. It
//!   costs one `io_uring_enter` per such future.
//! * **An operation that names a registered-file entry may wait in the queue**
//!   for a later drive (by anyone), so futures on a `RegisteredFile` batch
//!   their submissions as before: the entry holds the kernel's own reference
//!   to the file, and it is cleared only when its owner is gone *and* no
//!   queued slot names it (`SlotTable::file_pins`), so a leaked operation
//!   submitted later still reaches the file it was meant for.
//! * A transfer that must continue (`EINTR`, `EAGAIN`, a short write, the
//!   next chunk) waits in `Stage::Resubmit` for its owner's next poll, and a
//!   leaked owner's never continues.
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
use crate::uring::slots::{on_result, Core, Deferred, Kind, Next, SlotTable, Stage, MAX_CHUNK};
use crate::uring::stats;
use crate::BufferPool;
use io_uring::{opcode, squeue, types, IoUring, Probe};
use parking_lot::Condvar;
use std::io;
use std::os::fd::RawFd;

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

/// One shard's io_uring instance.
pub(crate) struct Uring {
    /// Its SQ and CQ are only touched under the shard's state lock, whose
    /// holder also owns the right to submit. A submission runs under that
    /// lock from taking an operation off the queue until the kernel has
    /// consumed its SQE, so anyone who sees a slot `Submitted` (under the
    /// lock) knows the kernel holds its own reference to the file: a dropped
    /// future's caller may close it at once.
    ring: IoUring,
    /// The completion thread sleeps here while nothing is in flight.
    cv: Condvar,
}

/// What [`open`] sets up for one shard.
pub(crate) struct Opened {
    pub(crate) uring: Uring,
    pub(crate) arena: Option<Arena>,
    /// Entries of its registered file table (0 without sparse tables).
    pub(crate) files: u32,
}

/// Opens a ring of `entries` and registers `fixed` arena buffers if given.
/// Errors from `io_uring_setup` come back unchanged so the caller can decide
/// to fall back.
pub(crate) fn open(pool: &BufferPool, entries: usize, fixed: Option<(usize, usize)>) -> io::Result<Opened> {
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
            // keeps allocated and never hands out; the arena lives in the
            // shard's `Core`, freed only after the completion thread has
            // reaped every operation (and the kernel holds its own page
            // references to registered memory anyway).
            if a.all_pinned() && unsafe { ring.submitter().register_buffers(&iov) }.is_ok() {
                arena = Some(a);
            }
        }
    }
    // A sparse table of registered files (Linux 5.19+; none before), which
    // `ReadMany` and `RegisteredFile` fill.
    let files = if ring.submitter().register_files_sparse(FILES).is_ok() { FILES } else { 0 };
    Ok(Opened { uring: Uring { ring, cv: Condvar::new() }, arena, files })
}

/// Drives the ring; the caller holds the state lock. Submits every queued
/// operation with one `io_uring_enter` (more only if the SQ fills up), and
/// reaps the CQ. What is queued is the caller's own, or names a pinned
/// registered-file entry (see "Descriptors" above), so anyone may call it. Wakers to run and buffers to drop go to `d`, for
/// after the lock is released.
pub(crate) fn drive_locked(core: &Core, u: &Uring, st: &mut SlotTable, d: &mut Deferred) {
    submit_queued(core, u, st, d);
    debug_assert!(st.pending_is_empty());
    clear_orphans(u, st);
    reap(core, u, st, d);
    if st.in_flight > 0 && st.thread_idle {
        stats::add(&core.stats.wakeups, 1);
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
/// reach that file. So it is cleared ([`unregister_file`]) only once its
/// owner is gone (dropped or leaked) and no queued slot names it: every
/// other operation naming it was resolved when it was submitted, and none is
/// submitted again ("Descriptors" above).
pub(crate) fn register_file(u: &Uring, st: &mut SlotTable, fd: RawFd) -> Option<u32> {
    let i = st.files_free.pop()?;
    match u.ring.submitter().register_files_update(i, &[fd]) {
        Ok(1) => Some(i),
        _ => {
            st.files_free.push(i);
            None
        }
    }
}

/// The owner of entry `i` of the shard's file table is gone: clears and
/// frees it now, or once no queued slot names it (see [`register_file`]).
pub(crate) fn unregister_file(core: &Core, u: &Uring, i: u32) {
    let mut st = core.lock();
    if st.orphan_file(i) {
        clear_file(u, &mut st, i);
    }
}

/// Clears the orphaned file table entries no queued slot names any more.
/// Caller holds the state lock.
pub(crate) fn clear_orphans(u: &Uring, st: &mut SlotTable) {
    while let Some(i) = st.take_clearable() {
        clear_file(u, st, i);
    }
}

fn clear_file(u: &Uring, st: &mut SlotTable, i: u32) {
    // -1 clears the entry. If even that fails the entry stays taken (its
    // file stays open in the kernel until the ring closes): it is never
    // handed out again.
    if u.ring.submitter().register_files_update(i, &[-1]).is_ok() {
        st.files_free.push(i);
    }
}

/// Closes the shard (see "Closing" above): frees what the kernel does not
/// hold, asks the kernel to cancel what it does, and wakes the completion
/// thread, which reaps the rest and exits.
pub(crate) fn close(core: &Core, u: &Uring) {
    let mut d = Deferred::default();
    let mut st = core.lock();
    for idx in st.close(&mut d) {
        push_locked(core, u, &opcode::AsyncCancel::new(u64::from(idx)).build().user_data(CANCEL));
    }
    if st.thread_idle {
        u.cv.notify_one();
    } else {
        // It may be blocked in `io_uring_enter`, waiting for completions
        // that were reaped meanwhile: a no-op's completion wakes it.
        push_locked(core, u, &opcode::Nop::new().build().user_data(WAKE));
    }
    submit_all(core, u);
    drop(st);
    d.run();
}

/// Pushes `e` (which names no memory) to the SQ, submitting to make room if
/// it is full. Caller holds the state lock.
fn push_locked(core: &Core, u: &Uring, e: &squeue::Entry) {
    loop {
        // SAFETY: the SQ is only touched under the state lock, which the
        // caller holds; `e` is a no-op or a cancellation, naming no memory
        // (a cancellation names its target by `user_data`).
        if unsafe { u.ring.submission_shared().push(e) }.is_ok() {
            return;
        }
        submit_all(core, u);
    }
}

/// Hands every queued operation to the kernel. Caller holds the state lock.
fn submit_queued(core: &Core, u: &Uring, st: &mut SlotTable, d: &mut Deferred) {
    if st.pending_is_empty() {
        return;
    }
    // One view of the SQ for the whole batch: it reads the kernel's head once
    // and publishes the new tail once (on `sync`, or when dropped), not once
    // per entry.
    // SAFETY: the SQ is only touched under the state lock, which we hold, and
    // this is the only view of it until it is dropped below (`submit_all`
    // makes its own only after that).
    let mut sq = unsafe { u.ring.submission_shared() };
    let mut n = 0u64;
    while let Some((idx, ptr)) = st.next_to_submit(core.arena.as_ref(), d) {
        let sp = &st.slot(idx).spec;
        // A registered file is named by its table index, with
        // IOSQE_FIXED_FILE (added below).
        let fd = types::Fd(sp.file.map_or(sp.fd, |i| i as i32));
        let chunk = (sp.len - sp.done).min(MAX_CHUNK) as u32;
        let off = sp.offset + sp.done as u64;
        let e = match (sp.kind, sp.fixed) {
            (Kind::Read, None) => opcode::Read::new(fd, ptr, chunk).offset(off).build(),
            (Kind::Read, Some(i)) => opcode::ReadFixed::new(fd, ptr, chunk, i).offset(off).build(),
            (Kind::Write, None) => opcode::Write::new(fd, ptr, chunk).offset(off).build(),
            (Kind::Write, Some(i)) => opcode::WriteFixed::new(fd, ptr, chunk, i).offset(off).build(),
            (Kind::Fsync, _) => opcode::Fsync::new(fd).build(),
        };
        if sp.fixed.is_some() {
            stats::add(&core.stats.fixed_ops, 1);
        }
        let e = if sp.file.is_some() {
            stats::add(&core.stats.registered_file_ops, 1);
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
        // consumed the SQE: the final `submit_all` below runs before the lock
        // is released). It names its file by a descriptor that the owner's
        // borrow keeps open (the owner queued it in the poll we run in, under
        // this hold of the lock), or by a registered-file entry that stays
        // set while a queued slot names it ("Descriptors" above).
        while unsafe { sq.push(&e) }.is_err() {
            // The SQ is full: publish it, hand it to the kernel, and look at
            // its head again.
            sq.sync();
            submit_call(core, u);
            sq.sync();
        }
        n += 1;
    }
    drop(sq);
    if n == 0 {
        return;
    }
    st.in_flight += n as usize;
    stats::add(&core.stats.ops, n);
    stats::raise(&core.stats.max_batch, n);
    submit_all(core, u);
}

/// Submits the SQ until the kernel has consumed all of it. Caller holds the
/// state lock.
fn submit_all(core: &Core, u: &Uring) {
    loop {
        // SAFETY: the SQ is only touched under the state lock.
        if unsafe { u.ring.submission_shared() }.is_empty() {
            return;
        }
        submit_call(core, u);
    }
}

/// One submitting `io_uring_enter` for whatever the SQ holds. Caller holds
/// the state lock.
fn submit_call(core: &Core, u: &Uring) {
    stats::add(&core.stats.submit_calls, 1);
    match u.ring.submit() {
        Ok(_) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {
            std::thread::yield_now()
        }
        Err(e) => panic!("bufpool-uring: io_uring_enter failed: {e}"),
    }
}

/// Drains the CQ. Caller holds the state lock.
fn reap(core: &Core, u: &Uring, st: &mut SlotTable, d: &mut Deferred) {
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
        debug_assert!(idx < st.len());
        debug_assert_eq!(st.stage(idx), Stage::Submitted);
        let slot = st.slot(idx);
        let sp = &slot.spec;
        // The chunk this CQE answers, as `submit_queued` computed it.
        let chunk = (sp.len - sp.done).min(MAX_CHUNK);
        let mut done = sp.done;
        let result = match on_result(sp.kind, sp.len, chunk, &mut done, core.faults.apply(i64::from(res))) {
            Next::Retry => {
                stats::add(&core.stats.retries, 1);
                st.set_done(idx, done);
                // Its owner queues it again on its next poll: it may be
                // leaked, and its descriptor number reused.
                st.continue_later(idx, d);
                continue;
            }
            Next::Done(n) => Ok(n),
            Next::Errno(e) if slot.cancelled => Err(io::Error::from_raw_os_error(e)),
            Next::Errno(e) => Err(op_error(e, sp.fd, sp.offset, sp.len, slot.buf_addr())),
            Next::WriteZero => Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0 bytes")),
        };
        st.finish(idx, result, d);
    }
}

/// The shard's completion thread (see "The completion thread" above).
pub(crate) fn completion_thread(core: &Core, u: &Uring) {
    let mut d = Deferred::default();
    loop {
        let mut st = core.lock();
        loop {
            if st.closing && st.in_use() == 0 {
                return;
            }
            if st.in_flight > 0 {
                break;
            }
            // Closing, slots in use, none in the kernel: impossible, as the
            // close freed every slot but those the kernel holds.
            debug_assert!(!st.closing, "closing with slots in use and none in flight");
            st.thread_idle = true;
            u.cv.wait(&mut st);
            st.thread_idle = false;
        }
        drop(st);
        stats::add(&core.stats.wait_calls, 1);
        // SAFETY: `enter` with no submissions and GETEVENTS only waits for a
        // completion; it touches neither the SQ nor the CQ memory, so it
        // needs no lock (a driver may be submitting or reaping meanwhile).
        let r = unsafe { u.ring.submitter().enter::<libc::sigset_t>(0, 1, ENTER_GETEVENTS, None) };
        if let Err(e) = r {
            if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) {
                panic!("bufpool-uring: io_uring_enter failed: {e}");
            }
        }
        let mut st = core.lock();
        drive_locked(core, u, &mut st, &mut d);
        drop(st);
        d.run();
    }
}
