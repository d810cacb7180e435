#!/usr/bin/env bash
# WebSocket through the router: an RFC 6455 echo server in a sandbox (ws_echo.py,
# python3 stdlib) reached by its preview URL Host <port>-<id>.<domain> with the
# Upgrade handshake; messages both ways (text, 16- and 64-bit lengths, fragments,
# ping), a connection idle for a few seconds survives; a sandbox with
# network.allowPublicTraffic=false refuses the upgrade without the traffic token (403
# JSON) and accepts it with e2b-traffic-access-token; a kill cuts an open connection.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PORT=8765
GW=${E2B_SANDBOX_URL#http://}
client() { python3 "$HERE/ws_client.py" "$GW" "$@"; }
has() { jq -e "$1" <<<"$2" >/dev/null 2>&1; } # has FILTER JSON

# start_echo ID TOKEN: run the echo server in the sandbox; wait until its port answers.
start_echo() {
    local code
    sb_sh "$1" "$2" user "cd /tmp && echo $(base64 -w0 "$HERE/ws_echo.py") | base64 -d >ws_echo.py &&
        (setsid nohup python3 ws_echo.py $PORT >ws.log 2>&1 &) && echo started" >/dev/null
    for _ in $(seq 200); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $PORT-$1.$E2B_DOMAIN" \
            ${3:+-H "e2b-traffic-access-token: $3"} "$E2B_SANDBOX_URL/")
        [ "$code" = 400 ] && return 0 # the echo server refuses a plain GET: it listens
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- public sandbox
api POST /v2/sandboxes -d '{"templateID":"base","timeout":120}'
id=$(jq -r .sandboxID <<<"$HTTP_BODY")
tok=$(jq -r .envdAccessToken <<<"$HTTP_BODY")
check "create" [ "$HTTP_CODE" = 201 ]
check "the echo server listens in the sandbox" start_echo "$id" "$tok"

out=$(client "$PORT-$id.$E2B_DOMAIN" --idle 5)
echo "# $out"
check "the upgrade through the preview URL answers 101 with the right accept key" \
    has '.status == 101 and .accept_ok' "$out"
check "the server's own message reaches the client" has '.greeting == "hello /chat"' "$out"
check "a text message is echoed (UTF-8 intact)" has '.text_echo' "$out"
check "binary messages of 70 KB and 100 KB are echoed byte for byte" \
    has '.binary_70000 and .binary_100000' "$out"
check "a fragmented message and a ping get through" has '.fragmented and .pong' "$out"
check "the connection survives 5 s idle" has '.after_idle' "$out"
check "the close handshake completes" has '.close' "$out"

out=$(python3 "$HERE/ws_client.py" "$GW" "ignored.example" --header "E2b-Sandbox-Id: $id" \
    --header "E2b-Sandbox-Port: $PORT")
echo "# header routing: $out"
check "header routing upgrades too" has '.status == 101 and .text_echo and .close' "$out"

# A kill cuts an open connection at once: the client sees the socket close.
python3 - "$GW" "$PORT-$id.$E2B_DOMAIN" >"/tmp/.cube_ws_cut.$$" <<'PY' &
import socket, sys, time, base64, os
h, _, p = sys.argv[1].rpartition(":")
s = socket.create_connection((h, int(p)), timeout=20)
s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (sys.argv[2], base64.b64encode(os.urandom(16)).decode())).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
print("upgraded" if buf.startswith(b"HTTP/1.1 101") else "refused", flush=True)
t = time.time()
try:
    while s.recv(4096):
        pass
    print("closed %.0f" % ((time.time() - t) * 1000))
except socket.timeout:
    print("still open")
except OSError:
    print("closed %.0f" % ((time.time() - t) * 1000))
PY
cut=$!
for _ in $(seq 150); do grep -q upgraded "/tmp/.cube_ws_cut.$$" && break; sleep 0.1; done
api DELETE "/sandboxes/$id"
check "kill" [ "$HTTP_CODE" = 204 ]
wait "$cut"
r=$(cat "/tmp/.cube_ws_cut.$$")
rm -f "/tmp/.cube_ws_cut.$$"
echo "# cut: $(echo $r)"
check "the kill closes an open WebSocket connection within 2 s" \
    bash -c "[[ '$(echo $r)' =~ ^upgraded\ closed\ ([0-9]+)$ ]] && [ \${BASH_REMATCH[1]} -lt 2000 ]"

# ---------------------------------------------------------------- traffic token
api POST /v2/sandboxes -d '{"templateID":"base","timeout":120,"network":{"allowPublicTraffic":false}}'
pid=$(jq -r .sandboxID <<<"$HTTP_BODY")
ptok=$(jq -r .envdAccessToken <<<"$HTTP_BODY")
traffic=$(jq -r .trafficAccessToken <<<"$HTTP_BODY")
check "create a private-traffic sandbox" [ "$HTTP_CODE" = 201 ]
check "the echo server listens in it" start_echo "$pid" "$ptok" "$traffic"

out=$(client "$PORT-$pid.$E2B_DOMAIN")
echo "# no token: $out"
check "the upgrade without the traffic token is refused with the 403 JSON" \
    has ".status == 403 and (.body | fromjson | .code == 403 and .sandboxId == \"$pid\" and (.message | test(\"e2b-traffic-access-token\")))" "$out"
wrong=${traffic%?}$([ "${traffic: -1}" = 0 ] && echo 1 || echo 0) # always differs
out=$(client "$PORT-$pid.$E2B_DOMAIN" --header "e2b-traffic-access-token: $wrong")
check "a wrong token is refused too" has '.status == 403' "$out"
out=$(client "$PORT-$pid.$E2B_DOMAIN" --header "e2b-traffic-access-token: $traffic" --idle 2)
echo "# with the token: $out"
check "with e2b-traffic-access-token the upgrade works and echoes" \
    has '.status == 101 and .accept_ok and .text_echo and .binary_100000 and .after_idle and .close' "$out"
api DELETE "/sandboxes/$pid"
finish
