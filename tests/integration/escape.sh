#!/usr/bin/env bash
# Break-out attempts from inside a sandbox made through the real API, as `user` and as
# root-in-sandbox (sudo). Every promise of the boundary is an attempt that must fail:
# host processes (see, signal, ptrace), host files and disks, raw sockets towards the
# host, and resource exhaustion (fork bomb, memory bomb) that must stay inside while
# the sandbox and its neighbours keep answering. (Syscall-level attempts: worker_ns.sh;
# network reachability: egress.sh; disk filling: disk_limit.sh.)
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

T=$(mktemp -d /tmp/cube-escape.XXXXXX)
IDS=()
cleanup() {
    for i in "${IDS[@]}"; do api DELETE "/sandboxes/$i" >/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
expect() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (want '$2', got '${3:0:300}')"; fi; }
R() { redis-cli -s "$CUBE_RUN/redis.sock" "$@"; }
# create: sets ID and TOK
create() {
    api POST /v2/sandboxes -d '{"templateID":"base","timeout":300}'
    ID=$(jq -r .sandboxID <<<"$HTTP_BODY")
    TOK=$(jq -r '.envdAccessToken // ""' <<<"$HTTP_BODY")
    [ "$HTTP_CODE" = 201 ] && IDS+=("$ID")
}
health() { # envd /health of sandbox $1 through the router: the HTTP status
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "E2b-Sandbox-Id: $1" \
        -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health"
}
create || not_ok "create a sandbox ($HTTP_CODE)"
A=$ID ATOK=$TOK
create || not_ok "create a neighbour sandbox ($HTTP_CODE)"
B=$ID BTOK=$TOK
check "two sandboxes to attack from and to watch" [ -n "$A" -a -n "$B" ]

WPID=$(cat "$CUBE_RUN/worker.pid")
MARK="/root/cube-escape-marker-$$"
echo secret >"$MARK"
trap 'rm -f "$MARK"; cleanup' EXIT

# ---- host processes -------------------------------------------------------------------
for who in user root; do
    sudo=""
    [ "$who" = root ] && sudo="sudo -n"
    expect "$who: no host process is visible (ps sees only the sandbox)" 0 \
        "$(sb_sh "$A" "$ATOK" user "$sudo ps -eo comm= | grep -cE 'cube-worker|nginx|redis-server|mariadbd|systemd'")"
    expect "$who: signalling the worker's host pid $WPID fails" fail \
        "$(sb_sh "$A" "$ATOK" user "$sudo kill -0 $WPID 2>/dev/null && echo ok || echo fail")"
    expect "$who: ptrace of the worker's host pid fails (ESRCH)" 3 \
        "$(sb_sh "$A" "$ATOK" user "$sudo python3 -c 'import ctypes,ctypes.util; l=ctypes.CDLL(ctypes.util.find_library(\"c\"),use_errno=True); r=l.ptrace(16,$WPID,0,0); print(0 if r==0 else ctypes.get_errno())'")"
done
check "the worker is unharmed" kill -0 "$WPID"

# ---- host files and disks ---------------------------------------------------------------
expect "root: a host file is not reachable by path" no \
    "$(sb_sh "$A" "$ATOK" user "sudo -n cat $MARK 2>/dev/null || echo no")"
expect "root: no host block device in /dev" 0 \
    "$(sb_sh "$A" "$ATOK" user 'ls /dev | grep -cE "^(vd|sd|nvme|xvd|loop|dm-|mapper)"')"
expect "root: mknod of the host disk fails" fail \
    "$(sb_sh "$A" "$ATOK" user "sudo -n mknod /tmp/disk b $(stat -c '%t %T' /dev/vda 2>/dev/null | while read -r a b; do echo $((16#$a)) $((16#$b)); done || echo '253 0') 2>/dev/null && echo ok || echo fail")"
expect "root: mounting the host's root device fails" fail \
    "$(sb_sh "$A" "$ATOK" user 'sudo -n mount -t ext4 /dev/vda /mnt 2>/dev/null && echo ok || echo fail')"
expect "root: /proc/1/root is the sandbox's own root" no \
    "$(sb_sh "$A" "$ATOK" user "sudo -n cat /proc/1/root$MARK 2>/dev/null || echo no")"

# ---- raw sockets towards the host -------------------------------------------------------
HOST_IP=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
GW=$(R hget "cube:sb:$A" addr | awk -F. '{ print $1"."$2"."$3"."($4-1) }')
ping_raw() { # raw ICMP echo from inside as root to $1: "reply" or "none"
    sb_sh "$A" "$ATOK" user "sudo -n python3 - <<'PY'
import socket, struct, select
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
def csum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
h = struct.pack('!BBHHH', 8, 0, 0, 7, 1) + b'cube'
h = h[:2] + struct.pack('!H', csum(h)) + h[4:]
s.sendto(h, ('$1', 0))
r, _, _ = select.select([s], [], [], 1.5)
while r:
    d, a = s.recvfrom(2048)
    if a[0] == '$1' and d[20] == 0:
        print('reply'); break
    r, _, _ = select.select([s], [], [], 1.5)
else:
    print('none')
PY"
}
expect "root: a raw socket opens in the sandbox's own netns, but the host ($HOST_IP) does not answer it" none "$(ping_raw "$HOST_IP")"
expect "root: the host end of the veth ($GW) does not answer a raw ICMP echo" none "$(ping_raw "$GW")"
expect "root: the neighbour sandbox does not answer a raw ICMP echo" none "$(ping_raw "$(R hget "cube:sb:$B" addr)")"

# ---- fork bomb: contained by pids.max, the sandbox and the node keep answering ---------
host_pids_before=$(ls -d /proc/[0-9]* | wc -l)
j=$(jq -nc '{process:{cmd:"/bin/bash",args:["-c","b(){ b|b & }; b; sleep 30"]}}')
connect_envelope "$j" | curl -sN --max-time 8 -o /dev/null -X POST "$E2B_SANDBOX_URL/process.Process/Start" \
    -H "E2b-Sandbox-Id: $A" -H 'E2b-Sandbox-Port: 49983' -H 'Content-Type: application/connect+json' \
    -H "X-Access-Token: $ATOK" -H "Authorization: Basic $(printf 'user:' | base64 -w0)" --data-binary @- &
bomb=$!
sleep 5
inst=$(curl -s --unix-socket "$CUBE_RUN/worker.sock" "http://localhost/sandboxes/$A" | jq -r .instance)
pc=$(cat "/sys/fs/cgroup/pids/cube/$inst/pids.current" 2>/dev/null || cat "/sys/fs/cgroup/cube/$inst/pids.current" 2>/dev/null)
check "fork bomb: the sandbox's process count is capped (pids.current $pc <= 1024)" [ "${pc:-99999}" -le 1024 ]
check "fork bomb: the host gained at most ~1024 processes" [ $(($(ls -d /proc/[0-9]* | wc -l) - host_pids_before)) -le 1100 ]
expect "fork bomb: the sandbox's envd still answers /health" 204 "$(health "$A")"
expect "fork bomb: the neighbour sandbox still runs commands" ok "$(sb_sh "$B" "$BTOK" user 'echo ok')"
wait "$bomb" 2>/dev/null
api DELETE "/sandboxes/$A"
expect "fork bomb: the bombed sandbox is killed cleanly" 204 "$HTTP_CODE"

# ---- memory bomb: the OOM kill stays inside, envd survives ------------------------------
create || not_ok "create a sandbox for the memory bomb ($HTTP_CODE)"
C=$ID CTOK=$TOK
out=$(sb_sh "$C" "$CTOK" user 'python3 -c "
x = []
while True:
    x.append(bytearray(32 << 20))
" ; echo "exit=$?"')
expect "memory bomb: the hog is killed inside its sandbox (exit 137)" "exit=137" "$(grep -o 'exit=[0-9]*' <<<"$out")"
expect "memory bomb: envd still answers /health" 204 "$(health "$C")"
expect "memory bomb: the sandbox still runs commands" ok "$(sb_sh "$C" "$CTOK" user 'echo ok')"
expect "memory bomb: the neighbour sandbox still runs commands" ok "$(sb_sh "$B" "$BTOK" user 'echo ok')"
check "the worker survived it all" kill -0 "$WPID"
finish
