//! A forked child cannot use its parent's rings: every use is an error (it
//! would reap the parent's completions), dropping them touches nothing, and
//! the parent's ring goes on working. One test in its own binary, so the
//! fork happens with as few threads as possible.
mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures::task::noop_waker;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use uring_common::*;

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let w = noop_waker();
    Pin::new(f).poll(&mut Context::from_waker(&w))
}

/// In the child: 0 if every use of the parent's `ring` (and of `stream`,
/// made in the parent) fails as it should.
fn child_checks<S: futures::Stream<Item = (u64, std::io::Result<bufpool::PooledBuffer>)> + Unpin>(
    ring: &Ring,
    file: &std::fs::File,
    stream: &mut S,
) -> i32 {
    use futures::StreamExt;
    let w = noop_waker();
    let mut cx = Context::from_waker(&w);
    match stream.poll_next_unpin(&mut cx) {
        Poll::Ready(Some((_, Err(_)))) => {}
        _ => return 5,
    }
    if !matches!(stream.poll_next_unpin(&mut cx), Poll::Ready(None)) {
        return 6;
    }
    match poll_once(&mut ring.read_at(file, 0, 16)) {
        Poll::Ready(Err(e)) if e.to_string().contains("fork") => {}
        Poll::Ready(Ok(_)) => return 1,
        _ => return 2,
    }
    match poll_once(&mut ring.fsync(file)) {
        Poll::Ready(Err(_)) => {}
        _ => return 3,
    }
    if ring.read_many(file, [(0, 16)], 4).is_ok() || ring.register(file).is_ok() {
        return 4;
    }
    0
}

#[test]
fn a_forked_child_cannot_use_the_parents_ring() {
    let dir = scratch("fork");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 16);
    for fallback in [false, true] {
        let ring = Ring::builder(&pool).entries(8).force_fallback(fallback).build().unwrap();
        futures::executor::block_on(ring.read_at(&file, 0, 16)).unwrap();
        let mut stream = ring.read_many(&file, [(0, 16), (16, 16)], 2).unwrap();
        // SAFETY: the child runs only the checks (no locks a parent thread
        // could hold but the ring's own, which the checks must not take) and
        // then `_exit`s without running destructors or atexit handlers.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = child_checks(&ring, &file, &mut stream);
            // Dropping the parent's ring in the child must not touch it.
            drop(stream);
            drop(ring);
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "fallback {fallback}: the child used the parent's ring");
        // The parent's ring, and its stream, still work.
        let got = futures::executor::block_on(futures::StreamExt::collect::<Vec<_>>(stream));
        assert_eq!(got.len(), 2);
        assert!(got.into_iter().all(|(_, r)| r.unwrap().len() == 16));
        let b = futures::executor::block_on(ring.read_at(&file, 1, 4)).unwrap();
        assert_eq!(b[0], pattern(1));
    }
}
