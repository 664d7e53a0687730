//! `examples/resp_server.rs` driven by the real Redis tools: `redis-cli`
//! (commands, `-x`, `--pipe` mass insertion) and a short `redis-benchmark`.
//! Both come in the Debian package `redis-tools`, which `.ci/run` installs
//! when it can; where they are missing each test prints `SKIP: ...` and
//! passes (`resp_tcp` and `resp_session` still cover the server).

mod resp_util;

use resp_util::Server;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        println!("SKIP: {tool} not found (apt-get install redis-tools)");
    }
    found
}

/// `redis-cli -p PORT args...`, with optional stdin.
fn cli(server: &Server, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// What `redis-cli` prints for a command (it prints replies raw when its
/// output is not a terminal), without trailing newlines (it adds one more
/// after an error).
fn say(server: &Server, args: &[&str]) -> String {
    let out = cli(server, args, None);
    assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_string()
}

#[test]
fn redis_cli_commands() {
    if !have("redis-cli") {
        return;
    }
    let s = Server::start();
    assert_eq!(say(&s, &["ping"]), "PONG");
    assert_eq!(say(&s, &["ping", "hi there"]), "hi there");
    assert_eq!(say(&s, &["echo", "x y"]), "x y");
    assert_eq!(say(&s, &["set", "k", "v"]), "OK");
    assert_eq!(say(&s, &["get", "k"]), "v");
    assert_eq!(say(&s, &["get", "missing"]), "");
    assert_eq!(say(&s, &["set", "t", "1", "EX", "100"]), "OK");
    assert_eq!(say(&s, &["set", "t", "2", "NX"]), "");
    assert_eq!(say(&s, &["incr", "n"]), "1");
    assert_eq!(say(&s, &["incr", "n"]), "2");
    assert_eq!(say(&s, &["mset", "a", "1", "b", "2"]), "OK");
    assert_eq!(say(&s, &["mget", "a", "b", "c"]), "1\n2"); // and an empty line for the nil
    assert_eq!(say(&s, &["exists", "a", "b", "c"]), "2");
    assert_eq!(say(&s, &["del", "a", "b", "c"]), "2");
    assert_eq!(say(&s, &["config", "get", "appendonly"]), "appendonly\nno");
    assert_eq!(say(&s, &["incr", "k"]), "ERR value is not an integer or out of range");
    assert_eq!(say(&s, &["get"]), "ERR wrong number of arguments for 'get' command");
    assert_eq!(say(&s, &["frob", "x"]), "ERR unknown command 'frob', with args beginning with: 'x'");
}

#[test]
fn redis_cli_sends_a_big_value_from_stdin() {
    if !have("redis-cli") {
        return;
    }
    let s = Server::start();
    let value: Vec<u8> = (0..2_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = cli(&s, &["-x", "set", "big"], Some(&value));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let got = cli(&s, &["get", "big"], None).stdout;
    assert_eq!(got.len(), value.len() + 1, "value and redis-cli's newline");
    assert!(got[..value.len()] == value[..]);
}

#[test]
fn redis_cli_pipe_mass_insertion() {
    if !have("redis-cli") {
        return;
    }
    let s = Server::start();
    let mut data = Vec::new();
    for i in 0..20_000 {
        let (k, v) = (format!("key:{i}"), format!("{}", i * 3));
        data.extend(resp_util::cmd(&[b"SET", k.as_bytes(), v.as_bytes()]));
    }
    data.extend(b"INCR key:7\r\n"); // an inline command among them
    let out = cli(&s, &["--pipe"], Some(&data));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 20001"), "{text}");
    assert_eq!(say(&s, &["get", "key:19999"]), "59997");
    assert_eq!(say(&s, &["get", "key:7"]), "22");
}

#[test]
fn redis_benchmark_runs_clean() {
    if !have("redis-benchmark") {
        return;
    }
    let s = Server::start();
    let port = s.addr.port().to_string();
    for pipeline in ["1", "8"] {
        let out = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &port, "-t", "set,get,incr,mset,ping", "-n", "2000", "-c", "4"])
            .args(["-P", pipeline, "-d", "600", "-q"])
            .output()
            .expect("redis-benchmark");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        for t in ["SET:", "GET:", "INCR:", "MSET (10 keys):", "PING_MBULK:"] {
            assert!(text.contains(t), "{t} missing in {text}");
        }
        assert!(!text.to_lowercase().contains("error"), "{text}");
    }
    assert!(s.shared.commands.load(std::sync::atomic::Ordering::Relaxed) >= 2 * 6 * 2000);
}
