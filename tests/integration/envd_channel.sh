#!/usr/bin/env bash
# The worker <-> envd channel on the host, without the stack (envd_channel.py plays
# the worker's end): readiness, init before any request, close after init, lock-out on
# a bad init, POST /init fallback, cube-init's hand-off. The same channel seen from
# inside a real sandbox: sandbox_channel.sh.
#
#   tests/integration/envd_channel.sh     (SAN=1 to test build/san, BIN=dir for another)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${BIN:-}" ]; then :; elif [ "${SAN:-0}" = 1 ]; then BIN=$ROOT/build/san/bin; else BIN=$ROOT/build/bin; fi
[ -x "$BIN/cube-envd" ] && [ -x "$BIN/cube-init" ] || { echo "not ok - binaries built (run make)"; exit 1; }
exec python3 "$ROOT/tests/integration/envd_channel.py" "$BIN"
