#!/usr/bin/env bash
# API keys live hashed in MariaDB and reach the gateway through Redis: a new key works,
# a revoked key stops working within the scheduler's sync period, and only the hash is
# stored anywhere.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

sched() {
    "$CUBE_BUILD/bin/cube-scheduler" --mysql-socket "$CUBE_RUN/mysql/mysqld.sock" \
        --redis "unix:$CUBE_RUN/redis.sock" --migrations "$CUBE_ROOT/scheduler/migrations" "$@"
}

key=$(sched key create --name "itest-$$")
check "a created key has the form e2b_<40 hex>" grep -qE '^e2b_[0-9a-f]{40}$' <<<"$key"
hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
stored=$(mariadb --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot -N cube -e "SELECT key_hash FROM api_keys WHERE key_prefix='${key:0:10}'")
check "MariaDB stores the SHA-256 of the key" [ "$stored" = "$hash" ]
plain=$(mariadb --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot -N cube -e "SELECT COUNT(*) FROM api_keys WHERE key_hash='$key' OR name='$key'")
check "MariaDB never stores the key itself" [ "$plain" = 0 ]
check "Redis holds the hash for the gateway" [ "$(redis-cli -s "$CUBE_RUN/redis.sock" exists "cube:apikey:$hash")" = 1 ]

http GET /sandboxes/inotthere00000000000 -H "X-API-Key: $key"
expect_error "the new key is accepted (unknown sandbox is 404, not 401)" 404
http GET /sandboxes/inotthere00000000000 -H "X-API-KEY: $key"
expect_error "the header name is case-insensitive" 404

id=$(sched key list --json | jq -r --arg p "${key:0:10}" 'select(.prefix == $p) | .id')
sched key revoke "$id" >/dev/null 2>&1
check "revoking the key succeeds" [ $? = 0 ]
for _ in $(seq 30); do
    http GET /sandboxes/inotthere00000000000 -H "X-API-Key: $key"
    [ "$HTTP_CODE" = 401 ] && break
    sleep 0.1
done
expect_error "a revoked key is refused with 401" 401
sched key check "$key"
check "key check reports the revoked key as invalid" [ $? = 1 ]
sched key revoke "$id" >/dev/null 2>&1
check "revoking twice reports nothing to revoke" [ $? = 1 ]
finish
