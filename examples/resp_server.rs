//! A Redis-protocol (RESP2) server built on bufpool, for real Redis tools:
//! `redis-cli`, `redis-cli --pipe` and `redis-benchmark`.
//!
//! ```text
//! cargo run --release --example resp_server -- --addr 127.0.0.1:6380 --seconds 60
//! redis-cli -p 6380 set greeting hello
//! redis-benchmark -p 6380 -t set,get -n 100000 -c 50 -P 16 -q
//! ```
//!
//! * Requests (multibulk and inline) are parsed in place from pooled read
//!   buffers: each argument is a borrowed slice of the buffer it arrived in.
//!   An idle connection holds no buffer.
//! * A stored value of 256 bytes or more (and at least a quarter of its read
//!   buffer) is a zero-copy `Bytes` slice of that buffer; a shorter one is
//!   copied, so it does not pin the whole buffer (`COPY_BELOW`, `PIN_RATIO`
//!   in `resp/session.rs`).
//! * Every complete command in a read runs before any reply is written; the
//!   replies are gathered in a pooled buffer (values of 512 bytes or more
//!   by reference) and go out in one vectored write.
//! * Bad input (an unknown command, a wrong arity, a bad or oversized
//!   length, a non-integer `INCR`) gets a RESP error, and the connection
//!   stays open.
//!
//! The code is in `examples/resp/`; `docs/benchmarks.md` compares it with
//! redis-server under redis-benchmark.

#[path = "resp/mod.rs"]
mod resp;

use resp::server::{parse_args, run, Cli, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Cli::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("resp_server: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(Cli::Run(options)) => match run(options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("resp_server: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
