#!/usr/bin/env bash
# cube-ci (the code interpreter, port 49999 in sandboxes) on its own, on the
# host: starts it on a random loopback port (plus a cube-envd for the global
# environment) and drives it with curl. Prints one "ok - <name>" /
# "not ok - <name>" line per check; exits non-zero if any failed. Only kills
# processes it started itself.
#
#   tests/integration/ci_standalone.sh        (SAN=1 to test build/san, BIN=dir for another build)
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${BIN:-}" ]; then :; elif [ "${SAN:-0}" = 1 ]; then BIN=$ROOT/build/san/bin; else BIN=$ROOT/build/bin; fi
CI=$BIN/cube-ci
ENVD=$BIN/cube-envd
INIT=$BIN/cube-init
TMP=$(mktemp -d /tmp/ci-test.XXXXXX)
FAILS=0
CI_PID=
ENVD_PID=
CI2_PID=
INIT_PID=

cleanup() {
    for p in $CI_PID $CI2_PID $ENVD_PID $INIT_PID; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() { echo "ok - $1"; }
notok() {
    echo "not ok - $1"
    FAILS=$((FAILS + 1))
    [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/#   /' "$2" | head -c 2000 && echo
}
# check NAME FILE-TO-SHOW-ON-FAILURE COMMAND...
check() {
    local name=$1 file=$2
    shift 2
    if "$@"; then ok "$name"; else notok "$name" "$file"; fi
}
has() { grep -qF -- "$2" "$1"; }
hasnt() { ! grep -qF -- "$2" "$1"; }

[ -x "$CI" ] && [ -x "$ENVD" ] && [ -x "$INIT" ] && [ -f "$BIN/ci-drivers/ci_python.py" ] ||
    { echo "not ok - binaries built (run make)"; exit 1; }
command -v python3 >/dev/null || { echo "not ok - python3 needed on the host"; exit 1; }

# start_daemon VAR-FOR-PID LOG HEALTH-PATH PROGRAM ARGS... (with PORTSPEC
# replaced by 127.0.0.1:<port>); sets PORT.
start_daemon() {
    local pidvar=$1 log=$2 health=$3 port try pid
    shift 3
    for try in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        "${@//PORTSPEC/127.0.0.1:$port}" >>"$log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            if curl -s -o /dev/null "http://127.0.0.1:$port$health"; then
                PORT=$port
                printf -v "$pidvar" %s "$pid"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    return 1
}

# envd, for the sandbox's global env (with an access token).
if start_daemon ENVD_PID "$TMP/envd.log" /health "$ENVD" --listen PORTSPEC; then
    ENVD_PORT=$PORT
    curl -s -o /dev/null -X POST "http://127.0.0.1:$ENVD_PORT/init" \
        -d '{"envVars":{"CI_GLOBAL":"from-envd"},"accessToken":"tok42"}'
else
    echo "not ok - cube-envd starts (global env checks will fail)"
    FAILS=$((FAILS + 1))
    ENVD_PORT=1
fi

if ! start_daemon CI_PID "$TMP/ci.log" /health "$CI" --listen PORTSPEC \
    --envd "127.0.0.1:$ENVD_PORT"; then
    echo "not ok - cube-ci starts and answers /health"
    cat "$TMP/ci.log"
    exit 1
fi
B=http://127.0.0.1:$PORT
code=$(curl -s -o "$TMP/h" -w '%{http_code}' "$B/health")
check "GET /health is 200 OK" "$TMP/h" test "$code" = 200 -a "$(cat "$TMP/h")" = OK

# exec NAME JSON [curl args]: POST /execute, NDJSON to $TMP/NAME.
exec_ci() {
    local name=$1 body=$2
    shift 2
    curl -sN -X POST "$B/execute" -H 'Content-Type: application/json' \
        -H 'X-Access-Token: tok42' "$@" -d "$body" >"$TMP/$name" 2>/dev/null
}
last_is_end() { [ "$(tail -n1 "$1")" = '{"type":"end_of_execution"}' ]; }
# every line is a JSON object with a type
ndjson_ok() {
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    assert isinstance(json.loads(l)["type"], str)' "$1" 2>/dev/null
}

curl -s "$B/contexts" >"$TMP/ctx0"
check "default python and javascript contexts are listed" "$TMP/ctx0" \
    python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); assert [c["language"] for c in l][:2]==["python","javascript"] and all(c["cwd"]=="/home/user" and c["id"] for c in l)' "$TMP/ctx0"

# ---------------------------------------------------------------- state
exec_ci s1 '{"code":"x = 41"}'
exec_ci s2 '{"code":"x + 1"}'
check "state persists: x = 41 then x + 1 gives result 42" "$TMP/s2" \
    has "$TMP/s2" '{"type":"result","text":"42","is_main_result":true'
check "execution counter counts per context" "$TMP/s2" \
    has "$TMP/s2" '{"type":"number_of_executions","execution_count":2}'
check "replies are NDJSON ending with end_of_execution" "$TMP/s2" \
    sh -c "$(declare -f last_is_end ndjson_ok); last_is_end '$TMP/s2' && ndjson_ok '$TMP/s2'"
exec_ci s3 '{"code":"\"abc\""}'
check "string results lose one pair of quotes" "$TMP/s3" has "$TMP/s3" '"text":"abc"'
exec_ci s4 '{"code":"y = 5"}'
check "no main result for a statement" "$TMP/s4" hasnt "$TMP/s4" '"type":"result"'

# ---------------------------------------------------------------- backpressure
# 192 MiB of stdout to a client that stalls for 3 s: cube-ci must stop reading
# the kernel's pipe (the code blocks) instead of buffering the output.
rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$CI_PID/status")
python3 "$ROOT/tests/integration/ci_slow_reader.py" 127.0.0.1 "$PORT" "$CI_PID" 192 3 >"$TMP/bp" 2>&1
read -r rss_st xc xe xend <<<"$(sed -E 's/[a-z_]+=//g' "$TMP/bp")"
check "backpressure: all 192 MiB of output arrive, end_of_execution last" "$TMP/bp" \
    test "${xc:-0}" = "${xe:-1}" -a "${xend:-0}" = 1
# ASan's quarantine keeps freed memory resident, so the bound is for plain builds.
if [ "${SAN:-0}" != 1 ]; then
    check "backpressure: cube-ci stays small while the client stalls (${rss0} kB -> ${rss_st} kB)" "$TMP/bp" \
        test "${rss_st:-999999}" -lt $((rss0 + 16384))
fi
exec_ci bp2 '{"code":"print(\"still here\")"}'
check "backpressure: the context runs the next execution" "$TMP/bp2" has "$TMP/bp2" '"text":"still here\n"'

# ---------------------------------------------------------------- streaming
curl -sN -X POST "$B/execute" \
    -d '{"code":"import time\nprint(\"first\")\ntime.sleep(1.5)\nprint(\"second\")"}' |
    while IFS= read -r line; do echo "$(date +%s%N) $line"; done >"$TMP/st"
streamed() {
    local t1 t2
    t1=$(grep '"text":"first\\n"' "$TMP/st" | cut -d' ' -f1)
    t2=$(grep end_of_execution "$TMP/st" | cut -d' ' -f1)
    [ -n "$t1" ] && [ -n "$t2" ] && [ $(((t2 - t1) / 1000000)) -ge 1000 ]
}
check "stdout is streamed as produced" "$TMP/st" streamed
check "stdout lines carry an ISO timestamp" "$TMP/st" \
    grep -qE '"type":"stdout","text":"second\\n","timestamp":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"' "$TMP/st"
exec_ci se '{"code":"import sys; sys.stderr.write(\"oops\\n\")"}'
check "stderr is reported" "$TMP/se" has "$TMP/se" '"type":"stderr","text":"oops\n"'
exec_ci sp '{"code":"import subprocess; subprocess.run([\"echo\", \"from-child\"])"}'
check "output of child processes is captured" "$TMP/sp" has "$TMP/sp" '"text":"from-child\n"'

# ---------------------------------------------------------------- errors
exec_ci e1 '{"code":"1/0"}'
check "exceptions become error lines with traceback" "$TMP/e1" \
    python3 -c 'import json,sys
e=[json.loads(l) for l in open(sys.argv[1]) if "\"error\"" in l][0]
assert e["name"]=="ZeroDivisionError" and e["value"]=="division by zero" and "Traceback" in e["traceback"] and "ci_python" not in e["traceback"]' "$TMP/e1"
check "error reply still ends with end_of_execution" "$TMP/e1" last_is_end "$TMP/e1"
exec_ci e2 '{"code":"def f(:"}'
check "syntax errors are reported" "$TMP/e2" has "$TMP/e2" '"name":"SyntaxError"'
exec_ci e3 '{"code":"undefined_name"}'
check "NameError is reported" "$TMP/e3" has "$TMP/e3" '"value":"name '"'"'undefined_name'"'"' is not defined"'

# ---------------------------------------------------------------- rich results
exec_ci r1 '{"code":"class H:\n    def _repr_html_(self): return \"<b>hi</b>\"\n    def _repr_markdown_(self): return \"**hi**\"\ndisplay(H())\n7"}'
check "display() gives a non-main result with html and markdown" "$TMP/r1" \
    has "$TMP/r1" '"html":"<b>hi</b>","markdown":"**hi**"'
check "display() result is not main, value is main" "$TMP/r1" \
    sh -c "grep -q '\"is_main_result\":false' '$TMP/r1' && grep -q '\"text\":\"7\",\"is_main_result\":true' '$TMP/r1'"
exec_ci r2 '{"code":"import json\nclass J:\n    def _repr_json_(self): return {\"a\": 1}\nJ()"}'
check "_repr_json_ maps to json" "$TMP/r2" has "$TMP/r2" '"json":{"a":1}'
exec_ci r3 '{"code":"await __import__(\"asyncio\").sleep(0, result=3)"}'
check "top-level await works" "$TMP/r3" has "$TMP/r3" '"text":"3"'
if python3 -c 'import matplotlib' 2>/dev/null; then
    exec_ci r4 '{"code":"import matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.show()"}'
    check "matplotlib figures become png results" "$TMP/r4" has "$TMP/r4" '"png":"iVBOR'
else
    exec_ci r4 '{"code":"import matplotlib"}'
    check "matplotlib absent: ModuleNotFoundError, no crash" "$TMP/r4" \
        has "$TMP/r4" '"name":"ModuleNotFoundError"'
    # A stand-in with matplotlib's shape checks the figure plumbing.
    mkdir -p "$TMP/mpl/matplotlib"
    : >"$TMP/mpl/matplotlib/__init__.py"
    printf '%s\n' 'class Figure:' \
        '    def savefig(self, buf, format=None, **kw):' \
        '        buf.write(b"\x89PNG\r\n\x1a\nfake")' >"$TMP/mpl/matplotlib/figure.py"
    printf '%s\n' 'from matplotlib.figure import Figure' '_figs = {}' \
        'def figure(num=None):' '    return _figs.setdefault(num or len(_figs) + 1, Figure())' \
        'def get_fignums():' '    return sorted(_figs)' \
        'def close(which=None):' '    _figs.clear()' >"$TMP/mpl/matplotlib/pyplot.py"
    exec_ci r5 "{\"code\":\"import sys; sys.path.insert(0, '$TMP/mpl')\\nimport matplotlib.pyplot as plt\\nplt.figure()\\nNone\"}"
    check "open figures become png results after the run (stand-in matplotlib)" "$TMP/r5" \
        has "$TMP/r5" '"png":"iVBORw0KGg'
    exec_ci r6 '{"code":"display(plt.figure()); plt.close()"}'
    check "display(figure) gives one png result" "$TMP/r6" \
        sh -c "[ \$(grep -c '\"png\":\"iVBORw0KGg' '$TMP/r6') = 1 ]"
fi

# ---------------------------------------------------------------- env
exec_ci v1 '{"code":"import os; os.environ[\"CI_VAR\"]","env_vars":{"CI_VAR":"per-run"}}'
check "env_vars apply to the execution" "$TMP/v1" has "$TMP/v1" '"text":"per-run"'
exec_ci v2 '{"code":"import os; os.environ.get(\"CI_VAR\", \"unset\")"}'
check "env_vars are removed afterwards" "$TMP/v2" has "$TMP/v2" '"text":"unset"'
exec_ci v3 '{"code":"import os; os.environ.get(\"CI_GLOBAL\", \"missing\")"}'
check "the sandbox global env (envd /envs with X-Access-Token) is injected" "$TMP/v3" \
    has "$TMP/v3" '"text":"from-envd"'
curl -s -X POST "$B/contexts" -d '{}' >"$TMP/v6c"
VID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/v6c" 2>/dev/null)
curl -sN -X POST "$B/execute" \
    -d "{\"code\":\"import os; os.environ.get('CI_GLOBAL', 'missing')\",\"context_id\":\"$VID\"}" >"$TMP/v6"
exec_ci v7 "{\"code\":\"os.environ.get('CI_GLOBAL', 'missing')\",\"context_id\":\"$VID\"}"
check "without a token envd refuses; the next execution's token gets the global env" \
    "$TMP/v7" sh -c "grep -q '\"text\":\"missing\"' '$TMP/v6' && grep -q '\"text\":\"from-envd\"' '$TMP/v7'"
curl -s -o /dev/null -X DELETE "$B/contexts/$VID"
exec_ci v4 '{"code":"import os; os.environ[\"HOME\"] = os.environ[\"HOME\"]; os.environ[\"HOME\"]","env_vars":{"HOME":"/tmp/h"}}'
exec_ci v5 '{"code":"import os; os.environ[\"HOME\"] != \"/tmp/h\""}'
check "an overridden variable is restored afterwards" "$TMP/v5" has "$TMP/v5" '"text":"True"'

# ---------------------------------------------------------------- HTTP errors
code=$(curl -s -o "$TMP/x1" -w '%{http_code}' -X POST "$B/execute" \
    -d '{"code":"1","context_id":"abc","language":"python"}')
check "context_id and language together: 400" "$TMP/x1" test "$code" = 400
code=$(curl -s -o "$TMP/x2" -w '%{http_code}' -X POST "$B/execute" -d '{"code":')
check "malformed body: 400" "$TMP/x2" test "$code" = 400
code=$(curl -s -D "$TMP/x3h" -o "$TMP/x3" -w '%{http_code}' -X POST "$B/execute" \
    -d '{"code":"1","context_id":"nope"}')
check "unknown context: 404 text/plain 'Context nope not found'" "$TMP/x3" \
    sh -c "test '$code' = 404 && test \"\$(cat '$TMP/x3')\" = 'Context nope not found' && grep -qi '^content-type: text/plain' '$TMP/x3h'"
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/nothing")
check "unknown path: 404" /dev/null test "$code" = 404

# ---------------------------------------------------------------- contexts
curl -s -X POST "$B/contexts" -d '{"language":"python","cwd":"/tmp"}' >"$TMP/c1"
CID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/c1" 2>/dev/null)
check "POST /contexts returns id, language, cwd" "$TMP/c1" \
    sh -c "[ -n '$CID' ] && grep -q '\"language\":\"python\"' '$TMP/c1' && grep -q '\"cwd\":\"/tmp\"' '$TMP/c1'"
curl -s -X POST "$B/contexts" -d '{}' >"$TMP/c1b"
check "POST /contexts defaults to python in /home/user" "$TMP/c1b" \
    has "$TMP/c1b" '"language":"python","cwd":"/home/user"'
curl -s "$B/contexts" >"$TMP/c2"
check "GET /contexts lists contexts in creation order" "$TMP/c2" \
    python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); assert l[-2]["id"]==sys.argv[2] and len(l)==4' "$TMP/c2" "$CID"
exec_ci c3 "{\"code\":\"import os; z = 1; os.getcwd()\",\"context_id\":\"$CID\"}"
check "a context runs in its cwd" "$TMP/c3" has "$TMP/c3" '"text":"/tmp"'
check "a new context counts from 1" "$TMP/c3" has "$TMP/c3" '"execution_count":1}'
exec_ci c4 "{\"code\":\"x\",\"context_id\":\"$CID\"}"
check "contexts do not share state" "$TMP/c4" has "$TMP/c4" '"name":"NameError"'
code=$(curl -s -o "$TMP/c5" -w '%{http_code}' -X POST "$B/contexts/$CID/restart")
exec_ci c6 "{\"code\":\"z\",\"context_id\":\"$CID\"}"
check "POST /contexts/{id}/restart: 200 and state cleared" "$TMP/c6" \
    sh -c "test '$code' = 200 && grep -q '\"name\":\"NameError\"' '$TMP/c6' && grep -q '\"execution_count\":1}' '$TMP/c6'"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/contexts/nope/restart")
check "restart of an unknown context: 404" /dev/null test "$code" = 404
code=$(curl -s -o "$TMP/c7" -w '%{http_code}' -X DELETE "$B/contexts/$CID")
check "DELETE /contexts/{id}: 200" "$TMP/c7" test "$code" = 200
code=$(curl -s -o "$TMP/c8" -w '%{http_code}' -X POST "$B/execute" \
    -d "{\"code\":\"1\",\"context_id\":\"$CID\"}")
check "execute on a deleted context: 404" "$TMP/c8" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$B/contexts/$CID")
check "DELETE of an unknown context: 404" /dev/null test "$code" = 404
curl -s "$B/contexts" >"$TMP/c9"
check "a deleted context is no longer listed" "$TMP/c9" hasnt "$TMP/c9" "$CID"

# ---------------------------------------------------------------- serialization
exec_ci q1 '{"code":"import time; time.sleep(1); q = 1"}' &
QP=$!
sleep 0.3
exec_ci q2 '{"code":"q + 1"}'
wait $QP
check "executions on one context are serialized" "$TMP/q2" has "$TMP/q2" '"text":"2"'

# ---------------------------------------------------------------- keepalive
exec_ci k1 '{"code":"import time; time.sleep(6); 1"}'
check "keepalive lines during 5 s of silence" "$TMP/k1" \
    sh -c "grep -q '{\"type\":\"keepalive\"}' '$TMP/k1' && grep -q '\"text\":\"1\"' '$TMP/k1'"

# ---------------------------------------------------------------- interrupt
exec_ci i1 '{"code":"import time; time.sleep(300)"}' --max-time 2
start=$(date +%s)
exec_ci i2 '{"code":"1 + 1"}' --max-time 10
took=$(($(date +%s) - start))
check "client disconnect interrupts: next execution answers within 10 s ($took s)" \
    "$TMP/i2" has "$TMP/i2" '"text":"2"'
exec_ci i3 '{"code":"x"}'
check "an interrupt keeps the context's state" "$TMP/i3" has "$TMP/i3" '"text":"41"'

exec_ci i4 '{"code":"import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(300)"}' --max-time 2
start=$(date +%s)
exec_ci i5 '{"code":"2 + 2"}' --max-time 10
took=$(($(date +%s) - start))
check "code ignoring the interrupt gets its kernel restarted within 10 s ($took s)" \
    "$TMP/i5" has "$TMP/i5" '"text":"4"'

# restart while an execution runs: it ends with ContextRestarting
curl -s -X POST "$B/contexts" -d '{}' >"$TMP/rc0"
RID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/rc0" 2>/dev/null)
exec_ci rc1 "{\"code\":\"import time; time.sleep(30)\",\"context_id\":\"$RID\"}" --max-time 20 &
RP=$!
sleep 1
curl -s -o /dev/null -X POST "$B/contexts/$RID/restart"
wait $RP
check "restart during an execution: error ContextRestarting, then end" "$TMP/rc1" \
    sh -c "grep -q '\"name\":\"ContextRestarting\"' '$TMP/rc1' && $(declare -f last_is_end); last_is_end '$TMP/rc1'"
curl -s -o /dev/null -X DELETE "$B/contexts/$RID"

# ---------------------------------------------------------------- javascript
if command -v node >/dev/null; then
    exec_ci j1 '{"code":"let jx = 41; console.log(\"hello js\")","language":"js"}'
    exec_ci j2 '{"code":"jx + 1","language":"javascript"}'
    check "javascript: console.log is stdout" "$TMP/j1" has "$TMP/j1" '"text":"hello js\n"'
    check "javascript: state persists (jx + 1 = 42)" "$TMP/j2" has "$TMP/j2" '"text":"42"'
    exec_ci j3 '{"code":"null.foo","language":"js"}'
    check "javascript: errors are reported" "$TMP/j3" has "$TMP/j3" '"name":"TypeError"'
    exec_ci j4 '{"code":"await new Promise(r => setTimeout(() => r(7), 50))","language":"js"}'
    check "javascript: top-level await" "$TMP/j4" has "$TMP/j4" '"text":"7"'
    exec_ci j5 '{"code":"while (true) {}","language":"js"}' --max-time 2
    exec_ci j6 '{"code":"jx","language":"js"}' --max-time 10
    check "javascript: disconnect interrupts a busy loop, state kept" "$TMP/j6" \
        has "$TMP/j6" '"text":"41"'
    exec_ci j7 '{"code":"process.env.JV","language":"js","env_vars":{"JV":"v"}}'
    check "javascript: env_vars" "$TMP/j7" has "$TMP/j7" '"text":"v"'
else
    ok "javascript checks skipped (no node) # SKIP"
fi

# ---------------------------------------------------------------- no runtime
if start_daemon CI2_PID "$TMP/ci2.log" /health env PATH=/nonexistent "$CI" \
    --listen PORTSPEC --envd ""; then
    curl -sN -X POST "http://127.0.0.1:$PORT/execute" -d '{"code":"1"}' >"$TMP/n1"
    check "a missing runtime is an error event, not a hang" "$TMP/n1" \
        sh -c "grep -q '\"name\":\"KernelError\"' '$TMP/n1' && $(declare -f last_is_end); last_is_end '$TMP/n1'"
    curl -sN -X POST "http://127.0.0.1:$PORT/execute" -d '{"code":"1","language":"r"}' >"$TMP/n2"
    check "an unsupported language is an error event" "$TMP/n2" has "$TMP/n2" 'is not supported'
else
    notok "second cube-ci starts" "$TMP/ci2.log"
fi

# ---------------------------------------------------------------- cube-init
# cube-init supervises cube-ci next to envd when asked (--ci; in a sandbox
# it does so by itself for /.cube/bin/cube-ci).
P1=$((20000 + RANDOM % 40000))
P2=$((P1 + 1))
"$INIT" --ci "$CI" --ci-arg --listen --ci-arg "127.0.0.1:$P1" --ci-arg --envd \
    --ci-arg "" -- "$ENVD" --listen "127.0.0.1:$P2" >"$TMP/init.log" 2>&1 &
INIT_PID=$!
both_up() {
    curl -s -o /dev/null "http://127.0.0.1:$P1/health" &&
        curl -s -o /dev/null "http://127.0.0.1:$P2/health"
}
for _ in $(seq 50); do both_up && break; sleep 0.1; done
check "cube-init --ci starts cube-ci and envd" "$TMP/init.log" both_up
ci_child() {
    local p
    for p in $(pgrep -P "$INIT_PID"); do
        [ "$(readlink "/proc/$p/exe")" = "$(readlink -f "$CI")" ] && echo "$p"
    done
}
child=$(ci_child)
[ -n "$child" ] && kill -9 "$child"
sleep 0.3
for _ in $(seq 50); do both_up && break; sleep 0.1; done
check "cube-init restarts a crashed cube-ci" "$TMP/init.log" \
    sh -c "[ -n '$child' ] && curl -s 'http://127.0.0.1:$P1/health' | grep -qx OK"
child=$(ci_child)
kill -TERM "$INIT_PID"
for _ in $(seq 60); do kill -0 "$INIT_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$INIT_PID" 2>/dev/null; then
    notok "cube-init exits on SIGTERM" "$TMP/init.log"
else
    wait "$INIT_PID" 2>/dev/null
    INIT_PID=
    check "cube-init exits on SIGTERM and takes cube-ci along" "$TMP/init.log" \
        test -n "$child" -a ! -e "/proc/$child"
fi

# ---------------------------------------------------------------- shutdown
kill -TERM "$CI_PID"
for _ in $(seq 50); do kill -0 "$CI_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$CI_PID" 2>/dev/null; then
    notok "cube-ci exits on SIGTERM" "$TMP/ci.log"
else
    wait "$CI_PID" 2>/dev/null
    CI_PID=
    ok "cube-ci exits on SIGTERM"
fi
if grep -q 'ERROR: .*Sanitizer\|runtime error:' "$TMP"/ci*.log; then
    notok "no sanitizer reports" "$TMP/ci.log"
else
    ok "no sanitizer reports"
fi

[ "$FAILS" -eq 0 ] || { echo "# $FAILS check(s) failed"; exit 1; }
echo "# all passed"
