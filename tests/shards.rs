//! Requirement 4: shards. A producer thread and a consumer thread reuse
//! buffers through the shards (stealing across shards when they sit on
//! different CPUs) instead of allocating one per get.
mod common;

use bufpool::BufferPool;
use std::sync::mpsc;
use std::thread;

const K64: usize = 64 * 1024;

/// Producer gets `n` buffers and sends them (at most `in_flight` at a time,
/// via a bounded channel) to a consumer that drops them.
fn producer_consumer(pool: &BufferPool, n: usize, in_flight: usize, cpus: Option<(usize, usize)>) {
    let (tx, rx) = mpsc::sync_channel::<bufpool::PooledBuffer>(in_flight);
    let (ack_tx, ack_rx) = mpsc::sync_channel::<()>(in_flight);
    let p = pool.clone();
    let consumer = thread::spawn(move || {
        if let Some((_, c)) = cpus {
            assert!(common::pin_to_cpu(c));
        }
        let mut seen = 0usize;
        for b in rx {
            assert_eq!(b.len(), K64);
            assert_eq!(b[0], (seen % 251) as u8);
            seen += 1;
            drop(b);
            // Tell the producer a slot is free only after the drop.
            let _ = ack_tx.send(());
        }
        drop(p);
        seen
    });
    let p = pool.clone();
    let producer = thread::spawn(move || {
        if let Some((c, _)) = cpus {
            assert!(common::pin_to_cpu(c));
        }
        for i in 0..n {
            if i >= in_flight {
                ack_rx.recv().unwrap();
            }
            let mut b = p.get(K64);
            b[0] = (i % 251) as u8;
            tx.send(b).unwrap();
        }
    });
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), n);
}

#[test]
fn producer_and_consumer_reuse_buffers() {
    let n = common::iters(2000, 200);
    let in_flight = 4;
    let pool = BufferPool::builder().max_pooled_bytes(256 << 20).build().unwrap();
    producer_consumer(&pool, n, in_flight, None);
    let s = pool.stats();
    assert_eq!(s.gets, n as u64);
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    // Near the number in flight: the buffers in the channel, one being
    // filled, one being dropped, plus the consumer's cache before it spills.
    let bound = (in_flight + 2 + pool.config().tls_cache_size() + 2) as u64;
    assert!(s.fresh_allocations <= bound, "fresh {} > {bound}: {s}", s.fresh_allocations);
    assert!(s.cache_hits + s.shard_hits + s.steals >= (n as u64) - s.fresh_allocations, "{s}");
    // The consumer's drops go home through the producer's inbox: the
    // producer's own cache serves its gets.
    assert!(s.cache_hits > n as u64 / 2, "buffers came home: {s}");
}

#[test]
fn buffers_go_home_across_cpus() {
    let cpus = common::allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("buffers_go_home_across_cpus: needs 2 CPUs, have {cpus:?}; checking shard traffic only");
    }
    // Two distinct home shards: 4 shards and CPUs c0, c1 with c0 % 4 != c1 % 4.
    let pair = cpus.iter().flat_map(|&a| cpus.iter().map(move |&b| (a, b))).find(|&(a, b)| a % 4 != b % 4);
    let n = common::iters(2000, 200);
    let pool = BufferPool::builder().num_shards(4).max_pooled_bytes(256 << 20).build().unwrap();
    producer_consumer(&pool, n, 4, pair);
    let s = pool.stats();
    assert!(s.fresh_allocations <= 16, "{s}");
    // On two CPUs with different home shards the buffers still go home,
    // through the producer's inbox, not through a steal per get.
    assert!(s.cache_hits > n as u64 / 2, "{s}");
    assert!(s.steals < n as u64 / 10, "{s}");
}

#[test]
fn returns_past_the_shard_queue_overflow_within_the_budget() {
    // 1 shard of 2 buffers per class, thread cache of depth 1: returns beyond
    // that go to the class's overflow while the byte budget has room...
    let b = || BufferPool::builder().num_shards(1).max_buffers_per_shard(2).tls_cache_size(1);
    let pool = b().max_pooled_bytes(256 << 20).build().unwrap();
    let bufs: Vec<_> = (0..10).map(|_| pool.get(K64)).collect();
    drop(bufs);
    let s = pool.stats();
    assert_eq!((s.discards, s.pooled_bytes), (0, 10 * K64 as u64), "{s}");
    assert_eq!(s.pooled_bytes as usize, pool.reserved_bytes());
    // ... and are reused from there.
    let again: Vec<_> = (0..10).map(|_| pool.get(K64)).collect();
    assert_eq!(pool.stats().fresh_allocations, 10, "{}", pool.stats());
    drop(again);
    // The budget, not the queue's slots, bounds what is kept.
    let pool = b().max_pooled_bytes(3 * K64).build().unwrap();
    drop((0..10).map(|_| pool.get(K64)).collect::<Vec<_>>());
    let s = pool.stats();
    assert_eq!((s.discards, s.pooled_bytes), (7, 3 * K64 as u64), "{s}");
    assert_eq!(s.pooled_bytes as usize, pool.reserved_bytes());
}

#[test]
fn many_threads_share_through_the_shards() {
    let threads = 4;
    let rounds = common::iters(200, 20);
    let pool = BufferPool::builder().max_pooled_bytes(256 << 20).build().unwrap();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let p = pool.clone();
            thread::spawn(move || {
                for r in 0..rounds {
                    let mut bufs: Vec<_> = (0..4).map(|_| p.get(K64 + t * 4096)).collect();
                    for b in &mut bufs {
                        b[0] = r as u8;
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.gets, (threads * rounds * 4) as u64);
    assert_eq!(s.outstanding_buffers, 0);
    assert!(s.fresh_allocations <= (threads * 8) as u64, "{s}");
}

/// Buffers dropped on a thread that already uses the pool are listed in
/// their issuer's inbox without a slow operation (`local/foreign.rs`): the
/// counts come out exactly as the slow path's, and the issuer's next gets
/// take them back as cache hits.
#[test]
fn foreign_drops_are_counted_exactly_and_come_home() {
    let pool = BufferPool::builder().max_pooled_bytes(256 << 20).build().unwrap();
    // This thread touches the pool first, so its drops below find its block.
    drop(pool.get(K64));
    let n = 40u64;
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let p = pool.clone();
    let worker = thread::spawn(move || {
        let bufs: Vec<_> = (0..n).map(|_| p.get(K64)).collect();
        tx.send(bufs).unwrap();
        go_rx.recv().unwrap();
        // Back on the issuer: these come from its inbox, not the allocator.
        let before = p.stats();
        let again: Vec<_> = (0..n).map(|_| p.get(K64)).collect();
        let after = p.stats();
        drop(again);
        (before, after)
    });
    let bufs = rx.recv().unwrap();
    drop(bufs); // foreign returns
    let s = pool.stats();
    assert_eq!(s.returns, s.gets, "{s}");
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    assert_eq!(s.listed_bytes, n * K64 as u64, "all listed in the issuer's inbox: {s}");
    go_tx.send(()).unwrap();
    let (before, after) = worker.join().unwrap();
    assert_eq!(after.fresh_allocations, before.fresh_allocations, "{before} -> {after}");
    assert_eq!(after.cache_hits - before.cache_hits, n, "{before} -> {after}");
    let s = pool.stats();
    assert_eq!(s.listed_bytes, 0, "{s}");
    assert_eq!(s.outstanding_buffers, 0, "{s}");
}
