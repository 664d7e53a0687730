//! The io_uring backend: the futures drive the ring themselves, and a
//! completion thread waits only for completions that arrive later.
//!
//! # Driving
//!
//! Whoever holds `Uring::driver` drives: it takes every queued slot under the
//! state lock, builds their SQEs, hands them all to the kernel with one
//! `io_uring_enter`, then drains the CQ, finishing (or requeueing, for
//! `EINTR`, `EAGAIN` and short writes) each slot. Wakers run after the locks
//! are released.
//!
//! A future queues its operation on its first poll and wakes itself; it drives
//! on its second poll. In between, the executor polls its other ready futures,
//! which queue theirs, so one `io_uring_enter` covers the whole batch. Reads
//! served from the page cache complete inside that call, so the batch is done
//! when it returns, on the executor's own thread: no context switch, no
//! cross-thread wake-up. This is executor-agnostic: it needs only `Waker`s.
//!
//! A driver that finds the lock taken just returns: the holder re-checks the
//! queue (under the state lock) after releasing the driver, and drives again
//! if anything was queued meanwhile, so nothing is stranded.
//!
//! # The completion thread
//!
//! Operations that do not complete inline (a page-cache miss, `O_DIRECT`,
//! `fsync`) stay in flight. While any are, the completion thread blocks in
//! `io_uring_enter(GETEVENTS)` (without holding the driver lock), then drives
//! to reap them and wakes their futures from its thread. With nothing in
//! flight it sleeps on a condvar, woken by the driver that leaves operations
//! in flight. It exits once every `Ring` handle is gone and no slot is in use,
//! so nothing the kernel may still write to is ever freed.

use crate::uring::error::op_error;
use crate::uring::fixed::Arena;
use crate::uring::state::{on_result, Counters, Kick, Kind, Next, Shared, Stage, MAX_CHUNK};
use crate::uring::{Backend, Fault};
use crate::{BufferPool, PooledBuffer};
use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use parking_lot::{Condvar, Mutex};
use std::io;
use std::sync::Arc;
use std::task::Waker;

/// `user_data` of the no-op that wakes the completion thread at close. Slot
/// indexes are below 2^32.
const WAKE: u64 = u64::MAX;

/// `IORING_ENTER_GETEVENTS` from `<linux/io_uring.h>`.
const ENTER_GETEVENTS: u32 = 1;

/// The io_uring parts of `Shared`.
pub(crate) struct Uring {
    ring: IoUring,
    /// Exclusive use of the SQ and CQ. Its holder also owns the right to
    /// submit: a dropped future whose op is `Submitted` locks it once before
    /// returning, which waits out any submission in progress, so by the time
    /// the drop returns the kernel has consumed the SQE and holds its own
    /// reference to the file (and the caller may close it).
    pub(crate) driver: Mutex<Scratch>,
    /// The completion thread sleeps here while nothing is in flight.
    pub(crate) cv: Condvar,
}

/// Buffers the driver reuses between calls.
#[derive(Default)]
pub(crate) struct Scratch {
    sqes: Vec<squeue::Entry>,
    cqes: Vec<(u64, i32)>,
}

/// Opens a ring of `entries`, registers `fixed` arena buffers if given, and
/// starts the completion thread. Errors from `io_uring_setup` come back
/// unchanged so the caller can decide to fall back.
pub(crate) fn start(
    pool: &BufferPool,
    entries: usize,
    fixed: Option<(usize, usize)>,
    faults: Vec<Fault>,
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
    let uring = Uring { ring, driver: Mutex::new(Scratch::default()), cv: Condvar::new() };
    let shared =
        Arc::new(Shared::new(pool.clone(), entries, Backend::IoUring, Kick::Uring(Box::new(uring)), arena, faults));
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

/// Submits everything queued and reaps everything completed, unless another
/// thread is doing so (it will pick up what we queued).
pub(crate) fn drive(shared: &Shared) {
    let u = uring(shared);
    let mut trash: Vec<PooledBuffer> = Vec::new();
    let mut wake: Vec<Waker> = Vec::new();
    loop {
        let Some(mut scratch) = u.driver.try_lock() else { break };
        submit_queued(shared, u, &mut scratch, &mut trash, &mut wake);
        reap(shared, u, &mut scratch, &mut trash, &mut wake);
        drop(scratch);
        // Re-check under the state lock, which every enqueuer takes: an op
        // queued after our submission either is seen here, or was queued after
        // this check, when its own driver's `try_lock` cannot fail on us.
        let st = shared.state.lock();
        if st.pending.is_empty() {
            if st.in_flight > 0 && st.thread_idle {
                Counters::add(&shared.counters.wakeups, 1);
                u.cv.notify_one();
            }
            break;
        }
    }
    wake.into_iter().for_each(Waker::wake);
    drop(trash);
}

/// At close: if the completion thread is blocked in `io_uring_enter`, a
/// no-op's completion wakes it so it can see `closing` and exit.
pub(crate) fn wake_thread(shared: &Shared) {
    let u = uring(shared);
    let _driver = u.driver.lock();
    let nop = opcode::Nop::new().build().user_data(WAKE);
    loop {
        // SAFETY: the SQ is only touched by the holder of `driver`; a no-op
        // names no memory.
        if unsafe { u.ring.submission_shared().push(&nop) }.is_ok() {
            break;
        }
        flush(shared, u);
    }
    flush(shared, u);
}

/// Hands every queued operation to the kernel. Caller holds `driver`.
fn submit_queued(
    shared: &Shared,
    u: &Uring,
    scratch: &mut Scratch,
    trash: &mut Vec<PooledBuffer>,
    wake: &mut Vec<Waker>,
) {
    {
        let mut st = shared.state.lock();
        let st = &mut *st;
        while let Some(idx) = st.pending.pop_front() {
            debug_assert!((idx as usize) < st.slots.len());
            let slot = &mut st.slots[idx as usize];
            if slot.cancelled {
                st.release(idx, trash, wake);
                continue;
            }
            slot.stage = Stage::Submitted;
            let sp = &slot.spec;
            let fd = types::Fd(sp.fd);
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
            // No IOSQE_ASYNC, even for large transfers (which would then copy
            // in parallel on io-wq workers): a forced-async request resolves
            // its file descriptor later, on the worker, after a cancelled
            // caller may have closed it and reused the number.
            scratch.sqes.push(e.user_data(u64::from(idx)));
        }
        st.in_flight += scratch.sqes.len();
    }
    let n = scratch.sqes.len();
    if n == 0 {
        return;
    }
    Counters::add(&shared.counters.ops, n as u64);
    Counters::max(&shared.counters.max_batch, n as u64);
    let mut pushed = 0;
    while pushed < n {
        {
            // SAFETY: the SQ is only touched by the holder of `driver`.
            let mut sq = unsafe { u.ring.submission_shared() };
            while pushed < n {
                // SAFETY: each SQE names the buffer owned by its slot (or the
                // slot's arena buffer), and its file descriptor, which the
                // caller's live future keeps open; a slot is freed only after
                // its CQE is reaped (a dropped future only marks it
                // cancelled, after waiting for this submission).
                if unsafe { sq.push(&scratch.sqes[pushed]) }.is_err() {
                    break;
                }
                pushed += 1;
            }
        }
        flush(shared, u);
    }
    scratch.sqes.clear();
}

/// Submits the SQ until the kernel has consumed all of it. Caller holds `driver`.
fn flush(shared: &Shared, u: &Uring) {
    loop {
        // SAFETY: the SQ is only touched by the holder of `driver`.
        if unsafe { u.ring.submission_shared() }.is_empty() {
            return;
        }
        Counters::add(&shared.counters.submit_calls, 1);
        match u.ring.submit() {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {
                std::thread::yield_now()
            }
            Err(e) => panic!("bufpool-uring: io_uring_enter failed: {e}"),
        }
    }
}

/// Drains the CQ. Caller holds `driver`.
fn reap(shared: &Shared, u: &Uring, scratch: &mut Scratch, trash: &mut Vec<PooledBuffer>, wake: &mut Vec<Waker>) {
    {
        // SAFETY: the CQ is only touched by the holder of `driver`.
        let cq = unsafe { u.ring.completion_shared() };
        scratch.cqes.extend(cq.map(|c: cqueue::Entry| (c.user_data(), c.result())));
    }
    if scratch.cqes.is_empty() {
        return;
    }
    let mut st = shared.state.lock();
    let st = &mut *st;
    for &(ud, res) in &scratch.cqes {
        if ud == WAKE {
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
                Counters::add(&shared.counters.retries, 1);
                slot.stage = Stage::Queued;
                st.pending.push_back(idx);
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
    scratch.cqes.clear();
}

fn completion_thread(shared: &Shared) {
    let u = uring(shared);
    loop {
        {
            let mut st = shared.state.lock();
            loop {
                if st.closing && st.in_use() == 0 {
                    return;
                }
                if st.in_flight > 0 || (st.closing && !st.pending.is_empty()) {
                    break;
                }
                st.thread_idle = true;
                u.cv.wait(&mut st);
                st.thread_idle = false;
            }
            if st.in_flight == 0 {
                drop(st);
                drive(shared);
                continue;
            }
        }
        Counters::add(&shared.counters.wait_calls, 1);
        // SAFETY: `enter` with no submissions and GETEVENTS only waits for a
        // completion; it touches neither the SQ nor the CQ memory, so it may
        // run while another thread holds `driver`.
        let r = unsafe { u.ring.submitter().enter::<libc::sigset_t>(0, 1, ENTER_GETEVENTS, None) };
        if let Err(e) = r {
            if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) {
                panic!("bufpool-uring: io_uring_enter failed: {e}");
            }
        }
        if u.driver.is_locked() {
            // Its holder reaps; don't spin on it.
            std::thread::yield_now();
        }
        drive(shared);
    }
}
