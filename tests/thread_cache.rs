//! Requirement 3: one cache per thread per pool, bounded in depth and bytes,
//! flushed to the shards when the thread exits.
mod common;

use bufpool::BufferPool;
use std::collections::HashSet;
use std::thread;

const K64: usize = 64 * 1024;

fn pool() -> BufferPool {
    BufferPool::builder().max_pooled_bytes(256 << 20).max_buffers_per_shard(64).build().unwrap()
}

#[test]
fn pool_b_never_hands_out_pool_a_buffers() {
    let a = pool();
    let b = pool();
    let a_ptrs: HashSet<usize> = {
        let bufs: Vec<_> = (0..4).map(|_| a.get(K64)).collect();
        bufs.iter().map(|x| x.as_ptr() as usize).collect()
    }; // all four are idle in A now (thread cache or A's shards)
    assert_eq!(a.stats().pooled_bytes, 4 * K64 as u64);
    let from_b: Vec<_> = (0..4).map(|_| b.get(K64)).collect();
    for x in &from_b {
        assert!(!a_ptrs.contains(&(x.as_ptr() as usize)), "pool B handed out pool A's buffer");
    }
    let sb = b.stats();
    assert_eq!(sb.fresh_allocations, 4, "{sb}");
    assert_eq!(sb.cache_hits + sb.shard_hits + sb.steals, 0, "{sb}");
    // A kept its buffers.
    assert_eq!(a.stats().pooled_bytes, 4 * K64 as u64);
    drop(from_b);
    let again: Vec<_> = (0..4).map(|_| a.get(K64)).collect();
    for x in &again {
        assert!(a_ptrs.contains(&(x.as_ptr() as usize)));
    }
    assert_eq!(a.stats().fresh_allocations, 4);
}

#[test]
fn alternating_between_two_pools_keeps_both_caches() {
    let a = pool();
    let b = pool();
    for _ in 0..1000 {
        drop(a.get(K64));
        drop(b.get(K64));
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.fresh_allocations + sb.fresh_allocations, 2, "{sa} / {sb}");
    assert_eq!(sa.cache_hits, 999, "{sa}");
    assert_eq!(sb.cache_hits, 999, "{sb}");
    assert_eq!(sa.evictions + sb.evictions + sa.discards + sb.discards, 0);
}

#[test]
fn many_pools_on_one_thread_each_keep_a_cache() {
    let pools: Vec<_> = (0..5).map(|_| pool()).collect();
    for _ in 0..200 {
        for p in &pools {
            drop(p.get(8192));
        }
    }
    for p in &pools {
        let s = p.stats();
        assert_eq!(s.fresh_allocations, 1, "{s}");
        assert_eq!(s.cache_hits, 199, "{s}");
    }
}

#[test]
fn cache_depth_is_bounded_by_tls_cache_size() {
    for depth in [1usize, 3, 8] {
        let pool = BufferPool::builder()
            .tls_cache_size(depth)
            .max_buffers_per_shard(64)
            .num_shards(4)
            .max_pooled_bytes(256 << 20)
            .build()
            .unwrap();
        for round in 0..10 {
            let bufs: Vec<_> = (0..20).map(|_| pool.get(K64)).collect();
            drop(bufs);
            let s = pool.stats();
            // Nothing lost: what the cache could not hold went to the shards.
            assert_eq!(s.pooled_bytes, 20 * K64 as u64, "{s}");
            // Empty the shards from another thread: this thread's cache only
            // shrinks at its next operation, so what stays pooled is exactly
            // what it holds.
            let other = pool.clone();
            thread::spawn(move || other.trim()).join().unwrap();
            let s = pool.stats();
            assert!(s.pooled_bytes <= (depth * K64) as u64, "depth {depth} round {round}: {s}");
            assert!(s.pooled_bytes > 0, "depth {depth} round {round}: the cache kept nothing: {s}");
        }
    }
}

#[test]
fn a_miss_served_by_the_home_shard_refills_half_the_slot() {
    // One shard, so the home shard is always the one the spill went to.
    let pool = BufferPool::builder().tls_cache_size(4).num_shards(1).max_pooled_bytes(256 << 20).build().unwrap();
    // Deepen the slot to 4: a working set of 6 misses and overflows.
    for _ in 0..20 {
        let bufs: Vec<_> = (0..6).map(|_| pool.get(K64)).collect();
        drop(bufs);
    }
    // Now the cache holds 4 and the shard 2.
    let before = pool.stats();
    let bufs: Vec<_> = (0..6).map(|_| pool.get(K64)).collect();
    let after = pool.stats();
    // 4 hits from the cache; the 5th get misses, takes one from the shard and
    // refills the slot with the other (half the depth, as far as the shard
    // has them): the 6th get is a hit again.
    assert_eq!(after.cache_hits - before.cache_hits, 5, "{before} -> {after}");
    assert_eq!(after.shard_hits - before.shard_hits, 1, "{before} -> {after}");
    assert_eq!(after.fresh_allocations, before.fresh_allocations, "{after}");
    drop(bufs);
    let s = pool.stats();
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    assert_eq!(s.pooled_bytes, 6 * K64 as u64, "{s}");
}

#[test]
fn depth_adapts_upwards_for_a_working_set() {
    // With a working set of 6 buffers and tls_cache_size 8, the depth grows
    // from 2 so that most gets are cache hits after warm-up.
    let pool = BufferPool::builder().tls_cache_size(8).max_pooled_bytes(256 << 20).build().unwrap();
    for _ in 0..50 {
        let bufs: Vec<_> = (0..6).map(|_| pool.get(K64)).collect();
        drop(bufs);
    }
    let before = pool.stats();
    for _ in 0..10 {
        let bufs: Vec<_> = (0..6).map(|_| pool.get(K64)).collect();
        drop(bufs);
    }
    let after = pool.stats();
    assert_eq!(after.cache_hits - before.cache_hits, 60, "{before} -> {after}");
}

#[test]
fn cache_is_bounded_in_bytes() {
    let cap_bytes = 256 * 1024;
    let pool = BufferPool::builder()
        .tls_cache_bytes(cap_bytes)
        .tls_cache_size(64)
        .max_buffers_per_shard(64)
        .max_pooled_bytes(256 << 20)
        .build()
        .unwrap();
    assert_eq!(pool.config().tls_cache_bytes(), cap_bytes);
    for _ in 0..5 {
        let bufs: Vec<_> = (0..32).map(|_| pool.get(K64)).collect();
        drop(bufs);
    }
    assert_eq!(pool.stats().pooled_bytes, 32 * K64 as u64);
    // Drain the shards from another thread; what remains is this thread's cache.
    let p = pool.clone();
    thread::spawn(move || p.trim()).join().unwrap();
    let s = pool.stats();
    assert!(s.pooled_bytes <= cap_bytes as u64, "thread cache holds {} > {cap_bytes}", s.pooled_bytes);
    assert!(s.pooled_bytes > 0, "the cache kept something: {s}");
    // A buffer larger than tls_cache_bytes never enters a thread cache.
    drop(pool.get(cap_bytes * 2));
    let p = pool.clone();
    thread::spawn(move || {
        let s0 = p.stats();
        let b = p.get(cap_bytes * 2);
        let s1 = p.stats();
        assert_eq!(s1.fresh_allocations, s0.fresh_allocations, "big buffer reached the shards");
        drop(b);
    })
    .join()
    .unwrap();
}

#[test]
fn default_tls_cache_bytes_is_documented_bound() {
    let pool = BufferPool::builder().max_pooled_bytes(1 << 30).build().unwrap();
    assert_eq!(pool.config().tls_cache_bytes(), bufpool::DEFAULT_TLS_CACHE_BYTES.min((1 << 30) / 8));
    let pool = BufferPool::builder().max_pooled_bytes(8 << 20).build().unwrap();
    assert_eq!(pool.config().tls_cache_bytes(), 1 << 20);
}

#[test]
fn thread_exit_returns_cached_buffers_to_the_shards() {
    let pool = pool();
    let p = pool.clone();
    let ptrs: HashSet<usize> = thread::spawn(move || {
        let bufs: Vec<_> = (0..3).map(|_| p.get(K64)).collect();
        let ptrs = bufs.iter().map(|b| b.as_ptr() as usize).collect();
        drop(bufs); // into this thread's cache
        ptrs
    })
    .join()
    .unwrap();
    let s = pool.stats();
    assert_eq!(s.pooled_bytes, 3 * K64 as u64, "cached buffers freed at exit: {s}");
    assert_eq!(s.discards + s.evictions, 0, "{s}");
    // Another thread gets them without allocating.
    let p = pool.clone();
    thread::spawn(move || {
        let bufs: Vec<_> = (0..3).map(|_| p.get(K64)).collect();
        for b in &bufs {
            assert!(ptrs.contains(&(b.as_ptr() as usize)));
        }
        let s = p.stats();
        assert_eq!(s.fresh_allocations, 3, "{s}");
        assert_eq!(s.shard_hits + s.steals, 3, "{s}");
    })
    .join()
    .unwrap();
}

#[test]
fn thread_exit_with_full_shards_overflows_within_the_budget() {
    let pool = BufferPool::builder()
        .num_shards(1)
        .max_buffers_per_shard(1)
        .tls_cache_size(8)
        .max_pooled_bytes(256 << 20)
        .build()
        .unwrap();
    let p = pool.clone();
    thread::spawn(move || {
        let bufs: Vec<_> = (0..4).map(|_| p.get(K64)).collect();
        drop(bufs);
    })
    .join()
    .unwrap();
    let s = pool.stats();
    // One fits in the shard's queue; the rest go to the class's overflow,
    // within the budget (accounted, not leaked).
    assert_eq!((s.pooled_bytes, s.discards), (4 * K64 as u64, 0), "{s}");
    assert_eq!(pool.reserved_bytes(), 4 * K64);
    assert_eq!(s.outstanding_buffers, 0);
}

#[test]
fn cached_buffers_of_many_exited_threads_are_reused() {
    let pool = pool();
    for _ in 0..common::iters(100, 10) {
        let p = pool.clone();
        thread::spawn(move || {
            drop(p.get(K64));
        })
        .join()
        .unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.fresh_allocations, 1, "{s}");
    assert_eq!(s.pooled_bytes, K64 as u64, "{s}");
}

/// Left to the defaults, a bin follows a burst larger than the defaults
/// table's depth: after a few bursts of 64, a whole burst is served by the
/// thread's cache (before, past the first few buffers every get and drop
/// went through the shards). The idle clock brings it back down.
#[test]
fn a_default_cache_follows_bursts_and_shrinks_back() {
    const BURST: usize = 64;
    let pool = BufferPool::builder().max_pooled_bytes(256 << 20).max_buffers_per_shard(BURST + 8).build().unwrap();
    let c = pool.config();
    assert_eq!(c.max_cache_depth(), bufpool::MAX_CACHE_DEPTH);
    assert!(c.tls_cache_size() < BURST, "the defaults table starts below the burst");
    assert!(BURST * K64 <= c.tls_cache_bytes(), "the burst fits the byte bound");
    let burst = || drop((0..BURST).map(|_| pool.get(K64)).collect::<Vec<_>>());
    for _ in 0..10 {
        burst();
    }
    let before = pool.stats();
    burst();
    let after = pool.stats();
    assert_eq!(after.cache_hits - before.cache_hits, BURST as u64, "{before} -> {after}");
    assert_eq!(after.fresh_allocations, before.fresh_allocations, "{after}");
    // Idle-clock ticks with light use (one get + drop a generation, no
    // misses): the depth halves back to the table's, and the returns spill
    // what no longer fits.
    for _ in 0..12 {
        pool.release_idle();
        drop(pool.get(K64));
    }
    let other = pool.clone();
    thread::spawn(move || other.trim()).join().unwrap();
    let s = pool.stats();
    let start = pool.config().tls_cache_size();
    assert!(s.pooled_bytes <= (start * K64) as u64, "cache kept past {start} buffers: {s}");
    assert!(s.pooled_bytes > 0, "the cache kept nothing: {s}");
}

/// Set by hand, `tls_cache_size` stays a hard bound: bursts do not deepen
/// the cache past it.
#[test]
fn a_set_cache_depth_is_a_hard_bound_under_bursts() {
    const BURST: usize = 64;
    let pool = BufferPool::builder()
        .tls_cache_size(4)
        .max_pooled_bytes(256 << 20)
        .max_buffers_per_shard(BURST + 8)
        .build()
        .unwrap();
    assert_eq!(pool.config().max_cache_depth(), 4);
    for _ in 0..20 {
        drop((0..BURST).map(|_| pool.get(K64)).collect::<Vec<_>>());
    }
    let other = pool.clone();
    thread::spawn(move || other.trim()).join().unwrap();
    let s = pool.stats();
    assert!(s.pooled_bytes <= (4 * K64) as u64, "{s}");
}
