//! Requirement 5: size classes waste at most 25%, pool up to 1 GiB, serve
//! out-of-range requests exactly (freed on drop, counted), and file a buffer by
//! its real capacity.
mod common;

use bufpool::BufferPool;

fn sizes(max: usize) -> Vec<usize> {
    let mut v = vec![];
    let mut n = 4096;
    while n <= max {
        for m in [n, n + 1, n + n / 5, n + n / 4 + 1, n + n / 3, n + n / 2 + 7, n * 2 - 1] {
            if m <= max {
                v.push(m);
            }
        }
        n *= 2;
    }
    v
}

#[test]
fn waste_is_at_most_a_quarter() {
    // Capacity only: large gets are lazily mapped, so this stays cheap.
    let top = if common::slow() { 4 << 20 } else { 1 << 30 };
    let pool = BufferPool::builder().max_pooled_bytes(1 << 20).build().unwrap();
    for n in sizes(top) {
        let b = pool.get(n);
        let cap = b.capacity();
        assert_eq!(b.len(), n);
        assert!(cap >= n);
        assert!(
            (cap - n) * 4 <= cap,
            "get({n}) -> capacity {cap}: wastes {:.1}%",
            (cap - n) as f64 * 100.0 / cap as f64
        );
    }
    // zeropool 0.7's example: 64 KiB + 1 must not get 256 KiB.
    assert_eq!(pool.get(64 * 1024 + 1).capacity(), 80 * 1024);
    assert_eq!(pool.stats().unpooled, 0);
}

#[test]
fn default_max_buffer_size_is_at_least_1_gib() {
    let pool = BufferPool::new();
    assert!(pool.config().max_buffer_size() >= 1 << 30);
    assert_eq!(pool.config().min_buffer_size(), bufpool::DEFAULT_MIN_BUFFER_SIZE);
    const { assert!(bufpool::DEFAULT_MAX_BUFFER_SIZE >= 1 << 30) };
}

#[test]
fn a_500_mb_buffer_is_pooled_and_reused() {
    if common::slow() {
        // calloc under valgrind touches every page: skip the 500 MB buffer.
        return;
    }
    let pool = BufferPool::new();
    let mut b = pool.get(500_000_000);
    assert_eq!(b.len(), 500_000_000);
    b[0] = 1;
    b[499_999_999] = 2;
    let p = b.as_ptr();
    drop(b);
    let s = pool.stats();
    assert_eq!(s.unpooled, 0, "{s}");
    assert!(s.pooled_bytes >= 500_000_000, "the 500 MB buffer was not kept: {s}");
    let b = pool.get(500_000_000);
    assert_eq!(b.as_ptr(), p);
    assert_eq!((b[0], b[499_999_999]), (1, 2), "Zeroing::Never keeps contents");
    let s = pool.stats();
    assert_eq!(s.fresh_allocations, 1, "second get must not allocate: {s}");
    drop(b);
    pool.trim();
    assert_eq!(pool.stats().pooled_bytes, 0);
}

#[test]
fn below_min_is_exact_unpooled_and_freed() {
    let pool = BufferPool::builder().min_buffer_size(4096).max_buffer_size(1 << 20).build().unwrap();
    for n in [0usize, 1, 100, 4095] {
        let b = pool.get(n);
        assert_eq!(b.len(), n);
        assert_eq!(b.capacity(), n, "outside the range: exact capacity");
        assert!(b.is_pooled(), "it still goes home (for the stats)");
    }
    let s = pool.stats();
    assert_eq!(s.unpooled, 4, "{s}");
    assert_eq!(s.fresh_allocations, 0, "{s}");
    assert_eq!(s.returns, 4, "{s}");
    assert_eq!(s.pooled_bytes, 0, "freed on drop: {s}");
    assert_eq!(s.outstanding_bytes, 0, "{s}");
    // Not reused: the next one is unpooled again.
    drop(pool.get(100));
    assert_eq!(pool.stats().unpooled, 5);
}

#[test]
fn above_max_is_exact_unpooled_and_freed() {
    let max = 1 << 20;
    let pool = BufferPool::builder().min_buffer_size(4096).max_buffer_size(max).build().unwrap();
    for n in [max + 1, max + 4096, 3 * max] {
        let b = pool.get(n);
        assert_eq!(b.capacity(), n, "outside the range: exact capacity");
        drop(b);
        let s = pool.stats();
        assert_eq!(s.pooled_bytes, 0, "get({n}) above max_buffer_size was kept after drop: {s}");
    }
    let s = pool.stats();
    assert_eq!(s.unpooled, 3, "{s}");
    assert_eq!(s.fresh_allocations, 0, "{s}");
    drop(pool.get(max + 1));
    assert_eq!(pool.stats().unpooled, 4, "a request above max is served exactly every time");
}

#[test]
fn above_max_is_not_served_from_the_top_class() {
    // The mirror image: a pooled max-size buffer must not serve a larger request.
    let max = 1 << 20;
    let pool = BufferPool::builder().max_buffer_size(max).build().unwrap();
    drop(pool.get(max));
    let b = pool.get(max + 1);
    assert_eq!(b.capacity(), max + 1);
    assert_eq!(pool.stats().cache_hits, 0);
}

#[test]
fn a_grown_buffer_is_filed_by_its_real_capacity() {
    let pool = BufferPool::builder().max_pooled_bytes(64 << 20).build().unwrap();
    // Start below min (exact, 100 bytes), grow twice.
    let mut b = pool.get(100);
    assert_eq!(b.capacity(), 100);
    b.extend_from_slice(&[7u8; 5000]);
    let c1 = b.capacity();
    assert!(c1 >= 5100);
    b.extend_from_slice(&vec![8u8; c1]);
    let c2 = b.capacity();
    let p = b.as_ptr();
    assert!(b.is_pooled());
    assert!(b[..100].iter().all(|&x| x == 0) && b[100..5100].iter().all(|&x| x == 7));
    drop(b);
    let s = pool.stats();
    // The 100-byte start was freed; the first grown buffer (c1) and the final
    // one (c2) are pooled under their own classes.
    assert_eq!(s.pooled_bytes, (c1 + c2) as u64, "{s}");
    // A request of exactly c2 reuses the grown buffer.
    let again = pool.get(c2);
    assert_eq!(again.as_ptr(), p);
    assert_eq!(again.capacity(), c2);
    let before = pool.stats().fresh_allocations;
    let again1 = pool.get(c1);
    assert_eq!(pool.stats().fresh_allocations, before, "grown-from buffer reused under its class");
    drop((again, again1));
}

#[test]
fn capacities_are_stable_per_class() {
    // Every request of one class gets the same capacity, so any returned
    // buffer can serve any request of its class.
    let pool = BufferPool::new();
    for n in [4097usize, 4500, 5120] {
        assert_eq!(pool.get(n).capacity(), 5120, "{n}");
    }
    for n in [65537usize, 70000, 81920] {
        assert_eq!(pool.get(n).capacity(), 81920, "{n}");
    }
}
