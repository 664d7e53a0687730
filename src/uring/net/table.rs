//! A socket shard's operation table: [`Tok`] handles with generations, each
//! operation's state ([`OpState`]: owner, in-flight, its kind's queue or
//! buffers), and the shard's [`NetState`] (the table, the buffer ring,
//! queued arms, the fixed-file slots), all under the shard's state lock.

use crate::uring::net::bufring::BufRing;
use crate::uring::net::gather::Gather;
use crate::PooledBuffer;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;

/// A recv stream without a fixed-file slot (it names its socket's number).
pub(crate) const NO_FILE: u32 = u32::MAX;

/// An operation's handle: its table index and the generation of the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    pub(crate) idx: u32,
    pub(crate) gen: u32,
}

impl Tok {
    pub(crate) fn user_data(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.idx)
    }
}

/// One socket operation's state, owned by the table while the kernel may
/// touch it.
pub(crate) struct OpState {
    /// False once the owner (stream or future) is dropped.
    pub(crate) owner: bool,
    /// A request of this operation is in the kernel (its last completion
    /// not reaped).
    pub(crate) inflight: bool,
    /// An `ASYNC_CANCEL` was sent for the request in flight.
    pub(crate) cancelled: bool,
    pub(crate) waker: Option<Waker>,
    pub(crate) kind: Kind,
}

pub(crate) enum Kind {
    Recv(RecvSt),
    /// Boxed: a send's state is larger than a recv's, and every idle
    /// connection's table entry is a recv.
    Send(Box<SendSt>),
    Accept(Option<io::Result<RawFd>>),
    /// A multishot accept: the sockets (or errors) not yet yielded.
    Incoming(VecDeque<io::Result<RawFd>>),
}

pub(crate) struct RecvSt {
    /// The socket's slot in the fixed-file table, or `NO_FILE`.
    pub(crate) file: u32,
    /// An arm is queued for the completion thread (not yet submitted).
    pub(crate) arming: bool,
    pub(crate) queue: VecDeque<PooledBuffer>,
    pub(crate) queued: usize,
    pub(crate) eof: bool,
    pub(crate) err: Option<io::Error>,
}

pub(crate) struct SendSt {
    pub(crate) g: Gather,
    /// A short send or `EINTR`/`EAGAIN`: the owner's next poll continues.
    pub(crate) resubmit: bool,
    pub(crate) result: Option<io::Result<()>>,
}

pub(crate) struct Slot {
    pub(crate) gen: u32,
    pub(crate) op: Option<OpState>,
}

pub(crate) struct NetState {
    pub(crate) slots: Vec<Slot>,
    pub(crate) free: Vec<u32>,
    pub(crate) bufs: BufRing,
    /// Operations with a request in the kernel.
    pub(crate) inflight: usize,
    pub(crate) closing: bool,
    /// Recv streams `ENOBUFS` ended, to wake once the ring has buffers.
    pub(crate) starved: Vec<Tok>,
    /// Wakers a submitter's reap found (on `EBUSY`), for the completion
    /// thread to run.
    pub(crate) deferred: Vec<Waker>,
    /// Recv arms for the completion thread to submit: the stream and its
    /// fixed-file slot.
    pub(crate) arms: Vec<(Tok, u32)>,
    /// A no-op that wakes the completion thread for `arms` is in flight.
    pub(crate) arm_wake: bool,
    /// Free fixed-file slots, and the next never used one (below `files`).
    pub(crate) files_free: Vec<u32>,
    pub(crate) files_next: u32,
    pub(crate) files: u32,
}

impl NetState {
    pub(crate) fn alloc(&mut self, kind: Kind) -> Tok {
        let op = OpState { owner: true, inflight: false, cancelled: false, waker: None, kind };
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { gen: 0, op: None });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[idx as usize];
        s.op = Some(op);
        Tok { idx, gen: s.gen }
    }

    pub(crate) fn get(&mut self, t: Tok) -> Option<&mut OpState> {
        let s = self.slots.get_mut(t.idx as usize)?;
        if s.gen != t.gen {
            return None;
        }
        s.op.as_mut()
    }

    pub(crate) fn release(&mut self, t: Tok) -> Option<OpState> {
        let s = self.slots.get_mut(t.idx as usize)?;
        if s.gen != t.gen {
            return None;
        }
        let op = s.op.take();
        s.gen = s.gen.wrapping_add(1) % (u32::MAX - 1);
        self.free.push(t.idx);
        op
    }

    pub(crate) fn file_slot(&mut self) -> Option<u32> {
        self.files_free.pop().or_else(|| {
            (self.files_next < self.files).then(|| {
                self.files_next += 1;
                self.files_next - 1
            })
        })
    }

    pub(crate) fn by_user_data(&self, ud: u64) -> Option<Tok> {
        let t = Tok { idx: ud as u32, gen: (ud >> 32) as u32 };
        let s = self.slots.get(t.idx as usize)?;
        (s.gen == t.gen && s.op.is_some()).then_some(t)
    }
}

/// Closes the accepted descriptors a released operation still holds (its
/// owner is gone, or never took them).
pub(crate) fn close_accepted(op: Option<OpState>) {
    let fds: Vec<RawFd> = match op.map(|o| o.kind) {
        Some(Kind::Accept(Some(Ok(fd)))) => vec![fd],
        Some(Kind::Incoming(q)) => q.into_iter().filter_map(Result::ok).collect(),
        _ => Vec::new(),
    };
    for fd in fds {
        // SAFETY: an accepted descriptor nobody else owns or will take.
        unsafe { libc::close(fd) };
    }
}
