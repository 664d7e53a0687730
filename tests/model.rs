//! A proptest model of random get / drop / grow / trim / release_idle
//! sequences spread over the test thread and three worker threads (a buffer
//! may be got on one thread and dropped on another). After every step:
//! no two live buffers overlap in memory (no buffer handed out twice), each
//! buffer still holds the bytes its user wrote, retained bytes stay within
//! the cap, `len` is what was asked, and capacity follows the class rules.
mod common;

use bufpool::{BufferPool, EvictionPolicy, PooledBuffer, Zeroing};
use proptest::prelude::*;
use std::sync::mpsc::{channel, Sender};
use std::thread::{self, JoinHandle};

const MIN: usize = 4096;
const MAX: usize = 256 * 1024;

#[derive(Debug, Clone)]
enum Op {
    /// Get `size` on thread `t` (0 = the test thread).
    Get { t: usize, size: usize },
    /// Drop live buffer `i % live` on thread `t`.
    Drop { t: usize, i: usize },
    /// Append `n` bytes to live buffer `i % live` (may grow it).
    Grow { i: usize, n: usize },
    /// `trim()` on thread `t`.
    Trim { t: usize },
    /// `release_idle()` on thread `t`.
    Tick { t: usize },
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => 0..MIN,
        6 => MIN..=MAX,
        1 => (MAX + 1)..=(MAX + 70_000),
        2 => prop::sample::select(vec![4096usize, 5120, 8192, 65536, 65537, MAX]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4usize, size()).prop_map(|(t, size)| Op::Get { t, size }),
        5 => (0..4usize, any::<usize>()).prop_map(|(t, i)| Op::Drop { t, i }),
        1 => (any::<usize>(), 1..20_000usize).prop_map(|(i, n)| Op::Grow { i, n }),
        1 => (0..4usize).prop_map(|t| Op::Trim { t }),
        1 => (0..4usize).prop_map(|t| Op::Tick { t }),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    cap: usize,
    tls_depth: usize,
    tls_bytes: usize,
    shards: usize,
    per_shard: usize,
    clock: bool,
    zeroing: u8,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop::sample::select(vec![64 * 1024usize, 512 * 1024, 4 << 20]),
        1..5usize,
        prop::sample::select(vec![1usize, 64 * 1024, 1 << 20]),
        prop::sample::select(vec![1usize, 2, 4]),
        1..5usize,
        any::<bool>(),
        0..3u8,
    )
        .prop_map(|(cap, tls_depth, tls_bytes, shards, per_shard, clock, zeroing)| Setup {
            cap,
            tls_depth,
            tls_bytes,
            shards,
            per_shard,
            clock,
            zeroing,
        })
}

enum Cmd {
    Get(usize, Sender<PooledBuffer>),
    Drop(PooledBuffer, Sender<()>),
    Trim(Sender<()>),
    Tick(Sender<()>),
}

struct Worker {
    tx: Option<Sender<Cmd>>,
    h: Option<JoinHandle<()>>,
}

impl Worker {
    fn new(pool: BufferPool) -> Self {
        let (tx, rx) = channel::<Cmd>();
        let h = thread::spawn(move || {
            for cmd in rx {
                match cmd {
                    Cmd::Get(n, r) => r.send(pool.get(n)).unwrap(),
                    Cmd::Drop(b, r) => {
                        drop(b);
                        r.send(()).unwrap()
                    }
                    Cmd::Trim(r) => {
                        pool.trim();
                        r.send(()).unwrap()
                    }
                    Cmd::Tick(r) => {
                        pool.release_idle();
                        r.send(()).unwrap()
                    }
                }
            }
        });
        Worker { tx: Some(tx), h: Some(h) }
    }
    fn call<T: Send + 'static>(&self, f: impl FnOnce(Sender<T>) -> Cmd) -> T {
        let (tx, rx) = channel();
        self.tx.as_ref().unwrap().send(f(tx)).unwrap();
        rx.recv().unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.h.take() {
            let _ = h.join();
        }
    }
}

struct Live {
    buf: PooledBuffer,
    want: usize,
    tag: u8,
}

fn check_capacity(want: usize, b: &PooledBuffer) -> Result<(), TestCaseError> {
    prop_assert_eq!(b.len(), want);
    let cap = b.capacity();
    prop_assert!(cap >= want);
    if (MIN..=MAX).contains(&want) {
        prop_assert!((cap - want) * 4 <= cap, "get({}) -> capacity {} wastes more than 25%", want, cap);
    } else {
        prop_assert_eq!(cap, want, "outside [min, max] the capacity is exact");
    }
    Ok(())
}

fn run(setup: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let pool = BufferPool::builder()
        .min_buffer_size(MIN)
        .max_buffer_size(MAX)
        .max_pooled_bytes(setup.cap)
        .tls_cache_size(setup.tls_depth)
        .tls_cache_bytes(setup.tls_bytes)
        .num_shards(setup.shards)
        .max_buffers_per_shard(setup.per_shard)
        .eviction_policy(if setup.clock { EvictionPolicy::Clock } else { EvictionPolicy::Lifo })
        .zeroing([Zeroing::Never, Zeroing::OnGet, Zeroing::OnReturn][setup.zeroing as usize])
        .build()
        .unwrap();
    let workers: Vec<Worker> = (0..3).map(|_| Worker::new(pool.clone())).collect();
    let mut live: Vec<Live> = vec![];
    let mut next_tag = 1u8;
    for op in ops {
        match op {
            Op::Get { t, size } => {
                let mut buf = if t == 0 { pool.get(size) } else { workers[t - 1].call(|r| Cmd::Get(size, r)) };
                check_capacity(size, &buf)?;
                let (p, cap) = (buf.as_ptr() as usize, buf.capacity());
                if cap > 0 {
                    for l in &live {
                        let (q, qc) = (l.buf.as_ptr() as usize, l.buf.capacity());
                        prop_assert!(qc == 0 || p + cap <= q || q + qc <= p, "buffer handed out twice / overlapping");
                    }
                }
                let tag = next_tag;
                next_tag = next_tag.wrapping_add(1).max(1);
                buf.fill(tag);
                live.push(Live { buf, want: size, tag });
            }
            Op::Drop { t, i } => {
                if live.is_empty() {
                    continue;
                }
                let l = live.swap_remove(i % live.len());
                prop_assert!(l.buf.iter().all(|&x| x == l.tag), "contents changed while held");
                prop_assert_eq!(l.buf.len(), l.want);
                if t == 0 {
                    drop(l.buf);
                } else {
                    workers[t - 1].call(|r| Cmd::Drop(l.buf, r));
                }
            }
            Op::Grow { i, n } => {
                if live.is_empty() {
                    continue;
                }
                let k = i % live.len();
                let l = &mut live[k];
                l.buf.extend_from_slice(&vec![l.tag; n]);
                l.want += n;
                prop_assert_eq!(l.buf.len(), l.want);
                prop_assert!(l.buf.iter().all(|&x| x == l.tag));
                let (p, cap) = (l.buf.as_ptr() as usize, l.buf.capacity());
                for (j, o) in live.iter().enumerate() {
                    let (q, qc) = (o.buf.as_ptr() as usize, o.buf.capacity());
                    prop_assert!(j == k || qc == 0 || p + cap <= q || q + qc <= p, "grown buffer overlaps");
                }
            }
            Op::Trim { t } => {
                if t == 0 {
                    pool.trim();
                    // The calling thread's cache and the shards are empty now;
                    // only the workers' caches may still hold bytes.
                } else {
                    workers[t - 1].call(Cmd::Trim);
                }
            }
            Op::Tick { t } => {
                if t == 0 {
                    pool.release_idle();
                } else {
                    workers[t - 1].call(Cmd::Tick);
                }
            }
        }
        let s = pool.stats();
        prop_assert!(s.pooled_bytes <= setup.cap as u64, "pooled {} over cap {}", s.pooled_bytes, setup.cap);
        prop_assert!(pool.reserved_bytes() <= setup.cap);
        prop_assert!(s.pooled_bytes <= pool.reserved_bytes() as u64, "pooled bytes not reserved: {}", s);
        prop_assert_eq!(s.outstanding_buffers, live.len() as u64);
        let out: usize = live.iter().map(|l| l.buf.capacity()).sum();
        prop_assert_eq!(s.outstanding_bytes, out as u64);
    }
    drop(live);
    drop(workers); // exit: their caches go to the shards
    let s = pool.stats();
    prop_assert_eq!(s.outstanding_buffers, 0);
    prop_assert!(s.pooled_bytes <= setup.cap as u64);
    pool.trim();
    let s = pool.stats();
    prop_assert_eq!(s.pooled_bytes, 0, "after every thread exited and a trim: {}", s);
    prop_assert_eq!(pool.reserved_bytes(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: common::iters(96, 6) as u32,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sequences_keep_the_invariants(setup in setup(), ops in prop::collection::vec(op(), 1..80)) {
        run(setup, ops)?;
    }
}
