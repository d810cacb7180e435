#!/usr/bin/env bash
# envd dies inside a running sandbox (a crash, an OOM kill): cube-init starts it again,
# and the new envd comes back with the sandbox's init (--init-file): the access token
# is still required and still accepted, and the env vars are still there.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

api POST /v2/sandboxes -d '{"templateID":"base","timeout":120,"envVars":{"CUBE_RESTART_T":"kept"}}'
check "create" [ "$HTTP_CODE" = 201 ]
id=$(jq -r .sandboxID <<<"$HTTP_BODY")
tok=$(jq -r .envdAccessToken <<<"$HTTP_BODY")
B=$(mktemp)
trap 'rm -f "$B"' EXIT
envd() { # envd PATH [curl args]: routed GET to envd; prints the status, body in $B
    local path=$1
    shift
    curl -s -o "$B" -w '%{http_code}' --max-time 10 -H "E2b-Sandbox-Id: $id" \
        -H 'E2b-Sandbox-Port: 49983' "$@" "$E2B_SANDBOX_URL$path"
}
check "envs need the token" [ "$(envd /envs)" = 401 ]
check "envs with the token" [ "$(envd /envs -H "X-Access-Token: $tok")" = 200 ]

init=$(curl -s --unix-socket "$CUBE_RUN/worker.sock" "http://localhost/sandboxes/$id" | jq -r .pid)
old=$(pgrep -P "$init" -x cube-envd | head -1)
check "the sandbox's envd is found (init $init, envd $old)" [ -n "$old" ]
kill -9 "$old"
new=""
for _ in $(seq 100); do
    new=$(pgrep -P "$init" -x cube-envd | head -1)
    [ -n "$new" ] && [ "$new" != "$old" ] && [ "$(envd /health)" = 204 ] && break
    sleep 0.1
done
check "cube-init started envd again (pid $new)" [ -n "$new" -a "$new" != "$old" ]
check "the restarted envd still refuses a request without the token" [ "$(envd /envs)" = 401 ]
check "and one with a wrong token" [ "$(envd /envs -H "X-Access-Token: x${tok:1}")" = 401 ]
code=$(envd /envs -H "X-Access-Token: $tok")
check "the right token still works" [ "$code" = 200 ]
check "the env vars are kept" jqt '.CUBE_RESTART_T == "kept"' "$B"
check "the kept init is root's only (mode 600)" \
    [ "$(stat -c %a "/proc/$new/root/run/cube-envd.init" 2>/dev/null)" = 600 ]

api DELETE "/sandboxes/$id"
check "kill" [ "$HTTP_CODE" = 204 ]
finish
