//! Socket settings ([`NetConfig`], carried by a `RingBuilder`), their
//! defaults, and the socket counters.

use crate::uring::stats::RingStats;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Default provided-buffer ring per shard: this many buffers...
pub const DEFAULT_RECV_COUNT: usize = 128;
/// ...of this many bytes each.
pub const DEFAULT_RECV_SIZE: usize = 16 << 10;
/// Default bound on the bytes one [`RecvStream`](crate::uring::RecvStream) holds received but not yet
/// yielded; past it the stream stops receiving until it is polled.
pub const DEFAULT_RECV_QUEUE_LIMIT: usize = 256 << 10;
/// Default for `RingBuilder::send_zerocopy_above`: never (`usize::MAX`). On
/// loopback, where it was measured, `SEND_ZC` did not pay at any size
/// (`docs/benchmarks.md`, "SEND_ZC"); on a real NIC it may.
pub const DEFAULT_SEND_ZEROCOPY_ABOVE: usize = usize::MAX;

/// Socket counters of one shard (or of the fallback), all `Relaxed`:
/// statistics, publishing nothing.
#[derive(Default)]
pub(crate) struct NetStats {
    pub(crate) recv: AtomicU64,
    pub(crate) enobufs: AtomicU64,
    pub(crate) rearms: AtomicU64,
    pub(crate) send_zc: AtomicU64,
    pub(crate) send_zc_copied: AtomicU64,
}

impl NetStats {
    pub(crate) fn add_to(&self, s: &mut RingStats) {
        // Relaxed: statistics; a snapshot may be a few events old.
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.recv += get(&self.recv);
        s.enobufs += get(&self.enobufs);
        s.rearms += get(&self.rearms);
        s.send_zc += get(&self.send_zc);
        s.send_zc_copied += get(&self.send_zc_copied);
    }
}

/// The socket settings a [`RingBuilder`] carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NetConfig {
    pub(crate) count: usize,
    pub(crate) size: usize,
    pub(crate) queue_limit: usize,
    pub(crate) zerocopy_above: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            count: DEFAULT_RECV_COUNT,
            size: DEFAULT_RECV_SIZE,
            queue_limit: DEFAULT_RECV_QUEUE_LIMIT,
            zerocopy_above: DEFAULT_SEND_ZEROCOPY_ABOVE,
        }
    }
}

impl NetConfig {
    pub(crate) fn check(&self) -> io::Result<()> {
        if !self.count.is_power_of_two() || self.count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("recv_buffers count must be a power of two in 1..=32768, got {}", self.count),
            ));
        }
        if self.size == 0 || self.size > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("recv_buffers size must be in 1..=4 GiB - 1, got {}", self.size),
            ));
        }
        Ok(())
    }
}
