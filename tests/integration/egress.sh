#!/usr/bin/env bash
# Sandbox egress through the real stack: NAT to the internet and DNS by default;
# allow_internet_access:false and allowOut/denyOut enforced (create and PUT /network);
# the node's protections (host, loopback, metadata, other sandboxes) hold whatever
# allowOut says; policies survive a worker restart; nothing is left after kill.
# Needs deb.debian.org:80 reachable from the host. Run under the stack lock.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../../deploy/services.sh"

T=$(mktemp -d /tmp/cube-egress.XXXXXX)
IDS=()
LPID=""
cleanup() {
    [ -n "$LPID" ] && kill "$LPID" 2>/dev/null
    for id in "${IDS[@]}"; do api DELETE "/sandboxes/$id" >/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
R() { redis-cli -s "$CUBE_RUN/redis.sock" "$@"; }
TABLE=cube
DEB=deb.debian.org
DEB_IP=$(getent ahostsv4 "$DEB" | awk 'NR == 1 { print $1 }')
RESOLVER=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)

# create BODY: sets ID, ADDR, TOKEN (empty on failure)
create() {
    ID="" ADDR="" TOKEN=""
    api POST /v2/sandboxes -d "$1"
    [ "$HTTP_CODE" = 201 ] || return 1
    ID=$(echo "$HTTP_BODY" | jq -r .sandboxID)
    TOKEN=$(echo "$HTTP_BODY" | jq -r '.envdAccessToken // ""')
    IDS+=("$ID")
    ADDR=$(R hget "cube:sb:$ID" addr)
}
# sx ADDR TOKEN SCRIPT: bash -c SCRIPT as user inside the sandbox; prints stdout+stderr.
SXN=0
sx() {
    local out j
    SXN=$((SXN + 1))
    out="$T/sx.$SXN"
    j=$(jq -nc --arg s "exec 2>&1; $3" '{process:{cmd:"/bin/bash",args:["-c",$s]}}')
    connect_envelope "$j" | curl -sN --max-time 40 -X POST "http://$1:49983/process.Process/Start" \
        -H 'Content-Type: application/connect+json' -H "X-Access-Token: $2" \
        -H "Authorization: Basic $(printf 'user:' | base64 -w0)" --data-binary @- -o "$out"
    grep -ao '"stdout":"[^"]*"' "$out" | sed 's/^[^:]*:"//; s/"$//' |
        while read -r b; do printf '%s' "$b" | base64 -d; done
}
# reach ADDR TOKEN URL [curl args]: "yes" if the sandbox gets an HTTP answer.
reach() {
    local a=$1 t=$2 u=$3
    shift 3
    sx "$a" "$t" "curl -s -o /dev/null -m 4 $* '$u' && echo yes || echo no" | tail -1
}
dns() { sx "$1" "$2" "timeout 5 getent hosts $DEB >/dev/null && echo yes || echo no" | tail -1; }
expect() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (want '$2', got '${3:0:200}')"; fi; }
slot_of() { local IFS=.; set -- $1; echo $(((($3 << 8) + $4 - 2) / 4)); }
has_policy() { nft list map inet $TABLE sbpolicy 2>/dev/null | grep -q "$1 : jump p$(slot_of "$1")"; }
has_chain() { nft list chain inet $TABLE "p$(slot_of "$1")" >/dev/null 2>&1; }

check "control: $DEB ($DEB_IP) answers the host" curl -s -o /dev/null -m 5 "http://$DEB/debian/"

# ---- default: internet through NAT, DNS through the host's resolver ----------------
create '{"templateID":"base"}' || not_ok "create default sandbox ($HTTP_CODE)"
A=$ID A_ADDR=$ADDR A_TOK=$TOKEN
expect "default sandbox reaches $DEB over HTTP" yes "$(reach "$A_ADDR" "$A_TOK" "http://$DEB/debian/")"
expect "default sandbox resolves DNS ($RESOLVER)" yes "$(dns "$A_ADDR" "$A_TOK")"
check "a default sandbox costs no rule" bash -c "! nft list map inet $TABLE sbpolicy | grep -q '$A_ADDR '"

# ---- allow_internet_access:false -------------------------------------------------
create '{"templateID":"base","allow_internet_access":false}' || not_ok "create no-internet ($HTTP_CODE)"
B=$ID B_ADDR=$ADDR B_TOK=$TOKEN
expect "no-internet sandbox: HTTP by name fails" no "$(reach "$B_ADDR" "$B_TOK" "http://$DEB/debian/")"
expect "no-internet sandbox: HTTP by address fails" no \
    "$(reach "$B_ADDR" "$B_TOK" "http://$DEB/debian/" --resolve "$DEB:80:$DEB_IP")"
expect "no-internet sandbox: DNS fails" no "$(dns "$B_ADDR" "$B_TOK")"
expect "no-internet sandbox: UDP to the resolver fails" no \
    "$(sx "$B_ADDR" "$B_TOK" "python3 -c \"
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)
q=b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x03deb\\x06debian\\x03org\\x00\\x00\\x01\\x00\\x01'
s.sendto(q,('$RESOLVER',53))
try: s.recv(512); print('yes')
except Exception: print('no')\"" | tail -1)"
expect "no-internet sandbox: the router still reaches it" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $B" -H 'E2b-Sandbox-Port: 49983' "$E2B_SANDBOX_URL/health")"
check "no-internet sandbox has its rule" has_policy "$B_ADDR"

# ---- allowOut one address inside denyOut 0/0 -------------------------------------
create "{\"templateID\":\"base\",\"network\":{\"allowOut\":[\"$DEB_IP\"],\"denyOut\":[\"0.0.0.0/0\"]}}" ||
    not_ok "create allow-one ($HTTP_CODE)"
C=$ID C_ADDR=$ADDR C_TOK=$TOKEN
expect "allowOut: the allowed address answers" yes \
    "$(reach "$C_ADDR" "$C_TOK" "http://$DEB/debian/" --resolve "$DEB:80:$DEB_IP")"
expect "allowOut: DNS (not allowed) fails" no "$(dns "$C_ADDR" "$C_TOK")"

# ---- allowOut cannot open the node's protections ---------------------------------
PORT=$((20000 + RANDOM % 20000))
python3 -m http.server "$PORT" --bind 0.0.0.0 --directory "$T" >/dev/null 2>&1 &
LPID=$!
HOST_IP=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
GW=$(echo "$A_ADDR" | awk -F. '{ printf "%s.%s.%s.%d", $1, $2, $3, $4 - 1 }')
for _ in $(seq 50); do curl -s -o /dev/null -m 1 "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
check "control: the host listener answers the host on $HOST_IP:$PORT" curl -s -o /dev/null -m 2 "http://$HOST_IP:$PORT/"
create "{\"templateID\":\"base\",\"network\":{\"allowOut\":[\"127.0.0.1\",\"$HOST_IP\",\"$GW/30\",\"169.254.169.254\",\"$A_ADDR\",\"100.96.0.0/16\"],\"denyOut\":[\"0.0.0.0/0\"]}}" ||
    not_ok "create allow-protected ($HTTP_CODE)"
D=$ID D_ADDR=$ADDR D_TOK=$TOKEN
DGW=$(echo "$D_ADDR" | awk -F. '{ printf "%s.%s.%s.%d", $1, $2, $3, $4 - 1 }')
expect "allowOut host address: host listener unreachable" no "$(reach "$D_ADDR" "$D_TOK" "http://$HOST_IP:$PORT/")"
expect "allowOut veth gateway: host listener unreachable" no "$(reach "$D_ADDR" "$D_TOK" "http://$DGW:$PORT/")"
expect "allowOut 169.254.169.254: metadata unreachable" no "$(reach "$D_ADDR" "$D_TOK" "http://169.254.169.254/")"
expect "allowOut another sandbox: its envd unreachable" no "$(reach "$D_ADDR" "$D_TOK" "http://$A_ADDR:49983/health")"
expect "allowOut 127.0.0.1: the host's nginx is not the sandbox's loopback" no \
    "$(reach "$D_ADDR" "$D_TOK" "http://127.0.0.1:${CUBE_LISTEN##*:}/health")"
expect "default sandbox cannot reach the host listener either" no "$(reach "$A_ADDR" "$A_TOK" "http://$HOST_IP:$PORT/")"

# ---- bad policies are clear 400s -------------------------------------------------
api POST /v2/sandboxes -d '{"templateID":"base","network":{"allowOut":["example.com"],"denyOut":["0.0.0.0/0"]}}'
expect_error "a domain name in allowOut is a 400" 400
echo "$HTTP_BODY" | grep -q 'egress proxy' && ok "the 400 says why" || not_ok "the 400 says why ($HTTP_BODY)"
api POST /v2/sandboxes -d '{"templateID":"base","network":{"denyOut":["10.0.0.0/33"]}}'
expect_error "a bad CIDR is a 400" 400

# ---- PUT /network on a live sandbox ----------------------------------------------
api PUT "/sandboxes/$A/network" -d '{"allow_internet_access":false}'
expect "PUT /network answers 204" 204 "$HTTP_CODE"
expect "after PUT deny-all the live sandbox is cut off" no "$(reach "$A_ADDR" "$A_TOK" "http://$DEB/debian/")"
api GET "/sandboxes/$A"
expect "GET shows allowInternetAccess false" false "$(echo "$HTTP_BODY" | jq -r .allowInternetAccess)"
api PUT "/sandboxes/$A/network" -d "{\"allowOut\":[\"$DEB_IP\"],\"denyOut\":[\"0.0.0.0/0\"]}"
expect "PUT allowOut answers 204" 204 "$HTTP_CODE"
expect "after PUT allowOut the address answers" yes \
    "$(reach "$A_ADDR" "$A_TOK" "http://$DEB/debian/" --resolve "$DEB:80:$DEB_IP")"
expect "after PUT allowOut DNS is blocked" no "$(dns "$A_ADDR" "$A_TOK")"
api PUT "/sandboxes/$A/network" -d '{}'
expect "PUT {} answers 204" 204 "$HTTP_CODE"
expect "after PUT {} the internet is back" yes "$(reach "$A_ADDR" "$A_TOK" "http://$DEB/debian/")"
check "after PUT {} the sandbox has no rule left" bash -c "! nft list map inet $TABLE sbpolicy | grep -q '$A_ADDR '"
api PUT "/sandboxes/$A/network" -d '{"denyOut":["evil.example.com"]}'
expect_error "PUT with a domain is a 400" 400
api PUT "/sandboxes/$A/network" -d '[1]'
expect_error "PUT with a non-object body is a 400" 400
api PUT "/sandboxes/izzzzzzzzzzzzzzzzzzz/network" -d '{}'
expect_error "PUT for an unknown sandbox is a 404" 404

# ---- worker restart keeps every policy -------------------------------------------
stop_pidfile cube-worker "$CUBE_RUN/worker.pid" >/dev/null
start_worker >/dev/null
check "after a worker restart the no-internet rule is there" has_policy "$B_ADDR"
expect "after a worker restart the no-internet sandbox is still cut off" no \
    "$(reach "$B_ADDR" "$B_TOK" "http://$DEB/debian/" --resolve "$DEB:80:$DEB_IP")"
expect "after a worker restart allowOut still works" yes \
    "$(reach "$C_ADDR" "$C_TOK" "http://$DEB/debian/" --resolve "$DEB:80:$DEB_IP")"
expect "after a worker restart the default sandbox still has internet" yes \
    "$(reach "$A_ADDR" "$A_TOK" "http://$DEB/debian/")"

# ---- kill leaves no rule ---------------------------------------------------------
for id in "$B" "$C" "$D"; do api DELETE "/sandboxes/$id" >/dev/null; done
for a in "$B_ADDR" "$C_ADDR" "$D_ADDR"; do
    check "after kill no map element for $a" eventually bash -c "! nft list map inet $TABLE sbpolicy | grep -q '$a '"
    check "after kill no chain for $a" eventually bash -c "! nft list chain inet $TABLE p$(slot_of "$a") >/dev/null 2>&1"
done
finish
