#include "rebuild.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_id.h"
#include "cube_log.h"
#include "cube_time.h"
#include "db.h"
#include "events.h"
#include "worker_client.h"

#define MAX_NODES 256

/* One healthy node and what its worker runs now. */
struct node_view {
    char id[64];
    json_t *list; /* the worker's GET /sandboxes array */
};

static json_t *listed(const struct node_view *nv, const char *id)
{
    size_t i;
    json_t *s;

    json_array_foreach(nv->list, i, s)
    {
        const char *sid = json_string_value(json_object_get(s, "sandboxID"));
        if (sid && strcmp(sid, id) == 0)
            return s;
    }
    return NULL;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int reply_ok(redisReply *r)
{
    return r && r->type != REDIS_REPLY_ERROR;
}

static void run(redisContext *rc, redisReply *r)
{
    if (r)
        freeReplyObject(r);
    (void)rc;
}

/* The nodes whose worker answered; 0 when none. */
static size_t collect_nodes(redisContext *rc, struct node_view *out, size_t max)
{
    redisReply *nodes = redisCommand(rc, "SMEMBERS cube:nodes");
    size_t n = 0;

    if (nodes == NULL || nodes->type != REDIS_REPLY_ARRAY) {
        run(rc, nodes);
        return 0;
    }
    for (size_t i = 0; i < nodes->elements && n < max; i++) {
        const char *id = nodes->element[i]->str;
        redisReply *alive, *addr;

        if (nodes->element[i]->type != REDIS_REPLY_STRING ||
            strlen(id) >= sizeof(out->id))
            continue;
        alive = redisCommand(rc, "EXISTS cube:node:%s:alive", id);
        addr = redisCommand(rc, "HGET cube:node:%s addr", id);
        if (alive && alive->type == REDIS_REPLY_INTEGER && alive->integer == 1 && addr &&
            addr->type == REDIS_REPLY_STRING) {
            json_t *list = worker_get_json(addr->str, "/sandboxes", 1);
            if (list) {
                (void)snprintf(out[n].id, sizeof(out[n].id), "%s", id);
                out[n].list = list;
                n++;
            }
        }
        run(rc, alive);
        run(rc, addr);
    }
    freeReplyObject(nodes);
    return n;
}

/* The durable row of a sandbox, as strings (NULL where SQL NULL). */
struct row {
    char *template_id, *alias, *metadata, *started_ms, *end_ms, *live, *state;
    MYSQL_RES *res;
};

static int load_row(MYSQL *db, const char *id, struct row *r)
{
    char sql[512];
    MYSQL_ROW row;

    memset(r, 0, sizeof(*r));
    (void)snprintf(
        sql, sizeof(sql),
        "SELECT template_id, alias, metadata, CAST(UNIX_TIMESTAMP(started_at) * 1000 AS"
        " UNSIGNED), CAST(UNIX_TIMESTAMP(end_at) * 1000 AS UNSIGNED), live_fields, state"
        " FROM sandboxes WHERE sandbox_id='%s'",
        id);
    if (db_exec(db, sql) != 0 || (r->res = mysql_store_result(db)) == NULL)
        return -1;
    row = mysql_fetch_row(r->res);
    if (row == NULL)
        return 0;
    r->template_id = row[0];
    r->alias = row[1];
    r->metadata = row[2];
    r->started_ms = row[3];
    r->end_ms = row[4];
    r->live = row[5];
    r->state = row[6];
    return 1;
}

static long long num(const char *s, long long dflt)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return dflt;
    v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 ? v : dflt;
}

/* A live sandbox MariaDB has no row for: its "created" event was lost with Redis.
 * Record it from what the worker knows (its lifecycle included), so the durable record
 * holds every sandbox and its later events have a row to update. */
static void record_lost_create(MYSQL *db, const char *id, const char *tpl,
                               const char *alias, const char *node, const char *state,
                               int64_t started_ms, int64_t end_ms, json_t *lc)
{
    json_t *live = json_object();
    char e_alias[2 * 128 + 1], *e_live = NULL, *text = NULL, sql[2048];

    if (live == NULL || !cube_id_valid(tpl, 63) || !cube_id_valid(node, 63) ||
        strlen(alias) > 128)
        goto out;
    if (json_is_object(lc)) {
        json_object_set_new(
            live, "auto_pause",
            json_string(json_is_true(json_object_get(lc, "autoPause")) ? "1" : "0"));
        json_object_set_new(
            live, "auto_resume",
            json_string(json_is_true(json_object_get(lc, "autoResume")) ? "1" : "0"));
        if (json_is_true(json_object_get(lc, "privateTraffic")))
            json_object_set_new(live, "traffic_token", json_string("1"));
        if (json_integer_value(json_object_get(lc, "timeout")) > 0) {
            char t[24];
            (void)snprintf(t, sizeof(t), "%lld",
                           (long long)json_integer_value(json_object_get(lc, "timeout")));
            json_object_set_new(live, "timeout_s", json_string(t));
        }
    }
    text = json_dumps(live, JSON_COMPACT);
    if (text == NULL || strlen(text) > 512 ||
        (e_live = malloc(2 * strlen(text) + 1)) == NULL)
        goto out;
    mysql_real_escape_string(db, e_alias, alias, (unsigned long)strlen(alias));
    mysql_real_escape_string(db, e_live, text, (unsigned long)strlen(text));
    (void)snprintf(
        sql, sizeof(sql),
        "INSERT IGNORE INTO sandboxes (sandbox_id, template_id, alias, node_id,"
        " metadata, state, started_at, end_at, live_fields) VALUES ('%s', '%s',"
        " '%s', '%s', '{}', '%s', FROM_UNIXTIME(%lld / 1000),"
        " FROM_UNIXTIME(%lld / 1000), '%s')",
        id, tpl, e_alias, node, strcmp(state, "paused") == 0 ? "paused" : "running",
        (long long)started_ms, (long long)end_ms, e_live);
    if (db_exec(db, sql) == 0)
        log_warn(
            "sandbox %s had no durable record (its created event was lost); recorded "
            "it from its worker",
            id);
out:
    free(e_live);
    free(text);
    json_decref(live);
}

/* Write cube:sb:<id> and its indexes from the worker's view s and the durable row. */
static int rebuild_one(MYSQL *db, redisContext *rc, const char *node, json_t *s,
                       int64_t now_ms)
{
    const char *id = jstr(s, "sandboxID"), *tpl = jstr(s, "templateID");
    const char *state = jstr(s, "state"), *addr = jstr(s, "address");
    char started[40], end[40], cpu[24], mem[24], now[24], tmo[24];
    const char *argv[64];
    size_t lens[64];
    int argc = 0, have;
    int64_t started_ms = 0;
    struct row row;
    json_t *live = NULL, *v, *lc = json_object_get(s, "lifecycle");
    const char *k;
    redisReply *r, *t = NULL;

    if (!id || !cube_id_valid(id, 63) || !addr || !state || !tpl)
        return 0;
    have = load_row(db, id, &row);
    if (have < 0)
        return -1;
    if (have && row.state && strcmp(row.state, "killed") == 0) {
        /* Recorded as killed: its worker is destroying it; never resurrect it. */
        mysql_free_result(row.res);
        return 0;
    }
    if (have && row.template_id)
        tpl = row.template_id;
    t = redisCommand(rc, "HMGET cube:template:%s alias disk_mb envd_version", tpl);
    if (!have || !row.started_ms || (started_ms = num(row.started_ms, 0)) == 0)
        (void)cube_rfc3339_parse(jstr(s, "startedAt") ? jstr(s, "startedAt") : "",
                                 &started_ms);
    if (started_ms <= 0)
        started_ms = now_ms;
    cube_rfc3339_ms(started_ms, started, sizeof(started));
    cube_rfc3339_ms(have && row.end_ms && num(row.end_ms, 0) > 0
                        ? num(row.end_ms, 0)
                        : now_ms + REBUILD_DEFAULT_TIMEOUT_MS,
                    end, sizeof(end));
    (void)snprintf(cpu, sizeof(cpu), "%lld",
                   (long long)json_integer_value(json_object_get(s, "cpuCount")));
    (void)snprintf(mem, sizeof(mem), "%lld",
                   (long long)json_integer_value(json_object_get(s, "memoryMB")));
    (void)snprintf(now, sizeof(now), "%lld", (long long)now_ms);

#define KV(a, b)                                                                         \
    do {                                                                                 \
        argv[argc++] = (a);                                                              \
        argv[argc++] = (b);                                                              \
    } while (0)
    argv[argc++] = "HSET";
    argv[argc++] = NULL; /* key, below */
    KV("id", id);
    KV("template_id", tpl);
    KV("node", node);
    KV("addr", addr);
    KV("state", state);
    KV("started_at", started);
    KV("end_at", end);
    KV("client_id", node);
    KV("metadata", have && row.metadata ? row.metadata : "{}");
    KV("cpu", cpu);
    KV("mem_mb", mem);
    KV("auto_pause", "0");
    KV("auto_resume", "0");
    if (have && row.alias)
        KV("alias", row.alias);
    else if (t && t->type == REDIS_REPLY_ARRAY &&
             t->element[0]->type == REDIS_REPLY_STRING)
        KV("alias", t->element[0]->str);
    if (t && t->type == REDIS_REPLY_ARRAY && t->element[1]->type == REDIS_REPLY_STRING)
        KV("disk_mb", t->element[1]->str);
    if (t && t->type == REDIS_REPLY_ARRAY && t->element[2]->type == REDIS_REPLY_STRING)
        KV("envd_version", t->element[2]->str);
    /* The worker keeps what the gateway decided at create: it stands in for the
     * MariaDB row when the "created" event was lost with Redis. */
    if (!have && json_is_object(lc)) {
        json_int_t tmo_s = json_integer_value(json_object_get(lc, "timeout"));
        json_int_t end_ms = json_integer_value(json_object_get(lc, "endAtMs"));

        KV("auto_pause", json_is_true(json_object_get(lc, "autoPause")) ? "1" : "0");
        KV("auto_resume", json_is_true(json_object_get(lc, "autoResume")) ? "1" : "0");
        if (json_is_true(json_object_get(lc, "privateTraffic")))
            KV("traffic_token", "1");
        if (tmo_s > 0) {
            (void)snprintf(tmo, sizeof(tmo), "%lld", (long long)tmo_s);
            KV("timeout_s", tmo);
        }
        if (end_ms > 0) /* end_at above points at this buffer */
            cube_rfc3339_ms(end_ms, end, sizeof(end));
    }
    /* The create request's fields, as recorded: they override the fallbacks above. */
    if (have && row.live)
        live = json_loads(row.live, 0, NULL);
    json_object_foreach(live, k, v)
    {
        if (json_is_string(v) && argc + 2 < 62)
            KV(k, json_string_value(v));
    }
    KV("rebuilt_ms", now);
#undef KV
    char key[96];
    (void)snprintf(key, sizeof(key), "cube:sb:%s", id);
    argv[1] = key;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    r = redisCommandArgv(rc, argc, argv, lens);
    int ok = reply_ok(r);
    run(rc, r);
    if (ok && have == 0) {
        int64_t end_ms = 0;
        (void)cube_rfc3339_parse(end, &end_ms);
        record_lost_create(db, id, tpl,
                           t && t->type == REDIS_REPLY_ARRAY &&
                                   t->element[0]->type == REDIS_REPLY_STRING
                               ? t->element[0]->str
                               : "",
                           node, state, started_ms, end_ms, lc);
    }
    run(rc, t);
    json_decref(live);
    if (have >= 0 && row.res)
        mysql_free_result(row.res);
    if (!ok)
        return -1;
    run(rc, redisCommand(rc, "ZADD cube:sandboxes %lld %s", (long long)started_ms, id));
    run(rc, redisCommand(rc, "SADD cube:node:%s:sandboxes %s", node, id));
    log_info("rebuilt the live record of sandbox %s (%s on node %s)", id, state, node);
    return 1;
}

/* Records the live view holds for a node's sandboxes that its worker no longer runs. */
static int drop_stale(redisContext *rc, struct node_view *nodes, size_t nn,
                      int64_t now_ms)
{
    redisReply *ids = redisCommand(rc, "ZRANGE cube:sandboxes 0 -1");
    int dropped = 0;

    if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
        run(rc, ids);
        return -1;
    }
    for (size_t i = 0; i < ids->elements; i++) {
        const char *id = ids->element[i]->str;
        redisReply *r;
        int64_t started = 0;

        if (ids->element[i]->type != REDIS_REPLY_STRING || !cube_id_valid(id, 63))
            continue;
        r = redisCommand(rc, "HMGET cube:sb:%s node started_at rebuilt_ms", id);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING) {
            const char *node = r->element[0]->str;
            int recent = r->element[1]->type != REDIS_REPLY_STRING ||
                         cube_rfc3339_parse(r->element[1]->str, &started) != 0 ||
                         started > now_ms - REBUILD_GRACE_MS;
            int rebuilt = r->element[2]->type == REDIS_REPLY_STRING;
            for (size_t n = 0; n < nn; n++) {
                if (strcmp(nodes[n].id, node) != 0 || listed(&nodes[n], id))
                    continue;
                if (recent && !rebuilt)
                    break;
                run(rc, redisCommand(rc, "DEL cube:sb:%s", id));
                run(rc, redisCommand(rc, "ZREM cube:sandboxes %s", id));
                run(rc, redisCommand(rc, "SREM cube:node:%s:sandboxes %s", node, id));
                events_emit(rc, "killed", id, "gone", node);
                log_info("sandbox %s is no longer run by node %s: record dropped", id,
                         node);
                dropped++;
                break;
            }
        }
        run(rc, r);
    }
    freeReplyObject(ids);
    return dropped;
}

/* Close durable rows of sandboxes their (healthy) node no longer runs. */
static void close_gone_rows(MYSQL *db, struct node_view *nodes, size_t nn)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    char sql[512];

    for (size_t n = 0; n < nn; n++) {
        if (!cube_id_valid(nodes[n].id, 63))
            continue;
        (void)snprintf(
            sql, sizeof(sql),
            "SELECT sandbox_id FROM sandboxes WHERE state <> 'killed' AND node_id='%s'"
            " AND started_at < NOW(3) - INTERVAL %d SECOND",
            nodes[n].id, (int)(REBUILD_GRACE_MS / 1000));
        if (db_exec(db, sql) != 0 || (res = mysql_store_result(db)) == NULL)
            continue;
        while ((row = mysql_fetch_row(res)) != NULL) {
            if (!cube_id_valid(row[0], 63) || listed(&nodes[n], row[0]))
                continue;
            (void)snprintf(
                sql, sizeof(sql),
                "UPDATE sandboxes SET state='killed', ended_at=NOW(3), end_reason='gone'"
                " WHERE sandbox_id='%s' AND state <> 'killed'",
                row[0]);
            db_exec(db, sql);
        }
        mysql_free_result(res);
    }
}

/* The worker started it within REBUILD_CREATE_GRACE_MS: its create may still be on its
 * way through the gateway, which records it next. */
static int just_started(json_t *s, int64_t now_ms)
{
    int64_t started;
    const char *at = jstr(s, "startedAt");

    return at && cube_rfc3339_parse(at, &started) == 0 &&
           started > now_ms - REBUILD_CREATE_GRACE_MS;
}

int rebuild_sweep(MYSQL *db, redisContext *rc, int64_t now_ms)
{
    struct node_view *nodes = calloc(MAX_NODES, sizeof(*nodes));
    size_t nn, i, j;
    int changed = 0, d;
    json_t *s;

    if (nodes == NULL)
        return -1;
    nn = collect_nodes(rc, nodes, MAX_NODES);
    for (i = 0; i < nn; i++) {
        json_array_foreach(nodes[i].list, j, s)
        {
            const char *id = jstr(s, "sandboxID"), *state = jstr(s, "state");
            redisReply *r;

            if (!id || !state || !cube_id_valid(id, 63) ||
                (strcmp(state, "running") != 0 && strcmp(state, "paused") != 0))
                continue;
            r = redisCommand(
                rc, "EVAL %s 2 cube:sb:%s cube:sandboxes %s %s %lld",
                /* 1: the gateway's record is whole and indexed; 2: it was
                 * rebuilt lately and the worker's state is written back
                 * (a reconnecting worker marks every sandbox running). */
                "local f = redis.call('HMGET', KEYS[1], 'template_id',"
                " 'started_at', 'rebuilt_ms', 'state') "
                "if not f[1] or not f[2] or not redis.call('ZSCORE', KEYS[2],"
                " ARGV[1]) then return 0 end "
                "if f[3] and tonumber(ARGV[3]) - tonumber(f[3]) < 10000 and"
                " f[4] ~= ARGV[2] then redis.call('HSET', KEYS[1], 'state',"
                " ARGV[2]) return 2 end return 1",
                id, id, state, (long long)now_ms);
            if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
                run(rc, r);
                changed = -1;
                break;
            }
            if (r->integer == 0 && changed >= 0 && !just_started(s, now_ms)) {
                int one = rebuild_one(db, rc, nodes[i].id, s, now_ms);
                if (one < 0)
                    changed = -1;
                else
                    changed += one;
            }
            freeReplyObject(r);
        }
    }
    if (changed >= 0 && nn > 0) {
        d = drop_stale(rc, nodes, nn, now_ms);
        changed = d < 0 ? -1 : changed + d;
        close_gone_rows(db, nodes, nn);
    }
    for (i = 0; i < nn; i++)
        json_decref(nodes[i].list);
    free(nodes);
    return changed;
}

/* ---------------------------------------------------------------- templates */

struct tkey {
    char *key;
    redisReply *value; /* HGETALL (hash) or SMEMBERS (the :nodes set) */
    int is_set;
};

static struct tkey *cache;
static size_t ncache;

static void cache_clear(void)
{
    for (size_t i = 0; i < ncache; i++) {
        free(cache[i].key);
        freeReplyObject(cache[i].value);
    }
    free(cache);
    cache = NULL;
    ncache = 0;
}

static void restore(redisContext *rc)
{
    for (size_t i = 0; i < ncache; i++) {
        redisReply *v = cache[i].value;
        const char *argv[130];
        size_t lens[130];
        int argc = 0;

        argv[argc++] = cache[i].is_set ? "SADD" : "HSET";
        argv[argc++] = cache[i].key;
        for (size_t e = 0; e < v->elements && argc < 130; e++)
            argv[argc++] = v->element[e]->str;
        for (int a = 0; a < argc; a++)
            lens[a] = strlen(argv[a]);
        if (argc > 2)
            run(rc, redisCommandArgv(rc, argc, argv, lens));
    }
    log_info("redis lost the template records: %zu restored", ncache);
}

int rebuild_templates(redisContext *rc)
{
    unsigned long long cursor = 0;
    struct tkey *next = NULL;
    size_t nnext = 0;

    do {
        redisReply *r =
            redisCommand(rc, "SCAN %llu MATCH cube:template:* COUNT 200", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            run(rc, r);
            goto fail;
        }
        cursor = strtoull(r->element[0]->str, NULL, 10);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *key = r->element[1]->element[i]->str;
            size_t kl = strlen(key);
            int is_set = kl > 6 && strcmp(key + kl - 6, ":nodes") == 0;
            redisReply *v = redisCommand(rc, is_set ? "SMEMBERS %s" : "HGETALL %s", key);
            struct tkey *tmp;

            if (v == NULL || v->type != REDIS_REPLY_ARRAY || v->elements > 128) {
                run(rc, v);
                continue;
            }
            tmp = realloc(next, (nnext + 1) * sizeof(*next));
            if (tmp == NULL) {
                freeReplyObject(v);
                freeReplyObject(r);
                goto fail;
            }
            next = tmp;
            next[nnext].key = strdup(key);
            next[nnext].value = v;
            next[nnext].is_set = is_set;
            if (next[nnext].key == NULL) {
                freeReplyObject(v);
                freeReplyObject(r);
                goto fail;
            }
            nnext++;
        }
        freeReplyObject(r);
    } while (cursor != 0);
    if (nnext == 0) {
        if (ncache > 0)
            restore(rc);
        return (int)ncache;
    }
    cache_clear();
    cache = next;
    ncache = nnext;
    return 0;
fail:
    for (size_t i = 0; i < nnext; i++) {
        free(next[i].key);
        freeReplyObject(next[i].value);
    }
    free(next);
    return -1;
}
