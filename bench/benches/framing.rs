//! Line and length-delimited framing throughput: `BufferPool::lines` against
//! `tokio_util::codec::LinesCodec` and `BufReader::read_until` into a `Vec`,
//! and `BufferPool::length_delimited` against `LengthDelimitedCodec`, in one
//! criterion run over the same in-memory input.
//!
//! ```text
//! cargo bench -p bench --bench framing -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p bench --bench framing -- copy_below   # only the copy_below study
//! ```
//!
//! Before the criterion groups it prints the `copy_below` study behind
//! `DEFAULT_COPY_BELOW` (see [`copy_below_study`]) and `pool.framed_read`
//! against `FramedRead` (`-- framed_read` stops after those), then
//! `pool.frame_writer_tokio` against `FramedWrite` (`-- frame_writer`).
//!
//! Every contender reads 16 KiB at a time and touches each line (its length
//! and first byte), then drops it. `LinesCodec` also checks UTF-8 and yields
//! a `String`; that is part of what it costs its users.

use bufpool::BufferPool;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use std::hint::black_box;
use std::io::BufRead;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec, LinesCodec};

const INPUT_BYTES: usize = 4 << 20;
const READ_SIZE: usize = 16 << 10;

/// Lines of printable ASCII with lengths spread over `min..=max`, about
/// `INPUT_BYTES` in all, with every fourth line ending in `\r\n`.
fn line_input(min: usize, max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(INPUT_BYTES + max + 2);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut i = 0;
    while out.len() < INPUT_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = min + (x as usize) % (max - min + 1);
        out.extend((0..len).map(|j| b'a' + ((j + i) % 26) as u8));
        out.extend_from_slice(if i % 4 == 0 { b"\r\n" } else { b"\n" });
        i += 1;
    }
    out
}

fn frame_input(min: usize, max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(INPUT_BYTES + max + 4);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while out.len() < INPUT_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = min + (x as usize) % (max - min + 1);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend(std::iter::repeat_n(b'f', len));
    }
    out
}

fn bufpool_lines(pool: &BufferPool, input: &[u8]) -> usize {
    futures::executor::block_on(async {
        // Zero-copy slices, to compare the framing itself; what the default
        // copy of short lines costs is the `copy_below` study's business.
        let mut lines = pool.lines(input).max_len(usize::MAX).copy_below(0);
        let mut sum = 0;
        while let Some(line) = lines.next_line().await.expect("in-memory input") {
            sum += line.len() + line.first().copied().unwrap_or(0) as usize;
        }
        sum
    })
}

fn lines_codec(input: &[u8]) -> usize {
    futures::executor::block_on(async {
        let mut framed = FramedRead::with_capacity(input, LinesCodec::new(), READ_SIZE);
        let mut sum = 0;
        while let Some(line) = framed.next().await {
            let line = line.expect("in-memory input");
            sum += line.len() + line.as_bytes().first().copied().unwrap_or(0) as usize;
        }
        sum
    })
}

fn read_until(input: &[u8]) -> usize {
    let mut r = std::io::BufReader::with_capacity(READ_SIZE, input);
    let mut line = Vec::with_capacity(256);
    let mut sum = 0;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).expect("in-memory input") == 0 {
            return sum;
        }
        // Strip the ending, as the other two do.
        let mut l = &line[..];
        if let Some(s) = l.strip_suffix(b"\n") {
            l = s.strip_suffix(b"\r").unwrap_or(s);
        }
        sum += l.len() + l.first().copied().unwrap_or(0) as usize;
    }
}

fn bench_lines(c: &mut Criterion) {
    let pool = BufferPool::builder().read_size(READ_SIZE).build().expect("valid");
    let mut g = c.benchmark_group("lines");
    for (name, min, max) in [("short_10-80B", 10, 80), ("long_200-2000B", 200, 2000)] {
        let input = line_input(min, max);
        let want = read_until(&input);
        assert_eq!(bufpool_lines(&pool, &input), want);
        assert_eq!(lines_codec(&input), want);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_with_input(BenchmarkId::new("bufpool_lines", name), &input, |b, i| {
            b.iter(|| black_box(bufpool_lines(&pool, i)))
        });
        g.bench_with_input(BenchmarkId::new("tokio_util_LinesCodec", name), &input, |b, i| {
            b.iter(|| black_box(lines_codec(i)))
        });
        g.bench_with_input(BenchmarkId::new("BufReader_read_until_Vec", name), &input, |b, i| {
            b.iter(|| black_box(read_until(i)))
        });
    }
    g.finish();
}

fn bufpool_frames(pool: &BufferPool, input: &[u8]) -> usize {
    futures::executor::block_on(async {
        let mut frames = pool.length_delimited(input).copy_below(0);
        let mut sum = 0;
        while let Some(f) = frames.next_frame().await.expect("in-memory input") {
            sum += f.len() + f.first().copied().unwrap_or(0) as usize;
        }
        sum
    })
}

fn length_delimited_codec(input: &[u8]) -> usize {
    futures::executor::block_on(async {
        let mut framed = FramedRead::with_capacity(input, LengthDelimitedCodec::new(), READ_SIZE);
        let mut sum = 0;
        while let Some(f) = framed.next().await {
            let f = f.expect("in-memory input");
            sum += f.len() + f.first().copied().unwrap_or(0) as usize;
        }
        sum
    })
}

fn bench_frames(c: &mut Criterion) {
    let pool = BufferPool::builder().read_size(READ_SIZE).build().expect("valid");
    let mut g = c.benchmark_group("frames");
    for (name, min, max) in [("small_10-200B", 10, 200), ("large_4-64KiB", 4 << 10, 64 << 10)] {
        let input = frame_input(min, max);
        let want = length_delimited_codec(&input);
        assert_eq!(bufpool_frames(&pool, &input), want);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_with_input(BenchmarkId::new("bufpool_length_delimited", name), &input, |b, i| {
            b.iter(|| black_box(bufpool_frames(&pool, i)))
        });
        g.bench_with_input(BenchmarkId::new("tokio_util_LengthDelimitedCodec", name), &input, |b, i| {
            b.iter(|| black_box(length_delimited_codec(i)))
        });
    }
    g.finish();
}

/// A reader that hands out one line per read, as a request/response client
/// does (a packet per request).
struct LinePerRead<'a> {
    rest: &'a [u8],
}

impl futures::io::AsyncRead for LinePerRead<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let end = self.rest.iter().position(|&b| b == b'\n').map_or(self.rest.len(), |i| i + 1);
        let n = end.min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        std::task::Poll::Ready(Ok(n))
    }
}

/// Heap bytes in use (glibc `mallinfo2`: main arena plus mmapped chunks).
fn heap_in_use() -> usize {
    // SAFETY: `mallinfo2` only reads allocator statistics; it has no
    // preconditions.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The measurement behind `DEFAULT_COPY_BELOW`, per threshold:
/// * the README's store: 10,000 `SET key value` lines with 32-byte values,
///   one line per read, each line kept in a `HashMap` (`store.insert(key,
///   line)`); retained memory
///   (heap plus pooled buffers kept alive, after the reader is gone) and the
///   time to read and store them all;
/// * streaming lines that are dropped at once (where slicing is free), short
///   and long: the time a copy adds when nothing is kept.
fn copy_below_study() {
    use std::collections::HashMap;
    const KEYS: usize = 10_000;
    const THRESHOLDS: [usize; 6] = [0, 64, 128, 256, 1024, 4096];
    let input: Vec<u8> = (0..KEYS).flat_map(|i| format!("SET key{i:05} {:032}\n", i * 7919).into_bytes()).collect();
    let data = input.len() - KEYS; // the lines without their `\n`
    println!("copy_below: store of {KEYS} `SET key value` lines with 32-byte values, one line per read, kept whole ({data} bytes of lines)");
    // The map alone (keys and values borrowed from the input, no allocation
    // per entry): what every row pays whatever the framing does.
    let map_only = median(
        (0..5)
            .map(|_| {
                let before = heap_in_use();
                let mut store: HashMap<u32, bytes::Bytes> = HashMap::with_capacity(KEYS);
                let stat: &'static [u8] = Box::leak(input.clone().into_boxed_slice());
                for (i, line) in stat.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
                    store.insert(i as u32, bytes::Bytes::from_static(line));
                }
                let after = heap_in_use().saturating_sub(before + stat.len());
                black_box(&store);
                after as f64
            })
            .collect(),
    );
    println!("  the HashMap alone: {:.1} KiB (subtracted below)", map_only / 1024.0);
    println!("  {:>10} {:>14} {:>10} {:>14} {:>12}", "copy_below", "lines keep", "x data", "pooled bufs", "time");
    for t in THRESHOLDS {
        let (mut times, mut retained, mut bufs) = (Vec::new(), Vec::new(), 0);
        for _ in 0..9 {
            let pool = BufferPool::builder().read_size(READ_SIZE).max_pooled_bytes(1 << 30).build().expect("valid");
            let before = heap_in_use();
            let start = std::time::Instant::now();
            let store = futures::executor::block_on(async {
                let mut lines = pool.lines(LinePerRead { rest: &input }).copy_below(t);
                let mut store: HashMap<u32, bytes::Bytes> = HashMap::with_capacity(KEYS);
                let mut i = 0;
                while let Some(line) = lines.next_line().await.expect("in-memory input") {
                    // The README's `store.insert(key, line)`.
                    store.insert(i, line);
                    i += 1;
                }
                store
            });
            times.push(start.elapsed().as_secs_f64());
            let stats = pool.stats();
            // Pooled buffers kept alive by slices are heap too (the pool
            // allocates through the global allocator); count them once.
            retained.push(heap_in_use().saturating_sub(before) as f64 - map_only);
            bufs = stats.outstanding_buffers;
            assert_eq!(store.len(), KEYS);
            black_box(&store);
            drop(store);
        }
        let r = median(retained);
        println!(
            "  {t:>10} {:>11.1} KiB {:>9.1}x {bufs:>14} {:>9.2} ms",
            r / 1024.0,
            r / data as f64,
            median(times) * 1e3
        );
    }
    let pool = BufferPool::builder().read_size(READ_SIZE).build().expect("valid");
    for (name, min, max) in [("short 10-80 B", 10, 80), ("long 200-2000 B", 200, 2000)] {
        let input = line_input(min, max);
        let run = |t: usize| {
            futures::executor::block_on(async {
                let mut lines = pool.lines(&input[..]).max_len(usize::MAX).copy_below(t);
                let mut sum = 0;
                while let Some(line) = lines.next_line().await.expect("in-memory input") {
                    sum += line.len() + line.first().copied().unwrap_or(0) as usize;
                }
                sum
            })
        };
        // Interleaved rounds, so a noisy neighbour hits every threshold alike.
        let mut times = vec![Vec::new(); THRESHOLDS.len()];
        for round in 0..11 {
            for k in 0..THRESHOLDS.len() {
                let i = (round + k) % THRESHOLDS.len();
                let start = std::time::Instant::now();
                black_box(run(THRESHOLDS[i]));
                times[i].push(start.elapsed().as_secs_f64());
            }
        }
        let base = median(times[0].clone());
        print!("copy_below: streaming {name} ({} MiB), median of 11 interleaved rounds:", input.len() >> 20);
        for (i, t) in THRESHOLDS.iter().enumerate() {
            let m = median(times[i].clone());
            print!("  {t}: {:.2} ms ({:.2}x)", m * 1e3, m / base);
        }
        println!();
    }
}

/// `pool.framed_read(reader, codec)` against `FramedRead::new(reader,
/// codec)`: the same decoders over the same 4 MiB, interleaved rounds, so
/// the figure is what reading into pooled buffers and copying into the
/// decoder's `BytesMut` costs against reading into it directly.
fn framed_read_vs_tokio() {
    let pool = BufferPool::builder().read_size(READ_SIZE).build().expect("valid");
    let lines = line_input(10, 80);
    let frames = frame_input(10, 200);
    let ours_lines = || {
        futures::executor::block_on(async {
            let mut f = pool.framed_read(&lines[..], LinesCodec::new());
            let mut sum = 0;
            while let Some(l) = f.next().await {
                sum += l.expect("in-memory input").len();
            }
            sum
        })
    };
    let theirs_lines = || {
        futures::executor::block_on(async {
            let mut f = FramedRead::with_capacity(&lines[..], LinesCodec::new(), READ_SIZE);
            let mut sum = 0;
            while let Some(l) = f.next().await {
                sum += l.expect("in-memory input").len();
            }
            sum
        })
    };
    let ours_frames = || {
        futures::executor::block_on(async {
            let mut f = pool.framed_read(&frames[..], LengthDelimitedCodec::new());
            let mut sum = 0;
            while let Some(x) = f.next().await {
                sum += x.expect("in-memory input").len();
            }
            sum
        })
    };
    let theirs_frames = || {
        futures::executor::block_on(async {
            let mut f = FramedRead::with_capacity(&frames[..], LengthDelimitedCodec::new(), READ_SIZE);
            let mut sum = 0;
            while let Some(x) = f.next().await {
                sum += x.expect("in-memory input").len();
            }
            sum
        })
    };
    assert_eq!(ours_lines(), theirs_lines());
    assert_eq!(ours_frames(), theirs_frames());
    for (name, a, b) in [
        ("LinesCodec, 10-80 B lines", &ours_lines as &dyn Fn() -> usize, &theirs_lines as &dyn Fn() -> usize),
        ("LengthDelimitedCodec, 10-200 B frames", &ours_frames, &theirs_frames),
    ] {
        let (mut ta, mut tb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..11 {
            let (x, y) = if round % 2 == 0 {
                let t = std::time::Instant::now();
                black_box(a());
                let x = t.elapsed().as_secs_f64();
                let t = std::time::Instant::now();
                black_box(b());
                (x, t.elapsed().as_secs_f64())
            } else {
                let t = std::time::Instant::now();
                black_box(b());
                let y = t.elapsed().as_secs_f64();
                let t = std::time::Instant::now();
                black_box(a());
                (t.elapsed().as_secs_f64(), y)
            };
            ta.push(x);
            tb.push(y);
            ratio.push(y / x);
        }
        println!(
            "framed_read/{name} (4 MiB, 11 interleaved rounds): pool.framed_read {:.2} ms, FramedRead {:.2} ms, median FramedRead/ours {:.2}x",
            median(ta) * 1e3,
            median(tb) * 1e3,
            median(ratio)
        );
    }
}

/// A writer like a socket: takes every slice of a vectored write, copying
/// the bytes (as the kernel does) into a scratch area.
struct CopySink {
    scratch: Vec<u8>,
    bytes: usize,
    calls: usize,
}

impl CopySink {
    fn new() -> Self {
        CopySink { scratch: vec![0; 64 << 10], bytes: 0, calls: 0 }
    }

    fn take(&mut self, bufs: &[std::io::IoSlice<'_>]) -> usize {
        self.calls += 1;
        let mut n = 0;
        for b in bufs {
            for chunk in b.chunks(self.scratch.len()) {
                self.scratch[..chunk.len()].copy_from_slice(chunk);
            }
            n += b.len();
        }
        self.bytes += n;
        n
    }
}

impl tokio::io::AsyncWrite for CopySink {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(self.get_mut().take(&[std::io::IoSlice::new(buf)])))
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(self.get_mut().take(bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// `pool.frame_writer_tokio` against `FramedWrite` with
/// `LengthDelimitedCodec`, both into a [`CopySink`], in batches (feed a
/// batch, then flush), interleaved rounds.
fn frame_writer_vs_tokio() {
    use futures::SinkExt;
    let pool = BufferPool::builder().read_size(READ_SIZE).build().expect("valid");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let small: Vec<bytes::Bytes> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes::Bytes::from(vec![b's'; 10 + (x as usize) % 191])
        })
        .collect();
    let large: Vec<bytes::Bytes> = (0..1_000).map(|_| bytes::Bytes::from(vec![b'L'; 64 << 10])).collect();
    for (name, items, batch) in
        [("10-200 B frames, batches of 64", &small, 64), ("64 KiB frames, batches of 16", &large, 16)]
    {
        let ours = || {
            futures::executor::block_on(async {
                let mut w = pool.frame_writer_tokio(CopySink::new());
                for chunk in items.chunks(batch) {
                    for it in chunk {
                        w.feed(it.clone()).expect("fits");
                    }
                    w.flush().await.expect("in-memory sink");
                }
                (w.get_ref().bytes, w.get_ref().calls)
            })
        };
        let theirs = || {
            futures::executor::block_on(async {
                let mut w = tokio_util::codec::FramedWrite::new(CopySink::new(), LengthDelimitedCodec::new());
                for chunk in items.chunks(batch) {
                    for it in chunk {
                        w.feed(it.clone()).await.expect("in-memory sink");
                    }
                    SinkExt::<bytes::Bytes>::flush(&mut w).await.expect("in-memory sink");
                }
                (w.get_ref().bytes, w.get_ref().calls)
            })
        };
        let (ob, oc) = ours();
        let (tb, tc) = theirs();
        assert_eq!(ob, tb);
        let (mut ta, mut tt, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..11 {
            let time = |f: &dyn Fn() -> (usize, usize)| {
                let t = std::time::Instant::now();
                black_box(f());
                t.elapsed().as_secs_f64()
            };
            let (a, b) = if round % 2 == 0 {
                let a = time(&ours);
                (a, time(&theirs))
            } else {
                let b = time(&theirs);
                (time(&ours), b)
            };
            ta.push(a);
            tt.push(b);
            ratio.push(b / a);
        }
        println!(
            "frame_writer/{name} ({} MiB, 11 interleaved rounds): frame_writer {:.2} ms in {oc} writes, FramedWrite {:.2} ms in {tc} writes, median FramedWrite/ours {:.2}x",
            ob >> 20,
            median(ta) * 1e3,
            median(tt) * 1e3,
            median(ratio)
        );
    }
}

criterion_group!(benches, bench_lines, bench_frames);

fn main() {
    copy_below_study();
    if std::env::args().any(|a| a == "copy_below") {
        return;
    }
    framed_read_vs_tokio();
    if std::env::args().any(|a| a == "framed_read") {
        return;
    }
    frame_writer_vs_tokio();
    if std::env::args().any(|a| a == "frame_writer") {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
