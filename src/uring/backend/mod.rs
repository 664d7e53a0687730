//! The two engines behind a shard: io_uring, and a thread pool calling
//! `pread`/`pwrite`/`fsync`. Each works on the shard's [`Core`](crate::uring::slots::Core);
//! `shard.rs` picks one and is the only code that asks which.

pub(crate) mod threads;
pub(crate) mod uring;
