#!/usr/bin/env bash
# Faults under load: while a few clients keep creating sandboxes, running a command in
# them through the router, listing and killing them, Redis, MariaDB, cube-scheduler,
# one nginx worker process and cube-worker are restarted in turn. Every response is
# logged (status + body) and then judged:
#   * each one is the expected 2xx, or a JSON {"code","message"} error whose code is
#     the status, and the status is one a client can act on:
#       503  a backend (Redis, the worker) is down: retry later;
#       502  (routed only) the E2B router body for a port that does not answer: the
#            sandbox's envd is out of reach for a moment; only while cube-worker is
#            down or restarting;
#       no status at all (connection closed) only for requests that were in flight
#       in the nginx worker that was SIGKILLed;
#   * outside the outages (the baseline and a settling time after each recovery)
#     nothing but the expected 2xx;
#   * no sandbox handed out with a 201 is lost: the ones the load did not kill are
#     listed, described, routed and usable at the end, and a kill never says 404 for
#     one of them;
#   * MariaDB catches up: every sandbox created or killed during the run, the MariaDB
#     outage included, has its row with the right state once it is back.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../../deploy/services.sh"

LOOPS=${FAULTS_LOOPS:-3}
KEEP=3 # sandboxes each client keeps alive (older ones are killed)
W=$(mktemp -d /tmp/cube-faults.XXXXXX)
PIDS=()
# Only the load's own jobs are waited for: the services restarted below are children
# of this shell too.
trap 'touch "$W/stop"; [ ${#PIDS[@]} -gt 0 ] && wait "${PIDS[@]}"; rm -rf "$W"' EXIT
echo baseline >"$W/phase"

rcli() { redis-cli -s "$CUBE_RUN/redis.sock" "$@"; }
sql() { mariadb --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot -N cube -e "$1" 2>/dev/null; }

# ---------------------------------------------------------------- the load
# rq OP curl-args...: one request; sets RC (status, 000 without a response) and RB, and
# logs "start-phase end-phase client op status body" (body on one line, capped).
rq() {
    local op=$1 p0
    shift
    p0=$(<"$W/phase")
    RC=$(curl -s -o "$W/body.$L" -w '%{http_code}' --max-time 30 "$@" 2>/dev/null)
    # a response whose head came but whose body was cut off (curl fails) is "cut"
    [ $? != 0 ] && [ "${RC:-000}" != 000 ] && RC=cut
    RC=${RC:-000}
    if [ "$op" = exec ] && [ "$RC" = 200 ]; then
        RB="stdout=$(decode_stdout <"$W/body.$L")"
    else
        RB=$(tr -d '\0' <"$W/body.$L")
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p0" "$(<"$W/phase")" "$L" "$op" "$RC" \
        "$(printf '%s' "$RB" | tr -d '\n\t' | LC_ALL=C tr -c '[:print:]' '?' | head -c 600)" >>"$W/log.$L"
}
decode_stdout() {
    grep -ao '"stdout":"[^"]*"' | sed 's/^[^:]*:"//; s/"$//' | while read -r b; do printf '%s' "$b" | base64 -d; done
}
key_args=(-H "X-API-Key: $E2B_API_KEY" -H 'Content-Type: application/json')
user_auth="Authorization: Basic $(printf 'user:' | base64 -w0)"
exec_in() { # exec_in ID TOKEN [DELAY]: `echo ok-ID` in the sandbox through the router
    connect_envelope "{\"process\":{\"cmd\":\"/bin/bash\",\"args\":[\"-c\",\"sleep ${3:-0}; echo ok-$1\"]}}" >"$W/env.$L"
    rq exec -X POST "$E2B_SANDBOX_URL/process.Process/Start" -H "E2b-Sandbox-Id: $1" \
        -H 'E2b-Sandbox-Port: 49983' -H 'Content-Type: application/connect+json' \
        -H "X-Access-Token: $2" -H "$user_auth" --data-binary @"$W/env.$L"
}
load() {
    L=$1
    local kept=() dying=() k id
    while [ ! -e "$W/stop" ]; do
        rq create -X POST "$E2B_API_URL/v2/sandboxes" "${key_args[@]}" \
            -d "{\"templateID\":\"base\",\"timeout\":900,\"metadata\":{\"faults\":\"$L\"}}"
        if [ "$RC" = 201 ]; then
            id=$(jq -r .sandboxID <<<"$RB")
            kept+=("$id $(jq -r .envdAccessToken <<<"$RB")")
            echo "$id" >>"$W/handed"
        fi
        if [ ${#kept[@]} -gt 0 ]; then
            # the newest and a random one of those kept
            exec_in ${kept[-1]}
            exec_in ${kept[$((RANDOM % ${#kept[@]}))]}
        fi
        rq list "$E2B_API_URL/v2/sandboxes?metadata=faults%3D$L" "${key_args[@]}"
        # A kill that failed (503: the worker died, perhaps half-way through it) is
        # retried until it answers 204, or 404: that first kill went through.
        if [ ${#dying[@]} -gt 0 ]; then
            k=${dying[0]}
            rq kill-retry -X DELETE "$E2B_API_URL/sandboxes/$k" "${key_args[@]}"
            case $RC in
            204 | 404) echo "$k" >>"$W/maybe_killed"; dying=("${dying[@]:1}") ;;
            esac
        fi
        if [ ${#kept[@]} -gt "$KEEP" ]; then
            k=${kept[0]%% *}
            kept=("${kept[@]:1}")
            rq kill -X DELETE "$E2B_API_URL/sandboxes/$k" "${key_args[@]}"
            case $RC in
            204) echo "$k" >>"$W/killed" ;;
            000) echo "$k" >>"$W/maybe_killed" ;; # outcome unknown (nginx worker killed)
            *) dying+=("$k") ;;
            esac
        fi
    done
    printf '%s\n' "${kept[@]%% *}" >"$W/kept.$L"
    printf '%s\n' "${dying[@]}" >>"$W/maybe_killed"
}

# One sandbox for the slow commands of the nginx worker kill.
api POST /v2/sandboxes -d '{"templateID":"base","timeout":900,"metadata":{"faults":"burst"}}'
slow_id=$(jq -r .sandboxID <<<"$HTTP_BODY")
slow_tok=$(jq -r .envdAccessToken <<<"$HTTP_BODY")
echo "$slow_id" >"$W/burst"
for i in $(seq "$LOOPS"); do
    load "$i" &
    PIDS+=($!)
done

# ---------------------------------------------------------------- the faults
phase() { echo "$1" >"$W/phase.new" && mv "$W/phase.new" "$W/phase"; } # readers never see it empty
settle() { phase "steady-after-$1"; sleep "${2:-3}"; }
api_ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${key_args[@]}" "$E2B_API_URL/v2/sandboxes?limit=1")" = 200 ]; }
sleep 4

phase redis
rcli shutdown nosave >/dev/null 2>&1
for _ in $(seq 50); do pid_alive "$CUBE_RUN/redis.pid" || break; sleep 0.1; done
sleep 2
start_redis >/dev/null
phase recover-redis
# the live view is rebuilt within a few seconds (workers reconnect, scheduler passes)
for _ in $(seq 100); do api_ok && break; sleep 0.1; done
sleep 5
settle redis

phase mariadb
mariadb-admin --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot shutdown 2>/dev/null
for _ in $(seq 100); do pid_alive "$CUBE_RUN/mysql/mysqld.pid" || break; sleep 0.1; done
sleep 3
start_mariadb >/dev/null
settle mariadb

phase scheduler
stop_pidfile cube-scheduler "$CUBE_RUN/scheduler.pid" >/dev/null
sleep 2
start_scheduler >/dev/null
settle scheduler

phase nginx
master=$(cat "$CUBE_RUN/nginx.pid")
# Requests in flight in the victim when it dies: routed commands that take 2 s and a
# burst of creates (whose sandboxes, if their answer is lost, were never handed out).
for i in 1 2 3 4 5 6; do
    (L=slow$i; exec_in "$slow_id" "$slow_tok" 2) &
    PIDS+=($!)
done
sleep 0.5
# the victim: the nginx worker proxying most of the slow commands right now
slow_addr=$(worker_get "/sandboxes/$slow_id" | jq -r .address)
victim=$(ss -Htnp dst "$slow_addr:49983" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
[ -n "$victim" ] || victim=$(pgrep -P "$master" | head -1)
for i in 1 2 3 4; do (L=burst$i; rq create -X POST "$E2B_API_URL/v2/sandboxes" "${key_args[@]}" \
    -d '{"templateID":"base","timeout":900,"metadata":{"faults":"burst"}}'
    [ "$RC" = 201 ] && jq -r .sandboxID <<<"$RB" >>"$W/burst") &
    PIDS+=($!)
done
sleep 0.02
kill -KILL "$victim"
for _ in $(seq 50); do [ "$(pgrep -P "$master" | grep -vc "^$victim$")" -ge "$(nproc)" ] && break; sleep 0.1; done
sleep 1
settle nginx

phase worker
kill -KILL "$(cat "$CUBE_RUN/worker.pid")"
sleep 2
start_worker >/dev/null
phase recover-worker
sleep 2
settle worker 4

touch "$W/stop"
wait "${PIDS[@]}"
PIDS=()
cat "$W"/log.* >"$W/log"
cp "$W/log" "$CUBE_LOG/faults-load.log" 2>/dev/null # every response, for a failure's post-mortem
n=$(wc -l <"$W/log")
echo "# $n responses, $(wc -l <"$W/handed" 2>/dev/null || echo 0) sandboxes handed out, $(cat "$W"/kept.* | grep -c .) kept"
for p in redis recover-redis mariadb scheduler nginx worker recover-worker; do
    echo "# during $p: $(awk -F'\t' -v p="$p" '$1 == p || $2 == p {print $4 " " $5}' "$W/log" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
done

# ---------------------------------------------------------------- judging the log
expected() { case $1 in create) echo 201 ;; exec | list) echo 200 ;; kill) echo 204 ;; kill-retry) echo 204 404 ;; esac; }
bad_lines=$(while IFS=$'\t' read -r p0 p1 cl op code body; do
    [[ " $(expected "$op") " == *" $code "* ]] && continue
    steady=0
    case "$p0 $p1" in baseline\ baseline | steady-*\ steady-*) steady=1 ;; esac
    why=""
    if [ "$steady" = 1 ]; then
        why="non-2xx outside an outage"
    elif [ "$code" = 000 ] || [ "$code" = cut ]; then
        case "$p0 $p1" in *nginx*) ;; *) why="no (complete) response outside the nginx worker kill" ;; esac
    elif [ "$code" = 503 ]; then
        jq -e '.code == 503 and (.message | type == "string" and length > 0)' <<<"$body" >/dev/null 2>&1 ||
            why="503 without a JSON {code,message} body"
    elif [ "$code" = 502 ] && [ "$op" = exec ] &&
        jq -e '.code == 502 and .message == "The sandbox was not found"' <<<"$body" >/dev/null 2>&1; then
        # Its own live sandbox: "not found" would tell the SDK it is gone. While
        # Redis is rebuilt the router must say 503 (retry) instead.
        why="routed not-found 502 for a live sandbox"
    else
        why="status $code is not acceptable"
    fi
    [ -n "$why" ] && printf '%s: %s %s %s in %s..%s: %s\n' "$why" "$cl" "$op" "$code" "$p0" "$p1" "${body:0:200}"
done <"$W/log")
check "every response is the expected 2xx or a clean JSON 503 (or a documented 502/reset)" [ -z "$bad_lines" ]
[ -n "$bad_lines" ] && printf '%s\n' "$bad_lines" | sort | uniq -c | sort -rn | head -20 | sed 's/^/#   /'

check "a successful exec printed its marker" \
    bash -c "! awk -F'\t' '\$4 == \"exec\" && \$5 == 200 && \$6 !~ /^stdout=ok-i[a-z0-9]+\$/' '$W/log' | grep -q ."
cut=$(awk -F'\t' '$5 == "000" || $5 == "cut"' "$W/log" | wc -l)
check "the nginx worker died with requests in flight ($cut cut), and only those failed" [ "$cut" -ge 1 ]
# A create that began just before a steady phase and ended in it counts: on a loaded
# host one round of the load can outlast a whole (3 s) phase.
check "creates went through in every steady phase" \
    bash -c "for p in baseline steady-after-redis steady-after-mariadb steady-after-scheduler steady-after-nginx steady-after-worker; do awk -F'\t' -v p=\"\$p\" '(\$1 == p || \$2 == p) && \$4 == \"create\" && \$5 == 201' '$W/log' | grep -q . || { echo \"# no create 201 in \$p\"; exit 1; }; done"

# ---------------------------------------------------------------- nothing lost
sort -u "$W/burst" 2>/dev/null >"$W/kept.burst"
kept=$(cat "$W"/kept.* | grep . | sort)
listed=$(for g in $(seq "$LOOPS") burst; do
    api GET "/v2/sandboxes?limit=100&metadata=faults%3D$g"
    jq -r '.[].sandboxID' <<<"$HTTP_BODY"
done | sort)
missing=$(comm -23 <(echo "$kept") <(echo "$listed"))
check "every sandbox handed out and not killed is listed with its metadata ($(echo "$kept" | grep -c .))" [ -z "$missing" ]
[ -n "$missing" ] && echo "# missing: $missing"
lost_kill=$(awk -F'\t' '$4 == "kill" && $5 == 404' "$W/log")
check "no kill of a handed-out sandbox answered 404" [ -z "$lost_kill" ]
unusable=""
for id in $kept; do
    api GET "/sandboxes/$id"
    tok=$(jq -r .envdAccessToken <<<"$HTTP_BODY")
    [ "$HTTP_CODE" = 200 ] && jq -e '.state == "running" and .metadata.faults != null' <<<"$HTTP_BODY" >/dev/null ||
        { unusable+=" $id(get $HTTP_CODE)"; continue; }
    out=$(sb_sh "$id" "$tok" user "echo still-$id")
    [ "$out" = "still-$id" ] || unusable+=" $id(exec '$out')"
done
check "each is described, routed and runs a command at the end" [ -z "$unusable" ]
[ -n "$unusable" ] && echo "# unusable:$unusable"
still=$(comm -12 <(sort -u "$W/killed" 2>/dev/null) <(echo "$listed"))
check "sandboxes killed with a 204 are not listed" [ -z "$still" ]

# ---------------------------------------------------------------- MariaDB caught up
db_count() { # db_count STATE IDS...: how many of IDS MariaDB holds in STATE
    local st=$1
    shift
    [ $# = 0 ] && { echo 0; return; }
    sql "SELECT COUNT(*) FROM sandboxes WHERE state='$st' AND sandbox_id IN ($(printf "'%s'," "$@" | sed 's/,$//'))"
}
nk=$(echo "$kept" | grep -c .)
killed=$(sort -u "$W/killed" 2>/dev/null)
nd=$(echo "$killed" | grep -c .)
for _ in $(seq 100); do
    rows_k=$(db_count running $kept)
    rows_d=$(db_count killed $killed)
    [ "$rows_k" = "$nk" ] && [ "$rows_d" = "$nd" ] && break
    sleep 0.1
done
check "MariaDB records every kept sandbox as running ($rows_k of $nk)" [ "$rows_k" = "$nk" ]
check "and every killed one as killed ($rows_d of $nd)" [ "$rows_d" = "$nd" ]

# ---------------------------------------------------------------- clean up
# Everything on the worker goes, also sandboxes never handed out (a create whose answer
# died with the nginx worker; cube-scheduler lists them again within seconds).
for t in $(seq 60); do
    ids=$(worker_get /sandboxes | jq -r '.[].sandboxID' 2>/dev/null)
    [ -z "$ids" ] && break
    for id in $ids; do
        api DELETE "/sandboxes/$id"
        [ "$HTTP_CODE" = 404 ] && [ "$t" -gt 20 ] &&
            curl -s -o /dev/null --unix-socket "$CUBE_RUN/worker.sock" -X DELETE "http://worker/sandboxes/$id"
    done
    sleep 0.5
done
check "the worker holds no sandbox afterwards" [ -z "$ids" ]
for _ in $(seq 50); do [ "$(rcli zcard cube:sandboxes)" = 0 ] && break; sleep 0.1; done
check "and none is listed" [ "$(rcli zcard cube:sandboxes)" = 0 ]
finish
