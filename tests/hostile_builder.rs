//! Absurd builder settings: `build` refuses each with a `BuildError`, or the
//! pool it builds works (gets, drops, trims, idle release) without a panic.

use bufpool::BufferPool;
use std::time::Duration;

fn exercise(pool: &BufferPool) {
    let bufs: Vec<_> = (0..64).map(|i| pool.get(1 + i * 1000)).collect();
    drop(bufs);
    pool.release_idle();
    pool.trim();
    drop(pool.get(4096));
    let _ = pool.stats();
}

#[test]
fn an_endless_idle_timeout_builds_or_is_refused_and_never_panics() {
    for t in [Duration::MAX, Duration::from_secs(u64::MAX), Duration::new(u64::MAX / 2, 0)] {
        if let Ok(pool) = BufferPool::builder().idle_timeout(t).build() {
            exercise(&pool);
            // The automatic clock runs on another thread: give it a tick.
            std::thread::sleep(Duration::from_millis(50));
            exercise(&pool);
        }
    }
}

#[test]
fn absurd_counts_build_or_are_refused_and_never_panic() {
    let builders = [
        BufferPool::builder().cpus(usize::MAX),
        BufferPool::builder().tls_cache_bytes(usize::MAX),
        BufferPool::builder().tls_cache_bytes(0),
        BufferPool::builder().max_pooled_bytes(0),
        BufferPool::builder().max_pooled_bytes(usize::MAX),
        BufferPool::builder().min_buffer_size(1).max_buffer_size(1),
        BufferPool::builder().min_buffer_size(usize::MAX / 4).max_buffer_size(usize::MAX / 4),
        BufferPool::builder().alignment(1 << 12).max_buffer_size(1 << 20),
    ];
    for (i, b) in builders.iter().enumerate() {
        match b.build() {
            Ok(pool) => {
                if i == 6 {
                    // No class fits: requests are exact, unpooled.
                    assert_eq!(pool.get(1).capacity(), 1);
                }
                exercise(&pool)
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}
