//! [`Net`]: a ring's socket engine, io_uring with buffer rings or the
//! readiness fallback, started on the ring's first socket operation.

use crate::uring::fork;
use crate::uring::net::config::NetConfig;
use crate::uring::net::poller::{self, Poller};
use crate::uring::net::uring::{self, NetShard};
use crate::uring::shard::Backend;
use crate::uring::stats::RingStats;
use crate::BufferPool;
use std::io;
use std::sync::{Arc, OnceLock};

pub(crate) enum Engine {
    Uring(Vec<Arc<NetShard>>),
    Poll(Arc<Poller>),
}

/// A ring's socket engine, started on its first socket operation.
pub(crate) struct Net {
    pub(crate) cfg: NetConfig,
    pool: BufferPool,
    pub(crate) shards: usize,
    backend: Backend,
    fork_gen: u64,
    engine: OnceLock<Result<Engine, String>>,
}

impl Net {
    pub(crate) fn new(cfg: NetConfig, pool: &BufferPool, shards: usize, backend: Backend, fork_gen: u64) -> Self {
        Net { cfg, pool: pool.clone(), shards, backend, fork_gen, engine: OnceLock::new() }
    }

    pub(crate) fn engine(&self) -> io::Result<&Engine> {
        if fork::forked(self.fork_gen) {
            return Err(fork::error());
        }
        let e = self.engine.get_or_init(|| {
            if self.backend == Backend::IoUring && multishot_kernel() {
                let mut v = Vec::new();
                for _ in 0..self.shards {
                    match uring::start(&self.pool, &self.cfg) {
                        Ok(n) => v.push(n),
                        Err(_) => break,
                    }
                }
                if v.len() == self.shards {
                    return Ok(Engine::Uring(v));
                }
                // Refused (no buffer rings, say): close what started, fall back.
                v.iter().for_each(|n| n.close());
            }
            poller::start(&self.pool, self.cfg.size).map(Engine::Poll).map_err(|e| e.to_string())
        });
        e.as_ref().map_err(|m| io::Error::other(format!("bufpool: the socket engine could not start: {m}")))
    }

    pub(crate) fn add_stats(&self, s: &mut RingStats) {
        match self.engine.get() {
            Some(Ok(Engine::Uring(v))) => v.iter().for_each(|n| n.stats.add_to(s)),
            Some(Ok(Engine::Poll(p))) => p.stats.add_to(s),
            _ => {}
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if fork::forked(self.fork_gen) {
            return;
        }
        match self.engine.get() {
            Some(Ok(Engine::Uring(v))) => v.iter().for_each(|n| n.close()),
            Some(Ok(Engine::Poll(p))) => p.close(),
            _ => {}
        }
    }
}

/// Multishot `recv` needs Linux 6.0 (buffer rings 5.19).
fn multishot_kernel() -> bool {
    // SAFETY: `uname` fills the zeroed struct it is given.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    let rel: String = u.release.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect();
    let mut it = rel.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (6, 0)
}
