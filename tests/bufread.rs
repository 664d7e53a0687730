//! `bufpool::BufReader`: the usual `AsyncBufRead` extension traits of both
//! families and tokio-util's adapters work on it, and it holds no buffer
//! while drained or waiting.

mod framing_util;

use bufpool::{BufReader, BufferPool};
use framing_util::{block_on, Chunked};
use proptest::prelude::*;
use std::task::{Context, Poll};

fn small_pool(read_size: usize) -> BufferPool {
    framing_util::pool_with_read_size(read_size)
}

#[test]
fn futures_read_line_read_until_and_lines() {
    use futures::io::{AsyncBufReadExt, AsyncReadExt};
    let pool = small_pool(7);
    let input = b"first line\r\nsecond\n\nthird without newline".to_vec();
    block_on(async {
        let mut r = BufReader::new(&pool, Chunked::new(input.clone(), &[3, 5, 11]));
        let mut s = String::new();
        r.read_line(&mut s).await.unwrap();
        assert_eq!(s, "first line\r\n");
        let mut v = Vec::new();
        r.read_until(b'\n', &mut v).await.unwrap();
        assert_eq!(v, b"second\n");
        let rest: Vec<String> = futures::TryStreamExt::try_collect(r.lines()).await.unwrap();
        assert_eq!(rest, ["", "third without newline"]);
        let mut r = BufReader::new(&pool, Chunked::new(input.clone(), &[2]));
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, input);
    });
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn no_buffer_while_drained_or_pending() {
    use futures::io::AsyncBufRead;
    let pool = small_pool(64);
    let mut r = BufReader::new(&pool, Chunked::new(&b"abcdef"[..], &[4]).pending());
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut pin = std::pin::Pin::new(&mut r);
    assert!(pin.as_mut().poll_fill_buf(&mut cx).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 0, "a pending fill holds nothing");
    let Poll::Ready(Ok(got)) = pin.as_mut().poll_fill_buf(&mut cx) else { panic!("data") };
    assert_eq!(got, b"abcd");
    assert_eq!(pool.stats().outstanding_buffers, 1);
    pin.as_mut().consume(3);
    assert_eq!(pin.buffer(), b"d");
    assert_eq!(pool.stats().outstanding_buffers, 1);
    pin.as_mut().consume(1);
    assert_eq!(pool.stats().outstanding_buffers, 0, "drained: the buffer went home at once");
    assert!(pin.as_mut().poll_fill_buf(&mut cx).is_pending());
    let Poll::Ready(Ok(got)) = pin.as_mut().poll_fill_buf(&mut cx) else { panic!("data") };
    assert_eq!(got, b"ef");
    pin.as_mut().consume(100); // more than buffered: clamped
    let Poll::Ready(Ok(got)) = pin.as_mut().poll_fill_buf(&mut cx) else { panic!("eof") };
    assert!(got.is_empty());
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn a_large_read_with_nothing_buffered_goes_straight_to_the_reader() {
    use futures::io::AsyncReadExt;
    let pool = small_pool(16);
    block_on(async {
        let mut r = BufReader::new(&pool, Chunked::new(vec![5u8; 100], &[]));
        let mut big = [0u8; 64];
        assert_eq!(r.read(&mut big).await.unwrap(), 64);
        assert_eq!(pool.stats().gets, 0, "no pooled buffer for a read that fills the caller's slice");
        let mut small = [0u8; 4];
        assert_eq!(r.read(&mut small).await.unwrap(), 4);
        assert_eq!(r.buffer().len(), 12, "a small read goes through the buffer");
    });
}

#[tokio::test]
async fn tokio_read_line_lines_and_framed_read() {
    use futures::StreamExt;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let pool = BufferPool::builder().read_size(32).build().unwrap();
    let (mut a, b) = tokio::io::duplex(256);
    let w = tokio::spawn(async move {
        for i in 0..200 {
            a.write_all(format!("line number {i}\n").as_bytes()).await.unwrap();
        }
    });
    let mut r = BufReader::new(&pool, b);
    let mut s = String::new();
    r.read_line(&mut s).await.unwrap();
    assert_eq!(s, "line number 0\n");
    let mut lines = r.lines();
    for i in 1..100 {
        assert_eq!(lines.next_line().await.unwrap().unwrap(), format!("line number {i}"));
    }
    let r = lines.into_inner();
    let mut framed = tokio_util::codec::FramedRead::new(r, tokio_util::codec::LinesCodec::new());
    for i in 100..200 {
        assert_eq!(framed.next().await.unwrap().unwrap(), format!("line number {i}"));
    }
    w.await.unwrap();
    assert!(framed.next().await.is_none());
    drop(framed);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[tokio::test]
async fn tokio_util_reader_stream_and_stream_reader() {
    use futures::StreamExt;
    use tokio::io::AsyncBufReadExt;
    let pool = BufferPool::builder().read_size(10).build().unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    // ReaderStream over a BufReader: the bytes come through unchanged.
    let r = BufReader::new(&pool, std::io::Cursor::new(data.clone()));
    let chunks: Vec<bytes::Bytes> = tokio_util::io::ReaderStream::new(r).map(|c| c.unwrap()).collect().await;
    assert_eq!(chunks.concat(), data);
    // StreamReader over the crate's frame stream, read as lines.
    let frames = [&[0, 0, 0, 4][..], b"ab\nc", &[0, 0, 0, 3], b"d\ne"].concat();
    let sr = tokio_util::io::StreamReader::new(pool.length_delimited_tokio(std::io::Cursor::new(frames)));
    let mut lines = sr.lines();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "ab");
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "cd");
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "e");
    assert_eq!(lines.next_line().await.unwrap(), None);
}

#[test]
fn many_idle_readers_hold_no_buffers() {
    use tokio::io::AsyncBufRead;
    let pool = BufferPool::new();
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut keep = Vec::new();
    let mut readers: Vec<_> = (0..1000)
        .map(|_| {
            let (a, b) = tokio::io::duplex(64);
            keep.push(a);
            BufReader::new(&pool, b)
        })
        .collect();
    for r in &mut readers {
        assert!(std::pin::Pin::new(r).poll_fill_buf(&mut cx).is_pending());
    }
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn read_until_matches_std(
        input in prop::collection::vec(prop_oneof![4 => Just(b'a'), 1 => Just(b'\n')], 0..300),
        sizes in prop::collection::vec(1usize..40, 1..6),
        read_size in 1usize..48,
    ) {
        use futures::io::AsyncBufReadExt;
        use std::io::BufRead;
        let pool = small_pool(read_size);
        let ours = block_on(async {
            let mut r = BufReader::new(&pool, Chunked::new(input.clone(), &sizes).pending());
            let mut out = Vec::new();
            loop {
                let mut v = Vec::new();
                if r.read_until(b'\n', &mut v).await.unwrap() == 0 {
                    return out;
                }
                out.push(v);
            }
        });
        let mut std_r = std::io::BufReader::new(&input[..]);
        let mut want = Vec::new();
        loop {
            let mut v = Vec::new();
            if std_r.read_until(b'\n', &mut v).unwrap() == 0 {
                break;
            }
            want.push(v);
        }
        prop_assert_eq!(ours, want);
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }
}
