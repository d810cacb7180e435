/* The E2B API's timeout and connect (POST /sandboxes/{id}/timeout, connect v1/v2):
 * extend-only end times, and connect resuming a paused sandbox under the same id and
 * token.
 *
 * The record's timeout_s (set at create, replaced by set-timeout, added by a connect to
 * records that lack it) is the idle window of an auto-pause sandbox: cube-scheduler
 * moves its end time to last routed activity + timeout_s instead of pausing it. */
#include "ngx_cube_op.h"
#include "ngx_cube_shm.h"

#include "cube_time.h"

/* Set end_at and timeout_s of cube:sb:<id> only while the record exists (a concurrent
 * kill must not leave a half record behind); ARGV = {end_at, timeout_s, "set" or
 * "keep" (only when missing)}. Returns 1 / 0. */
static const char ngx_cube_set_end[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "redis.call('HSET', KEYS[1], 'end_at', ARGV[1]) "
    "if ARGV[3] == 'set' then redis.call('HSET', KEYS[1], 'timeout_s', ARGV[2]) "
    "else redis.call('HSETNX', KEYS[1], 'timeout_s', ARGV[2]) end "
    "return 1";

static void step_timeout_set(ngx_cube_op_t *op, redisReply *reply)
{
    if (!op_updated(op, reply)) {
        return;
    }
    op_event(op, "timeout", op->m.id, "api", NULL); /* the new end time, for records */
    op_respond(op, NGX_HTTP_NO_CONTENT, "", 0);
}

static ngx_int_t op_set_end_at(ngx_cube_op_t *op, ngx_cube_step_pt step, int set_timeout)
{
    const char *argv[7];
    char t[24];

    ngx_snprintf((u_char *)t, sizeof(t), "%L%Z", (int64_t)op->timeout);
    argv[0] = "EVAL";
    argv[1] = ngx_cube_set_end;
    argv[2] = "1";
    argv[3] = op_key(op, "cube:sb:", op->m.id, "");
    argv[4] = op->end_at;
    argv[5] = t;
    argv[6] = set_timeout ? "set" : "keep";
    if (argv[3] == NULL) {
        return NGX_ERROR;
    }
    return op_redis(op, step, 7, argv);
}

void op_start_timeout(ngx_cube_op_t *op)
{
    char err[256];
    int rc;

    rc = cube_timeout_body_parse(op->body, op->body_len, 1, 0, &op->timeout, err,
                                 sizeof(err));
    if (rc != 0) {
        op_error(op, (ngx_uint_t)rc, err);
        return;
    }
    cube_rfc3339_ms(cube_now_ms() + op->timeout * 1000, op->end_at, sizeof(op->end_at));
    if (op_set_end_at(op, step_timeout_set, 1) != NGX_OK) {
        op_redis_down(op);
    }
}

static void op_connect_respond(ngx_cube_op_t *op)
{
    op_connect_respond_status(op, NGX_HTTP_OK);
}

void op_connect_respond_status(ngx_cube_op_t *op, ngx_uint_t status)
{
    char token[CUBE_SHA256_HEX_LEN + 1], traffic[CUBE_SHA256_HEX_LEN + 1];
    int private_traffic =
        op->rec.traffic_token && ngx_strcmp(op->rec.traffic_token, "1") == 0;
    char *s;

    if (op->resuming && op->resume_t0_us) {
        ngx_cube_resume_observe(NGX_CUBE_RESUME_CONNECT,
                                ngx_cube_mono_us() - op->resume_t0_us);
        op->resume_t0_us = 0;
    }
    if (ngx_cube_envd_token(op->mcf, op->m.id, token) != NGX_OK ||
        (private_traffic &&
         ngx_cube_traffic_token(op->mcf, op->m.id, traffic) != NGX_OK)) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "token generation failed");
        return;
    }
    s = cube_json_sandbox_ex(
        op->m.id, op->rec.template_id ? op->rec.template_id : "", op->rec.alias,
        op->rec.client_id ? op->rec.client_id : op->rec.node, op->rec.envd_version, token,
        private_traffic ? traffic : NULL);
    if (s == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    op_respond(op, status, s, ngx_strlen(s));
    free(s);
}

static void step_connect_extend(ngx_cube_op_t *op, redisReply *reply)
{
    if (!op_updated(op, reply)) {
        return;
    }
    op_event(op, "timeout", op->m.id, "connect", NULL);
    op_connect_respond(op);
}

static void step_connect_lookup(ngx_cube_op_t *op, redisReply *reply)
{
    int64_t cur = 0, want;
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
    cube_sb_record_from_pairs((const char *const *)op->rec_kv, n, &op->rec);
    if (op->rec.state && ngx_strcmp(op->rec.state, "paused") == 0) {
        /* Connect resumes: same id, same token, processes and memory kept. */
        op->resuming = 1;
        op->resume_t0_us = ngx_cube_mono_us();
        op_start_action(op, "/resume");
        return;
    }
    if (op->m.route == CUBE_ROUTE_RESUME) {
        op_error(op, NGX_HTTP_CONFLICT, "Sandbox is already running");
        return;
    }
    if (op->rec.state && *op->rec.state && ngx_strcmp(op->rec.state, "running") != 0) {
        op_error(op, NGX_HTTP_CONFLICT,
                 "The sandbox is still transitioning. Try again in a moment.");
        return;
    }
    /* The end time is extended, never shortened. */
    want = cube_now_ms() + op->timeout * 1000;
    if (op->rec.end_at && cube_rfc3339_parse(op->rec.end_at, &cur) == 0 && cur >= want) {
        op_connect_respond(op);
        return;
    }
    cube_rfc3339_ms(want, op->end_at, sizeof(op->end_at));
    if (op_set_end_at(op, step_connect_extend, 0) != NGX_OK) {
        op_redis_down(op);
    }
}

void op_start_connect(ngx_cube_op_t *op)
{
    char err[256];
    const char *argv[2];
    int rc;

    rc = cube_timeout_body_parse(
        op->body, op->body_len, op->m.route == CUBE_ROUTE_CONNECT_V1,
        op->mcf->default_timeout, &op->timeout, err, sizeof(err));
    if (rc != 0) {
        op_error(op, (ngx_uint_t)rc, err);
        return;
    }
    argv[0] = "HGETALL";
    argv[1] = op_key(op, "cube:sb:", op->m.id, "");
    if (argv[1] == NULL || op_redis(op, step_connect_lookup, 2, argv) != NGX_OK) {
        op_redis_down(op);
    }
}
