/* cube-scheduler: the background control loop and the admin entry points that need
 * MariaDB. Subcommands:
 *   migrate                    apply schema migrations and exit
 *   run                        migrate, then loop: sandbox timeouts (kill at endAt),
 *                              metrics sampling every 5 s, lifecycle events -> MariaDB,
 *                              API keys MariaDB -> Redis, node health, template records
 *   key create [--name N]      print a new API key (only its hash is stored)
 *   key check KEY              exit 0 if KEY is valid
 *   key list [--json]          list keys
 *   key revoke ID|PREFIX       revoke a key (the gateway stops accepting it within 1 s)
 */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "cube_log.h"
#include "db.h"
#include "keys.h"
#include "lifecycle.h"
#include "events.h"
#include "metrics.h"
#include "cube_time.h"
#include "nodes.h"
#include "rebuild.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

struct options {
    const char *mysql_socket;
    const char *database;
    const char *redis;
    const char *migrations;
};

static redisContext *redis_connect(const char *spec)
{
    struct timeval tv = {2, 0};
    redisContext *rc;

    if (strncmp(spec, "unix:", 5) == 0) {
        rc = redisConnectUnixWithTimeout(spec + 5, tv);
    } else {
        char host[256];
        const char *colon = strrchr(spec, ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : 6379;
        size_t hl = colon ? (size_t)(colon - spec) : strlen(spec);
        if (hl >= sizeof(host))
            return NULL;
        memcpy(host, spec, hl);
        host[hl] = '\0';
        if (port <= 0 || port > 65535)
            return NULL;
        rc = redisConnectWithTimeout(host, (int)port, tv);
    }
    if (rc == NULL || rc->err) {
        log_error("redis %s: %s", spec, rc ? rc->errstr : "out of memory");
        if (rc)
            redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: cube-scheduler [--mysql-socket P] [--database D] [--redis unix:P|host:port]\n"
                    "                      [--migrations DIR] migrate|run|key ...\n");
}

static int cmd_run(MYSQL *db, const struct options *o)
{
    redisContext *rc = NULL;
    int tick = 0;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    log_info("running (redis %s, mariadb %s)", o->redis, o->mysql_socket);
    while (!stopping) {
        if (rc == NULL || rc->err) {
            if (rc)
                redisFree(rc);
            rc = redis_connect(o->redis);
        }
        if (mysql_ping(db) != 0)
            log_warn("mariadb ping: %s", mysql_error(db));
        /* Timeouts every 250 ms (endAt is enforced within a second), keys every
         * second, node and template records every two. */
        if (rc && lifecycle_sweep(rc, cube_now_ms()) < 0)
            log_warn("lifecycle sweep: redis error");
        if (rc && events_consume(db, rc) < 0)
            log_warn("event consumer: redis or mariadb error");
        /* The live view against the workers and MariaDB: rebuilds what Redis lost,
         * drops and closes what no worker runs any more. */
        if (rc && tick % 8 == 4 && rebuild_sweep(db, rc, cube_now_ms()) < 0)
            log_warn("live view rebuild: redis or mariadb error");
        if (rc && tick % 8 == 4 && rebuild_templates(rc) < 0)
            log_warn("template record check: redis error");
        if (rc && tick % 20 == 0 && metrics_sample(rc) < 0)
            log_warn("metrics sampling: redis error");
        if (rc && tick % 4 == 0 && keys_sync(db, rc) != 0)
            log_warn("api key sync failed");
        if (rc && tick % 8 == 0) {
            nodes_sweep(db, rc);
            templates_sync(db, rc);
        }
        tick++;
        poll(NULL, 0, 250);
    }
    if (rc)
        redisFree(rc);
    log_info("stopped");
    return 0;
}

static int cmd_key(MYSQL *db, int argc, char **argv, const struct options *o)
{
    if (argc < 1) {
        usage();
        return 2;
    }
    if (strcmp(argv[0], "create") == 0) {
        const char *name = "default";
        char key[64];
        for (int i = 1; i + 1 < argc; i++)
            if (strcmp(argv[i], "--name") == 0)
                name = argv[i + 1];
        if (keys_create(db, name, key) != 0)
            return 1;
        /* Publish now so the key works before the next sync tick. */
        redisContext *rc = redis_connect(o->redis);
        if (rc) {
            keys_sync(db, rc);
            redisFree(rc);
        }
        printf("%s\n", key);
        return 0;
    }
    if (strcmp(argv[0], "check") == 0 && argc == 2)
        return keys_check(db, argv[1]) == 1 ? 0 : 1;
    if (strcmp(argv[0], "list") == 0)
        return keys_list(db, argc > 1 && strcmp(argv[1], "--json") == 0) == 0 ? 0 : 1;
    if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
        int r = keys_revoke(db, argv[1]);
        if (r == 0) {
            redisContext *rc = redis_connect(o->redis);
            if (rc) {
                keys_sync(db, rc);
                redisFree(rc);
            }
        } else if (r == 1) {
            fprintf(stderr, "no active key matches '%s'\n", argv[1]);
        }
        return r == 0 ? 0 : 1;
    }
    usage();
    return 2;
}

int main(int argc, char **argv)
{
    struct options o = {"/run/cube/mysql/mysqld.sock", "cube", "unix:/run/cube/redis.sock",
                        "scheduler/migrations"};
    static const struct option longopts[] = {{"mysql-socket", required_argument, 0, 's'},
                                             {"database", required_argument, 0, 'd'},
                                             {"redis", required_argument, 0, 'r'},
                                             {"migrations", required_argument, 0, 'm'},
                                             {0, 0, 0, 0}};
    MYSQL *db;
    int c, rc;

    cube_log_init("cube-scheduler", CUBE_LOG_INFO);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o.mysql_socket = optarg; break;
        case 'd': o.database = optarg; break;
        case 'r': o.redis = optarg; break;
        case 'm': o.migrations = optarg; break;
        default: usage(); return 2;
        }
    }
    if (optind >= argc) {
        usage();
        return 2;
    }
    db = db_connect(o.mysql_socket, o.database);
    if (db == NULL)
        return 1;
    if (db_migrate(db, o.migrations) != 0) {
        mysql_close(db);
        return 1;
    }
    if (strcmp(argv[optind], "migrate") == 0)
        rc = 0;
    else if (strcmp(argv[optind], "run") == 0)
        rc = cmd_run(db, &o);
    else if (strcmp(argv[optind], "key") == 0)
        rc = cmd_key(db, argc - optind - 1, argv + optind + 1, &o);
    else {
        usage();
        rc = 2;
    }
    mysql_close(db);
    return rc;
}
