//! Sockets: echo round trips and streaming on loopback, 1, 64 and 1,000
//! connections, in one run: the ring (io_uring with a provided-buffer ring),
//! its readiness fallback, tokio with `pool.read_tokio` + `write_all`, and
//! tokio with a `BytesMut` per connection.
//!
//! The clients run in a child process (a tokio current-thread runtime), so
//! "per CPU-second" divides by the server process's own user + system CPU
//! (getrusage: its runtime thread, and the ring's completion thread).
//! Every case runs `ROUNDS` times (3), contenders interleaved, for
//! `BENCH_SECS` (1 s) each; the table gives medians.
//!
//! ```text
//! cargo bench -p bench --bench echo
//! BENCH_CONNS=64 BENCH_MODES=rr BENCH_ONLY=ring BENCH_SECS=5 ROUNDS=1 cargo bench -p bench --bench echo
//! ```
//!
//! Env: `BENCH_CONNS` (1,64,1000), `BENCH_MODES` (rr,stream), `BENCH_ONLY`
//! (ring|fallback|pool|bytesmut), `BENCH_RR_SIZE` (64), `BENCH_STREAM_SIZE`
//! (16384), `BENCH_WORKERS` (0: tokio current-thread; N: multi-thread with
//! N workers), `BENCH_SHARDS` (1).

#[path = "net/mod.rs"]
mod net;

use net::{Client, Server};

fn main() {
    net::client_main();
    net::raise_nofile();
    let secs: f64 = net::env("BENCH_SECS", 1.0);
    let rounds: usize = net::env("ROUNDS", 3);
    let workers: usize = net::env("BENCH_WORKERS", 0);
    let shards: usize = net::env("BENCH_SHARDS", 1);
    let rr_size: usize = net::env("BENCH_RR_SIZE", 64);
    let stream_size: usize = net::env("BENCH_STREAM_SIZE", 16 << 10);
    let conns: Vec<usize> = net::env::<String>("BENCH_CONNS", "1,64,1000".into())
        .split(',')
        .map(|c| c.parse().expect("BENCH_CONNS"))
        .collect();
    let modes: Vec<String> =
        net::env::<String>("BENCH_MODES", "rr,stream".into()).split(',').map(String::from).collect();
    let mut servers = vec![Server::Ring, Server::Fallback, Server::TokioPool, Server::TokioBytesMut];
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        servers.retain(|s| match only.as_str() {
            "ring" => *s == Server::Ring,
            "fallback" => *s == Server::Fallback,
            "pool" => *s == Server::TokioPool,
            "bytesmut" => *s == Server::TokioBytesMut,
            _ => panic!("BENCH_ONLY: ring|fallback|pool|bytesmut"),
        });
    }
    println!(
        "echo: {secs} s x {rounds} rounds; server runtime {}; ring shards {shards}; clients in a child process",
        if workers == 0 { "current-thread".to_string() } else { format!("multi-thread x{workers}") }
    );
    for mode in &modes {
        let size = if mode == "rr" { rr_size } else { stream_size };
        let unit = if mode == "rr" { "round trips" } else { "MiB echoed" };
        for &n in &conns {
            // [server] -> (ops/s, ops per server CPU-s, ops per CPU-s of both processes)
            let mut figs = vec![(Vec::new(), Vec::new(), Vec::new()); servers.len()];
            for _ in 0..rounds {
                for (i, &srv) in servers.iter().enumerate() {
                    let l = net::listener();
                    let addr = l.local_addr().unwrap();
                    let run = net::start(srv, l, workers, shards);
                    let mut c = Client::spawn(addr, mode, size, n, secs);
                    assert_eq!(c.line(), "ready");
                    let (cpu0, t0) = (net::cpu_secs(), std::time::Instant::now());
                    let done = c.line();
                    let (cpu, wall) = (net::cpu_secs() - cpu0, t0.elapsed().as_secs_f64());
                    let mut it = done.split_whitespace().skip(1);
                    let ops: f64 = it.next().and_then(|v| v.parse().ok()).expect("done N");
                    let client_wall: f64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(wall);
                    let client_cpu = c.finish();
                    if let (Server::Ring, Some((recv, enobufs, rearms))) = (srv, run.ring_counts()) {
                        eprintln!("  ring, {mode} x{n}: {recv} recv completions, {enobufs} ENOBUFS, {rearms} re-arms");
                    }
                    run.stop();
                    let ops = if mode == "rr" { ops } else { ops / f64::from(1 << 20) };
                    figs[i].0.push(ops / client_wall);
                    figs[i].1.push(ops / cpu);
                    figs[i].2.push(ops / (cpu + client_cpu));
                }
            }
            println!("\n{mode}, {n} connection(s), {size} B writes ({unit}):");
            println!("| server | per s | per server CPU-s | per CPU-s, both processes | per server CPU-s vs tokio + read_tokio |");
            println!("|---|---|---|---|---|");
            let base =
                servers.iter().position(|s| *s == Server::TokioPool).map(|i| net::median(&mut figs[i].1.clone()));
            for (i, srv) in servers.iter().enumerate() {
                let (a, b, c) = (net::median(&mut figs[i].0), net::median(&mut figs[i].1), net::median(&mut figs[i].2));
                let ratio = base.map(|x| format!("{:.2}x", b / x)).unwrap_or_default();
                println!("| {} | {a:.0} | {b:.0} | {c:.0} | {ratio} |", srv.name());
            }
        }
    }
}
