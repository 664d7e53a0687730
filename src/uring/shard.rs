//! [`RingShard`]: one io_uring instance (or the thread pool) with its slot
//! table, and [`Shards`]: all of a ring's shards and what they share.
//!
//! This file holds the only `match` on the backend: the front ends (`op.rs`,
//! `many.rs`, `registered.rs`) ask a shard to queue, drive, duplicate a
//! descriptor or register a file, and each backend answers in its own way.

use crate::uring::backend::threads::{self, Threads};
use crate::uring::backend::uring::{self, Uring};
use crate::uring::faults::Faults;
use crate::uring::fork;
use crate::uring::slots::{Core, Deferred, SlotTable, Spec};
use crate::uring::sys;
use crate::uring::waiters::Waiters;
use crate::{BufferPool, PooledBuffer};
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;

/// Which engine runs a [`Ring`](crate::uring::Ring)'s operations.
///
/// ```
/// use bufpool::uring::{Backend, Ring};
/// let pool = bufpool::BufferPool::new();
/// let ring = Ring::builder(&pool).force_fallback(true).build()?;
/// assert_eq!(ring.backend(), Backend::Threads);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The kernel's io_uring interface.
    IoUring,
    /// A small thread pool calling `pread`/`pwrite`/`fsync`.
    Threads,
}

/// The engine behind a shard.
enum Driver {
    /// Boxed: the ring is large, and most of a shard's readers only look at
    /// its `Core`.
    Uring(Box<Uring>),
    Threads(Threads),
}

/// One shard: its slots and their engine.
pub(crate) struct RingShard {
    pub(crate) core: Core,
    driver: Driver,
}

impl RingShard {
    /// Opens an io_uring shard of `entries` slots (with `fixed` arena
    /// buffers, if given) and starts its completion thread. Errors from
    /// `io_uring_setup` come back unchanged, so the caller can fall back.
    pub(crate) fn start_uring(
        pool: &BufferPool,
        entries: usize,
        fixed: Option<(usize, usize)>,
        waiters: Arc<Waiters>,
        faults: Arc<Faults>,
    ) -> io::Result<Arc<Self>> {
        let o = uring::open(pool, entries, fixed)?;
        let core = Core::new(entries, o.arena, o.files, waiters, faults);
        let shard = Arc::new(RingShard { core, driver: Driver::Uring(Box::new(o.uring)) });
        let s = shard.clone();
        std::thread::Builder::new().name("bufpool-uring".into()).spawn(move || s.run_thread())?;
        Ok(shard)
    }

    /// The thread backend: one shard of `entries` slots, `threads` workers.
    pub(crate) fn start_threads(
        entries: usize,
        threads: usize,
        waiters: Arc<Waiters>,
        faults: Arc<Faults>,
    ) -> io::Result<Arc<Self>> {
        let core = Core::new(entries, None, 0, waiters, faults);
        let shard = Arc::new(RingShard { core, driver: Driver::Threads(Threads::default()) });
        for i in 0..threads.max(1) {
            let s = shard.clone();
            std::thread::Builder::new().name(format!("bufpool-io-{i}")).spawn(move || s.run_thread())?;
        }
        Ok(shard)
    }

    /// The body of each of the shard's threads: it returns once the shard is
    /// closed and no slot is in use.
    fn run_thread(&self) {
        match &self.driver {
            Driver::Uring(u) => uring::completion_thread(&self.core, u),
            Driver::Threads(t) => threads::worker(&self.core, t),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.driver {
            Driver::Uring(_) => Backend::IoUring,
            Driver::Threads(_) => Backend::Threads,
        }
    }

    /// What an operation on `fd` must own while it waits: the thread
    /// backend's duplicate of it (its worker may run the call after the
    /// owner and its borrow are gone); nothing for io_uring, which hands the
    /// kernel the number only inside the owner's poll.
    pub(crate) fn own_fd(&self, fd: RawFd) -> io::Result<Option<OwnedFd>> {
        match self.driver {
            Driver::Uring(_) => Ok(None),
            Driver::Threads(_) => sys::dup(fd).map(Some),
        }
    }

    /// Fills free slot `idx` (just taken, under the state lock `st`) and
    /// queues it. io_uring: unless `spec` names a registered-file entry, the
    /// caller then drives (`drive_locked`) before it releases the lock; it
    /// stores a waker only if its operation is not done then. Threads: the
    /// slot keeps `waker`, and a worker is woken.
    #[inline]
    pub(crate) fn queue(&self, st: &mut SlotTable, idx: u32, spec: Spec, buf: Option<PooledBuffer>, waker: &Waker) {
        match &self.driver {
            Driver::Uring(_) => st.fill(idx, spec, buf, None, self.core.arena.as_ref()),
            Driver::Threads(t) => {
                st.fill(idx, spec, buf, Some(waker), None);
                t.notify_locked(st);
            }
        }
    }

    /// Drives the shard under the state lock `st`: io_uring submits what is
    /// queued and reaps; the thread backend's workers need no driving.
    #[inline]
    pub(crate) fn drive_locked(&self, st: &mut SlotTable, d: &mut Deferred) {
        if let Driver::Uring(u) = &self.driver {
            uring::drive_locked(&self.core, u, st, d);
        }
    }

    /// Puts `fd` in the shard's registered file table, if it has one with
    /// room (io_uring only); see `uring::register_file`.
    pub(crate) fn register_file(&self, st: &mut SlotTable, fd: RawFd) -> Option<u32> {
        match &self.driver {
            Driver::Uring(u) => uring::register_file(u, st, fd),
            Driver::Threads(_) => None,
        }
    }

    /// Clears entry `i` of the registered file table (from `register_file`).
    pub(crate) fn unregister_file(&self, i: u32) {
        if let Driver::Uring(u) = &self.driver {
            uring::unregister_file(&self.core, u, i);
        }
    }

    /// The owner of slots `idxs` is gone (see `SlotTable::cancel`).
    pub(crate) fn cancel(&self, idxs: &[u32]) {
        let mut d = Deferred::default();
        let mut st = self.core.lock();
        st.cancel(idxs, &mut d);
        if let Driver::Uring(u) = &self.driver {
            // A queued slot just left: its file table entry may be free to go.
            uring::clear_orphans(u, &mut st);
        }
        drop(st);
        d.run();
    }

    /// Every `Ring` handle is gone: frees what the backend no longer
    /// touches, cancels the rest, and lets the backend threads exit once they
    /// are done with it.
    fn close(&self) {
        match &self.driver {
            Driver::Uring(u) => uring::close(&self.core, u),
            Driver::Threads(t) => {
                let mut d = Deferred::default();
                let mut st = self.core.lock();
                st.close(&mut d);
                t.notify_locked(&st);
                drop(st);
                d.run();
            }
        }
    }
}

/// A ring's shards and what they share; a `Ring` is an `Arc` of this.
pub(crate) struct Shards {
    /// One for the thread backend; see `RingBuilder::shards`.
    list: Vec<Arc<RingShard>>,
    pub(crate) entries: usize,
    /// Owners waiting for a free slot in any shard.
    pub(crate) waiters: Arc<Waiters>,
    pub(crate) pool: BufferPool,
    /// The fork generation the ring was built in (see `fork.rs`).
    pub(crate) fork_gen: u64,
}

impl Shards {
    pub(crate) fn new(entries: usize, pool: BufferPool, waiters: Arc<Waiters>, fork_gen: u64) -> Self {
        Shards { list: Vec::new(), entries, waiters, pool, fork_gen }
    }

    pub(crate) fn push(&mut self, shard: Arc<RingShard>) {
        self.list.push(shard);
    }

    #[inline]
    pub(crate) fn get(&self, k: usize) -> &RingShard {
        &self.list[k]
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &RingShard> {
        self.list.iter().map(|s| &**s)
    }

    /// Which engine runs the shards (all run the same one).
    pub(crate) fn backend(&self) -> Backend {
        self.list.first().map_or(Backend::Threads, |s| s.backend())
    }

    /// True in a forked child (see `fork.rs`): the ring is the parent's.
    #[inline]
    pub(crate) fn forked(&self) -> bool {
        fork::forked(self.fork_gen)
    }

    /// Leaves the ring's wait queue (`ticket`) after taking a slot. If a
    /// releaser already woke us (took us off the queue) for a slot we did not
    /// use, the wake-up is passed on while free slots remain.
    pub(crate) fn leave_queue(&self, ticket: u64) {
        if !self.waiters.leave(ticket) && self.iter().any(|s| s.core.lock().has_free()) {
            self.waiters.wake_next();
        }
    }

    /// The calling thread's shard: by the thread's number
    /// (`sync::thread_id`, handed out in the order threads first use the
    /// crate), so a runtime's workers spread over the shards.
    #[inline]
    pub(crate) fn local_index(&self) -> usize {
        use std::cell::Cell;
        thread_local! {
            /// The last (shard count, shard) this thread computed: a division
            /// costs more than the rest of this function, and a thread almost
            /// always uses rings of one size.
            static LAST: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
        }
        match self.list.len() {
            1 => 0,
            n => {
                let (last_n, last) = LAST.get();
                if last_n == n {
                    return last;
                }
                let k = crate::sync::thread_id() as usize % n;
                LAST.set((n, k));
                k
            }
        }
    }
}

impl Drop for Shards {
    /// No future or stream is alive (each borrows a `Ring`); leaked ones give
    /// up their slots here, and the backend threads exit once the kernel (or
    /// a worker) is done with every slot (see "Closing" in
    /// `backend/uring.rs`).
    fn drop(&mut self) {
        if self.forked() {
            // The parent's ring: leave it alone (see `fork.rs`).
            return;
        }
        for shard in &self.list {
            shard.close();
        }
    }
}
