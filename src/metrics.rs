//! Publishing a pool's statistics through the [`metrics`] facade (feature
//! `metrics`): [`BufferPool::register_metrics`] and
//! [`BufferPool::refresh_metrics`].
//!
//! Registration builds every handle once, with the recorder in effect at
//! that call. A refresh takes one [`BufferPool::stats`] and one
//! [`BufferPool::class_stats`] snapshot and sets each handle from it: a
//! counter with `absolute`, a gauge with `set`. Refreshes happen
//!
//! * when someone calls [`BufferPool::refresh_metrics`] (a scraper, just
//!   before it renders), and
//! * at each tick of the pool's idle clock (every `idle_timeout`, on the
//!   slow path of whichever thread notices the tick is due: the same walk
//!   over the thread caches that `stats()` makes), skipped when another
//!   refresh of the pool is running.
//!
//! Never on a get or a drop otherwise: between two refreshes the published
//! values stand still.
//!
//! The names are listed on [`BufferPool::register_metrics`].
//!
//! [`BufferPool::register_metrics`]: crate::BufferPool::register_metrics
//! [`BufferPool::refresh_metrics`]: crate::BufferPool::refresh_metrics
//! [`BufferPool::stats`]: crate::BufferPool::stats
//! [`BufferPool::class_stats`]: crate::BufferPool::class_stats

use crate::stats::{ClassStats, Stats};
use crate::sync::Mutex;
use ::metrics::{Counter, Gauge, Label, Unit};
use std::collections::BTreeMap;

/// A pool-wide counter: its name, help text, and how to read it.
type CounterField = (&'static str, &'static str, fn(&Stats) -> u64);
/// A pool-wide gauge: its name, unit, help text, and how to read it.
type GaugeField = (&'static str, Unit, &'static str, fn(&Stats) -> u64);

const COUNTERS: [CounterField; 12] = [
    ("bufpool_gets_total", "Buffers handed out.", |s| s.gets),
    ("bufpool_cache_hits_total", "Gets served from the calling thread's cache.", |s| s.cache_hits),
    ("bufpool_shard_hits_total", "Gets served from the home shard or the overflow.", |s| s.shard_hits),
    ("bufpool_steals_total", "Gets served from another shard.", |s| s.steals),
    ("bufpool_fresh_allocations_total", "Gets that allocated a new pooled buffer.", |s| s.fresh_allocations),
    ("bufpool_unpooled_total", "Gets outside the pooled sizes, served exactly.", |s| s.unpooled),
    ("bufpool_returns_total", "Buffers that came back.", |s| s.returns),
    ("bufpool_discards_total", "Returned buffers freed because the pool was full or closed.", |s| s.discards),
    ("bufpool_evictions_total", "Idle buffers freed by eviction, the idle clock or trim.", |s| s.evictions),
    ("bufpool_right_sized_total", "Reads moved into a right-sized buffer.", |s| s.right_sized),
    ("bufpool_prefilled_total", "Buffers put in the shards by prefill.", |s| s.prefilled),
    ("bufpool_pin_failures_total", "Buffers that could not be mlocked.", |s| s.pin_failures),
];

const GAUGES: [GaugeField; 9] = [
    ("bufpool_pooled_bytes", Unit::Bytes, "Bytes idle in thread caches and shards.", |s| s.pooled_bytes),
    ("bufpool_listed_bytes", Unit::Bytes, "Bytes dropped on another thread, listed for their own.", |s| s.listed_bytes),
    ("bufpool_outstanding_bytes", Unit::Bytes, "Capacity of the buffers handed out.", |s| s.outstanding_bytes),
    ("bufpool_outstanding_buffers", Unit::Count, "Buffers handed out and not yet returned.", |s| s.outstanding_buffers),
    ("bufpool_frozen_bytes", Unit::Bytes, "Capacity of buffers alive only inside Bytes.", |s| s.frozen_bytes),
    ("bufpool_frozen_buffers", Unit::Count, "Buffers alive only inside Bytes.", |s| s.frozen_buffers),
    ("bufpool_pinned_bytes", Unit::Bytes, "Bytes mlocked by the pool.", |s| s.pinned_bytes),
    ("bufpool_peak_outstanding_bytes", Unit::Bytes, "Most bytes held by users and thread caches at once.", |s| {
        s.peak_outstanding_bytes
    }),
    ("bufpool_peak_pooled_bytes", Unit::Bytes, "Most bytes reserved for idle buffers at once.", |s| {
        s.peak_pooled_bytes
    }),
];

/// A per-class counter: name, help text, and how to read it.
type ClassCounterField = (&'static str, &'static str, fn(&ClassStats) -> u64);
/// A per-class gauge: name, unit, help text, and how to read it.
type ClassGaugeField = (&'static str, Unit, &'static str, fn(&ClassStats) -> u64);

const CLASS_COUNTERS: [ClassCounterField; 3] = [
    ("bufpool_class_gets_total", "Buffers of this class handed out.", |c| c.gets),
    ("bufpool_class_misses_total", "Gets of this class the thread cache did not serve.", |c| c.misses),
    ("bufpool_class_returns_total", "Buffers of this class that came back.", |c| c.returns),
];

const CLASS_GAUGES: [ClassGaugeField; 4] = [
    ("bufpool_class_idle_buffers", Unit::Count, "Idle buffers of this class.", |c| c.idle_buffers),
    ("bufpool_class_idle_bytes", Unit::Bytes, "Idle bytes of this class.", |c| c.idle_bytes),
    ("bufpool_class_outstanding_buffers", Unit::Count, "Buffers of this class handed out.", |c| c.outstanding_buffers),
    (
        "bufpool_class_peak_outstanding_buffers",
        Unit::Count,
        "Most buffers of this class held by users and thread caches at once.",
        |c| c.peak_outstanding_buffers,
    ),
];

/// One registration: its handles, built once.
pub(crate) struct Published {
    pool: String,
    counters: Vec<Counter>,
    gauges: Vec<Gauge>,
    /// Per class capacity, built at the first refresh that sees the class.
    classes: Mutex<BTreeMap<usize, Handles>>,
}

/// One class's handles, in the order of `CLASS_COUNTERS` and `CLASS_GAUGES`.
type Handles = (Vec<Counter>, Vec<Gauge>);

impl Published {
    /// Describes every series and builds the pool-wide handles with the
    /// recorder in effect now.
    pub(crate) fn register(pool: &str) -> Self {
        for (name, help, _) in &COUNTERS {
            ::metrics::describe_counter!(*name, Unit::Count, *help);
        }
        for (name, help, _) in &CLASS_COUNTERS {
            ::metrics::describe_counter!(*name, Unit::Count, *help);
        }
        for (name, unit, help, _) in &GAUGES {
            ::metrics::describe_gauge!(*name, *unit, *help);
        }
        for (name, unit, help, _) in &CLASS_GAUGES {
            ::metrics::describe_gauge!(*name, *unit, *help);
        }
        let label = pool.to_owned();
        Published {
            counters: COUNTERS.iter().map(|(n, _, _)| ::metrics::counter!(*n, "pool" => label.clone())).collect(),
            gauges: GAUGES.iter().map(|(n, ..)| ::metrics::gauge!(*n, "pool" => label.clone())).collect(),
            pool: label,
            classes: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sets every handle from one snapshot of each kind.
    pub(crate) fn refresh(&self, s: &Stats, per_class: &[ClassStats]) {
        for (h, (_, _, read)) in self.counters.iter().zip(&COUNTERS) {
            h.absolute(read(s));
        }
        for (h, (.., read)) in self.gauges.iter().zip(&GAUGES) {
            h.set(read(s) as f64);
        }
        let mut classes = self.classes.lock();
        for c in per_class {
            let (counters, gauges) = classes.entry(c.capacity).or_insert_with(|| {
                let labels = vec![Label::new("pool", self.pool.clone()), Label::new("class", c.capacity.to_string())];
                (
                    CLASS_COUNTERS.iter().map(|(n, ..)| ::metrics::counter!(*n, labels.clone())).collect(),
                    CLASS_GAUGES.iter().map(|(n, ..)| ::metrics::gauge!(*n, labels.clone())).collect(),
                )
            });
            for (h, (_, _, read)) in counters.iter().zip(&CLASS_COUNTERS) {
                h.absolute(read(c));
            }
            for (h, (.., read)) in gauges.iter().zip(&CLASS_GAUGES) {
                h.set(read(c) as f64);
            }
        }
    }
}
