//! `examples/resp_server.rs` over real loopback TCP, with a raw client (no
//! Redis tools needed): pipelining, requests split across writes, big
//! values, bad input on a live connection, QUIT, idle connections holding no
//! buffer, and the example binary's command line.

mod resp_util;

use resp_util::resp::server::{bind, parse_args, Cli, Options};
use resp_util::{bulk, cmd, Server};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn pipelined_requests_get_every_reply_in_order() {
    let server = Server::start();
    let mut c = server.connect();
    let mut req = Vec::new();
    let mut expect = Vec::new();
    for i in 0..2000 {
        let (k, v) = (format!("key:{i}"), format!("value-{i}"));
        req.extend(cmd(&[b"SET", k.as_bytes(), v.as_bytes()]));
        req.extend(cmd(&[b"GET", k.as_bytes()]));
        expect.extend(b"+OK\r\n");
        expect.extend(bulk(v.as_bytes()));
    }
    c.check(&req, &expect);
    c.check(b"EXISTS key:0 key:1999 key:2000\r\n", b":2\r\n");
}

#[test]
fn a_request_written_a_byte_at_a_time_still_parses() {
    let server = Server::start();
    let mut c = server.connect();
    let req = [cmd(&[b"SET", b"slow", b"drip"]), b"GET slow\r\n".to_vec()].concat();
    for b in &req {
        c.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(c.recv(15), b"+OK\r\n$4\r\ndrip\r\n");
}

#[test]
fn big_values_round_trip() {
    let server = Server::start();
    let mut c = server.connect();
    for size in [255, 256, 511, 512, 4096, 100_000, 4 << 20] {
        let value: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        c.check(&cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
        c.check(&cmd(&[b"GET", b"big"]), &bulk(&value));
        c.check(&cmd(&[b"MGET", b"big", b"big"]), &[b"*2\r\n".to_vec(), bulk(&value), bulk(&value)].concat());
    }
}

#[test]
fn bad_input_gets_errors_on_a_connection_that_stays_open() {
    let server = Server::with(Options { max_bulk: 1000, ..Options::default() });
    let mut c = server.connect();
    c.check(b"NOPE\r\n", b"-ERR unknown command 'NOPE', with args beginning with:\r\n");
    c.check(b"GET a b\r\n", b"-ERR wrong number of arguments for 'get' command\r\n");
    c.check(b"*2\r\n$3\r\nGET\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n");
    let mut over = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000\r\n".to_vec();
    over.extend(vec![b'x'; 5000]);
    over.extend(b"\r\n");
    c.check(&over, b"-ERR Protocol error: invalid bulk length (5000 is above --max-bulk 1000)\r\n");
    c.check(b"SET n abc\r\nINCR n\r\n", b"+OK\r\n-ERR value is not an integer or out of range\r\n");
    c.check(b"SET n 9223372036854775807\r\nINCR n\r\n", b"+OK\r\n-ERR increment or decrement would overflow\r\n");
    c.check(b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn quit_replies_then_closes_and_drops_what_follows() {
    let server = Server::start();
    let mut c = server.connect();
    c.check(b"SET q 1\r\nQUIT\r\nSET q 2\r\n", b"+OK\r\n+OK\r\n");
    assert!(c.closed(), "the server closes after QUIT");
    server.connect().check(b"GET q\r\n", b"$1\r\n1\r\n");
}

#[test]
fn idle_connections_hold_no_buffer() {
    let server = Server::start();
    let mut clients: Vec<_> = (0..200).map(|_| server.connect()).collect();
    for c in &mut clients {
        c.check(b"PING\r\n", b"+PONG\r\n");
    }
    assert_eq!(server.wait_no_buffers_out(), 0, "200 idle connections");
    // A half-received command is held, and only that.
    clients[0].send(b"*2\r\n$3\r\nGET\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.shared.pool.stats().outstanding_buffers != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.shared.pool.stats().outstanding_buffers, 1);
    clients[0].check(b"$1\r\nk\r\n", b"$-1\r\n");
    assert_eq!(server.wait_no_buffers_out(), 0);
}

#[test]
fn command_line_help_and_errors() {
    assert!(matches!(parse_args(["--help".to_string()]), Ok(Cli::Help)));
    assert!(parse_args(["--seconds".to_string()]).unwrap_err().contains("--seconds needs"));
    assert!(parse_args(["--seconds".into(), "x".into()]).unwrap_err().contains("--seconds \"x\""));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(bind(&addr)).unwrap_err().to_string();
    assert!(err.contains(&addr) && err.contains("--addr"), "{err}");
}

/// The built example, if this `cargo test` built it (it builds every
/// example unless the test run is narrowed to single targets).
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("examples").join("resp_server");
    bin.exists().then_some(bin)
}

#[test]
fn the_example_binary_starts_helps_and_stops_by_itself() {
    let Some(bin) = example_binary() else {
        println!("SKIP: target/<profile>/examples/resp_server not built (run the whole `cargo test`)");
        return;
    };
    let help = Command::new(&bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("usage: resp_server"));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let busy = Command::new(&bin).args(["--addr", &addr, "--seconds", "1"]).output().unwrap();
    assert!(!busy.status.success());
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");

    let t0 = Instant::now();
    let run = Command::new(&bin).args(["--addr", "127.0.0.1:0", "--seconds", "1", "--quiet"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert!(String::from_utf8_lossy(&run.stderr).contains("listening on 127.0.0.1:"));
}
