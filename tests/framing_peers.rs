//! The read-side cases of tokio-util's `LinesCodec` and `FramedRead` tests
//! (`tests/codecs.rs`, `tests/framed_read.rs` in tokio-util 0.7), restated
//! for `LineReader` and `FrameReader` over a scripted reader. Where this crate
//! differs on purpose (`max_len` counts a line without its ending), the case
//! says so.

use bufpool::BufferPool;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// One answer of the scripted reader.
enum Step {
    Data(&'static [u8]),
    Pending,
    Fail,
    Eof,
}
use Step::*;

/// Answers each read with the next step; past the script, end of input.
struct Mock(VecDeque<Step>);

fn mock(steps: impl IntoIterator<Item = Step>) -> Mock {
    Mock(steps.into_iter().collect())
}

impl futures_io::AsyncRead for Mock {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.0.pop_front() {
            Some(Data(d)) => {
                assert!(buf.len() >= d.len(), "the test reads fit one buffer");
                buf[..d.len()].copy_from_slice(d);
                Poll::Ready(Ok(d.len()))
            }
            Some(Pending) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(Fail) => Poll::Ready(Err(io::Error::other("injected"))),
            Some(Eof) | None => Poll::Ready(Ok(0)),
        }
    }
}

fn cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// What a poll gave, in a form that compares.
#[derive(Debug, PartialEq)]
enum Got {
    Item(Vec<u8>),
    End,
    Err(ErrorKind),
    Wait,
}

fn got(p: Poll<io::Result<Option<bytes::Bytes>>>) -> Got {
    match p {
        Poll::Ready(Ok(Some(b))) => Got::Item(b.to_vec()),
        Poll::Ready(Ok(None)) => Got::End,
        Poll::Ready(Err(e)) => Got::Err(e.kind()),
        Poll::Pending => Got::Wait,
    }
}

fn item(s: &[u8]) -> Got {
    Got::Item(s.to_vec())
}

fn lines(
    pool: &BufferPool,
    steps: impl IntoIterator<Item = Step>,
    max_len: usize,
) -> bufpool::framing::LineReader<Mock> {
    pool.lines(mock(steps)).max_len(max_len)
}

// ----- LinesCodec (tests/codecs.rs) -----

#[test]
fn lines_with_crlf_an_empty_line_and_a_lone_cr_at_the_pause() {
    let pool = BufferPool::new();
    let mut l = lines(&pool, [Data(b"line 1\nline 2\r\nline 3\n\r\n\r"), Eof, Data(b"k"), Eof], usize::MAX);
    let mut c = cx();
    for want in [item(b"line 1"), item(b"line 2"), item(b"line 3"), item(b""), Got::End] {
        assert_eq!(got(l.poll_next_line(&mut c)), want);
    }
    // The lone `\r` stayed buffered and begins the next line.
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"\rk"));
    assert_eq!(got(l.poll_next_line(&mut c)), Got::End);
}

#[test]
fn over_long_lines_are_errors_and_the_reader_goes_on() {
    let pool = BufferPool::new();
    let mut l = lines(&pool, [Data(b"line 1 is too long\nline 2\nline 3\r\nline 4\n\r\n\r"), Eof], 6);
    let mut c = cx();
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Err(ErrorKind::InvalidData));
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"line 2"));
    // `LinesCodec` refuses "line 3\r" (it counts the `\r`); here `max_len`
    // is the line without its ending, so "line 3" fits.
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"line 3"));
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"line 4"));
    assert_eq!(got(l.poll_next_line(&mut c)), item(b""));
    assert_eq!(got(l.poll_next_line(&mut c)), Got::End);
    // One byte over the limit, at the end of input.
    let mut l = lines(&pool, [Data(b"aaabbbc"), Eof], 6);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Err(ErrorKind::InvalidData));
}

#[test]
fn an_over_long_line_is_refused_before_its_newline_arrives() {
    let pool = BufferPool::new();
    let mut l = lines(
        &pool,
        [Data(b"line "), Pending, Data(b"too l"), Pending, Data(b"ong\n"), Data(b"line 2"), Pending, Data(b"\n")],
        6,
    );
    let mut c = cx();
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Err(ErrorKind::InvalidData));
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"line 2"));
}

#[test]
fn a_line_that_grows_too_long_in_bursts_is_one_error() {
    let pool = BufferPool::new();
    let mut l = lines(&pool, [Data(b"line "), Pending, Data(b"too l"), Pending, Data(b"ong\n"), Eof], 10);
    let mut c = cx();
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Err(ErrorKind::InvalidData));
    assert_eq!(got(l.poll_next_line(&mut c)), Got::End);
    let mut l = lines(&pool, [Data(b"line "), Pending, Data(b"too long!\n"), Eof], 10);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Err(ErrorKind::InvalidData));
    assert_eq!(got(l.poll_next_line(&mut c)), Got::End);
}

#[test]
fn a_newline_right_at_the_limit_between_reads() {
    let pool = BufferPool::new();
    let mut l = lines(&pool, [Data(b"hello"), Pending, Data(b"\nworld"), Eof], 5);
    let mut c = cx();
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"hello"));
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"world"));
}

#[test]
fn skipping_repeats_without_looping() {
    // tokio issue 1483: discarding must not spin.
    let pool = BufferPool::new();
    let mut l = lines(&pool, [Data(b"aa"), Pending, Data(b"a"), Pending], 1);
    let mut c = cx();
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Err(ErrorKind::InvalidData));
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
}

#[test]
fn skipping_across_many_reads_then_a_short_line() {
    // tokio issue 3555.
    let pool = BufferPool::new();
    let steps = [
        Data(b"line "),
        Pending,
        Data(b"too very l"),
        Pending,
        Data(b"aaaaaaaaaaaaaaaaaaaaaaa"),
        Pending,
        Data(b"ong\nshort\n"),
    ];
    let mut l = lines(&pool, steps, 11);
    let mut c = cx();
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Err(ErrorKind::InvalidData));
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), Got::Wait);
    assert_eq!(got(l.poll_next_line(&mut c)), item(b"short"));
}

// ----- FramedRead with a length-prefixed decoder (tests/framed_read.rs) -----

fn frames(pool: &BufferPool, steps: impl IntoIterator<Item = Step>) -> bufpool::framing::FrameReader<Mock> {
    pool.length_delimited(mock(steps))
}

#[test]
fn many_frames_in_one_read() {
    let pool = BufferPool::new();
    let mut f = frames(&pool, [Data(b"\0\0\0\x01a\0\0\0\x01b\0\0\0\x01c")]);
    let mut c = cx();
    for want in [item(b"a"), item(b"b"), item(b"c"), Got::End] {
        assert_eq!(got(f.poll_next_frame(&mut c)), want);
    }
}

#[test]
fn frames_across_reads() {
    let pool = BufferPool::new();
    let mut f = frames(&pool, [Data(b"\0\0"), Data(b"\0\x01a\0"), Data(b"\0\0\x01"), Data(b"b")]);
    let mut c = cx();
    for want in [item(b"a"), item(b"b"), Got::End] {
        assert_eq!(got(f.poll_next_frame(&mut c)), want);
    }
}

#[test]
fn not_ready_then_a_partial_frame_then_not_ready() {
    let pool = BufferPool::new();
    let mut f = frames(&pool, [Pending, Data(b"\0\0\0\x01a"), Data(b"\0\0"), Pending, Data(b"\0\x01b")]);
    let mut c = cx();
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::Wait);
    assert_eq!(got(f.poll_next_frame(&mut c)), item(b"a"));
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::Wait);
    assert_eq!(got(f.poll_next_frame(&mut c)), item(b"b"));
}

#[test]
fn read_errors_pass_through_and_keep_a_partial_frame() {
    let pool = BufferPool::new();
    let mut c = cx();
    let mut f = frames(&pool, [Fail]);
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::Err(ErrorKind::Other));
    // Unlike `FramedRead` (which answers `None` after an error and drops
    // nothing either), a retry simply reads on.
    let mut f = frames(&pool, [Data(b"\0\0"), Fail, Pending, Data(b"\0\x01z")]);
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::Err(ErrorKind::Other));
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::Wait);
    assert_eq!(got(f.poll_next_frame(&mut c)), item(b"z"));
}

#[test]
fn bytes_left_at_the_end_of_input_are_an_error() {
    let pool = BufferPool::new();
    let mut f = frames(&pool, [Data(&[0, 0, 0, 0, 0])]);
    let mut c = cx();
    assert_eq!(got(f.poll_next_frame(&mut c)), item(b""));
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::Err(ErrorKind::UnexpectedEof));
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::End);
}

#[test]
fn a_large_frame_over_many_reads() {
    let pool = BufferPool::new();
    let payload: &'static [u8] = Box::leak(vec![7u8; 32 << 10].into_boxed_slice());
    let len: &'static [u8] = Box::leak(((32u32 << 10).to_be_bytes()).to_vec().into_boxed_slice());
    let mut steps = vec![Data(len)];
    steps.extend(payload.chunks(1000).map(Data));
    let mut f = frames(&pool, steps);
    let mut c = cx();
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::Item(payload.to_vec()));
    assert_eq!(got(f.poll_next_frame(&mut c)), Got::End);
}

#[test]
fn end_of_input_then_resume() {
    let pool = BufferPool::new();
    let mut f = frames(&pool, [Data(b"\0\0\0\x011"), Eof, Data(b"\0\0\0\x012"), Eof, Data(b"\0\0\0\x013")]);
    let mut c = cx();
    for want in [item(b"1"), Got::End, item(b"2"), Got::End, item(b"3"), Got::End, Got::End] {
        assert_eq!(got(f.poll_next_frame(&mut c)), want);
    }
}
