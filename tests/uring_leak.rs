//! Leaked (`mem::forget`) futures and streams: the ring never acts on a
//! closed descriptor's number (or a cleared registered-file entry) for them,
//! on either backend, whatever stage the leaked operation was in.
//!
//! The tests reuse descriptor numbers on purpose, so they run one at a time
//! (`SERIAL`): another test opening a file in between would take the number.
mod uring_common;

use bufpool::uring::{Backend, Fault, Ring};
use bufpool::BufferPool;
use futures::task::noop_waker;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use uring_common::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let w = noop_waker();
    Pin::new(f).poll(&mut Context::from_waker(&w))
}

/// One shard, so "another operation on that shard" is any operation.
fn one_shard_rings(pool: &BufferPool) -> Vec<Ring> {
    let mut v = vec![Ring::builder(pool).entries(16).shards(1).build().unwrap()];
    if v[0].backend() != Backend::IoUring {
        eprintln!("io_uring unavailable here: testing the thread backend only");
        v.clear();
    }
    v.push(Ring::builder(pool).entries(16).force_fallback(true).build().unwrap());
    v
}

fn open_rw(path: &std::path::Path) -> File {
    OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).unwrap()
}

/// Drives the shard with an unrelated operation, then gives any leaked
/// operation time to land (the thread backend's workers run it later).
fn drive_other(ring: &Ring, other: &File) {
    futures::executor::block_on(ring.fsync(other)).unwrap();
    let _ = futures::executor::block_on(ring.read_at(other, 0, 1)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
}

/// (read end, write end) of a new pipe.
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe { (File::from(OwnedFd::from_raw_fd(fds[0])), File::from(OwnedFd::from_raw_fd(fds[1]))) }
}

/// `f` moved to a descriptor number of 1000 or more, out of the way.
fn high(f: File) -> File {
    // SAFETY: F_DUPFD_CLOEXEC only reads `f`; the new descriptor is ours.
    unsafe {
        let n = libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1000);
        assert!(n >= 1000);
        File::from_raw_fd(n)
    }
}

/// A pipe whose read end has the (free) number `fd`.
fn pipe_at(fd: RawFd) -> (File, File) {
    let (rd, wr) = pipe();
    let (rd, wr) = (high(rd), high(wr));
    (at_fd(rd, fd), wr)
}

/// `f`, moved to descriptor number `fd` (free: its file was just closed) if
/// it did not get that number itself: another ring's teardown elsewhere in
/// this process may free a lower number meanwhile.
fn at_fd(f: File, fd: RawFd) -> File {
    if f.as_raw_fd() == fd {
        return f;
    }
    // SAFETY: F_GETFD only reads the descriptor table.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_GETFD) }, -1, "descriptor {fd} is taken");
    // SAFETY: `fd` is free, so dup3 closes nothing; the new descriptor is ours.
    unsafe {
        assert_eq!(libc::dup3(f.as_raw_fd(), fd, libc::O_CLOEXEC), fd);
        File::from_raw_fd(fd)
    }
}

fn set_nonblocking(f: &File) {
    // SAFETY: F_GETFL/F_SETFL on a live descriptor.
    unsafe {
        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        assert_eq!(libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK), 0);
    }
}

#[test]
fn leaked_queued_write_never_reaches_a_reused_descriptor() {
    let _g = serial();
    let dir = scratch("leak-write");
    let pool = BufferPool::new();
    let other = open_rw(&dir.join("other"));
    for (k, ring) in one_shard_rings(&pool).into_iter().enumerate() {
        let a = open_rw(&dir.join(format!("a{k}")));
        let a_fd = a.as_raw_fd();
        let mut buf = pool.get(6);
        buf.copy_from_slice(b"LEAKED");
        let mut fut = ring.write_at(&a, 0, buf);
        // Queued, in flight or done: leaked at whatever stage (see below).
        let _ = poll_once(&mut fut);
        std::mem::forget(fut);
        drop(a);
        let b = at_fd(open_rw(&dir.join(format!("b{k}"))), a_fd);
        drive_other(&ring, &other);
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"", "{:?}: a leaked write to a landed in b", ring.backend());
    }
}

#[test]
fn leaked_queued_read_never_steals_pipe_bytes() {
    let _g = serial();
    let dir = scratch("leak-read");
    let pool = BufferPool::new();
    let other = open_rw(&dir.join("other"));
    for (k, ring) in one_shard_rings(&pool).into_iter().enumerate() {
        let a = open_rw(&dir.join(format!("a{k}")));
        a.write_all_at(b"file a", 0).unwrap();
        let a_fd = a.as_raw_fd();
        let mut fut = ring.read_at(&a, 0, 100);
        // Queued, in flight, or done (io_uring submits in this poll, and a
        // page-cache read completes in it): leaked at whatever stage.
        let _ = poll_once(&mut fut);
        std::mem::forget(fut);
        drop(a);
        let (mut rd, mut wr) = pipe_at(a_fd);
        wr.write_all(b"for the pipe's reader").unwrap();
        drive_other(&ring, &other);
        set_nonblocking(&rd);
        let mut got = [0u8; 64];
        let n = rd.read(&mut got).unwrap_or(0);
        assert_eq!(&got[..n], b"for the pipe's reader", "{:?}: a leaked read took the pipe's bytes", ring.backend());
    }
}

#[test]
fn leaked_registered_write_never_reaches_the_next_registered_file() {
    let _g = serial();
    let dir = scratch("leak-reg");
    let pool = BufferPool::new();
    let other = open_rw(&dir.join("other"));
    for (k, ring) in one_shard_rings(&pool).into_iter().enumerate() {
        let a = open_rw(&dir.join(format!("a{k}")));
        let ra = ring.register(&a).unwrap();
        let registered = ra.is_registered();
        let mut buf = pool.get(6);
        buf.copy_from_slice(b"LEAKED");
        let mut fut = ra.write_at(0, buf);
        let _ = poll_once(&mut fut);
        std::mem::forget(fut);
        drop(ra);
        drop(a);
        // `b` takes the table entry `a` had (and, unregistered, its number).
        let b = open_rw(&dir.join(format!("b{k}")));
        let rb = ring.register(&b).unwrap();
        assert_eq!(rb.is_registered(), registered);
        drive_other(&ring, &other);
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"", "{:?}: a leaked registered write landed in b", ring.backend());
        drop(rb);
    }
}

#[test]
fn leaked_read_many_never_steals_pipe_bytes() {
    use futures::StreamExt;
    let _g = serial();
    let dir = scratch("leak-many");
    let pool = BufferPool::new();
    let other = open_rw(&dir.join("other"));
    for (k, ring) in one_shard_rings(&pool).into_iter().enumerate() {
        // Fill the registered file table, so the stream names its file by
        // descriptor number (as on kernels without sparse file tables).
        let filler = open_rw(&dir.join(format!("filler{k}")));
        let fillers: Vec<_> = (0..64).map(|_| ring.register(&filler).unwrap()).collect();
        let a = open_rw(&dir.join(format!("a{k}")));
        a.write_all_at(&[7u8; 3 * 4096], 0).unwrap();
        let a_fd = a.as_raw_fd();
        let mut stream = ring.read_many(&a, (0..3).map(|i| (i * 4096, 4096)), 2).unwrap();
        // Two reads done at once; handing out the first queues the third.
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        for _ in 0..2 {
            match stream.poll_next_unpin(&mut cx) {
                Poll::Ready(Some((_, r))) => assert_eq!(r.unwrap().len(), 4096),
                // The thread backend's reads may not be done yet.
                p => assert!(p.is_pending(), "{p:?}"),
            }
        }
        std::mem::forget(stream);
        drop(a);
        let (mut rd, mut wr) = pipe_at(a_fd);
        wr.write_all(b"for the pipe's reader").unwrap();
        drive_other(&ring, &other);
        set_nonblocking(&rd);
        let mut got = [0u8; 64];
        let n = rd.read(&mut got).unwrap_or(0);
        assert_eq!(
            &got[..n],
            b"for the pipe's reader",
            "{:?}: a leaked read_many took the pipe's bytes",
            ring.backend()
        );
        drop(fillers);
    }
}

/// A leaked operation that was submitted, and whose result asks for a
/// retry after its owner is gone (a short or interrupted transfer), is not
/// resubmitted on the descriptor number: io_uring only (the thread backend
/// retries on its own duplicate).
#[test]
fn leaked_write_is_not_retried_on_a_reused_descriptor() {
    let _g = serial();
    let dir = scratch("leak-retry");
    let pool = BufferPool::new();
    let ring = Ring::builder(&pool).entries(16).shards(1).inject_faults([Fault::Errno(libc::EAGAIN)]).build().unwrap();
    if ring.backend() != Backend::IoUring {
        eprintln!("io_uring unavailable here: nothing to test");
        return;
    }
    let other = open_rw(&dir.join("other"));
    let (mut rd, wr) = pipe();
    // Fill the pipe, so the write waits in the kernel.
    set_nonblocking(&wr);
    let chunk = [0u8; 4096];
    while (&wr).write(&chunk).is_ok() {}
    // SAFETY: F_GETFL/F_SETFL on a live descriptor.
    unsafe {
        let fl = libc::fcntl(wr.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(wr.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
    }
    let wr_fd = wr.as_raw_fd();
    let mut buf = pool.get(6);
    buf.copy_from_slice(b"LEAKED");
    let mut fut = ring.write_at(&wr, 0, buf);
    for _ in 0..3 {
        assert!(poll_once(&mut fut).is_pending(), "the write waits for room in the pipe");
    }
    std::mem::forget(fut);
    drop(wr);
    let b = at_fd(open_rw(&dir.join("b")), wr_fd);
    // Make room: the write completes, and the injected EAGAIN asks for a retry.
    let mut sink = vec![0u8; 1 << 20];
    set_nonblocking(&rd);
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_millis(300) {
        let _ = rd.read(&mut sink);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drive_other(&ring, &other);
    let mut got = Vec::new();
    (&b).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"", "a leaked write's retry landed in b");
}
