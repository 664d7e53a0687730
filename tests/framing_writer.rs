//! `FrameWriter`: frames and lines encoded into pooled buffers, large
//! payloads queued by reference, vectored writes of up to `IOV_MAX` slices,
//! what the readers read back, and writers that misbehave.

use bufpool::framing::IOV_MAX;
use bufpool::BufferPool;
use bytes::Bytes;
use proptest::prelude::*;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Records every vectored write: the slices' addresses and lengths; accepts
/// at most `limit` bytes a call, and answers `Pending` every other call when
/// `pend` is set (waking at once).
#[derive(Default)]
struct Recorder {
    out: Vec<u8>,
    calls: Vec<Vec<(usize, usize)>>,
    limit: Option<usize>,
    pend: bool,
    pended: bool,
    fail: Option<io::ErrorKind>,
    claim_extra: usize,
}

impl futures_io::AsyncWrite for Recorder {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(kind) = self.fail.take() {
            return Poll::Ready(Err(io::Error::new(kind, "injected")));
        }
        if self.pend && !self.pended {
            self.pended = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pended = false;
        self.calls.push(bufs.iter().map(|b| (b.as_ptr() as usize, b.len())).collect());
        let mut left = self.limit.unwrap_or(usize::MAX);
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(left);
            self.out.extend_from_slice(&b[..k]);
            n += k;
            left -= k;
            if left == 0 {
                break;
            }
        }
        Poll::Ready(Ok(n + self.claim_extra))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn read_back(pool: &BufferPool, wire: &[u8]) -> Vec<Vec<u8>> {
    block_on(async {
        let mut r = pool.length_delimited(wire).max_len(usize::MAX);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().await.unwrap() {
            out.push(f.to_vec());
        }
        out
    })
}

#[test]
fn many_small_frames_go_out_in_one_write() {
    let pool = BufferPool::new();
    let mut w = pool.frame_writer(Recorder::default());
    for i in 0..100u8 {
        w.feed(Bytes::from(vec![i; 10])).unwrap();
    }
    assert!(w.get_ref().calls.is_empty(), "feed writes nothing");
    block_on(w.flush()).unwrap();
    assert_eq!(w.get_ref().calls.len(), 1);
    let frames = read_back(&pool, &w.get_ref().out);
    assert_eq!(frames.len(), 100);
    assert!(frames.iter().enumerate().all(|(i, f)| f == &vec![i as u8; 10]));
    assert_eq!(pool.stats().outstanding_buffers, 0, "written buffers went home");
}

#[test]
fn large_payloads_are_written_from_the_callers_bytes() {
    let pool = BufferPool::new();
    let big = Bytes::from(vec![7u8; 100_000]);
    let mut w = pool.frame_writer(Recorder::default());
    w.feed(Bytes::from_static(b"small")).unwrap();
    w.feed(big.clone()).unwrap();
    w.feed(Bytes::from_static(b"after")).unwrap();
    block_on(w.flush()).unwrap();
    let calls = &w.get_ref().calls;
    assert_eq!(calls.len(), 1, "one vectored write");
    assert!(calls[0].contains(&(big.as_ptr() as usize, big.len())), "the payload itself, not a copy: {:?}", calls[0]);
    assert_eq!(read_back(&pool, &w.get_ref().out), [&b"small"[..], &big[..], b"after"]);
    // With splicing off, it is copied into pooled buffers instead.
    let mut w = pool.frame_writer(Recorder::default()).splice_from(usize::MAX);
    w.feed(big.clone()).unwrap();
    block_on(w.flush()).unwrap();
    assert!(w.get_ref().calls.iter().flatten().all(|&(p, _)| p != big.as_ptr() as usize));
    assert_eq!(read_back(&pool, &w.get_ref().out), [&big[..]]);
}

#[test]
fn a_vectored_write_takes_at_most_iov_max_slices() {
    let pool = BufferPool::new();
    let payload = Bytes::from(vec![1u8; 4096]);
    let mut w = pool.frame_writer(Recorder::default());
    for _ in 0..1500 {
        w.feed(payload.clone()).unwrap();
    }
    assert_eq!(pool.stats().outstanding_buffers, 1, "the 1500 headers share one gathering buffer");
    block_on(w.flush()).unwrap();
    assert_eq!(pool.stats().outstanding_buffers, 0);
    let calls = &w.get_ref().calls;
    assert!(calls.iter().all(|c| c.len() <= IOV_MAX));
    assert_eq!(calls[0].len(), IOV_MAX, "a full first write");
    assert_eq!(calls.len(), 3, "3000 slices: 1024 + 1024 + 952");
    assert_eq!(read_back(&pool, &w.get_ref().out).len(), 1500);
}

#[test]
fn short_and_pending_writes_lose_nothing() {
    let pool = BufferPool::builder().read_size(64).build().unwrap();
    let items: Vec<Bytes> = (0..50).map(|i| Bytes::from(vec![i as u8; (i * 37) % 300])).collect();
    for limit in [1, 3, 64, 1000] {
        let mut w =
            pool.frame_writer(Recorder { limit: Some(limit), pend: true, ..Default::default() }).splice_from(100);
        for it in &items {
            w.feed(it.clone()).unwrap();
        }
        block_on(w.flush()).unwrap();
        let got = read_back(&pool, &w.get_ref().out);
        assert_eq!(got, items.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), "limit {limit}");
        assert_eq!(w.queued(), 0);
    }
}

#[test]
fn lines_and_their_spliced_payloads() {
    let pool = BufferPool::new();
    let long = Bytes::from(vec![b'x'; 5000]);
    let mut w = pool.line_writer(Recorder::default());
    w.feed(Bytes::from_static(b"GET a")).unwrap();
    w.feed(long.clone()).unwrap();
    w.feed(Bytes::new()).unwrap();
    block_on(w.flush()).unwrap();
    let out = &w.get_ref().out;
    let want = [&b"GET a\n"[..], &long, b"\n\n"].concat();
    assert_eq!(out, &want);
}

#[test]
fn writer_errors() {
    let pool = BufferPool::new();
    // An error keeps what is queued; the retry writes it.
    let mut w = pool.frame_writer(Recorder { fail: Some(io::ErrorKind::ConnectionReset), ..Default::default() });
    w.feed(Bytes::from_static(b"kept")).unwrap();
    assert_eq!(block_on(w.flush()).unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(w.queued(), 8);
    block_on(w.flush()).unwrap();
    assert_eq!(read_back(&pool, &w.get_ref().out), [b"kept"]);
    // A writer that accepts nothing, and one that claims too much.
    let mut w = pool.frame_writer(Recorder { limit: Some(0), ..Default::default() });
    assert_eq!(block_on(w.send(Bytes::from_static(b"x"))).unwrap_err().kind(), io::ErrorKind::WriteZero);
    let mut w = pool.frame_writer(Recorder { claim_extra: 3, ..Default::default() });
    assert_eq!(block_on(w.send(Bytes::from_static(b"x"))).unwrap_err().kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn tokio_twins_over_a_duplex_pipe() {
    use futures::StreamExt;
    let pool = BufferPool::new();
    let (a, b) = tokio::io::duplex(1 << 12);
    let items: Vec<Bytes> = (0..200).map(|i| Bytes::from(vec![i as u8; i * 50])).collect();
    let to_send = items.clone();
    let p = pool.clone();
    let writer = tokio::spawn(async move {
        let mut w = p.frame_writer_tokio(a);
        for chunk in to_send.chunks(7) {
            for it in chunk {
                w.feed(it.clone()).unwrap();
            }
            w.flush().await.unwrap();
        }
    });
    let got: Vec<Bytes> = pool.length_delimited_tokio(b).max_len(1 << 20).map(|f| f.unwrap()).collect().await;
    writer.await.unwrap();
    assert_eq!(got, items);
    let (a, b) = tokio::io::duplex(64);
    let mut w = pool.line_writer_tokio(a);
    w.send(Bytes::from_static(b"hello")).await.unwrap();
    drop(w);
    let lines: Vec<_> = pool.lines_tokio(b).map(|l| l.unwrap()).collect().await;
    assert_eq!(lines, ["hello"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_frames_round_trip(
        items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..40),
        splice in 0usize..400,
        limit in 1usize..500,
    ) {
        let pool = BufferPool::builder().read_size(128).build().unwrap();
        let mut w = pool.frame_writer(Recorder { limit: Some(limit), ..Default::default() }).splice_from(splice);
        for it in &items {
            w.feed(Bytes::from(it.clone())).unwrap();
        }
        block_on(w.flush()).unwrap();
        prop_assert_eq!(read_back(&pool, &w.get_ref().out), items);
    }
}

#[test]
fn a_feed_the_pool_refuses_queues_nothing_and_a_retry_frames_exactly() {
    // A cap with room for one 4 KiB gathering buffer besides the one held.
    let pool = BufferPool::builder()
        .max_outstanding_bytes(2 * 4096)
        .min_buffer_size(4096)
        .read_size(4096)
        .tls_cache_bytes(0)
        .build()
        .unwrap();
    let held = pool.get(4096);
    let mut w = pool.frame_writer(Vec::new()).splice_from(usize::MAX);
    // Header + 6,000 bytes copied: two gathering buffers, and the cap has one.
    let payload = Bytes::from(vec![7u8; 6000]);
    let e = w.feed(payload.clone()).unwrap_err();
    assert!(e.to_string().contains("max_outstanding_bytes"), "{e}");
    assert_eq!(w.queued(), 0, "a refused feed left a header or part of a payload queued");
    assert_eq!(pool.charged_bytes(), 4096, "the refused feed kept a buffer");
    drop(held);
    w.feed(payload.clone()).unwrap();
    futures::executor::block_on(w.flush()).unwrap();
    let out = w.get_ref();
    assert_eq!(out.len(), 4 + 6000);
    assert_eq!(&out[..4], &6000u32.to_be_bytes());
    assert!(out[4..] == payload[..]);
}
