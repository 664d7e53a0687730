//! `Account`: charges that follow a buffer until it drops (on any thread,
//! through `Bytes`), the hard limit, the watermarks' pause and resume, nesting
//! under the pool's cap, and one greedy connection against 99 others.

use bufpool::{Account, BufferPool};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use futures::FutureExt;
use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

const K16: usize = 16 << 10;

/// A socket that always has data: every read fills the whole buffer.
struct Firehose;

impl futures::io::AsyncRead for Firehose {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        buf.fill(0xab);
        Poll::Ready(Ok(buf.len()))
    }
}

fn pool(cap: usize) -> BufferPool {
    BufferPool::builder().max_outstanding_bytes(cap).read_size(K16).cpus(2).build().unwrap()
}

fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    f.poll_unpin(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_buffer_is_charged_until_it_drops_on_another_thread() {
    let pool = pool(1 << 20);
    let acct = pool.account().build();
    let b = acct.get(K16);
    assert_eq!(acct.held_bytes(), b.capacity());
    assert_eq!(pool.charged_bytes(), b.capacity(), "also charged to the pool's cap");
    std::thread::spawn(move || drop(b)).join().unwrap();
    assert_eq!(acct.held_bytes(), 0);
    assert_eq!(pool.outstanding_bytes(), 0);
}

#[test]
fn frozen_bytes_keep_the_account_charged_until_the_last_slice_drops() {
    let pool = pool(1 << 20);
    let acct = pool.account().build();
    let mut b = acct.get(K16);
    b[..100].fill(7);
    let cap = b.capacity();
    let bytes = b.freeze();
    let slice = bytes.slice(10..20);
    drop(bytes);
    assert_eq!(acct.held_bytes(), cap, "a 10-byte slice pins the whole buffer");
    let slice = std::thread::spawn(move || slice).join().unwrap();
    assert_eq!(acct.held_bytes(), cap);
    drop(slice);
    assert_eq!(acct.held_bytes(), 0);
}

#[test]
fn a_buffer_that_grows_stays_charged_to_the_account() {
    let pool = pool(1 << 20);
    let acct = pool.account().limit(2 * K16).watermarks(2 * K16, K16).build();
    let mut b = acct.get(K16);
    b.extend_from_slice(&[1; 100]);
    assert!(b.capacity() >= 2 * K16);
    assert_eq!(acct.held_bytes(), b.capacity(), "the grown buffer left the account");
    assert!(acct.is_paused(), "the growth counts toward the watermarks");
    let b = std::thread::spawn(move || b).join().unwrap();
    assert_eq!(acct.held_bytes(), b.capacity());
    drop(b);
    assert_eq!(acct.held_bytes(), 0);
    assert!(!acct.is_paused());
    assert_eq!(pool.outstanding_bytes(), 0);
}

#[test]
fn the_limit_makes_try_get_fail_and_get_async_wait() {
    let pool = pool(1 << 20);
    let acct = pool.account().limit(2 * K16).build();
    let a = acct.try_get(K16).unwrap();
    let b = acct.try_get(K16).unwrap();
    let e = acct.try_get(K16).unwrap_err();
    assert!(e.is_over_budget());
    assert!(e.to_string().contains("account"), "the message says which budget: {e}");
    assert_eq!(acct.held_bytes(), 2 * K16, "a refused get charges nothing");
    let mut waiting = Box::pin(acct.get_async(K16));
    assert!(poll_once(&mut waiting).is_pending());
    drop(a);
    let c = match poll_once(&mut waiting) {
        Poll::Ready(c) => c,
        Poll::Pending => panic!("a buffer came back but the waiter was not served"),
    };
    assert_eq!(acct.held_bytes(), 2 * K16);
    drop((b, c));
    assert_eq!(acct.held_bytes(), 0);
}

#[test]
fn watermarks_pause_reads_without_taking_a_buffer_and_resume_at_the_low_one() {
    let pool = pool(1 << 20);
    let acct = pool.account().watermarks(4 * K16, K16).build();
    let mut sock = Firehose;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut r = acct.read(&mut sock);
        match poll_once(&mut r) {
            Poll::Ready(Ok(Some(b))) => held.push(b),
            other => panic!("below the high watermark a ready read must return data: {:?}", other.is_ready()),
        }
    }
    assert!(acct.is_paused());
    let before = pool.stats();
    let mut r = acct.read(&mut sock);
    assert!(poll_once(&mut r).is_pending(), "paused: the read must wait");
    assert_eq!(pool.stats().gets, before.gets, "a paused read took a buffer");
    held.truncate(2);
    assert!(acct.is_paused(), "two buffers held are still above the low watermark");
    assert!(poll_once(&mut r).is_pending());
    held.truncate(1);
    assert!(!acct.is_paused(), "at the low watermark the account resumes");
    assert!(matches!(poll_once(&mut r), Poll::Ready(Ok(Some(_)))));
}

#[test]
fn accounts_nest_under_the_pools_cap() {
    let pool = pool(4 * K16);
    let a = pool.account().limit(1 << 20).build();
    let b = pool.account().limit(1 << 20).build();
    let x = a.try_get(2 * K16).unwrap();
    let y = b.try_get(2 * K16).unwrap();
    let e = a.try_get(K16).unwrap_err();
    assert!(e.is_over_budget(), "the pool's cap binds below the account's limit");
    assert_eq!(a.held_bytes(), x.capacity(), "the refused get gave its account charge back");
    assert!(pool.charged_bytes() <= 4 * K16);
    drop((x, y));
    assert_eq!((a.held_bytes(), b.held_bytes(), pool.charged_bytes()), (0, 0, 0));
}

/// One connection reads as fast as its socket allows and never drops what
/// it read (its peer does not consume); 99 others read 20 chunks each and
/// drop them. Run on one thread until nothing can progress. Returns how many
/// of the 99 finished and the most the greedy one held.
fn greedy_against_99(with_accounts: bool) -> (usize, usize) {
    const CAP: usize = 100 * K16;
    let pool = pool(CAP);
    let mut exec = LocalPool::new();
    let spawner = exec.spawner();
    let greedy_held = Rc::new(Cell::new(0usize));
    {
        let pool = pool.clone();
        let acct: Option<Account> = with_accounts.then(|| pool.account().watermarks(8 * K16, 4 * K16).build());
        let held = greedy_held.clone();
        spawner
            .spawn_local(async move {
                let mut sock = Firehose;
                let mut kept = Vec::new();
                for _ in 0..1000 {
                    let b = match &acct {
                        Some(a) => a.read(&mut sock).await,
                        None => pool.read(&mut sock).await,
                    };
                    kept.push(b.unwrap().unwrap());
                    let bytes: usize = kept.iter().map(|b| b.capacity()).sum();
                    held.set(held.get().max(bytes));
                    // A firehose: eight reads per turn of the executor.
                    if kept.len() % 8 == 0 {
                        yield_now().await;
                    }
                }
            })
            .unwrap();
    }
    let finished = Rc::new(Cell::new(0usize));
    for _ in 0..99 {
        let pool = pool.clone();
        let acct: Option<Account> = with_accounts.then(|| pool.account().watermarks(8 * K16, 4 * K16).build());
        let finished = finished.clone();
        spawner
            .spawn_local(async move {
                let mut sock = Firehose;
                for _ in 0..20 {
                    let b = match &acct {
                        Some(a) => a.read(&mut sock).await,
                        None => pool.read(&mut sock).await,
                    };
                    assert_eq!(b.unwrap().unwrap().len(), K16);
                    yield_now().await;
                }
                finished.set(finished.get() + 1);
            })
            .unwrap();
    }
    // Runs until every task has finished or waits for a wake-up that no
    // one will send (the greedy connection never drops what it holds).
    exec.run_until_stalled();
    assert!(pool.peak_charged_bytes() <= CAP, "the pool's cap was passed");
    (finished.get(), greedy_held.get())
}

/// Lets the other tasks run: wakes itself and yields once.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

#[test]
fn one_greedy_connection_cannot_starve_99_others() {
    let (done, greedy) = greedy_against_99(true);
    assert_eq!(done, 99, "with accounts every other connection finishes");
    assert!(greedy <= 8 * K16, "the greedy connection held {greedy} B, past its high watermark");
    // The control: the same load without accounts starves the others, which
    // is what makes the assertion above mean something.
    let (done, greedy) = greedy_against_99(false);
    assert!(done < 99, "without accounts the greedy connection should have taken the cap ({greedy} B held)");
    assert!(greedy > 90 * K16);
}
