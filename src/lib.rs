//! A fast, bounded byte-buffer pool: a per-thread cache in front of CPU-scaled
//! lock-free shards, handing out RAII buffers that go home on drop.
//!
//! ```
//! use bufpool::BufferPool;
//!
//! let pool = BufferPool::builder().max_pooled_bytes(256 << 20).build()?;
//! let mut buf = pool.get(64 * 1024);       // 64 KiB, initialised
//! buf[..4].copy_from_slice(b"ping");
//! drop(buf);                               // back to this thread's cache
//! let again = pool.get(64 * 1024);         // same memory, no allocation
//! assert_eq!(pool.stats().fresh_allocations, 1);
//! # drop(again);
//! # Ok::<(), bufpool::BuildError>(())
//! ```
//!
//! # Feature flags
//!
//! Nothing optional is on by default. On docs.rs every item below is shown,
//! each labelled with the feature it needs.
//!
//! | feature | what it adds | dependency it pulls in |
//! |---|---|---|
//! | *(default)* | the pool, the futures-io async read layer | — |
//! | `bytes` | `PooledBuffer::freeze() -> Bytes`, `BufMut`, `pool.lines()`, `pool.length_delimited()` (and their `*_tokio` twins with `tokio`) as `Stream`s, `pool.frame_writer()` / `pool.line_writer()` | `bytes`, `futures-core` (the `Stream` trait: a few traits, no code to speak of; the same one `uring` uses) |
//! | `tokio` | the async read layer on tokio's `AsyncRead` / `AsyncWrite`, no adapter | `tokio` (no default features) |
//! | `tokio-util` | `pool.framed_read(reader, decoder)`: any `tokio_util::codec::Decoder` over pooled read buffers, no memory held between frames (implies `bytes`, `tokio`) | `tokio-util` (`codec` only) |
//! | `uring` | `bufpool::uring::Ring`: io_uring file reads and writes on pool buffers, `read_many` streams, registered files, thread fallback; sockets: multishot `recv` into a provided-buffer ring of pool buffers, `send` / `send_vectored` (and `send_bytes` with `bytes`), optional `SEND_ZC`, `accept` / `incoming`, readiness fallback | `io-uring`, `futures-core` (the `Stream` trait) |
//! | `metrics` | `pool.register_metrics(name)`: `stats()` and `class_stats()` as counters and gauges through the `metrics` facade (labels `pool`, `class`), refreshed on the idle clock's tick or by `pool.refresh_metrics()`, never on a get or drop | `metrics` (the facade only; bring any exporter) |
//! | `test-util` | hooks for this crate's own tests (`BufferPool::reserved_bytes`, `RingBuilder::inject_faults`); not a stable API | — |
//!
//! (The README holds the same table; `tests/features_table.rs` checks that
//! both match each other and `Cargo.toml`.)
//!
//! # How it works
//!
//! See the [`design`] module, rendered from `docs/DESIGN.md`.
//!
//! # Comparison with similar crates
//!
//! Criterion medians from one run each, peers side by side, on a shared 2-core
//! VM (compare ratios; `docs/benchmarks.md` has every table and command):
//!
//! | crate | get(64 KiB) + drop | buffer `'static + Send` | bounded bytes | per-thread cache per pool | known defects avoided here |
//! |---|---:|---|---|---|---|
//! | **bufpool** | 13–16 ns | yes | yes, caches + shards | yes | — |
//! | zeropool 0.7 (`alloc_uninit`) | 31–37 ns | no (`Buf<'a>` borrows the pool) | no | bound to one pool: 2.7–3.9× when alternating | safe `alloc` zeroes every time (1.4 µs at 64 KiB); nothing pooled above 64 MiB |
//! | opool 0.2 (`get` / `get_rc`) | 22–24 ns / 50–60 ns | only `get_rc` (an `Arc` clone per get) | count only | no | a full queue silently drops the buffer; no size classes |
//! | object-pool 0.6 | 37 ns | no | count only | no | one `Mutex<Vec>` |
//! | `BytesMut` / `Vec` (no pool) | 29–58 ns / 28–60 ns | yes | — | — | a 512 MiB buffer costs 295 ms of page faults every time (bufpool: 3.2 ms) |
//!
//! The async layer reads 3.05× faster than async-io-bufpool 0.2 at 16 KiB and
//! holds 40 bytes per pending read instead of a buffer; line framing is 2.5×
//! `tokio_util`'s `LinesCodec` on short lines.
//!
//! # Safety
//!
//! * `get(n)` never exposes uninitialised memory: fresh buffers come zeroed
//!   from the allocator, and recycled buffers hold bytes a previous user wrote.
//! * Under [`Zeroing::Never`] (the default) **a recycled buffer keeps its
//!   previous contents**. Use [`BufferPool::get_zeroed`], [`Zeroing::OnGet`] or
//!   [`Zeroing::OnReturn`] when buffers may carry secrets across trust
//!   boundaries.
//! * Every `unsafe` block carries a `// SAFETY:` comment; the concurrent
//!   protocols are model-checked with loom (`loom-tests/`), and the test suite
//!   runs under valgrind (see `docs/TESTING.md`).
//!
//! # Bounding memory in a server
//!
//! Four knobs, each capping one thing; none is on by default except the two
//! the pool needs to stay bounded at all (`max_pooled_bytes` and
//! `tls_cache_bytes`):
//!
//! | knob | caps | at the cap |
//! |---|---|---|
//! | [`Builder::max_pooled_bytes`] | idle bytes the pool keeps (shards and thread caches) | a returned buffer is freed instead of kept |
//! | [`Builder::tls_cache_bytes`] | idle bytes one thread's cache keeps, and what other threads may list for it | the cache spills to the shards |
//! | [`Builder::max_outstanding_bytes`] | bytes handed out and not yet back (live buffers, `Bytes` frozen from them, and what thread caches hold ready to hand out) | `try_get` fails ([`AllocError::is_over_budget`]), `get_async` and the read layer wait (FIFO), `get` blocks |
//! | [`Account`] `limit` / `watermarks` | one connection's (or tenant's) live buffers, on any thread | `try_get` fails; above `high` its reads are `Pending` until it is back to `low` |
//!
//! Memory the pool holds is then at most `max_outstanding_bytes +
//! max_pooled_bytes + threads × tls_cache_bytes` (the last for buffers dropped
//! on a thread other than their own, listed for their home), whatever the
//! number of connections: an idle connection reading through the pool holds
//! no buffer at all, only its future (`docs/benchmarks.md`, idle connections).
//!
//! A worked example: a proxy with 10,000 connections on 8 threads, reading
//! 16 KiB at a time. Each connection's account pauses its reads once 64 KiB of
//! what it read is still held (a slow peer), and resumes at 32 KiB; no single
//! connection can hold more than 256 KiB. If every connection were at its
//! watermark at once that would be 10,000 × 80 KiB ≈ 781 MiB, so the pool's
//! cap of 512 MiB is what binds in the worst case: past it, reads wait their
//! turn instead of failing, and the server slows down rather than running out
//! of memory. With 128 MiB kept idle and 4 MiB per thread cache, the pool
//! never holds more than 512 + 128 + 8 × 4 = 672 MiB.
//!
//! ```
//! use bufpool::BufferPool;
//! let pool = BufferPool::builder()
//!     .cpus(8)
//!     .read_size(16 << 10)
//!     .tls_cache_bytes(4 << 20)
//!     .max_pooled_bytes(128 << 20)
//!     .max_outstanding_bytes(512 << 20)
//!     .build()?;
//! // One per connection:
//! let conn = pool.account().limit(256 << 10).watermarks(64 << 10, 32 << 10).build();
//! let held: Vec<_> = (0..4).map(|_| conn.get(16 << 10)).collect();
//! assert!(conn.is_paused(), "64 KiB held: this connection's reads wait");
//! assert!(pool.charged_bytes() <= 512 << 20);
//! drop(held);
//! assert!(!conn.is_paused());
//! # Ok::<(), bufpool::BuildError>(())
//! ```
//!
//! [`Builder::max_pooled_bytes`]: crate::Builder::max_pooled_bytes
//! [`Builder::tls_cache_bytes`]: crate::Builder::tls_cache_bytes
//! [`Builder::max_outstanding_bytes`]: crate::Builder::max_outstanding_bytes
//!
//! # Performance
//!
//! A `get` that hits the thread cache, and its drop, take no lock, make no
//! syscall, allocate nothing, perform no atomic read-modify-write on shared
//! memory and call no function: 88 instructions for the pair under callgrind,
//! about 0.4× zeropool 0.7's `alloc_uninit` and 0.5–0.7× opool's `get` in the
//! same criterion runs. Statistics are per-thread single-writer counters
//! summed on read; on the hot path they are the same writes the block's
//! refcount needs, so they cost nothing there. A thread alternating between
//! two pools keeps both caches (0.8–1.0× one pool). Misses go to the home
//! shard (by `sched_getcpu`) and refill half the slot from it, then steal from
//! the others, then allocate zeroed memory, which for large buffers is free
//! (`calloc` of fresh pages).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

mod account;
mod alloc;
mod budget;
mod buffer;
mod builder;
mod central;
mod class;
mod config;
mod error;
#[cfg(feature = "bytes")]
pub mod framing;
mod io;
mod local;
#[cfg(feature = "metrics")]
mod metrics;
mod pool;
mod stats;
mod sync;
mod track;
#[cfg(all(feature = "uring", target_os = "linux"))]
pub mod uring;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod design {
    #![doc = include_str!("../docs/DESIGN.md")]
}

#[cfg(feature = "tokio")]
pub use account::AccountReadTokio;
pub use account::{Account, AccountBuilder, AccountRead};
pub use buffer::PooledBuffer;
pub use builder::Builder;
pub use config::{
    Config, EvictionPolicy, Zeroing, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFER_SIZE, DEFAULT_MIN_BUFFER_SIZE,
    DEFAULT_READ_SIZE, DEFAULT_TLS_CACHE_BYTES, MAX_ALIGNMENT, MAX_BUFFERS_PER_SHARD, MAX_CACHE_DEPTH,
    SHARD_SLOT_BYTES,
};
pub use error::{AllocError, BuildError};
pub use io::{pooled_copy, pooled_read, BufReader, CopyFuture, ReadExactFuture, ReadFuture};
#[cfg(feature = "tokio")]
pub use io::{pooled_copy_tokio, pooled_read_tokio, TokioCopyFuture, TokioReadExactFuture, TokioReadFuture};
pub use pool::global;
pub use pool::{BufferPool, GetFuture};
pub use stats::{ClassStats, Stats};
pub use track::{OutstandingBuffer, OutstandingReport};
