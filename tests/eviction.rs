//! Requirement 8: what tells `Lifo` and `Clock` apart.
//!
//! Setup: one shard, a thread cache that holds nothing (`tls_cache_bytes` below
//! every buffer, so returns go straight to the shard), and a byte cap that
//! fits the 32 KiB and 48 KiB classes one at a time but not together.
//! `release_idle()` ticks the idle clock once, clearing Clock's second-chance
//! bits (one tick does not release anything: a class is only released after a
//! whole generation unused).
use bufpool::{BufferPool, EvictionPolicy};

const K32: usize = 32 * 1024;
const K48: usize = 48 * 1024;
const K64: usize = 64 * 1024;

fn pool(policy: EvictionPolicy, cap: usize) -> BufferPool {
    BufferPool::builder()
        .eviction_policy(policy)
        .num_shards(1)
        .max_buffers_per_shard(8)
        .tls_cache_bytes(1)
        .max_pooled_bytes(cap)
        .build()
        .unwrap()
}

#[test]
fn lifo_is_the_default() {
    assert_eq!(BufferPool::new().config().eviction_policy(), EvictionPolicy::Lifo);
}

#[test]
fn a_new_class_at_the_cap() {
    // The shard holds two idle 32 KiB buffers, filling the 64 KiB cap. After a
    // tick (bits cleared), a 64 KiB buffer comes back:
    // - Lifo frees the incoming buffer (a discard) and keeps the two 32 KiB;
    // - Clock evicts the idle 32 KiB class and keeps the 64 KiB buffer.
    for policy in [EvictionPolicy::Lifo, EvictionPolicy::Clock] {
        let pool = pool(policy, K64);
        drop((pool.get(K32), pool.get(K32)));
        assert_eq!(pool.stats().pooled_bytes, K64 as u64);
        pool.release_idle();
        drop(pool.get(K64));
        let s = pool.stats();
        assert_eq!(s.pooled_bytes, K64 as u64, "{policy:?}: {s}");
        assert!(pool.reserved_bytes() <= K64);
        let fresh = s.fresh_allocations;
        if policy == EvictionPolicy::Lifo {
            assert_eq!((s.discards, s.evictions), (1, 0), "{policy:?}: {s}");
            drop((pool.get(K32), pool.get(K32)));
            assert_eq!(pool.stats().fresh_allocations, fresh, "Lifo kept the 32 KiB buffers");
        } else {
            assert_eq!((s.discards, s.evictions), (0, 2), "{policy:?}: {s}");
            drop(pool.get(K64));
            assert_eq!(pool.stats().fresh_allocations, fresh, "Clock kept the 64 KiB buffer");
        }
    }
}

#[test]
fn clock_evicts_enough_for_the_shortfall_only() {
    // Cap 64 KiB, 32 KiB idle (bit clear), 48 KiB returned. Evicting the idle
    // 32 KiB buffer leaves room for the 48 KiB one: Clock must keep it, not
    // evict the idle buffer *and* free the incoming one.
    let pool = pool(EvictionPolicy::Clock, K64);
    drop(pool.get(K32));
    pool.release_idle();
    drop(pool.get(K48));
    let s = pool.stats();
    assert_eq!(s.evictions, 1, "{s}");
    assert_eq!(s.discards, 0, "Clock evicted the idle class and still discarded the new buffer: {s}");
    assert_eq!(s.pooled_bytes, K48 as u64, "{s}");
}

#[test]
fn clock_never_evicts_a_class_used_since_the_last_tick() {
    let pool = pool(EvictionPolicy::Clock, 80 * 1024);
    drop(pool.get(K32));
    pool.release_idle();
    // Use the 32 KiB class again after the tick: its bit is set.
    drop(pool.get(K32));
    assert_eq!(pool.stats().fresh_allocations, 1);
    drop(pool.get(K64));
    let s = pool.stats();
    assert_eq!(s.evictions, 0, "a class in use was evicted: {s}");
    assert_eq!(s.discards, 1, "{s}");
    assert_eq!(s.pooled_bytes, K32 as u64, "{s}");
    // Without any tick at all, bits are set from first use: no eviction either.
    let pool = pool_no_tick();
    drop(pool.get(K32));
    drop(pool.get(K64));
    let s = pool.stats();
    assert_eq!((s.evictions, s.discards, s.pooled_bytes), (0, 1, K32 as u64), "{s}");
}

fn pool_no_tick() -> BufferPool {
    pool(EvictionPolicy::Clock, 80 * 1024)
}

#[test]
fn a_burst_of_one_size_does_not_flush_the_working_set_under_clock() {
    // Working set: 4 x 32 KiB, used every "sweep". A burst of 64 KiB buffers
    // arrives; with Clock, the working set survives because it keeps being
    // used between ticks.
    let cap = 4 * K32 + K64;
    let pool = pool(EvictionPolicy::Clock, cap);
    let ws: Vec<_> = (0..4).map(|_| pool.get(K32)).collect();
    drop(ws);
    for round in 0..5 {
        pool.release_idle();
        let f = pool.stats().fresh_allocations;
        let ws: Vec<_> = (0..4).map(|_| pool.get(K32)).collect(); // marks the class
        assert_eq!(pool.stats().fresh_allocations, f, "round {round}: working set was evicted");
        drop(ws);
        let burst: Vec<_> = (0..6).map(|_| pool.get(K64)).collect();
        drop(burst);
    }
    let s = pool.stats();
    let ws: Vec<_> = (0..4).map(|_| pool.get(K32)).collect();
    let s2 = pool.stats();
    assert_eq!(s2.fresh_allocations, s.fresh_allocations, "working set flushed by the burst: {s2}");
    drop(ws);
    assert!(pool.reserved_bytes() <= cap);
}

#[test]
fn lifo_reuses_the_most_recently_returned_buffer_from_the_thread_cache() {
    let pool = BufferPool::builder().tls_cache_size(4).max_pooled_bytes(1 << 20).build().unwrap();
    let a = pool.get(K32);
    let b = pool.get(K32);
    let pb = b.as_ptr();
    drop(a);
    drop(b); // most recent
    assert_eq!(pool.get(K32).as_ptr(), pb);
}

#[test]
fn shards_reuse_in_queue_order_as_documented() {
    // `EvictionPolicy::Lifo` documents LIFO reuse in the thread cache and FIFO
    // within a shard (crossbeam's lock-free ArrayQueue, which the design
    // requires). Here every return goes to the one shard (the thread cache
    // holds nothing), so the order is the shard queue's: oldest first.
    let pool = BufferPool::builder().num_shards(1).tls_cache_bytes(1).max_pooled_bytes(1 << 20).build().unwrap();
    let a = pool.get(K32);
    let b = pool.get(K32);
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    drop(a);
    drop(b); // most recent
    let got = pool.get(K32).as_ptr();
    assert_eq!(got, pa, "the shard did not hand out its oldest buffer (b = {pb:?}) first, as documented");
}
