#!/usr/bin/env bash
# The in-sandbox agent's own numbers (make bench, section `agent`):
#   - Process/Start of `true` to its end event, on loopback inside one sandbox (cube-bench
#     run in the sandbox's network namespace against envd at 127.0.0.1:49983), straight
#     to the sandbox's address, and through the gateway; also the SDK's form of the same
#     command (`bash -l -c true`, what commands.run('true') sends);
#   - runCode('1+1') on a warm default python context (POST /execute on :49999, after a
#     first execution) of a code-interpreter-v1 sandbox, on loopback and through the
#     gateway;
#   - idle memory of cube-init and cube-envd (and cube-ci once started): RSS, PSS and
#     private bytes from /proc/<pid>/smaps_rollup, read from the host;
#   - the same calls through the real npm packages (agent_sdk.mjs), as peer rows;
#   - on loopback, the same series again with a client that ACKs each response chunk
#     at once (cube-bench --quickack): the difference is how long a server's small
#     write waits, under Nagle's algorithm, for the client's delayed ACK (40 ms).
# Every request reuses one keep-alive connection, as the SDK does. Prints one JSON line
# per measurement (results.jsonl style). Needs the stack up (make run; .cube/env) and
# root (nsenter).
#   AGENT_N=1000   calls per fast series (bash -l and the SDK rows use AGENT_N / 5)
#   AGENT_SDK=0    skip the SDK rows
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/deploy/lib.sh"
# shellcheck disable=SC1090,SC1091
. "${CUBE_ENV:-$ROOT/.cube/env}" || die "no .cube/env: start the stack (make run)"
# shellcheck disable=SC1091
. "$ROOT/tests/lib.sh"
# shellcheck disable=SC1091
. "$ROOT/tests/bench/lib.sh"
BENCH=${BENCH:-$ROOT/build/bin/cube-bench}
N=${AGENT_N:-1000}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "AGENT_N wants a positive whole number, not '$N'"
NS=$((N / 5 > 20 ? N / 5 : 20))
command -v nsenter >/dev/null || die "nsenter (util-linux) is needed"

SBS=()
cleanup() {
    local id
    for id in "${SBS[@]}"; do api DELETE "/sandboxes/$id"; done
}
trap cleanup EXIT

# create TEMPLATE: sets SB, TOKEN, ADDR, INIT_PID, TEMPLATE for a new sandbox.
create() {
    TEMPLATE=$1
    api POST /v2/sandboxes -d "{\"templateID\":\"$1\",\"timeout\":900}"
    SB=$(jq -r '.sandboxID // empty' <<<"$HTTP_BODY")
    TOKEN=$(jq -r '.envdAccessToken // empty' <<<"$HTTP_BODY")
    if [ "$HTTP_CODE" != 201 ] || [ -z "$SB" ]; then die "create $1: HTTP $HTTP_CODE $HTTP_BODY"; fi
    SBS+=("$SB")
    local info
    info=$(worker_get "/sandboxes/$SB")
    ADDR=$(jq -r '.address // empty' <<<"$info")
    INIT_PID=$(jq -r '.pid // empty' <<<"$info")
    if [ -z "$ADDR" ] || [ -z "$INIT_PID" ]; then die "the worker has no address or pid for $SB: $info"; fi
}

# mem PHASE NAME...: one JSON line per process found: RSS, PSS, private (clean+dirty),
# anonymous and peak RSS, in KiB.
mem() {
    local phase=$1 name pid
    shift
    for name in "$@"; do
        pid=$(find_comm "$INIT_PID" "$name")
        [ -n "$pid" ] || { say "agent: no $name in $SB" >&2; continue; }
        awk '$1 == "Rss:" {r = $2} $1 == "Pss:" {p = $2} $1 == "Anonymous:" {a = $2}
            $1 == "Private_Clean:" || $1 == "Private_Dirty:" {v += $2}
            END {print r + 0, p + 0, v + 0, a + 0}' "/proc/$pid/smaps_rollup" |
            jq -Rc --arg n "$name" --arg ph "$phase" --arg sb "$SB" --arg t "$TEMPLATE" \
                --argjson hwm "$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")" 'split(" ") | map(tonumber) |
                {system:"cube", mode:"agent-mem", process:$n, phase:$ph, template:$t, sandbox:$sb,
                 rss_kib:.[0], pss_kib:.[1], private_kib:.[2], anon_kib:.[3], hwm_kib:$hwm}'
    done
}

# bench VIA FORM MODE N [cube-bench args]: one cube-bench run against $SB, tagged.
bench() {
    local via=$1 form=$2 mode=$3 n=$4 url pre=() qa=false
    shift 4
    [[ " $* " == *" --quickack "* ]] && qa=true
    case $via in
    loopback) pre=(nsenter -n -t "$INIT_PID") url=http://127.0.0.1:$PORT ;;
    direct) url=http://$ADDR:$PORT ;;
    gateway) url=$E2B_SANDBOX_URL ;;
    esac
    say "agent: $mode $form, $via, $n calls" >&2
    "${pre[@]}" "$BENCH" --mode "$mode" --sandbox "$SB" --token "$TOKEN" --sandbox-url "$url" \
        -n "$n" --warmup "$((n / 10 > 5 ? n / 10 : 5))" --json "$@" |
        jq -c --arg m "agent-$mode" --arg v "$via" --arg f "$form" --arg t "$TEMPLATE" --argjson q "$qa" \
            '{system:"cube", mode:$m, via:$v, form:$f, template:$t, quickack:$q} + del(.mode)'
}

# Idle: a fresh sandbox of the base template, quiet for a moment.
create base
sleep 2
mem idle cube-init cube-envd

PORT=49983
bench loopback true exec "$N" --no-shell --cmd true
bench loopback true exec "$N" --no-shell --cmd true --quickack
bench direct true exec "$N" --no-shell --cmd true
bench gateway true exec "$N" --no-shell --cmd true
bench loopback "bash -l -c true" exec "$NS" --cmd true
bench gateway "bash -l -c true" exec "$NS" --cmd true
sleep 2
mem after-use cube-init cube-envd
# envd keeps finished processes for a minute: read the base sandbox again after that.
BASE=("$SB" "$TOKEN" "$ADDR" "$INIT_PID" "$TEMPLATE") BASE_USED=$SECONDS

# The floor under those numbers: this host's own (v)fork + exec + wait of /bin/true
# from C, nothing else in the way (envd starts processes the vfork way).
for how in vfork fork; do
    say "agent: host $how+exec+wait of /bin/true, $N times" >&2
    "$(dirname "$BENCH")/spawn-floor" --how "$how" -n "$N" /bin/true |
        jq -c '{system:"host", mode:"agent-host-spawn"} + .'
done

create code-interpreter-v1
PORT=49999
bench loopback 1+1 run-code "$N" --cmd 1+1
bench loopback 1+1 run-code "$N" --cmd 1+1 --quickack
bench gateway 1+1 run-code "$N" --cmd 1+1
sleep 2
mem after-use cube-init cube-envd cube-ci

SB=${BASE[0]} TOKEN=${BASE[1]} ADDR=${BASE[2]} INIT_PID=${BASE[3]} TEMPLATE=${BASE[4]}
[ $((SECONDS - BASE_USED)) -ge 65 ] || sleep $((65 - (SECONDS - BASE_USED)))
mem after-use-65s cube-init cube-envd

if [ "${AGENT_SDK:-1}" != 0 ]; then
    say "agent: e2b SDK, commands.run('true') and runCode('1+1'), $NS calls each" >&2
    (cd "$ROOT/tests/sdk" && { [ -d node_modules/e2b ] || npm ci --no-audit --no-fund >/dev/null 2>&1; } &&
        SDK_DIR="$ROOT/tests/sdk" node "$ROOT/tests/bench/agent_sdk.mjs" "$NS") ||
        say "agent: the SDK run failed" >&2
fi
