//! The Redis-protocol server behind `examples/resp_server.rs`, as a module
//! the tests include too (`#[path = "../examples/resp/mod.rs"]`).
//!
//! * `parse`: RESP2 requests (multibulk and inline) as ranges of the read
//!   buffer, resumable across reads, with a discard for rejected input;
//! * `session`: one connection's state without I/O, and the copy-or-slice
//!   policy for stored values;
//! * `commands`: what each command does;
//! * `reply`: replies gathered in pooled buffers and written vectored;
//! * `store`: the key space;
//! * `server`: the command line, the listener and the connection loop.

// The example and each test crate use different parts of these modules.
#![allow(dead_code)]

pub mod commands;
pub mod parse;
pub mod reply;
pub mod server;
pub mod session;
pub mod store;
