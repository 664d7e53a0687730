//! Issue 13, item 5: `register_metrics` publishes `stats()` and
//! `class_stats()` through the `metrics` facade. A real exporter
//! (`metrics-exporter-prometheus`, installed as a thread-local recorder)
//! renders the values, which must match the pool's own snapshots and what
//! the operations imply; they move on `refresh_metrics` and on the idle
//! clock's tick, and not on gets and drops.
use bufpool::BufferPool;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::collections::BTreeMap;
use std::time::Duration;

const SMALL: usize = 4 * 1024;
const BIG: usize = 64 * 1024;

fn recorder() -> (PrometheusRecorder, PrometheusHandle) {
    let r = PrometheusBuilder::new().build_recorder();
    let h = r.handle();
    (r, h)
}

/// The rendered samples: `name{labels}` → value.
fn scrape(h: &PrometheusHandle) -> BTreeMap<String, f64> {
    h.render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("a sample line");
            (k.to_string(), v.parse().expect("a number"))
        })
        .collect()
}

fn pool_key(name: &str, pool: &str) -> String {
    format!("{name}{{pool=\"{pool}\"}}")
}

fn class_key(name: &str, pool: &str, capacity: usize) -> String {
    format!("{name}{{pool=\"{pool}\",class=\"{capacity}\"}}")
}

/// Every pool-wide series against `pool.stats()`, and every class's against
/// `pool.class_stats()`.
fn assert_published(m: &BTreeMap<String, f64>, pool: &BufferPool, name: &str) {
    let s = pool.stats();
    let expect: [(&str, u64); 21] = [
        ("bufpool_gets_total", s.gets),
        ("bufpool_cache_hits_total", s.cache_hits),
        ("bufpool_shard_hits_total", s.shard_hits),
        ("bufpool_steals_total", s.steals),
        ("bufpool_fresh_allocations_total", s.fresh_allocations),
        ("bufpool_unpooled_total", s.unpooled),
        ("bufpool_returns_total", s.returns),
        ("bufpool_discards_total", s.discards),
        ("bufpool_evictions_total", s.evictions),
        ("bufpool_right_sized_total", s.right_sized),
        ("bufpool_prefilled_total", s.prefilled),
        ("bufpool_pin_failures_total", s.pin_failures),
        ("bufpool_pooled_bytes", s.pooled_bytes),
        ("bufpool_listed_bytes", s.listed_bytes),
        ("bufpool_outstanding_bytes", s.outstanding_bytes),
        ("bufpool_outstanding_buffers", s.outstanding_buffers),
        ("bufpool_frozen_bytes", s.frozen_bytes),
        ("bufpool_frozen_buffers", s.frozen_buffers),
        ("bufpool_pinned_bytes", s.pinned_bytes),
        ("bufpool_peak_outstanding_bytes", s.peak_outstanding_bytes),
        ("bufpool_peak_pooled_bytes", s.peak_pooled_bytes),
    ];
    for (series, v) in expect {
        assert_eq!(m.get(&pool_key(series, name)).copied(), Some(v as f64), "{series}");
    }
    for c in pool.class_stats() {
        let expect: [(&str, u64); 7] = [
            ("bufpool_class_gets_total", c.gets),
            ("bufpool_class_misses_total", c.misses),
            ("bufpool_class_returns_total", c.returns),
            ("bufpool_class_idle_buffers", c.idle_buffers),
            ("bufpool_class_idle_bytes", c.idle_bytes),
            ("bufpool_class_outstanding_buffers", c.outstanding_buffers),
            ("bufpool_class_peak_outstanding_buffers", c.peak_outstanding_buffers),
        ];
        for (series, v) in expect {
            let k = class_key(series, name, c.capacity);
            assert_eq!(m.get(&k).copied(), Some(v as f64), "{k}");
        }
    }
}

#[test]
fn published_values_match_the_operations_and_stats() {
    let (rec, h) = recorder();
    let pool = BufferPool::new();
    let held = metrics::with_local_recorder(&rec, || {
        pool.register_metrics("t");
        for _ in 0..10 {
            drop(pool.get(SMALL));
        }
        let held: Vec<_> = (0..3).map(|_| pool.get(BIG)).collect();
        drop(pool.get(10)); // unpooled
        pool.refresh_metrics();
        held
    });
    let m = scrape(&h);
    assert_published(&m, &pool, "t");
    // And what the operations imply, not only what `stats()` says.
    let (small, big) = (pool.get(SMALL).capacity(), held[0].capacity());
    assert_eq!(m[&pool_key("bufpool_gets_total", "t")], 14.0);
    assert_eq!(m[&pool_key("bufpool_outstanding_buffers", "t")], 3.0);
    assert_eq!(m[&pool_key("bufpool_outstanding_bytes", "t")], (3 * big) as f64);
    assert_eq!(m[&class_key("bufpool_class_gets_total", "t", small)], 10.0);
    assert_eq!(m[&class_key("bufpool_class_misses_total", "t", small)], 1.0);
    assert_eq!(m[&class_key("bufpool_class_outstanding_buffers", "t", big)], 3.0);
    assert!(m[&class_key("bufpool_class_peak_outstanding_buffers", "t", big)] >= 3.0);
    // Only the two classes in use have series.
    let classes: Vec<_> = m.keys().filter(|k| k.starts_with("bufpool_class_gets_total")).collect();
    assert_eq!(classes.len(), 2, "{classes:?}");
}

#[test]
fn values_stand_still_between_refreshes() {
    let (rec, h) = recorder();
    let pool = BufferPool::new();
    metrics::with_local_recorder(&rec, || {
        pool.register_metrics("still");
        drop(pool.get(BIG));
        pool.refresh_metrics();
    });
    let before = scrape(&h);
    assert_published(&before, &pool, "still");
    let gets = before[&pool_key("bufpool_gets_total", "still")];
    // Gets and drops alone publish nothing (and, this quickly, no idle
    // clock tick is due).
    for _ in 0..100 {
        drop(pool.get(BIG));
    }
    assert_eq!(scrape(&h), before);
    pool.refresh_metrics();
    let after = scrape(&h);
    assert_eq!(after[&pool_key("bufpool_gets_total", "still")], gets + 100.0);
    assert_published(&after, &pool, "still");
}

#[test]
fn the_idle_clock_refreshes_without_being_asked() {
    let (rec, h) = recorder();
    let pool = BufferPool::builder().idle_timeout(Duration::from_millis(20)).build().unwrap();
    metrics::with_local_recorder(&rec, || pool.register_metrics("tick"));
    let key = pool_key("bufpool_gets_total", "tick");
    assert_eq!(scrape(&h)[&key], 0.0, "registration publishes the values it finds");
    let mut gets = 0u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // Each get looks at the clock every few hundred operations; a tick is
    // due every 20 ms.
    while scrape(&h)[&key] == 0.0 {
        assert!(std::time::Instant::now() < deadline, "no tick refreshed the metrics");
        for _ in 0..1000 {
            drop(pool.get(BIG));
        }
        gets += 1000;
        std::thread::sleep(Duration::from_millis(5));
    }
    let published = scrape(&h)[&key];
    assert!(published > 0.0 && published <= gets as f64, "{published} of {gets}");
}

#[test]
fn two_pools_publish_apart() {
    let (rec, h) = recorder();
    let (a, b) = (BufferPool::new(), BufferPool::new());
    metrics::with_local_recorder(&rec, || {
        a.register_metrics("a");
        b.register_metrics("b");
        drop(a.get(SMALL));
        for _ in 0..3 {
            drop(b.get(SMALL));
        }
        a.refresh_metrics();
        b.refresh_metrics();
    });
    let m = scrape(&h);
    assert_eq!(m[&pool_key("bufpool_gets_total", "a")], 1.0);
    assert_eq!(m[&pool_key("bufpool_gets_total", "b")], 3.0);
    assert_published(&m, &a, "a");
    assert_published(&m, &b, "b");
}
