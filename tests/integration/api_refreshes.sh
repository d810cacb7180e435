#!/usr/bin/env bash
# POST /sandboxes/{id}/refreshes {"duration":N}: extends the end time to now + N
# (at least 15 s), never shortens it; bad bodies 400, unknown sandboxes 404.
set -u
. "$(dirname "$0")/../lib.sh"

end_ms() { api GET "/sandboxes/$1" && date -d "$(echo "$HTTP_BODY" | jq -r .endAt)" +%s%3N; }

api POST /v2/sandboxes -d '{"templateID":"base","timeout":5}'
id=$(echo "$HTTP_BODY" | jq -r .sandboxID)
api POST "/sandboxes/$id/refreshes" -d '{"duration":120}'
check "refresh answers 204" [ "$HTTP_CODE" = 204 ]
e=$(end_ms "$id")
now=$(date +%s%3N)
check "the end time is now + 120 s" [ $((e - now)) -gt 115000 -a $((e - now)) -le 121000 ]
api POST "/sandboxes/$id/refreshes" -d '{"duration":20}'
check "a shorter refresh answers 204" [ "$HTTP_CODE" = 204 ]
check "and does not shorten" [ "$(end_ms "$id")" = "$e" ]
api POST "/sandboxes/$id/refreshes" -d ''
check "an empty body is accepted" [ "$HTTP_CODE" = 204 ]
api POST "/sandboxes/$id/refreshes" -d '{"duration":-1}'
expect_error "a negative duration is refused" 400
api POST "/sandboxes/$id/refreshes" -d '{"duration":"x"}'
expect_error "a non-integer duration is refused" 400
api POST "/sandboxes/$id/refreshes" -d '[1]'
expect_error "a body that is not an object is refused" 400
api GET "/sandboxes/$id/refreshes"
expect_error "GET is not allowed" 405
api DELETE "/sandboxes/$id"
api POST "/sandboxes/$id/refreshes" -d '{}'
expect_error "a killed sandbox: 404" 404

# A sandbox with a 5 s timeout lives on after a refresh (15 s minimum).
api POST /v2/sandboxes -d '{"templateID":"base","timeout":2}'
s=$(echo "$HTTP_BODY" | jq -r .sandboxID)
api POST "/sandboxes/$s/refreshes" -d '{"duration":1}'
sleep 4
api GET "/sandboxes/$s"
check "a 2 s sandbox refreshed (min 15 s) is alive after 4 s" [ "$HTTP_CODE" = 200 ]
api DELETE "/sandboxes/$s"
finish
