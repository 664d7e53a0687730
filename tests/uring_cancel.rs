//! Cancellation safety: dropped in-flight operations never free memory the
//! kernel may still write, every buffer comes home, and a dropped operation
//! never touches a file descriptor number after its drop returns.
mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures::task::noop_waker;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::pin::Pin;
use std::task::{Context, Poll};
use uring_common::*;

/// Polls a future once with a no-op waker.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let w = noop_waker();
    Pin::new(f).poll(&mut Context::from_waker(&w))
}

#[test]
fn dropping_thousands_of_in_flight_reads() {
    let dir = scratch("drop");
    let pool = BufferPool::builder().alignment(4096).build().unwrap();
    let path = dir.join("f");
    let file = make_file(&path, 8 << 20);
    // O_DIRECT where the file system allows it: the reads then really are in
    // flight (DMA into our buffers) when their futures are dropped.
    let direct = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(&path).ok();
    let n = scale(4000);
    for ring in rings(&pool, 256) {
        for f in [Some(&file), direct.as_ref()].into_iter().flatten() {
            let mut futs: Vec<_> =
                (0..n).map(|i| ring.read_at(f, ((i * 4096 * 13) % (8 << 20)) as u64, 64 << 10)).collect();
            for fut in futs.iter_mut() {
                let _ = poll_once(fut);
            }
            // Drop in an interleaved order: some done, some in flight, some
            // queued, some waiting for a slot.
            let mut i = 0;
            futs.retain(|_| {
                i += 1;
                i % 3 != 0
            });
            drop(futs);
        }
        // Now with the ring dropped right after the futures.
        let mut futs: Vec<_> = (0..n).map(|i| ring.read_at(&file, (i * 512) as u64, 8192)).collect();
        for fut in futs.iter_mut() {
            let _ = poll_once(fut);
        }
        drop(futs);
        drop(ring);
    }
    wait_quiescent(&pool);
    // Nothing was corrupted: recycled buffers read correctly.
    let ring = Ring::new(&pool, 64).unwrap();
    futures::executor::block_on(async {
        for i in 0..scale(200) as u64 {
            let b = ring.read_at(&file, i * 4096, 64 << 10).await.unwrap();
            assert!(b.iter().enumerate().all(|(j, &x)| x == pattern(i * 4096 + j as u64)));
        }
    });
    drop(ring);
    wait_quiescent(&pool);
    let s = pool.stats();
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    println!("{s}");
}

#[test]
fn dropped_write_never_hits_a_reused_descriptor() {
    // Cancel writes to file A, close A, open B (it gets A's descriptor number):
    // B must never receive A's bytes.
    let dir = scratch("fdreuse");
    let pool = BufferPool::new();
    for (k, ring) in rings(&pool, 32).into_iter().enumerate() {
        for round in 0..scale(20) {
            let a_path = dir.join(format!("a{k}-{round}"));
            let b_path = dir.join(format!("b{k}-{round}"));
            let a = std::fs::File::create(&a_path).unwrap();
            let a_fd = a.as_raw_fd();
            let mut futs: Vec<_> = (0..100)
                .map(|i| {
                    let mut buf = pool.get(4096);
                    buf.fill(0xEE);
                    ring.write_at(&a, i * 4096, buf)
                })
                .collect();
            for f in futs.iter_mut() {
                let _ = poll_once(f);
            }
            drop(futs);
            drop(a);
            let b =
                std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&b_path).unwrap();
            let same = b.as_raw_fd() == a_fd;
            wait_quiescent(&pool);
            assert_eq!(b.metadata().unwrap().len(), 0, "a cancelled write reached the wrong file (same fd: {same})");
            let mut x = [0u8; 1];
            assert_eq!(b.read_at(&mut x, 0).unwrap(), 0);
        }
    }
}
