//! A small in-memory key-value server speaking a newline-delimited protocol,
//! built on `BufferPool::lines_tokio` (no `compat`): every request line is a
//! `Bytes`, and `SET` stores the key and value as slices of that same line.
//!
//! ```text
//! SET key value with spaces   -> OK
//! GET key                     -> VALUE value with spaces   | NIL
//! DEL key                     -> OK                        | NIL
//! anything else               -> ERR <reason>
//! ```
//!
//! Run it, then drive it with `examples/loadgen.rs` (see the README):
//!
//! ```text
//! cargo run --release --example line_server -- --addr 127.0.0.1:7878 --seconds 30
//! cargo run --release --example loadgen -- --addr 127.0.0.1:7878 --conns 16 --seconds 10
//! ```
//!
//! It stops by itself after `--seconds` (default 60; 0 means run until
//! Ctrl-C), and on Ctrl-C.
//!
//! A line shorter than `copy_below` (default 256 bytes) is copied out of the
//! read buffer, so a store of many small long-lived values pins no read
//! buffers. A longer line is a zero-copy slice of the pooled buffer it was
//! read into, and a value stored from it keeps that whole buffer alive: the
//! point of zero copy, and fine for a cache whose values turn over.
//! `--copy-values` copies every value with `Bytes::copy_from_slice`, for
//! comparison.
//!
//! Replies to a batch of pipelined requests are gathered in one pooled buffer
//! (with `BufMut`) and sent with one vectored write; a value of 512 bytes or
//! more is not copied into it but spliced in by reference.

use bufpool::{BufferPool, PooledBuffer};
use bytes::{BufMut, Bytes};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Shards of the key-value map, to keep lock contention down.
const SHARDS: usize = 64;

struct Store {
    shards: Vec<RwLock<HashMap<Bytes, Bytes>>>,
}

impl Store {
    fn new() -> Self {
        Store { shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect() }
    }

    fn shard(&self, key: &[u8]) -> &RwLock<HashMap<Bytes, Bytes>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[h.finish() as usize % SHARDS]
    }
}

struct Args {
    addr: SocketAddr,
    seconds: u64,
    workers: Option<usize>,
    copy_values: bool,
}

/// What every connection shares.
struct Ctx {
    pool: BufferPool,
    store: Store,
    commands: AtomicU64,
    copy_values: bool,
}

fn parse_args() -> Args {
    let mut args =
        Args { addr: "127.0.0.1:7878".parse().expect("valid address"), seconds: 60, workers: None, copy_values: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--copy-values" {
            args.copy_values = true;
            continue;
        }
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => args.addr = value().parse().unwrap_or_else(|e| usage(&format!("--addr: {e}"))),
            "--seconds" => args.seconds = value().parse().unwrap_or_else(|e| usage(&format!("--seconds: {e}"))),
            "--workers" => args.workers = Some(value().parse().unwrap_or_else(|e| usage(&format!("--workers: {e}")))),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("error: {err}");
    }
    eprintln!(
        "usage: line_server [--addr 127.0.0.1:7878] [--seconds 60 (0 = until Ctrl-C)] [--workers N] [--copy-values]"
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(w) = args.workers {
        rt.worker_threads(w);
    }
    rt.enable_all().build()?.block_on(serve(args))
}

async fn serve(args: Args) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    let ctx = Arc::new(Ctx {
        pool: BufferPool::new(),
        store: Store::new(),
        commands: AtomicU64::new(0),
        copy_values: args.copy_values,
    });
    eprintln!("line_server listening on {} for {} s", listener.local_addr()?, args.seconds);
    let started = Instant::now();
    let stop = async {
        if args.seconds == 0 {
            std::future::pending::<()>().await
        } else {
            tokio::time::sleep(Duration::from_secs(args.seconds)).await
        }
    };
    tokio::pin!(stop);
    let mut connections = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => { eprintln!("accept: {e}"); continue; }
                };
                connections += 1;
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, &ctx).await {
                        if e.kind() != std::io::ErrorKind::ConnectionReset {
                            eprintln!("connection: {e}");
                        }
                    }
                });
            }
            _ = &mut stop => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let n = ctx.commands.load(Ordering::Relaxed);
    let keys: usize = ctx.store.shards.iter().map(|s| s.read().expect("not poisoned").len()).sum();
    eprintln!("line_server: {connections} connections, {n} commands in {secs:.1} s, {keys} keys stored");
    eprintln!("pool: {}", ctx.pool.stats());
    Ok(())
}

async fn handle(stream: TcpStream, ctx: &Ctx) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut lines = ctx.pool.lines_tokio(rd);
    // Replies: one pooled buffer and one vectored write per batch; large
    // stored values go out by reference, not copied.
    let mut out = Replies::new(&ctx.pool);
    let mut count = 0u64;
    while let Some(line) = lines.next_line().await? {
        count += 1;
        execute(line, ctx, &mut out);
        // Answer a pipelined batch with one write: flush only when no
        // complete request is left in the reader's buffer.
        if !lines.buffer().contains(&b'\n') {
            out.flush(&mut wr).await?;
        }
    }
    out.flush(&mut wr).await?;
    ctx.commands.fetch_add(count, Ordering::Relaxed);
    Ok(())
}

fn execute(line: Bytes, ctx: &Ctx, out: &mut Replies) {
    let (cmd, rest) = split_word(&line);
    match cmd {
        b"SET" => {
            let (key, value) = split_word(rest);
            if key.is_empty() {
                return out.push(b"ERR SET needs a key\n");
            }
            // Key and value as slices of the received line (itself a copy
            // when short, see copy_below); --copy-values copies the value.
            let key = line.slice_ref(key);
            let value = if ctx.copy_values { Bytes::copy_from_slice(value) } else { line.slice_ref(value) };
            ctx.store.shard(&key).write().expect("not poisoned").insert(key, value);
            out.push(b"OK\n");
        }
        b"GET" => {
            let shard = ctx.store.shard(rest).read().expect("not poisoned");
            match shard.get(rest) {
                Some(v) => {
                    out.push(b"VALUE ");
                    out.push_value(v);
                    out.push(b"\n");
                }
                None => out.push(b"NIL\n"),
            }
        }
        b"DEL" => {
            let removed = ctx.store.shard(rest).write().expect("not poisoned").remove(rest);
            out.push(if removed.is_some() { b"OK\n" } else { b"NIL\n" });
        }
        _ => out.push(b"ERR unknown command\n"),
    }
}

/// Splits at the first space: (word, rest).
fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// Values at least this long go out by reference (their own `IoSlice`);
/// shorter ones are cheaper to copy into the reply buffer than to hand the
/// kernel as one more tiny I/O vector.
const BY_REFERENCE: usize = 512;

/// Replies waiting to be written: small pieces gathered in one pooled buffer
/// (taken at the first reply of a batch, back in the pool after the flush,
/// so an idle connection holds none), large values kept as `Bytes` to be
/// spliced in by a vectored write.
struct Replies {
    pool: BufferPool,
    buf: Option<PooledBuffer>,
    /// (offset in `buf`, value): write `value` after `buf[..offset]`.
    spliced: Vec<(usize, Bytes)>,
}

impl Replies {
    fn new(pool: &BufferPool) -> Self {
        Replies { pool: pool.clone(), buf: None, spliced: Vec::new() }
    }

    fn buf(&mut self) -> &mut PooledBuffer {
        self.buf.get_or_insert_with(|| self.pool.with_capacity(4096))
    }

    fn push(&mut self, reply: &[u8]) {
        self.buf().put_slice(reply);
    }

    /// A stored value: a short one is copied (no reference-count traffic on
    /// a buffer other connections share), a long one spliced in by reference.
    fn push_value(&mut self, value: &Bytes) {
        if value.len() < BY_REFERENCE {
            self.buf().put_slice(value);
        } else {
            let at = self.buf().len();
            self.spliced.push((at, value.clone()));
        }
    }

    /// Writes everything queued, in as few vectored writes as the socket
    /// allows.
    async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> std::io::Result<()> {
        let Some(buf) = self.buf.take() else { return Ok(()) };
        let mut slices = Vec::with_capacity(2 * self.spliced.len() + 1);
        let mut from = 0;
        for (at, value) in &self.spliced {
            slices.push(IoSlice::new(&buf[from..*at]));
            slices.push(IoSlice::new(value));
            from = *at;
        }
        slices.push(IoSlice::new(&buf[from..]));
        slices.retain(|s| !s.is_empty());
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = w.write_vectored(rest).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, n);
        }
        drop(slices);
        self.spliced.clear();
        Ok(())
    }
}
