#!/usr/bin/env bash
# Re-running `make run` while everything is up is safe: the same processes keep
# serving, the API key is kept, running sandboxes survive.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

api POST /v2/sandboxes -d '{"templateID":"base"}'
id=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "a sandbox runs before the re-run" [ "$HTTP_CODE" = 201 ]
pids_before="$(cat "$CUBE_RUN"/redis.pid "$CUBE_RUN"/mysql/mysqld.pid "$CUBE_RUN"/worker.pid "$CUBE_RUN"/scheduler.pid "$CUBE_RUN"/nginx.pid 2>/dev/null | tr '\n' ' ')"
key_before=$E2B_API_KEY

t0=$(date +%s)
bash "$CUBE_ROOT/deploy/run.sh" >/tmp/cube-rerun.$$ 2>&1
rc=$?
check "make run succeeds while up (rc $rc, $(( $(date +%s) - t0 )) s)" [ $rc = 0 ]
pids_after="$(cat "$CUBE_RUN"/redis.pid "$CUBE_RUN"/mysql/mysqld.pid "$CUBE_RUN"/worker.pid "$CUBE_RUN"/scheduler.pid "$CUBE_RUN"/nginx.pid 2>/dev/null | tr '\n' ' ')"
check "the same service processes keep running" [ "$pids_before" = "$pids_after" ]
. "$CUBE_ROOT/.cube/env"
check "the API key is kept" [ "$key_before" = "$E2B_API_KEY" ]
check "the template is reused, not rebuilt" grep -q "reusing it" /tmp/cube-rerun.$$
rm -f /tmp/cube-rerun.$$
code=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")
check "the sandbox still answers" [ "$code" = 204 ]
api DELETE "/sandboxes/$id"
check "and can be killed" [ "$HTTP_CODE" = 204 ]
finish
