//! `BufferPool::prefill`: how many it adds within the shards' slots and
//! `max_pooled_bytes`, that gets are then served without allocating, and the
//! limit cases (zero, sizes the pool does not pool, a budget too small for
//! one buffer) give a plain count, never a panic.

use bufpool::BufferPool;

const KIB64: usize = 64 * 1024;

fn pool(shards: usize, slots: usize, budget: usize) -> BufferPool {
    BufferPool::builder().num_shards(shards).max_buffers_per_shard(slots).max_pooled_bytes(budget).build().unwrap()
}

#[test]
fn prefilled_buffers_serve_gets_without_allocating() {
    let p = pool(4, 16, 64 << 20);
    let added = p.prefill(KIB64, 40);
    assert_eq!(added, 40);
    let s = p.stats();
    assert_eq!(s.prefilled, 40);
    assert_eq!(s.pooled_bytes, 40 * KIB64 as u64);
    assert_eq!((s.gets, s.fresh_allocations), (0, 0), "a prefill is no get");
    let held: Vec<_> = (0..40).map(|_| p.get(KIB64)).collect();
    let s = p.stats();
    assert_eq!(s.fresh_allocations, 0, "{s}");
    assert_eq!(s.gets, 40);
    assert_eq!(s.pooled_bytes, 0);
    // One more than was prefilled allocates.
    let extra = p.get(KIB64);
    assert_eq!(p.stats().fresh_allocations, 1);
    drop((held, extra));
}

#[test]
fn prefill_spreads_over_the_shards_and_stops_when_their_slots_are_full() {
    let p = pool(4, 8, 64 << 20);
    // 4 shards × 8 slots: no more fit, and nothing goes to the overflow.
    assert_eq!(p.prefill(KIB64, 1000), 32);
    assert_eq!(p.stats().pooled_bytes, 32 * KIB64 as u64);
    assert_eq!(p.prefill(KIB64, 1), 0, "every slot is taken");
    // Another class has its own slots.
    assert_eq!(p.prefill(8192, 3), 3);
    // Taking some out makes room for as many again.
    let held: Vec<_> = (0..5).map(|_| p.get(KIB64)).collect();
    assert_eq!(p.prefill(KIB64, 1000), 5);
    drop(held);
}

#[test]
fn prefill_stays_within_max_pooled_bytes() {
    let budget = 10 * KIB64 + KIB64 / 2;
    let p = pool(4, 64, budget);
    assert_eq!(p.prefill(KIB64, 100), 10, "ten whole buffers fit the budget");
    assert!(p.stats().pooled_bytes <= budget as u64);
    assert!(p.reserved_bytes() <= budget);
    assert_eq!(p.prefill(KIB64, 100), 0);
    // The half buffer left holds eight 4 KiB buffers, and the budget is then full.
    assert_eq!(p.prefill(4096, 100), 8);
    assert_eq!(p.stats().pooled_bytes, budget as u64);
    assert_eq!(p.reserved_bytes(), budget);
}

#[test]
fn prefill_shares_the_budget_with_thread_caches() {
    let budget = 8 * KIB64;
    let p = pool(4, 64, budget);
    // Buffers cached by this thread hold budget in its lease.
    let held: Vec<_> = (0..3).map(|_| p.get(KIB64)).collect();
    drop(held);
    let leased = p.reserved_bytes();
    assert!(leased >= KIB64, "the thread cache leased {leased}");
    let added = p.prefill(KIB64, 100);
    assert_eq!(added, (budget - leased) / KIB64);
    assert!(p.reserved_bytes() <= budget);
}

#[test]
fn limit_cases_are_counts_not_panics() {
    let p = BufferPool::builder().max_buffer_size(1 << 20).max_pooled_bytes(4 << 20).build().unwrap();
    assert_eq!(p.prefill(KIB64, 0), 0, "zero buffers");
    assert_eq!(p.prefill(0, 10), 0, "zero bytes is never pooled");
    assert_eq!(p.prefill(100, 10), 0, "below min_buffer_size");
    assert_eq!(p.prefill((1 << 20) + 1, 10), 0, "above max_buffer_size");
    assert_eq!(p.prefill(usize::MAX, usize::MAX), 0);
    assert_eq!(p.prefill(isize::MAX as usize, 1), 0);
    // A class larger than the whole budget.
    let tiny = pool(4, 16, KIB64 - 1);
    assert_eq!(tiny.prefill(KIB64, 1), 0);
    // A huge count stops at the slots, it does not loop for ever.
    assert_eq!(p.prefill(4096, usize::MAX), p.config().num_shards() * p.config().max_buffers_per_shard());
    assert_eq!(p.stats().gets, 0);
}

#[test]
fn prefilled_buffers_go_on_trim_and_on_close() {
    let p = pool(4, 16, 64 << 20);
    assert_eq!(p.prefill(KIB64, 20), 20);
    p.trim();
    let s = p.stats();
    assert_eq!(s.pooled_bytes, 0);
    assert_eq!(s.evictions, 20);
    assert_eq!(p.prefill(KIB64, 20), 20);
    drop(p); // the pool's drop frees them; valgrind and the leak tests check no memory stays
}

#[test]
fn prefill_from_many_threads_stays_within_slots_and_budget() {
    let budget = 50 * KIB64;
    let p = pool(4, 64, budget);
    let total: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| p.prefill(KIB64, 30))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, 50, "the budget holds 50 and the slots 256");
    assert_eq!(p.stats().pooled_bytes, budget as u64);
    assert_eq!(p.stats().prefilled, 50);
}
