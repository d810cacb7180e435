#!/usr/bin/env bash
# density.sh N OUTDIR: N idle sandboxes on this node. Creates them through the API
# (cube-bench create-only --keep), waits until the host is idle, and measures host
# memory (MemAvailable) and the sandboxes' parent cgroup before and after, plus the
# summed PSS of every process in the N sandboxes' cgroups. Then checks that each one
# still answers envd /health through the router, deletes them all and checks nothing
# is left (netns, veths, state dirs, cgroups of these sandboxes). Prints one JSON line.
# Needs .cube/env sourced and the stack up with --capacity >= N (run.sh sees to it).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/deploy/lib.sh"
N=$1 OUT=$2
BENCH=${BENCH:-$ROOT/build/bin/cube-bench}
C=${CUBE_BENCH_DENSITY_C:-8}
ids="$OUT/density.ids"

meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    cg_parent=/sys/fs/cgroup/cube cg_usage=memory.current
else
    cg_parent=/sys/fs/cgroup/memory/cube cg_usage=memory.usage_in_bytes
fi
cg_kb() { echo $(($(cat "$cg_parent/$cg_usage" 2>/dev/null || echo 0) / 1024)); }

# Busy share of all CPUs over one second, in percent.
cpu_busy() {
    local a b
    a=($(head -1 /proc/stat)) && sleep 1 && b=($(head -1 /proc/stat))
    local tot=0 i
    for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
    echo $(((tot - (b[4] - a[4]) - (b[5] - a[5])) * 100 / (tot > 0 ? tot : 1)))
}
# Idle: two consecutive seconds under 15 % busy (at most 60 s; the host is shared).
wait_idle() {
    local calm=0 i
    for i in $(seq 60); do
        if [ "$(cpu_busy)" -lt 15 ]; then calm=$((calm + 1)); else calm=0; fi
        [ $calm -ge 2 ] && return 0
    done
}

# PIDs of every process in the cgroups of the sandboxes in $ids, found from each
# sandbox's init pid (the worker's view), so warm-pool naming does not matter.
sandbox_pids() {
    curl -sf --unix-socket "$CUBE_RUN/worker.sock" http://localhost/sandboxes |
        jq -r --rawfile ids "$ids" '($ids | split("\n") | map(select(length > 0))) as $want
            | .[] | select(.sandboxID as $i | $want | index($i)) | .pid' |
        while read -r pid; do
            local rel
            if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
                rel=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
                cat "/sys/fs/cgroup$rel/cgroup.procs"
            else
                rel=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
                cat "/sys/fs/cgroup/memory$rel/cgroup.procs"
            fi
        done 2>/dev/null
}

wait_idle
avail0=$(meminfo MemAvailable) cg0=$(cg_kb)
create=$("$BENCH" --mode create-only -c "$C" -n "$N" --timeout 3600 --keep "$ids" --json 2>"$OUT/density-create.err")
created=$(grep -c . "$ids" 2>/dev/null || echo 0)
wait_idle
avail1=$(meminfo MemAvailable) cg1=$(cg_kb)
sandbox_pids >"$OUT/density.pids"
procs=$(grep -c . "$OUT/density.pids")
# PSS and RSS (kB) of every in-sandbox process.
read -r pss rss < <(sed 's|.*|/proc/&/smaps_rollup|' "$OUT/density.pids" | xargs -r awk '
    $1 == "Pss:" {p += $2} $1 == "Rss:" {r += $2} END {print p + 0, r + 0}' 2>/dev/null)
health=$("$BENCH" --mode health --ids "$ids" -c 16 --json 2>"$OUT/density-health.err")
del=$("$BENCH" --mode delete --ids "$ids" -c 8 --json 2>"$OUT/density-delete.err")
wait_idle
avail2=$(meminfo MemAvailable) cg2=$(cg_kb)
# Leaks of these sandboxes: state dirs, netns, anything still listed by the worker.
left_dirs=0 left_netns=0
while read -r id; do
    [ -e "$CUBE_STATE/sandboxes/$id" ] && left_dirs=$((left_dirs + 1))
    [ -e "/run/netns/cube-$id" ] && left_netns=$((left_netns + 1))
done <"$ids"
left_listed=$(curl -sf --unix-socket "$CUBE_RUN/worker.sock" http://localhost/sandboxes |
    jq --rawfile ids "$ids" '[.[] | select(.sandboxID as $i | $ids | contains($i))] | length')
left_procs=0
while read -r pid; do [ -d "/proc/$pid" ] && left_procs=$((left_procs + 1)); done <"$OUT/density.pids"

jq -cn --argjson n "$N" --argjson created "$created" --argjson procs "$procs" \
    --argjson pss "${pss:-0}" --argjson rss "${rss:-0}" \
    --argjson a0 "$avail0" --argjson a1 "$avail1" --argjson a2 "$avail2" \
    --argjson c0 "$cg0" --argjson c1 "$cg1" --argjson c2 "$cg2" \
    --argjson create "${create:-null}" --argjson health "${health:-null}" --argjson del "${del:-null}" \
    --argjson ld "$left_dirs" --argjson ln "$left_netns" --argjson ll "${left_listed:-0}" \
    --argjson lp "$left_procs" '
    def per(x): if $created > 0 then (x / $created / 1024 * 100 | round / 100) else 0 end;
    {system: "cube", mode: "density", count: $n, created: $created, processes: $procs,
     host_delta_mib: (($a0 - $a1) / 1024 | round), host_mib_per_sandbox: per($a0 - $a1),
     cgroup_delta_mib: (($c1 - $c0) / 1024 | round), cgroup_mib_per_sandbox: per($c1 - $c0),
     pss_mib: ($pss / 1024 | round), pss_mib_per_sandbox: per($pss),
     rss_mib_per_sandbox: per($rss),
     answered: ($health.ok // 0), health_p50_ms: ($health.p50_ms // 0),
     health_p99_ms: ($health.p99_ms // 0),
     deleted: ($del.ok // 0), create: $create,
     host_after_delete_mib: (($a0 - $a2) / 1024 | round),
     cgroup_after_delete_mib: (($c2 - $c0) / 1024 | round),
     left: {state_dirs: $ld, netns: $ln, listed: $ll, processes: $lp}}'
