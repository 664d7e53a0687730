//! Where `SEND_ZC` starts to pay on loopback: one TCP connection, a reader
//! thread draining it, and the sender pushing `TOTAL` bytes through
//! `Ring::send` in buffers of each size, as a plain `SEND` and as
//! `SEND_ZC` (`RingBuilder::send_zerocopy_above(0)`), the two alternated
//! round by round. Prints, per size and mode, the median over the rounds of
//! wall time and of process CPU (both threads, user + system) per GiB.
//!
//! ```text
//! cargo bench -p bench --bench send_zc -- [ROUNDS (5)] [TOTAL_MIB (256)]
//! ```

#[path = "net/mod.rs"]
mod net;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures::executor::block_on;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

const SIZES: [usize; 6] = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: send_zc [ROUNDS (5)] [TOTAL_MIB (256)]");
        return;
    }
    let rounds: usize = args.first().map_or(5, |s| s.parse().expect("ROUNDS is a number"));
    let total: usize = args.get(1).map_or(256, |s| s.parse().expect("TOTAL_MIB is a number")) << 20;
    let pool = BufferPool::new();
    let copy = Ring::builder(&pool).shards(1).build().expect("ring");
    let zc = Ring::builder(&pool).shards(1).send_zerocopy_above(0).build().expect("ring");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    // (size, mode) -> per-round (wall s, cpu s) per GiB.
    let mut res = vec![vec![Vec::new(), Vec::new()]; SIZES.len()];
    for _ in 0..rounds {
        for (si, &size) in SIZES.iter().enumerate() {
            for (mi, ring) in [&copy, &zc].into_iter().enumerate() {
                res[si][mi].push(run(ring, &pool, &l, size, total));
            }
        }
    }
    let st = zc.stats();
    println!("SEND_ZC requests {}, of which the kernel copied {}", st.send_zc, st.send_zc_copied);
    println!("| size | SEND wall s/GiB | SEND_ZC wall s/GiB | ratio | SEND CPU s/GiB | SEND_ZC CPU s/GiB | ratio |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (si, &size) in SIZES.iter().enumerate() {
        let med = |mi: usize, k: usize| {
            let mut v: Vec<f64> = res[si][mi].iter().map(|r: &(f64, f64)| if k == 0 { r.0 } else { r.1 }).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (cw, zw, cc, zcc) = (med(0, 0), med(1, 0), med(0, 1), med(1, 1));
        println!("| {} KiB | {cw:.3} | {zw:.3} | {:.2} | {cc:.3} | {zcc:.3} | {:.2} |", size >> 10, zw / cw, zcc / cc);
    }
}

/// Sends `total` bytes in `size`-byte sends over a fresh connection; wall
/// and CPU seconds per GiB.
fn run(ring: &Ring, pool: &BufferPool, l: &TcpListener, size: usize, total: usize) -> (f64, f64) {
    let mut c = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0usize;
        loop {
            match c.read(&mut buf) {
                Ok(0) => return n,
                Ok(k) => n += k,
                Err(e) => panic!("read: {e}"),
            }
        }
    });
    let mut b = pool.with_capacity(size);
    b.resize(size, 0x5a);
    let (t, cpu) = (Instant::now(), net::cpu_secs());
    for _ in 0..total / size {
        b = block_on(ring.send(&s, b)).expect("send");
    }
    drop(s);
    let got = reader.join().expect("reader");
    assert_eq!(got, total / size * size);
    let gib = got as f64 / (1u64 << 30) as f64;
    (t.elapsed().as_secs_f64() / gib, (net::cpu_secs() - cpu) / gib)
}
