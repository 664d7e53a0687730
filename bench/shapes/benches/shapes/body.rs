//! Hot path in every shape (issue 16, requirement 1): get + drop at 4 KiB,
//! 64 KiB and 1 MiB, written the ways callers write it, for bufpool and four
//! peers under whichever global allocator the including binary set.
//!
//! Contenders (each behind [`Contender`], so every shape is the same code for
//! all of them):
//! * `bufpool`: `BufferPool::builder().max_pooled_bytes(1 << 30).build()`,
//!   `pool.get(n)`;
//! * `zeropool`: zeropool 0.7, `ZeroPool::new()`, `alloc_uninit(n)`;
//! * `commonware`: commonware-runtime 2026.9's network pool, taken out of a
//!   tokio runner's context as its own benches do, `try_alloc(n)`;
//! * `opool`: opool 0.2, one `Pool::new_prefilled(64, ..)` per size, `get()`
//!   on the smallest that holds `n`;
//! * `vec`: `Vec::<u8>::with_capacity(n)`, i.e. this binary's allocator.
//!
//! Shapes (rows), each at 4 KiB, 64 KiB and 1 MiB:
//! * `moved`: `fn take() -> Buf { get(SIZE) }` (a plain `fn`, inlined or not
//!   as the compiler likes), the buffer moved out of it, then
//!   `black_box(&b); drop(b)`;
//! * `inplace`: `black_box(len(black_box(&get(SIZE))))`, the temporary
//!   dropped where it stands;
//! * `noinline`: get and drop each through an `#[inline(never)]` function
//!   (one instance per contender for all sizes, so inside it the size is a
//!   run-time value);
//! * `varsize`: `get(black_box(n))`, the size not known at compile time;
//! * `const`: the same code with the size a compile-time constant;
//! * `alt`: `varsize` with 4096 and 4104 alternating (`alt/4K` only).
//!
//! One process; each round runs every row of every contender once, for
//! OPS_PER_ROUND get + drop pairs, so a noisy neighbour slows all of them
//! alike; median and minimum ns per get + drop over the rounds.
//!
//! ```text
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_mimalloc [--profile server] -- [FILTER] [OPS_PER_ROUND]
//! ```
//!
//! FILTER is `all` (the default), or a comma-separated list of row names
//! (`inplace/4K`) or parts of one (`inplace`, `4K`, `1M`). Environment:
//! `SHAPES_ROUNDS` (default 21), `SHAPES_CONTENDERS` (comma-separated names,
//! default all five), `ONCE=1` (each selected method once, unmeasured, for
//! callgrind: instructions per get + drop are (Ir(2N) − Ir(N)) / N).

use std::hint::black_box;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Instant;

const K4: usize = 4 * 1024;
const K64: usize = 64 * 1024;
const M1: usize = 1024 * 1024;
/// The second size of `alt`: a different class from 4096 in every pool here.
const ALT: usize = 4096 + 8;

/// One pool (or allocator), seen the same way by every shape.
pub trait Contender {
    const NAME: &'static str;
    type Buf<'a>
    where
        Self: 'a;
    /// A buffer of at least `n` bytes; dropping it gives it back.
    fn get(&self, n: usize) -> Self::Buf<'_>;
    /// Something read from the buffer, to use it in `inplace`.
    fn len(b: &Self::Buf<'_>) -> usize;
}

struct Bufpool(bufpool::BufferPool);

impl Contender for Bufpool {
    const NAME: &'static str = "bufpool";
    type Buf<'a> = bufpool::PooledBuffer;
    #[inline(always)]
    fn get(&self, n: usize) -> Self::Buf<'_> {
        self.0.get(n)
    }
    #[inline(always)]
    fn len(b: &Self::Buf<'_>) -> usize {
        b.len()
    }
}

struct Zeropool(zeropool::ZeroPool);

impl Contender for Zeropool {
    const NAME: &'static str = "zeropool";
    type Buf<'a> = zeropool::BufUninit<'a>;
    #[inline(always)]
    fn get(&self, n: usize) -> Self::Buf<'_> {
        self.0.alloc_uninit(n)
    }
    #[inline(always)]
    fn len(b: &Self::Buf<'_>) -> usize {
        b.len()
    }
}

struct Commonware(commonware_runtime::BufferPool);

impl Contender for Commonware {
    const NAME: &'static str = "commonware";
    type Buf<'a> = commonware_runtime::IoBufMut;
    #[inline(always)]
    fn get(&self, n: usize) -> Self::Buf<'_> {
        self.0.try_alloc(n).expect("every size here is pooled and the pool never runs dry")
    }
    #[inline(always)]
    fn len(b: &Self::Buf<'_>) -> usize {
        // `try_alloc` hands out `len() == 0`; the capacity is what was asked.
        b.capacity()
    }
}

struct Zeroed(usize);

impl opool::PoolAllocator<Vec<u8>> for Zeroed {
    fn allocate(&self) -> Vec<u8> {
        vec![0; self.0]
    }
}

type OPool = opool::Pool<Zeroed, Vec<u8>>;

/// opool holds objects of one size, so one pool per size, chosen by `n`.
struct Opool {
    k4: OPool,
    k64: OPool,
    m1: OPool,
}

impl Contender for Opool {
    const NAME: &'static str = "opool";
    type Buf<'a> = opool::RefGuard<'a, Zeroed, Vec<u8>>;
    #[inline(always)]
    fn get(&self, n: usize) -> Self::Buf<'_> {
        if n <= K4 {
            self.k4.get()
        } else if n <= K64 {
            self.k64.get()
        } else {
            assert!(n <= M1, "opool has no pool for {n} bytes");
            self.m1.get()
        }
    }
    #[inline(always)]
    fn len(b: &Self::Buf<'_>) -> usize {
        b.len()
    }
}

struct Heap;

impl Contender for Heap {
    const NAME: &'static str = "vec";
    type Buf<'a> = Vec<u8>;
    #[inline(always)]
    fn get(&self, n: usize) -> Self::Buf<'_> {
        Vec::with_capacity(n)
    }
    #[inline(always)]
    fn len(b: &Self::Buf<'_>) -> usize {
        b.capacity()
    }
}

// The shapes. Each is generic over the contender, so all five run the same
// code; the const generic `N` is the size where it is known at compile time.

/// The function that takes the buffer and moves it out to its caller.
fn take<C: Contender, const N: usize>(c: &C) -> C::Buf<'_> {
    c.get(N)
}

fn moved<C: Contender, const N: usize>(c: &C, ops: usize) {
    for _ in 0..ops {
        let b = take::<C, N>(c);
        black_box(&b);
        drop(b);
    }
}

fn inplace<C: Contender, const N: usize>(c: &C, ops: usize) {
    for _ in 0..ops {
        black_box(C::len(black_box(&c.get(N))));
    }
}

#[inline(never)]
fn get_it<C: Contender>(c: &C, n: usize) -> C::Buf<'_> {
    c.get(n)
}

#[inline(never)]
fn drop_it<C: Contender>(b: C::Buf<'_>) {
    drop(b);
}

fn noinline<C: Contender, const N: usize>(c: &C, ops: usize) {
    for _ in 0..ops {
        let b = get_it(c, N);
        black_box(&b);
        drop_it::<C>(b);
    }
}

fn varsize<C: Contender>(c: &C, n: usize, ops: usize) {
    for _ in 0..ops {
        let b = c.get(black_box(n));
        black_box(&b);
        drop(b);
    }
}

fn constsize<C: Contender, const N: usize>(c: &C, ops: usize) {
    for _ in 0..ops {
        let b = c.get(N);
        black_box(&b);
        drop(b);
    }
}

fn alt<C: Contender>(c: &C, a: usize, b: usize, ops: usize) {
    for i in 0..ops {
        let n = if i & 1 == 0 { a } else { b };
        let buf = c.get(black_box(n));
        black_box(&buf);
        drop(buf);
    }
}

const CONTENDERS: [&str; 5] = [Bufpool::NAME, Zeropool::NAME, Commonware::NAME, Opool::NAME, Heap::NAME];

/// One measured loop: its row (`shape/size`), its contender (an index into
/// [`CONTENDERS`]) and the loop itself, given the number of get + drop pairs.
struct Method<'a> {
    row: &'static str,
    contender: usize,
    run: Box<dyn Fn(usize) + 'a>,
}

/// Every row of one contender, in table order.
fn methods<'a, C: Contender>(c: &'a C, contender: usize, out: &mut Vec<Method<'a>>) {
    let mut push = |row: &'static str, run: Box<dyn Fn(usize) + 'a>| out.push(Method { row, contender, run });
    macro_rules! shape {
        ($shape:literal, $f:ident) => {
            push(concat!($shape, "/4K"), Box::new(move |ops| $f::<C, K4>(c, ops)));
            push(concat!($shape, "/64K"), Box::new(move |ops| $f::<C, K64>(c, ops)));
            push(concat!($shape, "/1M"), Box::new(move |ops| $f::<C, M1>(c, ops)));
        };
    }
    shape!("moved", moved);
    shape!("inplace", inplace);
    shape!("noinline", noinline);
    push("varsize/4K", Box::new(move |ops| varsize(c, K4, ops)));
    push("varsize/64K", Box::new(move |ops| varsize(c, K64, ops)));
    push("varsize/1M", Box::new(move |ops| varsize(c, M1, ops)));
    shape!("const", constsize);
    push("alt/4K", Box::new(move |ops| alt(c, K4, ALT, ops)));
}

/// commonware's pool is reachable only from a runtime context: built by a
/// tokio runner from its config, as its `iobuf` benches' `start_pool` does.
fn commonware_pool() -> commonware_runtime::BufferPool {
    use commonware_runtime::{BufferPoolConfig, BufferPooler as _, Runner as _};
    let nz = |n: usize| NonZeroUsize::new(n).expect("nonzero");
    // Every size here pooled (classes 1 KiB to 1 MiB, nothing below
    // `pool_min_size`), 64 buffers per class, one thread.
    let cfg = BufferPoolConfig::for_network()
        .with_pool_min_size(0)
        .with_size_class_range(nz(1024), nz(M1), NonZeroU32::new(64).expect("nonzero"))
        .with_parallelism(nz(1));
    let runner =
        commonware_runtime::tokio::Config::default().with_worker_threads(1).with_network_buffer_pool_config(cfg);
    commonware_runtime::tokio::Runner::new(runner).start(|ctx| async move { ctx.network_buffer_pool().clone() })
}

fn median(t: &mut [f64]) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The cargo profile the binary was built with: `target/<profile>/deps/`.
fn profile() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut parts: Vec<String> = exe.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    parts.pop();
    match (parts.pop(), parts.pop()) {
        (Some(d), Some(p)) if d == "deps" => p,
        _ => "?".into(),
    }
}

fn selected(row: &str, filter: &str) -> bool {
    filter == "all" || filter.split(',').any(|f| f == row || row.split('/').any(|p| p.eq_ignore_ascii_case(f)))
}

/// Runs the matrix under `allocator` (a label: the binary's global allocator).
pub fn run(allocator: &str) {
    // `cargo bench` appends `--bench`; the positional arguments are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: shapes_{allocator} [FILTER (all, or rows / parts of rows, comma-separated)] [OPS_PER_ROUND (300000)]");
        println!(
            "env: SHAPES_ROUNDS (21); SHAPES_CONTENDERS (all: {}); ONCE=1 runs each selected method once, unmeasured",
            CONTENDERS.join(",")
        );
        return;
    }
    let filter = args.first().cloned().unwrap_or_else(|| "all".into());
    let ops: usize = args.get(1).map_or(300_000, |s| s.parse().expect("OPS_PER_ROUND is a number"));
    let rounds: usize = std::env::var("SHAPES_ROUNDS").map_or(21, |s| s.parse().expect("SHAPES_ROUNDS is a number"));

    let bp = Bufpool(bufpool::BufferPool::builder().max_pooled_bytes(1 << 30).build().expect("valid config"));
    let zp = Zeropool(zeropool::ZeroPool::new());
    let cw = Commonware(commonware_pool());
    let op = Opool {
        k4: OPool::new_prefilled(64, Zeroed(K4)),
        k64: OPool::new_prefilled(64, Zeroed(K64)),
        m1: OPool::new_prefilled(64, Zeroed(M1)),
    };
    let heap = Heap;
    let mut all = Vec::new();
    methods(&bp, 0, &mut all);
    methods(&zp, 1, &mut all);
    methods(&cw, 2, &mut all);
    methods(&op, 3, &mut all);
    methods(&heap, 4, &mut all);
    let only = std::env::var("SHAPES_CONTENDERS").unwrap_or_default();
    all.retain(|m| {
        selected(m.row, &filter) && (only.is_empty() || only.split(',').any(|c| c == CONTENDERS[m.contender]))
    });
    assert!(!all.is_empty(), "FILTER {filter:?} selects no row");
    if std::env::var_os("ONCE").is_some() {
        for m in &all {
            (m.run)(ops);
        }
        return;
    }

    let started = Instant::now();
    for m in &all {
        (m.run)(ops / 10);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); all.len()];
    for _ in 0..rounds {
        for (m, t) in all.iter().zip(&mut times) {
            let start = Instant::now();
            (m.run)(ops);
            t.push(start.elapsed().as_nanos() as f64 / ops as f64);
        }
    }
    let min: Vec<f64> = times.iter().map(|t| t.iter().copied().fold(f64::INFINITY, f64::min)).collect();
    let med: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();

    let mut rows: Vec<&str> = Vec::new();
    for m in &all {
        if !rows.contains(&m.row) {
            rows.push(m.row);
        }
    }
    let cell =
        |stat: &[f64], row: &str, c: usize| all.iter().position(|m| m.row == row && m.contender == c).map(|i| stat[i]);
    println!(
        "shapes: allocator {allocator}, profile {}, {rounds} rounds of {ops} get + drop, {:.0} s",
        profile(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "ns per get + drop, median (min); ratios are bufpool ÷ peer on the medians, below 1 means bufpool faster."
    );
    println!("targets: ÷zeropool ≤ 0.5, ÷commonware ≤ 0.8, ÷vec ≤ 0.6 (under mimalloc).");
    println!();
    print!("| {allocator} | ");
    for c in CONTENDERS {
        print!("{c} | ");
    }
    println!("÷zeropool | ÷commonware | ÷vec | ÷opool |");
    println!("|---|{}", "---:|".repeat(CONTENDERS.len() + 4));
    let limits = [0.5, 0.8, 0.6, f64::INFINITY];
    let mut held = [0usize; 4];
    let mut cells = [0usize; 4];
    for row in &rows {
        print!("| {row} | ");
        for c in 0..CONTENDERS.len() {
            match (cell(&med, row, c), cell(&min, row, c)) {
                (Some(m), Some(n)) => print!("{m:.1} ({n:.1}) | "),
                _ => print!("— | "),
            }
        }
        for (k, peer) in [1, 2, 4, 3].into_iter().enumerate() {
            match (cell(&med, row, 0), cell(&med, row, peer)) {
                (Some(b), Some(p)) => {
                    let r = b / p;
                    cells[k] += 1;
                    if r <= limits[k] {
                        held[k] += 1;
                    }
                    print!("{r:.2} | ");
                }
                _ => print!("— | "),
            }
        }
        println!();
    }
    println!();
    println!(
        "held: ÷zeropool ≤ 0.5 in {}/{} rows, ÷commonware ≤ 0.8 in {}/{}, ÷vec ≤ 0.6 in {}/{}",
        held[0], cells[0], held[1], cells[1], held[2], cells[2]
    );
}
