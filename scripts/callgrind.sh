#!/usr/bin/env bash
# Instruction-count regression check of the hot paths (codecs and dispatch).
#
# Runs each path of `afb-icount` (bins/afb-bench/src/bin/afb-icount.rs) under
# valgrind's callgrind with two iteration counts; the difference of the total
# instruction counts divided by the difference of iterations is the cost of one
# iteration (start-up costs cancel). Instruction counts do not depend on the
# machine's load, so this check is stable where timings are not.
#
#   scripts/callgrind.sh            compare with scripts/callgrind-baseline.txt;
#                                   exit 1 when a path costs more than +10%
#   scripts/callgrind.sh --update   rewrite the baseline with the current counts
#
# Environment: CARGO_TARGET_DIR (default: target), ICOUNT_TOLERANCE (percent,
# default 10), ICOUNT_N1 / ICOUNT_N2 (iteration counts, default 2000 / 12000).
# Counts depend on the compiler: the baseline records the rustc version, and a
# different rustc is reported (compare with care, then --update).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=scripts/callgrind-baseline.txt
tolerance=${ICOUNT_TOLERANCE:-10}
n1=${ICOUNT_N1:-2000}
n2=${ICOUNT_N2:-12000}
mode=check
case "${1:-}" in
    --update) mode=update ;;
    "") ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

if ! command -v valgrind >/dev/null; then
    echo "valgrind is missing (apt-get install valgrind)" >&2
    exit 2
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p afb-bench --bin afb-icount
bin=$CARGO_TARGET_DIR/release/afb-icount
rustc_version=$(rustc --version)

# Total instructions of one run: PATH ITERATIONS.
ir() {
    local out
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1) || {
        echo "$out" >&2
        echo "afb-icount $1 $2 failed under callgrind" >&2
        return 1
    }
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out"
}

declare -A base=()
base_rustc=""
if [[ -f $baseline ]]; then
    base_rustc=$(sed -n 's/^# rustc: //p' "$baseline")
    while read -r path value _; do
        [[ -z $path || $path == \#* ]] && continue
        base[$path]=$value
    done <"$baseline"
fi

results=()
status=0
printf '%-32s %12s %12s %8s\n' path "Ir/iter" baseline change
for path in $("$bin" list | cut -f1); do
    a=$(ir "$path" "$n1")
    b=$(ir "$path" "$n2")
    per=$(awk -v a="$a" -v b="$b" -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.1f", (b - a) / (n2 - n1) }')
    results+=("$path $per")
    old=${base[$path]:-}
    if [[ -z $old ]]; then
        printf '%-32s %12s %12s %8s\n' "$path" "$per" "-" "new"
        [[ $mode == check ]] && status=1
        continue
    fi
    change=$(awk -v n="$per" -v o="$old" 'BEGIN { printf "%+.1f", (n - o) * 100 / o }')
    verdict=""
    if awk -v c="$change" -v t="$tolerance" 'BEGIN { exit !(c > t) }'; then
        verdict="  REGRESSION (> +$tolerance%)"
        status=1
    elif awk -v c="$change" -v t="$tolerance" 'BEGIN { exit !(c < -t) }'; then
        verdict="  faster: consider --update"
    fi
    printf '%-32s %12s %12s %7s%%%s\n' "$path" "$per" "$old" "$change" "$verdict"
done

if [[ $mode == update ]]; then
    {
        echo "# Instructions per iteration of each afb-icount path (scripts/callgrind.sh --update)."
        echo "# rustc: $rustc_version"
        printf '%s\n' "${results[@]}"
    } >"$baseline"
    echo "baseline written to $baseline"
    exit 0
fi

if [[ -n $base_rustc && $base_rustc != "$rustc_version" ]]; then
    echo "note: baseline made with '$base_rustc', now '$rustc_version': counts may differ for that reason alone"
fi
if [[ $status -ne 0 ]]; then
    echo "instruction counts: FAILED (a path regressed by more than $tolerance%, or has no baseline)"
else
    echo "instruction counts: ok (within +$tolerance% of the baseline)"
fi
exit $status
