#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test the binder:
# Chromium (browser tests), json-c (C bindings), systemd-socket-activate
# (socket activation tests), tmux (afb-client's line editor test), unshare
# (journald test), valgrind (instruction counts), wrk (second REST load
# generator of scripts/bench.sh), cargo-fuzz.
# Under CI=true a test whose tool is missing fails instead of skipping.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=""
command -v chromium >/dev/null 2>&1 || need_apt="$need_apt chromium"
# valgrind: scripts/callgrind.sh (instruction counts of the hot paths, run by CI).
command -v valgrind >/dev/null 2>&1 || need_apt="$need_apt valgrind"
# wrk: the second REST load generator of scripts/bench.sh (scenario rest-wrk).
command -v wrk >/dev/null 2>&1 || need_apt="$need_apt wrk"
# json-c: linked by afb-cbinding (C bindings exchange json-c objects); its
# headers compile the C test bindings.
[ -f /usr/include/json-c/json.h ] || need_apt="$need_apt libjson-c-dev"
command -v cc >/dev/null 2>&1 || need_apt="$need_apt gcc"
# nm: the hello-so test reads the shared object's dynamic symbols.
command -v nm >/dev/null 2>&1 || need_apt="$need_apt binutils"
# systemd-socket-activate: the socket activation tests (`sd:` URIs).
command -v systemd-socket-activate >/dev/null 2>&1 || need_apt="$need_apt systemd"
# tmux: afb-client's interactive line editor is driven through a terminal.
command -v tmux >/dev/null 2>&1 || need_apt="$need_apt tmux"
# unshare and mount: the journald test gives the daemon a journal socket of
# its own in a user and mount namespace.
command -v unshare >/dev/null 2>&1 || need_apt="$need_apt util-linux"
command -v mount >/dev/null 2>&1 || need_apt="$need_apt mount"
# kill(1): the test kit signals the daemons it starts.
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || need_apt="$need_apt procps"
if [ -n "$need_apt" ]; then
    echo "install-deps: apt-get install$need_apt"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt >/dev/null
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "install-deps: cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi
