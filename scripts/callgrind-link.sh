#!/usr/bin/env bash
# Instructions per relayed call of a front and a back binder linked by RPC v3 or wsapi.
#
#   scripts/callgrind-link.sh rpc|wsapi [DAEMON] [BENCH]
#
# Starts a back (`--rpc-server` / `--ws-server` on a unix socket) and a front
# (`--rpc-client` / `--ws-client`) both under valgrind's callgrind, warms them up with
# `afb-bench wsj1` on the front, zeroes the counters, applies 5 s of the same load
# (4 WebSockets x 16 calls in flight), dumps the counters, and prints the instructions
# of each daemon divided by the calls served. Start-up and warm-up are excluded; the
# figures depend a little on batching (how many calls share a read or a write), which
# depends on the speed under valgrind, so compare runs made the same way.
# Defaults: target/release/afb-daemon and target/release/afb-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
link=${1:-}
daemon=${2:-target/release/afb-daemon}
bench=${3:-target/release/afb-bench}
case "$link" in
    rpc) server=--rpc-server client=--rpc-client ;;
    wsapi) server=--ws-server client=--ws-client ;;
    *) echo "usage: $0 rpc|wsapi [DAEMON] [BENCH]" >&2; exit 2 ;;
esac
for tool in valgrind callgrind_control; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install valgrind)" >&2; exit 2; }
done
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir "$dir/s"
pb=$((20000 + RANDOM % 20000))
pf=$((pb + 1))
valgrind --tool=callgrind --callgrind-out-file="$dir/back.out" \
    "$daemon" --port "$pb" "$server" "unix:$dir/s/hello" >"$dir/back.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $dir/s/hello ]] && break; sleep 0.2; done
valgrind --tool=callgrind --callgrind-out-file="$dir/front.out" \
    "$daemon" --port "$pf" "$client" "unix:$dir/s/hello" >"$dir/front.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$pf") 2>/dev/null && break; sleep 0.2; done
load() { "$bench" wsj1 --addr "127.0.0.1:$pf" --conns 4 --inflight 16 --warmup 0 --duration "$1" --json; }
load 2 >/dev/null
for p in "${pids[@]}"; do callgrind_control -z "$p" >/dev/null 2>&1; done
calls=$(load 5 | sed -n 's/.*"ops":\([0-9]*\).*/\1/p')
for p in "${pids[@]}"; do callgrind_control -d "$p" >/dev/null 2>&1; done
sleep 1
[[ -n $calls && $calls -gt 0 ]] || { echo "no calls served" >&2; exit 1; }
echo "link $link: $calls calls"
for side in back front; do
    f=$(ls "$dir/$side.out".* | head -1)
    ir=$(sed -n 's/^summary: *//p' "$f" | head -1)
    echo "$side: $ir Ir, $((ir / calls)) Ir per call"
done
