#!/usr/bin/env bash
# Runs the benchmark table of BENCHMARKS.md: builds the release binaries,
# runs `afb-bench suite` (servers pinned to CPU 0, load to CPU 1, binder and
# baseline runs interleaved) and writes the results:
#   $CARGO_TARGET_DIR/bench/bench-STAMP.md     the tables (as in BENCHMARKS.md)
#   $CARGO_TARGET_DIR/bench/bench-STAMP.json   every run, for tooling
#   $CARGO_TARGET_DIR/bench/machine-STAMP.txt  lscpu, kernel, rustc, commit
# Extra arguments go to `afb-bench suite` (e.g. --only rest,wsj1 --runs 5;
# `afb-bench suite --help` lists them). Exit code: the suite's (0 when every
# target is met, 1 when one is not, 2 on a usage error).
#
# Environment: CARGO_TARGET_DIR (default: target), BENCH_WAIT_QUIET (seconds
# to wait for a quiet machine before each run, default 120).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
# wrk drives the rest-wrk scenario (a second, independent REST generator).
command -v wrk >/dev/null || echo "note: wrk is missing (scripts/install-deps.sh installs it): rest-wrk will fail" >&2
cargo build --release --locked -p afb-daemon -p afb-bench

out=$CARGO_TARGET_DIR/bench
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
{
    echo "# $(date -u)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "uncommitted changes: $(git status --short --untracked-files=no 2>/dev/null | wc -l) files"
    echo "kernel: $(uname -srvm)"
    echo "rustc: $(rustc --version)"
    lscpu
} >"$out/machine-$stamp.txt"

# 1,000 WebSockets and their server side need file descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

bin=$CARGO_TARGET_DIR/release
status=0
"$bin/afb-bench" suite \
    --daemon "$bin/afb-daemon" \
    --wait-quiet "${BENCH_WAIT_QUIET:-120}" \
    --out "$out/bench-$stamp.md" \
    --json-out "$out/bench-$stamp.json" \
    "$@" || status=$?
echo
echo "results: $out/bench-$stamp.md, $out/bench-$stamp.json, $out/machine-$stamp.txt"
exit $status
