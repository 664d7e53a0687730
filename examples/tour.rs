//! A tour of bufpool in five sections, each set beside the usual way of doing
//! the same job: the pool, the async read layer on tokio, zero-copy framing
//! with `BufMut`, io_uring file reads and io_uring sockets. About ten seconds
//! on two cores.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! Nothing here needs root: it raises its own soft fd limit to the hard
//! limit, and holds fewer idle connections if that is still too low. Its
//! scratch file goes under `$CARGO_TARGET_DIR` if set, else the system temp
//! dir, and is removed.

mod common;
mod tour_memory;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use bytes::{BufMut, Bytes};
use common::{human, human_rate, Cli, Context, Scratch};
use futures::io::AsyncBufReadExt;
use futures::StreamExt;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counts live heap bytes and allocation calls, so the tour can *measure*
/// what each approach costs. The counters are Relaxed: each is a sum read
/// between steps on the thread that waits for them, and orders no other
/// memory; the server's counters below are the same kind.
struct Counting;

static HEAP: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size(), Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size(), Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HEAP.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        HEAP.fetch_add(new, Ordering::Relaxed);
        HEAP.fetch_sub(l.size(), Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap allocations (and reallocations) made while `f` runs, and its result.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCS.load(Ordering::Relaxed);
    let out = f();
    (ALLOCS.load(Ordering::Relaxed) - before, out)
}

/// One measurement, bufpool's figure with the usual way's below it.
fn compare(what: &str, pool: String, baseline: &str, base: String) {
    println!("{what}:");
    println!("    {:<18} {pool}", "bufpool");
    println!("    {baseline:<18} {base}");
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

const USAGE: &str = "\
usage: tour [--fallback]

Six short sections, each beside the usual way of doing the same job:
  1. the pool: small and large buffers reused instead of allocated
  2. the async read layer: idle TCP connections that hold no buffer
  3. framing: lines as zero-copy Bytes, replies gathered with BufMut
  4. io_uring files: reads into pool buffers, many in flight
  5. io_uring sockets: connections on Ring::recv, idle ones holding no buffer
  6. bounding memory: a cap on bytes handed out, an account per connection
Where io_uring is refused, sections 4 and 5 run on bufpool's fallback and say so;
--fallback runs them there even where io_uring works.
It takes about ten seconds and needs no root.
";

fn main() {
    let mut cli = Cli::new("tour", USAGE);
    let fallback = cli.flag("--fallback");
    cli.finish();
    common::run("tour", || tour(fallback));
}

fn tour(fallback: bool) -> std::io::Result<()> {
    let t0 = Instant::now();
    // One pool for the whole tour; the stats at the end cover all of it.
    let pool = BufferPool::builder()
        .max_pooled_bytes(1 << 30) // cap on idle bytes kept, all threads together
        .build()
        .map_err(std::io::Error::other)?;
    let c = pool.config();
    println!(
        "bufpool tour: one pool of {} shards, a thread cache {} deep per size class, classes {} ..= {}",
        c.num_shards(),
        c.tls_cache_size(),
        human(c.min_buffer_size() as u64),
        human(c.max_buffer_size() as u64)
    );
    the_pool(&pool);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(the_async_layer(&pool))?;
    drop(rt); // its worker threads exit, and their caches go back to the shards
    framing(&pool)?;
    io_uring(&pool, fallback)?;
    sockets(&pool, fallback)?;
    tour_memory::bounding_memory()?;
    the_end(&pool);
    println!("\ntour finished in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// 1. Small and large buffers, reused.
fn the_pool(pool: &BufferPool) {
    println!("\n== 1. The pool: a dropped buffer goes back to this thread's cache, and the next get reuses it");
    const N: usize = 200_000;
    let t = Instant::now();
    let (pool_allocs, ()) = allocations(|| {
        for _ in 0..N {
            let mut b = pool.get(64 * KIB); // initialised memory, len 64 KiB
            b[0] = 1;
            std::hint::black_box(&b);
        } // each drop: back to this thread's cache, no lock, no atomic
    });
    let pool_ns = t.elapsed().as_nanos() as f64 / N as f64;
    let t = Instant::now();
    let (vec_allocs, ()) = allocations(|| {
        for _ in 0..N {
            let mut v = vec![0u8; 64 * KIB];
            v[0] = 1;
            std::hint::black_box(&v);
        }
    });
    let vec_ns = t.elapsed().as_nanos() as f64 / N as f64;
    compare(
        &format!("get(64 KiB) + write + drop, {N} times"),
        format!("{pool_allocs} allocations, {pool_ns:.0} ns each"),
        "vec![0; 64 KiB]",
        format!("{vec_allocs} allocations, {vec_ns:.0} ns each (zeroed every time)"),
    );

    let v: Vec<u8> = pool.get(100).into_vec(); // detached: an ordinary Vec, the memory leaves the pool
    println!("into_vec(): a buffer can leave the pool as a plain Vec ({} bytes here)", v.len());

    const BIG: usize = 512 * MIB;
    const ROUNDS: usize = 3;
    let touch = |b: &mut [u8]| {
        for i in (0..b.len()).step_by(4096) {
            b[i] = 1; // one write per 4 KiB page: what a page fault costs, not a memcpy
        }
        std::hint::black_box(b);
    };
    let mut pool_ms = Vec::new();
    let mut vec_ms = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut b = pool.get(BIG);
        touch(&mut b);
        drop(b);
        pool_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let mut v = vec![0u8; BIG];
        touch(&mut v);
        drop(v);
        vec_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let ms = |d: &[f64]| d.iter().map(|d| format!("{d:.0}")).collect::<Vec<_>>().join(", ");
    compare(
        &format!("512 MiB get + touch every page + drop, {ROUNDS} rounds"),
        format!("{} ms (the first round allocates, the others reuse)", ms(&pool_ms)),
        "vec![0; n]",
        format!("{} ms (fresh pages to fault in every time)", ms(&vec_ms)),
    );
    let idle = pool.stats().pooled_bytes;
    pool.trim();
    println!(
        "trim(): the pool was keeping {} idle for the next big get; it hands that back to the OS now (idle: {})",
        human(idle),
        human(pool.stats().pooled_bytes)
    );
}

/// Raises the soft fd limit to the hard limit; returns the soft limit.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `want` is a valid `rlimit` that only raises the soft limit
        // up to the hard one, which an unprivileged process may do.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    #[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every platform
    let soft = lim.rlim_cur as u64;
    soft
}

/// How the server reads a connection.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    /// `pool.read_tokio`: a buffer only while data is ready.
    Pool,
    /// A 16 KiB `Vec` per connection, held across the wait.
    Naive,
}

struct Server {
    addr: std::net::SocketAddr,
    started: Arc<AtomicUsize>,
    bytes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

async fn serve(pool: BufferPool, reads: Reads) -> std::io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context(|| "listen on 127.0.0.1:0".into())?;
    let server =
        Server { addr: listener.local_addr()?, started: Arc::default(), bytes: Arc::default(), stop: Arc::default() };
    let (started, bytes, stop) = (server.started.clone(), server.bytes.clone(), server.stop.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let (pool, started, bytes) = (pool.clone(), started.clone(), bytes.clone());
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                match reads {
                    Reads::Pool => {
                        while let Ok(Some(buf)) = pool.read_tokio(&mut s).await {
                            bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Reads::Naive => {
                        let mut buf = vec![0u8; 16 * KIB];
                        while let Ok(n @ 1..) = s.read(&mut buf).await {
                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    Ok(server)
}

/// Opens `n` idle connections to `server` and waits until every handler is
/// parked in its first read. Returns the client ends.
async fn open_idle(server: &Server, n: usize, label: &str) -> std::io::Result<Vec<TcpStream>> {
    let mut clients = Vec::with_capacity(n);
    let t = Instant::now();
    let mut next_report = Duration::from_secs(1);
    while clients.len() < n {
        // One at a time: a burst of concurrent connects overflows the listen
        // backlog, and a dropped SYN costs a 1 s retransmit.
        clients.push(TcpStream::connect(server.addr).await.context(|| format!("connect to {}", server.addr))?);
        if t.elapsed() >= next_report {
            println!("  [{label}] {} of {n} connections open", clients.len());
            next_report += Duration::from_secs(1);
        }
    }
    while server.started.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await; // every handler is now in its read
    Ok(clients)
}

/// 2. The async read layer: many idle connections, a few busy ones.
async fn the_async_layer(pool: &BufferPool) -> std::io::Result<()> {
    println!("\n== 2. The async read layer: a connection waiting for data holds no buffer (tokio, loopback TCP)");
    let fds = raise_fd_limit();
    // Each connection costs two fds here (client and server end), plus slack.
    let want = 10_000;
    let idle = want.min((fds.saturating_sub(300) / 2) as usize);
    if idle < want {
        println!("{idle} idle connections: the fd limit ({fds}) allows no more at 2 fds each (10,000 with a limit of 20,300)");
    } else {
        println!("{idle} idle connections, first to a server with a 16 KiB Vec per connection, then to one using pool.read_tokio");
    }

    // Naive: a 16 KiB Vec per connection, held while it waits.
    let naive = serve(pool.clone(), Reads::Naive).await?;
    let heap0 = HEAP.load(Ordering::Relaxed);
    let clients = open_idle(&naive, idle, "Vec per connection").await?;
    let naive_heap = HEAP.load(Ordering::Relaxed).saturating_sub(heap0);
    naive.stop.store(true, Ordering::Relaxed);
    drop(clients);
    let _ = TcpStream::connect(naive.addr).await; // wake the accept loop so it stops
    tokio::time::sleep(Duration::from_millis(200)).await; // let the handlers see EOF and exit

    // Pool: `pool.read_tokio`, a buffer only while data is ready.
    let server = serve(pool.clone(), Reads::Pool).await?;
    let heap0 = HEAP.load(Ordering::Relaxed);
    let mut clients = open_idle(&server, idle, "pool.read_tokio").await?;
    let pool_heap = HEAP.load(Ordering::Relaxed).saturating_sub(heap0);
    let s = pool.stats();
    compare(
        &format!("while {idle} connections wait: read buffers held, and heap per connection (task, socket, buffer)"),
        format!(
            "{} in {} buffers; {:.0} B a connection",
            human(s.outstanding_bytes),
            s.outstanding_buffers,
            pool_heap as f64 / idle as f64
        ),
        "a 16 KiB Vec each",
        format!("{}; {:.0} B a connection", human((idle * 16 * KIB) as u64), naive_heap as f64 / idle as f64),
    );

    // A few clients stream while the idle ones keep waiting.
    const STREAMS: usize = 4;
    const SECS: f64 = 2.0;
    println!("{STREAMS} clients now stream for {SECS} s beside the idle ones:");
    let chunk: Arc<[u8]> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let t = Instant::now();
    let writers: Vec<_> = (0..STREAMS)
        .map(|_| {
            let (chunk, addr) = (chunk.clone(), server.addr);
            tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await?;
                while t.elapsed().as_secs_f64() < SECS {
                    c.write_all(&chunk).await?;
                }
                c.shutdown().await
            })
        })
        .collect();
    let (mut last, mut last_t) = (0, 0.0);
    while t.elapsed().as_secs_f64() < SECS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (b, now) = (server.bytes.load(Ordering::Relaxed), t.elapsed().as_secs_f64());
        println!(
            "  {now:.0} s: {} read, {}, pool buffers out now: {}",
            human(b),
            human_rate(b - last, now - last_t),
            pool.stats().outstanding_buffers
        );
        (last, last_t) = (b, now);
    }
    for w in writers {
        w.await.map_err(std::io::Error::other)??;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let total = server.bytes.load(Ordering::Relaxed);
    println!("streamed {} at {} into pooled buffers", human(total), human_rate(total, t.elapsed().as_secs_f64()));

    // One idle client finally speaks: its read takes a buffer just then.
    clients[0].write_all(b"hello after the wait").await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop.store(true, Ordering::Relaxed);
    drop(clients);
    let _ = TcpStream::connect(server.addr).await; // wake the accept loop so it stops
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// Section 3, framing: lines as `Bytes` from pooled read buffers (short ones
/// copied out, so a kept line never pins a 16 KiB buffer), and replies
/// gathered with `BufMut`.
fn framing(pool: &BufferPool) -> std::io::Result<()> {
    println!(
        "\n== 3. Framing: lines come out as Bytes; one under {} bytes is copied out so keeping it pins no read buffer",
        bufpool::framing::DEFAULT_COPY_BELOW
    );
    const LINES: usize = 100_000;
    let mut input = Vec::new();
    for i in 0..LINES {
        input.extend_from_slice(format!("SET key:{i} value-{i}\n").as_bytes());
    }
    // Reads every line and keeps it, as a store would; returns the lines,
    // the time, and what the pool then has out for them.
    let keep_all = |copy_below: usize| -> std::io::Result<(Vec<Bytes>, f64, u64, u64)> {
        let t = Instant::now();
        let kept = futures::executor::block_on(async {
            let mut lines = pool.lines(futures::io::Cursor::new(&input[..])).copy_below(copy_below);
            let mut kept: Vec<Bytes> = Vec::with_capacity(LINES);
            while let Some(line) = lines.next_line().await? {
                kept.push(line);
            }
            Ok::<_, std::io::Error>(kept)
        })?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let s = pool.stats();
        Ok((kept, ms, s.outstanding_bytes, s.outstanding_buffers))
    };
    let (sliced, slice_ms, slice_bytes, slice_bufs) = keep_all(0)?;
    drop(sliced);
    let (kept, copy_ms, copy_bytes, copy_bufs) = keep_all(bufpool::framing::DEFAULT_COPY_BELOW)?;
    let t = Instant::now();
    let copies = futures::executor::block_on(async {
        let mut reader = futures::io::BufReader::with_capacity(16 * KIB, futures::io::Cursor::new(&input[..]));
        let mut line = Vec::new();
        let mut kept: Vec<Vec<u8>> = Vec::with_capacity(LINES);
        while reader.read_until(b'\n', &mut line).await? > 0 {
            line.pop();
            kept.push(line.clone()); // to keep a line, copy it out of the reader's buffer
            line.clear();
        }
        Ok::<_, std::io::Error>(kept)
    })?;
    let vec_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!((kept.len(), &kept[7][..]), (copies.len(), &copies[7][..]));
    let data: usize = copies.iter().map(Vec::len).sum();
    compare(
        &format!("{LINES} lines ({} of line data) read and all kept", human(data as u64)),
        format!("pool.lines(): {copy_ms:.0} ms; pooled memory still out: {} in {copy_bufs} buffers", human(copy_bytes)),
        "read_until",
        format!("+ a copy to keep each line: {vec_ms:.0} ms"),
    );
    println!(
        "  with .copy_below(0) every line is a zero-copy slice instead: {slice_ms:.0} ms, but the kept lines pin {} in {slice_bufs} pooled buffers",
        human(slice_bytes)
    );
    println!(
        "  (a line of {} bytes or more is always a slice: no copy where a copy would cost)",
        bufpool::framing::DEFAULT_COPY_BELOW
    );

    println!("BufMut: replies to a pipelined batch gathered in one pooled buffer, frozen into Bytes for the write");
    const REPLIES: usize = 1000;
    let (pool_allocs, frozen) = allocations(|| {
        let mut out = pool.with_capacity(64 * KIB);
        for value in &kept[..REPLIES] {
            out.put_slice(b"VALUE ");
            out.put_slice(value);
            out.put_u8(b'\n');
        }
        out.freeze()
    });
    let (vec_allocs, replies) = allocations(|| {
        let mut replies = Vec::with_capacity(REPLIES);
        for value in &kept[..REPLIES] {
            let mut r = Vec::with_capacity(7 + value.len());
            r.extend_from_slice(b"VALUE ");
            r.extend_from_slice(value);
            r.push(b'\n');
            replies.push(r);
        }
        replies
    });
    assert_eq!(frozen.len(), replies.iter().map(Vec::len).sum::<usize>());
    compare(
        &format!("{REPLIES} replies ({})", human(frozen.len() as u64)),
        format!("one pooled buffer: {pool_allocs} allocations"),
        "a Vec per reply",
        format!("{vec_allocs} allocations"),
    );
    drop((kept, copies, frozen, replies));
    Ok(())
}

/// 4. io_uring file reads into pool buffers.
fn io_uring(pool: &BufferPool, fallback: bool) -> std::io::Result<()> {
    println!("\n== 4. io_uring files: 32 reads in flight, each into a pool buffer that goes back when dropped");
    const SIZE: usize = 64 * MIB;
    const CHUNK: usize = 256 * KIB;
    let scratch = Scratch::new("tour")?;
    let path = scratch.path();
    let data: Vec<u8> = (0..SIZE).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    std::fs::write(path, &data).context(|| format!("write {}", path.display()))?;
    drop(data);
    let file = std::fs::File::open(path).context(|| format!("open {}", path.display()))?;
    let ring = Ring::builder(pool).entries(64).force_fallback(fallback).build().context(|| "build the ring".into())?;
    println!(
        "{} scratch file {} (page cache), {} reads, backend {:?}",
        human(SIZE as u64),
        path.display(),
        human(CHUNK as u64),
        ring.backend()
    );
    let fresh0 = pool.stats().fresh_allocations;
    let mut best_ring = f64::MAX;
    let mut best_std = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let bytes = futures::executor::block_on(async {
            let reads = (0..SIZE as u64).step_by(CHUNK).map(|off| (off, CHUNK));
            let mut stream = ring.read_many(&file, reads, 32)?;
            let mut bytes = 0;
            while let Some((_offset, r)) = stream.next().await {
                bytes += r?.len(); // the buffer goes home here
            }
            Ok::<_, std::io::Error>(bytes)
        })
        .context(|| format!("read {} through the ring", path.display()))?;
        assert_eq!(bytes, SIZE);
        best_ring = best_ring.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let v = std::fs::read(path).context(|| format!("read {}", path.display()))?;
        std::hint::black_box(&v);
        best_std = best_std.min(t.elapsed().as_secs_f64());
    }
    compare(
        "the whole file, 3 passes (the best one)",
        format!(
            "ring.read_many, 32 in flight: {}; {} fresh buffers for all {} reads",
            human_rate(SIZE as u64, best_ring),
            pool.stats().fresh_allocations - fresh0,
            3 * SIZE / CHUNK
        ),
        "std::fs::read",
        format!("{}; a new {} Vec each pass", human_rate(SIZE as u64, best_std), human(SIZE as u64)),
    );
    println!("ring: {}", common::ring_stats(&ring.stats()));
    drop(ring);
    drop(file);
    drop(scratch); // removes the file
    Ok(())
}

/// Section 5, io_uring sockets: connections on `Ring::recv` draw on one
/// ring of provided buffers; the kernel picks a buffer only when bytes arrive.
fn sockets(pool: &BufferPool, fallback: bool) -> std::io::Result<()> {
    const IDLE: usize = 1000;
    const ACTIVE: usize = 4;
    const ROUNDS: usize = 2000;
    const MSG: usize = 4 * KIB;
    const RING_BUFS: usize = 64;
    const RING_BUF: usize = 16 * KIB;
    const BUFREADER: usize = 8 * KIB; // std::io::BufReader's default capacity
    println!(
        "\n== 5. io_uring sockets: connections on ring.recv share one ring of pool buffers; an idle one holds none"
    );
    let before = pool.stats().outstanding_bytes;
    let ring = match Ring::builder(pool).recv_buffers(RING_BUFS, RING_BUF).force_fallback(fallback).build() {
        Ok(ring) => ring,
        Err(e) => {
            println!("skipped: no ring could be built here ({e})");
            return Ok(());
        }
    };
    if ring.recv_uses_buffer_ring() {
        println!(
            "io_uring with a provided-buffer ring: {RING_BUFS} buffers of {} per shard ({} shard(s)), whatever the number of connections",
            human(RING_BUF as u64),
            ring.shards()
        );
    } else {
        let why = if fallback { "--fallback given" } else { "io_uring sockets are refused here" };
        println!("{why}: the same calls run on bufpool's readiness fallback, which takes a pool buffer only when data is ready");
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context(|| "listen on 127.0.0.1:0".into())?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let armed = Arc::new(AtomicUsize::new(0));
    {
        let (ring, armed) = (ring.clone(), armed.clone());
        rt.spawn(async move {
            while let Ok((s, _)) = ring.accept(&listener).await {
                let (ring, armed) = (ring.clone(), armed.clone());
                tokio::spawn(async move {
                    // Relaxed: a count the tour polls before measuring; it publishes nothing.
                    armed.fetch_add(1, Ordering::Relaxed);
                    let mut rx = ring.recv(&s);
                    // Each chunk is the pool buffer the kernel received into;
                    // it goes back out as it is, and home once sent.
                    while let Some(Ok(chunk)) = rx.next().await {
                        if ring.send(&s, chunk).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    }
    rt.block_on(async {
        // One round trip first, so the ring has taken its provided buffers.
        let mut warm = TcpStream::connect(addr).await.context(|| format!("connect to {addr}"))?;
        warm.write_all(b"ping").await?;
        warm.read_exact(&mut [0; 4]).await?;
        wait_armed(&armed, 1).await;
        let out0 = pool.stats().outstanding_bytes;
        let fixed = out0.saturating_sub(before);
        let mut idle = Vec::with_capacity(IDLE);
        for _ in 0..IDLE {
            idle.push(TcpStream::connect(addr).await.context(|| format!("connect to {addr}"))?);
        }
        wait_armed(&armed, 1 + IDLE).await;
        let held = pool.stats().outstanding_bytes.saturating_sub(out0);
        compare(
            &format!("while {IDLE} connections wait in recv: pool bytes they hold"),
            format!(
                "{} ({} B a connection); {}",
                human(held),
                held / IDLE as u64,
                if fixed > 0 { format!("the ring's {} serve them all", human(fixed)) } else { "no buffers are set aside".into() }
            ),
            "a BufReader each",
            format!("{} ({} a connection, held while it waits)", human((IDLE * BUFREADER) as u64), human(BUFREADER as u64)),
        );

        let t = Instant::now();
        let clients: Vec<_> = (0..ACTIVE)
            .map(|k| {
                tokio::spawn(async move {
                    let mut c = TcpStream::connect(addr).await?;
                    c.set_nodelay(true)?;
                    let msg: Vec<u8> = (0..MSG).map(|i| (i * 7 + k) as u8).collect();
                    let mut back = vec![0u8; MSG];
                    for _ in 0..ROUNDS {
                        c.write_all(&msg).await?;
                        c.read_exact(&mut back).await?;
                        if back != msg {
                            return Err(std::io::Error::other("the echo came back different"));
                        }
                    }
                    Ok::<(), std::io::Error>(())
                })
            })
            .collect();
        for c in clients {
            c.await.map_err(std::io::Error::other)?.context(|| format!("echo through {addr}"))?;
        }
        let secs = t.elapsed().as_secs_f64();
        let bytes = (ACTIVE * ROUNDS * MSG) as u64;
        println!(
            "{ACTIVE} clients echoed {ROUNDS} round trips of {} each beside the idle ones: {} in {:.0} ms, every byte checked",
            human(MSG as u64),
            human(bytes),
            secs * 1e3
        );
        let s = ring.stats();
        println!(
            "  each echo sends back the very buffer the kernel received into (no copy); ring: {} recv completions, {} ENOBUFS",
            s.recv, s.enobufs
        );
        drop((warm, idle));
        Ok::<(), std::io::Error>(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(1)); // ends the accept loop and any handler left
    drop(ring);
    // The ring's provided buffers go home as its engine closes.
    let t = Instant::now();
    while pool.stats().outstanding_bytes > before && t.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Waits (at most 5 s) until `n` connection handlers have started, then a
/// little more, so each is parked in its `recv`.
async fn wait_armed(armed: &AtomicUsize, n: usize) {
    let t = Instant::now();
    while armed.load(Ordering::Relaxed) < n && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The pool's statistics, once, and a last trim.
fn the_end(pool: &BufferPool) {
    let s = pool.stats();
    println!("\n== The pool over the whole tour");
    println!("{s}");
    println!("  (a get is served from this thread's cache, else its CPU's shard, else stolen from another shard, else freshly allocated)");
    println!(
        "  right-sized reads: {} (a read that filled at most half of its 16 KiB buffer was moved into a smaller one, so the big buffer went straight home)",
        s.right_sized
    );
    pool.trim();
    println!(
        "trim() before exit: the {} kept idle for reuse goes back to the OS ({} still out)",
        human(s.pooled_bytes),
        human(pool.stats().outstanding_bytes)
    );
}
