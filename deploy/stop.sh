#!/usr/bin/env bash
# make stop: stop everything make run started and remove every sandbox, leaving no
# processes, mounts, network namespaces, veths or cgroups behind.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services.sh"

[ "$(id -u)" = 0 ] || die "make stop needs root"
if [ -s "$CUBE_RUN/nginx.pid" ] && pid_alive "$CUBE_RUN/nginx.pid"; then
    say "stopping nginx"
    nginx -p "$CUBE_RUN/nginx-tmp" -c "$CUBE_RUN/nginx.conf" -e "$CUBE_LOG/nginx-error.log" -s stop 2>/dev/null ||
        kill -TERM "$(cat "$CUBE_RUN/nginx.pid")"
    for _ in $(seq 100); do pid_alive "$CUBE_RUN/nginx.pid" || break; sleep 0.1; done
fi
stop_pidfile cube-scheduler "$CUBE_RUN/scheduler.pid"
stop_pidfile cube-worker "$CUBE_RUN/worker.pid"
# The worker leaves sandboxes running when it stops (restart safety); tear them down.
for b in "$CUBE_ROOT/build/bin/cube-worker" "$CUBE_ROOT/build/san/bin/cube-worker"; do
    if [ -x "$b" ] && [ -d "$CUBE_STATE/sandboxes" ]; then
        say "removing sandboxes"
        "$b" --teardown-all --state-dir "$CUBE_STATE" --run-dir "$CUBE_RUN" >>"$CUBE_LOG/worker.log" 2>&1 || true
        break
    fi
done
if pid_alive "$CUBE_RUN/redis.pid"; then
    say "stopping redis"
    redis-cli -s "$CUBE_RUN/redis.sock" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 50); do pid_alive "$CUBE_RUN/redis.pid" || break; sleep 0.1; done
fi
stop_pidfile redis "$CUBE_RUN/redis.pid"
if pid_alive "$CUBE_RUN/mysql/mysqld.pid"; then
    say "stopping mariadb"
    mariadb-admin --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot shutdown 2>/dev/null || true
fi
stop_pidfile mariadb "$CUBE_RUN/mysql/mysqld.pid"
rm -f "$CUBE_RUN/worker.sock"
say "stopped"
