//! io_uring file I/O against the alternatives, in one run.
//!
//! Workload: 4 KiB random reads at queue depth 32 on a 64 MiB file in page
//! cache; then sequential 1 MiB reads; then registered vs plain buffers on a
//! pinned pool (page cache and O_DIRECT). Every method runs `ROUNDS` times,
//! interleaved, for `BENCH_SECS` each (defaults 9 and 0.5 s); the table gives the
//! median ops/s and the median ops per CPU-second (user + system time of the
//! whole process, from getrusage, so completion and worker threads count).
//!
//! `cargo bench -p bench --bench uring` (env: `BENCH_SECS`, `ROUNDS`, `BENCH_DIR`;
//! `BENCH_ALIGN` builds the rings' pool with that buffer alignment;
//! `BENCH_SHARDS` overrides the io_uring ring's shard count, `BENCH_WORKERS`
//! tokio's worker threads (2); `BENCH_ONLY=ring|
//! tokio|tokioreg|tokio1|many|manytokio|pread|pread2` runs one method once, for profiling; `tokio1`
//! is the ring under tokio's current-thread runtime).

use bufpool::uring::{Backend, RegisteredFile, Ring};
use bufpool::BufferPool;
use futures::stream::{FuturesUnordered, StreamExt};
use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FILE_SIZE: u64 = 64 << 20;
const BS: usize = 4096;
const QD: usize = 32;

fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct, and
    // getrusage writes only into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Offsets(u64);
impl Offsets {
    fn next(&mut self, size: u64, bs: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % (size / bs)) * bs
    }
}

/// One measurement: (ops, wall seconds, cpu seconds).
type Sample = (u64, f64, f64);

fn measure(f: impl FnOnce(Instant) -> u64, secs: f64) -> Sample {
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    let ops = f(t0 + Duration::from_secs_f64(secs));
    (ops, t0.elapsed().as_secs_f64(), cpu_seconds() - c0)
}

/// `qd` workers on one thread (`block_on` + `FuturesUnordered`), each
/// reading in a loop: queue depth `qd`.
fn ring_qd(ring: &Ring, file: &File, qd: usize, bs: usize, size: u64, deadline: Instant, seq: bool) -> u64 {
    futures::executor::block_on(async {
        let workers: FuturesUnordered<_> = (0..qd)
            .map(|w| async move {
                let mut rng = Offsets(0x9E3779B97F4A7C15 ^ ((w as u64 + 1) * 0x1234567));
                // Sequential: worker `w` reads blocks w, w + qd, w + 2 qd, ...
                let mut pos = (w * bs) as u64 % size;
                let mut n = 0u64;
                while n % 64 != 0 || Instant::now() < deadline {
                    let off = if seq {
                        let o = pos;
                        pos = (pos + (qd * bs) as u64) % size;
                        o
                    } else {
                        rng.next(size, bs as u64)
                    };
                    let b = ring.read_at(file, off, bs).await.unwrap();
                    black_box(b[0]);
                    n += 1;
                }
                n
            })
            .collect();
        workers.fold(0, |a, n| async move { a + n }).await
    })
}

/// One task keeps `qd` reads in flight with `Ring::read_many` (`block_on`).
fn ring_many(ring: &Ring, file: &File, qd: usize, deadline: Instant) -> u64 {
    futures::executor::block_on(many_task(ring, file, qd, 0, deadline))
}

/// The reads of `ring_many`, stopping at `deadline`: returns how many.
async fn many_task(ring: &Ring, file: &File, qd: usize, seed: u64, deadline: Instant) -> u64 {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut rng = Offsets(0x9E3779B97F4A7C15 ^ ((seed + 1) * 0x1234567));
    let reads = std::iter::from_fn(|| (!stop.load(Ordering::Relaxed)).then(|| (rng.next(FILE_SIZE, BS as u64), BS)));
    let mut stream = ring.read_many(file, reads, qd).unwrap();
    let mut n = 0u64;
    while let Some((_, r)) = stream.next().await {
        let b = r.unwrap();
        black_box(b[0]);
        n += 1;
        if n % 64 == 0 && Instant::now() >= deadline {
            stop.store(true, Ordering::Relaxed);
        }
    }
    n
}

/// `Ring::read_many` under tokio: one task per worker, `QD / workers` deep each.
fn ring_many_tokio(
    rt: &tokio::runtime::Runtime,
    workers: usize,
    ring: &Ring,
    file: &Arc<File>,
    deadline: Instant,
) -> u64 {
    rt.block_on(async {
        let tasks: Vec<_> = (0..workers)
            .map(|t| {
                let (ring, file) = (ring.clone(), file.clone());
                tokio::spawn(async move { many_task(&ring, &file, QD / workers, t as u64, deadline).await })
            })
            .collect();
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    })
}

/// `QD` tokio tasks, each reading in a loop with `read_at`: through `reg`
/// (a `RegisteredFile`) if given, else `ring` on `file`.
fn ring_tokio(
    rt: &tokio::runtime::Runtime,
    ring: &Ring,
    file: &Arc<File>,
    reg: Option<&Arc<RegisteredFile>>,
    deadline: Instant,
) -> u64 {
    let ops = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..QD)
            .map(|t| {
                let (ring, file, reg, ops) = (ring.clone(), file.clone(), reg.cloned(), ops.clone());
                tokio::spawn(async move {
                    let mut rng = Offsets(0x9E3779B97F4A7C15 ^ ((t as u64 + 1) * 0x1234567));
                    let mut n = 0u64;
                    while n % 64 != 0 || Instant::now() < deadline {
                        let off = rng.next(FILE_SIZE, BS as u64);
                        let b = match &reg {
                            Some(reg) => reg.read_at(off, BS).await,
                            None => ring.read_at(&*file, off, BS).await,
                        }
                        .unwrap();
                        black_box(b[0]);
                        n += 1;
                    }
                    ops.fetch_add(n, Ordering::Relaxed);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    ops.load(Ordering::Relaxed)
}

fn tokio_fs(rt: &tokio::runtime::Runtime, path: &Path, deadline: Instant) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let ops = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..QD)
            .map(|t| {
                let (path, ops) = (path.to_path_buf(), ops.clone());
                tokio::spawn(async move {
                    let mut f = tokio::fs::File::open(&path).await.unwrap();
                    let mut buf = vec![0u8; BS];
                    let mut rng = Offsets(0x9E3779B97F4A7C15 ^ ((t as u64 + 1) * 0x1234567));
                    let mut n = 0;
                    while n % 16 != 0 || Instant::now() < deadline {
                        f.seek(std::io::SeekFrom::Start(rng.next(FILE_SIZE, BS as u64))).await.unwrap();
                        f.read_exact(&mut buf).await.unwrap();
                        black_box(buf[0]);
                        n += 1;
                    }
                    ops.fetch_add(n, Ordering::Relaxed);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    ops.load(Ordering::Relaxed)
}

fn spawn_blocking_pread(rt: &tokio::runtime::Runtime, file: &Arc<File>, deadline: Instant) -> u64 {
    let ops = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..QD)
            .map(|t| {
                let (file, ops) = (file.clone(), ops.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; BS];
                    let mut rng = Offsets(0x9E3779B97F4A7C15 ^ ((t as u64 + 1) * 0x1234567));
                    let mut n = 0;
                    while n % 16 != 0 || Instant::now() < deadline {
                        let off = rng.next(FILE_SIZE, BS as u64);
                        let f = file.clone();
                        buf = tokio::task::spawn_blocking(move || {
                            f.read_exact_at(&mut buf, off).unwrap();
                            buf
                        })
                        .await
                        .unwrap();
                        black_box(buf[0]);
                        n += 1;
                    }
                    ops.fetch_add(n, Ordering::Relaxed);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    ops.load(Ordering::Relaxed)
}

fn pread_loop(file: &File, bs: usize, size: u64, deadline: Instant, seq: bool) -> u64 {
    let mut buf = vec![0u8; bs];
    let mut rng = Offsets(0x9E3779B97F4A7C15);
    let mut pos = 0u64;
    let mut n = 0u64;
    while n % 256 != 0 || Instant::now() < deadline {
        let off = if seq {
            let o = pos;
            pos = (pos + bs as u64) % size;
            o
        } else {
            rng.next(size, bs as u64)
        };
        file.read_exact_at(&mut buf, off).unwrap();
        black_box(buf[0]);
        n += 1;
    }
    n
}

/// The blocking loop on `threads` threads sharing one `File`: what the same
/// reads cost when two CPUs run them at once (a multi-threaded runtime's
/// workers do).
fn pread_threads(file: &File, threads: usize, deadline: Instant) -> u64 {
    std::thread::scope(|s| {
        let hs: Vec<_> = (1..threads).map(|_| s.spawn(|| pread_loop(file, BS, FILE_SIZE, deadline, false))).collect();
        pread_loop(file, BS, FILE_SIZE, deadline, false) + hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Row {
    name: &'static str,
    samples: Vec<Sample>,
}

impl Row {
    fn ops_s(&self) -> f64 {
        median(self.samples.iter().map(|s| s.0 as f64 / s.1).collect())
    }
    fn ops_cpu(&self) -> f64 {
        median(self.samples.iter().map(|s| s.0 as f64 / s.2.max(1e-9)).collect())
    }
}

fn table(title: &str, rows: &[Row], bytes: usize) {
    println!("\n### {title}\n");
    println!("| method | ops/s (median) | MB/s | ops per CPU-second (median) |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        let (o, c) = (r.ops_s(), r.ops_cpu());
        println!("| {} | {:.0} | {:.0} | {:.0} |", r.name, o, o * bytes as f64 / 1e6, c);
    }
}

fn ratio(rows: &[Row], a: &str, b: &str, cpu: bool) -> f64 {
    let f = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
    if cpu {
        f(a).ops_cpu() / f(b).ops_cpu()
    } else {
        f(a).ops_s() / f(b).ops_s()
    }
}

fn make_file(path: &Path, size: u64) -> File {
    if std::fs::metadata(path).map(|m| m.len()).ok() != Some(size) {
        let chunk: Vec<u8> = (0..1u64 << 20).map(|i| (i * 31 + 7) as u8).collect();
        let f = File::create(path).unwrap();
        for i in 0..size / chunk.len() as u64 {
            f.write_all_at(&chunk, i * chunk.len() as u64).unwrap();
        }
    }
    let f = File::open(path).unwrap();
    // Into page cache.
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..size >> 20 {
        f.read_exact_at(&mut buf, i << 20).unwrap();
    }
    f
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: f64 = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(0.5);
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(9);
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/uring-bench"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("64m");
    let file = Arc::new(make_file(&path, FILE_SIZE));
    let pool = match std::env::var("BENCH_ALIGN").ok().and_then(|s| s.parse().ok()) {
        Some(a) => BufferPool::builder().alignment(a).build().unwrap(),
        None => BufferPool::new(),
    };
    let mut b = Ring::builder(&pool).entries(256);
    if let Some(n) = std::env::var("BENCH_SHARDS").ok().and_then(|s| s.parse().ok()) {
        b = b.shards(n);
    }
    let uring = b.build().unwrap();
    let threads = Ring::builder(&pool).entries(256).force_fallback(true).build().unwrap();
    println!("backend: {:?}, {} shards; {} rounds of {secs} s", uring.backend(), uring.shards(), rounds);
    let workers = std::env::var("BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    let reg = Arc::new(uring.register(&*file).unwrap());

    // 1. 4 KiB random reads, QD 32, page cache.
    let names = [
        "Ring io_uring (block_on)",
        "Ring io_uring (tokio, 32 tasks)",
        "Ring io_uring (tokio, 32 tasks, registered file)",
        "Ring io_uring read_many (block_on, 1 task)",
        "Ring io_uring read_many (tokio, 1 task per worker)",
        "Ring threads (block_on)",
        "tokio::fs seek+read (32 tasks)",
        "spawn_blocking(pread) (32 tasks)",
        "blocking pread loop (1 thread)",
        "blocking pread loop (2 threads)",
    ];
    let mut rows: Vec<Row> = names.iter().map(|n| Row { name: n, samples: vec![] }).collect();
    let s0 = uring.stats();
    let only = std::env::var("BENCH_ONLY").ok();
    if let Some(o) = &only {
        // Profiling aid: one method, one long run.
        let d = Instant::now() + Duration::from_secs_f64(secs);
        let (ops, wall, cpu) = match o.as_str() {
            "ring" => measure(|d| ring_qd(&uring, &file, QD, BS, FILE_SIZE, d, false), secs),
            "pread" => measure(|d| pread_loop(&file, BS, FILE_SIZE, d, false), secs),
            "pread2" => measure(|d| pread_threads(&file, 2, d), secs),
            "many" => measure(|d| ring_many(&uring, &file, QD, d), secs),
            "tokioreg" => measure(|d| ring_tokio(&rt, &uring, &file, Some(&reg), d), secs),
            "manytokio" => measure(|d| ring_many_tokio(&rt, workers, &uring, &file, d), secs),
            "tokio1" => {
                let rt1 = tokio::runtime::Builder::new_current_thread().build().unwrap();
                measure(|d| ring_tokio(&rt1, &uring, &file, None, d), secs)
            }
            _ => measure(|d| ring_tokio(&rt, &uring, &file, None, d), secs),
        };
        let _ = d;
        println!(
            "{o}: {:.0} ops/s, {:.0} ops per CPU-second; {:?}\n{}",
            ops as f64 / wall,
            ops as f64 / cpu,
            uring.stats(),
            pool.stats()
        );
        return;
    }
    for _ in 0..rounds {
        rows[0].samples.push(measure(|d| ring_qd(&uring, &file, QD, BS, FILE_SIZE, d, false), secs));
        rows[1].samples.push(measure(|d| ring_tokio(&rt, &uring, &file, None, d), secs));
        rows[2].samples.push(measure(|d| ring_tokio(&rt, &uring, &file, Some(&reg), d), secs));
        rows[3].samples.push(measure(|d| ring_many(&uring, &file, QD, d), secs));
        rows[4].samples.push(measure(|d| ring_many_tokio(&rt, workers, &uring, &file, d), secs));
        rows[5].samples.push(measure(|d| ring_qd(&threads, &file, QD, BS, FILE_SIZE, d, false), secs));
        rows[6].samples.push(measure(|d| tokio_fs(&rt, &path, d), secs));
        rows[7].samples.push(measure(|d| spawn_blocking_pread(&rt, &file, d), secs));
        rows[8].samples.push(measure(|d| pread_loop(&file, BS, FILE_SIZE, d, false), secs));
        rows[9].samples.push(measure(|d| pread_threads(&file, 2, d), secs));
    }
    let s1 = uring.stats();
    table("4 KiB random reads, QD 32, 64 MiB file in page cache", &rows, BS);
    let sub = s1.submit_calls - s0.submit_calls;
    let ops = s1.ops - s0.ops;
    println!(
        "\nio_uring: {ops} ops in {sub} submitting io_uring_enter calls ({:.1} ops per submit), {} waits, {} completion-thread wake-ups, max batch {}",
        ops as f64 / sub.max(1) as f64,
        s1.wait_calls - s0.wait_calls,
        s1.wakeups - s0.wakeups,
        s1.max_batch
    );
    println!(
        "ratios: Ring io_uring / tokio::fs ops/s = {:.2}x (block_on), {:.2}x (tokio), {:.2}x (tokio, registered), {:.2}x (read_many block_on), {:.2}x (read_many tokio); \
         per CPU-second vs blocking pread loop = {:.0}% (block_on), {:.0}% (tokio), {:.0}% (tokio, registered), {:.0}% (read_many block_on), {:.0}% (read_many tokio); \
         tokio vs the 2-thread pread loop = {:.0}% (read_at), {:.0}% (read_at, registered), {:.0}% (read_many); Ring threads / tokio::fs = {:.2}x",
        ratio(&rows, names[0], names[6], false),
        ratio(&rows, names[1], names[6], false),
        ratio(&rows, names[2], names[6], false),
        ratio(&rows, names[3], names[6], false),
        ratio(&rows, names[4], names[6], false),
        100.0 * ratio(&rows, names[0], names[8], true),
        100.0 * ratio(&rows, names[1], names[8], true),
        100.0 * ratio(&rows, names[2], names[8], true),
        100.0 * ratio(&rows, names[3], names[8], true),
        100.0 * ratio(&rows, names[4], names[8], true),
        100.0 * ratio(&rows, names[1], names[9], true),
        100.0 * ratio(&rows, names[2], names[9], true),
        100.0 * ratio(&rows, names[4], names[9], true),
        ratio(&rows, names[5], names[6], false),
    );

    // 2. Sequential 1 MiB reads.
    let mb = 1 << 20;
    let names2 = ["Ring io_uring QD 4", "Ring threads QD 4", "blocking pread loop"];
    let mut rows2: Vec<Row> = names2.iter().map(|n| Row { name: n, samples: vec![] }).collect();
    for _ in 0..rounds {
        rows2[0].samples.push(measure(|d| ring_qd(&uring, &file, 4, mb, FILE_SIZE, d, true), secs));
        rows2[1].samples.push(measure(|d| ring_qd(&threads, &file, 4, mb, FILE_SIZE, d, true), secs));
        rows2[2].samples.push(measure(|d| pread_loop(&file, mb, FILE_SIZE, d, true), secs));
    }
    table("Sequential 1 MiB reads, 64 MiB file in page cache", &rows2, mb);
    drop((reg, uring, threads));

    // 3. Registered buffers: do they pay? Pinned pool, same ring size.
    let pinned = BufferPool::builder().pinned_memory(true).build().unwrap();
    let fixed = Ring::builder(&pinned).entries(256).registered_buffers(QD, BS).build().unwrap();
    let plain = Ring::builder(&pinned).entries(256).registered_buffers(0, 0).build().unwrap();
    println!("\nregistered buffers: {} (backend {:?})", fixed.registered_buffers(), fixed.backend());
    if fixed.backend() == Backend::IoUring && fixed.registered_buffers() > 0 {
        let direct = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(&path).ok();
        let names3 = ["READ_FIXED (page cache)", "READ (page cache)", "READ_FIXED (O_DIRECT)", "READ (O_DIRECT)"];
        let mut rows3: Vec<Row> = names3.iter().map(|n| Row { name: n, samples: vec![] }).collect();
        for _ in 0..rounds {
            rows3[0].samples.push(measure(|d| ring_qd(&fixed, &file, QD, BS, FILE_SIZE, d, false), secs));
            rows3[1].samples.push(measure(|d| ring_qd(&plain, &file, QD, BS, FILE_SIZE, d, false), secs));
            if let Some(dfile) = &direct {
                rows3[2].samples.push(measure(|d| ring_qd(&fixed, dfile, QD, BS, FILE_SIZE, d, false), secs));
                rows3[3].samples.push(measure(|d| ring_qd(&plain, dfile, QD, BS, FILE_SIZE, d, false), secs));
            }
        }
        rows3.retain(|r| !r.samples.is_empty());
        table("4 KiB random reads, QD 32, pinned pool: registered vs plain", &rows3, BS);
        println!("fixed ops: {}", fixed.stats().fixed_ops);
        println!(
            "ratio READ_FIXED / READ: page cache {:.2}x ops/s, {:.2}x per CPU-second",
            ratio(&rows3, names3[0], names3[1], false),
            ratio(&rows3, names3[0], names3[1], true)
        );
        if rows3.len() == 4 {
            println!(
                "ratio READ_FIXED / READ: O_DIRECT {:.2}x ops/s, {:.2}x per CPU-second",
                ratio(&rows3, names3[2], names3[3], false),
                ratio(&rows3, names3[2], names3[3], true)
            );
        }
    }
}
