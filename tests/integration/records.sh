#!/usr/bin/env bash
# Durable records: every sandbox's creation and end reach MariaDB through the
# cube:events stream, off the request path; events written while cube-scheduler is
# down are recorded once it is back, and a timeout is recorded as such.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../../deploy/services.sh"

sql() { mariadb --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot -N cube -e "$1"; }
wait_sql() { # wait until query $1 prints $2 (≤ 5 s)
    for _ in $(seq 50); do [ "$(sql "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}

api POST /v2/sandboxes -d '{"templateID":"base","metadata":{"team":"records"}}'
id=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "create" [ "$HTTP_CODE" = 201 ]
check "the creation is recorded with template and metadata" \
    wait_sql "SELECT CONCAT(state,' ',alias,' ',metadata) FROM sandboxes WHERE sandbox_id='$id'" 'running base {"team":"records"}'
api DELETE "/sandboxes/$id"
check "the kill is recorded with its reason" \
    wait_sql "SELECT CONCAT(state,' ',end_reason) FROM sandboxes WHERE sandbox_id='$id'" 'killed api'
check "both events are in the history" \
    wait_sql "SELECT GROUP_CONCAT(event ORDER BY id) FROM sandbox_events WHERE sandbox_id='$id'" 'created,killed'

api POST /v2/sandboxes -d '{"templateID":"base","timeout":1}'
tid=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "a sandbox that times out is recorded as ended by timeout" \
    wait_sql "SELECT CONCAT(state,' ',end_reason) FROM sandboxes WHERE sandbox_id='$tid'" 'killed timeout'

# set-timeout replaces an auto-pause sandbox's idle window; the record keeps it for a
# rebuild (live_fields.timeout_s), and its new end time.
api POST /v2/sandboxes -d '{"templateID":"base","timeout":300,"autoPause":true}'
aid=$(echo "$HTTP_BODY" | jq -r .sandboxID)
check "an auto-pause sandbox's idle window is recorded" \
    wait_sql "SELECT JSON_VALUE(live_fields, '$.timeout_s') FROM sandboxes WHERE sandbox_id='$aid'" 300
api POST "/sandboxes/$aid/timeout" -d '{"timeout":900}'
check "set-timeout" [ "$HTTP_CODE" = 204 ]
check "set-timeout's window replaces it in the record" \
    wait_sql "SELECT JSON_VALUE(live_fields, '$.timeout_s') FROM sandboxes WHERE sandbox_id='$aid'" 900
check "and moves the recorded end time" \
    wait_sql "SELECT TIMESTAMPDIFF(SECOND, NOW(), end_at) BETWEEN 880 AND 905 FROM sandboxes WHERE sandbox_id='$aid'" 1
api DELETE "/sandboxes/$aid"

stop_pidfile cube-scheduler "$CUBE_RUN/scheduler.pid" >/dev/null
api POST /v2/sandboxes -d '{"templateID":"base"}'
did=$(echo "$HTTP_BODY" | jq -r .sandboxID)
api DELETE "/sandboxes/$did"
check "the API works while the scheduler is down" [ "$HTTP_CODE" = 204 ]
check "nothing is recorded while it is down" [ -z "$(sql "SELECT state FROM sandboxes WHERE sandbox_id='$did'")" ]
start_scheduler >/dev/null
check "events from the downtime are recorded once it is back" \
    wait_sql "SELECT CONCAT(state,' ',end_reason) FROM sandboxes WHERE sandbox_id='$did'" 'killed api'
check "no event is recorded twice" \
    [ "$(sql "SELECT COUNT(*) FROM sandbox_events WHERE sandbox_id='$did'")" = 2 ]
finish
