//! Requirement 12: errors. Every invalid setting is a `BuildError` with a
//! clear message; impossible sizes are an `AllocError` from `try_get` and the
//! same message in `get`'s panic.
use bufpool::{AllocError, BufferPool, BuildError, Builder};
use std::time::Duration;

fn err(b: Builder) -> BuildError {
    b.build().expect_err("expected a BuildError")
}

#[test]
fn every_invalid_setting_is_refused_with_a_clear_message() {
    let b = BufferPool::builder;
    let cases: Vec<(Builder, BuildError, &[&str])> = vec![
        (b().num_shards(0), BuildError::ZeroShards, &["num_shards", "at least 1"]),
        (b().num_shards(3), BuildError::ShardsNotPowerOfTwo(3), &["num_shards", "power of two", "3"]),
        (b().num_shards(12), BuildError::ShardsNotPowerOfTwo(12), &["power of two", "12"]),
        (b().num_shards(2048), BuildError::TooManyShards(2048), &["num_shards", "1024", "2048"]),
        (b().tls_cache_size(0), BuildError::ZeroCacheDepth, &["tls_cache_size", "at least 1"]),
        (b().tls_cache_size(65), BuildError::CacheDepthTooLarge(65), &["tls_cache_size", "64", "65"]),
        (b().max_buffers_per_shard(0), BuildError::ZeroBuffersPerShard, &["max_buffers_per_shard", "at least 1"]),
        (b().min_buffer_size(0), BuildError::ZeroMinSize, &["min_buffer_size", "at least 1"]),
        (
            b().min_buffer_size(8192).max_buffer_size(4096),
            BuildError::MinAboveMax { min: 8192, max: 4096 },
            &["min_buffer_size", "max_buffer_size", "8192", "4096"],
        ),
        (b().max_buffer_size(usize::MAX), BuildError::MaxTooLarge(usize::MAX), &["max_buffer_size"]),
        (b().alignment(0), BuildError::AlignmentNotPowerOfTwo(0), &["alignment", "power of two", "0"]),
        (b().alignment(3), BuildError::AlignmentNotPowerOfTwo(3), &["alignment", "power of two", "3"]),
        (b().alignment(4095), BuildError::AlignmentNotPowerOfTwo(4095), &["alignment", "4095"]),
        (b().alignment(1 << 31), BuildError::AlignmentTooLarge(1 << 31), &["alignment", "2 MiB"]),
        // Every buffer is at least one alignment unit: a 1 GiB unit would make
        // `get(1)` hold 1 GiB.
        (b().alignment(1 << 22), BuildError::AlignmentTooLarge(1 << 22), &["alignment", "2 MiB"]),
        (b().cpus(0), BuildError::ZeroCpus, &["cpus", "at least 1"]),
        (b().read_size(0), BuildError::ZeroReadSize, &["read_size", "at least 1"]),
        (b().idle_timeout(Duration::ZERO), BuildError::ZeroIdleTimeout, &["idle_timeout", "non-zero"]),
    ];
    for (builder, want, words) in cases {
        let got = err(builder.clone());
        assert_eq!(got, want);
        let msg = got.to_string();
        for w in words {
            assert!(msg.contains(w), "message {msg:?} lacks {w:?}");
        }
        assert!(!msg.contains('\n') && msg.len() < 120, "{msg:?}");
        // config() refuses the same way, and BuildError is a std error.
        assert_eq!(builder.config().unwrap_err(), want);
        let _: &dyn std::error::Error = &got;
    }
}

#[test]
fn min_equal_to_max_is_valid() {
    let pool = BufferPool::builder().min_buffer_size(8192).max_buffer_size(8192).build().unwrap();
    assert_eq!(pool.get(8192).capacity(), 8192);
    assert_eq!(pool.stats().unpooled, 0);
}

#[test]
fn try_get_refuses_impossible_sizes() {
    for pool in [BufferPool::new(), BufferPool::builder().alignment(4096).build().unwrap()] {
        for size in [usize::MAX, isize::MAX as usize + 1, usize::MAX - 4095] {
            match pool.try_get(size) {
                Err(AllocError::CapacityOverflow { size: s }) => assert!(s >= size.min(isize::MAX as usize)),
                other => panic!("try_get({size}) = {other:?}"),
            }
        }
        let e = pool.try_get(usize::MAX).unwrap_err();
        assert!(e.to_string().contains("capacity overflow"), "{e}");
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(pool.stats().outstanding_buffers, 0);
        assert_eq!(pool.stats().gets, 0, "a refused request is not a get");
    }
}

#[test]
fn aligned_size_rounding_past_isize_max_is_an_overflow() {
    // isize::MAX - 10 rounds up past isize::MAX at alignment 4096.
    let pool = BufferPool::builder().alignment(4096).build().unwrap();
    assert!(matches!(pool.try_get(isize::MAX as usize - 10), Err(AllocError::CapacityOverflow { .. })));
}

#[test]
fn try_get_reports_allocation_failure() {
    // isize::MAX bytes is a valid layout that no allocator can satisfy.
    let pool = BufferPool::new();
    match pool.try_get(isize::MAX as usize) {
        Err(AllocError::OutOfMemory { size }) => assert_eq!(size, isize::MAX as usize),
        Err(e) => panic!("expected OutOfMemory, got {e}"),
        Ok(_) => panic!("allocated isize::MAX bytes"),
    }
    let e = AllocError::OutOfMemory { size: 5 };
    assert!(e.to_string().contains("5 bytes"));
    assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::OutOfMemory);
}

#[test]
#[should_panic(expected = "buffer capacity overflow: 18446744073709551615 bytes exceeds isize::MAX")]
fn get_panics_with_the_same_message_usize_max() {
    let msg = AllocError::CapacityOverflow { size: usize::MAX }.to_string();
    assert_eq!(msg, "buffer capacity overflow: 18446744073709551615 bytes exceeds isize::MAX");
    let _ = BufferPool::new().get(usize::MAX);
}

#[test]
#[should_panic(expected = "buffer capacity overflow: 9223372036854775808 bytes")]
fn get_panics_with_the_same_message_above_isize_max() {
    let _ = BufferPool::new().get(isize::MAX as usize + 1);
}

#[test]
#[should_panic(expected = "buffer capacity overflow")]
fn get_zeroed_panics_too() {
    let _ = BufferPool::new().get_zeroed(usize::MAX);
}

#[test]
#[should_panic(expected = "capacity overflow")]
fn reserve_overflow_panics() {
    let pool = BufferPool::new();
    let mut b = pool.get(4096);
    b.reserve(usize::MAX);
}

#[test]
fn pool_survives_a_failed_get() {
    let pool = BufferPool::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.get(usize::MAX)));
    assert!(r.is_err());
    drop(pool.get(4096));
    drop(pool.get(4096));
    let s = pool.stats();
    assert_eq!((s.gets, s.fresh_allocations, s.outstanding_buffers), (2, 1, 0), "{s}");
}

#[test]
fn absurd_sizes_for_the_shard_queues_are_refused_at_build() {
    // Each (shard, class) queue allocates `max_buffers_per_shard` slots on
    // first use; `usize::MAX` of them used to build fine and then panic with
    // "capacity overflow" inside the first spill, in a destructor.
    for n in [usize::MAX, usize::MAX / 32, (1 << 16) + 1] {
        let e = err(BufferPool::builder().max_buffers_per_shard(n));
        assert_eq!(e, BuildError::TooManyBuffersPerShard(n));
        let msg = e.to_string();
        assert!(msg.contains("max_buffers_per_shard") && msg.contains("65536"), "{msg}");
    }
    let e = err(BufferPool::builder().read_size(usize::MAX));
    assert_eq!(e, BuildError::ReadSizeTooLarge(usize::MAX));
    assert!(e.to_string().contains("read_size"), "{e}");
}

#[test]
fn the_largest_shard_queue_spills_and_the_cache_keeps_working() {
    let pool = BufferPool::builder().max_buffers_per_shard(1 << 16).num_shards(1).tls_cache_size(2).build().unwrap();
    // More buffers than the thread cache holds: dropping them spills to the
    // shard, which creates its 65,536-slot queue.
    let held: Vec<_> = (0..64).map(|_| pool.get(4096)).collect();
    drop(held);
    let hits = pool.stats().cache_hits;
    for _ in 0..10 {
        drop(pool.get(4096));
    }
    let s = pool.stats();
    assert!(s.cache_hits >= hits + 9, "the thread cache stopped hitting: {s}");
    assert_eq!(s.outstanding_buffers, 0);
}
