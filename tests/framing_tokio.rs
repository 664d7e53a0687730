//! The framing readers on tokio readers without `compat`, and as `Stream`s
//! on both reader families.

use bufpool::BufferPool;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
    (c.unwrap(), s.unwrap().0)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

#[tokio::test]
async fn lines_over_a_tcp_stream_as_a_stream() {
    let pool = BufferPool::builder().read_size(64).build().unwrap();
    let (mut c, s) = tcp_pair().await;
    let writer = tokio::spawn(async move {
        for i in 0..500 {
            c.write_all(format!("line {i}\r\n").as_bytes()).await.unwrap();
        }
        c.write_all(b"last").await.unwrap();
    });
    let lines: Vec<_> = pool.lines_tokio(s).map(|l| l.unwrap()).collect().await;
    writer.await.unwrap();
    assert_eq!(lines.len(), 501);
    for (i, l) in lines[..500].iter().enumerate() {
        assert_eq!(l, format!("line {i}").as_bytes());
    }
    assert_eq!(lines[500], "last");
    drop(lines);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[tokio::test]
async fn frames_over_a_duplex_pipe_hold_no_buffer_while_idle() {
    let pool = BufferPool::new();
    let (mut a, b) = tokio::io::duplex(1 << 16);
    let mut frames = pool.length_delimited_tokio(b).max_len(1 << 20);
    a.write_all(&frame(b"one")).await.unwrap();
    assert_eq!(frames.next().await.unwrap().unwrap(), "one");
    // Nothing buffered and nothing arriving: the pending poll holds nothing.
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(frames.poll_next_unpin(&mut cx).is_pending());
    assert_eq!(pool.stats().outstanding_buffers, 0);
    let big = vec![9u8; 200_000];
    let w = tokio::spawn(async move {
        a.write_all(&frame(&big)).await.unwrap();
        a.write_all(&frame(b"")).await.unwrap();
    });
    assert_eq!(frames.next().await.unwrap().unwrap().len(), 200_000);
    assert_eq!(frames.next().await.unwrap().unwrap(), "");
    w.await.unwrap();
    assert!(frames.next().await.is_none());
}

#[test]
fn stream_combinators_on_futures_io_readers() {
    let pool = BufferPool::new();
    futures::executor::block_on(async {
        let lines = pool.lines(&b"a\nbb\nccc\n"[..]);
        let lens: Vec<usize> = lines.map(|l| l.unwrap().len()).collect().await;
        assert_eq!(lens, [1, 2, 3]);
        let input = [frame(b"x"), frame(b"yz")].concat();
        let total = pool.length_delimited(&input[..]).fold(0, |n, f| async move { n + f.unwrap().len() }).await;
        assert_eq!(total, 3);
        // An error is an item; the stream goes on after it.
        let items: Vec<_> = pool.lines(&b"toolong\nok\n"[..]).max_len(3).collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap_err().kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(items[1].as_ref().unwrap(), "ok");
    });
}

#[test]
fn the_same_type_serves_both_families() {
    // One `LineReader` type; the family is a type parameter.
    fn is_stream<S: futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin>(_: &S) {}
    let pool = BufferPool::new();
    let (_a, b) = tokio::io::duplex(8);
    let t: bufpool::framing::LineReader<tokio::io::DuplexStream, bufpool::framing::Tokio> = pool.lines_tokio(b);
    let f: bufpool::framing::LineReader<&[u8]> = pool.lines(&b""[..]);
    is_stream(&t);
    is_stream(&f);
    is_stream(&pool.length_delimited(&b""[..]));
}
