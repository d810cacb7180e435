#!/usr/bin/env bash
# The router's gate: the traffic access token of sandboxes created with
# network.allowPublicTraffic=false, one resume for a burst of requests to a paused
# auto-resume sandbox (Redis lock), and the shared-memory route cache, which must not
# route to a killed sandbox for longer than its TTL (100 ms).
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

rcli() { redis-cli -s "$CUBE_RUN/redis.sock" "$@"; }
# routed PORT ID PATH [curl args]: sets R_CODE and R_BODY
routed() {
    local out
    out=$(curl -s -w '\n%{http_code}' --max-time 30 -H "E2b-Sandbox-Id: $2" \
        -H "E2b-Sandbox-Port: $1" "${@:4}" "$E2B_SANDBOX_URL$3")
    R_CODE=${out##*$'\n'}
    R_BODY=${out%$'\n'*}
}

# ---------------------------------------------------------------- traffic token
api POST /v2/sandboxes -d '{"templateID":"base","timeout":120,"network":{"allowPublicTraffic":false}}'
p=$(echo "$HTTP_BODY" | jq -r .sandboxID)
tok=$(echo "$HTTP_BODY" | jq -r .trafficAccessToken)
check "a private-traffic sandbox gets a 64-hex trafficAccessToken" \
    bash -c "[[ '$tok' =~ ^[0-9a-f]{64}$ ]]"
api POST "/v2/sandboxes/$p/connect" -d '{}'
check "connect returns the same traffic token" \
    [ "$(echo "$HTTP_BODY" | jq -r .trafficAccessToken)" = "$tok" ]
routed 8000 "$p" /
check "no token: 403 with the documented message" jqt --arg id "$p" \
    '.code == 403 and .sandboxId == $id and .message == "Sandbox is secured with traffic access token. Token header '"'"'e2b-traffic-access-token'"'"' is missing"' <<<"$R_BODY"
[ "$R_CODE" = 403 ] || not_ok "status $R_CODE"
# The last character changed to one it is not (a fixed "0" equals it 1 time in 16).
bad_tok=${tok%?}$([ "${tok: -1}" = 0 ] && echo 1 || echo 0)
routed 8000 "$p" / -H "e2b-traffic-access-token: $bad_tok"
check "a wrong token is refused (403)" [ "$R_CODE" = 403 ]
routed 8000 "$p" / -H "e2b-traffic-access-token: $tok"
check "the right token passes the gate (nothing listens on 8000: port-closed 502)" \
    jqt '.code == 502 and .port == 8000' <<<"$R_BODY"
routed 8000 "$p" / -H "cube-traffic-access-token: $tok"
check "the cube-traffic-access-token alias works" [ "$R_CODE" = 502 ]
curl -s -o /dev/null -H "Host: 8000-$p.$E2B_DOMAIN" "$E2B_SANDBOX_URL/" -w '%{http_code}' >/tmp/.cube_host_code
check "host routing is gated too" [ "$(cat /tmp/.cube_host_code)" = 403 ]
routed 49983 "$p" /health
check "envd traffic needs no traffic token (the SDK sends none)" [ "$R_CODE" = 204 ]
api POST /v2/sandboxes -d '{"templateID":"base","timeout":60}'
pub=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "a public sandbox has no traffic token" jqt '.trafficAccessToken == null' <<<"$HTTP_BODY"
routed 8000 "$pub" /
check "and its ports need none" [ "$R_CODE" = 502 ]
api POST /sandboxes -d '{"templateID":"base","network":{"allowPublicTraffic":false}}'
expect_error "v1 create with private traffic but without secure is refused" 400
# The access log is buffered (flushed every second): first see the requests that
# carried the token logged, then look for the token.
logged() { for _ in $(seq 30); do grep -q "sandbox=$1:8000" "$CUBE_LOG/nginx-access.log" && return 0; sleep 0.1; done; return 1; }
check "the gated requests are in the access log" logged "$p"
check "the token never reaches the access log" bash -c "! grep -q '$tok' '$CUBE_LOG/nginx-access.log'"
api DELETE "/sandboxes/$p"
api DELETE "/sandboxes/$pub"

# ---------------------------------------------------------------- one resume per burst
api POST /v2/sandboxes -d '{"templateID":"base","timeout":120,"autoResume":{"enabled":true}}'
ar=$(echo "$HTTP_BODY" | jq -r .sandboxID)
api POST "/sandboxes/$ar/pause" -d '{}'
check "pause the auto-resume sandbox" [ "$HTTP_CODE" = 204 ]
codes=$(for _ in $(seq 20); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -H "E2b-Sandbox-Id: $ar" \
        -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health" &
done; wait)
check "20 concurrent requests to the paused sandbox all succeed" \
    [ "$(echo "$codes" | grep -c '^204$')" = 20 ]
resumed=$(rcli eval "local n = 0 for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do local t, i local f = e[2] for j = 1, #f, 2 do if f[j] == 'type' then t = f[j + 1] elseif f[j] == 'id' then i = f[j + 1] end end if t == 'resumed' and i == ARGV[1] then n = n + 1 end end return n" 1 cube:events "$ar")
check "and cost exactly one resume (one resumed event)" [ "$resumed" = 1 ]
check "the resume lock is released" [ "$(rcli exists "cube:resume:$ar")" = 0 ]
api GET "/sandboxes/$ar"
check "the sandbox is running" jqt '.state == "running"' <<<"$HTTP_BODY"
api DELETE "/sandboxes/$ar"

# ---------------------------------------------------------------- route cache
api POST /v2/sandboxes -d '{"templateID":"base","timeout":120}'
k=$(echo "$HTTP_BODY" | jq -r .sandboxID)
routed 49983 "$k" /health
routed 49983 "$k" /health
check "routed while running" [ "$R_CODE" = 204 ]
api DELETE "/sandboxes/$k"
routed 49983 "$k" /health
check "killed through the API: the very next request gets the not-found 502" \
    jqt '.code == 502 and .message == "The sandbox was not found"' <<<"$R_BODY"

# Killed behind the gateway's back (another gateway / the scheduler): its worker
# destroys it and drops the record; the cached route must die within the TTL.
api POST /v2/sandboxes -d '{"templateID":"base","timeout":120}'
k=$(echo "$HTTP_BODY" | jq -r .sandboxID)
for _ in 1 2 3; do routed 49983 "$k" /health; done
t0=$(date +%s%3N)
curl -s -o /dev/null --unix-socket "$CUBE_RUN/worker.sock" -X DELETE "http://worker/sandboxes/$k"
t1=$(date +%s%3N)
gone_ms=-1
bad=0
last_stale=-1 # start of the last request (ms after the kill) not yet told "not found"
for _ in $(seq 200); do
    ts=$(date +%s%3N)
    routed 49983 "$k" /health
    [ "$R_CODE" = 204 ] && bad=1
    if echo "$R_BODY" | jq -e '.message == "The sandbox was not found"' >/dev/null 2>&1; then
        gone_ms=$(($(date +%s%3N) - t1))
        break
    fi
    last_stale=$((ts - t1))
done
echo "# route gone ${gone_ms} ms after the worker's kill returned (kill took $((t1 - t0)) ms; last stale request started at ${last_stale} ms)"
check "no request reached the killed sandbox" [ "$bad" = 0 ]
# What the cache promises is about when a request starts, not how long the requests
# in between took on a loaded host: none started after the TTL (100 ms, plus 20 ms of
# clock granularity) may still use the dead route.
check "its cached route is gone within the TTL (no request started after 100 ms used it)" \
    [ "$gone_ms" -ge 0 -a "$last_stale" -le 120 ]
finish
