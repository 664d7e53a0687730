//! What the socket benches (`echo`, `idle_conns`) share: the four echo
//! servers, the loopback clients (run in a child process, so the server's
//! CPU and memory are measured alone), and the process figures.
//!
//! The child is this same bench binary, started with `BENCH_NET_CLIENT` set
//! (`rr SIZE CONNS SECS`, `stream SIZE CONNS SECS` or `idle 0 CONNS 0`). It
//! connects every connection, prints `ready`, runs, prints `done OPS` (round
//! trips, or bytes echoed back) and exits; an `idle` child holds its
//! connections until its stdin closes.

#![allow(dead_code)] // each bench uses a part

use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures::StreamExt;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The echo servers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// `Ring::accept` / `Ring::recv` / `Ring::send` on io_uring with a
    /// provided-buffer ring.
    Ring,
    /// The same calls on the ring's readiness fallback (`force_fallback`).
    Fallback,
    /// tokio's epoll: `pool.read_tokio` then `write_all`.
    TokioPool,
    /// tokio's epoll: one `BytesMut` (16 KiB) per connection, `read_buf`
    /// then `write_all`.
    TokioBytesMut,
    /// tokio's epoll: a `BufReader` (8 KiB) per connection, `fill_buf` then
    /// `write_all` (the idle-memory baseline of issue 12).
    TokioBufReader,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Ring => "ring (io_uring)",
            Server::Fallback => "ring (fallback)",
            Server::TokioPool => "tokio + read_tokio",
            Server::TokioBytesMut => "tokio + BytesMut",
            Server::TokioBufReader => "tokio + BufReader 8K",
        }
    }
}

/// User plus system CPU seconds of this process (every thread).
pub fn cpu_secs() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is valid and writable.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn tv(v: libc::timeval) -> f64 {
    v.tv_sec as f64 + v.tv_usec as f64 / 1e6
}

/// Resident set size of this process, from /proc/self/statm.
pub fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Raises this process's descriptor limit to its hard limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit on a valid struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        r.rlim_cur
    }
}

/// A listener on 127.0.0.1 with a backlog for bursts of connects.
pub fn listener() -> TcpListener {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    // SAFETY: `listen` again on our own socket raises std's backlog of 128.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 16384) }, 0);
    l
}

/// A running echo server: its thread, its stop flag, and what it counts.
pub struct Running {
    pub pool: BufferPool,
    pub ring: Option<Ring>,
    /// Connections whose handler has started (and, on the ring, polled its
    /// recv stream once).
    pub started: Arc<AtomicU64>,
    stop: Arc<tokio::sync::Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// The ring's socket counters: recv completions, ENOBUFS, re-arms.
    pub fn ring_counts(&self) -> Option<(u64, u64, u64)> {
        self.ring.as_ref().map(|r| {
            let s = r.stats();
            (s.recv, s.enobufs, s.rearms)
        })
    }

    pub fn stop(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

/// Starts `server` on `l` in its own thread: a tokio current-thread runtime
/// (`workers == 0`) or a multi-thread one with `workers` workers. The ring
/// gets `shards` shards and a provided-buffer ring of 256 × 16 KiB.
pub fn start(server: Server, l: TcpListener, workers: usize, shards: usize) -> Running {
    let pool = BufferPool::new();
    let ring = matches!(server, Server::Ring | Server::Fallback).then(|| {
        Ring::builder(&pool)
            .shards(shards.max(1))
            .recv_buffers(256, 16 << 10)
            .force_fallback(server == Server::Fallback)
            .build()
            .expect("ring")
    });
    if let Some(r) = &ring {
        // Starts the socket engine outside the measured window.
        let on = r.recv_uses_buffer_ring();
        assert_eq!(on, server == Server::Ring, "{}: engine", server.name());
    }
    // tokio's listener and the fallback's accept want it.
    l.set_nonblocking(true).expect("nonblocking listener");
    let started = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let (p, r, s, st) = (pool.clone(), ring.clone(), started.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let rt = if workers == 0 {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        } else {
            tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
        }
        .expect("runtime");
        rt.block_on(async move {
            tokio::select! {
                _ = st.notified() => {}
                _ = accept_loop(server, l, p, r, s) => {}
            }
        });
        rt.shutdown_timeout(Duration::from_secs(5));
    });
    Running { pool, ring, started, stop, thread: Some(thread) }
}

async fn accept_loop(server: Server, l: TcpListener, pool: BufferPool, ring: Option<Ring>, started: Arc<AtomicU64>) {
    if let Some(ring) = ring {
        loop {
            let Ok((s, _)) = ring.accept(&l).await else { return };
            let _ = s.set_nodelay(true);
            let (ring, started) = (ring.clone(), started.clone());
            tokio::spawn(async move {
                let mut rx = ring.recv(&s);
                let mut first = Some(started);
                loop {
                    let next = std::future::poll_fn(|cx| {
                        let r = rx.poll_next_unpin(cx);
                        // Relaxed: a count the harness reads after a pause.
                        if let Some(s) = first.take() {
                            s.fetch_add(1, Ordering::Relaxed);
                        }
                        r
                    })
                    .await;
                    let Some(Ok(chunk)) = next else { break };
                    if ring.send(&s, chunk).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
    let l = tokio::net::TcpListener::from_std(l).expect("tokio listener");
    loop {
        let Ok((mut s, _)) = l.accept().await else { return };
        let _ = s.set_nodelay(true);
        // Relaxed: a count the harness reads after a pause.
        started.fetch_add(1, Ordering::Relaxed);
        let pool = pool.clone();
        tokio::spawn(async move {
            match server {
                Server::TokioPool => {
                    while let Ok(Some(buf)) = pool.read_tokio(&mut s).await {
                        if s.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                }
                Server::TokioBytesMut => {
                    let mut b = bytes::BytesMut::with_capacity(16 << 10);
                    loop {
                        b.clear();
                        match s.read_buf(&mut b).await {
                            Ok(n) if n > 0 => {}
                            _ => break,
                        }
                        if s.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                }
                Server::TokioBufReader => {
                    use tokio::io::AsyncBufReadExt;
                    let (rd, mut wr) = s.split();
                    let mut rd = tokio::io::BufReader::with_capacity(8 << 10, rd);
                    loop {
                        let n = match rd.fill_buf().await {
                            Ok(b) if !b.is_empty() => {
                                if wr.write_all(b).await.is_err() {
                                    break;
                                }
                                b.len()
                            }
                            _ => break,
                        };
                        rd.consume(n);
                    }
                }
                Server::Ring | Server::Fallback => unreachable!("ring servers accept on the ring"),
            }
        });
    }
}

/// A client process and its stdout.
pub struct Client {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Client {
    /// Starts the client child: `mode` is `rr`, `stream` or `idle`.
    pub fn spawn(addr: SocketAddr, mode: &str, size: usize, conns: usize, secs: f64) -> Client {
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .env("BENCH_NET_CLIENT", format!("{addr} {mode} {size} {conns} {secs}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn client");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        Client { child, out }
    }

    /// Waits for the next line of the child (`ready`, `done N`).
    pub fn line(&mut self) -> String {
        let mut s = String::new();
        self.out.read_line(&mut s).expect("client output");
        assert!(!s.is_empty(), "the client exited early");
        s.trim().to_string()
    }

    /// Closes the child's stdin (an idle child exits) and reaps it: its
    /// user + system CPU seconds.
    pub fn finish(mut self) -> f64 {
        drop(self.child.stdin.take());
        let pid = self.child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 reaps our own child.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `status` and `ru` are writable.
        unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// In a client child: runs what `BENCH_NET_CLIENT` says and exits; returns
/// if this process is not one.
pub fn client_main() {
    let Ok(spec) = std::env::var("BENCH_NET_CLIENT") else { return };
    raise_nofile();
    let v: Vec<&str> = spec.split_whitespace().collect();
    let addr: SocketAddr = v[0].parse().expect("addr");
    let (mode, size, conns, secs) =
        (v[1].to_string(), v[2].parse::<usize>().unwrap(), v[3].parse().unwrap(), v[4].parse::<f64>().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let mut socks = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            socks.push(s);
        }
        println!("ready");
        std::io::stdout().flush().unwrap();
        if mode == "idle" {
            // Hold the connections until the parent closes our stdin.
            let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
            drop(socks);
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        for s in socks {
            let (stop, ops) = (stop.clone(), ops.clone());
            if mode == "rr" {
                tokio::spawn(async move {
                    let mut s = s;
                    let msg = vec![7u8; size];
                    let mut back = vec![0u8; size];
                    // Relaxed: a stop flag and a count, read once at the end.
                    while !stop.load(Ordering::Relaxed) {
                        if s.write_all(&msg).await.is_err() || s.read_exact(&mut back).await.is_err() {
                            return;
                        }
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                });
            } else {
                // At most WINDOW writes in flight per connection: unpaced,
                // 1,000 connections fill the kernel's TCP memory limit and
                // every socket crawls.
                const WINDOW: usize = 4;
                let (mut rd, mut wr) = s.into_split();
                let sem = Arc::new(tokio::sync::Semaphore::new(WINDOW));
                let (stop2, sem2) = (stop.clone(), sem.clone());
                tokio::spawn(async move {
                    let msg = vec![7u8; size];
                    // Relaxed: as above.
                    while !stop2.load(Ordering::Relaxed) {
                        let Ok(p) = sem2.acquire().await else { return };
                        p.forget();
                        if wr.write_all(&msg).await.is_err() {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut back = vec![0u8; 64 << 10];
                    let mut part = 0;
                    while let Ok(n) = rd.read(&mut back).await {
                        if n == 0 {
                            return;
                        }
                        ops.fetch_add(n as u64, Ordering::Relaxed);
                        part += n;
                        sem.add_permits(part / size);
                        part %= size;
                    }
                });
            }
        }
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        // Relaxed: as above.
        let n = ops.load(Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        println!("done {n} {:.4}", t0.elapsed().as_secs_f64());
        std::io::stdout().flush().unwrap();
    });
    std::process::exit(0);
}

/// The median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Figures from the environment: `name` parsed, or `default`.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
