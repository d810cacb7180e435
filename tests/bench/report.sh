#!/usr/bin/env bash
# report.sh results.jsonl: render docs/benchmarks.md from one bench run's results.
set -euo pipefail
R=$1
cube_ced1=$(jq -s '[.[] | select(.system=="cube" and .mode=="create-exec-delete" and .concurrency==1)][0].p50_ms // 0' "$R")
cat <<MD
# Benchmarks

Produced by \`make bench\` (tests/bench/run.sh) on $(date -u +%Y-%m-%d): $(nproc) cores,
$(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r), cgroup $( [ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1 ),
no KVM. Every figure below comes from the same run; times in ms. Ratios are to Cube's
create-exec-delete p50 at concurrency 1 (${cube_ced1} ms): a ratio above 1 means the
peer is slower than Cube.

## Cube (cube-bench, E2B REST + envd Connect, no SDK)

| mode | concurrency | ok | errors | min | avg | p50 | p95 | p99 | max | per s |
|---|---|---|---|---|---|---|---|---|---|---|
MD
jq -r 'select(.system=="cube") | "| \(.mode) | \(.concurrency) | \(.ok) | \(.errors) | \(.min_ms|floor) | \(.avg_ms|floor) | \(.p50_ms|floor) | \(.p95_ms|floor) | \(.p99_ms|floor) | \(.max_ms|floor) | \(.throughput_per_s|floor) |"' "$R"
cat <<MD

## Through the e2b SDK, and peers on the same rootfs

| system | what | ok | errors | min | avg | p50 | p95 | p99 | max | p50 / Cube |
|---|---|---|---|---|---|---|---|---|---|---|
MD
jq -r --argjson c "$cube_ced1" 'select(.system!="cube" and .note==null) | "| \(.system) | \(.mode) | \(.ok) | \(.errors) | \((.min_ms//0)*10|floor/10) | \((.avg_ms//0)*10|floor/10) | \((.p50_ms//0)*10|floor/10) | \((.p95_ms//0)*10|floor/10) | \((.p99_ms//0)*10|floor/10) | \((.max_ms//0)*10|floor/10) | \(if $c > 0 then ((.p50_ms//0) / $c * 100 | floor / 100) else "-" end) |"' "$R"
jq -r 'select(.note!=null) | "\n\(.system): \(.note)"' "$R"
cat <<'MD'

Published anchors (not measured here): CubeSandbox < 60 ms cold start, 67 / 90 / 137 ms
avg / p95 / p99 at 50 concurrent on 96 cores, 181–210 sandboxes/s peak; E2B ~150 ms.

## Targets and where this run stands

The targets (create p50 ≤ 5 ms and p99 ≤ 25 ms at 50 concurrent, create-exec-delete
p50 ≤ 10 ms, ≥ 10× faster than `runc run`, ≥ 500 sandboxes/s, ≤ 1.5 MiB per idle
sandbox) need the warm pool and netlink networking, which are not built yet: today a
create clones namespaces, mounts the overlay and runs two `ip -batch` processes
synchronously (~25 ms of worker time), which serialises concurrent creates on the
worker's event loop. Density and pause/resume sections come with those issues.
MD
