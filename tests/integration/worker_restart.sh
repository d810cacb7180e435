#!/usr/bin/env bash
# A stopped worker makes the API answer 503 at once (no hang); its sandboxes keep
# running and are managed again once it is back.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../../deploy/services.sh"
expect() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (want '$2', got '${3:0:300}')"; fi; }

api POST /v2/sandboxes -d '{"templateID":"base"}'
id=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "a sandbox is created before the worker stops" [ "$HTTP_CODE" = 201 ]

stop_pidfile cube-worker "$CUBE_RUN/worker.pid" >/dev/null
t0=$(date +%s%N)
api POST /v2/sandboxes -d '{"templateID":"base"}'
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_error "create with the worker stopped is 503" 503
check "the 503 came within a second (${ms} ms)" [ "$ms" -lt 1000 ]
api DELETE "/sandboxes/$id"
expect_error "kill with the worker stopped is 503" 503

code=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")
check "the sandbox still answers through the router while the worker is down" [ "$code" = 204 ]

start_worker >/dev/null
api GET "/sandboxes/$id"
check "the sandbox is still known after the worker restarts" [ "$HTTP_CODE" = 200 ]
api DELETE "/sandboxes/$id"
check "the re-adopted sandbox can be killed" [ "$HTTP_CODE" = 204 ]
code=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")
check "after kill the router answers 502" [ "$code" = 502 ]

# Open files: the worker raises its soft limit to the hard one (it holds a descriptor
# or two per sandbox), while sandboxes keep the limits it was started with. The
# re-adopted pooled sandboxes come from the previous worker: end them so the create
# gets one this worker made.
stop_pidfile cube-worker "$CUBE_RUN/worker.pid" >/dev/null
hard=$(ulimit -Hn)
(ulimit -Sn 512 && start_worker >/dev/null)
expect "a worker started with a soft open-files limit of 512 raised it to the hard one" "$hard $hard" \
    "$(awk '/^Max open files/ {print $4, $5}' "/proc/$(cat "$CUBE_RUN/worker.pid")/limits")"
for st in "$CUBE_STATE"/sandboxes/*/state.json; do
    jq -e '.state == "pooled" and .alias == "base"' "$st" >/dev/null 2>&1 && kill -9 "$(jq -r .pid "$st")" 2>/dev/null
done
for _ in $(seq 300); do
    curl -s --max-time 5 --unix-socket "$CUBE_RUN/worker.sock" http://localhost/pool |
        jq -e 'all(.pools[]; .ready == .size and .preparing == 0)' >/dev/null && break
    sleep 0.1
done
api POST /v2/sandboxes -d '{"templateID":"base"}'
id=$(jq -r .sandboxID <<<"$HTTP_BODY")
tok=$(jq -r '.envdAccessToken // ""' <<<"$HTTP_BODY")
expect "its sandboxes keep the limits it was started with (soft 512, hard $hard)" "512 $hard" \
    "$(sb_sh "$id" "$tok" user 'echo $(ulimit -Sn) $(ulimit -Hn)')"
api DELETE "/sandboxes/$id"
stop_pidfile cube-worker "$CUBE_RUN/worker.pid" >/dev/null
start_worker >/dev/null
finish
