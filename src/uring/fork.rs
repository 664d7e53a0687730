//! `fork()`: a child must not use its parent's rings.
//!
//! A child gets copies of the parent's io_uring descriptors, which name the
//! very same kernel queues, and of the shards' memory, but none of the
//! parent's threads: a completion thread or worker that holds a shard's
//! lock at the fork leaves it locked forever in the child, and a child that
//! drove a copied ring would submit into, and reap completions from, the
//! parent's queues. So a `Ring` (and each of its futures, streams and
//! registered files) remembers the fork generation it was built in; an
//! atfork handler bumps the generation in the child, and there every use is
//! an error and every drop touches nothing (it leaks the child's copies).
//! A child may build rings of its own.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Bumped in each child process as it is forked: a ring built before the
/// fork finds another value here in the child.
static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn in_child() {
    // Relaxed: the child has one thread at this point, and the threads it
    // starts later are ordered after this store by their spawning.
    // (Async-signal-safe: one atomic add.)
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current generation, installing the atfork handler first (once per
/// process). Called when a `Ring` is built.
pub(crate) fn generation() -> u64 {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `in_child` is an `extern "C" fn()` that only does an atomic
        // add, which is async-signal-safe, as a child handler must be. If
        // registration fails (ENOMEM) children are not detected: the rule
        // in the docs (use no Ring from a child) still holds.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    // Relaxed: see `in_child`; pairs with nothing else.
    GENERATION.load(Ordering::Relaxed)
}

/// True in a child forked after a ring built in generation `built`.
#[inline]
pub(crate) fn forked(built: u64) -> bool {
    // Relaxed: as in `generation`.
    GENERATION.load(Ordering::Relaxed) != built
}

/// The error every use of a parent's ring gets in a forked child.
#[cold]
pub(crate) fn error() -> io::Error {
    io::Error::other("bufpool::uring::Ring used in a child process after fork(); build a new Ring in the child")
}
