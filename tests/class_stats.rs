//! Issue 13, item 4: `class_stats()` per class (capacity, idle, outstanding,
//! gets, misses, peak) and the peaks in `Stats`. Every expected value is
//! computed from the operations the test performs.
use bufpool::{BufferPool, ClassStats};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

const SMALL: usize = 4 * 1024;
const BIG: usize = 64 * 1024;
const TLS_BYTES: usize = 1 << 20;
const TLS_SIZE: usize = 8;

fn pool() -> BufferPool {
    BufferPool::builder()
        .max_pooled_bytes(256 << 20)
        .tls_cache_bytes(TLS_BYTES)
        .tls_cache_size(TLS_SIZE)
        .max_buffers_per_shard(64)
        .build()
        .unwrap()
}

/// The entry for buffers of `capacity`.
fn class(pool: &BufferPool, capacity: usize) -> ClassStats {
    *pool.class_stats().iter().find(|c| c.capacity == capacity).expect("class listed")
}

/// The documented bound of a class's peak on one thread, when the most held
/// at once was `most`: at least that, and over it by less than the bin's
/// depth (idle in the cache) plus one `tls_cache_size` (the publishing steps).
fn peak_within(c: &ClassStats, most: u64) {
    let p = c.peak_outstanding_buffers;
    assert!(p >= most && p < most + 2 * TLS_SIZE as u64, "peak {p}, most held {most}");
}

/// What holds for every snapshot, whatever the operations were.
fn consistent(pool: &BufferPool) {
    let s = pool.stats();
    let per_class = pool.class_stats();
    let gets: u64 = per_class.iter().map(|c| c.gets).sum();
    assert_eq!(gets, s.gets - s.unpooled, "per-class gets sum to the pool's pooled gets");
    let misses: u64 = per_class.iter().map(|c| c.misses).sum();
    assert_eq!(misses, s.gets - s.unpooled - s.cache_hits, "a miss is every get the cache did not serve");
    let out: u64 = per_class.iter().map(|c| c.outstanding_buffers).sum();
    assert_eq!(out, s.outstanding_buffers);
    let out_bytes: u64 = per_class.iter().map(|c| c.outstanding_buffers * c.capacity as u64).sum();
    assert_eq!(out_bytes, s.outstanding_bytes);
    let idle: u64 = per_class.iter().map(|c| c.idle_bytes).sum();
    assert_eq!(idle, s.pooled_bytes, "idle bytes per class sum to pooled_bytes");
    for c in &per_class {
        assert_eq!(c.idle_bytes, c.idle_buffers * c.capacity as u64);
        assert_eq!(c.gets - c.returns, c.outstanding_buffers);
        assert!(c.peak_outstanding_buffers >= c.outstanding_buffers);
    }
    assert!(s.peak_outstanding_bytes >= s.outstanding_bytes);
    assert!(s.peak_pooled_bytes >= s.pooled_bytes);
}

#[test]
fn unused_classes_are_not_listed() {
    let pool = pool();
    assert!(pool.class_stats().is_empty());
    let a = pool.get(SMALL);
    let b = pool.get(BIG);
    drop(pool.get(10)); // below min_buffer_size: unpooled, no class
    let caps: Vec<usize> = pool.class_stats().iter().map(|c| c.capacity).collect();
    assert_eq!(caps, vec![a.capacity(), b.capacity()]);
    consistent(&pool);
}

#[test]
fn one_thread_two_sizes() {
    let pool = pool();
    // Three small and one big, held at once: every one a miss.
    let held: Vec<_> = (0..3).map(|_| pool.get(SMALL)).chain([pool.get(BIG)]).collect();
    let (small_cap, big_cap) = (held[0].capacity(), held[3].capacity());
    let s = class(&pool, small_cap);
    assert_eq!((s.gets, s.misses, s.outstanding_buffers, s.idle_buffers), (3, 3, 3, 0));
    peak_within(&s, 3);
    consistent(&pool);
    drop(held);
    // All four are idle on this thread now; the next gets are hits.
    let s = class(&pool, small_cap);
    assert_eq!((s.outstanding_buffers, s.idle_buffers, s.returns), (0, 3, 3));
    consistent(&pool);
    // Alternate the two sizes, so a hit counted on the wrong class shows.
    let rounds = 100u64;
    for _ in 0..rounds {
        drop(pool.get(SMALL));
        drop(pool.get(BIG));
    }
    let two = pool.get(SMALL);
    let s = class(&pool, small_cap);
    let b = class(&pool, big_cap);
    assert_eq!((s.gets, s.misses, s.outstanding_buffers), (3 + rounds + 1, 3, 1));
    assert_eq!((b.gets, b.misses, b.outstanding_buffers), (1 + rounds, 1, 0));
    assert_eq!((s.idle_buffers, b.idle_buffers), (2, 1), "every buffer ever allocated is idle or out");
    peak_within(&s, 3);
    peak_within(&b, 1);
    assert_eq!(pool.stats().cache_hits, rounds * 2 + 1);
    consistent(&pool);
    drop(two);
    // A trim frees the idle buffers; counts and peaks stay.
    pool.trim();
    drop(pool.get(BIG)); // lets this thread's cache see the trim
    let s = class(&pool, small_cap);
    assert_eq!((s.idle_buffers, s.idle_bytes, s.outstanding_buffers), (0, 0, 0));
    peak_within(&s, 3);
    consistent(&pool);
}

#[test]
fn across_threads() {
    let pool = pool();
    let threads = 4usize;
    let per_thread = 50usize;
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let pool = pool.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..per_thread {
                    let b = pool.get(if i % 2 == 0 { SMALL } else { BIG });
                    if i % 5 == 0 {
                        // Dropped on the main thread: a foreign return.
                        tx.send(b).unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let sent: Vec<_> = rx.iter().collect();
    for w in workers {
        w.join().unwrap();
    }
    let small_gets = (threads * per_thread.div_ceil(2)) as u64;
    let big_gets = (threads * (per_thread / 2)) as u64;
    let out_small = sent.iter().filter(|b| b.capacity() < BIG).count() as u64;
    let small_cap = sent.iter().find(|b| b.capacity() < BIG).unwrap().capacity();
    let big_cap = pool.get(BIG).capacity(); // one more big get, dropped at once
    let s = class(&pool, small_cap);
    let b = class(&pool, big_cap);
    assert_eq!((s.gets, s.outstanding_buffers), (small_gets, out_small));
    assert_eq!((b.gets, b.outstanding_buffers), (big_gets + 1, sent.len() as u64 - out_small));
    consistent(&pool);
    drop(sent);
    let s = class(&pool, small_cap);
    assert_eq!((s.outstanding_buffers, s.returns), (0, small_gets));
    // The workers have exited, so no buffer is listed for them: every
    // buffer allocated is idle, bar what the pool discarded.
    let st = pool.stats();
    assert_eq!(st.listed_bytes, 0);
    let idle: u64 = pool.class_stats().iter().map(|c| c.idle_buffers).sum();
    assert_eq!(idle, st.fresh_allocations - st.discards - st.evictions);
    consistent(&pool);
}

#[test]
fn peak_outstanding_bytes_bound_on_one_thread() {
    let pool = pool();
    let mut most = 0u64;
    for n in [5usize, 12, 3, 9] {
        let held: Vec<_> = (0..n).map(|_| pool.get(BIG)).collect();
        let s = pool.stats();
        most = most.max(s.outstanding_bytes);
        assert!(s.peak_outstanding_bytes >= most, "{} < {most}", s.peak_outstanding_bytes);
        consistent(&pool);
        drop(held);
    }
    let cap = pool.get(BIG).capacity() as u64;
    assert_eq!(most, 12 * cap);
    let s = pool.stats();
    assert!(s.peak_outstanding_bytes >= most);
    // One thread: over by at most its cache's idle bytes (bins and inbox).
    assert!(s.peak_outstanding_bytes <= most + 2 * TLS_BYTES as u64, "{} vs {most}", s.peak_outstanding_bytes);
}

#[test]
fn peak_outstanding_bytes_bound_across_threads() {
    let pool = pool();
    let threads = 4;
    let each = 6;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            thread::spawn(move || {
                let held: Vec<_> = (0..each).map(|_| pool.get(BIG)).collect();
                barrier.wait(); // all held at once here
                barrier.wait();
                drop(held);
                // Churn that never holds more than one at a time.
                for _ in 0..100 {
                    drop(pool.get(BIG));
                }
            })
        })
        .collect();
    barrier.wait();
    let at_once = pool.stats().outstanding_bytes;
    let cap = class(&pool, pool.class_stats()[0].capacity).capacity as u64;
    assert_eq!(at_once, (threads * each) as u64 * cap);
    barrier.wait();
    for w in workers {
        w.join().unwrap();
    }
    let s = pool.stats();
    assert!(s.peak_outstanding_bytes >= at_once);
    let slack = (threads as u64 + 1) * 2 * TLS_BYTES as u64;
    assert!(s.peak_outstanding_bytes <= at_once + slack, "{} vs {at_once}", s.peak_outstanding_bytes);
    consistent(&pool);
}

#[test]
fn peak_outstanding_bytes_is_the_caps_peak_under_a_cap() {
    let pool = BufferPool::builder().max_outstanding_bytes(8 << 20).build().unwrap();
    let held: Vec<_> = (0..7).map(|_| pool.get(BIG)).collect();
    drop(held);
    let s = pool.stats();
    assert_eq!(s.peak_outstanding_bytes, pool.peak_charged_bytes() as u64);
    assert!(s.peak_outstanding_bytes >= 7 * BIG as u64);
}

#[test]
fn peak_pooled_bytes_bound() {
    let pool = pool();
    let filled = pool.prefill(BIG, 10) as u64;
    assert_eq!(filled, 10);
    let cap = pool.class_stats()[0].capacity as u64;
    let s = pool.stats();
    let mut most = s.pooled_bytes;
    assert_eq!(most, 10 * cap);
    assert!(s.peak_pooled_bytes >= most);
    // Take them all into this thread and back: pooled never rises above 10.
    let held: Vec<_> = (0..10).map(|_| pool.get(BIG)).collect();
    most = most.max(pool.stats().pooled_bytes);
    drop(held);
    let s = pool.stats();
    most = most.max(s.pooled_bytes);
    assert!(s.peak_pooled_bytes >= most);
    // Over by at most one thread cache's unused lease.
    assert!(s.peak_pooled_bytes <= most + TLS_BYTES as u64, "{} vs {most}", s.peak_pooled_bytes);
    pool.trim();
    let s = pool.stats();
    assert_eq!(s.pooled_bytes, 0);
    assert!(s.peak_pooled_bytes >= most, "the peak outlives a trim");
}

#[test]
fn exited_threads_leave_no_rounding_in_the_peaks() {
    // Thread caches publish their shares of the peaks' gauges in steps; an
    // exiting thread settles its share exactly, so a churn of threads that
    // each hold one buffer at a time never adds up.
    let pool = pool();
    for _ in 0..50 {
        let pool = pool.clone();
        thread::spawn(move || drop(pool.get(BIG))).join().unwrap();
    }
    let s = pool.stats();
    let c = class(&pool, pool.class_stats()[0].capacity);
    assert_eq!(c.gets, 50);
    peak_within(&c, 1);
    let one = c.capacity as u64;
    assert!(s.peak_outstanding_bytes < one + 2 * TLS_BYTES as u64, "{} vs one {one}", s.peak_outstanding_bytes);
    consistent(&pool);
}
