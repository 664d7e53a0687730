//! Helpers shared by the framing tests: a reader that hands out its input in
//! chunks of chosen sizes, optionally returning `Pending` before each chunk.
#![allow(dead_code)]

use bufpool::BufferPool;
use futures_io::AsyncRead;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Returns `data` in chunks of `sizes[0]`, `sizes[1]`, ... (cycling; a 0 is
/// read as 1), never more than the caller's buffer.
pub struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    next: usize,
    /// Return `Pending` (and wake at once) before every chunk.
    pend: bool,
    pended: bool,
    /// An error to return once, before the chunk at this input offset.
    pub fail_at: Option<usize>,
}

impl Chunked {
    pub fn new(data: impl Into<Vec<u8>>, sizes: &[usize]) -> Self {
        let sizes = if sizes.is_empty() { vec![usize::MAX] } else { sizes.to_vec() };
        Chunked { data: data.into(), pos: 0, sizes, next: 0, pend: false, pended: false, fail_at: None }
    }

    /// Two reads: `..at`, then the rest.
    pub fn split_at(data: impl Into<Vec<u8>>, at: usize) -> Self {
        let data = data.into();
        let rest = data.len().saturating_sub(at).max(1);
        Self::new(data, &[at.max(1), rest]).with_first(at)
    }

    fn with_first(mut self, at: usize) -> Self {
        if at == 0 {
            // A zero-byte first piece is just one read of everything.
            self.sizes = vec![usize::MAX];
        }
        self
    }

    /// Input bytes handed out so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn pending(mut self) -> Self {
        self.pend = true;
        self
    }
}

impl AsyncRead for Chunked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pend && !this.pended && this.pos < this.data.len() {
            this.pended = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pended = false;
        if this.fail_at == Some(this.pos) {
            this.fail_at = None;
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "injected")));
        }
        let size = this.sizes[this.next % this.sizes.len()].max(1);
        this.next += 1;
        let n = size.min(buf.len()).min(this.data.len() - this.pos);
        buf[..n].copy_from_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

/// Lines as `split` on `\n` gives them: a trailing empty piece (input ending in
/// `\n`, or empty input) or a trailing lone `\r` is not a line, and one `\r`
/// before each `\n` (or at the very end) is part of the line ending.
pub fn model_lines(input: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    // The last piece has no `\n` after it: empty, or a lone `\r` (all
    // line ending, as `LinesCodec::decode_eof` has it), it is not a line.
    if parts.last().is_some_and(|p| p.is_empty() || *p == b"\r") {
        parts.pop();
    }
    parts.into_iter().map(|p| p.strip_suffix(b"\r").unwrap_or(p).to_vec()).collect()
}

/// Length-prefixed encoding of `frames`.
pub fn encode_frames(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// A pool whose reads ask for `read_size` bytes; with a tiny `min_buffer_size`
/// small requests get buffers of exactly that size, so small read sizes
/// really produce small buffers.
pub fn pool_with_read_size(read_size: usize) -> BufferPool {
    BufferPool::builder().read_size(read_size).min_buffer_size(1).build().expect("valid config")
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// Polls `poll` to the end of input by hand; at each `Pending` records the
/// pool's outstanding buffers (what the reader holds while it waits; the lent
/// read buffer must be back by then). Returns the items and those counts.
pub fn poll_to_end<T>(
    pool: &BufferPool,
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<io::Result<Option<T>>>,
) -> (Vec<T>, Vec<u64>) {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let (mut items, mut seen) = (Vec::new(), Vec::new());
    loop {
        match poll(&mut cx) {
            Poll::Pending => seen.push(pool.stats().outstanding_buffers),
            Poll::Ready(Ok(Some(t))) => items.push(t),
            Poll::Ready(Ok(None)) => return (items, seen),
            Poll::Ready(Err(e)) => panic!("unexpected error {e}"),
        }
    }
}

/// Hands out `script` one entry per read (cut to the caller's buffer, the
/// rest kept for the next read); an empty entry is one end of input (a
/// 0-byte read), after which later entries still come, as from a file that
/// grows or a terminal after Ctrl-D. Past the end of the script, every read
/// is end of input.
pub struct Script {
    script: std::collections::VecDeque<Vec<u8>>,
}

impl Script {
    pub fn new(script: &[&[u8]]) -> Self {
        Script { script: script.iter().map(|s| s.to_vec()).collect() }
    }
}

impl AsyncRead for Script {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let Some(mut next) = self.script.pop_front() else { return Poll::Ready(Ok(0)) };
        let n = next.len().min(buf.len());
        buf[..n].copy_from_slice(&next[..n]);
        if n < next.len() {
            next.drain(..n);
            self.script.push_front(next);
        }
        Poll::Ready(Ok(n))
    }
}
