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
