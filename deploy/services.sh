# Start/stop functions for the services Cube runs (sourced by run.sh / stop.sh).
# Each start_* is idempotent: a running instance is left alone.

# nginx workers run as www-data in group `cube`; the sockets they use (Redis, workers)
# are group-accessible to `cube` and closed to everyone else.
ensure_group() { getent group cube >/dev/null || groupadd --system cube; }

start_redis() {
    local conf="$CUBE_RUN/redis.conf"
    mkdir -p "$CUBE_STATE/redis"
    if pid_alive "$CUBE_RUN/redis.pid"; then
        ensure_group
        chgrp cube "$CUBE_RUN/redis.sock"
        return 0
    fi
    # The live view is rebuilt from the workers, so Redis keeps no snapshot on disk.
    cat >"$conf" <<CONF
bind 127.0.0.1
port $CUBE_REDIS_PORT
unixsocket $CUBE_RUN/redis.sock
unixsocketperm 770
protected-mode yes
daemonize yes
pidfile $CUBE_RUN/redis.pid
logfile $CUBE_LOG/redis.log
dir $CUBE_STATE/redis
save ""
appendonly no
CONF
    say "starting redis (127.0.0.1:$CUBE_REDIS_PORT, $CUBE_RUN/redis.sock)"
    redis-server "$conf" || die "redis failed to start (see $CUBE_LOG/redis.log)"
    wait_for redis 10 redis-cli -s "$CUBE_RUN/redis.sock" ping
    ensure_group
    chgrp cube "$CUBE_RUN/redis.sock"
}

mariadb_ping() { mariadb-admin --socket="$CUBE_RUN/mysql/mysqld.sock" -uroot ping; }

start_mariadb() {
    local data="$CUBE_STATE/mysql"
    if pid_alive "$CUBE_RUN/mysql/mysqld.pid" && mariadb_ping >/dev/null 2>&1; then return 0; fi
    if [ ! -d "$data/mysql" ]; then
        say "initialising mariadb in $data"
        mkdir -p "$data"
        chown mysql:mysql "$data"
        mariadb-install-db --user=mysql --datadir="$data" --skip-test-db \
            --auth-root-authentication-method=socket >"$CUBE_LOG/mariadb-init.log" 2>&1 ||
            die "mariadb-install-db failed (see $CUBE_LOG/mariadb-init.log)"
    fi
    # mariadbd drops to the mysql user: give it its own socket and log directories.
    mkdir -p "$CUBE_RUN/mysql" "$CUBE_LOG/mariadb"
    chown mysql:mysql "$CUBE_RUN/mysql" "$CUBE_LOG/mariadb"
    say "starting mariadb ($CUBE_RUN/mysql/mysqld.sock, no TCP)"
    setsid mariadbd --no-defaults --user=mysql --datadir="$data" \
        --socket="$CUBE_RUN/mysql/mysqld.sock" --pid-file="$CUBE_RUN/mysql/mysqld.pid" \
        --skip-networking --log-error="$CUBE_LOG/mariadb/mariadb.log" \
        --innodb-buffer-pool-size=64M --max-connections=200 </dev/null >/dev/null 2>&1 &
    wait_for mariadb 60 mariadb_ping
}

start_scheduler() {
    if pid_alive "$CUBE_RUN/scheduler.pid"; then return 0; fi
    say "starting cube-scheduler"
    "$CUBE_BUILD/bin/cube-scheduler" --mysql-socket "$CUBE_RUN/mysql/mysqld.sock" \
        --redis "unix:$CUBE_RUN/redis.sock" --migrations "$CUBE_ROOT/scheduler/migrations" \
        migrate >>"$CUBE_LOG/scheduler.log" 2>&1 || die "migrations failed (see $CUBE_LOG/scheduler.log)"
    setsid "$CUBE_BUILD/bin/cube-scheduler" --mysql-socket "$CUBE_RUN/mysql/mysqld.sock" \
        --redis "unix:$CUBE_RUN/redis.sock" --migrations "$CUBE_ROOT/scheduler/migrations" \
        run </dev/null >>"$CUBE_LOG/scheduler.log" 2>&1 &
    echo $! >"$CUBE_RUN/scheduler.pid"
}

worker_health() { curl -sf --max-time 2 --unix-socket "$CUBE_RUN/worker.sock" http://localhost/health; }

start_worker() {
    if pid_alive "$CUBE_RUN/worker.pid" && worker_health >/dev/null; then
        chgrp cube "$CUBE_RUN/worker.sock"
        return 0
    fi
    say "starting cube-worker ($CUBE_RUN/worker.sock)"
    setsid "$CUBE_BUILD/bin/cube-worker" --socket "$CUBE_RUN/worker.sock" \
        --state-dir "$CUBE_STATE" --run-dir "$CUBE_RUN" --redis "unix:$CUBE_RUN/redis.sock" \
        --bin-dir "$CUBE_BUILD/bin" ${CUBE_WORKER_CAPACITY:+--capacity "$CUBE_WORKER_CAPACITY"} \
        --pool-size "${CUBE_POOL_SIZE:-4}" ${CUBE_NODE_LABELS:+--labels "$CUBE_NODE_LABELS"} \
        ${CUBE_WORKER_LOG_LEVEL:+--log-level "$CUBE_WORKER_LOG_LEVEL"} \
        ${CUBE_WORKER_SPAWNERS:+--spawners "$CUBE_WORKER_SPAWNERS"} \
        </dev/null >>"$CUBE_LOG/worker.log" 2>&1 &
    echo $! >"$CUBE_RUN/worker.pid"
    wait_for cube-worker 30 worker_health
    ensure_group
    chgrp cube "$CUBE_RUN/worker.sock"
}

nginx_conf() {
    local out="$CUBE_RUN/nginx.conf"
    sed -e "s|@RUN_DIR@|$CUBE_RUN|g" -e "s|@LOG_DIR@|$CUBE_LOG|g" \
        -e "s|@MODULE_PATH@|$CUBE_BUILD/modules/ngx_cube_module.so|g" \
        -e "s|@REDIS@|unix:$CUBE_RUN/redis.sock|g" -e "s|@SECRET_FILE@|$CUBE_STATE/secret|g" \
        -e "s|@PLACE_SCRIPT@|$CUBE_ROOT/lua/redis/place.lua|g" -e "s|@LISTEN@|$CUBE_LISTEN|g" \
        -e "s|@DOMAIN@|$CUBE_DOMAIN|g" -e "s|@RATE@|${CUBE_API_RATE:-100}|g" \
        -e "s|@BURST@|${CUBE_API_BURST:-200}|g" \
        -e "s|@ADMIN_LISTEN@|${CUBE_ADMIN_LISTEN:-127.0.0.1:3090}|g" \
        "$CUBE_ROOT/conf/nginx.conf.in" >"$out"
    mkdir -p "$CUBE_RUN/nginx-tmp"
    echo "$out"
}

api_health() { curl -sf --max-time 2 "http://$CUBE_LISTEN/health"; }

nginx_env() {
    # A sanitizer-built module needs the ASan runtime loaded first in the nginx binary.
    if [ "$SAN" = 1 ]; then
        echo "LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0:abort_on_error=0"
    fi
}

start_nginx() {
    local conf
    conf=$(nginx_conf)
    env $(nginx_env) nginx -t -q -p "$CUBE_RUN/nginx-tmp" -c "$conf" -e "$CUBE_LOG/nginx-error.log" ||
        die "nginx configuration test failed"
    if pid_alive "$CUBE_RUN/nginx.pid"; then
        say "reloading nginx"
        env $(nginx_env) nginx -p "$CUBE_RUN/nginx-tmp" -c "$conf" -e "$CUBE_LOG/nginx-error.log" -s reload
    else
        say "starting nginx with ngx_cube_module on $CUBE_LISTEN"
        env $(nginx_env) nginx -p "$CUBE_RUN/nginx-tmp" -c "$conf" -e "$CUBE_LOG/nginx-error.log"
    fi
    wait_for "nginx api" 15 api_health
}

# stop_pidfile NAME FILE [SIGNAL]: stop the process in FILE and wait for it (≤10 s).
stop_pidfile() {
    local name=$1 file=$2 sig=${3:-TERM} pid i
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        say "stopping $name"
        kill -"$sig" "$pid" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$file"
}
