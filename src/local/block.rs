//! [`Block`]: one thread's cache for one pool, and the whole of its
//! lifetime protocol, **biased reference counting**.
//!
//! A buffer records the block that issued it (its *issuer*). The block keeps
//! the pool alive, and is itself kept alive by two halves of one count:
//!
//! * the owner half, written only by the owner thread, in three parts so the
//!   hot path writes one word each way: [`Private::out`] for the slow paths,
//!   and, per size class, the single-writer counters `hits` (+1 per hit)
//!   and `fast_returns` (−1 per fast-path return) beside the class's bin,
//!   which the statistics read too. [`Block::owner_count`] is the one place
//!   that sums them;
//! * [`Block::remote`], an atomic: −1 per buffer of this block dropped on any
//!   other thread (or after retirement).
//!
//! When the owner retires the block (its thread exits, or the pool closes)
//! [`Block::merge`] adds `owner_count + MERGED` to `remote`; from then on
//! `remote − MERGED` is the exact number of outstanding buffers, and whoever
//! brings it to zero frees the block. See `docs/DESIGN.md`.

use super::inbox::{Chain, Inbox};
use crate::alloc::{Mem, NOT_POOLED};
use crate::budget::Cap;
use crate::central::Central;
use crate::config::Zeroing;
use crate::stats::{ClassCounts, ClassTally, Tally};
use crate::sync::{Arc, AtomicUsize, Ordering, OwnerCell, StatAtomicU64};
use std::ptr::NonNull;

/// Flag added to `Block::remote` when the owner merges its count.
const MERGED: usize = 1 << (usize::BITS - 2);

/// One thread's cache for one pool. Shared with other threads only through
/// `central` (read-only), `owner` (immutable), `remote`, `inbox` and `tally`.
pub(crate) struct Block {
    pub(super) central: Arc<Central>,
    /// Id of the owning thread (`sync::thread_id`); ids are never reused, and
    /// 0 (no thread) marks an orphan block.
    pub(super) owner: u64,
    /// Biased refcount, shared half: foreign drops subtract 1; the owner's
    /// merge adds `owner_count + MERGED`. Wrapping arithmetic throughout.
    remote: AtomicUsize,
    /// Statistics, written by the owner only; two of them are also the owner
    /// half of the refcount.
    pub(super) tally: Tally,
    /// Owner-only state. Invariant: only the thread whose id is `owner`
    /// touches it: inside a slow operation (`local::run_busy`), or on the
    /// call-free fast path, which runs only while no slow operation is
    /// running on this thread.
    private: OwnerCell<Private>,
    /// Buffers of this block dropped on other threads, for the owner to take
    /// on its next miss (`inbox.rs`). Closed when the block retires, and from
    /// birth for an orphan block. Each listed buffer keeps its reference to
    /// the block: it is still counted out until the owner takes it.
    pub(super) inbox: Inbox,
    /// Where the per-class counters beside the bins are, for `held_in` /
    /// `held_out`, which cannot borrow `private`; valid until `merge`
    /// replaces the bins (after which the owner calls neither).
    counts: ClassCounts,
    /// The part of this block's `held_bytes` published in `Central::held`
    /// (owner only; see `Peak::publish`).
    published_bytes: StatAtomicU64,
    /// An [`Account`](crate::Account)'s budget, for the account's own
    /// block (an orphan-style block that issues no memory: buffers taken
    /// through the account are moved onto it). Each of its buffers releases
    /// its capacity here when it comes back, on any thread.
    pub(super) meter: Option<Arc<Cap>>,
}

// SAFETY: `private` is only accessed by the owner thread (see its invariant);
// every other field is immutable after construction or atomic.
unsafe impl Send for Block {}
// SAFETY: as for `Send`.
unsafe impl Sync for Block {}

/// A block's owner-only state.
pub(super) struct Private {
    /// Owner half of the refcount, slow-path part: +1 per buffer the slow
    /// path issues other than a cache hit, −1 per own buffer returned
    /// through the slow path. See [`Block::owner_count`].
    out: isize,
    /// Budget bytes reserved by this cache; `cached() <= lease <= tls_cache_bytes`.
    /// Buffers taken from the shards keep their reservation here while out,
    /// so the lease may exceed what is cached until the idle clock's next
    /// tick (or a trim, or thread exit) gives the difference back.
    pub(super) lease: usize,
    /// Set once the block is merged; the owner then treats it as foreign.
    pub(super) retired: bool,
    pub(super) seen_trim: u64,
    pub(super) seen_reclaim: u64,
    pub(super) seen_gen: u64,
    pub(super) bins: Bins,
}

/// A size class's bin and its counters, side by side, so the fast paths
/// count a hit or a return through the pointer they pop or push with. The
/// owner borrows `bin` mutably (and only `bin`: never a whole `Slot`), while
/// the registry reads `count` from any thread.
///
/// 128 bytes, a power of two, so the fast paths find a class's slot with one
/// shift (as they found the 56-byte bins with one multiply; 96 bytes would
/// take two instructions). That is 128 bytes per class per thread cache:
/// 9 KiB for the 73 default classes.
#[repr(C, align(128))]
pub(super) struct Slot {
    bin: Bin,
    count: ClassTally,
}

#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<Slot>() == 128);

/// A block's slots, one per size class. Owned through a raw pointer rather
/// than a `Box`, because the fast paths keep a pointer to the array in the
/// thread's `HOT` entry while the slow paths borrow it through `Private`
/// (never at the same time), and the registry reads the counters meanwhile:
/// a `Box` would assert uniqueness on every move of `Private`.
pub(super) struct Bins {
    ptr: NonNull<Slot>,
    len: usize,
}

impl Bins {
    pub(super) fn new(v: Vec<Bin>) -> Self {
        let b: Box<[Slot]> = v.into_iter().map(|bin| Slot { bin, count: ClassTally::default() }).collect();
        let len = b.len();
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(Box::into_raw(b).cast::<Slot>()) };
        Self { ptr, len }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The counters of class `c`. Shared: any thread may read them, and the
    /// owner writes them with single-writer stores.
    pub(super) fn count(&self, c: usize) -> &ClassTally {
        assert!(c < self.len);
        // SAFETY: `c < len`, within the array this value owns; `count` is
        // never borrowed mutably (only `bin` is).
        unsafe { &*std::ptr::addr_of!((*self.ptr.as_ptr().add(c)).count) }
    }

    /// Where the counters are, for the registry.
    pub(super) fn class_counts(&self) -> ClassCounts {
        // SAFETY: `len` counters, `size_of::<Slot>()` apart from the first,
        // inside this array (`byte_add` stays within it, or is 0 past a
        // dangling pointer's 0-length array, never dereferenced); the block
        // registers them until it retires, and retirement unregisters before
        // `merge` replaces the array.
        unsafe {
            let first = self.ptr.as_ptr().cast::<u8>().wrapping_add(std::mem::offset_of!(Slot, count));
            ClassCounts::new(NonNull::new_unchecked(first.cast()), std::mem::size_of::<Slot>(), self.len)
        }
    }

    /// A raw pointer to the bin of class `c`: the only way to a bin, so no
    /// borrow ever covers a slot's counters.
    fn bin(&self, c: usize) -> *mut Bin {
        assert!(c < self.len);
        // SAFETY: `c < len`: inside the array.
        unsafe { std::ptr::addr_of_mut!((*self.ptr.as_ptr().add(c)).bin) }
    }

    /// The bin and counters of class `c`.
    pub(super) fn slot(&mut self, c: usize) -> (&mut Bin, &ClassTally) {
        // SAFETY: a bin of the array, borrowed under `&mut self`, and its
        // counters, disjoint from it.
        (unsafe { &mut *self.bin(c) }, self.count(c))
    }

    /// Every class with its bin and counters.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Bin, &ClassTally)> + '_ {
        let bins = &*self;
        // SAFETY: distinct bins, each borrowed once, for as long as the
        // `&mut self` that excludes every other borrow through `Private`.
        (0..bins.len).map(move |c| (c, unsafe { &mut *bins.bin(c) }, bins.count(c)))
    }

    /// Whether `f` holds for every bin.
    pub(super) fn all(&self, f: impl Fn(&Bin) -> bool) -> bool {
        // SAFETY: shared borrows under `&self`.
        (0..self.len).all(|c| f(unsafe { &*self.bin(c) }))
    }
}

impl std::ops::Index<usize> for Bins {
    type Output = Bin;
    fn index(&self, c: usize) -> &Bin {
        // SAFETY: a bin of the array, borrowed under `&self`.
        unsafe { &*self.bin(c) }
    }
}

impl std::ops::IndexMut<usize> for Bins {
    fn index_mut(&mut self, c: usize) -> &mut Bin {
        // SAFETY: a bin of the array, borrowed under `&mut self`.
        unsafe { &mut *self.bin(c) }
    }
}

/// The bin and counters of the slot at `s`, for the fast paths (which hold
/// the block's slot array, and the slot of the last size asked, in `HOT`).
///
/// # Safety
/// `s` is a slot of the calling thread's live, unretired block, no slow
/// operation is running on this thread, and no other reference to this bin
/// is live for `'a`.
#[inline(always)]
pub(super) unsafe fn slot_parts<'a>(s: *mut Slot) -> (&'a mut Bin, &'a ClassTally) {
    // SAFETY: per the contract; the two borrows are of disjoint fields.
    unsafe { (&mut *std::ptr::addr_of_mut!((*s).bin), &*std::ptr::addr_of!((*s).count)) }
}

impl Drop for Bins {
    fn drop(&mut self) {
        // SAFETY: the boxed slice `new` leaked, freed once.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len)) });
    }
}

/// A block's cache of one size class: a LIFO stack of idle buffers.
pub(crate) struct Bin {
    /// The top is the most recently returned.
    pub(super) stack: Vec<Mem>,
    /// Current depth limit: 0 until first used, then adapting between
    /// `min(2, tls_cache_size)` and `Config::max_cache_depth`. Raised only
    /// through `slow::set_depth`, which reserves the stack first.
    pub(super) depth: usize,
    /// Pool generation at the last use of this bin by a slow path; the fast
    /// paths' uses show in `fast_seen`.
    pub(super) last_gen: u64,
    /// The class's `hits + fast_returns` at the last `decay`: a different
    /// sum there means the fast paths used the bin in that generation.
    pub(super) fast_seen: u64,
    /// A get found this bin empty since the last spill or decay.
    pub(super) missed: bool,
    /// Buffers of this class taken from the inbox and not yet back in the
    /// stack: still counted out (not cached, not leased).
    pub(super) chain: Chain,
}

impl Block {
    fn new(central: &Arc<Central>, owner: u64, remote: usize, meter: Option<Arc<Cap>>) -> Self {
        let gen = central.generation();
        // Depth 0 until a bin's first push reserves its stack (in
        // `slow::accept_slow`), so the fast-path push never allocates.
        let depth = 0;
        let bins = Bins::new(if owner == 0 {
            Vec::new()
        } else {
            (0..central.classes.len())
                .map(|_| Bin {
                    stack: Vec::new(),
                    depth,
                    last_gen: gen,
                    fast_seen: 0,
                    missed: false,
                    chain: Chain::new(),
                })
                .collect()
        });
        let counts = bins.class_counts();
        Block {
            counts,
            published_bytes: StatAtomicU64::new(0),
            central: central.clone(),
            owner,
            remote: AtomicUsize::new(remote),
            inbox: Inbox::new(owner != 0),
            tally: Tally::default(),
            meter,
            private: OwnerCell::new(Private {
                out: 0,
                lease: 0,
                retired: owner == 0,
                seen_trim: central.trim_epoch(),
                seen_reclaim: central.reclaim_epoch(),
                seen_gen: gen,
                bins,
            }),
        }
    }

    /// A new block owned by the thread with id `owner` (never 0), leaked: its
    /// biased refcount frees it.
    pub(super) fn create(central: &Arc<Central>, owner: u64) -> NonNull<Block> {
        debug_assert_ne!(owner, 0);
        NonNull::from(Box::leak(Box::new(Block::new(central, owner, 0, None))))
    }

    /// An orphan block for one buffer served without a thread cache: merged
    /// from birth with one reference, the buffer's, so its drop frees it.
    pub(super) fn create_orphan(central: &Arc<Central>) -> NonNull<Block> {
        NonNull::from(Box::leak(Box::new(Block::new(central, 0, MERGED + 1, None))))
    }

    /// An account's block: orphan-style (merged from birth, inbox closed),
    /// with one reference, the account's own, and the account's budget.
    pub(super) fn create_account(central: &Arc<Central>, meter: Arc<Cap>) -> NonNull<Block> {
        NonNull::from(Box::leak(Box::new(Block::new(central, 0, MERGED + 1, Some(meter)))))
    }

    /// One more reference to a merged block (a buffer moved onto it).
    ///
    /// # Safety
    /// `block` is live and merged, and the caller holds a reference to it.
    pub(super) unsafe fn add_ref(block: NonNull<Block>) {
        // SAFETY: the caller's reference keeps it live.
        let b = unsafe { block.as_ref() };
        // Relaxed, as `Arc::clone`: the caller's reference keeps the count
        // above MERGED, so no thread can free the block concurrently; the
        // new reference is published with the buffer that carries it.
        b.remote.fetch_add(1, Ordering::Relaxed);
    }

    /// The owner-only state.
    ///
    /// # Safety
    /// The caller is the owner thread inside a slow operation, or the fast
    /// path with no slow operation running on this thread, and no other
    /// reference from this call is live.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(super) unsafe fn private(&self) -> &mut Private {
        // SAFETY: per the contract.
        unsafe { self.private.get_mut() }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // Whoever frees the block must happen-after the owner's last access to
        // its private state; this access lets loom check exactly that.
        // SAFETY: `&mut self`: nobody else can reach the block.
        let p = unsafe { self.private.get_mut() };
        debug_assert!(p.retired && self.cached() == 0);
        #[cfg(debug_assertions)]
        debug_assert!(self.inbox.is_closed());
    }
}

/// The refcount. The owner's updates are plain single-writer stores; only
/// `merge` and `unref_remote` are atomic read-modify-writes.
impl Block {
    /// A cache hit issued a buffer of the class `count` belongs to: the hit
    /// counter is the refcount's +1.
    #[inline(always)]
    pub(super) fn count_hit(count: &ClassTally) {
        ClassTally::add_owned(&count.hits, 1);
    }

    /// An own buffer came back on the fast path: that counter is the
    /// refcount's −1.
    #[inline(always)]
    pub(super) fn count_fast_return(count: &ClassTally) {
        ClassTally::add_owned(&count.fast_returns, 1);
    }

    /// Counts in the statistics (not the refcount: see `count_returned`) a
    /// return through a slow path of a buffer of `class`, on this, the
    /// calling thread's unretired block, whose owner-only state is `p`.
    pub(super) fn tally_return(&self, p: &Private, class: u32) {
        Tally::bump(&self.tally.returns, 1);
        if class != NOT_POOLED {
            ClassTally::bump(&p.bins.count(class as usize).returns, 1);
        }
    }

    /// The slow path issued a buffer that was not a cache hit.
    pub(super) fn count_issued(p: &mut Private) {
        p.out += 1;
    }

    /// `n` own buffers came back through the slow path (or through the
    /// inbox, whose dropper counted them in the statistics).
    pub(super) fn count_returned(p: &mut Private, n: usize) {
        p.out -= n as isize;
    }

    /// The owner half of the refcount: the one place its parts are summed
    /// (`Private::out`, and each class's `hits` and `fast_returns`).
    fn owner_count(p: &Private) -> usize {
        let mut n = p.out as usize;
        for c in 0..p.bins.len() {
            let t = p.bins.count(c);
            // Relaxed: this (the owner) thread wrote these counters.
            let hits = t.hits.load(Ordering::Relaxed);
            let fast_returns = t.fast_returns.load(Ordering::Relaxed);
            n = n.wrapping_add(hits.wrapping_sub(fast_returns) as usize);
        }
        n
    }

    /// Merges the owner half into `remote` and marks the block retired,
    /// freeing it if no buffer is outstanding. The owner has emptied and
    /// unregistered it.
    ///
    /// # Safety
    /// `block` is the calling thread's live, unretired block, and the caller
    /// holds no reference into it (it may be freed here).
    pub(super) unsafe fn merge(block: NonNull<Block>) {
        // SAFETY: live, per the contract.
        let b = unsafe { block.as_ref() };
        // SAFETY: owner-only state, and the caller is the owner.
        let p = unsafe { b.private() };
        let out = Block::owner_count(p);
        p.bins = Bins::new(Vec::new());
        p.retired = true;
        // AcqRel: Release publishes this thread's last writes to the block (and
        // the buffers it returned) to whichever thread frees it; Acquire pairs
        // with the Release half of earlier `unref_remote` calls in case we free
        // it here.
        let prev = b.remote.fetch_add(out.wrapping_add(MERGED), Ordering::AcqRel);
        if prev.wrapping_add(out).wrapping_add(MERGED) == MERGED {
            // SAFETY: merged and nothing outstanding: no buffer or thread can
            // reach the block. It came from `Box::leak`.
            drop(unsafe { Box::from_raw(block.as_ptr()) });
        }
    }

    /// Drops one reference to `block` from a thread that is not (or no
    /// longer) its fast-path owner, freeing the block if that was the last.
    ///
    /// # Safety
    /// `block` must be live and the caller must own one of its references (a
    /// buffer it issued), which this call consumes.
    pub(super) unsafe fn unref_remote(block: NonNull<Block>) {
        // SAFETY: the caller owns a reference, so the block is live.
        let b = unsafe { block.as_ref() };
        // AcqRel, as `Arc::drop`: Release orders everything this thread did
        // with the buffer and the block before the decrement; Acquire (needed
        // only by the thread that frees) makes every other thread's decrement,
        // and the owner's merge (Release in `merge`), visible before the block
        // is freed.
        let prev = b.remote.fetch_sub(1, Ordering::AcqRel);
        if prev == MERGED + 1 {
            // SAFETY: the count is merged and this was the last reference: no
            // thread can reach the block any more. It was created by `Box::leak`.
            drop(unsafe { Box::from_raw(block.as_ptr()) });
        }
    }
}

/// Byte accounting. Two single-writer gauges per block, and a statistic:
/// `listed_bytes`, + by a thread that lists a buffer in another block's
/// inbox, − by the owner that takes it out of its chain (so only the sum
/// over blocks means anything: the bytes listed). Then `cached_bytes` (what
/// sits in the bins) and `held_bytes` = bytes handed out − bytes returned +
/// bytes cached. A cache hit moves bytes from cached to handed out, and a
/// return into the cache moves them back, so on the hot path only
/// `cached_bytes` changes; `held_bytes` moves only when bytes enter or leave
/// the thread (fresh, shard, spill, free). `Stats::outstanding_bytes` is
/// Σ held − Σ cached.
impl Block {
    #[inline(always)]
    pub(super) fn cached(&self) -> usize {
        // Relaxed: written only by this (the owner) thread.
        self.tally.cached_bytes.load(Ordering::Relaxed) as usize
    }
    #[inline(always)]
    pub(super) fn add_cached(&self, n: usize) {
        Tally::add_owned(&self.tally.cached_bytes, n as u64);
    }
    #[inline(always)]
    pub(super) fn sub_cached(&self, n: usize) {
        Tally::sub_owned(&self.tally.cached_bytes, n as u64);
    }
    /// Adds `n` cached bytes if the total stays within `lease`, with one
    /// load and one store: `cached() + n <= lease` then `add_cached(n)`
    /// would load the counter twice (LLVM does not merge atomic loads), and
    /// each load waits for the previous get's store to forward, a chain
    /// through memory on every get + drop.
    #[inline(always)]
    pub(super) fn add_cached_within(&self, n: usize, lease: usize) -> bool {
        // Relaxed: written only by this (the owner) thread; see `Tally::bump`.
        let c = self.tally.cached_bytes.load(Ordering::Relaxed) as usize + n;
        if c > lease {
            return false;
        }
        self.tally.cached_bytes.store(c as u64, Ordering::Relaxed);
        true
    }
    /// A buffer came into this thread's hands (a get not served by the
    /// cache); the pool's peaks follow (`publish_held`).
    #[inline(always)]
    pub(super) fn held_in(&self, mem: &Mem) {
        Tally::bump(&self.tally.held_bytes, mem.cap as u64);
        self.publish_held(mem.class(), 1);
    }
    /// A buffer left this thread's hands (to a shard, freed, detached): its
    /// charge against `max_outstanding_bytes` goes back. (The charge was
    /// taken before the matching `held_in`, where it can be refused.)
    #[inline(always)]
    pub(super) fn held_out(&self, mem: &Mem) {
        Tally::drop_by(&self.tally.held_bytes, mem.cap as u64);
        self.publish_held(mem.class(), -1);
        self.central.cap.release(mem.cap);
    }

    /// This block's held bytes, and its held buffers of `class` (moved by
    /// `delta`), published in the pool's gauges in steps
    /// (`Central::held_step`, `class_step`): the peaks' shared RMWs come
    /// once per step of this thread's movement, not once per buffer.
    fn publish_held(&self, class: u32, delta: i64) {
        if cfg!(bufpool_no_stats) {
            return;
        }
        self.publish_bytes(self.central.held_step);
        if class != NOT_POOLED {
            let c = class as usize;
            // SAFETY: `c` is a class of the pool, and the counters are live:
            // the owner (the caller) has not merged the block.
            ClassTally::add_owned(&unsafe { self.counts.get(c) }.held, delta as u64);
            self.publish_class(c, self.central.class_step);
        }
    }

    /// Publishes this retiring block's shares exactly (step 0), so a retired
    /// thread leaves no rounding behind in the peaks' gauges.
    pub(super) fn settle_held(&self) {
        if cfg!(bufpool_no_stats) {
            return;
        }
        self.publish_bytes(0);
        for c in 0..self.counts.len() {
            self.publish_class(c, 0);
        }
    }

    /// Publishes this block's share of `Central::held` in steps of `step`
    /// (kept only when no `max_outstanding_bytes` counts the same thing).
    fn publish_bytes(&self, step: u64) {
        if !self.central.cap.is_limited() {
            // Relaxed: written only by this (the owner) thread.
            let held = self.tally.held_bytes.load(Ordering::Relaxed) as i64;
            self.central.held.publish(held, &self.published_bytes, step);
        }
    }

    /// Publishes this block's share of class `c`'s `Central::class_held`.
    fn publish_class(&self, c: usize, step: u64) {
        // SAFETY: `c` is a class of the pool (callers pass one), and the
        // counters are live: the owner (the caller) has not merged the block.
        let t = unsafe { self.counts.get(c) };
        // Relaxed: written only by this thread.
        let held = t.held.load(Ordering::Relaxed) as i64;
        self.central.class_held[c].publish(held, &t.published, step);
    }

    /// This thread listed `n` bytes in another block's inbox.
    #[inline]
    pub(super) fn listed_in(&self, n: usize) {
        Tally::bump(&self.tally.listed_bytes, n as u64);
    }

    /// The owner took `n` listed bytes out of a chain.
    #[inline]
    pub(super) fn listed_out(&self, n: usize) {
        Tally::drop_by(&self.tally.listed_bytes, n as u64);
    }
}

/// What the fast paths need of a block, kept in the thread's `HOT` entry.
pub(super) struct FastView {
    /// The slot array (one bin and its counters per class).
    pub(super) bins: NonNull<Slot>,
    /// `Zeroing::OnGet` or tracking: gets go to the slow path.
    pub(super) zero_on_get: bool,
    /// `Zeroing::OnReturn` or tracking: returns go to the slow path.
    pub(super) scrub: bool,
}

impl Block {
    /// # Safety
    /// The caller is the block's owner thread, inside a slow operation, and
    /// the block is unretired.
    pub(super) unsafe fn fast_view(&self) -> FastView {
        // SAFETY: owner-only state, per the contract.
        let p = unsafe { self.private() };
        debug_assert!(!p.retired);
        let zeroing = self.central.config.zeroing();
        // A tracking pool sees every get and return on the slow path.
        let tracks = self.central.tracker().is_some();
        FastView {
            bins: p.bins.ptr,
            zero_on_get: zeroing == Zeroing::OnGet || tracks,
            scrub: zeroing == Zeroing::OnReturn || tracks,
        }
    }
}

/// The pool `block` belongs to.
///
/// # Safety
/// `block` must be live for `'a` (a buffer's reference to it is held).
pub(super) unsafe fn central_of<'a>(block: NonNull<Block>) -> &'a Arc<Central> {
    // SAFETY: per the contract.
    unsafe { &block.as_ref().central }
}

/// The account budget of `block`, if it is an account's block.
///
/// # Safety
/// As [`central_of`]. `meter` is set at creation and never changes, so any
/// thread may read it.
pub(super) unsafe fn meter_of<'a>(block: NonNull<Block>) -> Option<&'a Arc<Cap>> {
    // SAFETY: per the contract.
    unsafe { block.as_ref().meter.as_ref() }
}
