//! The interleaved hot-path harness behind the steadier figures in
//! `docs/benchmarks.md`: bufpool, zeropool 0.7 (`alloc_uninit`) and opool
//! side by side in one process, the methods alternated round by round, so a
//! noisy neighbour slows all of them alike. Prints the minimum and the median
//! time per operation over 21 rounds.
//!
//! ```text
//! cargo bench -p bench --bench hot_loop -- [FILTER] [OPS_PER_ROUND]   # FILTER: all, a name, or a part of one
//! cargo bench -p bench --bench hot_loop -- _inplace 500000   # one shape
//! cargo bench -p bench --bench hot_loop -- burst 256000      # 64-buffer bursts
//! ```
//!
//! With `ONCE=1` each selected method runs once, unmeasured, for callgrind:
//! instructions per operation are (Ir(2N) − Ir(N)) / N, e.g.
//!
//! ```text
//! BIN=$(cargo bench -p bench --bench hot_loop --no-run 2>&1 | grep -o 'target/[^)]*hot_loop-[0-9a-f]*')
//! ONCE=1 valgrind --tool=callgrind $BIN bufpool_inplace 100000
//! ONCE=1 valgrind --tool=callgrind $BIN bufpool_inplace 200000
//! ```
//!
//! Build it with `RUSTFLAGS="--cfg bufpool_no_stats"` (and its own
//! `CARGO_TARGET_DIR`) to compare the hot path without statistics.

use bufpool::BufferPool;
use std::hint::black_box;
use std::time::Instant;

const SIZE: usize = 64 * 1024;
const BURST: usize = 64;
const ROUNDS: usize = 21;

struct Zeroed(usize);
impl opool::PoolAllocator<Vec<u8>> for Zeroed {
    fn allocate(&self) -> Vec<u8> {
        vec![0; self.0]
    }
}

type Method<'a> = (&'static str, Box<dyn Fn(usize) + 'a>);

fn main() {
    // `cargo bench` appends `--bench`; the positional arguments are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: hot_loop [FILTER (all, a method name, or one part of one)] [OPS_PER_ROUND (1000000)]");
        println!("env: ONCE=1 runs each selected method once, unmeasured (for callgrind)");
        return;
    }
    let filter = args.first().cloned().unwrap_or_else(|| "all".into());
    let n: usize = args.get(1).map_or(1_000_000, |s| s.parse().expect("OPS_PER_ROUND is a number"));
    // As in bench/benches/pool.rs: a fixed 1 GiB cap, the rest from the CPU count.
    let bp = BufferPool::builder().max_pooled_bytes(1 << 30).build().expect("valid config");
    let zp = zeropool::ZeroPool::new();
    let op = opool::Pool::new_prefilled(64, Zeroed(SIZE));
    // `burst`: every pool sized to hold the whole burst, as in the bench.
    let bpb =
        BufferPool::builder().max_pooled_bytes(1 << 30).max_buffers_per_shard(BURST + 8).build().expect("valid config");
    let opb = opool::Pool::new_prefilled(BURST + 8, Zeroed(SIZE));

    let mut methods: Vec<Method> = vec![
        (
            "bufpool_moved",
            Box::new(|n| {
                for _ in 0..n {
                    let b = bp.get(black_box(SIZE));
                    black_box(&b);
                    drop(b);
                }
            }),
        ),
        (
            "zeropool_moved",
            Box::new(|n| {
                for _ in 0..n {
                    let b = zp.alloc_uninit(black_box(SIZE));
                    black_box(&b);
                    drop(b);
                }
            }),
        ),
        (
            "opool_moved",
            Box::new(|n| {
                for _ in 0..n {
                    let b = op.get();
                    black_box(&*b);
                    drop(b);
                }
            }),
        ),
        (
            "bufpool_inplace",
            Box::new(|n| {
                for _ in 0..n {
                    black_box(black_box(&bp.get(black_box(SIZE))).len());
                }
            }),
        ),
        (
            "zeropool_inplace",
            Box::new(|n| {
                for _ in 0..n {
                    black_box(black_box(&zp.alloc_uninit(black_box(SIZE))).len());
                }
            }),
        ),
        (
            "opool_inplace",
            Box::new(|n| {
                for _ in 0..n {
                    black_box(black_box(&op.get()).len());
                }
            }),
        ),
        (
            "bufpool_burst",
            Box::new(|n| {
                for _ in 0..n / BURST {
                    let mut v: Vec<_> = (0..BURST)
                        .map(|_| {
                            let mut b = bpb.get(SIZE);
                            b[0] = 1;
                            b
                        })
                        .collect();
                    black_box(&mut v);
                }
            }),
        ),
        (
            "opool_burst",
            Box::new(|n| {
                for _ in 0..n / BURST {
                    let mut v: Vec<_> = (0..BURST)
                        .map(|_| {
                            let mut b = opb.get();
                            b[0] = 1;
                            b
                        })
                        .collect();
                    black_box(&mut v);
                }
            }),
        ),
    ];
    if filter != "all" {
        // A whole name, or one of its `_`-separated parts (`bufpool`,
        // `opool`, `inplace`, `burst`): a substring match would let `opool`
        // select `zeropool_*` too.
        let part = filter.trim_start_matches('_');
        methods.retain(|(name, _)| *name == filter || name.split('_').any(|p| p == part));
    }
    if std::env::var_os("ONCE").is_some() {
        for (_, f) in &methods {
            f(n);
        }
        return;
    }
    // Warm every pool up before measuring.
    for (_, f) in &methods {
        f(n / 10);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); methods.len()];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in methods.iter().enumerate() {
            let t = Instant::now();
            f(n);
            times[i].push(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    for ((name, _), mut t) in methods.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        println!("{name:18} min {:6.2}  median {:6.2} ns per op", t[0], t[t.len() / 2]);
    }
}
