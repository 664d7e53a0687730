//! `pool.framed_read(reader, decoder)`: tokio-util decoders over pooled read
//! buffers behave as under `FramedRead`, and hold no memory between frames.

mod framing_util;

use bufpool::BufferPool;
use framing_util::{block_on, Chunked, Script};
use futures::StreamExt;
use proptest::prelude::*;
use std::task::Context;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec, LinesCodec};
use tokio_util::compat::FuturesAsyncReadCompatExt;

type Item = Result<Vec<u8>, String>;

fn ours<D>(pool: &BufferPool, reader: impl futures_io::AsyncRead + Unpin, decoder: D, calls: usize) -> Vec<Option<Item>>
where
    D: tokio_util::codec::Decoder + Unpin,
    D::Item: AsRef<[u8]>,
    D::Error: From<std::io::Error> + std::fmt::Display,
{
    let mut f = pool.framed_read(reader.compat(), decoder);
    block_on(async { collect(&mut f, calls).await })
}

fn theirs<D>(reader: impl futures_io::AsyncRead + Unpin, decoder: D, calls: usize) -> Vec<Option<Item>>
where
    D: tokio_util::codec::Decoder + Unpin,
    D::Item: AsRef<[u8]>,
    D::Error: From<std::io::Error> + std::fmt::Display,
{
    let mut f = FramedRead::new(reader.compat(), decoder);
    block_on(async { collect(&mut f, calls).await })
}

async fn collect<S, T, E>(s: &mut S, calls: usize) -> Vec<Option<Item>>
where
    S: futures::Stream<Item = Result<T, E>> + Unpin,
    T: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let mut out = Vec::new();
    for _ in 0..calls {
        out.push(s.next().await.map(|r| r.map(|t| t.as_ref().to_vec()).map_err(|e| e.to_string())));
    }
    out
}

#[test]
fn lines_and_frames_match_framed_read_across_pauses() {
    let pool = framing_util::pool_with_read_size(5);
    let script: &[&[u8]] = &[b"1\n22", b"", b"2\n\r", b"", b"", b"x\n"];
    assert_eq!(
        ours(&pool, Script::new(script), LinesCodec::new(), 10),
        theirs(Script::new(script), LinesCodec::new(), 10)
    );
    let frames: &[&[u8]] = &[b"\0\0\0\x02hi\0\0", b"\0\x01z", b"", b"\0\0\0\x03abc", b"\0\0"];
    assert_eq!(
        ours(&pool, Script::new(frames), LengthDelimitedCodec::new(), 8),
        theirs(Script::new(frames), LengthDelimitedCodec::new(), 8)
    );
    // An over-long line: the codec's error, then the stream goes on as FramedRead's does.
    let long: &[&[u8]] = &[b"toolongline\nok\n"];
    assert_eq!(
        ours(&pool, Script::new(long), LinesCodec::new_with_max_length(4), 4),
        theirs(Script::new(long), LinesCodec::new_with_max_length(4), 4)
    );
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn no_memory_between_frames_or_while_waiting() {
    let pool = BufferPool::new();
    let (mut a, b) = tokio::io::duplex(1 << 16);
    let mut f = pool.framed_read(b, LinesCodec::new());
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    assert!(f.poll_next_unpin(&mut cx).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 0);
    assert_eq!(f.read_buffer().capacity(), 0);
    block_on(tokio::io::AsyncWriteExt::write_all(&mut a, b"one\ntw")).unwrap();
    assert_eq!(block_on(f.next()).unwrap().unwrap(), "one");
    assert!(f.poll_next_unpin(&mut cx).is_pending());
    assert_eq!(f.read_buffer().as_ref(), b"tw", "a partial line is kept");
    assert_eq!(pool.stats().outstanding_buffers, 0, "in the decoder's BytesMut, not a pooled buffer");
    block_on(tokio::io::AsyncWriteExt::write_all(&mut a, b"o\n")).unwrap();
    assert_eq!(block_on(f.next()).unwrap().unwrap(), "two");
    assert!(f.poll_next_unpin(&mut cx).is_pending());
    assert_eq!(f.read_buffer().capacity(), 0, "between frames nothing is held");
}

#[test]
fn a_lying_reader_is_an_error_not_a_panic() {
    struct TokioLiar;
    impl tokio::io::AsyncRead for TokioLiar {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let own: &'static mut [u8] = Box::leak(vec![b'z'; buf.capacity() + 8].into_boxed_slice());
            let n = own.len();
            *buf = tokio::io::ReadBuf::new(own);
            buf.set_filled(n);
            std::task::Poll::Ready(Ok(()))
        }
    }
    let pool = BufferPool::new();
    let mut f = pool.framed_read(TokioLiar, LinesCodec::new());
    let err = block_on(f.next()).unwrap().unwrap_err();
    assert!(err.to_string().contains("replaced the ReadBuf"), "{err}");
    assert!(block_on(f.next()).is_none(), "an error ends the stream, as in FramedRead");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_lines_match_framed_read(
        input in prop::collection::vec(prop_oneof![4 => Just(b'a'), 1 => Just(b'\r'), 2 => Just(b'\n')], 0..300),
        sizes in prop::collection::vec(1usize..40, 1..6),
        read_size in 1usize..48,
    ) {
        let pool = framing_util::pool_with_read_size(read_size);
        let n = input.len() + 3;
        let got = ours(&pool, Chunked::new(input.clone(), &sizes).pending(), LinesCodec::new(), n);
        prop_assert_eq!(got, theirs(Chunked::new(input, &sizes), LinesCodec::new(), n));
    }
}
