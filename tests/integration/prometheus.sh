#!/usr/bin/env bash
# The Prometheus admin listener: loopback only, text exposition format that parses,
# counters that move with the API and router traffic they count, gauges from Redis
# (warm pools from the workers' heartbeats), resume latency histograms.
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
# histogram_ok NAME: buckets rise and +Inf equals _count in the last scrape.
histogram_ok() {
    local inf cnt mono
    inf=$(value "${1}_bucket{le=\"+Inf\"}")
    cnt=$(value "${1}_count")
    mono=$(grep "^${1}_bucket{" <<<"$M" | awk '{ if ($2 < p) bad = 1; p = $2 } END { print bad + 0 }')
    [ -n "$cnt" ] && [ "$mono" = 0 ] && [ "$inf" = "$cnt" ] && grep -q "^# TYPE $1 histogram" <<<"$M"
}

# ---------------------------------------------------------------- warm pools
pool=$(worker_get /pool)
tpl=$(jq -r '[.pools[] | select(.size > 0)][0].template // empty' <<<"$pool")
size=$(jq -r --arg t "$tpl" '.pools[] | select(.template == $t) | .size' <<<"$pool")
for _ in $(seq 30); do # the heartbeat writes the pools every 2 s
    M=$(scrape)
    [ -n "$(value "cube_pool_size{node=\"$node\",template=\"$tpl\"}")" ] && break
    sleep 0.2
done
check "pool size per node and template is the worker's ($tpl: $size)" \
    [ -n "$tpl" -a "$(value "cube_pool_size{node=\"$node\",template=\"$tpl\"}")" = "$size" ]
ready=$(value "cube_pool_ready{node=\"$node\",template=\"$tpl\"}")
waiting=$(value "cube_pool_waiting{node=\"$node\",template=\"$tpl\"}")
check "pool ready ($ready) and waiting ($waiting) are reported, ready within the size" \
    [ -n "$ready" -a -n "$waiting" ] && [ "$ready" -le "$size" ]
typed() { for n in "$@"; do grep -q "^# TYPE $n gauge$" <<<"$M" || return 1; done; }
check "pool gauges are typed" typed cube_pool_size cube_pool_ready cube_pool_preparing cube_pool_waiting

# ---------------------------------------------------------------- resume latencies
check "the activity flush has written routed activity" [ "$(value cube_router_activity_flushes_total)" -ge 1 ]
rw0=$(value cube_router_resume_wait_seconds_count)
ar0=$(value cube_router_auto_resumes_total)
cr0=$(value cube_api_resume_duration_seconds_count)
check "resume histograms are exposed before any resume" histogram_ok cube_router_resume_wait_seconds
api POST /v2/sandboxes -d '{"templateID":"base","timeout":60,"autoPause":true,"autoResume":{"enabled":true}}'
ap=$(echo "$HTTP_BODY" | jq -r .sandboxID)
api POST "/sandboxes/$ap/pause"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H "E2b-Sandbox-Id: $ap" \
    -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")
M=$(scrape)
check "a routed request resumes the paused sandbox ($code) and its gate wait is observed" \
    [ "${code:0:1}" = 2 -a "$(value cube_router_resume_wait_seconds_count)" = $((rw0 + 1)) \
    -a "$(value cube_router_auto_resumes_total)" = $((ar0 + 1)) ]
check "router resume histogram: buckets rise, +Inf equals count" histogram_ok cube_router_resume_wait_seconds
api POST "/sandboxes/$ap/pause"
api POST "/sandboxes/$ap/connect" -d '{"timeout":60}'
M=$(scrape)
check "a connect that resumes ($HTTP_CODE) is observed" \
    [ "$HTTP_CODE" = 201 -a "$(value cube_api_resume_duration_seconds_count)" = $((cr0 + 1)) ]
check "connect resume histogram: buckets rise, +Inf equals count" histogram_ok cube_api_resume_duration_seconds
api DELETE "/sandboxes/$ap"
finish
