//! The backend threads exit once the last `Ring` handle is gone, on both
//! backends, even when the io_uring completion thread is blocked in the kernel.
mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use std::os::fd::FromRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uring_common::*;

/// The tests count the process's backend threads: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn backend_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.starts_with("bufpool-uring") || c.starts_with("bufpool-io-"))
        .count()
}

fn wait_no_threads() {
    let t = Instant::now();
    while backend_threads() > 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "{} backend threads still alive", backend_threads());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn threads_exit_after_last_handle() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("shutdown");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    for fallback in [false, true] {
        let ring = Ring::builder(&pool).entries(16).force_fallback(fallback).build().unwrap();
        let t = Instant::now();
        while backend_threads() == 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "no backend thread started");
            std::thread::sleep(Duration::from_millis(1));
        }
        futures::executor::block_on(async {
            // fsync completes asynchronously: the completion thread ends up
            // waiting in io_uring_enter.
            ring.fsync(&file).await.unwrap();
            let b = ring.read_at(&file, 0, 100).await.unwrap();
            assert_eq!(b[1], pattern(1));
        });
        std::thread::sleep(Duration::from_millis(50));
        let clone = ring.clone();
        drop(ring);
        assert!(backend_threads() > 0, "a clone keeps the backend");
        drop(clone);
        wait_no_threads();
    }
    // Idle rings (never used) shut down too.
    for fallback in [false, true] {
        drop(Ring::builder(&pool).entries(4).force_fallback(fallback).build().unwrap());
        wait_no_threads();
    }
    wait_quiescent(&pool);
}

/// The io_uring instances of this process (each a descriptor).
fn uring_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().contains("io_uring"))
        .count()
}

fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    let w = futures::task::noop_waker();
    std::pin::Pin::new(f).poll(&mut std::task::Context::from_waker(&w))
}

#[test]
fn leaked_futures_do_not_keep_the_ring_alive() {
    use futures::StreamExt;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("shutdown-leak");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    wait_no_threads();
    let fds0 = uring_fds();
    for fallback in [false, true] {
        let ring = Ring::builder(&pool).entries(16).force_fallback(fallback).build().unwrap();
        // Queued, in flight, or done and never taken: poll once or twice
        // (until ready), then forget.
        for polls in [1, 2] {
            let mut f = ring.read_at(&file, 0, 4096);
            for _ in 0..polls {
                if poll_once(&mut f).is_ready() {
                    break;
                }
            }
            std::mem::forget(f);
        }
        // An fsync completes later, on the backend's thread: done, untaken.
        let mut f = ring.fsync(&file);
        let _ = poll_once(&mut f);
        std::mem::forget(f);
        let mut buf = pool.get(8);
        buf.fill(1);
        let mut w = ring.write_at(&file, 1 << 20, buf);
        let _ = poll_once(&mut w);
        std::mem::forget(w);
        // In the kernel for good: a read of a pipe nobody writes to (its
        // write end stays open).
        let mut fds = [0; 2];
        // SAFETY: `fds` is a writable array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the read end is fresh and owned by nobody else.
        let rd = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        if !fallback {
            let mut r = ring.read_at(&rd, 0, 100);
            for _ in 0..2 {
                assert!(poll_once(&mut r).is_pending());
            }
            std::mem::forget(r);
        }
        // A registered file's write, queued for a later drive, then the
        // registered file itself.
        let reg = ring.register(&file).unwrap();
        let mut buf = pool.get(8);
        buf.fill(2);
        let mut w = reg.write_at(1 << 20, buf);
        let _ = poll_once(&mut w);
        std::mem::forget(w);
        drop(reg);
        // A stream with reads queued and done.
        let mut s = ring.read_many(&file, (0..8).map(|i| (i * 4096, 4096)), 4).unwrap();
        let w = futures::task::noop_waker();
        let _ = s.poll_next_unpin(&mut std::task::Context::from_waker(&w));
        std::mem::forget(s);
        let t = Instant::now();
        while backend_threads() == 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "no backend thread started");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(ring);
        wait_no_threads();
        let t = Instant::now();
        while uring_fds() > fds0 {
            assert!(t.elapsed() < Duration::from_secs(10), "{} io_uring instances still open", uring_fds() - fds0);
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(rd);
        // SAFETY: the write end is ours, closed once.
        unsafe { libc::close(fds[1]) };
    }
}
