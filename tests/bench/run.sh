#!/usr/bin/env bash
# make bench: bring the stack up (normal build) and measure, in one run, Cube and its
# peers on this host; write docs/benchmarks.md and docs/benchmarks-create.png. Never
# part of make test.
#   BENCH_N=100              cycles per latency measurement
#   CUBE_BENCH_DENSITY=500   idle sandboxes for the density section (thousands work:
#                            the worker's --capacity is raised to fit, see below)
#   KEEP=1                   leave the stack running afterwards
#   BENCH_ONLY=routed,files  run only these sections (comma-separated) on a freshly
#                            started stack; the report then goes to build/bench/
#                            benchmarks.md, never to docs/ (it lacks the other
#                            sections' numbers). Sections, in run order:
#       create   cube-bench create-only / create-exec-delete / create-delete
#       api      cube-bench exec, pause/resume, routed vs direct, 16 MiB files
#       agent    agent.sh: Process/Start of `true` (loopback in the sandbox, direct,
#                gateway), warm runCode('1+1'), cube-init/cube-envd idle memory, and
#                the same calls through the npm SDKs
#       routed   routed_rps.sh: wrk routed req/s and per-request overhead vs direct
#       resume   resume-bench: the worker's own pause/resume time (no gateway)
#       files    files_big.sh: 1 GiB up and down, gateway and direct, peak memory
#       pool     pool-bench: warm claims, refill rate, cold creates (restarts the worker)
#       sdk      the e2b SDK cycle
#       density  CUBE_BENCH_DENSITY idle sandboxes
#       profile  create-exec-delete under perf
#       peers    runc, crun, bwrap on the same rootfs
#   FILES_BIG_MB=1024 FILES_BIG_ROUNDS=3   size and rounds of the files section
#   AGENT_N=BENCH_N*10       calls per series of the agent section
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export SAN=0
. "$ROOT/deploy/lib.sh"
. "$ROOT/tests/bench/lib.sh"
N=${BENCH_N:-100}
DENSITY=${CUBE_BENCH_DENSITY:-500}
OUT="$ROOT/build/bench"
SECTIONS=" create api agent routed resume files pool sdk density profile peers "
ONLY=${BENCH_ONLY:-}
ONLY=" ${ONLY//,/ } "
for sec in $ONLY; do
    [[ $SECTIONS == *" $sec "* ]] || die "BENCH_ONLY: no section '$sec' (sections:$SECTIONS)"
done
# want SECTION: the section is part of this run.
want() { [ -z "${BENCH_ONLY:-}" ] || [[ $ONLY == *" $1 "* ]]; }
rm -rf "$OUT/samples"
mkdir -p "$OUT/samples"
: >"$OUT/results.jsonl"
: >"$OUT/bench.err"

# Bench-only settings, applied to a freshly started stack: the per-key API rate limit
# (100 r/s by default) would throttle the load itself, and the worker's capacity
# (1000 by default) must hold the density run plus a margin for warm sandboxes.
export CUBE_API_RATE=100000 CUBE_API_BURST=100000
# Warm pool per template: enough for a create run (warm-up and measured cycles, 150 at
# 50 concurrent) to be served warm, as an operator sizing a node for that burst would
# (make run's default is 4). A run's deletes are answered as soon as the sandbox's
# processes are dead, so its loop creates faster than two spawners refill (about
# 40-50/s here): a smaller pool drains, and the rest of the run measures cold creates.
export CUBE_POOL_SIZE=${CUBE_POOL_SIZE:-$((N + 60))}
[ $((DENSITY + 256)) -gt 1000 ] && export CUBE_WORKER_CAPACITY=$((DENSITY + 256))
# gnuplot draws the chart; installed here only, make run does not need it.
command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends gnuplot-nox >/dev/null || say "gnuplot-nox not installed: no chart"

bash "$ROOT/deploy/stop.sh" >"$OUT/stop.log" 2>&1
bash "$ROOT/deploy/run.sh" >"$OUT/run.log" 2>&1 || { tail -20 "$OUT/run.log"; die "make run failed"; }
. "$ROOT/.cube/env"
BENCH="$ROOT/build/bin/cube-bench"
export BENCH

record() { tee -a "$OUT/results.jsonl"; }
run_cube() { # mode concurrency count [cube-bench options]
    local mode=$1 c=$2 n=$3
    shift 3
    pools_settled || say "warm pools not full after 60 s; measuring anyway"
    say "cube: $mode, concurrency $c, $n cycles"
    "$BENCH" --mode "$mode" -c "$c" -n "$n" --warmup "$c" --json "$@" 2>>"$OUT/bench.err" |
        sed "s/^{/{\"system\":\"cube\",/" | record
}

# 1. create, create-exec-delete at concurrency 1, 10, 50 (raw samples for the chart).
if want create; then
    for c in 1 10 50; do run_cube create-only "$c" "$N" --samples "$OUT/samples/cube create c=$c.txt"; done
    for c in 1 10 50; do
        run_cube create-exec-delete "$c" "$N" --samples "$OUT/samples/cube create-exec-delete c=$c.txt"
    done
    run_cube create-delete 50 "$N"
fi
# 5. pause/resume, routed vs direct, envd exec, file transfer.
if want api; then
    run_cube exec 1 "$N"
    run_cube resume 1 "$((N / 2 > 10 ? N / 2 : 10))"
    run_cube route 1 "$((N * 5))"
    run_cube files 1 10 --file-mb 16
fi

# 5a. the in-sandbox agent: envd's Process/Start and the code interpreter's /execute on
# loopback and through the gateway, cube-init/cube-envd idle memory, the SDK's view.
if want agent; then
    pools_settled || say "warm pools not full after 60 s; measuring anyway"
    say "agent: Process/Start of true, warm runCode('1+1'), idle memory of the agent"
    AGENT_N=${AGENT_N:-$((N * 10))} bash "$ROOT/tests/bench/agent.sh" 2>>"$OUT/bench.err" | record ||
        say "agent.sh failed (build/bench/bench.err)"
fi

# 5b. routed requests per second under load (wrk) and per-request router overhead.
if want routed; then
    pools_settled || say "warm pools not full after 60 s; measuring anyway"
    say "routed: wrk, routed and direct small GETs"
    bash "$ROOT/tests/bench/routed_rps.sh" 2>>"$OUT/bench.err" | record || say "routed_rps.sh failed (build/bench/bench.err)"
fi
# 5c. the worker's own pause/resume time, on its socket (no gateway, no Redis).
if want resume; then
    pools_settled || say "warm pools not full after 60 s; measuring anyway"
    say "worker level: $N pause/resume cycles"
    "$ROOT/build/bin/resume-bench" --json -n "$N" 2>>"$OUT/bench.err" |
        sed 's/^{/{"system":"cube-worker",/' | record || say "resume-bench failed (build/bench/bench.err)"
fi
# 5d. big files through the gateway and direct; envd and gateway peak memory.
if want files; then
    pools_settled || say "warm pools not full after 60 s; measuring anyway"
    say "files: ${FILES_BIG_MB:-1024} MiB up and down, gateway and direct, ${FILES_BIG_ROUNDS:-3} rounds"
    bash "$ROOT/tests/bench/files_big.sh" --mb "${FILES_BIG_MB:-1024}" --rounds "${FILES_BIG_ROUNDS:-3}" \
        2>>"$OUT/bench.err" | record || say "files_big.sh failed (build/bench/bench.err)"
fi

# 1b. worker level (no gateway): warm-pool claims, refill rate, and cold creates with
# the worker restarted at --pool-size 0; then back to the bench's pool size.
if want pool; then
    say "host floor: system call, page fault, context switch, fork, namespaces"
    "$ROOT/build/bin/host-floor" -n 50 2>>"$OUT/bench.err" |
        sed 's/^{/{"system":"host","mode":"host-floor",/' | record || say "host-floor failed"
    say "worker level: warm creates and refill (pool size $CUBE_POOL_SIZE)"
    "$ROOT/build/bin/pool-bench" --json -n "$CUBE_POOL_SIZE" 2>>"$OUT/bench.err" |
        sed 's/^{/{"system":"cube-worker","mode":"pool",/' | record
    say "worker level: cold creates (pool size 0)"
    (
        # shellcheck disable=SC1091
        . "$ROOT/deploy/services.sh"
        stop_pidfile cube-worker "$CUBE_RUN/worker.pid" >/dev/null
        CUBE_POOL_SIZE=0 start_worker >/dev/null
        "$ROOT/build/bin/pool-bench" --json -n 20 2>>"$OUT/bench.err" |
            sed 's/^{/{"system":"cube-worker","mode":"cold",/' | record
        stop_pidfile cube-worker "$CUBE_RUN/worker.pid" >/dev/null
        start_worker >/dev/null
    ) || say "worker-level cold run failed"
fi

# 2. the same cycle through the real e2b SDK.
if want sdk; then
    say "e2b SDK: 30 sequential create -> echo ready -> kill"
    (cd "$ROOT/tests/sdk" && { [ -d node_modules/e2b ] || npm ci --no-audit --no-fund >/dev/null 2>&1; } &&
        SDK_DIR="$ROOT/tests/sdk" SDK_SAMPLES="$OUT/samples/e2b SDK cycle.txt" \
            node "$ROOT/tests/bench/sdk_cycle.mjs" 30) |
        sed 's/^{/{"system":"cube+e2b-sdk",/' | record
fi

# 4. density, then where the time goes.
if want density; then
    say "density: $DENSITY idle sandboxes"
    bash "$ROOT/tests/bench/density.sh" "$DENSITY" "$OUT" | record
fi
rm -f "$OUT/profile.md"
if want profile; then
    say "profile: create-exec-delete at concurrency 10 under perf"
    bash "$ROOT/tests/bench/profile.sh" "$OUT"
fi

# 3. peers: the same `echo ready` on the same rootfs (Cube's base template).
run_peers() {
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
        PEER_SAMPLES="$OUT/samples/runc run.txt" bash "$ROOT/tests/bench/peer_time.sh" "runc run" "$N" \
            runc run --bundle "$bundle" "cube-bench-runc-$$" | sed 's/^{/{"system":"runc",/' | record
    fi
    if command -v crun >/dev/null && ! why=$(crun run --bundle "$bundle" "cube-bench-crun-probe-$$" 2>&1 >/dev/null); then
        jq -cn --arg why "$why" '{system:"crun",mode:"crun run",ok:0,errors:0,note:("does not run on this host: " + $why)}' | record
    elif command -v crun >/dev/null; then
        PEER_SAMPLES="$OUT/samples/crun run.txt" bash "$ROOT/tests/bench/peer_time.sh" "crun run" "$N" \
            crun run --bundle "$bundle" "cube-bench-crun-$$" | sed 's/^{/{"system":"crun",/' | record
    fi
    if command -v bwrap >/dev/null; then
        PEER_SAMPLES="$OUT/samples/bwrap.txt" bash "$ROOT/tests/bench/peer_time.sh" "bwrap" "$N" \
            bwrap --ro-bind "$rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent \
            /bin/echo ready | sed 's/^{/{"system":"bwrap",/' | record
    fi
}
want peers && run_peers

# A partial run (BENCH_ONLY) reports into build/bench only: docs/ keeps the last
# complete run.
if [ -n "${BENCH_ONLY:-}" ]; then
    doc="$OUT/benchmarks.md" chart="$OUT/benchmarks-create.png"
else
    doc="$ROOT/docs/benchmarks.md" chart="$ROOT/docs/benchmarks-create.png"
fi
if command -v gnuplot >/dev/null && { want create || want sdk || want peers; }; then
    bash "$ROOT/tests/bench/chart.sh" "$OUT/samples" "$chart" || say "chart failed"
fi
bash "$ROOT/tests/bench/report.sh" "$OUT/results.jsonl" "$OUT/profile.md" >"$doc"
say "report written to ${doc#"$ROOT"/}"
[ "${KEEP:-0}" = 1 ] || bash "$ROOT/deploy/stop.sh" >>"$OUT/stop.log" 2>&1
cat "$doc"
