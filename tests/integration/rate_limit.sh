#!/usr/bin/env bash
# Per-API-key rate limit in nginx: a key that floods gets 429 JSON with Retry-After,
# other keys are not affected, and the key recovers once the burst is over.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

flood_key=$("$CUBE_BUILD/bin/cube-scheduler" --mysql-socket "$CUBE_RUN/mysql/mysqld.sock" \
    --redis "unix:$CUBE_RUN/redis.sock" --migrations "$CUBE_ROOT/scheduler/migrations" key create --name flood)
# flood KEY N DIR: N requests from one curl over 20 parallel keep-alive connections
# (one process, so the load generator is not the bottleneck). Bodies land in DIR/<i>;
# prints "<status> <Retry-After> <file>" per request.
flood() {
    local cfg i
    cfg=$(mktemp)
    for i in $(seq "$2"); do
        printf 'url = "%s/sandboxes/inotthere0000000000000"\noutput = "%s/%s"\n' "$E2B_API_URL" "$3" "$i"
    done >"$cfg"
    curl -s -Z --parallel-max 20 -H "X-API-Key: $1" \
        -w '%{http_code} %header{retry-after} %{filename_effective}\n' -K "$cfg" 2>/dev/null
    rm -f "$cfg"
}
dir=$(mktemp -d)
out=$(flood "$flood_key" 600 "$dir")
n429=$(grep -c '^429 ' <<<"$out")
n404=$(grep -c '^404 ' <<<"$out")
check "a flood of 600 requests is partly refused with 429 ($n429 refused, $n404 served)" [ "$n429" -gt 0 -a "$n404" -gt 0 ]
line=$(grep -m1 '^429 ' <<<"$out")
HTTP_CODE=429
HTTP_BODY=$(cat "${line##* }" 2>/dev/null)
expect_error "the refusal is 429 with the JSON error body" 429
check "the refusal carries Retry-After: 1 ($line)" [ "$(awk '{print $2}' <<<"$line")" = 1 ]
rm -rf "$dir"

http GET /sandboxes/inotthere0000000000000 -H "X-API-Key: $E2B_API_KEY"
expect_error "another key is not limited meanwhile" 404
sleep 3
http GET /sandboxes/inotthere0000000000000 -H "X-API-Key: $flood_key"
expect_error "the flooding key works again after the burst" 404
finish
