//! One connection's protocol state, with no I/O: the bytes received and not
//! yet parsed, the parser's progress, a discard in progress, and the
//! replies gathered for the batch.
//!
//! Every complete command in the input runs before any reply is written, so
//! a pipelined batch gets one vectored write. Commands see their arguments
//! as borrowed slices of the pooled read buffer; only a value the store keeps
//! becomes a `Bytes` (see [`Args::keep`]).

use super::commands::{execute, Flow};
use super::parse::{Discard, Parser, Step};
use super::reply::Replies;
use super::store::Store;
use bufpool::{BufferPool, PooledBuffer};
use bytes::Bytes;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// A stored value shorter than this is copied out of the read buffer into
/// its own allocation; a longer one is a zero-copy `Bytes` slice of it.
///
/// A slice keeps its whole read buffer alive (16 KiB by default) for as
/// long as the value is stored, so slicing a short value would pin far more
/// memory than the value holds; copying 256 bytes costs about as much as the
/// allocation the copy needs, so below this nothing is saved by slicing.
/// This is the framing layer's `copy_below` policy, applied here by hand.
pub const COPY_BELOW: usize = 256;

/// A value is also copied when it fills less than 1/`PIN_RATIO` of the
/// buffer it arrived in, so a stored slice never keeps more than about
/// `PIN_RATIO` times its own size alive (a 300-byte value in a 16 KiB read
/// is copied; a 4 KiB value in it is sliced).
pub const PIN_RATIO: usize = 4;

/// Buffers for a command still arriving are sized for the bytes its headers
/// announce, but never more than this beyond what has arrived: a header
/// alone cannot make the server allocate half a gigabyte.
const MAX_PREALLOC: usize = 4 << 20;

/// What every connection shares.
pub struct Shared {
    pub pool: BufferPool,
    pub store: Store,
    /// Longest bulk string accepted (`--max-bulk`).
    pub max_bulk: usize,
    /// Commands run, summed at the end of each batch (`Relaxed`: a counter
    /// read for progress lines only, publishing nothing).
    pub commands: AtomicU64,
}

impl Shared {
    pub fn new(pool: BufferPool, max_bulk: usize) -> Self {
        Shared { pool, store: Store::default(), max_bulk, commands: AtomicU64::new(0) }
    }
}

/// The unparsed input.
enum Input {
    Empty,
    /// A pooled buffer, still writable: later reads append to it.
    Open(PooledBuffer),
    /// The same buffer frozen (because a stored value became a slice of
    /// it), and the capacity it had.
    Frozen(Bytes, usize),
}

impl Input {
    #[inline]
    fn data(&self) -> &[u8] {
        match self {
            Input::Empty => &[],
            Input::Open(b) => b,
            Input::Frozen(b, _) => b,
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Input::Empty => 0,
            Input::Open(b) => b.capacity(),
            Input::Frozen(_, cap) => *cap,
        }
    }

    /// The bytes at `range` as a `Bytes` slice, freezing the buffer first.
    fn slice(&mut self, range: Range<usize>) -> Bytes {
        if let Input::Open(_) = self {
            if let Input::Open(b) = std::mem::replace(self, Input::Empty) {
                let cap = b.capacity();
                *self = Input::Frozen(b.freeze(), cap);
            }
        }
        match self {
            Input::Frozen(b, _) => b.slice(range),
            _ => Bytes::new(),
        }
    }
}

/// A command's arguments: ranges of the input, relative to `base`.
pub struct Args<'a> {
    input: &'a mut Input,
    base: usize,
    spans: &'a [Range<usize>],
}

impl Args<'_> {
    #[inline]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Argument `i`, borrowed from the read buffer.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let r = &self.spans[i];
        &self.input.data()[self.base + r.start..self.base + r.end]
    }

    /// Argument `i` as a value the store may keep: a copy when short (or
    /// short beside its buffer), a slice of the read buffer otherwise.
    pub fn keep(&mut self, i: usize) -> Bytes {
        let r = self.spans[i].clone();
        let n = r.len();
        if n < COPY_BELOW || n.saturating_mul(PIN_RATIO) < self.input.capacity() {
            return copy_value(self.get(i));
        }
        self.input.slice(self.base + r.start..self.base + r.end)
    }
}

/// The deliberate copy of a short value (its own function, so profiles
/// attribute its `memcpy`).
#[inline(never)]
fn copy_value(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}

pub struct Session {
    input: Input,
    /// Where the next command starts in the input.
    start: usize,
    parser: Parser,
    discard: Discard,
    /// Total bytes (from `start`) the unfinished command is known to need.
    need: usize,
    quit: bool,
    pub replies: Replies,
}

impl Session {
    pub fn new(pool: &BufferPool) -> Self {
        Session {
            input: Input::Empty,
            start: 0,
            parser: Parser::default(),
            discard: Discard::Nothing,
            need: 0,
            quit: false,
            replies: Replies::new(pool),
        }
    }

    /// True once `QUIT` ran: the replies so far are to be written, and the
    /// connection closed.
    pub fn quit(&self) -> bool {
        self.quit
    }

    /// True when no input is held (the next read may take a fresh buffer).
    pub fn holds_nothing(&self) -> bool {
        matches!(self.input, Input::Empty)
    }

    /// Hands a freshly read buffer to a session that holds nothing.
    pub fn set_input(&mut self, buf: PooledBuffer) {
        debug_assert!(self.holds_nothing());
        self.input = Input::Open(buf);
        self.start = 0;
    }

    /// The buffer holding an unfinished command, with spare room for the
    /// next read to append to; `None` when nothing is held.
    pub fn partial(&mut self) -> Option<&mut PooledBuffer> {
        match &mut self.input {
            Input::Open(b) => Some(b),
            _ => None,
        }
    }

    /// Appends `data` as if one read had brought it (tests, and a client
    /// living in memory).
    pub fn feed(&mut self, shared: &Shared, data: &[u8]) -> u64 {
        match self.partial() {
            Some(b) => b.extend_from_slice(data),
            None => {
                let mut b = shared.pool.with_capacity(data.len());
                b.extend_from_slice(data);
                self.set_input(b);
            }
        }
        self.process(shared)
    }

    /// Runs every complete command in the input, gathering their replies,
    /// then keeps only the unfinished tail. Returns the number run.
    pub fn process(&mut self, shared: &Shared) -> u64 {
        let mut ran = 0;
        while !self.quit {
            let rest = &self.input.data()[self.start..];
            if self.discard != Discard::Nothing {
                self.start += self.discard.eat(rest);
                if self.discard != Discard::Nothing {
                    break;
                }
                continue;
            }
            if rest.is_empty() {
                break;
            }
            match self.parser.step(rest, shared.max_bulk) {
                Step::Command(len) => {
                    let mut args = Args { input: &mut self.input, base: self.start, spans: self.parser.args() };
                    if execute(shared, &mut args, &mut self.replies) == Flow::Quit {
                        self.quit = true;
                    }
                    ran += 1;
                    self.parser.reset();
                    self.start += len;
                }
                Step::Skip(len) => {
                    self.parser.reset();
                    self.start += len;
                }
                Step::Incomplete(need) => {
                    self.need = need;
                    break;
                }
                Step::Reject { msg, len, then } => {
                    self.replies.error(&msg);
                    self.parser.reset();
                    self.start += len;
                    self.discard = then;
                }
            }
        }
        shared.commands.fetch_add(ran, Ordering::Relaxed);
        self.keep_tail(shared);
        ran
    }

    /// Drops the consumed input. The read buffer goes home (unless stored
    /// slices keep it) when everything in it was used; an unfinished command
    /// stays, in a buffer with room for the rest of it.
    fn keep_tail(&mut self, shared: &Shared) {
        let len = self.input.data().len();
        if self.quit || self.start >= len {
            self.input = Input::Empty;
            self.start = 0;
            self.need = 0;
            return;
        }
        let read_size = shared.pool.config().read_size();
        let tail = len - self.start;
        let need = self.need.max(tail + 1);
        if let Input::Open(b) = &self.input {
            let room = b.capacity() - b.len();
            let must = (need - tail).min(read_size / 4).max(1);
            if self.start == 0 && room >= must && b.capacity() >= need.min(tail + MAX_PREALLOC) {
                return;
            }
        }
        let want = need.min(tail + MAX_PREALLOC).max(read_size).max(2 * tail);
        self.input = Input::Open(carry_tail(&shared.pool, &self.input.data()[self.start..], want));
        self.start = 0;
    }
}

/// The deliberate copy of an unfinished command's bytes into a buffer that
/// can hold the rest of it (its own function, so profiles attribute it).
#[inline(never)]
fn carry_tail(pool: &BufferPool, tail: &[u8], capacity: usize) -> PooledBuffer {
    let mut b = pool.with_capacity(capacity);
    b.extend_from_slice(tail);
    b
}
