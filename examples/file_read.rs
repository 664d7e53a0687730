//! Reads a file at queue depth 32 through the pool with a `Ring` (io_uring,
//! or its thread fallback), and compares the throughput with `std::fs::read`.
//!
//! ```text
//! cargo run --release --example file_read -- [PATH] [--chunk BYTES] [--fallback]
//! ```
//!
//! Without a path it writes a 256 MiB scratch file (under `$CARGO_TARGET_DIR`
//! if set, else the system temp dir), reads it, and removes it.

mod common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use common::{human, Cli, Context, Scratch};
use futures::StreamExt;
use std::path::PathBuf;
use std::time::Instant;

const QD: usize = 32;
const SCRATCH_SIZE: usize = 256 << 20;
const USAGE: &str = "\
usage: file_read [PATH] [--chunk BYTES] [--fallback]

Reads PATH (default: a 256 MiB scratch file, removed afterwards) three times
with Ring::read_many at queue depth 32, and once each round with
std::fs::read, from page cache.

  PATH           the file to read
  --chunk BYTES  bytes per read (default 1048576)
  --fallback     use the thread backend even where io_uring works
";

fn main() {
    let mut cli = Cli::new("file_read", USAGE);
    let chunk: usize = cli.value("--chunk", 1 << 20);
    let fallback = cli.flag("--fallback");
    let path = cli.positional().map(PathBuf::from);
    if chunk == 0 {
        cli.fail("--chunk must be positive");
    }
    cli.finish();
    common::run("file_read", || read(path, chunk, fallback));
}

fn read(path: Option<PathBuf>, chunk: usize, fallback: bool) -> std::io::Result<()> {
    let scratch;
    let path = match path {
        Some(p) => p,
        None => {
            scratch = Scratch::new("file_read")?;
            let p = scratch.path().to_path_buf();
            println!("writing a {} scratch file {}", human(SCRATCH_SIZE as u64), p.display());
            let block: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
            let data = block.repeat(SCRATCH_SIZE / block.len());
            std::fs::write(&p, &data).context(|| format!("write {}", p.display()))?;
            p
        }
    };
    let file = std::fs::File::open(&path).context(|| format!("open {}", path.display()))?;
    let size = file.metadata().context(|| format!("stat {}", path.display()))?.len();
    let pool = BufferPool::builder().alignment(4096).build().map_err(std::io::Error::other)?;
    let ring = Ring::builder(&pool).entries(64).force_fallback(fallback).build().context(|| "build the ring".into())?;
    println!(
        "{}: {}, {} reads, queue depth {QD}, backend {:?}",
        path.display(),
        human(size),
        human(chunk as u64),
        ring.backend()
    );

    // Warm the page cache once, so both methods read from memory.
    let _ = std::fs::read(&path).context(|| format!("read {}", path.display()))?;

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
        })
        .context(|| format!("read {} through the ring", path.display()))?;
        let ring_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let v = std::fs::read(&path).context(|| format!("read {}", path.display()))?;
        let std_s = t.elapsed().as_secs_f64();
        let std_sum = v.iter().step_by(4096).map(|&b| u64::from(b)).sum::<u64>();
        assert_eq!(bytes, v.len() as u64);
        drop(v);
        // Decimal GB/s, the unit of the figures in docs/benchmarks.md.
        println!(
            "round {round}: Ring {:.2} GB/s   std::fs::read {:.2} GB/s   (checksums {})",
            bytes as f64 / ring_s / 1e9,
            size as f64 / std_s / 1e9,
            if sum == std_sum { "match" } else { "DIFFER" }
        );
    }
    println!("ring: {}", common::ring_stats(&ring.stats()));
    Ok(())
}
