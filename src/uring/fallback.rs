//! The thread backend: a few worker threads running `pread`/`pwrite`/`fsync`
//! on the same slots and queue as the io_uring backend, for kernels (or
//! sandboxes) without io_uring, and for tests.
//!
//! Each operation carries its own duplicate of the caller's descriptor (made
//! while the caller's borrow keeps the file open), so a worker can finish an
//! operation whose future was dropped and whose file the caller has closed.

use crate::uring::error::op_error;
use crate::uring::state::{Counters, Kick, Kind, Shared, Stage};
use crate::uring::{sys, Backend};
use crate::{BufferPool, PooledBuffer};
use parking_lot::{Condvar, MutexGuard};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::task::Waker;

/// Starts `threads` workers over a table of `entries` slots.
pub(crate) fn start(pool: &BufferPool, entries: usize, threads: usize) -> io::Result<Arc<Shared>> {
    let shared = Arc::new(Shared::new(pool.clone(), entries, Backend::Threads, Kick::Condvar(Condvar::new()), None));
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
        let res = MutexGuard::unlocked(&mut st, || {
            let r = match kind {
                // SAFETY: `ptr` is the slot's buffer, of capacity >= `len`.
                // The slot owns it until this operation is finished below (a
                // dropped future only marks the slot cancelled), and nobody
                // else touches it while the slot is `Submitted`.
                Kind::Read => unsafe { sys::pread(fd, ptr, len.min(1 << 30), offset) },
                // SAFETY: as above, read-only.
                Kind::Write => unsafe { sys::pwrite_all(fd, ptr, len, offset) },
                Kind::Fsync => sys::fsync(fd).map(|()| 0),
            };
            r.map_err(|e| match e.raw_os_error() {
                Some(errno) => op_error(errno, fd, offset, len, ptr as usize),
                None => e,
            })
        });
        st.finish(idx, res, &mut trash, &mut wake);
        flush(&mut st, &mut trash, &mut wake);
    }
}
