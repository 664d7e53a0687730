#!/usr/bin/env python3
"""Where a `bench/benches/uring.rs` method's CPU goes, in microseconds per read.

    perf record -e cpu-clock -g -o perf.data BINARY   (with BENCH_ONLY, BENCH_SECS)
    python3 scripts/uring_profile.py perf perf.data OPS_PER_CPU_SECOND

buckets every sample by its stack (page-cache copy, page-cache lookup, the
io_uring or `pread` system call path, fget/fput, tokio, the ring's code, the
pool) and scales the shares by the run's CPU time per read (the
`ops per CPU-second` the run printed).

    python3 scripts/uring_profile.py callgrind SHORT.out LONG.out OPS_DIFFERENCE

buckets user-space instructions of two callgrind runs of one method (say
`BENCH_SECS=1` and `3`) by source file, and divides their difference by the
difference in operations (the `ops` each run printed in its `RingStats`), so
start-up cancels out.
"""
import collections
import re
import subprocess
import sys

COPY = ("_copy_to_iter", "copy_user", "rep_movs", "copy_page_to_iter")
LOOKUP = ("filemap_read", "filemap_get", "ext4_file_read", "generic_file_read")


def perf_bucket(frames):
    leaf = frames[0] if frames else ""
    stack = " ".join(frames)
    if "[kernel" in leaf:
        if any(s in leaf for s in COPY):
            return "kernel: page-cache copy"
        if "fget" in leaf or "fput" in leaf:
            return "kernel: fget/fput"
        if any(s in stack for s in LOOKUP):
            return "kernel: page-cache lookup"
        if "io_uring" in stack:
            return "kernel: io_uring_enter, issue, completion"
        if "pread64" in stack:
            return "kernel: pread system call entry/exit"
        if any(s in stack for s in ("futex", "epoll", "sched_yield", "schedule")):
            return "kernel: tokio park/unpark"
        return "kernel: other (interrupts, timer)"
    for f in frames:
        if "uring::ring_tokio" in f or "uring::pread_loop" in f:
            return "user: bench loop"
        if "bufpool::uring" in f or "io_uring::" in f:
            return "user: ring code (with io-uring crate, syscall stub)"
        if "parking_lot" in f:
            continue
        if "bufpool::" in f:
            return "user: pool"
        if "tokio::" in f or "mio::" in f:
            return "user: tokio scheduling"
    if leaf.split(" ", 1)[-1].startswith("syscall"):
        return "user: ring code (with io-uring crate, syscall stub)"
    return "user: other"


def perf(path, ops_per_cpu_s):
    out = subprocess.run(["perf", "script", "-i", path, "-F", "comm,ip,sym,dso"],
                         capture_output=True, text=True).stdout
    counts, frames, n = collections.Counter(), None, 0
    for line in out.splitlines() + [""]:
        if not line.strip():
            if frames is not None:
                counts[perf_bucket(frames)] += 1
                n += 1
            frames = None
        elif not line[0].isspace():
            frames = []
        elif frames is not None:
            frames.append(line.strip())
    us = 1e6 / ops_per_cpu_s
    for k, v in sorted(counts.items()):
        print(f"{k:55} {100 * v / n:5.1f}%  {us * v / n:.3f} us")
    print(f"{n} samples, {us:.3f} us of CPU per read")


def cg_bucket(name):
    # By source file first (so pool code inlined into the ring counts as the
    # pool's), then, for the standard library's, by the function it is in.
    f, _, fn = name.partition(":")
    if "/src/uring/" in f or "io-uring-0" in f:
        return "ring code (with io-uring crate)"
    if "/src/" in f and "registry" not in f and "rustc" not in f:
        return "pool"
    if "bufpool::uring" in fn:
        return "ring code (with io-uring crate)"
    if "bufpool::" in fn:
        return "pool"
    if "/benches/" in f:
        return "bench loop"
    if "tokio-1" in f or "mio-" in f or "tokio::" in fn:
        return "tokio"
    if "parking_lot" in f:
        return "ring code (with io-uring crate)"
    return "other"


def cg_load(path):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True).stdout
    d = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" not in line:
            d[m[2]] += int(m[1].replace(",", ""))
    return d


def callgrind(short, long, ops):
    a, b = cg_load(short), cg_load(long)
    counts = collections.Counter()
    for k in set(a) | set(b):
        counts[cg_bucket(k)] += b[k] - a[k]
    for k, v in counts.most_common():
        print(f"{k:35} {v / ops:6.0f}")
    print(f"{'total':35} {sum(counts.values()) / ops:6.0f} instructions per read")


if __name__ == "__main__":
    if sys.argv[1] == "perf":
        perf(sys.argv[2], float(sys.argv[3]))
    else:
        callgrind(sys.argv[2], sys.argv[3], float(sys.argv[4]))
