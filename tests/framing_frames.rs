//! `FrameReader`: boundaries at every offset, truncation, limits, buffer
//! ownership.

mod framing_util;

use bufpool::BufferPool;
use framing_util::{block_on, encode_frames, poll_to_end, pool_with_read_size, Chunked, Script};
use proptest::prelude::*;
use std::io::ErrorKind;

type Item = Result<Vec<u8>, ErrorKind>;

fn read_all(pool: &BufferPool, reader: Chunked, max_len: usize) -> Vec<Item> {
    block_on(async {
        let mut frames = pool.length_delimited(reader).max_len(max_len);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match frames.next_frame().await {
                Ok(Some(f)) => out.push(Ok(f.to_vec())),
                Ok(None) => return out,
                Err(e) => out.push(Err(e.kind())),
            }
        }
        panic!("no end of input after 10000 calls");
    })
}

fn oks(frames: &[&[u8]]) -> Vec<Item> {
    frames.iter().map(|f| Ok(f.to_vec())).collect()
}

const FRAMES: &[&[u8]] = &[b"hello", b"", b"x", b"a somewhat longer frame of text", b"", b"end"];

#[test]
fn frames_and_empty_frames() {
    let pool = BufferPool::new();
    assert_eq!(read_all(&pool, Chunked::new(encode_frames(FRAMES), &[]), 1024), oks(FRAMES));
    assert_eq!(read_all(&pool, Chunked::new(Vec::new(), &[]), 1024), vec![]);
}

#[test]
fn two_reads_split_at_every_offset() {
    let input = encode_frames(FRAMES);
    for read_size in [1, 3, 8, 16 << 10] {
        let pool = pool_with_read_size(read_size);
        for at in 0..=input.len() {
            assert_eq!(
                read_all(&pool, Chunked::split_at(input.clone(), at), 1024),
                oks(FRAMES),
                "rs {read_size} at {at}"
            );
        }
        for size in 1..=input.len() {
            let got = read_all(&pool, Chunked::new(input.clone(), &[size, 1]).pending(), 1024);
            assert_eq!(got, oks(FRAMES), "rs {read_size}, chunks {size},1");
        }
        assert_eq!(pool.stats().outstanding_buffers, 0);
    }
}

#[test]
fn truncated_at_every_offset() {
    let input = encode_frames(FRAMES);
    // Offsets where a whole number of frames ends.
    let mut ends = vec![0];
    for f in FRAMES {
        ends.push(ends.last().unwrap() + 4 + f.len());
    }
    for cut in 0..input.len() {
        let whole = ends.iter().filter(|&&e| e <= cut).count() - 1;
        let mut want = oks(&FRAMES[..whole]);
        if !ends.contains(&cut) {
            want.push(Err(ErrorKind::UnexpectedEof));
        }
        for read_size in [2, 16 << 10] {
            let pool = pool_with_read_size(read_size);
            let got = read_all(&pool, Chunked::new(input[..cut].to_vec(), &[3]), 1024);
            assert_eq!(got, want, "cut at {cut}, rs {read_size}");
        }
    }
}

#[test]
fn max_len_is_exact_and_reader_stays_usable() {
    let big = vec![7u8; 100];
    let frames: &[&[u8]] = &[b"four", b"five!", b"ok", &big, b"four"];
    let input = encode_frames(frames);
    let want = vec![
        Ok(b"four".to_vec()),
        Err(ErrorKind::InvalidData),
        Ok(b"ok".to_vec()),
        Err(ErrorKind::InvalidData),
        Ok(b"four".to_vec()),
    ];
    for read_size in [1, 5, 16 << 10] {
        let pool = pool_with_read_size(read_size);
        for at in 0..=input.len() {
            assert_eq!(read_all(&pool, Chunked::split_at(input.clone(), at), 4), want, "rs {read_size} at {at}");
        }
        for size in 1..9 {
            let got = read_all(&pool, Chunked::new(input.clone(), &[size]).pending(), 4);
            assert_eq!(got, want, "rs {read_size}, chunk {size}");
        }
    }
}

#[test]
fn end_of_input_is_not_permanent() {
    // As `FramedRead`: after `None`, a later call reads again.
    let pool = BufferPool::new();
    let one = encode_frames(&[b"1"]);
    let two = encode_frames(&[b"2"]);
    block_on(async {
        let mut frames = pool.length_delimited(Script::new(&[&one, b"", &two]));
        assert_eq!(frames.next_frame().await.unwrap().unwrap(), "1");
        assert_eq!(frames.next_frame().await.unwrap(), None);
        assert_eq!(frames.next_frame().await.unwrap().unwrap(), "2");
        assert_eq!(frames.next_frame().await.unwrap(), None);
        assert_eq!(frames.next_frame().await.unwrap(), None);
    });
    // A frame cut short by the end of input is an error, then `None`, then
    // reading goes on with what comes next.
    block_on(async {
        let mut frames = pool.length_delimited(Script::new(&[&one[..3], b"", &two]));
        assert_eq!(frames.next_frame().await.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(frames.next_frame().await.unwrap(), None);
        assert_eq!(frames.next_frame().await.unwrap().unwrap(), "2");
    });
}

#[test]
fn lowering_max_len_mid_frame_delivers_that_frame() {
    // As `FramedRead` with `LengthDelimitedCodec`: a frame whose length was
    // accepted is delivered; the new limit applies from the next frame.
    let pool = pool_with_read_size(64);
    let input = encode_frames(&[b"123456789", b"abcdefghi", b"ok"]);
    let mut frames = pool.length_delimited(Chunked::new(input, &[7]).pending());
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    // Poll until the first frame is partly in and the reader pends.
    let mut polls = 0;
    while frames.buffer().len() < 5 {
        assert!(frames.poll_next_frame(&mut cx).is_pending());
        polls += 1;
        assert!(polls < 10);
    }
    let mut frames = frames.max_len(5);
    block_on(async {
        assert_eq!(frames.next_frame().await.unwrap().unwrap(), "123456789");
        assert_eq!(frames.next_frame().await.unwrap_err().kind(), ErrorKind::InvalidData);
        assert_eq!(frames.next_frame().await.unwrap().unwrap(), "ok");
    });
}

#[test]
fn over_long_frame_is_refused_before_it_is_buffered() {
    // A 4 GiB length: refused after reading the header, without allocating.
    let pool = pool_with_read_size(64);
    let mut input = vec![0xff, 0xff, 0xff, 0xff];
    input.extend(vec![0u8; 1000]);
    block_on(async {
        let mut frames = pool.length_delimited(Chunked::new(input, &[64]));
        let err = frames.next_frame().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(frames.get_ref().position() <= 64);
        assert!(pool.stats().outstanding_bytes < 1 << 20);
        // The skipped payload runs past the end of input.
        assert_eq!(frames.next_frame().await.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(frames.next_frame().await.unwrap(), None);
    });
}

#[test]
fn a_large_frame_is_read_into_one_buffer_sized_for_it() {
    // Header and a little payload in the first read; then the whole rest goes
    // straight into a buffer sized for the frame: one copy, no regrowth.
    let pool = pool_with_read_size(64);
    let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let input = encode_frames(&[&payload, b"next"]);
    block_on(async {
        let mut frames = pool.length_delimited(Chunked::new(input, &[10, 4096]));
        assert_eq!(frames.next_frame().await.unwrap().unwrap(), payload);
        // 1: the first read's buffer; 2: the frame-sized one the 10 bytes move to.
        assert_eq!(pool.stats().gets, 2);
        assert_eq!(frames.next_frame().await.unwrap().unwrap(), "next");
    });
}

#[test]
fn no_buffer_held_while_waiting_between_whole_frames() {
    // Reads bigger than any frame, so each chunk arrives whole.
    let pool = pool_with_read_size(256);
    let frames: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; i * 3]).collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let input = encode_frames(&refs);
    let sizes: Vec<usize> = frames.iter().map(|f| f.len() + 4).collect();
    let mut r = pool.length_delimited(Chunked::new(input.clone(), &sizes).pending());
    let (got, seen) = poll_to_end(&pool, |cx| r.poll_next_frame(cx).map_ok(|f| f.map(|b| b.to_vec())));
    assert_eq!(got, frames);
    assert!(seen.iter().all(|&out| out == 0), "{seen:?}");

    let mut r = pool.length_delimited(Chunked::new(input, &[7]).pending());
    let (got, seen) = poll_to_end(&pool, |cx| r.poll_next_frame(cx).map_ok(|f| f.map(|b| b.to_vec())));
    assert_eq!(got, frames);
    assert!(seen.iter().all(|&out| out <= 1), "{seen:?}");
    assert!(seen.contains(&1));
}

#[test]
fn frames_outlive_the_pool_handle() {
    let pool = BufferPool::new();
    let watch = pool.clone();
    let got = block_on(async {
        let mut frames = pool.length_delimited(Chunked::new(encode_frames(&[b"abc", b"defg"]), &[])).copy_below(0);
        (frames.next_frame().await.unwrap().unwrap(), frames.next_frame().await.unwrap().unwrap())
    });
    drop(pool);
    assert_eq!(watch.stats().outstanding_buffers, 1);
    std::thread::spawn(move || assert_eq!((&got.0[..], &got.1[..]), (&b"abc"[..], &b"defg"[..]))).join().unwrap();
    assert_eq!(watch.stats().outstanding_buffers, 0);
}

#[test]
fn copy_below_copies_short_frames_and_slices_the_rest() {
    let pool = BufferPool::new();
    let big = vec![7u8; 300];
    let input = encode_frames(&[b"tiny", &big[..255], &big[..256], &big]);
    let got = block_on(async {
        let mut frames = pool.length_delimited(Chunked::new(input, &[])).copy_below(256);
        let mut out = Vec::new();
        while let Some(f) = frames.next_frame().await.unwrap() {
            out.push(f);
        }
        out
    });
    assert_eq!(got.iter().map(|f| f.len()).collect::<Vec<_>>(), [4, 255, 256, 300]);
    let mut copied = got;
    let sliced = copied.split_off(2);
    assert_eq!(pool.stats().outstanding_buffers, 1, "the two long frames share the read buffer");
    drop(sliced);
    assert_eq!(pool.stats().outstanding_buffers, 0, "the copied frames hold no pooled buffer");
    assert_eq!(copied[1], &big[..255]);
    // Copied frames keep no pooled buffer alive.
    let kept = block_on(async {
        let input = encode_frames(&[b"a", b"bb", b"ccc"]);
        let frames = pool.length_delimited(Chunked::new(input, &[1])).copy_below(16);
        futures::StreamExt::collect::<Vec<_>>(frames).await
    });
    assert_eq!(kept.len(), 3);
    assert_eq!(pool.stats().outstanding_buffers, 0);
    assert_eq!(kept[2].as_ref().unwrap(), "ccc");
}

proptest! {
    #[test]
    fn random_frames_at_random_read_boundaries(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 0..20),
        sizes in prop::collection::vec(1usize..60, 1..8),
        read_size in 1usize..64,
        max_len in 0usize..60,
        pend in any::<bool>(),
    ) {
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let want: Vec<Item> = frames
            .iter()
            .map(|f| if f.len() > max_len { Err(ErrorKind::InvalidData) } else { Ok(f.clone()) })
            .collect();
        let pool = pool_with_read_size(read_size);
        let mut r = Chunked::new(encode_frames(&refs), &sizes);
        if pend {
            r = r.pending();
        }
        prop_assert_eq!(read_all(&pool, r, max_len), want);
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }
}
