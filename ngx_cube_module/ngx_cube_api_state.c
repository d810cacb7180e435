/* The E2B API's pause / resume (POST /sandboxes/{id}/pause, resume via connect and the
 * deprecated /resume) and metrics (GET /sandboxes/{id}/metrics) operations. See
 * ngx_cube_api.c for how an op runs. */
#include "ngx_cube_op.h"
#include "ngx_cube_shm.h"

#include "cube_hash.h"
#include "cube_id.h"
#include "cube_time.h"

#include <stdlib.h>

/* ================================================================ pause + resume */

/* Set several fields of cube:sb:<id> only while the record exists. 1 / 0. */
static const char ngx_cube_hset_if_exists[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "redis.call('HSET', KEYS[1], unpack(ARGV)) return 1 end return 0";

static void step_action_recorded(ngx_cube_op_t *op, redisReply *reply)
{
    if (!op_updated(op, reply)) {
        return;
    }
    if (op->resuming) {
        op_event(op, "resumed", op->m.id, "api", NULL);
        op_connect_respond_status(op, NGX_HTTP_CREATED);
    } else {
        op_event(op, "paused", op->m.id, "api", NULL);
        op_respond(op, NGX_HTTP_NO_CONTENT, "", 0);
    }
}

static void step_action_worker(ngx_cube_op_t *op, ngx_int_t rc, ngx_uint_t status,
                               u_char *body, size_t len)
{
    char msg[512];
    const char *argv[10];
    int argc = 0;

    if (rc != NGX_CUBE_WORKER_OK) {
        op_worker_failed(op, rc);
        return;
    }
    if (status == NGX_HTTP_NOT_FOUND) {
        op_not_found(op);
        return;
    }
    if (status != NGX_HTTP_OK) {
        cube_worker_error_message((const char *) body, len, (int) status, msg, sizeof(msg));
        op_error(op, (status >= 400 && status <= 599) ? status : NGX_HTTP_BAD_GATEWAY, msg);
        return;
    }
    if (!op->resuming) {
        ngx_cube_route_cache_drop((u_char *) op->m.id, ngx_strlen(op->m.id));
    }
    argv[argc++] = "EVAL";
    argv[argc++] = ngx_cube_hset_if_exists;
    argv[argc++] = "1";
    argv[argc++] = op_key(op, "cube:sb:", op->m.id, "");
    argv[argc++] = "state";
    argv[argc++] = op->resuming ? "running" : "paused";
    if (op->resuming) {
        /* A resumed sandbox lives `timeout` from now (paused time does not count). */
        cube_rfc3339_ms(cube_now_ms() + op->timeout * 1000, op->end_at, sizeof(op->end_at));
        argv[argc++] = "end_at";
        argv[argc++] = op->end_at;
    }
    if (argv[3] == NULL || op_redis(op, step_action_recorded, argc, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* op->rec holds the record: ask its node's worker to pause or resume it. */
void op_start_action(ngx_cube_op_t *op, const char *action)
{
    ngx_int_t rc;
    char *path;

    if (op->rec.node == NULL || *op->rec.node == '\0'
        || ngx_strlen(op->rec.node) >= sizeof(op->node))
    {
        op_not_found(op);
        return;
    }
    ngx_cpystrn((u_char *) op->node, (u_char *) op->rec.node, sizeof(op->node));
    path = op_key(op, "/sandboxes/", op->m.id, action);
    if (path == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    rc = op_node_worker(op, step_action_worker, "POST", path);
    if (rc != NGX_OK) {
        op_worker_failed(op, rc == NGX_DECLINED ? NGX_CUBE_WORKER_EREDIS
                                                : NGX_CUBE_WORKER_ECONNECT);
    }
}

static void step_pause_lookup(ngx_cube_op_t *op, redisReply *reply)
{
    char msg[160];
    size_t n;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    op->rec_kv = op_copy_pairs(op, reply, &n);
    if (op->rec_kv == NULL || n == 0) {
        op_not_found(op);
        return;
    }
    cube_sb_record_from_pairs((const char *const *) op->rec_kv, n, &op->rec);
    if (op->rec.state && ngx_strcmp(op->rec.state, "paused") == 0) {
        ngx_snprintf((u_char *) msg, sizeof(msg),
                     "Error pausing sandbox - sandbox '%s' is already paused%Z", op->m.id);
        op_error(op, NGX_HTTP_CONFLICT, msg);
        return;
    }
    if (op->rec.state && *op->rec.state && ngx_strcmp(op->rec.state, "running") != 0) {
        op_error(op, NGX_HTTP_CONFLICT,
                 "The sandbox is still transitioning. Try again in a moment.");
        return;
    }
    op_start_action(op, "/pause");
}

void op_start_pause(ngx_cube_op_t *op)
{
    const char *argv[2];

    argv[0] = "HGETALL";
    argv[1] = op_key(op, "cube:sb:", op->m.id, "");
    if (argv[1] == NULL || op_redis(op, step_pause_lookup, 2, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* ================================================================ refreshes */

static void step_refresh_set(ngx_cube_op_t *op, redisReply *reply)
{
    if (!op_updated(op, reply)) {
        return;
    }
    op_event(op, "timeout", op->m.id, "refresh", NULL);
    op_respond(op, NGX_HTTP_NO_CONTENT, "", 0);
}

static void step_refresh_lookup(ngx_cube_op_t *op, redisReply *reply)
{
    const char *argv[6], *end = reply_str(reply);
    int64_t cur = 0, want = cube_now_ms() + op->timeout * 1000;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (end == NULL) {
        op_not_found(op);
        return;
    }
    /* Extend only: a later end time stays. */
    if (cube_rfc3339_parse(end, &cur) == 0 && cur >= want) {
        op_respond(op, NGX_HTTP_NO_CONTENT, "", 0);
        return;
    }
    cube_rfc3339_ms(want, op->end_at, sizeof(op->end_at));
    argv[0] = "EVAL";
    argv[1] = ngx_cube_hset_if_exists;
    argv[2] = "1";
    argv[3] = op_key(op, "cube:sb:", op->m.id, "");
    argv[4] = "end_at";
    argv[5] = op->end_at;
    if (argv[3] == NULL || op_redis(op, step_refresh_set, 6, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* POST /sandboxes/{id}/refreshes {"duration":N}: end = max(end, now + N), N >= 15. */
void op_start_refresh(ngx_cube_op_t *op)
{
    char err[128];
    const char *argv[3];
    int rc;

    rc = cube_refresh_body_parse(op->body, op->body_len, &op->timeout, err, sizeof(err));
    if (rc != 0) {
        op_error(op, (ngx_uint_t) rc, err);
        return;
    }
    argv[0] = "HGET";
    argv[1] = op_key(op, "cube:sb:", op->m.id, "");
    argv[2] = "end_at";
    if (argv[1] == NULL || op_redis(op, step_refresh_lookup, 3, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* ================================================================ metrics */

/* nil when the sandbox is unknown, else its samples (newest first). */
static const char ngx_cube_metrics_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end "
    "return redis.call('LRANGE', KEYS[2], 0, -1)";

static void step_metrics(ngx_cube_op_t *op, redisReply *reply)
{
    const char **samples;
    char *s;
    size_t i;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        op_not_found(op);
        return;
    }
    samples = ngx_palloc(op->pool, (reply->elements + 1) * sizeof(char *));
    if (samples == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    for (i = 0; i < reply->elements; i++) {
        samples[i] = reply->element[i]->type == REDIS_REPLY_STRING ? reply->element[i]->str
                                                                   : "{}";
    }
    s = cube_metrics_filter(samples, reply->elements, op->q_start, op->q_end);
    if (s == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    op_respond(op, NGX_HTTP_OK, s, ngx_strlen(s));
    free(s);
}

void op_start_metrics(ngx_cube_op_t *op)
{
    char err[128];
    const char *argv[5];
    ngx_http_request_t *r = op->r;
    int rc;

    rc = cube_metrics_query_parse(r ? (const char *) r->args.data : "", r ? r->args.len : 0,
                                  &op->q_start, &op->q_end, err, sizeof(err));
    if (rc != 0) {
        op_error(op, (ngx_uint_t) rc, err);
        return;
    }
    argv[0] = "EVAL";
    argv[1] = ngx_cube_metrics_script;
    argv[2] = "2";
    argv[3] = op_key(op, "cube:sb:", op->m.id, "");
    argv[4] = op_key(op, "cube:metrics:", op->m.id, "");
    if (argv[3] == NULL || argv[4] == NULL
        || op_redis(op, step_metrics, 5, argv) != NGX_OK)
    {
        op_redis_down(op);
    }
}
