//! A drop on a thread that did not issue the buffer, listed in the
//! issuer's inbox without entering a slow operation: the common case of the
//! server pattern (one thread gets, another drops).
//!
//! `slow::release` does the same listing inside `run_busy`, after
//! housekeeping and a lookup of this thread's block for the pool. Here an
//! open gate (`Hot::may_run`: the thread is idle and has seen the current
//! epoch, so no housekeeping is due) and this thread's fast entry for the
//! pool stand in for both. It is still a call away from the drop (it makes
//! two atomic read-modify-writes, the inbox's byte count and its CAS), but
//! it skips the slow operation's bookkeeping. Anything it does not cover
//! (tracked buffers, scrubbing or capped pools, accounts, orphan or closed
//! issuers, a full or closed inbox) returns `false` with nothing done, and
//! the caller takes the slow path.

use super::block::Block;
use super::fast::Hot;
use super::inbox::Inbox;
use crate::alloc::{is_pooled_class, Mem};
use crate::track::TRACKED;
use std::ptr::NonNull;

/// Lists a dropped buffer in its issuer's inbox and counts the return on
/// this thread's block, as `slow::release` does for a foreign issuer, or
/// returns `false` (nothing done).
///
/// # Safety
/// `issuer` issued the buffer owning this memory, whose reference is
/// consumed if this returns `true`; `h` is this thread's `HOT` (inside a
/// slow operation its gate is shut, and this does nothing).
#[inline]
pub(super) unsafe fn list_foreign(h: &Hot, issuer: NonNull<Block>, ptr: NonNull<u8>, cap: usize, tag: u64) -> bool {
    if tag & TRACKED != 0 || !is_pooled_class(tag as u32) {
        return false;
    }
    // SAFETY: the buffer's reference keeps `issuer` live until the push.
    let b = unsafe { issuer.as_ref() };
    let central = &b.central;
    // This thread's block for the pool, if the gate is open and the pool
    // takes fast returns (no scrub, no tracking).
    let Some(mine) = h.return_block_of(&**central) else { return false };
    // First, as the cheapest: an own buffer whose bin was full (the fast
    // return refused it) spills through the slow path, never into its own
    // inbox.
    if mine == issuer {
        return false;
    }
    let mem = Mem { ptr, cap, tag };
    if b.owner == 0 || b.meter.is_some() || !Inbox::fits(&mem) || central.cap.is_limited() || central.is_closed() {
        return false;
    }
    let limit = central.config.tls_cache_bytes();
    let class = mem.class();
    // SAFETY: the memory and the buffer's reference to `issuer` are ours to
    // hand over, and it fits a link. After the push neither `b` nor
    // `central` is used: the buffer no longer keeps them alive.
    match unsafe { b.inbox.push(mem, limit) } {
        Ok(()) => {
            // SAFETY: `mine` is this thread's live, unretired block (it is in
            // `h`, whose gate is open, so the state is idle and no other
            // access to its private state is live).
            let m = unsafe { mine.as_ref() };
            // SAFETY: as above.
            m.tally_return(unsafe { m.private() }, class);
            m.listed_in(cap);
            true
        }
        // Full or closed: the memory is still ours (its words are the
        // caller's, `Mem` owns nothing on drop), and nothing was counted.
        Err(_) => false,
    }
}
