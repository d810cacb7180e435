/* The E2B REST API (content handler of `cube_api`).
 *
 * Each API request runs as an "op": a small state machine whose memory (its own pool)
 * is independent of the request. Redis replies and worker answers are delivered to the
 * op, never to the request directly. A cleanup on the request pool clears op->r when
 * nginx frees the request (client gone, worker shutting down, ...); from then on the
 * op still finishes what must be finished (recording a sandbox the worker has created,
 * undoing a placement) but sends nothing. The op is freed when the request is gone and
 * nothing is pending, whichever happens last. Nothing here blocks: Redis goes through
 * ngx_cube_redis.c (hiredis async on the event loop) and workers through
 * ngx_cube_worker.c.
 *
 * The pure parts (route matching, ids, body parsing, JSON documents) live in cube_gw.c. */
#include "ngx_cube_module.h"
#include "cube_gw.h"
#include "ngx_cube_op.h"
#include "ngx_cube_shm.h"

#include "cube_hash.h"
#include "cube_id.h"
#include "cube_time.h"

#include <stdlib.h>

#define CT_JSON "application/json"



/* ================================================================ shared helpers */

ngx_int_t ngx_cube_send_json(ngx_http_request_t *r, ngx_uint_t status, const char *ctype,
                             const char *body, size_t len)
{
    ngx_buf_t *b;
    ngx_chain_t out;
    ngx_int_t rc;

    r->headers_out.status = status;
    if (status == NGX_HTTP_NO_CONTENT) {
        r->header_only = 1;
        ngx_http_clear_content_length(r);
        r->headers_out.content_length_n = -1;
        return ngx_http_send_header(r);
    }
    r->headers_out.content_type.len = ngx_strlen(ctype);
    r->headers_out.content_type.data = (u_char *) ctype;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = (off_t) len;
    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }
    /* Nothing the API sends may be cached by a browser or a proxy. */
    r->allow_ranges = 0;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        return NGX_ERROR;
    }
    b->last = ngx_cpymem(b->pos, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    out.buf = b;
    out.next = NULL;
    return ngx_http_output_filter(r, &out);
}

ngx_table_elt_t *ngx_cube_find_header(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_list_part_t *part = &r->headers_in.headers.part;
    ngx_table_elt_t *h = part->elts;
    ngx_uint_t i;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].key.len == len && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0) {
            return &h[i];
        }
    }
    return NULL;
}

ngx_int_t ngx_cube_envd_token(ngx_cube_main_conf_t *mcf, const char *sandbox_id, char *out)
{
    if (cube_hmac_sha256_hex(mcf->secret.data, mcf->secret.len, sandbox_id,
                             ngx_strlen(sandbox_id), out) != 0) {
        return NGX_ERROR;
    }
    return NGX_OK;
}

ngx_int_t ngx_cube_traffic_token(ngx_cube_main_conf_t *mcf, const char *sandbox_id,
                                 char *out)
{
    char msg[CUBE_GW_ID_MAX + 32];
    size_t n = ngx_strlen(sandbox_id);

    if (n > CUBE_GW_ID_MAX) {
        return NGX_ERROR;
    }
    ngx_memcpy(msg, "sandbox-traffic-", 16);
    ngx_memcpy(msg + 16, sandbox_id, n);
    if (cube_hmac_sha256_hex(mcf->secret.data, mcf->secret.len, msg, 16 + n, out) != 0) {
        return NGX_ERROR;
    }
    return NGX_OK;
}

/* ================================================================ op lifecycle */

ngx_log_t *op_log(ngx_cube_op_t *op)
{
    return op->r ? op->r->connection->log : ngx_cycle->log;
}

static void op_free(ngx_cube_op_t *op)
{
    if (op->create_parsed) {
        cube_create_req_free(&op->create);
    }
    if (op->q_parsed) {
        cube_list_query_free(&op->q);
    }
    ngx_destroy_pool(op->pool);
}

void op_release(ngx_cube_op_t *op)
{
    if (op->r == NULL && op->pending == 0 && op->busy == 0) {
        op_free(op);
    }
}

static void op_request_gone(void *data)
{
    ngx_cube_op_t *op = data;

    op->r = NULL;
    op_release(op);
}

char *op_strdup(ngx_cube_op_t *op, const char *s, size_t len)
{
    char *p = ngx_pnalloc(op->pool, len + 1);
    if (p) {
        ngx_memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void op_respond(ngx_cube_op_t *op, ngx_uint_t status, const char *body, size_t len)
{
    ngx_http_request_t *r = op->r;
    ngx_connection_t *c;
    ngx_int_t rc;

    if (r == NULL || op->responded) {
        return;
    }
    op->responded = 1;
    c = r->connection;
    /* A create answered before its body was read (401, 503): drop the body so the
     * connection can be kept alive. A no-op when the body was read or discarded. */
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
    rc = ngx_cube_send_json(r, status, CT_JSON, body, len);
    ngx_http_finalize_request(r, rc);
    if (op->async) {
        ngx_http_run_posted_requests(c);
    }
}

void op_error(ngx_cube_op_t *op, ngx_uint_t status, const char *msg)
{
    char *s = cube_json_error((int) status, msg);

    if (s == NULL) {
        op_respond(op, NGX_HTTP_INTERNAL_SERVER_ERROR,
                   "{\"code\":500,\"message\":\"out of memory\"}", 38);
        return;
    }
    op_respond(op, status, s, ngx_strlen(s));
    free(s);
}

void op_redis_down(ngx_cube_op_t *op)
{
    op_error(op, NGX_HTTP_SERVICE_UNAVAILABLE, "Service unavailable: state store (Redis) is not reachable");
}

static void op_redis_cb(redisReply *reply, void *data)
{
    ngx_cube_redis_call_t *call = data;
    ngx_cube_op_t *op = call->op;

    op->pending--;
    op->busy++;
    op->async = 1;
    call->step(op, reply);
    op->busy--;
    op_release(op);
}

/* Issue a Redis command (argv strings NUL-terminated). NGX_ERROR: not sent. */
ngx_int_t op_redis(ngx_cube_op_t *op, ngx_cube_step_pt step, int argc,
                          const char **argv)
{
    ngx_cube_redis_call_t *call;
    size_t lens[48];
    int i;

    if (argc > 48) {
        return NGX_ERROR;
    }
    for (i = 0; i < argc; i++) {
        lens[i] = ngx_strlen(argv[i]);
    }
    call = ngx_palloc(op->pool, sizeof(*call));
    if (call == NULL) {
        return NGX_ERROR;
    }
    call->op = op;
    call->step = step;
    if (ngx_cube_redis_command(op->mcf, op_redis_cb, call, argc, argv, lens) != NGX_OK) {
        return NGX_ERROR;
    }
    op->pending++;
    return NGX_OK;
}

static void step_ignore(ngx_cube_op_t *op, redisReply *reply)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, op_log(op), 0, "cube: background Redis update failed: %s",
                      reply ? reply->str : "no connection");
    }
}

/* Append a lifecycle event to the cube:events stream. cube-scheduler turns the stream
 * into MariaDB records off the request path; a failed XADD only costs history, so the
 * request does not wait for or depend on it. */
void op_event(ngx_cube_op_t *op, const char *type, const char *id,
                     const char *reason, const char *metadata)
{
    char at[24], tmo[24];
    const char *argv[32];
    int argc = 0;

    ngx_snprintf((u_char *) at, sizeof(at), "%L%Z", (int64_t) cube_now_ms());
    argv[argc++] = "XADD";
    argv[argc++] = "cube:events";
    argv[argc++] = "MAXLEN";
    argv[argc++] = "~";
    argv[argc++] = "100000";
    argv[argc++] = "*";
    argv[argc++] = "type";
    argv[argc++] = type;
    argv[argc++] = "id";
    argv[argc++] = id;
    argv[argc++] = "at_ms";
    argv[argc++] = at;
    argv[argc++] = "reason";
    argv[argc++] = reason;
    if (op->template_id[0]) {
        argv[argc++] = "template_id";
        argv[argc++] = op->template_id;
        argv[argc++] = "alias";
        argv[argc++] = op->alias;
    }
    if (op->node[0]) {
        argv[argc++] = "node";
        argv[argc++] = op->node;
    }
    if (metadata) {
        argv[argc++] = "metadata";
        argv[argc++] = metadata;
    }
    /* Enough to rebuild the live record after Redis loses it (cube-scheduler's
     * rebuild reads these back from MariaDB). */
    if (op->end_at[0]) {
        argv[argc++] = "end_at";
        argv[argc++] = op->end_at;
    }
    if (op->create_parsed && op->create_extra) {
        argv[argc++] = "extra";
        argv[argc++] = op->create_extra;
    }
    /* set-timeout replaces the idle window (timeout_s); connect and refreshes only
     * move the end time. */
    if (ngx_strcmp(type, "timeout") == 0 && ngx_strcmp(reason, "api") == 0
        && op->timeout > 0)
    {
        ngx_snprintf((u_char *) tmo, sizeof(tmo), "%L%Z", (int64_t) op->timeout);
        argv[argc++] = "timeout_s";
        argv[argc++] = tmo;
    }
    (void) op_redis(op, step_ignore, argc, argv);
}

char *op_key(ngx_cube_op_t *op, const char *prefix, const char *id, const char *suffix)
{
    size_t len = ngx_strlen(prefix) + ngx_strlen(id) + ngx_strlen(suffix);
    char *p = ngx_pnalloc(op->pool, len + 1);

    if (p) {
        *ngx_sprintf((u_char *) p, "%s%s%s", prefix, id, suffix) = '\0';
    }
    return p;
}

/* Undo the placement increment of place.lua (fire and forget). */
static void op_undo_placement(ngx_cube_op_t *op)
{
    const char *argv[4];

    if (!op->placed || op->node[0] == '\0') {
        return;
    }
    op->placed = 0;
    argv[0] = "HINCRBY";
    argv[1] = op_key(op, "cube:node:", op->node, "");
    argv[2] = "sandboxes";
    argv[3] = "-1";
    if (argv[1] == NULL || op_redis(op, step_ignore, 4, argv) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, op_log(op), 0, "cube: cannot undo placement on node %s",
                      op->node);
    }
}

/* ================================================================ worker calls */


static void op_worker_cb(void *data, ngx_int_t rc, ngx_uint_t status, u_char *body,
                         size_t len)
{
    ngx_cube_worker_call_t *call = data;
    ngx_cube_op_t *op = call->op;

    op->pending--;
    op->busy++;
    op->async = 1;
    call->step(op, rc, status, body, len);
    op->busy--;
    op_release(op);
}

static ngx_cube_worker_call_t *op_call_new(ngx_cube_op_t *op, ngx_cube_wstep_pt step)
{
    ngx_cube_worker_call_t *call = ngx_palloc(op->pool, sizeof(*call));

    if (call) {
        call->op = op;
        call->step = step;
    }
    return call;
}

/* NGX_OK: the step will run later. NGX_DECLINED: connect failed now. NGX_ERROR. */
ngx_int_t op_worker(ngx_cube_op_t *op, ngx_cube_wstep_pt step, const char *method,
                           const char *path, const char *body, ngx_msec_t timeout)
{
    ngx_cube_worker_call_t *call = op_call_new(op, step);
    ngx_int_t rc;

    if (call == NULL) {
        return NGX_ERROR;
    }
    rc = ngx_cube_worker_request(op->mcf, &op->worker_addr, method, path, body,
                                 body ? ngx_strlen(body) : 0, timeout, op_log(op),
                                 op_worker_cb, call);
    if (rc == NGX_OK) {
        op->pending++;
    }
    return rc;
}

/* The same for the worker of op->node (looked up in Redis first). */
ngx_int_t op_node_worker(ngx_cube_op_t *op, ngx_cube_wstep_pt step, const char *method,
                         const char *path)
{
    ngx_cube_worker_call_t *call = op_call_new(op, step);
    ngx_int_t rc;

    if (call == NULL) {
        return NGX_ERROR;
    }
    /* for error messages: the node stands for its worker */
    op->worker_addr.data = (u_char *) op->node;
    op->worker_addr.len = ngx_strlen(op->node);
    rc = ngx_cube_node_call(op->mcf, op->node, method, path, op->mcf->worker_timeout,
                            op_worker_cb, call);
    if (rc == NGX_OK) {
        op->pending++;
    }
    return rc;
}

static void step_worker_ignore(ngx_cube_op_t *op, ngx_int_t rc, ngx_uint_t status,
                               u_char *body, size_t len)
{
    if (rc != NGX_CUBE_WORKER_OK || (status >= 300 && status != 404)) {
        ngx_log_error(NGX_LOG_WARN, op_log(op), 0,
                      "cube: cleanup call to worker %V failed (rc %i, status %ui)",
                      &op->worker_addr, rc, status);
    }
}

/* Best effort: remove a sandbox the worker may have created but we cannot record. */
static void op_worker_discard(ngx_cube_op_t *op)
{
    char *path = op_key(op, "/sandboxes/", op->sandbox_id, "");

    if (path == NULL
        || op_worker(op, step_worker_ignore, "DELETE", path, NULL, op->mcf->worker_timeout)
               != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, op_log(op), 0, "cube: cannot discard sandbox %s on %V",
                      op->sandbox_id, &op->worker_addr);
    }
}

void op_worker_failed(ngx_cube_op_t *op, ngx_int_t rc)
{
    char msg[256];

    switch (rc) {
    case NGX_CUBE_WORKER_ETIMEDOUT:
        ngx_snprintf((u_char *) msg, sizeof(msg), "Sandbox worker timed out (node %s)%Z",
                     op->node[0] ? op->node : "?");
        op_error(op, NGX_HTTP_GATEWAY_TIME_OUT, msg);
        break;
    case NGX_CUBE_WORKER_EBADRESP:
        op_error(op, NGX_HTTP_BAD_GATEWAY, "Sandbox worker sent an invalid response");
        break;
    case NGX_CUBE_WORKER_EREDIS:
        op_redis_down(op);
        break;
    case NGX_CUBE_WORKER_ENODE:
        ngx_snprintf((u_char *) msg, sizeof(msg),
                     "Service unavailable: sandbox worker unavailable (node %s is unknown)%Z",
                     op->node);
        op_error(op, NGX_HTTP_SERVICE_UNAVAILABLE, msg);
        break;
    default:
        ngx_snprintf((u_char *) msg, sizeof(msg),
                     "Service unavailable: sandbox worker unavailable (%V)%Z", &op->worker_addr);
        op_error(op, NGX_HTTP_SERVICE_UNAVAILABLE, msg);
        break;
    }
}

/* ================================================================ reply helpers */

/* The reply of an update guarded by EXISTS (1 / 0): 1 when it was applied, else the
 * request is answered (503, or 404: killed meanwhile) and 0 returned. */
int op_updated(ngx_cube_op_t *op, redisReply *reply)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return 0;
    }
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        op_not_found(op);
        return 0;
    }
    return 1;
}

int reply_is_array(redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY;
}

const char *reply_str(redisReply *r)
{
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
        return r->str;
    }
    return NULL;
}

/* Copy HGETALL pairs into op memory. */
char **op_copy_pairs(ngx_cube_op_t *op, redisReply *reply, size_t *n)
{
    char **kv;
    size_t i;

    *n = 0;
    if (!reply_is_array(reply)) {
        return NULL;
    }
    kv = ngx_pcalloc(op->pool, sizeof(char *) * (reply->elements + 1));
    if (kv == NULL) {
        return NULL;
    }
    for (i = 0; i < reply->elements; i++) {
        redisReply *e = reply->element[i];
        if (e->type == REDIS_REPLY_STRING) {
            kv[i] = op_strdup(op, e->str, e->len);
        }
    }
    *n = reply->elements;
    return kv;
}

static const char *pairs_get(char **kv, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i + 1 < n; i += 2) {
        if (kv[i] && ngx_strcmp(kv[i], name) == 0) {
            return kv[i + 1];
        }
    }
    return NULL;
}

static long num_or(const char *s, long dflt)
{
    ngx_int_t v;

    if (s == NULL || *s == '\0') {
        return dflt;
    }
    v = ngx_atoi((u_char *) s, ngx_strlen(s));
    return v == NGX_ERROR || v <= 0 ? dflt : (long) v;
}

/* ================================================================ /health */

static void step_health(ngx_cube_op_t *op, redisReply *reply)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    const char *s = reply_str(reply);

    if (s && ngx_strcmp(s, "PONG") == 0) {
        op_respond(op, NGX_HTTP_OK, ok, sizeof(ok) - 1);
    } else {
        op_redis_down(op);
    }
}

/* ================================================================ create */

static void step_create_hset(ngx_cube_op_t *op, redisReply *reply);
static void step_create_zadd(ngx_cube_op_t *op, redisReply *reply);

/* The record fields the "created" event carries for a rebuild besides template,
 * node, metadata and end time: a JSON object of hash field -> value, in op memory. */
static char *op_create_extra(ngx_cube_op_t *op, const char *net, const char *cpu,
                             const char *mem, const char *disk, const char *tmo)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "cpu", cpu, "mem_mb", mem,
                          "disk_mb", disk, "envd_version", op->envd_version, "auto_pause",
                          op->create.auto_pause ? "1" : "0", "auto_resume",
                          op->create.auto_resume ? "1" : "0", "timeout_s", tmo);
    char *s, *copy = NULL;

    if (o == NULL) {
        return NULL;
    }
    if (op->create.allow_internet >= 0) {
        json_object_set_new(o, "allow_internet",
                            json_string(op->create.allow_internet ? "1" : "0"));
    }
    if (net) {
        json_object_set_new(o, "network", json_string(net));
    }
    if (cube_network_private_traffic(op->create.network)) {
        json_object_set_new(o, "traffic_token", json_string("1"));
    }
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s) {
        copy = op_strdup(op, s, ngx_strlen(s));
        free(s);
    }
    return copy;
}

static void step_create_worker(ngx_cube_op_t *op, ngx_int_t rc, ngx_uint_t status,
                               u_char *body, size_t len)
{
    char msg[512], end_at[32], started_at[32], cpu[24], mem[24], disk[24], tmo[24];
    char score[32];
    const char *argv[40];
    json_t *root, *a;
    char *md, *net = NULL;
    int argc = 0;

    if (rc != NGX_CUBE_WORKER_OK) {
        ngx_log_error(NGX_LOG_ERR, op_log(op), 0, "cube: create %s on %V failed (rc %i)",
                      op->sandbox_id, &op->worker_addr, rc);
        if (rc != NGX_CUBE_WORKER_ECONNECT) {
            /* The worker may have gone on creating it: ask it to drop the sandbox. */
            op_worker_discard(op);
        }
        op_undo_placement(op);
        op_worker_failed(op, rc);
        return;
    }

    if (status != NGX_HTTP_OK && status != NGX_HTTP_CREATED) {
        cube_worker_error_message((const char *) body, len, (int) status, msg, sizeof(msg));
        ngx_log_error(NGX_LOG_ERR, op_log(op), 0, "cube: worker %V refused create of %s: %ui %s",
                      &op->worker_addr, op->sandbox_id, status, msg);
        op_undo_placement(op);
        op_error(op, (status >= 400 && status <= 599) ? status : NGX_HTTP_BAD_GATEWAY, msg);
        return;
    }

    root = json_loadb((const char *) body, len, 0, NULL);
    a = json_is_object(root) ? json_object_get(root, "address") : NULL;
    if (!json_is_string(a) || json_string_length(a) == 0
        || json_string_length(a) >= sizeof(op->sb_addr))
    {
        json_decref(root);
        ngx_log_error(NGX_LOG_ERR, op_log(op), 0,
                      "cube: worker %V answered create without an \"address\"", &op->worker_addr);
        op_worker_discard(op);
        op_undo_placement(op);
        op_error(op, NGX_HTTP_BAD_GATEWAY, "Sandbox worker sent an invalid response");
        return;
    }
    ngx_cpystrn((u_char *) op->sb_addr, (u_char *) json_string_value(a), sizeof(op->sb_addr));
    json_decref(root);

    cube_rfc3339_ms(op->started_ms, started_at, sizeof(started_at));
    cube_rfc3339_ms(op->started_ms + op->create.timeout * 1000, end_at, sizeof(end_at));
    ngx_cpystrn((u_char *) op->end_at, (u_char *) end_at, sizeof(op->end_at));
    ngx_snprintf((u_char *) cpu, sizeof(cpu), "%l%Z", op->cpu);
    ngx_snprintf((u_char *) mem, sizeof(mem), "%l%Z", op->mem_mb);
    ngx_snprintf((u_char *) disk, sizeof(disk), "%l%Z", op->disk_mb);
    ngx_snprintf((u_char *) tmo, sizeof(tmo), "%L%Z", (int64_t) op->create.timeout);
    md = json_dumps(op->create.metadata, JSON_COMPACT);
    if (op->create.network) {
        net = json_dumps(op->create.network, JSON_COMPACT);
    }

    argv[argc++] = "HSET";
    argv[argc++] = op_key(op, "cube:sb:", op->sandbox_id, "");
#define KV(k, v) do { argv[argc++] = (k); argv[argc++] = (v); } while (0)
    KV("id", op->sandbox_id);
    KV("template_id", op->template_id);
    KV("alias", op->alias);
    KV("node", op->node);
    KV("addr", op->sb_addr);
    KV("state", "running");
    KV("started_at", started_at);
    KV("end_at", end_at);
    KV("timeout_s", tmo); /* auto-pause: the idle window (ngx_cube_api_connect.c) */
    KV("cpu", cpu);
    KV("mem_mb", mem);
    KV("disk_mb", disk);
    KV("metadata", md ? md : "{}");
    KV("client_id", op->node);
    KV("envd_version", op->envd_version);
    KV("auto_pause", op->create.auto_pause ? "1" : "0");
    KV("auto_resume", op->create.auto_resume ? "1" : "0");
    if (op->create.allow_internet >= 0) {
        KV("allow_internet", op->create.allow_internet ? "1" : "0");
    }
    if (net) {
        KV("network", net);
    }
    if (cube_network_private_traffic(op->create.network)) {
        KV("traffic_token", "1"); /* the router asks for the traffic token */
    }
#undef KV

    op->create_extra = op_create_extra(op, net, cpu, mem, disk, tmo);
    if (argv[1] == NULL || op_redis(op, step_create_hset, argc, argv) != NGX_OK) {
        free(md);
        free(net);
        op_worker_discard(op);
        op_undo_placement(op);
        op_redis_down(op);
        return;
    }
    free(md);
    free(net);
    /* The list index goes out right behind the record, on the same connection (one
     * round trip for both); its reply, which comes after the HSET's, answers. */
    ngx_snprintf((u_char *) score, sizeof(score), "%L%Z", (int64_t) op->started_ms);
    argv[0] = "ZADD";
    argv[1] = "cube:sandboxes";
    argv[2] = score;
    argv[3] = op->sandbox_id;
    if (op_redis(op, step_create_zadd, 4, argv) != NGX_OK) {
        step_create_zadd(op, NULL);
    }
}

/* The record could not be written: the create fails (503) and the sandbox goes. The
 * ZADD sent behind it then finds the request answered; an index entry without a
 * record is dropped by cube-scheduler's next sweep. */
static void step_create_hset(ngx_cube_op_t *op, redisReply *reply)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, op_log(op), 0, "cube: recording sandbox %s failed: %s",
                      op->sandbox_id, reply ? reply->str : "no connection");
        op->record_failed = 1;
        op_worker_discard(op);
        op_undo_placement(op);
        op_redis_down(op);
    }
}

static void step_create_zadd(ngx_cube_op_t *op, redisReply *reply)
{
    char traffic[CUBE_SHA256_HEX_LEN + 1];
    char *s;

    if (op->record_failed || op->responded) {
        return; /* the HSET failed: answered (503) and the sandbox discarded */
    }
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* The record exists; only the list index misses it. */
        ngx_log_error(NGX_LOG_WARN, op_log(op), 0, "cube: ZADD of %s failed", op->sandbox_id);
    }
    {
        char *md = json_dumps(op->create.metadata, JSON_COMPACT);
        op_event(op, "created", op->sandbox_id, "api", md ? md : "{}");
        free(md);
    }
    if (cube_network_private_traffic(op->create.network)
        && ngx_cube_traffic_token(op->mcf, op->sandbox_id, traffic) != NGX_OK)
    {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "token generation failed");
        return;
    }
    s = cube_json_sandbox_ex(op->sandbox_id, op->template_id, op->alias, op->node,
                             op->envd_version, op->token,
                             cube_network_private_traffic(op->create.network) ? traffic : NULL);
    if (s == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    op_respond(op, NGX_HTTP_CREATED, s, ngx_strlen(s));
    free(s);
}

static void step_create_place(ngx_cube_op_t *op, redisReply *reply)
{
    char msg[CUBE_GW_TEMPLATE_MAX + 128];
    const char *node, *addr, *argv[6];
    char *body, *path;
    char now[32];
    ngx_int_t rc;

    if (reply == NULL) {
        op_redis_down(op);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!op->tried_eval && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            op->tried_eval = 1;
            ngx_snprintf((u_char *) now, sizeof(now), "%L%Z", (int64_t) cube_now_ms());
            argv[0] = "EVAL";
            argv[1] = (const char *) op->mcf->place_script.data;
            argv[2] = "0";
            argv[3] = op->template_id;
            argv[4] = now;
            if (op_redis(op, step_create_place, 5, argv) != NGX_OK) {
                op_redis_down(op);
            }
            return;
        }
        if (ngx_strstr(reply->str, "NO_NODE")) {
            ngx_snprintf((u_char *) msg, sizeof(msg),
                         "Service unavailable: no healthy node can run template '%s'%Z",
                         op->create.template_ref);
            op_error(op, NGX_HTTP_SERVICE_UNAVAILABLE, msg);
            return;
        }
        ngx_log_error(NGX_LOG_ERR, op_log(op), 0, "cube: placement script failed: %s",
                      reply->str);
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "Placement failed");
        return;
    }
    if (!reply_is_array(reply) || reply->elements < 2
        || (node = reply_str(reply->element[0])) == NULL
        || (addr = reply_str(reply->element[1])) == NULL
        || ngx_strlen(node) >= sizeof(op->node))
    {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "Placement returned an invalid answer");
        return;
    }
    ngx_cpystrn((u_char *) op->node, (u_char *) node, sizeof(op->node));
    op->placed = 1;
    op->worker_addr.len = ngx_strlen(addr);
    op->worker_addr.data = (u_char *) op_strdup(op, addr, op->worker_addr.len);
    if (op->worker_addr.data == NULL) {
        op_undo_placement(op);
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }

    if (cube_id_generate(op->sandbox_id, CUBE_SANDBOX_ID_LEN, 'i') != 0
        || ngx_cube_envd_token(op->mcf, op->sandbox_id, op->token) != NGX_OK)
    {
        op_undo_placement(op);
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "cannot generate a sandbox id");
        return;
    }
    op->started_ms = cube_now_ms();

    body = cube_worker_create_body(op->sandbox_id, op->template_id, op->token, op->cpu,
                                   op->mem_mb, &op->create,
                                   op->started_ms + op->create.timeout * 1000);
    path = "/sandboxes";
    if (body == NULL) {
        op_undo_placement(op);
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    rc = op_worker(op, step_create_worker, "POST", path, body, op->mcf->worker_timeout);
    free(body);
    if (rc != NGX_OK) {
        op_undo_placement(op);
        op_worker_failed(op, NGX_CUBE_WORKER_ECONNECT);
    }
}

static void op_missing(ngx_cube_op_t *op, ngx_cube_step_pt step);
static void step_template_missing(ngx_cube_op_t *op, redisReply *reply);

static void step_create_template(ngx_cube_op_t *op, redisReply *reply)
{
    char now[32];
    const char *argv[6], *v;
    char **kv;
    size_t n;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    kv = op_copy_pairs(op, reply, &n);
    if (kv == NULL || n == 0) {
        op_missing(op, step_template_missing);
        return;
    }
    v = pairs_get(kv, n, "id");
    ngx_cpystrn((u_char *) op->template_id, (u_char *) (v && *v ? v : op->create.template_ref),
                sizeof(op->template_id));
    v = pairs_get(kv, n, "alias");
    ngx_cpystrn((u_char *) op->alias, (u_char *) (v ? v : ""), sizeof(op->alias));
    v = pairs_get(kv, n, "envd_version");
    ngx_cpystrn((u_char *) op->envd_version,
                (u_char *) (cube_semver_ok(v) ? v : CUBE_GW_DEFAULT_ENVD_VERSION),
                sizeof(op->envd_version));
    op->cpu = num_or(pairs_get(kv, n, "cpu"), 2);
    op->mem_mb = num_or(pairs_get(kv, n, "mem_mb"), 512);
    op->disk_mb = num_or(pairs_get(kv, n, "disk_mb"), 2048);

    ngx_snprintf((u_char *) now, sizeof(now), "%L%Z", (int64_t) cube_now_ms());
    argv[0] = "EVALSHA";
    argv[1] = (const char *) op->mcf->place_sha1;
    argv[2] = "0";
    argv[3] = op->template_id;
    argv[4] = now;
    if (op_redis(op, step_create_place, 5, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

static void op_start_create(ngx_cube_op_t *op)
{
    char err[256];
    const char *argv[2];
    int v2 = op->m.route == CUBE_ROUTE_CREATE_V2;
    int rc;

    rc = cube_create_parse(op->body, op->body_len, v2, &op->create, err, sizeof(err));
    if (rc != 0) {
        op_error(op, (ngx_uint_t) rc, err);
        return;
    }
    op->create_parsed = 1;
    /* E2B: v1 needs secure for private traffic (v2 is always secure). */
    if (!v2 && cube_network_private_traffic(op->create.network) && op->create.secure != 1) {
        op_error(op, NGX_HTTP_BAD_REQUEST,
                 "network.allowPublicTraffic=false requires secure=true");
        return;
    }
    if (op->mcf->place_script.len == 0) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR,
                 "Sandbox creation is not configured (no cube_placement_script)");
        return;
    }
    if (v2 && op->mcf->default_timeout > 0 && !op->create.timeout_set) {
        op->create.timeout = op->mcf->default_timeout;
    }

    argv[0] = "HGETALL";
    argv[1] = op_key(op, "cube:template:", op->create.template_ref, "");
    if (argv[1] == NULL || op_redis(op, step_create_template, 2, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* ================================================================ get */

/* A record missing from Redis proves that a sandbox (or template) is gone only while
 * the live view is whole. After Redis restarts empty or is flushed, no node is
 * registered until the workers are back (reconnect or next heartbeat), and a worker
 * puts its sandboxes and templates back as soon as it registers; cube-scheduler then
 * completes the records. Until then a miss answers 503 (retry), never a 404 that tells
 * the client its sandbox is gone. One SCARD, on the miss path only. */
static void op_missing(ngx_cube_op_t *op, ngx_cube_step_pt step)
{
    const char *argv[2] = {"SCARD", "cube:nodes"};

    if (op->r == NULL || op->responded) {
        return;
    }
    if (op_redis(op, step, 2, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* 1: the view is whole and the miss stands; else the request was answered. */
static int op_view_whole(ngx_cube_op_t *op, redisReply *reply)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return 0;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        op_error(op, NGX_HTTP_SERVICE_UNAVAILABLE,
                 "Service unavailable: no sandbox node is registered in the state store "
                 "(Redis restarted and is being rebuilt); retry shortly");
        return 0;
    }
    return 1;
}

static void step_not_found(ngx_cube_op_t *op, redisReply *reply)
{
    char msg[CUBE_GW_ID_MAX + 80];

    if (!op_view_whole(op, reply)) {
        return;
    }
    ngx_snprintf((u_char *) msg, sizeof(msg),
                 "Sandbox \"%s\" doesn't exist or you don't have access to it%Z", op->m.id);
    op_error(op, NGX_HTTP_NOT_FOUND, msg);
}

void op_not_found(ngx_cube_op_t *op)
{
    op_missing(op, step_not_found);
}

static void step_template_missing(ngx_cube_op_t *op, redisReply *reply)
{
    char msg[CUBE_GW_TEMPLATE_MAX + 64];

    if (!op_view_whole(op, reply)) {
        return;
    }
    ngx_snprintf((u_char *) msg, sizeof(msg), "template '%s' not found%Z",
                 op->create.template_ref);
    op_error(op, NGX_HTTP_NOT_FOUND, msg);
}

static void step_get(ngx_cube_op_t *op, redisReply *reply)
{
    cube_sb_record_t rec;
    char token[CUBE_SHA256_HEX_LEN + 1];
    char **kv;
    size_t n;
    char *s;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    kv = op_copy_pairs(op, reply, &n);
    if (kv == NULL || n == 0) {
        op_not_found(op);
        return;
    }
    cube_sb_record_from_pairs((const char *const *) kv, n, &rec);
    if (rec.id == NULL || *rec.id == '\0') {
        rec.id = op->m.id;
    }
    if (ngx_cube_envd_token(op->mcf, op->m.id, token) != NGX_OK) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "token generation failed");
        return;
    }
    s = cube_json_detail(&rec, token);
    if (s == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    op_respond(op, NGX_HTTP_OK, s, ngx_strlen(s));
    free(s);
}

/* ================================================================ delete */

static void step_delete_del(ngx_cube_op_t *op, redisReply *reply)
{
    const char *argv[4];

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0 && !op->worker_killed) {
        /* A concurrent kill removed it first. (When this call's worker request did the
         * destroying, the worker may already have dropped the record itself.) */
        op_not_found(op);
        return;
    }

    argv[0] = "ZREM";
    argv[1] = "cube:sandboxes";
    argv[2] = op->m.id;
    (void) op_redis(op, step_ignore, 3, argv);
    argv[0] = "SREM";
    argv[1] = op_key(op, "cube:node:", op->node, ":sandboxes");
    argv[2] = op->m.id;
    if (argv[1]) {
        (void) op_redis(op, step_ignore, 3, argv);
    }
    op->placed = 1;
    op_undo_placement(op); /* HINCRBY cube:node:<node> sandboxes -1 */
    op_event(op, "killed", op->m.id, "api", NULL);

    op_respond(op, NGX_HTTP_NO_CONTENT, "", 0);
}

static void step_delete_worker(ngx_cube_op_t *op, ngx_int_t rc, ngx_uint_t status,
                               u_char *body, size_t len)
{
    char msg[512];
    const char *argv[2];

    if (rc != NGX_CUBE_WORKER_OK) {
        op_worker_failed(op, rc);
        return;
    }
    if (status >= 300 && status != NGX_HTTP_NOT_FOUND) {
        cube_worker_error_message((const char *) body, len, (int) status, msg, sizeof(msg));
        op_error(op, (status >= 400 && status <= 599) ? status : NGX_HTTP_BAD_GATEWAY, msg);
        return;
    }
    op->worker_killed = (status >= 200 && status < 300);
    /* No nginx worker routes to it any more (others: within the cache TTL). */
    ngx_cube_route_cache_drop((u_char *) op->m.id, ngx_strlen(op->m.id));
    argv[0] = "DEL";
    argv[1] = op_key(op, "cube:sb:", op->m.id, "");
    if (argv[1] == NULL || op_redis(op, step_delete_del, 2, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

static void step_delete_lookup(ngx_cube_op_t *op, redisReply *reply)
{
    const char *node;
    char *path;
    ngx_int_t rc;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR || !reply_is_array(reply)) {
        op_redis_down(op);
        return;
    }
    node = reply->elements > 0 ? reply_str(reply->element[0]) : NULL;
    if (node == NULL || *node == '\0' || ngx_strlen(node) >= sizeof(op->node)) {
        op_not_found(op);
        return;
    }
    ngx_cpystrn((u_char *) op->node, (u_char *) node, sizeof(op->node));
    path = op_key(op, "/sandboxes/", op->m.id, "");
    if (path == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    rc = op_node_worker(op, step_delete_worker, "DELETE", path);
    if (rc != NGX_OK) {
        op_worker_failed(op, rc == NGX_DECLINED ? NGX_CUBE_WORKER_EREDIS
                                                : NGX_CUBE_WORKER_ECONNECT);
    }
}

/* ================================================================ auth + dispatch */

static void ngx_cube_api_body_handler(ngx_http_request_t *r);

/* Read the create body only once the key is known good, so an unauthenticated client
 * cannot make nginx spool a large (chunked) body. Called with the content handler's
 * reference on the request held; hands it over to the body reader. */
static void op_read_body(ngx_cube_op_t *op)
{
    ngx_http_request_t *r = op->r;
    ngx_int_t rc;

    if (r == NULL) {
        return;
    }
    r->request_body_in_single_buf = 1;
    rc = ngx_http_read_client_request_body(r, ngx_cube_api_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        op_error(op, (ngx_uint_t) rc,
                 rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE ? "Request body too large"
                 : rc == NGX_HTTP_REQUEST_TIME_OUT      ? "Request body timed out"
                                                        : "Cannot read the request body");
        return;
    }
    /* The body reader holds its own reference now: drop ours (the request stays). */
    if (op->r) {
        ngx_http_finalize_request(op->r, NGX_DONE);
    }
}

/* An unknown key is refused (401) only once the keys are loaded: after Redis restarts
 * empty, cube-scheduler puts them back from MariaDB within a second (the index set
 * cube:apikeys comes last); before that, and while no key exists at all, 503. */
static void step_key_missing(ngx_cube_op_t *op, redisReply *reply)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        op_error(op, NGX_HTTP_SERVICE_UNAVAILABLE,
                 "Service unavailable: no API keys are loaded in the state store "
                 "(cube-scheduler loads them from MariaDB); retry shortly");
        return;
    }
    op_error(op, NGX_HTTP_UNAUTHORIZED, "Invalid API key");
}

static void step_auth(ngx_cube_op_t *op, redisReply *reply)
{
    const char *argv[4];

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        argv[0] = "EXISTS";
        argv[1] = "cube:apikeys";
        if (op_redis(op, step_key_missing, 2, argv) != NGX_OK) {
            op_redis_down(op);
        }
        return;
    }

    switch (op->m.route) {
    case CUBE_ROUTE_CREATE_V1:
    case CUBE_ROUTE_CREATE_V2:
    case CUBE_ROUTE_TIMEOUT:
    case CUBE_ROUTE_REFRESH:
    case CUBE_ROUTE_CONNECT_V1:
    case CUBE_ROUTE_CONNECT_V2:
    case CUBE_ROUTE_PAUSE:
    case CUBE_ROUTE_RESUME:
    case CUBE_ROUTE_NETWORK:
        op_read_body(op);
        return;
    case CUBE_ROUTE_METRICS:
        op_start_metrics(op);
        return;
    case CUBE_ROUTE_GET:
        argv[0] = "HGETALL";
        argv[1] = op_key(op, "cube:sb:", op->m.id, "");
        if (argv[1] == NULL || op_redis(op, step_get, 2, argv) != NGX_OK) {
            op_redis_down(op);
        }
        return;
    case CUBE_ROUTE_DELETE:
        argv[0] = "HMGET";
        argv[1] = op_key(op, "cube:sb:", op->m.id, "");
        argv[2] = "node";
        argv[3] = "state";
        if (argv[1] == NULL || op_redis(op, step_delete_lookup, 4, argv) != NGX_OK) {
            op_redis_down(op);
        }
        return;
    case CUBE_ROUTE_LIST_V1:
    case CUBE_ROUTE_LIST_V2:
        op_start_list(op);
        return;
    default:
        op_error(op, NGX_HTTP_NOT_FOUND, "Not found");
        return;
    }
}

static void op_start_auth(ngx_cube_op_t *op)
{
    const char *argv[2];

    argv[0] = "EXISTS";
    argv[1] = op_key(op, "cube:apikey:", op->key_hash, "");
    if (argv[1] == NULL || op_redis(op, step_auth, 2, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* Body read (after authentication): copy it (memory or temp file) into op memory,
 * then create. */
static void ngx_cube_api_body_handler(ngx_http_request_t *r)
{
    ngx_cube_op_t *op = ngx_http_get_module_ctx(r, ngx_cube_module);
    ngx_chain_t *cl;
    size_t len = 0;
    u_char *p;

    if (op == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    op->busy++;

    if (r->request_body && r->request_body->bufs) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += (size_t) ngx_buf_size(cl->buf);
        }
    }
    if ((off_t) len > op->mcf->api_max_body) {
        op_error(op, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "Request body too large");
        goto done;
    }
    op->body = ngx_pnalloc(op->pool, len + 1);
    if (op->body == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto done;
    }
    p = (u_char *) op->body;
    if (len) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            ngx_buf_t *b = cl->buf;
            if (ngx_buf_in_memory(b)) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            } else if (b->in_file) {
                ssize_t n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                                          b->file_pos);
                if (n != (ssize_t) (b->file_last - b->file_pos)) {
                    op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "cannot read request body");
                    goto done;
                }
                p += n;
            }
        }
    }
    *p = '\0';
    op->body_len = (size_t) (p - (u_char *) op->body);
    switch (op->m.route) {
    case CUBE_ROUTE_TIMEOUT:
        op_start_timeout(op);
        break;
    case CUBE_ROUTE_REFRESH:
        op_start_refresh(op);
        break;
    case CUBE_ROUTE_CONNECT_V1:
    case CUBE_ROUTE_CONNECT_V2:
    case CUBE_ROUTE_RESUME:
        op_start_connect(op);
        break;
    case CUBE_ROUTE_PAUSE:
        op_start_pause(op);
        break;
    case CUBE_ROUTE_NETWORK:
        op_start_network(op);
        break;
    default:
        op_start_create(op);
        break;
    }

done:
    op->busy--;
    op_release(op);
}

static ngx_uint_t ngx_cube_method(ngx_http_request_t *r)
{
    switch (r->method) {
    case NGX_HTTP_GET: return CUBE_M_GET;
    case NGX_HTTP_HEAD: return CUBE_M_HEAD;
    case NGX_HTTP_POST: return CUBE_M_POST;
    case NGX_HTTP_PUT: return CUBE_M_PUT;
    case NGX_HTTP_DELETE: return CUBE_M_DELETE;
    case NGX_HTTP_PATCH: return CUBE_M_PATCH;
    default: return CUBE_M_OTHER;
    }
}

static ngx_int_t ngx_cube_api_simple(ngx_http_request_t *r, ngx_uint_t status,
                                     const char *msg)
{
    char *s;
    ngx_int_t rc;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    s = cube_json_error((int) status, msg);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    rc = ngx_cube_send_json(r, status, CT_JSON, s, ngx_strlen(s));
    free(s);
    return rc;
}

/* 1 when this request is sandbox traffic for the router. */
static int ngx_cube_is_routed(ngx_http_request_t *r, ngx_cube_main_conf_t *mcf)
{
    char id[CUBE_GW_ID_MAX + 1];
    int port;

    if (ngx_cube_find_header(r, "E2b-Sandbox-Id", 14)
        || ngx_cube_find_header(r, "E2b-Sandbox-Port", 16))
    {
        return 1;
    }
    if (mcf->domain.len && r->headers_in.server.len
        && cube_host_route((const char *) r->headers_in.server.data, r->headers_in.server.len,
                           (const char *) mcf->domain.data, mcf->domain.len, &port, id) == 0)
    {
        return 1;
    }
    return 0;
}

static int ngx_cube_route_has_body(enum cube_route route)
{
    return route == CUBE_ROUTE_CREATE_V1 || route == CUBE_ROUTE_CREATE_V2
           || route == CUBE_ROUTE_TIMEOUT || route == CUBE_ROUTE_REFRESH
           || route == CUBE_ROUTE_CONNECT_V1
           || route == CUBE_ROUTE_CONNECT_V2 || route == CUBE_ROUTE_PAUSE
           || route == CUBE_ROUTE_RESUME || route == CUBE_ROUTE_NETWORK;
}

ngx_int_t ngx_cube_api_handler(ngx_http_request_t *r)
{
    ngx_cube_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_cube_module);
    ngx_cube_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_cube_module);
    ngx_table_elt_t *key;
    ngx_pool_cleanup_t *cln;
    ngx_pool_t *pool;
    ngx_cube_op_t *op;
    cube_route_match_t m;
    ngx_int_t rc;

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (ngx_cube_is_routed(r, mcf)) {
        return ngx_http_named_location(r, &lcf->router_location);
    }

    cube_route_match((enum cube_method) ngx_cube_method(r), (const char *) r->uri.data,
                     r->uri.len, &m);
    switch (m.status) {
    case 0:
        break;
    case 405: {
        ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
        if (h) {
            h->hash = 1;
            ngx_str_set(&h->key, "Allow");
            h->value.data = (u_char *) m.allow;
            h->value.len = ngx_strlen(m.allow);
        }
        return ngx_cube_api_simple(r, NGX_HTTP_NOT_ALLOWED, "Method not allowed");
    }
    case 400:
        return ngx_cube_api_simple(r, NGX_HTTP_BAD_REQUEST, "Invalid sandbox ID");
    default:
        return ngx_cube_api_simple(r, NGX_HTTP_NOT_FOUND, "Not found");
    }

    if (m.route == CUBE_ROUTE_NOT_IMPLEMENTED) {
        return ngx_cube_api_simple(r, NGX_HTTP_NOT_IMPLEMENTED,
                                   "This operation is not implemented by this Cube version");
    }

    key = NULL;
    if (m.route != CUBE_ROUTE_HEALTH) {
        key = ngx_cube_find_header(r, "X-API-Key", 9);
        if (key == NULL || key->value.len == 0) {
            return ngx_cube_api_simple(r, NGX_HTTP_UNAUTHORIZED, "Invalid API key");
        }
        if (ngx_cube_route_has_body(m.route)
            && r->headers_in.content_length_n > mcf->api_max_body)
        {
            return ngx_cube_api_simple(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "Request body too large");
        }
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    op = ngx_pcalloc(pool, sizeof(ngx_cube_op_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (op == NULL || cln == NULL) {
        ngx_destroy_pool(pool);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    op->pool = pool;
    op->r = r;
    op->mcf = mcf;
    op->m = m;
    cln->handler = op_request_gone;
    cln->data = op;
    ngx_http_set_ctx(r, op, ngx_cube_module);

    if (key) {
        op->key_hash = ngx_pnalloc(pool, CUBE_SHA256_HEX_LEN + 1);
        if (op->key_hash == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        cube_sha256_hex(key->value.data, key->value.len, op->key_hash);
    }

    if (!ngx_cube_route_has_body(m.route)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            op->responded = 1;
            return rc;
        }
    }

    r->main->count++;
    op->busy++;
    if (m.route == CUBE_ROUTE_HEALTH) {
        const char *argv[1] = {"PING"};
        if (op_redis(op, step_health, 1, argv) != NGX_OK) {
            op_redis_down(op);
        }
    } else {
        op_start_auth(op);
    }
    op->busy--;
    op_release(op);
    return NGX_DONE;
}
