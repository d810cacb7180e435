#!/usr/bin/env bash
# The Prometheus admin listener: loopback only, text exposition format that parses,
# counters that move with the API and router traffic they count, gauges from Redis.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

ADMIN=${CUBE_ADMIN_LISTEN:-127.0.0.1:3090}
scrape() { curl -s --max-time 10 "http://$ADMIN/metrics"; }
# value NAME{LABELS}: the sample's value in the last scrape ($M)
value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$M"; }

M=$(scrape)
check "GET /metrics answers on the admin listener" [ -n "$M" ]
bad=$(grep -v '^#' <<<"$M" | grep -Evc '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? -?[0-9]+(\.[0-9]+)?$')
check "every sample line parses (name{labels} value)" [ "$bad" = 0 ]
untyped=$(grep -v '^#' <<<"$M" | sed -E 's/[{ ].*//; s/_(bucket|sum|count)$//' | sort -u | while read -r n; do
    grep -q "^# TYPE $n " <<<"$M" || grep -q "^# TYPE ${n}_[a-z]* " <<<"$M" || echo "$n"; done)
check "every metric has a TYPE line" [ -z "$untyped" ]
check "redis is up" [ "$(value cube_redis_up)" = 1 ]
node=$(redis-cli -s "$CUBE_RUN/redis.sock" smembers cube:nodes | head -1)
check "per-node capacity is reported" [ -n "$(value "cube_node_capacity{node=\"$node\"}")" ]
check "the public listener does not serve metrics" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$E2B_API_URL/metrics")" = 404 ]
check "the admin listener is bound to loopback only" \
    bash -c "ss -Hltn 'sport = :${ADMIN##*:}' | awk '{print \$4}' | grep -qv '^127\\.0\\.0\\.1:' && exit 1 || exit 0"

creates0=$(value cube_sandbox_creates_total)
kills0=$(value cube_sandbox_kills_total)
api2xx0=$(value 'cube_http_requests_total{kind="api",code="2xx"}')
r2xx0=$(value 'cube_http_requests_total{kind="router",code="2xx"}')
running0=$(value 'cube_sandboxes{state="running"}')
api POST /v2/sandboxes -d '{"templateID":"base","timeout":60}'
id=$(echo "$HTTP_BODY" | jq -r .sandboxID)
for _ in 1 2 3; do
    curl -s -o /dev/null -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health"
done
M=$(scrape)
check "a create counts once" [ "$(value cube_sandbox_creates_total)" = $((creates0 + 1)) ]
check "the new sandbox shows in sandboxes{state=running}" \
    [ "$(value 'cube_sandboxes{state="running"}')" = $((running0 + 1)) ]
check "API 2xx requests are counted" [ "$(value 'cube_http_requests_total{kind="api",code="2xx"}')" -ge $((api2xx0 + 1)) ]
check "routed requests are counted" [ "$(value 'cube_http_requests_total{kind="router",code="2xx"}')" -ge $((r2xx0 + 3)) ]
for k in api router; do
    inf=$(value "cube_http_request_duration_seconds_bucket{kind=\"$k\",le=\"+Inf\"}")
    cnt=$(value "cube_http_request_duration_seconds_count{kind=\"$k\"}")
    mono=$(grep "^cube_http_request_duration_seconds_bucket{kind=\"$k\"" <<<"$M" | awk '{ if ($2 < p) bad = 1; p = $2 } END { print bad + 0 }')
    check "$k latency histogram: buckets rise, +Inf equals count" [ "$mono" = 0 -a "$inf" = "$cnt" -a "$cnt" -gt 0 ]
done
api DELETE "/sandboxes/$id"
api DELETE "/sandboxes/$id"
M=$(scrape)
check "a kill counts once, the second (404) as an error" \
    [ "$(value cube_sandbox_kills_total)" = $((kills0 + 1)) -a "$(value cube_sandbox_kill_errors_total)" -ge 1 ]
finish
