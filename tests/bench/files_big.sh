#!/usr/bin/env bash
# Large file transfer through envd's /files: upload and download of one big file
# (1 GiB by default) through the gateway and straight to the sandbox's address,
# with the peak resident memory (VmHWM) of cube-envd and of the gateway's nginx
# workers before and after each transfer (flat memory: neither holds the file).
# One JSON line per transfer on stdout, in make bench's results.jsonl style, e.g.
#
#   {"system":"cube","mode":"files-big","op":"upload","via":"gateway",
#    "bytes":1073741824,"seconds":1.9,"mb_per_s":565.1,"status":200,"complete":true,
#    "envd_hwm_kib_before":2900,"envd_hwm_kib":3320,"gw_hwm_kib_before":9100,
#    "gw_hwm_kib":9100}
#
# Needs the running stack (make run; .cube/env). Creates one sandbox of the base
# template and deletes it at the end; the data is random, made once in a host
# temporary directory and removed at the end. Uses curl as the client (upload with
# -T: streamed, Content-Length, no Expect wait; download to /dev/null).
#
#   tests/bench/files_big.sh [--mb N] [--rounds N] [--template ALIAS] [--via gateway|direct|both]
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MB=1024
ROUNDS=1
TEMPLATE=base
VIA=both
while [ $# -gt 0 ]; do
    case $1 in
    --mb) MB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --template) TEMPLATE=$2; shift 2 ;;
    --via) VIA=$2; shift 2 ;;
    *) echo "usage: $0 [--mb N] [--rounds N] [--template ALIAS] [--via gateway|direct|both]" >&2; exit 2 ;;
    esac
done
for n in "$MB" "$ROUNDS"; do
    case $n in '' | *[!0-9]* | 0) echo "--mb and --rounds take a positive whole number, not '$n'" >&2; exit 2 ;; esac
done

# shellcheck disable=SC1090,SC1091
. "${CUBE_ENV:-$ROOT/.cube/env}" || { echo "no .cube/env: start the stack (make run)" >&2; exit 1; }
# shellcheck disable=SC1091
. "$ROOT/deploy/lib.sh"
# shellcheck disable=SC1091
. "$ROOT/tests/lib.sh"
# shellcheck disable=SC1091
. "$ROOT/tests/bench/lib.sh"

TMPD=$(mktemp -d /tmp/cube-files-big.XXXXXX)
SB=""
cleanup() {
    [ -n "$SB" ] && api DELETE "/sandboxes/$SB"
    rm -rf "$TMPD"
}
trap cleanup EXIT

api POST /v2/sandboxes -d "{\"templateID\":\"$TEMPLATE\",\"timeout\":900}"
SB=$(echo "$HTTP_BODY" | jq -r '.sandboxID // empty')
TOKEN=$(echo "$HTTP_BODY" | jq -r '.envdAccessToken // empty')
if [ "$HTTP_CODE" != 201 ] || [ -z "$SB" ]; then
    echo "create failed: $HTTP_CODE $HTTP_BODY" >&2
    exit 1
fi
info=$(worker_get "/sandboxes/$SB")
ADDR=$(echo "$info" | jq -r .address)
INIT_PID=$(echo "$info" | jq -r .pid)
# find_envd: the cube-envd among the descendants of the sandbox's pid (the worker's
# view; envd may sit below cube-init).
find_envd() { find_comm "$INIT_PID" cube-envd; }
ENVD_PID=""
for _ in $(seq 50); do
    ENVD_PID=$(find_envd)
    [ -n "$ENVD_PID" ] && break
    sleep 0.1
done

[ -n "$ENVD_PID" ] || echo "files_big: cube-envd of $SB not found: no envd memory figures" >&2
# hwm PID...: summed VmHWM (KiB) of the processes, null when one cannot be read.
hwm() {
    local p v sum=0
    [ $# -gt 0 ] || { echo null; return; }
    for p in "$@"; do
        v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null)
        [ -n "$v" ] || { echo null; return; }
        sum=$((sum + v))
    done
    echo "$sum"
}
envd_hwm() { if [ -n "$ENVD_PID" ]; then hwm "$ENVD_PID"; else echo null; fi; }
# The gateway's nginx workers: the master's children.
gw_hwm() {
    local m kids=()
    m=$(cat "$CUBE_RUN/nginx.pid" 2>/dev/null) &&
        read -ra kids 2>/dev/null <"/proc/$m/task/$m/children"
    hwm "${kids[@]}"
}
SRC=$TMPD/src.bin
head -c $((MB << 20)) /dev/urandom >"$SRC"
BYTES=$((MB << 20))
TARGET=/home/user/cube-files-big.bin
QUERY="path=$(jq -rn --arg p "$TARGET" '$p|@uri')&username=user"

# xfer OP VIA: one transfer; prints its JSON line.
xfer() {
    local op=$1 via=$2 url args out e0 g0
    if [ "$via" = gateway ]; then
        url=$E2B_SANDBOX_URL
        args=(-H "E2b-Sandbox-Id: $SB" -H 'E2b-Sandbox-Port: 49983')
    else
        url=http://$ADDR:49983
        args=()
    fi
    [ -n "$TOKEN" ] && args+=(-H "X-Access-Token: $TOKEN")
    e0=$(envd_hwm) g0=$(gw_hwm)
    if [ "$op" = upload ]; then
        # Replacing a file needs room for both until the rename: remove it first.
        curl -s --max-time 60 -o /dev/null "${args[@]}" -X POST "$url/filesystem.Filesystem/Remove" \
            -H 'Content-Type: application/json' -d "{\"path\":\"$TARGET\"}"
        out=$(curl -s --max-time 600 -o /dev/null -w '%{http_code} %{time_total} %{size_upload}' \
            "${args[@]}" -H 'Content-Type: application/octet-stream' -H 'Expect:' \
            -X POST -T "$SRC" "$url/files?$QUERY")
    else
        out=$(curl -s --max-time 600 -o /dev/null -w '%{http_code} %{time_total} %{size_download}' \
            "${args[@]}" "$url/files?$QUERY")
    fi
    read -r code secs size <<<"$out"
    jq -nc --arg op "$op" --arg via "$via" --argjson bytes "${size:-0}" --argjson s "${secs:-0}" \
        --argjson code "${code:-0}" --argjson want "$BYTES" \
        --argjson e0 "$e0" --argjson e1 "$(envd_hwm)" --argjson g0 "$g0" --argjson g1 "$(gw_hwm)" \
        '{system:"cube",mode:"files-big",op:$op,via:$via,bytes:$bytes,seconds:$s,
          mb_per_s:(if $s > 0 then ($bytes / $s / 1e6 * 10 | round / 10) else null end),
          status:$code,complete:($bytes == $want),envd_hwm_kib_before:$e0,envd_hwm_kib:$e1,
          gw_hwm_kib_before:$g0,gw_hwm_kib:$g1}'
}

case $VIA in
both) VIAS=(gateway direct) ;;
gateway | direct) VIAS=("$VIA") ;;
*) echo "--via: gateway, direct or both" >&2; exit 2 ;;
esac
for _ in $(seq "$ROUNDS"); do
    for v in "${VIAS[@]}"; do
        xfer upload "$v"
        xfer download "$v"
    done
done
