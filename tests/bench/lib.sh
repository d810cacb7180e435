# shellcheck shell=bash
# Helpers shared by the bench scripts (sourced).

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
