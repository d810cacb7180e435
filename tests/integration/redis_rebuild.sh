#!/usr/bin/env bash
# Redis is only the live view: after it restarts empty (shutdown + start) or is
# flushed, cube-scheduler rebuilds the sandbox records from the workers and MariaDB,
# so sandboxes handed out before are still listed, described, routed, paused/resumed
# and killable, with their metadata, end time and lifecycle flags. While the view is
# incomplete the router answers 503 (retry), never "not found" or an unchecked route.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../../deploy/services.sh"

rcli() { redis-cli -s "$CUBE_RUN/redis.sock" "$@"; }
sql() { mariadb --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot -N cube -e "$1"; }
routed() { # routed GET /health of sandbox $1 through the router: prints the status
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "E2b-Sandbox-Id: $1" \
        -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health"
}
recorded() { [ "$(sql "SELECT COUNT(*) FROM sandboxes WHERE sandbox_id='$1' AND end_at IS NOT NULL")" = 1 ]; }
listed_ids() { api GET '/v2/sandboxes?limit=100' && echo "$HTTP_BODY" | jq -r '.[].sandboxID' 2>/dev/null | sort | tr '\n' ' '; }
wait_listed() { # wait (≤ 15 s) until the list holds $1 and $2
    for _ in $(seq 150); do
        l=$(listed_ids)
        case "$l" in *"$1"*"$2"* | *"$2"*"$1"*) return 0 ;; esac
        sleep 0.1
    done
    return 1
}

api POST /v2/sandboxes -d '{"templateID":"base","timeout":3600,"metadata":{"who":"rebuild"},"autoPause":true,"autoResume":{"enabled":true}}'
a=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "create A" [ "$HTTP_CODE" = 201 ]
api POST /v2/sandboxes -d '{"templateID":"base","timeout":1800}'
b=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "create B" [ "$HTTP_CODE" = 201 ]
api POST "/sandboxes/$b/pause" -d '{}'
check "pause B" [ "$HTTP_CODE" = 204 ]
api GET "/sandboxes/$a"
end_a=$(echo "$HTTP_BODY" | jq -r .endAt)
for _ in $(seq 50); do recorded "$a" && recorded "$b" && break; sleep 0.1; done
check "both are in MariaDB with their end time" recorded "$a"

# ---- Redis restarts empty (it keeps no snapshot)
rcli shutdown nosave >/dev/null 2>&1
for _ in $(seq 50); do pid_alive "$CUBE_RUN/redis.pid" || break; sleep 0.1; done
start_redis >/dev/null
check "redis came back without the gateway's records" [ -z "$(rcli hget "cube:sb:$a" template_id)" ]
check "after a Redis restart both sandboxes are listed again" wait_listed "$a" "$b"
api GET "/sandboxes/$a"
check "A keeps its metadata, end time and lifecycle" \
    jqt --arg e "$end_a" '.metadata.who == "rebuild" and .endAt == $e and .state == "running" and .lifecycle.onTimeout == "pause" and .lifecycle.autoResume == true and .templateID != "" and .alias == "base"' <<<"$HTTP_BODY"
api GET "/sandboxes/$b"
check "B is still paused" jqt '.state == "paused"' <<<"$HTTP_BODY"
check "A is routed" [ "$(routed "$a")" = 204 ]
api POST "/v2/sandboxes/$b/connect" -d '{"timeout":600}'
check "B resumes through connect" [ "$HTTP_CODE" = 201 ]
check "B is routed after the resume" [ "$(routed "$b")" = 204 ]

# ---- FLUSHALL (the workers stay connected and do not notice)
rcli flushall >/dev/null
check "after FLUSHALL both sandboxes are listed again" wait_listed "$a" "$b"
check "A is routed after the flush" [ "$(routed "$a")" = 204 ]
api GET "/sandboxes/$b"
check "B is running (resumed before the flush)" jqt '.state == "running"' <<<"$HTTP_BODY"
# Templates and keys come back too: a create works (keys within 1 s, templates ≤ 2 s).
ok_create=0
for _ in $(seq 50); do
    api POST /v2/sandboxes -d '{"templateID":"base","timeout":60}'
    [ "$HTTP_CODE" = 201 ] && { ok_create=1; break; }
    sleep 0.2
done
c=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "a create works after the flush (template records restored)" [ "$ok_create" = 1 ]

# ---- The router while the view is incomplete: never "not found" for a live sandbox,
# never a private sandbox's port without its token. cube-scheduler is stopped before
# P is created, so P's "created" event is still unread in Redis when Redis loses it:
# only the worker knows P then. cube-worker is stopped too (sandboxes keep running),
# so each stage holds until we move on.
routed_port() { # routed_port ID PORT [curl args]: sets R_CODE, R_BODY
    local id=$1 port=$2 out
    shift 2
    out=$(curl -s -w '\n%{http_code}' --max-time 10 -H "E2b-Sandbox-Id: $id" \
        -H "E2b-Sandbox-Port: $port" "$@" "$E2B_SANDBOX_URL/")
    R_CODE=${out##*$'\n'}
    R_BODY=${out%$'\n'*}
}
stop_pidfile cube-scheduler "$CUBE_RUN/scheduler.pid" >/dev/null
api POST /v2/sandboxes -d '{"templateID":"base","timeout":900,"autoPause":true,"network":{"allowPublicTraffic":false}}'
p=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "create P (private traffic, auto-pause) while cube-scheduler is down" [ "$HTTP_CODE" = 201 ]
api GET "/sandboxes/$p"
end_p=$(echo "$HTTP_BODY" | jq -r .endAt)
stop_pidfile cube-worker "$CUBE_RUN/worker.pid" >/dev/null
rcli flushall >/dev/null
sleep 0.2 # past cube_route_cache_ttl (100 ms): the next lookups go to Redis
routed_port "$p" 49983
check "no node registered: a routed request is a JSON 503, not the not-found 502" \
    jqt '.code == 503 and (.message | test("retry"))' <<<"$R_BODY"
[ "$R_CODE" = 503 ] || not_ok "status $R_CODE"
start_worker >/dev/null
for _ in $(seq 100); do [ "$(rcli scard cube:nodes)" = 1 ] && break; sleep 0.05; done
runtime_fields_only() { [ -n "$(rcli hget "cube:sb:$1" addr)" ] && [ -z "$(rcli hget "cube:sb:$1" template_id)" ]; }
check "the worker registered again, with P's runtime fields only" runtime_fields_only "$p"
routed_port "$p" 8000
check "before the scheduler restores P's record, its port is not reached without the token (503)" \
    jqt '.code == 503' <<<"$R_BODY"
[ "$R_CODE" = 503 ] || not_ok "status $R_CODE: $R_BODY"
start_scheduler >/dev/null
for _ in $(seq 100); do [ -n "$(rcli hget "cube:sb:$p" template_id)" ] && break; sleep 0.1; done
routed_port "$p" 8000
check "once rebuilt (its created event lost), P's port without the token is 403" [ "$R_CODE" = 403 ]
[ "$R_CODE" = 403 ] || echo "# $R_CODE $R_BODY; record: $(rcli hgetall "cube:sb:$p" | tr '\n' ' ')"
check "and A is routed again" [ "$(routed "$a")" = 204 ]
api GET "/sandboxes/$p"
check "P keeps its auto-pause and end time (from the worker's copy)" \
    jqt --arg e "$end_p" '.lifecycle.onTimeout == "pause" and .endAt == $e' <<<"$HTTP_BODY"
check "P, never recorded (its created event was lost), now has its durable row" \
    [ "$(sql "SELECT CONCAT(state, ' ', JSON_VALUE(live_fields, '$.traffic_token'), ' ', JSON_VALUE(live_fields, '$.auto_pause')) FROM sandboxes WHERE sandbox_id='$p'")" = "running 1 1" ]
api DELETE "/sandboxes/$p"
check "P is killable" [ "$HTTP_CODE" = 204 ]

api DELETE "/sandboxes/$a"
check "A is killable" [ "$HTTP_CODE" = 204 ]
check "A's route is gone" [ "$(routed "$a")" = 502 ]
api DELETE "/sandboxes/$b"
check "B is killable" [ "$HTTP_CODE" = 204 ]
api DELETE "/sandboxes/$c"
api GET "/sandboxes/$a"
expect_error "a killed sandbox stays gone (no rebuild brings it back)" 404
sleep 2.5
api GET "/sandboxes/$b"
expect_error "and stays gone after the next rebuild pass" 404
check "the kills are recorded" \
    [ "$(sql "SELECT COUNT(*) FROM sandboxes WHERE sandbox_id IN ('$a','$b') AND state='killed'")" = 2 ]

# ---- A create the gateway has not recorded yet is not rebuilt under it: the worker
# answers the create, then the gateway writes the record with the create's metadata;
# a rebuild in between replaced it with one without. Made here on the worker's own
# socket, so the gateway never records it: no rebuild in its first 3 s (a sweep runs
# every 2 s), then the rebuild of a sandbox whose create was lost, as before.
y="i$(gen_id 20)"
t0=$(date +%s%N)
curl -s --unix-socket "$CUBE_RUN/worker.sock" -X POST http://localhost/sandboxes \
    -d "{\"sandboxID\":\"$y\",\"templateID\":\"base\",\"accessToken\":\"t\"}" >/dev/null
early=""
while [ $((($(date +%s%N) - t0) / 1000000)) -lt 2600 ]; do
    [ -n "$(rcli hget "cube:sb:$y" template_id)" ] && { early=yes; break; }
    sleep 0.1
done
check "a sandbox its worker started under 3 s ago is not rebuilt from the worker's list" [ -z "$early" ]
for _ in $(seq 100); do [ -n "$(rcli hget "cube:sb:$y" template_id)" ] && break; sleep 0.1; done
check "after that it is (its create was lost)" [ -n "$(rcli hget "cube:sb:$y" template_id)" ]
api DELETE "/sandboxes/$y"
check "and it is killable" [ "$HTTP_CODE" = 204 ]
finish
