#!/usr/bin/env bash
# make run: install what is missing, build, prepare templates, start every service on
# loopback, wait until healthy, write .cube/env. Safe to re-run while up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services.sh"

[ "$(id -u)" = 0 ] || die "make run needs root (namespaces, cgroups, veths)"
bash "$CUBE_ROOT/deploy/deps.sh"

say "building (SAN=$SAN)"
mkdir -p "$CUBE_ROOT/build"
make -C "$CUBE_ROOT" -j"$(nproc)" SAN="$SAN" everything >"$CUBE_ROOT/build/build.log" 2>&1 ||
    { tail -30 "$CUBE_ROOT/build/build.log"; die "build failed (full log: build/build.log)"; }

mkdir -p "$CUBE_RUN" "$CUBE_STATE" "$CUBE_LOG"
chmod 0755 "$CUBE_RUN"
bash "$CUBE_ROOT/deploy/template-base.sh"
bash "$CUBE_ROOT/deploy/template-code-interpreter.sh"

# The installation secret derives every sandbox's envd token (HMAC); it never leaves
# this node's state dir.
if [ ! -s "$CUBE_STATE/secret" ]; then
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$CUBE_STATE/secret")
fi

start_redis
start_mariadb
start_scheduler
start_worker
start_nginx

# API key: reuse the one in .cube/env while MariaDB still knows it, else make one.
mkdir -p "$CUBE_ROOT/.cube"
key=""
if [ -f "$CUBE_ROOT/.cube/env" ]; then
    key=$(sed -n 's/^export E2B_API_KEY=//p' "$CUBE_ROOT/.cube/env")
fi
sched=("$CUBE_BUILD/bin/cube-scheduler" --mysql-socket "$CUBE_RUN/mysql/mysqld.sock"
    --redis "unix:$CUBE_RUN/redis.sock" --migrations "$CUBE_ROOT/scheduler/migrations")
if [ -z "$key" ] || ! "${sched[@]}" key check "$key" 2>/dev/null; then
    key=$("${sched[@]}" key create --name default) || die "could not create an API key"
fi
cat >"$CUBE_ROOT/.cube/env" <<ENV
export E2B_API_URL=http://$CUBE_LISTEN
export E2B_SANDBOX_URL=http://$CUBE_LISTEN
export E2B_API_KEY=$key
export E2B_DOMAIN=$CUBE_DOMAIN
ENV
chmod 600 "$CUBE_ROOT/.cube/env"

# Ready only when the gateway accepts the key end to end (the scheduler put it in Redis):
# an authenticated lookup of an unknown sandbox answers 404, not 401.
key_ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $key" \
        "http://$CUBE_LISTEN/sandboxes/i00000000000000000000")" = 404 ]
}
wait_for "api key" 10 key_ready

cat <<MSG

Cube is running on http://$CUBE_LISTEN  (logs: $CUBE_LOG)
  source $CUBE_ROOT/.cube/env
  npm i e2b   # the unmodified SDK
  node -e "const {Sandbox}=require('e2b');(async()=>{const s=await Sandbox.create();console.log((await s.commands.run('echo hi; whoami')).stdout);await s.kill()})()"
Operate it with: deploy/cubectl nodes / sandboxes / kill ...
Stop everything with: make stop
MSG
