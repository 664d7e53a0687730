//! When does a pool pay? The pool against `Vec::with_capacity` and
//! `vec![0; n]` under whichever global allocator the including binary set,
//! in four shapes and at 4 KiB to 256 MiB. One process, the three methods
//! alternated round by round (so a noisy neighbour slows all of them alike),
//! medians over the rounds.
//!
//! Shapes:
//! * `get+drop`: take a buffer, `black_box` it, drop it.
//! * `get+touch+drop`: the same with one byte written per 4 KiB page, so the
//!   memory is really used (the allocator's page faults show here).
//! * `cross-thread`: one thread takes and sends, another touches and drops
//!   (a bounded channel of 64): the server pattern of a reader thread and a
//!   worker.
//! * `two-threads`: two threads each take, touch and drop, independently;
//!   wall-clock time per operation of both together.
//!
//! Environment: `PAYS_ROUNDS` (default 9), `PAYS_MS` (target milliseconds
//! per measurement, default 4), `PAYS_SIZES` (comma-separated KiB),
//! `PAYS_SHAPES` (comma-separated shape names).

use bufpool::BufferPool;
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

const PAGE: usize = 4096;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Pool,
    WithCapacity,
    Zeroed,
}

impl Method {
    const ALL: [Method; 3] = [Method::Pool, Method::WithCapacity, Method::Zeroed];
}

fn touch_slice(s: &mut [u8]) {
    for i in (0..s.len()).step_by(PAGE) {
        s[i] = 1;
    }
}

/// Takes, optionally touches, and drops `ops` buffers on this thread.
fn local_loop(pool: &BufferPool, m: Method, n: usize, touch: bool, ops: usize) {
    for _ in 0..ops {
        match m {
            Method::Pool => {
                let mut b = pool.get(black_box(n));
                if touch {
                    touch_slice(&mut b);
                }
                black_box(&b);
            }
            Method::WithCapacity => {
                let mut v: Vec<u8> = Vec::with_capacity(black_box(n));
                if touch {
                    touch_spare(&mut v, n);
                }
                black_box(&v);
            }
            Method::Zeroed => {
                let mut v = vec![0u8; black_box(n)];
                if touch {
                    touch_slice(&mut v);
                }
                black_box(&v);
            }
        }
    }
}

/// Writes one byte per page into the first `n` bytes of `v`'s capacity.
fn touch_spare(v: &mut Vec<u8>, n: usize) {
    assert!(n <= v.capacity());
    let p = v.as_mut_ptr();
    for i in (0..n).step_by(PAGE) {
        // SAFETY: `i < n <= capacity`, so the byte is inside the allocation;
        // writing (never reading) uninitialised capacity is sound.
        unsafe { p.add(i).write(1) };
    }
}

enum Buf {
    Pool(bufpool::PooledBuffer),
    Vec(Vec<u8>),
}

/// One thread takes `ops` buffers and sends them; another touches and drops
/// them. Returns when the consumer has dropped the last one.
fn cross_loop(pool: &BufferPool, m: Method, n: usize, ops: usize) {
    let (tx, rx) = sync_channel::<Buf>(64);
    std::thread::scope(|s| {
        s.spawn(move || {
            for b in rx {
                match b {
                    Buf::Pool(mut b) => {
                        touch_slice(&mut b);
                        black_box(&b);
                    }
                    Buf::Vec(mut v) => {
                        let len = v.capacity().min(n);
                        touch_spare(&mut v, len);
                        black_box(&v);
                    }
                }
            }
        });
        for _ in 0..ops {
            let b = match m {
                Method::Pool => Buf::Pool(pool.get(black_box(n))),
                Method::WithCapacity => Buf::Vec(Vec::with_capacity(black_box(n))),
                Method::Zeroed => Buf::Vec(vec![0u8; black_box(n)]),
            };
            tx.send(b).unwrap();
        }
        drop(tx);
    });
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    GetDrop,
    Touch,
    Cross,
    TwoThreads,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::GetDrop => "get+drop",
            Shape::Touch => "get+touch+drop",
            Shape::Cross => "cross-thread",
            Shape::TwoThreads => "two-threads",
        }
    }
}

/// Nanoseconds per operation of `ops` operations of `m` in `shape`.
fn measure(pool: &BufferPool, shape: Shape, m: Method, n: usize, ops: usize) -> f64 {
    let t = Instant::now();
    match shape {
        Shape::GetDrop => local_loop(pool, m, n, false, ops),
        Shape::Touch => local_loop(pool, m, n, true, ops),
        Shape::Cross => cross_loop(pool, m, n, ops),
        Shape::TwoThreads => std::thread::scope(|s| {
            let h = s.spawn(|| local_loop(pool, m, n, true, ops / 2));
            local_loop(pool, m, n, true, ops - ops / 2);
            h.join().unwrap();
        }),
    }
    t.elapsed().as_nanos() as f64 / ops as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_list<T: Copy>(var: &str, all: &[(&str, T)]) -> Vec<T> {
    match std::env::var(var) {
        Ok(s) => s
            .split(',')
            .map(|w| all.iter().find(|(n, _)| *n == w.trim()).unwrap_or_else(|| panic!("{var}: unknown {w:?}")).1)
            .collect(),
        Err(_) => all.iter().map(|&(_, t)| t).collect(),
    }
}

fn vm_rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb << 10)
}

fn mib(b: usize) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

/// Peak and after-drop RSS for one 256 MiB buffer, each method in turn.
fn rss_256(pool: &BufferPool) {
    let n = 256 << 20;
    println!("\n| 256 MiB, RSS above the start | peak (held, touched) | after drop | after `trim()` |");
    println!("|---|---:|---:|---:|");
    // The table's shapes left buffers idle in the pool: start from none.
    pool.trim();
    for m in Method::ALL {
        let base = vm_rss();
        let (peak, after) = match m {
            Method::Pool => {
                let mut b = pool.get(n);
                touch_slice(&mut b);
                black_box(&b);
                let peak = vm_rss();
                drop(b);
                (peak, vm_rss())
            }
            Method::WithCapacity => {
                let mut v: Vec<u8> = Vec::with_capacity(n);
                touch_spare(&mut v, n);
                black_box(&v);
                let peak = vm_rss();
                drop(v);
                (peak, vm_rss())
            }
            Method::Zeroed => {
                let mut v = vec![0u8; n];
                touch_slice(&mut v);
                black_box(&v);
                let peak = vm_rss();
                drop(v);
                (peak, vm_rss())
            }
        };
        let trimmed = if m == Method::Pool {
            pool.trim();
            mib(vm_rss().saturating_sub(base))
        } else {
            "—".into()
        };
        println!(
            "| {} | {} | {} | {} |",
            label(m),
            mib(peak.saturating_sub(base)),
            mib(after.saturating_sub(base)),
            trimmed
        );
    }
}

fn label(m: Method) -> &'static str {
    match m {
        Method::Pool => "bufpool `get`",
        Method::WithCapacity => "`Vec::with_capacity`",
        Method::Zeroed => "`vec![0; n]`",
    }
}

/// Runs the whole table under the global allocator named `alloc`.
pub fn run(alloc: &str) {
    let rounds: usize = std::env::var("PAYS_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(9);
    let target = Duration::from_millis(std::env::var("PAYS_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(4));
    let sizes: Vec<usize> = match std::env::var("PAYS_SIZES") {
        Ok(s) => s.split(',').map(|k| k.trim().parse::<usize>().expect("PAYS_SIZES: KiB") << 10).collect(),
        Err(_) => vec![4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20],
    };
    let shapes = env_list(
        "PAYS_SHAPES",
        &[
            ("get+drop", Shape::GetDrop),
            ("get+touch+drop", Shape::Touch),
            ("cross-thread", Shape::Cross),
            ("two-threads", Shape::TwoThreads),
        ],
    );
    let pool = BufferPool::builder().max_pooled_bytes(1 << 30).build().expect("a valid config");
    println!("global allocator: {alloc}; {rounds} rounds, medians in ns per buffer");
    println!(
        "\n| shape | size | bufpool | `Vec::with_capacity` | `vec![0; n]` | with_capacity ÷ pool | zeroed ÷ pool |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for &shape in &shapes {
        for &n in &sizes {
            // Calibrate each method on its own: double the operations until
            // a measurement fills half the target time, so thread start-up
            // (in the two threaded shapes) is amortised. Each step takes the
            // fastest of three tries: one slow try (a descheduled thread on
            // a shared machine) would otherwise stop the doubling at a
            // handful of operations, and every later measurement of that
            // method would be mostly a thread's start and join (this gave
            // the pool's 40–90 µs "per buffer" cross-thread cells at 4 KiB).
            let ops: Vec<usize> = Method::ALL
                .iter()
                .map(|&m| {
                    let mut ops = 2;
                    while ops < 1 << 24
                        && (0..3).map(|_| measure(&pool, shape, m, n, ops)).fold(f64::INFINITY, f64::min) * (ops as f64)
                            < target.as_nanos() as f64 / 2.0
                    {
                        ops *= 2;
                    }
                    ops
                })
                .collect();
            eprintln!(
                "{} {}: operations per measurement: pool {}, with_capacity {}, zeroed {}",
                shape.name(),
                size_label(n),
                ops[0],
                ops[1],
                ops[2]
            );
            let mut t = [vec![], vec![], vec![]];
            for _ in 0..rounds {
                for (i, &m) in Method::ALL.iter().enumerate() {
                    t[i].push(measure(&pool, shape, m, n, ops[i]));
                }
            }
            let [p, w, z] = t.map(|mut v| median(&mut v));
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
                shape.name(),
                size_label(n),
                p,
                w,
                z,
                w / p,
                z / p
            );
        }
    }
    rss_256(&pool);
}

fn size_label(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}
