#!/usr/bin/env bash
# The worker -> envd channel (common/cube_chan.h) seen from a real sandbox:
#  - the first request after a create already sees the init (token enforced, env set),
#    although the worker answers the create without waiting for envd;
#  - code inside, as user and as root-in-sandbox, cannot find the channel to
#    re-initialise envd with a token of its own: it walks every process's fds, tries
#    to open each socket through /proc/<pid>/fd and to take it with pidfd_getfd(2), and
#    sends an init with its own token on every SOCK_SEQPACKET socket it gets. A control
#    socketpair held by a process of its own shows the walk does find such sockets.
#    envd must still answer the real token only, with the real environment.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

IDS=()
cleanup() { for i in "${IDS[@]}"; do api DELETE "/sandboxes/$i" >/dev/null; done; }
trap cleanup EXIT
expect() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (want '$2', got '${3:0:300}')"; fi; }
envs() { # envs ID [TOKEN]: envd's GET /envs through the router; "<status> <body>"
    local out
    out=$(curl -s --max-time 10 -w '\n%{http_code}' -H "E2b-Sandbox-Id: $1" \
        -H 'E2b-Sandbox-Port: 49983' ${2:+-H "X-Access-Token: $2"} "$E2B_SANDBOX_URL/envs")
    echo "${out##*$'\n'} ${out%$'\n'*}"
}

# ---- the first request after the 201 sees the init ------------------------------------
good=0
for i in 1 2 3 4 5; do
    api POST /v2/sandboxes -d "{\"templateID\":\"base\",\"timeout\":120,\"envVars\":{\"CUBE_CHAN_T\":\"v$i\"}}"
    id=$(jq -r .sandboxID <<<"$HTTP_BODY")
    tok=$(jq -r '.envdAccessToken // ""' <<<"$HTTP_BODY")
    [ "$HTTP_CODE" = 201 ] && IDS+=("$id")
    first=$(envs "$id" "$tok")
    notok=$(envs "$id")
    if [ "${first%% *}" = 200 ] && jq -e --arg v "v$i" '.CUBE_CHAN_T == $v' <<<"${first#* }" >/dev/null 2>&1 &&
        [ "${notok%% *}" = 401 ]; then
        good=$((good + 1))
    else
        echo "# create $i: $HTTP_CODE; first /envs: ${first:0:200}; without token: ${notok:0:60}" >&2
    fi
done
expect "the first request after each of 5 creates sees the env vars and the token" 5 "$good"
api POST /v2/sandboxes -d '{"templateID":"base","timeout":120,"envVars":{"CUBE_CHAN_T":"attack"}}'
ID=$(jq -r .sandboxID <<<"$HTTP_BODY")
TOK=$(jq -r '.envdAccessToken // ""' <<<"$HTTP_BODY")
[ "$HTTP_CODE" = 201 ] && IDS+=("$ID")
check "a sandbox to attack from" [ "$HTTP_CODE" = 201 -a -n "$TOK" ]

# ---- looking for the channel from inside --------------------------------------------------
# Prints {"opened":n,"got":n,"found":n,"control":n,"errors":[...]}: sockets opened through
# /proc/<pid>/fd, fds taken with pidfd_getfd, foreign SEQPACKET sockets found (and
# written to), and the control socket found.
SCAN=$(
    base64 -w0 <<'EOF'
import ctypes, json, os, socket, time
libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
evil = b"I" + json.dumps({"accessToken": "evil", "envVars": {"PWN": "1"}}).encode()
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
ctl = os.fork()
if ctl == 0:
    a.close()
    time.sleep(60)
    os._exit(0)
b.close()
time.sleep(0.1)
res = {"opened": 0, "got": 0, "found": 0, "control": 0, "errors": set()}
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == os.getpid():
        continue
    pid = int(p)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError as e:
        res["errors"].add(f"list fds: {e.strerror}")
        continue
    for fd in fds:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            if not os.readlink(path).startswith("socket:"):
                continue
        except OSError:
            continue
        try:
            os.close(os.open(path, os.O_RDWR))
            res["opened"] += 1
        except OSError as e:
            res["errors"].add(f"open: {e.strerror}")
        pfd = libc.syscall(SYS_pidfd_open, pid, 0)
        if pfd < 0:
            res["errors"].add("pidfd_open: " + os.strerror(ctypes.get_errno()))
            continue
        nfd = libc.syscall(SYS_pidfd_getfd, pfd, int(fd), 0)
        os.close(pfd)
        if nfd < 0:
            res["errors"].add("pidfd_getfd: " + os.strerror(ctypes.get_errno()))
            continue
        res["got"] += 1
        s = socket.socket(fileno=nfd)
        if s.type == socket.SOCK_SEQPACKET:
            if pid == ctl:
                res["control"] += 1
            else:
                res["found"] += 1
                try:
                    s.send(evil)
                except OSError:
                    pass
        s.close()
os.kill(ctl, 9)
res["errors"] = sorted(res["errors"])
print(json.dumps(res))
EOF
)
for who in user root; do
    sudo=""
    [ "$who" = root ] && sudo="sudo -n"
    out=$(sb_sh "$ID" "$TOK" user "echo $SCAN | base64 -d | $sudo python3 -")
    echo "# $who: $out" >&2
    expect "$who: the walk works (it finds its own control SEQPACKET socket)" 1 \
        "$(jq -r .control <<<"$out" 2>/dev/null)"
    expect "$who: no socket of another process opens through /proc/<pid>/fd" 0 \
        "$(jq -r .opened <<<"$out" 2>/dev/null)"
    expect "$who: no process in the sandbox holds a SEQPACKET socket (the channel)" 0 \
        "$(jq -r .found <<<"$out" 2>/dev/null)"
done

r=$(envs "$ID" "$TOK")
expect "after the attempts envd still answers the real token" 200 "${r%% *}"
expect "and still has the real environment (no PWN, CUBE_CHAN_T=attack)" "attack null" \
    "$(jq -r '.CUBE_CHAN_T + " " + (.PWN // "null")' <<<"${r#* }" 2>/dev/null)"
r=$(envs "$ID" evil)
expect "the attacker's token is refused" 401 "${r%% *}"
finish
