//! Requirement 13: stats. Every field moves as it should; Display is a
//! compact one-liner; counts from exited threads are not lost.
use bufpool::{BufferPool, Stats};
use std::thread;

const K64: usize = 64 * 1024;

fn pool() -> BufferPool {
    BufferPool::builder().max_pooled_bytes(64 << 20).max_buffers_per_shard(64).build().unwrap()
}

#[test]
fn fresh_pool_is_all_zero() {
    assert_eq!(pool().stats(), Stats::default());
    assert_eq!(Stats::default().hit_rate(), 0.0);
}

#[test]
fn get_fields_move() {
    let pool = pool();
    let b = pool.get(K64);
    let s = pool.stats();
    assert_eq!((s.gets, s.fresh_allocations, s.cache_hits), (1, 1, 0));
    assert_eq!((s.outstanding_buffers, s.outstanding_bytes), (1, K64 as u64));
    assert_eq!((s.returns, s.pooled_bytes), (0, 0));
    drop(b);
    let s = pool.stats();
    assert_eq!((s.returns, s.outstanding_buffers, s.outstanding_bytes), (1, 0, 0));
    assert_eq!(s.pooled_bytes, K64 as u64);
    drop(pool.get(K64));
    let s = pool.stats();
    assert_eq!((s.gets, s.cache_hits, s.fresh_allocations), (2, 1, 1));
    assert_eq!(s.hit_rate(), 0.5);
    // unpooled
    drop(pool.get(10));
    let s = pool.stats();
    assert_eq!((s.gets, s.unpooled, s.returns), (3, 1, 3));
    assert_eq!(s.gets, s.cache_hits + s.shard_hits + s.steals + s.fresh_allocations + s.unpooled);
}

#[test]
fn shard_hits_and_steals_come_from_the_shards() {
    let pool = pool();
    let p = pool.clone();
    thread::spawn(move || drop((p.get(K64), p.get(K64)))).join().unwrap(); // exits: to the shards
    drop((pool.get(K64), pool.get(K64)));
    let s = pool.stats();
    assert_eq!(s.shard_hits + s.steals, 2, "{s}");
    assert_eq!(s.fresh_allocations, 2, "{s}");
}

#[test]
fn discards_and_evictions() {
    // A pool that keeps one 64 KiB buffer: the second return is discarded.
    let pool = BufferPool::builder().max_pooled_bytes(K64).tls_cache_bytes(1).build().unwrap();
    drop((pool.get(K64), pool.get(K64)));
    let s = pool.stats();
    assert_eq!((s.discards, s.pooled_bytes), (1, K64 as u64), "{s}");
    // trim evicts what is pooled.
    pool.trim();
    let s = pool.stats();
    assert_eq!((s.evictions, s.pooled_bytes), (1, 0), "{s}");
    // Thread-cache buffers freed by trim are evictions too.
    let pool = pool_with_cache();
    drop((pool.get(K64), pool.get(K64)));
    pool.trim();
    let s = pool.stats();
    assert_eq!((s.evictions, s.pooled_bytes, s.discards), (2, 0, 0), "{s}");
}

fn pool_with_cache() -> BufferPool {
    pool()
}

#[test]
fn detach_counts_as_a_return() {
    let pool = pool();
    let v = pool.get(K64).into_vec();
    let s = pool.stats();
    assert_eq!((s.returns, s.outstanding_buffers, s.outstanding_bytes, s.pooled_bytes), (1, 0, 0, 0), "{s}");
    drop(v);
}

#[test]
fn outstanding_bytes_track_capacity() {
    let pool = pool();
    let a = pool.get(5000); // 5 KiB class
    let b = pool.get(100); // unpooled, exact
    let s = pool.stats();
    assert_eq!(s.outstanding_bytes, (a.capacity() + b.capacity()) as u64);
    assert_eq!(s.outstanding_buffers, 2);
    let mut a = a;
    a.extend_from_slice(&[0; 6000]); // grows: old goes home, new is out
    let s = pool.stats();
    assert_eq!(s.outstanding_buffers, 2, "{s}");
    assert_eq!(s.outstanding_bytes, (a.capacity() + b.capacity()) as u64, "{s}");
}

#[test]
fn display_is_a_compact_one_liner() {
    let pool = pool();
    drop(pool.get(K64));
    drop(pool.get(K64));
    let line = pool.stats().to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.len() < 200, "{} chars: {line}", line.len());
    for w in ["gets 2", "cache 1", "fresh 1", "returns 2", "pooled 64.0 KiB"] {
        assert!(line.contains(w), "{line:?} lacks {w:?}");
    }
    assert!(!line.contains("pin failures"), "only shown when non-zero: {line}");
}

#[test]
fn counters_from_exited_threads_are_not_lost() {
    let pool = pool();
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let p = pool.clone();
            thread::spawn(move || {
                for _ in 0..50 {
                    drop(p.get(K64));
                }
                drop(p.get(10));
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.gets, 4 * 51, "{s}");
    assert_eq!(s.returns, 4 * 51, "{s}");
    assert_eq!(s.unpooled, 4, "{s}");
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    assert_eq!(s.gets, s.cache_hits + s.shard_hits + s.steals + s.fresh_allocations + s.unpooled, "{s}");
    // Stable across more reads, and further traffic adds on top.
    assert_eq!(pool.stats(), s);
    drop(pool.get(K64));
    assert_eq!(pool.stats().gets, s.gets + 1);
}

#[test]
fn stats_read_concurrently_are_consistent() {
    let pool = pool();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let p = pool.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 100 {
                    drop(p.get(K64));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut last = 0;
    for _ in 0..200 {
        let s = pool.stats();
        assert!(s.gets >= last, "gets went backwards");
        assert!(s.outstanding_buffers <= 2, "{s}");
        last = s.gets;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    let s = pool.stats();
    assert_eq!((s.gets, s.returns, s.outstanding_buffers), (total, total, 0), "{s}");
}

#[test]
fn pinned_fields() {
    let pool = BufferPool::builder().pinned_memory(true).max_pooled_bytes(1 << 20).build().unwrap();
    let b = pool.get(8192);
    let s = pool.stats();
    if b.is_pinned() {
        assert_eq!((s.pinned_bytes, s.pin_failures), (8192, 0), "{s}");
    } else {
        assert_eq!((s.pinned_bytes, s.pin_failures), (0, 1), "{s}");
        assert!(s.to_string().contains("1 pin failures"));
    }
}
