//! What page-aligned pool buffers cost in resident memory: holds `N`
//! buffers of `SIZE` bytes, each written, from a pool with the given
//! alignment, and prints the growth of the process's RSS against the bytes
//! held. (With glibc, 4 KiB buffers aligned to 4096 take about 8 KiB each.)
//!
//! ```text
//! cargo bench -p bench --bench aligned_rss -- ALIGN SIZE N
//! cargo bench -p bench --bench aligned_rss     # alignments 1 and 4096 at 4, 16 and 64 KiB, ~80 MB each
//! ```
//!
//! Each measurement runs in a fresh process, so memory an earlier one freed
//! to the allocator does not hide this one's growth.

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = s.lines().find(|l| l.starts_with("VmRSS")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB")
}

const USAGE: &str = "usage: aligned_rss [ALIGN SIZE N]   (no arguments: the sweep of the docs' table)";

fn main() {
    // `cargo bench` appends `--bench`; the positional arguments are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    if args.is_empty() {
        return sweep();
    }
    let nums: Vec<usize> =
        args.iter().map(|a| a.parse().unwrap_or_else(|_| fail(&format!("not a number: {a}")))).collect();
    let [align, size, n] = nums[..] else { fail("ALIGN SIZE N: three numbers") };
    measure(align, size, n);
}

fn fail(err: &str) -> ! {
    eprintln!("error: {err}\n{USAGE}");
    std::process::exit(2);
}

/// Alignments 1 and 4096 at 4, 16 and 64 KiB, about 80 MB held each time,
/// each in a child process of this binary.
fn sweep() {
    let exe = std::env::current_exe().expect("the bench's own path");
    for align in [1usize, 4096] {
        for size in [4096usize, 16384, 65536] {
            let n = 80_000_000 / size;
            let status = std::process::Command::new(&exe)
                .args([align, size, n].map(|v| v.to_string()))
                .status()
                .unwrap_or_else(|e| fail(&format!("running {}: {e}", exe.display())));
            assert!(status.success(), "aligned_rss {align} {size} {n}: {status}");
        }
    }
}

fn measure(align: usize, size: usize, n: usize) {
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
