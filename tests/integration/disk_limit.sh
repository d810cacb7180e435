#!/usr/bin/env bash
# Writable-layer size limit: a sandbox that writes past its template's diskSizeMB gets
# ENOSPC (as user and as root), keeps working, and cannot grow the host filesystem by
# more than its limit; another sandbox is unaffected; kill leaves no mount, loop
# device or image behind. Uses a throw-away template (the base rootfs, 64 MiB layer).
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

LIMIT_MB=64
TDIR=""
ids=()
cleanup() {
    for i in "${ids[@]}"; do api DELETE "/sandboxes/$i"; done
    if [ -n "$TDIR" ]; then
        rm -rf "$TDIR"
        kill -HUP "$(cat "$CUBE_RUN/worker.pid")" 2>/dev/null
    fi
}
trap cleanup EXIT

# ---- a template with a small writable layer: base's rootfs under a new id ----------
base_json=$(grep -l '"alias": *"base"' "$CUBE_STATE"/templates/*/template.json | head -1)
tid=$(gen_id 20)
alias="disk-limit-test-$tid"
TDIR="$CUBE_STATE/templates/$tid"
mkdir -p "$TDIR"
ln -s "$(dirname "$base_json")/rootfs" "$TDIR/rootfs"
jq -c --arg id "$tid" --arg a "$alias" --argjson mb "$LIMIT_MB" \
    '.templateID = $id | .alias = $a | .diskSizeMB = $mb | .poolSize = 0 | del(.aliases)' "$base_json" >"$TDIR/template.json"
kill -HUP "$(cat "$CUBE_RUN/worker.pid")"
for _ in $(seq 50); do
    [ "$(redis-cli -s "$CUBE_RUN/redis.sock" hget "cube:template:$alias" disk_mb)" = "$LIMIT_MB" ] && break
    sleep 0.1
done

create() { # create TEMPLATE: sets SB and TOK
    api POST /v2/sandboxes -d "{\"templateID\":\"$1\"}"
    SB=$(echo "$HTTP_BODY" | jq -r '.sandboxID // empty')
    TOK=$(echo "$HTTP_BODY" | jq -r '.envdAccessToken // empty')
    [ -n "$SB" ] && ids+=("$SB")
    [ "$HTTP_CODE" = 201 ]
}
envd() { # envd SANDBOX TOKEN PATH [curl args]: through the router
    local sb=$1 tok=$2 p=$3
    shift 3
    curl -s --max-time 60 -H "E2b-Sandbox-Id: $sb" -H 'E2b-Sandbox-Port: 49983' \
        ${tok:+-H "X-Access-Token: $tok"} "$@" "$E2B_SANDBOX_URL$p"
}
# sx SANDBOX TOKEN USER SCRIPT: bash -c SCRIPT inside (stderr merged); prints output.
sx() {
    local j
    j=$(jq -nc --arg s "exec 2>&1; $4" '{process:{cmd:"/bin/bash",args:["-c",$s]}}')
    connect_envelope "$j" | envd "$1" "$2" /process.Process/Start -X POST -N \
        -H 'Content-Type: application/connect+json' \
        -H "Authorization: Basic $(printf '%s:' "$3" | base64 -w0)" --data-binary @- |
        grep -ao '"stdout":"[^"]*"' | sed 's/^[^:]*:"//; s/"$//' |
        while read -r b; do printf '%s' "$b" | base64 -d; done
}
# expect NAME PATTERN OUTPUT: OUTPUT matches the extended regex PATTERN
expect() {
    if printf '%s' "$3" | grep -qE "$2"; then ok "$1"; else not_ok "$1 (got '${3:0:300}')"; fi
}
host_free_mb() { df -Pm "$CUBE_STATE" | awk 'NR == 2 { print $4 }'; }

check "a sandbox from a template with a $LIMIT_MB MiB writable layer starts" create "$alias"
A=$SB
# The state dir and its layer image are named by the sandbox's instance (warm pools).
AI=$(curl -s --unix-socket "$CUBE_RUN/worker.sock" "http://localhost/sandboxes/$A" | jq -r .instance)
ATOK=$TOK
# The layer is mounted only inside the sandbox: the host's mount table does not grow
# with the number of sandboxes (every clone of a mount namespace copies it).
check "the host has no mount of the layer, the sandbox's loop device is bound to its image" \
    bash -c "! grep -q ' $CUBE_STATE/sandboxes/$AI' /proc/self/mountinfo && grep -qs '$CUBE_STATE/sandboxes/$AI/layer.img' /sys/block/loop*/loop/backing_file"
check "the worker reports limits in its heartbeat (disk_quota true)" \
    [ "$(redis-cli -s "$CUBE_RUN/redis.sock" hget "cube:node:$(cat "$CUBE_STATE/node-id")" disk_quota)" = true ]

# df / and statfs inside show the limit, not the host's disk.
size=$(sx "$A" "$ATOK" user 'df -Pm / | awk "NR == 2 { print \$2 }"')
check "df / inside shows the $LIMIT_MB MiB layer (got ${size} MiB)" \
    [ "${size:-0}" -le "$LIMIT_MB" -a "${size:-0}" -ge $((LIMIT_MB * 3 / 4)) ]
total=$(envd "$A" "$ATOK" /metrics | jq -r '.disk_total // empty')
check "envd /metrics disk_total is the layer size (got $total)" \
    [ "${total:-0}" -le $((LIMIT_MB << 20)) -a "${total:-0}" -ge $((LIMIT_MB * 3 / 4 << 20)) ]

free0=$(host_free_mb)
out=$(sx "$A" "$ATOK" user "dd if=/dev/urandom of=/home/user/fill bs=1M count=$((LIMIT_MB * 4)) conv=fsync")
expect "user writing past the limit gets 'No space left on device'" 'No space left on device' "$out"
out=$(sx "$A" "$ATOK" root "dd if=/dev/urandom of=/root/fill bs=1M count=$((LIMIT_MB * 4)) conv=fsync")
expect "root writing past the limit gets 'No space left on device' too" 'No space left on device' "$out"
out=$(sx "$A" "$ATOK" user "dd if=/dev/zero of=/home/user/more bs=1M count=4 conv=fsync")
expect "a full layer refuses another file as well" 'No space left on device' "$out"
free1=$(host_free_mb)
# 8 times the limit was attempted; the margin is for other writers on a shared host.
check "the host filesystem lost about the limit, not what was written ($((free0 - free1)) MiB)" \
    [ $((free0 - free1)) -le $((LIMIT_MB + 64)) ]
img=$(du -m "$CUBE_STATE/sandboxes/$AI/layer.img" 2>/dev/null | cut -f1)
check "the layer's image holds at most the limit on the host (${img:-none} MiB)" \
    [ -n "$img" -a "${img:-0}" -le "$LIMIT_MB" ]

code=$(envd "$A" "$ATOK" /health -o /dev/null -w '%{http_code}')
check "the full sandbox still answers" [ "$code" = 204 ]
out=$(sx "$A" "$ATOK" root 'rm -f /root/fill /home/user/fill && dd if=/dev/zero of=/home/user/again bs=1M count=8 conv=fsync && echo written')
expect "after deleting, it can write again" '^written$|written$' "$out"

check "another sandbox (base template) starts while the first is full" create base
B=$SB
BTOK=$TOK
out=$(sx "$B" "$BTOK" user 'dd if=/dev/zero of=/home/user/x bs=1M count=100 conv=fsync && echo written')
expect "it writes 100 MiB undisturbed" 'written$' "$out"
bsize=$(sx "$B" "$BTOK" user 'df -Pm / | awk "NR == 2 { print \$2 }"')
check "its df / shows its own (base: 2048 MiB) layer (got ${bsize} MiB)" \
    [ "${bsize:-0}" -gt 1800 -a "${bsize:-0}" -le 2048 ]

api DELETE "/sandboxes/$A"
check "the limited sandbox is killed" [ "$HTTP_CODE" = 204 ]
check "no mount of its layer is left" eventually bash -c "! grep -q ' $CUBE_STATE/sandboxes/$AI' /proc/self/mountinfo"
check "no loop device is left on its image" eventually bash -c "! grep -qs '$CUBE_STATE/sandboxes/$AI' /sys/block/loop*/loop/backing_file"
check "its directory and image are gone" eventually bash -c "[ ! -e '$CUBE_STATE/sandboxes/$AI' ]"
api DELETE "/sandboxes/$B"
ids=()

# ---- a barely used layer is emptied and serves a later sandbox (layer_pool.h) -----
# image_of INSTANCE: which file its layer image is (inode and birth time: a new image
# may get a freed inode number or loop device, not both the same birth time).
image_of() { stat -c '%i %w' "$CUBE_STATE/sandboxes/$1/layer.img" 2>/dev/null; }
instance_of() { curl -s --unix-socket "$CUBE_RUN/worker.sock" "http://localhost/sandboxes/$1" | jq -r .instance; }
check "a sandbox that leaves files behind starts" create "$alias"
C=$SB
CTOK=$TOK
CI=$(instance_of "$C")
cimg=$(image_of "$CI")
out=$(sx "$C" "$CTOK" user "echo a > /home/user/secret-$tid && mkdir -p /home/user/d/e && echo b > /home/user/d/e/f && ln -s /etc /home/user/etc-link && mkfifo /tmp/fifo-$tid && echo done")
expect "it writes files, directories, a symlink and a FIFO as user" 'done$' "$out"
out=$(sx "$C" "$CTOK" root "echo c > /root/secret-$tid && echo d > /etc/secret-$tid && echo done")
expect "and as root, over template files too" 'done$' "$out"
api DELETE "/sandboxes/$C"
ids=()
check "it is killed and released" eventually bash -c "[ ! -e '$CUBE_STATE/sandboxes/$CI' ]"
free=$(curl -s --unix-socket "$CUBE_RUN/worker.sock" http://localhost/pool | jq -r '.freeLayers')
check "its layer is kept for the next sandbox (freeLayers $free)" [ "${free:-0}" -ge 1 ]
# Cold creates of the same size: the spawner that kept it hands it to one of them.
D="" DTOK=""
for _ in 1 2 3 4 5 6; do
    create "$alias" || break
    [ "$(image_of "$(instance_of "$SB")")" = "$cimg" ] && { D=$SB DTOK=$TOK; break; }
done
check "a later sandbox of that size gets the same filesystem (image $cimg)" [ -n "$cimg" -a -n "$D" ]
if [ -n "$D" ]; then
    out=$(sx "$D" "$DTOK" root "for f in /etc/secret-$tid /home/user/secret-$tid /root/secret-$tid /home/user/d /home/user/etc-link /tmp/fifo-$tid; do if [ -e \$f ] || [ -L \$f ]; then echo found \$f; fi; done; echo end")
    check "nothing of the earlier sandbox is in it: files, directories, links, FIFOs (got: ${out//$'\n'/ })" \
        [ "$out" = end ]
    used=$(sx "$D" "$DTOK" user 'df -Pk / | awk "NR == 2 { print \$3 }"')
    check "its layer is as empty as a new one (${used} KiB used)" [ -n "$used" -a "${used:-99999}" -le 4096 ]
fi
finish
