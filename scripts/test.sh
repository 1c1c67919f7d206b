#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, all tests (unit,
# property, integration against the real daemon, browser), the instruction
# count check of the hot paths, a 60 s soak, and short fuzz runs of every
# fuzz target. Installs missing tools first.
set -euo pipefail
cd "$(dirname "$0")/.."
# No test may pass by being skipped: a missing tool fails the test (afb_testkit::skip_or_fail).
export CI="${CI:-true}"

# Each step prints the seconds elapsed since the start (to see where the time goes).
started=$SECONDS
step() { printf '\n=== %s (at %d s)\n' "$*" "$((SECONDS - started))"; }

step "dependencies"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
# The daemon's default features include `zenoh` (scale-out): the workspace
# lines build, lint and test it (bins/afb-daemon/tests/zenoh.rs).
cargo clippy --workspace --all-targets --locked -- -D warnings
# The optional cleartext HTTP/2 (`--features http2`) must keep building (its test too).
cargo clippy -p afb-daemon --all-targets --features http2 --locked -- -D warnings
# So must a daemon without the sample APIs and Zenoh (`--no-default-features`).
cargo clippy -p afb-daemon --no-default-features --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

# Instruction counts of the hot paths (codecs, dispatch, REST through the HTTP server)
# against scripts/callgrind-baseline.txt: deterministic, unlike timings; builds
# afb-icount in release (a few minutes from a clean checkout).
step "instruction counts (scripts/callgrind.sh, fails above +10 % of the baseline)"
scripts/callgrind.sh

step "soak (60 s: memory and file descriptors back to baseline)"
SOAK_AFTER_TESTS=1 scripts/soak.sh 60

# After the soak: this rebuilds target/debug/afb-daemon with the feature.
step "cargo test --features http2 (an h2c request with prior knowledge)"
cargo test -p afb-daemon --features http2 --locked --test http2

step "fuzz (short runs)"
scripts/fuzz.sh short

echo
echo "all checks passed in $((SECONDS - started)) s"
