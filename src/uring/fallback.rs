//! The thread backend: a few worker threads running `pread`/`pwrite`/`fsync`
//! on the same slots and queue as the io_uring backend, for kernels (or
//! sandboxes) without io_uring, and for tests.
//!
//! Each operation carries its own duplicate of the caller's descriptor (made
//! while the caller's borrow keeps the file open), so a worker can finish an
//! operation whose future was dropped and whose file the caller has closed.

use crate::uring::error::op_error;
use crate::uring::state::{on_result, Counters, Group, Kick, Kind, Next, Shared, Stage, MAX_CHUNK};
use crate::uring::{sys, Backend};
use crate::PooledBuffer;
use parking_lot::{Condvar, MutexGuard};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::Waker;

/// Starts `threads` workers over a table of `entries` slots.
pub(crate) fn start(entries: usize, threads: usize, group: Arc<Group>) -> io::Result<Arc<Shared>> {
    let kick = Kick::Condvar(Condvar::new());
    let shared = Arc::new(Shared::new(entries, Backend::Threads, kick, None, 0, group));
    for i in 0..threads.max(1) {
        let s = shared.clone();
        std::thread::Builder::new().name(format!("bufpool-io-{i}")).spawn(move || worker(&s))?;
    }
    Ok(shared)
}

fn condvar(shared: &Shared) -> &Condvar {
    match &shared.kick {
        Kick::Condvar(cv) => cv,
        Kick::Uring(_) => unreachable!("the thread backend wakes by condvar"),
    }
}

fn flush(st: &mut MutexGuard<'_, crate::uring::state::State>, trash: &mut Vec<PooledBuffer>, wake: &mut Vec<Waker>) {
    if trash.is_empty() && wake.is_empty() {
        return;
    }
    MutexGuard::unlocked(st, || {
        wake.drain(..).for_each(Waker::wake);
        trash.clear();
    });
}

fn worker(shared: &Shared) {
    let cv = condvar(shared);
    let mut trash = Vec::new();
    let mut wake = Vec::new();
    let mut st = shared.state.lock();
    loop {
        let Some(idx) = st.pending.pop_front() else {
            if st.closing && st.in_use() == 0 {
                cv.notify_all();
                return;
            }
            st.idle_workers += 1;
            cv.wait(&mut st);
            st.idle_workers -= 1;
            continue;
        };
        debug_assert!((idx as usize) < st.slots.len());
        let slot = &mut st.slots[idx as usize];
        if slot.cancelled {
            st.release(idx, &mut trash, &mut wake);
            flush(&mut st, &mut trash, &mut wake);
            continue;
        }
        slot.stage = Stage::Submitted;
        let sp = &slot.spec;
        let (kind, offset, len) = (sp.kind, sp.offset, sp.len);
        let fd = sp.owned.as_ref().map_or(-1, |f| f.as_raw_fd());
        let ptr = slot.buf.as_mut().map_or(std::ptr::null_mut(), |b| b.as_mut_ptr());
        Counters::add(&shared.counters.ops, 1);
        let res = MutexGuard::unlocked(&mut st, || run(shared, kind, fd, ptr, offset, len));
        st.finish(idx, res, &mut trash, &mut wake);
        flush(&mut st, &mut trash, &mut wake);
    }
}

/// Runs one operation to its end on this thread: one call per chunk, each
/// result judged by `on_result` (so `EINTR`/`EAGAIN` and short writes retry
/// exactly as on io_uring).
fn run(shared: &Shared, kind: Kind, fd: RawFd, ptr: *mut u8, offset: u64, len: usize) -> io::Result<usize> {
    let mut done = 0;
    loop {
        let chunk = (len - done).min(MAX_CHUNK);
        // `done <= len`, the buffer's capacity, so this stays in bounds.
        let p = ptr.wrapping_add(done);
        let at = offset + done as u64;
        let raw = match kind {
            // SAFETY: `ptr` is the slot's buffer, of capacity >= `len`, so
            // `p[..chunk]` lies inside it. The slot owns it until this
            // operation is finished by the worker (a dropped future only
            // marks the slot cancelled), and nobody else touches it while the
            // slot is `Submitted`.
            Kind::Read => unsafe { sys::pread(fd, p, chunk, at) },
            // SAFETY: as above, read-only.
            Kind::Write => unsafe { sys::pwrite(fd, p, chunk, at) },
            Kind::Fsync => sys::fsync(fd),
        };
        match on_result(kind, len, chunk, &mut done, shared.fault(raw)) {
            Next::Retry => {
                Counters::add(&shared.counters.retries, 1);
                Counters::add(&shared.counters.ops, 1);
            }
            Next::Done(n) => return Ok(n),
            Next::Errno(e) => return Err(op_error(e, fd, offset, len, ptr as usize)),
            Next::WriteZero => return Err(io::Error::new(io::ErrorKind::WriteZero, "pwrite wrote 0 bytes")),
        }
    }
}
