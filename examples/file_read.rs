//! Reads a large file at queue depth 32 through the pool with a `Ring`, and
//! compares the throughput with `std::fs::read`.
//!
//! ```text
//! cargo run --release --example file_read [PATH] [--chunk BYTES] [--fallback]
//! ```
//!
//! Without a path it creates a 256 MiB file under `target/` (not /tmp, which
//! may be tmpfs) and reads it from page cache.

use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures::StreamExt;
use std::path::PathBuf;
use std::time::Instant;

const QD: usize = 32;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut chunk = 1 << 20;
    let mut fallback = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--chunk" => chunk = args.next().and_then(|s| s.parse().ok()).expect("--chunk BYTES"),
            "--fallback" => fallback = true,
            p => path = Some(PathBuf::from(p)),
        }
    }
    let path = match path {
        Some(p) => p,
        None => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/file_read");
            std::fs::create_dir_all(&dir)?;
            let p = dir.join("256m");
            if std::fs::metadata(&p).map(|m| m.len()).ok() != Some(256 << 20) {
                println!("creating {} (256 MiB)", p.display());
                let block: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
                let mut data = Vec::with_capacity(256 << 20);
                for _ in 0..256 {
                    data.extend_from_slice(&block);
                }
                std::fs::write(&p, &data)?;
            }
            p
        }
    };
    let file = std::fs::File::open(&path)?;
    let size = file.metadata()?.len();
    let pool = BufferPool::builder().alignment(4096).build().map_err(std::io::Error::other)?;
    let ring = Ring::builder(&pool).entries(64).force_fallback(fallback).build()?;
    println!(
        "{}: {} MiB, chunk {} KiB, queue depth {QD}, backend {:?}",
        path.display(),
        size >> 20,
        chunk >> 10,
        ring.backend()
    );

    // Warm the page cache once, so both methods read from memory.
    let _ = std::fs::read(&path)?;

    for round in 0..3 {
        let t = Instant::now();
        let (bytes, sum) = futures::executor::block_on(async {
            // One stream keeps QD reads in flight; results come as they complete.
            let reads = (0..size).step_by(chunk).map(|off| (off, chunk));
            let mut stream = ring.read_many(&file, reads, QD)?;
            let (mut bytes, mut sum) = (0u64, 0u64);
            while let Some((_offset, r)) = stream.next().await {
                let buf = r?;
                bytes += buf.len() as u64;
                sum = sum.wrapping_add(buf.iter().step_by(4096).map(|&b| u64::from(b)).sum::<u64>());
            }
            Ok::<_, std::io::Error>((bytes, sum))
        })?;
        let ring_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let v = std::fs::read(&path)?;
        let std_s = t.elapsed().as_secs_f64();
        let std_sum = v.iter().step_by(4096).map(|&b| u64::from(b)).sum::<u64>();
        assert_eq!(bytes, v.len() as u64);
        drop(v);
        println!(
            "round {round}: Ring {:.2} GB/s   std::fs::read {:.2} GB/s   (checksums {})",
            bytes as f64 / ring_s / 1e9,
            size as f64 / std_s / 1e9,
            if sum == std_sum { "match" } else { "DIFFER" }
        );
    }
    println!("{:?}", ring.stats());
    Ok(())
}
