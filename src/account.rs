//! [`Account`]: a per-connection (or per-request) byte budget with a hard
//! limit and high/low watermarks, under the pool's own cap.
//!
//! An account owns a block of its own (`local::account_block`): an
//! orphan-style block that issues no memory. A buffer taken through the
//! account comes from the pool as usual and is then moved onto that block
//! (`PooledBuffer::rehome`), so wherever and whenever it drops, frozen to
//! `Bytes` or not, its return finds the account's [`Cap`] and gives the
//! charge back. The fast path never recognises the account's block, so an
//! account's buffer returns through the slow path, and buffers not taken
//! through an account pay nothing for accounts.

use crate::budget::{Cap, Ticket};
use crate::buffer::PooledBuffer;
use crate::error::AllocError;
use crate::io::flavor::FuturesIo;
use crate::io::lend::{poll_once, wait_for_budget, Lender};
use crate::local::{self, Block};
use crate::sync::Arc;
use crate::BufferPool;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// A byte budget for one connection, stream or tenant, under the pool's
/// [`max_outstanding_bytes`](crate::Builder::max_outstanding_bytes): every
/// buffer taken through it is charged (its capacity) until that buffer drops,
/// on any thread, also after it was frozen to `Bytes` (until the last slice
/// drops). Built with [`BufferPool::account`]. Cloning is cheap and shares
/// the budget.
///
/// * **`limit`**: a hard cap. [`try_get`](Account::try_get) fails past it
///   ([`AllocError::is_over_budget`]), [`get_async`](Account::get_async)
///   waits (FIFO within the account), [`get`](Account::get) blocks.
/// * **watermarks `(high, low)`**: once [`held_bytes`](Account::held_bytes)
///   reaches `high` the account is **paused**: its reads
///   ([`read`](Account::read), `read_tokio`) return `Pending` and take no
///   buffer, until returns bring it down to `low`. That is backpressure: a
///   connection whose data is not being consumed stops reading from its
///   socket instead of growing, as Envoy's per-stream watermark buffers do.
///
/// A buffer taken through an account is also charged to the pool's cap as
/// any buffer is, so accounts nest under it. A buffer that outgrows its
/// capacity (`reserve`, `extend_from_slice`) moves into a larger buffer from
/// the pool that stays charged to the account: the growth is charged even
/// past the account's `limit` (growth cannot wait or fail, and the pool's cap
/// still binds), and counts toward the watermarks, so the account's reads
/// pause.
///
/// ```
/// # futures::executor::block_on(async {
/// let pool = bufpool::BufferPool::builder().max_outstanding_bytes(64 << 20).build()?;
/// let acct = pool.account().limit(1 << 20).watermarks(768 << 10, 256 << 10).build();
/// let a = acct.get(512 << 10);
/// assert_eq!(acct.held_bytes(), 512 << 10);
/// let b = acct.get(256 << 10);
/// assert!(acct.is_paused(), "at the high watermark");
/// drop(a);
/// assert!(!acct.is_paused(), "back to the low watermark");
/// assert!(acct.try_get(1 << 20).unwrap_err().is_over_budget());
/// drop(b);
/// let mut wire: &[u8] = b"hello";
/// assert_eq!(&acct.read(&mut wire).await?.unwrap()[..], b"hello");
/// assert_eq!(acct.held_bytes(), 0, "the read's buffer was dropped");
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Account {
    inner: Arc<Inner>,
}

struct Inner {
    pool: BufferPool,
    cap: Arc<Cap>,
    /// The account's block; this value holds one reference to it.
    block: NonNull<Block>,
}

// SAFETY: `block` is only used for reference counting (atomic) and as the
// issuer written into buffers, which are `Send + Sync` themselves; `Cap` and
// the pool are `Send + Sync`.
unsafe impl Send for Inner {}
// SAFETY: as for `Send`.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: this value's reference to the live block, given back once.
        // Buffers still charged to the account hold their own references.
        unsafe { local::unref_block(self.block) };
    }
}

/// Settings of an [`Account`], from [`BufferPool::account`].
#[derive(Debug)]
#[must_use = "an AccountBuilder does nothing until .build() is called"]
pub struct AccountBuilder<'a> {
    pool: &'a BufferPool,
    limit: usize,
    watermarks: Option<(usize, usize)>,
}

impl AccountBuilder<'_> {
    /// The hard limit on the account's held bytes. Default: unlimited (only
    /// the pool's cap applies).
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }

    /// Reads pause once held bytes reach `high` and resume once they are
    /// back to `low` (`low` is clamped to at most `high`). Default: never
    /// paused.
    pub fn watermarks(mut self, high: usize, low: usize) -> Self {
        self.watermarks = Some((high, low.min(high)));
        self
    }

    /// The account.
    pub fn build(self) -> Account {
        let cap = Cap::new(self.limit, self.watermarks, true);
        let block = local::account_block(self.pool.inner(), cap.clone());
        Account { inner: Arc::new(Inner { pool: self.pool.clone(), cap, block }) }
    }
}

impl BufferPool {
    /// A builder for an [`Account`] drawing on this pool.
    pub fn account(&self) -> AccountBuilder<'_> {
        AccountBuilder { pool: self, limit: usize::MAX, watermarks: None }
    }
}

impl Account {
    fn cap(&self) -> &Cap {
        &self.inner.cap
    }

    /// The bytes a request of `size` charges (its buffer's capacity).
    fn need(&self, size: usize) -> usize {
        let central = self.inner.pool.inner();
        central.charge_of(central.classes.fit(size))
    }

    fn over_limit(&self, need: usize) -> AllocError {
        AllocError::OverBudget { size: need, charged: self.cap().used(), max: self.cap().max(), account: true }
    }

    /// Moves `b`, for which `need` bytes are charged, onto the account.
    fn adopt(&self, mut b: PooledBuffer, need: usize) -> PooledBuffer {
        debug_assert_eq!(b.capacity(), need, "the charge is the buffer's capacity");
        // SAFETY: the account's live block (this value holds a reference),
        // of the pool `b` came from.
        if !unsafe { b.rehome(self.inner.block) } {
            self.cap().release(need);
        }
        b
    }

    /// A buffer of `size` bytes charged to the account, or an error: over
    /// the account's limit, over the pool's cap (both
    /// [`AllocError::is_over_budget`]; the message says which), or any error
    /// of [`BufferPool::try_get`].
    pub fn try_get(&self, size: usize) -> Result<PooledBuffer, AllocError> {
        let need = self.need(size);
        if !self.cap().try_charge(need) {
            return Err(self.over_limit(need));
        }
        match self.inner.pool.try_get(size) {
            Ok(b) => Ok(self.adopt(b, need)),
            Err(e) => {
                self.cap().release(need);
                Err(e)
            }
        }
    }

    /// A buffer of `size` bytes charged to the account, blocking the thread
    /// at the account's limit until its buffers come back, then as
    /// [`BufferPool::get`] at the pool's cap (the same caveat applies: a
    /// thread that holds what it waits for blocks for ever).
    ///
    /// # Panics
    /// As [`BufferPool::get`], and if `size` is larger than the limit.
    #[cfg(not(loom))]
    pub fn get(&self, size: usize) -> PooledBuffer {
        let need = self.need(size);
        if !self.cap().try_charge(need) {
            if !self.cap().fits_ever(need) {
                panic!("{}", self.over_limit(need));
            }
            // The account's own buffers are what it waits for; nothing
            // idle to give back.
            Ticket::new(self.cap(), need).wait(|| ());
        }
        let b = self.inner.pool.get(size);
        self.adopt(b, need)
    }

    /// A buffer of `size` bytes charged to the account, waiting (FIFO) at the
    /// account's limit, then at the pool's cap (as [`BufferPool::get_async`]).
    ///
    /// # Panics
    /// As [`BufferPool::get_async`], and if `size` is larger than the limit.
    pub async fn get_async(&self, size: usize) -> PooledBuffer {
        let need = self.need(size);
        if !self.cap().try_charge(need) {
            if !self.cap().fits_ever(need) {
                panic!("{}", self.over_limit(need));
            }
            let mut t = Ticket::new(self.cap(), need);
            std::future::poll_fn(|cx| t.poll(cx)).await;
        }
        // From here the account's charge is released if this future is
        // dropped while the pool's wait is pending.
        let guard = Charged { cap: self.cap(), need };
        let b = self.inner.pool.get_async(size).await;
        std::mem::forget(guard);
        self.adopt(b, need)
    }

    /// Bytes charged to the account now: the capacities of its live buffers.
    pub fn held_bytes(&self) -> usize {
        self.cap().used()
    }

    /// Whether reads are paused (held bytes reached the high watermark and
    /// are not yet back to the low one).
    pub fn is_paused(&self) -> bool {
        self.cap().is_paused()
    }

    /// The hard limit (`usize::MAX` if none).
    pub fn limit(&self) -> usize {
        self.cap().max()
    }

    /// The pool the account draws on.
    pub fn pool(&self) -> &BufferPool {
        &self.inner.pool
    }

    /// [`BufferPool::read`] through the account: `Pending` while paused
    /// (taking no buffer), waiting at the account's limit and the pool's
    /// cap, and the buffer it returns charged to the account.
    pub fn read<'a, R>(&'a self, reader: &'a mut R) -> AccountRead<'a, R>
    where
        R: futures_io::AsyncRead + Unpin + ?Sized,
    {
        AccountRead { acct: self, reader, limit: self.inner.pool.config().read_size() }
    }

    /// [`Account::read`] for tokio readers.
    #[cfg(feature = "tokio")]
    pub fn read_tokio<'a, R>(&'a self, reader: &'a mut R) -> AccountReadTokio<'a, R>
    where
        R: tokio::io::AsyncRead + Unpin + ?Sized,
    {
        AccountReadTokio { acct: self, reader, limit: self.inner.pool.config().read_size() }
    }
}

/// Releases an account charge unless forgotten (the buffer took it over).
struct Charged<'a> {
    cap: &'a Cap,
    need: usize,
}

impl Drop for Charged<'_> {
    fn drop(&mut self) {
        self.cap.release(self.need);
    }
}

impl Lender for Account {
    fn pool(&self) -> &BufferPool {
        &self.inner.pool
    }

    fn try_lend(&self, size: usize) -> Result<PooledBuffer, AllocError> {
        self.try_get(size)
    }

    fn poll_lend(&self, size: usize, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuffer>> {
        if self.cap().is_paused() {
            self.cap().register_notify(cx);
            if self.cap().paused_after_register() {
                return Poll::Pending;
            }
        }
        match self.try_get(size) {
            Ok(b) => Poll::Ready(Ok(b)),
            Err(AllocError::OverBudget { account: true, .. }) => {
                let e = self.over_limit(self.need(size));
                wait_for_budget(&self.inner.pool, self.cap(), e, cx, |_| self.try_get(size))
            }
            Err(e) => wait_for_budget(&self.inner.pool, &self.inner.pool.inner().cap, e, cx, |_| self.try_get(size)),
        }
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("held_bytes", &self.held_bytes())
            .field("limit", &self.limit())
            .field("paused", &self.is_paused())
            .finish_non_exhaustive()
    }
}

/// The future of [`Account::read`]: one read, `Ok(None)` at EOF; holds no
/// buffer while pending, and is cancel-safe, as [`ReadFuture`](crate::ReadFuture).
#[must_use = "futures do nothing unless polled"]
pub struct AccountRead<'a, R: ?Sized> {
    acct: &'a Account,
    reader: &'a mut R,
    limit: usize,
}

impl<R: futures_io::AsyncRead + Unpin + ?Sized> Future for AccountRead<'_, R> {
    type Output = io::Result<Option<PooledBuffer>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_once(this.acct, this.limit, cx, &mut FuturesIo(&mut *this.reader))
    }
}

/// The future of [`Account::read_tokio`] (see [`AccountRead`]).
#[cfg(feature = "tokio")]
#[must_use = "futures do nothing unless polled"]
pub struct AccountReadTokio<'a, R: ?Sized> {
    acct: &'a Account,
    reader: &'a mut R,
    limit: usize,
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin + ?Sized> Future for AccountReadTokio<'_, R> {
    type Output = io::Result<Option<PooledBuffer>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_once(this.acct, this.limit, cx, &mut crate::io::flavor::Tokio(&mut *this.reader))
    }
}
