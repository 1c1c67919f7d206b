#!/usr/bin/env bash
# Soak test: mixed load (REST, wsj1, wsapi through a front binder, events,
# uploads) on two linked daemons for SECONDS (default 60), then checks that
# their memory and file descriptors are back to the baseline taken after the
# warm-up, that no upload is left, and that both still answer.
#   scripts/soak.sh [SECONDS] [afb-bench soak options...]
#   PROFILE=release scripts/soak.sh 600     # release binaries, 10 minutes
# Exit code 0 when nothing leaked.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
profile="${PROFILE:-debug}"
flag=""
[ "$profile" = release ] && flag="--release"
# Alone, only the two binaries are built. Right after `cargo test --workspace`
# (scripts/test.sh sets SOAK_AFTER_TESTS=1), the same set of targets is asked
# for: the binaries the tests built are then up to date, where building two
# packages alone would unify features differently and compile most of the
# workspace again (~100 s on the CI machine).
if [ -n "${SOAK_AFTER_TESTS:-}" ]; then
    cargo build $flag --locked --quiet --workspace --all-targets
else
    cargo build $flag --locked --quiet -p afb-daemon -p afb-bench
fi
bin="${CARGO_TARGET_DIR:-target}/$profile"
exec "$bin/afb-bench" soak --daemon "$bin/afb-daemon" --duration "$secs" "$@"
