#!/usr/bin/env bash
# Measures what `--isolate-bindings` costs: the same C binding (the v4 test binding
# crates/cbinding/tests/c/hello4.c, compiled here against our headers) served in process and
# in the supervised child, under the same wsj1 and REST loads, runs interleaved
# (in-process, isolated, in-process, ...). Prints one line per run and the medians, then the
# resident memory of the daemon (and of its child when isolated) after the load.
#
# Usage: scripts/bench-isolate.sh [RUNS] [SECONDS]   (defaults 3 and 4)
# The daemon is pinned to CPU 0 (its child inherits it), the load generator to CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
secs=${2:-4}

cargo build --release -p afb-daemon -p afb-bench >&2
daemon=target/release/afb-daemon
bench=target/release/afb-bench
work=$(mktemp -d /tmp/afb-bench-isolate.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cc -shared -fPIC -O2 -I crates/cbinding/include crates/cbinding/tests/c/hello4.c \
    -o "$work/hello4.so" -ljson-c

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rss PID: resident KiB of PID and of its children.
rss() {
    local total=0 p
    for p in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# one MODE SCENARIO: prints "ops/s rssKiB".
one() {
    local mode=$1 scenario=$2 p pid extra=()
    p=$(port)
    [ "$mode" = isolated ] && extra=(--isolate-bindings)
    taskset -c 0 "$daemon" --port "$p" --binding "$work/hello4.so" "${extra[@]}" \
        --workdir "$work" --log warning >"$work/daemon-$mode.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        curl -fs "http://127.0.0.1:$p/api/hello4/ping" >/dev/null 2>&1 && break
        sleep 0.05
    done
    local out
    case $scenario in
        wsj1) out=$("$bench" wsj1 --addr "127.0.0.1:$p" --verb hello4/ping --conns 32 --inflight 16 \
                      --warmup 1 --duration "$secs" --cpu 1 --json) ;;
        rest) out=$("$bench" rest --addr "127.0.0.1:$p" --path /api/hello4/ping --conns 32 \
                      --warmup 1 --duration "$secs" --cpu 1 --json) ;;
    esac
    local ops errors
    ops=$(python3 -c 'import json,sys; r=json.load(sys.stdin); print(int(r["throughput"]), r["errors"])' <<<"$out")
    errors=${ops#* }
    ops=${ops% *}
    [ "$errors" = 0 ] || { echo "errors in $mode $scenario: $out" >&2; exit 1; }
    local r
    r=$(rss "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$ops $r"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for scenario in wsj1 rest; do
    declare -A got=()
    for i in $(seq "$runs"); do
        for mode in in-process isolated; do
            read -r ops r < <(one "$mode" "$scenario")
            echo "$scenario $mode run $i: $ops ops/s, RSS ${r} KiB" >&2
            got[$mode-ops]+="$ops "
            got[$mode-rss]+="$r "
        done
    done
    a=$(tr ' ' '\n' <<<"${got[in-process-ops]}" | grep . | median)
    b=$(tr ' ' '\n' <<<"${got[isolated-ops]}" | grep . | median)
    ra=$(tr ' ' '\n' <<<"${got[in-process-rss]}" | grep . | median)
    rb=$(tr ' ' '\n' <<<"${got[isolated-rss]}" | grep . | median)
    python3 -c "print(f'$scenario: in-process $a ops/s (RSS $ra KiB), isolated $b ops/s (RSS parent+child $rb KiB): ratio {$b/$a:.2f}')"
    unset got
done
