//! `PooledBuffer::freeze`, `From<PooledBuffer> for Bytes` and `BufMut`.
//!
//! A counting global allocator checks that frozen memory is really freed once
//! its pool is gone and the last `Bytes` drops.

use bufpool::BufferPool;
use bytes::{BufMut, Bytes};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Allocations at least this large are counted.
const BIG: usize = 1 << 20;
static LIVE_BIG: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= BIG {
            LIVE_BIG.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= BIG {
            LIVE_BIG.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= BIG {
            LIVE_BIG.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() >= BIG {
            LIVE_BIG.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        if new_size >= BIG {
            LIVE_BIG.fetch_add(new_size, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Tests here count big allocations process-wide, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn freeze_makes_no_copy() {
    let _g = serial();
    let pool = BufferPool::new();
    let mut buf = pool.with_capacity(4096);
    buf.extend_from_slice(b"zero copy");
    let ptr = buf.as_ptr();
    let bytes = buf.freeze();
    assert_eq!(bytes.as_ptr(), ptr);
    assert_eq!(bytes, "zero copy");
    let s = pool.stats();
    assert_eq!(s.outstanding_buffers, 1);
    drop(bytes);
    assert_eq!(pool.stats().outstanding_buffers, 0);
    // The same memory is handed out again.
    assert_eq!(pool.with_capacity(4096).as_ptr(), ptr);
}

#[test]
fn from_conversion_and_empty_and_vec_backed_buffers() {
    let _g = serial();
    let pool = BufferPool::new();
    let mut buf = pool.with_capacity(100);
    buf.extend_from_slice(b"abc");
    let ptr = buf.as_ptr();
    let b: Bytes = buf.into();
    assert_eq!((b.as_ptr(), &b[..]), (ptr, &b"abc"[..]));
    drop(b);
    // Empty: no shared buffer, and the buffer is home at once.
    let e = pool.with_capacity(100).freeze();
    assert!(e.is_empty());
    assert_eq!(pool.stats().outstanding_buffers, 0);
    // A buffer adopted from a Vec becomes a Vec-backed Bytes, still no copy.
    let v = b"from a vec".to_vec();
    let vptr = v.as_ptr();
    let b = bufpool::PooledBuffer::from(v).freeze();
    assert_eq!(b.as_ptr(), vptr);
    assert_eq!(b, "from a vec");
}

#[test]
fn slices_go_home_from_other_threads_after_the_handle_is_gone() {
    let _g = serial();
    let pool = BufferPool::new();
    let watch = pool.clone();
    let mut buf = pool.with_capacity(64 << 10);
    buf.extend_from_slice(b"0123456789");
    let bytes = buf.freeze();
    let parts: Vec<Bytes> = (0..10).map(|i| bytes.slice(i..i + 1)).collect();
    drop(bytes);
    drop(pool);
    let threads: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            std::thread::spawn(move || {
                assert_eq!(p[0], b'0' + i as u8);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = watch.stats();
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    assert_eq!(s.fresh_allocations, 1);
}

#[test]
fn memory_is_freed_when_the_last_bytes_outlives_every_pool_handle() {
    let _g = serial();
    for other_thread in [false, true] {
        let before = LIVE_BIG.load(Ordering::Relaxed);
        let pool = BufferPool::new();
        let mut buf = pool.with_capacity(4 << 20);
        buf.extend_from_slice(&[42; 4 << 20]);
        let bytes = buf.freeze();
        let tail = bytes.slice(1 << 20..);
        drop(bytes);
        drop(pool); // the last handle: the pool closes
        assert!(LIVE_BIG.load(Ordering::Relaxed) >= before + (4 << 20), "the frozen buffer is still alive");
        assert!(tail.iter().all(|&b| b == 42));
        if other_thread {
            std::thread::spawn(move || drop(tail)).join().unwrap();
        } else {
            drop(tail);
        }
        assert_eq!(LIVE_BIG.load(Ordering::Relaxed), before, "other thread: {other_thread}");
    }
}

#[test]
fn bufmut_writes_in_place_and_grows_into_a_bigger_pooled_buffer() {
    let _g = serial();
    let pool = BufferPool::new();
    let mut buf = pool.with_capacity(4096);
    let cap = buf.capacity();
    assert_eq!(buf.chunk_mut().len(), cap, "the whole spare capacity is offered");
    buf.put_u8(1);
    buf.put_u16(0x0203);
    buf.put_u32_le(0x0706_0504);
    buf.put_slice(b"xyz");
    buf.put_bytes(b'-', 3);
    buf.put(&b"buf"[..]);
    assert_eq!(&buf[..], b"\x01\x02\x03\x04\x05\x06\x07xyz---buf");
    // Past the capacity: moves to a larger buffer from the same pool.
    let fill = vec![b'f'; cap];
    buf.put_slice(&fill);
    assert!(buf.capacity() > cap);
    assert!(buf.is_pooled());
    assert_eq!(buf.len(), 16 + cap);
    assert_eq!(&buf[16..], &fill[..]);
    // `chunk_mut` on a full buffer grows it.
    let mut full = pool.get(4096);
    let c = full.capacity();
    full.set_len(c);
    assert!(full.chunk_mut().len() > 0);
    assert!(full.capacity() > c);
    drop((buf, full));
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn bufmut_advance_mut_counts_written_bytes_and_refuses_to_overrun() {
    let _g = serial();
    let pool = BufferPool::new();
    let mut buf = pool.with_capacity(4096);
    let spare = buf.chunk_mut().len();
    buf.chunk_mut()[..2].copy_from_slice(b"hi");
    // SAFETY: the 2 bytes were just written (and all spare bytes are
    // initialised anyway).
    unsafe { buf.advance_mut(2) };
    assert_eq!(&buf[..], b"hi");
    assert_eq!(buf.remaining_mut(), isize::MAX as usize - 2);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: this must panic before it could expose anything.
        unsafe { buf.advance_mut(spare) }
    }));
    assert!(r.is_err());
}

#[test]
fn frozen_bytes_counts_what_bytes_keep_alive_on_any_thread() {
    let pool = BufferPool::new();
    let mut a = pool.with_capacity(8192);
    a.extend_from_slice(b"hello world");
    let cap = a.capacity() as u64;
    let a = a.freeze();
    let mut b = pool.with_capacity(4096);
    b.extend_from_slice(b"more");
    let cap_b = b.capacity() as u64;
    let b = b.freeze();
    let s = pool.stats();
    assert_eq!(s.frozen_bytes, cap + cap_b, "{s}");
    assert_eq!(s.outstanding_bytes, cap + cap_b);
    assert!(s.to_string().contains("frozen in Bytes"), "{s}");
    // A 5-byte slice keeps the whole 8 KiB buffer alive, and is counted so.
    let hello = a.slice(..5);
    drop(a);
    assert_eq!(pool.stats().frozen_bytes, cap + cap_b);
    // The last `Bytes` drops on other threads: the count still comes back.
    std::thread::spawn(move || drop(hello)).join().unwrap();
    std::thread::spawn(move || drop(b)).join().unwrap();
    let s = pool.stats();
    assert_eq!((s.frozen_bytes, s.outstanding_bytes, s.outstanding_buffers), (0, 0, 0), "{s}");
    // A buffer adopted from a `Vec` is no pool memory: not counted.
    let v = bufpool::PooledBuffer::from(vec![1u8; 100]).freeze();
    assert_eq!(pool.stats().frozen_bytes, 0);
    drop(v);
}
