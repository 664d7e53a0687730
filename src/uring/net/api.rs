//! The public surface: `RingBuilder::recv_buffers`, `Ring::recv` /
//! `send` / `accept`, and their stream and futures.

use crate::uring::builder::RingBuilder;
#[cfg(doc)]
use crate::uring::net::config::{
    DEFAULT_RECV_COUNT, DEFAULT_RECV_QUEUE_LIMIT, DEFAULT_RECV_SIZE, DEFAULT_SEND_ZEROCOPY_ABOVE,
};
use crate::uring::net::engine::Engine;
use crate::uring::net::gather::{Bufs, Gather};
use crate::uring::net::poller::Dir;
use crate::uring::net::uring::Tok;
use crate::uring::ring::Ring;
use crate::PooledBuffer;
use futures_core::Stream;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

impl RingBuilder {
    /// The provided-buffer ring each shard registers for [`Ring::recv`]:
    /// `count` pool buffers (a power of two, at most 32768) of `size` bytes.
    /// The kernel's idle buffer memory is `count × size` per shard, whatever
    /// the number of connections; a connection holds a buffer only from the
    /// moment bytes arrive for it until the caller drops it. Taken from the
    /// pool on the first socket operation. Default [`DEFAULT_RECV_COUNT`] ×
    /// [`DEFAULT_RECV_SIZE`].
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::builder(&pool).recv_buffers(256, 16 * 1024).build()?;
    /// assert!(Ring::builder(&pool).recv_buffers(100, 4096).build().is_err()); // not a power of two
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_buffers(mut self, count: usize, size: usize) -> Self {
        self.net.count = count;
        self.net.size = size;
        self
    }

    /// At most this many bytes one [`RecvStream`] holds received but not
    /// yet yielded: past it the stream stops the kernel receiving for it
    /// until it is polled again (up to one ring's worth of completions may
    /// still land). Default [`DEFAULT_RECV_QUEUE_LIMIT`]. The buffers the
    /// application holds in all are bounded by the pool's limits: a pool
    /// `get` the ring's refill needs that fails leaves the slot empty, and
    /// `recv`s see `ENOBUFS` until buffers come back.
    pub fn recv_queue_limit(mut self, bytes: usize) -> Self {
        self.net.queue_limit = bytes.max(1);
        self
    }

    /// Sends whose unsent rest is at least `bytes` go out as zero-copy
    /// `SEND_ZC` / `SENDMSG_ZC` on io_uring: the kernel reads the buffers in
    /// place instead of copying them into the socket, and the send completes
    /// (handing the buffers back, or letting `Bytes` go) only after the
    /// kernel's notification that it is done with them. Counted in
    /// [`RingStats::send_zc`](crate::uring::RingStats) and `send_zc_copied`.
    /// The fallback engine always copies. Default
    /// [`DEFAULT_SEND_ZEROCOPY_ABOVE`] (never): on loopback it never paid.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use std::io::Read;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::builder(&pool).send_zerocopy_above(64 << 10).build()?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, _) = listener.accept()?;
    /// let mut b = pool.with_capacity(1 << 20);
    /// b.resize(1 << 20, 7);
    /// let reader = std::thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     client.read_to_end(&mut got).map(|_| got)
    /// });
    /// let b = futures::executor::block_on(ring.send(&server, b))?;
    /// drop(server);
    /// assert_eq!(reader.join().unwrap()?.len(), b.len());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_zerocopy_above(mut self, bytes: usize) -> Self {
        self.net.zerocopy_above = bytes;
        self
    }
}

/// The stream of [`Ring::recv`]: each item a [`PooledBuffer`] with
/// `len() ==` the bytes received; `None` at end of stream.
///
/// Dropping it cancels the kernel's multishot `recv` and returns once every
/// buffer the kernel picked for it is back in the pool; the socket may then
/// be closed.
#[must_use = "streams do nothing unless polled"]
pub struct RecvStream<'a> {
    ring: &'a Ring,
    fd: RawFd,
    state: RecvState,
    _sock: PhantomData<&'a ()>,
}

enum RecvState {
    Uring { shard: usize, tok: Option<Tok> },
    Poll { reg: bool, done: bool },
    Failed(Option<io::Error>),
}

impl Stream for RecvStream<'_> {
    type Item = io::Result<PooledBuffer>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let fd = this.fd;
        let limit = this.ring.net.cfg.queue_limit;
        match (&mut this.state, this.ring.net.engine()) {
            (RecvState::Failed(e), _) => Poll::Ready(e.take().map(Err)),
            (_, Err(e)) => Poll::Ready(Some(Err(e))),
            (RecvState::Uring { shard, tok }, Ok(Engine::Uring(v))) => v[*shard].poll_recv(tok, fd, limit, cx),
            (RecvState::Poll { reg, done }, Ok(Engine::Poll(p))) => {
                if *done {
                    return Poll::Ready(None);
                }
                let r = p.poll_recv(fd, reg, cx);
                if let Poll::Ready(None | Some(Err(_))) = r {
                    *done = true;
                }
                r
            }
            _ => unreachable!("a stream's state matches its ring's engine"),
        }
    }
}

impl Drop for RecvStream<'_> {
    fn drop(&mut self) {
        match (&self.state, self.ring.net.engine()) {
            (RecvState::Uring { shard, tok: Some(t) }, Ok(Engine::Uring(v))) => v[*shard].drop_recv(*t),
            (RecvState::Poll { reg: true, .. }, Ok(Engine::Poll(p))) => p.forget(self.fd, Dir::Read),
            _ => {}
        }
    }
}

/// The future of [`Ring::send`]: all of the buffer sent, then the buffer.
#[must_use = "futures do nothing unless polled"]
pub struct SendAll<'a>(Sending<'a>);

/// The future of [`Ring::send_vectored`]: every buffer sent, in order, then
/// the buffers.
#[must_use = "futures do nothing unless polled"]
pub struct SendVectored<'a>(Sending<'a>);

/// What both send futures are.
struct Sending<'a> {
    ring: &'a Ring,
    fd: RawFd,
    state: SendState,
    _sock: PhantomData<&'a ()>,
}

enum SendState {
    Uring { shard: usize, tok: Option<Tok>, bufs: Option<Bufs> },
    Poll { reg: bool, g: Option<Gather> },
}

impl Sending<'_> {
    fn new(ring: &Ring, fd: RawFd, bufs: Bufs) -> Sending<'_> {
        let state = match ring.net.engine() {
            Ok(Engine::Uring(_)) => SendState::Uring { shard: ring.net_shard(), tok: None, bufs: Some(bufs) },
            _ => SendState::Poll { reg: false, g: Some(Gather::new(bufs)) },
        };
        Sending { ring, fd, state, _sock: PhantomData }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Bufs>> {
        match (&mut self.state, self.ring.net.engine()) {
            (_, Err(e)) => Poll::Ready(Err(e)),
            (SendState::Uring { shard, tok, bufs }, Ok(Engine::Uring(v))) => {
                v[*shard].poll_send(tok, self.fd, bufs, cx)
            }
            (SendState::Poll { reg, g }, Ok(Engine::Poll(p))) => {
                let gather = g.as_mut().expect("a send future polled after completion");
                p.poll_send(self.fd, reg, gather, cx).map(|r| r.map(|()| g.take().expect("present").into_bufs()))
            }
            _ => unreachable!("a future's state matches its ring's engine"),
        }
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        match (&self.state, self.ring.net.engine()) {
            (SendState::Uring { shard, tok: Some(t), .. }, Ok(Engine::Uring(v))) => v[*shard].drop_op(*t),
            (SendState::Poll { reg: true, .. }, Ok(Engine::Poll(p))) => p.forget(self.fd, Dir::Write),
            _ => {}
        }
    }
}

/// The pooled buffers a send of them hands back.
fn pooled(b: Bufs) -> Vec<PooledBuffer> {
    match b {
        Bufs::Pooled(v) => v,
        #[cfg(feature = "bytes")]
        Bufs::Bytes(_) => unreachable!("a pooled send owns pooled buffers"),
    }
}

impl Future for SendAll<'_> {
    type Output = io::Result<PooledBuffer>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.poll(cx).map(|r| r.map(|b| pooled(b).pop().expect("one buffer in, one out")))
    }
}

impl Future for SendVectored<'_> {
    type Output = io::Result<Vec<PooledBuffer>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.poll(cx).map(|r| r.map(pooled))
    }
}

/// The future of [`Ring::send_bytes`] and [`Ring::send_bytes_vectored`]:
/// every byte sent, in order (feature `bytes`). The `Bytes` are dropped once
/// the kernel is done with them, also when the future is dropped first.
#[cfg(feature = "bytes")]
#[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
#[must_use = "futures do nothing unless polled"]
pub struct SendBytes<'a>(Sending<'a>);

#[cfg(feature = "bytes")]
impl Future for SendBytes<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.poll(cx).map(|r| r.map(drop))
    }
}

enum AcceptState {
    Uring { shard: usize, tok: Option<Tok> },
    Poll { reg: bool },
}

/// The future of [`Ring::accept`].
#[must_use = "futures do nothing unless polled"]
pub struct Accept<'a> {
    ring: &'a Ring,
    fd: RawFd,
    state: AcceptState,
    _sock: PhantomData<&'a TcpListener>,
}

impl Future for Accept<'_> {
    type Output = io::Result<(TcpStream, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let r = match (&mut this.state, this.ring.net.engine()) {
            (_, Err(e)) => return Poll::Ready(Err(e)),
            (AcceptState::Uring { shard, tok }, Ok(Engine::Uring(v))) => v[*shard].poll_accept(tok, this.fd, cx),
            (AcceptState::Poll { reg }, Ok(Engine::Poll(p))) => p.poll_accept(this.fd, reg, cx),
            _ => unreachable!("a future's state matches its ring's engine"),
        };
        r.map(accepted)
    }
}

impl Drop for Accept<'_> {
    fn drop(&mut self) {
        match (&self.state, self.ring.net.engine()) {
            (AcceptState::Uring { shard, tok: Some(t) }, Ok(Engine::Uring(v))) => v[*shard].drop_op(*t),
            (AcceptState::Poll { reg: true }, Ok(Engine::Poll(p))) => p.forget(self.fd, Dir::Read),
            _ => {}
        }
    }
}

/// The stream of [`Ring::incoming`]: every connection the listener accepts,
/// with its peer's address.
///
/// Dropping it cancels the multishot accept; sockets the kernel accepted
/// for it that were not yielded are closed.
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    ring: &'a Ring,
    fd: RawFd,
    state: AcceptState,
    _sock: PhantomData<&'a TcpListener>,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<(TcpStream, SocketAddr)>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let r = match (&mut this.state, this.ring.net.engine()) {
            (_, Err(e)) => return Poll::Ready(Some(Err(e))),
            (AcceptState::Uring { shard, tok }, Ok(Engine::Uring(v))) => v[*shard].poll_incoming(tok, this.fd, cx),
            (AcceptState::Poll { reg }, Ok(Engine::Poll(p))) => p.poll_accept(this.fd, reg, cx),
            _ => unreachable!("a stream's state matches its ring's engine"),
        };
        r.map(|r| Some(accepted(r)))
    }
}

impl Drop for Incoming<'_> {
    fn drop(&mut self) {
        match (&self.state, self.ring.net.engine()) {
            (AcceptState::Uring { shard, tok: Some(t) }, Ok(Engine::Uring(v))) => v[*shard].drop_op(*t),
            (AcceptState::Poll { reg: true }, Ok(Engine::Poll(p))) => p.forget(self.fd, Dir::Read),
            _ => {}
        }
    }
}

fn accepted(r: io::Result<RawFd>) -> io::Result<(TcpStream, SocketAddr)> {
    // SAFETY: a fresh descriptor from accept, owned by nobody else.
    let s = unsafe { TcpStream::from_raw_fd(r?) };
    let peer = s.peer_addr()?;
    Ok((s, peer))
}

impl Ring {
    pub(crate) fn net_shard(&self) -> usize {
        self.shards.local_index() % self.net.shards.max(1)
    }

    /// Receives from a connected socket (TCP, Unix stream, or any `AsFd`
    /// socket): a [`Stream`] of [`PooledBuffer`]s, each `len() ==` the bytes
    /// one completion received, `None` at end of stream. On io_uring one
    /// multishot `recv` selects buffers from the shard's provided-buffer
    /// ring ([`RingBuilder::recv_buffers`]): the kernel picks a buffer only
    /// when bytes arrive, and the slot is refilled from the pool at once.
    /// Nothing is submitted until the first poll.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use futures::StreamExt;
    /// use std::io::Write;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::builder(&pool).recv_buffers(16, 4096).build()?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// futures::executor::block_on(async {
    ///     let (server, _peer) = ring.accept(&listener).await?;
    ///     client.write_all(b"hello")?;
    ///     drop(client);
    ///     let mut got = Vec::new();
    ///     let mut rx = ring.recv(&server);
    ///     while let Some(chunk) = rx.next().await {
    ///         got.extend_from_slice(&chunk?);
    ///     }
    ///     assert_eq!(got, b"hello");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv<'a, S: AsFd>(&'a self, socket: &'a S) -> RecvStream<'a> {
        let fd = socket.as_fd().as_raw_fd();
        let state = match self.net.engine() {
            Ok(Engine::Uring(_)) => RecvState::Uring { shard: self.net_shard(), tok: None },
            Ok(Engine::Poll(_)) => RecvState::Poll { reg: false, done: false },
            Err(e) => RecvState::Failed(Some(e)),
        };
        RecvStream { ring: self, fd, state, _sock: PhantomData }
    }

    /// Sends all of `buf` on a connected socket, looping on short sends
    /// (`MSG_NOSIGNAL`: a closed peer is an `EPIPE` error, not a signal),
    /// and hands the buffer back.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use std::io::Read;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::new(&pool, 8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, _) = listener.accept()?;
    /// let mut buf = pool.with_capacity(5);
    /// buf.extend_from_slice(b"howdy");
    /// let buf = futures::executor::block_on(ring.send(&server, buf))?;
    /// let mut got = [0; 5];
    /// client.read_exact(&mut got)?;
    /// assert_eq!((&got, &buf[..]), (b"howdy", &b"howdy"[..]));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send<'a, S: AsFd>(&'a self, socket: &'a S, buf: PooledBuffer) -> SendAll<'a> {
        SendAll(Sending::new(self, socket.as_fd().as_raw_fd(), Bufs::Pooled(vec![buf])))
    }

    /// Sends every buffer of `bufs`, in order, gathering up to `IOV_MAX`
    /// (1,024) of them in each `SENDMSG`, looping on short sends, and hands
    /// the buffers back.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use std::io::Read;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::new(&pool, 8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, _) = listener.accept()?;
    /// let bufs: Vec<_> = [&b"head "[..], b"and ", b"body"].iter().map(|p| {
    ///     let mut b = pool.with_capacity(p.len());
    ///     b.extend_from_slice(p);
    ///     b
    /// }).collect();
    /// let back = futures::executor::block_on(ring.send_vectored(&server, bufs))?;
    /// assert_eq!(back.len(), 3);
    /// let mut got = [0; 13];
    /// client.read_exact(&mut got)?;
    /// assert_eq!(&got, b"head and body");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_vectored<'a, S: AsFd>(&'a self, socket: &'a S, bufs: Vec<PooledBuffer>) -> SendVectored<'a> {
        SendVectored(Sending::new(self, socket.as_fd().as_raw_fd(), Bufs::Pooled(bufs)))
    }

    /// Sends all of `bytes` (feature `bytes`): a frozen pool buffer, a slice
    /// of one, or any other `Bytes`, without copying. The kernel reads the
    /// memory in place, so the future owns the `Bytes` until the send is
    /// done, and a future dropped early hands it to the ring until the
    /// kernel lets go.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use std::io::Read;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::new(&pool, 8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, _) = listener.accept()?;
    /// let mut b = pool.with_capacity(11);
    /// b.extend_from_slice(b"hello world");
    /// let frozen = b.freeze();
    /// futures::executor::block_on(ring.send_bytes(&server, frozen.slice(6..)))?;
    /// let mut got = [0; 5];
    /// client.read_exact(&mut got)?;
    /// assert_eq!(&got, b"world");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "bytes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    pub fn send_bytes<'a, S: AsFd>(&'a self, socket: &'a S, bytes: bytes::Bytes) -> SendBytes<'a> {
        SendBytes(Sending::new(self, socket.as_fd().as_raw_fd(), Bufs::Bytes(vec![bytes])))
    }

    /// Sends every `Bytes` of `parts`, in order, gathering up to `IOV_MAX`
    /// (1,024) of them in each `SENDMSG` and looping on short sends
    /// (feature `bytes`): a header and slices of frozen pool buffers, say,
    /// with no copy.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use bytes::Bytes;
    /// use std::io::Read;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::new(&pool, 8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, _) = listener.accept()?;
    /// let parts = vec![Bytes::from_static(b"$5\r\n"), Bytes::from_static(b"hello"), Bytes::from_static(b"\r\n")];
    /// futures::executor::block_on(ring.send_bytes_vectored(&server, parts))?;
    /// let mut got = [0; 11];
    /// client.read_exact(&mut got)?;
    /// assert_eq!(&got, b"$5\r\nhello\r\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "bytes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    pub fn send_bytes_vectored<'a, S: AsFd>(&'a self, socket: &'a S, parts: Vec<bytes::Bytes>) -> SendBytes<'a> {
        SendBytes(Sending::new(self, socket.as_fd().as_raw_fd(), Bufs::Bytes(parts)))
    }

    /// Accepts one connection: the stream (blocking mode, close-on-exec) and
    /// its peer's address. The fallback engine expects a listener only it
    /// accepts on, or one in non-blocking mode.
    pub fn accept<'a>(&'a self, listener: &'a TcpListener) -> Accept<'a> {
        let fd = listener.as_raw_fd();
        let state = match self.net.engine() {
            Ok(Engine::Uring(_)) => AcceptState::Uring { shard: self.net_shard(), tok: None },
            _ => AcceptState::Poll { reg: false },
        };
        Accept { ring: self, fd, state, _sock: PhantomData }
    }

    /// Shuts down the reading, writing or both halves of a connected socket
    /// (`shutdown(2)`, which never blocks, so it is made at once on either
    /// engine). After `Shutdown::Write` the peer reads end of stream once it
    /// has what was sent. A send not yet awaited is not waited for: await
    /// it before shutting down the write half.
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use std::io::Read;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::new(&pool, 8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, _) = listener.accept()?;
    /// ring.shutdown(&server, std::net::Shutdown::Write)?;
    /// assert_eq!(client.read(&mut [0; 8])?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown<S: AsFd>(&self, socket: &S, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: the descriptor is borrowed from `socket`, open for the call.
        if unsafe { libc::shutdown(socket.as_fd().as_raw_fd(), how) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Every connection `listener` accepts, as a stream: on io_uring one
    /// multishot `ACCEPT` (re-armed in the stream's poll if the kernel ends
    /// it), on the fallback one `accept4` per item. Errors (`EMFILE`, say)
    /// are items; the stream goes on after them. Same listener rule as
    /// [`Ring::accept`].
    ///
    /// ```
    /// use bufpool::uring::Ring;
    /// use futures::StreamExt;
    /// let pool = bufpool::BufferPool::new();
    /// let ring = Ring::new(&pool, 8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(listener.local_addr().unwrap())).collect();
    /// let mut incoming = ring.incoming(&listener);
    /// for _ in 0..3 {
    ///     let (_stream, peer) = futures::executor::block_on(incoming.next()).unwrap()?;
    ///     assert!(peer.ip().is_loopback());
    /// }
    /// # drop(clients);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming<'a>(&'a self, listener: &'a TcpListener) -> Incoming<'a> {
        let fd = listener.as_raw_fd();
        let state = match self.net.engine() {
            Ok(Engine::Uring(_)) => AcceptState::Uring { shard: self.net_shard(), tok: None },
            _ => AcceptState::Poll { reg: false },
        };
        Incoming { ring: self, fd, state, _sock: PhantomData }
    }

    /// Whether sockets run on io_uring with provided buffers (`true`), or on
    /// the readiness fallback. Starts the socket engine if it is not yet.
    pub fn recv_uses_buffer_ring(&self) -> bool {
        matches!(self.net.engine(), Ok(Engine::Uring(_)))
    }
}
