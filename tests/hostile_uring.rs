//! A future leaked while it waits for a slot must not swallow the wake-up
//! meant for a live waiter: a leak may lose that one operation, never stall
//! another.

mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use std::future::Future;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use uring_common::{make_file, scratch};

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_with<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both ends are fresh and owned by nobody else.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

#[test]
fn a_leaked_waiter_does_not_swallow_a_live_waiters_wake_up() {
    waiter_woken_for_a_freed_slot(true);
}

/// The same without the leak: the live waiter is woken (so the case above
/// fails for the leak, not for the set-up).
#[test]
fn a_waiter_is_woken_for_a_freed_slot() {
    waiter_woken_for_a_freed_slot(false);
}

fn waiter_woken_for_a_freed_slot(leak: bool) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("hostile-waiter");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 16);
    let ring = Ring::builder(&pool).entries(2).shards(1).build().unwrap();
    if ring.backend() != bufpool::uring::Backend::IoUring {
        return; // the pipe reads below stay in flight only on io_uring
    }
    let noop = futures::task::noop_waker();
    // Both slots taken by reads of empty pipes: in the kernel until written.
    let (ra, mut wa) = pipe();
    let (rb, _wb) = pipe();
    let mut a = ring.read_at(&ra, 0, 16);
    let mut b = ring.read_at(&rb, 0, 16);
    assert!(poll_with(&mut a, &noop).is_pending());
    assert!(poll_with(&mut b, &noop).is_pending());
    // A waiter for a slot, leaked; then a live one.
    if leak {
        let mut dead = ring.read_at(&file, 0, 16);
        assert!(poll_with(&mut dead, &noop).is_pending());
        std::mem::forget(dead);
    }
    let live_w = Arc::new(Count(AtomicUsize::new(0)));
    let live_waker = Waker::from(live_w.clone());
    let mut live = ring.read_at(&file, 0, 16);
    assert!(poll_with(&mut live, &live_waker).is_pending());
    // Free one slot.
    wa.write_all(b"x").unwrap();
    let t = Instant::now();
    loop {
        if let Poll::Ready(r) = poll_with(&mut a, &noop) {
            assert_eq!(&r.unwrap()[..], b"x");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "the pipe read never completed");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(a);
    // A slot is free: the live waiter must be woken for it.
    let t = Instant::now();
    while live_w.0.load(Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(3), "the live waiter was never woken though a slot is free");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(poll_with(&mut live, &live_waker), Poll::Ready(Ok(_)) | Poll::Pending));
    drop(live);
    drop(b);
}

/// The tests count the process's backend threads: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn backend_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.starts_with("bufpool-uring") || c.starts_with("bufpool-io-"))
        .count()
}

/// Every slot of every shard held by a leaked read that never completes
/// (an empty pipe): closing sends one cancellation per slot and a wake-up,
/// more completions than the slots alone; the backend threads still exit.
#[test]
fn a_ring_full_of_leaked_reads_still_shuts_down() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pool = BufferPool::new();
    for (entries, shards) in [(1, 1), (4, 1), (8, 2)] {
        let ring = Ring::builder(&pool).entries(entries).shards(shards).build().unwrap();
        if ring.backend() != bufpool::uring::Backend::IoUring {
            return;
        }
        let noop = futures::task::noop_waker();
        let mut pipes = Vec::new();
        for _ in 0..entries {
            let (r, w) = pipe();
            let mut f = ring.read_at(&r, 0, 16);
            assert!(poll_with(&mut f, &noop).is_pending());
            std::mem::forget(f);
            pipes.push((r, w));
        }
        let t = Instant::now();
        while backend_threads() == 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "no completion thread for the reads in flight");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(ring);
        let t = Instant::now();
        while backend_threads() > 0 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "entries {entries}: {} backend threads alive",
                backend_threads()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(pipes);
    }
}
