//! The fallback engine for sockets: readiness from one `epoll` thread, and
//! the lending read (a pool buffer is taken only for the `recv` call that
//! fills it, and goes straight back when the socket has nothing).
//!
//! Readiness is edge-triggered, and a socket's registration (data: its
//! descriptor number) is shared by its recv stream and send futures. Every
//! attempt clears the direction's ready bit first, tries the call with
//! `MSG_DONTWAIT`, and only on `EAGAIN` looks at the bit again: set means an
//! edge came in between (try again), clear means store the waker, which the
//! next edge wakes. Nothing here acts on a descriptor: the owners make every
//! call on the socket they borrow, so a leaked owner's stale entry can only
//! cause a spurious wake-up of a waker nobody polls.

use crate::uring::net::config::NetStats;
use crate::uring::net::gather::Gather;
use crate::uring::stats::add;
use crate::{BufferPool, PooledBuffer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// epoll data of the eventfd that stops the thread.
const STOP: u64 = u64::MAX;

#[derive(Default)]
struct Interest {
    read_ready: bool,
    write_ready: bool,
    /// Owners waiting to read (or accept) and to write: several may wait
    /// on one socket (accept loops sharing a listener, a reader beside a
    /// writer), and a readiness edge wakes all of them.
    readers: Vec<Waker>,
    writers: Vec<Waker>,
    /// Owners that registered this socket and are not dropped.
    users: usize,
}

/// Which way an owner waits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

pub(crate) struct Poller {
    epfd: OwnedFd,
    stop: OwnedFd,
    map: Mutex<HashMap<RawFd, Interest>>,
    closing: AtomicBool,
    pub(crate) stats: NetStats,
    pool: BufferPool,
    size: usize,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub(crate) fn start(pool: &BufferPool, size: usize) -> io::Result<Arc<Poller>> {
    // SAFETY: plain syscalls; results checked, then owned.
    let epfd = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
    // SAFETY: as above.
    let stop = unsafe { OwnedFd::from_raw_fd(cvt(libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?) };
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: STOP };
    // SAFETY: both descriptors are live; `ev` is a valid event.
    cvt(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, stop.as_raw_fd(), &mut ev) })?;
    let p = Arc::new(Poller {
        epfd,
        stop,
        map: Mutex::new(HashMap::new()),
        closing: AtomicBool::new(false),
        stats: NetStats::default(),
        pool: pool.clone(),
        size,
    });
    let t = p.clone();
    std::thread::Builder::new().name("bufpool-netpoll".into()).spawn(move || t.run())?;
    Ok(p)
}

impl Poller {
    fn run(&self) {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
        loop {
            // SAFETY: `evs` has room for 64 events.
            let n = unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), evs.as_mut_ptr(), 64, -1) };
            if n < 0 {
                continue; // EINTR
            }
            let mut wake = Vec::new();
            {
                let mut map = self.map.lock();
                for ev in &evs[..n as usize] {
                    if ev.u64 == STOP {
                        continue;
                    }
                    let Some(i) = map.get_mut(&(ev.u64 as RawFd)) else { continue };
                    let e = ev.events;
                    let err = e & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
                    if err || e & (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 != 0 {
                        i.read_ready = true;
                        wake.append(&mut i.readers);
                    }
                    if err || e & libc::EPOLLOUT as u32 != 0 {
                        i.write_ready = true;
                        wake.append(&mut i.writers);
                    }
                }
            }
            for w in wake {
                w.wake();
            }
            // Acquire: pairs with the Release store in `close`.
            if self.closing.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// Clears `dir`'s ready bit of `fd` before an attempt.
    fn clear(&self, fd: RawFd, dir: Dir) {
        if let Some(i) = self.map.lock().get_mut(&fd) {
            match dir {
                Dir::Read => i.read_ready = false,
                Dir::Write => i.write_ready = false,
            }
        }
    }

    /// After `EAGAIN`: Ready(()) to try again (an edge came in), or Pending
    /// with the waker stored.
    fn park(&self, fd: RawFd, dir: Dir, registered: &mut bool, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !*registered {
            // Each owner adds the socket once: EEXIST means a live co-owner
            // registered this same socket; a closed one's registration is
            // gone with its file, so a reused number is added afresh.
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
                u64: fd as u64,
            };
            let mut map = self.map.lock();
            // SAFETY: `fd` is borrowed by the caller and open; `ev` is valid.
            let r = unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Poll::Ready(Err(e));
                }
                map.entry(fd).or_default().users += 1;
            } else {
                // A fresh registration (the number's earlier file, if any, is
                // closed); it reports the socket's state as an edge.
                map.insert(fd, Interest { users: 1, ..Interest::default() });
            }
            *registered = true;
        }
        let mut map = self.map.lock();
        let i = map.entry(fd).or_default();
        let (ready, slot) = match dir {
            Dir::Read => (&mut i.read_ready, &mut i.readers),
            Dir::Write => (&mut i.write_ready, &mut i.writers),
        };
        if *ready {
            *ready = false;
            return Poll::Ready(Ok(()));
        }
        if !slot.iter().any(|w| w.will_wake(cx.waker())) {
            slot.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// One recv attempt after another until data, EOF, an error or Pending.
    pub(crate) fn poll_recv(
        &self,
        fd: RawFd,
        reg: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<PooledBuffer>>> {
        loop {
            self.clear(fd, Dir::Read);
            let mut buf = match self.pool.try_get(self.size) {
                Ok(b) => b,
                Err(e) => return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::OutOfMemory, e)))),
            };
            // SAFETY: `fd` is borrowed by the caller; the buffer has `len()`
            // writable bytes.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n > 0 {
                buf.set_len(n as usize);
                add(&self.stats.recv, 1);
                return Poll::Ready(Some(Ok(buf)));
            }
            drop(buf);
            if n == 0 {
                return Poll::Ready(None);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => match self.park(fd, Dir::Read, reg, cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                    Poll::Pending => return Poll::Pending,
                },
                _ => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    /// Sends the rest of `g` (one `send`, or a gathering `sendmsg`) until
    /// all is sent, an error, or Pending.
    pub(crate) fn poll_send(
        &self,
        fd: RawFd,
        reg: &mut bool,
        g: &mut Gather,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        loop {
            if g.done() {
                return Poll::Ready(Ok(()));
            }
            self.clear(fd, Dir::Write);
            let n = match g.single() {
                // SAFETY: `fd` is borrowed by the caller; `p` has `n`
                // readable bytes.
                Some((p, n)) => unsafe { libc::send(fd, p.cast(), n, flags) },
                // SAFETY: as above; the msghdr names buffers `g` owns.
                None => unsafe { libc::sendmsg(fd, g.msg(), flags) },
            };
            if n > 0 {
                g.advance(n as usize);
                continue;
            }
            let e = if n == 0 { io::ErrorKind::WriteZero.into() } else { io::Error::last_os_error() };
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => match self.park(fd, Dir::Write, reg, cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
                _ => return Poll::Ready(Err(e)),
            }
        }
    }

    pub(crate) fn poll_accept(&self, fd: RawFd, reg: &mut bool, cx: &mut Context<'_>) -> Poll<io::Result<RawFd>> {
        loop {
            self.clear(fd, Dir::Read);
            let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd; timeout 0 never blocks.
            let r = unsafe { libc::poll(&mut p, 1, 0) };
            if r > 0 {
                // SAFETY: `fd` is borrowed by the caller; no address wanted.
                let s = unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
                if s >= 0 {
                    return Poll::Ready(Ok(s));
                }
                let e = io::Error::last_os_error();
                if !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR | libc::ECONNABORTED)) {
                    return Poll::Ready(Err(e));
                }
                continue;
            }
            match self.park(fd, Dir::Read, reg, cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// An owner that registered `fd` is dropped (the socket is still open:
    /// the owner borrowed it). Its waker goes; the last owner removes the
    /// registration. A leaked owner's count stays until a new socket with the
    /// number registers afresh.
    pub(crate) fn forget(&self, fd: RawFd, dir: Dir) {
        // The dropped owner's waker is among the waiters, but which one is
        // unknown: wake them all, and the live ones register again.
        let others = {
            let mut map = self.map.lock();
            let Some(i) = map.get_mut(&fd) else { return };
            let others = std::mem::take(match dir {
                Dir::Read => &mut i.readers,
                Dir::Write => &mut i.writers,
            });
            i.users = i.users.saturating_sub(1);
            if i.users == 0 {
                map.remove(&fd);
                // SAFETY: `fd` is open (borrowed by the dropped owner's caller).
                unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
            }
            others
        };
        for w in others {
            w.wake();
        }
    }

    pub(crate) fn close(&self) {
        // Release: pairs with the Acquire load in `run`.
        self.closing.store(true, Ordering::Release);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}
