//! The call-free fast path must never run while a slow path is running on the
//! same thread: the allocator, called from a slow path, may itself use a pool
//! (a logging or tracking allocator built on one, say). Such a nested get or
//! drop must take the orphan path, and leave the outer operation's cache
//! untouched.
//!
//! The global allocator here re-enters the pool once, when armed: on the next
//! allocation it gets and drops a buffer of a size this thread has cached.
//! Had the fast path run, that nested get would pop the cached buffer (a cache
//! hit) while the outer miss holds the same block's state.

use bufpool::BufferPool;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;

static POOL: OnceLock<BufferPool> = OnceLock::new();

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static NESTED: Cell<usize> = const { Cell::new(0) };
}

const SMALL: usize = 8192;

struct Reentrant;

impl Reentrant {
    fn maybe_reenter() {
        if ARMED.try_with(|a| a.replace(false)).unwrap_or(false) {
            if let Some(pool) = POOL.get() {
                let b = pool.get(SMALL);
                assert_eq!(b.len(), SMALL);
                drop(b);
                NESTED.with(|n| n.set(n.get() + 1));
            }
        }
    }
}

// SAFETY: forwards every call to `System` unchanged; the pool use in between
// allocates through this same allocator only while disarmed.
unsafe impl GlobalAlloc for Reentrant {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        Self::maybe_reenter();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        Self::maybe_reenter();
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Reentrant = Reentrant;

#[test]
fn a_pool_used_from_inside_the_allocator_takes_the_orphan_path() {
    let pool = POOL.get_or_init(|| BufferPool::builder().max_pooled_bytes(64 << 20).build().unwrap());
    // Warm this thread's cache with one SMALL buffer: the fast path would hit it.
    drop(pool.get(SMALL));
    drop(pool.get(SMALL));
    let before = pool.stats();
    assert_eq!(before.cache_hits, 1, "{before}");

    // A miss for a new size allocates fresh, inside the slow path; the
    // allocator re-enters the pool there.
    ARMED.with(|a| a.set(true));
    let big = pool.get(1 << 20);
    assert_eq!(NESTED.with(Cell::get), 1, "the allocator did not re-enter");
    let mid = pool.stats();
    // The nested get could not use the busy cache: it was served from the
    // shards or fresh, never a cache hit, and its drop went to the shards.
    assert_eq!(mid.cache_hits, before.cache_hits, "nested get used the busy cache: {mid}");
    assert_eq!(mid.fresh_allocations, before.fresh_allocations + 2, "{mid}");
    assert_eq!(mid.outstanding_buffers, 1, "{mid}");

    // The outer get's cache is intact: the cached SMALL buffer is still there.
    drop(big);
    drop(pool.get(SMALL));
    let after = pool.stats();
    assert_eq!(after.cache_hits, before.cache_hits + 1, "{after}");
    assert_eq!(after.outstanding_buffers, 0, "{after}");
    assert_eq!(after.outstanding_bytes, 0, "{after}");
}
