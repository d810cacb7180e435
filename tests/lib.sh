# Helpers for shell integration tests: TAP-like lines that tests/run-all.sh counts.
# Source after .cube/env; every test file prints `ok - …` / `not ok - …` lines.

T_FAILED=0
ok() { printf 'ok - %s\n' "$*"; }
not_ok() { printf 'not ok - %s\n' "$*"; T_FAILED=1; }
# check NAME CMD...: ok if CMD succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# jqt ARGS...: jq -e as a quiet test, for use inside check (a ">/dev/null"
# after check would swallow the check's own ok/not ok line).
jqt() { jq -e "$@" >/dev/null; }
# eventually CMD...: CMD succeeds within 5 s (tried every 50 ms). For what the worker
# removes after it answered: a deleted sandbox's host resources go in the background
# once its processes are dead.
eventually() {
    local _
    for _ in $(seq 100); do
        "$@" 2>/dev/null && return 0
        sleep 0.05
    done
    "$@"
}
# http METHOD PATH [curl args...]: sets HTTP_CODE and HTTP_BODY (API on E2B_API_URL).
http() {
    local method=$1 path=$2 out
    shift 2
    out=$(curl -s -X "$method" -w '\n%{http_code}' --max-time 30 "$@" "$E2B_API_URL$path")
    HTTP_CODE=${out##*$'\n'}
    HTTP_BODY=${out%$'\n'*}
}
api() { http "$1" "$2" -H "X-API-Key: $E2B_API_KEY" -H 'Content-Type: application/json' "${@:3}"; }
# expect_error NAME CODE: the last response had status CODE and body {"code":CODE,"message":"…"}.
expect_error() {
    local name=$1 code=$2
    if [ "$HTTP_CODE" = "$code" ] &&
        echo "$HTTP_BODY" | jq -e --argjson c "$code" '.code == $c and (.message | type == "string" and length > 0)' >/dev/null 2>&1; then
        ok "$name"
    else
        not_ok "$name (got $HTTP_CODE: ${HTTP_BODY:0:200})"
    fi
}
finish() { exit $T_FAILED; }

# Connect envelope (flags 0 + big-endian length) around a JSON message, on stdout.
connect_envelope() {
    local n
    n=$(printf '%s' "$1" | wc -c)
    printf "\\x00\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))%s" "$1"
}
# sb_sh ID TOKEN USER SCRIPT: bash -c SCRIPT in sandbox ID through the router (envd
# Process/Start, stderr merged); prints the decoded stdout.
sb_sh() {
    local id=$1 token=$2 user=$3 j
    j=$(jq -nc --arg s "exec 2>&1; $4" '{process:{cmd:"/bin/bash",args:["-c",$s]}}')
    connect_envelope "$j" | curl -sN --max-time 30 -X POST "$E2B_SANDBOX_URL/process.Process/Start" \
        -H "E2b-Sandbox-Id: $id" -H 'E2b-Sandbox-Port: 49983' \
        -H 'Content-Type: application/connect+json' -H "X-Access-Token: $token" \
        -H "Authorization: Basic $(printf '%s:' "$user" | base64 -w0)" --data-binary @- |
        grep -ao '"stdout":"[^"]*"' | sed 's/^[^:]*:"//; s/"$//' |
        while read -r b; do printf '%s' "$b" | base64 -d; done
}
# worker GET PATH: the local worker's control API (JSON on stdout).
worker_get() { curl -s --max-time 10 --unix-socket "$CUBE_RUN/worker.sock" "http://localhost$1"; }
