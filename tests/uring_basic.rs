//! The public API on both backends and under three executors.
mod uring_common;

use bufpool::uring::{Backend, Ring};
use bufpool::BufferPool;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use uring_common::*;

#[test]
fn roundtrip_eof_and_buffer_handback() {
    let dir = scratch("roundtrip");
    let pool = BufferPool::new();
    for ring in rings(&pool, 64) {
        let path = dir.join(format!("{:?}", ring.backend()));
        let file = make_file(&path, 10_000);
        futures::executor::block_on(async {
            let b = ring.read_at(&file, 0, 4096).await.unwrap();
            assert_eq!(b.len(), 4096);
            assert!(b.iter().enumerate().all(|(i, &x)| x == pattern(i as u64)));
            // Short at end of file, empty past it.
            let b = ring.read_at(&file, 9_000, 4096).await.unwrap();
            assert_eq!(b.len(), 1000);
            assert_eq!(b[999], pattern(9_999));
            assert_eq!(ring.read_at(&file, 10_000, 10).await.unwrap().len(), 0);
            assert_eq!(ring.read_at(&file, 1 << 40, 10).await.unwrap().len(), 0);
            assert_eq!(ring.read_at(&file, 0, 0).await.unwrap().len(), 0);
            // Write hands the buffer back; it extends the file.
            let mut w = pool.get(5000);
            w.fill(0xAB);
            let (n, w) = ring.write_at(&file, 9_500, w).await.unwrap();
            assert_eq!((n, w.len()), (5000, 5000));
            assert!(w.iter().all(|&x| x == 0xAB));
            ring.fsync(&file).await.unwrap();
            assert_eq!(file.metadata().unwrap().len(), 14_500);
            let mut check = vec![0; 5000];
            file.read_exact_at(&mut check, 9_500).unwrap();
            assert!(check.iter().all(|&x| x == 0xAB));
        });
    }
    drop(pool.clone());
    wait_quiescent(&pool);
}

#[test]
fn errors_keep_their_kind() {
    let dir = scratch("errors");
    let pool = BufferPool::new();
    let path = dir.join("f");
    make_file(&path, 100);
    let wronly = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let rdonly = std::fs::File::open(&path).unwrap();
    let d = std::fs::File::open(&dir).unwrap();
    for ring in rings(&pool, 8) {
        futures::executor::block_on(async {
            let e = ring.read_at(&wronly, 0, 10).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
            let mut b = pool.get(4);
            b.fill(1);
            let e = ring.write_at(&rdonly, 0, b).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
            let e = ring.read_at(&d, 0, 10).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::IsADirectory, "{e}");
            let std_err = d.read_at(&mut [0; 10], 0).unwrap_err();
            assert_eq!(e.kind(), std_err.kind());
        });
    }
}

async fn many_reads(ring: &Ring, file: &std::fs::File, n: usize, len: usize) {
    let size = file.metadata().unwrap().len();
    let futs = (0..n).map(|i| {
        let off = (i as u64 * 7919 * 4096) % (size - len as u64);
        async move {
            let b = ring.read_at(file, off, len).await.unwrap();
            assert_eq!(b.len(), len);
            assert!(b.iter().enumerate().all(|(j, &x)| x == pattern(off + j as u64)), "bad data at {off}");
        }
    });
    futures::future::join_all(futs).await;
}

#[test]
fn batching_under_tokio() {
    let dir = scratch("tokio");
    let pool = BufferPool::new();
    let path = dir.join("f");
    let file = make_file(&path, 4 << 20);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for ring in rings(&pool, 64) {
        rt.block_on(async {
            // From many tasks at once, too.
            let file = std::sync::Arc::new(file.try_clone().unwrap());
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (ring, file) = (ring.clone(), file.clone());
                    tokio::spawn(async move { many_reads(&ring, &file, scale(200), 4096).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let s = ring.stats();
        println!("{:?}: {s:?}", ring.backend());
        assert!(s.ops >= scale(1600) as u64);
        // A stream per task: each submits its reads in batches.
        rt.block_on(async {
            let file = std::sync::Arc::new(file.try_clone().unwrap());
            let tasks: Vec<_> = (0..4u64)
                .map(|t| {
                    let (ring, file) = (ring.clone(), file.clone());
                    tokio::spawn(async move {
                        use futures::StreamExt;
                        let reads = (0..scale(400) as u64).map(move |i| (((i * 7919 + t) * 4096) % (4 << 20), 4096));
                        let mut s = ring.read_many(&*file, reads, 16).unwrap();
                        while let Some((off, r)) = s.next().await {
                            assert_eq!(r.unwrap()[0], pattern(off));
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let s2 = ring.stats();
        if ring.backend() == Backend::IoUring {
            // One io_uring_enter covers a batch: far fewer submits than ops.
            let (ops, submits) = (s2.ops - s.ops, s2.submit_calls - s.submit_calls);
            assert!(submits * 2 < ops, "no batching: {submits} submits for {ops} ops");
            assert!(s2.max_batch > 1, "{s2:?}");
        }
    }
    wait_quiescent(&pool);
}

#[test]
fn works_under_current_thread_tokio_and_block_on() {
    let dir = scratch("current_thread");
    let pool = BufferPool::new();
    let path = dir.join("f");
    let file = make_file(&path, 1 << 20);
    for ring in rings(&pool, 32) {
        // Wakes come from the ring's completion thread, into tokio's
        // single-threaded scheduler and into `block_on`'s thread park.
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(many_reads(&ring, &file, scale(300), 1000));
        futures::executor::block_on(many_reads(&ring, &file, scale(300), 5000));
        // One future at a time, too: every op waits for its own wake-up.
        futures::executor::block_on(async {
            for i in 0..scale(200) as u64 {
                let b = ring.read_at(&file, i * 100, 100).await.unwrap();
                assert_eq!(b[0], pattern(i * 100));
            }
        });
    }
    wait_quiescent(&pool);
}

#[test]
fn full_ring_waits_never_fails() {
    let dir = scratch("backpressure");
    let pool = BufferPool::new();
    let path = dir.join("f");
    let file = make_file(&path, 1 << 20);
    for ring in rings(&pool, 4) {
        if ring.backend() == Backend::IoUring {
            // Page-cache reads complete in the poll that submits them, so
            // fill the ring with reads that wait: of an empty pipe.
            let (rd, mut wr) = pipe();
            let mut held: Vec<_> = (0..4).map(|_| Box::pin(ring.read_at(&rd, 0, 1))).collect();
            for f in held.iter_mut() {
                assert!(poll_once(f).is_pending());
            }
            let mut more = Box::pin(ring.read_at(&file, 0, 16));
            assert!(poll_once(&mut more).is_pending(), "a full ring waits");
            std::io::Write::write_all(&mut wr, b"abcd").unwrap();
            let got = futures::executor::block_on(futures::future::join_all(held));
            assert!(got.into_iter().all(|r| r.unwrap().len() == 1));
            assert_eq!(futures::executor::block_on(more).unwrap()[1], pattern(1));
        }
        futures::executor::block_on(many_reads(&ring, &file, scale(2000), 512));
        let s = ring.stats();
        assert!(s.slot_waits > 0, "{s:?}");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(many_reads(&ring, &file, scale(2000), 512));
    }
    wait_quiescent(&pool);
}

#[test]
fn large_transfers() {
    let dir = scratch("large");
    let pool = BufferPool::new();
    for ring in rings(&pool, 8) {
        let path = dir.join(format!("{:?}", ring.backend()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        futures::executor::block_on(async {
            let mut w = pool.get(3 << 20);
            for (i, x) in w.iter_mut().enumerate() {
                *x = pattern(i as u64);
            }
            let (n, _) = ring.write_at(&file, 0, w).await.unwrap();
            assert_eq!(n, 3 << 20);
            let r = ring.read_at(&file, 0, 4 << 20).await.unwrap();
            assert_eq!(r.len(), 3 << 20);
            assert!(r.iter().enumerate().all(|(i, &x)| x == pattern(i as u64)));
        });
    }
}

#[test]
fn clones_and_bad_entries() {
    let dir = scratch("outlive");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 100_000);
    for ring in rings(&pool, 8) {
        let ring2 = ring.clone();
        let fut = ring2.read_at(&file, 10, 20);
        drop(ring);
        let b = futures::executor::block_on(fut).unwrap();
        assert_eq!(b[0], pattern(10));
    }
    wait_quiescent(&pool);
    assert!(Ring::builder(&pool).entries(0).build().is_err());
    assert!(Ring::builder(&pool).entries(1 << 20).build().is_err());
}

/// (read end, write end) of a new pipe.
fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    let w = futures::task::noop_waker();
    std::pin::Pin::new(f).poll(&mut std::task::Context::from_waker(&w))
}

/// A waker that counts its wake-ups.
struct Count(std::sync::atomic::AtomicUsize);
impl futures::task::ArcWake for Count {
    fn wake_by_ref(arc: &std::sync::Arc<Self>) {
        arc.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_full_shard_borrows_another_and_waiters_span_shards() {
    use std::future::Future;
    use std::task::Context;
    let dir = scratch("shards");
    let pool = BufferPool::new();
    let path = dir.join("f");
    let file = make_file(&path, 1 << 20);
    // Two shards of one slot each.
    let ring = Ring::builder(&pool).entries(2).shards(2).build().unwrap();
    if ring.backend() != Backend::IoUring {
        return;
    }
    assert_eq!((ring.shards(), ring.entries()), (2, 2));
    let count = std::sync::Arc::new(Count(0.into()));
    let waker = futures::task::waker(count.clone());
    let mut cx = Context::from_waker(&waker);
    // Reads of empty pipes wait in the kernel, holding their slots.
    let (rd1, mut wr1) = pipe();
    let (rd2, mut wr2) = pipe();
    let mut f1 = Box::pin(ring.read_at(&rd1, 0, 100));
    let mut f2 = Box::pin(ring.read_at(&rd2, 0, 100));
    let mut f3 = Box::pin(ring.read_at(&file, 8192, 100));
    // f1 takes this thread's shard, f2 the other one, f3 waits.
    assert!(f1.as_mut().poll(&mut cx).is_pending());
    assert!(f2.as_mut().poll(&mut cx).is_pending());
    assert!(f3.as_mut().poll(&mut cx).is_pending());
    assert_eq!(ring.stats().slot_waits, 1);
    let before = count.0.load(std::sync::atomic::Ordering::SeqCst);
    // f2 completes in the other shard: its slot goes to f3, which is woken.
    std::io::Write::write_all(&mut wr2, b"two").unwrap();
    let b2 = futures::executor::block_on(f2.as_mut()).unwrap();
    assert_eq!(&b2[..], b"two");
    let t = std::time::Instant::now();
    while count.0.load(std::sync::atomic::Ordering::SeqCst) <= before {
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "f3 was not woken");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let b3 = futures::executor::block_on(f3).unwrap();
    assert_eq!(b3[0], pattern(8192));
    std::io::Write::write_all(&mut wr1, b"one").unwrap();
    let b1 = futures::executor::block_on(f1).unwrap();
    assert_eq!(&b1[..], b"one");
    drop((b1, b2, b3));
    // From several threads at once, with more readers than slots.
    let ring = Ring::builder(&pool).entries(6).shards(3).build().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                futures::executor::block_on(many_reads(&ring, &file, scale(300), 700));
                // An fsync completes later, on an io-wq worker: these hold
                // their slots across polls, and the ring fills up.
                let syncs = futures::future::join_all((0..50).map(|_| ring.fsync(&file)));
                assert!(futures::executor::block_on(syncs).into_iter().all(|r| r.is_ok()));
            });
        }
    });
    assert!(ring.stats().slot_waits > 0, "{:?}", ring.stats());
    drop(ring);
    wait_quiescent(&pool);
}
