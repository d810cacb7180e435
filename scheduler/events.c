#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_id.h"
#include "cube_log.h"
#include "cube_time.h"
#include "db.h"

#define STREAM "cube:events"
#define GROUP "scheduler"

int events_emit(redisContext *rc, const char *type, const char *id, const char *reason,
                const char *node)
{
    return events_emit_end(rc, type, id, reason, node, NULL);
}

int events_emit_end(redisContext *rc, const char *type, const char *id,
                    const char *reason, const char *node, const char *end_at)
{
    char at[24];
    redisReply *r;

    (void)snprintf(at, sizeof(at), "%lld", (long long)cube_now_ms());
    if (end_at)
        r = redisCommand(rc,
                         "XADD " STREAM
                         " MAXLEN ~ 100000 * type %s id %s at_ms %s reason %s"
                         " node %s end_at %s",
                         type, id, at, reason, node ? node : "", end_at);
    else
        r = redisCommand(rc,
                         "XADD " STREAM
                         " MAXLEN ~ 100000 * type %s id %s at_ms %s reason %s"
                         " node %s",
                         type, id, at, reason, node ? node : "");
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static const char *field(redisReply *kv, const char *name)
{
    for (size_t i = 0; kv && i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(kv->element[i]->str, name) == 0 &&
            kv->element[i + 1]->type == REDIS_REPLY_STRING)
            return kv->element[i + 1]->str;
    return NULL;
}

/* Escape into a quoted SQL literal, or NULL. Returns out. */
static char *sql_str(MYSQL *db, const char *v, size_t max, char *out, size_t outlen)
{
    size_t n;

    if (v == NULL || strlen(v) > max || outlen < 2 * strlen(v) + 3) {
        snprintf(out, outlen, "NULL");
        return out;
    }
    n = strlen(v);
    out[0] = '\'';
    n = mysql_real_escape_string(db, out + 1, v, (unsigned long)n);
    out[n + 1] = '\'';
    out[n + 2] = '\0';
    return out;
}

static int apply(MYSQL *db, const char *stream_id, redisReply *kv)
{
    const char *type = field(kv, "type"), *id = field(kv, "id"), *at = field(kv, "at_ms");
    const char *reason = field(kv, "reason");
    char e_sid[96], e_id[160], e_type[48], e_reason[80], e_tpl[160], e_alias[280],
        e_node[80];
    char *e_md, *e_extra, *sql;
    long long at_ms = at ? strtoll(at, NULL, 10) : cube_now_ms();

    if (at_ms <= 0)
        at_ms = cube_now_ms();
    size_t mdlen;
    int rc = 0;

    if (type == NULL || id == NULL || !cube_id_valid(id, 63))
        return 0; /* malformed: nothing to record, acknowledge it */
    const char *md = field(kv, "metadata");
    const char *extra = field(kv, "extra");
    const char *end_at = field(kv, "end_at");
    const char *timeout_s = field(kv, "timeout_s");
    int64_t end_ms = 0;
    char e_end[48];
    mdlen = md ? strlen(md) : 0;
    if (mdlen > 65000)
        md = NULL, mdlen = 0;
    /* extra shares the metadata's size budget (the network policy is its large part). */
    if (extra && strlen(extra) > 65000)
        extra = NULL;
    if (extra && strlen(extra) > mdlen)
        mdlen = strlen(extra);
    if (end_at && cube_rfc3339_parse(end_at, &end_ms) == 0 && end_ms > 0)
        snprintf(e_end, sizeof(e_end), "FROM_UNIXTIME(%lld / 1000)", (long long)end_ms);
    else
        snprintf(e_end, sizeof(e_end), "NULL");
    e_md = malloc(2 * mdlen + 8);
    e_extra = malloc(2 * mdlen + 8);
    sql = malloc(4 * mdlen + 2048);
    if (e_md == NULL || sql == NULL || e_extra == NULL) {
        free(e_md);
        free(e_extra);
        free(sql);
        return -1;
    }
    sql_str(db, stream_id, 40, e_sid, sizeof(e_sid));
    sql_str(db, id, 64, e_id, sizeof(e_id));
    sql_str(db, type, 16, e_type, sizeof(e_type));
    sql_str(db, reason, 32, e_reason, sizeof(e_reason));
    sql_str(db, field(kv, "template_id"), 64, e_tpl, sizeof(e_tpl));
    sql_str(db, field(kv, "alias"), 128, e_alias, sizeof(e_alias));
    sql_str(db, field(kv, "node"), 32, e_node, sizeof(e_node));
    sql_str(db, md, 65000, e_md, 2 * mdlen + 8);
    sql_str(db, extra, 65000, e_extra, 2 * mdlen + 8);

    if (db_exec(db, "START TRANSACTION") != 0) {
        free(e_md);
        free(e_extra);
        free(sql);
        return -1;
    }
    snprintf(
        sql, 4 * mdlen + 2048,
        "INSERT IGNORE INTO sandbox_events (stream_id, sandbox_id, event, reason, at)"
        " VALUES (%s, %s, %s, %s, FROM_UNIXTIME(%lld / 1000))",
        e_sid, e_id, e_type, e_reason, at_ms);
    rc |= db_exec(db, sql);
    if (strcmp(type, "created") == 0) {
        snprintf(
            sql, 4 * mdlen + 2048,
            "INSERT INTO sandboxes (sandbox_id, template_id, alias, node_id, metadata,"
            " state, started_at, end_at, live_fields) VALUES (%s, %s, %s, %s, %s,"
            " 'running', FROM_UNIXTIME(%lld / 1000), %s, %s)"
            " ON DUPLICATE KEY UPDATE sandbox_id=sandbox_id",
            e_id, e_tpl, e_alias, e_node, e_md, at_ms, e_end, e_extra);
        rc |= db_exec(db, sql);
    } else if (strcmp(type, "killed") == 0) {
        /* A kill may be replayed or arrive for a sandbox created before records
         * existed: insert a minimal row, then close it. */
        snprintf(
            sql, 4 * mdlen + 2048,
            "INSERT INTO sandboxes (sandbox_id, node_id, state, started_at, ended_at,"
            " end_reason) VALUES (%s, %s, 'killed', FROM_UNIXTIME(%lld / 1000),"
            " FROM_UNIXTIME(%lld / 1000), %s) ON DUPLICATE KEY UPDATE"
            " state='killed', ended_at=IFNULL(ended_at, VALUES(ended_at)),"
            " end_reason=IFNULL(end_reason, VALUES(end_reason))",
            e_id, e_node, at_ms, at_ms, e_reason);
        rc |= db_exec(db, sql);
    } else if (strcmp(type, "paused") == 0 || strcmp(type, "resumed") == 0) {
        snprintf(sql, 4 * mdlen + 2048,
                 "UPDATE sandboxes SET state=%s, end_at=IFNULL(%s, end_at)"
                 " WHERE sandbox_id=%s AND state <> 'killed'",
                 strcmp(type, "paused") == 0 ? "'paused'" : "'running'", e_end, e_id);
        rc |= db_exec(db, sql);
    } else if (strcmp(type, "timeout") == 0 && end_ms > 0) {
        /* set-timeout / connect moved the end time; set-timeout also replaced the
         * idle window of an auto-pause sandbox (timeout_s), which a rebuild reads back
         * from live_fields. */
        long long tmo = timeout_s ? strtoll(timeout_s, NULL, 10) : 0;
        char e_live[96] = "live_fields";

        if (tmo > 0)
            snprintf(e_live, sizeof(e_live),
                     "JSON_SET(IFNULL(live_fields, '{}'), '$.timeout_s', '%lld')", tmo);
        snprintf(sql, 4 * mdlen + 2048,
                 "UPDATE sandboxes SET end_at=%s, live_fields=%s WHERE sandbox_id=%s AND "
                 "state <> 'killed'",
                 e_end, e_live, e_id);
        rc |= db_exec(db, sql);
    }
    rc |= db_exec(db, rc == 0 ? "COMMIT" : "ROLLBACK");
    free(e_md);
    free(e_extra);
    free(sql);
    return rc == 0 ? 1 : -1;
}

static int ensure_group(redisContext *rc)
{
    /* From the stream's start, so events written before the first scheduler ran are
     * recorded too. BUSYGROUP means it exists. */
    redisReply *r = redisCommand(rc, "XGROUP CREATE " STREAM " " GROUP " 0 MKSTREAM");
    int ok = r && (r->type != REDIS_REPLY_ERROR || strstr(r->str, "BUSYGROUP"));
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Read with `from` = "0" (this consumer's unacknowledged entries, after a restart)
 * or ">" (new ones). */
static int consume_from(MYSQL *db, redisContext *rc, const char *from)
{
    redisReply *r = redisCommand(
        rc, "XREADGROUP GROUP " GROUP " scheduler COUNT 500 STREAMS " STREAM " %s", from);
    int written = 0;

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        int nogroup = strstr(r->str, "NOGROUP") != NULL;
        freeReplyObject(r);
        return nogroup ? ensure_group(rc) : -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        freeReplyObject(r);
        return 0;
    }
    redisReply *entries = r->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        const char *sid = e->element[0]->str;
        int a = apply(db, sid, e->element[1]);
        if (a < 0) {
            log_warn("event %s not recorded yet (mariadb); will retry", sid);
            break;
        }
        redisReply *ack = redisCommand(rc, "XACK " STREAM " " GROUP " %s", sid);
        if (ack)
            freeReplyObject(ack);
        written += a;
    }
    freeReplyObject(r);
    return written;
}

int events_consume(MYSQL *db, redisContext *rc)
{
    static int replayed;
    int n = 0, m;

    if (!replayed) {
        if (ensure_group(rc) != 0)
            return -1;
        m = consume_from(db, rc, "0");
        if (m < 0)
            return -1;
        n += m;
        replayed = 1;
    }
    m = consume_from(db, rc, ">");
    return m < 0 ? -1 : n + m;
}
