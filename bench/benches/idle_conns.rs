//! Sockets: what an idle connected TCP connection costs the server in user
//! space, on loopback: RSS growth and the pool's `outstanding_bytes` growth
//! per connection, for the ring (io_uring, provided-buffer ring), its
//! readiness fallback, tokio + `BufReader` (8 KiB), tokio + `pool.read_tokio`
//! and tokio + `BytesMut` (16 KiB).
//!
//! The clients run in a child process, so only the server side is in the
//! figure: each server has accepted every connection and its handler has
//! polled once (is waiting for bytes). `ROUNDS` (2) rounds, interleaved;
//! medians.
//!
//! ```text
//! cargo bench -p bench --bench idle_conns
//! BENCH_IDLE=10000 ROUNDS=1 BENCH_ONLY=ring cargo bench -p bench --bench idle_conns
//! ```

#[path = "net/mod.rs"]
mod net;

use net::{Client, Server};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn main() {
    net::client_main();
    let limit = net::raise_nofile();
    let n: usize = net::env("BENCH_IDLE", 10_000);
    let rounds: usize = net::env("ROUNDS", 2);
    let workers: usize = net::env("BENCH_WORKERS", 0);
    assert!(limit as usize > n + 100, "RLIMIT_NOFILE hard limit {limit} is below {n} connections");
    let mut servers =
        vec![Server::Ring, Server::Fallback, Server::TokioBufReader, Server::TokioPool, Server::TokioBytesMut];
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        servers.retain(|s| match only.as_str() {
            "ring" => *s == Server::Ring,
            "fallback" => *s == Server::Fallback,
            "bufreader" => *s == Server::TokioBufReader,
            "pool" => *s == Server::TokioPool,
            "bytesmut" => *s == Server::TokioBytesMut,
            _ => panic!("BENCH_ONLY: ring|fallback|bufreader|pool|bytesmut"),
        });
    }
    println!("idle_conns: {n} idle connections, clients in a child process, {rounds} rounds");
    let mut figs = vec![(Vec::new(), Vec::new()); servers.len()];
    for _ in 0..rounds {
        for (i, &srv) in servers.iter().enumerate() {
            let l = net::listener();
            let addr = l.local_addr().unwrap();
            let run = net::start(srv, l, workers, 1);
            // Warm up: one connection, so the runtime, the engine and the
            // allocator's arenas exist before the baseline.
            let warm = Client::spawn(addr, "idle", 0, 1, 0.0);
            let mut warm = warm;
            assert_eq!(warm.line(), "ready");
            wait_started(&run, 1);
            std::thread::sleep(Duration::from_millis(200));
            let (rss0, out0) = (net::rss(), run.pool.stats().outstanding_bytes);
            let mut c = Client::spawn(addr, "idle", 0, n, 0.0);
            assert_eq!(c.line(), "ready");
            wait_started(&run, n as u64 + 1);
            std::thread::sleep(Duration::from_millis(300));
            let (rss1, out1) = (net::rss(), run.pool.stats().outstanding_bytes);
            c.finish();
            warm.finish();
            run.stop();
            figs[i].0.push(rss1.saturating_sub(rss0) as f64 / n as f64);
            figs[i].1.push(out1.saturating_sub(out0) as f64 / n as f64);
        }
    }
    println!("| server | RSS growth per connection | pool outstanding_bytes per connection |");
    println!("|---|---|---|");
    for (i, srv) in servers.iter().enumerate() {
        let (a, b) = (net::median(&mut figs[i].0), net::median(&mut figs[i].1));
        println!("| {} | {a:.0} B | {b:.0} B |", srv.name());
    }
}

/// Waits (at most 30 s) until `n` handlers have started.
fn wait_started(run: &net::Running, n: u64) {
    let t0 = Instant::now();
    // Relaxed: a count; the pause after it lets the handlers settle.
    while run.started.load(Ordering::Relaxed) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "only {} of {n} connections started",
            run.started.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
