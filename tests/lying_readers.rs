//! Readers that claim more bytes than the slice they were lent: every path
//! that lends a pooled slice answers `InvalidData`, never a panic, a wrapped
//! length or bytes nobody read (a previous user's leftovers).

use bufpool::BufferPool;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A futures-io reader that fills the slice it gets, then claims `extra`
/// bytes more than its length (saturating).
struct Liar {
    extra: usize,
}

impl futures_io::AsyncRead for Liar {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        buf.fill(b'z');
        Poll::Ready(Ok(buf.len().saturating_add(self.extra)))
    }
}

/// A tokio reader that swaps the `ReadBuf` it was given for a larger one over
/// its own memory, filled: the only way a safe tokio reader can report more
/// than it was lent.
struct TokioLiar;

impl tokio::io::AsyncRead for TokioLiar {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let own: &'static mut [u8] = Box::leak(vec![b'z'; buf.capacity() + 8].into_boxed_slice());
        let n = own.len();
        *buf = tokio::io::ReadBuf::new(own);
        buf.set_filled(n);
        Poll::Ready(Ok(()))
    }
}

/// Counts that a lie can take: just past the slice (the phantom-frame case),
/// and one that would wrap a length.
const EXTRAS: [usize; 3] = [1, 8, usize::MAX];

fn pool() -> BufferPool {
    BufferPool::builder().read_size(64).min_buffer_size(64).build().unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn assert_invalid<T: std::fmt::Debug>(r: io::Result<T>, what: &str) {
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidData, "{what}: {e}"),
        Ok(v) => panic!("{what}: a lying reader was believed: {v:?}"),
    }
}

/// Leaves a valid-looking frame in the pool's free buffers, so a reader that
/// believed an over-count would parse it as a phantom frame.
fn leave_a_frame_behind(pool: &BufferPool) {
    let mut bufs: Vec<_> = (0..4).map(|_| pool.get(256)).collect();
    for b in &mut bufs {
        let cap = b.capacity();
        b.set_len(cap);
        for (i, x) in b.iter_mut().enumerate() {
            *x = [0, 0, 0, 1, b'P', b'\n'][i % 6];
        }
    }
}

#[test]
fn lines_refuse_an_over_count() {
    for extra in EXTRAS {
        let pool = pool();
        leave_a_frame_behind(&pool);
        let r = block_on(pool.lines(Liar { extra }).next_line());
        assert_invalid(r, &format!("lines, extra {extra}"));
    }
}

#[test]
fn lines_refuse_an_over_count_into_a_partial_line() {
    // The first read is honest and leaves half a line; the lie comes while
    // appending to it.
    struct HonestThenLiar(bool);
    impl futures_io::AsyncRead for HonestThenLiar {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if !self.0 {
                self.0 = true;
                buf[..3].copy_from_slice(b"abc");
                return Poll::Ready(Ok(3));
            }
            Poll::Ready(Ok(buf.len() + 8))
        }
    }
    let pool = pool();
    assert_invalid(block_on(pool.lines(HonestThenLiar(false)).next_line()), "lines, appending");
}

#[test]
fn frames_refuse_an_over_count() {
    for extra in EXTRAS {
        let pool = pool();
        leave_a_frame_behind(&pool);
        let r = block_on(pool.length_delimited(Liar { extra }).next_frame());
        assert_invalid(r, &format!("frames, extra {extra}"));
    }
}

#[test]
fn frames_refuse_an_over_count_into_a_partial_frame() {
    // The first read is honest: a 100-byte frame's length and 10 bytes of
    // it. The rest is read into a slice shorter than the buffer holding it,
    // so a count 8 too large would still fit the buffer and take 8 of a
    // previous user's bytes into the frame.
    struct HonestThenLiar(bool);
    impl futures_io::AsyncRead for HonestThenLiar {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if !self.0 {
                self.0 = true;
                buf[..4].copy_from_slice(&100u32.to_be_bytes());
                buf[4..14].fill(b'a');
                return Poll::Ready(Ok(14));
            }
            let n = buf.len();
            buf.fill(b'b');
            Poll::Ready(Ok(n + 8))
        }
    }
    let pool = BufferPool::builder().read_size(16).min_buffer_size(16).build().unwrap();
    leave_a_frame_behind(&pool);
    let r = block_on(pool.length_delimited(HonestThenLiar(false)).next_frame());
    assert_invalid(r, "frames, appending");
}

#[test]
fn read_refuses_an_over_count() {
    for extra in EXTRAS {
        let pool = pool();
        assert_invalid(block_on(pool.read(&mut Liar { extra })), "read");
        assert_invalid(block_on(pool.read_up_to(&mut Liar { extra }, 10)), "read_up_to");
        assert_invalid(block_on(pool.read_exact(&mut Liar { extra }, 100)), "read_exact");
        assert_invalid(block_on(pool.copy(Liar { extra }, futures::io::sink())), "copy");
    }
}

#[test]
fn tokio_twins_refuse_a_swapped_read_buf() {
    let pool = pool();
    assert_invalid(block_on(pool.read_tokio(&mut TokioLiar)), "read_tokio");
    assert_invalid(block_on(pool.read_up_to_tokio(&mut TokioLiar, 10)), "read_up_to_tokio");
    assert_invalid(block_on(pool.read_exact_tokio(&mut TokioLiar, 100)), "read_exact_tokio");
    assert_invalid(block_on(pool.copy_tokio(TokioLiar, tokio::io::sink())), "copy_tokio");
}

#[test]
fn tokio_framing_refuses_a_swapped_read_buf() {
    let pool = pool();
    assert_invalid(block_on(pool.lines_tokio(TokioLiar).next_line()), "lines_tokio");
    assert_invalid(block_on(pool.length_delimited_tokio(TokioLiar).next_frame()), "length_delimited_tokio");
}

#[test]
fn buf_reader_refuses_an_over_count() {
    let pool = pool();
    for extra in EXTRAS {
        let mut r = bufpool::BufReader::new(&pool, Liar { extra });
        assert_invalid(block_on(futures::io::AsyncBufReadExt::fill_buf(&mut r)).map(|b| b.len()), "BufReader");
    }
    let mut r = bufpool::BufReader::new(&pool, TokioLiar);
    assert_invalid(block_on(tokio::io::AsyncBufReadExt::fill_buf(&mut r)).map(|b| b.len()), "BufReader (tokio)");
}

#[test]
fn nothing_is_left_outstanding_after_a_lie() {
    let pool = pool();
    let _ = block_on(pool.lines(Liar { extra: 8 }).next_line());
    let _ = block_on(pool.length_delimited(Liar { extra: 8 }).next_frame());
    let _ = block_on(pool.read_exact(&mut Liar { extra: 8 }, 100));
    assert_eq!(pool.stats().outstanding_buffers, 0);
}
