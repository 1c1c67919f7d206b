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
cargo build $flag --locked --quiet -p afb-daemon -p afb-bench
bin="${CARGO_TARGET_DIR:-target}/$profile"
exec "$bin/afb-bench" soak --daemon "$bin/afb-daemon" --duration "$secs" "$@"
