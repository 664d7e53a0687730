//! Helpers shared by the `uring_*` test files.
#![allow(dead_code)]

use bufpool::uring::{Backend, Ring};
use bufpool::BufferPool;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A scratch directory on the target's file system (not /tmp, which may be
/// tmpfs and refuse O_DIRECT), unique per test.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("uring-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A file of `len` bytes where byte `i` is `pattern(i)`.
pub fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

pub fn make_file(path: &PathBuf, len: usize) -> File {
    let data: Vec<u8> = (0..len as u64).map(pattern).collect();
    std::fs::write(path, &data).unwrap();
    OpenOptions::new().read(true).write(true).open(path).unwrap()
}

/// Both backends on `pool`: io_uring first (if the kernel has it), then the
/// thread backend.
pub fn rings(pool: &BufferPool, entries: usize) -> Vec<Ring> {
    let mut v = Vec::new();
    let r = Ring::builder(pool).entries(entries).build().unwrap();
    if r.backend() == Backend::IoUring {
        v.push(r);
    } else {
        eprintln!("io_uring unavailable here: testing the thread backend only");
    }
    v.push(Ring::builder(pool).entries(entries).force_fallback(true).build().unwrap());
    v
}

/// Waits until every buffer of `pool` is back (the backends free cancelled
/// operations' buffers when their completions arrive).
pub fn wait_quiescent(pool: &BufferPool) {
    let t = Instant::now();
    loop {
        let s = pool.stats();
        if s.outstanding_buffers == 0 {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "buffers never came back: {s}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Loop counts shrink under valgrind (or `BUFPOOL_SLOW`), unless
/// `BUFPOOL_FULL` is set.
pub fn scale(n: usize) -> usize {
    if std::env::var_os("BUFPOOL_FULL").is_some() {
        return n;
    }
    if std::env::var_os("BUFPOOL_SLOW").is_some() || running_on_valgrind() {
        (n / 8).max(1)
    } else {
        n
    }
}

fn running_on_valgrind() -> bool {
    std::env::var("LD_PRELOAD").map(|v| v.contains("valgrind")).unwrap_or(false)
}

/// An echo client: connects to `addr`, writes `msg` from a second thread
/// and shuts its side down, and returns everything it read back.
pub fn echo_client(addr: std::net::SocketAddr, msg: Vec<u8>) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        (&w).write_all(&msg).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    back
}

/// The server side of one echo: accepts a connection on `l` through `ring`,
/// sends every received buffer back, and shuts its side down at the end.
pub async fn echo_one(ring: &Ring, l: &std::net::TcpListener) {
    use futures::StreamExt;
    let (s, _) = ring.accept(l).await.unwrap();
    let mut rx = ring.recv(&s);
    while let Some(chunk) = rx.next().await {
        ring.send(&s, chunk.unwrap()).await.unwrap();
    }
    drop(rx);
    s.shutdown(std::net::Shutdown::Write).unwrap();
}
