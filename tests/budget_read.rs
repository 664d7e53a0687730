//! The read layer under a tight `max_outstanding_bytes`: `read`,
//! `read_tokio`, `read_exact`, `copy`, `BufReader`, and the framing readers
//! (`lines`, `length_delimited`, `framed_read`) answer `Pending` while the
//! pool is at its cap, holding no buffer, and finish once bytes come back.

use bufpool::{BufferPool, PooledBuffer};
use futures::{FutureExt, StreamExt};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

const CAP: usize = 64 << 10;

/// A waker that counts its wakes.
struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn tight() -> (BufferPool, PooledBuffer) {
    let pool = BufferPool::builder().max_outstanding_bytes(CAP).read_size(16 << 10).cpus(2).build().unwrap();
    let all = pool.get(CAP);
    assert!(pool.try_get(4096).unwrap_err().is_over_budget());
    (pool, all)
}

/// Polls `f` once at the cap (must be `Pending`, woken later), then frees
/// the cap and polls again (must be ready).
fn waits_then_finishes<F: Future + Unpin>(pool: &BufferPool, held: PooledBuffer, mut f: F) -> F::Output {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(f.poll_unpin(&mut cx).is_pending(), "the read failed or passed the cap instead of waiting");
    assert!(pool.charged_bytes() <= CAP);
    drop(held);
    assert!(count.0.load(Ordering::SeqCst) > 0, "bytes came back but the waiting read was not woken");
    match f.poll_unpin(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("still pending after the cap was freed"),
    }
}

#[test]
fn read_waits_for_budget() {
    let (pool, held) = tight();
    let mut src: &[u8] = b"hello";
    let got = waits_then_finishes(&pool, held, pool.read(&mut src)).unwrap().unwrap();
    assert_eq!(&got[..], b"hello");
}

#[test]
fn read_tokio_and_read_exact_wait_for_budget() {
    let (pool, held) = tight();
    let mut src: &[u8] = b"hello";
    let got = waits_then_finishes(&pool, held, pool.read_tokio(&mut src)).unwrap().unwrap();
    assert_eq!(&got[..], b"hello");
    drop(got);
    let held = pool.get(CAP);
    let mut src: &[u8] = b"0123456789";
    let got = waits_then_finishes(&pool, held, pool.read_exact(&mut src, 10)).unwrap();
    assert_eq!(&got[..], b"0123456789");
}

#[test]
fn copy_waits_for_budget() {
    let (pool, held) = tight();
    let src: &[u8] = b"copied bytes";
    let mut out = Vec::new();
    let n = waits_then_finishes(&pool, held, pool.copy(src, futures::io::Cursor::new(&mut out))).unwrap();
    assert_eq!(n, 12);
    assert_eq!(&out[..], b"copied bytes");
}

#[test]
fn buf_reader_waits_for_budget() {
    use futures::AsyncBufReadExt;
    let (pool, held) = tight();
    let mut r = bufpool::BufReader::new(&pool, &b"buffered"[..]);
    let mut line = String::new();
    let n = waits_then_finishes(&pool, held, Box::pin(r.read_line(&mut line))).unwrap();
    assert_eq!((n, line.as_str()), (8, "buffered"));
}

#[test]
fn framing_readers_wait_for_budget() {
    let (pool, held) = tight();
    let mut lines = pool.lines(&b"one\ntwo\n"[..]);
    let first = waits_then_finishes(&pool, held, lines.next()).unwrap().unwrap();
    assert_eq!(&first[..], b"one");
    drop((first, lines));

    let held = pool.get(CAP);
    let mut frames = pool.length_delimited_tokio(&b"\x00\x00\x00\x03abc"[..]);
    let f = waits_then_finishes(&pool, held, frames.next()).unwrap().unwrap();
    assert_eq!(&f[..], b"abc");
    drop((f, frames));

    let held = pool.get(CAP);
    let mut framed = pool.framed_read(&b"x\ny\n"[..], tokio_util::codec::LinesCodec::new());
    let l = waits_then_finishes(&pool, held, framed.next()).unwrap().unwrap();
    assert_eq!(l, "x");
}

#[test]
fn a_read_larger_than_the_cap_fails_instead_of_waiting_for_ever() {
    let pool = BufferPool::builder().max_outstanding_bytes(4096).read_size(16 << 10).cpus(2).build().unwrap();
    let mut src: &[u8] = b"hello";
    let e = futures::executor::block_on(pool.read(&mut src)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("never"), "{e}");
}

#[test]
fn many_readers_share_a_tight_cap_and_all_finish() {
    // 32 readers of 16 KiB each over a cap of 4 such buffers, every reader
    // holding its chunk a moment: all finish, and the cap holds.
    let pool = BufferPool::builder().max_outstanding_bytes(CAP).read_size(16 << 10).cpus(2).build().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let data = vec![i as u8; 12 << 10];
                    let mut src = &data[..];
                    let b = pool.read_tokio(&mut src).await.unwrap().unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    assert!(b.iter().all(|&x| x == i as u8));
                })
            })
            .collect();
        let all = futures::future::join_all(tasks);
        let done = tokio::time::timeout(std::time::Duration::from_secs(30), all).await.expect("readers starved");
        for r in done {
            r.unwrap();
        }
    });
    assert!(pool.peak_charged_bytes() <= CAP, "{}", pool.peak_charged_bytes());
}
