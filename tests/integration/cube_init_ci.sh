#!/usr/bin/env bash
# cube-init starts cube-ci on demand (--ci-socket, implied in a sandbox): it listens on
# cube-ci's address itself, starts cube-ci only when the first connection arrives and
# hands it the socket; that first request is answered, connections made while a
# crashed cube-ci restarts wait instead of being refused, and neither envd nor the
# kernels cube-ci starts inherit the socket. On the host, without the stack.
#
#   tests/integration/cube_init_ci.sh     (SAN=1 to test build/san, BIN=dir for another)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${BIN:-}" ]; then :; elif [ "${SAN:-0}" = 1 ]; then BIN=$ROOT/build/san/bin; else BIN=$ROOT/build/bin; fi
TMP=$(mktemp -d /tmp/cube-init-ci.XXXXXX)
INIT_PID=
cleanup() {
    [ -n "$INIT_PID" ] && kill "$INIT_PID" 2>/dev/null && wait "$INIT_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
FAILS=0
ok() { echo "ok - $1"; }
notok() {
    echo "not ok - $1"
    FAILS=$((FAILS + 1))
    sed 's/^/#   /' "$TMP/init.log" | tail -20
}
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else notok "$name"; fi
}
[ -x "$BIN/cube-init" ] && [ -x "$BIN/cube-ci" ] || { echo "not ok - binaries built (run make)"; exit 1; }

P1=$((20000 + RANDOM % 40000))
P2=$((P1 + 1))
"$BIN/cube-init" --ci "$BIN/cube-ci" --ci-arg --envd --ci-arg "" --ci-socket "127.0.0.1:$P1" \
    -- "$BIN/cube-envd" --listen "127.0.0.1:$P2" >"$TMP/init.log" 2>&1 &
INIT_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P2/health" && break; sleep 0.1; done
# child COMM: pid of cube-init's child running COMM (after its exec).
child() { for p in $(pgrep -P "$INIT_PID"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && echo "$p"; done; }
listening() { grep -q "^ *[0-9]*: 0100007F:$(printf %04X "$P1") 00000000:0000 0A" /proc/net/tcp; }
sleep 0.3
check "envd is up and cube-ci is not started yet" [ -n "$(child cube-envd)" -a -z "$(child cube-ci)" ]
check "cube-init listens on cube-ci's address meanwhile" listening
envd=$(child cube-envd)
inode=$(awk -v p=":$(printf %04X "$P1")" '$2 ~ p"$" && $4 == "0A" {print $10}' /proc/net/tcp)
check "envd does not hold cube-ci's socket" \
    bash -c "[ -n '$inode' ] && ! ls -l /proc/$envd/fd | grep -q 'socket:\[$inode\]'"
check "the first connection starts cube-ci and is answered" \
    bash -c "[ \"\$(curl -s -m 10 http://127.0.0.1:$P1/health)\" = OK ]"
ci=$(child cube-ci)
check "cube-ci got the socket as fd 3 (--listen-fd 3), close-on-exec for its kernels" \
    bash -c "[ -n '$ci' ] && tr '\0' ' ' </proc/$ci/cmdline | grep -q -- '--listen-fd 3 \$' &&
        [ \$(( 0\$(awk '/^flags/ {print \$2}' /proc/$ci/fdinfo/3) & 02000000 )) != 0 ]"
[ -n "$ci" ] && kill -9 "$ci"
# Sent at once: cube-ci is down for its 100 ms restart backoff; the connection waits.
check "a connection made while cube-ci restarts waits and is answered" \
    bash -c "[ \"\$(curl -s -m 10 http://127.0.0.1:$P1/health)\" = OK ]"
check "cube-init restarted cube-ci with the same socket" \
    bash -c "c=\$(for p in \$(pgrep -P $INIT_PID); do [ \"\$(cat /proc/\$p/comm)\" = cube-ci ] && echo \$p; done);
        [ -n \"\$c\" ] && [ \"\$c\" != '$ci' ] && tr '\0' ' ' </proc/\$c/cmdline | grep -q -- '--listen-fd 3'"
kill -TERM "$INIT_PID"
for _ in $(seq 60); do kill -0 "$INIT_PID" 2>/dev/null || break; sleep 0.1; done
check "cube-init exits on SIGTERM" bash -c "! kill -0 $INIT_PID 2>/dev/null"
wait "$INIT_PID" 2>/dev/null
INIT_PID=
check "and the socket is gone with it" bash -c "! grep -q ' $inode ' /proc/net/tcp"

# Without --ci-socket cube-ci starts at once, as before (ci_standalone.sh covers it).
"$BIN/cube-init" --ci-socket "bogus" --ci "$BIN/cube-ci" --ci-arg --listen \
    --ci-arg "127.0.0.1:$P1" --ci-arg --envd --ci-arg "" -- "$BIN/cube-envd" \
    --listen "127.0.0.1:$P2" >"$TMP/init.log" 2>&1 &
INIT_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P1/health" && break; sleep 0.1; done
check "a --ci-socket that cannot be used is reported and cube-ci starts at once instead" \
    bash -c "grep -q 'ci-socket bogus' '$TMP/init.log' && [ \"\$(curl -s -m 5 http://127.0.0.1:$P1/health)\" = OK ]"
exit $((FAILS > 0))
