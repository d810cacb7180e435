#!/usr/bin/env bash
# Routed activity for auto-pause: the router stamps each routed request in shared memory
# and one nginx worker writes the stamps to Redis (last_activity_ms of cube:sb:<id>)
# about once a second. A burst of 200 routed requests must cost Redis a number of
# writes bounded by the flushes, not by the requests; a long open request keeps being
# stamped while it lasts; a sandbox without autoPause is killed at its end regardless.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

rcli() { redis-cli -s "$CUBE_RUN/redis.sock" "$@"; }
now_ms() { date +%s%3N; }
last_activity() { rcli hget "cube:sb:$1" last_activity_ms; }

api POST /v2/sandboxes -d '{"templateID":"base","timeout":120,"autoPause":true}'
id=$(echo "$HTTP_BODY" | jq -r .sandboxID)
token=$(echo "$HTTP_BODY" | jq -r .envdAccessToken)
check "create records the timeout as the idle window (timeout_s)" \
    [ "$(rcli hget "cube:sb:$id" timeout_s)" = 120 ]

# ---------------------------------------------------------------- writes per request
mon=$(mktemp)
rcli monitor >"$mon" &
monpid=$!
sleep 0.3
t0=$(now_ms)
codes=$(for _ in $(seq 200); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -H "E2b-Sandbox-Id: $id" \
        -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health"
done | sort | uniq -c | awk '{print $2 "x" $1}')
t1=$(now_ms)
sleep 2.5 # the last stamps reach Redis within a flush interval (1 s)
kill "$monpid" 2>/dev/null
wait "$monpid" 2>/dev/null
secs=$(((t1 - t0 + 2500) / 1000 + 1))
check "200 routed requests answered 204 or 200 (got $codes)" \
    bash -c "[[ '$codes' =~ ^(200|204)x200$ ]]"
# Every command touching the sandbox's keys that can write (a script and each write
# inside it count), but the metrics sampler's (every 5 s, whatever the traffic).
writes=$(grep -F "$id" "$mon" | grep -vF "cube:metrics:$id" |
    grep -Ec '\] "(EVAL|EVALSHA|HSET|HSETNX|HMSET|HDEL|SET|DEL|EXPIRE|PEXPIRE|XADD|ZADD|ZREM|SADD|SREM|LPUSH|RPUSH|LTRIM|INCR|INCRBY|HINCRBY)" ')
stamps=$(grep -F "$id" "$mon" | grep -c '"HSET" "cube:sb:'"$id"'" "last_activity_ms"')
check "Redis writes for the sandbox during 200 requests and ${secs}s are bounded by the flushes ($writes writes, $stamps stamps)" \
    [ "$writes" -le $((2 * secs + 4)) -a "$stamps" -ge 1 -a "$stamps" -le $((secs + 1)) ]
rm -f "$mon"
la=$(last_activity "$id")
check "last_activity_ms is the burst's last request ($la, burst $t0..$t1)" \
    [ -n "$la" -a "${la:-0}" -ge "$t0" -a "${la:-0}" -le $((t1 + 1000)) ]

# ---------------------------------------------------------------- open requests
# One routed request that lasts 4 s (a process started through envd, streamed back):
# its sandbox counts as active while it is open, not only at its start.
sleep 1.5
start=$(now_ms)
out=$(sb_sh "$id" "$token" user 'sleep 4; echo done')
check "the long routed request completed ($out)" [ "$out" = done ]
# Its end is activity too.
sleep 1.5
la=$(last_activity "$id")
check "the end of a 4 s request is stamped (last_activity_ms $((la - start)) ms after its start)" \
    [ "$((la - start))" -ge 3500 ]
start2=$(now_ms)
(sb_sh "$id" "$token" user 'sleep 4; echo done' >/dev/null) &
bg=$!
sleep 3
mid=$(last_activity "$id")
check "while a request is open its stamp advances ($((mid - start2)) ms after its start, 3 s in)" \
    [ "$((mid - start2))" -ge 1000 ]
wait "$bg"
api DELETE "/sandboxes/$id"

# ---------------------------------------------------------------- no autoPause: hard end
api POST /v2/sandboxes -d '{"templateID":"base","timeout":3}'
k=$(echo "$HTTP_BODY" | jq -r .sandboxID)
end=$(($(now_ms) + 5000))
gone=""
while [ "$(now_ms)" -lt "$end" ]; do
    c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "E2b-Sandbox-Id: $k" \
        -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")
    [ "$c" = 502 ] && { gone=$(now_ms); break; }
    sleep 0.2
done
api GET "/sandboxes/$k"
check "without autoPause traffic does not extend the timeout: gone at its end (404)" \
    [ -n "$gone" -a "$HTTP_CODE" = 404 ]
finish
