//! Loom models of bufpool's concurrent protocols. Run with `loom-tests/run.sh`.
//!
//! Each model is small (at most 3 threads, 2 shards, 2 buffers a shard, cache
//! depth 1) so that with `LOOM_MAX_PREEMPTIONS=2` it finishes in seconds. Loom's
//! `UnsafeCell` guards each cache block's private state, so any access to it
//! that is not ordered by happens-before (for instance a block freed by one
//! thread while its owner's last writes are not yet visible) fails the model,
//! and loom's leak check fails a model that leaks a pool or a block.
#![cfg(loom)]

use bufpool::{BufferPool, PooledBuffer};
use loom::sync::{Arc, Mutex};
use loom::thread;

const SIZE: usize = 4096;

fn small_builder() -> bufpool::Builder {
    BufferPool::builder()
        .cpus(2)
        .num_shards(2)
        .max_buffers_per_shard(2)
        .tls_cache_size(1)
        .min_buffer_size(SIZE)
        .max_buffer_size(2 * SIZE)
        .max_pooled_bytes(1 << 20)
        .tls_cache_bytes(1 << 20)
}

fn small_pool() -> BufferPool {
    small_builder().build().unwrap()
}

fn filled(pool: &BufferPool, byte: u8) -> PooledBuffer {
    let mut b = pool.get(SIZE);
    b.fill(byte);
    b
}

fn intact(b: &PooledBuffer, byte: u8) {
    assert!(b.iter().all(|&x| x == byte), "a live buffer was handed out twice");
}

/// Spill from a depth-1 cache to a shard on one thread while another thread
/// takes from the shards (refill / steal). No buffer is ever live twice, and
/// the counts balance.
#[test]
fn spill_and_refill() {
    loom::model(|| {
        let pool = small_pool();
        let p2 = pool.clone();
        let t = thread::spawn(move || {
            let a = filled(&p2, 1);
            let b = filled(&p2, 2);
            intact(&a, 1);
            drop(a); // cached
            intact(&b, 2);
            drop(b); // cache full: spills to a shard
        });
        let c = filled(&pool, 3);
        thread::yield_now();
        intact(&c, 3);
        drop(c);
        let d = filled(&pool, 4);
        thread::yield_now();
        intact(&d, 4);
        drop(d);
        t.join().unwrap();
        let s = pool.stats();
        assert_eq!((s.gets, s.returns, s.outstanding_buffers), (4, 4, 0), "{s}");
        assert!(s.fresh_allocations <= 3, "{s}");
    });
}

/// Spill past a one-slot shard queue into the class's overflow on one thread
/// while another takes from the shards and the overflow (steal, overflow hit
/// and its refill). No buffer is ever live twice, and the counts balance.
#[test]
fn spill_to_overflow_and_refill() {
    loom::model(|| {
        let pool = BufferPool::builder()
            .cpus(2)
            .num_shards(1)
            .max_buffers_per_shard(1)
            .tls_cache_size(1)
            .min_buffer_size(SIZE)
            .max_buffer_size(SIZE)
            .max_pooled_bytes(1 << 20)
            .tls_cache_bytes(1 << 20)
            .build()
            .unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || {
            let bufs: Vec<_> = (1..=3).map(|i| filled(&p2, i)).collect();
            // One stays cached; the spills fill the queue's one slot, then
            // the overflow.
            for (i, b) in bufs.into_iter().enumerate() {
                intact(&b, i as u8 + 1);
                drop(b);
            }
        });
        let c = filled(&pool, 4);
        thread::yield_now();
        let d = filled(&pool, 5);
        intact(&c, 4);
        intact(&d, 5);
        drop(c);
        drop(d);
        t.join().unwrap();
        let s = pool.stats();
        assert_eq!((s.gets, s.returns, s.outstanding_buffers, s.discards), (5, 5, 0, 0), "{s}");
        // (No reuse count after the join: loom runs the exited thread's
        // thread-local destructors, which flush its cache, after `join`
        // returns, concurrently with what follows. `tests/handoff.rs` and
        // `tests/shards.rs` check reuse through the overflow.)
    });
}

/// A buffer dropped on another thread goes into its home's inbox while the
/// home misses and takes the inbox (one swap), and comes back to the home's
/// gets. Weakening the push's Release (or the take's Acquire) lets the home
/// read the link before it was written, which loom reports.
#[test]
fn foreign_drop_goes_home_through_the_inbox() {
    use loom::sync::atomic::{AtomicBool, Ordering};
    loom::model(|| {
        let pool = small_pool();
        let a = filled(&pool, 1);
        // Relaxed on purpose: the flag orders nothing, so whatever makes the
        // home's reads of the link safe must come from the inbox itself.
        let dropped = Arc::new(AtomicBool::new(false));
        let d2 = dropped.clone();
        let t = thread::spawn(move || {
            intact(&a, 1);
            drop(a);
            d2.store(true, Ordering::Relaxed);
        });
        while !dropped.load(Ordering::Relaxed) {
            thread::yield_now();
        }
        // This miss takes the inbox (if its first look sees `a` listed).
        let b = filled(&pool, 2);
        intact(&b, 2);
        t.join().unwrap();
        drop(b);
        let s = pool.stats();
        assert_eq!((s.gets, s.returns, s.outstanding_buffers, s.outstanding_bytes), (2, 2, 0, 0), "{s}");
        assert!(s.fresh_allocations <= 2, "{s}");
    });
}

/// A thread exits while another uses the pool: its cached buffers go back to
/// the shards (and are reused), and its counters are folded exactly once.
#[test]
fn thread_exit_flush() {
    loom::model(|| {
        let pool = small_pool();
        let p2 = pool.clone();
        let t = thread::spawn(move || drop(filled(&p2, 1)));
        let s = pool.stats();
        assert!(s.gets <= 1 && s.returns <= 1, "{s}");
        let b = filled(&pool, 2);
        t.join().unwrap();
        intact(&b, 2);
        drop(b);
        let s = pool.stats();
        assert_eq!((s.gets, s.returns, s.outstanding_buffers), (2, 2, 0), "{s}");
        // After the exit, the exited thread's buffer is in a shard: reused.
        let c = pool.get(SIZE);
        let s = pool.stats();
        assert!(s.fresh_allocations <= 2, "{s}");
        assert_eq!(s.fresh_allocations + s.shard_hits + s.steals + s.cache_hits, 3, "{s}");
        drop(c);
    });
}

/// The last handle drops on one thread while a buffer is dropped on another.
#[test]
fn pool_drop_while_buffer_out() {
    loom::model(|| {
        let pool = small_pool();
        let buf = filled(&pool, 1);
        let t = thread::spawn(move || {
            intact(&buf, 1);
            drop(buf);
        });
        drop(pool);
        t.join().unwrap();
    });
}

/// A buffer issued on a thread that has exited (its block merged and kept
/// alive only by the buffer) is dropped on a third thread while the last
/// handle drops: the block and the pool are freed exactly once, by whoever is
/// last, after every other access.
#[test]
fn orphaned_home_freed_by_last_reference() {
    loom::model(|| {
        let pool = small_pool();
        let p2 = pool.clone();
        let buf = thread::spawn(move || filled(&p2, 7)).join().unwrap();
        let t = thread::spawn(move || {
            intact(&buf, 7);
            drop(buf);
        });
        drop(pool);
        t.join().unwrap();
    });
}

/// Stats read while another thread counts and exits: never torn, never
/// double-counted, exact once quiet.
#[test]
fn stats_while_counting() {
    loom::model(|| {
        let pool = small_pool();
        let p2 = pool.clone();
        let slot = Arc::new(Mutex::new(None));
        let s2 = slot.clone();
        let t = thread::spawn(move || {
            drop(p2.get(SIZE));
            *s2.lock().unwrap() = Some(p2.get(SIZE));
        });
        for _ in 0..2 {
            let s = pool.stats();
            assert!(s.gets <= 2 && s.returns <= 1, "{s}");
            assert!(s.outstanding_buffers <= 2, "{s}");
        }
        t.join().unwrap();
        let s = pool.stats();
        assert_eq!((s.gets, s.returns, s.outstanding_buffers), (2, 1, 1), "{s}");
        drop(slot.lock().unwrap().take());
        assert_eq!(pool.stats().outstanding_buffers, 0);
    });
}

/// The owner thread exits (merging its block's count) at the same time as
/// another thread drops the last buffer that block issued. Whichever comes
/// second frees the block, and must see every access the other made.
#[test]
fn owner_exit_races_foreign_drop() {
    loom::model(|| {
        let pool = small_pool();
        let p2 = pool.clone();
        let slot: Arc<Mutex<Option<PooledBuffer>>> = Arc::new(Mutex::new(None));
        let (s1, s2) = (slot.clone(), slot.clone());
        let owner = thread::spawn(move || {
            *s1.lock().unwrap() = Some(filled(&p2, 9));
            // p2 drops and the thread exits: its block retires and merges.
        });
        let foreign = thread::spawn(move || {
            let taken = s2.lock().unwrap().take();
            if let Some(b) = taken {
                intact(&b, 9);
                drop(b);
            }
        });
        owner.join().unwrap();
        foreign.join().unwrap();
        drop(slot.lock().unwrap().take());
        assert_eq!(pool.stats().outstanding_buffers, 0);
    });
}

fn capped_pool() -> BufferPool {
    small_builder().max_outstanding_bytes(SIZE).read_size(SIZE).build().unwrap()
}

/// `max_outstanding_bytes`: a waiter queued at the cap (`get_async`) while
/// another thread drops the one buffer out. Whatever the interleaving, the
/// release sees the waiter's `QUEUED` flag or the waiter's own retry sees the
/// released bytes, so the waiter is granted (a lost wake-up is a loom
/// deadlock), and the cap is never passed.
#[test]
fn cap_release_wakes_a_waiter() {
    loom::model(|| {
        let pool = capped_pool();
        let held = pool.get(SIZE);
        let t = thread::spawn(move || drop(held));
        let b = loom::future::block_on(pool.get_async(SIZE));
        assert!(pool.charged_bytes() <= SIZE);
        drop(b);
        t.join().unwrap();
    });
}

/// The read layer at the cap registers for any release (`NOTIFY`) and
/// retries once, while another thread drops the buffer that fills the cap:
/// the read is woken and finishes.
#[test]
fn cap_release_wakes_a_read() {
    loom::model(|| {
        let pool = capped_pool();
        let held = pool.get(SIZE);
        let t = thread::spawn(move || drop(held));
        let mut src: &[u8] = b"hello";
        let got = loom::future::block_on(pool.read(&mut src)).unwrap().unwrap();
        assert_eq!(&got[..], b"hello");
        drop(got);
        t.join().unwrap();
    });
}
