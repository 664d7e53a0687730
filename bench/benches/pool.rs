//! Core pool benchmarks: bufpool side by side, in the same run, with
//! zeropool 0.7, opool 0.2, object-pool 0.6, `bytes::BytesMut` and `Vec<u8>`.
//!
//! The groups reproduce zeropool 0.7's own `benches/pool.rs` (`hot_path`,
//! `realistic_write_st`, `realistic_write_mt`, `burst`, `mixed_uniform`,
//! `mixed_zipf`), and add `hot_path_inplace`, `large`, `two_pools` and
//! `stats_overhead`. The peers are set up as zeropool's bench sets them up (its
//! `benches/common/`). Pools are built once per benchmark, outside the timed
//! routine (criterion calls the routine once per sample), so every group
//! measures reuse, with the first allocation paid during warm-up.
//! Results and commands: `docs/benchmarks.md`.
//!
//! ```text
//! cargo bench -p bench --bench pool -- --warm-up-time 1 --measurement-time 2
//! cargo bench -p bench --bench pool -- hot_path          # one group
//! # stats_overhead (b): the same bench with the counters compiled out
//! CARGO_TARGET_DIR=target/nostats RUSTFLAGS="--cfg bufpool_no_stats" \
//!     cargo bench -p bench --bench pool -- stats_overhead/bufpool
//! ```

use bufpool::BufferPool;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use zeropool::ZeroPool;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const PAGE: usize = 4096;

/// hot_path / realistic_write_st sizes.
const SIZES: &[usize] = &[4 * KIB, 64 * KIB, MIB, 4 * MIB];
/// mixed_uniform: 7 sizes, 1 KiB to 4 MiB (zeropool's MIXED_SIZES).
const MIXED_SIZES: &[usize] = &[KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB];
/// mixed_zipf: ranked sizes, rank k drawn with weight 1/k.
const ZIPF_SIZES: &[usize] = &[KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB];
/// realistic_write_mt thread counts and ops per thread per iteration.
const THREADS: &[usize] = &[2, 4, 8, 16];
const MT_SIZE: usize = 64 * KIB;
const MT_OPS: u64 = 200;
/// burst depths.
const BURSTS: &[usize] = &[16, 64, 256];
/// large: one 512 MiB buffer.
const LARGE: usize = 512 * MIB;

/// Writes one byte per 4 KiB page (zeropool's `touch_pages`).
#[inline]
fn touch(buf: &mut [u8]) {
    let mut i = 0;
    while i < buf.len() {
        buf[i] = 0xAB;
        i += PAGE;
    }
    black_box(buf);
}

/// `touch` for zeropool's `BufUninit` (writes through `MaybeUninit`, no unsafe).
#[inline]
fn touch_uninit(buf: &mut [MaybeUninit<u8>]) {
    let mut i = 0;
    while i < buf.len() {
        buf[i] = MaybeUninit::new(0xAB);
        i += PAGE;
    }
    black_box(buf);
}

/// bufpool with explicit settings that do not depend on the machine's memory:
/// a 1 GiB cap (so the per-thread cache bound is its default 32 MiB), every
/// other setting derived from the CPU count (2 here: TLS depth 4, 4 shards,
/// 16 buffers per shard).
fn bufpool_default() -> BufferPool {
    BufferPool::builder().max_pooled_bytes(1 << 30).build().expect("valid config")
}

/// bufpool pooling from 1 KiB up (like zeropool's `min_buffer_size(0)`).
fn bufpool_no_min() -> BufferPool {
    BufferPool::builder().min_buffer_size(KIB).max_pooled_bytes(1 << 30).build().expect("valid config")
}

// ── peers, as zeropool's benches/common/competitors.rs builds them ──────

struct SizedVecAlloc(usize);
impl opool::PoolAllocator<Vec<u8>> for SizedVecAlloc {
    fn allocate(&self) -> Vec<u8> {
        Vec::with_capacity(self.0)
    }
}

struct ZeroedVecAlloc(usize);
impl opool::PoolAllocator<Vec<u8>> for ZeroedVecAlloc {
    fn allocate(&self) -> Vec<u8> {
        vec![0u8; self.0]
    }
}

type Opool<A> = opool::Pool<A, Vec<u8>>;

fn opool_capacity_zero(capacity: usize, size: usize) -> Arc<Opool<SizedVecAlloc>> {
    Arc::new(opool::Pool::new(capacity, SizedVecAlloc(size)))
}

fn opool_zeroed(capacity: usize, size: usize) -> Arc<Opool<ZeroedVecAlloc>> {
    Arc::new(opool::Pool::new(capacity, ZeroedVecAlloc(size)))
}

fn object_pool_zeroed(size: usize, capacity: usize) -> object_pool::Pool<Vec<u8>> {
    object_pool::Pool::new(capacity, move || vec![0u8; size])
}

// ── hot_path: get + drop, nothing written ───────────────────────────────

fn hot_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");
    for &size in SIZES {
        g.throughput(Throughput::Elements(1));
        let pool = bufpool_default();
        g.bench_with_input(BenchmarkId::new("bufpool", size), &size, |b, &size| {
            b.iter(|| {
                let buf = pool.get(black_box(size));
                black_box(&buf);
                drop(buf);
            });
        });
        let pool = ZeroPool::new();
        g.bench_with_input(BenchmarkId::new("zeropool_uninit", size), &size, |b, &size| {
            b.iter(|| {
                let buf = pool.alloc_uninit(black_box(size));
                black_box(&buf);
                drop(buf);
            });
        });
        // Safe `alloc` zeroes the whole buffer on every get.
        let pool = ZeroPool::new();
        g.bench_with_input(BenchmarkId::new("zeropool", size), &size, |b, &size| {
            b.iter(|| {
                let buf = pool.alloc(black_box(size));
                black_box(&buf);
                drop(buf);
            });
        });
        let pool = opool_capacity_zero(64, size);
        g.bench_with_input(BenchmarkId::new("opool", size), &size, |b, _| {
            b.iter(|| {
                let buf = pool.get();
                black_box(&*buf);
                drop(buf);
            });
        });
        // `get_rc`: the guard owns an `Arc` of the pool ('static, like a
        // PooledBuffer), one Arc clone per get.
        let pool = opool_capacity_zero(64, size);
        g.bench_with_input(BenchmarkId::new("opool_rc", size), &size, |b, _| {
            b.iter(|| {
                let buf = pool.clone().get_rc();
                black_box(&*buf);
                drop(buf);
            });
        });
        let pool = object_pool_zeroed(size, 16);
        g.bench_with_input(BenchmarkId::new("object_pool", size), &size, |b, &size| {
            b.iter(|| {
                let buf = pool.pull(|| Vec::with_capacity(size));
                black_box(&*buf);
                drop(buf);
            });
        });
        g.bench_with_input(BenchmarkId::new("bytes", size), &size, |b, &size| {
            b.iter(|| {
                let buf = bytes::BytesMut::with_capacity(black_box(size));
                black_box(&buf);
                drop(buf);
            });
        });
        g.bench_with_input(BenchmarkId::new("vec", size), &size, |b, &size| {
            b.iter(|| {
                let buf = Vec::<u8>::with_capacity(black_box(size));
                black_box(&buf);
                drop(buf);
            });
        });
    }
    g.finish();
}

// ── hot_path_inplace: 64 KiB get + drop, the buffer never moved ─────────
//
// `hot_path` (like zeropool's bench) binds the buffer, passes `&buf` to
// `black_box`, then moves it into `drop`: a 40-byte struct copy through memory
// that the CPU must store-forward right after the get wrote it. Here the
// temporary is dropped in place, so the figure is the pool's own cost.

fn hot_path_inplace(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path_inplace");
    let size = 64 * KIB;
    g.throughput(Throughput::Elements(1));
    let pool = bufpool_default();
    g.bench_with_input(BenchmarkId::new("bufpool", size), &size, |b, &size| {
        b.iter(|| black_box(&pool.get(black_box(size))).len());
    });
    let pool = ZeroPool::new();
    g.bench_with_input(BenchmarkId::new("zeropool_uninit", size), &size, |b, &size| {
        b.iter(|| black_box(&pool.alloc_uninit(black_box(size))).len());
    });
    let pool = opool_capacity_zero(64, size);
    g.bench_with_input(BenchmarkId::new("opool", size), &size, |b, _| {
        b.iter(|| black_box(&pool.get()).len());
    });
    g.finish();
}

// ── realistic_write_st: get + touch + drop ──────────────────────────────

fn realistic_write_st(c: &mut Criterion) {
    let mut g = c.benchmark_group("realistic_write_st");
    for &size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let pool = bufpool_default();
        g.bench_with_input(BenchmarkId::new("bufpool", size), &size, |b, &size| {
            b.iter(|| {
                let mut buf = pool.get(black_box(size));
                touch(&mut buf);
            });
        });
        let pool = ZeroPool::new().min_buffer_size(0);
        pool.warm(1, size);
        g.bench_with_input(BenchmarkId::new("zeropool", size), &size, |b, &size| {
            b.iter(|| {
                let mut buf = pool.alloc(black_box(size));
                touch(&mut buf);
            });
        });
        let pool = ZeroPool::new().min_buffer_size(0);
        pool.warm(1, size);
        g.bench_with_input(BenchmarkId::new("zeropool_uninit", size), &size, |b, &size| {
            b.iter(|| {
                let mut buf = pool.alloc_uninit(black_box(size));
                touch_uninit(buf.as_uninit_mut());
            });
        });
        let pool = opool_zeroed(64, size);
        g.bench_with_input(BenchmarkId::new("opool", size), &size, |b, _| {
            b.iter(|| {
                let mut buf = pool.get();
                touch(&mut buf);
            });
        });
        let pool = object_pool_zeroed(size, 16);
        g.bench_with_input(BenchmarkId::new("object_pool", size), &size, |b, &size| {
            b.iter(|| {
                let mut buf = pool.pull(|| vec![0u8; size]);
                touch(&mut buf);
            });
        });
        g.bench_with_input(BenchmarkId::new("bytes", size), &size, |b, &size| {
            b.iter(|| {
                let mut buf = bytes::BytesMut::zeroed(black_box(size));
                touch(&mut buf);
            });
        });
        g.bench_with_input(BenchmarkId::new("vec", size), &size, |b, &size| {
            b.iter(|| {
                let mut buf = vec![0u8; black_box(size)];
                touch(&mut buf);
            });
        });
    }
    g.finish();
}

// ── realistic_write_mt: 64 KiB × 200 ops per thread on 2..16 threads ────

/// Runs `op` `iters * MT_OPS` times on each of `threads` threads, released
/// together by a barrier; times from the release to the last join. Thread
/// spawning is outside the timed region.
fn run_threads<F: Fn() + Sync>(threads: usize, iters: u64, op: &F) -> Duration {
    let barrier = Barrier::new(threads + 1);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..iters * MT_OPS {
                        op();
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().expect("bench thread panicked");
        }
        start.elapsed()
    })
}

fn realistic_write_mt(c: &mut Criterion) {
    let mut g = c.benchmark_group("realistic_write_mt");
    g.sample_size(10);
    for &threads in THREADS {
        g.throughput(Throughput::Bytes((MT_SIZE * threads) as u64 * MT_OPS));
        let pool = bufpool_default();
        g.bench_with_input(BenchmarkId::new("bufpool", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(t, iters, &|| {
                    let mut buf = pool.get(MT_SIZE);
                    touch(&mut buf);
                })
            });
        });
        let pool = ZeroPool::new().min_buffer_size(0);
        g.bench_with_input(BenchmarkId::new("zeropool", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(t, iters, &|| {
                    let mut buf = pool.alloc(MT_SIZE);
                    touch(&mut buf);
                })
            });
        });
        let pool = ZeroPool::new().min_buffer_size(0);
        g.bench_with_input(BenchmarkId::new("zeropool_uninit", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(t, iters, &|| {
                    let mut buf = pool.alloc_uninit(MT_SIZE);
                    touch_uninit(buf.as_uninit_mut());
                })
            });
        });
        let pool = opool_zeroed(threads * 4, MT_SIZE);
        g.bench_with_input(BenchmarkId::new("opool", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(t, iters, &|| {
                    let mut buf = pool.get();
                    touch(&mut buf);
                })
            });
        });
        let pool = object_pool_zeroed(MT_SIZE, threads * 4);
        g.bench_with_input(BenchmarkId::new("object_pool", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(t, iters, &|| {
                    let mut buf = pool.pull(|| vec![0u8; MT_SIZE]);
                    touch(&mut buf);
                })
            });
        });
        g.bench_with_input(BenchmarkId::new("bytes", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(t, iters, &|| {
                    let mut buf = bytes::BytesMut::zeroed(MT_SIZE);
                    touch(&mut buf);
                })
            });
        });
        g.bench_with_input(BenchmarkId::new("vec", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(t, iters, &|| {
                    let mut buf = vec![0u8; MT_SIZE];
                    touch(&mut buf);
                })
            });
        });
    }
    g.finish();
}

// ── burst: N × 64 KiB held, then dropped ────────────────────────────────

fn burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("burst");
    g.sample_size(30);
    let size = 64 * KIB;
    for &n in BURSTS {
        g.throughput(Throughput::Elements(n as u64));
        // Every pool is sized to hold the whole burst (zeropool's bench gives
        // opool and object-pool `n + 8`; bufpool and zeropool get the same).
        let pool =
            BufferPool::builder().max_pooled_bytes(1 << 30).max_buffers_per_shard(n + 8).build().expect("valid config");
        g.bench_with_input(BenchmarkId::new("bufpool", n), &n, |b, &n| {
            b.iter(|| {
                let mut bufs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut buf = pool.get(size);
                        buf[0] = 0xFF;
                        buf
                    })
                    .collect();
                black_box(&mut bufs);
                drop(bufs);
            });
        });
        let pool = ZeroPool::new().min_buffer_size(0).max_buffers_per_class(n + 8);
        g.bench_with_input(BenchmarkId::new("zeropool", n), &n, |b, &n| {
            b.iter(|| {
                let mut bufs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut buf = pool.alloc(size);
                        buf[0] = 0xFF;
                        buf
                    })
                    .collect();
                black_box(&mut bufs);
                drop(bufs);
            });
        });
        let pool = ZeroPool::new().min_buffer_size(0).max_buffers_per_class(n + 8);
        g.bench_with_input(BenchmarkId::new("zeropool_uninit", n), &n, |b, &n| {
            b.iter(|| {
                let mut bufs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut buf = pool.alloc_uninit(size);
                        buf.as_uninit_mut()[0] = MaybeUninit::new(0xFF);
                        buf
                    })
                    .collect();
                black_box(&mut bufs);
                drop(bufs);
            });
        });
        let pool = opool_zeroed(n + 8, size);
        g.bench_with_input(BenchmarkId::new("opool", n), &n, |b, &n| {
            b.iter(|| {
                let mut bufs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut buf = pool.get();
                        buf[0] = 0xFF;
                        buf
                    })
                    .collect();
                black_box(&mut bufs);
                drop(bufs);
            });
        });
        let pool = object_pool_zeroed(size, n + 8);
        g.bench_with_input(BenchmarkId::new("object_pool", n), &n, |b, &n| {
            b.iter(|| {
                let mut bufs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut buf = pool.pull(|| vec![0u8; size]);
                        buf[0] = 0xFF;
                        buf
                    })
                    .collect();
                black_box(&mut bufs);
                drop(bufs);
            });
        });
        g.bench_with_input(BenchmarkId::new("bytes", n), &n, |b, &n| {
            b.iter(|| {
                let mut bufs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut buf = bytes::BytesMut::zeroed(size);
                        buf[0] = 0xFF;
                        buf
                    })
                    .collect();
                black_box(&mut bufs);
                drop(bufs);
            });
        });
        g.bench_with_input(BenchmarkId::new("vec", n), &n, |b, &n| {
            b.iter(|| {
                let mut bufs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut buf = vec![0u8; size];
                        buf[0] = 0xFF;
                        buf
                    })
                    .collect();
                black_box(&mut bufs);
                drop(bufs);
            });
        });
    }
    g.finish();
}

// ── mixed_uniform / mixed_zipf ──────────────────────────────────────────

fn mixed_uniform(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixed_uniform");
    // One iteration = one get + first-byte write + drop of each of the 7 sizes.
    g.throughput(Throughput::Elements(MIXED_SIZES.len() as u64));
    let pool = bufpool_no_min();
    g.bench_function("bufpool", |b| {
        b.iter(|| {
            for &s in MIXED_SIZES {
                let mut buf = pool.get(black_box(s));
                buf[0] = 0xAB;
                black_box(&buf);
            }
        });
    });
    let pool = ZeroPool::new().min_buffer_size(0);
    g.bench_function("zeropool", |b| {
        b.iter(|| {
            for &s in MIXED_SIZES {
                let mut buf = pool.alloc(black_box(s));
                buf[0] = 0xAB;
                black_box(&buf);
            }
        });
    });
    let pool = ZeroPool::new().min_buffer_size(0);
    g.bench_function("zeropool_uninit", |b| {
        b.iter(|| {
            for &s in MIXED_SIZES {
                let mut buf = pool.alloc_uninit(black_box(s));
                buf.as_uninit_mut()[0] = MaybeUninit::new(0xAB);
                black_box(&buf);
            }
        });
    });
    // No size classes: one pool per size.
    let pools: Vec<_> = MIXED_SIZES.iter().map(|&s| opool_zeroed(16, s)).collect();
    g.bench_function("opool", |b| {
        b.iter(|| {
            for p in &pools {
                let mut buf = p.get();
                buf[0] = 0xAB;
                black_box(&*buf);
            }
        });
    });
    let pools: Vec<_> = MIXED_SIZES.iter().map(|&s| object_pool_zeroed(s, 16)).collect();
    g.bench_function("object_pool", |b| {
        b.iter(|| {
            for (p, &s) in pools.iter().zip(MIXED_SIZES) {
                let mut buf = p.pull(|| vec![0u8; s]);
                buf[0] = 0xAB;
                black_box(&*buf);
            }
        });
    });
    g.bench_function("bytes", |b| {
        b.iter(|| {
            for &s in MIXED_SIZES {
                let mut buf = bytes::BytesMut::zeroed(black_box(s));
                buf[0] = 0xAB;
                black_box(&buf);
            }
        });
    });
    g.bench_function("vec", |b| {
        b.iter(|| {
            for &s in MIXED_SIZES {
                let mut buf = vec![0u8; black_box(s)];
                buf[0] = 0xAB;
                black_box(&buf);
            }
        });
    });
    g.finish();
}

/// A deterministic Zipf(s = 1) sampler over ranks `0..n`: rank k is drawn with
/// weight 1/(k+1). xorshift64* for the uniform draws, inverse CDF by scan.
struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    fn new(n: usize, seed: u64) -> Self {
        let w: Vec<f64> = (1..=n).map(|k| 1.0 / k as f64).collect();
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let cdf = w
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        Self { cdf, state: seed | 1 }
    }

    fn next(&mut self) -> usize {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let u = (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.iter().position(|&c| u < c).unwrap_or(self.cdf.len() - 1)
    }
}

/// The zipf trace: 1024 size ranks, the same for every crate.
fn zipf_trace() -> Vec<usize> {
    let mut z = Zipf::new(ZIPF_SIZES.len(), 0x5EED_B0F0);
    (0..1024).map(|_| z.next()).collect()
}

fn mixed_zipf(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixed_zipf");
    let trace = zipf_trace();
    // One iteration = the whole 1024-get trace (get + drop, as zeropool's bench).
    g.throughput(Throughput::Elements(trace.len() as u64));
    let pool = bufpool_no_min();
    g.bench_function("bufpool", |b| {
        b.iter(|| {
            for &k in &trace {
                let buf = pool.get(ZIPF_SIZES[k]);
                black_box(&buf);
            }
        });
    });
    let pool = ZeroPool::new().min_buffer_size(0);
    g.bench_function("zeropool_uninit", |b| {
        b.iter(|| {
            for &k in &trace {
                let buf = pool.alloc_uninit(ZIPF_SIZES[k]);
                black_box(&buf);
            }
        });
    });
    let pool = ZeroPool::new().min_buffer_size(0);
    g.bench_function("zeropool", |b| {
        b.iter(|| {
            for &k in &trace {
                let buf = pool.alloc(ZIPF_SIZES[k]);
                black_box(&buf);
            }
        });
    });
    let pools: Vec<_> = ZIPF_SIZES.iter().map(|&s| opool_capacity_zero(16, s)).collect();
    g.bench_function("opool", |b| {
        b.iter(|| {
            for &k in &trace {
                let buf = pools[k].get();
                black_box(&*buf);
            }
        });
    });
    let pools: Vec<_> = ZIPF_SIZES.iter().map(|&s| object_pool_zeroed(s, 16)).collect();
    g.bench_function("object_pool", |b| {
        b.iter(|| {
            for &k in &trace {
                let s = ZIPF_SIZES[k];
                let buf = pools[k].pull(|| Vec::with_capacity(s));
                black_box(&*buf);
            }
        });
    });
    g.bench_function("bytes", |b| {
        b.iter(|| {
            for &k in &trace {
                let buf = bytes::BytesMut::with_capacity(ZIPF_SIZES[k]);
                black_box(&buf);
            }
        });
    });
    g.bench_function("vec", |b| {
        b.iter(|| {
            for &k in &trace {
                let buf = Vec::<u8>::with_capacity(ZIPF_SIZES[k]);
                black_box(&buf);
            }
        });
    });
    g.finish();
}

// ── large: 512 MiB get + touch + drop ───────────────────────────────────

fn large(c: &mut Criterion) {
    let mut g = c.benchmark_group("large");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(LARGE as u64));
    // 1 GiB cap admits a 512 MiB buffer; it bypasses the 32 MiB thread
    // cache and is kept in a shard.
    let pool = BufferPool::builder().max_pooled_bytes(1 << 30).build().expect("valid config");
    g.bench_function("bufpool", |b| {
        b.iter(|| {
            let mut buf = pool.get(black_box(LARGE));
            touch(&mut buf);
        });
    });
    g.bench_function("vec", |b| {
        b.iter(|| {
            let mut buf = vec![0u8; black_box(LARGE)];
            touch(&mut buf);
        });
    });
    // Nothing above 64 MiB is pooled by zeropool 0.7.
    let pool = ZeroPool::new();
    g.bench_function("zeropool_uninit", |b| {
        b.iter(|| {
            let mut buf = pool.alloc_uninit(black_box(LARGE));
            touch_uninit(buf.as_uninit_mut());
        });
    });
    g.finish();
}

// ── two_pools: one thread alternating between two pools ─────────────────

fn two_pools(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_pools");
    let size = 64 * KIB;
    // One iteration = two get + drop pairs: A then A (one pool) or A then B.
    // Each case has its own pools, dropped before the next case starts.
    g.throughput(Throughput::Elements(2));
    {
        let a = bufpool_default();
        g.bench_function("bufpool/one_pool", |b| {
            b.iter(|| {
                black_box(&a.get(black_box(size)));
                black_box(&a.get(black_box(size)));
            });
        });
    }
    {
        let (a, bb) = (bufpool_default(), bufpool_default());
        g.bench_function("bufpool/alternating", |b| {
            b.iter(|| {
                black_box(&a.get(black_box(size)));
                black_box(&bb.get(black_box(size)));
            });
        });
    }
    {
        let a = ZeroPool::new();
        g.bench_function("zeropool_uninit/one_pool", |b| {
            b.iter(|| {
                black_box(&a.alloc_uninit(black_box(size)));
                black_box(&a.alloc_uninit(black_box(size)));
            });
        });
    }
    {
        let (a, bb) = (ZeroPool::new(), ZeroPool::new());
        g.bench_function("zeropool_uninit/alternating", |b| {
            b.iter(|| {
                black_box(&a.alloc_uninit(black_box(size)));
                black_box(&bb.alloc_uninit(black_box(size)));
            });
        });
    }
    g.finish();
}

// ── stats_overhead ──────────────────────────────────────────────────────

/// Single-writer counters as bufpool keeps them: one set per thread, each on
/// its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct OwnCounters([AtomicU64; 6]);

/// A shared counter set as zeropool keeps them (`Relaxed` `fetch_add`).
#[repr(align(128))]
#[derive(Default)]
struct SharedCounters([AtomicU64; 6]);

#[inline(always)]
fn bump_own<const N: usize>(c: &OwnCounters) {
    for a in &c.0[..N] {
        a.store(a.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

#[inline(always)]
fn bump_shared<const N: usize>(c: &SharedCounters) {
    for a in &c.0[..N] {
        a.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy)]
enum Counting {
    OwnX6,
    SharedX3,
    SharedX6,
}

fn stats_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats_overhead");
    // (a) The counting itself, same run. bufpool bumps 6 single-writer
    // counters per cache-hit get + drop (get: cache_hits, out_bytes,
    // cached_bytes; drop: returns, in_bytes, cached_bytes); zeropool with
    // `track_stats(true)` does 3 shared `fetch_add`s (gets, tls_hits, puts).
    // One iteration = one get + drop's worth of counting, per thread.
    for &threads in &[1usize, 2] {
        for &(name, how) in &[
            ("own_load_store_x6", Counting::OwnX6),
            ("shared_fetch_add_x3", Counting::SharedX3),
            ("shared_fetch_add_x6", Counting::SharedX6),
        ] {
            let id = BenchmarkId::new(format!("counters_{name}"), threads);
            g.bench_function(id, |b| {
                let shared = SharedCounters::default();
                b.iter_custom(|iters| {
                    let barrier = Barrier::new(threads + 1);
                    thread::scope(|s| {
                        let hs: Vec<_> = (0..threads)
                            .map(|_| {
                                let (barrier, shared) = (&barrier, &shared);
                                s.spawn(move || {
                                    let own = OwnCounters::default();
                                    let own = black_box(&own);
                                    let shared = black_box(shared);
                                    barrier.wait();
                                    match how {
                                        Counting::OwnX6 => (0..iters).for_each(|_| bump_own::<6>(own)),
                                        Counting::SharedX3 => (0..iters).for_each(|_| bump_shared::<3>(shared)),
                                        Counting::SharedX6 => (0..iters).for_each(|_| bump_shared::<6>(shared)),
                                    }
                                })
                            })
                            .collect();
                        barrier.wait();
                        let t = Instant::now();
                        for h in hs {
                            h.join().expect("bench thread panicked");
                        }
                        t.elapsed()
                    })
                });
            });
        }
    }

    // (b) bufpool's hot path 64 KiB with its counters, and (in a second
    // invocation built with `--cfg bufpool_no_stats`) without them.
    let size = 64 * KIB;
    let label = if cfg!(bufpool_no_stats) { "bufpool_hot_64K_no_stats" } else { "bufpool_hot_64K_stats" };
    let pool = bufpool_default();
    g.bench_function(label, |b| {
        b.iter(|| {
            let buf = pool.get(black_box(size));
            black_box(&buf);
            drop(buf);
        });
    });
    // zeropool's own comparison, same run: `track_stats(false)` vs `(true)`.
    let pool = ZeroPool::new();
    g.bench_function("zeropool_uninit_hot_64K_stats_off", |b| {
        b.iter(|| {
            let buf = pool.alloc_uninit(black_box(size));
            black_box(&buf);
            drop(buf);
        });
    });
    let pool = ZeroPool::new().track_stats(true);
    g.bench_function("zeropool_uninit_hot_64K_stats_on", |b| {
        b.iter(|| {
            let buf = pool.alloc_uninit(black_box(size));
            black_box(&buf);
            drop(buf);
        });
    });
    g.finish();
}

fn config() -> Criterion {
    // Short defaults for a 2-core shared machine; the command line overrides.
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2)).sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = hot_path, hot_path_inplace, realistic_write_st, realistic_write_mt, burst, mixed_uniform, mixed_zipf, large, two_pools,
        stats_overhead
}
criterion_main!(benches);
