//! Requirement 7: bounded memory. `max_pooled_bytes` caps what thread caches
//! and shards retain together; returns past the cap are freed; `trim` frees
//! the shards and the calling thread's cache at once and other threads' caches
//! at their next operation; idle classes are released over time.
mod common;

use bufpool::BufferPool;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const K64: usize = 64 * 1024;

#[test]
fn the_cap_holds_across_thread_caches_and_shards() {
    let cap = 1 << 20;
    let pool = BufferPool::builder()
        .max_pooled_bytes(cap)
        .tls_cache_bytes(256 * 1024)
        .max_buffers_per_shard(64)
        .build()
        .unwrap();
    let threads = 4;
    let rounds = common::iters(100, 10);
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let p = pool.clone();
            thread::spawn(move || {
                for r in 0..rounds {
                    let n = 4096 << ((r + t) % 6); // 4 KiB .. 128 KiB
                    let bufs: Vec<_> = (0..8).map(|_| p.get(n)).collect();
                    drop(bufs);
                    let s = p.stats();
                    assert!(s.pooled_bytes <= cap as u64, "{s}");
                    assert!(p.reserved_bytes() <= cap);
                }
            })
        })
        .collect();
    for _ in 0..100 {
        let s = pool.stats();
        assert!(s.pooled_bytes <= cap as u64, "{s}");
        assert!(pool.reserved_bytes() <= cap);
        thread::yield_now();
    }
    for h in hs {
        h.join().unwrap();
    }
    let s = pool.stats();
    assert!(s.pooled_bytes <= cap as u64, "{s}");
    assert!(s.pooled_bytes as usize <= pool.reserved_bytes());
    assert!(s.discards > 0, "the cap was reached and returns were freed: {s}");
}

#[test]
fn a_return_past_the_cap_is_freed() {
    let pool = BufferPool::builder().max_pooled_bytes(4 * K64).max_buffers_per_shard(64).build().unwrap();
    let bufs: Vec<_> = (0..10).map(|_| pool.get(K64)).collect();
    drop(bufs);
    let s = pool.stats();
    assert_eq!(s.pooled_bytes, 4 * K64 as u64, "{s}");
    assert_eq!(s.discards, 6, "{s}");
    assert_eq!(pool.reserved_bytes(), 4 * K64);
    // Bigger than the cap: never kept.
    drop(pool.get(8 * K64));
    let s = pool.stats();
    assert_eq!(s.pooled_bytes, 4 * K64 as u64, "{s}");
    assert_eq!(s.discards, 7, "{s}");
}

#[test]
fn trim_releases_everything_single_threaded() {
    let pool = BufferPool::builder().max_pooled_bytes(64 << 20).max_buffers_per_shard(64).build().unwrap();
    let bufs: Vec<_> = (0..20).map(|i| pool.get(4096 << (i % 8))).collect();
    drop(bufs);
    assert!(pool.stats().pooled_bytes > 0);
    pool.trim();
    let s = pool.stats();
    assert_eq!(s.pooled_bytes, 0, "{s}");
    assert_eq!(pool.reserved_bytes(), 0);
    assert_eq!(s.evictions, 20, "{s}");
    // The pool works after a trim.
    drop(pool.get(K64));
    assert_eq!(pool.stats().pooled_bytes, K64 as u64);
}

#[test]
fn trim_shrinks_other_threads_caches_at_their_next_operation() {
    let pool = BufferPool::builder().max_pooled_bytes(64 << 20).build().unwrap();
    let other_pool = BufferPool::new();
    let (go_tx, go_rx) = mpsc::channel::<u8>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let p = pool.clone();
    let h = thread::spawn(move || {
        drop((p.get(K64), p.get(K64))); // this thread's cache now holds 128 KiB
        done_tx.send(()).unwrap();
        while let Ok(op) = go_rx.recv() {
            match op {
                1 => drop(other_pool.get(100)), // an operation on another pool
                _ => break,
            }
            done_tx.send(()).unwrap();
        }
    });
    done_rx.recv().unwrap();
    assert_eq!(pool.stats().pooled_bytes, 2 * K64 as u64);
    pool.trim();
    // The other thread has not run since: its cache is still there.
    assert_eq!(pool.stats().pooled_bytes, 2 * K64 as u64);
    go_tx.send(1).unwrap();
    done_rx.recv().unwrap();
    let s = pool.stats();
    assert_eq!(s.pooled_bytes, 0, "other thread's cache not released at its next operation: {s}");
    assert_eq!(pool.reserved_bytes(), 0, "lease not given back");
    go_tx.send(0).unwrap();
    h.join().unwrap();
}

#[test]
fn release_idle_twice_releases_unused_classes() {
    let pool =
        BufferPool::builder().max_pooled_bytes(64 << 20).max_buffers_per_shard(64).tls_cache_size(2).build().unwrap();
    // Idle in the thread cache: 64 KiB x2. Idle in the shards: 8 KiB x6 (spilled).
    drop((pool.get(K64), pool.get(K64)));
    drop((0..8).map(|_| pool.get(8192)).collect::<Vec<_>>());
    // Kept in use: 16 KiB.
    drop(pool.get(16384));
    let full = pool.stats().pooled_bytes;
    assert_eq!(full, (2 * K64 + 8 * 8192 + 16384) as u64);
    pool.release_idle();
    assert_eq!(pool.stats().pooled_bytes, full, "one tick releases nothing");
    drop(pool.get(16384)); // used during this generation
    pool.release_idle();
    let s = pool.stats();
    assert_eq!(s.pooled_bytes, 16384, "unused classes released after two ticks: {s}");
    assert_eq!(pool.reserved_bytes(), 16384);
    assert_eq!(s.evictions, 10, "{s}");
}

#[test]
fn idle_memory_is_released_automatically() {
    // No call to release_idle: the clock is checked every 256 operations per
    // thread, and ticks every idle_timeout.
    let pool = BufferPool::builder()
        .idle_timeout(Duration::from_millis(50))
        .max_pooled_bytes(64 << 20)
        .max_buffers_per_shard(64)
        .build()
        .unwrap();
    drop((pool.get(K64), pool.get(K64))); // idle from now on
    let p = pool.clone();
    thread::spawn(move || drop((p.get(K64 * 2), p.get(K64 * 2)))).join().unwrap(); // to the shards
    assert_eq!(pool.stats().pooled_bytes, 6 * K64 as u64);
    let mut released = false;
    for _ in 0..40 {
        thread::sleep(Duration::from_millis(30));
        for _ in 0..300 {
            drop(pool.get(8192)); // the class in use
        }
        if pool.stats().pooled_bytes == 8192 {
            released = true;
            break;
        }
    }
    let s = pool.stats();
    assert!(released, "idle classes not released after ~1 s of 50 ms ticks: {s}");
    assert!(s.evictions >= 4, "{s}");
    // The thread cache may lease up to one buffer ahead of what it holds.
    let r = pool.reserved_bytes();
    assert!((8192..=2 * 8192).contains(&r), "reserved {r}");
}

#[test]
fn default_cap_keeps_a_500_mb_buffer() {
    let pool = BufferPool::new();
    assert!(pool.config().max_pooled_bytes() >= 512 << 20, "{}", pool.config().max_pooled_bytes());
    if common::slow() {
        return;
    }
    drop(pool.get(500_000_000));
    let s = pool.stats();
    assert!(s.pooled_bytes >= 500_000_000, "{s}");
    assert_eq!(s.discards, 0, "{s}");
    // Reused from another thread too (it went to the shards: too big for a thread cache).
    let p = pool.clone();
    thread::spawn(move || drop(p.get(500_000_000))).join().unwrap();
    let s = pool.stats();
    assert_eq!(s.fresh_allocations, 1, "{s}");
    assert!(s.pooled_bytes as usize <= pool.config().max_pooled_bytes());
    pool.trim();
    assert_eq!(pool.stats().pooled_bytes, 0);
}

#[test]
fn a_thread_cache_never_exceeds_tls_cache_bytes_even_with_room_in_the_pool() {
    let pool = BufferPool::builder()
        .max_pooled_bytes(64 << 20)
        .tls_cache_bytes(128 * 1024)
        .tls_cache_size(64)
        .max_buffers_per_shard(1)
        .num_shards(1)
        .build()
        .unwrap();
    // The cache may hold 2 x 64 KiB; the rest go to the shard (one) and the
    // overflow. Gets on the same thread then hit the cache at most twice.
    drop((0..10).map(|_| pool.get(K64)).collect::<Vec<_>>());
    let before = pool.stats();
    assert_eq!(before.pooled_bytes, 10 * K64 as u64, "{before}");
    drop((0..10).map(|_| pool.get(K64)).collect::<Vec<_>>());
    let s = pool.stats();
    assert!(s.cache_hits - before.cache_hits <= 2, "{s}");
    assert_eq!(s.fresh_allocations, before.fresh_allocations, "{s}");
}
