#!/usr/bin/env bash
# Runs every cargo-fuzz target: `short` (CI: a fixed number of runs each),
# or `long [SECONDS]` (default 600 s per target). Corpora live in
# fuzz/corpus/TARGET and grow with what the fuzzer finds.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
mode="${1:-short}"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^afb-fuzz$')
# One build of every target first: one cargo invocation compiles the shared
# dependencies once and keeps both CPUs busy (each `cargo fuzz run` below then
# finds its target built).
RUSTC_BOOTSTRAP=1 cargo fuzz build
for t in $targets; do
    mkdir -p "corpus/$t"
    if [ "$mode" = long ]; then
        limit="-max_total_time=${2:-600}"
    else
        limit="-runs=${FUZZ_RUNS:-20000}"
    fi
    echo "fuzz $t ($limit)"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- $limit -max_len=8192 -print_final_stats=0 2>&1 | tail -n 3
done
