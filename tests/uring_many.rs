//! `Ring::read_many`: results match `std::fs` on both backends, at depths
//! below and above the ring's capacity; bad input is an error; errors are
//! items; dropping the stream mid-way returns every buffer; streams sharing a
//! small ring all finish; a page-cache stream still yields to its executor.
mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use uring_common::*;

/// Reads `reads` through `read_many` at `depth` under `block_on`; returns
/// every result by offset.
fn collect(ring: &Ring, file: &std::fs::File, reads: &[(u64, usize)], depth: usize) -> HashMap<u64, Vec<u8>> {
    futures::executor::block_on(async {
        let mut s = ring.read_many(file, reads.iter().copied(), depth).unwrap();
        let mut got = HashMap::new();
        while let Some((off, r)) = s.next().await {
            let buf = r.unwrap();
            assert!(got.insert(off, buf.to_vec()).is_none(), "offset {off} came back twice");
        }
        got
    })
}

#[test]
fn results_match_std_fs_on_both_backends() {
    let dir = scratch("many");
    let pool = BufferPool::new();
    let size = (1 << 20) + 123;
    let path = dir.join("f");
    let file = make_file(&path, size);
    let data = std::fs::read(&path).unwrap();
    // Distinct offsets, some near and past the end (short and empty reads),
    // lengths from 0 to 64 KiB.
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut reads: Vec<(u64, usize)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while reads.len() < scale(400) {
        let off = next() % (size as u64 + 5000);
        if seen.insert(off) {
            reads.push((off, (next() % (64 << 10)) as usize));
        }
    }
    reads.push((size as u64 - 10, 4096));
    reads.push((size as u64, 4096));
    for ring in rings(&pool, 16) {
        for depth in [1, 7, 32, 300] {
            let got = collect(&ring, &file, &reads, depth);
            assert_eq!(got.len(), reads.len(), "{:?} depth {depth}", ring.backend());
            for &(off, len) in &reads {
                let lo = (off as usize).min(size);
                let hi = (off as usize + len).min(size);
                assert_eq!(got[&off], data[lo..hi], "{:?} depth {depth}: read ({off}, {len})", ring.backend());
            }
        }
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn zero_depth_is_an_error_and_no_reads_is_an_empty_stream() {
    let dir = scratch("many-bad");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 100);
    for ring in rings(&pool, 8) {
        let e = ring.read_many(&file, [(0, 10)], 0).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("depth"), "{e}");
        assert!(collect(&ring, &file, &[], 4).is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_are_items_and_the_stream_goes_on() {
    let dir = scratch("many-err");
    let pool = BufferPool::new();
    // A directory: every read fails with EISDIR.
    let d = std::fs::File::open(&dir).unwrap();
    for ring in rings(&pool, 8) {
        let errs = futures::executor::block_on(async {
            let mut s = ring.read_many(&d, (0..20).map(|i| (i * 10, 10)), 4).unwrap();
            let mut errs = 0;
            while let Some((off, r)) = s.next().await {
                assert_eq!(off % 10, 0, "the error's offset comes with it");
                let e = r.unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
                errs += 1;
            }
            errs
        });
        assert_eq!(errs, 20, "{:?}", ring.backend());
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_the_stream_mid_way_returns_every_buffer() {
    let dir = scratch("many-drop");
    let pool = BufferPool::builder().alignment(4096).build().unwrap();
    let path = dir.join("f");
    let file = make_file(&path, 8 << 20);
    // O_DIRECT where the file system allows it: reads really are in flight
    // when the stream is dropped.
    let direct = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(&path).ok();
    for ring in rings(&pool, 64) {
        for f in [Some(&file), direct.as_ref()].into_iter().flatten() {
            for take in [0, 1, 10, 100] {
                futures::executor::block_on(async {
                    let reads = (0..1000u64).map(|i| ((i * 4096 * 7) % (8 << 20), 64 << 10));
                    let mut s = ring.read_many(f, reads, 48).unwrap();
                    for _ in 0..take {
                        s.next().await.unwrap().1.unwrap();
                    }
                    // Some reads queued, some in flight, some done.
                    drop(s);
                });
                wait_quiescent(&pool);
            }
        }
        // The ring still works, and every slot came back.
        let b = futures::executor::block_on(ring.read_at(&file, 0, 16)).unwrap();
        assert_eq!(b.len(), 16);
        drop(b);
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn streams_sharing_a_small_ring_all_finish() {
    let dir = scratch("many-share");
    let pool = BufferPool::new();
    let file = Arc::new(make_file(&dir.join("f"), 1 << 20));
    for ring in rings(&pool, 8) {
        // Eight streams, each 32 deep, on a ring of 8 entries: most of them
        // wait for slots, in the ring's queue or behind their own reads.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let n = scale(300) as u64;
        let total: u64 = rt.block_on(async {
            let tasks: Vec<_> = (0..8u64)
                .map(|t| {
                    let (ring, file) = (ring.clone(), file.clone());
                    tokio::spawn(async move {
                        let reads = (0..n).map(move |i| (((i * 8 + t) * 4096) % (1 << 20), 4096));
                        let mut s = ring.read_many(&*file, reads, 32).unwrap();
                        let mut k = 0;
                        while let Some((_, r)) = s.next().await {
                            assert_eq!(r.unwrap().len(), 4096);
                            k += 1;
                        }
                        k
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            total
        });
        assert_eq!(total, 8 * n, "{:?}", ring.backend());
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

struct CountWakes(AtomicUsize);
impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_page_cache_stream_yields_once_per_depth_results() {
    let dir = scratch("many-yield");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    for ring in rings(&pool, 64) {
        let depth = 10;
        let mut s = ring.read_many(&file, (0..100u64).map(|i| (i * 4096, 4096)), depth).unwrap();
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut items, mut pendings, mut since) = (0, 0, 0);
        let t = std::time::Instant::now();
        loop {
            match Pin::new(&mut s).poll_next(&mut cx) {
                Poll::Ready(Some((_, r))) => {
                    r.unwrap();
                    items += 1;
                    since += 1;
                    assert!(since <= depth, "{depth} results in a row without yielding");
                }
                Poll::Ready(None) => break,
                Poll::Pending => {
                    pendings += 1;
                    since = 0;
                    // The thread backend finishes on its workers; io_uring
                    // woke us itself before yielding.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            assert!(t.elapsed().as_secs() < 30, "stream stuck");
        }
        assert_eq!(items, 100);
        assert!(pendings >= 100 / depth - 1, "{:?}: {pendings} yields", ring.backend());
        assert!(wakes.0.load(Ordering::Relaxed) >= pendings.min(9), "Pending without a wake-up");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn registered_file_entries_are_reused_and_overflow_falls_back() {
    let dir = scratch("many-files");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    let data = std::fs::read(dir.join("f")).unwrap();
    let ring = Ring::builder(&pool).entries(256).shards(1).build().unwrap();
    if ring.backend() != bufpool::uring::Backend::IoUring {
        eprintln!("io_uring unavailable here: nothing to test");
        return;
    }
    let reads = |s: u64| (0..5u64).map(move |i| ((s * 5 + i) * 100, 100));
    // One stream after another: each frees its table entry when dropped, so
    // every read of every stream names its file through the table.
    for s in 0..200 {
        let got = collect(&ring, &file, &reads(s).collect::<Vec<_>>(), 4);
        for (off, len) in reads(s) {
            assert_eq!(got[&off], data[off as usize..off as usize + len]);
        }
    }
    if ring.stats().registered_file_ops == 0 {
        eprintln!("no sparse file tables (Linux < 5.19): plain descriptors only");
        return;
    }
    assert_eq!(ring.stats().registered_file_ops, 1000);
    // 70 streams at once on one shard: the table's 64 entries go to the
    // first 64, the rest read through plain descriptors, all correctly.
    let before = ring.stats().registered_file_ops;
    let mut streams: Vec<_> = (0..70u64).map(|s| ring.read_many(&file, [(s * 4096, 4096)], 1).unwrap()).collect();
    futures::executor::block_on(async {
        for (s, st) in streams.iter_mut().enumerate() {
            let (off, b) = st.next().await.unwrap();
            let b = b.unwrap();
            assert_eq!((off, &b[..]), (s as u64 * 4096, &data[s * 4096..(s + 1) * 4096]));
        }
    });
    assert_eq!(ring.stats().registered_file_ops - before, 64);
    drop(streams);
    // All 64 entries came back.
    let before = ring.stats().registered_file_ops;
    let mut streams: Vec<_> = (0..64u64).map(|s| ring.read_many(&file, [(s, 1)], 1).unwrap()).collect();
    futures::executor::block_on(async {
        for st in &mut streams {
            st.next().await.unwrap().1.unwrap();
        }
    });
    assert_eq!(ring.stats().registered_file_ops - before, 64);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retried_reads_come_back_whole_with_a_registered_file_too() {
    use bufpool::uring::Fault;
    let dir = scratch("many-retry");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    let data = std::fs::read(dir.join("f")).unwrap();
    let faults: Vec<Fault> =
        (0..40).map(|i| Fault::Errno(if i % 2 == 0 { libc::EAGAIN } else { libc::EINTR })).collect();
    for fallback in [false, true] {
        let ring = Ring::builder(&pool)
            .entries(16)
            .shards(1)
            .force_fallback(fallback)
            .inject_faults(faults.clone())
            .build()
            .unwrap();
        let reg = ring.register(&file).unwrap();
        let reads: Vec<(u64, usize)> = (0..50u64).map(|i| (i * 20_000, 3000)).collect();
        let got = futures::executor::block_on(async {
            let mut s = reg.read_many(reads.iter().copied(), 8).unwrap();
            let mut got = HashMap::new();
            while let Some((off, r)) = s.next().await {
                got.insert(off, r.unwrap().to_vec());
            }
            got
        });
        for &(off, len) in &reads {
            assert_eq!(got[&off], data[off as usize..off as usize + len], "{:?}: read at {off}", ring.backend());
        }
        let st = ring.stats();
        assert_eq!(st.retries, 40, "{:?}", ring.backend());
        if reg.is_registered() {
            assert_eq!(st.registered_file_ops, 90, "50 reads and 40 resubmissions, all through the table");
        }
        drop(reg);
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_depth_far_beyond_the_ring_takes_one_buffer_per_read() {
    let dir = scratch("many-deep");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 4 << 20);
    for ring in rings(&pool, 8) {
        let before = pool.stats().gets;
        let n = scale(200) as u64;
        let reads = (0..n).map(|i| ((i * (256 << 10)) % (4 << 20), 256 << 10));
        let got = futures::executor::block_on(async {
            let mut s = ring.read_many(&file, reads, 1000).unwrap();
            let mut k = 0;
            while let Some((_, r)) = s.next().await {
                assert_eq!(r.unwrap().len(), 256 << 10);
                k += 1;
            }
            k
        });
        assert_eq!(got, n);
        // Reads that find no slot wait without a buffer: no buffer is taken
        // and given back for them on every poll.
        let gets = pool.stats().gets - before;
        assert!(gets <= n + 8, "{:?}: {gets} buffers taken for {n} reads", ring.backend());
        wait_quiescent(&pool);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failing_reads_count_against_depth() {
    let dir = scratch("many-fail");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 100);
    for ring in rings(&pool, 8) {
        // Every read asks for more than any buffer may hold: each fails
        // before it is queued. The stream must not drain the iterator to
        // collect errors.
        let pulled = std::cell::Cell::new(0usize);
        let reads = std::iter::repeat_n((0u64, usize::MAX), 1_000_000).inspect(|_| pulled.set(pulled.get() + 1));
        let mut s = ring.read_many(&file, reads, 4).unwrap();
        futures::executor::block_on(async {
            for _ in 0..10 {
                let (off, r) = s.next().await.unwrap();
                assert_eq!(off, 0);
                assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
            }
        });
        assert!(pulled.get() <= 14, "{:?}: the stream pulled {} reads for 10 results", ring.backend(), pulled.get());
        assert_eq!(s.size_hint().0, 1_000_000 - 10, "every read not handed out is still counted");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_a_stream_never_submits_its_queued_reads() {
    let dir = scratch("many-dropq");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 1 << 20);
    let ring = Ring::builder(&pool).entries(64).shards(1).build().unwrap();
    let mut s = ring.read_many(&file, (0..100u64).map(|i| (i * 4096, 4096)), 32).unwrap();
    futures::executor::block_on(async {
        // The first result submits a batch of 32, done in the page cache
        // before the poll returns; the next ten are handed out from it and
        // queue nothing (a stream queues only when its results run out).
        for _ in 0..11 {
            s.next().await.unwrap().1.unwrap();
        }
    });
    assert_eq!(s.in_flight(), 0, "nothing queued between polls");
    let ops = ring.stats().ops;
    assert_eq!(ops, 32);
    drop(s);
    assert_eq!(ring.stats().ops, ops, "dropping the stream submitted its own queued reads");
    wait_quiescent(&pool);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_absurd_read_at_is_invalid_input_like_in_read_many() {
    let dir = scratch("absurd");
    let pool = BufferPool::new();
    let file = make_file(&dir.join("f"), 100);
    for ring in rings(&pool, 8) {
        let e = futures::executor::block_on(ring.read_at(&file, 0, usize::MAX)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{:?}: {e}", ring.backend());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
