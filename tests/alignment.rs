//! Requirement 11: alignment. Power-of-two alignments only; every buffer's
//! address is aligned; `into_vec` on an aligned buffer copies (sound) and
//! keeps the contents.
use bufpool::{BufferPool, BuildError};

#[test]
fn alignment_must_be_a_power_of_two() {
    for bad in [0usize, 3, 6, 100, 4095, 4097, 65535] {
        assert_eq!(BufferPool::builder().alignment(bad).build().unwrap_err(), BuildError::AlignmentNotPowerOfTwo(bad));
    }
    for good in [1usize, 2, 8, 64, 4096, 1 << 20] {
        assert_eq!(BufferPool::builder().alignment(good).build().unwrap().config().alignment(), good);
    }
}

#[test]
fn buffers_are_aligned() {
    for align in [64usize, 4096, 65536] {
        let pool = BufferPool::builder().alignment(align).max_pooled_bytes(64 << 20).build().unwrap();
        let mut held = vec![];
        for n in [1usize, 100, 4095, 4096, 4097, 5000, 65536, 65537, 200_000, 1 << 20, (1 << 20) + 3] {
            for _ in 0..2 {
                let mut b = pool.get(n);
                assert_eq!(b.as_ptr() as usize % align, 0, "align {align}, get({n})");
                assert_eq!(b.len(), n);
                assert!(b.capacity() >= n);
                b.fill(0x3C);
                held.push(b);
            }
        }
        // Recycled ones too, and grown ones.
        drop(held);
        for n in [4096usize, 5000, 65537] {
            let mut b = pool.get(n);
            assert_eq!(b.as_ptr() as usize % align, 0);
            b.extend_from_slice(&vec![1; b.capacity()]);
            assert_eq!(b.as_ptr() as usize % align, 0, "grown buffer");
        }
        assert!(pool.stats().cache_hits + pool.stats().shard_hits > 0);
    }
}

#[test]
fn pooled_capacities_are_multiples_of_the_alignment() {
    let pool = BufferPool::builder().alignment(65536).build().unwrap();
    for n in [4096usize, 70_000, 100_000, 1 << 20] {
        let b = pool.get(n);
        assert_eq!(b.capacity() % 65536, 0, "get({n}) -> {}", b.capacity());
    }
}

#[test]
fn into_vec_on_an_aligned_buffer_copies_and_is_sound() {
    for align in [64usize, 4096, 65536] {
        let pool = BufferPool::builder().alignment(align).max_pooled_bytes(64 << 20).build().unwrap();
        let mut b = pool.get(10_000);
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i % 253) as u8;
        }
        let p = b.as_ptr();
        let cap = b.capacity();
        let mut v = b.into_vec();
        assert_ne!(v.as_ptr(), p, "an aligned buffer cannot become a Vec without a copy");
        assert_eq!(v.len(), 10_000);
        assert!(v.iter().enumerate().all(|(i, &x)| x == (i % 253) as u8));
        // The Vec is an ordinary Vec (freed with alignment 1 by the global allocator).
        v.extend_from_slice(&[1; 100_000]);
        drop(v);
        // The aligned memory went back to the pool, and is reused.
        let s = pool.stats();
        assert_eq!((s.returns, s.outstanding_buffers), (1, 0), "{s}");
        assert_eq!(s.pooled_bytes, cap as u64, "{s}");
        let again = pool.get(10_000);
        assert_eq!(again.as_ptr(), p);
        // into_inner is the same.
        let v = again.into_inner();
        assert_eq!(v.len(), 10_000);
    }
}

#[test]
fn into_vec_without_alignment_moves() {
    let pool = BufferPool::new();
    let mut b = pool.get(10_000);
    b.fill(5);
    let p = b.as_ptr();
    let v = b.into_vec();
    assert_eq!(v.as_ptr(), p, "alignment 1: no copy");
    assert!(v.iter().all(|&x| x == 5));
}

#[test]
fn zero_length_and_empty_buffers() {
    for align in [1usize, 4096] {
        let pool = BufferPool::builder().alignment(align).build().unwrap();
        let b = pool.get(0);
        assert!(b.is_empty());
        assert_eq!(b.as_ptr() as usize % align, 0);
        assert!(b.into_vec().is_empty());
        let mut b = pool.with_capacity(0);
        b.extend_from_slice(b"x");
        assert_eq!(&b[..], b"x");
        assert_eq!(b.as_ptr() as usize % align, 0);
    }
}
