//! RESP2 request parsing: multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and
//! inline (`GET k\r\n`) commands, as byte ranges of the read buffer.
//!
//! The parser never copies an argument: it records where each one lies,
//! relative to the start of the command, and the caller turns a range into a
//! borrowed `&[u8]` or a `Bytes` slice. It keeps its progress between calls,
//! so a command that arrives in many reads is scanned once, and its result
//! does not depend on where the reads split it.

use std::ops::Range;

/// Most arguments one multibulk command may declare (Redis's own limit).
pub const MAX_ARGS: i64 = 1024 * 1024;
/// Longest inline command line (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE: usize = 64 * 1024;
/// Longest `*<count>` or `$<len>` header line, CRLF included: a sign, 19
/// digits and the CRLF fit in 22; anything longer is not a number.
const MAX_HEADER: usize = 32;

/// What [`Parser::step`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A complete command of this many bytes; its arguments are
    /// [`Parser::args`].
    Command(usize),
    /// This many bytes that hold no command (an empty inline line, `*0`).
    Skip(usize),
    /// More bytes are needed; at least this many in all (from the command's
    /// start) are known to be needed, which may be fewer than already held.
    Incomplete(usize),
    /// A protocol error: reply with `msg`, drop `len` bytes, then drop what
    /// `then` says, so the next command is found where it starts.
    Reject { msg: String, len: usize, then: Discard },
}

/// Bytes to throw away after a rejected command.
#[derive(Debug, PartialEq, Eq, Clone, Copy, Default)]
pub enum Discard {
    /// Nothing: parse the next command.
    #[default]
    Nothing,
    /// `bytes` bytes, then `args` more bulk strings (`$<len>\r\n` and body):
    /// the rest of a command whose framing is known, such as one with an
    /// oversized bulk string, is skipped without being buffered.
    Bulk { bytes: u64, args: u64 },
    /// Everything up to and including the next `\n`.
    Line,
}

impl Discard {
    /// Drops what this discard covers from the front of `buf`; returns how
    /// many bytes it dropped. Afterwards either the discard is finished
    /// (`Nothing`) or all of `buf` was dropped or a header line is still
    /// incomplete.
    pub fn eat(&mut self, buf: &[u8]) -> usize {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match *self {
                Discard::Nothing => return at,
                Discard::Bulk { bytes, args } if bytes > 0 => {
                    let n = usize::try_from(bytes).unwrap_or(usize::MAX).min(rest.len());
                    at += n;
                    *self = Discard::Bulk { bytes: bytes - n as u64, args };
                    if n == rest.len() {
                        return at;
                    }
                }
                Discard::Bulk { args: 0, .. } => *self = Discard::Nothing,
                Discard::Bulk { args, .. } => match header(rest, b'$') {
                    Header::Incomplete => return at,
                    Header::Value(len, used) if len >= 0 => {
                        at += used;
                        *self = Discard::Bulk { bytes: len as u64 + 2, args: args - 1 };
                    }
                    // A malformed header: the framing is lost; resume at the
                    // next line.
                    _ => *self = Discard::Line,
                },
                Discard::Line => match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        at += i + 1;
                        *self = Discard::Nothing;
                    }
                    None => return buf.len(),
                },
            }
        }
    }
}

/// A parser of one command at a time, resumable across reads.
#[derive(Debug, Default)]
pub struct Parser {
    /// Argument ranges, relative to the command's first byte.
    args: Vec<Range<usize>>,
    /// Multibulk: the declared argument count, once its header is parsed.
    declared: Option<usize>,
    /// Multibulk: where the next argument's header starts.
    next: usize,
}

/// A parsed `*<n>` or `$<n>` header line.
enum Header {
    /// The number and the line's length (CRLF included).
    Value(i64, usize),
    /// The line has not ended yet (and is not yet too long).
    Incomplete,
    /// The line is not a number, or too long to be one.
    Bad,
    /// The line does not start with the expected marker byte.
    Marker(u8),
}

impl Parser {
    /// The arguments of the command [`step`](Parser::step) last returned,
    /// as ranges relative to the command's first byte.
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// Forgets the current command (after a `Command`, `Skip` or `Reject`).
    pub fn reset(&mut self) {
        self.args.clear();
        self.declared = None;
        self.next = 0;
        if self.args.capacity() > 8 {
            // An MSET's argument table is not kept by an idle connection.
            self.args = Vec::new();
        }
    }

    /// Parses the command at the start of `buf`, continuing where the
    /// previous call for the same command stopped (`buf` must start at the
    /// same command, with the bytes seen before unchanged).
    ///
    /// `max_bulk` bounds one bulk string; a longer one is rejected and its
    /// bytes are skipped, not buffered.
    pub fn step(&mut self, buf: &[u8], max_bulk: usize) -> Step {
        match buf.first() {
            None => Step::Incomplete(1),
            Some(b'*') => self.multibulk(buf, max_bulk),
            Some(_) => self.inline(buf),
        }
    }

    fn multibulk(&mut self, buf: &[u8], max_bulk: usize) -> Step {
        let count = match self.declared {
            Some(c) => c,
            None => match header(buf, b'*') {
                Header::Incomplete => return Step::Incomplete(buf.len() + 1),
                Header::Value(n, used) if n <= 0 => return Step::Skip(used),
                Header::Value(n, used) if n <= MAX_ARGS => {
                    self.declared = Some(n as usize);
                    self.next = used;
                    n as usize
                }
                Header::Value(_, used) => return reject("invalid multibulk length", used, Discard::Nothing),
                Header::Bad | Header::Marker(_) => return reject_line(buf, "invalid multibulk length"),
            },
        };
        while self.args.len() < count {
            let at = self.next;
            let rest = &buf[at..];
            let (len, used) = match header(rest, b'$') {
                Header::Incomplete => return Step::Incomplete(buf.len() + 1),
                Header::Value(len, used) if len >= 0 => (len as u64, used),
                Header::Value(..) | Header::Bad => return reject_line_at(buf, at, "invalid bulk length"),
                Header::Marker(got) => {
                    return reject_line_at(buf, at, &format!("expected '$', got '{}'", printable(got)));
                }
            };
            if len > max_bulk as u64 {
                // The framing is intact: skip this body and the remaining
                // arguments as they arrive, and reply once.
                let left = (count - self.args.len() - 1) as u64;
                let msg = format!("invalid bulk length ({len} is above --max-bulk {max_bulk})");
                return reject(&msg, at + used, Discard::Bulk { bytes: len + 2, args: left });
            }
            let start = at + used;
            let end = start + len as usize;
            if buf.len() < end + 2 {
                return Step::Incomplete(end + 2);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return reject("bulk string not followed by CRLF", end, Discard::Line);
            }
            self.args.push(start..end);
            self.next = end + 2;
        }
        Step::Command(self.next)
    }

    fn inline(&mut self, buf: &[u8]) -> Step {
        let Some(nl) = buf.iter().take(MAX_INLINE + 1).position(|&b| b == b'\n') else {
            if buf.len() > MAX_INLINE {
                // Drop what was scanned, then the rest of the line as it comes.
                return reject("too big inline request", MAX_INLINE + 1, Discard::Line);
            }
            return Step::Incomplete(buf.len() + 1);
        };
        let line = &buf[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.args.clear();
        if let Err(msg) = split_inline(line, &mut self.args) {
            self.args.clear();
            return reject(msg, nl + 1, Discard::Nothing);
        }
        if self.args.is_empty() {
            Step::Skip(nl + 1)
        } else {
            Step::Command(nl + 1)
        }
    }
}

fn reject(msg: &str, len: usize, then: Discard) -> Step {
    Step::Reject { msg: format!("ERR Protocol error: {msg}"), len, then }
}

/// Rejects the command up to the end of the line at `buf[..]`'s start.
fn reject_line(buf: &[u8], msg: &str) -> Step {
    reject_line_at(buf, 0, msg)
}

/// Rejects the command through the end of the line starting at `at` (or,
/// if that line has not ended, all of `buf` and the rest of the line).
fn reject_line_at(buf: &[u8], at: usize, msg: &str) -> Step {
    match buf[at..].iter().position(|&b| b == b'\n') {
        Some(i) => reject(msg, at + i + 1, Discard::Nothing),
        None => reject(msg, buf.len(), Discard::Line),
    }
}

/// Parses a `<marker><integer>\r\n` line at the start of `buf`.
fn header(buf: &[u8], marker: u8) -> Header {
    match buf.first() {
        None => return Header::Incomplete,
        Some(&b) if b != marker => return Header::Marker(b),
        Some(_) => {}
    }
    let window = &buf[..buf.len().min(MAX_HEADER)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_HEADER { Header::Bad } else { Header::Incomplete };
    };
    let digits = &buf[1..nl];
    let Some(digits) = digits.strip_suffix(b"\r") else { return Header::Bad };
    match parse_i64(digits) {
        Some(n) => Header::Value(n, nl + 1),
        None => Header::Bad,
    }
}

/// A strict decimal `i64`: an optional `-`, then at least one digit, and
/// nothing else (no `+`, no spaces), without overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if neg { n.checked_sub(d)? } else { n.checked_add(d)? };
    }
    Some(n)
}

/// Splits an inline command into arguments at spaces and tabs. A double- or
/// single-quoted argument may hold spaces; the closing quote must end the
/// argument. Backslash escapes inside quotes are refused rather than
/// half-understood (an escaped argument could not be a slice of the buffer).
fn split_inline(line: &[u8], out: &mut Vec<Range<usize>>) -> Result<(), &'static str> {
    let blank = |b: u8| b == b' ' || b == b'\t';
    let mut i = 0;
    while i < line.len() {
        if blank(line[i]) {
            i += 1;
            continue;
        }
        let quote = line[i];
        if quote == b'"' || quote == b'\'' {
            let start = i + 1;
            let Some(len) = line[start..].iter().position(|&b| b == quote) else {
                return Err("unbalanced quotes in request");
            };
            let end = start + len;
            if line[start..end].contains(&b'\\') {
                return Err("backslash escapes in quoted inline arguments are not supported");
            }
            if end + 1 < line.len() && !blank(line[end + 1]) {
                return Err("unbalanced quotes in request");
            }
            out.push(start..end);
            i = end + 1;
        } else {
            let start = i;
            while i < line.len() && !blank(line[i]) {
                i += 1;
            }
            out.push(start..i);
        }
    }
    Ok(())
}

/// A byte as it may appear in an error reply: printable ASCII, or `\xNN`.
pub fn printable(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        (b as char).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}
