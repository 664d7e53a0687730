//! The thread backend: a few worker threads running `pread`/`pwrite`/`fsync`
//! on the same slots and queue as the io_uring backend, for kernels (or
//! sandboxes) without io_uring, and for tests.
//!
//! Each operation carries its own duplicate of the caller's descriptor (made
//! while the caller's borrow keeps the file open), so a worker can finish an
//! operation whose future was dropped or leaked and whose file the caller
//! has closed. At close the workers run (or free, if cancelled) what is
//! queued, and exit once no slot is in use.

use crate::uring::error::op_error;
use crate::uring::slots::{on_result, Core, Deferred, Kind, Next, SlotTable, MAX_CHUNK};
use crate::uring::{stats, sys};
use parking_lot::{Condvar, MutexGuard};
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The workers' shared part.
#[derive(Default)]
pub(crate) struct Threads {
    /// Idle workers wait here.
    cv: Condvar,
}

impl Threads {
    /// Wakes a worker after work was queued (or every worker, at close). Call
    /// with the state lock held.
    pub(crate) fn notify_locked(&self, st: &SlotTable) {
        if st.idle_workers > 0 {
            if st.closing {
                self.cv.notify_all();
            } else {
                self.cv.notify_one();
            }
        }
    }
}

/// Runs `d` with the state lock released, if there is anything to run.
fn run_unlocked(st: &mut MutexGuard<'_, SlotTable>, d: &mut Deferred) {
    if !d.is_empty() {
        MutexGuard::unlocked(st, || d.run());
    }
}

/// One worker thread's loop.
pub(crate) fn worker(core: &Core, t: &Threads) {
    let mut d = Deferred::default();
    let mut st = core.lock();
    loop {
        let Some((idx, ptr)) = st.next_to_submit(None, &mut d) else {
            run_unlocked(&mut st, &mut d);
            if !st.pending_is_empty() {
                continue;
            }
            if st.closing && st.in_use() == 0 {
                t.cv.notify_all();
                return;
            }
            st.idle_workers += 1;
            t.cv.wait(&mut st);
            st.idle_workers -= 1;
            continue;
        };
        let sp = &st.slot(idx).spec;
        let (kind, offset, len) = (sp.kind, sp.offset, sp.len);
        let fd = sp.owned.as_ref().map_or(-1, |f| f.as_raw_fd());
        stats::add(&core.stats.ops, 1);
        let res = MutexGuard::unlocked(&mut st, || run(core, kind, fd, ptr, offset, len));
        st.finish(idx, res, &mut d);
        run_unlocked(&mut st, &mut d);
    }
}

/// Runs one operation to its end on this thread: one call per chunk, each
/// result judged by `on_result` (so `EINTR`/`EAGAIN` and short writes retry
/// exactly as on io_uring).
fn run(core: &Core, kind: Kind, fd: RawFd, ptr: *mut u8, offset: u64, len: usize) -> io::Result<usize> {
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
        match on_result(kind, len, chunk, &mut done, core.faults.apply(raw)) {
            Next::Retry => {
                stats::add(&core.stats.retries, 1);
                stats::add(&core.stats.ops, 1);
            }
            Next::Done(n) => return Ok(n),
            Next::Errno(e) => return Err(op_error(e, fd, offset, len, ptr as usize)),
            Next::WriteZero => return Err(io::Error::new(io::ErrorKind::WriteZero, "pwrite wrote 0 bytes")),
        }
    }
}
