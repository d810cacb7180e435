# shellcheck shell=bash
# Helpers shared by the bench scripts (sourced).

# pools_settled [SECS]: wait (at most SECS, default 60) until the worker's warm pools
# are full and its spawners idle, so that a measurement starts from the same place
# every time: a run's deletes are answered before their host resources are released,
# and the next run would otherwise find the spawners still busy with them.
pools_settled() {
    local j _
    for _ in $(seq $((${1:-60} * 10))); do
        j=$(curl -s --max-time 5 --unix-socket "${CUBE_RUN:-/run/cube}/worker.sock" http://localhost/pool)
        jq -e '.spawnerJobs == 0 and all(.pools[]; .ready >= .size)' >/dev/null 2>&1 <<<"$j" &&
            return 0
        sleep 0.1
    done
    return 1
}

# find_comm PID NAME: the pid of the first process called NAME among PID and its
# descendants (breadth first), or nothing. The bench scripts use it from a sandbox's
# init pid (the worker's view) to find cube-envd and cube-ci inside.
find_comm() {
    local todo=("$1") p t kids
    while [ ${#todo[@]} -gt 0 ]; do
        p=${todo[0]} todo=("${todo[@]:1}")
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && { echo "$p"; return; }
        for t in /proc/"$p"/task/*/children; do
            # the file has no trailing newline: read fails at its end but fills kids
            kids=()
            read -ra kids 2>/dev/null <"$t"
            todo+=("${kids[@]}")
        done
    done
}
