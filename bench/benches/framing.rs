//! Line and length-delimited framing throughput: `BufferPool::lines` against
//! `tokio_util::codec::LinesCodec` and `BufReader::read_until` into a `Vec`,
//! and `BufferPool::length_delimited` against `LengthDelimitedCodec`, in one
//! criterion run over the same in-memory input.
//!
//! ```text
//! cargo bench -p bench --bench framing -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every contender reads 16 KiB at a time and touches each line (its length
//! and first byte), then drops it. `LinesCodec` also checks UTF-8 and yields
//! a `String`; that is part of what it costs its users.

use bufpool::BufferPool;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
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
        let mut lines = pool.lines(input).max_len(usize::MAX);
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
        let mut frames = pool.length_delimited(input);
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

criterion_group!(benches, bench_lines, bench_frames);
criterion_main!(benches);
