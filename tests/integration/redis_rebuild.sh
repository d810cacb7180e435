#!/usr/bin/env bash
# Redis is only the live view: after it restarts empty (shutdown + start) or is
# flushed, cube-scheduler rebuilds the sandbox records from the workers and MariaDB,
# so sandboxes handed out before are still listed, described, routed, paused/resumed
# and killable, with their metadata, end time and lifecycle flags.
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
    jq -e --arg e "$end_a" '.metadata.who == "rebuild" and .endAt == $e and .state == "running" and .lifecycle.onTimeout == "pause" and .lifecycle.autoResume == true and .templateID != "" and .alias == "base"' <<<"$HTTP_BODY" >/dev/null
api GET "/sandboxes/$b"
check "B is still paused" jq -e '.state == "paused"' <<<"$HTTP_BODY" >/dev/null
check "A is routed" [ "$(routed "$a")" = 204 ]
api POST "/v2/sandboxes/$b/connect" -d '{"timeout":600}'
check "B resumes through connect" [ "$HTTP_CODE" = 201 ]
check "B is routed after the resume" [ "$(routed "$b")" = 204 ]

# ---- FLUSHALL (the workers stay connected and do not notice)
rcli flushall >/dev/null
check "after FLUSHALL both sandboxes are listed again" wait_listed "$a" "$b"
check "A is routed after the flush" [ "$(routed "$a")" = 204 ]
api GET "/sandboxes/$b"
check "B is running (resumed before the flush)" jq -e '.state == "running"' <<<"$HTTP_BODY" >/dev/null
# Templates and keys come back too: a create works (keys within 1 s, templates ≤ 2 s).
ok_create=0
for _ in $(seq 50); do
    api POST /v2/sandboxes -d '{"templateID":"base","timeout":60}'
    [ "$HTTP_CODE" = 201 ] && { ok_create=1; break; }
    sleep 0.2
done
c=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "a create works after the flush (template records restored)" [ "$ok_create" = 1 ]

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
finish
