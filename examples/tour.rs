//! A tour of bufpool: the core pool, then the async read layer serving many
//! idle loopback TCP connections with tokio.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! It ends in well under 30 seconds and prints progress during the network
//! phase. Nothing here needs root: it raises its own soft fd limit to the
//! hard limit, and holds fewer idle connections if that is still too low.

mod common;

use bufpool::{BufferPool, Stats};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counts live heap bytes, so the tour can *measure* idle memory.
struct Counting;

static HEAP: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size(), Ordering::Relaxed);
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
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / MIB as f64)
}

const USAGE: &str = "\
usage: tour

The core pool, then the async read layer serving many idle loopback TCP
connections with tokio. About twenty seconds; needs no root.
";

fn main() -> std::io::Result<()> {
    common::Cli::new("tour", USAGE).finish();
    let t0 = Instant::now();
    let pool = core_tour();
    large_buffers(&pool);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(network_tour())?;
    println!("\ntour finished in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// 1. A pool, a buffer, `into_vec`, and the stats.
fn core_tour() -> BufferPool {
    println!("== 1. The core pool");
    let pool = BufferPool::builder()
        .max_pooled_bytes(1 << 30) // cap on idle bytes kept, all threads together
        .read_size(16 * KIB) // what `pool.read(..)` asks for (the default)
        .right_size(true) // small reads move out of big buffers (the default)
        .build()
        .expect("valid settings");
    let c = pool.config();
    println!(
        "built: {} shards, thread cache depth {}, classes {} B ..= {} B",
        c.num_shards(),
        c.tls_cache_size(),
        c.min_buffer_size(),
        c.max_buffer_size()
    );

    let mut buf = pool.get(64 * KIB); // initialised memory, len 64 KiB
    buf[..5].copy_from_slice(b"hello");
    drop(buf); // back to this thread's cache: no lock, no atomic
    let buf = pool.get(64 * KIB); // the same memory again
    println!("get(64 KiB) twice: {} fresh allocation(s)", pool.stats().fresh_allocations);
    let v: Vec<u8> = buf.into_vec(); // detached: now an ordinary Vec
    println!("into_vec: a Vec of {} bytes starting {:?}", v.len(), std::str::from_utf8(&v[..5]).unwrap());
    println!("stats: {}", pool.stats());
    pool
}

/// 2. Large-buffer reuse: 512 MiB get + touch + drop, pool vs `vec![0; n]`.
fn large_buffers(pool: &BufferPool) {
    println!("\n== 2. Large buffers: 512 MiB get + touch every page + drop");
    const N: usize = 512 * MIB;
    const ROUNDS: usize = 4;
    let touch = |b: &mut [u8]| {
        for i in (0..b.len()).step_by(4096) {
            b[i] = 1;
        }
        std::hint::black_box(b);
    };
    let mut pool_times = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut b = pool.get(N);
        touch(&mut b);
        drop(b);
        pool_times.push(t.elapsed());
    }
    let mut vec_times = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut v = vec![0u8; N];
        touch(&mut v);
        drop(v);
        vec_times.push(t.elapsed());
    }
    let ms = |d: &[Duration]| d.iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1e3)).collect::<Vec<_>>().join(", ");
    println!("pool       (ms per round): {}   <- the first round allocates, the rest reuse", ms(&pool_times));
    println!("vec![0; n] (ms per round): {}   <- fresh pages to fault in every time", ms(&vec_times));
    println!("The pool saves the page faults, not the read: touch is one write per 4 KiB page.");
    println!("stats: {}", pool.stats());
    pool.trim(); // hand the 512 MiB back to the OS now
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
    let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    let step = (n / 5).max(1);
    while clients.len() < n {
        // One at a time: a burst of concurrent connects overflows the listen
        // backlog, and a dropped SYN costs a 1 s retransmit.
        clients.push(TcpStream::connect(server.addr).await?);
        if clients.len() % step == 0 {
            println!("  [{label}] {:>6} idle connections open ({:.1} s)", clients.len(), t.elapsed().as_secs_f64());
        }
    }
    while server.started.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await; // every handler is now in its read
    Ok(clients)
}

/// 3. The async read layer: many idle connections, a few busy ones.
async fn network_tour() -> std::io::Result<()> {
    println!("\n== 3. The async read layer: a loopback TCP server with tokio");
    let fds = raise_fd_limit();
    // Each connection costs two fds here (client and server end), plus slack.
    let idle = 10_000.min((fds.saturating_sub(300) / 2) as usize);
    println!("fd limit {fds}: holding {idle} idle connections (10,000 unless the limit is lower)");
    let pool = BufferPool::new();

    // Naive: a 16 KiB Vec per connection, held while it waits.
    let naive = serve(pool.clone(), Reads::Naive).await?;
    let heap0 = HEAP.load(Ordering::Relaxed);
    let clients = open_idle(&naive, idle, "naive").await?;
    let naive_heap = HEAP.load(Ordering::Relaxed).saturating_sub(heap0);
    naive.stop.store(true, Ordering::Relaxed);
    drop(clients);
    let _ = TcpStream::connect(naive.addr).await; // wake the accept loop so it stops
    tokio::time::sleep(Duration::from_millis(200)).await; // let the handlers see EOF and exit

    // Pool: `pool.read_tokio`, a buffer only while data is ready.
    let server = serve(pool.clone(), Reads::Pool).await?;
    let heap0 = HEAP.load(Ordering::Relaxed);
    let mut clients = open_idle(&server, idle, "pool").await?;
    let pool_heap = HEAP.load(Ordering::Relaxed).saturating_sub(heap0);
    let s = pool.stats();
    println!("while {idle} connections wait in a read:");
    println!(
        "  read buffers held   pool: {} in {} buffers   naive: {} ({} x 16 KiB)",
        mib(s.outstanding_bytes as f64),
        s.outstanding_buffers,
        mib((idle * 16 * KIB) as f64),
        idle
    );
    println!(
        "  heap per connection pool: {:.0} B   naive: {:.0} B   (task, socket and buffer, measured)",
        pool_heap as f64 / idle as f64,
        naive_heap as f64 / idle as f64
    );

    // A few clients stream while the idle ones keep waiting.
    const STREAMS: usize = 4;
    const SECS: f64 = 3.0;
    println!("{STREAMS} clients stream for {SECS} s while {idle} connections stay idle:");
    let chunk: Arc<[u8]> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let t = Instant::now();
    let writers: Vec<_> = (0..STREAMS)
        .map(|_| {
            let chunk = chunk.clone();
            let addr = server.addr;
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
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (b, now) = (server.bytes.load(Ordering::Relaxed), t.elapsed().as_secs_f64());
        println!(
            "  {now:>4.1} s: {:>10} read, {:>6.0} MiB/s, buffers out now {}",
            mib(b as f64),
            (b - last) as f64 / MIB as f64 / (now - last_t),
            pool.stats().outstanding_buffers
        );
        (last, last_t) = (b, now);
    }
    for w in writers {
        w.await.expect("writer task")?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let total = server.bytes.load(Ordering::Relaxed);
    println!(
        "throughput: {} in {:.1} s = {:.0} MiB/s",
        mib(total as f64),
        t.elapsed().as_secs_f64(),
        total as f64 / MIB as f64 / t.elapsed().as_secs_f64()
    );

    // One idle client finally speaks: its read takes a buffer just then.
    clients[0].write_all(b"hello after the wait").await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    report(&pool.stats());
    drop(clients);
    Ok(())
}

fn report(s: &Stats) {
    println!("pool stats: {s}");
    println!(
        "  hit rate {:.2}% ({} gets: {} from the thread cache, {} from shards, {} stolen, {} fresh); \
         {} right-sized reads; {} buffers out now",
        s.hit_rate() * 100.0,
        s.gets,
        s.cache_hits,
        s.shard_hits,
        s.steals,
        s.fresh_allocations,
        s.right_sized,
        s.outstanding_buffers
    );
}
