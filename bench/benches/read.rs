//! Async read layer benchmarks, side by side in one run with
//! async-io-bufpool 0.2, a new `Vec` per read, `BytesMut` + `read_buf`
//! (tokio), `futures::io::copy` and `tokio::io::copy`.
//!
//! * `read_ready/<chunk>`: one read from an always-ready in-memory reader
//!   that yields `chunk` bytes per call (512 B, 4 KiB, 16 KiB, 64 KiB); the
//!   result is dropped.
//! * `copy_64MiB`: 64 MiB from an in-memory reader into a preallocated
//!   in-memory writer.
//! * Idle memory (printed before the criterion groups): heap bytes per pending
//!   read over 100,000 pending reads (glibc `mallinfo2`, main arena).
//! * `buf_reader`: `bufpool::BufReader` against `tokio::io::BufReader`: heap
//!   bytes per idle reader (10,000), `read_line` over short lines and
//!   `read_until` over long ones (interleaved, 16 KiB reads).
//! * `idle_wake`: the cost of one wake-up of an idle read (lend, `Pending`,
//!   give back) per zeroing mode; under `Zeroing::OnReturn` a reader may
//!   have written into the lent slice, so what goes home is checked or
//!   scrubbed.
//!
//! Results and commands: `docs/benchmarks.md`.
//!
//! ```text
//! cargo bench -p bench --bench read -- --warm-up-time 1 --measurement-time 3
//! ```

use bufpool::BufferPool;
use criterion::{Criterion, Throughput};
use futures::FutureExt;
use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const CHUNKS: &[usize] = &[512, 4 * KIB, 16 * KIB, 64 * KIB];

/// Always ready; yields up to `chunk` bytes per call from a static pattern.
struct Ready {
    src: Vec<u8>,
    chunk: usize,
}

impl Ready {
    fn new(chunk: usize) -> Self {
        Self { src: (0..chunk).map(|i| i as u8).collect(), chunk }
    }
}

impl futures::io::AsyncRead for Ready {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let n = self.chunk.min(buf.len());
        buf[..n].copy_from_slice(&self.src[..n]);
        Poll::Ready(Ok(n))
    }
}

impl tokio::io::AsyncRead for Ready {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = self.chunk.min(buf.remaining());
        buf.put_slice(&self.src[..n]);
        Poll::Ready(Ok(()))
    }
}

/// Polls a future that must be ready on its first poll.
#[inline]
fn now<F: Future>(f: F) -> F::Output {
    f.now_or_never().expect("an in-memory reader is always ready")
}

fn read_ready(c: &mut Criterion) {
    for &chunk in CHUNKS {
        let mut g = c.benchmark_group(format!("read_ready/{chunk}"));
        g.throughput(Throughput::Bytes(chunk as u64));
        let pool = BufferPool::builder().read_size(chunk).build().unwrap();
        let mut r = Ready::new(chunk);
        g.bench_function("bufpool::read", |b| b.iter(|| black_box(now(pool.read(&mut r)).unwrap())));
        g.bench_function("async_io_bufpool::pooled_read", |b| {
            b.iter(|| black_box(now(async_io_bufpool::pooled_read(&mut r, chunk)).unwrap()))
        });
        g.bench_function("vec_per_read", |b| {
            b.iter(|| {
                let mut v = vec![0u8; chunk];
                let n = now(futures::AsyncReadExt::read(&mut r, &mut v)).unwrap();
                v.truncate(n);
                black_box(v)
            })
        });
        g.bench_function("bytesmut_read_buf", |b| {
            b.iter(|| {
                let mut m = bytes::BytesMut::with_capacity(chunk);
                now(tokio::io::AsyncReadExt::read_buf(&mut r, &mut m)).unwrap();
                black_box(m)
            })
        });
        g.finish();
    }
}

fn copy(c: &mut Criterion) {
    const LEN: usize = 64 * MIB;
    let src: Vec<u8> = (0..LEN).map(|i| (i * 7) as u8).collect();
    let mut dst = vec![0u8; LEN];
    let pool = BufferPool::new();
    let mut g = c.benchmark_group("copy_64MiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(20);
    g.bench_function("bufpool::copy", |b| {
        b.iter(|| {
            let mut w = futures::io::Cursor::new(&mut dst[..]);
            let n = futures::executor::block_on(pool.copy(&src[..], &mut w)).unwrap();
            assert_eq!(n as usize, LEN);
        })
    });
    g.bench_function("futures::io::copy", |b| {
        b.iter(|| {
            let mut w = futures::io::Cursor::new(&mut dst[..]);
            let n = futures::executor::block_on(futures::io::copy(&src[..], &mut w)).unwrap();
            assert_eq!(n as usize, LEN);
        })
    });
    g.bench_function("async_io_bufpool::pooled_copy", |b| {
        b.iter(|| {
            let mut w = futures::io::Cursor::new(&mut dst[..]);
            let n = futures::executor::block_on(async_io_bufpool::pooled_copy(&src[..], &mut w)).unwrap();
            assert_eq!(n as usize, LEN);
        })
    });
    g.bench_function("tokio::io::copy", |b| {
        b.iter(|| {
            let mut r = &src[..];
            let mut w = std::io::Cursor::new(&mut dst[..]);
            let n = futures::executor::block_on(tokio::io::copy(&mut r, &mut w)).unwrap();
            assert_eq!(n as usize, LEN);
        })
    });
    g.finish();
    // Every iteration copied all of `src` (checked above), so `dst` is a copy
    // of it unless the filter skipped every method.
    assert!(dst[..] == src[..] || dst.iter().all(|&b| b == 0));
}

/// A reader that never has data.
struct Never;

impl futures::io::AsyncRead for Never {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
}

impl tokio::io::AsyncRead for Never {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

/// Heap bytes in use in the main arena (plus mmapped chunks), per glibc.
fn heap_in_use() -> usize {
    // SAFETY: `mallinfo2` only reads allocator statistics; it has no
    // preconditions.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

/// Starts `n` pending reads made by `make`, each polled once, and returns
/// (heap bytes per pending read, size_of the future).
fn idle_bytes<'a, F: Future + 'a>(readers: &'a mut [Never], make: impl Fn(&'a mut Never) -> F) -> (f64, usize) {
    let n = readers.len();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let before = heap_in_use();
    let mut futs: Vec<Pin<Box<F>>> = readers.iter_mut().map(|r| Box::pin(make(r))).collect();
    for f in &mut futs {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    let after = heap_in_use();
    black_box(&futs);
    ((after.saturating_sub(before)) as f64 / n as f64, std::mem::size_of::<F>())
}

fn idle_memory() {
    const N: usize = 100_000;
    let mut readers: Vec<Never> = (0..N).map(|_| Never).collect();
    let pool = BufferPool::new();
    println!("idle memory: heap bytes per pending read over {N} pending reads (16 KiB reads), future boxed:");
    let (b, s) = idle_bytes(&mut readers, |r| pool.read_up_to(r, 16 * KIB));
    let outstanding = pool.stats().outstanding_buffers;
    println!("  idle/bufpool::read                    {b:>10.1} B/read  (size_of future {s} B, outstanding buffers {outstanding})");
    let pool_b = b;
    let (b, s) = idle_bytes(&mut readers, |r| async_io_bufpool::pooled_read(r, 16 * KIB));
    println!(
        "  idle/async_io_bufpool::pooled_read    {b:>10.1} B/read  (size_of future {s} B; plus 64 KiB TLS per thread)"
    );
    let (naive, s) = idle_bytes(&mut readers, |r| async move {
        let mut buf = vec![0u8; 16 * KIB];
        futures::AsyncReadExt::read(r, &mut buf).await.map(|n| buf.truncate(n))
    });
    println!("  idle/naive_vec_16KiB                  {naive:>10.1} B/read  (size_of future {s} B)");
    println!("  idle ratio bufpool / naive: {:.4} %", pool_b / naive * 100.0);
}

/// Times `methods` round-robin (one batch of each per round, the starting
/// method rotating), so a noisy neighbour hits every method alike; prints each
/// method's median batch time and the median of its per-round ratio to the
/// first method.
fn interleaved(title: &str, rounds: usize, methods: &mut [(&str, &mut dyn FnMut())]) {
    let m = methods.len();
    let mut times = vec![Vec::with_capacity(rounds); m];
    for round in 0..rounds + 1 {
        for k in 0..m {
            let i = (round + k) % m;
            let t = std::time::Instant::now();
            (methods[i].1)();
            if round > 0 {
                times[i].push(t.elapsed().as_secs_f64());
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("{title}: median of {rounds} interleaved rounds");
    for i in 0..m {
        let mut ratios: Vec<f64> = (0..rounds).map(|r| times[i][r] / times[0][r]).collect();
        let mut t = times[i].clone();
        println!(
            "  {:<34} {:>12.3} ms   {:>6.2}x the time of {}",
            methods[i].0,
            median(&mut t) * 1e3,
            median(&mut ratios),
            methods[0].0
        );
    }
}

/// Heap bytes per idle buffered reader: `n` readers over a reader that is
/// always `Pending`, each boxed and its `poll_fill_buf` polled once.
fn idle_buf_readers<B: tokio::io::AsyncBufRead + Unpin>(n: usize, make: impl Fn() -> B) -> f64 {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let before = heap_in_use();
    let mut readers: Vec<Box<B>> = (0..n).map(|_| Box::new(make())).collect();
    for r in &mut readers {
        assert!(Pin::new(&mut **r).poll_fill_buf(&mut cx).is_pending());
    }
    let after = heap_in_use();
    black_box(&readers);
    after.saturating_sub(before) as f64 / n as f64
}

/// `bufpool::BufReader` against `tokio::io::BufReader`: idle bytes per
/// connection, then `read_line` over short lines and `read_until` over long
/// ones, interleaved, both reading 16 KiB at a time from an in-memory reader.
fn buf_reader() {
    use tokio::io::AsyncBufReadExt;
    const N: usize = 10_000;
    let pool = BufferPool::builder().read_size(16 * KIB).build().unwrap();
    let ours = idle_buf_readers(N, || bufpool::BufReader::new(&pool, Never));
    let out = pool.stats().outstanding_buffers;
    let theirs = idle_buf_readers(N, || tokio::io::BufReader::new(Never));
    let theirs16 = idle_buf_readers(N, || tokio::io::BufReader::with_capacity(16 * KIB, Never));
    println!("idle buffered readers: heap bytes per reader over {N} idle readers, boxed, polled once:");
    println!("  bufpool::BufReader (16 KiB reads)        {ours:>10.1} B  (outstanding buffers {out})");
    println!("  tokio::io::BufReader::new (8 KiB)        {theirs:>10.1} B");
    println!("  tokio::io::BufReader::with_capacity(16K) {theirs16:>10.1} B");

    let lines = |min: usize, max: usize, total: usize| {
        let mut out = Vec::with_capacity(total + max + 1);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        while out.len() < total {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = min + (x as usize) % (max - min + 1);
            out.extend(std::iter::repeat_n(b'a' + (x % 26) as u8, len));
            out.push(b'\n');
        }
        out
    };
    let short = lines(10, 80, 32 * MIB);
    let long = lines(4 * KIB, 64 * KIB, 32 * MIB);
    let read_lines = |r: &mut (dyn tokio::io::AsyncBufRead + Unpin)| {
        let mut s = String::new();
        let mut n = 0usize;
        while now(r.read_line(&mut s)).unwrap() > 0 {
            n += s.len();
            s.clear();
        }
        assert_eq!(n, short.len());
    };
    let read_until = |r: &mut (dyn tokio::io::AsyncBufRead + Unpin)| {
        let mut v = Vec::new();
        let mut n = 0usize;
        while now(r.read_until(b'\n', &mut v)).unwrap() > 0 {
            n += v.len();
            v.clear();
        }
        assert_eq!(n, long.len());
    };
    interleaved(
        "buf_reader/read_line, 32 MiB of 10-80 B lines",
        11,
        &mut [
            ("bufpool::BufReader", &mut || read_lines(&mut bufpool::BufReader::new(&pool, &short[..]))),
            ("tokio::io::BufReader 16 KiB", &mut || {
                read_lines(&mut tokio::io::BufReader::with_capacity(16 * KIB, &short[..]))
            }),
        ],
    );
    interleaved(
        "buf_reader/read_until, 32 MiB of 4-64 KiB lines",
        11,
        &mut [
            ("bufpool::BufReader", &mut || read_until(&mut bufpool::BufReader::new(&pool, &long[..]))),
            ("tokio::io::BufReader 16 KiB", &mut || {
                read_until(&mut tokio::io::BufReader::with_capacity(16 * KIB, &long[..]))
            }),
        ],
    );
}

/// Wake-ups of idle reads: each poll lends a 16 KiB buffer to a reader that
/// answers `Pending` and takes it back, per zeroing mode, interleaved. The
/// plain `Never` line is what every mode would cost if nothing went home
/// dirty.
fn idle_wake() {
    use bufpool::Zeroing;
    const WAKES: usize = 20_000;
    let waker = futures::task::noop_waker();
    let modes = [("Never", Zeroing::Never), ("OnGet", Zeroing::OnGet), ("OnReturn", Zeroing::OnReturn)];
    let pools: Vec<BufferPool> =
        modes.iter().map(|&(_, z)| BufferPool::builder().zeroing(z).read_size(16 * KIB).build().unwrap()).collect();
    let wake = |pool: &BufferPool| {
        let mut cx = Context::from_waker(&waker);
        let mut r = Never;
        for _ in 0..WAKES {
            let mut f = pool.read(&mut r);
            assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        }
    };
    let (p0, p1, p2) = (&pools[0], &pools[1], &pools[2]);
    interleaved(
        &format!("idle_wake/16KiB x {WAKES} pending polls"),
        31,
        &mut [(modes[0].0, &mut || wake(p0)), (modes[1].0, &mut || wake(p1)), (modes[2].0, &mut || wake(p2))],
    );
}

/// The read and copy comparisons again, interleaved (see [`interleaved`]).
fn interleaved_runs() {
    const READS: usize = 20_000;
    for &chunk in CHUNKS {
        let pool = BufferPool::builder().read_size(chunk).build().unwrap();
        let mut r1 = Ready::new(chunk);
        let mut r2 = Ready::new(chunk);
        let mut r3 = Ready::new(chunk);
        let mut r4 = Ready::new(chunk);
        interleaved(
            &format!("read_ready/{chunk} x {READS} reads"),
            21,
            &mut [
                ("bufpool::read", &mut || {
                    for _ in 0..READS {
                        black_box(now(pool.read(&mut r1)).unwrap());
                    }
                }),
                ("async_io_bufpool::pooled_read", &mut || {
                    for _ in 0..READS {
                        black_box(now(async_io_bufpool::pooled_read(&mut r2, chunk)).unwrap());
                    }
                }),
                ("vec_per_read", &mut || {
                    for _ in 0..READS {
                        let mut v = vec![0u8; chunk];
                        let n = now(futures::AsyncReadExt::read(&mut r3, &mut v)).unwrap();
                        v.truncate(n);
                        black_box(v);
                    }
                }),
                ("bytesmut_read_buf", &mut || {
                    for _ in 0..READS {
                        let mut m = bytes::BytesMut::with_capacity(chunk);
                        now(tokio::io::AsyncReadExt::read_buf(&mut r4, &mut m)).unwrap();
                        black_box(m);
                    }
                }),
            ],
        );
    }
    const LEN: usize = 64 * MIB;
    let src: Vec<u8> = (0..LEN).map(|i| (i * 7) as u8).collect();
    let mut dst = vec![0u8; LEN];
    let dst = std::cell::RefCell::new(&mut dst[..]);
    let pool = BufferPool::new();
    let run = |f: &mut dyn FnMut(&mut [u8]) -> u64| assert_eq!(f(&mut dst.borrow_mut()) as usize, LEN);
    interleaved(
        "copy_64MiB",
        21,
        &mut [
            ("bufpool::copy", &mut || {
                run(&mut |d| futures::executor::block_on(pool.copy(&src[..], futures::io::Cursor::new(d))).unwrap())
            }),
            ("futures::io::copy", &mut || {
                run(&mut |d| {
                    futures::executor::block_on(futures::io::copy(&src[..], &mut futures::io::Cursor::new(d))).unwrap()
                })
            }),
            ("async_io_bufpool::pooled_copy", &mut || {
                run(&mut |d| {
                    futures::executor::block_on(async_io_bufpool::pooled_copy(&src[..], futures::io::Cursor::new(d)))
                        .unwrap()
                })
            }),
            ("tokio::io::copy", &mut || {
                run(&mut |d| {
                    let mut w = std::io::Cursor::new(d);
                    futures::executor::block_on(tokio::io::copy(&mut &src[..], &mut w)).unwrap()
                })
            }),
        ],
    );
    assert!(dst.borrow()[..] == src[..]);
}

fn main() {
    idle_memory();
    idle_wake();
    if std::env::args().any(|a| a == "idle_wake") {
        return;
    }
    buf_reader();
    if std::env::args().any(|a| a == "buf_reader") {
        return;
    }
    interleaved_runs();
    let mut c = Criterion::default().configure_from_args();
    read_ready(&mut c);
    copy(&mut c);
    c.final_summary();
}
