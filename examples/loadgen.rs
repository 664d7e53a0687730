//! Load generator for `examples/line_server.rs`: N connections over loopback,
//! each sending `GET` / `SET` requests (closed loop, `--pipeline` requests in
//! flight) for T seconds, then prints throughput and p50/p99/p99.9 latency.
//!
//! ```text
//! cargo run --release --example line_server -- --seconds 30 &
//! cargo run --release --example loadgen -- --conns 16 --seconds 10 --pipeline 1
//! cargo run --release --example loadgen -- --help
//! ```
//!
//! Only loopback addresses are accepted: this is a benchmark tool, not a
//! traffic generator for other hosts.

mod common;

use bufpool::BufferPool;
use common::{Cli, Context, Tick};
use std::io::{Error, ErrorKind};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    conns: usize,
    seconds: f64,
    keys: u64,
    value_size: usize,
    set_percent: u64,
    pipeline: usize,
    threads: usize,
}

const USAGE: &str = "\
usage: loadgen [--addr 127.0.0.1:7878] [--conns 16] [--seconds 5] [--keys 10000]
               [--value-size 32] [--set-percent 10] [--pipeline 1] [--threads 1]

Drives examples/line_server over loopback: --conns connections, each with
--pipeline requests in flight (GET, or SET for --set-percent of them) on
--keys keys with --value-size byte values, for --seconds; --threads is the
number of tokio worker threads. Prints progress once a second, then
throughput and p50/p99/p99.9 latency. Start the server first:

  cargo run --release --example line_server -- --seconds 30 &
";

fn parse_args() -> Args {
    let mut cli = Cli::new("loadgen", USAGE);
    let a = Args {
        addr: cli.value("--addr", "127.0.0.1:7878".parse().expect("valid address")),
        conns: cli.value("--conns", 16),
        seconds: cli.value("--seconds", 5.0),
        keys: cli.value("--keys", 10_000),
        value_size: cli.value("--value-size", 32),
        set_percent: cli.value("--set-percent", 10),
        pipeline: cli.value("--pipeline", 1),
        threads: cli.value("--threads", 1),
    };
    if !a.addr.ip().is_loopback() {
        cli.fail("--addr must be a loopback address (127.0.0.1 or ::1)");
    }
    if a.conns == 0 || a.pipeline == 0 || a.keys == 0 || a.threads == 0 || a.seconds <= 0.0 || a.set_percent > 100 {
        cli.fail("--conns, --pipeline, --keys, --threads and --seconds must be positive; --set-percent at most 100");
    }
    cli.finish();
    a
}

fn main() {
    let args = parse_args();
    common::run("loadgen", || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
            .block_on(run(args))
    });
}

/// Connects to the server, saying which address failed and what to check.
async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await.context(|| {
        format!("cannot connect to {addr} (is line_server running? cargo run --release --example line_server -- --addr {addr})")
    })?;
    s.set_nodelay(true)?;
    Ok(s)
}

struct Report {
    requests: u64,
    hits: u64,
    latencies_ns: Vec<u64>,
}

async fn run(args: Args) -> std::io::Result<()> {
    let pool = BufferPool::new();
    // Preload every key once so GETs hit.
    {
        let mut s = connect(args.addr).await?;
        let value = vec![b'v'; args.value_size];
        let (rd, mut wr) = s.split();
        let mut lines = pool.lines_tokio(rd);
        for chunk in (0..args.keys).collect::<Vec<_>>().chunks(256) {
            let mut batch = Vec::new();
            for &k in chunk {
                batch.extend_from_slice(format!("SET key:{k} ").as_bytes());
                batch.extend_from_slice(&value);
                batch.push(b'\n');
            }
            wr.write_all(&batch).await?;
            for _ in chunk {
                expect_line(lines.next_line().await?, b"OK")?;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    // Requests answered so far, added once per pipelined batch. Relaxed: a
    // count for the progress line, which orders nothing else.
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..args.conns)
        .map(|i| {
            let (args, pool, done) = (args.clone(), pool.clone(), done.clone());
            tokio::spawn(async move { connection(i as u64, args, pool, deadline, &done).await })
        })
        .collect();
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            let (mut tick, mut last) = (Tick::every_second(), 0);
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if tick.due() {
                    let now = done.load(Ordering::Relaxed);
                    println!("  {:>4.0} s: {now:>10} requests, {:>8} req/s", tick.secs(), now - last);
                    last = now;
                }
            }
        })
    };
    let mut all = Report { requests: 0, hits: 0, latencies_ns: Vec::new() };
    for t in tasks {
        let r = t.await.map_err(Error::other)??;
        all.requests += r.requests;
        all.hits += r.hits;
        all.latencies_ns.extend(r.latencies_ns);
    }
    progress.abort();
    let secs = started.elapsed().as_secs_f64();
    all.latencies_ns.sort_unstable();
    let pct = |p: f64| -> f64 {
        let v = &all.latencies_ns;
        if v.is_empty() {
            return 0.0;
        }
        v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
    };
    println!(
        "loadgen: {} conns, pipeline {}, {:.1} s: {} requests, {:.0} req/s; latency p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us; GET hits {}",
        args.conns,
        args.pipeline,
        secs,
        all.requests,
        all.requests as f64 / secs,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        all.hits
    );
    Ok(())
}

fn expect_line(line: Option<bytes::Bytes>, want: &[u8]) -> std::io::Result<bytes::Bytes> {
    match line {
        Some(l) if l.starts_with(want) => Ok(l),
        Some(l) => {
            Err(Error::new(ErrorKind::InvalidData, format!("unexpected reply {:?}", String::from_utf8_lossy(&l))))
        }
        None => Err(Error::new(ErrorKind::UnexpectedEof, "server closed the connection")),
    }
}

async fn connection(
    id: u64,
    args: Args,
    pool: BufferPool,
    deadline: Instant,
    done: &AtomicU64,
) -> std::io::Result<Report> {
    let mut s = connect(args.addr).await?;
    let (rd, mut wr) = s.split();
    let mut lines = pool.lines_tokio(rd);
    let value = vec![b'w'; args.value_size];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (id + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut report = Report { requests: 0, hits: 0, latencies_ns: Vec::with_capacity(1 << 16) };
    let mut batch = Vec::new();
    let mut is_get = Vec::with_capacity(args.pipeline);
    while Instant::now() < deadline {
        batch.clear();
        is_get.clear();
        for _ in 0..args.pipeline {
            // xorshift64
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let key = rng % args.keys;
            if (rng >> 32) % 100 < args.set_percent {
                batch.extend_from_slice(format!("SET key:{key} ").as_bytes());
                batch.extend_from_slice(&value);
                batch.push(b'\n');
                is_get.push(false);
            } else {
                batch.extend_from_slice(format!("GET key:{key}\n").as_bytes());
                is_get.push(true);
            }
        }
        let sent = Instant::now();
        wr.write_all(&batch).await?;
        for &get in &is_get {
            let line = lines.next_line().await?;
            let reply = expect_line(line, if get { b"" } else { b"OK" })?;
            if get && reply.starts_with(b"VALUE ") {
                if reply.len() != 6 + args.value_size {
                    return Err(Error::new(ErrorKind::InvalidData, format!("a value of {} bytes", reply.len() - 6)));
                }
                report.hits += 1;
            }
            report.latencies_ns.push(sent.elapsed().as_nanos() as u64);
            report.requests += 1;
        }
        done.fetch_add(is_get.len() as u64, Ordering::Relaxed);
    }
    Ok(report)
}
