//! Sockets on a `Ring`: multishot recv into the provided-buffer ring (or
//! the readiness fallback), send, accept; loopback only, bounded loops.
mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures::executor::block_on;
use futures::task::noop_waker;
use futures::Stream;
use futures::StreamExt;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;
use uring_common::*;

/// Taken by every test here: one of them stages the reuse of a descriptor
/// number, which a parallel test opening sockets would race with.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The io_uring ring (if sockets get a buffer ring here) and the fallback.
fn net_rings(pool: &BufferPool, count: usize, size: usize) -> Vec<Ring> {
    let mut v = Vec::new();
    let r = Ring::builder(pool).shards(1).recv_buffers(count, size).build().unwrap();
    if r.recv_uses_buffer_ring() {
        v.push(r);
    } else {
        eprintln!("no provided-buffer rings here: testing the fallback only");
    }
    let f = Ring::builder(pool).force_fallback(true).recv_buffers(count, size).build().unwrap();
    assert!(!f.recv_uses_buffer_ring());
    v.push(f);
    v
}

fn pair(l: &TcpListener) -> (TcpStream, TcpStream) {
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn data(n: usize, seed: u64) -> Vec<u8> {
    (0..n as u64).map(|i| pattern(i + seed)).collect()
}

/// Reads the stream to its end.
async fn collect(ring: &Ring, s: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut rx = ring.recv(s);
    while let Some(c) = rx.next().await {
        let c = c.unwrap();
        assert!(!c.is_empty());
        got.extend_from_slice(&c);
    }
    got
}

#[test]
fn echo_over_many_connections_on_both_backends() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 64, 4096) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = 48;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let server = {
            let ring = ring.clone();
            rt.spawn(async move {
                let mut tasks = Vec::new();
                for _ in 0..conns {
                    let (s, _peer) = ring.accept(&listener).await.unwrap();
                    let ring = ring.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut rx = ring.recv(&s);
                        let mut n = 0;
                        while let Some(c) = rx.next().await {
                            let c = c.unwrap();
                            n += c.len();
                            let back = ring.send(&s, c).await.unwrap();
                            assert!(!back.is_empty());
                        }
                        n
                    }));
                }
                let mut total = 0;
                for t in tasks {
                    total += t.await.unwrap();
                }
                total
            })
        };
        let clients: Vec<_> = (0..conns)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    let msg = data(1000 + 997 * i, i as u64);
                    for chunk in msg.chunks(1500) {
                        c.write_all(chunk).unwrap();
                        let mut back = vec![0; chunk.len()];
                        c.read_exact(&mut back).unwrap();
                        assert_eq!(back, chunk, "connection {i}");
                    }
                    msg.len()
                })
            })
            .collect();
        let sent: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        let echoed = rt.block_on(server).unwrap();
        assert_eq!(echoed, sent, "{:?}", ring.backend());
        assert!(ring.stats().recv > 0);
    }
}

#[test]
fn eof_ends_the_stream_after_the_data() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 1024) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut c, s) = pair(&l);
        let msg = data(10_000, 7);
        c.write_all(&msg).unwrap();
        drop(c);
        assert_eq!(block_on(collect(&ring, &s)), msg);
        // Polled again after the end: still the end.
        let mut rx = ring.recv(&s);
        assert!(block_on(rx.next()).is_none());
    }
}

#[test]
fn send_loops_over_a_large_buffer() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut c, s) = pair(&l);
        let msg = data(8 << 20, 3);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            got
        });
        let mut buf = pool.with_capacity(msg.len());
        buf.extend_from_slice(&msg);
        let back = block_on(ring.send(&s, buf)).unwrap();
        assert_eq!(back.len(), msg.len());
        drop(s);
        assert!(reader.join().unwrap() == msg, "{:?}", ring.backend());
    }
}

#[test]
fn dropping_a_stream_mid_flow_returns_every_buffer_before_it_returns() {
    let _serial = serial();
    for fallback in [false, true] {
        // A pool per backend: a dropped ring's buffers go home a little
        // after the drop, from its completion thread.
        let pool = BufferPool::new();
        let ring = Ring::builder(&pool).shards(1).recv_buffers(32, 4096).force_fallback(fallback).build().unwrap();
        for round in 0..20 {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let (mut c, s) = pair(&l);
            let writer = std::thread::spawn(move || {
                let chunk = data(64 << 10, 1);
                // Stops when the server side closes.
                for _ in 0..200 {
                    if c.write_all(&chunk).is_err() {
                        break;
                    }
                }
            });
            // Start the engine (its ring buffers are outstanding for the
            // ring's life), then take the baseline.
            let _ = ring.recv_uses_buffer_ring();
            let base = pool.stats().outstanding_buffers;
            let mut rx = ring.recv(&s);
            let first = block_on(rx.next()).unwrap().unwrap();
            assert!(!first.is_empty());
            drop(first);
            // Let completions (and the queue) build up.
            std::thread::sleep(Duration::from_millis(round % 3));
            drop(rx);
            let after = pool.stats();
            assert_eq!(after.outstanding_buffers, base, "round {round}, {:?}", ring.backend());
            // Nothing of the dropped stream happens after its drop returned:
            // no buffer handed over, refilled or returned later.
            std::thread::sleep(Duration::from_millis(10));
            let later = pool.stats();
            assert_eq!((later.gets, later.returns), (after.gets, after.returns), "round {round}");
            drop(s);
            writer.join().unwrap();
        }
        drop(ring);
        wait_quiescent(&pool);
    }
}

#[test]
fn enobufs_with_a_tiny_ring_rearms_and_loses_nothing() {
    let _serial = serial();
    let pool = BufferPool::new();
    let ring = Ring::builder(&pool).shards(1).recv_buffers(2, 4096).build().unwrap();
    if !ring.recv_uses_buffer_ring() {
        eprintln!("no provided-buffer rings here: nothing to test");
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut c, s) = pair(&l);
    let msg = data(4 << 20, 11);
    let m = msg.clone();
    let w = std::thread::spawn(move || {
        c.write_all(&m).unwrap();
    });
    let got = block_on(async {
        let mut got = Vec::new();
        let mut rx = ring.recv(&s);
        while got.len() < msg.len() {
            got.extend_from_slice(&rx.next().await.unwrap().unwrap());
        }
        got
    });
    w.join().unwrap();
    assert!(got == msg);
    let st = ring.stats();
    eprintln!("burst of 4 MiB into a 2 x 4 KiB ring: {} recv, {} ENOBUFS, {} re-arms", st.recv, st.enobufs, st.rearms);
    assert!(st.enobufs > 0, "{st:?}");
    assert!(st.rearms >= st.enobufs, "{st:?}");
}

#[test]
fn a_slow_consumer_holds_at_most_its_queue_bound() {
    let _serial = serial();
    let pool = BufferPool::new();
    let limit = 16 << 10;
    for ring in net_rings(&pool, 64, 4096) {
        let ring = Ring::builder(&pool)
            .shards(1)
            .recv_buffers(64, 4096)
            .recv_queue_limit(limit)
            .force_fallback(!ring.recv_uses_buffer_ring())
            .build()
            .unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut c, s) = pair(&l);
        let msg = data(2 << 20, 5);
        let m = msg.clone();
        let w = std::thread::spawn(move || c.write_all(&m).unwrap());
        let _ = ring.recv_uses_buffer_ring();
        let base = pool.stats().outstanding_buffers;
        let mut rx = ring.recv(&s);
        let mut got = Vec::new();
        got.extend_from_slice(&block_on(rx.next()).unwrap().unwrap());
        std::thread::sleep(Duration::from_millis(100));
        // Queued: at most the bound plus one ring's worth that landed while
        // the cancellation was on its way.
        let held = pool.stats().outstanding_buffers - base;
        assert!(held as usize <= limit / 4096 + 1 + 64, "held {held} buffers, {:?}", ring.backend());
        while got.len() < msg.len() {
            got.extend_from_slice(&block_on(rx.next()).unwrap().unwrap());
        }
        assert!(got == msg);
        w.join().unwrap();
    }
}

#[test]
fn a_leaked_stream_never_reads_a_reused_descriptor_number() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        // The kernel hands out the lowest free number, so the accepted
        // connection usually gets the leaked stream's; a descriptor another
        // thread of this test process opens in between can take it first.
        // Then try again (a few times at most): the check below needs the
        // number reused.
        let mut reused = false;
        for _ in 0..20 {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let (mut old_peer, old) = pair(&l);
            let old_fd = old.as_raw_fd();
            let mut rx = ring.recv(&old);
            let w = noop_waker();
            // Armed (submitted) in this poll, then leaked.
            assert!(Pin::new(&mut rx).poll_next(&mut Context::from_waker(&w)).is_pending());
            std::mem::forget(rx);
            // The new client's descriptor is taken first, so the accepted one
            // gets the leaked stream's number.
            let mut new_peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            drop(old);
            let (new, _) = l.accept().unwrap();
            if new.as_raw_fd() != old_fd {
                continue;
            }
            reused = true;
            // Bytes for the old connection go nowhere near the new one.
            let _ = old_peer.write_all(b"old old old");
            new_peer.write_all(b"new").unwrap();
            drop(new_peer);
            assert_eq!(block_on(collect(&ring, &new)), b"new", "{:?}", ring.backend());
            drop(old_peer);
            break;
        }
        assert!(reused, "the descriptor number was never reused in 20 tries ({:?})", ring.backend());
    }
}

#[test]
fn accept_gives_the_stream_and_its_peer() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = block_on(ring.accept(&l)).unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        // A dropped accept that never completed leaves no trace.
        let mut a = ring.accept(&l);
        let w = noop_waker();
        assert!(Pin::new(&mut a).poll(&mut Context::from_waker(&w)).is_pending());
        drop(a);
        let c2 = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s2, p2) = block_on(ring.accept(&l)).unwrap();
        assert_eq!(p2, c2.local_addr().unwrap());
    }
}

#[test]
fn nonblocking_and_unix_sockets_work_too() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut c, s) = pair(&l);
        // As a tokio socket's descriptor is.
        s.set_nonblocking(true).unwrap();
        let mut buf = pool.with_capacity(5);
        buf.extend_from_slice(b"ping!");
        block_on(ring.send(&s, buf)).unwrap();
        let mut got = [0; 5];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping!");
        c.write_all(b"pong").unwrap();
        drop(c);
        assert_eq!(block_on(collect(&ring, &s)), b"pong", "{:?}", ring.backend());

        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.write_all(b"over unix").unwrap();
        drop(a);
        let got = block_on(async {
            let mut got = Vec::new();
            let mut rx = ring.recv(&b);
            while let Some(c) = rx.next().await {
                got.extend_from_slice(&c.unwrap());
            }
            got
        });
        assert_eq!(got, b"over unix");
    }
}

#[test]
fn the_last_ring_handle_ends_a_leaked_stream_and_frees_the_buffer_ring() {
    let _serial = serial();
    for fallback in [false, true] {
        let pool = BufferPool::new();
        let ring = Ring::builder(&pool).shards(1).recv_buffers(8, 4096).force_fallback(fallback).build().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut c, s) = pair(&l);
        c.write_all(b"some bytes").unwrap();
        let mut rx = ring.recv(&s);
        let w = noop_waker();
        let _ = Pin::new(&mut rx).poll_next(&mut Context::from_waker(&w));
        std::mem::forget(rx);
        drop(ring);
        // The engine cancels the leaked multishot, its thread exits and the
        // ring's buffers (and the leaked stream's queue) go home.
        wait_quiescent(&pool);
        drop((c, s));
    }
}

#[test]
fn send_vectored_gathers_past_iov_max_and_short_sends() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut c, s) = pair(&l);
        // 3,000 buffers (more than IOV_MAX), 0 to 5,000 bytes each, about
        // 7 MiB: several SENDMSGs, and short ones while the reader lags.
        let sizes: Vec<usize> = (0..3000).map(|i| (i * 7919) % 5001).collect();
        let total: usize = sizes.iter().sum();
        let mut expect = Vec::with_capacity(total);
        let bufs: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let d = data(n, i as u64 * 31);
                expect.extend_from_slice(&d);
                let mut b = pool.with_capacity(n.max(1));
                b.extend_from_slice(&d);
                b
            })
            .collect();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            got
        });
        let back = block_on(ring.send_vectored(&s, bufs)).unwrap();
        assert_eq!(back.iter().map(|b| b.len()).collect::<Vec<_>>(), sizes);
        drop(s);
        assert!(reader.join().unwrap() == expect, "{:?}", ring.backend());
    }
}

#[test]
fn send_bytes_vectored_sends_frozen_slices_past_iov_max_and_lets_them_go() {
    let _serial = serial();
    let pool = BufferPool::new();
    // The payload's own pool, so its count is not mixed with the ring's
    // receive buffers.
    let payload = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut c, s) = pair(&l);
        // 3,000 slices, 0 to 4,999 bytes, of 30 frozen pool buffers,
        // between static separators: more than IOV_MAX pieces, ~7 MiB.
        let mut expect = Vec::new();
        let mut parts = Vec::new();
        for k in 0..30u64 {
            let d = data(500_000, k * 17);
            let mut b = payload.with_capacity(d.len());
            b.extend_from_slice(&d);
            let frozen = b.freeze();
            for i in 0..100usize {
                let at = (i * 4999) % 400_000;
                let n = (i * 7919 + k as usize) % 5000;
                parts.push(frozen.slice(at..at + n));
                expect.extend_from_slice(&d[at..at + n]);
                parts.push(bytes::Bytes::from_static(b"|"));
                expect.push(b'|');
            }
        }
        assert_eq!(payload.stats().frozen_buffers, 30);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            got
        });
        block_on(ring.send_bytes_vectored(&s, parts)).unwrap();
        assert_eq!(payload.stats().outstanding_buffers, 0, "sent Bytes are let go: {}", payload.stats());
        drop(s);
        assert!(reader.join().unwrap() == expect, "{:?}", ring.backend());
    }
}

#[test]
fn a_dropped_send_bytes_future_lets_its_bytes_go_once_the_kernel_is_done() {
    let _serial = serial();
    let pool = BufferPool::new();
    let payload = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (c, s) = pair(&l);
        let mut b = payload.with_capacity(16 << 20);
        b.extend_from_slice(&data(16 << 20, 5));
        let frozen = b.freeze();
        // Nobody reads: the send fills the socket buffers and stays in flight.
        let mut f = Box::pin(ring.send_bytes(&s, frozen.slice(..)));
        drop(frozen);
        let w = noop_waker();
        assert!(f.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        drop(f);
        // The kernel may still read the memory: it comes home only after the
        // cancelled request ends, never before, and never not at all.
        drop((c, s));
        wait_quiescent(&payload);
        assert_eq!(payload.stats().frozen_buffers, 0);
    }
}

#[test]
fn zero_copy_sends_deliver_everything_and_hand_buffers_back_after_the_notification() {
    let _serial = serial();
    let pool = BufferPool::new();
    let ring = Ring::builder(&pool).shards(1).recv_buffers(16, 4096).send_zerocopy_above(1).build().unwrap();
    if !ring.recv_uses_buffer_ring() {
        eprintln!("SKIP: no io_uring socket engine here, so no SEND_ZC");
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut c, s) = pair(&l);
    let one = data(8 << 20, 11);
    let many: Vec<Vec<u8>> = (0..2000).map(|i| data((i * 7919) % 6000, i as u64)).collect();
    let mut expect = one.clone();
    many.iter().for_each(|d| expect.extend_from_slice(d));
    // The reader lags, so the kernel sends short and the ring resubmits.
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        got
    });
    let mut b = pool.with_capacity(one.len());
    b.extend_from_slice(&one);
    let b = block_on(ring.send(&s, b)).unwrap();
    assert_eq!(b.len(), one.len());
    let bufs: Vec<_> = many
        .iter()
        .map(|d| {
            let mut b = pool.with_capacity(d.len().max(1));
            b.extend_from_slice(d);
            b
        })
        .collect();
    let back = block_on(ring.send_vectored(&s, bufs)).unwrap();
    assert_eq!(back.len(), many.len());
    drop(s);
    assert!(reader.join().unwrap() == expect, "zero-copy sends lost or reordered bytes");
    let st = ring.stats();
    assert!(st.send_zc >= 2, "no SEND_ZC was submitted: {st:?}");
    assert!(st.send_zc_copied <= st.send_zc);
    eprintln!("send_zc {} (copied {})", st.send_zc, st.send_zc_copied);
    // A dropped zero-copy send: its buffer comes home once the kernel's
    // notification says it let go.
    let payload = BufferPool::new();
    let (c, s) = pair(&l);
    let mut b = payload.with_capacity(16 << 20);
    b.resize(16 << 20, 1);
    let mut f = Box::pin(ring.send(&s, b));
    let w = noop_waker();
    assert!(f.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
    drop(f);
    drop((c, s));
    wait_quiescent(&payload);
}

#[test]
fn thousands_of_connections_dropped_mid_stream_return_every_buffer() {
    let _serial = serial();
    let pool = BufferPool::new();
    // Under valgrind (`BUFPOOL_NET_FALLBACK_ONLY`): the fallback only, since
    // valgrind cannot run a thread blocked in `io_uring_enter` (it holds its
    // big lock, and every other thread waits).
    let backends = if std::env::var_os("BUFPOOL_NET_FALLBACK_ONLY").is_some() {
        vec![Ring::builder(&pool).force_fallback(true).recv_buffers(64, 4096).build().unwrap()]
    } else {
        net_rings(&pool, 64, 4096)
    };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    for ring in backends {
        let held_by_ring = if ring.recv_uses_buffer_ring() { 64 } else { 0 };
        let msg = data(16 << 10, 5);
        for batch in 0..scale(20) {
            let pairs: Vec<_> = (0..100).map(|_| pair(&l)).collect();
            for (c, _) in &pairs {
                (&*c).write_all(&msg).unwrap();
            }
            block_on(async {
                for (_, s) in &pairs {
                    let mut rx = ring.recv(s);
                    let first = rx.next().await.unwrap().unwrap();
                    assert!(!first.is_empty() && first[..] == msg[..first.len()]);
                    // Dropped with the rest of the 16 KiB queued or in flight.
                }
            });
            drop(pairs);
            let s = pool.stats();
            assert!(s.outstanding_buffers <= held_by_ring, "batch {batch}: a dropped stream kept buffers: {s}");
        }
        drop(ring);
        wait_quiescent(&pool);
    }
}

/// Accepts one connection on `ring`, echoes it to its end, and checks what
/// the client got back; `run` drives the server's future.
fn echo_once(ring: Ring, run: impl FnOnce(Pin<Box<dyn Future<Output = ()> + Send + 'static>>)) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let msg = data(200 << 10, 9);
    let m = msg.clone();
    let client = std::thread::spawn(move || echo_client(addr, m));
    run(Box::pin(async move { echo_one(&ring, &l).await }));
    assert!(client.join().unwrap() == msg);
}

#[test]
fn echo_under_tokio_current_thread_multi_thread_and_block_on() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        echo_once(ring.clone(), block_on);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        echo_once(ring.clone(), |f| rt.block_on(f));
        // Spawned: it runs on a worker, and may move between the two.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        echo_once(ring.clone(), |f| rt.block_on(async { tokio::spawn(f).await.unwrap() }));
    }
    // The rings are gone: every buffer is back.
    wait_quiescent(&pool);
}

#[test]
fn shutdown_write_gives_the_peer_end_of_stream_on_both_engines() {
    let _serial = serial();
    let pool = BufferPool::new();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    for ring in net_rings(&pool, 16, 4096) {
        let (c, s) = pair(&l);
        let mut buf = pool.with_capacity(3);
        buf.extend_from_slice(b"bye");
        block_on(ring.send(&s, buf)).unwrap();
        ring.shutdown(&s, std::net::Shutdown::Write).unwrap();
        // The client's recv stream on the same ring: the data, then its end.
        assert_eq!(block_on(collect(&ring, &c)), b"bye");
        let unconnected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = ring.shutdown(&unconnected, std::net::Shutdown::Both).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN), "{err}");
    }
}

#[test]
fn several_accepts_waiting_on_one_listener_are_all_woken() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let counts: Vec<_> = (0..4).map(|_| std::sync::Arc::new(WakeCount::default())).collect();
        let wakers: Vec<_> = counts.iter().map(|c| std::task::Waker::from(c.clone())).collect();
        let mut accepts: Vec<_> = (0..4).map(|_| Box::pin(ring.accept(&l))).collect();
        for (a, w) in accepts.iter_mut().zip(&wakers) {
            assert!(a.as_mut().poll(&mut Context::from_waker(w)).is_pending());
        }
        let clients: Vec<_> = (0..4).map(|_| TcpStream::connect(l.local_addr().unwrap()).unwrap()).collect();
        let t = std::time::Instant::now();
        let mut done = [false; 4];
        while done.iter().any(|d| !d) {
            for (k, (a, w)) in accepts.iter_mut().zip(&wakers).enumerate() {
                if !done[k] && counts[k].0.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                    counts[k].0.store(0, std::sync::atomic::Ordering::SeqCst);
                    done[k] = a.as_mut().poll(&mut Context::from_waker(w)).is_ready();
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "accepts {:?} were never woken though connections wait ({:?})",
                done,
                ring.backend()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(clients);
    }
}

/// A waker that counts its wakes.
#[derive(Default)]
struct WakeCount(std::sync::atomic::AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn incoming_accepts_many_and_dropping_it_closes_the_unyielded() {
    let _serial = serial();
    let pool = BufferPool::new();
    for ring in net_rings(&pool, 16, 4096) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let mut incoming = ring.incoming(&l);
        let clients: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut served = Vec::new();
        for _ in 0..40 {
            let (s, peer) = block_on(incoming.next()).unwrap().unwrap();
            assert!(clients.iter().any(|c| c.local_addr().unwrap() == peer));
            served.push(s);
        }
        drop(incoming);
        // The 10 not yielded: accepted by the kernel (on the ring) and
        // closed by the drop, or still in the backlog; either way no client
        // of the 40 served reads an end of stream, and every other one does
        // once the listener is gone.
        drop(l);
        let mut eof = 0;
        for c in &clients {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let served_here = served.iter().any(|s| s.peer_addr().unwrap() == c.local_addr().unwrap());
            if !served_here {
                let mut b = [0u8; 1];
                let n = (&*c).read(&mut b);
                assert!(matches!(n, Ok(0)) || n.is_err(), "{n:?}");
                eof += 1;
            }
        }
        assert_eq!(eof, 10);
    }
}
