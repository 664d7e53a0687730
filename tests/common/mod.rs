//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// True under a slow checker (valgrind): loop counts shrink, as crossbeam does
/// under `cfg!(miri)`. Set `BUFPOOL_SLOW_CHECKER=1`.
pub fn slow() -> bool {
    std::env::var_os("BUFPOOL_SLOW_CHECKER").is_some_and(|v| v != "0")
}

/// `normal` iterations, or `slow` under a slow checker.
pub fn iters(normal: usize, slow_n: usize) -> usize {
    if slow() {
        slow_n
    } else {
        normal
    }
}

/// A line of `/proc/self/status` in kB (e.g. `VmLck`), if present.
pub fn proc_status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
}
