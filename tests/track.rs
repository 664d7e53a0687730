//! `Builder::track_outstanding` and `BufferPool::outstanding_report`: a leaked
//! buffer is listed with a backtrace naming the function that took it,
//! oldest first; a buffer that comes back (dropped, detached, grown, on
//! another thread) leaves the report; buffers kept alive only by `Bytes`
//! are counted; sampling takes about one get in N; the table stays exact
//! under threads.

use bufpool::{BufferPool, BuildError};
use std::time::Duration;

fn tracking(every: usize) -> BufferPool {
    BufferPool::builder().track_outstanding(every).build().unwrap()
}

#[inline(never)]
fn leak_one_here(pool: &BufferPool) -> bufpool::PooledBuffer {
    pool.get(64 * 1024)
}

#[test]
fn a_leaked_buffer_is_listed_with_the_function_that_took_it() {
    let pool = tracking(1);
    let leaked = leak_one_here(&pool);
    let r = pool.outstanding_report();
    assert_eq!(r.sample_every(), 1);
    assert_eq!(r.buffers().len(), 1);
    assert_eq!(r.outstanding_buffers(), 1);
    let b = &r.buffers()[0];
    assert_eq!(b.capacity(), 64 * 1024);
    let bt = b.backtrace().to_string();
    assert!(bt.contains("leak_one_here"), "the backtrace does not name the taker:\n{bt}");
    assert!(bt.contains("a_leaked_buffer_is_listed_with_the_function_that_took_it"), "{bt}");
    assert!(b.thread().contains("a_leaked_buffer"), "test threads are named after the test: {}", b.thread());
    let shown = r.to_string();
    assert!(shown.contains("1 buffers outstanding, 1 of them sampled"), "{shown}");
    assert!(shown.contains("leak_one_here"), "{shown}");
    drop(leaked);
    assert!(pool.outstanding_report().buffers().is_empty());
}

#[test]
fn the_report_lists_the_oldest_first_with_their_ages() {
    let pool = tracking(1);
    let mut held = Vec::new();
    for k in 1..=4 {
        held.push(pool.get(k * 4096));
        std::thread::sleep(Duration::from_millis(3));
    }
    let r = pool.outstanding_report();
    let caps: Vec<usize> = r.buffers().iter().map(|b| b.capacity()).collect();
    assert_eq!(caps, [4096, 8192, 12288, 16384], "oldest first");
    let ages: Vec<Duration> = r.buffers().iter().map(|b| b.age()).collect();
    for w in ages.windows(2) {
        assert!(w[0] > w[1] + Duration::from_millis(2), "ages {ages:?}");
    }
    assert!(ages[3] < Duration::from_secs(5));
    drop(held);
}

#[test]
fn a_buffer_that_comes_back_leaves_the_report() {
    let pool = tracking(1);
    let a = pool.get(4096);
    let b = pool.get(8192);
    let c = pool.get(16384);
    drop(b);
    let caps: Vec<usize> = pool.outstanding_report().buffers().iter().map(|x| x.capacity()).collect();
    assert_eq!(caps, [4096, 16384]);
    // Detached as a Vec: no longer the pool's.
    let v = a.into_vec();
    assert_eq!(pool.outstanding_report().buffers().len(), 1);
    // Dropped on another thread.
    std::thread::spawn(move || drop(c)).join().unwrap();
    assert!(pool.outstanding_report().buffers().is_empty());
    // Grown: the old buffer comes back, the new one is taken (and sampled) here.
    let mut g = pool.get(4096);
    g.extend_from_slice(&[1; 4096]);
    g.extend_from_slice(&[2; 1]);
    let r = pool.outstanding_report();
    assert_eq!(r.buffers().len(), 1);
    assert_eq!(r.buffers()[0].capacity(), g.capacity());
    drop(g);
    assert!(pool.outstanding_report().buffers().is_empty());
    // Recycled buffers are sampled again when taken again.
    let again = pool.get(8192);
    assert_eq!(pool.outstanding_report().buffers().len(), 1);
    assert!(pool.stats().cache_hits >= 1, "a tracking pool still caches: {}", pool.stats());
    drop((again, v));
}

#[test]
fn buffers_kept_alive_only_by_bytes_are_counted() {
    for every in [1, 1 << 20] {
        let pool = tracking(every);
        let mut buf = pool.with_capacity(4096);
        buf.extend_from_slice(b"a small header and a large body");
        let plain = pool.get(8192);
        let bytes = buf.freeze();
        let slice = bytes.slice(2..7);
        drop(bytes);
        let r = pool.outstanding_report();
        assert_eq!(r.frozen_buffers(), 1, "every = {every}");
        assert_eq!(r.frozen_bytes(), 4096);
        assert_eq!(r.outstanding_buffers(), 2);
        if every == 1 {
            let frozen: Vec<_> = r.buffers().iter().filter(|b| b.frozen_at().is_some()).collect();
            assert_eq!(frozen.len(), 1, "the frozen one says where it was frozen");
            assert_eq!(frozen[0].capacity(), 4096);
            let at = frozen[0].frozen_at().unwrap().to_string();
            assert!(at.contains("buffers_kept_alive_only_by_bytes_are_counted"), "{at}");
        }
        drop(slice);
        let r = pool.outstanding_report();
        assert_eq!((r.frozen_buffers(), r.frozen_bytes()), (0, 0));
        assert_eq!(r.buffers().len(), usize::from(every == 1), "only `plain` is left");
        drop(plain);
    }
}

#[test]
fn frozen_buffers_are_counted_without_tracking_too() {
    let pool = BufferPool::new();
    let mut b = pool.with_capacity(4096);
    b.extend_from_slice(b"x");
    let bytes = b.freeze();
    let r = pool.outstanding_report();
    assert_eq!((r.sample_every(), r.buffers().len()), (0, 0));
    assert_eq!(r.frozen_buffers(), 1);
    assert_eq!(pool.stats().frozen_buffers, 1);
    drop(bytes);
    assert_eq!(pool.stats().frozen_buffers, 0);
    assert!(r.to_string().contains("not tracked"));
}

#[test]
fn sampling_takes_about_one_get_in_n() {
    for every in [4usize, 16] {
        let pool = tracking(every);
        let n = 8000;
        let held: Vec<_> = (0..n).map(|_| pool.get(4096)).collect();
        let sampled = pool.outstanding_report().buffers().len();
        // Binomial(n, 1/every): the bounds are more than 4.5 standard deviations out.
        let mean = (n / every) as f64;
        let sd = (mean * (1.0 - 1.0 / every as f64)).sqrt();
        assert!((sampled as f64 - mean).abs() < 4.5 * sd, "every {every}: {sampled} sampled of {n}, expected {mean}");
        drop(held);
        assert!(pool.outstanding_report().buffers().is_empty());
    }
    // Sampling is not periodic: leaking every second get is sampled as often.
    let pool = tracking(2);
    let mut kept = Vec::new();
    for _ in 0..4000 {
        kept.push(pool.get(4096));
        drop(pool.get(4096));
    }
    let sampled = pool.outstanding_report().buffers().len();
    // A counter sampling every second get would find all 4000 or none.
    assert!((1850..2150).contains(&sampled), "{sampled} of 4000 leaks sampled at 1 in 2");
    drop(kept);
}

#[test]
fn sample_every_one_records_every_get_and_zero_is_refused() {
    let pool = tracking(1);
    let held: Vec<_> = (0..100).map(|i| pool.get(4096 + i)).collect();
    assert_eq!(pool.outstanding_report().buffers().len(), 100);
    drop(held);
    assert_eq!(BufferPool::builder().track_outstanding(0).build().unwrap_err(), BuildError::ZeroSampleInterval);
    assert_eq!(BufferPool::new().config().track_outstanding(), None);
    assert_eq!(pool.config().track_outstanding(), Some(1));
}

#[test]
fn the_table_stays_exact_under_threads() {
    let pool = tracking(3);
    let (tx, rx) = std::sync::mpsc::channel::<bufpool::PooledBuffer>();
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|s| {
        for t in 0..4 {
            let pool = pool.clone();
            let tx = tx.clone();
            s.spawn(move || {
                let mut mine = Vec::new();
                for i in 0..3000usize {
                    let b = pool.get(4096 << (i % 4));
                    match (i + t) % 4 {
                        0 => tx.send(b).unwrap(), // dropped by the receiver thread
                        1 => mine.push(b),        // held, dropped later here
                        2 => drop(b.freeze()),    // frozen and dropped
                        _ => drop(b),
                    }
                    if mine.len() > 50 {
                        mine.drain(..25);
                    }
                }
            });
        }
        drop(tx);
        s.spawn(|| {
            let rx = rx.lock().unwrap();
            let mut n = 0;
            while let Ok(b) = rx.recv() {
                n += 1;
                if n % 500 == 0 {
                    let r = pool.outstanding_report();
                    assert!(r.buffers().len() as u64 <= r.outstanding_buffers() + 200, "{r}");
                }
                drop(b);
            }
        });
    });
    let r = pool.outstanding_report();
    assert_eq!(r.outstanding_buffers(), 0);
    assert!(r.buffers().is_empty(), "{r}");
    assert_eq!(r.frozen_buffers(), 0);
    assert_eq!(pool.stats().gets, 12000);
}
