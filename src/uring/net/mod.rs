//! Sockets on a `Ring`: multishot `recv` into a provided-buffer ring filled
//! from the pool, `send` and `accept`; readiness plus the lending read where
//! io_uring or buffer rings are missing.
//!
//! Files: `api.rs` the public surface (builder setters, `Ring::recv` /
//! `send` / `send_vectored` / `send_bytes` / `accept` / `incoming` / `shutdown`, their stream and futures); `engine.rs` which engine a
//! ring runs, started on its first socket operation; `uring.rs` the io_uring
//! engine (per ring shard one io_uring instance, one provided-buffer ring
//! from `bufring.rs`, a completion thread), its operation table in `table.rs`; `poller.rs` the fallback (one
//! `epoll` thread; a buffer is taken from the pool for each `recv` call and
//! kept only if it got data); `gather.rs` a send's buffers (pooled or `Bytes`), position and
//! `msghdr`; `config.rs` settings, defaults and counters.

mod api;
mod bufring;
pub(crate) mod config;
pub(crate) mod engine;
mod gather;
mod poller;
mod table;
mod uring;

#[cfg(feature = "bytes")]
pub use api::SendBytes;
pub use api::{Accept, Incoming, RecvStream, SendAll, SendVectored};
pub use config::{DEFAULT_RECV_COUNT, DEFAULT_RECV_QUEUE_LIMIT, DEFAULT_RECV_SIZE, DEFAULT_SEND_ZEROCOPY_ABOVE};
