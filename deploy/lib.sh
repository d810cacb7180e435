# Shared settings and helpers for the deploy scripts (sourced, not run).
# Everything Cube runs lives under these paths; none of them is a system default,
# so the machine's own nginx/redis/mariadb (if any) are never touched.

CUBE_ROOT=${CUBE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CUBE_RUN=${CUBE_RUN:-/run/cube}
CUBE_STATE=${CUBE_STATE:-/var/lib/cube}
CUBE_LOG=${CUBE_LOG:-/var/log/cube}
CUBE_REDIS_PORT=${CUBE_REDIS_PORT:-6390}
CUBE_LISTEN=${CUBE_LISTEN:-127.0.0.1:3000}
CUBE_DOMAIN=${CUBE_DOMAIN:-cube.localhost}
CUBE_UID_SHIFT=100000
SAN=${SAN:-0}
# CUBE_BUILD may be preset to run the stack from a private build tree.
if [ -n "${CUBE_BUILD:-}" ]; then :; elif [ "$SAN" = 1 ]; then CUBE_BUILD="$CUBE_ROOT/build/san"; else CUBE_BUILD="$CUBE_ROOT/build"; fi

say() { printf '\033[1m[cube]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[cube] error:\033[0m %s\n' "$*" >&2; exit 1; }

# pid_alive FILE: the pid in FILE is a live process.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for DESC SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
    local desc=$1 secs=$2 i=0
    shift 2
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -ge $((secs * 10)) ] && die "$desc did not become ready in ${secs}s (logs: $CUBE_LOG)"
        sleep 0.1
    done
}

debian_mirror() {
    local m
    m=$(grep -hoE '^URIs: *http[^ ]+/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
    [ -n "$m" ] || m=$(grep -hoE '^deb +http[^ ]+/debian ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
    echo "${m:-http://deb.debian.org/debian}"
}

# gen_id N: N random chars of [a-z0-9] (ids for templates and the like).
gen_id() {
    local out="" b alphabet=abcdefghijklmnopqrstuvwxyz0123456789
    for b in $(od -An -tu1 -N $(($1 * 4)) /dev/urandom); do
        [ "$b" -lt 252 ] || continue
        out+=${alphabet:$((b % 36)):1}
        [ ${#out} -ge "$1" ] && break
    done
    echo "$out"
}
