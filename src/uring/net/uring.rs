//! The io_uring engine for sockets: per ring shard, one io_uring instance
//! with one provided-buffer ring, a table of socket operations and a
//! completion thread.
//!
//! * **One lock.** The shard's state lock guards the SQ, the CQ, the
//!   operation table and the buffer ring. Whoever reaps holds it: the
//!   completion thread (once per batch of completions), a send's poll (its
//!   own completion usually arrives inside the submitting `io_uring_enter`,
//!   so the send returns in that poll), or a submitter that met `EBUSY`.
//!   The reaper hands each picked buffer to its stream and refills the slot
//!   from the pool at once, so the ring's tail is written under the lock,
//!   one writer at a time, with no lock per buffer.
//! * **Descriptors.** A request naming a socket by number (`SEND`,
//!   `ACCEPT`) is pushed and submitted (`io_uring_enter`) inside one poll of
//!   its owner, under the lock, so the kernel resolves the number while the
//!   owner still borrows the socket; continuing a short send waits for the
//!   owner's next poll. A recv stream's first poll instead puts its socket in
//!   the shard's fixed-file table (`IORING_REGISTER_FILES_UPDATE` resolves
//!   the number then, and the table holds the file itself), and its multishot
//!   names the table slot, never a number; the slot is cleared once the
//!   request has ended. A leaked stream's slot keeps its socket open until
//!   the ring closes, but never names a reused number. Cancellations
//!   (`ASYNC_CANCEL` by `user_data`) name no descriptor, so anyone may submit
//!   them.
//! * **Who arms a recv.** The kernel runs a request's receive work (task
//!   work) on the thread that submitted it. A multishot submitted from the
//!   completion thread has its data copied there, in the wake-up that also
//!   reaps it; submitted from the owner's thread it would interrupt that
//!   thread (a signal-like task-work run, contending for the socket lock
//!   with the sender) and then wake the completion thread too. So a fixed
//!   slot's arm (and re-arm) is queued for the completion thread, which a
//!   no-op wakes. Without a free slot, the owner submits with the number.
//! * **Streams end cleanly.** Dropping a recv stream cancels its multishot
//!   and waits (on `cv`) until the completion thread has reaped the request's
//!   last completion: every buffer the kernel picked for it is back in the
//!   pool before the drop returns.

use crate::uring::net::bufring::BufRing;
use crate::uring::net::config::{NetConfig, NetStats};
use crate::uring::net::gather::{Bufs, Gather};
pub(crate) use crate::uring::net::table::Tok;
use crate::uring::net::table::{close_accepted, Kind, NetState, OpState, RecvSt, SendSt, NO_FILE};
use crate::uring::stats::add;
use crate::{BufferPool, PooledBuffer};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// `user_data` of the no-op that wakes the completion thread at close, and
/// of cancellations. Operation tokens have a generation below `u32::MAX`.
const WAKE: u64 = u64::MAX;
const CANCEL: u64 = u64::MAX - 1;
/// `IORING_ENTER_GETEVENTS`.
const ENTER_GETEVENTS: u32 = 1;
/// The buffer group id of the shard's ring.
const BGID: u16 = 0;
/// `IORING_NOTIF_USAGE_ZC_COPIED`: a zero-copy send's notification result
/// bit saying the kernel copied the data after all.
const ZC_COPIED: u32 = 1 << 31;
/// `IORING_SEND_ZC_REPORT_USAGE`: ask for that bit.
const ZC_REPORT_USAGE: u16 = 1 << 3;

/// One shard's socket engine.
pub(crate) struct NetShard {
    /// SQ under `st`; the CQ is read only by the completion thread.
    ring: IoUring,
    st: Mutex<NetState>,
    /// Dropped streams wait here for their request's last completion.
    cv: Condvar,
    pub(crate) stats: NetStats,
    /// `RingBuilder::recv_queue_limit`.
    queue_limit: usize,
    /// `RingBuilder::send_zerocopy_above`.
    zerocopy_above: usize,
}

/// Why a shard could not start: the kernel lacks what it needs (fall back),
/// or another error.
pub(crate) fn start(pool: &BufferPool, cfg: &NetConfig) -> io::Result<Arc<NetShard>> {
    let (count, size) = (cfg.count, cfg.size);
    let ring: IoUring = IoUring::builder().setup_cqsize((4 * count as u32).max(4096)).build(256)?;
    // The fixed-file table for recv streams: as many slots as this process
    // may have descriptors (the kernel's own limit), at most 65536; none if
    // the kernel refuses one (streams then name their numbers).
    let files = fixed_files_limit();
    let files = if files > 0 && ring.submitter().register_files_sparse(files).is_ok() { files } else { 0 };
    let bufs = BufRing::new(pool, count, size)?;
    // SAFETY: `bufs` maps `count` entries, page aligned, and lives in the
    // shard's state until the completion thread unregisters the group (or
    // the ring is closed with no request left).
    unsafe { ring.submitter().register_buf_ring_with_flags(bufs.addr(), bufs.count(), BGID, 0)? };
    let st = NetState {
        slots: Vec::new(),
        free: Vec::new(),
        bufs,
        inflight: 0,
        closing: false,
        starved: Vec::new(),
        deferred: Vec::new(),
        arms: Vec::new(),
        arm_wake: false,
        files_free: Vec::new(),
        files_next: 0,
        files,
    };
    let shard = Arc::new(NetShard {
        ring,
        st: Mutex::new(st),
        cv: Condvar::new(),
        stats: NetStats::default(),
        queue_limit: cfg.queue_limit,
        zerocopy_above: cfg.zerocopy_above,
    });
    let s = shard.clone();
    std::thread::Builder::new().name("bufpool-net".into()).spawn(move || s.completion_thread())?;
    Ok(shard)
}

impl NetShard {
    /// Pushes `e` and submits everything queued, under the lock.
    fn submit(&self, st: &mut NetState, e: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the SQ is touched only under the state lock, which the
            // caller holds (`st`); every pointer in `e` points into the
            // table's state, which outlives the request.
            if unsafe { self.ring.submission_shared().push(e) }.is_ok() {
                break;
            }
            self.enter_submit(st)?;
        }
        self.enter_submit(st)
    }

    /// One submitting `io_uring_enter` for what the SQ holds, under the
    /// lock. `EBUSY` (completions the CQ has no room for wait in the
    /// kernel) is met by reaping here, under the same lock, and trying
    /// again; the wakers found are left for the completion thread, which a
    /// no-op wakes.
    fn enter_submit(&self, st: &mut NetState) -> io::Result<()> {
        loop {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    let mut r = Reaped::default();
                    self.reap_locked(st, &mut r);
                    // Buffers go home and droppers are released under the
                    // lock; neither takes it.
                    drop(r.gone);
                    if r.notify {
                        self.cv.notify_all();
                    }
                    // A no-op meant for the completion thread (arms queued)
                    // is reaped here: send it another.
                    if !r.wake.is_empty() || (r.woke && st.arm_wake) {
                        st.deferred.append(&mut r.wake);
                        let nop = opcode::Nop::new().build().user_data(WAKE);
                        // SAFETY: as in `submit`; a no-op names nothing.
                        let _ = unsafe { self.ring.submission_shared().push(&nop) };
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Asks the kernel to cancel `t`'s request; true (and the operation
    /// marked cancelled) if the cancellation was submitted. A failed one
    /// leaves the request running until it ends by itself or the ring
    /// closes (which cancels it again).
    fn cancel(&self, st: &mut NetState, t: Tok) -> bool {
        let e = opcode::AsyncCancel::new(t.user_data()).build().user_data(CANCEL);
        let ok = self.submit(st, &e).is_ok();
        if let Some(op) = st.get(t).filter(|_| ok) {
            op.cancelled = true;
        }
        ok
    }

    /// Arms `t`'s multishot: queued for the completion thread if the stream
    /// has a fixed-file slot, else submitted here with the number `fd`.
    fn arm_recv(&self, st: &mut NetState, t: Tok, fd: RawFd) -> io::Result<()> {
        let file = match st.get(t).map(|o| &mut o.kind) {
            Some(Kind::Recv(r)) if r.file != NO_FILE => Some(r.file),
            _ => None,
        };
        if let Some(slot) = file {
            if let Some(Kind::Recv(r)) = st.get(t).map(|o| &mut o.kind) {
                r.arming = true;
            }
            st.arms.push((t, slot));
            if !st.arm_wake {
                st.arm_wake = true;
                let nop = opcode::Nop::new().build().user_data(WAKE);
                self.submit(st, &nop)?;
            }
            return Ok(());
        }
        let e = opcode::RecvMulti::new(types::Fd(fd), BGID).build().user_data(t.user_data());
        self.submit(st, &e)?;
        st.inflight += 1;
        if let Some(op) = st.get(t) {
            op.inflight = true;
            op.cancelled = false;
        }
        Ok(())
    }

    /// In the completion thread: submits the queued arms (the kernel then
    /// runs their receive work on this thread).
    fn submit_arms(&self, st: &mut NetState) {
        st.arm_wake = false;
        for (t, slot) in std::mem::take(&mut st.arms) {
            let closing = st.closing;
            let Some(op) = st.get(t) else { continue };
            let Kind::Recv(r) = &mut op.kind else { continue };
            if !std::mem::take(&mut r.arming) || !op.owner || op.inflight || closing {
                continue;
            }
            let e = opcode::RecvMulti::new(types::Fixed(slot), BGID).build().user_data(t.user_data());
            if let Err(e) = self.submit(st, &e) {
                let op = st.get(t).expect("live");
                if let Kind::Recv(r) = &mut op.kind {
                    r.err = Some(e);
                }
                if let Some(w) = op.waker.take() {
                    st.deferred.push(w);
                }
                continue;
            }
            st.inflight += 1;
            let op = st.get(t).expect("live");
            op.inflight = true;
            op.cancelled = false;
        }
    }

    /// Frees `t`'s table entry, and its fixed-file slot (the request has
    /// ended, so nothing uses the slot's file any more).
    fn release(&self, st: &mut NetState, t: Tok) -> Option<OpState> {
        let op = st.release(t)?;
        if let Kind::Recv(RecvSt { file, .. }) = &op.kind {
            if *file != NO_FILE && self.ring.submitter().register_files_update(*file, &[-1]).is_ok() {
                st.files_free.push(*file);
            }
        }
        Some(op)
    }

    fn lock(&self) -> MutexGuard<'_, NetState> {
        self.st.lock()
    }

    /// A recv stream's poll (`tok` is `None` before its first).
    pub(crate) fn poll_recv(
        &self,
        tok: &mut Option<Tok>,
        fd: RawFd,
        limit: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<PooledBuffer>>> {
        let mut st = self.lock();
        let t = match *tok {
            Some(t) => t,
            None => {
                // The socket into the fixed-file table, while the caller
                // borrows it.
                let file =
                    st.file_slot().and_then(|slot| match self.ring.submitter().register_files_update(slot, &[fd]) {
                        Ok(_) => Some(slot),
                        Err(_) => {
                            st.files_free.push(slot);
                            None
                        }
                    });
                let rs = RecvSt {
                    file: file.unwrap_or(NO_FILE),
                    arming: false,
                    queue: VecDeque::new(),
                    queued: 0,
                    eof: false,
                    err: None,
                };
                let t = st.alloc(Kind::Recv(rs));
                *tok = Some(t);
                if let Err(e) = self.arm_recv(&mut st, t, fd) {
                    return Poll::Ready(Some(Err(e)));
                }
                t
            }
        };
        let Some(op) = st.get(t) else { return Poll::Ready(None) };
        let inflight = op.inflight;
        let Kind::Recv(r) = &mut op.kind else { unreachable!("a recv token names a recv") };
        let out = if let Some(buf) = r.queue.pop_front() {
            r.queued -= buf.len();
            Some(Some(Ok(buf)))
        } else if let Some(e) = r.err.take() {
            r.eof = true;
            Some(Some(Err(e)))
        } else if r.eof {
            Some(None)
        } else {
            None
        };
        let rearm = !inflight && !r.arming && !r.eof && r.err.is_none() && r.queued < limit;
        if rearm {
            // Ended by ENOBUFS, by the queue bound or by a spurious end:
            // receive again if the ring has buffers (it is refilled as
            // completions are reaped; retry refills the pool refused).
            let has_bufs = st.bufs.refill_empty() || st.bufs.missing() < usize::from(st.bufs.count());
            if has_bufs {
                add(&self.stats.rearms, 1);
                if let Err(e) = self.arm_recv(&mut st, t, fd) {
                    if out.is_none() {
                        return Poll::Ready(Some(Err(e)));
                    }
                    if let Some(Kind::Recv(r)) = st.get(t).map(|o| &mut o.kind) {
                        r.err = Some(e);
                    }
                }
            } else {
                // No buffer in the ring: the completion thread wakes us
                // after its next refill.
                st.starved.push(t);
            }
        }
        if let Some(out) = out {
            return Poll::Ready(out);
        }
        let op = st.get(t).expect("live");
        match &op.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => op.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The recv stream is dropped: cancels its multishot, and returns once
    /// every buffer picked for it is back in the pool.
    pub(crate) fn drop_recv(&self, t: Tok) {
        let mut st = self.lock();
        let Some(op) = st.get(t) else { return };
        op.owner = false;
        op.waker = None;
        let queued = match &mut op.kind {
            Kind::Recv(r) => std::mem::take(&mut r.queue),
            _ => VecDeque::new(),
        };
        if op.inflight {
            let cancelled = op.cancelled || self.cancel(&mut st, t);
            // The completion thread releases the entry on the last
            // completion (owner gone) and notifies. Without a cancellation
            // in the kernel that could be never (an idle socket): then the
            // entry is left to the reaper, and its buffers go home when the
            // request ends.
            while cancelled && st.get(t).is_some() {
                self.cv.wait(&mut st);
            }
        } else {
            // A queued arm of this token is skipped by the completion thread.
            self.release(&mut st, t);
        }
        drop(st);
        drop(queued);
    }

    /// A send future's poll: submits on the first, continues short sends.
    pub(crate) fn poll_send(
        &self,
        tok: &mut Option<Tok>,
        fd: RawFd,
        bufs: &mut Option<Bufs>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Bufs>> {
        let mut st = self.lock();
        let t = match *tok {
            Some(t) => t,
            None => {
                let g = Gather::new(bufs.take().expect("a send future polled after completion"));
                if g.done() {
                    return Poll::Ready(Ok(g.into_bufs()));
                }
                let t = st.alloc(Kind::Send(Box::new(SendSt { g, resubmit: true, result: None })));
                *tok = Some(t);
                t
            }
        };
        // A send the socket has room for completes inside the submitting
        // `io_uring_enter`: reap it here, under the lock, and return it in
        // this poll, with no completion-thread wake-up; a short send
        // continues here too.
        let mut r = Reaped::default();
        let out = loop {
            let Some(op) = st.get(t) else { break Some(Err(io::Error::other("send state lost"))) };
            // A zero-copy send's buffers stay the kernel's until its
            // notification, the request's last completion.
            let inflight = op.inflight;
            let Kind::Send(s) = &mut op.kind else { unreachable!("a send token names a send") };
            if s.result.is_some() && !inflight {
                let Some(OpState { kind: Kind::Send(s), .. }) = st.release(t) else { unreachable!() };
                *tok = None;
                let SendSt { g, result, .. } = *s;
                break Some(result.expect("checked").map(|()| g.into_bufs()));
            }
            if !s.resubmit || inflight {
                op.waker = Some(cx.waker().clone());
                break None;
            }
            s.resubmit = false;
            let zc = s.g.rest_at_least(self.zerocopy_above);
            if zc {
                add(&self.stats.send_zc, 1);
            }
            // The buffers (and the msghdr) stay in the table until the
            // request's last completion is reaped.
            let e = match (s.g.single(), zc) {
                (Some((p, n)), false) => opcode::Send::new(types::Fd(fd), p, n.min(u32::MAX as usize) as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build(),
                (Some((p, n)), true) => opcode::SendZc::new(types::Fd(fd), p, n.min(u32::MAX as usize) as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .zc_flags(ZC_REPORT_USAGE)
                    .build(),
                (None, false) => {
                    opcode::SendMsg::new(types::Fd(fd), s.g.msg()).flags(libc::MSG_NOSIGNAL as u32).build()
                }
                (None, true) => {
                    // A SENDMSG_ZC carries its zero-copy flags in `ioprio`.
                    opcode::SendMsgZc::new(types::Fd(fd), s.g.msg())
                        .flags(libc::MSG_NOSIGNAL as u32)
                        .ioprio(ZC_REPORT_USAGE)
                        .build()
                }
            }
            .user_data(t.user_data());
            if let Err(e) = self.submit(&mut st, &e) {
                st.release(t);
                *tok = None;
                break Some(Err(e));
            }
            st.inflight += 1;
            st.get(t).expect("live").inflight = true;
            self.reap_locked(&mut st, &mut r);
            if std::mem::take(&mut r.woke) && st.arm_wake {
                // The completion thread's wake-up for queued arms was reaped
                // here: send it another.
                let _ = self.submit(&mut st, &opcode::Nop::new().build().user_data(WAKE));
            }
            if st.get(t).is_some_and(|op| op.inflight) {
                // Not done inline: the completion thread wakes us.
                st.get(t).expect("live").waker = Some(cx.waker().clone());
                break None;
            }
        };
        drop(std::mem::take(&mut r.gone));
        drop(st);
        if r.notify {
            self.cv.notify_all();
        }
        for w in r.wake {
            w.wake();
        }
        match out {
            Some(o) => Poll::Ready(o),
            None => Poll::Pending,
        }
    }

    /// An accept future's poll: submits on the first.
    pub(crate) fn poll_accept(
        &self,
        tok: &mut Option<Tok>,
        fd: RawFd,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<RawFd>> {
        let mut st = self.lock();
        let t = match *tok {
            Some(t) => t,
            None => {
                let t = st.alloc(Kind::Accept(None));
                *tok = Some(t);
                let e = opcode::Accept::new(types::Fd(fd), std::ptr::null_mut(), std::ptr::null_mut())
                    .flags(libc::SOCK_CLOEXEC)
                    .build()
                    .user_data(t.user_data());
                if let Err(e) = self.submit(&mut st, &e) {
                    st.release(t);
                    *tok = None;
                    return Poll::Ready(Err(e));
                }
                st.inflight += 1;
                st.get(t).expect("live").inflight = true;
                t
            }
        };
        let op = st.get(t).expect("live");
        if let Kind::Accept(Some(_)) = &op.kind {
            let Some(OpState { kind: Kind::Accept(Some(r)), .. }) = st.release(t) else { unreachable!() };
            *tok = None;
            return Poll::Ready(r);
        }
        op.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// A multishot accept stream's poll: the next accepted socket, arming
    /// (in this poll, while the caller borrows the listener) whenever no
    /// request is in flight.
    pub(crate) fn poll_incoming(
        &self,
        tok: &mut Option<Tok>,
        fd: RawFd,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<RawFd>> {
        let mut st = self.lock();
        let t = *tok.get_or_insert_with(|| st.alloc(Kind::Incoming(VecDeque::new())));
        let op = st.get(t).expect("live until the stream is dropped");
        let Kind::Incoming(q) = &mut op.kind else { unreachable!("an incoming token names an incoming") };
        if let Some(r) = q.pop_front() {
            return Poll::Ready(r);
        }
        if !op.inflight {
            let e = opcode::AcceptMulti::new(types::Fd(fd)).flags(libc::SOCK_CLOEXEC).build().user_data(t.user_data());
            if let Err(e) = self.submit(&mut st, &e) {
                return Poll::Ready(Err(e));
            }
            st.inflight += 1;
            let op = st.get(t).expect("live");
            op.inflight = true;
            op.cancelled = false;
        }
        st.get(t).expect("live").waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// A send or accept future (or an incoming stream) is dropped: cancels its request, if any; the
    /// completion thread frees its state (and closes an accepted socket).
    pub(crate) fn drop_op(&self, t: Tok) {
        let mut st = self.lock();
        let Some(op) = st.get(t) else { return };
        op.owner = false;
        op.waker = None;
        if op.inflight {
            if !op.cancelled {
                self.cancel(&mut st, t);
            }
            return;
        }
        let op = st.release(t);
        drop(st);
        close_accepted(op);
    }

    /// Every `Ring` handle is gone: cancels what the kernel holds; the
    /// completion thread exits once nothing is in flight.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closing = true;
        let live: Vec<Tok> = (0..st.slots.len() as u32)
            .filter_map(|i| {
                let s = &st.slots[i as usize];
                s.op.as_ref().filter(|o| o.inflight).map(|_| Tok { idx: i, gen: s.gen })
            })
            .collect();
        for t in live {
            self.cancel(&mut st, t);
        }
        let _ = self.submit(&mut st, &opcode::Nop::new().build().user_data(WAKE));
    }

    fn completion_thread(self: Arc<Self>) {
        loop {
            {
                let mut st = self.lock();
                if !st.arms.is_empty() || st.arm_wake {
                    self.submit_arms(&mut st);
                }
                if st.closing && st.inflight == 0 {
                    // Nothing can pick a buffer any more.
                    let _ = self.ring.submitter().unregister_buf_ring(BGID);
                    return;
                }
            }
            // SAFETY: no submissions, GETEVENTS: only waits for a completion.
            match unsafe { self.ring.submitter().enter::<libc::sigset_t>(0, 1, ENTER_GETEVENTS, None) } {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {}
                Err(e) => panic!("bufpool-net: io_uring_enter failed: {e}"),
            }
            self.reap();
        }
    }

    /// Reaps every completion; wakers run after the lock is released.
    fn reap(&self) {
        let mut r = Reaped::default();
        let mut st = self.lock();
        r.wake.append(&mut st.deferred);
        self.reap_locked(&mut st, &mut r);
        // Buffers of gone owners go home before their droppers (waiting for
        // the lock) are released.
        drop(r.gone);
        drop(st);
        if r.notify {
            self.cv.notify_all();
        }
        for w in r.wake {
            w.wake();
        }
    }

    /// Reaps every completion under the lock, into `out`.
    fn reap_locked(&self, st: &mut NetState, out: &mut Reaped) {
        let Reaped { wake, gone, notify, woke } = out;
        // SAFETY: the CQ is read only under the state lock (`st`).
        let cq: Vec<cqueue::Entry> = unsafe { self.ring.completion_shared() }.collect();
        for cqe in cq {
            let ud = cqe.user_data();
            if ud == WAKE || ud == CANCEL {
                *woke |= ud == WAKE;
                continue;
            }
            let Some(t) = st.by_user_data(ud) else { continue };
            let (res, flags) = (cqe.result(), cqe.flags());
            let more = cqueue::more(flags);
            let picked = cqueue::buffer_select(flags).and_then(|bid| st.bufs.take(bid, res.max(0) as usize));
            if picked.is_some() {
                add(&self.stats.recv, 1);
            }
            let mut cancel = false;
            let mut starved_now = false;
            let op = st.get(t).expect("by_user_data checked");
            match &mut op.kind {
                Kind::Recv(r) => {
                    if let Some(buf) = picked {
                        if buf.is_empty() {
                            gone.push(buf);
                        } else if op.owner {
                            r.queued += buf.len();
                            r.queue.push_back(buf);
                            cancel = more && r.queued >= self.queue_limit && !op.cancelled;
                        } else {
                            gone.push(buf);
                        }
                    } else if res == 0 {
                        r.eof = true;
                    } else if res == -libc::ENOBUFS {
                        add(&self.stats.enobufs, 1);
                        starved_now = true;
                    } else if res > 0 {
                        // Bytes without a buffer of ours: never from a
                        // working kernel, and never dropped silently.
                        r.err = Some(io::Error::other(format!("recv completion of {res} bytes without a ring buffer")));
                    } else if res != -libc::ECANCELED {
                        r.err = Some(io::Error::from_raw_os_error(-res));
                    }
                }
                Kind::Send(s) => {
                    if let Some(b) = picked {
                        gone.push(b);
                    }
                    if cqueue::notif(flags) {
                        // A zero-copy send's notification: the kernel let go
                        // of the buffers (its `!more` ends the request below).
                        if res as u32 & ZC_COPIED != 0 {
                            add(&self.stats.send_zc_copied, 1);
                        }
                    } else if res > 0 {
                        s.g.advance(res as usize);
                        if s.g.done() {
                            s.result = Some(Ok(()));
                        } else {
                            s.resubmit = true;
                        }
                    } else if res == 0 {
                        s.result = Some(Err(io::ErrorKind::WriteZero.into()));
                    } else if res == -libc::EINTR || res == -libc::EAGAIN {
                        s.resubmit = true;
                    } else {
                        s.result = Some(Err(io::Error::from_raw_os_error(-res)));
                    }
                }
                Kind::Accept(r) => {
                    if let Some(b) = picked {
                        gone.push(b);
                    }
                    *r = Some(if res >= 0 { Ok(res) } else { Err(io::Error::from_raw_os_error(-res)) });
                }
                Kind::Incoming(q) => {
                    if let Some(b) = picked {
                        gone.push(b);
                    }
                    if res >= 0 {
                        q.push_back(Ok(res));
                    } else if res != -libc::ECANCELED {
                        q.push_back(Err(io::Error::from_raw_os_error(-res)));
                    }
                }
            }
            if !more {
                op.inflight = false;
                st.inflight -= 1;
            }
            let op = st.get(t).expect("live");
            if op.owner {
                if let Some(w) = op.waker.take() {
                    wake.push(w);
                }
            } else if !op.inflight {
                *notify = true;
                close_accepted(self.release(st, t));
            }
            if cancel {
                self.cancel(st, t);
            }
            if starved_now {
                st.starved.push(t);
            }
        }
        // Buffers are back in the ring: wake the streams ENOBUFS stopped.
        if !st.starved.is_empty() && (st.bufs.refill_empty() || st.bufs.missing() < usize::from(st.bufs.count())) {
            for t in std::mem::take(&mut st.starved) {
                if let Some(w) = st.get(t).and_then(|op| op.waker.take()) {
                    wake.push(w);
                }
            }
        }
    }
}

/// What a reap found, for after the lock.
#[derive(Default)]
struct Reaped {
    wake: Vec<Waker>,
    gone: Vec<PooledBuffer>,
    /// A gone owner's request ended: wake the droppers waiting on `cv`.
    notify: bool,
    /// A wake-up no-op was among the completions.
    woke: bool,
}

/// Fixed-file slots one shard registers: the descriptor limit, at most 65536.
fn fixed_files_limit() -> u32 {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is valid and writable.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 0;
    }
    r.rlim_cur.min(65536) as u32
}
