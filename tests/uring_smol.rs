//! The ring under smol's executor (`async-executor`, which `smol::spawn`
//! runs on, driven by `futures-lite`'s `block_on` on several threads, as
//! smol's own examples do): file reads and a socket echo spread over
//! tasks that may move between threads, on both backends.
mod uring_common;

use async_executor::Executor;
use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures_lite::future;
use std::net::TcpListener;
use std::sync::Arc;
use uring_common::*;

/// Runs `f` on an executor with `threads` threads running it until `f`
/// returns.
fn on_smol<T>(threads: usize, f: impl FnOnce(Arc<Executor<'static>>) -> T) -> T {
    let ex = Arc::new(Executor::new());
    let (stops, workers): (Vec<_>, Vec<_>) = (0..threads)
        .map(|_| {
            let (stop, stopped) = futures::channel::oneshot::channel::<()>();
            let ex = ex.clone();
            (stop, std::thread::spawn(move || future::block_on(ex.run(stopped))))
        })
        .unzip();
    let out = f(ex);
    // Dropping the senders ends every worker's `run` (with `Canceled`).
    drop(stops);
    for w in workers {
        let _canceled = w.join().unwrap();
    }
    out
}

#[test]
fn file_reads_on_smol_tasks_match_the_file() {
    let dir = scratch("smol-reads");
    let pool = BufferPool::new();
    let file = Arc::new(make_file(&dir.join("f"), 1 << 20));
    for ring in rings(&pool, 16) {
        let ring = Arc::new(ring);
        on_smol(2, |ex| {
            let tasks: Vec<_> = (0..32u64)
                .map(|t| {
                    let (ring, file) = (ring.clone(), file.clone());
                    ex.spawn(async move {
                        for k in 0..16u64 {
                            let off = (t * 16 + k) * 2048 % ((1 << 20) - 4096);
                            let b = ring.read_at(&*file, off, 4096).await.unwrap();
                            assert!(b.iter().enumerate().all(|(i, &x)| x == pattern(off + i as u64)));
                        }
                    })
                })
                .collect();
            future::block_on(async {
                for t in tasks {
                    t.await;
                }
            })
        });
    }
    wait_quiescent(&pool);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn socket_echo_on_smol_tasks() {
    let pool = BufferPool::new();
    let rings = {
        let mut v = vec![Ring::builder(&pool).shards(1).recv_buffers(16, 4096).build().unwrap()];
        v.push(Ring::builder(&pool).force_fallback(true).recv_buffers(16, 4096).build().unwrap());
        v
    };
    for ring in rings {
        let ring = Arc::new(ring);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let l = Arc::new(l);
        const CONNS: usize = 8;
        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                std::thread::spawn(move || {
                    let msg: Vec<u8> = (0..(64 << 10) as u64).map(|k| pattern(k + i as u64)).collect();
                    echo_client(addr, msg.clone()) == msg
                })
            })
            .collect();
        on_smol(2, |ex| {
            let servers: Vec<_> = (0..CONNS)
                .map(|_| {
                    let (ring, l) = (ring.clone(), l.clone());
                    ex.spawn(async move { echo_one(&ring, &l).await })
                })
                .collect();
            future::block_on(async {
                for t in servers {
                    t.await;
                }
            })
        });
        for c in clients {
            assert!(c.join().unwrap(), "an echo came back wrong ({:?})", ring.backend());
        }
    }
    wait_quiescent(&pool);
}
