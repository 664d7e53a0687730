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
//! cargo bench -p bench --bench hot_loop -- cross64 20000 4096  # a cross-thread shape at 4 KiB
//! cargo bench -p bench --bench hot_loop -- 4k 1000000         # one size against two alternating
//! ```
//!
//! The cross-thread shapes (`cross1`, `cross64`, `pingpong`) compare the pool
//! with `Vec::with_capacity` under the system allocator: one thread gets and
//! sends, another writes one byte per page and drops, singly (`cross1`) or in
//! batches of 64 (`cross64`); `pingpong` sends each buffer from one thread to
//! the other and back the other way, each thread getting what the other
//! drops. Their pool is built with the defaults; the third argument is their
//! buffer size (64 KiB).
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

use bufpool::{BufferPool, PooledBuffer};
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

const SIZE: usize = 64 * 1024;
const BURST: usize = 64;
const ROUNDS: usize = 21;
const PAGE: usize = 4096;

struct Zeroed(usize);
impl opool::PoolAllocator<Vec<u8>> for Zeroed {
    fn allocate(&self) -> Vec<u8> {
        vec![0; self.0]
    }
}

type Method<'a> = (&'static str, Box<dyn Fn(usize) + 'a>);

/// What the cross-thread shapes hand over: a pooled buffer, or a `Vec` whose
/// first `len` bytes of capacity the consumer writes.
trait Handed: Send + 'static {
    fn touch(&mut self, len: usize);
}

impl Handed for PooledBuffer {
    fn touch(&mut self, _: usize) {
        for i in (0..self.len()).step_by(PAGE) {
            self[i] = 1;
        }
        black_box(&*self);
    }
}

impl Handed for Vec<u8> {
    fn touch(&mut self, len: usize) {
        let p = self.as_mut_ptr();
        for i in (0..len.min(self.capacity())).step_by(PAGE) {
            // SAFETY: `i < capacity`; writing (never reading) uninitialised
            // capacity is sound.
            unsafe { p.add(i).write(1) };
        }
        black_box(&*self);
    }
}

/// `n` buffers from `get` on this thread, sent in batches of `batch` to a
/// thread that touches and drops them (up to 64 buffers queued, at least one
/// batch, as the `pays_*` benches' cross-thread shape queues them).
fn cross<B: Handed>(n: usize, batch: usize, len: usize, get: impl Fn() -> B) {
    let (tx, rx) = sync_channel::<Vec<B>>((BURST / batch).max(1));
    std::thread::scope(|s| {
        s.spawn(move || {
            for v in rx {
                for mut b in v {
                    b.touch(len);
                }
            }
        });
        for _ in 0..n / batch {
            tx.send((0..batch).map(|_| get()).collect()).unwrap();
        }
        drop(tx);
    });
}

/// `n` hops between two threads: each receives a buffer, touches and drops
/// it, gets a new one and sends it to the other.
fn pingpong<B: Handed>(n: usize, len: usize, get: impl Fn() -> B + Sync) {
    let (to_b, from_a) = sync_channel::<B>(1);
    let (to_a, from_b) = sync_channel::<B>(1);
    std::thread::scope(|s| {
        let get = &get;
        s.spawn(move || {
            for mut b in from_a {
                b.touch(len);
                drop(b);
                if to_a.send(get()).is_err() {
                    break;
                }
            }
        });
        to_b.send(get()).unwrap();
        for _ in 0..n / 2 {
            let mut b = from_b.recv().unwrap();
            b.touch(len);
            drop(b);
            to_b.send(get()).unwrap();
        }
        drop(to_b);
        // The last hop's buffer, if B sent one before seeing the close.
        drop(from_b.try_recv());
    });
}

fn main() {
    // `cargo bench` appends `--bench`; the positional arguments are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: hot_loop [FILTER (all, a method name, or one part of one)] [OPS_PER_ROUND (1000000)] [CROSS_SIZE (65536)]");
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
    // The cross-thread shapes: the defaults, and their own size.
    let cs: usize = args.get(2).map_or(SIZE, |s| s.parse().expect("SIZE is a number"));
    let cp = BufferPool::new();
    // What the memory controls cost on a hit (issue 13): a cap far above the
    // working set, leak tracking sampling 1 in 128, and an account.
    let capped = BufferPool::builder().max_pooled_bytes(1 << 30).max_outstanding_bytes(1 << 30).build().expect("valid");
    let tracked = BufferPool::builder().max_pooled_bytes(1 << 30).track_outstanding(128).build().expect("valid");
    let acct = bp.account().watermarks(1 << 30, 1 << 29).build();

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
        // The same-size question (issue 16): one request size every time
        // against two alternating ones in different classes, at 4 KiB.
        (
            "bufpool_4k_same",
            Box::new(|n| {
                for _ in 0..n {
                    black_box(black_box(&bp.get(black_box(4096))).len());
                }
            }),
        ),
        (
            "bufpool_4k_alt",
            Box::new(|n| {
                for i in 0..n {
                    let len = if i & 1 == 0 { 4096 } else { 4104 };
                    black_box(black_box(&bp.get(black_box(len))).len());
                }
            }),
        ),
        (
            "bufpool_capped_inplace",
            Box::new(|n| {
                for _ in 0..n {
                    black_box(black_box(&capped.get(black_box(SIZE))).len());
                }
            }),
        ),
        (
            "bufpool_tracked_inplace",
            Box::new(|n| {
                for _ in 0..n {
                    black_box(black_box(&tracked.get(black_box(SIZE))).len());
                }
            }),
        ),
        (
            "bufpool_account_inplace",
            Box::new(|n| {
                for _ in 0..n {
                    black_box(black_box(&acct.get(black_box(SIZE))).len());
                }
            }),
        ),
        ("bufpool_cross1", Box::new(|n| cross(n, 1, cs, || cp.get(cs)))),
        ("vec_cross1", Box::new(|n| cross(n, 1, cs, || Vec::<u8>::with_capacity(black_box(cs))))),
        ("bufpool_cross64", Box::new(|n| cross(n, BURST, cs, || cp.get(cs)))),
        ("vec_cross64", Box::new(|n| cross(n, BURST, cs, || Vec::<u8>::with_capacity(black_box(cs))))),
        ("bufpool_pingpong", Box::new(|n| pingpong(n, cs, || cp.get(cs)))),
        ("vec_pingpong", Box::new(|n| pingpong(n, cs, || Vec::<u8>::with_capacity(black_box(cs))))),
    ];
    // The cross-thread shapes run only when asked for: `all` means the
    // single-thread ones.
    if filter == "all" {
        methods.retain(|(name, _)| !name.contains("cross") && !name.contains("pingpong"));
    }
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
    if methods.iter().any(|(name, _)| name.starts_with("bufpool_cross") || name.starts_with("bufpool_pingpong")) {
        println!("cross-thread pool: {}", cp.stats());
    }
    for ((name, _), mut t) in methods.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        println!("{name:18} min {:6.2}  median {:6.2} ns per op", t[0], t[t.len() / 2]);
    }
}
