#!/usr/bin/env bash
# A stopped worker makes the API answer 503 at once (no hang); its sandboxes keep
# running and are managed again once it is back.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../../deploy/services.sh"

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
finish
