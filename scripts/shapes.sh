#!/usr/bin/env bash
# The hot path in every shape (issue 16, requirement 1): every bench of
# bench/shapes/ in both builds, cargo's release profile and `server` (thin
# LTO, one codegen unit), under glibc, mimalloc and jemalloc, one after the
# other; prints the machine load, the bufpool commit and every table
# (docs/benchmarks.md, "Hot path in every shape", has the figures).
#
#   scripts/shapes.sh [FILTER=all] [OPS_PER_ROUND=300000]
#
# PROFILES (default "release server") and ALLOCS (default "glibc mimalloc
# jemalloc") pick part of the matrix; SHAPES_ROUNDS (default 21) is passed on.
# SHAPES_AT=<commit> measures that commit of bufpool rather than the working
# tree: it is exported (git archive) to a temporary directory with this
# bench/shapes/ copied in, and built there into the same target directory, so
# edits under src/ during the run change nothing measured.
#
# bench/shapes/ is its own workspace (excluded from the root one): its first
# build compiles commonware-runtime's dependencies, 11–13 minutes per
# profile on 2 cores. Builds run one at a time, CARGO_INCREMENTAL=0.
set -euo pipefail
cd "$(dirname "$0")/.."
FILTER=${1:-all}
OPS=${2:-300000}
PROFILES=${PROFILES:-release server}
ALLOCS=${ALLOCS:-glibc mimalloc jemalloc}
export CARGO_INCREMENTAL=0
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/bench/shapes/target}

ROOT=$PWD
if [ -n "${SHAPES_AT:-}" ]; then
    ROOT=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-shapes.XXXXXX")
    trap 'rm -rf "$ROOT"' EXIT
    git archive "$SHAPES_AT" | tar -x -C "$ROOT"
    rm -rf "$ROOT/bench/shapes"
    mkdir -p "$ROOT/bench/shapes"
    cp -r bench/shapes/Cargo.toml bench/shapes/Cargo.lock bench/shapes/benches "$ROOT/bench/shapes/"
    COMMIT=$(git rev-parse --short "$SHAPES_AT")
else
    COMMIT=$(git rev-parse --short HEAD)
    git diff --quiet HEAD -- src Cargo.toml || COMMIT="$COMMIT + uncommitted changes under src/ or Cargo.toml"
fi
MANIFEST=$ROOT/bench/shapes/Cargo.toml
# `release` is what `cargo bench` builds by default (its `bench` profile,
# which is cargo's release profile); naming it would rebuild everything.
flag() { [ "$1" = release ] || echo "--profile=$1"; }

# Build everything first, so the runs are not interleaved with compiling.
for p in $PROFILES; do
    echo "== build: profile $p, bufpool $COMMIT" >&2
    time cargo bench --manifest-path "$MANIFEST" $(flag "$p") --no-run
done
for p in $PROFILES; do
    for a in $ALLOCS; do
        echo
        echo "== shapes_$a, profile $p, bufpool $COMMIT, $(uptime)"
        cargo bench -q --manifest-path "$MANIFEST" $(flag "$p") --bench "shapes_$a" -- "$FILTER" "$OPS"
    done
done
