#!/usr/bin/env bash
# cube-envd on its own, on the host: starts it on a random loopback port and
# drives it with curl (REST and hand-made Connect envelopes), then checks
# cube-init's restart and shutdown behaviour around a second envd.
# Prints one "ok - <name>" / "not ok - <name>" line per check; exits non-zero if
# any failed. Only kills processes it started itself.
#
#   tests/integration/envd_standalone.sh        (SAN=1 to test build/san, BIN=dir for another build)
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${BIN:-}" ]; then :; elif [ "${SAN:-0}" = 1 ]; then BIN=$ROOT/build/san/bin; else BIN=$ROOT/build/bin; fi
ENVD=$BIN/cube-envd
INIT=$BIN/cube-init
TMP=$(mktemp -d /tmp/envd-test.XXXXXX)
ME=$(id -un)
AUTH="Authorization: Basic $(printf '%s:' "$ME" | base64 -w0)"
FAILS=0
ENVD_PID=
INIT_PID=

cleanup() {
    [ -n "$ENVD_PID" ] && kill "$ENVD_PID" 2>/dev/null && wait "$ENVD_PID" 2>/dev/null
    [ -n "$INIT_PID" ] && kill "$INIT_PID" 2>/dev/null && wait "$INIT_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() { echo "ok - $1"; }
notok() {
    echo "not ok - $1"
    FAILS=$((FAILS + 1))
    [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/#   /' "$2" | tr -d '\000-\010' | head -c 2000 && echo
}
# check NAME FILE-TO-SHOW-ON-FAILURE COMMAND...
check() {
    local name=$1 file=$2
    shift 2
    if "$@"; then ok "$name"; else notok "$name" "$file"; fi
}

[ -x "$ENVD" ] && [ -x "$INIT" ] || { echo "not ok - binaries built (run make)"; exit 1; }

# Start envd on a free random port; echo the port.
start_envd() {
    local port try
    for try in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        "$ENVD" --listen "127.0.0.1:$port" >>"$TMP/envd.log" 2>&1 &
        ENVD_PID=$!
        for _ in $(seq 50); do
            if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then
                PORT=$port
                return 0
            fi
            kill -0 "$ENVD_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$ENVD_PID" 2>/dev/null
        wait "$ENVD_PID" 2>/dev/null
        ENVD_PID=
    done
    return 1
}

if ! start_envd; then
    echo "not ok - envd starts and answers /health"
    exit 1
fi
ok "envd starts and answers /health"
B=http://127.0.0.1:$PORT
P=$B/process.Process

# A Connect envelope: flags 0, 32-bit big-endian length, JSON.
envelope() {
    local n
    n=$(printf '%s' "$1" | wc -c)
    printf "\\x00\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))%s" "$1"
}
# stream METHOD JSON OUTFILE [curl args]: server-streaming call, raw body to OUTFILE.
stream() {
    local m=$1 j=$2 out=$3
    shift 3
    envelope "$j" | curl -sN -X POST "$P/$m" -H 'Content-Type: application/connect+json' \
        -D "$out.h" "$@" --data-binary @- -o "$out"
}
# unary METHOD JSON OUTFILE [curl args]: prints the HTTP status.
unary() {
    local m=$1 j=$2 out=$3
    shift 3
    curl -s -X POST "$P/$m" -H 'Content-Type: application/json' -d "$j" -o "$out" \
        -w '%{http_code}' "$@"
}
# Decoded stdout (or stderr/pty with $2) of a captured stream.
data_of() {
    grep -ao "\"${2:-stdout}\":\"[^\"]*\"" "$1" | sed 's/^[^:]*:"//; s/"$//' |
        while read -r b; do printf '%s' "$b" | base64 -d; done
}
has() { grep -aqF -- "$2" "$1"; }
# The first envelope must be start{pid} and the last the end-stream {}.
well_formed_ok() {
    head -c 5 "$1" | od -An -tx1 | grep -q '^ 00' && has "$1" '{"event":{"start":{"pid":' &&
        [ "$(tail -c 7 "$1" | od -An -tx1 | tr -d ' \n')" = "02000000027b7d" ]
}
pid_of() { grep -ao '"start":{"pid":[0-9]*' "$1" | grep -o '[0-9]*$'; }

# ---------------------------------------------------------------- REST
code=$(curl -s -o "$TMP/h" -w '%{http_code}' "$B/health")
check "GET /health is 204 with an empty body" "$TMP/h" test "$code" = 204 -a ! -s "$TMP/h"
code=$(curl -s -o "$TMP/nf" -w '%{http_code}' "$B/no/such/path")
check "unknown path is 404 JSON" "$TMP/nf" test "$code" = 404
has "$TMP/nf" '"code":404' || notok "404 body has code" "$TMP/nf"
code=$(curl -s -o "$TMP/405" -w '%{http_code}' -X DELETE "$B/init")
check "wrong method is 405 JSON" "$TMP/405" grep -q '"code":405' "$TMP/405"
code=$(curl -s -o "$TMP/envs" -w '%{http_code}' "$B/envs")
check "GET /envs has E2B_SANDBOX=true" "$TMP/envs" has "$TMP/envs" '"E2B_SANDBOX":"true"'

# ---------------------------------------------------------------- Start
stream Start '{"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi"]},"stdin":false}' "$TMP/s1" -H "$AUTH"
check "Start: 200 application/connect+json" "$TMP/s1.h" grep -qi '^content-type: application/connect+json' "$TMP/s1.h"
check "Start: start first, end-stream {} last" "$TMP/s1" well_formed_ok "$TMP/s1"
check "Start: stdout streamed" "$TMP/s1" test "$(data_of "$TMP/s1")" = hi
check "Start: success end omits exitCode and error" "$TMP/s1" \
    has "$TMP/s1" '{"event":{"end":{"exited":true,"status":"exit status 0"}}}'

stream Start '{"process":{"cmd":"/bin/sh","args":["-c","echo oops >&2; exit 3"],"envs":{"K":"V"}}}' "$TMP/s2" -H "$AUTH"
check "Start: stderr streamed" "$TMP/s2" test "$(data_of "$TMP/s2" stderr)" = oops
check "Start: non-zero exit reported" "$TMP/s2" has "$TMP/s2" \
    '{"exitCode":3,"exited":true,"status":"exit status 3","error":"exit status 3"}'

stream Start '{"process":{"cmd":"/bin/sh","args":["-c","kill -9 $$"]}}' "$TMP/s3" -H "$AUTH"
check "Start: signal death is exitCode -1, signal: killed" "$TMP/s3" has "$TMP/s3" \
    '{"exitCode":-1,"status":"signal: killed","error":"signal: killed"}'

stream Start '{"process":{"cmd":"/bin/sh","args":["-c","echo $K:$PWD:$HOME"],"envs":{"K":"V"},"cwd":"/tmp"}}' "$TMP/s4" -H "$AUTH"
check "Start: envs and cwd applied" "$TMP/s4" test "$(data_of "$TMP/s4")" = "V:/tmp:$(getent passwd "$ME" | cut -d: -f6)"

stream Start '{"process":{"cmd":"/bin/ls","cwd":"/no/such/dir"}}' "$TMP/s5" -H "$AUTH"
check "Start: missing cwd is invalid_argument in end-stream" "$TMP/s5" has "$TMP/s5" \
    '{"error":{"code":"invalid_argument","message":"cwd '"'"'/no/such/dir'"'"' does not exist"}}'
check "Start: errors still answer 200" "$TMP/s5.h" grep -q '^HTTP/1.1 200' "$TMP/s5.h"

# The program is started by a child sharing envd's memory until it execs; a
# failed exec must come back as an error, leave no zombie, and spoil nothing.
stream Start '{"process":{"cmd":"/etc/passwd"}}' "$TMP/s5x" -H "$AUTH"
check "Start: a program that cannot be exec'd is internal, with the exec error" "$TMP/s5x" has "$TMP/s5x" \
    '{"error":{"code":"internal","message":"error starting process: fork/exec /etc/passwd: Permission denied"}}'
check "Start: the failed child is reaped (no zombie of envd's)" "$TMP/envd.log" \
    test -z "$(ps --ppid "$ENVD_PID" -o stat= | grep Z)"
stream Start '{"process":{"cmd":"/bin/sh","args":["-c","echo after"]}}' "$TMP/s5y" -H "$AUTH"
check "Start: the next start after a failed exec works" "$TMP/s5y" test "$(data_of "$TMP/s5y")" = after

stream Start '{"process":{"cmd":"/bin/ls"}}' "$TMP/s6" -H "Authorization: Basic $(printf 'no-such-user-x:' | base64 -w0)"
check "Start: unknown user is unauthenticated" "$TMP/s6" has "$TMP/s6" '"code":"unauthenticated"'

printf '\x00\x00\x00\x00\x09{}' | curl -s -X POST "$P/Start" -H 'Content-Type: application/connect+json' \
    -H "$AUTH" --data-binary @- -o "$TMP/s7"
check "Start: truncated envelope is invalid_argument" "$TMP/s7" has "$TMP/s7" '"code":"invalid_argument"'

t0=$(date +%s%N)
stream Start '{"process":{"cmd":"/bin/sh","args":["-c","echo early; exec sleep 30"],"tag":"dl"}}' "$TMP/s8" \
    -H "$AUTH" -H 'Connect-Timeout-Ms: 700'
t1=$(date +%s%N)
check "Start: Connect-Timeout-Ms ends the stream with deadline_exceeded" "$TMP/s8" has "$TMP/s8" \
    '{"error":{"code":"deadline_exceeded"'
check "Start: deadline honoured in time (<3 s)" "$TMP/s8" test $(((t1 - t0) / 1000000)) -lt 3000
dlpid=$(pid_of "$TMP/s8")
sleep 0.2
check "Start: deadline kills the process" "$TMP/s8" test ! -e "/proc/$dlpid/cmdline" -o "$(cat /proc/"$dlpid"/stat 2>/dev/null | awk '{print $3}')" = Z

stream Start '{"process":{"cmd":"/bin/sleep","args":["2.3"]}}' "$TMP/s9" -H "$AUTH" -H 'Keepalive-Ping-Interval: 1'
check "Start: keepalive events during silence" "$TMP/s9" test "$(grep -ao '"keepalive":{}' "$TMP/s9" | wc -l)" -ge 2

rm -f "$TMP/survived"
stream Start "{\"process\":{\"cmd\":\"/bin/sh\",\"args\":[\"-c\",\"sleep 1; echo yes > $TMP/survived\"]}}" "$TMP/s10" \
    -H "$AUTH" --max-time 0.4
sleep 1.5
check "Start: client disconnect does not kill the process" "$TMP/s10" test "$(cat "$TMP/survived" 2>/dev/null)" = yes

stream Start '{"process":{"cmd":"/bin/sh","args":["-c","head -c 3000000 /dev/zero | tr \\\\0 a"]}}' "$TMP/s11" -H "$AUTH"
check "Start: 3 MB of output arrives complete" "$TMP/s11" test "$(data_of "$TMP/s11" | wc -c)" = 3000000
big=$(grep -ao '"stdout":"[^"]*"' "$TMP/s11" | awk '{ if (length($0) > m) m = length($0) } END { print m }')
check "Start: data chunks are at most 32 KiB" "$TMP/s11" test "$big" -le $((32768 * 4 / 3 + 16))

# ---------------------------------------------------------------- process table
stream Start '{"process":{"cmd":"/bin/cat"},"tag":"cat1"}' "$TMP/c1" -H "$AUTH" &
SPID=$!
for _ in $(seq 30); do [ -s "$TMP/c1" ] && break; sleep 0.1; done
cpid=$(pid_of "$TMP/c1")
code=$(unary List '{}' "$TMP/l1")
check "List shows the running process with config and tag" "$TMP/l1" has "$TMP/l1" \
    "{\"config\":{\"cmd\":\"/bin/cat\",\"args\":[],\"envs\":{}},\"pid\":$cpid,\"tag\":\"cat1\"}"
stream Connect "{\"process\":{\"pid\":$cpid}}" "$TMP/c2" &
CPID=$!
sleep 0.3
code=$(unary SendInput "{\"process\":{\"pid\":$cpid},\"input\":{\"stdin\":\"$(printf 'hello\n' | base64 -w0)\"}}" "$TMP/u1")
check "SendInput answers 200 {}" "$TMP/u1" test "$code" = 200 -a "$(cat "$TMP/u1")" = "{}"
code=$(unary SendInput '{"process":{"pid":999999},"input":{"stdin":"eA=="}}' "$TMP/u2")
check "SendInput to unknown pid is 404 not_found" "$TMP/u2" test "$code" = 404 -a \
    "$(cat "$TMP/u2")" = '{"code":"not_found","message":"process with pid 999999 not found"}'
sleep 0.2
code=$(unary CloseStdin '{"process":{"tag":"cat1"}}' "$TMP/u3")
check "CloseStdin answers 200" "$TMP/u3" test "$code" = 200
wait "$SPID" "$CPID"
check "stdin reaches the process and its output the Start stream" "$TMP/c1" test "$(data_of "$TMP/c1")" = hello
check "Connect stream gets start, live output and end" "$TMP/c2" \
    test "$(data_of "$TMP/c2")" = hello -a "$(pid_of "$TMP/c2")" = "$cpid"
well_formed_ok "$TMP/c2" || notok "Connect stream well formed" "$TMP/c2"
stream Connect "{\"process\":{\"pid\":$cpid}}" "$TMP/c3"
check "late Connect to a finished process gets start + end" "$TMP/c3" has "$TMP/c3" '"end":{"exited":true'

stream Start '{"process":{"cmd":"/bin/sleep","args":["30"]},"tag":"sl"}' "$TMP/k1" -H "$AUTH" &
SPID=$!
sleep 0.3
code=$(unary SendSignal '{"process":{"tag":"sl"},"signal":"SIGNAL_SIGKILL"}' "$TMP/k2")
wait "$SPID"
check "SendSignal SIGKILL ends the process" "$TMP/k1" has "$TMP/k1" '"status":"signal: killed"'
code=$(unary SendSignal '{"process":{"tag":"sl"},"signal":"SIGNAL_SIGKILL"}' "$TMP/k3")
check "SendSignal to a finished process is not_found" "$TMP/k3" test "$code" = 404

stream Start '{"process":{"cmd":"/bin/sh","args":["-c","tty; stty size"]},"pty":{"size":{"cols":91,"rows":27}}}' "$TMP/p1" -H "$AUTH"
check "PTY: output as pty bytes from a real terminal of the asked size" "$TMP/p1" \
    sh -c "[ \"\$(cat)\" != '' ]" < <(data_of "$TMP/p1" pty | grep -a '27 91')

# ---------------------------------------------------------------- /init + token
code=$(curl -s -o "$TMP/i0" -w '%{http_code}' -X POST "$B/init" -d '{"envVars":')
check "/init malformed JSON is 400" "$TMP/i0" test "$code" = 400
code=$(curl -s -o "$TMP/i1" -w '%{http_code}' -X POST "$B/init" \
    -d "{\"envVars\":{\"FOO\":\"bar\"},\"accessToken\":\"tok123\",\"defaultUser\":\"$ME\",\"sandboxID\":\"itest\",\"templateID\":\"tpl\"}")
check "/init is 204" "$TMP/i1" test "$code" = 204
code=$(curl -s -o "$TMP/i2" -w '%{http_code}' "$B/envs")
check "token required on /envs (401)" "$TMP/i2" test "$code" = 401
code=$(curl -s -o "$TMP/i3" -w '%{http_code}' -H 'X-Access-Token: tok123' "$B/envs")
check "/envs with token has init env" "$TMP/i3" has "$TMP/i3" '"E2B_SANDBOX_ID":"itest"'
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/health")
check "/health needs no token" /dev/null test "$code" = 204
code=$(curl -s -o "$TMP/i4" -w '%{http_code}' -X POST "$B/init" -d '{}')
check "/init with a token set requires it (401)" "$TMP/i4" test "$code" = 401
code=$(unary List '{}' "$TMP/i5")
check "unary RPC without token is 401 unauthenticated" "$TMP/i5" test "$code" = 401 -a -n "$(grep -o unauthenticated "$TMP/i5")"
stream Start '{"process":{"cmd":"/bin/true"}}' "$TMP/i6"
check "stream RPC without token: 200 + unauthenticated end-stream" "$TMP/i6" has "$TMP/i6" '"code":"unauthenticated"'
stream Start '{"process":{"cmd":"/bin/sh","args":["-c","echo $FOO $E2B_SANDBOX_ID $USER"]}}' "$TMP/i7" -H 'X-Access-Token: tok123'
check "default user and global env apply to processes" "$TMP/i7" test "$(data_of "$TMP/i7")" = "bar itest $ME"

# ---------------------------------------------------------------- StreamInput
# Client streaming (token tok123 set by /init above): its own ok/not ok lines.
timeout 120 python3 "$ROOT/tests/integration/stream_input.py" "$PORT" tok123 2>"$TMP/si.err"
check "StreamInput: every check ran (no crash of the client)" "$TMP/si.err" test $? = 0 -a ! -s "$TMP/si.err"

# ---------------------------------------------------------------- /files
# (token tok123 and default user $ME are set by /init above)
TK='X-Access-Token: tok123'
F=$TMP/files
mkdir -p "$F/d"
printf 'Hello, world!' >"$F/hello.txt"
: >"$F/empty.bin"
enc() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1"; }
# sig PATH OP USER [EXP]: the v1_ signature of protocol §4.6 (token tok123).
sig() {
    local raw="$1:$2:$3:tok123${4:+:$4}"
    printf 'v1_%s' "$(printf '%s' "$raw" | openssl dgst -sha256 -binary | base64 -w0 | tr -d =)"
}
code=$(curl -s -D "$TMP/g1.h" -o "$TMP/g1" -w '%{http_code}' -H "$TK" "$B/files?path=$(enc "$F/hello.txt")")
check "GET /files: 200 with the content" "$TMP/g1" test "$code" = 200 -a "$(cat "$TMP/g1")" = 'Hello, world!'
check "GET /files: text type, inline name, Content-Length" "$TMP/g1.h" \
    sh -c "grep -qi '^content-type: text/plain; charset=utf-8' '$TMP/g1.h' && grep -qi '^content-disposition: inline; filename=\"hello.txt\"' '$TMP/g1.h' && grep -qi '^content-length: 13' '$TMP/g1.h'"
code=$(curl -s -D "$TMP/g2.h" -o "$TMP/g2" -w '%{http_code}' -H "$TK" "$B/files?path=$(enc "$F/empty.bin")")
check "GET /files: empty file is 200, Content-Length 0, octet-stream" "$TMP/g2.h" \
    sh -c "[ $code = 200 ] && grep -qi '^content-length: 0' '$TMP/g2.h' && grep -qi '^content-type: application/octet-stream' '$TMP/g2.h'"
code=$(curl -s -o "$TMP/g3" -w '%{http_code}' -H "$TK" "$B/files?path=$(enc "$F/nope.txt")")
check "GET /files: missing file is 404 with E2B's message" "$TMP/g3" \
    test "$code" = 404 -a "$(cat "$TMP/g3")" = "{\"code\":404,\"message\":\"path '$F/nope.txt' does not exist\"}"
code=$(curl -s -o "$TMP/g4" -w '%{http_code}' -H "$TK" "$B/files?path=$(enc "$F/d")")
check "GET /files: directory is 400" "$TMP/g4" \
    test "$code" = 400 -a "$(cat "$TMP/g4")" = "{\"code\":400,\"message\":\"path '$F/d' is a directory\"}"
code=$(curl -s -o "$TMP/g5" -w '%{http_code}' -H "$TK" "$B/files?path=$(enc "$F/hello.txt")&username=no-such-user-x")
check "GET /files: unknown user is 401" "$TMP/g5" test "$code" = 401
code=$(curl -s -o "$TMP/g6" -w '%{http_code}' -H 'X-Access-Token: wrong' "$B/files?path=$(enc "$F/hello.txt")")
check "GET /files: wrong token header is 401" "$TMP/g6" test "$code" = 401
code=$(curl -s -o "$TMP/g7" -w '%{http_code}' "$B/files?path=$(enc "$F/hello.txt")")
check "GET /files: no token, no signature is 401 missing signature" "$TMP/g7" \
    test "$code" = 401 -a "$(cat "$TMP/g7")" = '{"code":401,"message":"missing signature query parameter"}'
S=$(sig "$F/hello.txt" read "$ME")
code=$(curl -s -o "$TMP/g8" -w '%{http_code}' "$B/files?path=$(enc "$F/hello.txt")&username=$ME&signature=$(enc "$S")")
check "GET /files: signed URL works without the header" "$TMP/g8" test "$code" = 200 -a "$(cat "$TMP/g8")" = 'Hello, world!'
code=$(curl -s -o "$TMP/g9" -w '%{http_code}' "$B/files?path=$(enc "$F/hello.txt")&signature=$(enc "$S")")
check "GET /files: signature for another user is invalid" "$TMP/g9" \
    test "$code" = 401 -a "$(cat "$TMP/g9")" = '{"code":401,"message":"invalid signature"}'
S=$(sig "$F/hello.txt" read "" 1000)
code=$(curl -s -o "$TMP/g10" -w '%{http_code}' "$B/files?path=$(enc "$F/hello.txt")&signature=$(enc "$S")&signature_expiration=1000")
check "GET /files: expired signature" "$TMP/g10" \
    test "$code" = 401 -a "$(cat "$TMP/g10")" = '{"code":401,"message":"signature is already expired"}'
EXP=$(($(date +%s) + 600))
S=$(sig "$F/hello.txt" read "" $EXP)
code=$(curl -s -o "$TMP/g11" -w '%{http_code}' "$B/files?path=$(enc "$F/hello.txt")&signature=$(enc "$S")&signature_expiration=$EXP")
check "GET /files: signature with a future expiration" "$TMP/g11" test "$code" = 200
head -c $((64 << 20)) /dev/urandom >"$F/big.bin"
curl -s -H "$TK" "$B/files?path=$(enc "$F/big.bin")" -o "$TMP/big.out"
check "GET /files: 64 MiB file arrives intact" /dev/null cmp -s "$F/big.bin" "$TMP/big.out"
# ASan's quarantine holds freed chunks, so RSS says nothing in SAN=1 builds.
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$ENVD_PID/status")
if [ "${SAN:-0}" != 1 ]; then
    check "GET /files: envd RSS stays small after a 64 MiB download ($rss kB)" /dev/null test "$rss" -lt 60000
fi
curl -s -H "$TK" "$B/files?path=$(enc "$F/big.bin")" | head -c 1000 >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/health")
check "GET /files: a client closing mid-download leaves envd healthy" /dev/null test "$code" = 204

# ---------------------------------------------------------------- POST /files
printf 'This is a test file.' >"$TMP/src.txt"
# up URL OUT [curl args]: POST /files with the token; prints the status.
up() {
    local url=$1 out=$2
    shift 2
    curl -s -o "$out" -w '%{http_code}' -H "$TK" -H 'Expect:' "$@" "$B/files?$url"
}
code=$(up "path=$(enc "$F/up/a.txt")" "$TMP/u1" -F "file=@$TMP/src.txt;filename=test_write.txt")
check "POST /files multipart: exact entry array" "$TMP/u1" \
    test "$code" = 200 -a "$(cat "$TMP/u1")" = "[{\"path\":\"$F/up/a.txt\",\"name\":\"a.txt\",\"type\":\"file\"}]"
check "POST /files multipart: content written, mode 0644" "$TMP/u1" \
    test "$(cat "$F/up/a.txt")" = 'This is a test file.' -a "$(stat -c %a "$F/up/a.txt")" = 644
code=$(up "" "$TMP/u2" -F "file=@$TMP/src.txt;filename=$F/multi/0.txt" -F "other=x" -F "file=@$TMP/src.txt;filename=$F/multi/deep/1.txt")
check "POST /files multipart: several parts, paths from filenames, same order" "$TMP/u2" \
    test "$code" = 200 -a "$(cat "$TMP/u2")" = "[{\"path\":\"$F/multi/0.txt\",\"name\":\"0.txt\",\"type\":\"file\"},{\"path\":\"$F/multi/deep/1.txt\",\"name\":\"1.txt\",\"type\":\"file\"}]"
code=$(up "" "$TMP/u3" -F "file=@$TMP/src.txt;filename=$F/dup.txt" -F "file=@$TMP/src.txt;filename=$F/dup.txt")
check "POST /files multipart: two parts to one path is 400, nothing written" "$TMP/u3" \
    test "$code" = 400 -a ! -e "$F/dup.txt"
code=$(up "path=$(enc "$F/plain.txt")" "$TMP/u4" -F "file=file content")
check "POST /files multipart: plain field without filename uses path" "$TMP/u4" \
    test "$code" = 200 -a "$(cat "$F/plain.txt")" = 'file content'
code=$(up "" "$TMP/u5" -F "file=file content")
check "POST /files multipart: no path anywhere is 400" "$TMP/u5" test "$code" = 400
code=$(up "path=$(enc "$F/o.bin")" "$TMP/u6" -H 'Content-Type: application/octet-stream' --data-binary @"$F/big.bin")
check "POST /files octet-stream: 64 MiB written intact" "$TMP/u6" \
    sh -c "[ $code = 200 ] && cmp -s '$F/big.bin' '$F/o.bin'"
code=$(up "path=$(enc "$F/m.bin")" "$TMP/u6m" -F "file=@$F/big.bin")
check "POST /files multipart: 64 MiB part written intact" "$TMP/u6m" \
    sh -c "[ $code = 200 ] && cmp -s '$F/big.bin' '$F/m.bin'"
code=$(up "" "$TMP/u7" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/src.txt")
check "POST /files octet-stream: path is required (400)" "$TMP/u7" test "$code" = 400
code=$(gzip -c "$TMP/src.txt" | up "path=$(enc "$F/gz/z.txt")" "$TMP/u8" -H 'Content-Type: application/octet-stream' \
    -H 'Content-Encoding: gzip' -H 'Transfer-Encoding: chunked' --data-binary @-)
check "POST /files octet-stream: chunked + gzip body is inflated" "$TMP/u8" \
    test "$code" = 200 -a "$(cat "$F/gz/z.txt" 2>/dev/null)" = 'This is a test file.'
code=$(printf 'not gzip' | up "path=$(enc "$F/gz/bad.txt")" "$TMP/u9" -H 'Content-Type: application/octet-stream' \
    -H 'Content-Encoding: gzip' --data-binary @-)
check "POST /files: corrupt gzip is 400" "$TMP/u9" test "$code" = 400
code=$(up "path=$(enc "$F/gz/br.txt")" "$TMP/u10" -H 'Content-Type: application/octet-stream' -H 'Content-Encoding: br' --data-binary @"$TMP/src.txt")
check "POST /files: other Content-Encoding is 400" "$TMP/u10" test "$code" = 400
code=$(up "path=$(enc "$F/meta.txt")" "$TMP/u11" -H 'X-Metadata-Author: mish' -H 'X-Metadata-purpose: upload' -F "file=@$TMP/src.txt")
if python3 -c "import os,sys; os.setxattr(sys.argv[1],'user.e2b.t',b'1')" "$F/hello.txt" 2>/dev/null; then
    check "POST /files: X-Metadata-* in the entry and as user.e2b.* xattrs" "$TMP/u11" \
        sh -c "grep -qF '\"metadata\":{\"author\":\"mish\",\"purpose\":\"upload\"}' '$TMP/u11' && python3 -c \"import os; assert os.getxattr('$F/meta.txt','user.e2b.author')==b'mish'\""
    code=$(up "path=$(enc "$F/meta.txt")" "$TMP/u12" -F "file=@$TMP/src.txt")
    check "POST /files: re-upload without headers clears metadata" "$TMP/u12" \
        sh -c "[ $code = 200 ] && ! grep -q metadata '$TMP/u12' && python3 -c \"import os; assert not [x for x in os.listxattr('$F/meta.txt') if x.startswith('user.e2b.')]\""
else
    ok "POST /files metadata # SKIP no user xattrs on $F"
fi
code=$(up "path=$(enc "$F/own/sub/f.txt")&username=nobody" "$TMP/u13" -F "file=@$TMP/src.txt")
check "POST /files: new parents and file belong to the user" "$TMP/u13" \
    test "$code" = 200 -a "$(stat -c %U:%a "$F/own")" = nobody:755 -a "$(stat -c %U "$F/own/sub/f.txt")" = nobody
code=$(up "path=$(enc "$F/d")" "$TMP/u14" -F "file=@$TMP/src.txt")
check "POST /files: directory target is 400" "$TMP/u14" test "$code" = 400
code=$(curl -s -o "$TMP/u15" -w '%{http_code}' -F "file=@$TMP/src.txt" "$B/files?path=$(enc "$F/nosig.txt")")
check "POST /files: no token and no signature is 401" "$TMP/u15" test "$code" = 401
S=$(sig "$F/signed.txt" write "")
code=$(curl -s -o "$TMP/u16" -w '%{http_code}' -F "file=@$TMP/src.txt" "$B/files?path=$(enc "$F/signed.txt")&signature=$(enc "$S")")
check "POST /files: signed upload URL" "$TMP/u16" test "$code" = 200 -a -f "$F/signed.txt"
if mkdir -p "$TMP/small" && mount -t tmpfs -o size=64k tmpfs "$TMP/small" 2>/dev/null; then
    code=$(up "path=$(enc "$TMP/small/d/full.bin")" "$TMP/u17" -H 'Content-Type: application/octet-stream' --data-binary @"$F/big.bin")
    left=$(ls -A "$TMP/small")
    code2=$(up "" "$TMP/u17m" -F "file=@$TMP/src.txt;filename=$TMP/small/a.txt" -F "file=@$F/big.bin;filename=$TMP/small/b.bin")
    left2=$(ls -A "$TMP/small")
    umount "$TMP/small"
    check "POST /files: full disk is 507 with E2B's message, nothing left (not even the new parent)" "$TMP/u17" \
        test "$code" = 507 -a "$(cat "$TMP/u17")" = '{"code":507,"message":"not enough disk space available"}' -a -z "$left"
    check "POST /files multipart: full disk is 507, no part of the upload is kept" "$TMP/u17m" \
        test "$code2" = 507 -a -z "$left2"
else
    ok "POST /files: full disk is 507 # SKIP cannot mount a small tmpfs"
fi

# ---------------------------------------------------------------- POST /files streaming
# Uploads are streamed to disk as they arrive: memory stays flat whatever the size,
# a refused or broken upload is never stored, and the connection stays usable.
no_temp() { [ -z "$(find "$1" -name '.cube-upload-*' 2>/dev/null)" ]; }
# A 256 MiB chunked upload (curl -T - sends Transfer-Encoding: chunked), hashed on the way.
head -c $((256 << 20)) /dev/urandom | tee >(sha256sum | cut -d' ' -f1 >"$TMP/big.sha") |
    curl -s -o "$TMP/s1" -w '%{http_code}' -H "$TK" -H 'Content-Type: application/octet-stream' \
        -X POST -T - "$B/files?path=$(enc "$F/stream/big256.bin")" >"$TMP/s1.code"
for _ in $(seq 50); do [ -s "$TMP/big.sha" ] && break; sleep 0.1; done
check "POST /files: 256 MiB chunked upload written intact (sha256)" "$TMP/s1" \
    test "$(cat "$TMP/s1.code")" = 200 -a "$(sha256sum <"$F/stream/big256.bin" | cut -d' ' -f1)" = "$(cat "$TMP/big.sha")"
rm -f "$F/stream/big256.bin"
# A big upload with a wrong token: 401, nothing written, and its body never stored.
code=$(head -c $((256 << 20)) /dev/zero | curl -s -o "$TMP/s2" -w '%{http_code}' -H 'X-Access-Token: wrong' \
    -H 'Content-Type: application/octet-stream' -X POST -T - "$B/files?path=$(enc "$F/stream/nope/x.bin")")
check "POST /files: wrong token on a 256 MiB upload is 401 and writes nothing" "$TMP/s2" \
    test "$code" = 401 -a ! -e "$F/stream/nope"
# ASan's shadow memory makes RSS meaningless in SAN=1 builds.
if [ "${SAN:-0}" != 1 ]; then
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$ENVD_PID/status")
    check "POST /files: envd peak RSS stays small through 256 MiB uploads (VmHWM $hwm kB < 32 MiB)" /dev/null \
        test "$hwm" -lt 32768
fi
# Several large parts in one multipart body, sent chunked.
for i in 1 2 3; do head -c $((3 << 20)) /dev/urandom >"$TMP/part$i.bin"; done
code=$(up "" "$TMP/s3" -H 'Transfer-Encoding: chunked' -F "file=@$TMP/part1.bin;filename=$F/stream/m/1.bin" \
    -F "skip=@$TMP/part2.bin" -F "file=@$TMP/part2.bin;filename=$F/stream/m/2.bin" -F "file=@$TMP/part3.bin;filename=$F/stream/m/3.bin")
check "POST /files multipart, chunked: three 3 MiB parts written intact, other fields ignored" "$TMP/s3" \
    sh -c "[ $code = 200 ] && cmp -s '$TMP/part1.bin' '$F/stream/m/1.bin' && cmp -s '$TMP/part2.bin' '$F/stream/m/2.bin' && cmp -s '$TMP/part3.bin' '$F/stream/m/3.bin' && [ \$(ls -A '$F/stream/m' | wc -l) = 3 ]"
# A gzip-encoded multipart body (the whole body compressed).
# mp_body FILE TARGET: a one-part multipart body (boundary XyZ) on stdout.
mp_body() {
    python3 - "$1" "$2" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
sys.stdout.buffer.write(b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' +
                        sys.argv[2].encode() + b'"\r\n\r\n' + data + b'\r\n--XyZ--\r\n')
EOF
}
mp_body "$TMP/part1.bin" "$F/stream/gz/one.bin" >"$TMP/mp.body"
code=$(gzip -c "$TMP/mp.body" | up "" "$TMP/s4" -H 'Content-Type: multipart/form-data; boundary=XyZ' \
    -H 'Content-Encoding: gzip' --data-binary @-)
check "POST /files multipart + gzip: inflated and parsed as one stream" "$TMP/s4" \
    sh -c "[ $code = 200 ] && cmp -s '$TMP/part1.bin' '$F/stream/gz/one.bin'"
# A multipart body cut before its closing delimiter: 400, and the parts before it are
# not kept either.
mp_body "$TMP/part1.bin" "$F/stream/cut/one.bin" | head -c -8 >"$TMP/mp.cut"
code=$(up "" "$TMP/s5" -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary @"$TMP/mp.cut")
check "POST /files multipart without its closing delimiter is 400 and keeps nothing" "$TMP/s5" \
    test "$code" = 400 -a ! -e "$F/stream/cut"
# Clients that wait for 100 Continue (curl does above 1 MiB) get it at once.
curl -s -v -o "$TMP/s6" -H "$TK" -F "file=@$TMP/part1.bin" "$B/files?path=$(enc "$F/stream/cont.bin")" 2>"$TMP/s6.v"
check "POST /files: Expect: 100-continue is answered, then the upload completes" "$TMP/s6.v" \
    sh -c "grep -q '< HTTP/1.1 100 Continue' '$TMP/s6.v' && cmp -s '$TMP/part1.bin' '$F/stream/cont.bin'"
# A client that vanishes mid-body: no file, no temporary file, no new parent left.
python3 - "$PORT" "$(enc "$F/stream/abort/sub/x.bin")" <<'EOF'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'POST /files?path=' + sys.argv[2].encode() + b' HTTP/1.1\r\nHost: x\r\n'
          b'X-Access-Token: tok123\r\nContent-Type: application/octet-stream\r\n'
          b'Content-Length: 104857600\r\n\r\n' + b'a' * (4 << 20))
time.sleep(0.5)
s.close()
EOF
sleep 0.3
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/health")
check "POST /files: an upload cut off mid-body leaves no file, temp file or new directory" /dev/null \
    sh -c "[ $code = 204 ] && [ ! -e '$F/stream/abort' ] && [ -z \"\$(find '$F' -name '.cube-upload-*')\" ]"
# Keep-alive: requests after an upload (accepted, refused, failed mid-body) on the same
# connection, and an upload pipelined with the next request.
python3 - "$PORT" "$F/stream/ka" >"$TMP/s7" 2>&1 <<'EOF'
import http.client, socket, sys, urllib.parse
port, d = int(sys.argv[1]), sys.argv[2]
q = lambda p: urllib.parse.quote(p, safe='')
c = http.client.HTTPConnection('127.0.0.1', port)
c.connect()
sock = c.sock
def req(method, url, body=None, headers={}):
    h = {'X-Access-Token': 'tok123', **headers}
    c.request(method, url, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    assert c.sock is sock and not r.will_close, 'connection not kept'
    return r.status, data
st, _ = req('POST', '/files?path=' + q(d + '/a.bin'), b'x' * 3000000, {'Content-Type': 'application/octet-stream'})
assert st == 200, st
assert req('GET', '/health')[0] == 204
assert req('GET', '/files?path=' + q(d + '/a.bin'))[1] == b'x' * 3000000
st, _ = req('POST', '/files?path=' + q(d + '/b.bin'), b'y' * 2000000,
            {'Content-Type': 'application/octet-stream', 'X-Access-Token': 'bad'})
assert st == 401, st
assert req('GET', '/health')[0] == 204
st, body = req('POST', '/files?path=' + q(d + '/c.bin'), b'not gzip' * 100000,
               {'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip'})
assert st == 400, (st, body)
assert req('GET', '/health')[0] == 204
c.close()
s = socket.create_connection(('127.0.0.1', port))
s.sendall(('POST /files?path=' + q(d + '/p.bin') + ' HTTP/1.1\r\nHost: x\r\nX-Access-Token: tok123\r\n'
           'Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n'
           '5\r\nhello\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n').encode())
got = b''
s.settimeout(5)
while got.count(b'HTTP/1.1 ') < 2 or not got.endswith(b'\r\n\r\n'):
    more = s.recv(65536)
    if not more:
        break
    got += more
first, second = got.split(b'HTTP/1.1 ')[1:3]
assert first.startswith(b'200') and b'"name":"p.bin"' in first, got
assert second.startswith(b'204'), got
assert open(d + '/p.bin', 'rb').read() == b'hello'
print('ok')
EOF
check "POST /files: keep-alive after uploads (done, 401, failed) and a pipelined request" "$TMP/s7" \
    test "$(tail -1 "$TMP/s7")" = ok
# A chunked upload whose framing breaks mid-body: 400, then the connection closes.
python3 - "$PORT" "$(enc "$F/stream/broken/x.bin")" >"$TMP/s8" 2>&1 <<'EOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.settimeout(5)
s.sendall(b'POST /files?path=' + sys.argv[2].encode() + b' HTTP/1.1\r\nHost: x\r\n'
          b'X-Access-Token: tok123\r\nContent-Type: application/octet-stream\r\n'
          b'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nGET /health HTTP/1.1\r\n\r\n')
got = b''
while True:
    more = s.recv(65536)
    if not more:
        break
    got += more
assert got.startswith(b'HTTP/1.1 400') and got.count(b'HTTP/1.1') == 1, got
print('ok')
EOF
check "POST /files: a chunked body with broken framing is 400 and ends the connection, nothing kept" "$TMP/s8" \
    test "$(tail -1 "$TMP/s8")" = ok -a ! -e "$F/stream/broken"
check "POST /files: no temporary file left anywhere" /dev/null no_temp "$F"

# ---------------------------------------------------------------- filesystem.Filesystem
FS=$B/filesystem.Filesystem
# fs METHOD JSON OUT [curl args]: unary filesystem call with the token; prints the status.
fs() {
    local m=$1 j=$2 out=$3
    shift 3
    curl -s -X POST "$FS/$m" -H 'Content-Type: application/json' -H "$TK" -d "$j" -o "$out" -w '%{http_code}' "$@"
}
# jq-less JSON check: jsq FILE PYTHON-EXPR (j is the parsed body).
jsq() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }
T=$F/tree
mkdir -p "$T/subdir1/subdir1_1" "$T/subdir1/subdir1_2/deeper" "$T/subdir2"
printf 'Hello, world!' >"$T/file1.txt"
ln -s "$T/file1.txt" "$T/link"
ln -s "$T/missing" "$T/broken"
code=$(fs Stat "{\"path\":\"$T/file1.txt\"}" "$TMP/f1")
check "Stat: EntryInfo fields as in E2B" "$TMP/f1" test "$code" = 200 -a -n "$(jsq "$TMP/f1" "j['entry']['name']=='file1.txt' and j['entry']['type']=='FILE_TYPE_FILE' and j['entry']['size']=='13' and j['entry']['mode']==420 and j['entry']['permissions']=='-rw-r--r--' and j['entry']['owner']=='$ME' and j['entry']['path']=='$T/file1.txt' and j['entry']['modifiedTime'].endswith('Z') and 'metadata' not in j['entry']" && echo y)"
code=$(fs Stat "{\"path\":\"$T/link\"}" "$TMP/f2")
check "Stat: symlink has the target's type and the resolved target" "$TMP/f2" \
    jsq "$TMP/f2" "j['entry']['type']=='FILE_TYPE_FILE' and j['entry']['permissions']=='Lrwxrwxrwx' and j['entry']['symlinkTarget']=='$T/file1.txt'"
code=$(fs Stat "{\"path\":\"$T/broken\"}" "$TMP/f3")
check "Stat: dangling symlink is FILE_TYPE_UNSPECIFIED" "$TMP/f3" jsq "$TMP/f3" "j['entry']['type']=='FILE_TYPE_UNSPECIFIED'"
code=$(fs Stat "{\"path\":\"$T/nope\"}" "$TMP/f4")
check "Stat: missing path is not_found (404)" "$TMP/f4" test "$code" = 404 -a -n "$(grep -o not_found "$TMP/f4")"
up "path=$(enc "$F/meta2.txt")" "$TMP/f5u" -H 'X-Metadata-Author: mish' -F "file=@$TMP/src.txt" >/dev/null
code=$(fs Stat "{\"path\":\"$F/meta2.txt\"}" "$TMP/f5")
if [ -n "$(python3 -c "import os; print(os.listxattr('$F/meta2.txt'))" 2>/dev/null | grep e2b)" ]; then
    check "Stat: metadata from user.e2b.* xattrs" "$TMP/f5" jsq "$TMP/f5" "j['entry']['metadata']=={'author':'mish'}"
fi
code=$(fs ListDir "{\"path\":\"$T\",\"depth\":2}" "$TMP/f6")
check "ListDir depth 2: pre-order, lexical, root excluded" "$TMP/f6" \
    jsq "$TMP/f6" "[e['path'][len('$T/'):] for e in j['entries']]==['broken','file1.txt','link','subdir1','subdir1/subdir1_1','subdir1/subdir1_2','subdir2']"
code=$(fs ListDir "{\"path\":\"$T\"}" "$TMP/f7")
check "ListDir default depth 1" "$TMP/f7" jsq "$TMP/f7" "len(j['entries'])==5"
ln -s "$T" "$F/treelink"
code=$(fs ListDir "{\"path\":\"$F/treelink\",\"depth\":1}" "$TMP/f8")
check "ListDir follows a symlinked root, paths under the requested one" "$TMP/f8" \
    jsq "$TMP/f8" "j['entries'][1]['path']=='$F/treelink/file1.txt'"
code=$(fs ListDir "{\"path\":\"$T/file1.txt\"}" "$TMP/f9")
check "ListDir on a file is invalid_argument" "$TMP/f9" test "$code" = 400
code=$(fs ListDir "{\"path\":\"$T/nope\"}" "$TMP/f10")
check "ListDir on a missing path is not_found" "$TMP/f10" test "$code" = 404
code=$(fs MakeDir "{\"path\":\"$T/new/a/b\"}" "$TMP/f11")
check "MakeDir creates parents, returns the entry" "$TMP/f11" \
    sh -c "[ $code = 200 ] && [ -d '$T/new/a/b' ] && [ \$(stat -c %a '$T/new') = 755 ]"
code=$(fs MakeDir "{\"path\":\"$T/new/a/b\"}" "$TMP/f12")
check "MakeDir on an existing directory is already_exists" "$TMP/f12" test "$code" = 409 -a -n "$(grep -o already_exists "$TMP/f12")"
code=$(fs MakeDir "{\"path\":\"$T/file1.txt\"}" "$TMP/f13")
check "MakeDir on an existing file is invalid_argument" "$TMP/f13" test "$code" = 400
code=$(fs MakeDir "{\"path\":\"$T/own\"}" "$TMP/f14" -H "Authorization: Basic $(printf 'nobody:' | base64 -w0)")
check "MakeDir gives the directory to the Basic-auth user" "$TMP/f14" test "$code" = 200 -a "$(stat -c %U "$T/own")" = nobody
code=$(fs MakeDir "{\"path\":\"$T/x\"}" "$TMP/f15" -H "Authorization: Basic $(printf 'no-such-user-x:' | base64 -w0)")
check "filesystem RPC with an unknown user is unauthenticated" "$TMP/f15" test "$code" = 401
code=$(fs Move "{\"source\":\"$F/meta2.txt\",\"destination\":\"$T/moved/m.txt\"}" "$TMP/f16")
check "Move creates parents and returns the destination entry" "$TMP/f16" \
    sh -c "[ $code = 200 ] && [ -f '$T/moved/m.txt' ] && [ ! -e '$F/meta2.txt' ] && grep -q '\"name\":\"m.txt\"' '$TMP/f16'"
code=$(fs Move "{\"source\":\"$T/nope\",\"destination\":\"$T/x\"}" "$TMP/f17")
check "Move of a missing source is not_found" "$TMP/f17" test "$code" = 404
code=$(fs Remove "{\"path\":\"$T/subdir1\"}" "$TMP/f18")
check "Remove is rm -rf" "$TMP/f18" test "$code" = 200 -a ! -e "$T/subdir1"
code=$(fs Remove "{\"path\":\"$T/nope\"}" "$TMP/f19")
check "Remove of a missing path succeeds" "$TMP/f19" test "$code" = 200
code=$(fs Remove '{"path":""}' "$TMP/f19b")
check "Remove with an empty path is invalid_argument" "$TMP/f19b" test "$code" = 400
code=$(fs Remove "{\"path\":\"$F/treelink\"}" "$TMP/f20")
check "Remove of a symlink to a directory removes only the link" "$TMP/f20" test "$code" = 200 -a ! -e "$F/treelink" -a -d "$T"
# Remove on overlayfs with the upper layer on another file system (a sandbox's
# writable layer): files report the upper layer's device, directories the overlay's.
OV=$TMP/ov
mkdir -p "$OV/lower/tree" "$OV/upper" "$OV/m"
printf old >"$OV/lower/tree/old"
if mount -t tmpfs tmpfs "$OV/upper" 2>/dev/null; then
    mkdir -p "$OV/upper/up" "$OV/upper/work"
    if mount -t overlay overlay -o "lowerdir=$OV/lower,upperdir=$OV/upper/up,workdir=$OV/upper/work" "$OV/m" 2>/dev/null; then
        mkdir -p "$OV/m/tree/sub"
        printf new >"$OV/m/tree/sub/new"
        code=$(fs Remove "{\"path\":\"$OV/m/tree\"}" "$TMP/f20b")
        check "Remove on overlayfs removes files of another layer's device" "$TMP/f20b" \
            test "$code" = 200 -a ! -e "$OV/m/tree"
        umount "$OV/m"
    fi
    umount "$OV/upper"
fi
# A file system mounted below the removed tree is left alone (EBUSY reported).
mkdir -p "$TMP/rmm/a/mnt"
if mount -t tmpfs tmpfs "$TMP/rmm/a/mnt" 2>/dev/null; then
    printf keep >"$TMP/rmm/a/mnt/keep"
    code=$(fs Remove "{\"path\":\"$TMP/rmm\"}" "$TMP/f20c")
    check "Remove does not descend into a mount below (error, contents kept)" "$TMP/f20c" \
        sh -c "[ $code != 200 ] && grep -q 'busy' '$TMP/f20c' && [ -f '$TMP/rmm/a/mnt/keep' ]"
    umount "$TMP/rmm/a/mnt"
fi
code=$(curl -s -o "$TMP/f21" -w '%{http_code}' -X POST "$FS/Stat" -H 'Content-Type: application/json' -d '{}')
check "filesystem RPC without token is unauthenticated" "$TMP/f21" test "$code" = 401
# WatchDir: a 2 s stream (Connect-Timeout-Ms) while we change the tree.
W=$F/watched
mkdir -p "$W/old"
watch() {
    envelope "$1" | curl -sN -X POST "$FS/WatchDir" -H 'Content-Type: application/connect+json' \
        -H "$TK" -H 'Connect-Timeout-Ms: 2000' --data-binary @- -o "$2"
}
watch "{\"path\":\"$W\",\"recursive\":true,\"includeEntry\":true}" "$TMP/w1" &
WPID=$!
sleep 0.5
mkdir "$W/sub"
sleep 0.2
printf x >"$W/sub/f.txt"
chmod 600 "$W/sub/f.txt"
rm "$W/sub/f.txt"
printf y >"$W/old/z"
printf 'uploaded' | curl -s -o /dev/null -H "$TK" -H 'Content-Type: application/octet-stream' \
    --data-binary @- "$B/files?path=$(enc "$W/sub/up.txt")"
wait "$WPID"
check "WatchDir: start event first" "$TMP/w1" sh -c "head -c 17 '$TMP/w1' | tail -c 12 | grep -qF '{\"start\":{}}'"
check "WatchDir: create with entry for a new subdirectory" "$TMP/w1" \
    has "$TMP/w1" '{"filesystem":{"name":"sub","type":"EVENT_TYPE_CREATE","entry":{"name":"sub","type":"FILE_TYPE_DIRECTORY"'
check "WatchDir: events inside a new subdirectory (recursive)" "$TMP/w1" \
    sh -c "grep -aqF '\"name\":\"sub/f.txt\",\"type\":\"EVENT_TYPE_WRITE\"' '$TMP/w1' && grep -aqF '\"name\":\"sub/f.txt\",\"type\":\"EVENT_TYPE_CHMOD\"' '$TMP/w1' && grep -aqF '{\"name\":\"sub/f.txt\",\"type\":\"EVENT_TYPE_REMOVE\"}' '$TMP/w1'"
check "WatchDir: events in an existing subdirectory" "$TMP/w1" has "$TMP/w1" '"name":"old/z","type":"EVENT_TYPE_CREATE"'
check "WatchDir: an upload shows as create and write of its target, its temporary file unseen" "$TMP/w1" \
    sh -c "grep -aqF '\"name\":\"sub/up.txt\",\"type\":\"EVENT_TYPE_CREATE\"' '$TMP/w1' && grep -aqF '\"name\":\"sub/up.txt\",\"type\":\"EVENT_TYPE_WRITE\"' '$TMP/w1' && ! grep -aq 'cube-upload' '$TMP/w1'"
check "WatchDir: ends at Connect-Timeout-Ms" "$TMP/w1" has "$TMP/w1" '"deadline_exceeded"'
watch "{\"path\":\"$W/nope\"}" "$TMP/w2"
check "WatchDir: missing directory is not_found" "$TMP/w2" has "$TMP/w2" '"code":"not_found"'
watch "{\"path\":\"$T/file1.txt\"}" "$TMP/w3"
check "WatchDir: a file is invalid_argument" "$TMP/w3" has "$TMP/w3" '"code":"invalid_argument"'
envelope "{\"path\":\"$W\"}" | curl -sN -X POST "$FS/WatchDir" -H 'Content-Type: application/connect+json' \
    -H "$TK" --data-binary @- -o /dev/null &
WPID=$!
sleep 0.3
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
sleep 0.2
printf z >"$W/after-close"
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/health")
check "WatchDir: a client going away ends the watch, envd stays healthy" /dev/null test "$code" = 204
# Polled watchers: CreateWatcher / GetWatcherEvents / RemoveWatcher.
codejsq() { [ "$1" = "$2" ] && jsq "$3" "$4"; }
PW=$F/polled
mkdir -p "$PW/deep"
code=$(fs CreateWatcher "{\"path\":\"$PW\",\"recursive\":true,\"includeEntry\":true}" "$TMP/pw1")
check "CreateWatcher answers a watcherId" "$TMP/pw1" \
    sh -c "[ $code = 200 ] && python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))[\"watcherId\"]) >= 8' '$TMP/pw1'"
WID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("watcherId",""))' "$TMP/pw1" 2>/dev/null)
mkdir "$PW/deep/new"
sleep 0.2
printf a >"$PW/deep/new/f"
printf b >"$PW/top"
sleep 0.2
code=$(fs GetWatcherEvents "{\"watcherId\":\"$WID\"}" "$TMP/pw2")
check "GetWatcherEvents: events buffered until polled, recursive, new subdirectories" "$TMP/pw2" \
    codejsq "$code" 200 "$TMP/pw2" '{(e["name"], e["type"]) for e in j["events"]} >= {("deep/new","EVENT_TYPE_CREATE"), ("deep/new/f","EVENT_TYPE_CREATE"), ("deep/new/f","EVENT_TYPE_WRITE"), ("top","EVENT_TYPE_WRITE")}'
check "GetWatcherEvents: includeEntry adds entries" "$TMP/pw2" \
    jsq "$TMP/pw2" '[e["entry"]["type"] for e in j["events"] if e["name"] == "deep/new" and "entry" in e] == ["FILE_TYPE_DIRECTORY"]'
code=$(fs GetWatcherEvents "{\"watcherId\":\"$WID\"}" "$TMP/pw3")
check "GetWatcherEvents: a poll empties the queue" "$TMP/pw3" \
    codejsq "$code" 200 "$TMP/pw3" 'j.get("events", []) == []'
# Overflow: more events than the queue holds (4096) without a poll.
python3 -c 'import os,sys
for i in range(4200): open(os.path.join(sys.argv[1], "o%d" % i), "w").close()' "$PW"
sleep 0.3
code=$(fs GetWatcherEvents "{\"watcherId\":\"$WID\"}" "$TMP/pw4")
check "GetWatcherEvents: an overflowed queue is resource_exhausted, not a silent gap" "$TMP/pw4" \
    sh -c "[ $code = 429 ] && grep -q resource_exhausted '$TMP/pw4' && grep -q 'events were lost' '$TMP/pw4'"
printf c >"$PW/after"
sleep 0.2
code=$(fs GetWatcherEvents "{\"watcherId\":\"$WID\"}" "$TMP/pw5")
check "GetWatcherEvents: the watcher keeps working after an overflow" "$TMP/pw5" \
    codejsq "$code" 200 "$TMP/pw5" '[e["name"] for e in j["events"]][:1] == ["after"]'
code=$(fs RemoveWatcher "{\"watcherId\":\"$WID\"}" "$TMP/pw6")
check "RemoveWatcher answers {}" "$TMP/pw6" codejsq "$code" 200 "$TMP/pw6" 'j == {}'
code=$(fs GetWatcherEvents "{\"watcherId\":\"$WID\"}" "$TMP/pw7")
check "GetWatcherEvents after RemoveWatcher is not_found" "$TMP/pw7" \
    sh -c "[ $code = 404 ] && grep -q not_found '$TMP/pw7'"
code=$(fs RemoveWatcher "{\"watcherId\":\"$WID\"}" "$TMP/pw8")
check "RemoveWatcher twice is not_found" "$TMP/pw8" test "$code" = 404
code=$(fs GetWatcherEvents '{"watcherId":"nope"}' "$TMP/pw9")
check "GetWatcherEvents of an unknown id is not_found" "$TMP/pw9" test "$code" = 404
code=$(fs CreateWatcher "{\"path\":\"$PW/missing\"}" "$TMP/pw10")
check "CreateWatcher of a missing directory is not_found" "$TMP/pw10" test "$code" = 404
code=$(fs CreateWatcher "{\"path\":\"$T/file1.txt\"}" "$TMP/pw11")
check "CreateWatcher of a file is invalid_argument" "$TMP/pw11" test "$code" = 400
code=$(curl -s -o "$TMP/pw12" -w '%{http_code}' -X POST "$FS/CreateWatcher" -H 'Content-Type: application/json' -d "{\"path\":\"$PW\"}")
check "CreateWatcher without token is unauthenticated" "$TMP/pw12" test "$code" = 401
# The watcher table is bounded: create until refused, then clean up.
: >"$TMP/pw-ids"
refused=0
for i in $(seq 140); do
    code=$(fs CreateWatcher "{\"path\":\"$PW\"}" "$TMP/pw13")
    if [ "$code" = 200 ]; then
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["watcherId"])' "$TMP/pw13" >>"$TMP/pw-ids"
    else
        refused=$code
        break
    fi
done
check "CreateWatcher: the number of watchers is bounded (resource_exhausted)" "$TMP/pw13" \
    sh -c "[ $refused = 429 ] && grep -q resource_exhausted '$TMP/pw13'"
while read -r id; do fs RemoveWatcher "{\"watcherId\":\"$id\"}" /dev/null >/dev/null; done <"$TMP/pw-ids"
code=$(fs CreateWatcher "{\"path\":\"$PW\"}" "$TMP/pw14")
check "CreateWatcher works again once watchers are removed" "$TMP/pw14" test "$code" = 200
code=$(fs NoSuchMethod '{}' "$TMP/f22")
check "an unknown filesystem method is unimplemented" "$TMP/f22" grep -q unimplemented "$TMP/f22"

# ---------------------------------------------------------------- cube-init
"$INIT" -- "$ENVD" --listen "127.0.0.1:$((PORT + 1))" >"$TMP/init.log" 2>&1 &
INIT_PID=$!
up() { curl -s -o /dev/null "http://127.0.0.1:$((PORT + 1))/health"; }
for _ in $(seq 50); do up && break; sleep 0.1; done
check "cube-init starts envd" "$TMP/init.log" up
child=$(pgrep -P "$INIT_PID" | head -1)
[ -n "$child" ] && kill -9 "$child"
sleep 0.5
for _ in $(seq 50); do up && break; sleep 0.1; done
check "cube-init restarts a crashed envd" "$TMP/init.log" up
child=$(pgrep -P "$INIT_PID" | head -1)
kill -TERM "$INIT_PID"
for _ in $(seq 60); do kill -0 "$INIT_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$INIT_PID" 2>/dev/null; then
    notok "cube-init exits on SIGTERM" "$TMP/init.log"
else
    wait "$INIT_PID" 2>/dev/null
    INIT_PID=
    check "cube-init exits on SIGTERM and takes envd along" "$TMP/init.log" \
        test -n "$child" -a ! -e "/proc/$child"
fi

# A clean stop, so that LeakSanitizer (SAN=1 builds) gets to report too.
kill -TERM "$ENVD_PID"
wait "$ENVD_PID"
rc=$?
ENVD_PID=
check "envd exits 0 on SIGTERM" "$TMP/envd.log" test "$rc" = 0
if grep -q 'ERROR: .*Sanitizer\|runtime error:' "$TMP/envd.log" "$TMP/init.log"; then
    notok "no sanitizer reports in the envd log" "$TMP/envd.log"
else
    ok "no sanitizer reports in the envd log"
fi
[ "$FAILS" = 0 ]
