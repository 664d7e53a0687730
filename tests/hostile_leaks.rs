//! Every new reader and writer, dropped at the worst moment (mid-line,
//! mid-frame, with a future cancelled after `Pending`, with frames queued and
//! unsent, with slices and copies still held past the pool), gives every
//! byte back: proven with a counting global allocator. `mem::forget` of a
//! future (which only borrows its reader) leaks nothing either.
//!
//! The allocator counts the whole process, so this file holds exactly one
//! `#[test]` and the scenarios run one after another inside it.

use bufpool::BufferPool;
use futures::StreamExt;
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Poll};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::SeqCst);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_add(new as isize - l.size() as isize, Ordering::SeqCst);
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// Hands out `data` in pieces of `step`, then `Pending` forever (a
/// connection that went quiet mid-frame), scribbling over the slice each
/// time it pends.
struct Stall {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl Stall {
    fn new(data: &[u8], step: usize) -> Self {
        Stall { data: data.to_vec(), at: 0, step }
    }
    fn next(&mut self, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.at == self.data.len() {
            buf.fill(0xEE);
            return Poll::Pending;
        }
        let n = self.step.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Poll::Ready(Ok(n))
    }
}

impl futures_io::AsyncRead for Stall {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.get_mut().next(buf)
    }
}

impl tokio::io::AsyncRead for Stall {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self.get_mut().next(buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// A writer that takes `step` bytes once, then pends forever.
struct Stuck {
    took: bool,
    step: usize,
}

impl futures_io::AsyncWrite for Stuck {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.took {
            return Poll::Pending;
        }
        this.took = true;
        Poll::Ready(Ok(this.step.min(buf.len())))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Polls `f` until it pends (or is done), then drops (or forgets) it.
fn poll_once_then<F: Future>(f: F, forget: bool) -> Option<F::Output> {
    let mut f = Box::pin(f);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let out = match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    };
    if forget {
        // The future lives in the heap box, which `forget` leaks: forget
        // the future's contents in place instead, then free the box.
        // SAFETY: the pinned future is never used again, and never dropped:
        // ManuallyDrop keeps the drop from running while Box frees memory.
        let raw = Box::into_raw(unsafe { Pin::into_inner_unchecked(f) });
        // SAFETY: `raw` came from Box::into_raw; ManuallyDrop<F> has F's layout.
        drop(unsafe { Box::from_raw(raw as *mut std::mem::ManuallyDrop<F>) });
    }
    out
}

fn frame(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
}

fn scenarios(zero: bool, forget: bool) {
    let pool = BufferPool::builder()
        .read_size(64)
        .min_buffer_size(16)
        .zeroing(if zero { bufpool::Zeroing::OnReturn } else { bufpool::Zeroing::Never })
        .build()
        .unwrap();
    let mut kept: Vec<bytes::Bytes> = Vec::new();

    // BufReader with bytes buffered, and a read_line cancelled mid-line.
    {
        let mut r = bufpool::BufReader::with_read_size(&pool, 64, Stall::new(b"GET / HTTP/1.1\r\nHost: x", 7));
        let mut s = String::new();
        // (futures' `ReadLine` moves the string's bytes into itself, so
        // forgetting it would leak them: only dropped here.)
        let _ = poll_once_then(futures::io::AsyncBufReadExt::read_line(&mut r, &mut s), false);
        let _ = poll_once_then(futures::io::AsyncBufReadExt::read_line(&mut r, &mut s), false);
        let mut t = bufpool::BufReader::with_read_size(&pool, 64, Stall::new(b"abc", 2));
        let mut u = Vec::new();
        let _ = poll_once_then(tokio::io::AsyncBufReadExt::read_until(&mut t, b'\n', &mut u), forget);
    }

    // Lines: a line kept as a slice and as a copy, one cut off mid-line.
    {
        let mut l = pool.lines(Stall::new(b"a-rather-long-line-sliced-out\nshort\nunfinished", 5)).copy_below(8);
        futures::executor::block_on(async {
            kept.push(l.next().await.unwrap().unwrap());
            kept.push(l.next().await.unwrap().unwrap());
        });
        let _ = poll_once_then(l.next_line(), forget);
        let mut t = pool.lines_tokio(Stall::new(b"x\ny", 1));
        let _ = poll_once_then(t.next_line(), forget);
        let _ = poll_once_then(t.next_line(), forget);
    }

    // Frames: one kept, one cut off mid-payload, one over max_len.
    {
        let wire = [frame(&[7; 100]), frame(b"hi"), frame(&[1; 300]), frame(&[2; 50])].concat();
        let mut f = pool.length_delimited(Stall::new(&wire[..wire.len() - 20], 9)).max_len(200).copy_below(0);
        futures::executor::block_on(async {
            kept.push(f.next().await.unwrap().unwrap());
            kept.push(f.next().await.unwrap().unwrap());
            assert!(f.next().await.unwrap().is_err()); // over max_len
        });
        let _ = poll_once_then(f.next_frame(), forget);
        let mut t = pool.length_delimited_tokio(Stall::new(&frame(b"partial")[..6], 3));
        let _ = poll_once_then(t.next_frame(), forget);
    }

    // framed_read with a partial frame in its BytesMut.
    {
        let wire = [frame(b"one"), frame(b"two")[..5].to_vec()].concat();
        let mut f = pool.framed_read(Stall::new(&wire, 4), tokio_util::codec::LengthDelimitedCodec::new());
        let _ = poll_once_then(f.next(), forget);
        let _ = poll_once_then(f.next(), forget);
    }

    // A frame writer with frames queued (pooled headers and a spliced
    // payload) and a flush cancelled after a short write.
    {
        let mut w = pool.frame_writer(Stuck { took: false, step: 3 });
        w.feed(bytes::Bytes::from_static(b"small")).unwrap();
        w.feed(bytes::Bytes::from(vec![5u8; 10_000])).unwrap();
        w.feed(bytes::Bytes::from_static(b"tail")).unwrap();
        let _ = poll_once_then(w.flush(), forget);
        let _ = poll_once_then(w.flush(), forget);
    }

    drop(pool);
    // Slices outlive their pool: their buffers go when they do.
    assert!(kept.iter().any(|b| b.len() == 100));
    drop(kept);
}

#[test]
fn readers_and_writers_dropped_anywhere_leave_nothing() {
    // Thread-local bookkeeping and the executor's first-use allocations.
    scenarios(false, false);
    scenarios(true, true);
    let base = live();
    for round in 0..3 {
        for (zero, forget) in [(false, false), (true, false), (false, true), (true, true)] {
            scenarios(zero, forget);
            let now = live();
            assert_eq!(now, base, "round {round}, zeroing {zero}, forget {forget}: {} bytes left", now - base);
        }
    }
}
