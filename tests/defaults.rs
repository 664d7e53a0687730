//! Requirement 6: system-aware defaults. Every row of the documented table is
//! what the code computes, checked through `Builder::cpus(n)` + `config()`.
use bufpool::BufferPool;

fn shape(cpus: usize) -> (usize, usize, usize) {
    let pool = BufferPool::builder().cpus(cpus).build().unwrap();
    let c = pool.config();
    assert_eq!(c.cpus(), cpus);
    (c.tls_cache_size(), c.num_shards(), c.max_buffers_per_shard())
}

#[test]
fn every_row_of_the_table() {
    // (cpus, TLS cache, shards, buffers per shard), as in the issue and docs.
    let table = [
        (4, 4, 4, 16),
        (8, 6, 8, 16),
        (16, 6, 8, 32),
        (32, 8, 16, 64),
        (64, 8, 32, 64),
        (128, 8, 64, 64),
        (256, 8, 128, 64),
    ];
    for (cpus, tls, shards, per_shard) in table {
        assert_eq!(shape(cpus), (tls, shards, per_shard), "cpus = {cpus}");
    }
}

#[test]
fn zeropool_table_defects_are_absent() {
    // zeropool 0.3.1 computed 4 shards for 8 cores and a TLS cache of 8 for 16.
    assert_eq!(shape(8).1, 8);
    assert_eq!(shape(16).0, 6);
}

#[test]
fn the_docs_table_matches_the_code() {
    // The table in `defaults_for`'s docs (src/config.rs) is the documented one;
    // parse it and check each row.
    let src = include_str!("../src/config.rs");
    let mut rows = 0;
    for line in src.lines() {
        let line = line.trim_start_matches("///").trim();
        let cells: Vec<_> = line.trim_matches('|').split('|').map(str::trim).collect();
        if !line.starts_with('|') || cells.len() != 4 {
            continue;
        }
        let first = cells[0].split(['–', '-', '+']).find(|s| !s.is_empty()).and_then(|s| s.trim().parse().ok());
        let (Some(cpus), Ok(tls), Ok(shards), Ok(per)) =
            (first, cells[1].parse::<usize>(), cells[2].parse::<usize>(), cells[3].parse::<usize>())
        else {
            continue;
        };
        let cpus: usize = cpus;
        assert_eq!(shape(cpus), (tls, shards, per), "docs row `{line}`");
        rows += 1;
    }
    assert!(rows >= 6, "found only {rows} table rows in src/config.rs");
}

/// The same through `Builder::config()` (no pool built), for long sweeps.
fn shape_cfg(cpus: usize) -> (usize, usize, usize) {
    let c = BufferPool::builder().cpus(cpus).config().unwrap();
    (c.tls_cache_size(), c.num_shards(), c.max_buffers_per_shard())
}

#[test]
fn shards_are_a_power_of_two_clamped_to_4_128() {
    let mut prev = (0, 0, 0);
    for cpus in 1..=1024 {
        let (tls, shards, per) = shape_cfg(cpus);
        if cpus.is_power_of_two() {
            assert_eq!(shape(cpus), (tls, shards, per), "built pool agrees with config() at {cpus}");
        }
        assert!(shards.is_power_of_two(), "cpus {cpus}: {shards}");
        assert!((4..=128).contains(&shards), "cpus {cpus}: {shards}");
        assert!(shards <= cpus.next_power_of_two().max(4), "cpus {cpus}: {shards}");
        assert!([4, 6, 8].contains(&tls), "cpus {cpus}: tls {tls}");
        assert!([16, 32, 64].contains(&per), "cpus {cpus}: per shard {per}");
        // Monotonic in the CPU count.
        assert!(tls >= prev.0 && shards >= prev.1 && per >= prev.2, "cpus {cpus}");
        prev = (tls, shards, per);
    }
    assert_eq!(shape(1), (4, 4, 16));
    assert_eq!(shape(100_000).1, 128);
    assert_eq!(shape(usize::MAX).1, 128);
}

#[test]
fn between_rows_round_up_to_a_power_of_two() {
    // The documented rule: round up to a power of two p; shards p up to 8,
    // p / 2 above; TLS 4 up to 4 CPUs, 6 up to 16, 8 above; per shard 16 up to
    // 8, 32 up to 16, 64 above.
    assert_eq!(shape(3), shape(4));
    assert_eq!(shape(5), shape(8));
    assert_eq!(shape(12), shape(16));
    assert_eq!(shape(17), shape(32));
    assert_eq!(shape(100), shape(128));
    assert_eq!(shape(129), shape(256));
}

#[test]
fn explicit_settings_override_the_defaults() {
    let pool =
        BufferPool::builder().cpus(128).num_shards(2).tls_cache_size(3).max_buffers_per_shard(5).build().unwrap();
    let c = pool.config();
    assert_eq!((c.tls_cache_size(), c.num_shards(), c.max_buffers_per_shard()), (3, 2, 5));
}

#[test]
fn default_pool_uses_available_parallelism_and_documented_defaults() {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = BufferPool::new();
    let c = pool.config();
    assert_eq!(c.cpus(), n);
    assert_eq!((c.tls_cache_size(), c.num_shards(), c.max_buffers_per_shard()), shape(n));
    assert_eq!(c.min_buffer_size(), bufpool::DEFAULT_MIN_BUFFER_SIZE);
    assert_eq!(c.max_buffer_size(), bufpool::DEFAULT_MAX_BUFFER_SIZE);
    assert_eq!(c.idle_timeout(), bufpool::DEFAULT_IDLE_TIMEOUT);
    assert_eq!(c.read_size(), bufpool::DEFAULT_READ_SIZE);
    assert_eq!(c.alignment(), 1);
    assert!(!c.pinned_memory());
    assert_eq!(c.zeroing(), bufpool::Zeroing::Never);
    assert_eq!(c.eviction_policy(), bufpool::EvictionPolicy::Lifo);
    assert!(c.right_size());
    // The documented byte caps.
    assert!(c.max_pooled_bytes() >= 512 << 20, "a 500 MB buffer must fit: {}", c.max_pooled_bytes());
    assert_eq!(c.tls_cache_bytes(), bufpool::DEFAULT_TLS_CACHE_BYTES.min(c.max_pooled_bytes() / 8));
    // Debug of the pool shows the config.
    assert!(format!("{pool:?}").contains("num_shards"));
}

#[test]
fn builder_config_validates_without_building() {
    let c = BufferPool::builder().cpus(64).config().unwrap();
    assert_eq!(c.num_shards(), 32);
}
