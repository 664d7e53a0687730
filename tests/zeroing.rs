//! Requirement 9: zeroing. `get` never exposes uninitialised memory (valgrind
//! checks that too: run this binary under memcheck), `Never` keeps contents,
//! `OnGet` zeroes the visible bytes, `OnReturn` scrubs the whole capacity.
mod common;

use bufpool::{BufferPool, Zeroing};
use std::collections::HashSet;

fn pool(z: Zeroing) -> BufferPool {
    BufferPool::builder().zeroing(z).max_pooled_bytes(64 << 20).build().unwrap()
}

/// Branches on every byte of the buffer's whole capacity, so memcheck reports
/// any uninitialised byte ("conditional jump depends on uninitialised value").
fn checksum(b: &mut bufpool::PooledBuffer) -> u64 {
    let len = b.len();
    let cap = b.capacity();
    b.set_len(cap);
    let mut sum = 0u64;
    for &x in b.iter() {
        if x != 0 {
            sum += x as u64;
        }
    }
    b.set_len(len);
    sum
}

#[test]
fn fresh_buffers_are_zero_to_capacity() {
    for z in [Zeroing::Never, Zeroing::OnGet, Zeroing::OnReturn] {
        let pool = pool(z);
        for n in [0usize, 1, 100, 4096, 5000, 65536, 1 << 20] {
            let mut b = pool.get(n);
            assert_eq!(b.len(), n);
            assert_eq!(checksum(&mut b), 0, "{z:?} get({n})");
        }
        let mut b = pool.with_capacity(9000);
        assert!(b.spare_mut().iter().all(|&x| x == 0));
    }
}

#[test]
fn every_byte_is_initialised_through_reuse_and_growth() {
    // Mixed sizes, partial writes, growth: read every byte of every buffer.
    let pool = pool(Zeroing::Never);
    let rounds = common::iters(200, 20);
    let mut held = vec![];
    for i in 0..rounds {
        let n = 4096 + (i * 7919) % 70_000;
        let mut b = pool.get(n);
        checksum(&mut b);
        b[..n / 2].fill(i as u8);
        if i % 3 == 0 {
            b.extend_from_slice(&[1; 5000]);
            checksum(&mut b);
        }
        if i % 5 == 0 {
            held.push(b);
        }
    }
    drop(held);
}

#[test]
fn never_keeps_old_contents() {
    // Documented: under Never (the default) a recycled buffer keeps its bytes.
    let pool = pool(Zeroing::Never);
    assert_eq!(BufferPool::new().config().zeroing(), Zeroing::Never, "Never is the default");
    let mut b = pool.get(8192);
    b.fill(0xAB);
    let p = b.as_ptr();
    drop(b);
    let b = pool.get(8192);
    assert_eq!(b.as_ptr(), p);
    assert!(b.iter().all(|&x| x == 0xAB));
}

#[test]
fn get_zeroed_zeroes_visible_bytes_under_never() {
    let pool = pool(Zeroing::Never);
    let mut b = pool.get(8192);
    b.fill(0xCD);
    drop(b);
    let b = pool.get_zeroed(7500); // same 8 KiB class
    assert_eq!(pool.stats().fresh_allocations, 1, "recycled");
    assert_eq!(b.len(), 7500);
    assert!(b.iter().all(|&x| x == 0));
}

#[test]
fn on_get_zeroes_visible_bytes() {
    let pool = pool(Zeroing::OnGet);
    let mut b = pool.get(8192);
    b.fill(0xEE);
    drop(b);
    let b = pool.get(7500); // same 8 KiB class
    assert_eq!(pool.stats().fresh_allocations, 1, "recycled");
    assert!(b.iter().all(|&x| x == 0));
}

#[test]
fn on_return_scrubs_the_whole_capacity() {
    let pool = pool(Zeroing::OnReturn);
    let mut b = pool.get(5000);
    let cap = b.capacity();
    assert!(cap > 5000);
    b.resize(cap, 0x77); // fill the whole capacity, beyond the requested length
    b.fill(0x77);
    let p = b.as_ptr();
    drop(b);
    // Read the scrubbed memory back through a buffer re-fetched from the pool.
    let mut again = pool.get(4500);
    assert_eq!(again.as_ptr(), p, "same memory");
    assert_eq!(again.capacity(), cap);
    // Safe: the whole capacity is initialised; look at all of it.
    again.set_len(cap);
    assert!(again.iter().all(|&x| x == 0), "OnReturn left bytes behind");
}

#[test]
fn on_return_scrubs_buffers_dropped_on_other_threads_and_after_thread_exit() {
    let pool = pool(Zeroing::OnReturn);
    let bufs: Vec<_> = (0..4)
        .map(|_| {
            let mut b = pool.get(64 * 1024);
            let c = b.capacity();
            b.set_len(c);
            b.fill(0x99);
            b
        })
        .collect();
    let ptrs: HashSet<usize> = bufs.iter().map(|b| b.as_ptr() as usize).collect();
    std::thread::spawn(move || drop(bufs)).join().unwrap();
    let mut again = vec![];
    for _ in 0..4 {
        let mut b = pool.get(64 * 1024);
        assert!(ptrs.contains(&(b.as_ptr() as usize)));
        let c = b.capacity();
        b.set_len(c);
        assert!(b.iter().all(|&x| x == 0));
        again.push(b); // held, so the next get is another buffer
    }
    assert_eq!(pool.stats().fresh_allocations, 4);
}

#[test]
fn on_return_scrubs_before_growth_returns_the_old_buffer() {
    let pool = pool(Zeroing::OnReturn);
    let mut b = pool.get(4096);
    b.fill(0x42);
    let old = b.as_ptr();
    b.extend_from_slice(&[0x43; 10]); // grows: the old 4 KiB buffer goes home
    assert_ne!(b.as_ptr(), old);
    let mut again = pool.get(4096);
    assert_eq!(again.as_ptr(), old);
    let c = again.capacity();
    again.set_len(c);
    assert!(again.iter().all(|&x| x == 0));
}

/// A read that finds the reader `Pending` lends a buffer and takes it back:
/// under `OnReturn` a loan the reader left all zero skips the scrub, and a
/// buffer that held data still gets one. Checked by content: data a reader
/// produced never survives in the pool.
#[test]
fn on_return_scrubs_data_but_pending_loans_stay_cheap_and_clean() {
    use futures::io::AsyncRead;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Ready with `data` once, then Pending forever.
    struct OnceThenPending(Option<Vec<u8>>);
    impl AsyncRead for OnceThenPending {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
            match self.0.take() {
                Some(d) => {
                    buf[..d.len()].copy_from_slice(&d);
                    Poll::Ready(Ok(d.len()))
                }
                None => Poll::Pending,
            }
        }
    }

    let pool = BufferPool::builder().zeroing(Zeroing::OnReturn).right_size(false).build().unwrap();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut r = OnceThenPending(Some(vec![0xAB; 1000]));
    {
        let mut fut = pool.read(&mut r);
        let got = Pin::new(&mut fut).poll(&mut cx);
        let Poll::Ready(Ok(Some(b))) = got else { panic!("expected data") };
        assert!(b.iter().all(|&x| x == 0xAB));
    } // the data buffer is scrubbed on return
    for _ in 0..3 {
        let mut fut = pool.read(&mut r);
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    }
    assert_eq!(pool.stats().outstanding_buffers, 0);
    let mut b = pool.get(pool.config().read_size());
    let cap = b.capacity();
    b.resize(cap, 0);
    assert!(b.iter().all(|&x| x == 0), "a reader's data survived in the pool under OnReturn");
}

/// A reader that uses the lent slice as scratch space (as TLS decrypting in
/// place does), writes a secret into it, and still answers `Pending`. Under
/// `OnReturn` the secret must not reach the next user of that buffer, on any
/// path that lends a slice.
#[test]
fn on_return_scrubs_a_slice_a_pending_reader_wrote_into() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    const SECRET: &[u8] = b"PLAINTEXT-SECRET";

    /// Writes the secret into the slice it gets, records where, and pends.
    #[derive(Default)]
    struct ScratchThenPending {
        lent: Option<usize>,
    }
    impl futures::io::AsyncRead for ScratchThenPending {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
            let n = SECRET.len().min(buf.len());
            buf[..n].copy_from_slice(&SECRET[..n]);
            self.lent = Some(buf.as_ptr() as usize);
            Poll::Pending
        }
    }
    impl tokio::io::AsyncRead for ScratchThenPending {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let scratch = buf.initialize_unfilled();
            let n = SECRET.len().min(scratch.len());
            scratch[..n].copy_from_slice(&SECRET[..n]);
            self.lent = Some(scratch.as_ptr() as usize);
            Poll::Pending
        }
    }

    /// Polls the future once (it must pend), then checks the buffers the
    /// pool hands out next: the lent one among them, and no secret in any.
    fn check(
        pool: &BufferPool,
        what: &str,
        r: &mut ScratchThenPending,
        poll_once: impl FnOnce(&mut ScratchThenPending) -> bool,
    ) {
        assert!(poll_once(r), "{what}: the read did not pend");
        let lent = r.lent.take().expect("the reader was polled");
        assert_eq!(pool.stats().outstanding_buffers, 0, "{what}: a pending read holds no buffer");
        let held: Vec<_> = (0..8).map(|_| pool.get(pool.config().read_size())).collect();
        let mut found = false;
        for mut b in held {
            let base = b.as_ptr() as usize;
            found |= (base..base + b.capacity()).contains(&lent);
            let cap = b.capacity();
            b.set_len(cap);
            assert!(!b.windows(SECRET.len()).any(|w| w == SECRET), "{what}: the next get saw the secret");
        }
        assert!(found, "{what}: the lent buffer did not come back to the pool (the check saw nothing)");
    }
    fn pends<F: Future>(fut: F) -> bool {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        std::pin::pin!(fut).poll(&mut cx).is_pending()
    }

    let pool = || BufferPool::builder().zeroing(Zeroing::OnReturn).read_size(4096).build().unwrap();
    let mut r = ScratchThenPending::default();
    let p = pool();
    check(&p, "read", &mut r, |r| pends(p.read(r)));
    let p = pool();
    check(&p, "read_exact", &mut r, |r| pends(p.read_exact(r, 100)));
    let p = pool();
    check(&p, "copy", &mut r, |r| pends(p.copy(r, futures::io::sink())));
    let p = pool();
    check(&p, "lines", &mut r, |r| pends(async { p.lines(r).next_line().await }));
    let p = pool();
    check(&p, "frames", &mut r, |r| pends(async { p.length_delimited(r).next_frame().await }));
    let p = pool();
    check(&p, "read_tokio", &mut r, |r| pends(p.read_tokio(r)));
    let p = pool();
    check(&p, "read_exact_tokio", &mut r, |r| pends(p.read_exact_tokio(r, 100)));
    let p = pool();
    check(&p, "lines_tokio", &mut r, |r| pends(async { p.lines_tokio(r).next_line().await }));
    let p = pool();
    check(&p, "length_delimited_tokio", &mut r, |r| pends(async { p.length_delimited_tokio(r).next_frame().await }));
    let p = pool();
    check(&p, "copy_tokio", &mut r, |r| pends(p.copy_tokio(r, tokio::io::sink())));
}

#[test]
fn on_return_scrubs_a_buffer_that_goes_home_from_another_thread() {
    // The drop on another thread lists the buffer in its home's inbox, whose
    // link takes the buffer's first bytes: the home's next get must still
    // see all zeros.
    let pool = BufferPool::builder().zeroing(Zeroing::OnReturn).build().unwrap();
    let mut b = pool.get(4096);
    b.fill(0xAA);
    let ptr = b.as_ptr() as usize;
    std::thread::spawn(move || drop(b)).join().unwrap();
    let again = pool.get(4096);
    assert_eq!(again.as_ptr() as usize, ptr, "the same buffer came home: {}", pool.stats());
    assert!(again.iter().all(|&x| x == 0), "not scrubbed: {:?}", &again[..32]);
}
