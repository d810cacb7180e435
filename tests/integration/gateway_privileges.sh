#!/usr/bin/env bash
# The gateway's worker processes, which handle untrusted sandbox traffic, do not run
# as root, and the control sockets are closed to other users.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../deploy/lib.sh"

master=$(cat "$CUBE_RUN/nginx.pid")
users=$(ps -o user= --ppid "$master" | sort -u | tr '\n' ' ')
check "nginx workers run as www-data, not root (got: $users)" [ "$users" = "www-data " ]
for s in redis.sock worker.sock; do
    perm=$(stat -c '%A %G' "$CUBE_RUN/$s")
    check "$s is closed to other users ($perm)" grep -qE '^s.{6}--- cube$' <<<"$perm"
done
check "the installation secret is readable by root only" [ "$(stat -c %a "$CUBE_STATE/secret")" = 600 ]
check "an unprivileged user cannot talk to the worker" \
    bash -c "! runuser -u nobody -- curl -s --max-time 2 --unix-socket '$CUBE_RUN/worker.sock' http://localhost/health >/dev/null 2>&1"
finish
