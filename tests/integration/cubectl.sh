#!/usr/bin/env bash
# cubectl, the operator tool: nodes, sandboxes, lifecycle, drain, history, keys.
set -u
. "$(dirname "$0")/../lib.sh"
C="$(dirname "$0")/../../deploy/cubectl"

node=$("$C" nodes --json | jq -r '.[0].id')
check "nodes --json lists this node as alive" [ "$("$C" nodes --json | jq -r '.[0].alive')" = true ]
check "nodes prints a table" bash -c "'$C' nodes | head -1 | grep -q '^NODE'"

api POST /v2/sandboxes -d '{"templateID":"base"}'
id=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "sandboxes lists a new sandbox as running" \
    [ "$("$C" sandboxes --json | jq -r --arg id "$id" '.[] | select(.id == $id) | .state')" = running ]
"$C" pause "$id" >/dev/null
check "pause freezes it (API shows paused)" bash -c "curl -s -H 'X-API-Key: $E2B_API_KEY' $E2B_API_URL/sandboxes/$id | jq -e '.state == \"paused\"' >/dev/null"
check "ps --state paused shows it" [ "$("$C" ps --state paused --json | jq -r '.[0].id')" = "$id" ]
"$C" resume "$id" >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")
check "resume makes it answer again" [ "$code" = 204 ]

"$C" drain "$node" >/dev/null
api POST /v2/sandboxes -d '{"templateID":"base"}'
expect_error "a drained node gets no new sandboxes (503)" 503
"$C" undrain "$node" >/dev/null
api POST /v2/sandboxes -d '{"templateID":"base"}'
id2=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "after undrain creates work again" [ "$HTTP_CODE" = 201 ]

"$C" kill "$id" >/dev/null
"$C" kill "$id2" >/dev/null
api GET "/sandboxes/$id"
expect_error "a sandbox killed with cubectl is gone from the API" 404
check "kill of an unknown sandbox fails" bash -c "! '$C' kill inotthere0000000000000 2>/dev/null"
sleep 1
check "history shows the admin kill" \
    bash -c "'$C' history 10 --json | jq -e --arg id '$id' '.[] | select(.sandboxID == \$id and .reason == \"admin\")' >/dev/null"
check "keys list --json is a JSON list" bash -c "'$C' keys list --json | jq -s -e 'length > 0' >/dev/null"
finish
