#!/usr/bin/env bash
# Routed requests per second: many concurrent keep-alive connections doing small GETs
# (envd's /health, 204, no body) through the router (header routing, as the SDK does,
# and preview-URL host routing) and, for comparison, straight to the sandbox's own
# address. Then the same GETs on one connection, one at a time: the router's added
# latency per small request (routed p50 - direct p50). Load from wrk (Debian package,
# installed here only, never for make run).
# Needs the stack up (make run; .cube/env). Prints one JSON line per run, shaped like
# cube-bench --json (system, mode "routed-rps", concurrency, count, ok, errors, *_ms,
# throughput_per_s) plus "target" (direct, router-header, router-host).
#   RPS_CONNECTIONS=64  RPS_THREADS=2  RPS_SECONDS=10   the throughput runs
#   RPS_LAT_SECONDS=5                                   the one-connection runs (0: none)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/deploy/lib.sh"
# shellcheck disable=SC1091
. "$ROOT/.cube/env"
C=${RPS_CONNECTIONS:-64}
T=${RPS_THREADS:-2}
D=${RPS_SECONDS:-10}
LD=${RPS_LAT_SECONDS:-5}
[ "$C" -ge "$T" ] || die "RPS_CONNECTIONS must be at least RPS_THREADS"

command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends wrk >/dev/null || die "wrk is not installed and apt-get could not install it"

work=$(mktemp -d /tmp/cube-rps.XXXXXX)
id=""
cleanup() {
    [ -n "$id" ] && curl -s -o /dev/null -X DELETE -H "X-API-Key: $E2B_API_KEY" "$E2B_API_URL/sandboxes/$id"
    rm -rf "$work"
}
trap cleanup EXIT

# wrk reports through this script: one JSON object when the run is done.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    '{"count":%d,"ok":%d,"errors":%d,"duration_s":%.3f,"min_ms":%.3f,"avg_ms":%.3f,' ..
    '"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"throughput_per_s":%.2f}\n',
    summary.requests, summary.requests - errors, errors, summary.duration / 1e6,
    latency.min / 1e3, latency.mean / 1e3, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.requests / (summary.duration / 1e6)))
end
LUA

out=$(curl -s -X POST -H "X-API-Key: $E2B_API_KEY" -H 'Content-Type: application/json' \
    -d '{"templateID":"base","timeout":600}' "$E2B_API_URL/v2/sandboxes")
id=$(jq -r '.sandboxID // empty' <<<"$out")
[ -n "$id" ] || die "create failed: $out"
addr=$(curl -s --unix-socket "$CUBE_RUN/worker.sock" "http://worker/sandboxes/$id" | jq -r .address)
if [ -z "$addr" ] || [ "$addr" = null ]; then die "no address for $id"; fi

# run TARGET CONNECTIONS THREADS SECONDS URL [wrk args]: one wrk run, one JSON line
run() {
    local target=$1 c=$2 t=$3 d=$4 url=$5 line
    shift 5
    say "$target: $c connections, $t threads, ${d}s -> $url" >&2
    # a short warm-up so every connection is open and the route is cached
    wrk -t"$t" -c"$c" -d1s "$@" "$url" >/dev/null 2>&1 || true
    line=$(wrk -t"$t" -c"$c" -d"${d}s" --latency -s "$work/report.lua" "$@" "$url" | grep '^{' | tail -1) || true
    [ -n "$line" ] || die "wrk produced no report for $target"
    jq -c --arg t "$target" --argjson c "$c" \
        '{system:"cube", mode:"routed-rps", target:$t, concurrency:$c} + .' <<<"$line"
}

# each target: throughput with C connections, then latency on one
targets() { # CONNECTIONS THREADS SECONDS
    run direct "$@" "http://$addr:49983/health"
    run router-header "$@" "$E2B_SANDBOX_URL/health" -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983'
    run router-host "$@" "$E2B_SANDBOX_URL/health" -H "Host: 49983-$id.$E2B_DOMAIN"
}

code=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983' \
    "$E2B_SANDBOX_URL/health")
[ "$code" = 204 ] || die "routed /health answered $code"
targets "$C" "$T" "$D"
if [ "$LD" -gt 0 ]; then targets 1 1 "$LD"; fi
