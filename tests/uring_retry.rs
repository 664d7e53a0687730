//! Requirement 7 through the public API, on both backends: `EINTR` and
//! `EAGAIN` are retried, short writes continue, and other errors keep their
//! `io::ErrorKind`. The kernel does not return `EINTR` to order, so the ring is
//! built with the test-only `RingBuilder::inject_faults`, which alters the
//! next raw results (CQEs, or the thread backend's `pread`/`pwrite`/`fsync`
//! returns) before the backend judges them.
mod uring_common;

use bufpool::uring::{Backend, Fault, Ring};
use bufpool::BufferPool;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use uring_common::*;

const EINTR: Fault = Fault::Errno(libc::EINTR);
const EAGAIN: Fault = Fault::Errno(libc::EAGAIN);

/// Both backends with the same faults queued: io_uring first if the kernel
/// has it, then the thread backend.
fn rings_with(pool: &BufferPool, faults: &[Fault]) -> Vec<Ring> {
    let mut v = Vec::new();
    let r = Ring::builder(pool).entries(64).inject_faults(faults.iter().copied()).build().unwrap();
    if r.backend() == Backend::IoUring {
        v.push(r);
    } else {
        eprintln!("io_uring unavailable here: testing the thread backend only");
    }
    v.push(Ring::builder(pool).entries(64).force_fallback(true).inject_faults(faults.iter().copied()).build().unwrap());
    v
}

fn check_pattern(b: &[u8], off: u64) {
    assert!(b.iter().enumerate().all(|(j, &x)| x == pattern(off + j as u64)), "bad data at {off}");
}

#[test]
fn eintr_and_eagain_reads_are_retried() {
    let dir = scratch("retry-read");
    let pool = BufferPool::new();
    for ring in rings_with(&pool, &[EINTR, EAGAIN, EINTR, EAGAIN]) {
        let file = make_file(&dir.join(format!("{:?}", ring.backend())), 100_000);
        futures::executor::block_on(async {
            // Four faults, then the real result: one read absorbs them all.
            let b = ring.read_at(&file, 5_000, 8192).await.unwrap();
            assert_eq!(b.len(), 8192, "{:?}", ring.backend());
            check_pattern(&b, 5_000);
            assert_eq!(ring.stats().retries, 4, "{:?}", ring.backend());
            // The faults are used up: no more retries.
            let b = ring.read_at(&file, 99_000, 4096).await.unwrap();
            assert_eq!(b.len(), 1000, "short at end of file");
            check_pattern(&b, 99_000);
            assert_eq!(ring.stats().retries, 4);
        });
    }
    wait_quiescent(&pool);
}

#[test]
fn retried_reads_at_end_of_file_still_return_the_short_count() {
    let dir = scratch("retry-eof");
    let pool = BufferPool::new();
    for ring in rings_with(&pool, &[EAGAIN, EINTR]) {
        let file = make_file(&dir.join(format!("{:?}", ring.backend())), 10_000);
        futures::executor::block_on(async {
            let b = ring.read_at(&file, 9_900, 4096).await.unwrap();
            assert_eq!(b.len(), 100, "{:?}", ring.backend());
            check_pattern(&b, 9_900);
            assert_eq!(ring.stats().retries, 2);
        });
    }
}

#[test]
fn short_and_interrupted_writes_continue_to_the_end() {
    let dir = scratch("retry-write");
    let pool = BufferPool::new();
    // A short write of 1000, EINTR, a short write of 1, EAGAIN, then the rest.
    let faults = [Fault::Short(1000), EINTR, Fault::Short(1), EAGAIN];
    for ring in rings_with(&pool, &faults) {
        let file = make_file(&dir.join(format!("{:?}", ring.backend())), 20_000);
        futures::executor::block_on(async {
            let mut w = pool.get(5000);
            w.iter_mut().enumerate().for_each(|(i, x)| *x = (i % 251) as u8);
            let (n, w) = ring.write_at(&file, 3_000, w).await.unwrap();
            assert_eq!((n, w.len()), (5000, 5000), "{:?}", ring.backend());
            assert_eq!(ring.stats().retries, 4, "{:?}", ring.backend());
            let mut got = vec![0; 5000];
            file.read_exact_at(&mut got, 3_000).unwrap();
            assert!(got.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8), "{:?}", ring.backend());
            // Around it, the file is untouched.
            let mut edge = [0u8; 2];
            file.read_exact_at(&mut edge, 2_999).unwrap();
            assert_eq!(edge[0], pattern(2_999));
            file.read_exact_at(&mut edge, 7_999).unwrap();
            assert_eq!(edge[1], pattern(8_000));
        });
    }
}

#[test]
fn fsync_is_retried() {
    let dir = scratch("retry-fsync");
    let pool = BufferPool::new();
    for ring in rings_with(&pool, &[EINTR, EINTR, EAGAIN]) {
        let file = make_file(&dir.join(format!("{:?}", ring.backend())), 100);
        futures::executor::block_on(ring.fsync(&file)).unwrap();
        assert_eq!(ring.stats().retries, 3, "{:?}", ring.backend());
    }
}

#[test]
fn other_errors_keep_their_kind_even_after_retries() {
    let dir = scratch("retry-errors");
    let pool = BufferPool::new();
    let cases = [
        (libc::EACCES, ErrorKind::PermissionDenied),
        (libc::ENOSPC, ErrorKind::StorageFull),
        (libc::ETIMEDOUT, ErrorKind::TimedOut),
        (libc::EIO, std::io::Error::from_raw_os_error(libc::EIO).kind()),
    ];
    for (errno, kind) in cases {
        // Read: EINTR, then the error. Write: EAGAIN, a short count, then the error.
        let faults = [EINTR, Fault::Errno(errno), EAGAIN, Fault::Short(10), Fault::Errno(errno)];
        for ring in rings_with(&pool, &faults) {
            let file = make_file(&dir.join(format!("{:?}-{errno}", ring.backend())), 10_000);
            futures::executor::block_on(async {
                let e = ring.read_at(&file, 0, 4096).await.unwrap_err();
                assert_eq!((e.raw_os_error(), e.kind()), (Some(errno), kind), "{:?}: {e}", ring.backend());
                let mut w = pool.get(100);
                w.fill(7);
                let e = ring.write_at(&file, 0, w).await.unwrap_err();
                assert_eq!((e.raw_os_error(), e.kind()), (Some(errno), kind), "{:?}: {e}", ring.backend());
                assert_eq!(ring.stats().retries, 3, "{:?}", ring.backend());
                // The faults are used up: the ring works normally again.
                let b = ring.read_at(&file, 100, 100).await.unwrap();
                assert_eq!(b.len(), 100);
            });
        }
    }
    wait_quiescent(&pool);
}

#[test]
fn many_concurrent_reads_with_interleaved_faults() {
    let dir = scratch("retry-many");
    let pool = BufferPool::new();
    // Every other result of the first 200 is EINTR or EAGAIN.
    let faults: Vec<Fault> =
        (0..200).map(|i| [EINTR, Fault::Short(usize::MAX), EAGAIN, Fault::Short(usize::MAX)][i % 4]).collect();
    for ring in rings_with(&pool, &faults) {
        let file = make_file(&dir.join(format!("{:?}", ring.backend())), 1 << 20);
        let run = async {
            let futs = (0..300u64).map(|i| {
                let (ring, file) = (&ring, &file);
                async move {
                    let off = (i * 7919 * 512) % ((1 << 20) - 4096);
                    let b = ring.read_at(file, off, 4096).await.unwrap();
                    assert_eq!(b.len(), 4096);
                    check_pattern(&b, off);
                }
            });
            futures::future::join_all(futs).await;
        };
        futures::executor::block_on(run);
        assert_eq!(ring.stats().retries, 100, "{:?}", ring.backend());
    }
    // And under tokio's multi-thread runtime, io_uring or not.
    let ring = Ring::builder(&pool).entries(16).inject_faults(faults.iter().copied()).build().unwrap();
    let file = std::sync::Arc::new(make_file(&dir.join("tokio"), 1 << 20));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..300u64)
            .map(|i| {
                let (ring, file) = (ring.clone(), file.clone());
                tokio::spawn(async move {
                    let off = (i * 4099) % ((1 << 20) - 4096);
                    let b = ring.read_at(&*file, off, 4096).await.unwrap();
                    assert_eq!(b.len(), 4096);
                    check_pattern(&b, off);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(ring.stats().retries, 100);
    drop(ring);
    wait_quiescent(&pool);
}
