//! The read and framing layers against hostile readers, compared with the
//! tokio / tokio-util types they stand in for on the same script of events:
//! data cut at random points, `Pending` after scribbling over the lent slice,
//! errors midway, and end of input followed by more data.
//! `bufpool::BufReader` against `tokio::io::BufReader`, `LineReader` against
//! `FramedRead<LinesCodec>`, `pool.framed_read` against `FramedRead` with
//! `LengthDelimitedCodec`s of random options, and `FrameReader` with random
//! layouts (`num_skip` past the field included) against a model.

use bufpool::BufferPool;
use futures::StreamExt;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{Context, Poll};

#[derive(Clone, Debug)]
enum Ev {
    /// Bytes, cut to the caller's slice (the rest comes at the next read).
    Data(Vec<u8>),
    /// `Pending` (waking at once), after writing junk over the lent slice.
    Pending,
    /// One 0-byte read.
    Eof,
    /// One error.
    Fail,
}

/// Plays a script of events to futures-io or tokio readers alike; past the
/// script, every read is end of input.
struct Player {
    evs: VecDeque<Ev>,
}

impl Player {
    fn new(evs: &[Ev]) -> Self {
        Player { evs: evs.iter().cloned().collect() }
    }

    fn next(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.evs.pop_front() {
            None | Some(Ev::Eof) => Poll::Ready(Ok(0)),
            Some(Ev::Fail) => Poll::Ready(Err(io::Error::other("scripted failure"))),
            Some(Ev::Pending) => {
                buf.fill(0xEE);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(Ev::Data(mut d)) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                if n < d.len() {
                    d.drain(..n);
                    self.evs.push_front(Ev::Data(d));
                }
                Poll::Ready(Ok(n))
            }
        }
    }
}

impl futures_io::AsyncRead for Player {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.get_mut().next(cx, buf)
    }
}

impl tokio::io::AsyncRead for Player {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self.get_mut().next(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Data cut into random pieces, with pauses, failures and ends of input
/// sprinkled between them.
fn script(data: Vec<u8>, cuts: Vec<prop::sample::Index>, evs: Vec<(prop::sample::Index, u8)>) -> Vec<Ev> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    at.push(0);
    at.push(data.len());
    at.sort_unstable();
    at.dedup();
    let mut out: Vec<Ev> = at.windows(2).map(|w| Ev::Data(data[w[0]..w[1]].to_vec())).collect();
    for (i, kind) in evs {
        let pos = i.index(out.len() + 1);
        let ev = match kind % 4 {
            0 | 1 => Ev::Pending,
            2 => Ev::Eof,
            _ => Ev::Fail,
        };
        out.insert(pos, ev);
    }
    out
}

fn events(max: usize) -> impl Strategy<Value = Vec<(prop::sample::Index, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..max)
}

fn cuts() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    prop::collection::vec(any::<prop::sample::Index>(), 0..12)
}

fn cases() -> u32 {
    if std::env::var_os("BUFPOOL_SLOW_CHECKER").is_some() {
        6
    } else {
        128
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime")
}

/// What one step of a buffered-reader session gave: bytes or an error kind.
type Out = Result<Vec<u8>, ErrorKind>;

#[derive(Clone, Debug)]
enum Op {
    ReadLine,
    ReadUntil(u8),
    /// `fill_buf`, then `consume(k % (available + 1))`.
    FillConsume(usize),
    /// A plain read into a slice of this many bytes.
    Read(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::ReadLine),
        (0u8..4).prop_map(|b| Op::ReadUntil(b"\nab\0"[b as usize])),
        any::<usize>().prop_map(Op::FillConsume),
        (1usize..100).prop_map(Op::Read),
    ]
}

async fn run_tokio<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, ops: &[Op]) -> Vec<Out> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut out = Vec::new();
    for op in ops {
        let got = match op {
            Op::ReadLine => {
                let mut s = Vec::new();
                r.read_until(b'\n', &mut s).await.map(|_| s)
            }
            Op::ReadUntil(b) => {
                let mut s = Vec::new();
                r.read_until(*b, &mut s).await.map(|_| s)
            }
            Op::FillConsume(k) => match r.fill_buf().await {
                Ok(data) => {
                    let n = k % (data.len() + 1);
                    let v = data[..n].to_vec();
                    r.consume(n);
                    Ok(v)
                }
                Err(e) => Err(e),
            },
            Op::Read(n) => {
                let mut s = vec![0; *n];
                r.read(&mut s).await.map(|k| s[..k].to_vec())
            }
        };
        out.push(got.map_err(|e| e.kind()));
    }
    out
}

async fn run_futures<R: futures::io::AsyncBufRead + Unpin>(r: &mut R, ops: &[Op]) -> Vec<Out> {
    use futures::io::{AsyncBufReadExt, AsyncReadExt};
    let mut out = Vec::new();
    for op in ops {
        let got = match op {
            Op::ReadLine => {
                let mut s = Vec::new();
                r.read_until(b'\n', &mut s).await.map(|_| s)
            }
            Op::ReadUntil(b) => {
                let mut s = Vec::new();
                r.read_until(*b, &mut s).await.map(|_| s)
            }
            Op::FillConsume(k) => match r.fill_buf().await {
                Ok(data) => {
                    let n = k % (data.len() + 1);
                    let v = data[..n].to_vec();
                    r.consume_unpin(n);
                    Ok(v)
                }
                Err(e) => Err(e),
            },
            Op::Read(n) => {
                let mut s = vec![0; *n];
                r.read(&mut s).await.map(|k| s[..k].to_vec())
            }
        };
        out.push(got.map_err(|e| e.kind()));
    }
    out
}

/// ASCII with many line ends and carriage returns (`LinesCodec` wants text).
fn text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), 0x20u8..0x7f], 0..400)
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'b'), Just(0u8), Just(b'\r'), any::<u8>()], 0..400)
}

/// Polls a stream until it has ended `ends` times (it is not fused: after a
/// `None` it reads again), or 10,000 items; `None` marks each end.
///
/// tokio-util's `FramedRead` ends the stream (a `None`) after an I/O error;
/// `LineReader` and `FrameReader` return the error and read on. With
/// `io_error_ends`, a `None` right after an I/O error (`Other` here) is left
/// out, so the two compare.
async fn drain<S, T, E>(
    s: &mut S,
    ends: usize,
    io_error_ends: bool,
    conv: impl Fn(T) -> Vec<u8>,
    kind: impl Fn(&E) -> ErrorKind,
) -> Vec<Option<Out>>
where
    S: futures::Stream<Item = Result<T, E>> + Unpin,
{
    let mut out: Vec<Option<Out>> = Vec::new();
    let mut seen = 0;
    let mut after_io_error = false;
    while seen < ends && out.len() < 10_000 {
        let next = s.next().await;
        let skip = io_error_ends && after_io_error && next.is_none();
        after_io_error = false;
        match next {
            None if skip => {}
            None => {
                seen += 1;
                out.push(None);
            }
            Some(Ok(t)) => out.push(Some(Ok(conv(t)))),
            Some(Err(e)) => {
                after_io_error = kind(&e) == ErrorKind::Other;
                out.push(Some(Err(kind(&e))));
            }
        }
    }
    out
}

fn ends_in(evs: &[Ev]) -> usize {
    evs.iter().filter(|e| matches!(e, Ev::Eof | Ev::Fail)).count() + 2
}

/// `LengthDelimitedCodec` options drawn at random, and the same on a
/// `FrameReader`. num_skip stays within the header, where the codec is
/// defined for any buffering (it advances past `num_skip` buffered bytes).
#[derive(Clone, Debug)]
struct Layout {
    len: usize,
    offset: usize,
    big: bool,
    adjustment: isize,
    num_skip: Option<usize>,
    max_len: usize,
}

fn layout() -> impl Strategy<Value = Layout> {
    (1usize..=4, 0usize..3, any::<bool>(), -6isize..6, any::<Option<prop::sample::Index>>(), 0usize..300).prop_map(
        |(len, offset, big, adjustment, skip, max_len)| Layout {
            len,
            offset,
            big,
            adjustment,
            num_skip: skip.map(|i| i.index(offset + len + 1)),
            max_len,
        },
    )
}

impl Layout {
    fn codec(&self) -> tokio_util::codec::LengthDelimitedCodec {
        let mut b = tokio_util::codec::LengthDelimitedCodec::builder();
        b.length_field_length(self.len)
            .length_field_offset(self.offset)
            .length_adjustment(self.adjustment)
            .max_frame_length(self.max_len);
        if !self.big {
            b.little_endian();
        }
        if let Some(s) = self.num_skip {
            b.num_skip(s);
        }
        b.new_codec()
    }

    /// A wire of frames valid for this layout (and for the codec: a frame
    /// never ends inside its own header), with payloads of `bodies`' sizes.
    fn wire(&self, bodies: &[Vec<u8>]) -> Vec<u8> {
        let head = self.offset + self.len;
        let skip = self.num_skip.unwrap_or(head);
        let mut out = Vec::new();
        for body in bodies {
            // Frame on the wire: `head` header bytes then `body`; its length
            // field says total - skip - adjustment.
            let total = head + body.len();
            let value = total as i64 - skip as i64 - self.adjustment as i64;
            if value < 0 || value >= 1i64 << (8 * self.len.min(7)) {
                continue;
            }
            let mut h = vec![b'T'; self.offset];
            let bytes = (value as u64).to_be_bytes();
            let mut field = bytes[8 - self.len..].to_vec();
            if !self.big {
                field.reverse();
            }
            h.extend(field);
            out.extend(h);
            out.extend(body);
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn buf_reader_matches_tokio_buf_reader(
        d in data(), c in cuts(), e in events(8), ops in prop::collection::vec(op(), 1..40), zero in any::<bool>(),
    ) {
        let evs = script(d, c, e);
        let pool = BufferPool::builder()
            .zeroing(if zero { bufpool::Zeroing::OnReturn } else { bufpool::Zeroing::Never })
            .build()
            .unwrap();
        let rt = rt();
        let theirs = rt.block_on(run_tokio(&mut tokio::io::BufReader::with_capacity(64, Player::new(&evs)), &ops));
        let ours_t = rt.block_on(run_tokio(&mut bufpool::BufReader::with_read_size(&pool, 64, Player::new(&evs)), &ops));
        prop_assert_eq!(&ours_t, &theirs, "tokio family, script {:?}", evs);
        let ours_f = futures::executor::block_on(run_futures(&mut bufpool::BufReader::with_read_size(&pool, 64, Player::new(&evs)), &ops));
        let theirs_f = futures::executor::block_on(run_futures(&mut futures::io::BufReader::with_capacity(64, Player::new(&evs)), &ops));
        prop_assert_eq!(&ours_f, &theirs_f, "futures family, script {:?}", evs);
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }

    #[test]
    fn lines_match_framed_read_lines_codec(d in text(), c in cuts(), e in events(8), copy_below in prop_oneof![Just(0usize), Just(usize::MAX), 0usize..20]) {
        let evs = script(d, c, e);
        let ends = ends_in(&evs);
        let rt = rt();
        let theirs = rt.block_on(async {
            let mut f = tokio_util::codec::FramedRead::new(Player::new(&evs), tokio_util::codec::LinesCodec::new());
            drain(&mut f, ends, true, |s: String| s.into_bytes(), |e: &tokio_util::codec::LinesCodecError| match e {
                tokio_util::codec::LinesCodecError::Io(e) => e.kind(),
                _ => ErrorKind::InvalidData,
            }).await
        });
        // LinesCodec gives `String`s: an invalid UTF-8 line is its error, not
        // ours; compare only inputs where every line is text.
        prop_assume!(!theirs.iter().any(|x| matches!(x, Some(Err(ErrorKind::InvalidData)))));
        let pool = framing_pool();
        let ours = rt.block_on(async {
            let mut l = pool.lines_tokio(Player::new(&evs)).copy_below(copy_below);
            drain(&mut l, ends, false, |b: bytes::Bytes| b.to_vec(), |e: &io::Error| e.kind()).await
        });
        prop_assert_eq!(&ours, &theirs, "script {:?}", evs);
        let ours_f = futures::executor::block_on(async {
            let mut l = pool.lines(Player::new(&evs)).copy_below(copy_below);
            drain(&mut l, ends, false, |b: bytes::Bytes| b.to_vec(), |e: &io::Error| e.kind()).await
        });
        prop_assert_eq!(&ours_f, &theirs, "futures family, script {:?}", evs);
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }

    #[test]
    fn framed_read_matches_framed_read_on_random_layouts(
        l in layout(),
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8),
        junk in prop::collection::vec(any::<u8>(), 0..6),
        c in cuts(), e in events(6),
    ) {
        let mut wire = l.wire(&bodies);
        wire.extend(junk); // often an unfinished frame at the end
        let evs = script(wire, c, e);
        let ends = ends_in(&evs);
        let rt = rt();
        let theirs = rt.block_on(async {
            let mut f = tokio_util::codec::FramedRead::new(Player::new(&evs), l.codec());
            drain(&mut f, ends, false, |b: bytes::BytesMut| b.to_vec(), |e: &io::Error| e.kind()).await
        });
        // Reads as large as FramedRead's (its 8 KiB buffer takes each
        // scripted piece whole): an error that stays in the buffer repeats
        // once per read, so the read sizes must agree.
        let pool = BufferPool::new();
        let ours = rt.block_on(async {
            let mut f = pool.framed_read(Player::new(&evs), l.codec());
            drain(&mut f, ends, false, |b: bytes::BytesMut| b.to_vec(), |e: &io::Error| e.kind()).await
        });
        prop_assert_eq!(&ours, &theirs, "layout {:?} script {:?}", l, evs);
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }

    #[test]
    fn frame_reader_matches_a_model_with_num_skip_anywhere(
        len in 1usize..=8, offset in 0usize..4, big in any::<bool>(), adjustment in -12isize..12,
        extra_skip in prop::option::of(0usize..16),
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..30), 0..6),
        c in cuts(), e in events(6), copy_below in prop_oneof![Just(0usize), Just(usize::MAX), 0usize..20],
    ) {
        // The model: each frame's wire is `head_len` header bytes (the field
        // at `offset`, the rest filler) and a body; the reader hands out
        // wire[skip..].
        let field_end = offset + len;
        let skip = extra_skip.unwrap_or(field_end);
        let head_len = field_end.max(skip);
        let mut wire = Vec::new();
        let mut expect = Vec::new();
        for body in &bodies {
            let total = head_len + body.len();
            let value = total as i64 - skip as i64 - adjustment as i64;
            if value < 0 || (len < 8 && value >= 1i64 << (8 * len)) {
                continue;
            }
            let mut frame = vec![b'H'; head_len];
            let be = (value as u64).to_be_bytes();
            let mut field = be[8 - len..].to_vec();
            if !big {
                field.reverse();
            }
            frame[offset..field_end].copy_from_slice(&field);
            frame.extend(body);
            expect.push(frame[skip..].to_vec());
            wire.extend(frame);
        }
        // The script fails and ends of input only between whole frames is
        // not guaranteed, so compare with no events but pauses.
        let e: Vec<_> = e.into_iter().map(|(i, _)| (i, 0u8)).collect();
        let evs = script(wire, c, e);
        let pool = framing_pool();
        let mut f = pool.length_delimited(Player::new(&evs))
            .length_field_length(len).length_field_offset(offset).length_adjustment(adjustment)
            .max_len(usize::MAX).copy_below(copy_below);
        f = if big { f.big_endian() } else { f.little_endian() };
        if let Some(s) = extra_skip {
            f = f.num_skip(s);
        }
        let got: Vec<Vec<u8>> = futures::executor::block_on(async {
            let mut v = Vec::new();
            while let Some(x) = f.next().await {
                v.push(x.expect("valid frames").to_vec());
            }
            v
        });
        prop_assert_eq!(got, expect);
        drop(f);
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }
}

fn framing_pool() -> BufferPool {
    // Small reads, so frames and lines straddle them.
    BufferPool::builder().read_size(16).min_buffer_size(1).build().unwrap()
}

/// Polls a fresh `next()` future once at a time, dropping it whenever it
/// pends (a `select!` that picked another branch), until the stream ends.
fn poll_cancelling<S: futures::Stream + Unpin>(s: &mut S, cap: usize) -> Vec<Option<S::Item>> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut out = Vec::new();
    let mut ends = 0;
    while ends < 2 && out.len() < cap {
        let mut next = s.next();
        if let Poll::Ready(x) = Pin::new(&mut next).poll(&mut cx) {
            ends += usize::from(x.is_none());
            out.push(x);
        }
    }
    out
}

use std::future::Future;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn cancelling_after_every_pending_loses_no_line_or_frame(
        d in text(), c in cuts(), e in events(10),
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8),
    ) {
        // Pauses only (ends of input and failures would end the stream).
        let e: Vec<_> = e.into_iter().map(|(i, _)| (i, 0u8)).collect();
        let evs = script(d.clone(), c.clone(), e.clone());
        let pool = framing_pool();
        let plain = |evs: &[Ev]| -> Vec<Vec<u8>> {
            futures::executor::block_on(pool.lines(Player::new(evs)).map(|x| x.unwrap().to_vec()).collect())
        };
        let want = plain(&script(d, vec![], vec![]));
        let mut l = pool.lines(Player::new(&evs));
        let got: Vec<Vec<u8>> = poll_cancelling(&mut l, 10_000).into_iter().flatten().map(|x| x.unwrap().to_vec()).collect();
        prop_assert_eq!(&got, &want);
        let wire: Vec<u8> = bodies.iter().flat_map(|b| [&(b.len() as u32).to_be_bytes()[..], b].concat()).collect();
        let mut f = pool.length_delimited(Player::new(&script(wire, c, e)));
        let got: Vec<Vec<u8>> = poll_cancelling(&mut f, 10_000).into_iter().flatten().map(|x| x.unwrap().to_vec()).collect();
        prop_assert_eq!(got, bodies);
        drop((l, f));
        prop_assert_eq!(pool.stats().outstanding_buffers, 0);
    }
}
