//! The RESP server's protocol core, without sockets: parsing, errors,
//! pipelining, and the copy-or-slice policy, checked on an in-memory session
//! of `examples/resp_server.rs`. Several cases port the ideas of Redis's own
//! `tests/unit/protocol.tcl`.

mod resp_util;

use resp_util::resp::server::Options;
use resp_util::resp::session::{Session, Shared, COPY_BELOW};
use resp_util::{bulk, cmd, show};

fn shared_with(max_bulk: usize) -> Shared {
    let o = Options { max_bulk, ..Options::default() };
    let s = resp_util::resp::server::shared(&o).expect("pool");
    std::sync::Arc::try_unwrap(s).ok().expect("sole owner")
}

/// Feeds `input` in pieces cut at `cuts` (sorted offsets) and returns every
/// reply, in order.
fn run_cut(shared: &Shared, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut s = Session::new(&shared.pool);
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        if c > at {
            s.feed(shared, &input[at..c]);
            out.extend(s.replies.take_all());
            at = c;
        }
        if s.quit() {
            break;
        }
    }
    out
}

/// The replies to `input` fed in one piece.
fn run(input: &[u8]) -> Vec<u8> {
    run_cut(&shared_with(1 << 20), input, &[])
}

fn check(input: &[u8], expect: &[u8]) {
    let got = run(input);
    assert_eq!(show(&got), show(expect), "replies to {:?}", show(input));
}

/// Requests and error cases (and what follows them, to show the connection
/// carries on) used by the split tests below.
fn corpus() -> Vec<Vec<u8>> {
    let big = vec![b'v'; 5000];
    let mut pipelined = Vec::new();
    for i in 0..20 {
        pipelined.extend(cmd(&[b"SET", format!("k{i}").as_bytes(), format!("v{i}").as_bytes()]));
        pipelined.extend(cmd(&[b"GET", format!("k{i}").as_bytes()]));
    }
    vec![
        b"PING\r\n".to_vec(),
        b"*1\r\n$4\r\nPING\r\n".to_vec(),
        b"set a 1\r\nincr a\r\nget a\n  \r\n\r\nexists a b a\r\n".to_vec(),
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\nPING\r\n".to_vec(),
        b"*3000000000\r\nPING\r\n".to_vec(),
        b"*-10\r\n*0\r\nPING\r\n".to_vec(),
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\nPING\r\n".to_vec(),
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\nPING\r\n".to_vec(),
        b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n".to_vec(),
        [b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$5000\r\n".to_vec(), big.clone(), b"\r\nGET big\r\n".to_vec()].concat(),
        [b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$5000000\r\n".to_vec(), big.clone(), b"\r\n".to_vec()].concat(),
        [cmd(&[b"MSET", b"a", &big, b"b", b"2"]), cmd(&[b"MGET", b"a", b"b", b"c"])].concat(),
        b"set q \"two words\"\r\nget q\r\nset \"\"\"k\"\"\" v\r\nset 'x\r\n".to_vec(),
        b"*1\r\n$999999999999999999999999999999999999\r\nPING\r\n".to_vec(),
        b"nosuchcmd a b c d e\r\nGET\r\nSET k v EX 0\r\nSET k v PX 10 NX\r\nSET k v XX NX\r\nQUIT\r\nPING\r\n".to_vec(),
        pipelined,
    ]
}

#[test]
fn a_request_split_at_any_byte_parses_the_same() {
    for input in corpus() {
        let whole = run_cut(&shared_with(1 << 20), &input, &[]);
        assert!(!whole.is_empty(), "no reply to {:?}", show(&input));
        // Every single cut point, and byte by byte.
        for cut in 1..input.len() {
            let split = run_cut(&shared_with(1 << 20), &input, &[cut]);
            assert_eq!(show(&split), show(&whole), "cut at {cut} of {:?}", show(&input));
        }
        let all: Vec<usize> = (1..input.len()).collect();
        let bytewise = run_cut(&shared_with(1 << 20), &input, &all);
        assert_eq!(show(&bytewise), show(&whole), "byte by byte: {:?}", show(&input));
    }
}

#[test]
fn inline_and_multibulk_are_the_same_command() {
    let multibulk = cmd(&[b"SET", b"key", b"value"]);
    check(&[multibulk, b"GET key\r\n".to_vec()].concat(), b"+OK\r\n$5\r\nvalue\r\n");
    check(b"SET key value\nget key\r\n", b"+OK\r\n$5\r\nvalue\r\n");
    check(b"ping\r\nPiNg hello\r\necho \"a b\"\r\n", b"+PONG\r\n$5\r\nhello\r\n$3\r\na b\r\n");
    check(b"\r\n\n   \r\nPING\r\n", b"+PONG\r\n"); // empty queries are ignored
}

#[test]
fn pipelined_commands_all_run_and_reply_in_order() {
    let mut input = Vec::new();
    let mut expect = Vec::new();
    for i in 0..500 {
        input.extend(cmd(&[b"INCR", b"n"]));
        expect.extend(format!(":{}\r\n", i + 1).into_bytes());
    }
    input.extend(cmd(&[b"GET", b"n"]));
    expect.extend(bulk(b"500"));
    let shared = shared_with(1 << 20);
    let mut s = Session::new(&shared.pool);
    assert_eq!(s.feed(&shared, &input), 501, "one read, every command run before replying");
    assert_eq!(show(&s.replies.take_all()), show(&expect));
}

#[test]
fn protocol_errors_get_a_reply_and_the_connection_goes_on() {
    let e = |m: &str| format!("-ERR Protocol error: {m}\r\n+PONG\r\n").into_bytes();
    check(b"*3000000000\r\nPING\r\n", &e("invalid multibulk length"));
    check(b"*x\r\nPING\r\n", &e("invalid multibulk length"));
    check(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\nPING\r\n", &e("invalid bulk length"));
    check(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\nPING\r\n", &e("invalid bulk length"));
    check(b"*1\r\nfoo\r\nPING\r\n", &e("expected '$', got 'f'"));
    check(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\nPING\r\n", &e("expected '$', got 'f'"));
    check(b"*1\r\n$4\r\nPINGxx\r\nPING\r\n", &e("bulk string not followed by CRLF"));
    check(b"set \"\"\"k\"\"\" v\r\nPING\r\n", &e("unbalanced quotes in request"));
    // A header too long to be a number, even before its line ends.
    let mut long = b"*1\r\n$".to_vec();
    long.extend(vec![b'9'; 100]);
    long.extend(b"\r\nPING\r\n");
    check(&long, &e("invalid bulk length"));
    // An inline line past 64 KiB with no newline yet is refused at once.
    let mut huge = vec![b'a'; 70_000];
    huge.extend(b"\r\nPING\r\n");
    check(&huge, &e("too big inline request"));
}

#[test]
fn an_oversized_bulk_string_is_refused_and_skipped_without_buffering() {
    let shared = shared_with(1000);
    let mut s = Session::new(&shared.pool);
    let body = vec![b'z'; 64 * 1024];
    let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$65536\r\n".to_vec();
    input.extend(&body);
    input.extend(b"\r\n");
    // A later argument of the same command is skipped too.
    input.extend(b"*3\r\n$3\r\nSET\r\n$2000\r\n");
    input.extend(vec![b'k'; 2000]);
    input.extend(b"\r\n$1\r\nv\r\nGET k\r\n");
    let mut replies = Vec::new();
    for chunk in input.chunks(4096) {
        s.feed(&shared, chunk);
        replies.extend(s.replies.take_all());
        // Skipped bytes are dropped as they come: nothing large is held.
        assert!(shared.pool.stats().outstanding_bytes <= 16 << 10, "{}", shared.pool.stats().outstanding_bytes);
    }
    let refused = |n| format!("-ERR Protocol error: invalid bulk length ({n} is above --max-bulk 1000)\r\n");
    assert_eq!(show(&replies), show(&[refused(65536), refused(2000), "$-1\r\n".into()].concat().into_bytes()));
}

#[test]
fn command_errors() {
    check(b"frobnicate a b\r\n", b"-ERR unknown command 'frobnicate', with args beginning with: 'a' 'b'\r\n");
    check(b"averyveryverylongname\r\n", b"-ERR unknown command 'averyveryverylongname', with args beginning with:\r\n");
    check(b"GET\r\nPING a b\r\nMSET a\r\nMSET a 1 b\r\n", &b"-ERR wrong number of arguments for 'get' command\r\n-ERR wrong number of arguments for 'ping' command\r\n-ERR wrong number of arguments for 'mset' command\r\n-ERR wrong number of arguments for 'mset' command\r\n"[..]);
    check(b"SET k v EX\r\nSET k v EX 0\r\nSET k v PX -5\r\nSET k v EX x\r\nSET k v FOO\r\nSET k v NX XX\r\n", &b"-ERR syntax error\r\n-ERR invalid expire time in 'set' command\r\n-ERR invalid expire time in 'set' command\r\n-ERR invalid expire time in 'set' command\r\n-ERR syntax error\r\n-ERR syntax error\r\n"[..]);
    check(b"CONFIG SET save x\r\nCONFIG GET\r\n", b"-ERR unknown subcommand 'SET'. Only CONFIG GET is supported.\r\n-ERR wrong number of arguments for 'config|get' command\r\n");
    // Input cannot smuggle a reply of its own into an error message.
    let sneaky = cmd(&[b"NOPE", b"x\r\n+OK"]);
    check(&sneaky, b"-ERR unknown command 'NOPE', with args beginning with: 'x  +OK'\r\n");
}

#[test]
fn incr_parses_integers_strictly_and_catches_overflow() {
    let e = "-ERR value is not an integer or out of range\r\n";
    check(b"INCR n\r\nINCR n\r\nSET m -5\r\nINCR m\r\n", b":1\r\n:2\r\n+OK\r\n:-4\r\n");
    let mut expect = String::new();
    let mut input = String::new();
    for bad in ["abc", "\" 1\"", "1.5", "+1", "99999999999999999999", "''"] {
        input.push_str(&format!("SET x {bad}\r\nINCR x\r\n"));
        expect.push_str("+OK\r\n");
        expect.push_str(e);
    }
    check(input.as_bytes(), expect.as_bytes());
    check(
        b"SET x 9223372036854775806\r\nINCR x\r\nINCR x\r\nGET x\r\n",
        b"+OK\r\n:9223372036854775807\r\n-ERR increment or decrement would overflow\r\n$19\r\n9223372036854775807\r\n",
    );
}

#[test]
fn set_options_and_expiry() {
    let shared = shared_with(1 << 20);
    let mut s = Session::new(&shared.pool);
    s.feed(&shared, b"SET a 1 PX 1\r\nSET b 2 EX 100\r\nSET b 3 NX\r\nSET c 3 XX\r\nSET b 4 XX\r\n");
    assert_eq!(show(&s.replies.take_all()), "+OK\r\n+OK\r\n$-1\r\n$-1\r\n+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.feed(&shared, b"GET a\r\nEXISTS a b c\r\nGET b\r\nINCR a\r\nDEL a b b\r\n");
    assert_eq!(show(&s.replies.take_all()), "$-1\r\n:1\r\n$1\r\n4\r\n:1\r\n:2\r\n");
}

#[test]
fn big_values_round_trip_through_mset_and_mget() {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut input = cmd(&[b"MSET", b"a", &big, b"b", b"small"]);
    input.extend(cmd(&[b"MGET", b"b", b"a", b"nope"]));
    let expect = [b"+OK\r\n*3\r\n".to_vec(), bulk(b"small"), bulk(&big), b"$-1\r\n".to_vec()].concat();
    let shared = shared_with(8 << 20);
    for chunk in [1 << 20, 16 << 10, 1000] {
        let cuts: Vec<usize> = (chunk..input.len()).step_by(chunk).collect();
        assert!(run_cut(&shared, &input, &cuts) == expect, "chunks of {chunk}");
    }
}

#[test]
fn config_get_answers_what_redis_benchmark_asks() {
    check(b"CONFIG GET save\r\n", b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    check(b"config get appendonly\r\n", b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    check(b"CONFIG GET nothing\r\n", b"*0\r\n");
    check(b"CONFIG GET proto-max-*\r\n", b"*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n1048576\r\n");
    let all = run(b"CONFIG GET *\r\n");
    assert!(all.starts_with(b"*10\r\n"), "{}", show(&all));
}

#[test]
fn commands_after_quit_are_not_run() {
    let shared = shared_with(1 << 20);
    let mut s = Session::new(&shared.pool);
    assert_eq!(s.feed(&shared, b"SET a 1\r\nQUIT\r\nSET a 2\r\n"), 2);
    assert!(s.quit());
    assert_eq!(show(&s.replies.take_all()), "+OK\r\n+OK\r\n");
    let mut t = Session::new(&shared.pool);
    t.feed(&shared, b"GET a\r\n");
    assert_eq!(show(&t.replies.take_all()), "$1\r\n1\r\n");
}

/// A short value is copied out of the read buffer, so the buffer goes back
/// to the pool; a long one is a slice of it and keeps it until overwritten.
#[test]
fn short_values_are_copied_long_ones_sliced() {
    let shared = shared_with(1 << 20);
    let stored = |s: &mut Session, value: &[u8]| {
        let req = cmd(&[b"SET", b"k", value]);
        let mut buf = shared.pool.with_capacity(16 << 10);
        buf.extend_from_slice(&req);
        s.set_input(buf);
        s.process(&shared);
        assert_eq!(s.replies.take_all(), b"+OK\r\n");
        assert!(s.holds_nothing());
        shared.pool.stats().outstanding_buffers
    };
    let mut s = Session::new(&shared.pool);
    assert_eq!(stored(&mut s, &[b'a'; COPY_BELOW - 1]), 0, "a short value is copied");
    assert_eq!(stored(&mut s, &[b'b'; 1000]), 0, "a value under a quarter of its 16 KiB buffer is copied");
    assert_eq!(stored(&mut s, &[b'c'; 8000]), 1, "a long value pins its read buffer");
    assert_eq!(stored(&mut s, &[b'd'; 10]), 0, "overwriting it lets the buffer go home");
    s.feed(&shared, b"GET k\r\n");
    assert_eq!(s.replies.take_all(), b"$10\r\ndddddddddd\r\n");
}
