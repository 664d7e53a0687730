#!/usr/bin/env bash
# examples/resp_server against redis-server, both driven by redis-benchmark on
# loopback in the same run (docs/benchmarks.md, "Redis protocol server vs
# redis-server", has the figures this produced).
#
#   scripts/redis_bench.sh [throughput|rss|perf|all] [N=1000000] [REPS=3]
#
# throughput: redis-benchmark -t set,get -n N -c 50, at -P 1 and -P 16, with
#             -d 64 and -d 4096, the two servers interleaved, REPS rounds;
# rss:        server RSS per idle connection with 10,000 idle clients
#             (scripts/idle_rss.py), fresh servers each round, REPS rounds;
# perf:       perf record (DWARF call graphs) of resp_server during a -P 16
#             run at -d 64 and at -d 4096, and the top of perf report.
# RESP_FLAGS adds flags to resp_server (e.g. --workers 2).
# Medians and ratios are printed at the end and kept, with every raw
# figure, under $OUT (default target/redis_bench).
#
# Needs redis-server and redis-tools (installed with apt-get when missing
# and run as root), python3, and for `perf` linux-perf. Every run is bounded by
# N requests; the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
N=${2:-1000000}
REPS=${3:-3}
OUT=${OUT:-${CARGO_TARGET_DIR:-target}/redis_bench}
RESP_PORT=${RESP_PORT:-6380}
REDIS_PORT=${REDIS_PORT:-6390}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 10100 ] || { echo "need ulimit -n >= 10100 for the rss step" >&2; [ "$WHAT" = throughput ]; }

# redis-server and redis-benchmark (Debian: redis-server, redis-tools), installed
# when missing and apt-get is usable, as .ci/run installs redis-tools.
for pkg in redis-server:redis-server redis-benchmark:redis-tools redis-cli:redis-tools; do
    command -v "${pkg%%:*}" >/dev/null && continue
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "installing ${pkg#*:} (no ${pkg%%:*} found)" >&2
        apt-get install -y "${pkg#*:}" >/dev/null ||
            { apt-get update >/dev/null && apt-get install -y "${pkg#*:}" >/dev/null; }
    fi
    command -v "${pkg%%:*}" >/dev/null ||
        { echo "${pkg%%:*} not found: install the Debian package ${pkg#*:}" >&2; exit 1; }
done

cargo build --release --example resp_server
BIN=${CARGO_TARGET_DIR:-target}/release/examples/resp_server

wait_ping() {
    for _ in $(seq 100); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "no server on port $1" >&2
    return 1
}
REDIS_PID= RESP_PID=
start() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --maxclients 10100 --pidfile "$OUT/redis.pid" --logfile "$OUT/redis.log"
    wait_ping "$REDIS_PORT"
    REDIS_PID=$(cat "$OUT/redis.pid")
    # shellcheck disable=SC2086 # RESP_FLAGS is a list of flags
    "$BIN" --addr "127.0.0.1:$RESP_PORT" --seconds 3600 --quiet ${RESP_FLAGS:-} 2>>"$OUT/resp_server.log" &
    RESP_PID=$!
    wait_ping "$RESP_PORT"
}
stop() {
    [ -n "$REDIS_PID" ] && { redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$REDIS_PID" 2>/dev/null || true; }
    [ -n "$RESP_PID" ] && { kill "$RESP_PID" 2>/dev/null || true; wait "$RESP_PID" 2>/dev/null || true; }
    REDIS_PID= RESP_PID=
    sleep 0.5
}
trap stop EXIT

bench() { # port P d -> "SET_rps GET_rps"
    redis-benchmark -h 127.0.0.1 -p "$1" -t set,get -n "$N" -c 50 -P "$2" -d "$3" --csv 2>/dev/null |
        awk -F'"' '/^"SET"/ {s=$4} /^"GET"/ {g=$4} END {print s, g}'
}
cpu_ticks() { # utime + stime of a process, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

if [ "$WHAT" = throughput ] || [ "$WHAT" = all ]; then
    : >"$OUT/throughput.txt"
    start
    for rep in $(seq "$REPS"); do
        echo "round $rep, $(uptime)" | tee -a "$OUT/load.txt"
        for d in 64 4096; do
            for p in 1 16; do
                for server in redis-server resp_server; do
                    case $server in
                        redis-server) port=$REDIS_PORT pid=$REDIS_PID ;;
                        resp_server) port=$RESP_PORT pid=$RESP_PID ;;
                    esac
                    t0=$(cpu_ticks "$pid")
                    read -r set get <<<"$(bench "$port" "$p" "$d")"
                    # server CPU time per request (both tests), in nanoseconds
                    ns=$(( ($(cpu_ticks "$pid") - t0) * 1000000000 / $(getconf CLK_TCK) / (2 * N) ))
                    echo "$rep $server $d $p $set $get $ns" | tee -a "$OUT/throughput.txt"
                done
            done
        done
    done
    stop
fi

if [ "$WHAT" = rss ] || [ "$WHAT" = all ]; then
    : >"$OUT/rss.txt"
    for rep in $(seq "$REPS"); do
        start
        for server in redis-server resp_server; do
            pid=$REDIS_PID port=$REDIS_PORT
            [ $server = resp_server ] && pid=$RESP_PID port=$RESP_PORT
            echo "$rep $server $(python3 scripts/idle_rss.py "$pid" "$port" 10000)" | tee -a "$OUT/rss.txt"
        done
        stop
    done
fi

if [ "$WHAT" = perf ]; then
    start
    for d in 64 4096; do
        data="$OUT/perf_d$d.data"
        perf record --call-graph dwarf,16384 -F 1999 -p "$RESP_PID" -o "$data" 2>"$OUT/perf_d$d.log" &
        perf_pid=$!
        sleep 1
        bench "$RESP_PORT" 16 "$d" | tee "$OUT/perf_d${d}_rps.txt"
        kill -INT $perf_pid
        wait $perf_pid || true
        echo "== resp_server, -P 16 -d $d: perf report --no-children, top entries"
        perf report -i "$data" --no-children --stdio -g none --sort dso,sym 2>/dev/null |
            grep '%' | head -25 | tee "$OUT/perf_d$d.txt" || true
        echo "== every user-space memcpy/memmove symbol, with its callers"
        syms=$(perf report -i "$data" --no-children --stdio -g none --sort sym 2>/dev/null |
            grep -oE '__mem(cpy|move)[a-z0-9_]*' | sort -u | paste -sd, -) || true
        if [ -n "$syms" ]; then
            perf report -i "$data" --no-children --stdio -G --percent-limit 0 --symbols="$syms" 2>/dev/null |
                grep -v '^#' | grep -v '^$' | head -80 | tee "$OUT/perf_d${d}_memcpy.txt" || true
        fi
    done
    stop
fi

# Medians over the rounds, and resp_server / redis-server ratios.
python3 - "$OUT" <<'PY'
import os, statistics as st, sys
out = sys.argv[1]
def med(xs): return st.median(xs) if xs else float("nan")
t = os.path.join(out, "throughput.txt")
if os.path.exists(t) and os.path.getsize(t):
    rows = [l.split() for l in open(t)]
    print("\n| -d | -P | test | redis-server req/s | resp_server req/s | ratio of medians | median of per-round ratios | server CPU ns/req, redis / resp |")
    print("|---:|---:|---|---:|---:|---:|---:|---|")
    for d in ("64", "4096"):
        for p in ("1", "16"):
            for i, test in ((4, "SET"), (5, "GET")):
                pick = lambda s, col: {x[0]: float(x[col]) for x in rows if x[1] == s and x[2] == d and x[3] == p}
                r, b = pick("redis-server", i), pick("resp_server", i)
                rc, bc = pick("redis-server", 6), pick("resp_server", 6)
                paired = med([b[k] / r[k] for k in r if k in b])
                print(f"| {d} | {p} | {test} | {med(list(r.values())):,.0f} | {med(list(b.values())):,.0f} "
                      f"| {med(list(b.values())) / med(list(r.values())):.2f} | {paired:.2f} "
                      f"| {med(list(rc.values())):,.0f} / {med(list(bc.values())):,.0f} |")
r = os.path.join(out, "rss.txt")
if os.path.exists(r) and os.path.getsize(r):
    rows = [l.split() for l in open(r)]
    print("\n| server | RSS per idle connection (B) | per connection after one PING (B) |")
    print("|---|---:|---:|")
    for s in ("redis-server", "resp_server"):
        idle = med([float(x[8]) for x in rows if x[1] == s])
        ping = med([float(x[9]) for x in rows if x[1] == s])
        print(f"| {s} | {idle:,.0f} | {ping:,.0f} |")
PY
