//! The 2× burst under `max_outstanding_bytes`: 100 tasks, each wanting 2% of
//! the cap, twice over. The peak stays at or under the cap, and every task
//! finishes (bounded in time).

use bufpool::BufferPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CAP: usize = 50 * (64 << 10);
const EACH: usize = CAP / 50;
const TASKS: usize = 100;
const ROUNDS: usize = 2;

#[test]
fn a_2x_burst_stays_under_the_cap_and_every_task_finishes() {
    let pool = BufferPool::builder().max_outstanding_bytes(CAP).cpus(2).build().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    // Bytes the tasks hold, counted after each get returns and before each
    // drop: never more than the buffers really live.
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let (pool, live, peak, finished) = (pool.clone(), live.clone(), peak.clone(), finished.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let b = pool.get_async(EACH).await;
                    let now = live.fetch_add(b.capacity(), Ordering::SeqCst) + b.capacity();
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1 + (i % 3) as u64)).await;
                    live.fetch_sub(b.capacity(), Ordering::SeqCst);
                    drop(b);
                }
                finished.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let all = futures::future::join_all(tasks);
        tokio::time::timeout(Duration::from_secs(60), all).await.expect("the burst did not finish in 60 s");
    });
    let counted = peak.load(Ordering::SeqCst);
    let charged = pool.peak_charged_bytes();
    println!("burst: cap {CAP}, peak held by tasks {counted}, peak charged {charged}");
    assert_eq!(finished.load(Ordering::SeqCst), TASKS);
    assert!(counted <= CAP, "tasks held {counted} > cap {CAP}");
    assert!(charged <= CAP, "the pool charged {charged} > cap {CAP}");
    assert!(counted >= CAP / 2, "the burst never pressed the cap ({counted}), so it tested nothing");
    assert!(pool.charged_bytes() <= CAP);
}

#[test]
fn a_2x_burst_of_blocking_gets_on_threads_finishes_under_the_cap() {
    let pool = BufferPool::builder().max_outstanding_bytes(CAP).cpus(2).build().unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..TASKS)
        .map(|_| {
            let (pool, live, peak) = (pool.clone(), live.clone(), peak.clone());
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let b = pool.get(EACH);
                    let now = live.fetch_add(b.capacity(), Ordering::SeqCst) + b.capacity();
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    live.fetch_sub(b.capacity(), Ordering::SeqCst);
                }
            })
        })
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for t in threads {
            t.join().unwrap();
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("blocking gets did not finish in 60 s");
    let counted = peak.load(Ordering::SeqCst);
    println!("threads: cap {CAP}, peak held {counted}, peak charged {}", pool.peak_charged_bytes());
    assert!(counted <= CAP && pool.peak_charged_bytes() <= CAP);
}
