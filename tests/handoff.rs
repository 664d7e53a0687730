//! Issue 16, requirement 2: a pool whose working set outgrows its shards
//! (`num_shards × max_buffers_per_shard` per class) must not thrash while its
//! byte budget has room. One thread gets buffers in batches of 64 and sends
//! each batch to another thread, which touches and drops them: after warm-up,
//! every get is served by recycled memory.
mod common;

use bufpool::{BufferPool, PooledBuffer, Stats};
use std::sync::mpsc;
use std::thread;

const BATCH: usize = 64;

/// `rounds` batches of `BATCH` buffers of `size`, producer → consumer over a
/// channel of one batch (so at most three batches are in flight: one being
/// filled, one queued, one being dropped). Returns the stats after `warm`
/// rounds and at the end.
fn handoff(pool: &BufferPool, size: usize, warm: usize, rounds: usize) -> (Stats, Stats) {
    let (tx, rx) = mpsc::sync_channel::<Vec<PooledBuffer>>(1);
    let (ack_tx, ack_rx) = mpsc::sync_channel::<()>(rounds);
    let consumer = thread::spawn(move || {
        for batch in rx {
            for mut b in batch {
                // Touch one byte a page, as a consumer reading the data would.
                for i in (0..b.len()).step_by(4096) {
                    b[i] = b[i].wrapping_add(1);
                }
            }
            let _ = ack_tx.send(());
        }
    });
    let mut warm_stats = None;
    for r in 0..rounds {
        if r == warm {
            // Every earlier batch is dropped: the snapshot is at rest.
            for _ in 0..r {
                ack_rx.recv().unwrap();
            }
            warm_stats = Some(pool.stats());
        }
        let batch: Vec<_> = (0..BATCH).map(|_| pool.get(size)).collect();
        tx.send(batch).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    (warm_stats.unwrap(), pool.stats())
}

fn assert_recycled(size: usize, rounds: usize) {
    let pool = BufferPool::new();
    let warm = 4;
    let (w, end) = handoff(&pool, size, warm, rounds);
    let gets = end.gets - w.gets;
    let fresh = end.fresh_allocations - w.fresh_allocations;
    let discards = end.discards - w.discards;
    assert_eq!(gets, ((rounds - warm) * BATCH) as u64);
    // After warm-up the pool holds the whole working set (three batches): a
    // fresh allocation or a discard is a return the pool threw away while
    // its byte budget had room.
    assert!(fresh <= gets / 50, "size {size}: {fresh} of {gets} gets were fresh after warm-up\n{end}");
    // The working set: three batches in flight, and the thread caches.
    let bound = (4 * BATCH) as u64;
    assert!(end.fresh_allocations <= bound, "size {size}: {} fresh in all\n{end}", end.fresh_allocations);
    assert!(discards <= gets / 100, "size {size}: {discards} of {gets} returns discarded after warm-up\n{end}");
    assert_eq!(end.outstanding_buffers, 0, "{end}");
    assert!(end.pooled_bytes as usize <= pool.reserved_bytes(), "{end}");
}

#[test]
fn batch_handoff_recycles_at_4k() {
    assert_recycled(4 << 10, common::iters(200, 40));
}

#[test]
fn batch_handoff_recycles_at_64k() {
    assert_recycled(64 << 10, common::iters(100, 20));
}

#[test]
fn batch_handoff_recycles_at_1m() {
    assert_recycled(1 << 20, common::iters(24, 10));
}
