//! `LineReader`: boundaries at every offset, line endings, limits, buffer
//! ownership, and a proptest against `split`.

mod framing_util;

use bufpool::BufferPool;
use framing_util::{block_on, model_lines, poll_to_end, pool_with_read_size, Chunked, Script};
use proptest::prelude::*;
use std::io::ErrorKind;

/// Every line (or the error kind) until `None`, with a bound on calls.
fn read_all(pool: &BufferPool, reader: Chunked, max_len: usize) -> Vec<Result<Vec<u8>, ErrorKind>> {
    block_on(async {
        let mut lines = pool.lines(reader).max_len(max_len);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match lines.next_line().await {
                Ok(Some(l)) => out.push(Ok(l.to_vec())),
                Ok(None) => return out,
                Err(e) => out.push(Err(e.kind())),
            }
        }
        panic!("no end of input after 10000 calls");
    })
}

fn ok_lines(input: &[u8]) -> Vec<Result<Vec<u8>, ErrorKind>> {
    model_lines(input).into_iter().map(Ok).collect()
}

const SAMPLE: &[u8] = b"alpha\r\n\nbeta gamma\n\r\n\r\rdelta\n x \nlast";

#[test]
fn model_is_split_semantics() {
    assert_eq!(model_lines(b""), Vec::<Vec<u8>>::new());
    assert_eq!(model_lines(b"\n"), vec![b"".to_vec()]);
    assert_eq!(model_lines(b"a\r\nb"), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(model_lines(b"a\n\nb\r"), vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()]);
    assert_eq!(model_lines(b"a\n\r"), vec![b"a".to_vec()]);
    assert_eq!(model_lines(b"\r"), Vec::<Vec<u8>>::new());
}

/// Every line `tokio_util::codec::FramedRead` with `LinesCodec` gives for the
/// same reader, until its `None`.
fn lines_codec(reader: Chunked) -> Vec<Result<Vec<u8>, ErrorKind>> {
    use futures::StreamExt;
    use tokio_util::compat::FuturesAsyncReadCompatExt;
    block_on(async {
        let mut framed = tokio_util::codec::FramedRead::new(reader.compat(), tokio_util::codec::LinesCodec::new());
        let mut out = Vec::new();
        while let Some(item) = framed.next().await {
            out.push(item.map(String::into_bytes).map_err(|_| ErrorKind::InvalidData));
        }
        out
    })
}

#[test]
fn a_lone_carriage_return_at_end_of_input_is_no_line() {
    // `LinesCodec::decode_eof` returns `None` when all that is left is `\r`.
    let pool = BufferPool::new();
    for input in [&b"a\n\r"[..], b"\r", b"\r\n\r", b"x\r\n\r"] {
        let want = lines_codec(Chunked::new(input, &[]));
        assert_eq!(read_all(&pool, Chunked::new(input, &[]), 1024), want, "{input:?}");
        assert_eq!(read_all(&pool, Chunked::new(input, &[1]), 1024), want, "{input:?} a byte a read");
    }
    assert_eq!(read_all(&pool, Chunked::new(&b"a\n\r"[..], &[]), 1024), vec![Ok(b"a".to_vec())]);
    assert_eq!(read_all(&pool, Chunked::new(&b"\r"[..], &[]), 1024), vec![]);
}

#[test]
fn end_of_input_is_not_permanent() {
    // As `FramedRead`: after `None`, a later call reads again (a file that
    // grows, a terminal after Ctrl-D).
    let pool = BufferPool::new();
    block_on(async {
        let mut lines = pool.lines(Script::new(&[b"1\n", b"", b"2\n"]));
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "1");
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "2");
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(lines.next_line().await.unwrap(), None);
    });
    // A line without its newline is given at the end of input; what comes
    // after the pause is a new line.
    block_on(async {
        let mut lines = pool.lines(Script::new(&[b"ab", b"", b"cd\n"]));
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "ab");
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "cd");
    });
    // A lone `\r` at the pause stays buffered, as in `LinesCodec`.
    block_on(async {
        let mut lines = pool.lines(Script::new(&[b"\r", b"", b"b\n"]));
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "\rb");
    });
    // The rest of an over-long line is skipped across the pause too.
    block_on(async {
        let mut lines = pool.lines(Script::new(&[b"toolong", b"", b"x\n"])).max_len(3);
        assert_eq!(lines.next_line().await.unwrap_err().kind(), ErrorKind::InvalidData);
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "x");
    });
}

#[test]
fn resumed_input_matches_framed_read() {
    use futures::StreamExt;
    use tokio_util::compat::FuturesAsyncReadCompatExt;
    let script: &[&[u8]] = &[b"1\n2", b"", b"\n3\r", b"", b"", b"\n4\n"];
    let ours = block_on(async {
        let mut lines = pool_with_read_size(4).lines(Script::new(script));
        let mut out = Vec::new();
        for _ in 0..12 {
            out.push(lines.next_line().await.unwrap().map(|l| l.to_vec()));
        }
        out
    });
    let theirs = block_on(async {
        let mut framed =
            tokio_util::codec::FramedRead::new(Script::new(script).compat(), tokio_util::codec::LinesCodec::new());
        let mut out = Vec::new();
        for _ in 0..12 {
            out.push(framed.next().await.map(|l| l.unwrap().into_bytes()));
        }
        out
    });
    assert_eq!(ours, theirs);
}

#[test]
fn crlf_empty_lines_and_final_line_without_newline() {
    let pool = BufferPool::new();
    let got = read_all(&pool, Chunked::new(SAMPLE, &[]), 1024);
    let want: Vec<Result<Vec<u8>, ErrorKind>> = [
        &b"alpha"[..],
        b"",
        b"beta gamma",
        b"",
        b"\r\rdelta", // only the `\r` right before `\n` belongs to the ending
        b" x ",
        b"last",
    ]
    .iter()
    .map(|l| Ok(l.to_vec()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(read_all(&pool, Chunked::new(&b""[..], &[]), 8), vec![]);
    assert_eq!(read_all(&pool, Chunked::new(&b"\n"[..], &[]), 8), vec![Ok(vec![])]);
    assert_eq!(read_all(&pool, Chunked::new(&b"\r\n\r\n"[..], &[]), 8), vec![Ok(vec![]), Ok(vec![])]);
    assert_eq!(read_all(&pool, Chunked::new(&b"end\r"[..], &[]), 8), vec![Ok(b"end".to_vec())]);
}

#[test]
fn two_reads_split_at_every_offset() {
    for read_size in [1, 3, 8, 16 << 10] {
        let pool = pool_with_read_size(read_size);
        for at in 0..=SAMPLE.len() {
            let got = read_all(&pool, Chunked::split_at(SAMPLE, at), 1024);
            assert_eq!(got, ok_lines(SAMPLE), "read_size {read_size}, split at {at}");
        }
        assert_eq!(pool.stats().outstanding_buffers, 0);
    }
}

#[test]
fn every_chunk_size_and_pending_between_chunks() {
    for read_size in [1, 2, 5, 16 << 10] {
        let pool = pool_with_read_size(read_size);
        for size in 1..=SAMPLE.len() + 1 {
            let got = read_all(&pool, Chunked::new(SAMPLE, &[size]), 1024);
            assert_eq!(got, ok_lines(SAMPLE), "read_size {read_size}, chunk {size}");
            let got = read_all(&pool, Chunked::new(SAMPLE, &[size, 1]).pending(), 1024);
            assert_eq!(got, ok_lines(SAMPLE), "read_size {read_size}, chunks {size},1 with Pending");
        }
    }
}

#[test]
fn long_lines_spanning_many_reads() {
    let mut input = Vec::new();
    for i in 0..20usize {
        input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i * 997));
        input.extend_from_slice(if i % 2 == 0 { b"\n" } else { b"\r\n" });
    }
    input.extend(std::iter::repeat_n(b'z', 5000)); // unterminated, longer than a read
    for read_size in [7, 1000, 4096] {
        let pool = pool_with_read_size(read_size);
        for sizes in [&[1usize << 30][..], &[13, 4096, 1], &[999]] {
            let got = read_all(&pool, Chunked::new(input.clone(), sizes), 1 << 20);
            assert_eq!(got, ok_lines(&input), "read_size {read_size}, chunks {sizes:?}");
        }
    }
}

#[test]
fn max_len_is_exact_and_reader_stays_usable() {
    // 4 content bytes are fine with either ending; 5 are not.
    let input = b"abcd\nabcd\r\nabcde\nok\nabcde\r\nok2\nabcdefghijklmnop\nend";
    let want: Vec<Result<Vec<u8>, ErrorKind>> = vec![
        Ok(b"abcd".to_vec()),
        Ok(b"abcd".to_vec()),
        Err(ErrorKind::InvalidData),
        Ok(b"ok".to_vec()),
        Err(ErrorKind::InvalidData),
        Ok(b"ok2".to_vec()),
        Err(ErrorKind::InvalidData),
        Ok(b"end".to_vec()),
    ];
    for read_size in [1, 3, 6, 16 << 10] {
        let pool = pool_with_read_size(read_size);
        for at in 0..=input.len() {
            let got = read_all(&pool, Chunked::split_at(&input[..], at), 4);
            assert_eq!(got, want, "read_size {read_size}, split at {at}");
        }
        for size in 1..8 {
            let got = read_all(&pool, Chunked::new(&input[..], &[size]).pending(), 4);
            assert_eq!(got, want, "read_size {read_size}, chunk {size}");
        }
    }
}

#[test]
fn over_long_final_line_and_zero_max_len() {
    let pool = BufferPool::new();
    assert_eq!(
        read_all(&pool, Chunked::new(&b"ok\ntoolong"[..], &[]), 4),
        vec![Ok(b"ok".to_vec()), Err(ErrorKind::InvalidData)]
    );
    assert_eq!(read_all(&pool, Chunked::new(&b"abcd\r"[..], &[]), 4), vec![Ok(b"abcd".to_vec())]);
    // max_len 0 accepts only empty lines.
    assert_eq!(
        read_all(&pool, Chunked::new(&b"\n\r\nx\n\n"[..], &[1]), 0),
        vec![Ok(vec![]), Ok(vec![]), Err(ErrorKind::InvalidData), Ok(vec![])]
    );
}

#[test]
fn over_long_input_is_not_buffered_without_bound() {
    // 1 MiB without a newline, max_len 100: the reader must give up early.
    let pool = pool_with_read_size(64);
    let input = vec![b'x'; 1 << 20];
    block_on(async {
        let mut lines = pool.lines(Chunked::new(input, &[64])).max_len(100);
        let err = lines.next_line().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        let read = lines.get_ref().position();
        assert!(read < 1024, "read {read} bytes before failing");
        assert_eq!(lines.next_line().await.unwrap(), None);
    });
}

#[test]
fn io_errors_pass_through_and_lose_nothing() {
    let pool = pool_with_read_size(64);
    for fail_at in [0, 3, 6, 9, 12] {
        let mut r = Chunked::new(&b"one\ntwo\nthree"[..], &[3]);
        r.fail_at = Some(fail_at);
        let got = read_all(&pool, r, 64);
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1, "fail at {fail_at}: {got:?}");
        assert!(got.contains(&Err(ErrorKind::ConnectionReset)));
        let oks: Vec<_> = got.into_iter().filter(|r| r.is_ok()).collect();
        assert_eq!(oks, ok_lines(b"one\ntwo\nthree"), "fail at {fail_at}");
    }
}

#[test]
fn no_buffer_held_while_waiting_between_whole_lines() {
    let pool = pool_with_read_size(64);
    let text: Vec<String> = (0..50).map(|i| format!("line number {i}\n")).collect();
    let input: Vec<u8> = text.concat().into_bytes();
    // Chunks end exactly at line ends: while Pending, nothing is unfinished.
    let sizes: Vec<usize> = text.iter().map(String::len).collect();
    let mut lines = pool.lines(Chunked::new(input.clone(), &sizes).pending());
    let (got, seen) = poll_to_end(&pool, |cx| lines.poll_next_line(cx).map_ok(|l| l.map(|b| b.to_vec())));
    assert_eq!(got, ok_lines(&input).into_iter().map(Result::unwrap).collect::<Vec<_>>());
    assert_eq!(seen.len(), 50);
    assert!(seen.iter().all(|&out| out == 0), "buffers held while waiting: {seen:?}");

    // Chunks of 5 split lines: while waiting, at most the one buffer holding
    // the unfinished line is held.
    let mut lines = pool.lines(Chunked::new(input, &[5]).pending());
    let (got, seen) = poll_to_end(&pool, |cx| lines.poll_next_line(cx).map_ok(|l| l.map(|b| b.to_vec())));
    assert_eq!(got.len(), 50);
    assert!(seen.iter().all(|&out| out <= 1), "{seen:?}");
    assert!(seen.contains(&1), "a partial line should be held: {seen:?}");
    drop(lines);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
fn lines_are_zero_copy_slices_and_outlive_the_pool_handle() {
    let pool = BufferPool::new();
    let watch = pool.clone();
    let (a, b) = block_on(async {
        let mut lines = pool.lines(Chunked::new(&b"first\nsecond\n"[..], &[])).copy_below(0);
        let a = lines.next_line().await.unwrap().unwrap();
        let b = lines.next_line().await.unwrap().unwrap();
        assert_eq!(lines.next_line().await.unwrap(), None);
        (a, b)
    });
    // One read, one buffer: both lines point into it, 6 bytes apart.
    assert_eq!(b.as_ptr() as usize - a.as_ptr() as usize, 6);
    drop(pool);
    assert_eq!(watch.stats().outstanding_buffers, 1);
    let a2 = a.clone();
    drop(a);
    std::thread::spawn(move || {
        assert_eq!(b, "second");
        drop(b);
    })
    .join()
    .unwrap();
    assert_eq!(watch.stats().outstanding_buffers, 1, "a clone of the first line is alive");
    assert_eq!(a2, "first");
    drop(a2);
    assert_eq!(watch.stats().outstanding_buffers, 0);
}

#[test]
fn a_line_split_across_two_reads_is_copied_once_into_a_big_enough_buffer() {
    // Every copy goes into a newly taken buffer, so counting gets counts copies.
    let pool = pool_with_read_size(16);
    block_on(async {
        let mut lines = pool.lines(Chunked::new(&b"aaaa\nbbbbbbbb\n"[..], &[8, 100]));
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "aaaa");
        assert_eq!(pool.stats().gets, 1);
        // "bbb" moves once into a buffer with room for a whole read behind it.
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "bbbbbbbb");
        assert_eq!(pool.stats().gets, 2);
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(pool.stats().gets, 3, "one more buffer, lent to the read that saw EOF");
    });
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

fn line_input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![4 => Just(b'a'), 1 => Just(b'b'), 1 => Just(b'\r'), 2 => Just(b'\n')], 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 256 }))]

    #[test]
    fn random_input_at_random_read_boundaries_matches_split(
        input in line_input(),
        sizes in prop::collection::vec(1usize..40, 1..8),
        read_size in 1usize..48,
        pend in any::<bool>(),
    ) {
        let pool = pool_with_read_size(read_size);
        let mut r = Chunked::new(input.clone(), &sizes);
        if pend {
            r = r.pending();
        }
        let got = read_all(&pool, r, usize::MAX);
        prop_assert_eq!(got, ok_lines(&input));
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }

    #[test]
    fn random_input_matches_lines_codec(
        input in line_input(),
        sizes in prop::collection::vec(1usize..40, 1..8),
        read_size in 1usize..48,
    ) {
        let pool = pool_with_read_size(read_size);
        let got = read_all(&pool, Chunked::new(input.clone(), &sizes), usize::MAX);
        prop_assert_eq!(got, lines_codec(Chunked::new(input, &sizes)));
    }

    #[test]
    fn random_max_len_matches_filtered_split(
        input in line_input(),
        sizes in prop::collection::vec(1usize..40, 1..8),
        read_size in 1usize..48,
        max_len in 0usize..12,
    ) {
        // Model: every line longer than max_len becomes one InvalidData.
        let want: Vec<Result<Vec<u8>, ErrorKind>> = model_lines(&input)
            .into_iter()
            .map(|l| if l.len() > max_len { Err(ErrorKind::InvalidData) } else { Ok(l) })
            .collect();
        let pool = pool_with_read_size(read_size);
        let got = read_all(&pool, Chunked::new(input.clone(), &sizes), max_len);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn copy_below_keeps_stored_short_lines_from_pinning_buffers() {
    // A store of short values, one line per read (a request per packet):
    // sliced, each value pins its own read buffer; copied, none does.
    let input: Vec<u8> = (0..200).flat_map(|i| format!("value-{i:026}\n").into_bytes()).collect();
    let one_per_read = vec![33];
    for (copy_below, pinned) in [(0, 200), (32, 200), (33, 0), (256, 0)] {
        let pool = BufferPool::builder().read_size(4096).max_pooled_bytes(64 << 20).build().unwrap();
        let store = block_on(async {
            let lines = pool.lines(Chunked::new(input.clone(), &one_per_read)).copy_below(copy_below);
            futures::StreamExt::collect::<Vec<_>>(lines).await
        });
        assert_eq!(store.len(), 200);
        assert!(store.iter().all(|l| l.as_ref().unwrap().len() == 32));
        assert_eq!(pool.stats().outstanding_buffers, pinned, "copy_below({copy_below})");
    }
}

#[test]
fn readers_and_their_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let pool = BufferPool::new();
    let mut lines = pool.lines(Chunked::new(&b"x\n"[..], &[]));
    send(&lines);
    send(&lines.next_line());
    let mut frames = pool.length_delimited(Chunked::new(Vec::new(), &[]));
    send(&frames);
    send(&frames.next_frame());
}

#[test]
fn kept_slices_show_in_frozen_bytes_and_short_lines_pin_nothing() {
    let pool = BufferPool::builder().read_size(16 << 10).build().unwrap();
    let mut input = Vec::new();
    for i in 0..2_000 {
        input.extend_from_slice(format!("SET key:{i} {:032}\n", i).as_bytes());
    }
    let data: usize = input.len() - 2_000;
    let keep = |copy_below: usize| {
        futures::executor::block_on(async {
            let mut lines = pool.lines(&input[..]).copy_below(copy_below);
            let mut kept = Vec::new();
            while let Some(l) = lines.next_line().await.unwrap() {
                kept.push(l);
            }
            kept
        })
    };
    let sliced = keep(0);
    let s = pool.stats();
    assert!(s.frozen_bytes >= data as u64, "slices pin their read buffers: {s}");
    assert_eq!(s.frozen_bytes, s.outstanding_bytes, "every outstanding buffer is held by a slice: {s}");
    drop(sliced);
    assert_eq!(pool.stats().frozen_bytes, 0);
    let copied = keep(bufpool::framing::DEFAULT_COPY_BELOW);
    let s = pool.stats();
    assert_eq!((s.frozen_bytes, s.outstanding_buffers), (0, 0), "short lines are copied out: {s}");
    // The copies hold the lines' bytes and no pooled memory.
    let held: usize = copied.iter().map(|b| b.len()).sum();
    assert_eq!(held, data);
}
