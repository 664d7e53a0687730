//! What the examples share: a small command-line parser with `--help`, errors
//! that say what failed, a once-a-second progress clock, scratch files that
//! clean up after themselves, and sizes in human units.
//!
//! Each example includes this file with `mod common;` and uses part of it.
#![allow(dead_code)]

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The command line of one example: `usage` is printed by `--help` (to
/// stdout, exit 0) and after an error (to stderr, exit 2).
pub struct Cli {
    name: &'static str,
    usage: &'static str,
    args: Vec<String>,
}

impl Cli {
    /// Reads `std::env::args`; `-h` / `--help` anywhere prints the usage and
    /// exits 0.
    pub fn new(name: &'static str, usage: &'static str) -> Cli {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "-h" || a == "--help") {
            println!("{}", usage.trim_end());
            std::process::exit(0);
        }
        Cli { name, usage, args }
    }

    /// Prints `error: {msg}` and the usage to stderr, and exits 2.
    pub fn fail(&self, msg: impl Display) -> ! {
        eprintln!("{}: error: {msg}\n\n{}", self.name, self.usage.trim_end());
        std::process::exit(2);
    }

    /// Whether the bare flag `name` was given (and takes it off the list).
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| a != name);
        self.args.len() != before
    }

    /// The value after `name`, parsed, or `default` when `name` is absent.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        self.opt(name).unwrap_or(default)
    }

    /// The value after `name`, parsed, if `name` was given.
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        let i = self.args.iter().position(|a| a == name)?;
        if i + 1 >= self.args.len() || self.args[i + 1].starts_with("--") {
            self.fail(format!("{name} needs a value"));
        }
        let v = self.args.remove(i + 1);
        self.args.remove(i);
        Some(v.parse().unwrap_or_else(|e| self.fail(format!("{name} {v}: {e}"))))
    }

    /// The next argument that is not a flag, if any.
    pub fn positional(&mut self) -> Option<String> {
        let i = self.args.iter().position(|a| !a.starts_with("--"))?;
        Some(self.args.remove(i))
    }

    /// Fails on anything left over (an unknown flag or an extra argument).
    pub fn finish(self) {
        if let Some(a) = self.args.first() {
            self.fail(format!("unknown argument {a}"));
        }
    }
}

/// Runs an example's body; an error is printed as `name: error: ...` (its
/// message says what failed) and the process exits 1.
pub fn run(name: &str, body: impl FnOnce() -> std::io::Result<()>) {
    if let Err(e) = body() {
        eprintln!("{name}: error: {e}");
        std::process::exit(1);
    }
}

/// Adds what was being done to an I/O error: `cannot open /x: No such file
/// or directory (os error 2)`. The error kind stays the same.
pub trait Context<T> {
    /// `what` is the failed action and its object, e.g. `open /x`.
    fn context(self, what: impl FnOnce() -> String) -> std::io::Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> std::io::Result<T> {
        self.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", what())))
    }
}

/// `n` bytes in binary units: `512 B`, `4.0 KiB`, `256.0 MiB`.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A rate in binary units per second: `1.2 GiB/s`.
pub fn human_rate(bytes: u64, secs: f64) -> String {
    format!("{}/s", human((bytes as f64 / secs.max(1e-9)) as u64))
}

/// `true` once a second: `if tick.due() { println!(...) }` in a loop that
/// runs for longer than a few seconds.
pub struct Tick {
    start: Instant,
    next: Duration,
}

impl Tick {
    /// The first tick is one second from now.
    pub fn every_second() -> Tick {
        Tick { start: Instant::now(), next: Duration::from_secs(1) }
    }

    /// Whether a second has passed since the last `true`.
    pub fn due(&mut self) -> bool {
        let now = self.start.elapsed();
        if now < self.next {
            return false;
        }
        while self.next <= now {
            self.next += Duration::from_secs(1);
        }
        true
    }

    /// Seconds since the clock started.
    pub fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// A scratch file, removed when this drops: under `$CARGO_TARGET_DIR` when
/// that is set, else in the system temp dir.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A path for a new scratch file named after `name` and this process;
    /// nothing is created yet.
    pub fn new(name: &str) -> std::io::Result<Scratch> {
        let dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&dir).context(|| format!("create scratch directory {}", dir.display()))?;
        Ok(Scratch { path: dir.join(format!("bufpool-{name}-{}", std::process::id())) })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Absent if it was never written; any other failure is only a leftover file.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `Ring` counters in one readable line.
pub fn ring_stats(s: &bufpool::uring::RingStats) -> String {
    let mut out = format!("{} ops", s.ops);
    if s.submit_calls > 0 {
        out += &format!(
            " in {} submits (largest batch {}, {:.1} ops a submit)",
            s.submit_calls,
            s.max_batch,
            s.ops as f64 / s.submit_calls as f64
        );
    }
    out += &format!(", {} waits for completions", s.wakeups);
    for (n, what) in [
        (s.registered_file_ops, "through registered files"),
        (s.fixed_ops, "on registered buffers"),
        (s.retries, "retries"),
        (s.slot_waits, "waits for a free slot"),
    ] {
        if n > 0 {
            out += &format!(", {n} {what}");
        }
    }
    out
}
