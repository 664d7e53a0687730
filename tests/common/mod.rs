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

/// Pins the calling thread to `cpu` if the machine has it; returns whether it did.
pub fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the libc calls only
    // read and write the set we pass, for the calling thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0
            || !libc::CPU_ISSET(cpu, &set)
        {
            return false;
        }
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) == 0
    }
}

/// The CPUs this thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in `pin_to_cpu`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![];
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}
