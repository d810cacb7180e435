#!/usr/bin/env bash
# Bad input at the gateway: each gets the documented JSON error and changes nothing.
set -u
. "$(dirname "$0")/../lib.sh"

count_sandboxes() { redis-cli -s /run/cube/redis.sock zcard cube:sandboxes; }
before=$(count_sandboxes)

http POST /v2/sandboxes -H 'Content-Type: application/json' -d '{"templateID":"base"}'
expect_error "create without API key is 401" 401
http POST /v2/sandboxes -H 'X-API-Key: e2b_1111111111111111111111111111111111111111' -d '{}'
expect_error "create with a wrong API key is 401" 401
http GET /sandboxes/iabc -H 'x-api-key: nope'
expect_error "get with a malformed API key is 401" 401

api POST /v2/sandboxes -d '{"templateID": "base",'
expect_error "malformed JSON is 400" 400
api POST /v2/sandboxes -d '[1,2]'
expect_error "a JSON array body is 400" 400
api POST /v2/sandboxes -d '{"templateID": 7}'
expect_error "a non-string templateID is 400" 400
api POST /v2/sandboxes -d '{"templateID":"base","timeout":0}'
expect_error "timeout 0 is 400" 400
api POST /v2/sandboxes -d '{"templateID":"base","metadata":{"a":1}}'
expect_error "non-string metadata is 400" 400
api POST /sandboxes -d '{"templateID":"does-not-exist"}'
expect_error "unknown template is 404 (v1)" 404
api POST /v2/sandboxes -d '{"templateID":"does-not-exist"}'
expect_error "unknown template is 404 (v2)" 404
bigfile=$(mktemp)
{ printf '{"templateID":"base","metadata":{"x":"'; head -c 3000000 /dev/zero | tr '\0' 'a'; printf '"}}'; } >"$bigfile"
api POST /v2/sandboxes --data-binary "@$bigfile"
rm -f "$bigfile"
expect_error "an oversized body is 413" 413

api GET /sandboxes/iunknown0000000000000
expect_error "unknown sandbox id on GET is 404" 404
api DELETE /sandboxes/iunknown0000000000000
expect_error "unknown sandbox id on DELETE is 404" 404
api GET '/sandboxes/BAD!id'
expect_error "an invalid sandbox id is 400" 400
api GET /nope
expect_error "an unknown route is 404" 404

out=$(curl -s -w '\n%{http_code}' -H 'E2b-Sandbox-Id: iunknown0000000000000' -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")
code=${out##*$'\n'}
body=${out%$'\n'*}
if [ "$code" = 502 ] && echo "$body" | jq -e '.code == 502 and .sandboxId == "iunknown0000000000000" and (.message|test("not found"))' >/dev/null; then
    ok "router: unknown sandbox is 502 with the E2B body"
else
    not_ok "router: unknown sandbox is 502 with the E2B body (got $code: $body)"
fi

after=$(count_sandboxes)
check "no sandbox was created by any bad request" [ "$before" = "$after" ]
finish
