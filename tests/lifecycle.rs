//! Requirement 14: lifecycle, proven with a counting global allocator.
//!
//! Dropping the last handle while buffers are out on other threads is safe;
//! those buffers are freed when they drop; and once handles and buffers are
//! gone every byte comes back: at once for the shards and the dropping
//! thread's cache, for other threads' caches by their next pool operation or
//! their exit. Many pools and many threads leave nothing behind.
//!
//! The allocator counts the whole process, so this file holds exactly one
//! `#[test]` (libtest runs tests of one binary concurrently) and the scenarios
//! run one after another inside it. Nothing prints while measuring.
mod common;

use bufpool::BufferPool;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::mpsc;
use std::thread;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static CALLS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(l) };
        CALLS.fetch_add(1, Ordering::SeqCst);
        if !p.is_null() {
            LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(l) };
        CALLS.fetch_add(1, Ordering::SeqCst);
        if !p.is_null() {
            LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::SeqCst);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let q = unsafe { System.realloc(p, l, new) };
        CALLS.fetch_add(1, Ordering::SeqCst);
        if !q.is_null() {
            LIVE.fetch_add(new as isize - l.size() as isize, Ordering::SeqCst);
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

const M: usize = 1 << 20;

/// Allowed difference from the baseline: far below one buffer (1 MiB or
/// 64 KiB here) and below a leaked cache block per thread over the churn.
const SLACK: isize = 0;

#[test]
fn lifecycle() {
    warm_up();
    cache_hits_allocate_nothing();
    last_handle_dropped_while_buffers_are_out_on_other_threads();
    buffer_dropped_on_owner_thread_after_pool_closed();
    big_buffer_does_not_survive_its_pool();
    many_pools_leave_nothing_behind();
    thread_churn_leaves_nothing_behind();
    pool_dropped_on_another_thread_than_its_caches();
}

/// Thread-local bookkeeping that lives as long as the thread (the list of this
/// thread's caches) is allocated once here, before any baseline.
fn warm_up() {
    let a = BufferPool::new();
    let b = BufferPool::new();
    let c = BufferPool::new();
    drop((a.get(4096), b.get(4096), c.get(4096)));
    drop((a, b, c));
    // std's mpsc caches a waiting context per thread on the first blocking
    // receive: make that happen now.
    let (tx, rx) = mpsc::channel::<()>();
    let t = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(20));
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
    t.join().unwrap();
    // Thread spawning machinery (and parking_lot's table) reach steady state.
    for _ in 0..4 {
        thread::spawn(|| {
            let p = BufferPool::new();
            drop(p.get(4096));
        })
        .join()
        .unwrap();
    }
}

/// Requirement 2 (hot path): a get that hits the thread cache, and its drop,
/// make no allocation.
fn cache_hits_allocate_nothing() {
    let pool = BufferPool::new();
    let other = BufferPool::new();
    drop((pool.get(65536), other.get(4096)));
    let n = common::iters(10_000, 500); // reads the environment: allocates
    let calls = CALLS.load(Ordering::SeqCst);
    let base = live();
    for _ in 0..n {
        let mut a = pool.get(65536);
        a[0] = 1;
        let b = other.get(4096); // alternating pools: still hits
        drop((a, b));
    }
    assert_eq!(CALLS.load(Ordering::SeqCst) - calls, 0, "allocator called on the hot path");
    assert_eq!(live(), base);
    let s = pool.stats();
    assert_eq!(s.fresh_allocations, 1, "{s}");
}

fn last_handle_dropped_while_buffers_are_out_on_other_threads() {
    let base = live();
    let pool = BufferPool::builder().max_pooled_bytes(64 << 20).build().unwrap();
    let other = BufferPool::new(); // for "an operation on another pool"
    let held: Vec<_> = (0..2).map(|_| pool.get(M)).collect();
    drop((pool.get(M), pool.get(M))); // two in this thread's cache
    let (tx, rx) = mpsc::channel::<Vec<bufpool::PooledBuffer>>();
    let (step_tx, step_rx) = mpsc::channel::<u8>();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let p = pool.clone();
    let t = thread::spawn(move || {
        let held = rx.recv().unwrap();
        drop((p.get(M), p.get(M))); // two in this thread's cache
        drop(p);
        ack_tx.send(()).unwrap();
        assert_eq!(step_rx.recv().unwrap(), 1);
        drop(held); // the pool is closed by now: freed
        ack_tx.send(()).unwrap();
        assert_eq!(step_rx.recv().unwrap(), 2);
        drop(other.get(100)); // next operation on any pool
        ack_tx.send(()).unwrap();
        assert_eq!(step_rx.recv().unwrap(), 3);
        drop(other);
    });
    tx.send(held).unwrap();
    ack_rx.recv().unwrap();
    let before = live() - base;
    assert!(before >= 6 * M as isize, "6 buffers live: {before}");
    drop(pool); // last handle
    let after_drop = live() - base;
    assert!(
        (4 * M as isize..5 * M as isize).contains(&after_drop),
        "this thread's cache (2 MiB) must be freed at once; the other thread's 4 MiB stay: {after_drop}"
    );
    step_tx.send(1).unwrap();
    ack_rx.recv().unwrap();
    let after_held = live() - base;
    // Dropping a buffer is itself a pool operation on that thread: the held
    // buffers are freed, and so is that thread's cache of the closed pool.
    assert!(after_held < M as isize, "buffers dropped after close are freed, with the cache: {after_held}");
    step_tx.send(2).unwrap();
    ack_rx.recv().unwrap();
    let after_op = live() - base;
    assert!(after_op < M as isize, "the other thread's cache must go at its next operation: {after_op}");
    step_tx.send(3).unwrap();
    t.join().unwrap();
    drop((tx, step_tx, ack_rx)); // channels allocate too
    assert_eq!(live() - base, SLACK, "everything back after the thread exits");
}

fn buffer_dropped_on_owner_thread_after_pool_closed() {
    let base = live();
    let pool = BufferPool::new();
    let b = pool.get(M);
    drop(pool);
    assert!(live() - base >= M as isize);
    drop(b);
    assert_eq!(live() - base, SLACK);
    // And after the pool closed on another thread.
    let pool = BufferPool::new();
    let b = pool.get(M);
    thread::spawn(move || drop(pool)).join().unwrap();
    drop(b);
    assert_eq!(live() - base, SLACK);
}

/// zeropool 0.3 cached any size per thread, so 256 MiB survived dropping the
/// pool. Here it is gone once the pool and the buffer are.
fn big_buffer_does_not_survive_its_pool() {
    let n = if common::slow() { 16 << 20 } else { 256 << 20 };
    let base = live();
    let pool = BufferPool::builder().max_pooled_bytes(1 << 30).build().unwrap();
    drop(pool.get(n));
    assert!(pool.stats().pooled_bytes >= n as u64, "kept while the pool lives");
    drop(pool);
    assert_eq!(live() - base, SLACK);
    // Also when the buffer is dropped (into this thread's cache) after the
    // pool handle is gone, and on another thread.
    let pool = BufferPool::builder().max_pooled_bytes(1 << 30).build().unwrap();
    let b = pool.get(n);
    let c = pool.get(n / 2);
    drop(pool);
    thread::spawn(move || drop(c)).join().unwrap();
    drop(b);
    assert_eq!(live() - base, SLACK);
}

fn many_pools_leave_nothing_behind() {
    let base = live();
    for i in 0..common::iters(200, 20) {
        let pool = BufferPool::builder().max_pooled_bytes(16 << 20).build().unwrap();
        let bufs: Vec<_> = (0..4).map(|k| pool.get(4096 << ((i + k) % 5))).collect();
        let p = pool.clone();
        let far = pool.get(65536);
        thread::spawn(move || {
            drop(far); // dropped on another thread
            drop(p.get(8192));
        })
        .join()
        .unwrap();
        drop(bufs);
        drop(pool);
        assert_eq!(live() - base, SLACK, "iteration {i}");
    }
}

fn thread_churn_leaves_nothing_behind() {
    let base = live();
    let pool = BufferPool::builder().max_pooled_bytes(16 << 20).build().unwrap();
    let spawn = |n: usize, cpu: Option<usize>| {
        for _ in 0..n {
            let p = pool.clone();
            thread::spawn(move || {
                if let Some(c) = cpu {
                    common::pin_to_cpu(c);
                }
                let a = p.get(65536);
                let b = p.get(4096);
                drop((a, b));
            })
            .join()
            .unwrap();
        }
    };
    // A shard creates its queue for a size class on first use, and a thread
    // exits into the shard of the CPU it runs on: visit every CPU first, so
    // that the churn below meets only existing queues.
    for cpu in common::allowed_cpus() {
        spawn(2, Some(cpu));
    }
    spawn(10, None);
    let l1 = live();
    spawn(common::iters(100, 20), None);
    let l2 = live();
    assert_eq!(l2 - l1, SLACK, "thread churn grew live memory");
    let s = pool.stats();
    assert_eq!(s.fresh_allocations, 2, "{s}");
    drop(pool);
    assert_eq!(live() - base, SLACK);
}

fn pool_dropped_on_another_thread_than_its_caches() {
    // A thread caches buffers, then blocks; the pool's last handle drops on the
    // main thread; the caching thread then exits: everything is freed.
    let base = live();
    let pool = BufferPool::new();
    let p = pool.clone();
    let (tx, rx) = mpsc::channel::<()>();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let other = BufferPool::new();
    let t = thread::spawn(move || {
        drop((p.get(M), p.get(M)));
        drop(p);
        ack_tx.send(()).unwrap();
        rx.recv().unwrap();
        drop(other.get(100)); // an operation on another pool
        ack_tx.send(()).unwrap();
        rx.recv().unwrap();
        drop(other);
    });
    ack_rx.recv().unwrap();
    drop(pool);
    let l = live() - base;
    assert!(l >= 2 * M as isize, "the blocked thread's cache is still there: {l}");
    tx.send(()).unwrap();
    ack_rx.recv().unwrap();
    let l = live() - base;
    assert!(l < M as isize, "freed at that thread's next operation on any pool: {l}");
    tx.send(()).unwrap();
    t.join().unwrap();
    drop((tx, ack_rx)); // channels allocate too
    assert_eq!(live() - base, SLACK);

    // And by thread exit alone, with no further operation.
    let base = live();
    let pool = BufferPool::new();
    let p = pool.clone();
    let (tx, rx) = mpsc::channel::<()>();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let t = thread::spawn(move || {
        drop((p.get(M), p.get(M)));
        drop(p);
        ack_tx.send(()).unwrap();
        rx.recv().unwrap();
    });
    ack_rx.recv().unwrap();
    drop(pool);
    assert!(live() - base >= 2 * M as isize);
    tx.send(()).unwrap();
    t.join().unwrap();
    drop((tx, ack_rx)); // channels allocate too
    assert_eq!(live() - base, SLACK);
}
