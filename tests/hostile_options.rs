//! Absurd settings on the framing readers and writers: each gives a clear
//! error or a documented panic, never a hang, a wrong frame or a leak.

use bufpool::BufferPool;
use futures::StreamExt;
use std::io::ErrorKind;

fn frames<'a>(pool: &BufferPool, wire: &'a [u8]) -> bufpool::framing::FrameReader<&'a [u8]> {
    pool.length_delimited(wire)
}

/// Polls a reader to its end, at most `cap` items, returning the error kinds
/// and frames seen.
fn collect(
    mut f: impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
    cap: usize,
) -> Vec<Result<Vec<u8>, ErrorKind>> {
    futures::executor::block_on(async {
        let mut out = Vec::new();
        while let Some(x) = f.next().await {
            out.push(x.map(|b| b.to_vec()).map_err(|e| e.kind()));
            if out.len() >= cap {
                break;
            }
        }
        out
    })
}

#[test]
#[should_panic(expected = "length_field_length must be 1 to 8")]
fn length_field_length_zero_panics_as_documented() {
    let pool = BufferPool::new();
    let _ = pool.length_delimited(&b""[..]).length_field_length(0);
}

#[test]
#[should_panic(expected = "length_field_length must be 1 to 8")]
fn length_field_length_nine_panics_as_documented() {
    let pool = BufferPool::new();
    let _ = pool.length_delimited(&b""[..]).length_field_length(9);
}

#[test]
fn max_len_zero_takes_only_empty_frames_and_skips_the_rest() {
    let pool = BufferPool::new();
    let wire = [&[0, 0, 0, 0][..], &[0, 0, 0, 3], b"abc", &[0, 0, 0, 0]].concat();
    let got = collect(frames(&pool, &wire).max_len(0), 10);
    assert_eq!(got, [Ok(vec![]), Err(ErrorKind::InvalidData), Ok(vec![])]);
    let got = collect(pool.lines(&b"\nx\n\r\n"[..]).max_len(0), 10);
    assert_eq!(got, [Ok(vec![]), Err(ErrorKind::InvalidData), Ok(vec![])]);
}

#[test]
fn copy_below_max_copies_every_frame_and_pins_nothing() {
    let pool = BufferPool::new();
    let wire = [&[0, 0, 0, 2][..], b"hi", &[0, 0, 0, 3], b"you"].concat();
    let mut f = frames(&pool, &wire).copy_below(usize::MAX);
    let kept: Vec<bytes::Bytes> = futures::executor::block_on(async {
        let mut v = Vec::new();
        while let Some(x) = f.next().await {
            v.push(x.unwrap());
        }
        v
    });
    assert_eq!(kept, [&b"hi"[..], b"you"]);
    assert_eq!(pool.stats().outstanding_buffers, 0, "copies pin no pooled buffer");
    let kept: Vec<_> = collect(pool.lines(&b"a\nbb\n"[..]).copy_below(usize::MAX), 10);
    assert_eq!(kept, [Ok(b"a".to_vec()), Ok(b"bb".to_vec())]);
}

/// A layout whose header cannot be buffered (an offset near `usize::MAX`)
/// or a frame that cannot be allocated (an adjustment near `isize::MAX`)
/// is an error; polled again, the reader must end or make progress, not
/// return the same error forever (a `Stream` consumer that skips errors
/// would spin).
#[test]
fn an_unbufferable_layout_is_an_error_and_the_stream_ends() {
    let pool = BufferPool::new();
    let wire = [&[0, 0, 0, 2][..], b"hi"].concat();
    let got = collect(frames(&pool, &wire).length_field_offset(usize::MAX), 100);
    assert!(got.len() < 100, "the same error forever: {:?}", &got[..3]);
    assert_eq!(got, [Err(ErrorKind::InvalidInput)]);
    let got = collect(frames(&pool, &wire).num_skip(usize::MAX - 1), 100);
    assert_eq!(got, [Err(ErrorKind::InvalidInput)]);
    // Below isize::MAX, but no allocation holds it either.
    let got = collect(frames(&pool, &wire).length_field_offset(1 << 62), 100);
    assert!(got.len() < 100, "the same error forever: {:?}", &got[..3]);
    assert_eq!(got, [Err(ErrorKind::OutOfMemory)]);
}

#[test]
fn an_unallocatable_frame_is_an_error_and_the_stream_ends() {
    let pool = BufferPool::new();
    let wire = [&[0, 0, 0, 2][..], b"hi"].concat();
    let got = collect(frames(&pool, &wire).length_adjustment(isize::MAX - 16), 100);
    assert!(got.len() < 100, "the same error forever: {:?}", &got[..3]);
    // The frame is skipped; the input ends inside it.
    assert_eq!(got, [Err(ErrorKind::OutOfMemory), Err(ErrorKind::UnexpectedEof)]);
    // A frame of a few bytes after a huge one that the input does hold is
    // not reachable here, but a frame whose length is unallocatable on its
    // own (an 8-byte field, no max_len) is skipped the same way.
    let wire = [&[0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0][..], b"abc"].concat();
    let got = collect(frames(&pool, &wire).length_field_length(8).max_len(usize::MAX), 100);
    assert_eq!(got, [Err(ErrorKind::OutOfMemory), Err(ErrorKind::UnexpectedEof)]);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

/// A `read_size` above `max_buffer_size` (which `build` accepts) is clamped
/// by the plain read layer (`read_limit`); the framing readers, the codec
/// bridge and the writer must read and write too, not ask the pool for a
/// read_size allocation on every call.
#[test]
fn a_read_size_above_max_buffer_size_still_frames() {
    let pool = BufferPool::builder().max_buffer_size(1 << 20).read_size(1 << 40).build().unwrap();
    let got = collect(pool.lines(&b"a\nbb\n"[..]), 10);
    assert_eq!(got, [Ok(b"a".to_vec()), Ok(b"bb".to_vec())]);
    let wire = [&[0, 0, 0, 2][..], b"hi"].concat();
    let got = collect(frames(&pool, &wire), 10);
    assert_eq!(got, [Ok(b"hi".to_vec())]);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let got: Vec<String> = rt.block_on(async {
        pool.framed_read(&b"x\ny\n"[..], tokio_util::codec::LinesCodec::new()).map(|r| r.unwrap()).collect().await
    });
    assert_eq!(got, ["x", "y"]);
    let mut out = Vec::new();
    let mut w = pool.frame_writer(futures::io::Cursor::new(&mut out));
    futures::executor::block_on(w.send(bytes::Bytes::from_static(b"hi"))).unwrap();
    drop(w);
    assert_eq!(out, wire);
    let mut r = bufpool::BufReader::new(&pool, &b"line\n"[..]);
    let mut s = String::new();
    futures::executor::block_on(futures::io::AsyncBufReadExt::read_line(&mut r, &mut s)).unwrap();
    assert_eq!(s, "line\n");
}
