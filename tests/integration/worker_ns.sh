#!/usr/bin/env bash
# cube-worker with the ns driver, end to end against the real kernel: create, what the
# host sees (netns, veth, cgroups, uid shift, envd), the isolation boundary (break-out
# attempts through envd that must fail: seccomp, capabilities, masked /proc; and what
# must keep working: sudo, python, threads, PTY), Redis registration, API errors,
# worker kill -9 + re-adoption, init dying on its own, DELETE leaving nothing behind,
# --teardown-all.
#
# Runs its own worker (and Redis, if redis-server exists) on a private socket, state
# dir, cgroup name and slot range under /tmp, so it never touches a running stack;
# templates are read (never written) from $CUBE_TEMPLATES (/var/lib/cube/templates).
# Kills only processes it started. Needs root, build/bin/cube-{worker,init,envd}
# (SAN=1: build/san/bin). Usage: sudo bash tests/integration/worker_ns.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"

SAN=${SAN:-0}
if [ "$SAN" = 1 ]; then BIN="$ROOT/build/san/bin"; else BIN="$ROOT/build/bin"; fi
WORKER="$BIN/cube-worker"
ENVD_BIN=${CUBE_WORKER_TEST_BIN_DIR:-$BIN}
TEMPLATES=${CUBE_TEMPLATES:-/var/lib/cube/templates}
CG=cubetest$$
SLOTS=16300-16383
T=$(mktemp -d /tmp/cube-worker-test.XXXXXX)
chmod 755 "$T" # the sandbox's root (host uid 100000) must traverse to its layers
SOCK="$T/worker.sock"
STATE="$T/state"
WPID=""
RPID=""

w() { curl -s --max-time 20 --unix-socket "$SOCK" "$@"; }
# wreq METHOD PATH [curl args]: sets CODE and BODY.
wreq() {
    local m=$1 p=$2 out
    shift 2
    out=$(w -X "$m" -w '\n%{http_code}' "$@" "http://localhost$p")
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}
# rc_ok NAME: ok if the previous command (list) succeeded.
rc_ok() { if [ $? = 0 ]; then ok "$1"; else not_ok "$1"; fi; }
rid() { echo "i$(tr -dc 'a-z0-9' </dev/urandom | head -c 20)"; }

start_worker() {
    "$WORKER" --socket "$SOCK" --state-dir "$STATE" --template-dir "$TEMPLATES" \
        --redis "${REDIS_URL:-none}" --bin-dir "$ENVD_BIN" --slots "$SLOTS" \
        --cgroup-name "$CG" --log-level debug >>"$T/worker.log" 2>&1 &
    WPID=$!
    for _ in $(seq 100); do
        w http://localhost/health >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}
stop_worker() { # SIGTERM (or $1) to the worker this script started, then wait
    [ -n "$WPID" ] || return 0
    kill "-${1:-TERM}" "$WPID" 2>/dev/null
    wait "$WPID" 2>/dev/null
    WPID=""
}
cleanup() {
    stop_worker
    "$WORKER" --teardown-all --state-dir "$STATE" --cgroup-name "$CG" >>"$T/worker.log" 2>&1
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null
    if [ "$T_FAILED" = 0 ] && [ "${KEEP_LOGS:-0}" != 1 ]; then rm -rf "$T"; else
        echo "# logs kept in $T" >&2
    fi
}
trap cleanup EXIT

cgroup_dirs() { # every cgroup directory of sandbox $1
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        ls -d "/sys/fs/cgroup/$CG/$1" 2>/dev/null
    else
        ls -d /sys/fs/cgroup/{cpu,memory,pids,freezer}/"$CG/$1" 2>/dev/null
    fi
}
alive() { # pid $1 exists and is not a zombie (an unreaped init of a dead sandbox)
    [ -r "/proc/$1/stat" ] && ! awk '{ exit ($3 == "Z") ? 0 : 1 }' "/proc/$1/stat"
}
netns_ino() { stat -L -c %i "/proc/$1/ns/net" 2>/dev/null; } # netns inode of pid $1
# netns_held INO: some process or mount (nsfs bind mount) still holds that netns.
netns_held() {
    local f
    grep -q "net:\[$1\]" /proc/self/mountinfo && return 0
    for f in /proc/[0-9]*/ns/net; do
        [ "$(stat -L -c %i "$f" 2>/dev/null)" = "$1" ] && return 0
    done
    return 1
}
# nothing_left ID SLOT PID [NETNS_INO] [INSTANCE]: no trace of the sandbox anywhere on
# the host (its cgroups are named by its instance name: warm pools).
nothing_left() {
    local id=$1 slot=$2 pid=$3 ino=${4:-} inst=${5:-$1} what=""
    ip netns list | grep -q "^cube-$id" && what+=" netns-name"
    [ -e "/run/netns/cube-$id" ] && what+=" netns-file"
    [ -n "$ino" ] && netns_held "$ino" && what+=" netns"
    ip link show "vh$slot" >/dev/null 2>&1 && what+=" veth"
    [ -n "$(cgroup_dirs "$inst")" ] && what+=" cgroups"
    grep -q "$id" /proc/self/mountinfo && what+=" mounts"
    [ -e "$STATE/sandboxes/$id" ] && what+=" state-dir"
    [ -n "$pid" ] && alive "$pid" && what+=" process"
    [ -z "$what" ] && return 0
    echo "# left behind for $id:$what" >&2
    return 1
}
slot_of() { # 100.96.x.y -> slot
    local a=$1 c d
    c=$(echo "$a" | cut -d. -f3)
    d=$(echo "$a" | cut -d. -f4)
    echo $(((c * 256 + d) / 4))
}

# ---- prerequisites --------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
    not_ok "worker_ns needs root"
    finish
fi
for b in "$WORKER" "$ENVD_BIN/cube-init" "$ENVD_BIN/cube-envd"; do
    [ -x "$b" ] || {
        not_ok "built: $b (run make)"
        finish
    }
done
TPL=""
for j in "$TEMPLATES"/*/template.json; do
    [ -e "$j" ] || continue
    [ "$(jq -r .alias "$j")" = base ] && TPL=$(jq -r .templateID "$j")
done
[ -z "$TPL" ] && for j in "$TEMPLATES"/*/template.json; do
    [ -e "$j" ] && TPL=$(jq -r .templateID "$j") && break
done
if [ -z "$TPL" ]; then
    not_ok "a template exists in $TEMPLATES (make run builds base)"
    finish
fi
SHIFT=$(jq -r '.uidShift // 100000' "$TEMPLATES/$TPL/template.json")

if command -v redis-server >/dev/null; then
    redis-server --port 0 --unixsocket "$T/redis.sock" --save '' --appendonly no \
        --daemonize no >"$T/redis.log" 2>&1 &
    RPID=$!
    for _ in $(seq 50); do [ -S "$T/redis.sock" ] && break; sleep 0.05; done
    REDIS_URL="unix:$T/redis.sock"
fi
r() { redis-cli -s "$T/redis.sock" "$@"; }

# ---- start ----------------------------------------------------------------------
check "worker starts and answers /health" start_worker
wreq GET /health
NODE=$(echo "$BODY" | jq -r .node)
[ "$CODE" = 200 ] && [ "${NODE:0:1}" = n ]
rc_ok "health names the node"
ls -l "$SOCK" | grep -q '^srw-rw----' && ok "control socket is mode 0660" ||
    not_ok "control socket is mode 0660"

# ---- create ---------------------------------------------------------------------
ID=$(rid)
t0=$(date +%s%N)
wreq POST /sandboxes -d "{\"sandboxID\":\"$ID\",\"templateID\":\"$TPL\",\"envVars\":{\"A\":\"b\"},\"accessToken\":\"tok\",\"cpuCount\":1,\"memoryMB\":256}"
ms=$((($(date +%s%N) - t0) / 1000000))
ADDR=$(echo "$BODY" | jq -r .address)
PID=$(echo "$BODY" | jq -r .pid)
INST=$(echo "$BODY" | jq -r .instance)
SLOT=$(slot_of "$ADDR")
[ "$CODE" = 201 ] && [ "$(echo "$BODY" | jq -r .state)" = running ]
rc_ok "create answers 201 running (${ms} ms)"
[ "$(echo "$BODY" | jq -r .envdPort)" = 49983 ] && [ "$PID" -gt 1 ]
rc_ok "response has address, envdPort, pid"
[ $(($(echo "$ADDR" | cut -d. -f4) % 4)) = 2 ] && [ "${ADDR%.*.*}" = 100.96 ]
rc_ok "address is .2 of a 100.96.0.0/16 /30"
NSINO=$(netns_ino "$PID")
[ -n "$NSINO" ] && [ "$NSINO" != "$(netns_ino $$)" ]
rc_ok "sandbox has its own netns"
! ip netns list | grep -q "^cube-$ID" && [ ! -e "/run/netns/cube-$ID" ]
rc_ok "its netns is not named (no /run/netns bind mount per sandbox)"
ip -o addr show "vh$SLOT" 2>/dev/null | grep -q "${ADDR%.*}.$((${ADDR##*.} - 1))/30" &&
    ok "host veth vh$SLOT has the .1 address" || not_ok "host veth vh$SLOT has the .1 address"
[ "$(nsenter -t "$PID" -n ip -o -4 addr show eth0 | awk '{print $4}')" = "$ADDR/30" ] &&
    ok "sandbox eth0 has the .2 address" || not_ok "sandbox eth0 has the .2 address"
nsenter -t "$PID" -n ip route | grep -q "^default via ${ADDR%.*}.$((${ADDR##*.} - 1)) dev eth0" &&
    ok "default route via the host side" || not_ok "default route via the host side"
nsenter -t "$PID" -n ip -o link show lo | grep -q '[<,]UP[,>]' && ok "lo is up in the sandbox" ||
    not_ok "lo is up in the sandbox"
[ "$(nsenter -t "$PID" -n ip -o link show | grep -c .)" = 2 ]
rc_ok "the sandbox netns has only lo and eth0"
dirs=$(cgroup_dirs "$INST")
check "cgroup directories exist" [ -n "$dirs" ]
ok_cg=1
for d in $dirs; do grep -qx "$PID" "$d/cgroup.procs" || ok_cg=0; done
check "init is in every sandbox cgroup" [ "$ok_cg" = 1 ]
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    check "memory limit 256 MiB" [ "$(cat "/sys/fs/cgroup/$CG/$INST/memory.max" 2>/dev/null)" = 268435456 ]
else
    check "memory limit 256 MiB" [ "$(cat "/sys/fs/cgroup/memory/$CG/$INST/memory.limit_in_bytes")" = 268435456 ]
    check "cpu quota 1 core" [ "$(cat "/sys/fs/cgroup/cpu/$CG/$INST/cpu.cfs_quota_us")" = 100000 ]
    check "pids.max 1024" [ "$(cat "/sys/fs/cgroup/pids/$CG/$INST/pids.max")" = 1024 ]
fi
check "init runs as host uid $SHIFT" [ "$(ps -o uid= -p "$PID" | tr -d ' ')" = "$SHIFT" ]
check "root inside (whoami)" [ "$(nsenter -t "$PID" -a whoami 2>/dev/null)" = root ]
check "hostname is the sandbox id" [ "$(nsenter -t "$PID" -a hostname 2>/dev/null)" = "$ID" ]
# argv[0] of pid 1 inside (its options vary: the worker channel, the code interpreter).
check "pid namespace: init is pid 1 inside" [ "$(nsenter -t "$PID" -a cat /proc/1/cmdline 2>/dev/null | tr '\0' '\n' | head -1)" = /.cube/bin/cube-init ]
! nsenter -t "$PID" -a touch /.cube/bin/x 2>/dev/null
rc_ok "/.cube/bin is read-only"
! nsenter -t "$PID" -a test -e "$ROOT/Makefile" && ! nsenter -t "$PID" -a test -e "$T"
rc_ok "the host's files are not visible inside"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$ADDR:49983/health")
check "envd answers on $ADDR:49983 from the host ($code)" [ "${code:0:1}" = 2 ]
wreq GET "/sandboxes/$ID"
[ "$CODE" = 200 ] && [ "$(echo "$BODY" | jq -r .sandboxID)" = "$ID" ]
rc_ok "GET /sandboxes/<id> is 200"
wreq GET /sandboxes
[ "$CODE" = 200 ] && echo "$BODY" | jq -e --arg i "$ID" 'map(.sandboxID) | index($i) != null' >/dev/null
rc_ok "GET /sandboxes lists it"
state=$(jq -r .state "$STATE/sandboxes/$INST/state.json" 2>/dev/null)
check "state.json says running" [ "$state" = running ]

if [ -n "$RPID" ]; then
    sleep 0.1
    check "redis: node hash ready" [ "$(r hget "cube:node:$NODE" state)" = ready ]
    check "redis: node alive key" [ "$(r exists "cube:node:$NODE:alive")" = 1 ]
    check "redis: node in cube:nodes" [ "$(r sismember cube:nodes "$NODE")" = 1 ]
    [ "$(r hget "cube:template:$TPL" id)" = "$TPL" ] && [ "$(r sismember "cube:template:$TPL:nodes" "$NODE")" = 1 ]
    rc_ok "redis: template registered"
    check "redis: sandbox in node set" [ "$(r sismember "cube:node:$NODE:sandboxes" "$ID")" = 1 ]
    check "redis: cube:sb runtime fields" [ "$(r hget "cube:sb:$ID" addr)" = "$ADDR" ]
fi

# ---- isolation: break-out attempts from inside. Through envd, so every command runs
# with the sandbox's own restrictions (nsenter from the host would not). -------------
ENVD="http://$ADDR:49983"
data_of() { # decoded stdout (or $2: pty) of a captured Start stream
    grep -ao "\"${2:-stdout}\":\"[^\"]*\"" "$1" | sed 's/^[^:]*:"//; s/"$//' |
        while read -r b; do printf '%s' "$b" | base64 -d; done
}
SXN=0
# sx USER SCRIPT [PTY]: bash -c SCRIPT as USER inside the sandbox (stderr merged into
# stdout); prints the output. PTY=1: on a 27x91 pseudo-terminal instead.
sx() {
    local user=$1 script=$2 pty=${3:-0} out j
    SXN=$((SXN + 1))
    out="$T/sx.$SXN"
    if [ "$pty" = 1 ]; then
        j=$(jq -nc --arg s "$script" '{process:{cmd:"/bin/bash",args:["-c",$s]},pty:{size:{cols:91,rows:27}}}')
    else
        j=$(jq -nc --arg s "exec 2>&1; $script" '{process:{cmd:"/bin/bash",args:["-c",$s]}}')
    fi
    connect_envelope "$j" | curl -sN --max-time 30 -X POST "$ENVD/process.Process/Start" \
        -H 'Content-Type: application/connect+json' -H 'X-Access-Token: tok' \
        -H "Authorization: Basic $(printf '%s:' "$user" | base64 -w0)" --data-binary @- -o "$out"
    if [ "$pty" = 1 ]; then data_of "$out" pty; else data_of "$out"; fi
}
# expect NAME WANT GOT
expect() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (want '$2', got '${3:0:300}')"; fi
}

check "envd runs commands as user" [ "$(sx user 'whoami')" = user ]

# Normal use keeps working.
expect "sudo -n id -u prints 0" 0 "$(sx user 'sudo -n id -u')"
expect "root (sudo) writes and chowns under /usr" "user 755 hi" \
    "$(sx user 'sudo -n sh -c "echo hi > /usr/local/bin/cube-probe && chmod 755 /usr/local/bin/cube-probe && chown user:user /usr/local/bin/cube-probe" && stat -c "%U %a" /usr/local/bin/cube-probe | tr "\n" " "; cube-probe 2>/dev/null || cat /usr/local/bin/cube-probe')"
expect "dpkg database is usable as root (apt-style)" ok \
    "$(sx user 'sudo -n dpkg --audit && sudo -n dpkg-query -W bash >/dev/null && echo ok')"
expect "python3 runs" 42 "$(sx user 'python3 -c "print(6*7)"')"
expect "threads work (clone3 ENOSYS falls back to clone)" t \
    "$(sx user 'python3 -c "import threading; t = threading.Thread(target=print, args=(\"t\",)); t.start(); t.join()"')"
expect "fork/exec and pipes work" 3 "$(sx user 'seq 3 | sort -r | head -1')"
# Login shells (the SDK runs every command with bash -l -c) get Debian's PATH, for the
# user and for root, and bash does not fork an `id -u` for it (the template's
# /etc/profile asks bash for its EUID); a POSIX sh still runs id.
expect "a login shell as user gets the user PATH" /usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games \
    "$(sx user 'bash -l -c "echo \$PATH"')"
expect "a login shell as root gets the PATH with sbin" /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "$(sx root 'bash -l -c "echo \$PATH"')"
idw=$(printf '#!/bin/sh\ntouch /tmp/id-ran\nexec /usr/bin/id "$@"\n' | base64 -w0)
sx user "echo $idw | base64 -d | sudo -n tee /usr/local/bin/id >/dev/null && sudo -n chmod 755 /usr/local/bin/id" >/dev/null
expect "bash -l runs no id, sh -l does (through a wrapper that marks /tmp)" "bash: no, sh: yes" \
    "$(sx user 'rm -f /tmp/id-ran; PATH=/usr/local/bin:$PATH bash -l -c true; a=no; [ -e /tmp/id-ran ] && a=yes; rm -f /tmp/id-ran; PATH=/usr/local/bin:$PATH sh -l -c true; b=no; [ -e /tmp/id-ran ] && b=yes; sudo -n rm -f /usr/local/bin/id /tmp/id-ran; echo "bash: $a, sh: $b"')"
# Root's login shells run `mesg n` only on a terminal (a PTY from envd), not for every
# command (root's PATH has /usr/local/bin first, where the wrapper goes).
mw=$(printf '#!/bin/sh\ntouch /tmp/mesg-ran\nexec /usr/bin/mesg "$@"\n' | base64 -w0)
sx user "echo $mw | base64 -d | sudo -n tee /usr/local/bin/mesg >/dev/null && sudo -n chmod 755 /usr/local/bin/mesg" >/dev/null
expect "root's bash -l without a terminal runs no mesg" "mesg: no" \
    "$(sx root 'rm -f /tmp/mesg-ran; bash -l -c true; a=no; [ -e /tmp/mesg-ran ] && a=yes; echo "mesg: $a"')"
sx root 'rm -f /tmp/mesg-ran; bash -l -c true; [ -e /tmp/mesg-ran ] && echo MESG-RAN' 1 | grep -aq MESG-RAN &&
    ok "root's bash -l on a PTY still runs mesg n" || not_ok "root's bash -l on a PTY still runs mesg n"
sx user 'sudo -n rm -f /usr/local/bin/mesg /tmp/mesg-ran' >/dev/null
sx user 'tty; stty size' 1 | grep -aq '27 91' && ok "a PTY works" || not_ok "a PTY works"

# /proc and /sys: host kernel state hidden, host-wide knobs read-only.
expect "sudo write to /proc/sysrq-trigger fails" fail \
    "$(sx user 'sudo -n sh -c "echo h > /proc/sysrq-trigger" >/dev/null 2>&1 && echo ok || echo fail')"
expect "sudo write to /proc/sys fails (read-only)" fail \
    "$(sx user 'sudo -n sh -c "echo 1 > /proc/sys/net/ipv4/ip_forward" >/dev/null 2>&1 && echo ok || echo fail')"
expect "/proc/kcore, /proc/keys, /proc/timer_list read nothing as root" 0 \
    "$(sx user 'sudo -n cat /proc/kcore /proc/keys /proc/timer_list 2>/dev/null | wc -c')"
ro=$(sx root 'for p in /proc/sys /proc/sysrq-trigger /proc/irq /proc/bus /proc/fs; do
    [ -e $p ] || continue
    awk -v p=$p "\$5 == p { split(\$6, o, \",\"); r = o[1] } END { printf \"%s=%s \", p, r }" /proc/self/mountinfo
done')
case "$ro" in
*=rw* | *"= "*) not_ok "/proc/sys, irq, bus, fs, sysrq-trigger (where present) are read-only ($ro)" ;;
*/proc/sys=ro*) ok "/proc/sys, irq, bus, fs, sysrq-trigger (where present) are read-only ($ro)" ;;
*) not_ok "/proc/sys, irq, bus, fs, sysrq-trigger (where present) are read-only ($ro)" ;;
esac
if nsenter -t "$PID" -m test -d /sys/kernel; then
    expect "/sys/firmware is empty" 0 "$(sx root 'ls -A /sys/firmware | wc -l')"
fi
procs=$(sx user 'ps -eo comm= | sort -u | tr "\n" " "')
case "$procs" in
*cube-worker* | *redis* | *systemd* | *sshd*) not_ok "ps inside shows only sandbox processes ($procs)" ;;
*cube-init*) ok "ps inside shows only sandbox processes" ;;
*) not_ok "ps inside shows only sandbox processes ($procs)" ;;
esac
expect "pid 1 inside is cube-init" cube-init "$(sx user 'ps -o comm= -p 1')"

# Capabilities: Docker's default set, for the user, for sudo root and for init.
st=$(sx user 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb):" /proc/self/status | tr -s "\t" " " | tr "\n" ";"')
expect "user: no capabilities, CapBnd = Docker default" \
    "CapInh: 0000000000000000;CapPrm: 0000000000000000;CapEff: 0000000000000000;CapBnd: 00000000a80425fb;CapAmb: 0000000000000000;" "$st"
st=$(sx user 'sudo -n grep -E "^(CapEff|CapBnd)" /proc/self/status | tr -s "\t" " " | tr "\n" ";"')
expect "sudo root: CapEff = CapBnd = 00000000a80425fb" \
    "CapEff: 00000000a80425fb;CapBnd: 00000000a80425fb;" "$st"
st=$(sx root 'grep -E "^(CapEff|CapBnd)" /proc/1/status | tr -s "\t" " " | tr "\n" ";"')
expect "sandbox init runs with the same set" "CapEff: 00000000a80425fb;CapBnd: 00000000a80425fb;" "$st"
# Host-affecting operations as sudo root.
before=$(sx user 'date +%Y')
expect "sudo date -s fails" fail "$(sx user 'sudo -n date -s 2001-01-01 >/dev/null 2>&1 && echo ok || echo fail')"
expect "the clock is unchanged" "$before" "$(sx user 'date +%Y')"
expect "sudo mount tmpfs / proc fails" fail,fail \
    "$(sx user 'sudo -n mount -t tmpfs none /mnt >/dev/null 2>&1 && echo -n ok, || echo -n fail,; sudo -n mount -t proc proc /mnt >/dev/null 2>&1 && echo ok || echo fail')"
expect "sudo umount of a masked path fails" fail \
    "$(sx user 'sudo -n umount /proc/kcore >/dev/null 2>&1 && echo ok || echo fail')"
expect "sudo ip addr add fails (no NET_ADMIN: the sandbox keeps its address)" fail \
    "$(sx user 'sudo -n ip addr add 100.96.255.253/32 dev eth0 >/dev/null 2>&1 && echo ok || echo fail')"

# seccomp (see vmm-worker/seccomp_profile.c).
expect "no_new_privs is off (sudo works), seccomp filter on" "NoNewPrivs: 0;Seccomp: 2;" \
    "$(sx user 'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t" " " | tr "\n" ";"')"

# Namespaces: no new user namespace, with or without sudo.
expect "unshare -U fails" fail "$(sx user 'unshare -U true >/dev/null 2>&1 && echo ok || echo fail')"
expect "unshare -r fails" fail "$(sx user 'unshare -r true >/dev/null 2>&1 && echo ok || echo fail')"
expect "sudo unshare -r / -m fail" fail,fail \
    "$(sx user 'sudo -n unshare -r true >/dev/null 2>&1 && echo -n ok, || echo -n fail,; sudo -n unshare -m true >/dev/null 2>&1 && echo ok || echo fail')"

# Syscalls the filter denies, tried as root. Each line: name result.
PROBE='
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *a):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])
    if r == 0 and nr == 56:
        os._exit(0)  # a clone that should have failed: child leaves at once
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
NEWUSER, SIGCHLD = 0x10000000, 17
for name, nr, args in [
    ("init_module", 175, (0, 0, 0)), ("finit_module", 313, (0, 0, 0)),
    ("delete_module", 176, (0, 0)), ("kexec_load", 246, (0, 0, 0, 0)),
    ("bpf", 321, (0, 0, 0)), ("perf_event_open", 298, (0, 0, -1, -1, 0)),
    ("keyctl", 250, (0, -3, 0)), ("add_key", 248, (0, 0, 0, 0, 0)),
    ("request_key", 249, (0, 0, 0, 0)), ("open_by_handle_at", 304, (-1, 0, 0)),
    ("name_to_handle_at", 303, (-100, 0, 0, 0, 0)), ("userfaultfd", 323, (0,)),
    ("settimeofday", 164, (0, 0)), ("clock_settime", 227, (0, 0)),
    ("adjtimex", 159, (0,)), ("reboot", 169, (0xfee1dead, 672274793, 0, 0)),
    ("swapon", 167, (0, 0)), ("acct", 163, (0,)), ("iopl", 172, (3,)),
    ("ioperm", 173, (0, 1, 1)), ("syslog", 103, (3, 0, 0)),
    ("mount", 165, (0, 0, 0, 0, 0)), ("umount2", 166, (0, 0)), ("pivot_root", 155, (0, 0)),
    ("fsopen", 430, (0, 0)), ("open_tree", 428, (-100, 0, 0)), ("setns", 308, (-1, 0)),
    ("unshare(NEWUSER)", 272, (NEWUSER,)), ("clone(NEWUSER)", 56, (NEWUSER | SIGCHLD, 0, 0, 0, 0)),
    ("clone3", 435, (0, 0)), ("io_uring_setup", 425, (1, 0)),
    ("personality(READ_IMPLIES_EXEC)", 135, (0x0400000,)),
    ("personality(query)", 135, (0xffffffff,)),
    ("personality(ADDR_NO_RANDOMIZE)", 135, (0x0040000,)),
    ("getpid", 39, ()),
]:
    print(name, sc(nr, *args))
'
WANT_PROBE="init_module EPERM
finit_module EPERM
delete_module EPERM
kexec_load EPERM
bpf EPERM
perf_event_open EPERM
keyctl EPERM
add_key EPERM
request_key EPERM
open_by_handle_at EPERM
name_to_handle_at EPERM
userfaultfd EPERM
settimeofday EPERM
clock_settime EPERM
adjtimex EPERM
reboot EPERM
swapon EPERM
acct EPERM
iopl EPERM
ioperm EPERM
syslog EPERM
mount EPERM
umount2 EPERM
pivot_root EPERM
fsopen EPERM
open_tree EPERM
setns EPERM
unshare(NEWUSER) EPERM
clone(NEWUSER) EPERM
clone3 ENOSYS
io_uring_setup EPERM
personality(READ_IMPLIES_EXEC) EPERM
personality(query) ok
personality(ADDR_NO_RANDOMIZE) ok
getpid ok"
got=$(sx root "python3 -c '$PROBE'")
while read -r name want; do
    g=$(echo "$got" | awk -v n="$name" '$1 == n { print $2 }')
    expect "syscall $name as root: $want" "$want" "$g"
done <<<"$WANT_PROBE"
# The i386 ABI (int 0x80) is not allowed: SIGSYS (159) with the filter; SIGSEGV (139) on
# hosts whose kernel has no IA32 emulation enabled. Never a result.
I386='
import mmap, ctypes
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")  # mov eax, 20 (getpid); int 0x80; ret
print("pid", ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))())
'
got=$(sx root "python3 -c '$I386' >/dev/null 2>&1; echo \$?" | tail -n 1)
case "$got" in 159 | 139) ok "i386 syscall from a 64-bit process is refused (exit $got)" ;; *) not_ok "i386 syscall from a 64-bit process is refused (exit $got)" ;; esac

# ---- errors ---------------------------------------------------------------------
err_ok() { # NAME CODE: last reply had that status and a JSON {code,message}
    if [ "$CODE" = "$2" ] && echo "$BODY" | jq -e --argjson c "$2" '.code == $c and (.message | length > 0)' >/dev/null 2>&1; then
        ok "$1"
    else not_ok "$1 (got $CODE ${BODY:0:120})"; fi
}
wreq POST /sandboxes -d '{nope'
err_ok "bad JSON is 400" 400
wreq POST /sandboxes -d "{\"sandboxID\":\"BAD/ID\",\"templateID\":\"$TPL\"}"
err_ok "bad sandboxID is 400" 400
wreq POST /sandboxes -d "{\"sandboxID\":\"$(rid)\",\"templateID\":\"$TPL\",\"memoryMB\":-1}"
err_ok "negative memoryMB is 400" 400
wreq POST /sandboxes -d "{\"sandboxID\":\"$(rid)\",\"templateID\":\"nosuchtemplate\"}"
err_ok "unknown template is 404" 404
wreq POST /sandboxes -d "{\"sandboxID\":\"$ID\",\"templateID\":\"$TPL\"}"
err_ok "duplicate sandbox id is 409" 409
wreq GET "/sandboxes/$(rid)"
err_ok "unknown sandbox is 404" 404
wreq PUT /sandboxes
err_ok "unsupported method is 405" 405

# ---- concurrent creates ---------------------------------------------------------
C1=$(rid) C2=$(rid) C3=$(rid)
cpids=""
for c in $C1 $C2 $C3; do
    w -o "$T/$c.json" -w '%{http_code}' -XPOST http://localhost/sandboxes \
        -d "{\"sandboxID\":\"$c\",\"templateID\":\"$TPL\"}" >"$T/$c.code" &
    cpids+=" $!"
done
hms=$( { time -p w http://localhost/health >/dev/null; } 2>&1 | awk '/real/ {print $2}')
wait $cpids
n201=0
for c in $C1 $C2 $C3; do [ "$(cat "$T/$c.code")" = 201 ] && n201=$((n201 + 1)); done
check "3 concurrent creates all 201 (health meanwhile took ${hms}s)" [ "$n201" = 3 ]
addrs=$(for c in $C1 $C2 $C3; do jq -r .address "$T/$c.json"; done | sort -u | wc -l)
check "concurrent sandboxes got distinct addresses" [ "$addrs" = 3 ]
for c in $C1 $C2 $C3; do wreq DELETE "/sandboxes/$c"; done

# ---- worker kill -9, re-adoption --------------------------------------------------
stop_worker KILL
check "sandbox survives worker kill -9" alive "$PID"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$ADDR:49983/health")
check "envd still answers while the worker is down" [ "${code:0:1}" = 2 ]
check "worker restarts" start_worker
wreq GET "/sandboxes/$ID"
[ "$CODE" = 200 ] && [ "$(echo "$BODY" | jq -r .pid)" = "$PID" ]
rc_ok "restarted worker re-adopted the sandbox"

# ---- DELETE -----------------------------------------------------------------------
t0=$(date +%s%N)
wreq DELETE "/sandboxes/$ID"
ms=$((($(date +%s%N) - t0) / 1000000))
check "DELETE is 204 (${ms} ms)" [ "$CODE" = 204 ]
check "nothing is left after DELETE" eventually nothing_left "$ID" "$SLOT" "$PID" "$NSINO" "$INST"
wreq DELETE "/sandboxes/$ID"
err_ok "second DELETE is 404" 404
if [ -n "$RPID" ]; then
    sleep 0.1
    [ "$(r exists "cube:sb:$ID")" = 0 ] && [ "$(r sismember "cube:node:$NODE:sandboxes" "$ID")" = 0 ]
    rc_ok "redis: sandbox removed"
fi

# ---- init exits on its own ----------------------------------------------------------
ID2=$(rid)
wreq POST /sandboxes -d "{\"sandboxID\":\"$ID2\",\"templateID\":\"$TPL\"}"
PID2=$(echo "$BODY" | jq -r .pid)
INST2=$(echo "$BODY" | jq -r .instance)
SLOT2=$(slot_of "$(echo "$BODY" | jq -r .address)")
NSINO2=$(netns_ino "$PID2")
check "second sandbox created" [ "$CODE" = 201 ]
kill -KILL "$PID2"
for _ in $(seq 40); do
    wreq GET "/sandboxes/$ID2"
    [ "$CODE" = 404 ] && break
    sleep 0.05
done
check "worker notices init exiting and forgets the sandbox" [ "$CODE" = 404 ]
check "nothing is left after init exited" eventually nothing_left "$ID2" "$SLOT2" "$PID2" "$NSINO2" "$INST2"
[ -n "$RPID" ] && check "redis: dead sandbox removed" [ "$(r sismember "cube:node:$NODE:sandboxes" "$ID2")" = 0 ]

# ---- SIGTERM keeps sandboxes; --teardown-all removes them -----------------------------
ID3=$(rid)
wreq POST /sandboxes -d "{\"sandboxID\":\"$ID3\",\"templateID\":\"$TPL\"}"
PID3=$(echo "$BODY" | jq -r .pid)
INST3=$(echo "$BODY" | jq -r .instance)
SLOT3=$(slot_of "$(echo "$BODY" | jq -r .address)")
NSINO3=$(netns_ino "$PID3")
stop_worker TERM
check "worker SIGTERM leaves the sandbox running" alive "$PID3"
check "worker removes its socket on exit" [ ! -e "$SOCK" ]
"$WORKER" --teardown-all --state-dir "$STATE" --cgroup-name "$CG" >>"$T/worker.log" 2>&1
check "--teardown-all exits 0" [ $? = 0 ]
check "nothing is left after --teardown-all" nothing_left "$ID3" "$SLOT3" "$PID3" "$NSINO3" "$INST3"
check "--teardown-all removes the parent cgroups" [ -z "$(ls -d /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG" 2>/dev/null)" ]

finish
