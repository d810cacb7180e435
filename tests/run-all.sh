#!/usr/bin/env bash
# make test: the same set-up as `make run` (with the ASan+UBSan build), then every
# suite: C unit tests, shell integration tests against the real services, the SDK tests
# with the real `e2b` package. Ends with one line "N passed, N failed".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SAN=${SAN:-1}
. "$ROOT/deploy/lib.sh"

PASSED=0
FAILED=0
FAILED_NAMES=()
RESULTS="$ROOT/build/test-results"
mkdir -p "$RESULTS"
count() { PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2)); }
fail_setup() { count 0 1; FAILED_NAMES+=("$1"); }

# 0. What make run installs (apt) comes first: the unit tests and fuzzers build against
# the same -dev packages, and a fresh machine has none of them.
if ! bash "$ROOT/deploy/deps.sh" >"$RESULTS/deps.log" 2>&1; then
    tail -30 "$RESULTS/deps.log"
    fail_setup "dependencies"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi

# 1. Unit tests (cmocka, sanitizers on) need no services.
say "unit tests"
make -C "$ROOT" -j"$(nproc)" SAN="$SAN" unit-build >"$RESULTS/unit-build.log" 2>&1 || { tail -20 "$RESULTS/unit-build.log"; fail_setup "unit build"; }
for t in $(make -s -C "$ROOT" SAN="$SAN" print-unit-tests 2>/dev/null); do
    out=$("$ROOT/$t" 2>&1)
    rc=$?
    printf '%s\n' "$out" >"$RESULTS/$(basename "$t").log"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    echo "  $(basename "$t"): $p passed, $f failed"
    [ "$f" != 0 ] && FAILED_NAMES+=("$(basename "$t")")
    count "$p" "$f"
done

# 1b. Fuzz targets (libFuzzer, ASan+UBSan): a short bounded run each, from a fresh
# corpus, so a parser crash on random input fails the suite.
say "fuzz smoke runs"
if make -C "$ROOT" -j"$(nproc)" SAN="$SAN" fuzz >"$RESULTS/fuzz-build.log" 2>&1; then
    for fz in $(make -s -C "$ROOT" SAN="$SAN" print-fuzzers 2>/dev/null); do
        corpus="$RESULTS/corpus-$(basename "$fz")"
        mkdir -p "$corpus"
        if "$ROOT/$fz" -runs=200000 -max_total_time=20 "$corpus" >"$RESULTS/$(basename "$fz").log" 2>&1; then
            echo "  ok - fuzz $(basename "$fz")"
            count 1 0
        else
            echo "  not ok - fuzz $(basename "$fz") (see $RESULTS/$(basename "$fz").log)"
            FAILED_NAMES+=("$(basename "$fz")")
            count 0 1
        fi
    done
else
    tail -20 "$RESULTS/fuzz-build.log"
    fail_setup "fuzz build"
fi

# 2. Bring the stack up exactly as make run does.
# A stack left running (perhaps a non-sanitizer `make run`) is stopped first, so the
# tests run against the build under test from a clean state.
say "starting the stack (SAN=$SAN)"
bash "$ROOT/deploy/stop.sh" >"$RESULTS/stop-before.log" 2>&1
if ! bash "$ROOT/deploy/run.sh" >"$RESULTS/run.log" 2>&1; then
    tail -30 "$RESULTS/run.log"
    fail_setup "make run"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi
. "$ROOT/.cube/env"

# Leak check between files: sandboxes are gone, so are their kernel objects, except
# those of the warm pool, which the worker reports (GET /pool) once it has settled.
pooled_settled() {
    local j h
    for _ in $(seq 100); do
        j=$(curl -s --max-time 5 --unix-socket "$CUBE_RUN/worker.sock" http://localhost/pool)
        # Sandboxes the API already forgot may still be dying in the worker (a kill
        # by the scheduler): wait until it holds none but the pool.
        h=$(curl -s --max-time 5 --unix-socket "$CUBE_RUN/worker.sock" http://localhost/health)
        if [ -n "$j" ] && jq -e '.spawnerJobs == 0 and ([.pools[].preparing] | add // 0) == 0 and ([.pools[] | select(.refillPending)] | length) == 0' >/dev/null 2>&1 <<<"$j" &&
            jq -e '.sandboxes == 0' >/dev/null 2>&1 <<<"$h"; then
            jq -r '"\(.pooled) \(.freeLayers // 0)"' <<<"$j"
            return 0
        fi
        sleep 0.1
    done
    echo unsettled
}
leak_check() {
    local name=$1 n left="" p free cgroups veths mounts loops
    n=$(redis-cli -s "$CUBE_RUN/redis.sock" zcard cube:sandboxes 2>/dev/null || echo 0)
    [ "$n" = 0 ] || return 0 # a suite that keeps sandboxes on purpose is checked later
    read -r p free <<<"$(pooled_settled)"
    free=${free:-0}
    veths=$(ip -o link show 2>/dev/null | grep -cE ': vh[0-9]+@' || true)
    cgroups=$(find /sys/fs/cgroup/*/cube /sys/fs/cgroup/cube -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
    # cgroup v1 has one directory per controller hierarchy.
    [ -e /sys/fs/cgroup/cgroup.controllers ] || cgroups=$((cgroups / $(find /sys/fs/cgroup/*/cube -maxdepth 0 -type d 2>/dev/null | wc -l | awk '{print ($1 > 0) ? $1 : 1}')))
    left+=$(ip netns list 2>/dev/null | grep -c '^cube-' || true)
    left+=" $((veths - ${p//unsettled/0}))"
    # Every sandbox (pooled ones too) has its writable layer on a loop device, mounted
    # only inside the sandbox: the host has none of those mounts. So do the emptied
    # layers the spawners keep for their next sandboxes (freeLayers, layer_pool.h).
    mounts=$(grep -c ' /var/lib/cube/sandboxes/' /proc/self/mountinfo || true)
    loops=$(cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -c "^$CUBE_STATE/sandboxes/" || true)
    left+=" $mounts"
    left+=" $((cgroups - ${p//unsettled/0}))"
    left+=" $((loops - ${p//unsettled/0} - free))"
    if [ "$p" != unsettled ] && [ "$left" = "0 0 0 0 0" ]; then
        echo "ok - leak check after $name ($p pooled, $free free layers)"
        return 0
    fi
    echo "not ok - leak check after $name (netns, veth, mounts, cgroups, loop devices beyond the $p pooled: $left)"
}

# 3. Shell integration tests (each prints ok/not ok lines).
say "integration tests"
for f in "$ROOT"/tests/integration/*.sh; do
    name=$(basename "$f" .sh)
    out=$(bash "$f" 2>"$RESULTS/$name.err"; leak_check "$name")
    printf '%s\n' "$out" | sed 's/^/  /'
    p=$(printf '%s\n' "$out" | grep -c '^ok - ')
    f_=$(printf '%s\n' "$out" | grep -c '^not ok - ')
    [ "$p" = 0 ] && [ "$f_" = 0 ] && f_=1
    [ "$f_" != 0 ] && FAILED_NAMES+=("$name")
    count "$p" "$f_"
done

# 4. SDK tests with the unmodified e2b npm package.
say "SDK tests (e2b from npm)"
(cd "$ROOT/tests/sdk" && { [ -d node_modules/e2b ] || npm ci --no-audit --no-fund >/dev/null 2>&1 || npm install --no-audit --no-fund >/dev/null 2>&1; })
out=$(cd "$ROOT/tests/sdk" && node --test --test-concurrency=1 --test-reporter=tap ./*.test.mjs 2>&1)
printf '%s\n' "$out" >"$RESULTS/sdk.tap"
printf '%s\n' "$out" | grep -E '^(not )?ok ' | sed 's/^/  /'
p=$(printf '%s\n' "$out" | sed -n 's/^# pass \([0-9]*\)/\1/p' | tail -1)
f_=$(printf '%s\n' "$out" | sed -n 's/^# fail \([0-9]*\)/\1/p' | tail -1)
[ -z "$p" ] && p=0
[ -z "$f_" ] && f_=1
[ "$f_" != 0 ] && { FAILED_NAMES+=("sdk"); printf '%s\n' "$out" | grep -A15 '^not ok' | head -60; }
count "$p" "$f_"
# cube-bench once with a tiny count, so the load generator does not rot (the real
# numbers come from make bench, never from make test).
for m in create-exec-delete exec; do
    if "$CUBE_BUILD/bin/cube-bench" --mode "$m" -c 2 -n 4 --json >"$RESULTS/bench-$m.json" 2>"$RESULTS/bench-$m.err" &&
        jq -e '.ok == 4 and .errors == 0' "$RESULTS/bench-$m.json" >/dev/null 2>&1; then
        echo "  ok - cube-bench $m runs clean"
        count 1 0
    else
        echo "  not ok - cube-bench $m runs clean ($(tail -1 "$RESULTS/bench-$m.json"))"
        FAILED_NAMES+=("cube-bench $m")
        count 0 1
    fi
done
echo "$(leak_check sdk)"
case "$(leak_check sdk)" in "not ok"*) count 0 1 ;; *) count 1 0 ;; esac

if [ "${KEEP:-0}" != 1 ]; then
    say "stopping the stack"
    bash "$ROOT/deploy/stop.sh" >"$RESULTS/stop.log" 2>&1
    pat="$ROOT/build/(san/)?bin/cube-(worker|scheduler)|redis-server 127.0.0.1:$CUBE_REDIS_PORT|mariadbd .*$CUBE_RUN/mysql|nginx: master process nginx -p $CUBE_RUN"
    # Processes get a moment to finish exiting after their stop command returned.
    for _ in $(seq 30); do pgrep -f "$pat" >/dev/null || break; sleep 0.2; done
    pgrep -af "$pat" | sed 's/^/  still running: /'
    left=$(pgrep -f "$pat" | wc -l)
    kobj="$(nft list table inet cube >/dev/null 2>&1 && echo 1 || echo 0)$(ip netns list 2>/dev/null | grep -c '^cube-' || true) $(ip -o link show 2>/dev/null | grep -cE ': vh[0-9]+@' || true) $(grep -c " $CUBE_STATE/sandboxes/" /proc/self/mountinfo || true) $(find /sys/fs/cgroup/*/cube /sys/fs/cgroup/cube -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l) $(cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -c "^$CUBE_STATE/sandboxes/" || true) $(find "$CUBE_STATE/sandboxes" -mindepth 1 -maxdepth 1 ! -name '.layer-*.golden' 2>/dev/null | wc -l)"
    if [ "$left" = 0 ] && [ "$kobj" = "00 0 0 0 0 0" ]; then
        echo "  ok - make stop leaves no processes, nft table, network namespaces, veths, mounts, cgroups, loop devices or layer images"
        count 1 0
    else
        echo "  not ok - make stop leaves no processes, nft table, network namespaces, veths, mounts, cgroups, loop devices or layer images ($left processes; nft+netns veth mounts cgroups loops files: $kobj)"
        count 0 1
    fi
fi

[ ${#FAILED_NAMES[@]} -gt 0 ] && echo "failing: ${FAILED_NAMES[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
