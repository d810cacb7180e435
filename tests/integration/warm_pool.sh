#!/usr/bin/env bash
# Warm pools: every template keeps prepared sandboxes; a create takes one and makes it
# the caller's (id, hostname, env, limits), the pool refills, cold creates still work
# when it is empty, pooled sandboxes survive a worker restart, and a worker killed
# with -9 in the middle of 20 concurrent creates leaves every sandbox that a caller got
# working and nothing else behind.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../../deploy/services.sh"
T=$(mktemp -d /tmp/cube-pool-test.XXXXXX)
trap 'rm -rf "$T"' EXIT

# pools_full: every pool holds its size (waits up to 15 s).
pools_full() {
    local j
    for _ in $(seq 150); do
        j=$(worker_get /pool)
        jq -e '(.pools | length) > 0 and all(.pools[]; .ready == .size and .preparing == 0)' >/dev/null 2>&1 <<<"$j" && return 0
        sleep 0.1
    done
    echo "# pools not full: $j" >&2
    return 1
}
expect() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (want '$2', got '${3:0:300}')"; fi; }
worker_log="$CUBE_LOG/worker.log"

check "every template's warm pool fills to its size" pools_full
size=$(worker_get /pool | jq '[.pools[].size] | max')
check "pool size is positive ($size)" [ "${size:-0}" -gt 0 ]
node=$(worker_get /health | jq -r .node)
hb_pooled() { # the node's heartbeat (every 2 s) reports what the worker holds
    for _ in $(seq 30); do
        [ "$(redis-cli -s "$CUBE_RUN/redis.sock" hget "cube:node:$node" pooled)" = "$(worker_get /pool | jq .pooled)" ] && return 0
        sleep 0.2
    done
    return 1
}
check "the node's heartbeat in Redis reports its pooled sandboxes" hb_pooled

api POST /v2/sandboxes -d '{"templateID":"base","envVars":{"CUBE_POOL_T":"v1"},"timeout":120}'
id=$(jq -r .sandboxID <<<"$HTTP_BODY")
tok=$(jq -r '.envdAccessToken // ""' <<<"$HTTP_BODY")
check "create from a full pool answers 201" [ "$HTTP_CODE" = 201 ]
inst=$(worker_get "/sandboxes/$id" | jq -r .instance)
check "the sandbox came from the pool (instance $inst was prepared before the create)" \
    bash -c "[[ '$inst' == p* && '$inst' != '$id' ]]"
check "the worker logged a warm create" grep -q "sandbox $id running .*(warm)" "$worker_log"
out=$(sb_sh "$id" "$tok" user 'hostname; cat /etc/hostname; grep -c "127.0.1.1.$(hostname)\$" /etc/hosts; echo "$CUBE_POOL_T"; sudo -n true; echo done')
expect "hostname, /etc/hostname, /etc/hosts and env vars are the caller's; sudo resolves the host" \
    "$id $id 1 v1 done" "$(echo $out)"
expect "the instance's state.json now names the API id, state running" "$id running" \
    "$(jq -r '.id + " " + .state' "$CUBE_STATE/sandboxes/$inst/state.json")"
expect "GET /pool says, per pool, whether a claim's refill waits for claims to pause" true \
    "$(worker_get /pool | jq 'all(.pools[]; .refillPending | type == "boolean")')"
check "the pool refills after the create" pools_full
expect "once full, no refill is pending" 0 "$(worker_get /pool | jq '[.pools[] | select(.refillPending)] | length')"

# Limits from the request replace the template's (worker API: the gateway passes them).
rid="i$(tr -dc 'a-z0-9' </dev/urandom | head -c 20)"
code=$(curl -s -o "$T/lim.json" -w '%{http_code}' --max-time 20 --unix-socket "$CUBE_RUN/worker.sock" \
    -X POST http://localhost/sandboxes -d "{\"sandboxID\":\"$rid\",\"templateID\":\"base\",\"memoryMB\":320,\"cpuCount\":1}")
check "worker create with memoryMB 320 and cpuCount 1 answers 201" [ "$code" = 201 ]
linst=$(jq -r .instance "$T/lim.json")
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    mem=$(cat "/sys/fs/cgroup/cube/$linst/memory.max"); cpu=$(cut -d' ' -f1 "/sys/fs/cgroup/cube/$linst/cpu.max")
else
    mem=$(cat "/sys/fs/cgroup/memory/cube/$linst/memory.limit_in_bytes"); cpu=$(cat "/sys/fs/cgroup/cpu/cube/$linst/cpu.cfs_quota_us")
fi
expect "the claimed sandbox's cgroup has the requested limits" "335544320 100000" "$mem $cpu"
curl -s -o /dev/null --max-time 20 --unix-socket "$CUBE_RUN/worker.sock" -X DELETE "http://localhost/sandboxes/$rid"

# An empty pool: more concurrent creates than it holds; the rest are made cold.
n=$((size + 3))
for i in $(seq $n); do
    (api POST /v2/sandboxes -d '{"templateID":"base","timeout":120}'; echo "$HTTP_CODE $(jq -r '.sandboxID + " " + (.envdAccessToken // "")' <<<"$HTTP_BODY" 2>/dev/null)" >"$T/burst.$i") &
done
wait
good=0
for i in $(seq $n); do
    read -r c sid stok <"$T/burst.$i"
    if [ "$c" = 201 ] && [ "$(sb_sh "$sid" "$stok" user 'echo ready')" = ready ]; then good=$((good + 1)); fi
    echo "$sid" >>"$T/burst.ids"
done
expect "$n concurrent creates with $size pooled: all answer 201 and run commands" "$n" "$good"
check "some of them were made cold" bash -c "for s in \$(cat $T/burst.ids); do grep -q \"sandbox \$s running .*(cold)\" '$worker_log' && exit 0; done; exit 1"
for s in $(cat "$T/burst.ids"); do api DELETE "/sandboxes/$s"; done
check "the pool refills after the burst" pools_full

# A pooled sandbox whose envd died an instant before a create claims it (the worker has
# not yet seen its channel close): the create takes another sandbox, never a 500. The
# worker is stopped while the create arrives on a connection it already accepted and
# the pooled envds are killed, so on SIGCONT it reads the create before the channels'
# hang-ups.
pools_full >/dev/null
envds=""
for st in "$CUBE_STATE"/sandboxes/p*/state.json; do
    jq -e '.state == "pooled" and .alias == "base"' "$st" >/dev/null 2>&1 || continue
    envds+=" $(pgrep -P "$(jq -r .pid "$st")" -x cube-envd)"
done
check "the base pool's envds are found ($envds)" [ -n "${envds// /}" ]
rid="i$(tr -dc 'a-z0-9' </dev/urandom | head -c 20)"
logpos=$(wc -l <"$worker_log")
code=$(python3 - "$CUBE_RUN/worker.sock" "$(cat "$CUBE_RUN/worker.pid")" "$rid" $envds <<'PY'
import os, signal, socket, sys, time
path, wpid, rid, envds = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(x) for x in sys.argv[4:]]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(path)
def request(method, target, body=b""):
    s.sendall(b"%s %s HTTP/1.1\r\nHost: worker\r\nContent-Length: %d\r\n\r\n%s" % (method, target, len(body), body))
def response():
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(rest) < n:
        rest += s.recv(65536)
    return int(head.split()[1])
request(b"GET", b"/health")
response()
os.kill(wpid, signal.SIGSTOP)
try:
    request(b"POST", b"/sandboxes", b'{"sandboxID":"%s","templateID":"base","envVars":{"CUBE_T":"another"}}' % rid.encode())
    time.sleep(0.05)
    for pid in envds:
        os.kill(pid, signal.SIGKILL)
    for _ in range(200):  # gone, or a zombie: its channel end is closed either way
        if all(not os.path.exists("/proc/%d" % p) or "\nState:\tZ" in open("/proc/%d/status" % p).read() for p in envds):
            break
        time.sleep(0.01)
finally:
    os.kill(wpid, signal.SIGCONT)
print(response())
PY
)
expect "a create that meets pooled sandboxes whose envd just died answers 201" 201 "$code"
check "the worker replaced them and gave the create another sandbox" \
    bash -c "tail -n +$((logpos + 1)) '$worker_log' | grep -q 'the create takes another'"
raddr=$(worker_get "/sandboxes/$rid" | jq -r .address)
expect "the sandbox it got runs commands with the create's env vars" another \
    "$(E2B_SANDBOX_URL="http://$raddr:49983" sb_sh "$rid" "" user 'echo $CUBE_T')"
curl -s -o /dev/null --max-time 20 --unix-socket "$CUBE_RUN/worker.sock" -X DELETE "http://localhost/sandboxes/$rid"
check "the pool refills after losing those sandboxes" pools_full

# Worker restart: pooled sandboxes are re-adopted, not rebuilt.
before=$(worker_get /pool | jq .pooled)
wpid=$(cat "$CUBE_RUN/worker.pid")
kill -9 "$wpid"
# "[b]in": the pattern must not match the command line of this check itself.
for _ in $(seq 50); do pgrep -f "[b]in/cube-worker --socket $CUBE_RUN/worker.sock" >/dev/null || break; sleep 0.1; done
check "kill -9 of the worker takes its spawner processes with it" bash -c "! pgrep -f '[b]in/cube-worker --socket $CUBE_RUN/worker.sock' >/dev/null"
start_worker >/dev/null
check "after restart the worker re-adopted its $before pooled sandboxes" \
    bash -c "tail -n 200 '$worker_log' | grep -q 'startup: .* re-adopted ($before pooled)'"
expect "the running sandbox still works after the restart" ready "$(sb_sh "$id" "$tok" user 'echo ready')"
api DELETE "/sandboxes/$id"
check "the re-adopted sandbox is killed" [ "$HTTP_CODE" = 204 ]

# kill -9 in the middle of 20 concurrent creates.
pools_full >/dev/null
for i in $(seq 20); do
    (api POST /v2/sandboxes -d '{"templateID":"base","timeout":120}'; echo "$HTTP_CODE $(jq -r '.sandboxID + " " + (.envdAccessToken // "")' <<<"$HTTP_BODY" 2>/dev/null)" >"$T/kill9.$i") &
done
sleep 0.15
kill -9 "$(cat "$CUBE_RUN/worker.pid")"
wait
start_worker >/dev/null
got=0; works=0; bad=0
for i in $(seq 20); do
    read -r c sid stok <"$T/kill9.$i"
    if [ "$c" = 201 ]; then
        got=$((got + 1))
        [ "$(sb_sh "$sid" "$stok" user 'echo ready')" = ready ] && works=$((works + 1))
        echo "$sid" >>"$T/kill9.ids"
    elif ! [[ "$c" =~ ^5 ]]; then
        bad=$((bad + 1))
    fi
done
echo "# kill -9 during 20 creates: $got returned 201" >&2
expect "every create that answered 201 before the kill -9 has a working sandbox ($got of 20)" "$got" "$works"
expect "the others got a 5xx error, none hung or got a 4xx" 0 "$bad"
for s in $(cat "$T/kill9.ids" 2>/dev/null); do api DELETE "/sandboxes/$s"; done
listed=$(api GET /sandboxes; jq length <<<"$HTTP_BODY")
expect "no sandbox is left listed after deleting the ones that were returned" 0 "$listed"
check "the pool is full again" pools_full
finish
