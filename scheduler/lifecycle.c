/* Sandbox end times (endAt): kill at the end, or, for a sandbox created with autoPause,
 * pause it once its routed traffic has been idle for its timeout.
 *
 * Auto-pause: the gateway's router records routed activity in nginx shared memory and
 * writes it as last_activity_ms of cube:sb:<id> about once a second (batched, never per
 * request; an open stream counts as activity). When such a sandbox reaches end_at and
 * last_activity_ms + timeout_s is still ahead, end_at moves there (a `timeout` event
 * with reason `activity` carries it to MariaDB) instead of pausing; the API shows the
 * moved endAt. Without autoPause the timeout stays a hard lifetime (E2B). */
#include "lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_id.h"
#include "cube_log.h"
#include "cube_time.h"
#include "events.h"
#include "lifecycle_rule.h"
#include "worker_client.h"

static void drop_records(redisContext *rc, const char *id, const char *node)
{
    redisReply *r;

    /* The worker drops these too when it destroys a sandbox; doing it here as well
     * keeps the live view right when the record was stale (worker lost it). */
    redisAppendCommand(rc, "DEL cube:sb:%s", id);
    redisAppendCommand(rc, "ZREM cube:sandboxes %s", id);
    if (node && *node)
        redisAppendCommand(rc, "SREM cube:node:%s:sandboxes %s", node, id);
    for (int i = 0; i < (node && *node ? 3 : 2); i++)
        if (redisGetReply(rc, (void **)&r) == REDIS_OK)
            freeReplyObject(r);
}

/* Timeout of a sandbox created with autoPause: pause it instead of killing it. */
static void pause_sandbox(redisContext *rc, const char *id, const char *node,
                          const char *addr)
{
    long status = worker_call(addr, "POST", id, "/pause");
    redisReply *r;

    if (status != 200 && status != 409) {
        log_warn("sandbox %s reached its end (auto-pause), worker answered %ld; retrying",
                 id, status);
        return;
    }
    r = redisCommand(
        rc, "EVAL %s 1 cube:sb:%s",
        "if redis.call('EXISTS', KEYS[1]) == 1 then "
        "redis.call('HSET', KEYS[1], 'state', 'paused') return 1 end return 0",
        id);
    if (r)
        freeReplyObject(r);
    events_emit(rc, "paused", id, "timeout", node);
    log_info("sandbox %s reached its end (timeout): paused (autoPause)", id);
}

struct expired {
    char id[64];
    char node[64];
    char end_at[40];
    enum lc_action action;
    int64_t new_end_ms; /* LC_EXTEND: last routed activity + timeout */
};

/* end_at -> idle_end_ms, unless it changed since the sweep read it (set-timeout,
 * connect). */
static void extend_sandbox(redisContext *rc, const struct expired *e)
{
    const char *id = e->id, *node = e->node, *old_end = e->end_at;
    char end_at[32];
    redisReply *r;

    cube_rfc3339_ms(e->new_end_ms, end_at, sizeof(end_at));
    r = redisCommand(
        rc, "EVAL %s 1 cube:sb:%s %s %s",
        "if redis.call('HGET', KEYS[1], 'end_at') == ARGV[1] then "
        "redis.call('HSET', KEYS[1], 'end_at', ARGV[2]) return 1 end return 0",
        id, old_end, end_at);
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        events_emit_end(rc, "timeout", id, "activity", node, end_at);
        log_info("sandbox %s had routed traffic: end moved to %s (autoPause)", id,
                 end_at);
    }
    if (r)
        freeReplyObject(r);
}

static void end_sandbox(redisContext *rc, const char *id, const char *node,
                        int auto_pause)
{
    redisReply *a = redisCommand(rc, "HGET cube:node:%s addr", node);
    long status;

    if (a == NULL || a->type != REDIS_REPLY_STRING) {
        log_warn("sandbox %s reached its end, but node %s has no address; retrying", id,
                 node);
        if (a)
            freeReplyObject(a);
        return;
    }
    if (auto_pause) {
        pause_sandbox(rc, id, node, a->str);
        freeReplyObject(a);
        return;
    }
    status = worker_call(a->str, "DELETE", id, "");
    freeReplyObject(a);
    if (status == 204 || status == 200 || status == 404) {
        drop_records(rc, id, node);
        events_emit(rc, "killed", id, "timeout", node);
        log_info("sandbox %s reached its end (timeout): killed", id);
    } else {
        log_warn("sandbox %s reached its end, worker on %s answered %ld; retrying", id,
                 node, status);
    }
}

static const char *field_str(redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

int lifecycle_sweep(redisContext *rc, int64_t now_ms)
{
    redisReply *ids = redisCommand(rc, "ZRANGE cube:sandboxes 0 -1");
    struct expired *due = NULL;
    size_t ndue = 0;
    int rc_ = 0;

    if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
        if (ids)
            freeReplyObject(ids);
        return -1;
    }
    if (ids->elements > 0)
        due = calloc(ids->elements, sizeof(*due));
    /* One pipelined round trip for every record's end time; the replies are all read
     * before any other command is sent on this connection. */
    for (size_t i = 0; i < ids->elements; i++)
        redisAppendCommand(
            rc,
            "HMGET cube:sb:%s end_at node state auto_pause last_activity_ms timeout_s",
            ids->element[i]->str);
    for (size_t i = 0; i < ids->elements; i++) {
        const char *id = ids->element[i]->str, *node;
        struct lc_record rec;
        enum lc_action act;
        int64_t new_end;
        redisReply *r = NULL;

        if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
            rc_ = -1;
            break;
        }
        if (due == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
            !cube_id_valid(id, 63)) {
            freeReplyObject(r);
            continue;
        }
        rec.end_at = field_str(r->element[0]);
        node = field_str(r->element[1]);
        rec.state = field_str(r->element[2]);
        rec.auto_pause = field_str(r->element[3]);
        rec.last_activity_ms = field_str(r->element[4]);
        rec.timeout_s = field_str(r->element[5]);
        act = lifecycle_decide(&rec, now_ms, &new_end);
        /* Ending or extending needs the node (its worker) and the end time as read
         * (extend only replaces that one). */
        if (act != LC_NONE &&
            (act == LC_DROP || (node && strlen(node) < sizeof(due[0].node) &&
                                strlen(rec.end_at) < sizeof(due[0].end_at)))) {
            (void)snprintf(due[ndue].id, sizeof(due[ndue].id), "%s", id);
            (void)snprintf(due[ndue].node, sizeof(due[ndue].node), "%s",
                           act == LC_DROP ? "" : node);
            (void)snprintf(due[ndue].end_at, sizeof(due[ndue].end_at), "%s",
                           act == LC_DROP ? "" : rec.end_at);
            due[ndue].action = act;
            due[ndue].new_end_ms = new_end;
            ndue++;
        }
        freeReplyObject(r);
    }
    freeReplyObject(ids);
    for (size_t i = 0; rc_ == 0 && i < ndue; i++) {
        if (due[i].action == LC_EXTEND)
            extend_sandbox(rc, &due[i]);
        else if (due[i].action == LC_DROP)
            drop_records(rc, due[i].id, NULL);
        else
            end_sandbox(rc, due[i].id, due[i].node, due[i].action == LC_PAUSE);
    }
    free(due);
    return rc_ < 0 ? -1 : (int)ndue;
}
