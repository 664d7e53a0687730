//! Load generator for `examples/line_server.rs`: N connections over loopback,
//! each sending `GET` / `SET` requests (closed loop, `--pipeline` requests in
//! flight) for T seconds, then prints throughput and p50/p99/p99.9 latency.
//!
//! ```text
//! cargo run --release --example line_server -- --seconds 30 &
//! cargo run --release --example loadgen -- --conns 16 --seconds 10 --pipeline 1
//! ```
//!
//! Only loopback addresses are accepted: this is a benchmark tool, not a
//! traffic generator for other hosts.

use bufpool::BufferPool;
use std::io::{Error, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncReadCompatExt;

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

fn parse_args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:7878".parse().expect("valid address"),
        conns: 16,
        seconds: 5.0,
        keys: 10_000,
        value_size: 32,
        set_percent: 10,
        pipeline: 1,
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let bad = |e: &dyn std::fmt::Display| -> ! { usage(&format!("{flag}: {e}")) };
        match flag.as_str() {
            "--addr" => a.addr = v.parse().unwrap_or_else(|e| bad(&e)),
            "--conns" => a.conns = v.parse().unwrap_or_else(|e| bad(&e)),
            "--seconds" => a.seconds = v.parse().unwrap_or_else(|e| bad(&e)),
            "--keys" => a.keys = v.parse().unwrap_or_else(|e| bad(&e)),
            "--value-size" => a.value_size = v.parse().unwrap_or_else(|e| bad(&e)),
            "--set-percent" => a.set_percent = v.parse().unwrap_or_else(|e| bad(&e)),
            "--pipeline" => a.pipeline = v.parse().unwrap_or_else(|e| bad(&e)),
            "--threads" => a.threads = v.parse().unwrap_or_else(|e| bad(&e)),
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    if !a.addr.ip().is_loopback() {
        usage("--addr must be a loopback address (127.0.0.1 or ::1)");
    }
    if a.conns == 0 || a.pipeline == 0 || a.keys == 0 || a.threads == 0 || a.seconds <= 0.0 || a.set_percent > 100 {
        usage("--conns, --pipeline, --keys, --threads and --seconds must be positive; --set-percent at most 100");
    }
    a
}

fn usage(err: &str) -> ! {
    eprintln!("error: {err}");
    eprintln!(
        "usage: loadgen [--addr 127.0.0.1:7878] [--conns 16] [--seconds 5] [--keys 10000] \
         [--value-size 32] [--set-percent 10] [--pipeline 1] [--threads 1]"
    );
    std::process::exit(2);
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?.block_on(run(args))
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
        let mut s = TcpStream::connect(args.addr).await?;
        s.set_nodelay(true)?;
        let value = vec![b'v'; args.value_size];
        let (rd, mut wr) = s.split();
        let mut lines = pool.lines(rd.compat());
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
    let tasks: Vec<_> = (0..args.conns)
        .map(|i| {
            let (args, pool) = (args.clone(), pool.clone());
            tokio::spawn(async move { connection(i as u64, args, pool, deadline).await })
        })
        .collect();
    let mut all = Report { requests: 0, hits: 0, latencies_ns: Vec::new() };
    for t in tasks {
        let r = t.await.map_err(Error::other)??;
        all.requests += r.requests;
        all.hits += r.hits;
        all.latencies_ns.extend(r.latencies_ns);
    }
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

async fn connection(id: u64, args: Args, pool: BufferPool, deadline: Instant) -> std::io::Result<Report> {
    let mut s = TcpStream::connect(args.addr).await?;
    s.set_nodelay(true)?;
    let (rd, mut wr) = s.split();
    let mut lines = pool.lines(rd.compat());
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
    }
    Ok(report)
}
