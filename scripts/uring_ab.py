#!/usr/bin/env python3
"""Paired A/B runs of `bench/benches/uring.rs` methods, as ratios to the `pread` loop.

Each round runs the blocking `pread` loop, then every variant (in alternating
order from round to round), then the `pread` loop again; each variant's ops
per CPU-second is divided by the mean of the two `pread` runs. Prints every
round and the median, min and max of each variant's ratio,
and each later variant's round-by-round ratio to the first.

    python3 scripts/uring_ab.py ROUNDS SECS VARIANT...

A VARIANT is `METHOD[,ENV=VALUE...][@BINARY]`: a `BENCH_ONLY` method of the
bench (`ring`, `tokio`, `tokioreg`, `tokio1`, `many`, `manytokio`), extra
environment for it, and a bench binary other than the current build's (to
compare two builds, copy each build's binary aside first). Examples from
docs/benchmarks.md:

    python3 scripts/uring_ab.py 6 1 ring many manytokio
    python3 scripts/uring_ab.py 8 1 ring ring,BENCH_ALIGN=4096
    python3 scripts/uring_ab.py 5 1 manytokio@/tmp/uring-before manytokio@/tmp/uring-after
"""
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def current_binary():
    out = subprocess.run(["cargo", "bench", "-p", "bench", "--bench", "uring", "--no-run"], cwd=ROOT,
                         capture_output=True, text=True).stderr
    return os.path.join(ROOT, re.search(r"\((target/[^)]*uring-[0-9a-f]+)\)", out).group(1))


def run(binary, method, env, secs):
    e = dict(os.environ, BENCH_ONLY=method, BENCH_SECS=str(secs), **env)
    out = subprocess.run([binary, "--bench"], env=e, capture_output=True, text=True, cwd=ROOT).stdout
    return float(re.search(r"([\d.]+) ops per CPU-second", out).group(1))


def parse(spec, default):
    binary = default
    if "@" in spec:
        spec, binary = spec.split("@", 1)
    method, *pairs = spec.split(",")
    return method, dict(p.split("=", 1) for p in pairs), binary


def main():
    rounds, secs, specs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    default = current_binary()
    variants = [(s, *parse(s, default)) for s in specs]
    ratios = {s: [] for s in specs}
    for r in range(rounds):
        p0 = run(default, "pread", {}, secs)
        got = {}
        for s, method, env, binary in (variants if r % 2 == 0 else variants[::-1]):
            got[s] = run(binary, method, env, secs)
        p1 = run(default, "pread", {}, secs)
        p = (p0 + p1) / 2
        for s in specs:
            ratios[s].append(got[s] / p)
        print(f"round {r}: pread {p:.0f} | " + " | ".join(f"{s} {100 * got[s] / p:.1f}%" for s in specs), flush=True)
    for s in specs:
        v = ratios[s]
        print(f"{s}: median {100 * statistics.median(v):.1f}% (min {100 * min(v):.1f}, max {100 * max(v):.1f})")
    for s in specs[1:]:
        paired = [b / a for a, b in zip(ratios[specs[0]], ratios[s])]
        print(f"{s} / {specs[0]}, paired by round: median {statistics.median(paired):.3f}")


if __name__ == "__main__":
    main()
