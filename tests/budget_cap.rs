//! `max_outstanding_bytes`: try_get's error, get's blocking, get_async's
//! FIFO order, cross-thread drops and frozen `Bytes` keeping or giving back
//! the charge, and leaked waiters.

use bufpool::{BufferPool, PooledBuffer};
use futures::FutureExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const K64: usize = 64 << 10;

fn capped(cap: usize) -> BufferPool {
    BufferPool::builder().max_outstanding_bytes(cap).cpus(2).build().unwrap()
}

fn poll<F: std::future::Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    f.poll_unpin(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn try_get_over_the_cap_is_a_clear_error() {
    let pool = capped(4 * K64);
    assert_eq!(pool.config().max_outstanding_bytes(), 4 * K64);
    let held: Vec<PooledBuffer> = (0..4).map(|_| pool.get(K64)).collect();
    assert_eq!(held[0].capacity(), K64, "64 KiB is a class of its own");
    let e = pool.try_get(K64).unwrap_err();
    assert!(e.is_over_budget(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("max_outstanding_bytes") && msg.contains(&(4 * K64).to_string()), "{msg}");
    assert!(pool.charged_bytes() <= 4 * K64);
    let never = pool.try_get(8 * K64).unwrap_err();
    assert!(never.is_over_budget() && never.to_string().contains("never"), "{never}");
    assert_eq!(std::io::Error::from(never).kind(), std::io::ErrorKind::InvalidInput);
    drop(held);
    assert_eq!(pool.try_get(K64).unwrap().len(), K64);
    assert!(pool.peak_charged_bytes() <= 4 * K64);
}

#[test]
fn a_zero_cap_is_a_build_error() {
    let e = BufferPool::builder().max_outstanding_bytes(0).build().unwrap_err();
    assert_eq!(e, bufpool::BuildError::ZeroOutstandingCap);
    assert!(e.to_string().contains("max_outstanding_bytes"), "{e}");
    // The smallest cap that is not absurd builds, and serves what fits.
    let pool = BufferPool::builder().max_outstanding_bytes(1).build().unwrap();
    assert!(pool.try_get(4096).unwrap_err().is_over_budget());
}

#[test]
fn without_a_cap_nothing_is_charged() {
    let pool = BufferPool::new();
    assert_eq!(pool.config().max_outstanding_bytes(), usize::MAX);
    let b = pool.get(K64);
    assert_eq!(pool.charged_bytes(), 0);
    assert_eq!(pool.outstanding_bytes(), b.capacity());
}

#[test]
fn get_over_the_cap_blocks_until_bytes_come_back() {
    let pool = capped(2 * K64);
    let a = pool.get(K64);
    let b = pool.get(K64);
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let t = {
        let (pool, done) = (pool.clone(), done.clone());
        std::thread::spawn(move || {
            let c = pool.get(K64);
            done.store(true, Ordering::SeqCst);
            tx.send(c.len()).unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(!done.load(Ordering::SeqCst), "get passed the cap instead of waiting");
    assert!(pool.charged_bytes() <= 2 * K64);
    drop(a);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).expect("get never woke"), K64);
    t.join().unwrap();
    drop(b);
}

#[test]
fn get_larger_than_the_cap_panics_with_the_cap_in_the_message() {
    let pool = capped(K64);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.get(4 * K64)));
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("never") && msg.contains("max_outstanding_bytes"), "{msg}");
}

#[test]
fn get_async_serves_a_large_waiter_before_later_small_ones() {
    let pool = capped(4 * K64);
    let mut held: Vec<PooledBuffer> = (0..4).map(|_| pool.get(K64)).collect();
    let mut big = pool.get_async(2 * K64);
    assert!(poll(&mut big).is_pending());
    let mut small: Vec<_> = (0..8).map(|_| pool.get_async(4096)).collect();
    for s in &mut small {
        assert!(poll(s).is_pending());
    }
    drop(held.pop());
    // 64 KiB free: enough for every small one, not for the big one, which
    // is first in line.
    for s in &mut small {
        assert!(poll(s).is_pending(), "a small waiter overtook the large one at the head");
    }
    assert!(poll(&mut big).is_pending());
    assert!(pool.try_get(4096).is_err(), "try_get overtook the queue");
    drop(held.pop());
    let Poll::Ready(big_buf) = poll(&mut big) else { panic!("the large waiter was not served first") };
    assert_eq!(big_buf.len(), 2 * K64);
    drop(held);
    for s in &mut small {
        match poll(s) {
            Poll::Ready(b) => assert_eq!(b.len(), 4096),
            Poll::Pending => panic!("a small waiter was not served once bytes came back"),
        }
    }
    assert!(pool.peak_charged_bytes() <= 4 * K64);
}

#[test]
fn dropping_a_queued_head_lets_the_next_waiter_through() {
    let pool = capped(2 * K64);
    let a = pool.get(K64);
    let _b = pool.get(K64);
    let mut big = pool.get_async(2 * K64);
    assert!(poll(&mut big).is_pending());
    let mut small = pool.get_async(K64);
    assert!(poll(&mut small).is_pending());
    drop(a);
    assert!(poll(&mut small).is_pending(), "behind the head");
    drop(big);
    assert!(poll(&mut small).is_ready(), "the cancelled head still held the line");
}

#[test]
fn a_buffer_dropped_on_another_thread_gives_its_charge_back() {
    // 4 KiB buffers fit the thread caches (16 KiB each here), so a dropper
    // that kept them cached would keep them charged.
    let pool = capped(16 * 4096);
    let bufs: Vec<PooledBuffer> = (0..16).map(|_| pool.get(4096)).collect();
    assert!(pool.try_get(4096).is_err());
    let (tx, rx) = mpsc::channel::<Vec<PooledBuffer>>();
    let (done_tx, done_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        drop(rx.recv().unwrap());
        done_tx.send(()).unwrap();
        // Stays alive (and quiet) while the main thread checks.
        let _ = stop_rx.recv();
    });
    tx.send(bufs).unwrap();
    done_rx.recv().unwrap();
    let again: Vec<PooledBuffer> = (0..16).map(|i| pool.try_get(4096).unwrap_or_else(|e| panic!("{i}: {e}"))).collect();
    assert_eq!(again.len(), 16);
    stop_tx.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn frozen_bytes_keep_the_charge_until_the_last_slice_drops() {
    let pool = capped(K64);
    let mut b = pool.get(K64);
    b[..5].copy_from_slice(b"hello");
    let bytes = b.freeze();
    let slice = bytes.slice(0..5);
    drop(bytes);
    assert!(pool.try_get(K64).unwrap_err().is_over_budget(), "a live slice no longer counted");
    let other = std::thread::spawn(move || {
        assert_eq!(&slice[..], b"hello");
        drop(slice);
    });
    other.join().unwrap();
    assert!(pool.try_get(K64).is_ok(), "the last slice dropped but the charge stayed");
}

#[test]
fn a_leaked_waiter_does_not_swallow_a_live_waiters_bytes() {
    let pool = capped(K64);
    let a = pool.get(K64);
    let mut leaked = Box::new(pool.get_async(K64));
    assert!(poll(&mut *leaked).is_pending());
    std::mem::forget(leaked);
    let mut live = pool.get_async(4096);
    assert!(poll(&mut live).is_pending());
    drop(a);
    // The bytes were granted to the leaked waiter, which never claims them;
    // the grant is revoked and the live waiter served, within a bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let b = loop {
        if let Poll::Ready(b) = poll(&mut live) {
            break b;
        }
        assert!(std::time::Instant::now() < deadline, "the live waiter starved behind a leaked one");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(b.len(), 4096);
}

#[test]
fn a_revoked_live_waiter_is_still_served() {
    let pool = capped(K64);
    let a = pool.get(K64);
    let mut first = pool.get_async(K64);
    assert!(poll(&mut first).is_pending());
    let mut second = pool.get_async(4096);
    assert!(poll(&mut second).is_pending());
    drop(a);
    // `first` does not poll for longer than the claim timeout: its grant
    // goes to `second`, and `first` requeues at the front when it polls.
    std::thread::sleep(Duration::from_secs(2));
    let Poll::Ready(s) = poll(&mut second) else { panic!("the revoked grant did not pass on") };
    assert!(poll(&mut first).is_pending());
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while poll(&mut first).is_pending() {
        assert!(std::time::Instant::now() < deadline, "the revoked waiter was never served");
        std::thread::sleep(Duration::from_millis(10));
    }
}
