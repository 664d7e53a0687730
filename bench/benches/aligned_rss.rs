//! What page-aligned pool buffers cost in resident memory: holds `N`
//! buffers of `SIZE` bytes, each written, from a pool with the given
//! alignment, and prints the growth of the process's RSS against the bytes
//! held. (With glibc, 4 KiB buffers aligned to 4096 take about 8 KiB each.)
//!
//! ```text
//! cargo run --release --example aligned_rss -- ALIGN SIZE N
//! for a in 1 4096; do for s in 4096 16384 65536; do
//!     cargo run -q --release --example aligned_rss -- $a $s $((80000000 / s)); done; done
//! ```

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = s.lines().find(|l| l.starts_with("VmRSS")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB")
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("ALIGN SIZE N: numbers")).collect();
    let [align, size, n] = args[..] else {
        eprintln!("usage: aligned_rss ALIGN SIZE N");
        std::process::exit(2);
    };
    let pool = bufpool::BufferPool::builder().alignment(align).max_pooled_bytes(1 << 34).build().expect("valid config");
    let before = rss_kib();
    let held: Vec<_> = (0..n)
        .map(|_| {
            let mut b = pool.get(size);
            b.fill(1);
            b
        })
        .collect();
    let grown = rss_kib() - before;
    let bytes = (n * size / 1024) as u64;
    println!(
        "align {align:>5}, {n} buffers of {size} B: RSS +{grown} KiB for {bytes} KiB held ({:.2}x)",
        grown as f64 / bytes as f64
    );
    drop(held);
}
