#!/usr/bin/env bash
# make bench: bring the stack up (normal build) and measure, in one run, Cube and its
# peers on this host; write docs/benchmarks.md. Never part of make test.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export SAN=0
. "$ROOT/deploy/lib.sh"
N=${BENCH_N:-100}
OUT="$ROOT/build/bench"
mkdir -p "$OUT"
: >"$OUT/results.jsonl"

bash "$ROOT/deploy/run.sh" >"$OUT/run.log" 2>&1 || { tail -20 "$OUT/run.log"; die "make run failed"; }
. "$ROOT/.cube/env"
BENCH="$ROOT/build/bin/cube-bench"

record() { tee -a "$OUT/results.jsonl"; }
run_cube() { # mode concurrency count
    say "cube: $1, concurrency $2, $3 cycles"
    "$BENCH" --mode "$1" -c "$2" -n "$3" --warmup "$2" --json | sed "s/^{/{\"system\":\"cube\",/" | record
}

for c in 1 10 50; do run_cube create-only "$c" "$N"; done
for c in 1 10 50; do run_cube create-exec-delete "$c" "$N"; done
run_cube create-delete 50 "$N"
run_cube exec 1 "$N"

say "e2b SDK: 30 sequential create -> echo ready -> kill"
(cd "$ROOT/tests/sdk" && { [ -d node_modules/e2b ] || npm ci --no-audit --no-fund >/dev/null 2>&1; } &&
    SDK_DIR="$ROOT/tests/sdk" node "$ROOT/tests/bench/sdk_cycle.mjs" 30) |
    sed 's/^{/{"system":"cube+e2b-sdk",/' | record

# Peers: the same `echo ready` on the same rootfs (Cube's base template).
missing=()
for p in bubblewrap runc crun; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing peers: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rootfs=$(dirname "$(grep -l '"alias": *"base"' "$CUBE_STATE"/templates/*/template.json | head -1)")/rootfs
bundle="$OUT/oci"
rm -rf "$bundle" && mkdir -p "$bundle"
(cd "$bundle" && runc spec >/dev/null 2>&1)
jq --arg r "$rootfs" '.root = {path: $r, readonly: true} | .process.terminal = false |
    .process.args = ["/bin/echo", "ready"]' "$bundle/config.json" >"$bundle/c.json" && mv "$bundle/c.json" "$bundle/config.json"
say "peers: runc, crun, bwrap ($N starts each)"
if command -v runc >/dev/null; then
    bash "$ROOT/tests/bench/peer_time.sh" "runc run" "$N" runc run --bundle "$bundle" "cube-bench-runc-$$" | sed 's/^{/{"system":"runc",/' | record
fi
if command -v crun >/dev/null && ! why=$(crun run --bundle "$bundle" "cube-bench-crun-probe-$$" 2>&1 >/dev/null); then
    jq -cn --arg why "$why" '{system:"crun",mode:"crun run",ok:0,errors:0,note:("does not run on this host: " + $why)}' | record
elif command -v crun >/dev/null; then
    bash "$ROOT/tests/bench/peer_time.sh" "crun run" "$N" crun run --bundle "$bundle" "cube-bench-crun-$$" | sed 's/^{/{"system":"crun",/' | record
fi
if command -v bwrap >/dev/null; then
    bash "$ROOT/tests/bench/peer_time.sh" "bwrap" "$N" bwrap --ro-bind "$rootfs" / --proc /proc --dev /dev \
        --unshare-all --die-with-parent /bin/echo ready | sed 's/^{/{"system":"bwrap",/' | record
fi

bash "$ROOT/tests/bench/report.sh" "$OUT/results.jsonl" >"$ROOT/docs/benchmarks.md"
say "report written to docs/benchmarks.md"
cat "$ROOT/docs/benchmarks.md"
