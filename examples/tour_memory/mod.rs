//! Section 6 of the tour: `max_outstanding_bytes` under a burst, and
//! accounts against a greedy connection.

use crate::common::human;
use crate::{compare, KIB};
use bufpool::BufferPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Section 6: `max_outstanding_bytes` under a burst, and accounts against a
/// greedy connection; pools of their own, so the tour's pool keeps its
/// figures.
pub fn bounding_memory() -> std::io::Result<()> {
    println!("\n== 6. Bounding memory: a cap on the bytes handed out, and an account per connection");
    const CAP: usize = 50 * 64 * KIB;
    // 100 tasks each wanting 64 KiB (2% of the cap) twice: twice the cap at once.
    let burst = |cap: Option<usize>| -> std::io::Result<(usize, usize)> {
        let b = BufferPool::builder();
        let pool = cap.map_or(b.clone(), |c| b.max_outstanding_bytes(c)).build().map_err(std::io::Error::other)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build()?;
        let (live, peak, done) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        rt.block_on(async {
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let (pool, live, peak, done) = (pool.clone(), live.clone(), peak.clone(), done.clone());
                    tokio::spawn(async move {
                        for _ in 0..2 {
                            let b = pool.get_async(64 * KIB).await;
                            peak.fetch_max(
                                live.fetch_add(b.capacity(), Ordering::SeqCst) + b.capacity(),
                                Ordering::SeqCst,
                            );
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            live.fetch_sub(b.capacity(), Ordering::SeqCst);
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("a burst task panicked");
            }
        });
        Ok((peak.load(Ordering::SeqCst), done.load(Ordering::SeqCst)))
    };
    let ((capped, done), (free, _)) = (burst(Some(CAP))?, burst(None)?);
    compare(
        "100 tasks each wanting 64 KiB twice, all at once: most bytes held together",
        format!(
            "{} (max_outstanding_bytes {}; the rest waited their turn, {done} of 100 finished)",
            human(capped as u64),
            human(CAP as u64)
        ),
        "no cap",
        format!("{} (everything at once)", human(free as u64)),
    );
    let ((done, greedy), (done_free, greedy_free)) = (greedy_against_others(true)?, greedy_against_others(false)?);
    compare(
        "one connection whose peer never reads what it is sent, beside 20 others, pool cap 1.6 MiB",
        format!(
            "greedy one paused at {} (account watermarks 128 / 64 KiB); {done} of 20 others finished",
            human(greedy as u64)
        ),
        "no accounts",
        format!(
            "greedy one took {}; {done_free} of 20 others finished (they wait for bytes that never come back)",
            human(greedy_free as u64)
        ),
    );
    Ok(())
}

/// A socket that always has data.
struct Firehose;

impl futures::io::AsyncRead for Firehose {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        buf.fill(b'x');
        std::task::Poll::Ready(Ok(buf.len()))
    }
}

/// One greedy reader that keeps everything it reads, run until it stops,
/// then 20 that read 20 chunks and drop them, on one thread until nothing can
/// progress: (others finished, bytes the greedy one held).
fn greedy_against_others(accounts: bool) -> std::io::Result<(usize, usize)> {
    use futures::task::LocalSpawnExt;
    let pool = BufferPool::builder()
        .max_outstanding_bytes(100 * 16 * KIB)
        .read_size(16 * KIB)
        .build()
        .map_err(std::io::Error::other)?;
    let mut exec = futures::executor::LocalPool::new();
    let (finished, held) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    for k in 0..21 {
        let acct = accounts.then(|| pool.account().watermarks(128 * KIB, 64 * KIB).build());
        let (pool, finished, held) = (pool.clone(), finished.clone(), held.clone());
        let task = async move {
            let mut sock = Firehose;
            let mut kept = Vec::new();
            for i in 0..if k == 0 { 1000 } else { 20 } {
                let b = match &acct {
                    Some(a) => a.read(&mut sock).await,
                    None => pool.read(&mut sock).await,
                };
                let b = b.expect("a firehose never fails").expect("and never ends");
                if k == 0 {
                    kept.push(b);
                    held.store(kept.iter().map(|b| b.capacity()).sum(), Ordering::SeqCst);
                }
                if k != 0 || i % 64 == 63 {
                    yield_now().await;
                }
            }
            if k != 0 {
                finished.fetch_add(1, Ordering::SeqCst);
            }
        };
        exec.spawner().spawn_local(task).map_err(std::io::Error::other)?;
        // The greedy one first, until it stops: then the others arrive.
        exec.run_until_stalled();
    }
    Ok((finished.load(Ordering::SeqCst), held.load(Ordering::SeqCst)))
}

/// Wakes itself and yields once, so the other tasks run.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}
