//! The examples' command lines: every example in `examples/` answers
//! `--help` with its usage and exit status 0, and the errors a newcomer meets
//! first name what failed.
//!
//! Plain `cargo test` builds the examples before it runs this. Run alone, it
//! needs them built first: `cargo build --examples && cargo test --test
//! examples_cli` (`cargo test --examples` builds them as test harnesses
//! instead, which this cannot run).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Every example's name: each `examples/*.rs` file and each `examples/*/main.rs`.
fn example_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("a directory entry").path())
        .filter_map(|p| {
            let is_example = p.extension().is_some_and(|x| x == "rs") || p.join("main.rs").is_file();
            is_example.then(|| p.file_stem().expect("a file name").to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> SystemTime {
    let mut t = SystemTime::UNIX_EPOCH;
    for e in std::fs::read_dir(dir).expect("a readable directory") {
        let p = e.expect("a directory entry").path();
        let m = if p.is_dir() { newest(&p) } else { p.metadata().and_then(|m| m.modified()).expect("an mtime") };
        t = t.max(m);
    }
    t
}

/// The newest modification time of what example `name` is built from: its
/// own file or directory, and the module directories its file uses
/// (`mod common;`, or `#[path = "resp/mod.rs"]`).
fn sources_of(examples: &Path, name: &str) -> SystemTime {
    let main = std::fs::read_to_string(examples.join(format!("{name}.rs"))).unwrap_or_default();
    let mut t = SystemTime::UNIX_EPOCH;
    for e in std::fs::read_dir(examples).expect("examples/") {
        let p = e.expect("a directory entry").path();
        let own = p.file_stem().is_some_and(|s| s == name);
        let dir = p.file_name().expect("a file name").to_string_lossy().into_owned();
        let used = main.contains(&format!("mod {dir};")) || main.contains(&format!("\"{dir}/"));
        if p.is_dir() && (own || (used && !p.join("main.rs").is_file())) {
            t = t.max(newest(&p));
        } else if own {
            t = t.max(p.metadata().and_then(|m| m.modified()).expect("an mtime"));
        }
    }
    t
}

/// Runs the built example `name` with `args`.
fn run(name: &str, args: &[&str]) -> Output {
    // This test runs from target/<profile>/deps/; examples are in target/<profile>/examples/.
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/").join("examples").join(name);
    let hint = "run plain `cargo test`, or `cargo build --examples` before `cargo test --test examples_cli`";
    let built =
        bin.metadata().and_then(|m| m.modified()).unwrap_or_else(|_| panic!("{} is not built: {hint}", bin.display()));
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    assert!(built >= sources_of(&examples, name), "{} is older than its sources: {hint}", bin.display());
    let mut child = Command::new(&bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    // An example that ignores `--help` would run its whole job (a server
    // for a minute); stop it instead of waiting. The pipes hold far more
    // than a usage text, so the child never blocks writing to them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("waiting for the example").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the killed example's output");
            panic!("`{name} {}` still ran after 20 s:\n{}{}", args.join(" "), text(&out.stdout), text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("the example's output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_example_prints_its_usage_for_help_and_exits_0() {
    let names = example_names();
    assert!(names.len() >= 4, "found only {names:?} in examples/");
    for name in &names {
        let out = run(name, &["--help"]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{name} --help: {}\n{stdout}{}", out.status, text(&out.stderr));
        assert!(stdout.starts_with(&format!("usage: {name}")), "{name} --help printed:\n{stdout}");
    }
}

#[test]
fn an_unknown_argument_is_an_error_with_the_usage() {
    for name in ["echo_uring", "file_read", "line_server", "loadgen", "resp_server", "tour"] {
        let out = run(name, &["--no-such-flag"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("unknown argument --no-such-flag"), "{name}: {stderr}");
        assert!(stderr.contains(&format!("usage: {name}")), "{name}: {stderr}");
    }
}

#[test]
fn loadgen_without_a_server_names_the_address_and_the_server() {
    // A loopback port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let out = run("loadgen", &["--addr", &addr, "--seconds", "1"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&addr), "the error does not name {addr}: {stderr}");
    assert!(stderr.contains("is line_server running?"), "no hint: {stderr}");
}

#[test]
fn file_read_names_a_missing_path() {
    let path = std::env::temp_dir().join("bufpool-examples-cli-no-such-file");
    let out = run("file_read", &[path.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("open {}", path.display())), "the error does not name the path: {stderr}");
}

#[test]
fn line_server_names_an_address_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run("line_server", &["--addr", &addr, "--seconds", "1"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "the error does not name {addr}: {stderr}");
}
