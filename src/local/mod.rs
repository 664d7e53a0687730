//! One thread's caches, and the only code that touches the thread-locals.
//!
//! Two thread-locals split the work:
//!
//! * `HOT` (`const`-initialised, no `Drop`, so reaching it is one
//!   `fs`-relative address with no lazy-init or destroyed-state check) holds
//!   what the fast path reads (`fast::Hot`);
//! * `THREAD` (with `Drop`) owns the list of this thread's blocks, and
//!   retires them when the thread exits. Only slow paths touch it.
//!
//! Each operation here is the call-free fast half (`fast.rs`) inline, then
//! one call to a slow path (`slow.rs`), which runs with the thread marked
//! busy by [`run_busy`], or, when it cannot be (the thread is exiting, or a
//! slow path re-entered through the allocator), the orphan path. The fast
//! path never sets the busy state, because nothing it does can re-enter the
//! pool; it only refuses to run while it is set.

mod block;
mod fast;
mod foreign;
mod inbox;
mod slow;

pub(crate) use block::Block;
pub(crate) use slow::Return;

use crate::alloc::Mem;
use crate::central::Central;
use crate::config::Zeroing;
use crate::error::AllocError;
use crate::stats::Tally;
use crate::sync::{global_epoch, thread_local, Arc, AtomicU64, Ordering};
use crate::track::TRACKED;
use fast::{BlockRef, Hot, BUSY, EXITED, IDLE};
use std::cell::UnsafeCell;
use std::ptr::NonNull;

/// The slow paths' view: every block of this thread. Retires them at exit.
struct Blocks {
    /// Only touched while `HOT.state` is `BUSY` (or at exit).
    list: UnsafeCell<Vec<BlockRef>>,
}

#[cfg(not(loom))]
thread_local! {
    static HOT: Hot = const { Hot::new() };
    static THREAD: Blocks = const { Blocks { list: UnsafeCell::new(Vec::new()) } };
}
#[cfg(loom)]
thread_local! {
    static HOT: Hot = Hot::new();
    static THREAD: Blocks = Blocks { list: UnsafeCell::new(Vec::new()) };
}

impl Drop for Blocks {
    fn drop(&mut self) {
        // Thread exit: from now on every operation on this thread takes the
        // orphan path; then hand every cached buffer back to its pool's shards
        // (or free it past the byte budget) and merge each block's count.
        let _ = HOT.try_with(|h| {
            h.set_state(EXITED);
            // SAFETY: an empty list; the thread is exiting.
            unsafe { h.refresh(&[]) };
        });
        for e in std::mem::take(self.list.get_mut()) {
            // SAFETY: this thread's live, unretired block, now unreachable
            // from `HOT` and the list.
            unsafe { slow::retire(NonNull::new_unchecked(e.block)) };
        }
    }
}

/// This thread's `HOT`. A pointer rather than a closure (`with`), so that the
/// fast paths inline whole into their callers.
#[inline(always)]
fn hot() -> Option<NonNull<Hot>> {
    HOT.try_with(|h| NonNull::from(h)).ok()
}

/// Runs `f` with this thread marked busy and exclusive access to its list of
/// blocks, or returns `None` if this thread is already inside a slow
/// operation or exiting.
///
/// If `f` unwinds, the busy state is reset on the way out (by `Busy`'s
/// drop), so a panic in a slow path never leaves the thread's caches
/// disabled; the list stays valid, because every slow path keeps it
/// consistent between its steps.
#[inline]
fn run_busy<R>(f: impl FnOnce(&Hot, &mut Vec<BlockRef>) -> R) -> Option<R> {
    HOT.try_with(|h| {
        if h.state() != IDLE {
            return None;
        }
        let _busy = Busy::set(h);
        // SAFETY: the state was IDLE and is now BUSY, so no other borrow of
        // the list exists on this thread, and no other thread ever reads it.
        // `THREAD` cannot be destroyed while `f` runs (destructors run at
        // thread exit, not inside a call); if it already was, its `Drop` set
        // `EXITED` before this call could see `IDLE`.
        THREAD.try_with(|t| f(h, unsafe { &mut *t.list.get() })).ok()
    })
    .ok()
    .flatten()
}

/// The busy state of one `run_busy`: set on creation, back to `IDLE` on
/// drop, including a drop during unwinding.
struct Busy<'a>(&'a Hot);

impl<'a> Busy<'a> {
    fn set(h: &'a Hot) -> Self {
        h.set_state(BUSY);
        Busy(h)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set_state(IDLE);
    }
}

/// The get fast path: a buffer from this thread's cache, with the block that
/// issued it, or `None` (nothing taken) for [`acquire`]. Makes no call.
#[inline(always)]
pub(crate) fn take(central: &Arc<Central>, len: usize) -> Option<(Mem, NonNull<Block>)> {
    let h = hot()?;
    // SAFETY: `HOT` lives as long as this thread; the reference does not
    // outlive this call.
    fast::take(unsafe { h.as_ref() }, central, len)
}

/// A get through the slow path (which first looks in the cache too): the
/// memory, initialised, zeroed over `len` if `zero` or the pool zeroes on
/// get, and the block that issued it, which counted a reference for it.
///
/// `prepaid` is what a granted waiter of `max_outstanding_bytes` already
/// charged for this get (0, or the whole charge): the get uses it, or gives
/// it back if the cache serves it.
#[inline]
pub(crate) fn acquire(
    central: &Arc<Central>,
    len: usize,
    zero: bool,
    prepaid: usize,
) -> Result<(Mem, NonNull<Block>), AllocError> {
    let (mut mem, issuer, recycled) = match run_busy(|h, blocks| slow::acquire(h, blocks, central, len, prepaid)) {
        Some(r) => r?,
        None => slow::acquire_orphan(central, len, prepaid)?,
    };
    if let Some(t) = central.tracker() {
        mem.tag |= t.on_get(mem.ptr.as_ptr() as usize, mem.cap);
    }
    if recycled && (zero || central.config.zeroing() == Zeroing::OnGet) {
        // SAFETY: `mem` is a live allocation of `mem.cap >= len` bytes we own.
        unsafe { mem.ptr.as_ptr().write_bytes(0, len) };
    }
    debug_assert!(mem.cap >= len);
    Ok((mem, issuer))
}

/// A buffer issued by `issuer` comes back (dropped or detached).
///
/// # Safety
/// `issuer` must be the block that issued the buffer owning `mem`, and the
/// buffer's reference to it is consumed. With `Return::Detach` the caller
/// keeps `mem`, which must already be unpinned.
#[inline(always)]
pub(crate) unsafe fn release(issuer: NonNull<Block>, mem: Mem, how: Return) {
    // The memory travels as its three words (all `Copy`) rather than as a
    // `Mem` whose address escapes: such a `Mem` sits in a stack slot, written
    // word by word and copied with 16-byte loads the CPU cannot store-forward.
    let Mem { ptr, cap, tag } = mem;
    if how != Return::Detach {
        if let Some(h) = hot() {
            // SAFETY: `HOT` lives as long as this thread; the reference does
            // not outlive this call.
            if fast::give_back(unsafe { h.as_ref() }, issuer, ptr, cap, tag) {
                return;
            }
        }
    }
    // SAFETY: forwarded contract.
    unsafe { release_slow(issuer, ptr, cap, tag, how) }
}

/// # Safety
/// As [`release`].
#[inline(never)]
unsafe fn release_slow(issuer: NonNull<Block>, ptr: NonNull<u8>, cap: usize, mut tag: u64, how: Return) {
    if tag & TRACKED != 0 {
        // SAFETY: the buffer's reference keeps `issuer` live.
        if let Some(t) = unsafe { central_of(issuer) }.tracker() {
            t.on_return(ptr.as_ptr() as usize);
        }
        tag &= !TRACKED;
    } else if how == Return::Recycle {
        if let Some(h) = hot() {
            // SAFETY: `HOT` lives as long as this thread; forwarded contract
            // (inside a slow operation the gate is shut, and the call does
            // nothing).
            if unsafe { foreign::list_foreign(h.as_ref(), issuer, ptr, cap, tag) } {
                return;
            }
        }
    }
    let done = run_busy(move |h, blocks| {
        // SAFETY: forwarded contract.
        unsafe { slow::release(h, blocks, issuer, ptr, cap, tag, how) }
    });
    if done.is_none() {
        // The closure did not run: the memory is still ours to return.
        // SAFETY: forwarded contract.
        unsafe { slow::release_orphan(issuer, Mem { ptr, cap, tag }, how) };
    }
}

/// Gives this thread's idle cached bytes of `central` back to the shards,
/// with their charge against `max_outstanding_bytes`: for a thread about to
/// wait at that cap, whose own cache may hold what it waits for.
pub(crate) fn give_back_idle(central: &Arc<Central>) {
    run_busy(|_, blocks| slow::give_back_idle(blocks, central));
}

/// Runs this thread's housekeeping now (after `trim` or `close` on this thread).
pub(crate) fn housekeeping_now() {
    run_busy(|h, blocks| {
        // Relaxed: see `Hot::may_run`.
        let e = global_epoch().load(Ordering::Relaxed);
        slow::housekeeping_full(h, blocks, e, false);
    });
}

/// Adds `n` (wrapping, so a "negative" share is fine) to the counter
/// `field` picks, on this thread's block for `central`: a slow-path count for
/// the layers above the pool (right-sized reads, frozen bytes).
pub(crate) fn count(central: &Arc<Central>, field: fn(&Tally) -> &AtomicU64, n: u64) {
    if run_busy(|h, blocks| slow::count(h, blocks, central, field, n)).is_none() {
        central.count_in(field, n);
    }
}

/// A new account's block (see `Block::meter`), holding one reference: the
/// account's, given back with [`unref_block`].
pub(crate) fn account_block(central: &Arc<Central>, meter: Arc<crate::budget::Cap>) -> NonNull<Block> {
    Block::create_account(central, meter)
}

/// Moves a buffer's reference from its issuer to the account block `to`:
/// the issuer counts it as returned, `to` as issued.
///
/// # Safety
/// `from` issued a live buffer whose reference is consumed here; `to` is a
/// live account block (from [`account_block`]) whose reference the caller
/// holds; the buffer then carries `to` as its issuer.
pub(crate) unsafe fn rehome(from: NonNull<Block>, to: NonNull<Block>) {
    // SAFETY: per the contract (`to` is merged from birth).
    unsafe { Block::add_ref(to) };
    // A foreign-style decrement is valid for any block, merged or not (its
    // owner's half is summed into the same count at merge).
    // SAFETY: consumes the buffer's reference to `from`.
    unsafe { Block::unref_remote(from) };
}

/// The account budget a buffer issued by `issuer` is charged to, if any.
///
/// # Safety
/// `issuer` must be live for `'a` (a buffer's reference to it is held).
pub(crate) unsafe fn meter_of<'a>(issuer: NonNull<Block>) -> Option<&'a Arc<crate::budget::Cap>> {
    // SAFETY: per the contract.
    unsafe { block::meter_of(issuer) }
}

/// Drops one reference to a merged block (an account's own).
///
/// # Safety
/// The caller owns a reference to the live `block`, consumed here.
pub(crate) unsafe fn unref_block(block: NonNull<Block>) {
    // SAFETY: forwarded contract.
    unsafe { Block::unref_remote(block) };
}

/// The pool a buffer's issuing block belongs to.
///
/// # Safety
/// `issuer` must be live for `'a` (a buffer's reference to it is held).
pub(crate) unsafe fn central_of<'a>(issuer: NonNull<Block>) -> &'a Arc<Central> {
    // SAFETY: per the contract.
    unsafe { block::central_of(issuer) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_run_busy_leaves_the_thread_usable() {
        let r = std::panic::catch_unwind(|| run_busy(|_, _| panic!("a slow path panics")));
        assert!(r.is_err());
        assert_eq!(run_busy(|_, _| 7), Some(7), "the busy state outlived the panic");
    }
}
