//! `Ring::register`: a registered file does everything a plain one does, on
//! both backends; it outlives the caller's descriptor; its table entries are
//! freed on drop; it serves many tasks; dropping its operations in flight is
//! safe.
mod uring_common;

use bufpool::uring::{Backend, Ring};
use bufpool::BufferPool;
use futures::task::noop_waker;
use futures::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use uring_common::*;

/// True if this kernel has sparse file tables (the ring then registers).
fn tables(ring: &Ring) -> bool {
    ring.backend() == Backend::IoUring && {
        let f = ring.register(&std::fs::File::open("Cargo.toml").unwrap()).unwrap();
        f.is_registered()
    }
}

#[test]
fn every_operation_works_and_outlives_the_callers_descriptor() {
    let dir = scratch("reg");
    let pool = BufferPool::new();
    let path = dir.join("f");
    let data: Vec<u8> = (0..100_000u64).map(pattern).collect();
    for ring in rings(&pool, 32) {
        let file = make_file(&path, 100_000);
        let reg = ring.register(&file).unwrap();
        drop(file); // the handle has its own descriptor
        assert_eq!(reg.is_registered(), tables(&ring), "{:?}", ring.backend());
        let before = ring.stats().registered_file_ops;
        futures::executor::block_on(async {
            let b = reg.read_at(99_990, 100).await.unwrap();
            assert_eq!(&b[..], &data[99_990..]);
            let mut w = pool.get(5);
            w.copy_from_slice(b"hello");
            let (n, _w) = reg.write_at(1000, w).await.unwrap();
            assert_eq!(n, 5);
            reg.fsync().await.unwrap();
            let mut s = reg.read_many((0..10u64).map(|i| (i * 500, 500)), 4).unwrap();
            let mut k = 0;
            while let Some((off, r)) = s.next().await {
                let b = r.unwrap();
                let mut want = data[off as usize..off as usize + 500].to_vec();
                if off == 1000 {
                    want[..5].copy_from_slice(b"hello");
                }
                assert_eq!(&b[..], &want[..], "read at {off}");
                k += 1;
            }
            assert_eq!(k, 10);
        });
        assert_eq!(&std::fs::read(&path).unwrap()[1000..1005], b"hello");
        let used = ring.stats().registered_file_ops - before;
        if reg.is_registered() {
            assert_eq!(used, 13, "read, write, fsync and ten reads, all through the table");
        } else {
            assert_eq!(used, 0);
        }
        drop(reg);
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn table_entries_are_freed_on_drop() {
    let dir = scratch("reg-free");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 4096);
    let ring = Ring::builder(&pool).entries(64).shards(2).build().unwrap();
    if !tables(&ring) {
        eprintln!("no registered file tables here: nothing to test");
        return;
    }
    // Far more registrations than a table holds, one after another.
    for _ in 0..300 {
        let reg = ring.register(&file).unwrap();
        assert!(reg.is_registered());
        assert_eq!(futures::executor::block_on(reg.read_at(0, 10)).unwrap().len(), 10);
    }
    // 64 at once fill each table; the 65th falls back to plain descriptors
    // and still reads correctly.
    let held: Vec<_> = (0..64).map(|_| ring.register(&file).unwrap()).collect();
    assert!(held.iter().all(|r| r.is_registered()));
    let extra = ring.register(&file).unwrap();
    assert!(!extra.is_registered());
    let b = futures::executor::block_on(extra.read_at(0, 4096)).unwrap();
    assert_eq!(b[..], (0..4096u64).map(pattern).collect::<Vec<_>>()[..]);
    drop(held);
    assert!(ring.register(&file).unwrap().is_registered());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_handle_serves_many_tasks() {
    let dir = scratch("reg-tasks");
    let pool = BufferPool::new();
    let data: Vec<u8> = (0..(1u64 << 20)).map(pattern).collect();
    let file = make_file(&dir.join("f"), 1 << 20);
    for ring in rings(&pool, 64) {
        let reg = Arc::new(ring.register(&file).unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let n = scale(500) as u64;
        rt.block_on(async {
            let tasks: Vec<_> = (0..16u64)
                .map(|t| {
                    let (reg, data) = (reg.clone(), data.clone());
                    tokio::spawn(async move {
                        for i in 0..n {
                            let off = ((i * 16 + t) * 4093) % ((1 << 20) - 4096);
                            let b = reg.read_at(off, 4096).await.unwrap();
                            assert_eq!(&b[..], &data[off as usize..off as usize + 4096]);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        drop(reg);
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_operations_in_flight_then_the_handle() {
    let dir = scratch("reg-drop");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 4 << 20);
    let w = noop_waker();
    for ring in rings(&pool, 64) {
        let reg = ring.register(&file).unwrap();
        let mut futs: Vec<_> = (0..scale(500) as u64).map(|i| reg.read_at((i * 8192) % (4 << 20), 64 << 10)).collect();
        for f in futs.iter_mut().step_by(2) {
            let _ = Pin::new(f).poll(&mut Context::from_waker(&w));
        }
        // Queued, submitted, done and never polled, dropped in one go, then
        // the handle (its entries cleared with reads maybe still in flight).
        drop(futs);
        drop(reg);
        wait_quiescent(&pool);
        // The ring is fine afterwards.
        assert_eq!(futures::executor::block_on(ring.read_at(&file, 0, 7)).unwrap().len(), 7);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A registered file's futures batch their submissions: each queues on its
/// first poll and one `io_uring_enter` submits them all.
#[test]
fn registered_futures_batch() {
    let dir = scratch("reg-batch");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    let ring = Ring::builder(&pool).entries(64).shards(1).build().unwrap();
    if !tables(&ring) {
        eprintln!("no registered file tables here: nothing to test");
        return;
    }
    let reg = ring.register(&file).unwrap();
    let s0 = ring.stats();
    futures::executor::block_on(async {
        let futs = (0..32u64).map(|i| reg.read_at(i * 4096, 4096));
        for (i, b) in futures::future::join_all(futs).await.into_iter().enumerate() {
            assert_eq!(b.unwrap()[0], pattern(i as u64 * 4096));
        }
    });
    let s1 = ring.stats();
    let (ops, submits) = (s1.ops - s0.ops, s1.submit_calls - s0.submit_calls);
    assert_eq!(ops, 32);
    assert!(submits * 4 <= ops, "{submits} submits for {ops} registered reads: {s1:?}");
}

/// Dropping a registered file's queued operation (never submitted) and then
/// the file clears its table entry at once: the kernel holds no reference to
/// the file after that (a pipe's reader sees end of file).
#[test]
fn dropping_a_queued_operation_and_its_file_releases_the_file() {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd};
    let pool = BufferPool::new();
    let ring = Ring::builder(&pool).entries(8).shards(1).build().unwrap();
    if !tables(&ring) {
        eprintln!("no registered file tables here: nothing to test");
        return;
    }
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) }, 0);
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (mut rd, wr) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
    let reg = ring.register(&wr).unwrap();
    assert!(reg.is_registered());
    let mut buf = pool.get(3);
    buf.copy_from_slice(b"abc");
    let mut f = reg.write_at(0, buf);
    let w = noop_waker();
    let _ = Pin::new(&mut f).poll(&mut Context::from_waker(&w));
    drop(f);
    drop(reg);
    drop(wr);
    let mut got = [0u8; 8];
    match rd.read(&mut got) {
        Ok(n) => assert_eq!(&got[..n], b"", "the dropped write reached the pipe"),
        Err(e) => panic!("the pipe's write end is still open in the kernel ({e}; fd {})", rd.as_raw_fd()),
    }
}
