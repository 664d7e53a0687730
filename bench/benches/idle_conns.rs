//! Sockets: what an idle connected TCP connection costs the server in user
//! space, on loopback: RSS growth and the pool's `outstanding_bytes` growth
//! per connection, for the ring (io_uring, provided-buffer ring), its
//! readiness fallback, tokio + `BufReader` (8 KiB), tokio + `pool.read_tokio`
//! and tokio + `BytesMut` (16 KiB), each with a tokio task per connection;
//! and the ring's streams held by one task (a `SelectAll` of every
//! connection's `Ring::recv`): the ring's own cost plus the collection's.
//!
//! Every measurement runs in a fresh process (memory a previous server freed
//! would stay resident and hide the next one's growth), and the clients in
//! another, so only the server side is in the figure: each server has
//! accepted every connection and its handler has polled once (is waiting for
//! bytes). `ROUNDS` (2) rounds, interleaved; medians.
//!
//! ```text
//! cargo bench -p bench --bench idle_conns
//! BENCH_IDLE=10000 ROUNDS=1 BENCH_ONLY=ring cargo bench -p bench --bench idle_conns
//! ```
//!
//! Env: `BENCH_IDLE` (10000), `ROUNDS` (2), `BENCH_ONLY`
//! (ring|fallback|bufreader|pool|bytesmut|onetask), `BENCH_WORKERS` (0).

#[path = "net/mod.rs"]
mod net;

use net::{Client, Server};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The rows, by the name `BENCH_ONLY` and the child take.
const ROWS: [(&str, Option<Server>, &str); 6] = [
    ("ring", Some(Server::Ring), "ring (io_uring), a task per connection"),
    ("fallback", Some(Server::Fallback), "ring (fallback), a task per connection"),
    ("bufreader", Some(Server::TokioBufReader), "tokio + BufReader 8K, a task per connection"),
    ("pool", Some(Server::TokioPool), "tokio + read_tokio, a task per connection"),
    ("bytesmut", Some(Server::TokioBytesMut), "tokio + BytesMut 16K, a task per connection"),
    ("onetask", None, "ring (io_uring), one task: SelectAll of the streams"),
];

fn main() {
    net::client_main();
    let limit = net::raise_nofile();
    let n: usize = net::env("BENCH_IDLE", 10_000);
    assert!(limit as usize > n + 100, "RLIMIT_NOFILE hard limit {limit} is below {n} connections");
    if let Ok(row) = std::env::var("BENCH_IDLE_ROW") {
        let (rss, out) = match ROWS.iter().find(|r| r.0 == row).expect("row").1 {
            Some(srv) => per_task(srv, n, net::env("BENCH_WORKERS", 0)),
            None => one_task(n),
        };
        println!("figures {rss} {out}");
        return;
    }
    let rounds: usize = net::env("ROUNDS", 2);
    let only = std::env::var("BENCH_ONLY").ok();
    let rows: Vec<_> = ROWS.iter().filter(|r| only.as_deref().is_none_or(|o| o == r.0)).collect();
    println!("idle_conns: {n} idle connections, each row in a fresh process, clients in another, {rounds} rounds");
    let mut figs = vec![(Vec::new(), Vec::new()); rows.len()];
    for _ in 0..rounds {
        for (i, row) in rows.iter().enumerate() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .env("BENCH_IDLE_ROW", row.0)
                .output()
                .expect("row process");
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find(|l| l.starts_with("figures "))
                .unwrap_or_else(|| panic!("{}: no figures: {text} {}", row.0, String::from_utf8_lossy(&out.stderr)));
            let v: Vec<f64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
            figs[i].0.push(v[0]);
            figs[i].1.push(v[1]);
        }
    }
    println!("| server | RSS growth per connection | pool outstanding_bytes per connection |");
    println!("|---|---|---|");
    for (i, row) in rows.iter().enumerate() {
        let (a, b) = (net::median(&mut figs[i].0), net::median(&mut figs[i].1));
        println!("| {} | {a:.0} B | {b:.0} B |", row.2);
    }
}

/// `n` idle connections on `srv`, a task per connection: RSS and pool
/// outstanding growth per connection.
fn per_task(srv: Server, n: usize, workers: usize) -> (f64, f64) {
    let l = net::listener();
    let addr = l.local_addr().unwrap();
    let run = net::start(srv, l, workers, 1);
    // Warm up: one connection, so the runtime, the engine and the
    // allocator's arenas exist before the baseline.
    let mut warm = Client::spawn(addr, "idle", 0, 1, 0.0);
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
    (rss1.saturating_sub(rss0) as f64 / n as f64, out1.saturating_sub(out0) as f64 / n as f64)
}

/// `n` idle connections whose recv streams one task holds in a
/// `SelectAll`: RSS and pool outstanding growth per connection.
fn one_task(n: usize) -> (f64, f64) {
    use bufpool::uring::Ring;
    use futures::StreamExt;
    let pool = bufpool::BufferPool::new();
    let ring = Ring::builder(&pool).shards(1).recv_buffers(256, 16 << 10).build().expect("ring");
    assert!(ring.recv_uses_buffer_ring());
    let l = net::listener();
    let addr = l.local_addr().unwrap();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut warm = Client::spawn(addr, "idle", 0, 1, 0.0);
    assert_eq!(warm.line(), "ready");
    let mut socks = Vec::with_capacity(n + 1);
    socks.push(futures::executor::block_on(ring.accept(&l)).expect("accept").0);
    {
        let mut rx = ring.recv(&socks[0]);
        assert!(rx.poll_next_unpin(&mut cx).is_pending());
    }
    std::thread::sleep(Duration::from_millis(200));
    let (rss0, out0) = (net::rss(), pool.stats().outstanding_bytes);
    // Accept while the client connects (a backlog past somaxconn drops
    // handshakes).
    let acceptor = {
        let ring = ring.clone();
        std::thread::spawn(move || {
            let v: Vec<_> = (0..n).map(|_| futures::executor::block_on(ring.accept(&l)).expect("accept").0).collect();
            v
        })
    };
    let mut c = Client::spawn(addr, "idle", 0, n, 0.0);
    assert_eq!(c.line(), "ready");
    socks.extend(acceptor.join().expect("acceptor"));
    let mut all = futures::stream::select_all(socks.iter().map(|s| ring.recv(s)));
    assert!(all.poll_next_unpin(&mut cx).is_pending());
    std::thread::sleep(Duration::from_millis(300));
    let (rss1, out1) = (net::rss(), pool.stats().outstanding_bytes);
    drop(all);
    c.finish();
    warm.finish();
    (rss1.saturating_sub(rss0) as f64 / n as f64, out1.saturating_sub(out0) as f64 / n as f64)
}

/// Waits (at most 30 s) until `n` handlers have started.
fn wait_started(run: &net::Running, n: u64) {
    let t0 = Instant::now();
    // Relaxed: a count; the pause after it lets the handlers settle.
    while run.started.load(Ordering::Relaxed) < n {
        let got = run.started.load(Ordering::Relaxed);
        assert!(t0.elapsed() < Duration::from_secs(30), "only {got} of {n} connections started");
        std::thread::sleep(Duration::from_millis(10));
    }
}
