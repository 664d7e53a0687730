//! `FrameReader`'s length-field options (`LengthDelimitedCodec`'s read
//! options): tokio-util's `length_delimited` read-side cases restated, a
//! proptest against `FramedRead<LengthDelimitedCodec>` with the same options,
//! and what happens to lengths that describe no frame.

mod framing_util;

use bufpool::framing::FrameReader;
use bufpool::BufferPool;
use framing_util::{block_on, Chunked};
use proptest::prelude::*;
use std::io::ErrorKind;

type Item = Result<Vec<u8>, ErrorKind>;

/// Every item until `None`, with a bound on calls.
fn all<R: futures_io::AsyncRead + Unpin>(mut frames: FrameReader<R>) -> Vec<Item> {
    block_on(async {
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

fn reader(pool: &BufferPool, wire: &[u8], sizes: &[usize]) -> FrameReader<Chunked> {
    pool.length_delimited(Chunked::new(wire.to_vec(), sizes))
}

#[test]
fn one_frame_in_each_byte_order() {
    let pool = BufferPool::new();
    assert_eq!(all(reader(&pool, b"\x00\x00\x00\x09abcdefghi", &[])), oks(&[b"abcdefghi"]));
    assert_eq!(all(reader(&pool, b"\x09\x00\x00\x00abcdefghi", &[]).little_endian()), oks(&[b"abcdefghi"]));
    let native: &[u8] =
        if cfg!(target_endian = "big") { b"\x00\x00\x00\x09abcdefghi" } else { b"\x09\x00\x00\x00abcdefghi" };
    assert_eq!(all(reader(&pool, native, &[]).native_endian()), oks(&[b"abcdefghi"]));
    assert_eq!(all(reader(&pool, b"", &[])), vec![]);
}

#[test]
fn many_frames_in_one_read_and_one_frame_over_many() {
    let pool = BufferPool::new();
    let wire = b"\x00\x00\x00\x09abcdefghi\x00\x00\x00\x03123\x00\x00\x00\x0bhello world";
    let want = oks(&[b"abcdefghi", b"123", b"hello world"]);
    for sizes in [&[][..], &[1], &[2, 5], &[4, 9]] {
        assert_eq!(all(reader(&pool, wire, sizes)), want, "{sizes:?}");
        let pending = pool.length_delimited(Chunked::new(wire.to_vec(), sizes).pending());
        assert_eq!(all(pending), want, "{sizes:?} pending");
    }
}

#[test]
fn incomplete_head_or_payload_at_the_end_is_an_error() {
    let pool = BufferPool::new();
    assert_eq!(all(reader(&pool, b"\x00\x00", &[])), vec![Err(ErrorKind::UnexpectedEof)]);
    assert_eq!(all(reader(&pool, b"\x00", &[1]).length_field_length(2)), vec![Err(ErrorKind::UnexpectedEof)]);
    assert_eq!(all(reader(&pool, b"\x00\x00\x00\x09abcd", &[6, 2])), vec![Err(ErrorKind::UnexpectedEof)]);
}

#[test]
fn max_len_bounds_the_field_value() {
    let pool = BufferPool::new();
    let wire = b"\x00\x00\x00\x09abcdefghi\x00\x00\x00\x02ok";
    assert_eq!(all(reader(&pool, wire, &[]).max_len(5)), vec![Err(ErrorKind::InvalidData), Ok(b"ok".to_vec())]);
    // Checked before the adjustment, as `max_frame_length` is: a field of
    // 6 is refused at max_len 5 even though the payload is 4 bytes.
    let wire = b"\x00\x06abcd";
    let f = reader(&pool, wire, &[]).length_field_length(2).length_adjustment(-2).max_len(5);
    assert_eq!(all(f), vec![Err(ErrorKind::InvalidData)]);
    let f = reader(&pool, wire, &[]).length_field_length(2).length_adjustment(-2).max_len(6);
    assert_eq!(all(f), oks(&[b"abcd"]));
}

#[test]
fn max_len_lowered_at_rest_applies_to_the_next_frame() {
    let pool = BufferPool::new();
    let wire = b"\x00\x00\x00\x09abcdefghi\x00\x00\x00\x09abcdefghi";
    let mut f = reader(&pool, wire, &[13]);
    assert_eq!(block_on(f.next_frame()).unwrap().unwrap(), "abcdefghi");
    let mut f = f.max_len(5);
    assert_eq!(block_on(f.next_frame()).unwrap_err().kind(), ErrorKind::InvalidData);
}

#[test]
fn one_byte_field_and_a_field_after_a_header() {
    let pool = BufferPool::new();
    assert_eq!(all(reader(&pool, b"\x09abcdefghi", &[]).length_field_length(1)), oks(&[b"abcdefghi"]));
    let f = reader(&pool, b"zzzz\x00\x09abcdefghi", &[]).length_field_length(2).length_field_offset(4);
    assert_eq!(all(f), oks(&[b"abcdefghi"]));
}

#[test]
fn header_kept_with_num_skip_zero_and_a_positive_adjustment() {
    let pool = BufferPool::new();
    let wire = b"xx\x00\x09abcdefghiyy\x00\x03123zz\x00\x0bhello world";
    let f = reader(&pool, wire, &[3]).length_field_length(2).length_field_offset(2).num_skip(0).length_adjustment(4);
    assert_eq!(all(f), oks(&[b"xx\x00\x09abcdefghi", b"yy\x00\x03123", b"zz\x00\x0bhello world"]));
}

#[test]
fn num_skip_past_the_field() {
    // A 3-byte length, then one byte (flags) dropped with it.
    let pool = BufferPool::new();
    let f = reader(&pool, b"\x00\x00\x0b\x0cHello world", &[]).length_field_length(3).num_skip(4);
    assert_eq!(all(f), oks(&[b"Hello world"]));
}

#[test]
fn length_that_counts_its_own_field() {
    let pool = BufferPool::new();
    let wire = b"\x00\x0babcdefghi\x00\x05123\x00\x0dhello world";
    let f = reader(&pool, wire, &[5]).length_field_length(2).length_adjustment(-2);
    assert_eq!(all(f), oks(&[b"abcdefghi", b"123", b"hello world"]));
}

#[test]
fn eight_byte_fields_in_both_orders() {
    let pool = BufferPool::new();
    let mut be = 3u64.to_be_bytes().to_vec();
    be.extend_from_slice(b"abc");
    let mut le = 3u64.to_le_bytes().to_vec();
    le.extend_from_slice(b"abc");
    assert_eq!(all(reader(&pool, &be, &[]).length_field_length(8)), oks(&[b"abc"]));
    assert_eq!(all(reader(&pool, &le, &[]).length_field_length(8).little_endian()), oks(&[b"abc"]));
    // The largest 8-byte value: refused by max_len and skipped...
    let f = reader(&pool, &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1], &[]).length_field_length(8);
    assert_eq!(all(f), vec![Err(ErrorKind::InvalidData), Err(ErrorKind::UnexpectedEof)]);
    // ... and, with no limit, a frame whose extent overflows `usize` is no
    // frame; nothing is allocated for it.
    let f = reader(&pool, &[0xff; 8], &[]).length_field_length(8).max_len(usize::MAX);
    assert_eq!(all(f), vec![Err(ErrorKind::InvalidData)]);
    assert!(pool.stats().outstanding_bytes < 1 << 20);
}

#[test]
fn the_issue_example_layout() {
    // `.length_field_length(2).little_endian().length_adjustment(-2).num_skip(2)`
    let pool = BufferPool::new();
    let wire = b"\x07\x00hello\x02\x00\x04\x00hi";
    let f = reader(&pool, wire, &[2])
        .length_field_length(2)
        .little_endian()
        .length_adjustment(-2)
        .num_skip(2)
        .max_len(1 << 20);
    assert_eq!(all(f), oks(&[b"hello", b"", b"hi"]));
}

#[test]
fn a_length_that_gives_no_frame_ends_the_reader() {
    let pool = BufferPool::new();
    // Negative after the adjustment.
    let f = reader(&pool, b"\x01\x00\x00\x00\x05more", &[]).length_field_length(1).length_adjustment(-2);
    assert_eq!(all(f), vec![Err(ErrorKind::InvalidData)]);
    // Nothing skipped and shorter than its header: without the check this
    // would hand out the same empty frame forever.
    let mut f = reader(&pool, b"\x00\x01x", &[]).length_field_length(2).num_skip(0);
    assert_eq!(block_on(f.next_frame()).unwrap_err().kind(), ErrorKind::InvalidData);
    assert_eq!(block_on(f.next_frame()).unwrap(), None);
    assert_eq!(block_on(f.next_frame()).unwrap(), None, "the reader stays ended");
    assert_eq!(f.buffer(), b"", "buffered bytes are dropped");
    // An 8-byte value with a positive adjustment that overflows.
    let f = reader(&pool, &[0xff; 9], &[]).length_field_length(8).length_adjustment(1).max_len(usize::MAX);
    assert_eq!(all(f), vec![Err(ErrorKind::InvalidData)]);
    assert_eq!(pool.stats().outstanding_buffers, 0);
}

#[test]
#[should_panic(expected = "length_field_length must be 1 to 8 bytes, not 9")]
fn a_field_wider_than_8_bytes_is_refused() {
    let _ = BufferPool::new().length_delimited(&b""[..]).length_field_length(9);
}

/// A layout and frames encoded in it, for the proptest.
#[derive(Debug, Clone)]
struct Case {
    len: usize,
    offset: usize,
    big: bool,
    adjustment: isize,
    /// Keep the header in each frame (num_skip 0) or skip it (the default).
    keep_header: bool,
    bodies: Vec<Vec<u8>>,
}

impl Case {
    /// The wire bytes: per frame, `offset` tag bytes, the field, the body.
    /// The field holds what makes `LengthDelimitedCodec` find the body.
    fn wire(&self) -> Option<Vec<u8>> {
        let head = self.offset + self.len;
        let mut out = Vec::new();
        for body in &self.bodies {
            let skip = if self.keep_header { 0 } else { head };
            // total = skip + value + adjustment = head + body.len()
            let value = (head + body.len()) as i64 - skip as i64 - self.adjustment as i64;
            if value < 0 || (self.len < 8 && value >= 1 << (8 * self.len)) {
                return None;
            }
            out.extend(std::iter::repeat_n(0xAA, self.offset));
            let bytes = (value as u64).to_be_bytes();
            let field = &bytes[8 - self.len..];
            if self.big {
                out.extend_from_slice(field);
            } else {
                out.extend(field.iter().rev());
            }
            out.extend_from_slice(body);
        }
        Some(out)
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..=8,
        0usize..4,
        any::<bool>(),
        -3isize..4,
        any::<bool>(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
    )
        .prop_map(|(len, offset, big, adjustment, keep_header, bodies)| Case {
            len,
            offset,
            big,
            adjustment,
            keep_header,
            bodies,
        })
}

/// What `FramedRead` with an equally configured `LengthDelimitedCodec` gives.
fn codec_frames(c: &Case, wire: &[u8], sizes: &[usize]) -> Vec<Item> {
    use futures::StreamExt;
    use tokio_util::compat::FuturesAsyncReadCompatExt;
    let mut b = tokio_util::codec::LengthDelimitedCodec::builder();
    b.length_field_length(c.len)
        .length_field_offset(c.offset)
        .length_adjustment(c.adjustment)
        .max_frame_length(usize::MAX);
    if !c.big {
        b.little_endian();
    }
    if c.keep_header {
        b.num_skip(0);
    }
    let mut framed = b.new_read(Chunked::new(wire.to_vec(), sizes).compat());
    block_on(async {
        let mut out = Vec::new();
        while let Some(item) = framed.next().await {
            out.push(item.map(|f| f.to_vec()).map_err(|e| e.kind()));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn layouts_match_length_delimited_codec(c in case(), sizes in prop::collection::vec(1usize..30, 1..6), read_size in 1usize..64) {
        let Some(wire) = c.wire() else { return Ok(()) };
        let pool = framing_util::pool_with_read_size(read_size);
        let mut f = pool.length_delimited(Chunked::new(wire.clone(), &sizes))
            .length_field_length(c.len)
            .length_field_offset(c.offset)
            .length_adjustment(c.adjustment)
            .max_len(usize::MAX);
        if !c.big {
            f = f.little_endian();
        }
        if c.keep_header {
            f = f.num_skip(0);
        }
        let ours = all(f);
        prop_assert_eq!(&ours, &codec_frames(&c, &wire, &sizes));
        prop_assert_eq!(ours.len(), c.bodies.len());
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }
}
