//! [`PooledBuffer`]: an owned, growable byte buffer that goes back to its pool
//! when dropped.
//!
//! # Layout
//!
//! The hot path's speed rests on one coupling between this file and
//! `local/fast.rs`, pinned by the `const` asserts below:
//!
//! * A `PooledBuffer` is five 8-byte words, `ptr, len, cap, tag, issuer`, in
//!   this order (`repr(C)`; `issuer` is `Option<NonNull<_>>`, null for
//!   `None`). A new buffer is usually moved right after `get` writes it, and
//!   LLVM copies the 40-byte struct with 16-byte loads; a 16-byte load that
//!   the CPU must assemble from two 8-byte stores still in flight cannot be
//!   store-forwarded and waits about 8 ns (`perf annotate` on the `hot_path`
//!   bench in `benches/pool.rs`: 80% of the caller's samples on that load).
//!   So [`PooledBuffer::from_parts`] writes `ptr, len` and `cap, tag` as two
//!   16-byte stores on x86-64.
//! * A cached entry is an `alloc::Mem`, three words `ptr, cap, tag`. The
//!   fast path's push (`fast::give_back`) stores them from registers, and its
//!   pop (`fast::take`) reads each with its own 8-byte load, as they were
//!   stored, never as one 16-byte load spanning two stores.
//! * `tag` is one full word (class and pinned flag), not a `u32` and a
//!   `bool`: two narrow stores read back as one 8-byte load would not
//!   forward either.

use crate::alloc::Mem;
use crate::central::Central;
use crate::error::AllocError;
use crate::local::{self, Block, Return};
use crate::sync::Arc;
use std::fmt;
#[cfg(target_arch = "x86_64")]
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A byte buffer from a [`BufferPool`](crate::BufferPool). It derefs to
/// `[u8]` (its first `len()` bytes), grows like a `Vec<u8>`, and goes back to
/// the pool it came from when dropped, on whichever thread that happens.
///
/// It is `'static + Send + Sync`: it can move into a spawned task or be held by
/// the kernel during I/O. Every byte of its capacity is always initialised
/// memory, so [`spare_mut`](PooledBuffer::spare_mut) hands out `&mut [u8]`
/// to read into, with no zeroing and no `unsafe`.
///
/// ```
/// use std::io::Write;
/// let pool = bufpool::BufferPool::new();
/// let mut buf = pool.get(4);
/// buf.copy_from_slice(b"abcd");
/// buf.write_all(b"efgh").unwrap();
/// assert_eq!(&buf[..], b"abcdefgh");
/// let v: Vec<u8> = buf.into_vec(); // detached: no longer pooled
/// assert_eq!(v, b"abcdefgh");
/// ```
// `repr(C)`: `from_parts` writes the fields as words, in this order (see the
// module docs, "Layout").
#[repr(C)]
pub struct PooledBuffer {
    ptr: NonNull<u8>,
    len: usize,
    cap: usize,
    /// `Mem::tag`: size class and pinned flag in one word.
    tag: u64,
    /// The thread cache block that issued this buffer; `None` for memory
    /// adopted from a `Vec` (alignment 1, freed as a `Vec`).
    issuer: Option<NonNull<Block>>,
}

// The layout the module docs ("Layout") describe.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<PooledBuffer>() == 40);
    assert!(offset_of!(PooledBuffer, ptr) == 0);
    assert!(offset_of!(PooledBuffer, len) == 8);
    assert!(offset_of!(PooledBuffer, cap) == 16);
    assert!(offset_of!(PooledBuffer, tag) == 24);
    assert!(offset_of!(PooledBuffer, issuer) == 32);
    assert!(size_of::<Option<NonNull<Block>>>() == 8);
    assert!(size_of::<Mem>() == 24);
    assert!(offset_of!(Mem, ptr) == 0);
    assert!(offset_of!(Mem, cap) == 8);
    assert!(offset_of!(Mem, tag) == 16);
};

// SAFETY: the buffer uniquely owns its memory; `issuer` is only used through
// the thread-safe release protocol in `local` (atomic refcount, owner check by
// thread id).
unsafe impl Send for PooledBuffer {}
// SAFETY: `&PooledBuffer` only reads the bytes; no interior mutability.
unsafe impl Sync for PooledBuffer {}

impl PooledBuffer {
    /// A buffer from this thread's cache for `central`, or `None` for the
    /// slow path. Makes no call.
    #[inline(always)]
    pub(crate) fn take(central: &Arc<Central>, len: usize) -> Option<Self> {
        let (mem, issuer) = local::take(central, len)?;
        // SAFETY: `mem` is ours and fully initialised (recycled; pools that
        // zero on get never hit), `len` maps to its class so `len <= cap`,
        // and `issuer` counted a reference for this buffer.
        Some(unsafe { Self::from_parts(mem, len, Some(issuer)) })
    }

    /// A buffer of `len` from `central`, the fast path first unless `zero`
    /// asks for zeroed bytes.
    #[inline(always)]
    pub(crate) fn acquire(central: &Arc<Central>, len: usize, zero: bool) -> Result<Self, AllocError> {
        if !zero {
            if let Some(b) = Self::take(central, len) {
                return Ok(b);
            }
        }
        Self::acquire_slow(central, len, zero)
    }

    /// Everything but the fast path (which the slow path retries).
    #[inline(never)]
    pub(crate) fn acquire_slow(central: &Arc<Central>, len: usize, zero: bool) -> Result<Self, AllocError> {
        Self::acquire_prepaid(central, len, zero, 0)
    }

    /// The slow path with `prepaid` bytes already charged against the
    /// pool's outstanding cap by a granted waiter (see `local::acquire`).
    pub(crate) fn acquire_prepaid(
        central: &Arc<Central>,
        len: usize,
        zero: bool,
        prepaid: usize,
    ) -> Result<Self, AllocError> {
        let (mem, issuer) = local::acquire(central, len, zero, prepaid)?;
        // SAFETY: `mem` is ours, fully initialised (fresh memory is zeroed and
        // recycled memory was initialised before), `len <= mem.cap`, and
        // `issuer` holds a reference counted for this buffer.
        Ok(unsafe { Self::from_parts(mem, len, Some(issuer)) })
    }

    /// # Safety
    /// `mem` is owned and fully initialised, `len <= mem.cap`, and `issuer`
    /// (if any) holds a reference counted for this buffer.
    #[inline(always)]
    unsafe fn from_parts(mem: Mem, len: usize, issuer: Option<NonNull<Block>>) -> Self {
        debug_assert!(len <= mem.cap);
        #[cfg(target_arch = "x86_64")]
        {
            let issuer = issuer.map_or(std::ptr::null_mut(), NonNull::as_ptr);
            let mut out = MaybeUninit::<Self>::uninit();
            let p = out.as_mut_ptr().cast::<u64>();
            // SAFETY: the layout asserted above: five 8-byte words in this
            // order, `issuer` being `Option<NonNull<_>>` (null is `None`).
            // Every word is written, so the value is initialised.
            unsafe {
                store_pair(p, mem.ptr.as_ptr() as u64, len as u64);
                store_pair(p.add(2), mem.cap as u64, mem.tag);
                p.add(4).cast::<*mut Block>().write(issuer);
                out.assume_init()
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self { ptr: mem.ptr, len, cap: mem.cap, tag: mem.tag, issuer }
    }

    /// Number of bytes in the buffer.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if `len() == 0`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the buffer can hold without moving.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Whether this buffer returns to a pool when dropped (false for one made
    /// from a `Vec`).
    pub fn is_pooled(&self) -> bool {
        self.issuer.is_some()
    }

    /// The bytes, as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `cap >= len` initialised bytes we own.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, as a mutable slice.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The spare capacity `len()..capacity()`, initialised and writable: read
    /// into it, then call [`set_len`](PooledBuffer::set_len).
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut b = pool.with_capacity(4096);
    /// let n = std::io::Read::read(&mut &b"data"[..], b.spare_mut()).unwrap();
    /// b.set_len(n);
    /// assert_eq!(&b[..], b"data");
    /// ```
    #[inline]
    pub fn spare_mut(&mut self) -> &mut [u8] {
        // SAFETY: the whole capacity is initialised (an invariant of this
        // type) and owned; `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(self.len), self.cap - self.len) }
    }

    /// Sets the length. Safe because the whole capacity is always initialised.
    ///
    /// # Panics
    /// If `len > capacity()`.
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.cap, "set_len({len}) beyond capacity {}", self.cap);
        self.len = len;
    }

    /// A raw pointer to the start of the buffer (for kernel I/O).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// A raw mutable pointer to the start of the buffer (for kernel I/O).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether the buffer's memory is mlocked.
    pub fn is_pinned(&self) -> bool {
        self.tag & crate::alloc::PINNED != 0
    }

    /// Shortens the buffer to `len` bytes; no effect if it is already shorter.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Sets `len()` to 0, keeping the capacity.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Resizes to `new_len`, filling new bytes with `value`. Past capacity the
    /// contents move to a larger buffer from the same pool.
    pub fn resize(&mut self, new_len: usize, value: u8) {
        if new_len > self.len {
            self.reserve(new_len - self.len);
            let old = self.len;
            self.len = new_len;
            self.as_mut_slice()[old..].fill(value);
        } else {
            self.len = new_len;
        }
    }

    /// Appends `data`, moving to a larger pooled buffer if needed.
    #[inline]
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.reserve(data.len());
        let len = self.len;
        self.spare_mut()[..data.len()].copy_from_slice(data);
        self.len = len + data.len();
    }

    /// Makes room for at least `additional` more bytes. Growth takes a buffer
    /// of at least double the capacity from the same pool (so it lands in a
    /// size class and is pooled), copies the contents and returns the old one.
    ///
    /// # Panics
    /// If the new capacity overflows `isize::MAX` or cannot be allocated.
    pub fn reserve(&mut self, additional: usize) {
        if additional <= self.cap - self.len {
            return;
        }
        self.grow(additional);
    }

    #[cold]
    fn grow(&mut self, additional: usize) {
        let need = self.len.checked_add(additional).unwrap_or_else(|| panic!("capacity overflow"));
        let want = need.max(self.cap.saturating_mul(2));
        let mut next = self.sibling(want).or_else(|_| self.sibling(need)).unwrap_or_else(|e| panic!("{e}"));
        if let Some(issuer) = self.issuer {
            // SAFETY: this buffer's reference keeps `issuer` live.
            if let Some(meter) = unsafe { local::meter_of(issuer) } {
                // An account's buffer stays the account's as it grows: the
                // new one is charged to it (past its limit if need be; the
                // pool's cap bound the new buffer) and moved onto its block,
                // and the old one releases its charge when it drops below.
                meter.charge_unchecked(next.cap);
                // SAFETY: `issuer` is a live account block of this pool, and
                // this buffer's reference to it is held until the swap's
                // old value drops at the end of this function.
                unsafe { next.rehome(issuer) };
            }
        }
        next.len = self.len;
        next.as_mut_slice().copy_from_slice(self.as_slice());
        std::mem::swap(self, &mut next);
    }

    /// Counts this buffer's capacity into (`frozen`) or back out of its
    /// pool's `Stats::frozen_bytes`: a slow-path count on the calling
    /// thread's cache, so the freezing thread and the one that drops the last
    /// `Bytes` may differ. Nothing for a buffer adopted from a `Vec`.
    #[cfg(feature = "bytes")]
    pub(crate) fn count_frozen(&self, frozen: bool) {
        if let Some(issuer) = self.issuer {
            // SAFETY: this buffer's reference keeps `issuer` live.
            let central = unsafe { local::central_of(issuer) };
            let n = self.cap as u64;
            local::count(central, |t| &t.frozen_bytes, if frozen { n } else { n.wrapping_neg() });
            local::count(central, |t| &t.frozen_buffers, if frozen { 1 } else { 1u64.wrapping_neg() });
            if self.tag & crate::track::TRACKED != 0 {
                if let Some(t) = central.tracker() {
                    t.on_freeze(self.ptr.as_ptr() as usize, frozen);
                }
            }
        }
    }

    /// Detaches the bytes as a `Vec<u8>`; the memory leaves the pool.
    ///
    /// This moves the allocation without copying when it can be a `Vec`'s
    /// (alignment 1, the default). An aligned pool's buffer (`alignment > 1`
    /// or `pinned_memory`) cannot be freed as a `Vec`, so its bytes are copied
    /// into a new `Vec` and the buffer goes back to the pool.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::new();
    /// let mut b = pool.get(3);
    /// b.copy_from_slice(b"xyz");
    /// assert_eq!(b.into_vec(), b"xyz");
    /// assert_eq!(pool.stats().outstanding_buffers, 0);
    /// ```
    pub fn into_vec(self) -> Vec<u8> {
        let this = std::mem::ManuallyDrop::new(self);
        let issuer = match this.issuer {
            None => {
                // SAFETY: memory adopted from a `Vec<u8>` with this capacity;
                // all of it is initialised.
                return unsafe { Vec::from_raw_parts(this.ptr.as_ptr(), this.len, this.cap) };
            }
            Some(h) => h,
        };
        // SAFETY: our reference keeps `issuer` live.
        let central = unsafe { local::central_of(issuer) };
        if central.alignment() > 1 || this.cap == 0 {
            let v = this.as_slice().to_vec();
            let mem = this.mem();
            // SAFETY: `issuer` issued this buffer; its reference is consumed
            // and `this` is never dropped.
            unsafe { local::release(issuer, mem, Return::Recycle) };
            return v;
        }
        let mut mem = this.mem();
        central.unpin_for_detach(&mut mem);
        let (ptr, len, cap) = (this.ptr, this.len, this.cap);
        // SAFETY: as above, with `Detach`: we keep the (unpinned) memory.
        unsafe { local::release(issuer, mem, Return::Detach) };
        // SAFETY: allocated by the global allocator with `Layout(cap, 1)`
        // (alignment 1 checked above), exactly what `Vec<u8>` frees; all `cap`
        // bytes are initialised and `len <= cap`.
        unsafe { Vec::from_raw_parts(ptr.as_ptr(), len, cap) }
    }

    /// The same as [`into_vec`](PooledBuffer::into_vec).
    pub fn into_inner(self) -> Vec<u8> {
        self.into_vec()
    }

    /// Returns a buffer that nothing was written into since it was handed out
    /// (a lent read buffer whose reader answered `Pending`): it goes back
    /// without the `Zeroing::OnReturn` scrub.
    pub(crate) fn recycle_unwritten(self) {
        let this = std::mem::ManuallyDrop::new(self);
        match this.issuer {
            // SAFETY: `issuer` issued this buffer; its reference is consumed
            // here and `this` is never dropped.
            Some(issuer) => unsafe { local::release(issuer, this.mem(), Return::Unwritten) },
            None => drop(std::mem::ManuallyDrop::into_inner(this)),
        }
    }

    /// Moves this buffer onto the account block `to` (see
    /// `local::rehome`); false (nothing done) for a buffer adopted from a
    /// `Vec`.
    ///
    /// # Safety
    /// `to` is a live account block of this buffer's pool whose reference
    /// the caller holds.
    pub(crate) unsafe fn rehome(&mut self, to: NonNull<Block>) -> bool {
        let Some(from) = self.issuer else { return false };
        // SAFETY: forwarded contract; the buffer's reference moves to `to`.
        unsafe { local::rehome(from, to) };
        self.issuer = Some(to);
        true
    }

    /// The memory, as the pool tracks it.
    #[inline(always)]
    fn mem(&self) -> Mem {
        Mem { ptr: self.ptr, cap: self.cap, tag: self.tag }
    }

    /// A new buffer of `len` from the same pool (the global pool for one
    /// adopted from a `Vec`), for growth and clones.
    fn sibling(&self, len: usize) -> Result<PooledBuffer, AllocError> {
        match self.issuer {
            // SAFETY: this buffer's reference keeps its issuer (and pool) live.
            Some(issuer) => Self::acquire(unsafe { local::central_of(issuer) }, len, false),
            None => crate::global().try_get(len),
        }
    }
}

impl Drop for PooledBuffer {
    #[inline]
    fn drop(&mut self) {
        match self.issuer {
            Some(issuer) => {
                let mem = self.mem();
                // SAFETY: `issuer` issued this buffer, whose reference is
                // consumed here, once.
                unsafe { local::release(issuer, mem, Return::Recycle) }
            }
            None => {
                // SAFETY: memory adopted from a `Vec<u8>` with this capacity.
                drop(unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), 0, self.cap) });
            }
        }
    }
}

impl From<Vec<u8>> for PooledBuffer {
    /// Adopts a `Vec`'s allocation without copying. Its spare capacity is
    /// zeroed (the buffer's whole capacity is always initialised). The buffer
    /// is freed, not pooled, on drop.
    fn from(mut v: Vec<u8>) -> Self {
        let spare = v.spare_capacity_mut();
        // SAFETY: writing zeros to the spare capacity initialises it.
        unsafe { spare.as_mut_ptr().write_bytes(0, spare.len()) };
        let mut v = std::mem::ManuallyDrop::new(v);
        let cap = v.capacity();
        let len = v.len();
        let ptr = NonNull::new(v.as_mut_ptr()).expect("Vec pointers are non-null");
        PooledBuffer { ptr, len, cap, tag: crate::alloc::NOT_POOLED as u64, issuer: None }
    }
}

impl From<PooledBuffer> for Vec<u8> {
    fn from(b: PooledBuffer) -> Self {
        b.into_vec()
    }
}

impl Deref for PooledBuffer {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for PooledBuffer {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for PooledBuffer {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for PooledBuffer {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl std::borrow::Borrow<[u8]> for PooledBuffer {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for PooledBuffer {
    /// Shows length and capacity, never the contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuffer")
            .field("len", &self.len)
            .field("capacity", &self.cap)
            .field("pooled", &self.issuer.is_some())
            .finish()
    }
}

impl PartialEq for PooledBuffer {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for PooledBuffer {}

impl PartialEq<[u8]> for PooledBuffer {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl std::hash::Hash for PooledBuffer {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl Clone for PooledBuffer {
    /// A new buffer from the same pool with the same contents.
    fn clone(&self) -> Self {
        let mut b = self.sibling(self.len).unwrap_or_else(|e| panic!("{e}"));
        b.copy_from_slice(self.as_slice());
        b
    }
}

impl std::io::Write for PooledBuffer {
    /// Appends; past capacity the contents move to a larger pooled buffer.
    #[inline]
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(data);
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes two words at `p` as one 16-byte store, so that a 16-byte load of a
/// moved `PooledBuffer` matches one store (see the module docs, "Layout").
///
/// # Safety
/// `p` is valid for writes of 16 bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn store_pair(p: *mut u64, lo: u64, hi: u64) {
    use std::arch::x86_64::{__m128i, _mm_set_epi64x, _mm_storeu_si128};
    // SAFETY: SSE2 is part of the x86-64 baseline; `storeu` takes any
    // alignment, and `p` is valid for 16 bytes per the contract.
    unsafe { _mm_storeu_si128(p.cast::<__m128i>(), _mm_set_epi64x(hi as i64, lo as i64)) }
}
