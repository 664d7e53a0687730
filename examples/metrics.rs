//! The names a dashboard would see: registers a pool with
//! `pool.register_metrics("demo")`, does a few gets and drops of two sizes
//! on two threads (one of them holding buffers), and prints what
//! `metrics-exporter-prometheus` renders for a scrape.
//!
//! ```text
//! cargo run --example metrics -- [--hold N]
//! ```

mod common;

use bufpool::BufferPool;
use common::Cli;
use metrics_exporter_prometheus::PrometheusBuilder;
use std::thread;

const USAGE: &str = "\
usage: metrics [--hold N]

Registers a pool's statistics with a Prometheus recorder (no HTTP listener),
gets and drops 4 KiB and 64 KiB buffers on two threads, holds N 64 KiB
buffers, refreshes the metrics and prints the text a scrape would return.

  --hold N  64 KiB buffers held while the metrics are rendered (default 3)
";

fn main() {
    let mut cli = Cli::new("metrics", USAGE);
    let hold: usize = cli.value("--hold", 3);
    cli.finish();
    let handle = match PrometheusBuilder::new().install_recorder() {
        Ok(h) => h,
        Err(e) => cli_fail(&format!("cannot install the Prometheus recorder: {e}")),
    };
    let pool = BufferPool::new();
    pool.register_metrics("demo");

    // Churn on another thread: mostly cache hits after the first get.
    let worker = {
        let pool = pool.clone();
        thread::spawn(move || {
            for i in 0..1000 {
                drop(pool.get(if i % 4 == 0 { 64 * 1024 } else { 4 * 1024 }));
            }
        })
    };
    worker.join().expect("the worker thread");
    let held: Vec<_> = (0..hold).map(|_| pool.get(64 * 1024)).collect();

    // A scraper refreshes right before it renders.
    pool.refresh_metrics();
    print!("{}", handle.render());
    println!("# bufpool's own view: {}", pool.stats());
    drop(held);
}

fn cli_fail(msg: &str) -> ! {
    eprintln!("metrics: error: {msg}");
    std::process::exit(1);
}
