//! RESP2 replies, gathered for a whole pipelined batch and written with one
//! vectored write.
//!
//! Small pieces are appended (with `BufMut`) to one pooled buffer, taken at
//! the batch's first reply and back in the pool after the write, so an idle
//! connection holds none. A value of [`BY_REFERENCE`] bytes or more is not
//! copied into it: the stored `Bytes` is kept beside the buffer and handed to
//! the kernel as its own `IoSlice`.

use bufpool::{BufferPool, PooledBuffer};
use bytes::{BufMut, Bytes};
use std::io::{self, IoSlice};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Values at least this long go out by reference; shorter ones cost less to
/// copy into the reply buffer than one more I/O vector does.
pub const BY_REFERENCE: usize = 512;

/// The reply buffer a batch starts with (the pool's smallest class); it
/// grows into larger pooled buffers when a batch needs more.
const FIRST_BUF: usize = 4096;

/// Entries the spliced-value table starts with (redis-benchmark's `-P 16`
/// batches fit).
const SPLICED_FIRST: usize = 16;

/// `writev` takes at most `IOV_MAX` (1024 on Linux) vectors a call.
const IOV_MAX: usize = 1024;

pub struct Replies {
    pool: BufferPool,
    buf: Option<PooledBuffer>,
    /// (offset in `buf`, value): `value` goes out after `buf[..offset]`.
    spliced: Vec<(usize, Bytes)>,
}

impl Replies {
    pub fn new(pool: &BufferPool) -> Self {
        Replies { pool: pool.clone(), buf: None, spliced: Vec::new() }
    }

    #[inline]
    fn buf(&mut self) -> &mut PooledBuffer {
        let pool = &self.pool;
        self.buf.get_or_insert_with(|| pool.with_capacity(FIRST_BUF))
    }

    /// True when nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.buf.as_ref().is_none_or(|b| b.is_empty()) && self.spliced.is_empty()
    }

    /// Appends bytes that are already RESP.
    #[inline]
    pub fn raw(&mut self, resp: &[u8]) {
        self.buf().put_slice(resp);
    }

    /// `+OK`.
    #[inline]
    pub fn ok(&mut self) {
        self.raw(b"+OK\r\n");
    }

    /// `$-1`, the nil bulk string.
    #[inline]
    pub fn nil(&mut self) {
        self.raw(b"$-1\r\n");
    }

    /// An error reply. CR and LF in `msg` become spaces: they would end the
    /// reply early and let input smuggle replies of its own.
    pub fn error(&mut self, msg: &str) {
        let buf = self.buf();
        buf.put_u8(b'-');
        for &b in msg.as_bytes() {
            buf.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        buf.put_slice(b"\r\n");
    }

    /// `:<n>`.
    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    /// `*<n>`, an array of `n` replies that follow.
    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A bulk string, copied.
    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        let buf = self.buf();
        buf.put_slice(data);
        buf.put_slice(b"\r\n");
    }

    /// A stored value as a bulk string: copied when short, spliced in by
    /// reference when long.
    #[inline]
    pub fn value(&mut self, value: &Bytes) {
        if value.len() < BY_REFERENCE {
            return self.bulk(value);
        }
        self.header(b'$', value.len() as i64);
        let at = self.buf().len();
        if self.spliced.capacity() == 0 {
            // The table is freed after every batch; sized for a typical
            // pipeline at once, it is not regrown (and copied) entry by entry.
            self.spliced.reserve(SPLICED_FIRST);
        }
        self.spliced.push((at, value.clone()));
        self.raw(b"\r\n");
    }

    #[inline]
    fn header(&mut self, kind: u8, n: i64) {
        let mut digits = [0u8; 24];
        let text = format_i64(n, &mut digits);
        let buf = self.buf();
        buf.put_u8(kind);
        buf.put_slice(text);
        buf.put_slice(b"\r\n");
    }

    /// Writes everything gathered with vectored writes, then gives the reply
    /// buffer back to the pool and lets go of the spliced values.
    pub async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<()> {
        let Some(buf) = self.buf.take() else { return Ok(()) };
        if self.spliced.is_empty() {
            return w.write_all(&buf).await;
        }
        let mut slices = Vec::with_capacity(2 * self.spliced.len() + 1);
        let mut at = 0;
        for (offset, value) in &self.spliced {
            if *offset > at {
                slices.push(IoSlice::new(&buf[at..*offset]));
            }
            slices.push(IoSlice::new(value));
            at = *offset;
        }
        if at < buf.len() {
            slices.push(IoSlice::new(&buf[at..]));
        }
        let written = write_all_vectored(w, &mut slices).await;
        drop(slices);
        // Freed rather than cleared: an idle connection keeps no table.
        self.spliced = Vec::new();
        written
    }

    /// Everything gathered, as one byte string, and the buffer emptied (for
    /// tests and the in-memory session).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(buf) = self.buf.take() {
            let mut at = 0;
            for (offset, value) in self.spliced.drain(..) {
                out.extend_from_slice(&buf[at..offset]);
                out.extend_from_slice(&value);
                at = offset;
            }
            out.extend_from_slice(&buf[at..]);
        }
        out
    }
}

/// `write_all` over I/O vectors, at most `IOV_MAX` a call.
async fn write_all_vectored<W: AsyncWrite + Unpin>(w: &mut W, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        let n = w.write_vectored(&slices[..slices.len().min(IOV_MAX)]).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// `n` in decimal, in `out`, without going through `fmt`.
fn format_i64(n: i64, out: &mut [u8; 24]) -> &[u8] {
    let mut i = out.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        out[i] = b'-';
    }
    &out[i..]
}
