//! An echo server on `Ring::recv` / `Ring::send` (provided buffer rings on
//! io_uring, or the readiness fallback with `--fallback`), driven by its own
//! loopback clients, and stopping by itself.
//!
//! ```text
//! cargo run --release --example echo_uring -- --conns 64 --seconds 5
//! cargo run --release --example echo_uring -- --conns 64 --seconds 5 --fallback
//! cargo run --release --example echo_uring -- --idle 8000 --conns 0
//! ```
//!
//! It prints the round trips per second, per CPU-second of the whole process
//! (server and clients), the ring's socket counters, and with `--idle N` the
//! user-space memory each idle connection costs: RSS growth and the pool's
//! `outstanding_bytes` growth, divided by `N`.

mod common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use common::{human, Cli, Context};
use futures::StreamExt;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "\
usage: echo_uring [--conns N] [--seconds S] [--size BYTES] [--idle N] [--fallback]

Runs an echo server on a bufpool Ring (Ring::accept, Ring::recv, Ring::send)
on 127.0.0.1, and N clients doing round trips of BYTES each for S seconds.

  --conns N      clients doing round trips (default 64)
  --seconds S    how long they run (default 3)
  --size BYTES   bytes per round trip (default 64)
  --idle N       first open N idle connections and report their memory (default 0)
  --fallback     use the readiness fallback even where io_uring works
";

fn main() {
    let mut cli = Cli::new("echo_uring", USAGE);
    let conns: usize = cli.value("--conns", 64);
    let secs: f64 = cli.value("--seconds", 3.0);
    let size: usize = cli.value("--size", 64);
    let idle: usize = cli.value("--idle", 0);
    let fallback = cli.flag("--fallback");
    if size == 0 {
        cli.fail("--size must be positive");
    }
    cli.finish();
    common::run("echo_uring", || echo(conns, secs, size, idle, fallback));
}

/// Resident set size of this process, from /proc/self/statm.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// User plus system CPU seconds of this process.
fn cpu_secs() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is valid and writable.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn echo(conns: usize, secs: f64, size: usize, idle: usize, fallback: bool) -> std::io::Result<()> {
    let pool = BufferPool::new();
    let ring = Ring::builder(&pool).recv_buffers(256, 16 << 10).force_fallback(fallback).build()?;
    let engine = if ring.recv_uses_buffer_ring() { "io_uring, provided buffer ring" } else { "readiness fallback" };
    let listener = TcpListener::bind("127.0.0.1:0").context(|| "bind 127.0.0.1:0".into())?;
    let addr = listener.local_addr()?;
    // std listens with a backlog of 128: a burst of connects past it loses
    // handshakes, whose clients then wait for retransmissions. Listening again
    // raises it.
    use std::os::fd::AsRawFd;
    // SAFETY: `listen` on our own listening socket.
    if unsafe { libc::listen(listener.as_raw_fd(), 4096) } != 0 {
        return Err(std::io::Error::last_os_error()).context(|| "listen".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let served = Arc::new(AtomicU64::new(0));
    {
        let (ring, served) = (ring.clone(), served.clone());
        rt.spawn(async move {
            loop {
                let Ok((s, _)) = ring.accept(&listener).await else { return };
                let (ring, served) = (ring.clone(), served.clone());
                tokio::spawn(async move {
                    let mut rx = ring.recv(&s);
                    while let Some(Ok(chunk)) = rx.next().await {
                        if ring.send(&s, chunk).await.is_err() {
                            break;
                        }
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
    }
    println!("echo_uring on {addr}: {engine}, {} shard(s)", ring.shards());

    let mut idle_clients = Vec::new();
    if idle > 0 {
        // Warm up: one connection, so the engine and runtime are started.
        let warm = std::net::TcpStream::connect(addr)?;
        std::thread::sleep(Duration::from_millis(200));
        let (rss0, out0) = (rss(), pool.stats().outstanding_bytes);
        for _ in 0..idle {
            idle_clients.push(std::net::TcpStream::connect(addr).context(|| format!("connect {addr}"))?);
        }
        // Every server task has polled its stream (armed its recv).
        std::thread::sleep(Duration::from_millis(500 + idle as u64 / 10));
        let (rss1, out1) = (rss(), pool.stats().outstanding_bytes);
        println!(
            "{idle} idle connections: RSS +{} ({} B each), pool outstanding +{} ({} B each)",
            human(rss1.saturating_sub(rss0)),
            rss1.saturating_sub(rss0) / idle as u64,
            human(out1.saturating_sub(out0)),
            out1.saturating_sub(out0) / idle as u64
        );
        drop(warm);
    }

    if conns > 0 {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let cpu0 = cpu_secs();
        let t0 = Instant::now();
        let clients: Vec<_> = (0..conns)
            .map(|_| {
                let (stop, ops) = (stop.clone(), ops.clone());
                rt.spawn(async move {
                    let mut c = tokio::net::TcpStream::connect(addr).await?;
                    c.set_nodelay(true)?;
                    let msg = vec![7u8; size];
                    let mut back = vec![0u8; size];
                    // Relaxed: a stop flag; the join below orders the rest.
                    while !stop.load(Ordering::Relaxed) {
                        c.write_all(&msg).await?;
                        c.read_exact(&mut back).await?;
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok::<(), std::io::Error>(())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            rt.block_on(c).map_err(std::io::Error::other)??;
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_secs() - cpu0);
        let n = ops.load(Ordering::Relaxed);
        println!(
            "{conns} connections, {size} B round trips: {:.0} ops/s, {:.0} ops per CPU-second ({n} in {wall:.2} s, {cpu:.2} CPU-s)",
            n as f64 / wall,
            n as f64 / cpu
        );
    }
    let s = ring.stats();
    println!("ring: {} recv completions, {} ENOBUFS, {} re-arms", s.recv, s.enobufs, s.rearms);
    drop(idle_clients);
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
