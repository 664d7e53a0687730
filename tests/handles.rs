//! Requirement 1: handles and buffers.
use bufpool::{BufferPool, PooledBuffer};
use std::io::Write;

fn assert_clone_send_sync<T: Clone + Send + Sync>() {}
fn assert_static_send_sync<T: 'static + Send + Sync>() {}

#[test]
fn pool_is_clone_send_sync_and_buffer_is_static_send_sync() {
    assert_clone_send_sync::<BufferPool>();
    assert_static_send_sync::<PooledBuffer>();
    // A buffer moves into a spawned thread (needs 'static + Send).
    let pool = BufferPool::new();
    let mut b = pool.get(4096);
    b[0] = 9;
    let h = std::thread::spawn(move || b[0]);
    assert_eq!(h.join().unwrap(), 9);
}

#[test]
fn clones_share_one_pool() {
    let pool = BufferPool::new();
    let p2 = pool.clone();
    assert!(pool.same_pool(&p2));
    assert!(!pool.same_pool(&BufferPool::new()));
    drop(p2.get(8192));
    assert_eq!(pool.stats().gets, 1);
}

#[test]
fn deref_asref_asmut() {
    let pool = BufferPool::new();
    let mut b = pool.get(8);
    b.copy_from_slice(b"abcdefgh"); // DerefMut
    assert_eq!(&b[..], b"abcdefgh"); // Deref
    assert_eq!(b.len(), 8);
    let r: &[u8] = b.as_ref();
    assert_eq!(r, b"abcdefgh");
    let m: &mut [u8] = b.as_mut();
    m[0] = b'X';
    assert_eq!(b.as_slice(), b"Xbcdefgh");
    fn takes_asref(x: impl AsRef<[u8]>) -> usize {
        x.as_ref().len()
    }
    assert_eq!(takes_asref(&b[..]), 8);
}

#[test]
fn write_appends_and_grows_into_a_larger_pooled_buffer() {
    let pool = BufferPool::builder().max_pooled_bytes(64 << 20).build().unwrap();
    let mut b = pool.with_capacity(4096);
    assert!(b.is_empty());
    assert_eq!(b.capacity(), 4096);
    let old_ptr = b.as_ptr();
    b.write_all(b"head:").unwrap();
    assert_eq!(&b[..], b"head:");
    let payload: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    b.write_all(&payload).unwrap();
    assert_eq!(b.len(), 5 + 6000);
    assert!(b.capacity() >= 6005);
    assert!(b.is_pooled(), "grown buffer must still be pooled");
    assert_ne!(b.as_ptr(), old_ptr, "past capacity the contents move");
    assert_eq!(&b[..5], b"head:");
    assert_eq!(&b[5..], &payload[..]);
    // The old 4 KiB buffer went home: it is pooled and served again without
    // a fresh allocation.
    let s = pool.stats();
    assert_eq!(s.returns, 1, "{s}");
    assert_eq!(s.outstanding_buffers, 1, "{s}");
    assert_eq!(s.pooled_bytes, 4096, "{s}");
    let again = pool.get(4096);
    assert_eq!(again.as_ptr(), old_ptr);
    assert_eq!(pool.stats().fresh_allocations, 2);
    // write! works too.
    let mut w = pool.with_capacity(4096);
    let two = "two";
    write!(w, "{}-{two}", 1).unwrap();
    w.flush().unwrap();
    assert_eq!(&w[..], b"1-two");
}

#[test]
fn debug_shows_len_and_capacity_never_contents() {
    let pool = BufferPool::new();
    let mut b = pool.get(4100);
    b[..6].copy_from_slice(b"SECRET");
    b[6..].fill(0x5A);
    b.truncate(6);
    let d = format!("{b:?}");
    assert!(d.contains("len: 6"), "{d}");
    assert!(d.contains(&format!("capacity: {}", b.capacity())), "{d}");
    assert!(!d.contains("SECRET"), "{d}");
    // Not as numbers either (S = 83, E = 69, 0x5A = 90).
    assert!(!d.contains("83") && !d.contains("69,") && !d.contains("90"), "{d}");
    let d = format!("{b:#?}");
    assert!(!d.contains("SECRET") && !d.contains("83"), "{d}");
}

#[test]
fn len_truncate_resize_clear_extend() {
    let pool = BufferPool::new();
    let mut b = pool.get(5000);
    assert_eq!(b.len(), 5000);
    assert!(!b.is_empty());
    let cap = b.capacity();
    assert!(cap >= 5000);
    b.truncate(10);
    assert_eq!(b.len(), 10);
    b.truncate(100); // no effect
    assert_eq!(b.len(), 10);
    b.resize(20, 7);
    assert_eq!(b.len(), 20);
    assert!(b[10..].iter().all(|&x| x == 7));
    b.resize(3, 0);
    assert_eq!(b.len(), 3);
    b.clear();
    assert!(b.is_empty());
    assert_eq!(b.capacity(), cap, "clear keeps capacity");
    b.extend_from_slice(b"hello");
    assert_eq!(&b[..], b"hello");
    // resize past capacity moves to a larger pooled buffer, contents kept.
    b.resize(cap + 1, 1);
    assert_eq!(b.len(), cap + 1);
    assert!(b.capacity() > cap);
    assert!(b.is_pooled());
    assert_eq!(&b[..5], b"hello");
    assert!(b[5..].iter().all(|&x| x == 1));
    // extend past capacity likewise.
    let cap2 = b.capacity();
    let extra = vec![3u8; cap2];
    b.extend_from_slice(&extra);
    assert_eq!(b.len(), cap + 1 + cap2);
    assert_eq!(&b[..5], b"hello");
    assert!(b[cap + 1..].iter().all(|&x| x == 3));
}

#[test]
fn set_len_and_spare_mut() {
    let pool = BufferPool::new();
    let mut b = pool.with_capacity(4096);
    let spare = b.spare_mut();
    assert_eq!(spare.len(), 4096);
    spare[..3].copy_from_slice(b"abc");
    b.set_len(3);
    assert_eq!(&b[..], b"abc");
}

#[test]
#[should_panic(expected = "beyond capacity")]
fn set_len_past_capacity_panics() {
    let pool = BufferPool::new();
    let mut b = pool.with_capacity(4096);
    let c = b.capacity();
    b.set_len(c + 1);
}

#[test]
fn into_vec_and_into_inner() {
    let pool = BufferPool::new();
    let mut b = pool.get(6000);
    b.fill(0xAB);
    b.truncate(5999);
    let p = b.as_ptr();
    let v = b.into_vec();
    assert_eq!(v.len(), 5999);
    assert!(v.iter().all(|&x| x == 0xAB));
    // Alignment 1: moved without copying, and the memory left the pool.
    assert_eq!(v.as_ptr(), p);
    let s = pool.stats();
    assert_eq!((s.returns, s.outstanding_buffers, s.pooled_bytes), (1, 0, 0), "{s}");
    let mut v = v;
    v.push(1); // it is a real Vec: it can grow and be freed as one
    drop(v);

    let mut b = pool.get(4096);
    b[..2].copy_from_slice(b"hi");
    b.truncate(2);
    let v: Vec<u8> = b.into_inner();
    assert_eq!(v, b"hi");
    let v: Vec<u8> = Vec::from(pool.get(4096));
    assert_eq!(v.len(), 4096);
    assert_eq!(pool.stats().outstanding_buffers, 0);
    // A detached buffer is not pooled: the next get allocates afresh.
    assert_eq!(pool.stats().pooled_bytes, 0);
}

#[test]
fn from_vec_is_not_pooled_and_frees() {
    let mut v = Vec::with_capacity(100);
    v.extend_from_slice(b"abc");
    let mut b = PooledBuffer::from(v);
    assert!(!b.is_pooled());
    assert_eq!(&b[..], b"abc");
    assert!(b.spare_mut().iter().all(|&x| x == 0), "spare capacity zeroed");
    b.extend_from_slice(&[1; 200]); // grows through the global pool
    assert_eq!(b.len(), 203);
    drop(b);
}

#[test]
fn drop_on_another_thread_returns_home() {
    let pool = BufferPool::builder().max_pooled_bytes(64 << 20).build().unwrap();
    let bufs: Vec<_> = (0..8).map(|_| pool.get(64 * 1024)).collect();
    let ptrs: std::collections::HashSet<usize> = bufs.iter().map(|b| b.as_ptr() as usize).collect();
    assert_eq!(pool.stats().fresh_allocations, 8);
    std::thread::spawn(move || drop(bufs)).join().unwrap();
    let s = pool.stats();
    assert_eq!(s.returns, 8, "{s}");
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    assert_eq!(s.outstanding_bytes, 0, "{s}");
    // Listed for this thread to take back (or, past its inbox's bound, in
    // the dropping thread's cache and the shards): none was freed.
    assert_eq!(s.pooled_bytes + s.listed_bytes, 8 * 64 * 1024, "none was freed: {s}");
    // They went back to this pool: we get the same memory without allocating.
    let again: Vec<_> = (0..8).map(|_| pool.get(64 * 1024)).collect();
    for b in &again {
        assert!(ptrs.contains(&(b.as_ptr() as usize)));
    }
    assert_eq!(pool.stats().fresh_allocations, 8);
}

#[test]
fn clone_and_eq() {
    let pool = BufferPool::new();
    let mut a = pool.get(5000);
    a.fill(4);
    let b = a.clone();
    assert_eq!(a, b);
    assert_ne!(a.as_ptr(), b.as_ptr());
    assert!(b.is_pooled());
    assert_eq!(pool.stats().outstanding_buffers, 2);
}

#[test]
fn global_pool() {
    let g: &'static BufferPool = bufpool::global();
    assert!(g.same_pool(bufpool::global()));
    assert_eq!(g.get(4096).len(), 4096);
}
