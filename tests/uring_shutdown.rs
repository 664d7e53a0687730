//! The backend threads exit once the last `Ring` handle is gone, on both
//! backends, even when the io_uring completion thread is blocked in the kernel.
mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use std::time::{Duration, Instant};
use uring_common::*;

fn backend_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.starts_with("bufpool-uring") || c.starts_with("bufpool-io-"))
        .count()
}

fn wait_no_threads() {
    let t = Instant::now();
    while backend_threads() > 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "{} backend threads still alive", backend_threads());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn threads_exit_after_last_handle() {
    let dir = scratch("shutdown");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    for fallback in [false, true] {
        let ring = Ring::builder(&pool).entries(16).force_fallback(fallback).build().unwrap();
        let t = Instant::now();
        while backend_threads() == 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "no backend thread started");
            std::thread::sleep(Duration::from_millis(1));
        }
        futures::executor::block_on(async {
            // fsync completes asynchronously: the completion thread ends up
            // waiting in io_uring_enter.
            ring.fsync(&file).await.unwrap();
            let b = ring.read_at(&file, 0, 100).await.unwrap();
            assert_eq!(b[1], pattern(1));
        });
        std::thread::sleep(Duration::from_millis(50));
        let clone = ring.clone();
        drop(ring);
        assert!(backend_threads() > 0, "a clone keeps the backend");
        drop(clone);
        wait_no_threads();
    }
    // Idle rings (never used) shut down too.
    for fallback in [false, true] {
        drop(Ring::builder(&pool).entries(4).force_fallback(fallback).build().unwrap());
        wait_no_threads();
    }
    wait_quiescent(&pool);
}
