#!/usr/bin/env bash
# peer_time.sh NAME N CMD...: run CMD N times, print one JSON line with per-start
# latencies (ms; $EPOCHREALTIME, so timing adds no fork). Used for runc / crun / bwrap running `echo ready` on Cube's own
# template rootfs, measured in the same run as Cube. PEER_SAMPLES=FILE also writes the
# sorted per-start latencies (ms), one a line, for the chart.
set -u
name=$1 n=$2
shift 2
lat=()
errors=0
for _ in $(seq "$n"); do
    t0=${EPOCHREALTIME/./}
    if out=$("$@" 2>/dev/null) && [ "$out" = ready ]; then
        lat+=($((${EPOCHREALTIME/./} - t0)))
    else
        errors=$((errors + 1))
    fi
done
sorted=$(printf '%s\n' "${lat[@]:-}" | sort -n)
[ -n "${PEER_SAMPLES:-}" ] && awk 'NF {printf "%.3f\n", $1 / 1000.0}' <<<"$sorted" >"$PEER_SAMPLES"
awk -v name="$name" -v n="$n" -v errors="$errors" '
    NF { v[c++] = $1 / 1000.0; s += $1 / 1000.0 }
    END {
        if (c == 0) { printf "{\"mode\":\"%s\",\"count\":%d,\"ok\":0,\"errors\":%d}\n", name, n, errors; exit }
        printf "{\"mode\":\"%s\",\"count\":%d,\"ok\":%d,\"errors\":%d,\"min_ms\":%.3f,\"avg_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
            name, n, c, errors, v[0], s / c, v[int(0.5 * (c - 1) + 0.5)], v[int(0.95 * (c - 1) + 0.5)], v[int(0.99 * (c - 1) + 0.5)], v[c - 1]
    }' <<<"$sorted"
