//! The async read layer on futures-io readers: zero idle memory, zero copies,
//! right-sizing, bad input, cancellation, future sizes.

use bufpool::BufferPool;
use futures::executor::block_on;
use futures::io::{AsyncRead, AsyncWrite};
use futures::task::noop_waker;
use futures::FutureExt;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// An in-memory pipe whose reader is `Pending` until data is pushed.
#[derive(Default)]
struct PipeState {
    data: VecDeque<u8>,
    closed: bool,
    waker: Option<Waker>,
}

#[derive(Clone, Default)]
struct Pipe(Arc<Mutex<PipeState>>);

impl Pipe {
    fn push(&self, bytes: &[u8]) {
        let mut s = self.0.lock().unwrap();
        s.data.extend(bytes);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
    fn close(&self) {
        let mut s = self.0.lock().unwrap();
        s.closed = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl AsyncRead for Pipe {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut s = self.0.lock().unwrap();
        if s.data.is_empty() {
            if s.closed {
                return Poll::Ready(Ok(0));
            }
            s.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(s.data.len());
        for (d, b) in buf[..n].iter_mut().zip(s.data.drain(..n)) {
            *d = b;
        }
        Poll::Ready(Ok(n))
    }
}

fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = noop_waker();
    f.poll_unpin(&mut Context::from_waker(&waker))
}

fn pool() -> BufferPool {
    BufferPool::builder().build().unwrap()
}

#[test]
fn read_returns_data_then_none_at_eof() {
    let pool = pool();
    let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    let mut r = &data[..];
    let mut got = Vec::new();
    while let Some(b) = block_on(pool.read(&mut r)).unwrap() {
        assert!(b.len() <= bufpool::DEFAULT_READ_SIZE);
        got.extend_from_slice(&b);
    }
    assert_eq!(got, data);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn read_size_from_builder_is_used() {
    let pool = BufferPool::builder().read_size(100).build().unwrap();
    assert_eq!(pool.config().read_size(), 100);
    let mut r = &[1u8; 1000][..];
    assert_eq!(block_on(pool.read(&mut r)).unwrap().unwrap().len(), 100);
}

#[test]
fn read_up_to_respects_the_limit() {
    let pool = pool();
    let mut r = &[9u8; 10_000][..];
    let b = block_on(pool.read_up_to(&mut r, 3000)).unwrap().unwrap();
    assert_eq!(&b[..], &[9u8; 3000][..]);
    let b = block_on(pool.read_up_to(&mut r, 100_000)).unwrap().unwrap();
    assert_eq!(b.len(), 7000);
    assert!(block_on(pool.read_up_to(&mut r, 10)).unwrap().is_none());
}

#[test]
fn bytes_land_in_the_returned_buffer() {
    // Zero copies: the buffer handed to the reader is the one returned.
    struct Spy(Arc<Mutex<usize>>);
    impl AsyncRead for Spy {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            *self.0.lock().unwrap() = buf.as_ptr() as usize;
            buf.fill(5);
            Poll::Ready(Ok(buf.len()))
        }
    }
    let pool = pool();
    let seen = Arc::new(Mutex::new(0));
    let mut r = Spy(seen.clone());
    let b = block_on(pool.read(&mut r)).unwrap().unwrap();
    assert_eq!(b.as_ptr() as usize, *seen.lock().unwrap());
    let b2 = block_on(pool.read_exact(&mut r, 50_000)).unwrap();
    assert_eq!(b2.as_ptr() as usize, *seen.lock().unwrap());
    assert_eq!(pool.stats().right_sized, 0);
    drop((b, b2));
}

#[test]
fn right_sizing_moves_small_results_and_is_counted() {
    let pool = pool();
    let mut r = &[1u8; 100][..];
    let b = block_on(pool.read(&mut r)).unwrap().unwrap();
    assert_eq!(b.len(), 100);
    assert_eq!(b.capacity(), pool.config().min_buffer_size(), "moved into the smallest class");
    assert_eq!(pool.stats().right_sized, 1);
    // 12 KiB in a 16 KiB buffer: its class is more than half: kept in place.
    let mut r = &[2u8; 12 * 1024][..];
    let b = block_on(pool.read(&mut r)).unwrap().unwrap();
    assert!(b.capacity() >= 16 * 1024);
    assert_eq!(pool.stats().right_sized, 1);
    drop(b);

    let off = BufferPool::builder().right_size(false).build().unwrap();
    let mut r = &[1u8; 100][..];
    let b = block_on(off.read(&mut r)).unwrap().unwrap();
    assert_eq!(&b[..], &[1u8; 100][..]);
    assert!(b.capacity() >= 16 * 1024);
    assert_eq!(off.stats().right_sized, 0);
}

#[test]
fn ten_thousand_pending_reads_hold_no_buffers() {
    const N: usize = 10_000;
    let pool = pool();
    let mut pipes: Vec<Pipe> = (0..N).map(|_| Pipe::default()).collect();
    let writers = pipes.clone();
    let reads = pipes.iter_mut().map(|p| pool.read(p));
    let mut all = futures::future::join_all(reads);
    assert!(poll_once(&mut all).is_pending());
    let s = pool.stats();
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    assert_eq!(s.outstanding_bytes, 0, "{s}");
    assert!(s.gets >= N as u64, "every read was polled with a lent buffer: {s}");
    for (i, w) in writers.iter().enumerate() {
        w.push(format!("message {i}").as_bytes());
    }
    let results = block_on(all);
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(&r.unwrap().unwrap()[..], format!("message {i}").as_bytes());
    }
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn pending_read_exact_and_copy_hold_no_buffers() {
    let pool = pool();
    let (a, b) = (Pipe::default(), Pipe::default());
    let (mut ra, mut rb) = (a.clone(), b.clone());
    let mut exact = pool.read_exact(&mut ra, 10);
    let mut out = Vec::new();
    let mut copy = pool.copy(&mut rb, &mut out);
    assert!(poll_once(&mut exact).is_pending());
    assert!(poll_once(&mut copy).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 0);
    // Once a chunk has been copied and the reader waits again: still none.
    b.push(b"chunk");
    assert!(poll_once(&mut copy).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 0);
    // A partly filled read_exact holds its buffer (the bytes must be kept).
    a.push(b"12345");
    assert!(poll_once(&mut exact).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 1);
    a.push(b"67890");
    let Poll::Ready(got) = poll_once(&mut exact) else { panic!("ready") };
    assert_eq!(&got.unwrap()[..], b"1234567890");
    b.push(b" two");
    b.close();
    let Poll::Ready(n) = poll_once(&mut copy) else { panic!("ready") };
    assert_eq!(n.unwrap(), 9);
    drop(copy);
    assert_eq!(out, b"chunk two");
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn limit_zero_is_invalid_input_not_eof() {
    let pool = pool();
    let mut r = &b"data"[..];
    let e = block_on(pool.read_up_to(&mut r, 0)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = block_on(bufpool::pooled_read(&mut r, 0)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(r, b"data", "the reader was not touched");
    // read_exact(0) is a complete, empty read (as std's read_exact(&mut [])).
    assert!(block_on(pool.read_exact(&mut r, 0)).unwrap().is_empty());
}

#[test]
fn limit_above_max_buffer_size_is_clamped_for_reads_and_refused_for_read_exact() {
    let pool = BufferPool::builder().max_buffer_size(64 * 1024).build().unwrap();
    let data = vec![3u8; 200_000];
    let mut r = &data[..];
    let b = block_on(pool.read_up_to(&mut r, 1 << 30)).unwrap().unwrap();
    assert_eq!(b.len(), 64 * 1024);
    assert!(b.is_pooled());
    let e = block_on(pool.read_exact(&mut r, 64 * 1024 + 1)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(block_on(pool.read_exact(&mut r, 64 * 1024)).unwrap().len(), 64 * 1024);
}

/// Claims to have read more than it was given.
struct Liar;
impl AsyncRead for Liar {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len() + 1))
    }
}

#[test]
fn a_reader_claiming_too_much_gets_invalid_data() {
    let pool = pool();
    let e = block_on(pool.read(&mut Liar)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let e = block_on(pool.read_exact(&mut Liar, 100)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let e = block_on(pool.copy(Liar, futures::io::sink())).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

/// Yields `chunks`, then fails with `err`.
struct Failing {
    chunks: VecDeque<Vec<u8>>,
    err: io::ErrorKind,
}
impl AsyncRead for Failing {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.chunks.pop_front() {
            Some(c) => {
                buf[..c.len()].copy_from_slice(&c);
                Poll::Ready(Ok(c.len()))
            }
            None => Poll::Ready(Err(io::Error::new(self.err, "boom"))),
        }
    }
}

#[test]
fn reader_error_mid_read_exact_is_returned_and_the_buffer_goes_home() {
    let pool = pool();
    let mut r = Failing { chunks: VecDeque::from([b"abc".to_vec()]), err: io::ErrorKind::ConnectionReset };
    let e = block_on(pool.read_exact(&mut r, 100)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(e.to_string(), "boom");
    let s = pool.stats();
    assert_eq!((s.outstanding_buffers, s.gets, s.returns), (0, 1, 1), "{s}");
    let mut r = &b"short"[..];
    let e = block_on(pool.read_exact(&mut r, 6)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn a_reader_using_the_same_pool_inside_poll_read_works() {
    struct Nested {
        pool: BufferPool,
        inner: &'static [u8],
    }
    impl AsyncRead for Nested {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            let this = &mut *self;
            let mut scratch = this.pool.get(4096);
            scratch[0] = 1;
            // A nested read on the same pool (and the global one), same task.
            let got = match this.pool.read(&mut this.inner).poll_unpin(cx) {
                Poll::Ready(r) => r?,
                Poll::Pending => return Poll::Pending,
            };
            let _global = bufpool::pooled_read(&mut &b"x"[..], 10).now_or_never();
            let Some(got) = got else { return Poll::Ready(Ok(0)) };
            buf[..got.len()].copy_from_slice(&got);
            Poll::Ready(Ok(got.len()))
        }
    }
    let pool = pool();
    let mut r = Nested { pool: pool.clone(), inner: b"nested bytes" };
    let b = block_on(pool.read(&mut r)).unwrap().unwrap();
    assert_eq!(&b[..], b"nested bytes");
    let b2 = block_on(bufpool::pooled_read(&mut r, 100)).unwrap();
    assert!(b2.is_none());
    drop(b);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn dropped_read_loses_nothing() {
    let pool = pool();
    let p = Pipe::default();
    let mut r = p.clone();
    let mut f = pool.read(&mut r);
    assert!(poll_once(&mut f).is_pending());
    drop(f);
    p.push(b"after the drop");
    let b = block_on(pool.read(&mut r)).unwrap().unwrap();
    assert_eq!(&b[..], b"after the drop");
}

#[test]
fn dropping_futures_at_any_point_leaks_nothing() {
    let pool = pool();
    // read_exact dropped mid-frame.
    let p = Pipe::default();
    let mut r = p.clone();
    let mut f = pool.read_exact(&mut r, 100);
    p.push(&[1; 40]);
    assert!(poll_once(&mut f).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 1);
    drop(f);
    assert_eq!(pool.stats().outstanding_buffers, 0);
    // copy dropped while the writer is pending (it holds the chunk then).
    struct Stuck;
    impl AsyncWrite for Stuck {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
    let mut c = pool.copy(&b"some data"[..], Stuck);
    assert!(poll_once(&mut c).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 1);
    drop(c);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

/// A writer that records, accepts at most `max` bytes a call, counts flushes,
/// and can fail.
#[derive(Default)]
struct Recorder {
    out: Vec<u8>,
    max: usize,
    flushes: usize,
    fail_after: Option<usize>,
}
impl AsyncWrite for Recorder {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.fail_after.is_some_and(|n| self.out.len() >= n) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "writer gone")));
        }
        let n = buf.len().min(self.max);
        self.out.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flushes += 1;
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn copy_counts_exactly_and_flushes_at_the_end() {
    let pool = pool();
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7) as u8).collect();
    let mut w = Recorder { max: 1000, ..Default::default() };
    let n = block_on(pool.copy(&data[..], &mut w)).unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(w.out, data);
    assert_eq!(w.flushes, 1);
    let n = block_on(bufpool::pooled_copy(&b""[..], &mut w)).unwrap();
    assert_eq!(n, 0);
    assert_eq!(w.flushes, 2);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn copy_returns_reader_and_writer_errors_as_they_are() {
    let pool = pool();
    let r = Failing { chunks: VecDeque::from([vec![1; 10]]), err: io::ErrorKind::TimedOut };
    let mut w = Recorder { max: usize::MAX, ..Default::default() };
    let e = block_on(pool.copy(r, &mut w)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert_eq!(w.out.len(), 10);
    let mut w = Recorder { max: 100, fail_after: Some(500), ..Default::default() };
    let e = block_on(pool.copy(&[0u8; 10_000][..], &mut w)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    let mut w = Recorder { max: 0, ..Default::default() };
    let e = block_on(pool.copy(&[0u8; 10][..], &mut w)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WriteZero);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn futures_are_small_and_send() {
    use std::mem::size_of;
    type R = futures::io::Cursor<Vec<u8>>;
    let slot = size_of::<Option<bufpool::PooledBuffer>>(); // 40 today
                                                           // read: two references and a limit, never a buffer.
    assert_eq!(size_of::<bufpool::ReadFuture<'static, R>>(), 24);
    assert_eq!(size_of::<bufpool::ReadFuture<'static, dyn AsyncRead + Unpin>>(), 32);
    // read_exact: that plus a buffer slot and a fill count (72 today).
    assert!(size_of::<bufpool::ReadExactFuture<'static, R>>() <= 32 + slot, "{}", slot);
    // copy: pool, reader, writer, a buffer slot, position, total, flag (88 today).
    assert!(size_of::<bufpool::CopyFuture<'static, &mut R, &mut Vec<u8>>>() <= 48 + slot);
    fn send<T: Send>(_: &T) {}
    let pool = pool();
    let mut r = R::default();
    let mut w = Vec::new();
    send(&pool.read(&mut r));
    send(&pool.read_exact(&mut r, 1));
    send(&pool.copy(&mut r, &mut w));
}

mod model {
    //! Random chunking and random `Pending`s: read_exact and copy must deliver
    //! exactly the bytes sent, and leave no buffer out.
    use super::*;
    use proptest::prelude::*;

    /// Serves `data` in the given chunk sizes, returning `Pending` (and waking
    /// at once) before a chunk whenever the schedule says so.
    struct Choppy {
        data: Vec<u8>,
        pos: usize,
        chunks: Vec<usize>,
        pendings: Vec<bool>,
        step: usize,
    }
    impl AsyncRead for Choppy {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            let s = &mut *self;
            s.step += 1;
            if s.pendings[s.step % s.pendings.len()] && s.step % 2 == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let want = s.chunks[s.step % s.chunks.len()];
            let n = want.min(buf.len()).min(s.data.len() - s.pos);
            buf[..n].copy_from_slice(&s.data[s.pos..s.pos + n]);
            s.pos += n;
            Poll::Ready(Ok(n))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn read_exact_and_copy_deliver_every_byte(
            len in 0usize..200_000,
            chunks in prop::collection::vec(1usize..40_000, 1..8),
            pendings in prop::collection::vec(any::<bool>(), 1..8),
            frame in 1usize..70_000,
        ) {
            let pool = BufferPool::new();
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mk = || Choppy { data: data.clone(), pos: 0, chunks: chunks.clone(), pendings: pendings.clone(), step: 0 };
            let mut out = Vec::new();
            let n = block_on(pool.copy(mk(), &mut out)).unwrap();
            prop_assert_eq!(n as usize, len);
            prop_assert!(out == data);
            let mut r = mk();
            let mut got = Vec::new();
            loop {
                match block_on(pool.read_exact(&mut r, frame)) {
                    Ok(b) => got.extend_from_slice(&b),
                    Err(e) => {
                        prop_assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                        break;
                    }
                }
            }
            prop_assert_eq!(got.len(), len / frame * frame);
            prop_assert!(got[..] == data[..got.len()]);
            prop_assert_eq!(pool.stats().outstanding_buffers, 0);
        }
    }
}

#[test]
fn a_limit_below_min_buffer_size_reads_into_a_pooled_buffer() {
    let pool = pool();
    let mut r = &[4u8; 1000][..];
    let b = block_on(pool.read_up_to(&mut r, 10)).unwrap().unwrap();
    assert_eq!(&b[..], &[4u8; 10][..]);
    assert!(b.is_pooled());
    assert_eq!(b.capacity(), pool.config().min_buffer_size());
    assert_eq!(pool.stats().unpooled, 0);
}
