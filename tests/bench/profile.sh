#!/usr/bin/env bash
# profile.sh OUTDIR: where the time of a create goes. Runs a short create-exec-delete
# load (concurrency 10) while sampling the whole host with perf (software cpu-clock:
# hardware counters are often not exposed in VMs; `perf stat -e instructions true`
# tells), and reads the worker's own per-create timings from its log. Writes
# OUTDIR/profile.md (markdown for docs/benchmarks.md) and OUTDIR/profile.json.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/deploy/lib.sh"
OUT=$1
BENCH=${BENCH:-$ROOT/build/bin/cube-bench}
N=${PROFILE_N:-60}
log="$CUBE_LOG/worker.log"
from=$(($(wc -l <"$log") + 1))
hw="not exposed (perf stat: instructions <not supported>)"
perf stat -e instructions true 2>&1 | grep -q 'not supported' || hw="available"

perf_ok=0
if command -v perf >/dev/null; then
    perf record -e cpu-clock -F 499 -a -g -o "$OUT/perf.data" >"$OUT/perf.log" 2>&1 &
    ppid=$!
    sleep 0.5
    kill -0 "$ppid" 2>/dev/null && perf_ok=1
fi
run=$("$BENCH" --mode create-exec-delete -c 10 -n "$N" --warmup 10 --json 2>"$OUT/profile-bench.err")
if [ $perf_ok = 1 ]; then
    kill -INT "$ppid"
    wait "$ppid"
fi
# Worker-side create time (request in -> envd answered and /init applied).
worker_ms=$(tail -n +"$from" "$log" | sed -n 's/.* running (.*) in \([0-9]*\) ms (\([a-z]*\)).*/\1 \2/p')
wstats=$(printf '%s\n' "$worker_ms" | awk 'NF {print $1}' | sort -n | awk '
    {v[c++] = $1; s += $1}
    END {if (c) printf "{\"n\":%d,\"avg_ms\":%.1f,\"p50_ms\":%d,\"p99_ms\":%d}", c, s / c, v[int(0.5 * (c - 1) + 0.5)], v[int(0.99 * (c - 1) + 0.5)]; else printf "{\"n\":0}"}')
warm=$(printf '%s\n' "$worker_ms" | grep -c ' warm$' || true)
jq -cn --argjson run "${run:-null}" --argjson w "$wstats" --argjson warm "$warm" \
    '{run: $run, worker_create: $w, warm_claims: $warm}' >"$OUT/profile.json"

{
    echo "Profile of create-exec-delete at concurrency 10 ($N cycles): client p50"
    echo "$(jq -r '.run.series | "create \(.create.p50_ms|floor) ms, exec \(.exec.p50_ms|floor) ms, delete \(.delete.p50_ms|floor) ms"' "$OUT/profile.json" 2>/dev/null)."
    echo "The worker's own create time (its log: request in → envd answered and \`/init\` applied):"
    echo "$(jq -r '.worker_create | "avg \(.avg_ms // 0) ms, p50 \(.p50_ms // 0) ms, p99 \(.p99_ms // 0) ms over \(.n) creates"' "$OUT/profile.json"), $warm from a warm pool."
    echo "The rest of the client's create time is the gateway (placement in Redis, the"
    echo "worker call) and, once the pool is drained, waiting for a sandbox being prepared."
    echo "Hardware counters: $hw."
    if [ $perf_ok = 1 ] && [ -s "$OUT/perf.data" ]; then
        echo
        echo "CPU samples on the whole host during the run (perf, software cpu-clock), by process:"
        echo
        echo '```'
        perf report -i "$OUT/perf.data" --stdio --no-children --sort comm -q 2>/dev/null |
            awk 'NF && $1 ~ /%$/' | head -12
        echo '```'
        echo
        echo "Hottest symbols:"
        echo
        echo '```'
        perf report -i "$OUT/perf.data" --stdio --no-children --sort comm,sym -q -g none 2>/dev/null |
            awk 'NF && $1 ~ /%$/' | head -15
        echo '```'
    fi
} >"$OUT/profile.md"
