#!/usr/bin/env bash
# Runs the loom models in loom-tests/ (see docs/TESTING.md).
# --cfg loom goes only on this invocation, with its own target dir, so the
# normal build cache survives and ordinary tests never see loom atomics.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom -C debug-assertions=on"
export CARGO_TARGET_DIR=target/loom
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export LOOM_MAX_BRANCHES="${LOOM_MAX_BRANCHES:-10000}"
exec cargo test --release -p loom-tests "$@"
