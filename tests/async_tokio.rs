//! The async read layer on tokio types (feature `tokio`): the `*_tokio`
//! methods on real loopback sockets and duplex pipes, and the plain methods
//! through `tokio_util::compat`.

use bufpool::BufferPool;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
    (c.unwrap(), s.unwrap().0)
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 256) as u8).collect()
}

/// Reads everything with `read_tokio` and checks the bytes.
async fn read_all<R: AsyncRead + Unpin>(pool: &BufferPool, r: &mut R) -> Vec<u8> {
    let mut got = Vec::new();
    while let Some(b) = pool.read_tokio(r).await.unwrap() {
        assert!(b.len() <= pool.config().read_size());
        got.extend_from_slice(&b);
    }
    got
}

#[tokio::test]
async fn tcp_read_read_exact_and_copy() {
    let pool = BufferPool::new();
    let data = payload(1 << 20);
    let (mut c, mut s) = tcp_pair().await;
    let d = data.clone();
    let w = tokio::spawn(async move {
        c.write_all(&(d.len() as u32).to_be_bytes()).await.unwrap();
        c.write_all(&d).await.unwrap();
        c
    });
    let header = pool.read_exact_tokio(&mut s, 4).await.unwrap();
    let len = u32::from_be_bytes(header[..].try_into().unwrap()) as usize;
    let body = pool.read_exact_tokio(&mut s, len).await.unwrap();
    assert_eq!(&body[..], &data[..]);
    drop((header, body));
    drop(w.await.unwrap());
    assert!(pool.read_tokio(&mut s).await.unwrap().is_none());

    // copy_tokio: TCP -> Vec.
    let (mut c, mut s) = tcp_pair().await;
    let d = data.clone();
    tokio::spawn(async move { c.write_all(&d).await.unwrap() });
    let mut out = Vec::new();
    assert_eq!(pool.copy_tokio(&mut s, &mut out).await.unwrap(), data.len() as u64);
    assert_eq!(out, data);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[tokio::test]
async fn unix_stream_read() {
    let pool = BufferPool::new();
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let data = payload(300_000);
    let d = data.clone();
    tokio::spawn(async move { a.write_all(&d).await.unwrap() });
    assert_eq!(read_all(&pool, &mut b).await, data);
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.write_all(b"0123456789").await.unwrap();
    assert_eq!(&pool.read_up_to_tokio(&mut b, 4).await.unwrap().unwrap()[..], b"0123");
    assert_eq!(&bufpool::pooled_read_tokio(&mut b, 100).await.unwrap().unwrap()[..], b"456789");
}

#[tokio::test]
async fn duplex_copy_both_ways() {
    let pool = BufferPool::new();
    let (mut a, b) = tokio::io::duplex(4096);
    let (mut c, mut d) = tokio::io::duplex(4096);
    let data = payload(500_000);
    let src = data.clone();
    tokio::spawn(async move {
        a.write_all(&src).await.unwrap();
    });
    let copier = tokio::spawn(async move { bufpool::pooled_copy_tokio(b, &mut c).await.unwrap() });
    assert_eq!(read_all(&pool, &mut d).await, data);
    assert_eq!(copier.await.unwrap(), data.len() as u64);
}

#[tokio::test]
async fn tcp_through_compat_with_the_plain_methods() {
    let pool = BufferPool::new();
    let (c, s) = tcp_pair().await;
    let (mut c, mut s) = (c.compat_write(), s.compat());
    let data = payload(200_000);
    let d = data.clone();
    tokio::spawn(async move {
        futures::AsyncWriteExt::write_all(&mut c, &d).await.unwrap();
    });
    let head = pool.read_exact(&mut s, 1000).await.unwrap();
    assert_eq!(&head[..], &data[..1000]);
    let mut out = Vec::new();
    let n = pool.copy(&mut s, &mut out).await.unwrap();
    assert_eq!(n as usize + 1000, data.len());
    assert_eq!(&out[..], &data[1000..]);
    assert!(pool.read(&mut s).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pending_tcp_reads_hold_no_buffers() {
    const N: usize = 500;
    let pool = BufferPool::new();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..N {
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        clients.push(c.unwrap());
        let mut s = s.unwrap().0;
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let b = pool.read_tokio(&mut s).await.unwrap().unwrap();
            assert_eq!(&b[..], format!("hello {i}").as_bytes());
        }));
    }
    // Every task has polled its read (and lent and returned a buffer) once.
    // A worker may be inside a poll right now, briefly holding its loan, so
    // wait (bounded) for quiet: only a buffer held across `Pending` fails this.
    let mut s = pool.stats();
    for _ in 0..2000 {
        if s.gets >= N as u64 && s.outstanding_buffers == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        s = pool.stats();
    }
    assert!(s.gets >= N as u64, "{s}");
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("hello {i}").as_bytes()).await.unwrap();
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[tokio::test]
async fn a_reader_replacing_the_readbuf_gets_invalid_data() {
    struct Swapper;
    impl AsyncRead for Swapper {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let own: &'static mut [u8] = Box::leak(vec![1u8; 8].into_boxed_slice());
            *buf = ReadBuf::new(own);
            buf.advance(8);
            Poll::Ready(Ok(()))
        }
    }
    let pool = BufferPool::new();
    let e = pool.read_tokio(&mut Swapper).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let e = pool.read_exact_tokio(&mut Swapper, 8).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn tokio_futures_are_small_and_send() {
    use std::mem::size_of;
    let slot = size_of::<Option<bufpool::PooledBuffer>>();
    assert_eq!(size_of::<bufpool::TokioReadFuture<'static, TcpStream>>(), 24);
    assert!(size_of::<bufpool::TokioReadExactFuture<'static, TcpStream>>() <= 32 + slot);
    assert!(size_of::<bufpool::TokioCopyFuture<'static, &mut TcpStream, &mut TcpStream>>() <= 48 + slot);
    fn send<T: Send>(_: &T) {}
    let pool = BufferPool::new();
    let (mut a, _b) = tokio::io::duplex(1);
    send(&pool.read_tokio(&mut a));
    send(&pool.read_exact_tokio(&mut a, 1));
    let (mut c, mut d) = tokio::io::duplex(1);
    send(&pool.copy_tokio(&mut c, &mut d));
}
